"""2-D Gaussian mixtures, the standard toy benchmarks for mode collapse (VEEGAN, PacGAN)."""

from __future__ import annotations

import itertools
import math

import torch

from gan_cli.data.source import TensorSource
from gan_cli.registry import register


def mixture(name: str, centres: torch.Tensor, sigma: float, size: int, seed: int):
    """`size` points from an equal-weight mixture of isotropic Gaussians, drawn once."""
    gen = torch.Generator().manual_seed(seed)
    which = torch.randint(len(centres), (size,), generator=gen)
    points = centres[which] + sigma * torch.randn(size, 2, generator=gen)
    return TensorSource(points, name, {"centres": centres, "sigma": sigma})


def ring8_centres() -> torch.Tensor:
    angles = torch.arange(8) * (2 * math.pi / 8)
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def grid25_centres() -> torch.Tensor:
    axis = [-4.0, -2.0, 0.0, 2.0, 4.0]
    return torch.tensor(list(itertools.product(axis, axis)))


@register("dataset", schema="mixture")
def ring8(size: int = 100_000, seed: int = 0) -> TensorSource:
    """8 modes on the unit circle, sigma 0.01."""
    return mixture("ring8", ring8_centres(), 0.01, size, seed)


@register("dataset", schema="mixture")
def grid25(size: int = 100_000, seed: int = 0) -> TensorSource:
    """25 modes on {-4, -2, 0, 2, 4}^2, sigma 0.05."""
    return mixture("grid25", grid25_centres(), 0.05, size, seed)
