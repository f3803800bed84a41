"""A model and a loss of your own, in one local module (README: "Your own model").

    PYTHONPATH=examples/local gan train trust=[mymodels] \
        hydra.searchpath=[file://examples/local/myconf] model=mine loss=mine dataset=grid25
"""

import torch.nn.functional as F
from torch import nn

from gan_cli.losses.base import GANLoss


def mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                         nn.Linear(width, n_out))  # fmt: skip


class Generator(nn.Module):
    def __init__(self, latent_dim: int, n_out: int, width: int):
        super().__init__()
        self.latent_dim = latent_dim  # gan-cli draws z ~ N(0, I) of this size
        self.net = mlp(latent_dim, width, n_out)

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, n_in: int, width: int):
        super().__init__()
        self.net = mlp(n_in, width, 1)

    def forward(self, x):
        return self.net(x.flatten(1)).flatten()  # one raw score per sample


def build(data_shape, latent_dim: int = 8, width: int = 128, **other_models_params):
    """(G, D) for points of `data_shape`; a builder gets the data's shape and its YAML's keys
    (with `model._target_=mymodels.build` on another model: that model's keys, unused here)."""
    (n,) = data_shape
    return Generator(latent_dim, n, width), Discriminator(n, width)


class SquaredHinge(GANLoss):
    """D: relu(1 - real)^2 + relu(1 + fake)^2, a smooth hinge; G: -fake."""

    def d_loss(self, real_scores, fake_scores):
        return F.relu(1 - real_scores).pow(2).mean() + F.relu(1 + fake_scores).pow(2).mean()

    def g_loss(self, fake_scores, real_scores=None):
        return -fake_scores.mean()
