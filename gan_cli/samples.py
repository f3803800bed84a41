"""Pictures of samples: image grids, and scatter plots for 2-D point data (no matplotlib)."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import Tensor

from gan_cli.config.sizes import view_factor
from gan_cli.runfolder import write_bytes

_REAL = torch.tensor([70, 70, 70], dtype=torch.uint8)  # data points: dark grey
_FAKE = torch.tensor([255, 140, 0], dtype=torch.uint8)  # generated points: orange


def image_grid(images: Tensor, nrow: int | None = None) -> Tensor:
    """float images in [-1, 1], (N, C, H, W) -> uint8 grid (3 or 1, H', W'). Images under
    VIEW_PIXELS a side are enlarged by a whole factor (nearest: every pixel stays a square).
    Made in uint8 from the start (torchvision's `normalize` would hold float copies of the
    enlarged images): the same pixels, a quarter of the memory (config.sizes.picture_bytes)."""
    from torchvision.utils import make_grid  # torchvision takes seconds to import: not for 2-D runs

    nrow = nrow or max(1, round(len(images) ** 0.5))
    # make_grid's value_range=(-1, 1) normalisation, step by step, then its * 255 and rounding
    pixels = images.detach().float().cpu().clamp(-1, 1).add_(1).div_(2).mul_(255).round_()
    pixels = pixels.clamp_(0, 255).to(torch.uint8)
    factor = view_factor(*pixels.shape[-2:])
    if factor > 1:
        pixels = pixels.repeat_interleave(factor, -2).repeat_interleave(factor, -1)
    return make_grid(pixels, nrow=nrow, padding=2)


def scatter(points: Tensor, reference: Tensor | None = None, size: int = 384) -> Tensor:
    """2-D points -> uint8 image (3, size, size); `reference` (e.g. real data) drawn beneath.

    The view is fitted to the reference points (or the points) plus a 15 % margin, so points
    that drift far away fall off the picture rather than shrinking the data to a dot.
    """
    points = points.detach().float().cpu()
    frame = points if reference is None else reference.detach().float().cpu()
    half = frame.abs().max().clamp(min=1e-3).item() * 1.15
    canvas = torch.zeros(size, size, 3, dtype=torch.uint8)
    layers = [(points, _FAKE)] if reference is None else [(frame, _REAL), (points, _FAKE)]
    for pts, colour in layers:
        pix = ((pts / half + 1) / 2 * (size - 1)).round().long()
        inside = ((pix >= 0) & (pix < size)).all(dim=1)
        x, y = pix[inside, 0], size - 1 - pix[inside, 1]  # y axis points up
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):  # 2x2 dots
            canvas[(y + dy).clamp(max=size - 1), (x + dx).clamp(max=size - 1)] = colour
    return canvas.permute(2, 0, 1).contiguous()


def save_png(image: Tensor, path, root=None) -> None:
    """uint8 (C, H, W) with C = 1 or 3 -> a PNG file (through Pillow), written as a new file
    renamed into place (runfolder.py: never through a link); `root`: the folder it must stay in."""
    from PIL import Image

    array = image.detach().cpu().permute(1, 2, 0).numpy()
    png = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(png, format="PNG")
    write_bytes(Path(path), png.getvalue(), root)


def picture(samples: Tensor, reference: Tensor | None = None, nrow: int | None = None) -> Tensor:
    """A grid for images (`nrow` images per row), a scatter plot for points."""
    return image_grid(samples, nrow) if samples.dim() == 4 else scatter(samples, reference)
