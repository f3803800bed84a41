"""Does training learn? Each run of tests/learning_cases.py (the 2-D recipes at full length,
the plain loss sweep shortened, the papers' WGANs) must reach its floors, measured as `gan eval`
measures (a run's final evaluation uses the same protocol), seed 0.

Kernels round differently on each CPU kind, and a GAN's trajectory follows the rounding: the
floors come from docs/cpu-matrix.md, where the same runs were measured under every
instruction-set, library and precision setting one machine can reach (seeds 0-2), each floor
below the worst of them by a stated margin and beyond what the plain GAN reaches. A failing
test prints this machine's CPU kind and precision beside its numbers: add that row to the
matrix (`scripts/cpu_matrix.py run NAME`) before moving a floor.

The tests stand from the longest to the shortest, and conftest.py puts this module first: the
pytest-xdist workers take them in turn from the start instead of one worker running the
longest at the end while the others wait."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import run_gan
from learning_cases import ENV, FLOORS, ONE_THREAD, PLAIN, PRECISION, RUNS

from gan_cli.data.mixtures import grid25_centres
from gan_cli.metrics.mixture import mode_stats
from gan_cli.metrics.protocol import LOWER_IS_BETTER
from gan_cli.models import mlp

# the variables that hold a library to a smaller CPU's kernels (docs/cpu-matrix.md)
KERNEL_LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")

# minutes a run: the 2-D recipes' 38,000 steps take 4-7 min on one thread
pytestmark = [pytest.mark.learning, pytest.mark.timeout(1800)]


def final_metrics(run_dir) -> dict:
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if any(k.startswith("Metrics/") for k in r)][-1]
    return {k.removeprefix("Metrics/"): v for k, v in final.items() if k.startswith("Metrics/")}


def machine(run_dir, name: str) -> str:
    """The CPU kind, precision and layout the run reports in its provenance (its first log
    line), and the kernel limits in force: what names its row in docs/cpu-matrix.md."""
    first = json.loads((run_dir / "provenance.jsonl").read_text().splitlines()[0])
    limits = {k: v for k, v in os.environ.items() if k in KERNEL_LIMITS} | ENV.get(name, {})
    return (f"{first['device']}, {first['precision']}, channels_last={first['channels_last']}, "
            f"one thread, kernel limits {limits or 'none'}")  # fmt: skip


def missed(got: dict, floors: dict) -> dict:
    """{metric: (value, bound)} for each floor (a ceiling where lower is better) not reached."""
    return {
        k: (got[k], bound)
        for k, bound in floors.items()
        if not (got[k] <= bound if k in LOWER_IS_BETTER else got[k] >= bound)
    }


@pytest.mark.parametrize("name", list(FLOORS))
def test_each_run_reaches_its_floors(name, workdir):
    run_dir = workdir / name
    precision = [f"device.precision={PRECISION[name]}"] if name in PRECISION else []
    args = ("train", *RUNS[name], *precision, ONE_THREAD, "seed=0", f"hydra.run.dir={run_dir}")
    out = run_gan(*args, cwd=workdir, timeout=1500, env=ENV.get(name))
    assert out.returncode == 0, out.stderr
    got = final_metrics(run_dir)
    assert not missed(got, FLOORS[name]), (
        f"{name} on {machine(run_dir, name)}: missed (value, floor) {missed(got, FLOORS[name])}; "
        f"all metrics {got}; see docs/cpu-matrix.md"
    )


def test_the_floors_tell_each_recipe_from_the_plain_gan():
    """No run of the plain GAN recorded in the matrix (any setting, precision or seed) meets
    its recipe's floors: a floor the plain GAN can pass would not show that the recipe works."""
    from test_docs import cpu_matrix  # the script's own reading of docs/results/

    rows = cpu_matrix().recorded(cpu_matrix().MATRIX)
    for recipe, plain in PLAIN.items():
        runs = [r for r in rows if r["run"] == plain and r.get("rc") == 0]
        assert len(runs) >= 3, plain
        for r in runs:
            assert missed(r["metrics"], FLOORS[recipe]), (recipe, r)


def test_every_floor_holds_on_every_run_the_matrix_recorded():
    """Each floor sits at or below the worst value measured for it: every run of the test's
    command recorded in the matrix (each setting, seeds 0-2, in the test's precision) meets
    all its floors. A floor raised above the data fails here, not only on some machine."""
    from test_docs import cpu_matrix

    rows = cpu_matrix().recorded(cpu_matrix().MATRIX)
    for name, floors in FLOORS.items():
        runs = [
            r
            for r in rows
            if r["run"] == name
            and not r.get("steps")
            and r.get("rc") == 0
            and r["precision"] == PRECISION.get(name, r["precision"])
        ]
        assert {r["seed"] for r in runs} >= {0, 1, 2}, name
        for r in runs:
            assert not missed(r["metrics"], floors), (name, r["setting"], r["seed"], r["metrics"])


def test_an_untrained_generator_does_not_reach_the_2d_floors():
    """The floors are not met by chance: the same MLP untrained, scored the same way. (Its
    points all land near the origin, a grid centre, so the share near a mode alone would
    pass: that is why the floors ask for modes as well.)"""
    torch.manual_seed(0)
    G, _ = mlp.build((2,), latent_dim=16)
    with torch.no_grad():
        points = G.eval()(torch.randn(2500, 16, generator=torch.Generator().manual_seed(0)))
    untrained = mode_stats(points, grid25_centres(), 0.05)
    assert missed(untrained, FLOORS["grid25"]), untrained
