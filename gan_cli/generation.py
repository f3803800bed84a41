"""Calling a generator: its samples of latents (with labels, for a conditional one), the
truncation trick as G's class declares it, and the labels of a sample grid. Free of the rest of
gan-cli, so that the metrics, the loop and `gan sample` all call G the same way without
depending on how networks are built."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_cli.errors import ConfigError


def generate(G: nn.Module, z: Tensor, c: Tensor | None = None, **options) -> Tensor:
    """G's samples of latents z (and labels c, for a conditional G)."""
    return G(z, **options) if c is None else G(z, c, **options)


PART = 500  # samples per forward pass of G when many are made: bounds its activations


def in_parts(make, *inputs: Tensor | None) -> Tensor:
    """`make(*parts)` on PART rows of each input at a time (None stays None), the results
    gathered on the CPU as float32: only one part's activations are held at once, however
    many samples are asked for."""
    split = [x.split(PART) if x is not None else None for x in inputs]
    count = len(next(s for s in split if s is not None))
    rows = zip(*[s if s is not None else [None] * count for s in split], strict=True)
    return torch.cat([make(*row).float().cpu() for row in rows])


def generate_in_parts(G: nn.Module, z: Tensor, c: Tensor | None = None, **options) -> Tensor:
    """G's samples of z (and c), PART at a time (in_parts)."""
    return in_parts(lambda zs, cs: generate(G, zs, cs, **options), z, c)


def truncation_space(G: nn.Module) -> str | None:
    """Where G's class says its samples may be truncated (`truncates`): "w", towards the mean w
    through `G(z, c, truncation=psi)` (StyleGAN2); "z", latents redrawn within a threshold
    (BigGAN); None: not at all."""
    return getattr(type(G), "truncates", None)


# BigGAN's smallest threshold is 0.04; below 0.01 redrawing would take thousands of rounds
SMALLEST_THRESHOLD = 0.01


def truncation_options(G: nn.Module, truncation: float | None) -> tuple[float | None, dict]:
    """`truncation=` as G's class declares it: (a threshold for z, keyword arguments of G);
    refused in one line for a G that cannot be truncated."""
    space = truncation_space(G)
    if truncation is None:
        return None, {}
    if space is None:
        raise ConfigError(f"truncation={truncation:g}: this checkpoint's generator cannot be "
                          "truncated (stylegan2 truncates in w, biggan in z)")  # fmt: skip
    if space == "z":
        if truncation < SMALLEST_THRESHOLD:
            raise ConfigError(f"truncation={truncation:g}: a threshold on |z| must be >= "
                              f"{SMALLEST_THRESHOLD} (BigGAN's smallest: 0.04)")  # fmt: skip
        return truncation, {}
    return None, {"truncation": truncation}


def latents(n: int, dim: int, generator: torch.Generator, threshold: float | None = None) -> Tensor:
    """n latents from `generator`; with a threshold, truncated by resampling (BigGAN)."""
    if threshold is None:
        return torch.randn(n, dim, generator=generator)
    return truncated_normal(n, dim, threshold, generator)


def truncated_normal(n: int, dim: int, threshold: float,
                     generator: torch.Generator) -> Tensor:  # fmt: skip
    """N(0, I) latents with each coordinate beyond +-threshold redrawn until it falls within
    (BigGAN's truncation trick). Coordinates already within keep their values: one seed at a
    smaller threshold gives related, more typical samples."""
    z = torch.randn(n, dim, generator=generator)
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z


def grid_count(num_classes: int, n: int) -> int:
    """How many samples a grid of about n has: n, or with a row per class at least one each."""
    return num_classes * max(1, n // num_classes) if num_classes else n


def grid_labels(num_classes: int, n: int, device: torch.device) -> tuple[Tensor | None, int | None]:
    """Labels for a grid of about n samples with one row per class: (labels, images per row);
    (None, None) for an unconditional model."""
    if not num_classes:
        return None, None
    per_class = grid_count(num_classes, n) // num_classes
    return torch.arange(num_classes, device=device).repeat_interleave(per_class), per_class
