"""The stabiliser interface: hooks into the networks and the training step (gan.py).

Building (networks.py, also when sampling a checkpoint):
    d_data_shape(shape)   the shape D is built for (packing: m samples stacked)
    wrap(G, D)            change the networks themselves (spectral norm)
Training (gan.py), through the step's one seam run_G / run_D:
    attach(gan)           once, when the GAN is assembled (EMA makes its copy of G)
    d_input(x)            what D sees, inside run_D, in `d_input_order` (augment, then pack)
    d_penalty(gan, real, fake, c, scores)   a term added to D's loss (gradient penalties,
                          consistency); `scores`: D's (real, generated) scores of this batch,
                          with their graph (None in a lazy step); with `every` > 1 it runs
                          lazily, every k-th D update, weighted by k
    g_penalty(gan, n, c)  a term added to G's loss, with `g_every` likewise (path length)
    g_scores(scores)      D's scores of G's samples that G's loss sees (top-k keeps the best)
    observe_real(scores)  D's scores of each real batch (ADA's overfitting heuristic)
    after_d_step(D)       after each D update (weight clipping)
    after_g_step(G)       after each G update (EMA)
    sampler               a generator to sample and evaluate instead of G (EMA), or None
    state_dict() / load_state_dict()   whatever must survive a resume, bit-exact
`report(name, tensor)` sends a scalar to TensorBoard and metrics.jsonl (stats.py).
A new stabiliser: a subclass in its own file with `@register("stabilizer")`, a YAML file in
conf/stabilizers/, and its schema in `<name>_schema.py` beside it (docs/extending.md).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class Stabilizer:
    name = ""  # its key under `stabilizers`, set when built
    d_input_order = 0  # order of d_input among stabilisers (augmentation before packing)
    every = 1  # d_penalty interval in D updates (lazy regularisation when > 1)
    g_every = 1  # g_penalty interval in G updates
    samples_per_score = 1  # samples behind each of D's scores (packing: m)
    sampler: nn.Module | None = None

    def report(self, name: str, value: Tensor) -> None:
        """Replaced by the trainer with its statistics collector."""

    def d_data_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def wrap(self, G: nn.Module, D: nn.Module) -> tuple[nn.Module, nn.Module]:
        return G, D

    def attach(self, gan: Any) -> None:
        """Called once with the assembled GAN (gan.py)."""

    def d_input(self, x: Tensor) -> Tensor:
        return x

    def d_penalty(self, gan: Any, real: Tensor, fake: Tensor, c: Tensor | None = None,
                  scores: tuple[Tensor, Tensor] | None = None) -> Tensor | None:  # fmt: skip
        return None

    def g_penalty(self, gan: Any, n: int, c: Tensor | None = None) -> Tensor | None:
        return None

    def g_scores(self, scores: Tensor) -> Tensor:
        return scores

    def observe_real(self, scores: Tensor) -> None:
        """D's raw scores of a real batch, after each D forward pass of the main D phase."""

    def after_d_step(self, D: nn.Module) -> None:
        """After each D optimiser step."""

    def after_g_step(self, G: nn.Module) -> None:
        """After each G optimiser step."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict() returned."""


def input_gradient(D, x: Tensor, c: Tensor | None = None) -> Tensor:
    """The gradient of D's scores w.r.t. its input x, one row per score (a packed D's group of
    samples is one input), kept differentiable for the penalty's own backward pass. In fp32
    outside autocast: the double backward is small and fp16 would need its own loss scaling."""
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(device_type=x.device.type, enabled=False):
        scores = D(x) if c is None else D(x, c)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.reshape(len(scores), -1)
