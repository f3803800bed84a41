"""CUDA paths, run where a GPU is visible (`make gpu-check`); skipped with a reason elsewhere.

What the CPU tests cannot show: the step with fused optimisers, autocast on the GPU and its grad
scalers, channels-last and compile there; evaluation giving the same numbers on either device;
a CUDA checkpoint resuming on the CPU.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import run_gan, spec_of, tiny

from gan_cli import checkpoint
from gan_cli.data.source import BatchStream, TensorSource
from gan_cli.gan import build_gan
from gan_cli.runtime import Runtime

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="needs a CUDA GPU: run `make gpu-check` on a machine with one"),
]  # fmt: skip


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("stabilizers", ["[]", "[spectral_norm,diffaugment,ema]",
                                         "[r1,packing]", "[gradient_penalty]"])  # fmt: skip
def test_training_steps_on_cuda(precision, stabilizers):
    if precision == "bf16" and torch.cuda.get_device_capability()[0] < 8:
        pytest.skip("bf16 needs compute capability 8.0+")
    norm = "batch" if stabilizers in ("[]", "[spectral_norm,diffaugment,ema]") else "none"
    data_64px = ["dataset=fake", "dataset.resolution=64", "dataset.channels=3"]
    cfg, spec = spec_of(*tiny(f"stabilizers={stabilizers}", f"model.d_norm={norm}", *data_64px))
    rt = Runtime(torch.device("cuda"), precision, channels_last=True)
    gan = build_gan(cfg, spec, (3, 64, 64), rt)
    assert all(p.is_cuda for p in gan.G.parameters())
    assert gan.opt_g.defaults.get("fused") is True  # the fused Adam kernel
    data = torch.randint(0, 256, (128, 3, 64, 64), dtype=torch.uint8)
    batches = BatchStream(TensorSource(data, "random"), spec.batch_size, 0, rt.device, True)
    for _ in range(3):
        gan.step(batches)
    reported = gan.stats.flush()
    assert all(math.isfinite(v) for v in reported.values()), reported


@pytest.mark.e2e
def test_cuda_run_compiles_evaluates_like_the_cpu_and_resumes_on_the_cpu(workdir):
    run = workdir / "run"
    args = tiny("steps=6", "ckpt_every=3", "eval.every=3", "eval.samples=500",
                "stabilizers=[ema]")  # fmt: skip
    out = run_gan("train", *args, "device=cuda", "device.compile=true",
                  f"hydra.run.dir={run}", cwd=workdir, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert "cuda" in state["provenance"]["device"] and "cuda" in state["rng"]
    scores = {}
    for device in ("cpu", "cuda"):
        out = run_gan("eval", f"ckpt={run}", "samples=500", f"device={device}",
                      f"out={device}.json", cwd=workdir)  # fmt: skip
        assert out.returncode == 0, out.stderr
        scores[device] = json.loads((workdir / f"{device}.json").read_text())["runs"][0]["metrics"]
    for name, value in scores["cpu"].items():  # the same latents and images on either device
        assert scores["cuda"][name] == pytest.approx(value, rel=2e-2, abs=1e-3), name
    out = run_gan("train", *args, "device=cpu", "steps=9", f"resume={run}", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert checkpoint.load(run / "checkpoints" / "last.pt")["step"] == 9


@pytest.mark.e2e
def test_one_rank_nccl_ddp_under_torchrun(workdir):
    """A 1-rank process group on NCCL, DDP around G and D: the smoke test of the collectives
    on the GPU (several ranks need several GPUs)."""
    import subprocess
    import sys
    from pathlib import Path

    from conftest import gan_env

    torchrun = str(Path(sys.executable).with_name("torchrun"))
    run = workdir / "run"
    out = subprocess.run([torchrun, "--standalone", "--nproc_per_node=1", "-m", "gan_cli",
                          "train", "device=cuda", *tiny("steps=6", "log_every=3"),
                          f"hydra.run.dir={run}"], cwd=workdir, env=gan_env(),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "1 ranks" in (run / "train.log").read_text()
    assert checkpoint.load(run / "checkpoints" / "last.pt")["step"] == 6
