"""The loss interface, by training phase (as in stylegan2-ada-pytorch).

The trainer calls, for each discriminator step:
    d_loss(real_scores, fake_scores)  +  d_penalty(D, real, fake)   then   after_d_step(D)
and for each generator step:
    g_loss(fake_scores)
Scores are D's raw outputs (logits or critic values, shape (B,)); each loss owns its link
function and uses a numerically stable form of it (softplus, never log(sigmoid(x))).
A new loss is a subclass in its own file plus a YAML file in conf/loss/.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GANLoss:
    def d_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        """What D minimises on one batch of real and one batch of generated samples."""
        raise NotImplementedError

    def g_loss(self, fake_scores: Tensor) -> Tensor:
        """What G minimises, given D's scores of G's samples."""
        raise NotImplementedError

    def d_penalty(self, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor | None:
        """A regulariser added to the D loss (e.g. a gradient penalty); None for none."""
        return None

    @torch.no_grad()
    def after_d_step(self, D: nn.Module) -> None:  # noqa: B027 - optional hook
        """Runs after each D optimiser step (e.g. weight clipping)."""
