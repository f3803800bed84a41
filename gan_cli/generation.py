"""Calling a generator: its samples of latents (with labels, for a conditional one), and the
labels of a sample grid. Free of the rest of gan-cli, so that the metrics, the loop and `gan
sample` all call G the same way without depending on how networks are built."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def generate(G: nn.Module, z: Tensor, c: Tensor | None = None, **options) -> Tensor:
    """G's samples of latents z (and labels c, for a conditional G)."""
    return G(z, **options) if c is None else G(z, c, **options)


def truncated_normal(n: int, dim: int, threshold: float,
                     generator: torch.Generator) -> Tensor:  # fmt: skip
    """N(0, I) latents with each coordinate beyond +-threshold redrawn until it falls within
    (BigGAN's truncation trick). Coordinates already within keep their values: one seed at a
    smaller threshold gives related, more typical samples."""
    z = torch.randn(n, dim, generator=generator)
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z


def grid_labels(num_classes: int, n: int, device: torch.device) -> tuple[Tensor | None, int | None]:
    """Labels for a grid of about n samples with one row per class: (labels, images per row);
    (None, None) for an unconditional model."""
    if not num_classes:
        return None, None
    per_class = max(1, n // num_classes)
    return torch.arange(num_classes, device=device).repeat_interleave(per_class), per_class
