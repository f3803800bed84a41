"""Stacked digits: three random digits as the R, G and B channels of one image.

The offline counterpart of stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): 10^3 = 1,000
modes, one per (red, green, blue) digit triple. Only the 1,797 digits and the index triples are
held in memory; images are assembled batch by batch on the device.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from gan_cli.data.digits import load_raw
from gan_cli.data.images import fit_images
from gan_cli.data.source import to_unit_range
from gan_cli.registry import register


class StackedDigits:
    is_image = True
    num_classes = 0  # 1,000 modes, but no labels a conditional model could be given

    def __init__(self, size: int, resolution: int, seed: int):
        raw, labels = load_raw()
        self.digits = fit_images(raw, resolution, 1)  # (1797, 1, R, R) uint8
        gen = torch.Generator().manual_seed(seed)
        self.triples = torch.randint(len(raw), (size, 3), generator=gen)
        digit = labels[self.triples]  # (size, 3) class of each channel
        self.name, self.shape = "stacked_digits", (3, resolution, resolution)
        self.meta = {"modes": digit[:, 0] * 100 + digit[:, 1] * 10 + digit[:, 2]}

    def __len__(self) -> int:
        return len(self.triples)

    def batches(self, order: Tensor, batch_size: int, device: torch.device,
                channels_last: bool = False, labels: bool = False) -> Iterator[Tensor]:  # fmt: skip
        if self.digits.device != device:
            self.digits, self.triples = self.digits.to(device), self.triples.to(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for part in order.to(device).split(batch_size):
            images = self.digits[self.triples[part]].squeeze(2)  # (B, 3, R, R)
            yield to_unit_range(images).contiguous(memory_format=fmt)


@register("dataset", schema="stacked")
def load(size: int = 50_000, resolution: int = 32, channels: int = 3, seed: int = 0):
    if channels != 3:
        raise ValueError("stacked_digits has 3 channels, one digit each")
    return StackedDigits(size, resolution, seed)
