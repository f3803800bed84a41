"""A compact StyleGAN2 (Karras et al. 2020) in plain PyTorch: no custom CUDA/C++ ops.

G = mapping + synthesis:
- mapping: z (normalised to unit second moment; with a class embedding alongside for a
  conditional G) -> `mapping_depth` fully connected layers with a 0.01 learning-rate multiplier
  -> w, one per synthesis layer (two different ones from a crossover point with probability
  `style_mixing` during training); it tracks the mean w for the truncation trick;
- synthesis: a learned constant 4x4 input, then per resolution two 3x3 convolutions modulated by
  w and demodulated, per-pixel noise with a learned strength (fixed noise in eval mode, so
  samples are reproducible), bias and leaky ReLU; a skip architecture sums every resolution's
  toRGB (a 1x1 modulated conv without demodulation) into the up-sampled image.
D: fromRGB at full resolution, residual blocks halving the size (skip and main paths summed and
divided by sqrt 2), then minibatch standard deviation, a 3x3 conv and two linear layers (a
projection onto a class embedding for a conditional D, as StyleGAN2-ADA).
Every layer uses the equalised learning rate (weights N(0, 1), scaled at run time by
1/sqrt(fan_in)). Simplifications, said plainly: bilinear up-sampling and average pooling where
the paper filters with [1, 3, 3, 1], no activation clamping. Path-length regularisation is the
`path_length` stabiliser; lazy R1 is `r1` with `every`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_cli.config.sizes import STYLEGAN2_RESOLUTIONS
from gan_cli.registry import register

RESOLUTIONS = STYLEGAN2_RESOLUTIONS
SQRT2 = math.sqrt(2.0)


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * SQRT2  # gain sqrt(2): keeps the signal's magnitude


def normalize_2nd_moment(x: Tensor) -> Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


class EqualLinear(nn.Module):
    def __init__(self, n_in: int, n_out: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False):  # fmt: skip
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((n_out,), float(bias_init)))
        self.weight_gain, self.lr_mul, self.activation = (
            lr_mul / math.sqrt(n_in),
            lr_mul,
            activation,
        )

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return lrelu(x) if self.activation else x


class EqualConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool = True,
                 activation: bool = True, down: bool = False):  # fmt: skip
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.gain, self.activation, self.down = 1 / math.sqrt(c_in * kernel**2), activation, down

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.weight.shape[-1] // 2)
        x = F.avg_pool2d(x, 2) if self.down else x
        return lrelu(x) if self.activation else x


class ModulatedConv2d(nn.Module):
    """Each sample's weights scaled by its style s = affine(w) on the input channels, then
    (`demodulate`) each output channel normalised to unit norm. Computed as StyleGAN2 does in
    training ("non-fused"): the input scaled by s, one ordinary convolution with the shared
    weights, the output scaled by the demodulation coefficients; the same numbers as a grouped
    convolution with per-sample weights, and several times faster on a CPU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, demodulate: bool = True,
                 up: bool = False):  # fmt: skip
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.gain = 1 / math.sqrt(c_in * kernel**2)
        self.demodulate, self.up = demodulate, up

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)  # (n, c_in)
        weight = self.weight * self.gain
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = F.conv2d(x * styles[:, :, None, None].to(x.dtype), weight.to(x.dtype),
                     padding=weight.shape[-1] // 2)  # fmt: skip
        if self.demodulate:  # 1 / |w_o * s| for each sample's output channel o, where
            # |w_o * s|^2 = sum_i s_i^2 sum_k w_oik^2: one (n, c_in) x (c_in, c_out) product
            # instead of each sample's (c_out, c_in, k, k) weights (40 % of a CPU step at 8 px)
            norms = styles.square() @ weight.square().sum(dim=(2, 3)).T
            x = x * (norms + 1e-8).rsqrt()[:, :, None, None].to(x.dtype)
        return x


class SynthesisLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = self.conv(x, w)
        if self.training:  # fresh noise per pixel; in eval mode the fixed one
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const.to(x.dtype)
        return lrelu(x + noise * self.noise_strength + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    def __init__(self, c_in: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(c_in, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


def channels_at(res: int, base: int, cap: int) -> int:
    return min(base // res, cap)


class Synthesis(nn.Module):
    def __init__(self, w_dim: int, channels: int, resolution: int, base: int, cap: int):
        super().__init__()
        sizes = [2**i for i in range(2, int(math.log2(resolution)) + 1)]  # 4, 8, ..., res
        c4 = channels_at(4, base, cap)
        self.const = nn.Parameter(torch.randn(c4, 4, 4))
        layers, rgbs = [SynthesisLayer(c4, c4, w_dim, 4)], [ToRGB(c4, channels, w_dim)]
        for size in sizes[1:]:
            c_prev, c = channels_at(size // 2, base, cap), channels_at(size, base, cap)
            layers += [SynthesisLayer(c_prev, c, w_dim, size, up=True),
                       SynthesisLayer(c, c, w_dim, size)]  # fmt: skip
            rgbs.append(ToRGB(c, channels, w_dim))
        self.layers, self.rgbs = nn.ModuleList(layers), nn.ModuleList(rgbs)
        self.num_ws = len(layers) + 1  # a w per conv, and the last toRGB's

    def forward(self, ws: Tensor) -> Tensor:
        """ws: (n, num_ws, w_dim)."""
        x = self.const[None].expand(len(ws), -1, -1, -1)
        x = self.layers[0](x, ws[:, 0])
        img = self.rgbs[0](x, ws[:, 1])
        for i, rgb in enumerate(self.rgbs[1:]):
            x = self.layers[1 + 2 * i](x, ws[:, 1 + 2 * i])
            x = self.layers[2 + 2 * i](x, ws[:, 2 + 2 * i])
            img = F.interpolate(img, scale_factor=2.0, mode="bilinear", align_corners=False)
            img = img + rgb(x, ws[:, 3 + 2 * i])
        return img


class Mapping(nn.Module):
    def __init__(self, latent_dim: int, w_dim: int, depth: int, num_classes: int,
                 lr_mul: float = 0.01, w_avg_beta: float = 0.995):  # fmt: skip
        super().__init__()
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        n_in = latent_dim + (w_dim if num_classes else 0)
        self.net = nn.Sequential(*[EqualLinear(n_in if i == 0 else w_dim, w_dim, lr_mul=lr_mul,
                                               activation=True) for i in range(depth)])  # fmt: skip
        self.register_buffer("w_avg", torch.zeros(w_dim))  # for the truncation trick
        self.w_avg_beta, self.num_classes = w_avg_beta, num_classes

    def forward(self, z: Tensor, c: Tensor | None = None, truncation: float = 1.0) -> Tensor:
        x = normalize_2nd_moment(z.float())
        if self.embed is not None:
            y = self.embed(F.one_hot(c, self.num_classes).float())
            x = torch.cat([x, normalize_2nd_moment(y)], dim=1)
        w = self.net(x)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        return w if truncation == 1 else self.w_avg.lerp(w, truncation)


class Generator(nn.Module):
    has_mapping = True  # sampling may walk in w (models/common.py)
    truncates = "w"  # and truncate towards the mean w (generation.py)

    def __init__(self, latent_dim: int, w_dim: int, mapping_depth: int, channels: int,
                 resolution: int, base: int, cap: int, style_mixing: float,
                 num_classes: int):  # fmt: skip
        super().__init__()
        self.latent_dim, self.num_classes, self.style_mixing = latent_dim, num_classes, style_mixing
        self.mapping = Mapping(latent_dim, w_dim, mapping_depth, num_classes)
        self.synthesis = Synthesis(w_dim, channels, resolution, base, cap)

    def ws(self, z: Tensor, c: Tensor | None = None, truncation: float = 1.0) -> Tensor:
        """(n, num_ws, w_dim): w for every layer; with style mixing (training only) the layers
        from a random crossover point get the w of another z."""
        n = self.synthesis.num_ws
        ws = self.mapping(z, c, truncation).unsqueeze(1).repeat(1, n, 1)
        if self.training and self.style_mixing > 0 and torch.rand(()) < self.style_mixing:
            cut = int(torch.randint(1, n, ()))
            ws[:, cut:] = self.mapping(torch.randn_like(z), c).unsqueeze(1)
        return ws

    def forward(self, z: Tensor, c: Tensor | None = None, truncation: float = 1.0) -> Tensor:
        return self.synthesis(self.ws(z, c, truncation))


def minibatch_stddev(x: Tensor, group: int = 4) -> Tensor:
    """x with one more channel: the standard deviation of each feature over a group of samples,
    averaged over features and pixels (groups are samples i, i + n/g, ...; as StyleGAN2)."""
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)
    y = x.float().reshape(g, n // g, c, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt().mean(dim=(1, 2, 3))
    return torch.cat([x, y.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w).to(x.dtype)], dim=1)


class DBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = EqualConv2d(c_in, c_in, 3)
        self.conv1 = EqualConv2d(c_in, c_out, 3, down=True)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False, activation=False)

    def forward(self, x: Tensor) -> Tensor:
        return (self.skip(F.avg_pool2d(x, 2)) + self.conv1(self.conv0(x))) / SQRT2


class Discriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, base: int, cap: int, num_classes: int,
                 cmap_dim: int = 128):  # fmt: skip
        super().__init__()
        sizes = [2**i for i in range(int(math.log2(resolution)), 2, -1)]  # res, ..., 8
        self.from_rgb = EqualConv2d(channels, channels_at(resolution, base, cap), 1)
        blocks = [DBlock(channels_at(s, base, cap), channels_at(s // 2, base, cap)) for s in sizes]
        self.blocks = nn.Sequential(*blocks)
        c4 = channels_at(4, base, cap)
        self.conv = EqualConv2d(c4 + 1, c4, 3)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, cmap_dim if num_classes else 1)
        self.cmap = EqualLinear(num_classes, cmap_dim) if num_classes else None
        self.num_classes, self.cmap_dim = num_classes, cmap_dim

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = self.conv(minibatch_stddev(self.blocks(self.from_rgb(x))))
        out = self.out(self.fc(h.flatten(1)))
        if self.cmap is None:
            return out.flatten()
        cmap = self.cmap(F.one_hot(c, self.num_classes).float())
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)  # projection (StyleGAN2-ADA)


@register("model")
def build(data_shape: tuple[int, ...], latent_dim: int = 512, w_dim: int = 512,
          mapping_depth: int = 8, channel_base: int = 16384, channel_max: int = 512,
          style_mixing: float = 0.9, conditional: bool = False,
          num_classes: int = 0) -> tuple[Generator, Discriminator]:  # fmt: skip
    """Channels at resolution r: min(channel_base / r, channel_max) (StyleGAN2's config-f:
    32768 and 512; the default here is half that)."""
    channels, resolution = data_shape[0], data_shape[-1]
    if len(data_shape) != 3 or data_shape[1] != resolution or resolution not in RESOLUTIONS:
        raise ValueError(f"StyleGAN2 builds square images of {RESOLUTIONS} px, not {data_shape}")
    G = Generator(latent_dim, w_dim, mapping_depth, channels, resolution, channel_base,
                  channel_max, style_mixing, num_classes)  # fmt: skip
    D = Discriminator(channels, resolution, channel_base, channel_max, num_classes)
    return G, D
