"""The embedded default: scikit-learn's 1,797 handwritten 8x8 digits (ships with the package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from gan_cli.data.images import fit_images
from gan_cli.data.source import TensorSource
from gan_cli.registry import register


def _sklearn_file() -> Path | None:
    """scikit-learn's own copy of the data (what `load_digits` reads), found without importing
    scikit-learn: that import takes ~2 s, paid by every `gan` run on the default data."""
    spec = importlib.util.find_spec("sklearn")
    places = spec.submodule_search_locations if spec else None
    path = Path(places[0], "datasets", "data", "digits.csv.gz") if places else None
    return path if path and path.is_file() else None


def load_raw() -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (1797, 1, 8, 8) in [0, 255] and their labels (0-9)."""
    path = _sklearn_file()
    if path is not None:  # rows of 64 pixel values in 0..16, then the label
        rows = np.loadtxt(path, delimiter=",")
        pixels, target = rows[:, :-1].reshape(-1, 8, 8), rows[:, -1].astype(np.int64)
    else:  # another layout of the package: its loader
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels, target = digits.images, digits.target
    images = torch.from_numpy(pixels).mul(255 / 16).round().to(torch.uint8)
    return images.unsqueeze(1), torch.from_numpy(target)


@register("dataset")
def load(resolution: int = 32, channels: int = 1) -> TensorSource:
    images, labels = load_raw()
    return TensorSource(fit_images(images, resolution, channels), "digits", {"labels": labels})
