"""The image sizes each model builds, in one torch-free place: the model files check them when
they build, the config schemas (model.py) at composition, with the key named."""

from __future__ import annotations

DCGAN_RESOLUTIONS = (8, 16, 32, 64)
RESNET_RESOLUTIONS = (8, 16, 32, 48, 64, 128)
STYLEGAN2_RESOLUTIONS = (8, 16, 32, 64, 128, 256)
VIEW_PIXELS = 32  # smaller images (8x8 digits) are enlarged in grids, pixel by pixel, to this


# the peak memory of a sample grid picture, per value of the grid (3 channels, padded): made in
# uint8, then TensorBoard's add_image converts it to float32 and Pillow encodes it; measured
# 13.2 B at 8 px (enlarged to 32), 9.8 B at 32 px, 9.7 B at 64 px
PICTURE_BYTES_PER_VALUE = 14


def view_factor(h: int, w: int) -> int:
    """How many times a grid enlarges an image of h x w pixels: to VIEW_PIXELS a side at least
    (1 for images that large already)."""
    return -(-VIEW_PIXELS // min(h, w))


def picture_bytes(n: int, shape: tuple[int, ...]) -> int:
    """The peak memory of a grid picture of n images of `shape` (C, H, W): small images are
    enlarged (view_factor, samples.image_grid), each gets a 2-pixel border."""
    _, h, w = shape
    factor = view_factor(h, w)
    return n * PICTURE_BYTES_PER_VALUE * 3 * (h * factor + 2) * (w * factor + 2)


def attention_sizes(resolution: int) -> list[int]:
    """Where a ResNet self-attention block can sit: sizes both G and D have features at (8 to
    res/2)."""
    return sorted({resolution // 2**i for i in range(1, 6) if resolution // 2**i >= 8})
