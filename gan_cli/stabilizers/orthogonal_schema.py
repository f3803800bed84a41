"""The schema of conf/stabilizers/orthogonal.yaml (torch-free: read while composing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gan_cli.config.base import schema
from gan_cli.config.stabilizer import StabilizerConfig


@schema("stabilizers", "orthogonal")
@dataclass
class OrthogonalConfig(StabilizerConfig):
    weight: float = 1e-4  # beta (BigGAN: 1e-4, on G)
    generator: bool = True  # the penalty on G's weights
    discriminator: bool = False  # and on D's

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("weight")
        self.require("generator", self.generator or self.discriminator,
                     "true, or discriminator=true (else the stabiliser does nothing)")  # fmt: skip
