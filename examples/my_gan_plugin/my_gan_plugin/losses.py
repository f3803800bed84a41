"""One-sided label smoothing (Salimans et al. 2016): D's target for real samples is 1 - s."""

import torch.nn.functional as F

from gan_cli.losses.base import GANLoss


class OneSidedSmoothing(GANLoss):
    def __init__(self, smoothing: float = 0.1):
        self.s = smoothing

    def d_loss(self, real_scores, fake_scores):
        real = (1 - self.s) * F.softplus(-real_scores) + self.s * F.softplus(real_scores)
        return real.mean() + F.softplus(fake_scores).mean()

    def g_loss(self, fake_scores, real_scores=None):
        return F.softplus(-fake_scores).mean()  # non-saturating
