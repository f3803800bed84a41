"""Data sources and the endless, resumable stream of mini-batches the trainer draws from.

A source is either
- a `TensorSource`: the whole data set in one tensor (uint8 images N x C x H x W, or float
  points N x D), moved to the training device once; batches are gathered there; or
- a `FolderSource`: image files decoded by DataLoader workers (for data too big for memory).
Both hand out batches in an order fixed by (seed, epoch), so a stream can be resumed exactly
from its `state_dict()`. Images leave a source as floats in [-1, 1], the range of G's Tanh;
with `labels=True` each batch comes with its class labels, `(images, labels)`, for conditional
models (a source knows its `num_classes`; 0 when it has no labels).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gan_cli.errors import DataError


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float images in [-1, 1] -> uint8 in [0, 255], rounded as a saved PNG holds them."""
    return images.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


@dataclass
class TensorSource:
    data: Tensor  # uint8 images (N, C, H, W) or float32 points (N, D)
    name: str
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. mixture centres and sigma

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.data.dim() == 4

    @property
    def num_classes(self) -> int:
        labels = self.meta.get("labels")
        return int(labels.max()) + 1 if labels is not None and len(labels) else 0

    def __len__(self) -> int:
        return self.data.shape[0]

    def batches(
        self, order: Tensor, batch_size: int, device: torch.device, channels_last: bool = False,
        labels: bool = False,
    ) -> Iterator[Tensor | tuple[Tensor, Tensor]]:  # fmt: skip
        nhwc = channels_last and self.is_image
        if self.data.device != device or (
            nhwc and not self.data.is_contiguous(memory_format=torch.channels_last)
        ):  # once: later epochs find the data there, in that layout (batches keep it)
            self.data = self.data.to(device)
            if nhwc:
                self.data = self.data.contiguous(memory_format=torch.channels_last)
        order = order.to(device)
        classes = self.meta["labels"].to(device) if labels else None
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            batch = to_unit_range(self.data[idx]) if self.is_image else self.data[idx]
            yield (batch, classes[idx]) if labels else batch


class BatchStream:
    """Endless mini-batches of a fixed size; each epoch a fresh shuffle; the last partial batch
    of an epoch is dropped. `state_dict()` / `load_state_dict()` resume mid-epoch exactly.
    With several ranks, `batch_size` is the global batch and each rank gets its slice of every
    global batch of one shared permutation (so the data order does not depend on the ranks)."""

    def __init__(
        self, source, batch_size: int, seed: int, device: torch.device, channels_last=False,
        labels: bool = False, rank: int = 0, world_size: int = 1,
    ):  # fmt: skip
        if len(source) < batch_size:
            raise DataError(
                f"data set {source.name} has {len(source)} samples, fewer than "
                f"batch_size={batch_size}"
            )
        self.source, self.batch_size, self.seed, self.device = source, batch_size, seed, device
        self.channels_last, self.labels = channels_last, labels
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size
        self.epoch = 0
        self.taken = 0  # batches handed out in the current epoch
        self._it: Iterator[Tensor] | None = None

    def _order(self) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        usable = len(self.source) // self.batch_size * self.batch_size
        order = torch.randperm(len(self.source), generator=gen)[:usable]
        if self.world_size == 1:
            return order
        part = slice(self.rank * self.local_batch, (self.rank + 1) * self.local_batch)
        return order.view(-1, self.batch_size)[:, part].reshape(-1)  # this rank's slices

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Tensor:
        for _ in range(2):
            if self._it is None:
                order = self._order()[self.taken * self.local_batch :]
                if len(order) == 0:  # resumed exactly at the end of an epoch
                    self.epoch, self.taken = self.epoch + 1, 0
                    order = self._order()
                self._it = self.source.batches(
                    order, self.local_batch, self.device, self.channels_last, self.labels
                )
            batch = next(self._it, None)
            if batch is not None:
                self.taken += 1
                return batch
            self.epoch, self.taken, self._it = self.epoch + 1, 0, None
        raise DataError(f"data set {self.source.name} yields no batches")

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "taken": self.taken}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.taken, self._it = int(state["epoch"]), int(state["taken"]), None


def collate(items: list[Tensor | str]) -> Tensor | str:
    """A batch of images, or the first unreadable image's one-line error (raised by the main
    process: an exception in a worker would come back as a traceback)."""
    bad = next((x for x in items if isinstance(x, str)), None)
    return bad if bad is not None else torch.stack(items)  # type: ignore[arg-type]
