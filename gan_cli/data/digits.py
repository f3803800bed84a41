"""The embedded default: scikit-learn's 1,797 handwritten 8x8 digits (ships with the package)."""

from __future__ import annotations

import torch

from gan_cli.data.images import fit_images
from gan_cli.data.source import TensorSource
from gan_cli.registry import register


def load_raw() -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (1797, 1, 8, 8) in [0, 255] and their labels (0-9)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images).mul(255 / 16).round().to(torch.uint8)
    return images.unsqueeze(1), torch.from_numpy(digits.target)


@register("dataset")
def load(resolution: int = 32, channels: int = 1) -> TensorSource:
    images, labels = load_raw()
    return TensorSource(fit_images(images, resolution, channels), "digits", {"labels": labels})
