"""`gan reproduce`: reruns a table of results files over its seeds (real `gan train --multirun`
runs, with the joblib launcher), stores them with --update, compares a rerun with what is
stored and with the paper's figures, keeps quick runs apart per CPU kind and precision."""

from __future__ import annotations

import json
import os

import pytest
from conftest import error_line, run_gan

from gan_cli import results

pytestmark = pytest.mark.e2e

# a small MLP on 25 Gaussians: seconds a run, and a score that depends on every step
COMMAND = "gan train model=mlp dataset=grid25 model.hidden=32 model.latent_dim=8 batch_size=64"
TABLE = {
    "title": "A tiny table",
    "description": "tests/test_reproduce.py",
    "metrics": ["modes", "high_quality"],
    "seeds": [0, 1],
    "minutes_per_run": 0.2,
    "quick": {"overrides": ["steps=30", "eval.every=30"], "minutes_per_run": 0.1},
    "paper": {"source": "A paper", "rows": [{"name": "GAN", "metrics": {"modes": 17.3}}]},
    "rows": [
        {"name": "small", "command": f"{COMMAND} steps=60 eval.every=60", "runs": []},
        {"name": "published", "summary": {"modes": {"mean": 20.0, "std": 1.0, "n": 3}}},
    ],
}


@pytest.fixture
def tables(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "tiny.json").write_text(json.dumps(TABLE))
    return folder


def reproduce(tables, *args: str, cwd, **env: str):
    return run_gan("reproduce", *args, cwd=cwd, env={"GAN_CLI_RESULTS": str(tables), **env},
                   timeout=600)  # fmt: skip


def test_reproduce_stores_compares_and_keeps_quick_runs_apart(tables, workdir):
    out = reproduce(tables, "--list", cwd=workdir)
    assert out.returncode == 0 and "tiny" in out.stdout, out.stderr

    out = reproduce(tables, "tiny", "--update", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert "no stored figure" in out.stdout and "A paper" in out.stdout
    # the paper's figures side by side with ours: a column per row of its table
    lines = {tuple(ln.split()[:2]): ln.split() for ln in out.stdout.splitlines()}
    assert lines[("row", "metric")][-2:] == ["GAN", "verdict"]
    assert lines[("small", "modes")][-4] == "17.3" and lines[("small", "high_quality")][-4] == "-"
    stored = json.loads((tables / "tiny.json").read_text())
    runs = stored["rows"][0]["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    for run in runs:  # what each run recorded, nothing guessed
        assert set(run["metrics"]) >= {"modes", "high_quality"}
        assert run["cpu"] and run["precision"] == "fp32" and run["cpu_s"] > 0
    assert stored["rows"][1] == TABLE["rows"][1]  # a published summary is kept as it was
    assert not list(workdir.iterdir())  # the runs went to a temporary folder

    # the same runs again on the same machine: the same figures, within the stored spread
    out = reproduce(tables, "tiny", cwd=workdir)
    assert out.returncode == 0, out.stderr
    verdicts = [ln for ln in out.stdout.splitlines() if ln.startswith("small")]
    assert len(verdicts) == 2 and all("within the stored spread" in v for v in verdicts), out.stdout

    out = reproduce(tables, "tiny", "--quick", "--seeds", "0", "--update", cwd=workdir)
    assert out.returncode == 0, out.stderr
    quick = json.loads((tables / "tiny.json").read_text())["quick_runs"]
    ((key, rows),) = quick.items()
    assert key.endswith("| fp32") and [r["seed"] for r in rows["small"]] == [0]
    assert json.loads((tables / "tiny.json").read_text())["rows"][0]["runs"] == runs


def test_rows_run_side_by_side_when_their_seeds_leave_cores_idle(tables, workdir):
    # the 2-D preset pins one thread; these rows leave it to the machine (null)
    row = {**TABLE["rows"][0], "command": TABLE["rows"][0]["command"] + " device.threads=null"}
    two_rows = {**TABLE, "rows": [row, {**row, "name": "again"}]}
    (tables / "tiny.json").write_text(json.dumps(two_rows))
    alone = str(2 * (os.cpu_count() or 1))  # what a run takes when nothing says otherwise
    out = reproduce(tables, "tiny", "--seeds", "0", "--jobs", "2", "--update", cwd=workdir,
                    OMP_NUM_THREADS=alone)  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads((tables / "tiny.json").read_text())["rows"]
    # two rows at once, each run on its share of the cores
    share = max(1, (os.cpu_count() or 1) // 2)
    assert [[r["threads"] for r in row["runs"]] for row in rows] == [[share], [share]]
    assert rows[0]["runs"][0]["metrics"] == rows[1]["runs"][0]["metrics"]  # the same run


def test_a_row_may_measure_another_rows_runs(tables, workdir):
    """A `gan eval ckpt=RUN` row of the trained row's runs; asked for alone, it trains that row
    too (compared, not stored). With no option it measures what the run measured at its end."""
    again = {"name": "again", "of": "small", "command": "gan eval ckpt=RUN", "runs": []}
    (tables / "tiny.json").write_text(json.dumps({**TABLE, "rows": [TABLE["rows"][0], again]}))
    out = reproduce(tables, "tiny", "--rows", "again", "--seeds", "0", "--update", cwd=workdir)
    assert out.returncode == 0, out.stderr
    small, measured = json.loads((tables / "tiny.json").read_text())["rows"]
    assert small["runs"] == [] and [r["seed"] for r in measured["runs"]] == [0]
    assert measured["runs"][0]["cpu"] and measured["runs"][0]["precision"] == "fp32"
    ours = {ln.split()[0]: ln.split()[2] for ln in out.stdout.splitlines()
            if ln.split()[1:2] == ["modes"]}  # fmt: skip
    assert ours["again"] == ours["small"], out.stdout
    listed = reproduce(tables, "--list", cwd=workdir).stdout
    assert "tiny                    1     2" in listed  # the eval row costs no training


def test_reproduce_errors_are_one_line(tables, workdir):
    out = reproduce(tables, "nosuch", cwd=workdir)
    assert out.returncode != 0 and "nosuch" in error_line(out)
    table = {**TABLE, "rows": [TABLE["rows"][1]]}
    (tables / "tiny.json").write_text(json.dumps(table))
    out = reproduce(tables, "tiny", cwd=workdir)
    assert out.returncode != 0 and "no rows to rerun" in error_line(out)


def test_the_shipped_tables_name_real_commands():
    """Every row a table reruns is a `gan train` line, or a `gan eval ckpt=RUN` line measuring
    another row's runs (test_docs composes each command)."""
    for name in results.names():
        table = results.load(name)
        for part in (p for t in table.get("targets", []) for p in t.get("of", [])):
            named = [r["name"] for r in results.load(part["table"])["rows"]]  # targets' tables
            assert set(part["rows"] or named) <= set(named), (name, part)
        rows = table.get("rows", []) if "targets" in table else table["rows"]
        for row in rows:
            assert "runs" in row or "summary" in row, (name, row["name"])
            if "of" in row:
                assert row["command"].startswith("gan eval ckpt=RUN"), (name, row["name"])
                assert row["of"] in [r["name"] for r in rows if "of" not in r], (name, row)
            elif row.get("command"):
                assert row["command"].startswith("gan train"), (name, row["name"])
