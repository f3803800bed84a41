"""Pieces shared by the architectures."""

from __future__ import annotations

from torch import nn


def has_mapping(G: nn.Module) -> bool:
    """Does G's class declare a mapping network z -> w (`has_mapping = True`, with `ws(z, c,
    truncation)` and `synthesis(ws)`)? What walks in w need (StyleGAN2)."""
    return bool(getattr(type(G), "has_mapping", False))


def d_norm_layer(kind: str, channels: int, conv: bool) -> nn.Module:
    """The normalisation of D's hidden layers: batch, layer (per sample) or none.

    Layer norm for feature maps is GroupNorm with one group: it normalises each sample over
    (C, H, W), so it keeps the per-sample gradient penalty of WGAN-GP meaningful.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels) if conv else nn.BatchNorm1d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels) if conv else nn.LayerNorm(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}: batch, layer or none")


def init_dcgan_weights(m: nn.Module) -> None:
    """N(0, 0.02) for convolutions, N(1, 0.02) for norm scales (Radford et al. 2016)."""
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
