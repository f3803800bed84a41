"""The image sizes each model builds, in one torch-free place: the model files check them when
they build, the config schemas (model.py) at composition, with the key named."""

from __future__ import annotations

DCGAN_RESOLUTIONS = (8, 16, 32, 64)
RESNET_RESOLUTIONS = (8, 16, 32, 48, 64, 128)
STYLEGAN2_RESOLUTIONS = (8, 16, 32, 64, 128, 256)


def attention_sizes(resolution: int) -> list[int]:
    """Where a ResNet self-attention block can sit: sizes both G and D have features at (8 to
    res/2)."""
    return sorted({resolution // 2**i for i in range(1, 6) if resolution // 2**i >= 8})
