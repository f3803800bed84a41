"""Distances between feature distributions: FID (Heusel et al. 2017) and KID (Binkowski et
al. 2018). Features are (N, D) tensors from any extractor (extractors.py); all arithmetic is
in float64.

Written here rather than taken from torchmetrics / torch-fidelity because we extract features
once per evaluation and reuse them for FID, KID, precision/recall and (with cached reference
statistics) across runs; those libraries tie each metric to their own extractor pass and
weights download. The numbers are checked against independent numpy/scipy code in
tests/test_metrics.py.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gan_cli.metrics.protocol import KID_SUBSET_SIZE, KID_SUBSETS


def mean_cov(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance (N - 1), as pytorch-fid and torch-fidelity compute them."""
    x = features.double()
    return x.mean(dim=0), torch.cov(x.T)


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)).

    tr((C1 C2)^(1/2)) is the sum of the square roots of the eigenvalues of C1 C2, which are
    real and >= 0 for covariance matrices (round-off can leave tiny imaginary parts).
    """
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    diff = mu1 - mu2
    tr_sqrt = torch.linalg.eigvals(cov1 @ cov2).sqrt().real.sum()
    return float(diff @ diff + cov1.trace() + cov2.trace() - 2 * tr_sqrt)


def fid(real: Tensor, fake: Tensor) -> float:
    return frechet_distance(*mean_cov(real), *mean_cov(fake))


def _poly_kernel(a: Tensor, b: Tensor) -> Tensor:
    """k(a, b) = (a.b / d + 1)^3 for every pair of rows, computed in place (the 1,000 x 1,000
    float64 temporaries of the plain expression were most of a digits evaluation's KID time)."""
    return (a @ b.T).div_(a.shape[1]).add_(1).pow_(3)


def _poly_mmd2(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3."""
    m = x.shape[0]
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    off = m * (m - 1)
    return (kxx.sum() - kxx.diagonal().sum()) / off + (kyy.sum() - kyy.diagonal().sum()) / off \
        - 2 * kxy.mean()  # fmt: skip


def kid(real: Tensor, fake: Tensor, subsets: int = KID_SUBSETS,
        subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> tuple[float, float]:  # fmt: skip
    """KID: mean and population std (ddof 0) of the unbiased MMD^2 over random subsets, drawn
    exactly as torch-fidelity draws them (numpy RandomState(seed); per subset, `subset_size`
    real rows then `subset_size` generated rows, without replacement), so with the same seed
    the numbers are torch-fidelity's. Sets smaller than `subset_size` use subsets of the
    smaller size. With `subsets=1` and `subset_size >= N`, the whole sets are compared once."""
    real, fake = real.double(), fake.double()
    m = min(len(real), len(fake), subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per subset, got {m}")
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        if m == len(real) == len(fake) and subsets == 1:
            x, y = real, fake
        else:
            x = real[torch.from_numpy(rng.choice(len(real), m, replace=False))]
            y = fake[torch.from_numpy(rng.choice(len(fake), m, replace=False))]
        values.append(_poly_mmd2(x, y))
    v = torch.stack(values)
    return float(v.mean()), float(v.std(correction=0))
