"""The pieces that make a model class-conditional, for any architecture.

- G: conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018): batch norm without
  its own affine parameters, followed by a per-class scale (initialised to 1) and shift (0).
- D: the projection discriminator (Miyato & Koyama 2018): to D's unconditional output on its
  last features h adds <embed(c), h>, the inner product with the class's embedding.
"""

from __future__ import annotations

from torch import Tensor, nn


class ConditionalBatchNorm2d(nn.Module):
    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.scale = nn.Embedding(num_classes, channels)
        self.shift = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.norm(x) * self.scale(c)[:, :, None, None] + self.shift(c)[:, :, None, None]


def g_norm(channels: int, num_classes: int) -> nn.Module:
    """Batch norm for G: conditional when there are classes."""
    if num_classes:
        return ConditionalBatchNorm2d(channels, num_classes)
    return nn.BatchNorm2d(channels)


def run_layers(layers, x: Tensor, c: Tensor | None) -> Tensor:
    """Apply `layers` in order, handing the labels to those that take them."""
    for layer in layers:
        x = layer(x, c) if isinstance(layer, ConditionalBatchNorm2d | NeedsLabels) else layer(x)
    return x


class NeedsLabels(nn.Module):
    """Marker base class: a block whose forward is (x, c)."""


class Projection(nn.Module):
    """<embed(c), h> for features h of size `features`."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        nn.init.xavier_uniform_(self.embed.weight)

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        return (self.embed(c) * h.flatten(1)).sum(dim=1)
