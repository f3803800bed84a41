"""`gan sample` and `gan eval` from checkpoints alone, and evaluation during training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import error_line, read_events, run_gan, tiny
from PIL import Image

from gan_cli import checkpoint
from gan_cli.config import METRICS

pytestmark = pytest.mark.e2e


def read_image(path: str) -> tuple[int, int, int]:
    """(channels, height, width) of an image file."""
    with Image.open(path) as im:
        return (len(im.getbands()), im.height, im.width)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two short digits runs (seeds 0 and 1, in one sweep) with evaluation, and a 2-D run."""
    work = tmp_path_factory.mktemp("runs")
    env = {"GAN_CLI_CACHE": str(work / "cache")}
    sweep = work / "sweep"
    args = tiny("steps=4", "eval.every=2", "eval.samples=200", "stabilizers=[ema]",
                "stabilizers.ema.half_life=200")  # fmt: skip
    out = run_gan("train", "--multirun", "seed=0,1", *args, f"hydra.sweep.dir={sweep}",
                  cwd=work, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    points = work / "points"
    out = run_gan("train", *tiny("model=mlp", "dataset=grid25", "steps=3"),
                  f"hydra.run.dir={points}", cwd=work, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return {"sweep": sweep, "run": sorted(sweep.glob("0_*"))[0], "points": points,
            "cache": work / "cache"}  # fmt: skip


def test_training_evaluates_logs_metrics_and_keeps_the_best(runs):
    run = runs["run"]
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "Metrics/fid" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert [k for k in evals[0] if k.startswith("Metrics/")] == [
        f"Metrics/{name}" for name in METRICS["digits"]
    ]
    assert [e.step for e in read_events(run).Scalars("Metrics/fid")] == [2, 4]
    best = checkpoint.load(run / "checkpoints" / "best.pt")
    assert best["best"]["value"] == min(r["Metrics/fid"] for r in evals)
    assert "G_ema" in best  # with EMA, the averaged generator is saved and evaluated
    # the reference statistics were computed once and cached
    assert len(list((runs["cache"] / "reference").glob("*.pt"))) == 1


def test_sample_grid_files_and_interpolation_from_a_checkpoint_alone(runs, workdir):
    assert not any(workdir.iterdir())  # no data set, no config here
    out = run_gan("sample", f"ckpt={runs['run']}", "n=16", "out=grid.png", cwd=workdir)
    assert out.returncode == 0, out.stderr
    # 4 x 4 digits of 8 px shown at 32 px (a grid enlarges small images), 2 px padding
    assert read_image(str(workdir / "grid.png")) == (3, 4 * 34 + 2, 4 * 34 + 2)

    out = run_gan("sample", f"ckpt={runs['run']}", "n=12", "out=many", cwd=workdir)
    assert out.returncode == 0, out.stderr
    files = sorted((workdir / "many").glob("*.png"))
    assert len(files) == 12 and read_image(str(files[0])) == (1, 8, 8)

    out = run_gan("sample", f"ckpt={runs['run']}/checkpoints/best.pt", "interpolate=[3,7]", "n=5",
                  "out=walk.png", cwd=workdir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert read_image(str(workdir / "walk.png")) == (3, 36, 5 * 34 + 2)  # one row


def test_sample_2d_points_and_scatter(runs, workdir):
    out = run_gan("sample", f"ckpt={runs['points']}", "n=300", "out=pts", "device=cpu",
                  cwd=workdir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert np.load(workdir / "pts" / "points.npy").shape == (300, 2)
    assert read_image(str(workdir / "pts" / "scatter.png"))[0] == 3


def test_eval_one_checkpoint_writes_numbers_with_their_protocol(runs, workdir):
    out = run_gan("eval", f"ckpt={runs['run']}", "samples=200", cwd=workdir,
                  env={"GAN_CLI_CACHE": str(runs["cache"])})  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads((workdir / "eval.json").read_text())
    p = result["protocol"]
    assert p["samples"] == 200 and p["seed"] == 0 and p["extractor"] == "digits"
    assert p["reference"]["samples"] == 1797 and p["reference"]["split"] == "train"
    assert p["k"] == {"precision_recall": 3, "density_coverage": 5}
    assert p["differs"] == "200 samples where the protocol uses 10,000"
    assert len(p["weights_sha256"]) == 64
    assert {"gan_cli", "torch", "device"} <= set(p["provenance"])
    (run,) = result["runs"]
    assert run["step"] == 4 and run["ema"] is True
    assert "fid" in out.stdout and "precision" in out.stdout
    # the very numbers training logged for this checkpoint (same G, samples, noise, precision):
    # best.pt is chosen on what `gan eval` reports; for a run of another seed too (the
    # evaluation's noise is its own, not the run's seed)
    assert_logged(runs["run"], run["metrics"])
    other = sorted(runs["sweep"].glob("1_*"))[0]
    out = run_gan("eval", f"ckpt={other}", "samples=200", "out=other.json", "device=cpu",
                  cwd=workdir, env={"GAN_CLI_CACHE": str(runs["cache"])})  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads((workdir / "other.json").read_text())
    assert result["protocol"]["provenance"]["device"].startswith("cpu: ")  # as asked
    (run,) = result["runs"]
    assert_logged(other, run["metrics"])


def assert_logged(run_dir: Path, metrics: dict) -> None:
    """`metrics` (from gan eval) are what training logged at that run's last evaluation."""
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = next(r for r in rows if r["step"] == 4 and "Metrics/fid" in r)
    for name in METRICS["digits"]:
        assert metrics[name] == pytest.approx(logged[f"Metrics/{name}"], rel=1e-9), name


def test_generated_images_are_scored_as_uint8_pixels():
    import torch

    from gan_cli.metrics.evaluate import generate

    class Ramp(torch.nn.Module):
        latent_dim = 4

        def forward(self, z):  # values between the 256 levels a PNG can hold
            return torch.tanh(z[:, :1, None, None].expand(-1, 1, 8, 8) * 0.37)

    x = generate(Ramp(), 50, seed=0, device=torch.device("cpu"))
    levels = (x + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert len(levels.unique()) > 10


def test_eval_refuses_too_few_samples_in_one_line(runs, workdir):
    out = run_gan("eval", f"ckpt={runs['run']}", "samples=3", cwd=workdir,
                  env={"GAN_CLI_CACHE": str(runs["cache"])})  # fmt: skip
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 1 and len(lines) == 1
    assert lines[0].startswith("error: samples=3: must be >= 10 for the digits metrics")


def test_eval_of_a_sweep_reports_mean_and_std(runs, workdir):
    out = run_gan("eval", f"ckpt={runs['sweep']}", "samples=300", "out=sweep.json", cwd=workdir,
                  env={"GAN_CLI_CACHE": str(runs["cache"])})  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads((workdir / "sweep.json").read_text())
    fids = [r["metrics"]["fid"] for r in result["runs"]]
    assert len(fids) == 2 and fids[0] != fids[1]
    assert result["summary"]["fid"]["mean"] == pytest.approx(np.mean(fids))
    assert result["summary"]["fid"]["std"] == pytest.approx(np.std(fids, ddof=1))
    assert "mean ± std" in out.stdout


def test_eval_of_2d_points_follows_pacgans_protocol_by_default(runs, workdir):
    out = run_gan("eval", f"ckpt={runs['points']}", cwd=workdir)
    assert out.returncode == 0, out.stderr
    result = json.loads((workdir / "eval.json").read_text())
    assert result["protocol"]["samples"] == 2500 and "PacGAN" in result["protocol"][
        "published_samples"] and "differs" not in result["protocol"]  # fmt: skip
    metrics = result["runs"][0]["metrics"]
    assert tuple(metrics) == METRICS["modes"]
    # the same numbers from the points themselves, counted here
    import torch

    from gan_cli.data.mixtures import grid25_centres
    from gan_cli.metrics.evaluate import generate
    from gan_cli.metrics.mixture import mode_stats
    from gan_cli.sample import load_generator

    G, _ = load_generator(runs["points"], torch.device("cpu"))
    points = generate(G, 2500, seed=0, device=torch.device("cpu"))
    assert metrics == pytest.approx(mode_stats(points, grid25_centres(), 0.05))


def test_runs_record_where_they_ran(runs):
    rows = [json.loads(r) for r in (runs["points"] / "provenance.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["step"] == 0
    assert rows[0]["gan_cli"] and rows[0]["torch"] and rows[0]["device"].startswith("cpu: ")
    assert len(rows[0].get("git_commit", "x" * 40)) == 40  # from a checkout: its commit


def test_sample_and_eval_refuse_bad_checkpoints_in_one_line(workdir):
    bad = workdir / "bad.pt"
    bad.write_bytes(b"junk")
    for verb in ("sample", "eval"):
        out = run_gan(verb, f"ckpt={bad}", cwd=workdir)
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert out.returncode == 1 and len(lines) == 1 and "truncated or corrupt" in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer where no GPU is visible")
def test_sample_and_eval_without_a_gpu_refuse_device_cuda_in_one_line(runs, workdir):
    for verb in ("sample", "eval"):
        out = run_gan(verb, f"ckpt={runs['points']}", "device=cuda", cwd=workdir)
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert out.returncode == 1 and len(lines) == 1, out.stderr
        assert "device=cuda but no CUDA GPU is visible" in lines[0]


def test_a_checkpoint_of_the_first_format_samples_and_evaluates_but_is_not_resumed(runs, workdir):
    """Format gan-cli/1 (before stabilisers), still read by checkpoint.READABLE: no
    `metrics_kind` (its data set's `metrics` said how it is measured) and no stabiliser state;
    G, G_ema and the model config are as in gan-cli/2."""
    state = checkpoint.load(runs["run"] / "checkpoints" / "last.pt")
    state["format"] = "gan-cli/1"
    state["config"]["dataset"]["metrics"] = state.pop("metrics_kind")
    del state["stabilizers"]
    old = workdir / "old" / "checkpoints" / "last.pt"
    checkpoint.atomic_save(state, old)
    out = run_gan("sample", f"ckpt={old}", "n=4", "out=old.png", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert read_image(str(workdir / "old.png"))[0] == 3
    out = run_gan("eval", f"ckpt={old}", "samples=200", "out=old.json", cwd=workdir,
                  env={"GAN_CLI_CACHE": str(runs["cache"])})  # fmt: skip
    assert out.returncode == 0, out.stderr
    (run,) = json.loads((workdir / "old.json").read_text())["runs"]
    assert run["ema"] is True and np.isfinite(run["metrics"]["fid"])
    out = run_gan("train", f"resume={old}", cwd=workdir)
    assert out.returncode == 1 and "format gan-cli/1" in error_line(out), out.stderr
