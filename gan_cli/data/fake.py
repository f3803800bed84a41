"""Random images, for benchmarks: the shape of real data with nothing to load or learn."""

from __future__ import annotations

import torch

from gan_cli.data.source import TensorSource
from gan_cli.registry import register


@register("dataset", schema="fake")
def load(resolution: int = 64, channels: int = 3, size: int = 1024) -> TensorSource:
    gen = torch.Generator().manual_seed(0)
    shape = (size, channels, resolution, resolution)
    return TensorSource(torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8), "fake")
