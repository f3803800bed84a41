"""The gradient penalty of WGAN-GP (Gulrajani et al. 2017), usable with any loss:
weight * E[(||grad_x D(x_hat)|| - target)^2], with x_hat uniform on segments between real and
generated samples (a packed D: between packed groups). target = 0 gives a zero-centred penalty.
With `every` = k > 1 it runs lazily, as R1 can (StyleGAN2's lazy regularisation): every k-th D
update, in its own optimiser step, weighted by k.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer, input_gradient


def gradient_penalty(D: Callable[..., Tensor], real: Tensor, fake: Tensor, target: float = 1.0,
                     group: int = 1, c: Tensor | None = None) -> Tensor:  # fmt: skip
    """E[(||grad D(x_hat)||_2 - target)^2]; one mixing weight per D score (`group` samples).
    For a conditional D, real and generated samples share the labels `c`, and so does x_hat."""
    eps = torch.rand(real.shape[0] // group, device=real.device).repeat_interleave(group)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))
    x_hat = eps * real.float() + (1 - eps) * fake.detach().float()
    return ((input_gradient(D, x_hat, c).norm(dim=1) - target) ** 2).mean()


@register("stabilizer")
class GradientPenalty(Stabilizer):
    def __init__(self, weight: float = 10.0, target: float = 1.0, every: int = 1):
        self.weight, self.target, self.every = weight, target, every

    def d_penalty(self, gan, real: Tensor, fake: Tensor, c: Tensor | None = None,
                  scores=None) -> Tensor:  # fmt: skip
        penalty = gradient_penalty(gan.run_D_twice_differentiable, real, fake, self.target,
                                   gan.samples_per_score, c)  # fmt: skip
        self.report("Loss/gp", penalty)
        return self.weight * penalty
