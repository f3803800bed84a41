"""Orthogonal regularisation, BigGAN's form (Brock et al. 2019): each weight matrix W of G (a
convolution's filters as rows, W = weight.flatten(1)) is pushed towards rows that are
orthogonal to each other, without constraining their norms:

    weight * sum_W || W W^T * (1 - I) ||_F^2

The paper applies it to G with weight 1e-4, which makes G amenable to the truncation trick
(`gan sample truncation=...`); `discriminator=true` adds the same to D's loss. Embeddings (the
class embedding) are left out, as in BigGAN's code; under spectral norm the penalty is on the
raw weights. Computed in fp32, outside the step's autocast, every update (it costs one small
matrix product per layer).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer


def matrices(net: nn.Module) -> list[Tensor]:
    """The weights the penalty takes: every parameter with 2 or more dimensions, except those of
    embedding layers (a class embedding's rows are not filters)."""
    skip = {id(p) for m in net.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return [p for p in net.parameters() if p.dim() >= 2 and id(p) not in skip]


def off_diagonal_gram(weights: list[Tensor]) -> Tensor:
    """sum_W ||W W^T * (1 - I)||_F^2: how far each W's rows are from being orthogonal."""
    terms = []
    for w in weights:
        rows = w.float().flatten(1)
        gram = rows @ rows.T
        terms.append(gram.square().sum() - gram.diagonal().square().sum())
    return torch.stack(terms).sum()


@register("stabilizer")
class Orthogonal(Stabilizer):
    def __init__(self, weight: float = 1e-4, generator: bool = True, discriminator: bool = False):
        self.weight, self.generator, self.discriminator = weight, generator, discriminator

    def _penalty(self, net: nn.Module, which: str) -> Tensor:
        penalty = off_diagonal_gram(matrices(net))
        self.report(f"Loss/orthogonal_{which}", penalty)
        return self.weight * penalty

    def g_penalty(self, gan, n: int, c: Tensor | None = None) -> Tensor | None:
        return self._penalty(gan.G, "G") if self.generator else None

    def d_penalty(self, gan, real: Tensor, fake: Tensor, c: Tensor | None = None,
                  scores: tuple[Tensor, Tensor] | None = None) -> Tensor | None:  # fmt: skip
        return self._penalty(gan.D, "D") if self.discriminator else None
