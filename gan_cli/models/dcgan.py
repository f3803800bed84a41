"""DCGAN (Radford et al. 2016) for square images of 8, 16, 32 or 64 pixels.

G: z -> 4x4 by a transposed convolution, then doubling the resolution per layer
   (ConvTranspose 4x4 stride 2, BatchNorm, ReLU) with halving widths, Tanh at the end.
D: the mirror image: strided 4x4 convolutions, LeakyReLU(0.2), a norm on every layer but the
   first, and a last 4x4 convolution to one raw score per image (no sigmoid: the loss owns it).
`extra_layers` (the DCGAN reference code's n_extra_layers, as in WGAN's): 3x3 stride-1
convolutions with a norm and the activation, in G before its last layer and in D after its
first. Small images need them: at 8 px the plain D is one strided convolution and the final
4x4 one, too shallow to judge strokes (docs/models.md).
Weights are drawn from N(0, 0.02) as in the paper. Conditional (`num_classes`): G's batch norms
become class-conditional, D gets a projection on its last 4x4 features (conditional.py).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from gan_cli.config.sizes import DCGAN_RESOLUTIONS
from gan_cli.models.common import d_norm_layer, init_dcgan_weights
from gan_cli.models.conditional import Projection, g_norm, run_layers
from gan_cli.registry import register


def _layers_up(resolution: int) -> int:
    """Number of stride-2 layers between 4x4 and the output resolution."""
    if resolution not in DCGAN_RESOLUTIONS:
        raise ValueError(f"DCGAN builds 8, 16, 32 or 64 pixel images, not {resolution}")
    return int(math.log2(resolution)) - 2


class Generator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, resolution: int, width: int = 64,
                 num_classes: int = 0, extra_layers: int = 0):  # fmt: skip
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        n = _layers_up(resolution)
        c = width * 2 ** (n - 1)  # widest at 4x4
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, c, 4, 1, 0, bias=False),
            g_norm(c, num_classes),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                g_norm(c // 2, num_classes),
                nn.ReLU(True),
            ]
            c //= 2
        for _ in range(extra_layers):
            layers += [nn.Conv2d(c, c, 3, 1, 1, bias=False), g_norm(c, num_classes), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return run_layers(self.net, z.view(z.shape[0], -1, 1, 1), c)


class Discriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int = 64, norm: str = "batch",
                 num_classes: int = 0, extra_layers: int = 0):  # fmt: skip
        super().__init__()
        n = _layers_up(resolution)
        c = width
        layers: list[nn.Module] = [
            nn.Conv2d(channels, c, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(extra_layers):  # a bias where no norm follows (norm=none: R1's D)
            conv = nn.Conv2d(c, c, 3, 1, 1, bias=norm == "none")
            layers += [conv, d_norm_layer(norm, c, conv=True), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(n - 1):
            layers += [
                nn.Conv2d(c, c * 2, 4, 2, 1, bias=False),
                d_norm_layer(norm, c * 2, conv=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            c *= 2
        layers.append(nn.Conv2d(c, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.projection = Projection(c * 16, num_classes) if num_classes else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        if self.projection is None:
            return self.net(x).flatten()
        h = self.net[:-1](x)  # the last 4x4 features; the last conv is a linear map of them
        return self.net[-1](h).flatten() + self.projection(h, c)


@register("model")
def build(
    data_shape: tuple[int, ...],
    latent_dim: int = 100,
    g_width: int = 64,
    d_width: int = 64,
    d_norm: str = "batch",
    conditional: bool = False,
    num_classes: int = 0,
    extra_layers: int = 0,
) -> tuple[Generator, Discriminator]:
    """`conditional` (the config's switch) takes effect with `num_classes` from the data."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ValueError(f"DCGAN needs square images (C, H, W), got data of shape {data_shape}")
    channels, resolution = data_shape[0], data_shape[1]
    G = Generator(latent_dim, channels, resolution, g_width, num_classes, extra_layers)
    D = Discriminator(channels, resolution, d_width, d_norm, num_classes, extra_layers)
    G.apply(init_dcgan_weights)
    D.apply(init_dcgan_weights)
    return G, D
