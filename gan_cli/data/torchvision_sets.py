"""torchvision's MNIST, Fashion-MNIST and CIFAR-10, loaded whole into memory as uint8.

Downloads are real and stay: with `download: true` torchvision fetches what is missing. With no
network, the first failure becomes one line naming the files and the folder to put them in
(torchvision then finds them there and does not download).
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan_cli.data.images import fit_images
from gan_cli.data.source import TensorSource
from gan_cli.errors import DataError
from gan_cli.registry import register

_MNIST_FILES = "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz"


def _open(cls, root: str, download: bool, folder: str, files: str):
    root_path = Path(root).expanduser()
    where = root_path / folder
    try:
        return cls(str(root_path), train=True, download=False)
    except RuntimeError:
        if not download:
            raise DataError(
                f"{cls.__name__} not found in {where}: put {files} there, "
                "or set dataset.download=true"
            ) from None
    try:
        return cls(str(root_path), train=True, download=True)
    except Exception as exc:  # URLError, RuntimeError from torchvision's mirrors, OSError
        reason = str(exc).strip().splitlines()[-1][:120] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{cls.__name__} is not in {where} and could not be downloaded ({reason}): "
            f"put {files} there"
        ) from None


def _as_source(name: str, images: torch.Tensor, labels, resolution: int, channels: int):
    return TensorSource(
        fit_images(images, resolution, channels), name, {"labels": torch.as_tensor(labels)}
    )


@register("dataset")
def mnist(root="data", download=True, resolution=32, channels=1) -> TensorSource:
    from torchvision.datasets import MNIST

    ds = _open(MNIST, root, download, "MNIST/raw", _MNIST_FILES)
    return _as_source("mnist", ds.data.unsqueeze(1), ds.targets, resolution, channels)


@register("dataset")
def fashion_mnist(root="data", download=True, resolution=32, channels=1) -> TensorSource:
    from torchvision.datasets import FashionMNIST

    ds = _open(FashionMNIST, root, download, "FashionMNIST/raw", _MNIST_FILES)
    return _as_source("fashion_mnist", ds.data.unsqueeze(1), ds.targets, resolution, channels)


@register("dataset")
def cifar10(root="data", download=True, resolution=32, channels=3) -> TensorSource:
    from torchvision.datasets import CIFAR10

    ds = _open(CIFAR10, root, download, "", "cifar-10-python.tar.gz")
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    return _as_source("cifar10", images, ds.targets, resolution, channels)
