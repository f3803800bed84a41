"""Scores from class probabilities and from k-NN manifolds of features.

- Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), mean and std over
  splits, split as the original code and torch-fidelity do (rows i*N//splits onwards) and
  with the population std (ddof 0), so mean and std match published numbers.
- Precision and recall (Kynkaenniemi et al. 2019, k = 3): a sample is inside a set's manifold
  when it lies within the k-th-nearest-neighbour radius of some point of that set. Precision:
  the share of generated samples inside the real manifold; recall: the share of real samples
  inside the generated manifold.
- Density and coverage (Naeem et al. 2020, k = 5), from the real radii only: density counts how
  many real balls each generated sample falls into (divided by k); coverage is the share of
  real balls that hold at least one generated sample.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_cli.metrics.protocol import IS_SPLITS, K_DENSITY_COVERAGE, K_PRECISION_RECALL


def inception_score(probs: Tensor, splits: int = IS_SPLITS) -> tuple[float, float]:
    p = probs.double().clamp_min(1e-12)
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(dim=0, keepdim=True)
        kl = (part * (part.log() - py.log())).sum(dim=1).mean()
        scores.append(kl.exp())
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(correction=0))


def _kth_radii(x: Tensor, ks: tuple[int, ...], chunk: int = 1024) -> dict[int, Tensor]:
    """For each k: distance from each point of x to its k-th nearest neighbour in x, itself
    excluded. One distance pass serves every k."""
    top = max(ks) + 1  # the smallest distance (0) is the point itself
    nearest = torch.cat([
        torch.cdist(part, x, compute_mode="use_mm_for_euclid_dist").topk(top, largest=False).values
        for part in x.split(chunk)
    ])  # fmt: skip
    return {k: nearest[:, k] for k in ks}


def _in_balls(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = 1024) -> Tensor:
    """(len(points), ) number of balls (centres, radii) each point falls into."""
    counts = []
    for part in points.split(chunk):
        d = torch.cdist(part, centres, compute_mode="use_mm_for_euclid_dist")
        counts.append((d <= radii[None, :]).sum(dim=1))
    return torch.cat(counts)


def precision_recall(
    real: Tensor, fake: Tensor, k: int = K_PRECISION_RECALL, k_dc: int = K_DENSITY_COVERAGE
) -> dict[str, float]:
    """Precision and recall (k-NN balls with `k`), density and coverage (with `k_dc`)."""
    real, fake = real.double(), fake.double()
    ks = tuple(sorted({k, k_dc}))
    r_real, r_fake = _kth_radii(real, ks), _kth_radii(fake, (k,))[k]
    real_in_fake = _in_balls(real, fake, r_fake)
    fake_in_real = _in_balls(fake, real, r_real[k])
    fake_in_real_dc = fake_in_real if k_dc == k else _in_balls(fake, real, r_real[k_dc])
    nearest_fake = torch.cat([
        torch.cdist(p, fake, compute_mode="use_mm_for_euclid_dist").min(dim=1).values
        for p in real.split(1024)
    ])  # fmt: skip
    covered = nearest_fake <= r_real[k_dc]
    return {
        "precision": float((fake_in_real > 0).double().mean()),
        "recall": float((real_in_fake > 0).double().mean()),
        "density": float(fake_in_real_dc.double().sum() / (k_dc * len(fake))),
        "coverage": float(covered.double().mean()),
    }
