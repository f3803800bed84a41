"""Schemas of conf/loss/. Most objectives have no parameters; their YAML files use `base`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from omegaconf import MISSING

from gan_cli.config.base import SCHEMAS, Checked, choice, schema
from gan_cli.errors import ConfigError


@schema("loss", "base")
@dataclass
class LossConfig(Checked):
    _target_: str = MISSING  # a registered GANLoss subclass

    PAIRED: ClassVar[bool] = False  # scores real and generated samples in pairs (RpGAN)


@schema("loss", "paired")
@dataclass
class PairedLossConfig(LossConfig):
    """An objective on pairs (real x_i, generated G(z_i)): G's batch must stay whole."""

    PAIRED: ClassVar[bool] = True


@schema("loss", "critic")
@dataclass
class CriticLossConfig(LossConfig):
    """An objective whose D is a critic estimating a distance (WGAN): unbounded unless kept
    Lipschitz, so one of the Lipschitz stabilisers must be on."""

    def check(self, root: Any) -> None:
        if not any(getattr(s, "LIPSCHITZ", False) for s in root.stabilizers.values()):
            lipschitz = [n for n, c in stabilizer_schemas().items() if c.LIPSCHITZ]
            raise ConfigError(
                f"loss={choice(root, 'loss')} needs a "
                f"Lipschitz constraint on the critic: add one of {', '.join(lipschitz)} to "
                "stabilizers (loss=wasserstein alone brings weight_clip; experiment=wgan_gp "
                "the gradient penalty)"
            )


def stabilizer_schemas() -> dict[str, type]:
    return SCHEMAS.get("stabilizers", {})
