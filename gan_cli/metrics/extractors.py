"""Feature extractors: images in [-1, 1] -> (features, class probabilities).

- `digits`: the small CNN shipped with the package (digits_net.py), offline, for data that
  looks like the embedded digits;
- `inception`: the standard FID Inception-v3 (inception.py), weights from a file.
Each names its weights by sha256, which goes into every reported protocol.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from gan_cli.metrics import digits_net


@dataclass
class Extractor:
    name: str
    net: nn.Module
    weights_sha256: str
    feature_dim: int
    batch: int  # images per forward pass

    @torch.no_grad()
    def __call__(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C, H, W) in [-1, 1] -> features (N, D) and class probabilities (N, K), on CPU."""
        device = next(self.net.parameters()).device
        feats, probs = [], []
        for part in images.split(self.batch):
            f, logits = self._forward(part.to(device))
            feats.append(f.float().cpu())
            probs.append(logits.float().softmax(dim=1).cpu())
        return torch.cat(feats), torch.cat(probs)

    def _forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.name == "digits":
            f = self.net.features(digits_net.to_digits_input(x))
            return f, self.net.head(f)
        return self.net(x)


def make_extractor(name: str, device: torch.device, inception_weights: str | None = None,
                   download: bool = False) -> Extractor:  # fmt: skip
    if name == "digits":
        net, batch = digits_net.load(), digits_net.pass_size(device)
        return Extractor("digits", net.to(device), digits_net.sha256(), net.feature_dim, batch)
    if name == "inception":
        from gan_cli.metrics import inception  # imports torchvision (seconds): only when used

        path = inception.weights_path(inception_weights, download)
        net = inception.load(path)
        return Extractor("inception", net.to(device), file_sha256(path), net.feature_dim, 64)
    raise ValueError(f"unknown feature extractor {name!r}: digits or inception")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
