"""The image sizes each model builds, in one torch-free place: the model files check them when
they build, the config schemas (model.py) at composition, with the key named."""

from __future__ import annotations

DCGAN_RESOLUTIONS = (8, 16, 32, 64)
RESNET_RESOLUTIONS = (8, 16, 32, 48, 64, 128)
STYLEGAN2_RESOLUTIONS = (8, 16, 32, 64, 128, 256)
VIEW_PIXELS = 32  # smaller images (8x8 digits) are enlarged in grids, pixel by pixel, to this


def picture_values(n: int, shape: tuple[int, ...]) -> int:
    """The float values a grid picture of n images of `shape` (C, H, W) holds at its peak
    (samples.image_grid): the images enlarged to VIEW_PIXELS, then the 3-channel grid with
    its 2-pixel padding, both at once."""
    _, h, w = shape
    factor = max(1, -(-VIEW_PIXELS // min(h, w)))
    h, w = h * factor, w * factor
    return n * (shape[0] * h * w + 3 * (h + 2) * (w + 2))


def attention_sizes(resolution: int) -> list[int]:
    """Where a ResNet self-attention block can sit: sizes both G and D have features at (8 to
    res/2)."""
    return sorted({resolution // 2**i for i in range(1, 6) if resolution // 2**i >= 8})
