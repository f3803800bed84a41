"""Any folder of images (e.g. CelebA): decoded once into a uint8 cache and read from it at
in-memory speed (`cache=true`, the default: folder_cache.py), or decoded by DataLoader workers
batch by batch, every epoch (`cache=false`, for folders too big for the disk twice over).

Images directly inside class subfolders (torchvision's ImageFolder convention: root/cat/1.jpg,
root/dog/2.jpg) carry their subfolder as a class label, for conditional models; the classes are
the subfolders' names, sorted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from gan_cli.cache import cache_dir as default_cache_dir
from gan_cli.data.source import collate, to_unit_range
from gan_cli.errors import DataError
from gan_cli.registry import register

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


class _Images(Dataset):
    def __init__(self, files: list[Path], resolution: int, channels: int):
        from torchvision.transforms import v2  # seconds to import: only for folders

        self.files, self.mode = files, "L" if channels == 1 else "RGB"
        self.to_tensor = v2.functional.pil_to_tensor
        self.transform = v2.Compose([v2.Resize(resolution), v2.CenterCrop(resolution)])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor | str:
        try:
            with Image.open(self.files[i]) as im:
                image = self.to_tensor(im.convert(self.mode))
        except Exception as exc:  # reported in the main process, see _collate
            return f"cannot read image {self.files[i]}: {type(exc).__name__}"
        return self.transform(image)


def class_labels(root: Path, files: list[Path]) -> tuple[list[str], Tensor] | None:
    """(class names, a label per file) when every image sits in a subfolder of `root` and
    there are at least two; None otherwise."""
    if any(f.parent.parent != root for f in files):
        return None
    names = sorted({f.parent.name for f in files})
    if len(names) < 2:
        return None
    index = {name: i for i, name in enumerate(names)}
    return names, torch.tensor([index[f.parent.name] for f in files])


class FolderSource:
    def __init__(self, root: Path, files: list[Path], resolution: int, channels: int,
                 workers: int):  # fmt: skip
        self.name = f"folder:{root}"
        self.images = _Images(files, resolution, channels)
        self.shape = (channels, resolution, resolution)
        self.is_image, self.meta, self.workers = True, {}, workers
        found = class_labels(root, files)
        if found:
            self.meta = {"classes": found[0], "labels": found[1]}

    @property
    def num_classes(self) -> int:
        return len(self.meta.get("classes", ()))

    def __len__(self) -> int:
        return len(self.images)

    def batches(
        self, order: Tensor, batch_size: int, device: torch.device, channels_last: bool = False,
        labels: bool = False,
    ) -> Iterator[Tensor | tuple[Tensor, Tensor]]:  # fmt: skip
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        chunks = order.split(batch_size)
        loader = DataLoader(
            self.images,
            batch_sampler=[chunk.tolist() for chunk in chunks],
            num_workers=self.workers,
            collate_fn=collate,
            pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(0),  # worker seeds; keeps the global RNG
        )
        for batch, chunk in zip(loader, chunks, strict=True):  # the loader keeps the order
            if isinstance(batch, str):
                raise DataError(batch)
            images = to_unit_range(batch.to(device, non_blocking=True)).contiguous(
                memory_format=fmt
            )
            yield (images, self.meta["labels"][chunk].to(device)) if labels else images


@register("dataset")
def load(path: str, resolution: int = 64, channels: int = 3, workers: int = 2,
         cache: bool = True, cache_dir: str | None = None):  # fmt: skip
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"dataset.path={path}: no such folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise DataError(f"dataset.path={path}: folder not readable (permission denied)")
    try:
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS)
    except OSError as exc:
        raise DataError(f"dataset.path={path}: cannot list it ({exc.strerror})") from None
    if not files:
        raise DataError(
            f"dataset.path={path}: no images ({', '.join(sorted(EXTENSIONS))}) in it or below"
        )
    source = FolderSource(root, files, resolution, channels, workers)
    if not cache:
        return source
    from gan_cli.data.folder_cache import cached_source

    cache_dir = cache_dir or default_cache_dir()  # a caller from Python
    return cached_source(source, root, Path(cache_dir))
