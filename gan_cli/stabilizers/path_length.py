"""Path-length regularisation (StyleGAN2, Karras et al. 2020): a fixed-size step in w should
move the image by a fixed amount. With y ~ N(0, I) / sqrt(H W), the Jacobian-vector norm
|J_w^T y| of each sample is pulled towards its running mean a:
    weight * E[(|J_w^T y| - a)^2],   a <- a + decay * (mean |J_w^T y| - a)
Lazy, every `every` G steps (weighted by it), on a batch `batch_shrink` times smaller, as the
paper does. Needs a generator with a mapping network (model=stylegan2)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer


@register("stabilizer")
class PathLength(Stabilizer):
    def __init__(self, weight: float = 2.0, every: int = 4, decay: float = 0.01,
                 batch_shrink: int = 2):  # fmt: skip
        self.weight, self.g_every, self.decay, self.shrink = weight, every, decay, batch_shrink
        self.mean: Tensor | None = None  # the running mean a, on the device

    def attach(self, gan) -> None:
        self.mean = torch.zeros((), device=gan.rt.device)

    def g_penalty(self, gan, n: int, c: Tensor | None = None) -> Tensor:
        m = max(1, n // self.shrink)
        ws = gan.G.ws(gan.noise(m), None if c is None else c[:m])
        images = gan.G.synthesis(ws)
        y = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        self.mean.copy_(self.mean.lerp(lengths.mean().detach(), self.decay))
        penalty = (lengths - self.mean).square().mean()
        self.report("Loss/path_length", penalty)
        return self.weight * penalty

    def state_dict(self) -> dict:
        return {"mean": self.mean.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.mean.copy_(state["mean"])
