"""Top-k training (Sinha et al. 2020): G learns only from the k of its samples that D scores
as most realistic; the rest of the batch gives G no gradient.

The paper's reason, measured on a mixture of Gaussians: the gradient of a sample D finds
unrealistic often points away from its nearest mode (towards an average of modes), so the
worst-scored samples pull G the wrong way. k starts at the whole batch and shrinks by `gamma`
every `period` images G has made (the paper: once per epoch of the data), never below `nu` of
the batch. D's update is unchanged. With packing a score stands for a pack, so whole packs are
kept; with several ranks or micro-batches each part keeps the top k of its own samples.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer


def top_k_fraction(images_seen: int, gamma: float, nu: float, period: int) -> float:
    """The share of G's batch kept after `images_seen` generated images."""
    return max(nu, gamma ** (images_seen // period))


@register("stabilizer")
class TopK(Stabilizer):
    def __init__(self, gamma: float = 0.99, nu: float = 0.5, period: int = 50_000):
        self.gamma, self.nu, self.period = gamma, nu, period
        self.updates = 0

    def attach(self, gan) -> None:
        self.batch = gan.batch_size

    def g_scores(self, scores: Tensor) -> Tensor:
        fraction = top_k_fraction(self.updates * self.batch, self.gamma, self.nu, self.period)
        k = max(1, math.ceil(fraction * len(scores)))
        if k < len(scores):
            scores = torch.topk(scores, k, sorted=False).values
        return scores

    def after_g_step(self, G) -> None:
        self.updates += 1

    def state_dict(self) -> dict:
        return {"updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
