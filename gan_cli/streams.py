"""Two pieces of a training step's state that are not networks: the noise G is fed, and the
learning-rate schedule. Both are set from a seed and the step alone, so a resume is exact."""

from __future__ import annotations

import logging

import torch
from torch import Tensor

log = logging.getLogger(__name__)


class NoiseStream:
    """G's noise for the global batch, drawn from one generator that every rank seeds alike;
    each rank takes its slice (as the data: source.py), so N ranks draw what one process with
    the same global batch would."""

    def __init__(self, seed: int, latent_dim: int, device: torch.device, rank: int = 0,
                 world_size: int = 1):  # fmt: skip
        self.seed, self.latent_dim, self.device = seed, latent_dim, device
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator(device).manual_seed(seed)

    def __call__(self, n: int) -> Tensor:
        """This rank's n of the global batch's noise (n x world size, drawn alike everywhere)."""
        z = torch.randn(n * self.world_size, self.latent_dim, device=self.device,
                        generator=self.generator)  # fmt: skip
        return z[self.rank * n : (self.rank + 1) * n] if self.world_size > 1 else z

    def state_dict(self) -> dict:
        return {"noise_rng": self.generator.get_state(),
                "noise_rng_device": self.generator.device.type}  # fmt: skip

    def load_state_dict(self, state: dict, step: int) -> None:
        """The stream continues exactly on the same kind of device. CPU and CUDA generators are
        different algorithms (Mersenne Twister, Philox): a run resumed on the other kind draws
        its noise afresh, from a seed of the step (weights, optimisers, data order and the other
        streams continue exactly)."""
        saved, here = state["noise_rng"], self.generator.get_state()
        saved_on = state.get("noise_rng_device", self.generator.device.type)
        if saved_on == self.generator.device.type and saved.numel() == here.numel():
            self.generator.set_state(saved)
            return
        log.warning("resuming a checkpoint trained on %s on %s: the noise stream restarts "
                    "(its generator is another algorithm there); the rest continues exactly",
                    saved_on, self.generator.device.type)  # fmt: skip
        self.generator.manual_seed(self.seed * 1_000_003 + step)


class LRSchedule:
    """The learning rates at a step of the run: constant (`decay=none`), or falling linearly
    to 0 over the rest of the run after `decay_start` (a share of the steps)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer], decay: str = "none",
                 decay_start: float = 0.0):  # fmt: skip
        self.optimizers, self.decay, self.decay_start = optimizers, decay, decay_start
        self.base = [opt.param_groups[0]["lr"] for opt in optimizers]

    def factor(self, step: int, total: int) -> float:
        if self.decay != "linear":
            return 1.0
        begin = self.decay_start * total
        return min(1.0, max(0.0, (total - step) / max(total - begin, 1.0)))

    def set(self, step: int, total: int) -> None:
        factor = self.factor(step, total)
        for opt, base in zip(self.optimizers, self.base, strict=True):
            for group in opt.param_groups:
                group["lr"] = base * factor
