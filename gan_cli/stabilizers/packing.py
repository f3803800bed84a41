"""PacGAN (Lin et al. 2018): D judges m samples at once, all real or all generated, concatenated
along channels (images) or features (points). A generator that collapses to a few modes gives
packs without variety, which D learns to spot. D is built for m times the channels."""

from __future__ import annotations

from torch import Tensor

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer


@register("stabilizer")
class Packing(Stabilizer):
    d_input_order = 20  # after augmentation: each sample is augmented on its own

    def __init__(self, m: int = 2):
        self.m = m
        self.samples_per_score = m  # D judges m samples together

    def d_data_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (shape[0] * self.m, *shape[1:])

    def d_input(self, x: Tensor) -> Tensor:
        """(B, C, ...) -> (B / m, m * C, ...): consecutive samples form a pack."""
        return x.reshape(x.shape[0] // self.m, self.m * x.shape[1], *x.shape[2:])
