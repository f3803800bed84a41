"""The SNGAN ResNet (Miyato et al. 2018, appendix B; CIFAR-10 32 px, STL 48 px), with an
optional self-attention block (SAGAN, Zhang et al. 2019). Also 8 px (one up-sampling block;
D's optimised block goes to 4x4 and the two last blocks stay there): the digits' own size.

G: z -> linear -> base x base (4, or 6 for 48 px), up-sampling residual blocks (BN, ReLU,
   nearest 2x, conv 3x3, BN, ReLU, conv 3x3; shortcut: 2x, conv 1x1), then BN, ReLU,
   conv 3x3, tanh.
D: an optimised first block (conv, ReLU, conv, avg-pool; shortcut avg-pool, conv 1x1),
   down-sampling residual blocks to 8x8 (6x6 at 48 px), two more blocks there, ReLU, global
   sum pooling and a linear head (plus a projection for a conditional D).
Widths are constant per network (`g_width`, `d_width`; the paper's CIFAR-10 setting: 256 and
128). Spectral norm comes from the `spectral_norm` stabiliser, not from the model; a
conditional G gets class-conditional batch norm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_cli.config.sizes import RESNET_RESOLUTIONS, attention_sizes
from gan_cli.models.conditional import NeedsLabels, Projection, g_norm, run_layers
from gan_cli.registry import register

RESOLUTIONS = RESNET_RESOLUTIONS


def _base(resolution: int) -> int:
    if resolution not in RESOLUTIONS:
        raise ValueError(
            f"the ResNet builds {', '.join(map(str, RESOLUTIONS))} px, not {resolution}"
        )
    return 6 if resolution == 48 else 4


def _init(module: nn.Module) -> None:
    """Xavier-uniform, gain sqrt(2) for the residual convolutions (as the SNGAN code)."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        gain = 1.0 if module.weight.shape[-1] == 1 or isinstance(module, nn.Linear) else 2**0.5
        nn.init.xavier_uniform_(module.weight, gain)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class SelfAttention(nn.Module):
    """SAGAN's non-local block (BigGAN's version): attention over all positions, with
    2x2 max-pooled keys and values; gamma starts at 0, so the block starts as the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.query = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.key = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.value = nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.out = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2)  # (n, c/8, hw)
        k = F.max_pool2d(self.key(x), 2).flatten(2)  # (n, c/8, hw/4)
        v = F.max_pool2d(self.value(x), 2).flatten(2)  # (n, c/2, hw/4)
        attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (n, hw, hw/4)
        o = (v @ attention.transpose(1, 2)).view(n, c // 2, h, w)
        return x + self.gamma * self.out(o)


class UpBlock(NeedsLabels):
    def __init__(self, c_in: int, c_out: int, num_classes: int):
        super().__init__()
        self.norm1, self.norm2 = g_norm(c_in, num_classes), g_norm(c_out, num_classes)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:
        h = F.interpolate(F.relu(run_layers([self.norm1], x, c)), scale_factor=2.0)
        h = self.conv2(F.relu(run_layers([self.norm2], self.conv1(h), c)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0))


class DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if down or c_in != c_out else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(x if self.first else F.relu(x))  # the optimised block: no ReLU first
        h = self.conv2(F.relu(h))
        s = x
        if self.first:  # pool, then 1x1 (the optimised block's order)
            s = self.shortcut(F.avg_pool2d(s, 2))
        elif self.shortcut is not None:
            s = self.shortcut(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return (F.avg_pool2d(h, 2) if self.down else h) + s


class Generator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, resolution: int, width: int,
                 attention: int, num_classes: int):  # fmt: skip
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.base, self.width = _base(resolution), width
        self.linear = nn.Linear(latent_dim, self.base * self.base * width)
        blocks: list[nn.Module] = []
        size = self.base
        for _ in range(int(math.log2(resolution // self.base))):
            blocks.append(UpBlock(width, width, num_classes))
            size *= 2
            if size == attention:
                blocks.append(SelfAttention(width))
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                 nn.Conv2d(width, channels, 3, padding=1), nn.Tanh())  # fmt: skip

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        x = self.linear(z).view(len(z), self.width, self.base, self.base)
        return self.out(run_layers(self.blocks, x, c))


class Discriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int, attention: int,
                 num_classes: int):  # fmt: skip
        super().__init__()
        stop = 6 if resolution == 48 else 8  # down-sample to here, then two more blocks
        blocks: list[nn.Module] = [DownBlock(channels, width, down=True, first=True)]
        size = resolution // 2
        if size == attention:
            blocks.append(SelfAttention(width))
        while size > stop:
            blocks.append(DownBlock(width, width, down=True))
            size //= 2
            if size == attention:
                blocks.append(SelfAttention(width))
        blocks += [DownBlock(width, width, down=False), DownBlock(width, width, down=False)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(width, 1)
        self.projection = Projection(width, num_classes) if num_classes else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        out = self.linear(h).flatten()
        return out if self.projection is None else out + self.projection(h, c)


@register("model")
def build(data_shape: tuple[int, ...], latent_dim: int = 128, g_width: int = 64,
          d_width: int = 64, attention: int = 0, conditional: bool = False,
          num_classes: int = 0) -> tuple[Generator, Discriminator]:  # fmt: skip
    """`attention`: the resolution of a self-attention block in G and D (0: none)."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ValueError(f"the ResNet needs square images (C, H, W), got {data_shape}")
    channels, resolution = data_shape[0], data_shape[1]
    if attention and attention not in attention_sizes(resolution):
        raise ValueError(f"self-attention at {resolution} px sits at 0 (none) or one of "
                         f"{attention_sizes(resolution)}, not {attention}")  # fmt: skip
    G = Generator(latent_dim, channels, resolution, g_width, attention, num_classes)
    D = Discriminator(channels, resolution, d_width, attention, num_classes)
    G.apply(_init)
    D.apply(_init)
    return G, D
