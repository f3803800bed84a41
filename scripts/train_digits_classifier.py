"""Train the digits classifier used by the `digits` feature extractor (gan_cli/metrics), or
(with `b`) the second classifier the stacked-digits metric checks its modes with.

    .venv/bin/python scripts/train_digits_classifier.py       # digits_classifier.pt
    .venv/bin/python scripts/train_digits_classifier.py b     # digits_classifier_b.pt

Trains on the fixed 80 % split of scikit-learn's digits (scaled to 32x32, in [-1, 1]) with
random shifts of up to 3 pixels and light noise, reports held-out accuracy, and writes fp16
weights to gan_cli/metrics/weights/digits_classifier.pt. About a minute on two CPU cores.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from gan_cli.data.digits import load_raw
from gan_cli.data.images import fit_images
from gan_cli.data.source import to_unit_range
from gan_cli.metrics.digits_net import (
    WEIGHTS,
    WEIGHTS_B,
    DigitsNet,
    DigitsNetB,
    sha256,
    split_indices,
)


def shifted(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    padded = F.pad(x, [max_shift] * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=gen).tolist()
    return padded[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]


def rotated_scaled(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image rotated by up to 12 degrees and scaled by 0.85-1.15 (classifier b's
    augmentation, unlike a's shifts)."""
    n = len(x)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * 12 * torch.pi / 180
    scale = 0.85 + 0.3 * torch.rand(n, generator=gen)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1),
                         torch.stack([sin, cos, torch.zeros(n)], 1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False) - 1  # pads with the background


def train_b() -> None:
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    raw, labels = load_raw()
    images = to_unit_range(fit_images(raw, 32, 1))
    net = DigitsNetB()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    for epoch in range(40):
        net.train()
        for idx in torch.randperm(len(images), generator=gen).split(32):
            x = rotated_scaled(images[idx], gen)
            loss = F.cross_entropy(net(x), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 10 == 9:
            with torch.no_grad():
                acc = (net.eval()(images).argmax(1) == labels).float().mean().item()
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}, accuracy {acc:.4f}")
    torch.save({k: v.half() for k, v in net.state_dict().items()}, WEIGHTS_B)
    print(f"wrote {WEIGHTS_B} ({WEIGHTS_B.stat().st_size / 1024:.0f} kB), sha256 "
          f"{sha256(WEIGHTS_B)}")  # fmt: skip


def main() -> None:
    if sys.argv[1:] == ["b"]:
        train_b()
        return
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    raw, labels = load_raw()
    images = to_unit_range(fit_images(raw, 32, 1))
    train_idx, test_idx = split_indices(len(images))
    x_train, y_train = images[train_idx], labels[train_idx]
    x_test, y_test = images[test_idx], labels[test_idx]

    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=60)
    for epoch in range(60):
        net.train()
        for idx in torch.randperm(len(x_train), generator=gen).split(64):
            x = shifted(x_train[idx], 3, gen)
            x = x + 0.1 * torch.randn(x.shape, generator=gen)
            loss = F.cross_entropy(net(x), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if epoch % 10 == 9:
            with torch.no_grad():
                acc = (net.eval()(x_test).argmax(1) == y_test).float().mean().item()
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}, held-out accuracy {acc:.4f}")

    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in net.state_dict().items()}, WEIGHTS)
    print(f"wrote {WEIGHTS} ({WEIGHTS.stat().st_size / 1024:.0f} kB), sha256 {sha256()}")


if __name__ == "__main__":
    main()
