"""The zoo's presets end to end: `gan train experiment=sngan`, `experiment=stylegan2` and a
conditional run, each killed and resumed bit-exact, then sampled from the checkpoint alone."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_gan, straight_and_killed
from PIL import Image

from gan_cli import checkpoint

pytestmark = pytest.mark.e2e
N = 3  # checkpoint at N, run to 2N
RUN = [f"steps={2 * N}", f"ckpt_every={N}", "log_every=1", "sample_every=3", "eval.every=0"]
PRESETS = {
    # the paper's recipe (hinge, spectral norm, 5 D steps) on narrower networks: at its widths
    # (G 256, D 128) these 12 steps took 4 minutes of a 1-thread CPU
    "sngan": ["experiment=sngan", "model.g_width=64", "model.d_width=64", "batch_size=16"],
    # the paper's recipe on narrower networks (a CPU step of the full widths takes seconds);
    # lazy R1 and path length every 2 steps so that both run before the kill and after it
    "stylegan2": ["experiment=stylegan2", "model.channel_base=1024", "model.channel_max=64",
                  "stabilizers.r1.every=2", "stabilizers.path_length.every=2", "batch_size=8"],
    # conditional DCGAN on the labelled digits
    "conditional": ["model.conditional=true", "model.g_width=16", "model.d_width=16",
                    "batch_size=32"],
}  # fmt: skip


@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_resumes_bit_exact_and_samples_from_its_checkpoint(preset, workdir):
    a, b = straight_and_killed(workdir, [*PRESETS[preset], *RUN], N)
    sa, sb = (checkpoint.load(r / "checkpoints" / "last.pt") for r in (a, b))
    for net in ("G", "D", *(["G_ema"] if "G_ema" in sa else [])):
        assert sa[net].keys() == sb[net].keys()
        assert all(torch.equal(sa[net][k], sb[net][k]) for k in sa[net]), net
    assert sa["stabilizers"].keys() == sb["stabilizers"].keys()
    rows = [json.loads(r) for r in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 2 * N + 1))
    if preset == "stylegan2":  # both lazy regularisers ran, before and after the kill
        assert {"Loss/r1", "Loss/path_length"} <= set(rows[1]) and "Loss/r1" in rows[-1]

    extra = {"sngan": [], "stylegan2": ["truncation=0.7"], "conditional": ["class=3"]}[preset]
    out = run_gan("sample", f"ckpt={b}", "n=8", "out=grid.png", *extra, cwd=workdir)
    assert out.returncode == 0, out.stderr
    with Image.open(workdir / "grid.png") as im:
        assert im.width > 32 and im.height >= 34
    if preset == "conditional":  # one row per class when no class is asked for
        for bad, why in (
            ("class=12", "class=12: must be in 0..9"),
            ("truncation=0.7", "this checkpoint's generator cannot be truncated"),
        ):
            out = run_gan("sample", f"ckpt={b}", bad, cwd=workdir)
            assert out.returncode == 1 and why in out.stderr.strip(), out.stderr
        out = run_gan("sample", f"ckpt={b}", "n=20", "out=rows.png", cwd=workdir)
        assert out.returncode == 0, out.stderr
        with Image.open(workdir / "rows.png") as im:
            assert (im.width, im.height) == (2 * 34 + 2, 10 * 34 + 2)
    if preset == "stylegan2":  # a walk in w space
        out = run_gan("sample", f"ckpt={b}", "interpolate=[1,2]", "n=5", "out=walk.png",
                      cwd=workdir)  # fmt: skip
        assert out.returncode == 0, out.stderr
