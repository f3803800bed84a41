"""The runs behind the learning tests, in one place: tests/test_learning.py runs them and checks
their floors; scripts/cpu_matrix.py runs the same commands under every instruction-set,
library and precision setting a machine can reach, which is where the floors come from
(docs/cpu-matrix.md). Plain data only (no pytest, no torch): the script imports it too.
"""

from __future__ import annotations

# a small DCGAN at 16 px (metrics upscale to 32 px): a quarter of the 32 px step's cost
SMALL_DCGAN = ("model.g_width=32", "model.d_width=32", "dataset.resolution=16", "steps=300",
               "eval.every=300")  # fmt: skip
# The plain loss sweep (`gan train --multirun loss=...`: the DCGAN tuned for the digits),
# shortened to 1,000 of its 3,000 steps (the lr decay over the second half of those)
SWEEP = ("minimax", "non_saturating", "wasserstein", "hinge")
SHORT_SWEEP = ("steps=1000", "eval.every=1000")

# name -> the overrides of one `gan train` (a seed is added by whoever runs it)
RUNS: dict[str, tuple[str, ...]] = {
    "stacked_digits": ("experiment=stacked_digits", "steps=2000", "eval.every=2000"),
    "grid25": ("experiment=grid25",),  # the presets at full length: 38,000 steps of 128
    "ring8": ("experiment=ring8",),
    **{f"sweep_{loss}": (f"loss={loss}", *SHORT_SWEEP) for loss in SWEEP},
    "wgan": ("experiment=wgan", "optim.lr=2e-4", *SMALL_DCGAN),  # the paper's WGAN
    "wgan_gp": ("experiment=wgan_gp", "optim.lr=1e-3", "optim.d_steps=2", *SMALL_DCGAN),
}

# The headline metrics of each run's kind of data, for tables
SHOWN = {
    "modes": ("modes", "high_quality", "reverse_kl", "spread"),
    "stacked": ("modes", "mode_kl", "confident"),
    "digits": ("fid", "precision", "recall", "classes"),
}
