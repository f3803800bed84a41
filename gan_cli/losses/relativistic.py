"""Relativistic GANs (Jolicoeur-Martineau 2018): D estimates how much more realistic real data
is than generated data, and G's loss, symmetric to D's, sees the real scores too.

- RelativisticAverage (RaSGAN): each sample against the other batch's mean score,
    D: softplus(-(r - mean f)) + softplus(f - mean r)
    G: softplus(-(f - mean r)) + softplus(r - mean f)
- RelativisticAverageHinge (RaHinge): the same differences through the hinge,
    D: relu(1 - (r - mean f)) + relu(1 + (f - mean r))
    G: relu(1 - (f - mean r)) + relu(1 + (r - mean f))
- RelativisticPairing (RpGAN; R3GAN, Huang et al. 2024): real and generated samples in pairs,
    D: softplus(f_i - r_i)
    G: softplus(r_i - f_i)
(r, f: D's raw scores of real and generated samples; means over the batch.)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gan_cli.losses.base import GANLoss
from gan_cli.registry import register


class _Relativistic(GANLoss):
    uses_real_in_g = True

    def link(self, winner: Tensor, loser: Tensor) -> Tensor:
        """The loss when the samples scored `winner` should look more realistic than those
        scored `loser`: D's loss is link(real, fake), G's the same with the roles swapped."""
        raise NotImplementedError

    def d_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return self.link(real_scores, fake_scores)

    def g_loss(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        return self.link(fake_scores, real_scores)


@register("loss")
class RelativisticAverage(_Relativistic):
    def link(self, winner: Tensor, loser: Tensor) -> Tensor:
        return (F.softplus(-(winner - loser.mean())).mean()
                + F.softplus(loser - winner.mean()).mean())  # fmt: skip


@register("loss")
class RelativisticAverageHinge(_Relativistic):
    def link(self, winner: Tensor, loser: Tensor) -> Tensor:
        return (F.relu(1 - (winner - loser.mean())).mean()
                + F.relu(1 + (loser - winner.mean())).mean())  # fmt: skip


@register("loss")
class RelativisticPairing(_Relativistic):
    def link(self, winner: Tensor, loser: Tensor) -> Tensor:
        return F.softplus(loser - winner).mean()
