"""Mode metrics for the 2-D Gaussian mixtures (as defined in VEEGAN and PacGAN), and a spread.

A generated point is *high quality* when it lies within 3 sigma of its nearest mode centre;
a mode is *covered* when at least `min_count` high-quality points fall in it. The reverse KL
compares the histogram of high-quality points over modes with the uniform one (0 = perfect).

Those three cannot see a generator that puts each mode's mass on a point: it scores 100 %
within 3 sigma (real data: 98.9 %), and a narrower-than-real mode scores above the data. So
`spread` says how wide the generated modes are: the RMS distance of the high-quality points
to their centre over what a Gaussian of the data's sigma gives within 3 sigma. 1 = as wide as
the data, 0 = every mode a point; a uniform disc of radius 3 sigma would give 1.54.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# E[r^2 / (2 sigma^2) | r <= 3 sigma] of a 2-D isotropic Gaussian: r^2 / (2 sigma^2) is
# Exp(1), truncated at 4.5
TRUNCATED_MEAN = 1 - 4.5 * math.exp(-4.5) / (1 - math.exp(-4.5))  # 0.9494


def nearest_modes(points: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """(distance to the nearest centre, its index) for (N, 2) points."""
    return torch.cdist(points.float(), centres.float()).min(dim=1)


def mode_stats(points: Tensor, centres: Tensor, sigma: float, min_count: int = 1) -> dict:
    dist, nearest = nearest_modes(points, centres)
    good = dist <= 3 * sigma
    counts = torch.bincount(nearest[good], minlength=len(centres))
    total = counts.sum().item()
    if total:
        p = counts.float() / total
        nz = p > 0
        reverse_kl = float((p[nz] * (p[nz] * len(centres)).log()).sum())
        mean_sq = (dist[good].double() ** 2).mean().item() / (2 * sigma**2)
        spread = math.sqrt(mean_sq / TRUNCATED_MEAN)
    else:
        reverse_kl, spread = math.inf, 0.0
    return {
        "modes": int((counts >= min_count).sum()),
        "high_quality": float(good.float().mean()),
        "reverse_kl": reverse_kl,
        "spread": spread,
    }
