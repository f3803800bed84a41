"""An exponential moving average of G's weights (Karras et al. 2018; StyleGAN2's schedule) for
samples, metrics and best.pt.

The half-life is counted in images, so it means the same at any batch size: after each G step
the average moves towards G by 1 - beta with beta = 0.5 ** (batch / half_life). Early on the
half-life is capped at `rampup` x images seen, so the average is not dominated by the random
initial weights (StyleGAN2's ema_rampup). Floating-point buffers (batch-norm statistics) are
averaged like the weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer


def ema_beta(images_seen: int, batch: int, half_life: float, rampup: float | None) -> float:
    """The weight the average keeps at this update (StyleGAN2-ADA's training_loop)."""
    if rampup is not None:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


@register("stabilizer")
class EMA(Stabilizer):
    def __init__(self, half_life: int = 10_000, rampup: float | None = 0.05):
        self.half_life, self.rampup = half_life, rampup
        self.updates = 0

    def attach(self, gan) -> None:
        self.batch = gan.batch_size
        self.sampler = copy.deepcopy(gan.G).eval().requires_grad_(False)
        live = [*gan.G.parameters(), *gan.G.buffers()]
        avg = [*self.sampler.parameters(), *self.sampler.buffers()]
        pairs = list(zip(avg, live, strict=True))
        self._avg = [a for a, t in pairs if t.is_floating_point()]
        self._live = [t for _, t in pairs if t.is_floating_point()]
        self._copied = [(a, t) for a, t in pairs if not t.is_floating_point()]

    @torch.no_grad()
    def after_g_step(self, G: nn.Module) -> None:
        self.updates += 1
        beta = ema_beta(self.updates * self.batch, self.batch, self.half_life, self.rampup)
        torch._foreach_lerp_(self._avg, self._live, 1.0 - beta)
        for avg, live in self._copied:  # integer buffers (batch norm's counters)
            avg.copy_(live)

    def state_dict(self) -> dict:
        return {"updates": self.updates}  # the weights go to the checkpoint's G_ema (gan.py)

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
