"""Speed traps of the CPU: fp16 autocast is refused there, and `device.channels_last=auto` times
both memory layouts once per device and model, caches the answer, and a run keeps the layout
its checkpoint records (layout changes rounding; exact resume stays exact)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import error_line, run_gan, tiny

from gan_cli import checkpoint, layout
from gan_cli.models import dcgan, mlp
from gan_cli.runtime import Runtime

CPU = Runtime(torch.device("cpu"))
SHAPE = (1, 16, 16)


def small_dcgan():
    return dcgan.build(SHAPE, latent_dim=16, g_width=8, d_width=8)


def decide(setting="auto", recorded=None, build=small_dcgan, cache_dir=None, key=None):
    model = layout.Model(build, 8, (8, *SHAPE), 0, key or {"model": "small"})
    return layout.decide(setting, CPU, recorded, model, cache_dir)


@pytest.mark.parametrize("device", ["device=cpu", "device.type=cpu"])
def test_fp16_on_the_cpu_is_refused_in_one_line_naming_bf16_and_fp32(device, workdir):
    line = error_line(run_gan("train", device, "device.precision=fp16", cwd=workdir))
    assert "device.precision=fp16" in line and "bf16" in line and "fp32" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="device=auto picks the GPU here")
def test_fp16_is_refused_where_device_auto_lands_on_the_cpu(workdir):
    line = error_line(run_gan("train", "device.precision=fp16", "steps=1", cwd=workdir))
    assert "bf16" in line and "fp32" in line


def test_the_probe_times_both_layouts_of_the_models_own_passes():
    G, D = small_dcgan()
    seconds = layout.probe(G, D, CPU, batch=8, d_input=(8, *SHAPE))
    assert set(seconds) == {True, False} and all(0 < s < 60 for s in seconds.values())
    # the probe ran on G and D themselves: their weights got gradients, then were cleared
    assert all(p.grad is None for p in [*G.parameters(), *D.parameters()])


def test_auto_probes_once_then_reads_its_cache(tmp_path):
    chosen = decide(cache_dir=tmp_path)
    cache = json.loads((tmp_path / "layout.json").read_text())
    (entry,) = cache.values()
    assert entry["channels_last"] is chosen and set(entry["ms"]) == {"contiguous", "channels-last"}
    assert entry["device"].startswith("cpu: ")
    # the cached answer is what counts from then on: flipped by hand, it is what auto returns
    entry["channels_last"] = not chosen
    (tmp_path / "layout.json").write_text(json.dumps(cache))
    assert decide(cache_dir=tmp_path) is (not chosen)
    # another model is another entry, probed for itself
    decide(cache_dir=tmp_path, key={"model": "other"})
    assert len(json.loads((tmp_path / "layout.json").read_text())) == 2


def test_auto_keeps_the_recorded_layout_and_an_explicit_setting_wins(tmp_path):
    (tmp_path / "layout.json").write_text("not json")  # unreadable: never consulted here
    assert decide(recorded=True, cache_dir=tmp_path) is True
    assert decide(recorded=False, cache_dir=tmp_path) is False
    assert decide(setting=True, recorded=False) is True
    assert decide(setting=False, recorded=True) is False
    assert (tmp_path / "layout.json").read_text() == "not json"


def test_a_model_without_convolutions_is_never_probed(tmp_path):
    assert decide(build=lambda: mlp.build(SHAPE), cache_dir=tmp_path) is False
    assert not (tmp_path / "layout.json").exists()


@pytest.mark.e2e
def test_a_run_records_its_layout_and_a_resume_keeps_it_whatever_the_cache_says(workdir):
    cache = workdir / "cache"
    run = workdir / "run"
    env = {"GAN_CLI_CACHE": str(cache)}
    args = tiny("dataset.resolution=16", "steps=2", "eval.every=0", "device.channels_last=auto")
    out = run_gan("train", *args, f"hydra.run.dir={run}", cwd=workdir, env=env)
    assert out.returncode == 0, out.stderr
    cached = json.loads((cache / "layout.json").read_text())
    (entry,) = cached.values()
    chosen = entry["channels_last"]
    assert checkpoint.load(run / "checkpoints" / "last.pt")["channels_last"] is chosen
    # the cache now says the other layout; the resumed run keeps the recorded one
    entry["channels_last"] = not chosen
    (cache / "layout.json").write_text(json.dumps(cached))
    out = run_gan(
        "train", f"resume={run}", "steps=4", "device.channels_last=auto", cwd=workdir, env=env
    )
    assert out.returncode == 0, out.stderr
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["step"] == 4 and state["channels_last"] is chosen
