"""Mode metrics for the 2-D Gaussian mixtures (as defined in VEEGAN and PacGAN).

A generated point is *high quality* when it lies within 3 sigma of its nearest mode centre;
a mode is *covered* when at least `min_count` high-quality points fall in it. The reverse KL
compares the histogram of high-quality points over modes with the uniform one (0 = perfect).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def mode_counts(points: Tensor, centres: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """(points per mode among high-quality points, high-quality mask) for (N, 2) points."""
    dist = torch.cdist(points.float(), centres.float())
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= 3 * sigma
    return torch.bincount(nearest[good], minlength=len(centres)), good


def mode_stats(points: Tensor, centres: Tensor, sigma: float, min_count: int = 1) -> dict:
    counts, good = mode_counts(points, centres, sigma)
    covered = int((counts >= min_count).sum())
    total = counts.sum().item()
    if total:
        p = counts.float() / total
        nz = p > 0
        reverse_kl = float((p[nz] * (p[nz] * len(centres)).log()).sum())
    else:
        reverse_kl = math.inf
    return {
        "modes": covered,
        "high_quality": float(good.float().mean()),
        "reverse_kl": reverse_kl,
    }
