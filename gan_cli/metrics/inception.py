"""The FID Inception-v3: the 2015-12-05 TensorFlow graph ported to PyTorch.

This is the network pytorch-fid and torch-fidelity measure FID with; torchvision's ImageNet
Inception-v3 gives different numbers. It is torchvision's Inception3 with 1008 classes and four
kinds of mixed blocks whose pooling differs from torchvision's (the TF graph averages without
counting padding, and its last block max-pools). Weights: pytorch-fid's release file
`pt_inception-2015-12-05-6726825d.pth`, loaded from a path in the config or from torch's hub
cache; nothing is downloaded unless `download=true`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import inception as tv

from gan_cli.errors import ConfigError

FILENAME = "pt_inception-2015-12-05-6726825d.pth"
URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FILENAME}"


def _avg_pool(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(tv.InceptionA):
    def _forward(self, x: Tensor) -> list[Tensor]:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool(x))]


class FIDInceptionC(tv.InceptionC):
    def _forward(self, x: Tensor) -> list[Tensor]:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):  # fmt: skip
            b7d = layer(b7d)
        return [self.branch1x1(x), b7, b7d, self.branch_pool(_avg_pool(x))]


class FIDInceptionE(tv.InceptionE):
    """`max_pool`: the graph's last block (Mixed_7c) max-pools where the others average."""

    def __init__(self, in_channels: int, max_pool: bool = False):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def _forward(self, x: Tensor) -> list[Tensor]:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return [self.branch1x1(x), b3, b3d, self.branch_pool(pooled)]


class FIDInception(nn.Module):
    """Images in [-1, 1], any size -> (2048-d pool features, 1008-class unbiased logits)."""

    feature_dim = 2048

    def __init__(self) -> None:
        super().__init__()
        net = tv.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b = FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = FIDInceptionA(288, pool_features=64)
        for name, c7 in (
            ("Mixed_6b", 128),
            ("Mixed_6c", 160),
            ("Mixed_6d", 160),
            ("Mixed_6e", 192),
        ):
            setattr(net, name, FIDInceptionC(768, channels_7x7=c7))
        net.Mixed_7b = FIDInceptionE(1280)
        net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n = self.net
        x = F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1,
                      n.Conv2d_3b_1x1, n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c,
                      n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c, n.Mixed_6d, n.Mixed_6e,
                      n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):  # fmt: skip
            x = layer(x)
        features = F.adaptive_avg_pool2d(x, 1).flatten(1)
        # logits without the fc bias, as the original Inception Score code and torch-fidelity
        return features, F.linear(features, n.fc.weight)


def weights_path(path: str | None, download: bool) -> Path:
    """The weights file: the configured one, else torch's hub cache (downloading if allowed)."""
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"inception_weights={path}: no such file")
        return p
    cached = Path(torch.hub.get_dir()) / "checkpoints" / FILENAME
    if cached.is_file():
        return cached
    if download:
        try:
            torch.hub.download_url_to_file(URL, str(cached), progress=False)
            return cached
        except Exception as exc:  # offline: URLError, socket errors
            reason = type(exc).__name__
            raise ConfigError(
                f"the FID Inception weights {FILENAME} are not in {cached.parent} and could not "
                f"be downloaded ({reason}): get them from {URL} and put them there, or pass "
                "inception_weights=PATH"
            ) from None
    raise ConfigError(
        f"the FID Inception weights {FILENAME} are not in {cached.parent}: get them from {URL} "
        "and put them there, pass inception_weights=PATH, or allow download=true"
    )


def load(path: Path) -> FIDInception:
    model = FIDInception()
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:120]
        raise ConfigError(f"{path} is not the FID Inception-v3 state dict ({first})") from None
    return model.eval().requires_grad_(False)
