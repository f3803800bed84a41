"""Schemas of the run itself: device (conf/device/), optimiser (conf/optim/), evaluation, the
root of `gan train`, and the roots of `gan sample` and `gan eval`."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from gan_cli.cache import CACHE_DIR
from gan_cli.config.base import Checked, Choice, schema
from gan_cli.config.dataset import metrics_kind, sample_shape
from gan_cli.config.sizes import picture_bytes
from gan_cli.config.stabilizer import check_lazy_intervals
from gan_cli.errors import ConfigError
from gan_cli.metrics.protocol import (
    CHEAP_KINDS,
    METRICS,
    NOT_RANKED,
    check_samples,
    default_samples,
)


class DeviceType(Choice):
    auto = "auto"  # CUDA when present, else CPU
    cpu = "cpu"
    cuda = "cuda"


class Precision(Choice):
    auto = "auto"  # bf16 where the hardware computes it natively, else fp32 (see runtime.py)
    fp32 = "fp32"
    bf16 = "bf16"  # autocast to bfloat16
    fp16 = "fp16"  # autocast to float16, with a gradient scaler per network


@schema("device", "device")
@dataclass
class DeviceConfig(Checked):
    type: DeviceType = DeviceType.auto
    precision: Precision = Precision.auto
    # NHWC memory format for convolutional models: true, false, or auto (timed once per
    # device model and model, layout.py); a bool or "auto", checked below
    channels_last: Any = "auto"
    compile: bool = False  # torch.compile G and D (slow first steps; pays off on long runs)
    threads: int | None = None  # CPU threads of torch (None: one per core, or cores / ranks
    # for each CPU rank); tiny models (2-D MLPs) train as fast on 1, at half the CPU time
    nproc_per_node: int = 1  # > 1: that many ranks on this machine, started by torchrun's engine
    sync_batchnorm: bool = False  # several CUDA ranks: batch norm over the global batch

    def check(self, root: Any) -> None:
        self.require_positive("nproc_per_node")
        if self.threads is not None:
            self.require_positive("threads")
        ok = isinstance(self.channels_last, bool) or self.channels_last == "auto"
        self.require("channels_last", ok, "true, false or auto")
        if self.type is DeviceType.cpu and self.precision is Precision.fp16:
            raise ConfigError(FP16_ON_CPU)


# No CPU computes float16 natively: autocast to it there is emulated, ~100x slower than fp32
# (the default DCGAN on an Intel Xeon: 1.7 img/s against ~200), and it buys nothing.
FP16_ON_CPU = (
    "device.precision=fp16: float16 autocast on the CPU is emulated and ~100x "
    "slower than fp32; use device.precision=bf16 or device.precision=fp32"
)


class OptimName(Choice):
    adam = "adam"
    rmsprop = "rmsprop"


class Decay(Choice):
    none = "none"
    linear = "linear"


class AdamKernel(Choice):
    auto = "auto"  # fused on CUDA, foreach on the CPU (Runtime.optimizer_options)
    fused = "fused"
    foreach = "foreach"


@dataclass
class OptimConfig(Checked):
    name: OptimName = OptimName.adam
    lr: float = 2e-4  # sets both learning rates unless lr_g / lr_d are given
    lr_g: float = "${.lr}"  # type: ignore[assignment]  # interpolation, resolved to a float
    lr_d: float = "${.lr}"  # type: ignore[assignment]
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam only
    d_steps: int = 1  # discriminator (critic) updates per generator update
    decay: Decay = Decay.none  # linear: both learning rates fall linearly to 0 at the last step
    # (SNGAN's and BigGAN's code; with `decay_start`, only from that share of the run on)
    decay_start: float = 0.0  # share of `steps` before the decay begins
    kernel: AdamKernel = AdamKernel.auto  # how Adam's update runs; same arithmetic, other rounding

    def check(self, root: Any) -> None:
        self.require_positive("lr", "lr_g", "lr_d", "d_steps")
        self.require("decay_start", 0 <= self.decay_start < 1, "in [0, 1)")
        ok = len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)
        self.require("betas", ok, "two numbers in [0, 1)")


@dataclass
class EvalConfig(Checked):
    every: int | None = None  # steps between evaluations (and at the end); 0: never; None:
    # 500 for data measured cheaply (digits, stacked digits, 2-D), never for Inception
    samples: int | None = None  # generated samples per evaluation; None: the protocol's count
    reference_samples: int = 10_000  # data samples the reference statistics are computed from
    seed: int = 0  # the evaluation's own noise, whatever the run's seed: as `gan eval` draws it
    best: str = "auto"  # metric that picks checkpoints/best.pt and the task's return value
    inception_weights: str | None = None  # pt_inception-2015-12-05-6726825d.pth, if not cached
    download: bool = False  # may the Inception weights be downloaded
    cache_dir: str = CACHE_DIR  # reference statistics, computed once per protocol

    def check(self, root: Any) -> None:
        kind = metrics_kind(root.dataset)
        if self.every is None:
            self.every = 500 if kind in CHEAP_KINDS else 0
        self.require("every", self.every >= 0, ">= 0")
        self.require_positive("reference_samples")
        self.require_seed("seed")
        if self.samples is not None:
            check_samples(kind, self.samples, "eval.samples")
        root.limits.check_evaluation(self.samples, self.reference_samples, kind,
                                     sample_shape(root.dataset), "eval.")  # fmt: skip
        names = [m for m in METRICS[kind] if m not in NOT_RANKED]
        self.require("best", self.best in ("auto", *names), f"auto or one of {', '.join(names)}")


@dataclass
class LimitsConfig(Checked):
    """Sizes checked before anything is allocated, whether they come from the command line or
    from a stored config (a downloaded checkpoint: docs/security.md). Raise them on the command
    line for a bigger run: `limits.params_m=5000`."""

    params_m: float = 1000.0  # millions of parameters of G and D together
    data_gb: float = 16.0  # gigabytes of a data set (fake, mixtures, stacked) or of samples
    # (a batch, the sample grid, evaluation, `gan sample`) held in memory
    samples: int = 1_000_000  # samples any one count asks for (batch_size, grid_size,
    # eval.samples, eval.reference_samples, `gan sample n`), whatever their shape

    def check(self, root: Any) -> None:
        self.require_positive("params_m", "data_gb", "samples")

    def check_data(self, nbytes: float, key: str, what: str = "the data set") -> None:
        if nbytes > self.data_gb * 1e9:
            raise ConfigError(
                f"{key}: {what} would take {nbytes / 1e9:,.1f} GB of memory, over "
                f"limits.data_gb={self.data_gb:g}; raise it to allow that"
            )

    def check_samples(self, n: int, key: str, shape: tuple[int, ...] | None = None) -> None:
        """`n` samples made or held at once: at most `samples` of them and, where their shape is
        known, their float32 values within `data_gb` (checked before any is allocated)."""
        if n > self.samples:
            raise ConfigError(f"{key}={n:,}: more than limits.samples={self.samples:,}; raise "
                              "it to allow that")  # fmt: skip
        if shape is not None:
            self.check_data(4 * n * math.prod(shape), key, f"{n:,} samples of {list(shape)}")

    def check_picture(self, n: int, key: str, shape: tuple[int, ...] | None) -> None:
        """A grid picture of n images (enlarged when small), made and written: within
        `data_gb` (points are drawn as a scatter plot of fixed size)."""
        if shape is not None and len(shape) == 3:
            self.check_data(picture_bytes(n, shape), key, f"a picture of {n:,} samples")

    def check_evaluation(self, samples: int | None, reference: int, kind: str | None = None,
                         shape: tuple | None = None, prefix: str = "") -> None:  # fmt: skip
        """An evaluation's generated samples (None: the protocol's count for `kind`) and its
        reference samples: both are held in memory at once."""
        generated = samples or (default_samples(kind) if kind else 0)
        self.check_samples(generated, f"{prefix}samples", shape)
        self.check_samples(reference, f"{prefix}reference_samples", shape)


@dataclass
class TrainConfig(Checked):
    model: Any = MISSING
    loss: Any = MISSING
    dataset: Any = MISSING
    stabilizers: dict[str, Any] = field(default_factory=dict)  # name -> its config
    device: DeviceConfig = field(default_factory=DeviceConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    steps: int = 1500  # generator updates; the run ends after this many
    batch_size: int = 64  # the global batch of each update, over all ranks
    micro_batches: int = 1  # > 1: each rank's batch runs in this many parts whose gradients
    # add up before the update: the same update in less memory (batch norm and relativistic
    # losses then see the statistics of a part; see docs/scaling.md, "Gradient accumulation")
    log_every: int = 50  # steps between scalars (the only host sync of the loop)
    sample_every: int = 250  # steps between fixed-noise sample grids
    ckpt_every: int = 500  # steps between checkpoints (the last step always saves)
    ckpt_keep: int = 3  # periodic checkpoints kept besides last.pt
    grid_size: int = 64  # samples in each grid, from the same fixed noise all run long
    resume: str | None = None  # a run dir or checkpoint to continue (docs/running.md)
    trust: list[str] = field(default_factory=list)  # your modules whose builders may run
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    def check(self, root: Any) -> None:
        self.require_seed("seed")
        self.require("steps", self.steps >= 1, ">= 1")
        self.require("batch_size", self.batch_size >= 1, ">= 1")
        self.require("micro_batches", self.micro_batches >= 1, ">= 1")
        world = self.world_size()
        if self.batch_size % world:
            raise ConfigError(f"batch_size={self.batch_size}: must divide by the number of "
                              f"ranks ({world}); batch_size is the global batch")  # fmt: skip
        if self.batch_size % (world * self.micro_batches):
            raise ConfigError(f"batch_size={self.batch_size}: must divide by micro_batches="
                              f"{self.micro_batches} x the number of ranks ({world})")  # fmt: skip
        self.require_positive("log_every", "sample_every", "ckpt_every", "grid_size")
        self.require("ckpt_keep", self.ckpt_keep >= 1, ">= 1")
        for key in ("batch_size", "grid_size"):  # a batch of data; the grid's latents and images
            self.limits.check_samples(getattr(self, key), key, sample_shape(self.dataset))
        self.limits.check_picture(self.grid_size, "grid_size", sample_shape(self.dataset))
        check_lazy_intervals(self.stabilizers)

    def world_size(self) -> int:
        return max(self.device.nproc_per_node, int(os.environ.get("WORLD_SIZE", "1")))

    def forward_passes(self) -> int:
        """The parts each global batch is split into: one per rank and micro-batch."""
        return self.world_size() * max(self.micro_batches, 1)


@dataclass
class SampleConfig(Checked):
    ckpt: str = MISSING  # a checkpoint file, or a run dir (its newest checkpoint)
    n: int = 64  # samples (image files when `out` is a folder)
    out: str = "samples.png"  # a grid (or, 2-D, a scatter plot); a folder: one file a sample
    seed: int = 0  # the noise
    ema: bool = True  # EMA weights when the checkpoint has them
    interpolate: list[int] | None = None  # [a,b]: a row from seed a's latent to seed b's
    # the device group (conf/device/), as in `gan train`: `device=cpu`; only its type is read
    device: DeviceConfig = field(default_factory=DeviceConfig)
    trust: list[str] = field(default_factory=list)  # modules a checkpoint's builders may name
    label: int | None = None  # `class=k` on the command line: samples of class k
    # the truncation trick, as the checkpoint's model does it: StyleGAN2 psi, the share of the
    # way from the mean w (0.7); BigGAN a threshold on |z|, beyond which z is redrawn (0.5)
    truncation: float | None = None
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    def check(self, root: Any) -> None:
        self.require_positive("n")
        self.limits.check_samples(self.n, "n")  # their size: once the checkpoint's shape is read
        if self.truncation is not None:
            self.require_positive("truncation")
        ok = self.interpolate is None or len(self.interpolate) == 2
        self.require("interpolate", ok, "two seeds, e.g. [3,7]")
        self.require_seed("seed", *(["interpolate"] if self.interpolate else []))


@dataclass
class ReportConfig(Checked):
    path: Any = MISSING  # str or list of str
    out: str | None = None
    metrics: list[str] | None = None  # the columns; None: every metric all runs have
    title: str | None = None  # the heading of report.md


@dataclass
class EvalDataConfig(Checked):
    """Where this machine keeps the data a checkpoint was trained on: never read from the
    checkpoint (docs/security.md), so given here when the data set needs it."""

    path: str | None = None  # the folder of images of a dataset=folder checkpoint
    root: str = "data"  # torchvision's folder (mnist, fashion_mnist, cifar10)
    download: bool = False  # may torchvision download missing files into `root`


@dataclass
class EvalCommandConfig(Checked):
    ckpt: Any = MISSING  # a checkpoint, run dir or sweep dir, or a list: mean ± std over them
    metrics: str = "auto"  # auto: the data set's own (digits | inception | stacked | modes)
    samples: int | None = None  # None: the protocol's count for the checkpoint's data
    reference_samples: int = 10_000  # data samples the reference statistics come from
    seed: int = 0  # the evaluation's noise
    ema: bool = True  # EMA weights when the checkpoint has them
    inception_weights: str | None = None  # pt_inception-2015-12-05-6726825d.pth, if not cached
    download: bool = False  # may the Inception weights be downloaded
    cache_dir: str = CACHE_DIR  # reference statistics, computed once per protocol
    out: str = "eval.json"  # the table as JSON
    # the device group (conf/device/), as in `gan train`: `device=cpu`; only its type is read
    device: DeviceConfig = field(default_factory=DeviceConfig)
    trust: list[str] = field(default_factory=list)  # modules a checkpoint's builders may name
    dataset: EvalDataConfig = field(default_factory=lambda: EvalDataConfig())
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    truncation: float | None = None  # as `gan sample`'s; recorded in the protocol

    def check(self, root: Any) -> None:
        self.require_positive("reference_samples")
        self.require_seed("seed")
        if self.truncation is not None:
            self.require_positive("truncation")
        if self.samples is not None:
            self.require("samples", self.samples >= 1, ">= 1")
        # their counts; their size once a checkpoint's data shape is read (eval.py)
        self.limits.check_evaluation(self.samples, self.reference_samples)
        kinds = ("auto", *METRICS)
        self.require("metrics", self.metrics in kinds, " or ".join(kinds))
