"""Schemas of conf/dataset/. Each says how its samples are measured (METRICS, a class
attribute, not a config key: it is what the data is, not a setting)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from omegaconf import MISSING

from gan_cli.cache import CACHE_DIR
from gan_cli.config.base import Checked, schema


@dataclass
class DatasetConfig(Checked):
    _target_: str = MISSING  # a registered loader returning a data source

    # metrics/protocol.py: digits | inception | stacked | modes
    METRICS: ClassVar[str] = "inception"


@schema("dataset", "image")
@dataclass
class ImageDatasetConfig(DatasetConfig):
    resolution: int = 32  # images are resized to resolution x resolution
    channels: int = 1

    def check(self, root: Any) -> None:
        self.require("resolution", self.resolution >= 4, ">= 4")
        self.require("channels", self.channels in (1, 3), "1 (grayscale) or 3 (RGB)")


@schema("dataset", "digits")
@dataclass
class DigitsConfig(ImageDatasetConfig):
    METRICS: ClassVar[str] = "digits"  # the shipped digits classifier: cheap, offline


@schema("dataset", "download")
@dataclass
class DownloadDatasetConfig(ImageDatasetConfig):
    root: str = "data"  # where torchvision looks for (and downloads) the files
    download: bool = True  # try to download when the files are missing


@schema("dataset", "folder")
@dataclass
class FolderDatasetConfig(ImageDatasetConfig):
    path: str = MISSING  # a folder of images, searched recursively (e.g. CelebA's img_align_celeba)
    resolution: int = 64
    channels: int = 3
    workers: int = 2  # DataLoader worker processes decoding images
    cache: bool = True  # decode once into a uint8 cache, then read at in-memory speed
    cache_dir: str = CACHE_DIR  # the decoded images: <cache_dir>/folders/

    def check(self, root: Any) -> None:
        super().check(root)
        self.require("workers", self.workers >= 0, ">= 0")


def check_memory(node: Any, root: Any, nbytes: float) -> None:
    """A data set held in memory stays within `limits.data_gb` (checked before it is made)."""
    limits = getattr(root, "limits", None)
    if limits is not None:
        limits.check_data(nbytes, f"{node._key}.size={node.size}")


@schema("dataset", "fake")
@dataclass
class FakeDatasetConfig(ImageDatasetConfig):
    resolution: int = 64
    channels: int = 3
    size: int = 1024  # number of random images held in memory

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("size")
        check_memory(self, root, self.size * self.channels * self.resolution**2)


@schema("dataset", "stacked")
@dataclass
class StackedDigitsConfig(ImageDatasetConfig):
    channels: int = 3
    size: int = 50_000  # stacked images (index triples; the digits themselves are shared)
    seed: int = 0

    METRICS: ClassVar[str] = "stacked"

    def check(self, root: Any) -> None:
        super().check(root)
        self.require_positive("size")
        self.require_seed("seed")
        self.require("channels", self.channels == 3, "3 (one digit per channel)")
        # int64 index triples, then 72 B a sample at the peak of making them (measured): the
        # triples, their digits' labels and the mode numbers' int64 temporaries
        check_memory(self, root, self.size * 72)


@schema("dataset", "mixture")
@dataclass
class MixtureDatasetConfig(DatasetConfig):
    size: int = 100_000  # points drawn once (with `seed`) and held in memory
    seed: int = 0

    METRICS: ClassVar[str] = "modes"

    def check(self, root: Any) -> None:
        self.require_positive("size")
        self.require_seed("seed")
        # float32 points (8 B), but 40 B a point at the peak of drawing them (mixtures.py: an
        # int64 mode index and three (N, 2) float32 tensors alive at once, 32 B measured)
        check_memory(self, root, self.size * 40)


def sample_shape(dataset: Any) -> tuple[int, ...] | None:
    """One sample's shape, where the schema says it (None: a plugin's data set, unknown until
    it is loaded)."""
    if isinstance(dataset, ImageDatasetConfig):
        return (dataset.channels, dataset.resolution, dataset.resolution)
    return (2,) if isinstance(dataset, MixtureDatasetConfig) else None


def metrics_kind(dataset: Any) -> str:
    """How samples of this data set are measured (a data set without a schema: Inception)."""
    return getattr(dataset, "METRICS", DatasetConfig.METRICS)


def is_image(dataset: Any) -> bool | None:
    """Images (True), points (False), or a plugin's data set without a schema (None: unknown
    until it is loaded)."""
    if isinstance(dataset, DatasetConfig):
        return isinstance(dataset, ImageDatasetConfig)
    return None
