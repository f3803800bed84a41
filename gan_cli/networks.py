"""G and D from the config: the model's builder, then what stabilisers change about the
networks themselves (packing: D built for m samples at once; spectral norm). Training and
`gan sample` build through here, so a checkpoint's weights always fit what is rebuilt."""

from __future__ import annotations

from typing import Any

from torch import nn

from gan_cli.registry import build
from gan_cli.stabilizers.base import Stabilizer


def build_stabilizers(nodes: dict[str, Any]) -> list[Stabilizer]:
    """One object per entry of the config's `stabilizers` (only registered ones: registry.py)."""
    out = []
    for name, node in nodes.items():
        stabilizer = build(node, "stabilizer", key=f"stabilizers.{name}")
        stabilizer.name = name
        out.append(stabilizer)
    return out


def build_networks(model: Any, stabilizers: list[Stabilizer],
                   data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:  # fmt: skip
    G, D = build(model, "model", data_shape=data_shape)
    d_shape = data_shape
    for s in stabilizers:
        d_shape = s.d_data_shape(d_shape)
    if d_shape != data_shape:  # D judges something else than one sample (packing)
        _, D = build(model, "model", data_shape=d_shape)
    for s in stabilizers:
        G, D = s.wrap(G, D)
    return G, D
