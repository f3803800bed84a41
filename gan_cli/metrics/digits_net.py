"""A small CNN trained on the embedded digits: the offline stand-in for Inception.

Its 64-d penultimate features give "digits FID/KID", its softmax an Inception-Score analogue
and class coverage. Trained by scripts/train_digits_classifier.py on a fixed 80 % of the 1,797
digits; the other 20 % (`held_out()`) are never seen in training. The weights ship with the
package (weights/digits_classifier.pt, fp16, ~180 kB).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS = Path(__file__).with_name("weights") / "digits_classifier.pt"
WEIGHTS_B = Path(__file__).with_name("weights") / "digits_classifier_b.pt"
SPLIT_SEED, HELD_OUT = 20161205, 0.2


class DigitsNet(nn.Module):
    """(N, 1, 32, 32) images in [-1, 1] -> 10 logits; `features()` gives the 64-d layer."""

    feature_dim = 64

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]

        self.body = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), nn.Flatten(),
                                  nn.Linear(64 * 4 * 4, self.feature_dim), nn.ReLU())  # fmt: skip
        self.head = nn.Linear(self.feature_dim, 10)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class DigitsNetB(nn.Module):
    """A second opinion, made differently: 16x16 input, 5x5 convolutions, dropout, trained on
    all the digits with random rotations and scalings (scripts/train_digits_classifier.py b).
    A sample both classifiers read the same way is a digit, not a blob that happens to land
    on one side of one classifier's boundary."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(1, 24, 5, padding=2), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Conv2d(24, 48, 5, padding=2), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48 * 16, 128),
                                  nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def pass_size(device: torch.device) -> int:
    """Images per classifier pass. On the CPU 256: a pass's activations (16 x 32 x 32 floats an
    image after the first layer) then stay in cache, 3x faster than 1,024 (measured on one
    AVX2 core); a GPU wants big batches."""
    return 256 if device.type == "cpu" else 2048


def to_digits_input(images: Tensor) -> Tensor:
    """Any (N, C, H, W) images in [-1, 1] -> (N, 1, 32, 32): grey (channel mean), resized."""
    x = images.float()
    if x.shape[1] != 1:
        x = x.mean(dim=1, keepdim=True)
    if x.shape[-2:] != (32, 32):
        x = F.interpolate(x, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    return x.contiguous()


def split_indices(n: int) -> tuple[Tensor, Tensor]:
    """(train, held-out) indices of the digits, fixed forever by SPLIT_SEED."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    cut = int(round(n * (1 - HELD_OUT)))
    return perm[:cut], perm[cut:]


def load(path: Path = WEIGHTS) -> nn.Module:
    """The shipped classifier (`WEIGHTS_B`: the second one)."""
    net = DigitsNetB() if path == WEIGHTS_B else DigitsNet()
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval().requires_grad_(False)


def sha256(path: Path = WEIGHTS) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
