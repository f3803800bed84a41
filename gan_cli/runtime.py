"""Where and how a process trains: device, precision, seeding, and which process writes files.

One place decides which process logs and writes (`is_main`), so the loop can later run under
torchrun (one process per GPU) without a rewrite: every file write goes through the main
process only.
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from gan_cli.config import DeviceConfig
from gan_cli.errors import ConfigError

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Runtime:
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False  # for 4-D (image) tensors and convolutional models
    compile: bool = False
    rank: int = 0  # this process's index among WORLD_SIZE (torchrun sets both)
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.precision])

    def place(self, module: torch.nn.Module) -> torch.nn.Module:
        """Move a network to the device, channels-last if it has convolutions."""
        convolutional = any(isinstance(m, torch.nn.modules.conv._ConvNd) for m in module.modules())
        fmt = torch.channels_last if self.channels_last and convolutional else None
        return module.to(self.device, memory_format=fmt) if fmt else module.to(self.device)

    def optimizer_options(self) -> dict:
        """Fused kernels on CUDA; on the CPU the multi-tensor (foreach) path measured faster."""
        return {"fused": True} if self.device.type == "cuda" else {"foreach": True}

    def grad_scaler(self) -> torch.amp.GradScaler:
        """fp16 needs loss scaling (a no-op scaler otherwise); one per network, since G and D
        step separately and one network's overflow must not skip the other's update."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")


def make_runtime(cfg: DeviceConfig) -> Runtime:
    kind = cfg.type.value
    precision = cfg.precision.value
    cuda = torch.cuda.is_available()
    if kind == "cuda" and not cuda:
        raise ConfigError("device=cuda but no CUDA GPU is visible; use device=auto or device=cpu")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        raise ConfigError(f"WORLD_SIZE={world_size}: multi-process training is not supported yet")
    rank = int(os.environ.get("RANK", "0"))
    if kind == "cpu" or not cuda:
        device = torch.device("cpu")
    else:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if precision == "auto":
        precision = "bf16" if native_bf16(device) else "fp32"
    if precision == "bf16" and device.type == "cuda" and not native_bf16(device):
        raise ConfigError("device.precision=bf16: this GPU has no native bfloat16 (needs "
                          "compute capability 8.0+); use fp16 or fp32")  # fmt: skip
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls on tensor cores
    return Runtime(device, precision, bool(cfg.channels_last), bool(cfg.compile), rank, world_size)


def native_bf16(device: torch.device) -> bool:
    """Does this device compute bfloat16 natively (so bf16 autocast is a speed-up)?

    CUDA: Ampere or newer. CPU: oneDNN's check for AVX512-BF16 / AMX; on other CPUs bf16 is
    emulated and slower than fp32."""
    if device.type == "cuda":  # is_bf16_supported() also says yes where bf16 is only emulated
        return torch.cuda.get_device_capability(device)[0] >= 8
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state(device: torch.device) -> dict:
    """Every random generator a training step draws from, as tensors and plain containers
    (CUDA: the training device's generator only, so a resume on another machine works)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
