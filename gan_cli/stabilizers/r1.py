"""R1 (Mescheder et al. 2018): gamma/2 * E||grad_x D(x)||^2 on real samples, pulling D's
gradient to zero on the data. With `every` = k > 1 it runs lazily (StyleGAN2): every k-th D
update, in its own optimiser step, weighted by k."""

from __future__ import annotations

from torch import Tensor

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer, input_gradient


@register("stabilizer")
class R1(Stabilizer):
    on = "real"  # which samples the penalty is taken on

    def __init__(self, gamma: float = 10.0, every: int = 1):
        self.gamma, self.every = gamma, every

    def d_penalty(self, gan, real: Tensor, fake: Tensor, c: Tensor | None = None,
                  scores=None) -> Tensor:  # fmt: skip
        x = real if self.on == "real" else fake
        grad = input_gradient(gan.run_D_twice_differentiable, x, c)
        penalty = grad.square().sum(dim=1).mean()
        self.report(f"Loss/{self.name}", penalty)
        return self.gamma / 2 * penalty
