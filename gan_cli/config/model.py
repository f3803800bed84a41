"""Schemas of conf/model/: one per architecture."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from omegaconf import MISSING

from gan_cli.config.base import Checked, choice, schema
from gan_cli.config.dataset import ImageDatasetConfig
from gan_cli.errors import ConfigError


class Norm(str, Enum):
    batch = "batch"
    layer = "layer"  # GroupNorm(1, C): per-sample, the right choice for a gradient penalty
    none = "none"


@dataclass
class ModelConfig(Checked):
    _target_: str = MISSING  # a registered model builder: (data_shape, **cfg) -> (G, D)
    latent_dim: int = 100  # size of the noise vector z

    def check(self, root: Any) -> None:
        self.require_positive("latent_dim")


@schema("model", "dcgan")
@dataclass
class DCGANConfig(ModelConfig):
    g_width: int = 64  # channels of G's last hidden layer ("ngf"); doubles per layer going up
    d_width: int = 64  # channels of D's first layer ("ndf")
    d_norm: Norm = Norm.batch  # normalisation in D's hidden layers (never on D's first layer)

    RESOLUTIONS = (16, 32, 64)

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("g_width", "d_width")
        data = root.dataset
        if not isinstance(data, ImageDatasetConfig):
            raise ConfigError(
                f"model=dcgan needs an image data set; dataset={choice(root, 'dataset')} "
                "gives 2-D points (use model=mlp)"
            )
        if data.resolution not in self.RESOLUTIONS:
            raise ConfigError(
                f"dataset.resolution={data.resolution}: model=dcgan builds "
                f"{', '.join(map(str, self.RESOLUTIONS))} only"
            )


@schema("model", "mlp")
@dataclass
class MLPConfig(ModelConfig):
    hidden: int = 128  # units per hidden layer, in G and D
    depth: int = 3  # hidden layers, in G and D
    d_norm: Norm = Norm.none

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("hidden", "depth")
        self.require("d_norm", self.d_norm is not Norm.batch, "layer or none for the MLP")
