"""The runs behind the learning tests, in one place: tests/test_learning.py runs them and checks
their floors; scripts/cpu_matrix.py runs the same commands under every instruction-set,
library and precision setting a machine can reach, which is where the floors come from
(docs/cpu-matrix.md). Plain data only (no pytest, no torch): the script imports it too.
"""

from __future__ import annotations

# a small DCGAN at 16 px (metrics upscale to 32 px): a quarter of the 32 px step's cost
SMALL_DCGAN = (
    "model.g_width=32",
    "model.d_width=32",
    "dataset.resolution=16",
    "steps=300",
    "eval.every=300",
)

# The 2-D recipes shortened: 12,000 steps (decay over the last 6,000) of 256 samples, not the
# preset's 128: at 128, 12,000 steps are too few for some seeds (seed 0: 24 modes, 47 %).
SHORT_2D = ("steps=12000", "eval.every=12000", "batch_size=256")
LOSS_IN_DIGITS = ("experiment=digits", "steps=6000", "eval.every=6000")

# name -> the overrides of one `gan train` (a seed is added by whoever runs it)
RUNS: dict[str, tuple[str, ...]] = {
    "stacked_digits": ("experiment=stacked_digits", "steps=2000", "eval.every=2000"),
    "digits": ("experiment=digits", "steps=8000", "eval.every=8000"),
    "digits_plain": (
        "experiment=digits",
        "steps=8000",
        "eval.every=8000",
        "~stabilizers.r1",
        "~stabilizers.ema",
        "optim.decay=none",
    ),
    "grid25": ("experiment=grid25", *SHORT_2D),
    "grid25_plain": ("experiment=grid25_mlp", "dataset=grid25", *SHORT_2D),
    "ring8": ("experiment=ring8", *SHORT_2D),
    "ring8_plain": ("experiment=grid25_mlp", "dataset=ring8", *SHORT_2D),
    "hinge": (*LOSS_IN_DIGITS, "loss=hinge"),
    "minimax": (*LOSS_IN_DIGITS, "loss=minimax"),
    "wasserstein": ("loss=wasserstein", "optim.lr=2e-4", *SMALL_DCGAN),
    "wgan_gp": ("experiment=wgan_gp", "optim.lr=1e-3", "optim.d_steps=2", *SMALL_DCGAN),
}

# The headline metrics of each run's kind of data, for tables
SHOWN = {
    "modes": ("modes", "high_quality", "reverse_kl", "spread"),
    "stacked": ("modes", "mode_kl", "confident"),
    "digits": ("fid", "precision", "recall", "classes"),
}
