"""The schema of conf/model/biggan.yaml (torch-free: read while composing)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from gan_cli.config.base import schema
from gan_cli.config.model import ImageModelConfig
from gan_cli.config.sizes import attention_sizes

BIGGAN_RESOLUTIONS = (8, 16, 32, 64, 128)


def g_blocks(resolution: int) -> int:
    """G's up-sampling blocks from 4x4."""
    return int(math.log2(resolution // 4))


@schema("model", "biggan")
@dataclass
class BigGANConfig(ImageModelConfig):
    latent_dim: int = 120  # z, in chunks: one to G's input layer, one to each G block
    g_width: int = 64  # channels of every G block (the paper's 128 px G: 1024 down to 64)
    d_width: int = 64  # channels of every D block
    shared_dim: int = 128  # the class embedding all G blocks share (conditional only)
    attention: int = 0  # resolution of a self-attention block in G and D; 0: none

    RESOLUTIONS: ClassVar[tuple[int, ...]] = BIGGAN_RESOLUTIONS
    SMALL: ClassVar[dict[str, Any]] = {"g_width": 8, "d_width": 8, "latent_dim": 16,
                                       "shared_dim": 8}  # fmt: skip

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("g_width", "d_width", "shared_dim")
        res = root.dataset.resolution
        chunks = g_blocks(res) + 1
        self.require("latent_dim", self.latent_dim >= chunks,
                     f">= {chunks} at {res} px (a chunk for G's input and each block)")  # fmt: skip
        where = attention_sizes(res)
        ok = self.attention == 0 or self.attention in where
        self.require("attention", ok, " or ".join(map(str, [0, *where])))
