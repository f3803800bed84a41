"""Schemas of conf/stabilizers/: each stabiliser's parameters and what it can be combined with.

Class attributes say what a stabiliser is, for the checks that refuse bad combinations (all
in StabilizerConfig.check, so a new stabiliser declares them and writes no rule of its own):
LIPSCHITZ (keeps a critic Lipschitz: what a Wasserstein loss needs), GRADIENT_PENALTY (a
per-sample gradient penalty: meaningless on a D with batch norm), IMAGE_ONLY (needs images),
NEEDS_MAPPING (needs a generator with a mapping network), DROPS_SAMPLES (G learns from part of
its batch: breaks a paired loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from omegaconf import MISSING

from gan_cli.config.base import Checked, Choice, choice, schema
from gan_cli.config.dataset import is_image
from gan_cli.errors import ConfigError


@schema("stabilizers", "base")
@dataclass
class StabilizerConfig(Checked):
    _target_: str = MISSING  # a registered Stabilizer subclass

    LIPSCHITZ: ClassVar[bool] = False
    GRADIENT_PENALTY: ClassVar[bool] = False
    IMAGE_ONLY: ClassVar[bool] = False
    NEEDS_MAPPING: ClassVar[bool] = False
    DROPS_SAMPLES: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return self._key.rpartition(".")[2]

    def check(self, root: Any) -> None:
        if self.IMAGE_ONLY and is_image(root.dataset) is False:
            raise ConfigError(
                f"stabilizers=[{self.name}] works on images; this data set gives 2-D points"
            )
        if self.GRADIENT_PENALTY:
            from gan_cli.config.model import Norm

            if getattr(root.model, "d_norm", None) is Norm.batch:
                raise ConfigError(
                    f"model.d_norm=batch: stabilizers=[{self.name}] penalises per-sample "
                    "gradients, which batch norm in D mixes across the batch; use "
                    "model.d_norm=layer or model.d_norm=none (experiment=wgan_gp gives the "
                    "paper's setting)"
                )
        if self.NEEDS_MAPPING and not getattr(root.model, "MAPPING", False):
            raise ConfigError(
                f"stabilizers=[{self.name}] needs a generator with a mapping network "
                "(model=stylegan2)"
            )
        if self.DROPS_SAMPLES and root.loss.PAIRED:
            raise ConfigError(
                f"stabilizers=[{self.name}] drops some of G's samples, which breaks the "
                f"real/generated pairs of loss={choice(root, 'loss')}; use another loss"
            )


@schema("stabilizers", "gradient_penalty")
@dataclass
class GradientPenaltyConfig(StabilizerConfig):
    weight: float = 10.0  # lambda (Gulrajani et al. 2017)
    target: float = 1.0  # the gradient norm it pulls towards (0: a zero-centred penalty)
    every: int = 1  # lazy regularisation: every k-th D step, weighted by k (as R1's)

    LIPSCHITZ: ClassVar[bool] = True
    GRADIENT_PENALTY: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("weight", "every")
        self.require("target", self.target >= 0, ">= 0")


@schema("stabilizers", "weight_clip")
@dataclass
class WeightClipConfig(StabilizerConfig):
    clip: float = 0.01  # every D weight clamped to [-clip, clip] after each D step

    LIPSCHITZ: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        self.require_positive("clip")


@schema("stabilizers", "r1")
@dataclass
class R1Config(StabilizerConfig):
    gamma: float = 10.0  # the penalty is gamma/2 E||grad D||^2 (Mescheder et al. 2018)
    every: int = 1  # lazy regularisation: every k-th D step, weighted by k (StyleGAN2: 16)

    GRADIENT_PENALTY: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("gamma", "every")


@schema("stabilizers", "r2")
@dataclass
class R2Config(R1Config):
    """R1's penalty on generated samples instead of real ones."""


@schema("stabilizers", "spectral_norm")
@dataclass
class SpectralNormConfig(StabilizerConfig):
    generator: bool = False  # also on G (SAGAN, BigGAN); the SNGAN paper normalises D only
    power_iterations: int = 1  # per forward pass in training (Miyato et al. 2018: 1)

    LIPSCHITZ: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        self.require_positive("power_iterations")


class Augment(Choice):
    color = "color"  # brightness, saturation, contrast
    translation = "translation"  # shifts of up to 1/8 of the image, zero-padded
    cutout = "cutout"  # a square of half the image size set to zero


@schema("stabilizers", "diffaugment")
@dataclass
class DiffAugmentConfig(StabilizerConfig):
    policy: list[Augment] = field(
        default_factory=lambda: [Augment.color, Augment.translation, Augment.cutout]
    )
    adaptive: bool = False  # False: always augment (DiffAugment); True: with ADA's probability p
    target: float = 0.6  # adaptive: the overfitting heuristic r_t = E[sign D(x_real)] aimed at
    interval: int = 4  # adaptive: D steps between adjustments of p
    adjust_images: int = 500_000  # adaptive: images over which p can move from 0 to 1

    IMAGE_ONLY: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        super().check(root)
        self.require("policy", len(self.policy) > 0, "at least one of color, translation, cutout")
        self.require("target", 0 < self.target < 1, "in (0, 1)")
        self.require_positive("interval", "adjust_images")


@schema("stabilizers", "ema")
@dataclass
class EMAConfig(StabilizerConfig):
    half_life: int = 10_000  # images over which an old weight's share halves (StyleGAN2: 10k)
    rampup: float | None = 0.05  # early on, half-life <= rampup x images seen; null: no ramp-up

    def check(self, root: Any) -> None:
        self.require_positive("half_life")
        if self.rampup is not None:
            self.require_positive("rampup")


@schema("stabilizers", "path_length")
@dataclass
class PathLengthConfig(StabilizerConfig):
    weight: float = 2.0  # StyleGAN2's w_pl
    every: int = 4  # lazy: every k-th G step, weighted by k
    decay: float = 0.01  # of the running mean path length
    batch_shrink: int = 2  # the penalty's batch is this many times smaller

    NEEDS_MAPPING: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("weight", "every", "decay", "batch_shrink")


@schema("stabilizers", "packing")
@dataclass
class PackingConfig(StabilizerConfig):
    m: int = 2  # samples D judges together (PacGAN: 2 to 4)

    def check(self, root: Any) -> None:
        self.require("m", self.m >= 2, ">= 2")
        parts = root.forward_passes()  # each forward pass of D packs its own samples
        if root.batch_size % (parts * self.m):
            times = f" x {parts} (ranks x micro_batches)" if parts > 1 else ""
            raise ConfigError(f"batch_size={root.batch_size}: must divide by "
                              f"stabilizers.packing.m={self.m}{times}")  # fmt: skip


@schema("stabilizers", "top_k")
@dataclass
class TopKConfig(StabilizerConfig):
    gamma: float = 0.99  # k's factor every `period` images (Sinha et al. 2020: per epoch)
    nu: float = 0.5  # the smallest share of G's batch kept
    period: int = 50_000  # images G makes between two shrinks of k

    DROPS_SAMPLES: ClassVar[bool] = True

    def check(self, root: Any) -> None:
        super().check(root)
        self.require("gamma", 0 < self.gamma <= 1, "in (0, 1]")
        self.require("nu", 0 < self.nu <= 1, "in (0, 1]")
        self.require_positive("period")


def check_lazy_intervals(stabilizers: dict[str, Any]) -> None:
    """Lazy D regularisers share one regularisation step, so they must share its interval."""
    lazy = {n: s.every for n, s in stabilizers.items() if isinstance(s, R1Config) and s.every > 1}
    if len(set(lazy.values())) > 1:
        shown = ", ".join(f"stabilizers.{n}.every={k}" for n, k in lazy.items())
        raise ConfigError(f"{shown}: lazy regularisers must share one interval")
