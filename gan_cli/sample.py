"""`gan sample`: pictures and files from a checkpoint alone; no data set needed.

The generator is rebuilt from the checkpoint's own stored model config (only builders inside
gan_cli, see registry.py) and data shape, with its EMA weights when it has them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from gan_cli import checkpoint
from gan_cli.config import SampleConfig
from gan_cli.data.source import to_uint8
from gan_cli.errors import CheckpointError, ConfigError
from gan_cli.networks import build_networks, build_stabilizers
from gan_cli.resume import checkpoint_of, run_dir_of
from gan_cli.samples import image_grid, picture, save_png, scatter

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png"}


def pick_device(kind: str) -> torch.device:
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA GPU is visible; use device=auto or device=cpu")
    if kind == "cuda" or (kind == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def load_generator(path: str | Path, device: torch.device, ema: bool = True):
    """(G in eval mode, the checkpoint's state) from a checkpoint file or a run dir."""
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(f"ckpt={path}: no such file or folder")
    file = checkpoint_of(str(p), run_dir_of(p))
    state = checkpoint.load(file)  # on the CPU; G moves to `device` below
    if "config" not in state or "data_shape" not in state:
        raise CheckpointError(f"{file} has no stored model config; it cannot be sampled alone")
    config = state["config"]
    stabilizers = build_stabilizers(config.get("stabilizers", {}))  # e.g. spectral norm on G
    G, _ = build_networks(config["model"], stabilizers, tuple(state["data_shape"]))
    weights = state["G_ema"] if ema and "G_ema" in state else state["G"]
    try:
        G.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise CheckpointError(f"{file} does not fit its own model config ({first})") from None
    G.checkpoint_path = file
    return G.to(device).eval().requires_grad_(False), state


def latents(G: nn.Module, n: int, seed: int, device: torch.device) -> Tensor:
    return torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation, the usual path between Gaussian latents (keeps their norm)."""
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return a + t[:, None] * (b - a)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega)[:, None] * a + torch.sin(t * omega)[:, None] * b) / so


@torch.no_grad()
def sample(_: DictConfig, cfg: SampleConfig) -> None:
    device = pick_device(cfg.device)
    G, state = load_generator(cfg.ckpt, device, cfg.ema)
    out = Path(cfg.out).expanduser()
    if cfg.interpolate:
        a, b = (latents(G, 1, s, device)[0] for s in cfg.interpolate)
        z = slerp(a, b, torch.linspace(0, 1, cfg.n, device=device))
    else:
        z = latents(G, cfg.n, cfg.seed, device)
    x = torch.cat([G(part).float().cpu() for part in z.split(500)])
    is_image = x.dim() == 4
    if out.suffix.lower() in IMAGE_SUFFIXES or cfg.interpolate:
        out.parent.mkdir(parents=True, exist_ok=True)
        grid = image_grid(x, nrow=cfg.n) if cfg.interpolate and is_image else picture(x)
        save_png(grid, str(out))
        log.info("wrote %s: %d samples from %s (step %s)", out, cfg.n, G.checkpoint_path,
                 state.get("step"))  # fmt: skip
        return
    out.mkdir(parents=True, exist_ok=True)
    if is_image:
        pixels = to_uint8(x)
        for i, image in enumerate(pixels):
            save_png(image, str(out / f"{i:06d}.png"))
    else:
        np.save(out / "points.npy", x.numpy())
        save_png(scatter(x), str(out / "scatter.png"))
    log.info("wrote %d samples to %s from %s (step %s)", cfg.n, out, G.checkpoint_path,
             state.get("step"))  # fmt: skip
