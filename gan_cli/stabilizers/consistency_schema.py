"""The schema of conf/stabilizers/consistency.yaml (torch-free: read while composing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gan_cli.config.base import schema
from gan_cli.config.stabilizer import StabilizerConfig


@schema("stabilizers", "consistency")
@dataclass
class ConsistencyConfig(StabilizerConfig):
    real_weight: float = 10.0  # lambda_real (Zhang et al. 2020: 10)
    fake_weight: float = 0.0  # lambda_fake; > 0: balanced CR on generated images too (bCR: 10)
    flip: bool = True  # T flips each image left-right with probability 1/2
    translation: float = 0.125  # T shifts each image by up to this share of its size
    cutout: float = 0.0  # > 0: T zeroes a random square of this share of the side (DiffAugment 0.5)

    IMAGE_ONLY: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        super().check(root)
        self.require("real_weight", self.real_weight >= 0, ">= 0")
        self.require("fake_weight", self.fake_weight >= 0, ">= 0")
        self.require("real_weight", self.real_weight + self.fake_weight > 0,
                     "> 0, or fake_weight > 0 (else the stabiliser does nothing)")  # fmt: skip
        self.require("translation", 0 <= self.translation <= 0.5, "in [0, 0.5]")
        self.require("cutout", 0 <= self.cutout <= 1, "in [0, 1]")
