"""What gan-cli loads at start-up (the entry point): the builders this package offers, its
config folder, and the schemas of its YAML files. Light on purpose: no torch here."""

from dataclasses import dataclass
from pathlib import Path

from gan_cli.config import schema
from gan_cli.config.loss import LossConfig
from gan_cli.config.model import ModelConfig
from gan_cli.plugins import Plugin


@schema("model", "resmlp")  # its YAML selects it: `- /schema/model/resmlp@_here_`
@dataclass
class ResMLPConfig(ModelConfig):
    latent_dim: int = 16
    width: int = 64  # units per layer
    blocks: int = 2  # residual blocks in G and in D

    def check(self, root):
        super().check(root)
        self.require_positive("width", "blocks")


@schema("loss", "smoothed")
@dataclass
class SmoothedConfig(LossConfig):
    smoothing: float = 0.1  # real samples' target is 1 - smoothing (Salimans et al. 2016)

    def check(self, root):
        self.require("smoothing", 0 <= self.smoothing < 1, "in [0, 1)")


plugin = Plugin(
    builders={"model": ["my_gan_plugin.models.build"],
              "loss": ["my_gan_plugin.losses.OneSidedSmoothing"]},
    conf=Path(__file__).parent / "conf",
)  # fmt: skip
