"""Spectral normalisation (Miyato et al. 2018): every convolution, linear and embedding layer of
D (and of G with generator=true) has its weight divided by its largest singular value, estimated
by power iteration at each training forward pass. torch's own parametrisation does the work, so
it applies to any model without the model knowing."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_cli.registry import register
from gan_cli.stabilizers.base import Stabilizer

LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)


def normalise(net: nn.Module, power_iterations: int) -> nn.Module:
    for module in list(net.modules()):
        if isinstance(module, LAYERS) and getattr(module, "weight", None) is not None:
            spectral_norm(module, n_power_iterations=power_iterations)
    return net


@register("stabilizer")
class SpectralNorm(Stabilizer):
    def __init__(self, generator: bool = False, power_iterations: int = 1):
        self.generator, self.power_iterations = generator, power_iterations

    def wrap(self, G: nn.Module, D: nn.Module) -> tuple[nn.Module, nn.Module]:
        if self.generator:
            G = normalise(G, self.power_iterations)
        return G, normalise(D, self.power_iterations)
