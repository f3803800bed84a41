"""DiffAugment (Zhao et al. 2020): differentiable augmentations of every image D sees, real and
generated alike, so D cannot overfit a small data set and G still learns through them.

Policy ops (as in the paper; images in [-1, 1]):
  color        brightness +U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)
  translation  shift by up to 1/8 of the size in each direction, zero padding
  cutout       a square of half the size, at a random place, set to zero
Each op draws its own random parameters per image. They run inside run_D (gan.py), so every D
call, the gradient penalties' included, sees augmented images.

adaptive=true applies each op to each image with probability p, tuned as ADA does (Karras et
al. 2020): every `interval` D steps, r_t = E[sign D(x_real)] is compared with `target`, and p
moves by the share of `adjust_images` seen since, up if D is overconfident, down otherwise.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer


def _uniform(x: Tensor, low: float, high: float) -> Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * (high - low) + low


def color(x: Tensor) -> Tensor:
    x = x + _uniform(x, -0.5, 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, 0.0, 2.0) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean  # contrast


def _pixel_grid(x: Tensor) -> tuple[Tensor, Tensor]:
    h, w = x.shape[-2:]
    return (torch.arange(h, device=x.device).view(1, h, 1),
            torch.arange(w, device=x.device).view(1, 1, w))  # fmt: skip


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    rows, cols = _pixel_grid(x)
    src_r, src_c = rows - dy, cols - dx  # the pixel each output pixel comes from
    inside = (src_r >= 0) & (src_r < h) & (src_c >= 0) & (src_c < w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    moved = x.permute(0, 2, 3, 1)[batch, src_r.clamp(0, h - 1), src_c.clamp(0, w - 1)]
    return (moved * inside.unsqueeze(-1)).permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device) - cw // 2
    rows, cols = _pixel_grid(x)
    hole = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


OPS = {"color": color, "translation": translation, "cutout": cutout}


@register("stabilizer")
class DiffAugment(Stabilizer):
    d_input_order = 10  # before packing

    def __init__(self, policy=("color", "translation", "cutout"), adaptive: bool = False,
                 target: float = 0.6, interval: int = 4, adjust_images: int = 500_000):  # fmt: skip
        self.ops = [OPS[str(op)] for op in policy]
        self.adaptive, self.target = adaptive, target
        self.interval, self.adjust_images = interval, adjust_images
        self.p: Tensor | None = None  # adaptive: the probability of each op, on the device
        self._sign_sum: Tensor | None = None  # sum of E[sign D(real)] since the last adjustment
        self._seen = 0  # D steps since the last adjustment

    def attach(self, gan) -> None:
        self.batch = gan.batch_size
        if self.adaptive:
            self.p = torch.zeros((), device=gan.rt.device)
            self._sign_sum = torch.zeros((), device=gan.rt.device)

    def d_input(self, x: Tensor) -> Tensor:
        for op in self.ops:
            if self.p is None:
                x = op(x)
            else:  # each image with probability p; p stays on the device (no sync)
                apply = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < self.p
                x = torch.where(apply, op(x), x)
        return x

    def observe_real(self, scores: Tensor) -> None:
        if self.p is None:
            return
        self._sign_sum += scores.detach().float().sign().mean()
        self._seen += 1
        if self._seen == self.interval:
            r_t = self._sign_sum / self._seen
            step = self.batch * self.interval / self.adjust_images
            self.p.add_(torch.sign(r_t - self.target) * step).clamp_(0.0, 1.0)
            self.report("Augment/p", self.p)
            self.report("Augment/r_t", r_t)
            self._sign_sum.zero_()
            self._seen = 0

    def state_dict(self) -> dict:
        if self.p is None:
            return {}
        return {"p": self.p.cpu(), "sign_sum": self._sign_sum.cpu(), "seen": self._seen}

    def load_state_dict(self, state: dict) -> None:
        if self.p is not None and state:
            self.p.copy_(state["p"])
            self._sign_sum.copy_(state["sign_sum"])
            self._seen = int(state["seen"])
