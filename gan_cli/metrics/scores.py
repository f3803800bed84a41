"""Scores from class probabilities and from k-NN manifolds of features.

- Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), mean and std over splits.
- Precision and recall (Kynkaenniemi et al. 2019): a sample is inside a set's manifold when it
  lies within the k-th-nearest-neighbour radius of some point of that set. Precision: the share
  of generated samples inside the real manifold; recall: the share of real samples inside the
  generated manifold.
- Density and coverage (Naeem et al. 2020), from the real radii only: density counts how many
  real balls each generated sample falls into (divided by k); coverage is the share of real
  balls that hold at least one generated sample.
"""

from __future__ import annotations

import torch
from torch import Tensor


def inception_score(probs: Tensor, splits: int = 10) -> tuple[float, float]:
    p = probs.double().clamp_min(1e-12)
    scores = []
    for part in p.chunk(splits):
        py = part.mean(dim=0, keepdim=True)
        kl = (part * (part.log() - py.log())).sum(dim=1).mean()
        scores.append(kl.exp())
    s = torch.stack(scores)
    return float(s.mean()), float(s.std()) if len(s) > 1 else 0.0


def _kth_radii(x: Tensor, k: int, chunk: int = 1024) -> Tensor:
    """Distance from each point of x to its k-th nearest neighbour in x, itself excluded."""
    out = []
    for part in x.split(chunk):
        d = torch.cdist(part, x, compute_mode="use_mm_for_euclid_dist")
        out.append(d.kthvalue(k + 1, dim=1).values)  # the smallest (0) is the point itself
    return torch.cat(out)


def _in_balls(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = 1024) -> Tensor:
    """(len(points), ) number of balls (centres, radii) each point falls into."""
    counts = []
    for part in points.split(chunk):
        d = torch.cdist(part, centres, compute_mode="use_mm_for_euclid_dist")
        counts.append((d <= radii[None, :]).sum(dim=1))
    return torch.cat(counts)


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> dict[str, float]:
    """Precision, recall, density and coverage of `fake` against `real` (k-NN balls)."""
    real, fake = real.double(), fake.double()
    r_real, r_fake = _kth_radii(real, k), _kth_radii(fake, k)
    fake_in_real = _in_balls(fake, real, r_real)
    real_in_fake = _in_balls(real, fake, r_fake)
    nearest_fake = torch.cat([
        torch.cdist(p, fake, compute_mode="use_mm_for_euclid_dist").min(dim=1).values
        for p in real.split(1024)
    ])  # fmt: skip
    covered = nearest_fake <= r_real
    return {
        "precision": float((fake_in_real > 0).double().mean()),
        "recall": float((real_in_fake > 0).double().mean()),
        "density": float(fake_in_real.double().sum() / (k * len(fake))),
        "coverage": float(covered.double().mean()),
    }
