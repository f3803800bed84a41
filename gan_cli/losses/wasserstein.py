"""Wasserstein GAN: D is a critic estimating W1(real, fake) = E[D(x)] - E[D(G(z))].

The critic must stay (roughly) 1-Lipschitz, by one of:
- `clip` (Arjovsky et al. 2017): clamp every critic weight to [-c, c] after each step;
- `gp` (Gulrajani et al. 2017): add lambda * (||grad_x D(x_hat)|| - 1)^2 at random points
  x_hat between real and generated samples.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_cli.losses.base import GANLoss
from gan_cli.registry import register


@register("loss")
class Wasserstein(GANLoss):
    def __init__(self, lipschitz: str = "clip", clip_value: float = 0.01, gp_weight: float = 10.0):
        self.lipschitz = str(getattr(lipschitz, "value", lipschitz))
        if self.lipschitz not in ("clip", "gp"):
            raise ValueError(f"lipschitz must be 'clip' or 'gp', not {lipschitz!r}")
        self.clip_value = clip_value
        self.gp_weight = gp_weight

    def d_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return fake_scores.mean() - real_scores.mean()

    def g_loss(self, fake_scores: Tensor) -> Tensor:
        return -fake_scores.mean()

    def d_penalty(self, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor | None:
        if self.lipschitz != "gp" or self.gp_weight == 0:
            return None
        return self.gp_weight * gradient_penalty(D, real, fake)

    @torch.no_grad()
    def after_d_step(self, D: nn.Module) -> None:
        if self.lipschitz == "clip":
            for p in D.parameters():
                p.clamp_(-self.clip_value, self.clip_value)


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2], x_hat uniform on segments between real and fake samples.

    Computed in fp32 outside autocast: the double backward is small and fp16 would need its own
    loss scaling here.
    """
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, device=real.device)
    x_hat = (eps * real.float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        scores = D(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
