"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018).

D minimises relu(1 - real) + relu(1 + fake): only samples inside the margin give gradients.
G minimises -fake, as in WGAN.
"""

import torch.nn.functional as F
from torch import Tensor

from gan_cli.losses.base import GANLoss
from gan_cli.registry import register


@register("loss")
class Hinge(GANLoss):
    def d_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()

    def g_loss(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        return -fake_scores.mean()
