"""Does training learn? A seeded `gan train` on grid25 must cover most of the 25 modes."""

from __future__ import annotations

import pytest
import torch
from conftest import run_gan

from gan_cli import checkpoint
from gan_cli.data.mixtures import grid25_centres
from gan_cli.metrics.mixture import mode_stats
from gan_cli.models import mlp

SIGMA = 0.05
N = 2500  # samples scored, as in PacGAN


def generated(G) -> torch.Tensor:
    torch.manual_seed(123)
    with torch.no_grad():
        return G.eval()(torch.randn(N, G.latent_dim))


@pytest.mark.slow
def test_non_saturating_mlp_covers_most_grid25_modes(workdir):
    run_dir = workdir / "grid25"
    out = run_gan(
        "train",
        "experiment=grid25_mlp",
        "loss=non_saturating",
        "seed=0",
        f"hydra.run.dir={run_dir}",
        cwd=workdir,
        timeout=400,
    )
    assert out.returncode == 0, out.stderr
    state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    model_cfg = {k: v for k, v in state["config"]["model"].items() if k != "_target_"}

    torch.manual_seed(0)
    untrained, _ = mlp.build((2,), **model_cfg)
    before = mode_stats(generated(untrained), grid25_centres(), SIGMA)
    trained, _ = mlp.build((2,), **model_cfg)
    trained.load_state_dict(state["G"])
    after = mode_stats(generated(trained), grid25_centres(), SIGMA)

    assert before["modes"] <= 2, before  # an untrained G puts everything near one point
    assert after["modes"] >= 15, after
    # Coverage alone could come from noise spread over the plane, which puts ~2 % of points
    # within 3 sigma of a mode; a trained G puts many times more there (seeds 0-2 with this
    # preset: 34 %, 77 %, 85 %).
    assert after["high_quality"] >= 0.2, after
