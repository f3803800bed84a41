"""Any folder of images (e.g. CelebA), decoded by DataLoader workers batch by batch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from gan_cli.data.source import to_unit_range
from gan_cli.errors import DataError
from gan_cli.registry import register

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


class _Images(Dataset):
    def __init__(self, files: list[Path], resolution: int, channels: int):
        self.files, self.mode = files, "L" if channels == 1 else "RGB"
        self.transform = v2.Compose([v2.Resize(resolution), v2.CenterCrop(resolution)])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor | str:
        try:
            with Image.open(self.files[i]) as im:
                image = v2.functional.pil_to_tensor(im.convert(self.mode))
        except Exception as exc:  # reported in the main process, see _collate
            return f"cannot read image {self.files[i]}: {type(exc).__name__}"
        return self.transform(image)


def _collate(items: list[Tensor | str]) -> Tensor | str:
    bad = next((x for x in items if isinstance(x, str)), None)
    return bad if bad is not None else torch.stack(items)  # type: ignore[arg-type]


class FolderSource:
    def __init__(self, files: list[Path], resolution: int, channels: int, workers: int):
        self.name = f"folder:{files[0].parent}"
        self.images = _Images(files, resolution, channels)
        self.shape = (channels, resolution, resolution)
        self.is_image, self.meta, self.workers = True, {}, workers

    def __len__(self) -> int:
        return len(self.images)

    def batches(
        self, order: Tensor, batch_size: int, device: torch.device, channels_last: bool = False
    ) -> Iterator[Tensor]:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        loader = DataLoader(
            self.images,
            batch_sampler=[chunk.tolist() for chunk in order.split(batch_size)],
            num_workers=self.workers,
            collate_fn=_collate,
            pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(0),  # worker seeds; keeps the global RNG
        )
        for batch in loader:
            if isinstance(batch, str):
                raise DataError(batch)
            yield to_unit_range(batch.to(device, non_blocking=True)).contiguous(memory_format=fmt)


@register("dataset")
def load(path: str, resolution: int = 64, channels: int = 3, workers: int = 2) -> FolderSource:
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
    return FolderSource(files, resolution, channels, workers)
