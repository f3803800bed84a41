"""The measuring protocol of each kind of data, in one torch-free place (config validation
reads it too): sample counts as published, the k of each k-NN metric, KID's subsets, IS splits.
"""

from __future__ import annotations

from gan_cli.errors import ConfigError

K_PRECISION_RECALL = 3  # Kynkaenniemi et al. 2019
K_DENSITY_COVERAGE = 5  # Naeem et al. 2020
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # Binkowski et al. 2018, as torch-fidelity
IS_SPLITS = 10  # Salimans et al. 2016

# Default sample count of each kind of metrics (the data set's), and whose protocol it is.
PROTOCOLS = {
    "modes": (2_500, "PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017): 2,500"),
    "stacked": (26_000, "VEEGAN and PacGAN stacked MNIST: 26,000"),
    "inception": (10_000, "FID-10k (FID-50k with samples=50000, as StyleGAN and BigGAN report)"),
    "digits": (10_000, "gan-cli digits: 10,000 (no published protocol; compare with itself)"),
}
_IMAGE_METRICS = ("fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density",
                  "coverage")  # fmt: skip
METRICS = {  # what each kind reports (evaluate.py)
    "digits": (*_IMAGE_METRICS, "classes", "class_kl", "confident", "confident_real", "intra_fid"),
    "inception": _IMAGE_METRICS,
    "stacked": ("modes", "mode_kl", "confident", "modes_b", "mode_kl_b"),
    "modes": ("modes", "high_quality", "reverse_kl", "spread"),
}
# never the best checkpoint's metric: spread (1 is right, not higher or lower), and the data's
# own confident share (a reference figure printed beside the samples')
NOT_RANKED = {"spread", "confident_real"}
CHEAP_KINDS = ("digits", "stacked", "modes")  # evaluated during training by default
DEFAULT_BEST = {"digits": "fid", "inception": "fid", "stacked": "modes", "modes": "modes"}
LOWER_IS_BETTER = {"fid", "kid", "reverse_kl", "mode_kl", "mode_kl_b", "class_kl", "intra_fid"}


def default_samples(kind: str) -> int:
    return PROTOCOLS[kind][0]


def min_samples(kind: str) -> int:
    """The fewest samples the metrics of `kind` are defined for. Image features: every IS
    split non-empty, more points than the largest k, two per KID subset."""
    if kind in ("digits", "inception"):
        return max(IS_SPLITS, K_DENSITY_COVERAGE + 1, 2)
    return 1


def check_samples(kind: str, n: int, key: str) -> None:
    """One line naming `key` when `n` samples are too few for the metrics of `kind`."""
    least = min_samples(kind)
    if n < least:
        raise ConfigError(
            f"{key}={n}: must be >= {least} for the {kind} metrics ({IS_SPLITS} Inception-"
            f"Score splits, k-NN with k up to {K_DENSITY_COVERAGE}, 2 samples per KID subset)"
        )
