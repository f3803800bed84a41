"""Scalars reported during training: summed on the device, averaged when they leave it.

Losses, stabilisers and the step report whatever they compute (`report("Loss/r1", value)`);
nothing keeps a fixed list of names. Values stay on the device until `flush()` at the log
interval, which is the only host synchronisation of the loop. Each name is averaged over the
times it was reported (a lazy regulariser reports every k-th step, D every D step).
"""

from __future__ import annotations

import torch
from torch import Tensor


class Stats:
    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}
        self._order: dict[str, None] = {}  # names in the order first reported: stable logs

    def report(self, name: str, value: Tensor) -> None:
        value = value.detach().float().mean()
        if name in self._sums:
            self._sums[name] += value
            self._counts[name] += 1
        else:
            self._sums[name], self._counts[name] = value.clone(), 1
            self._order.setdefault(name)

    def flush(self) -> dict[str, float]:
        """The mean of each name since the last flush (one transfer for all of them)."""
        if not self._sums:
            return {}
        names = [n for n in self._order if n in self._sums]
        means = torch.stack([self._sums[n] / self._counts[n] for n in names]).tolist()
        self._sums.clear()
        self._counts.clear()
        return dict(zip(names, means, strict=True))
