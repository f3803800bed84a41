"""Dataclass schemas for every config group, registered in Hydra's ConfigStore.

Two layers of checking, both before any training:
- types and choices (the Enums) are checked by OmegaConf while Hydra composes, so
  `optim.lr=abc` or `device.precision=fp8` fails at composition with the key named;
- ranges and cross-group rules are checked by `validate()`, which turns the composed config
  into these dataclasses and runs their `check()` methods.

Each YAML file in `conf/<group>/` names its schema in its defaults list
(`- /schema/<group>/<name>@_here_`). This module must stay free of torch imports: it is loaded
for `gan train --cfg job` and `--help`, which should take well under two seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from gan_cli.errors import ConfigError
from gan_cli.metrics.protocol import METRICS, check_samples


class _Checked:
    """Mixin: `require(name, ok, must)` raises ConfigError naming the field."""

    _key: str = ""  # dotted path of this node in the composed config, set by validate()

    def require(self, name: str, ok: bool, must: str) -> None:
        if not ok:
            key = f"{self._key}.{name}" if self._key else name
            raise ConfigError(f"{key}={getattr(self, name)!r}: must be {must}")

    def check(self, root: TrainConfig) -> None:  # noqa: B027 - optional hook
        """Range and cross-group checks; `root` is the whole config."""

    def require_positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            self.require(name, value > 0 and math.isfinite(value), "> 0 and finite")


# ---------------------------------------------------------------------------- model
class Norm(str, Enum):
    batch = "batch"
    layer = "layer"  # GroupNorm(1, C): per-sample, the right choice for a gradient penalty
    none = "none"


@dataclass
class ModelConfig(_Checked):
    _target_: str = MISSING  # a builder in gan_cli.models: (data_shape, **cfg) -> (G, D)
    latent_dim: int = 100  # size of the noise vector z

    def check(self, root: TrainConfig) -> None:
        self.require_positive("latent_dim")


@dataclass
class DCGANConfig(ModelConfig):
    g_width: int = 64  # channels of G's last hidden layer ("ngf"); doubles per layer going up
    d_width: int = 64  # channels of D's first layer ("ndf")
    d_norm: Norm = Norm.batch  # normalisation in D's hidden layers (never on D's first layer)

    RESOLUTIONS = (16, 32, 64)

    def check(self, root: TrainConfig) -> None:
        super().check(root)
        self.require_positive("g_width", "d_width")
        data = root.dataset
        if not isinstance(data, ImageDatasetConfig):
            raise ConfigError(
                f"model=dcgan needs an image data set; dataset={root_choice(root, 'dataset')} "
                "gives 2-D points (use model=mlp)"
            )
        if data.resolution not in self.RESOLUTIONS:
            raise ConfigError(
                f"dataset.resolution={data.resolution}: model=dcgan builds "
                f"{', '.join(map(str, self.RESOLUTIONS))} only"
            )


@dataclass
class MLPConfig(ModelConfig):
    hidden: int = 128  # units per hidden layer, in G and D
    depth: int = 3  # hidden layers, in G and D
    d_norm: Norm = Norm.none

    def check(self, root: TrainConfig) -> None:
        super().check(root)
        self.require_positive("hidden", "depth")
        self.require("d_norm", self.d_norm is not Norm.batch, "layer or none for the MLP")


# ----------------------------------------------------------------------------- loss
class Lipschitz(str, Enum):
    clip = "clip"  # weight clipping, Arjovsky et al. 2017
    gp = "gp"  # gradient penalty, Gulrajani et al. 2017


@dataclass
class LossConfig(_Checked):
    _target_: str = MISSING  # a GANLoss subclass in gan_cli.losses


@dataclass
class WassersteinConfig(LossConfig):
    lipschitz: Lipschitz = Lipschitz.clip
    clip_value: float = 0.01  # critic weights are clamped to [-c, c] after each critic step
    gp_weight: float = 10.0  # lambda of the gradient penalty

    def check(self, root: TrainConfig) -> None:
        self.require_positive("clip_value")
        self.require("gp_weight", self.gp_weight >= 0, ">= 0")
        if self.lipschitz is Lipschitz.gp and self.gp_weight > 0:
            refuse_batch_norm_in_d(root, "loss.lipschitz=gp")


def refuse_batch_norm_in_d(root: TrainConfig, setting: str) -> None:
    """A per-sample gradient penalty (WGAN-GP, R1, R2) is meaningless on a D with batch norm,
    whose output for one sample depends on the whole batch (Gulrajani et al. 2017, sec. 4)."""
    if getattr(root.model, "d_norm", None) is Norm.batch:
        raise ConfigError(
            f"model.d_norm=batch: {setting} penalises per-sample gradients, which batch norm in "
            "D mixes across the batch; use model.d_norm=layer or model.d_norm=none "
            "(experiment=wgan_gp gives the paper's setting)"
        )


# -------------------------------------------------------------------------- dataset
class MetricsKind(str, Enum):
    digits = "digits"  # digits-classifier FID/KID/IS/precision-recall + class coverage
    inception = "inception"  # the same with the FID Inception-v3 (needs its weights file)
    stacked = "stacked"  # stacked-digits modes out of 1,000
    modes = "modes"  # 2-D mixture modes, high-quality share, reverse KL


@dataclass
class DatasetConfig(_Checked):
    _target_: str = MISSING  # a loader in gan_cli.data returning a data source
    metrics: MetricsKind = MetricsKind.inception  # how samples of this data set are measured
    eval_every: int = 0  # default of eval.every for this data set (0: no evaluation)


@dataclass
class ImageDatasetConfig(DatasetConfig):
    resolution: int = 32  # images are resized to resolution x resolution
    channels: int = 1

    def check(self, root: TrainConfig) -> None:
        self.require("resolution", self.resolution >= 4, ">= 4")
        self.require("channels", self.channels in (1, 3), "1 (grayscale) or 3 (RGB)")


@dataclass
class DownloadDatasetConfig(ImageDatasetConfig):
    root: str = "data"  # where torchvision looks for (and downloads) the files
    download: bool = True  # try to download when the files are missing


@dataclass
class FolderDatasetConfig(ImageDatasetConfig):
    path: str = MISSING  # a folder of images, searched recursively (e.g. CelebA's img_align_celeba)
    channels: int = 3
    workers: int = 2  # DataLoader worker processes decoding images

    def check(self, root: TrainConfig) -> None:
        super().check(root)
        self.require("workers", self.workers >= 0, ">= 0")


@dataclass
class FakeDatasetConfig(ImageDatasetConfig):
    size: int = 1024  # number of random images held in memory

    def check(self, root: TrainConfig) -> None:
        super().check(root)
        self.require_positive("size")


@dataclass
class StackedDigitsConfig(ImageDatasetConfig):
    channels: int = 3
    size: int = 50_000  # stacked images (index triples; the digits themselves are shared)
    seed: int = 0

    def check(self, root: TrainConfig) -> None:
        super().check(root)
        self.require_positive("size")
        self.require("channels", self.channels == 3, "3 (one digit per channel)")


@dataclass
class MixtureDatasetConfig(DatasetConfig):
    size: int = 100_000  # points drawn once (with `seed`) and held in memory
    seed: int = 0

    def check(self, root: TrainConfig) -> None:
        self.require_positive("size")


# --------------------------------------------------------------------------- device
class DeviceType(str, Enum):
    auto = "auto"  # CUDA when present, else CPU
    cpu = "cpu"
    cuda = "cuda"


class Precision(str, Enum):
    auto = "auto"  # bf16 where the hardware computes it natively, else fp32 (see runtime.py)
    fp32 = "fp32"
    bf16 = "bf16"  # autocast to bfloat16
    fp16 = "fp16"  # autocast to float16, with a gradient scaler per network


@dataclass
class DeviceConfig(_Checked):
    type: DeviceType = DeviceType.auto
    precision: Precision = Precision.auto
    channels_last: bool = True  # NHWC memory format for convolutional models (faster on both)
    compile: bool = False  # torch.compile G and D (slow first steps; pays off on long runs)


# ---------------------------------------------------------------------- optimiser
class OptimName(str, Enum):
    adam = "adam"
    rmsprop = "rmsprop"


@dataclass
class OptimConfig(_Checked):
    name: OptimName = OptimName.adam
    lr: float = 2e-4  # sets both learning rates unless lr_g / lr_d are given
    lr_g: float = "${.lr}"  # type: ignore[assignment]  # interpolation, resolved to a float
    lr_d: float = "${.lr}"  # type: ignore[assignment]
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam only
    d_steps: int = 1  # discriminator (critic) updates per generator update

    def check(self, root: TrainConfig) -> None:
        self.require_positive("lr", "lr_g", "lr_d", "d_steps")
        ok = len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)
        self.require("betas", ok, "two numbers in [0, 1)")


# ---------------------------------------------------------------------- evaluation
@dataclass
class EvalConfig(_Checked):
    every: int = 0  # steps between evaluations during training (and at the end); 0: never
    samples: int | None = None  # generated samples per evaluation; None: the protocol's count
    reference_samples: int = 10_000  # data samples the reference statistics are computed from
    best: str = "auto"  # metric that picks checkpoints/best.pt and the task's return value
    inception_weights: str | None = None  # pt_inception-2015-12-05-6726825d.pth, if not cached
    download: bool = False  # may the Inception weights be downloaded
    cache_dir: str = "~/.cache/gan-cli"  # reference statistics, computed once per protocol

    def check(self, root: TrainConfig) -> None:
        self.require("every", self.every >= 0, ">= 0")
        self.require_positive("reference_samples")
        kind = str(getattr(root.dataset.metrics, "value", root.dataset.metrics))
        if self.samples is not None:
            check_samples(kind, self.samples, "eval.samples")
        names = METRICS[kind]
        self.require("best", self.best in ("auto", *names), f"auto or one of {', '.join(names)}")


# ------------------------------------------------------------------------- root
@dataclass
class TrainConfig(_Checked):
    model: Any = MISSING
    loss: Any = MISSING
    dataset: Any = MISSING
    device: DeviceConfig = field(default_factory=DeviceConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    steps: int = 1500  # generator updates; the run ends after this many
    batch_size: int = 64
    log_every: int = 50  # steps between scalars (the only host sync of the loop)
    sample_every: int = 250  # steps between fixed-noise sample grids
    ckpt_every: int = 500  # steps between checkpoints (the last step always saves)
    ckpt_keep: int = 3  # periodic checkpoints kept besides last.pt
    grid_size: int = 64  # samples in each grid, from the same fixed noise all run long
    ema_decay: float = 0.0  # > 0 (e.g. 0.999): sample and evaluate an EMA of G's weights
    resume: str | None = None  # a run dir or checkpoint to continue (see README, "Resuming")

    def check(self, root: TrainConfig) -> None:
        self.require("steps", self.steps >= 1, ">= 1")
        self.require("batch_size", self.batch_size >= 1, ">= 1")
        self.require_positive("log_every", "sample_every", "ckpt_every", "grid_size")
        self.require("ckpt_keep", self.ckpt_keep >= 1, ">= 1")
        self.require("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1)")


# ------------------------------------------------------------- gan sample / gan eval
@dataclass
class SampleConfig(_Checked):
    ckpt: str = MISSING
    n: int = 64
    out: str = "samples.png"
    seed: int = 0
    ema: bool = True
    interpolate: list[int] | None = None
    device: DeviceType = DeviceType.auto

    def check(self, root) -> None:
        self.require_positive("n")
        ok = self.interpolate is None or len(self.interpolate) == 2
        self.require("interpolate", ok, "two seeds, e.g. [3,7]")


@dataclass
class EvalCommandConfig(_Checked):
    ckpt: Any = MISSING  # str or list of str
    metrics: str = "auto"
    samples: int | None = None  # None: the protocol's count for the checkpoint's data
    reference_samples: int = 10_000
    seed: int = 0
    ema: bool = True
    inception_weights: str | None = None
    download: bool = False
    cache_dir: str = "~/.cache/gan-cli"
    out: str = "eval.json"
    device: DeviceType = DeviceType.auto

    def check(self, root) -> None:
        self.require_positive("reference_samples")
        if self.samples is not None:
            self.require("samples", self.samples >= 1, ">= 1")
        kinds = ("auto", *MetricsKind.__members__)
        self.require("metrics", self.metrics in kinds, " or ".join(kinds))


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"dcgan": DCGANConfig, "mlp": MLPConfig},
    "loss": {"base": LossConfig, "wasserstein": WassersteinConfig},
    "dataset": {
        "image": ImageDatasetConfig,
        "download": DownloadDatasetConfig,
        "folder": FolderDatasetConfig,
        "fake": FakeDatasetConfig,
        "stacked": StackedDigitsConfig,
        "mixture": MixtureDatasetConfig,
    },
    "device": {"device": DeviceConfig},
}


def register() -> None:
    """Put the schemas where the YAML files' defaults lists look for them."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="sample_schema", node=SampleConfig)
    cs.store(name="eval_schema", node=EvalCommandConfig)
    for group, schemas in SCHEMAS.items():
        for name, schema in schemas.items():
            cs.store(group=f"schema/{group}", name=name, node=schema)


def root_choice(root: Any, group: str) -> str:
    """The group's choice as the user typed it (e.g. 'ring8'), or the group name if unknown."""
    choices = getattr(root, "_choices", {}) or {}
    return choices.get(group, group)


def validate(cfg: DictConfig, choices: dict[str, str] | None = None) -> TrainConfig:
    """Turn the composed config into schema objects and run every range check.

    Raises ConfigError naming the key. `choices` (Hydra's group choices) only improves messages.
    """
    try:
        root: TrainConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    except Exception as exc:  # an unresolved interpolation or a MISSING value
        raise ConfigError(_first_line(exc)) from exc
    root._choices = choices or {}  # type: ignore[attr-defined]
    for f in fields(root) if isinstance(root, TrainConfig) else []:
        node = getattr(root, f.name)
        if isinstance(node, _Checked):
            node._key = f.name
            node.check(root)
    root.check(root)
    return root


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), "")
    return f"{key}: {lines[0]}" if key else lines[0]
