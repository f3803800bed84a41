"""The loop one would write by hand: the baseline `gan train` is measured against.

Same networks (built by gan_cli's own builders, with the defaults of conf/model/<model>.yaml
and the same `--set key=value` overrides, so the architectures are identical), same
non-saturating loss, Adam (lr 2e-4, betas (0.5, 0.999)), random images held on the device, the
same precision and memory format. Nothing else: no config, no logging, no checkpoints. Like
`gan train` it freezes D's weights during the G step (a loop written with care would), and on
the CPU it keeps glibc's freed memory as `gan train` does (runtime.keep_freed_memory), so the
ratio measures the loop, not the allocator.

    python benchmarks/bare_loop.py --model resnet --resolution 32 --batch 64 --precision bf16 \\
        --channels-last --set g_width=64
prints one JSON line: {"img_per_s": ..., "params": ..., "peak_rss_mb": ...}
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import resource
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from gan_cli.runtime import keep_freed_memory

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"


def model_params(model: str, sets: list[str]) -> dict:
    """The model YAML's values (without its defaults list and target), then the overrides."""
    params = yaml.safe_load((CONF / f"{model}.yaml").read_text())
    params = {k: v for k, v in params.items() if k not in ("defaults", "_target_")}
    for item in sets:
        key, value = item.split("=", 1)
        params[key] = yaml.safe_load(value)
    return params


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="dcgan")
    p.add_argument("--set", action="append", default=[], help="model parameter key=value")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args()

    torch.manual_seed(0)
    dev = torch.device(a.device)
    if dev.type == "cpu":
        keep_freed_memory()
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    build = importlib.import_module(f"gan_cli.models.{a.model}").build
    G, D = build((3, a.resolution, a.resolution), **model_params(a.model, a.set))
    params = sum(t.numel() for net in (G, D) for t in net.parameters())
    G, D = G.to(dev, memory_format=fmt), D.to(dev, memory_format=fmt)
    kernel = {"fused": True} if dev.type == "cuda" else {"foreach": True}  # gan-cli's auto
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), **kernel)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), **kernel)
    g_fwd, d_fwd = (torch.compile(G), torch.compile(D)) if a.compile else (G, D)
    data = torch.randint(0, 256, (1024, 3, a.resolution, a.resolution), dtype=torch.uint8)
    data = data.to(dev).contiguous(memory_format=fmt)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    scaler_g = torch.amp.GradScaler(dev.type, enabled=a.precision == "fp16")
    scaler_d = torch.amp.GradScaler(dev.type, enabled=a.precision == "fp16")

    def autocast():
        return torch.autocast(dev.type, dtype=dtype) if dtype else contextlib.nullcontext()

    def step() -> None:
        idx = torch.randint(0, len(data), (a.batch,), device=dev)
        real = data[idx].float().div_(127.5).sub_(1)
        z = torch.randn(a.batch, G.latent_dim, device=dev)
        with autocast():
            fake = g_fwd(z)
            d_loss = F.softplus(-d_fwd(real)).mean() + F.softplus(d_fwd(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        scaler_d.scale(d_loss).backward()
        scaler_d.step(opt_d)
        scaler_d.update()
        D.requires_grad_(False)
        with autocast():
            g_loss = F.softplus(-d_fwd(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        scaler_g.scale(g_loss).backward()
        scaler_g.step(opt_g)
        scaler_g.update()
        D.requires_grad_(True)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB (Linux)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
    print(json.dumps({"img_per_s": a.steps * a.batch / seconds, "seconds": seconds,
                      "steps": a.steps, "params": params, "peak_mb": round(peak, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
