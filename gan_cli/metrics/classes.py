"""Class and mode histograms from a classifier: digit class coverage and stacked-digits modes."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gan_cli.metrics.digits_net import to_digits_input


def histogram_stats(labels: Tensor, n_classes: int, min_share: float = 0.0) -> dict[str, float]:
    """Classes covered (with at least `min_share` of the samples; 0: at least one sample) and
    KL(generated class distribution || uniform), in nats (0 = perfectly balanced)."""
    counts = torch.bincount(labels.flatten().long(), minlength=n_classes).double()
    q = counts / counts.sum()
    covered = int((q > 0).sum()) if min_share == 0 else int((q >= min_share).sum())
    nz = q > 0
    kl = float((q[nz] * (q[nz] * n_classes).log()).sum()) if counts.sum() else math.inf
    return {"covered": covered, "kl": kl}


def digit_classes(probs: Tensor) -> dict[str, float]:
    """From the digits classifier's probabilities: classes holding >= half a fair share (5 %)
    of the samples, and the KL of the class histogram to uniform."""
    s = histogram_stats(probs.argmax(dim=1), 10, min_share=0.05)
    return {"classes": s["covered"], "class_kl": s["kl"]}


@torch.no_grad()
def stacked_modes(images: Tensor, net, batch: int = 2048) -> dict[str, float]:
    """Each channel classified as a digit; mode = 100 r + 10 g + b. Modes covered (at least one
    sample) out of 1,000, and KL(mode histogram || uniform) as in VEEGAN and PacGAN."""
    device = next(net.parameters()).device
    digits = []
    for part in images.split(batch):
        part = part.to(device)
        per_channel = [net(to_digits_input(part[:, c : c + 1])).argmax(1) for c in range(3)]
        digits.append(torch.stack(per_channel, dim=1).cpu())
    d = torch.cat(digits)
    s = histogram_stats(d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2], 1000)
    return {"modes": s["covered"], "mode_kl": s["kl"]}
