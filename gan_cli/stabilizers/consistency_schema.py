"""The schema of conf/stabilizers/consistency.yaml (torch-free: read while composing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gan_cli.config.base import schema
from gan_cli.config.stabilizer import StabilizerConfig


@schema("stabilizers", "consistency")
@dataclass
class ConsistencyConfig(StabilizerConfig):
    # balanced CR (bCR, Zhao et al. 2021) by default: both weights 10, T as DiffAugment's
    # translation and cutout; fake_weight=0 and flip=true give CR-GAN's (Zhang et al. 2020)
    real_weight: float = 10.0  # lambda_real
    fake_weight: float = 10.0  # lambda_fake: the same term on generated images (0: plain CR)
    flip: bool = False  # T flips left-right with probability 1/2: off, as a flip changes a digit
    translation: float = 0.125  # T shifts each image by up to this share of its size
    cutout: float = 0.5  # T zeroes a random square of this share of the side (0: none)

    IMAGE_ONLY: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        super().check(root)
        self.require("real_weight", self.real_weight >= 0, ">= 0")
        self.require("fake_weight", self.fake_weight >= 0, ">= 0")
        self.require("real_weight", self.real_weight + self.fake_weight > 0,
                     "> 0, or fake_weight > 0 (else the stabiliser does nothing)")  # fmt: skip
        self.require("translation", 0 <= self.translation <= 0.5, "in [0, 0.5]")
        self.require("cutout", 0 <= self.cutout <= 1, "in [0, 1]")
