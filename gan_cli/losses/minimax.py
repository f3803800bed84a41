"""The original GAN objective (Goodfellow et al. 2014), saturating form.

D maximises log D(x) + log(1 - D(G(z))) with D = sigmoid(score), i.e. minimises
softplus(-real) + softplus(fake). G minimises log(1 - D(G(z))) = -softplus(fake): its gradient,
-sigmoid(fake), vanishes exactly when D confidently rejects the samples, which is why this form
learns poorly early on. It is here as the reference point of that paper.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gan_cli.losses.base import GANLoss
from gan_cli.registry import register


@register("loss")
class Minimax(GANLoss):
    def d_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()

    def g_loss(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        return -F.softplus(fake_scores).mean()
