"""The memory layout of a convolutional model's tensors (`device.channels_last`).

Contiguous (NCHW) or channels-last (NHWC): which one is faster depends on the CPU, its
libraries, the precision and the model. On one Intel Xeon a DCGAN discriminator's forward and
backward ran 147 img/s contiguous and 88 channels-last in fp32, but 157 channels-last in bf16;
on AMD EPYC machines channels-last won in both. So `auto` times the model's own forward and
backward passes both ways and takes the faster, as cuDNN's benchmark mode does for convolution
algorithms. The answer is cached per device model, torch version, precision, thread count and
model (`<cache_dir>/layout.json`), so a machine probes each model once.

The layout changes rounding (convolutions sum in another order), and a GAN's trajectory follows
the rounding: a run records its layout in every checkpoint, and a resumed run keeps it whatever
`auto` would pick today; an explicit `true` or `false` on the command line still wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan_cli.provenance import device_name
from gan_cli.runtime import Runtime

log = logging.getLogger(__name__)

PROBE_WARMUP, PROBE_STEPS = 2, 4  # untimed, then timed passes of each layout (interleaved)
Build = Callable[[], tuple[nn.Module, nn.Module]]


def convolutional(*nets: nn.Module) -> bool:
    """Any 4-D weight: nn.Conv2d's, or a model's own (StyleGAN2's modulated convolutions)."""
    return any(p.dim() == 4 for net in nets for p in net.parameters())


@dataclass
class Model:
    """What the probe builds and feeds, and what its answer depends on."""

    build: Build  # fresh (G, D), as the run builds them
    batch: int  # G's samples in one forward pass
    d_input: tuple[int, ...]  # the shape of what D judges in one pass (packing changes it)
    num_classes: int  # > 0: a conditional model
    key: dict  # the model's config and data shape, for the cache


def decide(setting, rt: Runtime, recorded: bool | None, model: Model, cache_dir: Path | None
           ) -> bool:  # fmt: skip
    """The layout to train with. `setting`: True, False or "auto"; `recorded`: the layout of the
    checkpoint this run resumes (None for a new run, or one that never recorded it)."""
    if rt.compile and rt.device.type == "cuda":
        # Compiled on CUDA, the layout is left to inductor, which makes convolutions
        # channels-last inside the graph itself. Channels-last weights and batches from outside
        # break the compiled backward there: inductor predicts the strides of
        # convolution_backward's outputs wrongly (PyTorch issue #171622; torch 2.11 on an H200:
        # "expected ... stride 16==1 at dim=1", every compiled DCGAN run).
        return False
    if setting != "auto":
        if recorded is not None and bool(setting) != recorded:
            log.warning(
                "device.channels_last=%s, but the checkpoint was trained %s: the run "
                "continues, no longer bit-exact",
                setting,
                _name(recorded),
            )
        return bool(setting)
    if recorded is not None:
        return recorded
    if rt.compile:  # probing would compile every network twice more: NHWC, as before auto
        return True
    chosen = None
    if rt.is_main:  # one rank decides; the others take its answer
        chosen = _cached_or_probed(rt, model, cache_dir)
    return bool(rt.gather(chosen)[0])


def _name(channels_last: bool) -> str:
    return "channels-last" if channels_last else "contiguous"


def cache_key(rt: Runtime, key: dict) -> str:
    """What the answer depends on: the device model, torch, precision, threads and the model."""
    full = {
        "device": device_name(rt.device),
        "torch": torch.__version__,
        "precision": rt.precision,
        "threads": torch.get_num_threads(),
        **key,
    }
    return hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _cached_or_probed(rt: Runtime, model: Model, cache_dir: Path | None) -> bool:
    path = cache_dir / "layout.json" if cache_dir else None
    cache = _read(path)
    shapes = {"batch": model.batch, "d_input": model.d_input, "classes": model.num_classes}
    name = cache_key(rt, {**model.key, **shapes})
    if name in cache:
        return bool(cache[name]["channels_last"])
    with torch.random.fork_rng(devices=[rt.device] if rt.device.type == "cuda" else []):
        G, D = model.build()  # networks of their own: the run's are built after, from its seed
        if not convolutional(G, D):
            return False
        seconds = probe(G, D, rt, model.batch, model.d_input, model.num_classes)
    chosen = seconds[True] < seconds[False]
    log.info(
        "device.channels_last=auto: %s (a step's forward and backward: contiguous %.1f "
        "ms, channels-last %.1f ms; cached in %s)",
        _name(chosen),
        1e3 * seconds[False],
        1e3 * seconds[True],
        path,
    )
    if path is not None:
        cache[name] = {
            "channels_last": chosen,
            "ms": {_name(k): round(1e3 * v, 2) for k, v in seconds.items()},
            "device": device_name(rt.device),
        }
        _write(path, cache)
    return chosen


def probe(
    G: nn.Module,
    D: nn.Module,
    rt: Runtime,
    batch: int,
    d_input: tuple[int, ...],
    num_classes: int = 0,
) -> dict[bool, float]:
    """Seconds per pass of each layout (True: channels-last): G's forward and backward and two
    of D's (a real and a generated batch, with the input gradient that G's step needs), under
    the run's autocast, on random inputs. The median of PROBE_STEPS passes each, interleaved
    so that a change in the machine's load hits both alike."""
    G, D = G.to(rt.device), D.to(rt.device)
    z = torch.randn(batch, G.latent_dim, device=rt.device)
    c = torch.zeros(batch, dtype=torch.long, device=rt.device) if num_classes else None
    x = torch.randn(*d_input, device=rt.device)
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(PROBE_WARMUP + PROBE_STEPS):
        for nhwc in (True, False):
            fmt = torch.channels_last if nhwc else torch.contiguous_format
            G, D = G.to(memory_format=fmt), D.to(memory_format=fmt)
            xi = (x.contiguous(memory_format=fmt) if x.dim() == 4 else x).requires_grad_(True)
            _sync(rt)
            start = time.perf_counter()
            with rt.autocast():
                fake = G(z) if c is None else G(z, c)
                scores = [D(xi) if c is None else D(xi, c) for _ in range(2)]
            loss = fake.float().mean() + sum(s.float().mean() for s in scores)
            loss.backward()
            _sync(rt)
            if i >= PROBE_WARMUP:
                times[nhwc].append(time.perf_counter() - start)
            G.zero_grad(set_to_none=True)
            D.zero_grad(set_to_none=True)
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


def _sync(rt: Runtime) -> None:
    if rt.device.type == "cuda":
        torch.cuda.synchronize(rt.device)


def _read(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            return data
    return {}  # unreadable: probed again and rewritten


def _write(path: Path, cache: dict) -> None:
    """Atomically (two runs starting together may both write; either answer is right)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache: probe again next time
        log.warning("device.channels_last=auto: could not cache the answer (%s)", exc)
