"""Fully connected G and D, as in the original GAN paper (Goodfellow et al. 2014).

For 2-D point data (ring8, grid25) the output is unbounded; for images it is Tanh-squashed to
[-1, 1] and reshaped to (C, H, W). D flattens its input and returns one raw score per sample.
"""

from __future__ import annotations

import math

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
    def __init__(self, data_shape: tuple[int, ...], hidden: int, depth: int, norm: str = "none"):
        super().__init__()
        self.net = _mlp(math.prod(data_shape), hidden, depth, 1, nn.LeakyReLU(0.2), norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).flatten()


@register("model")
def build(
    data_shape: tuple[int, ...],
    latent_dim: int = 16,
    hidden: int = 128,
    depth: int = 3,
    d_norm: str = "none",
) -> tuple[Generator, Discriminator]:
    return (
        Generator(latent_dim, data_shape, hidden, depth),
        Discriminator(data_shape, hidden, depth, d_norm),
    )
