"""A compact BigGAN (Brock et al. 2019), the SNGAN ResNet's successor for class-conditional
images, with what makes it BigGAN in G:
- hierarchical latents: z is split in chunks, one for G's input layer and one for each block;
- conditional batch norm whose gain (1 + .) and bias are linear in [z chunk, shared(c)], one
  class embedding shared by all blocks (unconditional: in the z chunk alone);
- orthogonal initialisation of every layer (as the paper's code);
- self-attention (SAGAN) at `attention` px, in G and D;
- the truncation trick by resampling (`gan sample truncation=0.5`: every coordinate of z
  beyond +-0.5 redrawn until it falls within; generation.py).
D is the SNGAN ResNet's D with a projection head (resnet.py), orthogonally initialised. The
paper's other parts are switches of gan-cli: spectral norm in G and D
(`stabilizers=[spectral_norm] stabilizers.spectral_norm.generator=true`), EMA of G (`ema`),
orthogonal regularisation (`orthogonal`), hinge loss (`loss=hinge`), 2 D steps and Adam (0,
0.999) with lr_d = 4 lr_g (`optim.*`). Widths are constant per network here (`g_width`,
`d_width`), sized for a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_cli.models.biggan_schema import BIGGAN_RESOLUTIONS, g_blocks
from gan_cli.models.resnet import Discriminator, SelfAttention
from gan_cli.registry import register


class ConditionalNorm(nn.Module):
    """Batch norm without its own affine parameters; gain 1 + W_g y and bias W_b y."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels, bias=False)
        self.bias = nn.Linear(cond_dim, channels, bias=False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        gain, bias = 1 + self.gain(y), self.bias(y)
        return self.norm(x) * gain[:, :, None, None] + bias[:, :, None, None]


class GBlock(nn.Module):
    """BN, ReLU, nearest 2x, conv 3x3, BN, ReLU, conv 3x3; shortcut: 2x, conv 1x1."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int):
        super().__init__()
        self.norm1, self.norm2 = ConditionalNorm(c_in, cond_dim), ConditionalNorm(c_out, cond_dim)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.norm1(x, y)), scale_factor=2.0)
        h = self.conv2(F.relu(self.norm2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0))


class Generator(nn.Module):
    truncates = "z"  # sampling may redraw z within a threshold (generation.py)

    def __init__(self, latent_dim: int, channels: int, resolution: int, width: int,
                 shared_dim: int, attention: int, num_classes: int):  # fmt: skip
        super().__init__()
        self.latent_dim, self.num_classes, self.width = latent_dim, num_classes, width
        blocks = g_blocks(resolution)
        chunk = latent_dim // (blocks + 1)  # the remainder goes to the input layer's chunk
        self.chunks = [latent_dim - blocks * chunk] + [chunk] * blocks
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes else None
        cond_dim = chunk + (shared_dim if num_classes else 0)
        self.linear = nn.Linear(self.chunks[0], 4 * 4 * width)
        layers: list[nn.Module] = []
        for i in range(blocks):
            layers.append(GBlock(width, width, cond_dim))
            if 4 * 2 ** (i + 1) == attention:
                layers.append(SelfAttention(width))
        self.blocks = nn.ModuleList(layers)
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                 nn.Conv2d(width, channels, 3, padding=1), nn.Tanh())  # fmt: skip

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        first, *rest = z.split(self.chunks, dim=1)
        shared = self.shared(c) if self.shared is not None else None
        x = self.linear(first).view(len(z), self.width, 4, 4)
        for block in self.blocks:
            if isinstance(block, GBlock):
                y = rest.pop(0)
                x = block(x, y if shared is None else torch.cat([y, shared], dim=1))
            else:
                x = block(x)
        return self.out(x)


def orthogonal_init(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.orthogonal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


@register("model")
def build(data_shape: tuple[int, ...], latent_dim: int = 120, g_width: int = 64,
          d_width: int = 64, shared_dim: int = 128, attention: int = 0, conditional: bool = False,
          num_classes: int = 0) -> tuple[Generator, Discriminator]:  # fmt: skip
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ValueError(f"BigGAN needs square images (C, H, W), got {data_shape}")
    channels, resolution = data_shape[0], data_shape[1]
    if resolution not in BIGGAN_RESOLUTIONS:
        raise ValueError(f"BigGAN builds {', '.join(map(str, BIGGAN_RESOLUTIONS))} px, "
                         f"not {resolution}")  # fmt: skip
    if latent_dim < g_blocks(resolution) + 1:
        raise ValueError(f"latent_dim={latent_dim}: too few for a chunk per G block")
    G = Generator(latent_dim, channels, resolution, g_width, shared_dim, attention, num_classes)
    D = Discriminator(channels, resolution, d_width, attention, num_classes)
    G.apply(orthogonal_init)
    D.apply(orthogonal_init)
    return G, D
