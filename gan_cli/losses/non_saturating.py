"""The non-saturating GAN objective (Goodfellow et al. 2014, section 3).

D as in minimax; G minimises -log D(G(z)) = softplus(-fake), whose gradient -sigmoid(-fake)
tends to -1, not 0, when D rejects the samples: strong gradients early in training.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gan_cli.losses.minimax import Minimax
from gan_cli.registry import register


@register("loss")
class NonSaturating(Minimax):
    def g_loss(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        return F.softplus(-fake_scores).mean()
