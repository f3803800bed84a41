"""Run and sweep folders from someone else (docs/security.md), beyond test_security.py: a sweep
continued in place, FIFOs and sockets, control characters on the terminal, and files nested or
sized to exhaust the reader. In-process where a function is the whole story; a `gan` process
(e2e) only where the path through Hydra is the point."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import error_line, run_gan, tiny

from gan_cli import checkpoint, report, resume, run_writer, runfolder, sweep
from gan_cli import eval as eval_cmd
from gan_cli.errors import CheckpointError, GanError
from gan_cli.runfolder import UnsafeRunFolder


def make_run(folder: Path, fid: float | int = 3.0, overrides: str = '["seed=0"]') -> Path:
    """A run folder as `gan report` reads it: its overrides and one evaluated row."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(overrides)
    rows = [{"step": 1, "wall_s": 1.0}, {"step": 2, "Metrics/fid": fid}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@contextlib.contextmanager
def no_hang(seconds: int = 5):
    """Fail instead of waiting forever (an open of a FIFO blocks until a writer comes)."""

    def expired(*_):
        raise TimeoutError(f"still waiting after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder of files no run folder may reach."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_text("precious\n")
    return folder


# ---- A: an existing sweep folder is a run folder too
@pytest.mark.parametrize("name", ["train.log", ".hydra", ".status.json.tmp"])
def test_continuing_a_sweep_checks_every_job_folder(tmp_path, outside, name):
    job = make_run(tmp_path / "sweep" / "0_seed=0")
    link = job / name
    if link.is_dir():
        link.rename(outside / "hydra")
    link.unlink(missing_ok=True)
    link.symlink_to(outside / "victim.txt")
    with pytest.raises(UnsafeRunFolder, match="symbolic link"):
        resume.resume_argv(["-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "seed=0"])


@pytest.mark.e2e
def test_a_sweep_rerun_into_a_hostile_sweep_folder_writes_nothing_outside(tmp_path, outside):
    """The audit's case: the job folder's .hydra/ and train.log links out, and so does the
    name the job's status was written through."""
    small = tiny("dataset.resolution=16", "steps=2", "eval.every=0", "sample_every=2")
    args = ["-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "seed=0", *small]
    assert run_gan("train", *args, cwd=tmp_path).returncode == 0
    (job,) = (p.parent for p in (tmp_path / "sweep").glob("*/.hydra"))
    (job / ".hydra").rename(outside / "hydra")
    (job / ".hydra").symlink_to(outside / "hydra")
    (job / "train.log").rename(outside / "log.txt")
    (job / "train.log").symlink_to(outside / "log.txt")
    (job / ".status.json.tmp").symlink_to(outside / "victim.txt")
    before = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    assert "symbolic link" in error_line(run_gan("train", *args, cwd=tmp_path))
    assert before == {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}


def test_continuing_a_sweep_detaches_files_written_by_name(tmp_path, outside):
    """Hydra rewrites a job's .hydra/*.yaml and the sweep's multirun.yaml by name, and appends
    to train.log: none of them may stay another name of a file outside."""
    job = make_run(tmp_path / "sweep" / "0_seed=0")
    names = [job / ".hydra" / "config.yaml", job / "train.log", job.parent / "multirun.yaml"]
    for path in names:
        os.link(outside / "victim.txt", path)
    resume.resume_argv(["--multirun", f"hydra.sweep.dir='{job.parent}'", "seed=0"])  # quoted
    assert (outside / "victim.txt").stat().st_nlink == 1
    assert all(p.stat().st_nlink == 1 and p.read_text() == "precious\n" for p in names)


def test_a_job_checks_its_own_folder_before_resuming_from_it(tmp_path, outside):
    run = make_run(tmp_path / "sweep" / "0_seed=0")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "step_0000001.pt").symlink_to(outside / "victim.txt")
    with pytest.raises(UnsafeRunFolder, match="symbolic link"):
        resume.checkpoint_of(None, run)


def test_a_job_status_is_never_written_through_a_link(tmp_path, outside, monkeypatch):
    job = tmp_path / "sweep" / "0_seed=0"
    job.mkdir(parents=True)
    (job / ".status.json.tmp").symlink_to(outside / "victim.txt")
    hydra = SimpleNamespace(
        runtime=SimpleNamespace(output_dir=str(job)),
        job=SimpleNamespace(num=0),
        overrides=SimpleNamespace(task=["seed=0"]),
    )
    monkeypatch.setattr(sweep.HydraConfig, "get", lambda: hydra)
    sweep.write_status("ok", value=1.5)
    assert (outside / "victim.txt").read_text() == "precious\n"
    assert json.loads((job / "status.json").read_text())["value"] == 1.5


def test_the_sweep_summary_reads_status_files_as_data(tmp_path):
    """Other jobs' status.json: a value that is no number (TypeError in the summary), one no
    float holds, terminal escapes and a forged line, a FIFO, a list: each job a line or two."""
    statuses = {
        "0": {"num": 0, "overrides": "seed=0", "status": "ok", "value": "x"},
        "1": {"num": 1, "overrides": "seed=1", "status": "ok", "value": 10**400},
        "2": {"num": 2, "overrides": "\x1b]0;pwned\x07seed=2", "status": "failed",
              "reason": "bad\nerror: forged"},
        "3": [1, 2],
        "4": {"num": 4, "overrides": "seed=4", "status": "ok", "value": 0.5},
    }  # fmt: skip
    for name, status in statuses.items():
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / "status.json").write_text(json.dumps(status))
    (tmp_path / "5" / ".hydra").mkdir(parents=True)
    os.mkfifo(tmp_path / "5" / "status.json")
    with no_hang():
        records = sweep.read_statuses(tmp_path)
    text = sweep.summary(records)
    assert "\x1b" not in text and "\x07" not in text
    assert all(line.startswith(("sweep:", "  ")) for line in text.splitlines()), text
    assert [r.status for r in records] == ["failed", "ok"] + ["failed"] * 4
    assert "(0.5)" in text and text.count("malformed status.json") == 3


# ---- B: FIFOs, sockets, devices: opening one can wait forever
@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_check_tree_refuses_anything_but_files_and_folders(tmp_path, kind):
    path = make_run(tmp_path / "run") / "samples"
    path.mkdir()
    path /= "x"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(path))
    with pytest.raises(UnsafeRunFolder, match="FIFO, socket or device"):
        runfolder.check_tree(tmp_path / "run")


def test_reading_a_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "metrics.jsonl")
    with no_hang(), pytest.raises(UnsafeRunFolder, match="not a regular file"):
        runfolder.read_text(tmp_path / "metrics.jsonl", 100)


@pytest.mark.parametrize(
    ("command", "fifo"),
    [
        ("report run", "run/.hydra/overrides.yaml"),
        ("report sweep", "sweep/1/metrics.jsonl"),
        ("continue run", "run/train.log"),
        ("resume run", "run/metrics.jsonl"),
    ],
)
def test_a_fifo_in_a_run_folder_refuses_the_command(tmp_path, command, fifo):
    make_run(tmp_path / "run")
    (tmp_path / "run" / "checkpoints").mkdir()
    (tmp_path / "run" / "checkpoints" / "last.pt").write_bytes(b"not read")
    make_run(tmp_path / "sweep" / "1")
    (tmp_path / fifo).unlink(missing_ok=True)
    os.mkfifo(tmp_path / fifo)
    verb, folder = command.split()
    with no_hang(), pytest.raises(UnsafeRunFolder, match="FIFO"):
        if verb == "report":
            report.find_runs([tmp_path / folder])
        else:
            key = "hydra.run.dir" if verb == "continue" else "resume"
            resume.resume_argv([f"{key}={tmp_path / folder}", "steps=3"])


# ---- C: control characters never reach the terminal
def test_printable_shows_control_characters_as_escapes():
    text = "a\x1b[31m\tb\nerror: c\r\x07\x9b\x7fé"
    assert runfolder.printable(text) == "a\\x1b[31m\tb\\nerror: c\\r\\x07\\x9b\\x7fé"


def test_eval_table_shows_run_names_printable():
    ckpt = "/runs/\x1b]0;pwned\x07\nrun/checkpoints/last.pt"
    runs = [{"ckpt": ckpt, "step": 1, "metrics": {"fid": 1.0}}]
    table = eval_cmd.table(runs, eval_cmd.summarise([r["metrics"] for r in runs]))
    assert "\x1b" not in table and "\x07" not in table and len(table.splitlines()) == 2


@pytest.mark.e2e
def test_an_error_line_naming_a_hostile_folder_is_one_printable_line(tmp_path):
    """The choke point: every `error:` line (cli.fail), here a folder named to forge a line."""
    run = make_run(tmp_path / "sweep" / "\x1b[2J\x1b[31mRED\nerror: forged")
    (run / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    result = run_gan("report", str(tmp_path / "sweep"), cwd=tmp_path)
    line = error_line(result)
    assert "\x1b" not in result.stderr and "not a JSON row" in line


# ---- D: nesting, numbers and sizes that exhaust the reader
def test_deeply_nested_overrides_are_one_line(tmp_path):
    run = make_run(tmp_path / "run", overrides="[" * 5000 + "]" * 5000)
    with pytest.raises(GanError, match="nested too deeply"):
        report.read_overrides(run)


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ('{"step": 1, "Metrics/fid": 1%s}' % ("0" * 400), "too large for a float"),
        ('{"step": 1%s}' % ("0" * 400), "whole-number step"),
        ("[" * 100_000 + "]" * 100_000, "not a JSON row"),
    ],
)
def test_a_metrics_row_no_float_or_parser_holds_is_one_line(tmp_path, row, says):
    run = make_run(tmp_path / "run")
    with (run / "metrics.jsonl").open("a") as f:
        f.write(row + '\n{"step": 3}\n')
    with pytest.raises(GanError, match=says):
        list(report.read_rows(run / "metrics.jsonl"))


def test_values_at_a_floats_limit_do_not_overflow_the_report(tmp_path):
    runs = report.find_runs([make_run(tmp_path / f"run{i}", fid=1e308) for i in range(2)])
    assert "nan" in report.markdown(runs)


@pytest.mark.parametrize(
    ("name", "limit"), [("metrics.jsonl", 64 << 20), (".hydra/overrides.yaml", 64 << 10)]
)
def test_run_files_are_read_within_sane_limits(tmp_path, name, limit):
    """A parsed row takes ~30x its size in memory, PyYAML parses ~100 KB/s: a file over its
    limit is refused by its size, before a byte is read (a sparse file here)."""
    run = make_run(tmp_path / "run")
    with (run / name).open("r+b") as f:
        f.truncate(limit + 1)
    with pytest.raises(GanError, match="more than"):
        report.read_run(run)


# ---- E: what a second audit found (each failed on the code before)
def test_printable_shows_invisible_reordering_characters_as_escapes():
    """Bidi overrides and isolates, zero-width characters (Trojan Source): a name could show
    a different text than it is, in the terminal and in report.md."""
    text = "run\u202eexe.txt\u2066x\u2069\u200b\u200d\ufeff\u00ad\u2028\U000e0041"
    shown = runfolder.printable(text)
    assert shown == (
        "run\\u202eexe.txt\\u2066x\\u2069\\u200b\\u200d\\ufeff\\u00ad\\u2028\\U000e0041"
    )
    assert len(shown.splitlines()) == 1
    assert runfolder.printable("é ü ß 数字 🙂") == "é ü ß 数字 🙂"  # the rest is left alone
    assert "\u202e" not in report.cell("a\u202eb")


def test_a_row_with_thousands_of_values_is_refused_before_any_plot(tmp_path):
    run = make_run(tmp_path / "run")
    row = {"step": 3, **{f"Metrics/m{i}": 1.0 for i in range(5000)}}
    (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(GanError, match=r"metrics.jsonl:1: 5,001 values in one row"):
        report.find_runs([run])


@pytest.mark.e2e
def test_an_evaluation_of_too_many_metrics_writes_no_plot(tmp_path):
    """A plot is a second of matplotlib and a PNG each: 800 metrics are refused, not drawn."""
    run = make_run(tmp_path / "run")
    row = {"step": 3, **{f"Metrics/m{i}": 1.0 for i in range(800)}}
    (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    result = run_gan("report", str(run), cwd=tmp_path)
    assert result.returncode != 0 and "800 metrics in one evaluation" in error_line(result)
    assert not list(run.glob("report*"))


def test_the_metrics_of_all_runs_together_are_bounded(tmp_path):
    """Each file within its own limit, nine of them over what one report reads (sparse files:
    no disk used, refused by their sizes before a byte is read)."""
    runs = [make_run(tmp_path / "sweep" / f"run{i}") for i in range(9)]
    for run in runs:
        with (run / "metrics.jsonl").open("r+b") as f:
            f.truncate(60 << 20)
    with pytest.raises(GanError, match=r"bytes of metrics.jsonl in 9 runs, more than one report"):
        report.find_runs([tmp_path / "sweep"])


def test_a_checkpoint_name_of_other_digits_is_not_ours(tmp_path):
    """ "²".isdigit() is true, int("²") fails: such a name was a traceback in resume, sample
    and eval."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("step_².pt", "step_٣.pt", "step_0000002.pt"):
        (folder / name).write_bytes(b"")
    assert [p.name for p in checkpoint.step_files(folder)] == ["step_0000002.pt"]


def test_rows_a_resume_cannot_parse_are_dropped_not_a_traceback(tmp_path):
    """Nested thousands deep (RecursionError), a step that is text or missing, not an
    object: the resumed run keeps its own rows up to the checkpoint, a line at a time."""
    jsonl = tmp_path / "metrics.jsonl"
    rows = ['{"step": 1}', "[" * 100_000 + "]" * 100_000, '{"step": "2"}', "[5]", '{"x": 1}',
            '{"step": 2}', '{"step": 3}', '{"step": 1.5}']  # fmt: skip
    jsonl.write_text("\n".join(rows))
    run_writer._truncate_jsonl(jsonl, 2, tmp_path)
    assert jsonl.read_text() == '{"step": 1}\n{"step": 2}\n'


def test_a_folder_gone_mid_walk_does_not_end_the_walk(tmp_path, monkeypatch):
    """A sub-folder removed between its listing and its walk is skipped, and the walk goes on:
    a link in the folders after it is still found (the walk stopped there before)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "link").symlink_to(tmp_path)
    scandir = os.scandir

    def listing(folder):
        if Path(folder).name == "a":
            raise FileNotFoundError(folder)
        return sorted(scandir(folder), key=lambda e: e.name, reverse=True)  # a walked first

    monkeypatch.setattr(runfolder.os, "scandir", listing)
    with pytest.raises(UnsafeRunFolder, match="b/link: a symbolic link"):
        runfolder.check_tree(tmp_path)


def test_a_checkpoint_is_opened_without_following_a_link(tmp_path):
    """One open with O_NOFOLLOW, no check before it: a link put in place between a check and
    the open is refused by the open itself; a FIFO is refused without waiting."""
    target = tmp_path / "real.pt"
    torch.save({"format": checkpoint.FORMAT}, target)
    (tmp_path / "last.pt").symlink_to(target)
    with pytest.raises(CheckpointError, match="last.pt: a symbolic link; refused"):
        checkpoint.load(tmp_path / "last.pt")
    os.mkfifo(tmp_path / "fifo.pt")
    with no_hang(), pytest.raises(CheckpointError, match="not a regular file"):
        checkpoint.load(tmp_path / "fifo.pt")


def test_a_loose_checkpoint_file_is_read_without_walking_its_folder(tmp_path):
    """`gan sample ckpt=~/Downloads/x.pt`: the folder around a loose file is not a run folder
    (a link elsewhere in it refused the command); the file itself is still never a link."""
    from gan_cli.networks import build_networks
    from gan_cli.sample import load_generator

    model = {"_target_": "gan_cli.models.mlp.build", "latent_dim": 4, "hidden": 8, "depth": 2}
    G, _ = build_networks(model, [], (2,))
    file = tmp_path / "x.pt"
    torch.save({"format": checkpoint.FORMAT, "config": {"model": model}, "data_shape": [2],
                "G": G.state_dict(), "step": 1}, file)  # fmt: skip
    (tmp_path / "unrelated").symlink_to("/")
    loaded, state = load_generator(file, torch.device("cpu"))
    assert state["step"] == 1 and loaded.latent_dim == 4
    assert eval_cmd.find_checkpoints(str(file)) == [file]  # gan eval reads it alone too
    (tmp_path / "link.pt").symlink_to(file)
    with pytest.raises(CheckpointError, match="link.pt: a symbolic link; refused"):
        load_generator(tmp_path / "link.pt", torch.device("cpu"))
    run = tmp_path / "run" / "checkpoints"  # inside a run folder, the folder is walked
    run.mkdir(parents=True)
    (run / "last.pt").write_bytes(file.read_bytes())
    (run.parent / "train.log").symlink_to(tmp_path / "unrelated")
    with pytest.raises(UnsafeRunFolder, match="train.log: a symbolic link inside a run folder"):
        load_generator(run / "last.pt", torch.device("cpu"))
    with pytest.raises(UnsafeRunFolder, match="train.log: a symbolic link inside a run folder"):
        eval_cmd.find_checkpoints(str(run.parent))


# ---- F: what a third audit found (each failed on the code before)
def write_rows(run: Path, *rows: dict) -> None:
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_lone_surrogates_are_shown_as_escapes():
    """JSON and YAML may escape a lone surrogate (U+D800-DFFF); no UTF-8 encoder writes one
    and no font draws one: report.md and the plots ended in a traceback."""
    assert runfolder.printable("a\ud800b\udfff") == "a\\ud800b\\udfff"
    assert "\ud800" not in report.cell("a\ud800b")


def test_a_lone_surrogate_in_a_metric_or_a_setting_is_reported_escaped(tmp_path):
    sweep = tmp_path / "sweep"
    for i in range(2):  # settings that differ: the override's value is a column of the table
        run = make_run(sweep / f"run{i}", overrides=f'["model=x\\ud83d{i}"]')
        write_rows(run, {"step": 1, "wall_s": 1.0}, {"step": 2, "Metrics/a\ud800b": 1.0 + i})
    report.report(None, SimpleNamespace(path=str(sweep), metrics=None, out=None, title=None))
    text = (sweep / "report.md").read_text()
    # (markdown shows a backslash escaped: `\\ud800` reads `\ud800`)
    assert "a\\\\ud800b" in text and "x\\\\ud83d0" in text
    assert (sweep / "report_a_b.png").stat().st_size


def test_metrics_whose_names_make_one_file_name_get_a_plot_each(tmp_path):
    run = make_run(tmp_path / "run")
    write_rows(run, {"step": 1, "wall_s": 1.0}, {"step": 2, "Metrics/a b": 1.0, "Metrics/a_b": 2.0})
    report.report(None, SimpleNamespace(path=str(run), metrics=None, out=None, title=None))
    assert sorted(p.name for p in run.glob("*.png")) == ["report_a_b.png", "report_a_b_2.png"]
    assert "(report_a_b_2.png)" in (run / "report.md").read_text()


@pytest.mark.e2e
def test_a_folder_where_report_md_goes_is_one_line_naming_it(tmp_path):
    """An OSError inside a command (here the rename of the new report.md) was Hydra's banner
    and a second line naming the temporary file."""
    run = make_run(tmp_path / "run")
    (run / "report.md").mkdir()
    result = run_gan("report", str(run), cwd=tmp_path)
    assert result.returncode == 1
    assert error_line(result) == f"error: {run / 'report.md'}: Is a directory"
