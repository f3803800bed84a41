"""Fully connected G and D, as in the original GAN paper (Goodfellow et al. 2014).

For 2-D point data (ring8, grid25) the output is unbounded; for images it is Tanh-squashed to
[-1, 1] and reshaped to (C, H, W). D flattens its input and returns one raw score per sample.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gan_cli.models.common import d_norm_layer
from gan_cli.registry import register


def _mlp(n_in: int, hidden: int, depth: int, n_out: int, act: nn.Module, norm: str = "none"):
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden)]
        if i > 0:
            layers.append(d_norm_layer(norm, hidden, conv=False))
        layers.append(act)
    layers.append(nn.Linear(hidden, n_out))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], hidden: int, depth: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.data_shape = tuple(data_shape)
        self.net = _mlp(latent_dim, hidden, depth, math.prod(data_shape), nn.ReLU())
        self.squash = nn.Tanh() if len(data_shape) == 3 else nn.Identity()  # images in [-1, 1]

    def forward(self, z: Tensor) -> Tensor:
        return self.squash(self.net(z)).view(z.shape[0], *self.data_shape)


class Discriminator(nn.Module):
    """`fourier` > 0: D also sees sin and cos of `fourier` random projections of its input
    (Fourier features, Tancik et al. 2020), frequencies drawn once from N(0, scale^2) cycles
    per unit and kept as a buffer (saved with the weights). A plain ReLU MLP on 2-D points is
    slow to resolve detail finer than its inputs' scale, such as the thin lines of samples a
    G leaves between grid25's modes; with these features it sees them (docs/results.md)."""

    def __init__(self, data_shape: tuple[int, ...], hidden: int, depth: int, norm: str = "none",
                 fourier: int = 0, fourier_scale: float = 1.0):  # fmt: skip
        super().__init__()
        n_in = math.prod(data_shape)
        self.fourier = fourier
        if fourier:
            freqs = torch.randn(n_in, fourier, generator=torch.Generator().manual_seed(0))
            self.register_buffer("angular_freqs", freqs * (2 * math.pi * fourier_scale))
        self.net = _mlp(n_in + 2 * fourier, hidden, depth, 1, nn.LeakyReLU(0.2), norm)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if self.fourier:
            phase = x @ self.angular_freqs
            x = torch.cat([x, phase.sin(), phase.cos()], dim=1)
        return self.net(x).flatten()


@register("model")
def build(
    data_shape: tuple[int, ...],
    latent_dim: int = 16,
    hidden: int = 128,
    depth: int = 3,
    d_norm: str = "none",
    d_fourier: int = 0,
    d_fourier_scale: float = 1.0,
) -> tuple[Generator, Discriminator]:
    return (
        Generator(latent_dim, data_shape, hidden, depth),
        Discriminator(data_shape, hidden, depth, d_norm, d_fourier, d_fourier_scale),
    )
