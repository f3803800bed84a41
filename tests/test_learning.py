"""Does training learn? Short seeded runs of each main objective must reach a stated floor,
measured as `gan eval` measures (the run's final evaluation uses the same protocol).

An untrained generator scores 0-2 of 25 modes on grid25 and 1 digit class with precision 0;
the saturating minimax loss where it never takes off (the plain GAN on grid25: 15 modes with
43 % of its samples near a mode; plain `gan train` on digits: 3 classes, precision 0). The
floors sit clearly above those, with margin below what these seeds reach here (noted per
case).

The tests stand from the longest to the shortest, and conftest.py puts this module first: the
pytest-xdist workers take them in turn from the start instead of one worker running the
longest at the end while the others wait."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_gan

from gan_cli.data.mixtures import grid25_centres
from gan_cli.metrics.mixture import mode_stats
from gan_cli.metrics.protocol import LOWER_IS_BETTER
from gan_cli.models import mlp

# minutes a run: on an AVX2-only CPU a test of two 12,000-step runs takes 3-5 min
pytestmark = [pytest.mark.learning, pytest.mark.timeout(1800)]


def final_metrics(run_dir) -> dict:
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if any(k.startswith("Metrics/") for k in r)][-1]
    return {k.removeprefix("Metrics/"): v for k, v in final.items() if k.startswith("Metrics/")}


def trained_metrics(workdir, name: str, *overrides: str) -> dict:
    """`gan train` with `overrides` into workdir/name; its final evaluation."""
    run_dir = workdir / name
    out = run_gan("train", *overrides, f"hydra.run.dir={run_dir}", cwd=workdir, timeout=1500)
    assert out.returncode == 0, out.stderr
    return final_metrics(run_dir)


def test_the_stacked_digits_recipe_covers_the_modes_the_plain_resnet_misses(workdir):
    """experiment=stacked_digits (the ResNet at 8x8 with lazy R1, EMA and decay) at 2,000 steps,
    seed 0: 1,000 modes, KL 0.18-0.19 (bf16 and fp32 machines), 47 % confident. The same
    ResNet without the stabilisers and the decay reached 987 modes, KL 0.54 at these steps
    (it destabilises over the second half); that plain run is not repeated here (5 CPU-minutes
    on the slower machine), its figures are why the ceiling sits at 0.3. ~7.5 min on one
    thread of an AVX2-only CPU: the longest learning test, so it stands first."""
    got = trained_metrics(workdir, "recipe", "experiment=stacked_digits", "steps=2000",
                          "eval.every=2000", "seed=0")  # fmt: skip
    assert got["modes"] >= 995 and got["confident"] >= 0.35, got
    assert got["mode_kl"] <= 0.3, got


def test_the_digits_recipe_reaches_its_floor_and_beats_the_plain_gan(workdir):
    """experiment=digits (the default `make train`: an MLP GAN at 8x8 with lazy R1, EMA and a lr
    decay over the second half) at 8,000 steps against the same network without the
    stabilisers and the decay (the plain GAN), at equal steps, seed 0. The recipe reached FID
    15.8, precision 0.74, 10 classes (16,000 steps: FID 5.3, 0.82; at 4,000 steps only FID
    57.7, precision 0.59: the decay then starts before G has found the digits); the plain MLP
    GAN FID 106.4 (97.4 at 4,000); plain `gan train` (DCGAN, 1,500 steps) FID 171-184,
    precision 0.45. ~3 min a run on one thread of an AVX2-only CPU."""
    plain = ["~stabilizers.r1", "~stabilizers.ema", "optim.decay=none"]
    short = ["experiment=digits", "steps=8000", "eval.every=8000", "seed=0"]
    got = {name: trained_metrics(workdir, name, *short, *extra)
           for name, extra in (("recipe", []), ("plain", plain))}  # fmt: skip
    assert got["recipe"]["precision"] >= 0.5 and got["recipe"]["classes"] == 10, got
    assert got["recipe"]["fid"] <= 40, got  # the default run's target (issue 12)
    assert got["recipe"]["fid"] < got["plain"]["fid"], got


# a small DCGAN at 16 px (metrics upscale to 32 px): a quarter of the 32 px step's cost
SMALL_DCGAN = ["model.g_width=32", "model.d_width=32", "dataset.resolution=16", "steps=300",
               "eval.every=300"]  # fmt: skip

# The 2-D recipes shortened: 12,000 steps (decay over the last 6,000) of 256 samples, not the
# preset's 128: at 128, 12,000 steps are too few for some seeds (seed 0: 24 modes, 47 %).
SHORT_2D = ["steps=12000", "eval.every=12000", "batch_size=256"]
# The losses' own floors. Hinge and the saturating minimax run in the digits recipe (where the
# issue's loss sweep measures them: 10 of 10 classes and FID <= 80 for each), shortened to
# 6,000 steps (the decay over the last 3,000), ~90 s on one AVX2 thread. Seeds 0-1 here:
# minimax FID 26.0 / 21.1, precision 0.67 / 0.67; hinge 42.4 / 52.6, precision 0.61 / 0.59; 10
# classes each. (In plain `gan train`, the DCGAN at 32 px, minimax never takes off: 3 classes,
# precision 0.) non_saturating, the recipes' own loss, is tested with the recipes below.
LOSS_IN_DIGITS = ["experiment=digits", "steps=6000", "eval.every=6000"]
LEARNS_DIGITS = {"classes": 10, "fid": 80, "precision": 0.5}
FLOORS = {  # name: (overrides, {metric: floor, or ceiling for a lower-is-better metric})
    "hinge": ([*LOSS_IN_DIGITS, "loss=hinge"], LEARNS_DIGITS),
    "minimax": ([*LOSS_IN_DIGITS, "loss=minimax"], LEARNS_DIGITS),
    # weight clipping, RMSprop, 5 critic steps; 300 steps of a small DCGAN on digits: seeds
    # 0-1: 8 classes, precision 0.33-0.35 (500 steps: 8, 0.35; at 32 px, seeds 0-3: 8-9 classes,
    # precision 0.29-0.31, ~4 min a run on one AVX2 thread against ~1)
    "wasserstein": (["loss=wasserstein", "optim.lr=2e-4", *SMALL_DCGAN],
                    {"classes": 7, "precision": 0.25}),
    # gradient penalty on a layer-norm critic: 10 classes, precision 0.40 (at 32 px: 10, 0.42)
    "wgan_gp": (["experiment=wgan_gp", "optim.lr=1e-3", "optim.d_steps=2", *SMALL_DCGAN],
                {"classes": 9, "precision": 0.3}),
}  # fmt: skip


RECIPES = {  # preset: its floor, shortened as SHORT_2D
    # seeds 0-2: 25 modes, 87-89 % within 3 sigma, reverse KL 0.007-0.008 (the plain GAN at
    # the same steps: 18-25 modes, 50-65 %). Spread: modes are not points (a G that puts each
    # mode on a point scores 100 % within 3 sigma); seed 0: grid25 0.66, ring8 0.69 (AVX2)
    "grid25": {"modes": 23, "high_quality": 0.8, "spread": 0.4},
    "ring8": {"modes": 8, "high_quality": 0.85, "spread": 0.4},  # seed 0: 8 modes, 94-96 %
}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_each_2d_recipe_reaches_its_floor_and_beats_the_plain_gan_at_equal_steps(recipe, workdir):
    """The recipe against experiment=grid25_mlp (the plain GAN: no R1, no EMA, no decay) on the
    same data, seed and number of steps."""
    short = [*SHORT_2D, "seed=0"]
    plain = ["experiment=grid25_mlp", f"dataset={recipe}"]
    got = {
        name: trained_metrics(workdir, name, *preset, *short)
        for name, preset in (("recipe", [f"experiment={recipe}"]), ("plain", plain))
    }
    assert all(got["recipe"][k] >= v for k, v in RECIPES[recipe].items()), got
    assert got["recipe"]["reverse_kl"] < got["plain"]["reverse_kl"], got
    assert got["recipe"]["high_quality"] > got["plain"]["high_quality"], got


@pytest.mark.parametrize("name", list(FLOORS))
def test_each_objective_reaches_its_floor(name, workdir):
    overrides, floors = FLOORS[name]
    final = trained_metrics(workdir, name, *overrides, "seed=0")
    got = {k: final[k] for k in floors}
    reached = [got[k] <= bound if k in LOWER_IS_BETTER else got[k] >= bound
               for k, bound in floors.items()]  # fmt: skip
    assert all(reached), (name, got, floors)


def test_an_untrained_generator_does_not_reach_the_2d_floors():
    """The floors are not met by chance: the same MLP untrained, scored the same way. (Its
    points all land near the origin, a grid centre, so the share near a mode alone would
    pass: that is why the floors ask for modes as well.)"""
    torch.manual_seed(0)
    G, _ = mlp.build((2,), latent_dim=16)
    with torch.no_grad():
        points = G.eval()(torch.randn(2500, 16, generator=torch.Generator().manual_seed(0)))
    untrained = mode_stats(points, grid25_centres(), 0.05)
    floors = RECIPES["grid25"]
    assert not all(untrained[k] >= floor for k, floor in floors.items()), untrained
