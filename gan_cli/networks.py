"""G and D from the config: the model's builder, then what stabilisers change about the
networks themselves (packing: D built for m samples at once; spectral norm). Training and
`gan sample` build through here, so a checkpoint's weights always fit what is rebuilt."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.generation import PART
from gan_cli.registry import build
from gan_cli.stabilizers.base import Stabilizer


def build_stabilizers(nodes: dict[str, Any]) -> list[Stabilizer]:
    """One object per entry of the config's `stabilizers` (only registered ones: registry.py).
    Fresh objects at every call, on purpose: a stabiliser binds to the networks it wraps and
    the GAN it is attached to (EMA's copy of G), so the size check on the meta device and the
    layout probe each build their own set, and the trained GAN gets one no probe touched."""
    out = []
    for name, node in nodes.items():
        stabilizer = build(node, "stabilizer", key=f"stabilizers.{name}")
        stabilizer.name = name
        out.append(stabilizer)
    return out


def build_networks(model: Any, stabilizers: list[Stabilizer], data_shape: tuple[int, ...],
                   num_classes: int = 0) -> tuple[nn.Module, nn.Module]:  # fmt: skip
    """`num_classes` > 0: a conditional model, built with `num_classes` (its builder's
    keyword); unconditional builders never see it."""
    labels = {"num_classes": num_classes} if num_classes else {}
    G, D = build(model, "model", data_shape=data_shape, **labels)
    d_shape = data_shape
    for s in stabilizers:
        d_shape = s.d_data_shape(d_shape)
    if d_shape != data_shape:  # D judges something else than one sample (packing)
        _, D = build(model, "model", data_shape=d_shape, **labels)
    for s in stabilizers:
        G, D = s.wrap(G, D)
    return G, D


def check_size(model: Any, stabilizers: list[Stabilizer], data_shape: tuple[int, ...],
               num_classes: int, limits: Any, origin: str,
               at_once: int = PART) -> None:  # fmt: skip
    """Build G and D on the meta device (no memory, no random numbers drawn) and refuse, in one
    line, networks whose parameters and buffers (an MLP's Fourier projections are a buffer)
    are over `limits.params_m` million, noise for `at_once` samples over `limits.data_gb`
    (a latent_dim of 10**9 fits the parameter bound in a narrow G), or settings the builder
    rejects. `origin`: where the settings come from, for the message ("model", a checkpoint)."""
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            G, D = build_networks(model, stabilizers, data_shape, num_classes)
    except (TypeError, ValueError, RuntimeError, OverflowError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ConfigError(f"{origin}: the model cannot be built from its settings ({first})"
                          ) from None  # fmt: skip
    tensors = [t for net in (G, D) for t in (*net.parameters(), *net.buffers())]
    millions = sum(t.numel() for t in tensors) / 1e6
    if millions > limits.params_m:
        raise ConfigError(f"{origin}: G and D would have {millions:,.0f}M parameters and "
                          f"buffers, over limits.params_m={limits.params_m:g}; raise it to "
                          "allow that")  # fmt: skip
    noise = f"the noise of {at_once:,} samples ({G.latent_dim:,} values each)"
    limits.check_data(4 * at_once * G.latent_dim, origin, noise)
