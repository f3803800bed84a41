"""Sweeps with the real launcher and sweeper plugins (joblib, submitit, Optuna), the summary
built from each job's status file, `gan report`, and pre-emption by SIGUSR2."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import yaml
from conftest import run_gan, start_gan, wait_for
from PIL import Image

from gan_cli import checkpoint

pytestmark = pytest.mark.e2e
POINTS = ["model=mlp", "dataset=grid25", "model.hidden=32", "batch_size=64", "log_every=10"]


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_launched_sweep_with_a_failing_job_reports_it_and_exits_non_zero(launcher, workdir):
    sweep = workdir / "sweep"
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    out = run_gan("train", "--multirun", f"hydra/launcher={launcher}", *extra,
                  "optim.lr=1e-4,1e30,3e-4", *POINTS, "steps=20", f"hydra.sweep.dir={sweep}",
                  cwd=workdir)  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert "sweep: 3 jobs, 2 ok, 1 failed" in out.stdout
    assert "#1   failed optim.lr=1e+30" in out.stdout
    assert "reason: training diverged at step 10" in out.stdout
    statuses = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/status.json"))]
    assert [s["status"] for s in statuses] == ["ok", "failed", "ok"]
    if launcher == "joblib":  # two jobs at once: joblib gives each its share of the cores (at
        # one thread per core in each, their threads would spin against each other)
        threads = max(1, (os.cpu_count() or 1) // 2)
        logs = [p.read_text() for p in sorted(sweep.glob("*/train.log"))]
        assert len(logs) == 3 and all(f", CPU threads {threads}" in log for log in logs), logs


def test_an_optuna_search_runs_its_trials_and_records_the_best(workdir):
    sweep = workdir / "search"
    out = run_gan("train", "--multirun", "search=grid25", "hydra.sweeper.n_trials=3",
                  "steps=100", "eval.every=50", f"hydra.sweep.dir={sweep}", cwd=workdir,
                  timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "sweep: 3 jobs, 3 ok, 0 failed" in out.stdout
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    values = [json.loads(p.read_text())["value"] for p in sweep.glob("*/status.json")]
    assert best["best_value"] == pytest.approx(min(values))  # reverse KL: lower is better
    assert set(best["best_params"]) == {"optim.lr_g", "optim.lr_d", "optim.d_steps",
                                        "stabilizers.r1.gamma"}  # fmt: skip


def test_report_groups_seeds_and_its_means_are_gan_evals(workdir):
    sweep = workdir / "sweep"
    out = run_gan("train", "--multirun", "seed=0,1", "optim.lr=2e-4,1e-3", *POINTS,
                  "steps=60", "eval.every=30", f"hydra.sweep.dir={sweep}", cwd=workdir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = run_gan("report", str(sweep), "metrics=[modes,reverse_kl]", cwd=workdir)
    assert out.returncode == 0, out.stderr
    table = (sweep / "report.md").read_text()
    rows = [r for r in table.splitlines() if r.startswith("| ") and r[2].isdigit()]
    assert len(rows) == 2 and all("| 2 |" in r for r in rows)  # two settings, two seeds each
    for lr in ("0.0002", "0.001"):
        runs = sorted(sweep.glob(f"*optim.lr={lr}*"))
        out = run_gan("eval", f"ckpt=['{runs[0]}','{runs[1]}']", "out=e.json", cwd=workdir)
        assert out.returncode == 0, out.stderr
        mean = json.loads((workdir / "e.json").read_text())["summary"]["reverse_kl"]["mean"]
        row = next(r for r in rows if f"| {lr} |" in r or f"| {float(lr):.4g} |" in r)
        assert f"{mean:.4g}" in row
    # each job's wall time is its own, not the sweep's so far (the jobs share one process)
    jobs = sorted(p for p in sweep.iterdir() if (p / "metrics.jsonl").is_file())  # run order
    ends = [json.loads((j / "metrics.jsonl").read_text().splitlines()[-1]) for j in jobs]
    for before, end in zip(ends, ends[1:], strict=False):  # each began after the one before
        assert end["wall_s"] <= end["time"] - before["time"] + 0.5
    for metric in ("modes", "reverse_kl"):
        with Image.open(sweep / f"report_{metric}.png") as im:
            assert im.width > 400 and im.height > 200
        assert f"report_{metric}.png" in table


def test_sigusr2_saves_a_checkpoint_and_the_same_command_resumes(workdir):
    run_dir = workdir / "job"
    args = [*POINTS, "steps=100000", "ckpt_every=100000", f"hydra.run.dir={run_dir}"]
    proc = start_gan("train", *args, cwd=workdir)
    wait_for(run_dir / "metrics.jsonl", proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGUSR2)  # submitit's warning before the time limit
    assert proc.wait(timeout=60) == 128 + signal.SIGUSR2
    step = checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"]
    out = run_gan("train", *args[:-2], f"steps={step + 5}", f"hydra.run.dir={run_dir}",
                  cwd=workdir)  # the requeued job: the same folder  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"resumed from {run_dir}/checkpoints/step_{step:07d}.pt at step {step}" in out.stdout
