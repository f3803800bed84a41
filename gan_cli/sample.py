"""`gan sample`: pictures and files from a checkpoint alone; no data set needed.

The generator is rebuilt from the checkpoint's own stored model config (only builders inside
gan_cli, see registry.py) and data shape, with its EMA weights when it has them.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from gan_cli import checkpoint, runfolder, stored
from gan_cli.config import SampleConfig
from gan_cli.config.run import LimitsConfig
from gan_cli.data.source import to_uint8
from gan_cli.errors import CheckpointError, ConfigError
from gan_cli.generation import generate_in_parts, grid_labels, in_parts, truncation_options
from gan_cli.generation import latents as draw
from gan_cli.metrics.evaluate import class_labels
from gan_cli.models.common import has_mapping
from gan_cli.networks import (
    build_networks,
    build_stabilizers,
    check_size,
)
from gan_cli.resume import check_folder_of, checkpoint_of, run_dir_of
from gan_cli.runtime import pick_device
from gan_cli.samples import image_grid, picture, save_png, scatter

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png"}


def load_generator(path: str | Path, device: torch.device, ema: bool = True,
                   limits: LimitsConfig | None = None, fields=stored.TO_SAMPLE):  # fmt: skip
    """(G in eval mode, the checkpoint's state) from a checkpoint file or a run dir. The state
    is data (stored.py): every field read is checked, G's size is bounded before it is built,
    and the run folder may hold no links (runfolder.py)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(f"ckpt={path}: no such file or folder")
    check_folder_of(p)
    file = checkpoint_of(str(p), run_dir_of(p))
    state = checkpoint.load(file)  # on the CPU; G moves to `device` below
    stored.require(state, file, fields)
    config, shape = state["config"], tuple(state["data_shape"])
    classes = state.get("num_classes", 0)
    try:
        stabilizers = build_stabilizers(config.get("stabilizers", {}))  # e.g. spectral norm on G
    except (TypeError, ValueError) as exc:
        what = f"{file}: field 'config.stabilizers' does not build ({exc})"
        raise CheckpointError(what) from None
    check_size(config["model"], stabilizers, shape, classes, limits or LimitsConfig(), str(file))
    G, _ = build_networks(config["model"], stabilizers, shape, classes)
    weights = state["G_ema"] if ema and "G_ema" in state else state["G"]
    try:
        G.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise CheckpointError(f"{file} does not fit its own model config ({first})") from None
    G.checkpoint_path = file
    return G.to(device).eval().requires_grad_(False), state


def latents(G: nn.Module, n: int, seed: int, device: torch.device,
            threshold: float | None = None) -> Tensor:  # fmt: skip
    """n latents of seed `seed`; with a threshold, truncated by resampling (BigGAN)."""
    return draw(n, G.latent_dim, torch.Generator().manual_seed(seed), threshold).to(device)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation, the usual path between Gaussian latents (keeps their norm)."""
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return a + t[:, None] * (b - a)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega)[:, None] * a + torch.sin(t * omega)[:, None] * b) / so


def labels_for(cfg: SampleConfig, num_classes: int, n: int, grid: bool, device):
    """(labels, images per row): `class=k` for all; else a grid row per class, or files for
    every class in turn; (None, None) for an unconditional model."""
    if cfg.label is not None and not num_classes:
        raise ConfigError(f"class={cfg.label}: this checkpoint's model is not conditional")
    if cfg.label is not None and not 0 <= cfg.label < num_classes:
        raise ConfigError(f"class={cfg.label}: must be in 0..{num_classes - 1}")
    if not num_classes:
        return None, None
    if cfg.label is not None or cfg.interpolate:
        return torch.full((n,), cfg.label or 0, device=device), None
    if grid:
        return grid_labels(num_classes, n, device)
    return class_labels(n, num_classes).to(device), None


def interpolation(G: nn.Module, cfg: SampleConfig, c: Tensor | None, device) -> Tensor:
    """A row of n samples from seed a's latent to seed b's: linear in w for a model with a
    mapping network (StyleGAN2), spherical in z otherwise."""
    threshold, options = truncation_options(G, cfg.truncation)
    a, b = (latents(G, 1, s, device, threshold) for s in cfg.interpolate)
    t = torch.linspace(0, 1, cfg.n, device=device)
    if has_mapping(G):
        wa, wb = (G.ws(z, None if c is None else c[:1], **options) for z in (a, b))
        return in_parts(lambda part: G.synthesis(torch.lerp(wa, wb, part[:, None, None])), t)
    return generate_in_parts(G, slerp(a[0], b[0], t), c)


@torch.no_grad()
def sample(_: DictConfig, cfg: SampleConfig) -> None:
    device = pick_device(cfg.device.type)
    G, state = load_generator(cfg.ckpt, device, cfg.ema, cfg.limits)
    threshold, options = truncation_options(G, cfg.truncation)
    out = Path(cfg.out).expanduser()
    grid = out.suffix.lower() in IMAGE_SUFFIXES or bool(cfg.interpolate)
    c, per_row = labels_for(cfg, state.get("num_classes", 0), cfg.n, grid, device)
    # what is made, as float32, before any is: a grid has a row per class, however small n is
    made = cfg.n if c is None else len(c)
    cfg.limits.check_samples(made, "n", tuple(state["data_shape"]))
    cfg.limits.check_data(4 * made * G.latent_dim, "n", f"the noise of {made:,} samples")
    if grid:
        cfg.limits.check_picture(made, "n", tuple(state["data_shape"]))
    if cfg.interpolate:
        x = interpolation(G, cfg, c, device)
    else:
        z = latents(G, len(c) if c is not None else cfg.n, cfg.seed, device, threshold)
        x = generate_in_parts(G, z, c, **options)
    is_image = x.dim() == 4
    if grid:
        out.parent.mkdir(parents=True, exist_ok=True)
        grid = image_grid(x, nrow=cfg.n) if cfg.interpolate and is_image else picture(
            x, nrow=per_row)  # fmt: skip
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
        points = io.BytesIO()
        np.save(points, x.numpy())
        runfolder.write_bytes(out / "points.npy", points.getvalue())
        save_png(scatter(x), str(out / "scatter.png"))
    log.info("wrote %d samples to %s from %s (step %s)", cfg.n, out, G.checkpoint_path,
             state.get("step"))  # fmt: skip
