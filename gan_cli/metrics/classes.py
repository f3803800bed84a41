"""Class and mode histograms from a classifier: digit class coverage and stacked-digits modes."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gan_cli.metrics.digits_net import pass_size, to_digits_input


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


CONFIDENT = 0.8  # a channel is read as a digit with at least this probability


@torch.no_grad()
def confident_share(images: Tensor, net) -> float:
    """The share of single-channel digit images that `net` (the second classifier, trained
    apart from the one behind FID) reads as some digit with probability >= CONFIDENT: blurry
    strokes still get a class, but not confidently."""
    device = next(net.parameters()).device
    top = [net(to_digits_input(part.to(device))).softmax(1).max(dim=1).values.float().cpu()
           for part in images.split(pass_size(device))]  # fmt: skip
    return float((torch.cat(top) >= CONFIDENT).double().mean())


@torch.no_grad()
def read_stacked(images: Tensor, net) -> tuple[Tensor, Tensor]:
    """(the digit read in each channel (N, 3), the classifier's probability of it (N, 3))."""
    device = next(net.parameters()).device
    digits, confidence = [], []
    for part in images.split(pass_size(device)):
        part = part.to(device)
        probs = torch.stack([net(to_digits_input(part[:, c : c + 1])).softmax(1)
                             for c in range(3)], dim=1)  # fmt: skip
        top = probs.max(dim=2)
        digits.append(top.indices.cpu())
        confidence.append(top.values.float().cpu())
    return torch.cat(digits), torch.cat(confidence)


def stacked_modes(images: Tensor, net, net_b=None) -> dict[str, float]:
    """Each channel classified as a digit; mode = 100 r + 10 g + b. Modes covered (at least one
    sample) out of 1,000 and KL(mode histogram || uniform), as in VEEGAN and PacGAN; the share
    of samples whose three channels are all read with probability >= 0.8 (`confident`: blurry
    blobs still get a class, but not confidently); and, with `net_b`, the same modes and KL
    as a second, differently trained classifier reads them (`modes_b`, `mode_kl_b`)."""
    d, p = read_stacked(images, net)
    s = histogram_stats(d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2], 1000)
    out = {"modes": s["covered"], "mode_kl": s["kl"],
           "confident": float((p >= CONFIDENT).all(dim=1).double().mean())}  # fmt: skip
    if net_b is not None:
        d, _ = read_stacked(images, net_b)
        s = histogram_stats(d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2], 1000)
        out.update(modes_b=s["covered"], mode_kl_b=s["kl"])
    return out
