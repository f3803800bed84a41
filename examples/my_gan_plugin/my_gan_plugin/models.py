"""A residual MLP GAN for points (or flattened images)."""

import math

from torch import nn


class Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU())

    def forward(self, x):
        return x + self.body(x)


def resmlp(n_in: int, width: int, blocks: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), *[Block(width) for _ in range(blocks)],
                         nn.Linear(width, n_out))  # fmt: skip


class Generator(nn.Module):
    def __init__(self, latent_dim: int, data_shape: tuple, width: int, blocks: int):
        super().__init__()
        self.latent_dim, self.data_shape = latent_dim, tuple(data_shape)
        self.net = resmlp(latent_dim, width, blocks, math.prod(data_shape))

    def forward(self, z):
        return self.net(z).view(len(z), *self.data_shape)


class Discriminator(nn.Module):
    def __init__(self, data_shape: tuple, width: int, blocks: int):
        super().__init__()
        self.net = resmlp(math.prod(data_shape), width, blocks, 1)

    def forward(self, x):
        return self.net(x.flatten(1)).flatten()


def build(data_shape, latent_dim: int = 16, width: int = 64, blocks: int = 2):
    G = Generator(latent_dim, data_shape, width, blocks)
    return G, Discriminator(data_shape, width, blocks)
