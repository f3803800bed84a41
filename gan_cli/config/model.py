"""Schemas of conf/model/: one per architecture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from omegaconf import MISSING

from gan_cli.config import sizes
from gan_cli.config.base import Checked, Choice, choice, schema
from gan_cli.config.dataset import ImageDatasetConfig
from gan_cli.errors import ConfigError


class Norm(Choice):
    batch = "batch"
    layer = "layer"  # GroupNorm(1, C): per-sample, the right choice for a gradient penalty
    none = "none"


@dataclass
class ModelConfig(Checked):
    _target_: str = MISSING  # a registered model builder: (data_shape, **cfg) -> (G, D)
    latent_dim: int = 100  # size of the noise vector z

    MAPPING: ClassVar[bool] = False  # a mapping network z -> w (truncation, path length)
    # A small instance of the model, as overrides of its fields: what tests and smoke runs
    # build (seconds on a CPU), so a new model is covered by them without a test edit.
    SMALL: ClassVar[dict[str, Any]] = {"latent_dim": 16}

    def check(self, root: Any) -> None:
        self.require_positive("latent_dim")


@dataclass
class ImageModelConfig(ModelConfig):
    """A convolutional model: square images of the listed resolutions; any model of these can
    be class-conditional."""

    conditional: bool = False  # labels from the data to G and D (projection discriminator)

    RESOLUTIONS: ClassVar[tuple[int, ...]] = ()

    def check(self, root: Any) -> None:
        super().check(root)
        name = choice(root, "model")
        data = root.dataset
        if not isinstance(data, ImageDatasetConfig):
            raise ConfigError(
                f"model={name} needs an image data set; dataset={choice(root, 'dataset')} "
                "gives 2-D points (use model=mlp)"
            )
        if data.resolution not in self.RESOLUTIONS:
            raise ConfigError(
                f"dataset.resolution={data.resolution}: model={name} builds "
                f"{', '.join(map(str, self.RESOLUTIONS))} only"
            )
        if self.conditional and "packing" in root.stabilizers:
            raise ConfigError("stabilizers=[packing] packs samples of different classes; it "
                              "cannot be combined with model.conditional=true")  # fmt: skip


@schema("model", "dcgan")
@dataclass
class DCGANConfig(ImageModelConfig):
    g_width: int = 64  # channels of G's last hidden layer ("ngf"); doubles per layer going up
    d_width: int = 64  # channels of D's first layer ("ndf")
    d_norm: Norm = Norm.batch  # normalisation in D's hidden layers (never on D's first layer)
    extra_layers: int = 0  # 3x3 stride-1 layers in G and D at the image's size / 2 (8-16 px)

    RESOLUTIONS: ClassVar[tuple[int, ...]] = sizes.DCGAN_RESOLUTIONS
    SMALL: ClassVar[dict[str, Any]] = {"g_width": 8, "d_width": 8, "latent_dim": 16}

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("g_width", "d_width")
        self.require("extra_layers", self.extra_layers >= 0, ">= 0")


@schema("model", "resnet")
@dataclass
class ResNetConfig(ImageModelConfig):
    latent_dim: int = 128
    g_width: int = 64  # channels of every G block (SNGAN, CIFAR-10: 256)
    d_width: int = 64  # channels of every D block (SNGAN, CIFAR-10: 128)
    attention: int = 0  # resolution of a self-attention block in G and D (SAGAN); 0: none

    RESOLUTIONS: ClassVar[tuple[int, ...]] = sizes.RESNET_RESOLUTIONS
    SMALL: ClassVar[dict[str, Any]] = {"g_width": 8, "d_width": 8, "latent_dim": 16}

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("g_width", "d_width")
        res = root.dataset.resolution
        where = sizes.attention_sizes(res)  # sizes that both G and D pass through
        ok = self.attention == 0 or self.attention in where
        self.require("attention", ok, " or ".join(map(str, [0, *where])))


@schema("model", "stylegan2")
@dataclass
class StyleGAN2Config(ImageModelConfig):
    latent_dim: int = 512
    w_dim: int = 512  # size of w, the style vector
    mapping_depth: int = 8  # layers of the mapping network (lr multiplier 0.01)
    channel_base: int = 16384  # channels at resolution r: min(channel_base / r, channel_max)
    channel_max: int = 512
    style_mixing: float = 0.9  # probability of mixing two w's during training (paper: 0.9)

    MAPPING: ClassVar[bool] = True
    RESOLUTIONS: ClassVar[tuple[int, ...]] = sizes.STYLEGAN2_RESOLUTIONS
    SMALL: ClassVar[dict[str, Any]] = {"latent_dim": 16, "w_dim": 16, "mapping_depth": 2,
                                       "channel_base": 256, "channel_max": 16}  # fmt: skip

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("w_dim", "mapping_depth", "channel_base", "channel_max")
        self.require("style_mixing", 0 <= self.style_mixing <= 1, "in [0, 1]")


@schema("model", "mlp")
@dataclass
class MLPConfig(ModelConfig):
    latent_dim: int = 16  # 2-D points need few noise dimensions
    hidden: int = 128  # units per hidden layer, in G and D
    depth: int = 3  # hidden layers, in G and D
    d_norm: Norm = Norm.none
    d_fourier: int = 0  # > 0: D also sees sin/cos of this many random projections of x
    d_fourier_scale: float = 1.0  # their frequencies' std, in cycles per unit of the data

    SMALL: ClassVar[dict[str, Any]] = {"hidden": 32, "latent_dim": 8}

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("hidden", "depth", "d_fourier_scale")
        self.require("d_fourier", self.d_fourier >= 0, ">= 0 (0: no Fourier features)")
        self.require("d_norm", self.d_norm is not Norm.batch, "layer or none for the MLP")
