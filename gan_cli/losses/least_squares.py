"""Least-squares GAN (Mao et al. 2017), with the 0-1 coding of their eq. 9 (a = 0, b = c = 1).

D regresses real samples to 1 and generated ones to 0: ((D(x) - 1)^2 + D(G(z))^2) / 2.
G pulls its samples' scores to 1: (D(G(z)) - 1)^2 / 2. Unlike the logistic losses, samples
far on the right side of the boundary still give gradients.
"""

from __future__ import annotations

from torch import Tensor

from gan_cli.losses.base import GANLoss
from gan_cli.registry import register


@register("loss")
class LeastSquares(GANLoss):
    def d_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return ((real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean()) / 2

    def g_loss(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        return (fake_scores - 1).pow(2).mean() / 2
