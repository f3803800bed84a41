"""Fitting images of any size and channel count to what the model is built for."""

from __future__ import annotations

import torch
from torch import Tensor

_LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's convert("L")


def fit_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 (N, C, H, W) with C in 1, 3, 4 -> `channels` (1 or 3); alpha is dropped."""
    images = images[:, :3]
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 3:  # grayscale -> RGB
        return images.expand(-1, 3, -1, -1).contiguous()
    gray = torch.einsum("nchw,c->nhw", images.float(), _LUMA).round().clamp(0, 255)
    return gray.to(torch.uint8).unsqueeze(1)


def fit_images(images: Tensor, resolution: int, channels: int, chunk: int = 4096) -> Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, channels, resolution, resolution).

    The shorter side is resized to `resolution` (bilinear, antialiased), then centre-cropped.
    """
    out = []
    for part in images.split(chunk):
        part = fit_channels(part, channels)
        if part.shape[-2:] != (resolution, resolution):
            from torchvision.transforms.v2 import functional as TF  # seconds to import: if used

            part = TF.resize(part, [resolution], antialias=True)
            part = TF.center_crop(part, [resolution, resolution])
        out.append(part)
    return torch.cat(out)
