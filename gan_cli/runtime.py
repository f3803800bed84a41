"""Where and how a process trains: device, precision, seeding, and which process writes files.

Under torchrun (or `device.nproc_per_node`), each process is one rank of a process group (gloo
on the CPU, NCCL on CUDA): `wrap` gives a network's DistributedDataParallel forward, `agree`
takes a decision every rank must share, `gather` collects a value from every rank. One place
decides which process logs and writes (`is_main`, rank 0): no other rank writes a file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from gan_cli.config import DeviceConfig
from gan_cli.config.run import FP16_ON_CPU
from gan_cli.errors import ConfigError
from gan_cli.provenance import native_bf16

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Runtime:
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False  # for 4-D (image) tensors and convolutional models; set by
    # the loop from `device.channels_last` (layout.py decides `auto`)
    compile: bool = False
    rank: int = 0  # this process's index among WORLD_SIZE (torchrun sets both)
    world_size: int = 1
    sync_batchnorm: bool = False  # CUDA, several ranks: batch statistics over all of them

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Under torchrun (even with one rank: DDP and the collectives then run for real)."""
        return self.world_size > 1 or dist.is_initialized()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The forward the training step calls: DistributedDataParallel over the ranks (D with
        batch norm sees real and generated batches in separate calls, so buffers are not
        broadcast), or the module itself in a single process."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        with warnings.catch_warnings():  # its successor would sync buffers at start: not wanted
            warnings.filterwarnings("ignore", "`broadcast_buffers` is deprecated")
            return DDP(module, device_ids=ids, broadcast_buffers=False)

    def agree(self, *flags: bool) -> list[bool]:
        """Decisions every rank must take together (stop, diverged): true on any rank means
        true on all. One tiny all-reduce, called only at log steps."""
        if not self.distributed:
            return list(flags)
        t = torch.tensor([float(f) for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def gather(self, obj) -> list:
        """`obj` from every rank, in rank order (every rank must call it)."""
        if not self.distributed:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def average_grads(self, module: torch.nn.Module) -> None:
        """Average gradients over the ranks after a backward pass DDP did not see (the lazy
        penalties, which run through the unwrapped network)."""
        if not self.distributed:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= self.world_size
        for g, avg in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
            g.copy_(avg)

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.precision])

    def place(self, module: torch.nn.Module) -> torch.nn.Module:
        """Move a network to the device, channels-last if it has convolutions: any 4-D weight,
        nn.Conv2d's or a model's own (StyleGAN2's equalised and modulated convolutions)."""
        convolutional = any(p.dim() == 4 for p in module.parameters())
        fmt = torch.channels_last if self.channels_last and convolutional else None
        return module.to(self.device, memory_format=fmt) if fmt else module.to(self.device)

    def optimizer_options(self, kernel: str = "auto") -> dict:
        """How Adam's update runs (`optim.kernel`). auto: the fused kernel on CUDA; on the CPU
        the foreach path, which every recipe and test seed before 2026-11-30 was measured with.
        On the CPU the fused kernel is faster for large tensors (the digits MLP's update 3x, its
        whole recipe 18 % less CPU time), but its rounding differs, and a GAN's trajectory
        follows the rounding: the 2-D recipes' 12,000-step test run (seed 0) scored 74 % within
        3 sigma under fused against 86 % under foreach. So fused is a per-recipe choice
        (experiment=digits), made where its figures were measured with it."""
        if kernel == "auto":
            kernel = "fused" if self.device.type == "cuda" else "foreach"
        return {kernel: True}

    def grad_scaler(self) -> torch.amp.GradScaler:
        """fp16 needs loss scaling (a no-op scaler otherwise); one per network, since G and D
        step separately and one network's overflow must not skip the other's update."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")


def pick_device(kind: str) -> torch.device:
    """`device.type` (auto | cpu | cuda) as a device: auto takes CUDA where a GPU is visible."""
    cuda = torch.cuda.is_available()
    if kind == "cuda" and not cuda:
        raise ConfigError("device=cuda but no CUDA GPU is visible; use device=auto or device=cpu")
    return torch.device("cuda" if cuda and kind != "cpu" else "cpu")


def make_runtime(cfg: DeviceConfig) -> Runtime:
    precision = cfg.precision
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = pick_device(cfg.type)
    if device.type == "cuda":  # this process's GPU under torchrun
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    under_torchrun = "MASTER_ADDR" in os.environ and "RANK" in os.environ
    if under_torchrun and not dist.is_initialized():  # torchrun's environment (env://)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    threads = cfg.threads
    if threads is None and device.type == "cpu" and world_size > 1:
        threads = cpu_share(int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
    if threads:
        torch.set_num_threads(threads)
    if precision == "auto":
        precision = "bf16" if native_bf16(device) else "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError(FP16_ON_CPU)
    if precision == "bf16" and device.type == "cuda" and not native_bf16(device):
        raise ConfigError("device.precision=bf16: this GPU has no native bfloat16 (needs "
                          "compute capability 8.0+); use fp16 or fp32")  # fmt: skip
    if device.type == "cpu":
        keep_freed_memory()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls on tensor cores
    sync_bn = bool(cfg.sync_batchnorm) and device.type == "cuda" and world_size > 1
    return Runtime(device, precision, False, bool(cfg.compile), rank, world_size, sync_bn)


def cpu_share(processes: int) -> int:
    """Threads for each of `processes` sharing this machine's cores. At torch's default (one
    per core each), two CPU ranks on 2 cores spin against each other and crawl."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // processes)


def keep_freed_memory() -> None:
    """Let glibc keep freed memory for the next step instead of handing it back to the OS.

    By default each activation buffer of 128 KB-32 MB is mapped fresh and unmapped when freed,
    so every step page-faults its whole working set in again: 6.5 million faults in 45
    StyleGAN2 steps, measured with /usr/bin/time. With allocations up to 32 MB served from the
    heap and up to 1 GB of free heap kept, faults drop ~15x and training runs 5-20 % faster
    (DCGAN 64 px fp32 145-149 -> 153-154 img/s; StyleGAN2 32 px 75 -> 90). The cost: freed
    memory stays with the process. Linux/glibc only; elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, ...)
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # glibc's <malloc.h>
    libc.mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's largest value
    libc.mallopt(m_trim_threshold, 2**30)
    libc.mallopt(m_top_pad, 64 * 2**20)


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
