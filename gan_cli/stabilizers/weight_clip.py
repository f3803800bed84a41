"""Weight clipping (Arjovsky et al. 2017): after each D step every D weight is clamped to
[-clip, clip], the original WGAN's way of keeping the critic Lipschitz."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer


@register("stabilizer")
class WeightClip(Stabilizer):
    def __init__(self, clip: float = 0.01):
        self.clip = clip

    @torch.no_grad()
    def after_d_step(self, D: nn.Module) -> None:
        for p in D.parameters():
            p.clamp_(-self.clip, self.clip)
