"""Several processes with real torch.distributed (gloo on the CPU): `device.nproc_per_node`
and plain torchrun, against one process with the same global batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import error_line, gan_env, run_gan, start_gan, tiny, wait_for

from gan_cli import checkpoint

pytestmark = pytest.mark.e2e
RING = ["model=mlp", "dataset=ring8", "model.hidden=32", "batch_size=64", "log_every=5",
        "device.precision=fp32"]  # fmt: skip


def close(a: dict, b: dict, atol: float) -> bool:
    return all(torch.allclose(a[k], b[k], atol=atol) for k in a)


def test_two_ranks_compute_what_one_process_does_and_write_one_run(workdir):
    runs = {}
    for ranks, parts in ((1, 1), (2, 1), (2, 2)):  # 2 x 2: accumulation under DDP's no_sync
        run_dir = workdir / f"r{ranks}" if parts == 1 else workdir / "r2m2"
        out = run_gan("train", *RING, "steps=10", f"device.nproc_per_node={ranks}",
                      f"micro_batches={parts}", f"hydra.run.dir={run_dir}",
                      cwd=workdir)  # fmt: skip
        assert out.returncode == 0, out.stderr
        runs[run_dir.name] = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    assert (
        "all 2 ranks ended with identical generator weights"
        in (workdir / "r2" / "train.log").read_text()
    )
    # the same global batch, noise and data sliced per rank: the same training, to float
    # precision (gradients averaged over two halves instead of one mean over the whole)
    for other in ("r2", "r2m2"):
        assert close(runs["r1"]["G"], runs[other]["G"], 1e-5), other
        assert close(runs["r1"]["D"], runs[other]["D"], 1e-5), other
    assert not (workdir / "outputs").exists()  # one run folder, the one named
    assert len(list((workdir / "r2").rglob("events.out.tfevents.*"))) == 1
    assert len(runs["r2"]["rng"]) == 2  # every rank's generators
    # the CPU ranks share the cores (at one thread per core each they would spin and crawl)
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    assert f"CPU threads {share} | 2 ranks" in (workdir / "r2" / "train.log").read_text()


def test_two_ranks_of_a_batch_norm_dcgan_train_and_resume_in_one_process(workdir):
    run_dir = workdir / "dcgan"
    args = tiny("steps=4", "log_every=2", "eval.every=4", "eval.samples=100",
                "device.nproc_per_node=2", f"hydra.run.dir={run_dir}")  # fmt: skip
    out = run_gan("train", *args, cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert "all 2 ranks ended with identical generator weights" in out.stdout
    out = run_gan("train", f"resume={run_dir}", "steps=6", "device.nproc_per_node=1",
                  cwd=workdir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "resuming a 2-rank checkpoint on 1 ranks" in out.stdout
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"] == 6


def test_sigterm_stops_every_rank_with_a_checkpoint_that_resumes(workdir):
    run_dir = workdir / "run"
    proc = start_gan("train", *RING, "steps=100000", "device.nproc_per_node=2",
                     f"hydra.run.dir={run_dir}", cwd=workdir)  # fmt: skip
    wait_for(run_dir / "metrics.jsonl", proc)
    time.sleep(3.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    line = [ln for ln in proc.stderr.read().splitlines() if ln.startswith("error:")][-1]
    assert line.startswith("error: interrupted by SIGTERM; checkpoint ")
    step = checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"]
    assert step % 5 == 0  # the ranks agreed at a log step
    out = run_gan("train", f"resume={run_dir}", f"steps={step + 5}", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"] == step + 5


def test_plain_torchrun_writes_through_rank_zero_only(workdir):
    torchrun = str(Path(sys.executable).with_name("torchrun"))

    def launch(*args: str):
        return subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "gan_cli",
                               "train", *args], cwd=workdir, env=gan_env(), capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    out = launch(*RING, "steps=10", f"hydra.run.dir={workdir / 'run'}")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (workdir / "run" / ".hydra").iterdir()) == [
        "config.yaml", "hydra.yaml", "overrides.yaml"]  # fmt: skip
    assert checkpoint.load(workdir / "run" / "checkpoints" / "last.pt")["step"] == 10
    assert not (workdir / "outputs").exists()
    for args, why in ((["steps=2"], "under torchrun, give the run folder: hydra.run.dir=PATH"),
                      (["--multirun", "seed=0,1", f"hydra.run.dir={workdir}/x"],
                       "--multirun under torchrun")):  # fmt: skip
        out = launch(*RING, *args)
        assert out.returncode != 0 and why in out.stderr


def test_a_global_batch_that_does_not_divide_is_one_line(workdir):
    line = error_line(run_gan("train", *RING, "batch_size=63", "device.nproc_per_node=2",
                              cwd=workdir))  # fmt: skip
    assert line == ("error: batch_size=63: must divide by the number of ranks (2); batch_size "
                    "is the global batch")  # fmt: skip
