"""Wasserstein GAN (Arjovsky et al. 2017): D is a critic estimating W1(real, fake) as
E[D(x)] - E[D(G(z))], which it maximises and G minimises.

The critic must stay (roughly) 1-Lipschitz for that estimate to mean anything: weight clipping
(stabilizers/weight_clip.py, what `loss=wasserstein` brings), the gradient penalty
(stabilizers/gradient_penalty.py, `experiment=wgan_gp`) or spectral norm. The config refuses
this loss without one of them.
"""

from __future__ import annotations

from torch import Tensor

from gan_cli.losses.base import GANLoss
from gan_cli.registry import register


@register("loss")
class Wasserstein(GANLoss):
    def d_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        gap = real_scores.mean() - fake_scores.mean()
        self.report("Loss/critic_gap", gap)  # the critic's estimate of W1
        return -gap

    def g_loss(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        return -fake_scores.mean()
