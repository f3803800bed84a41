"""Consistency regularisation (CR-GAN, Zhang et al. 2020) and its balanced form (bCR, Zhao et al.
2021): D should score an image and a harmlessly changed copy of it alike,

    real_weight * E||D(x) - D(T(x))||^2  +  fake_weight * E||D(G(z)) - D(T(G(z)))||^2

with T a random shift of up to `translation` of the image size (zero-padded), a random square
of `cutout` of the side set to zero (both DiffAugment's ops) and, with `flip`, a random
left-right flip (CR's paper flips and shifts; off by default, as a flip changes a digit).
Only D is regularised: the generated images are detached.
D(x) and D(G(z)) are the step's own scores, which the D phase hands to `d_penalty`, so each term
costs one more forward pass of D (on T(x)); under the step's autocast, like the scores.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer
from gan_cli.stabilizers.diffaugment import cutout
from gan_cli.stabilizers.diffaugment import translation as shift


@register("stabilizer")
class Consistency(Stabilizer):
    def __init__(self, real_weight: float = 10.0, fake_weight: float = 10.0, flip: bool = False,
                 translation: float = 0.125, cutout: float = 0.5):  # fmt: skip
        self.weights = {"real": real_weight, "fake": fake_weight}
        self.flip, self.translation, self.cutout = flip, translation, cutout

    def augment(self, x: Tensor) -> Tensor:
        """T(x): each image flipped with probability 1/2, shifted, then a square cut out."""
        if self.flip:
            flipped = torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5
            x = torch.where(flipped, x.flip(3), x)
        if self.translation > 0:
            x = shift(x, self.translation)
        return cutout(x, self.cutout) if self.cutout > 0 else x

    def d_penalty(self, gan, real: Tensor, fake: Tensor, c: Tensor | None = None,
                  scores: tuple[Tensor, Tensor] | None = None) -> Tensor | None:  # fmt: skip
        if scores is None:  # (never lazy: the step's scores always come with it)
            return None
        terms = []
        for (name, weight), x, score in zip(self.weights.items(), (real, fake), scores,
                                            strict=True):  # fmt: skip
            if weight > 0:
                with gan.rt.autocast():
                    changed = gan.run_D(self.augment(x), c)
                gap = (score.float() - changed.float()).square().mean()
                self.report(f"Loss/cr_{name}", gap)
                terms.append(weight * gap)
        return sum(terms[1:], terms[0]) if terms else None
