"""The training loop of `gan train`: build everything from the composed config, then loop.

Read top to bottom: `run` calls set_up (data, networks, loss, optimisers), resume,
open_outputs, then loop (D steps, then a G step: gan.py), whose interval work is one function
each (log_interval, write_samples, evaluate, save_checkpoint); `Run` holds what they share.
Every piece it uses lives in its own module: models/, losses/, stabilizers/, data/,
run_writer.py, checkpoint.py, runtime.py, resume.py. It runs in the Hydra task (train.py), or
once per rank under torchrun.
"""

from __future__ import annotations

import hashlib
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gan_cli import checkpoint, job_started, runfolder, stored
from gan_cli.config import TrainConfig, metrics_kind
from gan_cli.data import load_dataset
from gan_cli.data.source import BatchStream, TensorSource
from gan_cli.errors import CheckpointError, GanError, Interrupted
from gan_cli.gan import GAN, build_gan
from gan_cli.generation import PART, generate_in_parts, grid_count, grid_labels
from gan_cli.loop_setup import best_metric, choose_layout, classes_of, make_evaluator, restore_rng
from gan_cli.metrics.evaluate import Evaluator, better
from gan_cli.networks import (
    build_stabilizers,
    check_size,
)
from gan_cli.provenance import provenance
from gan_cli.resume import check_compatible, check_data_shape, checkpoint_of
from gan_cli.run_writer import RunWriter, flatten
from gan_cli.runtime import Runtime, make_runtime, rng_state, seed_everything
from gan_cli.samples import picture
from gan_cli.signals import StopRequest

log = logging.getLogger(__name__)

TRACKED = ("Loss/D", "Loss/G", "D/real", "D/fake")  # linked to the HParams tab
POINTS_SHOWN = 2000  # fixed-noise samples in each scatter plot of 2-D data


class Diverged(GanError):
    """Losses or weights went non-finite."""


@dataclass
class Job:
    """What the loop needs from Hydra, as plain values (they travel to other ranks)."""

    run_dir: Path
    overrides: list[str]  # what `gan train resume=` replays
    choices: dict[str, str]  # group choices, for TensorBoard's HParams tab


@dataclass
class Outcome:
    value: float | None  # the last evaluation of the best metric; None without evaluation
    digest: str  # of G's final weights: the launcher checks every rank ends with the same G


@dataclass
class Run:
    """What the set-up built and the loop reads and updates: the pieces each interval works on."""

    job: Job
    cfg: DictConfig  # the composed config, to rebuild objects from
    spec: TrainConfig  # the same, validated
    config: dict  # the same, resolved: what checkpoints store
    rt: Runtime
    ckpt_dir: Path
    state: dict | None  # the checkpoint this run continues
    last_ckpt: Path | None
    source: TensorSource
    batches: BatchStream
    gan: GAN
    num_classes: int
    evaluator: Evaluator | None
    best: dict  # {"metric", "value", "step"} of checkpoints/best.pt
    fixed_z: torch.Tensor  # the noise of the sample grids, the same all run long
    fixed_c: torch.Tensor | None
    per_row: int
    reference: torch.Tensor | None  # real points drawn under 2-D samples
    start: int = 0
    writer: RunWriter | None = None
    choices: dict | None = None
    value: float | None = None  # the last evaluation of the best metric
    since: int = 0  # steps since the last log line, and when it was written
    t_last: float = 0.0


def run(job: Job, cfg: DictConfig, spec: TrainConfig) -> Outcome:
    """`spec` is `cfg` validated (config.validate); `cfg` is kept to rebuild objects from."""
    started = job_started()  # `wall_s` of this run counts from here
    r = set_up(job, cfg, spec)
    if r.state is not None:
        resume(r)
        if r.start >= spec.steps:
            log.info("nothing to do: step %d >= steps=%d (raise steps to go on)", r.start,
                     spec.steps)  # fmt: skip
            return Outcome(None, weights_digest(r.gan.G))
    if r.last_ckpt and r.rt.is_main:
        checkpoint.prepare_resume(r.ckpt_dir, r.start)
    open_outputs(r, started)
    loop(r)
    log.info("done: %d steps; checkpoint %s; samples in %s", spec.steps, r.last_ckpt,
             r.writer.samples_dir)  # fmt: skip
    if r.evaluator:
        log.info("final %s %.4g; best %.4g at step %s", r.best["metric"], r.value,
                 r.best["value"], r.best["step"])  # fmt: skip
    # the value is what a Hydra sweeper (e.g. Optuna) optimises
    return Outcome(r.value if r.evaluator else None, weights_digest(r.gan.G))


def set_up(job: Job, cfg: DictConfig, spec: TrainConfig) -> Run:
    """Data, networks, objective, optimisers, evaluation and the fixed noise; the checkpoint
    to continue is read first, and must fit before any data is loaded."""
    rt = make_runtime(spec.device)
    seed_everything(spec.seed + rt.rank)  # per rank; the noise and the data order are global
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    config.pop("trust", None)  # trust is the user's, for this run: never kept in a checkpoint
    ckpt_dir = job.run_dir / "checkpoints"
    if not runfolder.inside(job.run_dir, ckpt_dir):  # a link the start-up check did not see
        raise runfolder.UnsafeRunFolder(f"{ckpt_dir}: outside the run folder {job.run_dir}")
    last_ckpt = checkpoint_of(spec.resume, job.run_dir)
    state = None
    if last_ckpt:
        state = checkpoint.load(last_ckpt)  # on the CPU: RNG states must stay there
        checkpoint.require_resumable(state, last_ckpt)
        stored.require(state, last_ckpt, stored.TO_RESUME)  # every field, one line if not
        check_compatible(state, config, last_ckpt)

    source = load_dataset(cfg.dataset)
    if state is not None:
        check_data_shape(state, source.shape, last_ckpt)
    num_classes = classes_of(spec, source)  # > 0: a conditional model, fed the data's labels
    # a conditional grid has a row per class, however small grid_size is: bounded as it is
    n_grid = grid_count(num_classes, spec.grid_size)
    if n_grid > spec.grid_size and source.is_image:
        spec.limits.check_picture(n_grid, "grid_size", source.shape)
    check_size(cfg.model, build_stabilizers(cfg.stabilizers), source.shape, num_classes,
               spec.limits, "model", max(spec.batch_size, n_grid, PART))  # fmt: skip
    rt.channels_last = choose_layout(cfg, spec, rt, source.shape, num_classes, state)
    batches = BatchStream(source, spec.batch_size, spec.seed, rt.device, rt.channels_last,
                          labels=num_classes > 0, rank=rt.rank,
                          world_size=rt.world_size)  # fmt: skip
    gan = build_gan(cfg, spec, source.shape, rt, num_classes)
    evaluator = make_evaluator(spec, config["dataset"], source, rt, num_classes)
    noise = torch.Generator().manual_seed(spec.seed)
    fixed_c, per_row = grid_labels(num_classes, spec.grid_size, rt.device)  # a row per class
    n_fixed = len(fixed_c) if fixed_c is not None else spec.grid_size
    n_fixed = n_fixed if source.is_image else POINTS_SHOWN
    fixed_z = torch.randn(n_fixed, gan.G.latent_dim, generator=noise).to(rt.device)
    return Run(
        job=job, cfg=cfg, spec=spec, config=config, rt=rt, ckpt_dir=ckpt_dir, state=state,
        last_ckpt=last_ckpt, source=source, batches=batches, gan=gan, num_classes=num_classes,
        evaluator=evaluator, best={"metric": best_metric(spec), "value": None, "step": None},
        fixed_z=fixed_z, fixed_c=fixed_c, per_row=per_row,
        reference=None if source.is_image else source.data[:2000],
    )  # fmt: skip


def resume(r: Run) -> None:
    """Continue from `r.state`: `resume=PATH`, or this run dir's own last checkpoint."""
    state, last_ckpt = r.state, r.last_ckpt
    if (shape := tuple(state["fixed_z"].shape)) != tuple(r.fixed_z.shape):
        raise CheckpointError(f"{last_ckpt}: field 'fixed_z' has shape {shape}, not "
                              f"{tuple(r.fixed_z.shape)}")  # fmt: skip
    stored.check_optimizer(state["opt_g"], r.gan.opt_g, last_ckpt, "opt_g")
    stored.check_optimizer(state["opt_d"], r.gan.opt_d, last_ckpt, "opt_d")
    try:
        r.gan.load_state_dict(state, int(state["step"]))
        r.batches.load_state_dict(state["data"])
        restore_rng(state["rng"], r.rt, int(state["step"]) + r.spec.seed)  # last: set-up drew
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, OverflowError,
            AttributeError) as exc:  # fmt: skip
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{last_ckpt} does not fit this model ({first})") from None
    r.fixed_z = state["fixed_z"].to(r.rt.device, torch.float32)
    best = state.get("best", {})
    if best.get("metric") == r.best["metric"] and _finite(best.get("value")):  # the same
        r.best = best  # measure as now, and a score a later one can beat (not inf, -inf, nan)
    r.start = int(state["step"])
    log.info("resumed from %s at step %d", last_ckpt, r.start)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def open_outputs(r: Run, started: float) -> None:
    """TensorBoard, metrics.jsonl, provenance and the first log line (main process only)."""
    state, rt = r.state, r.rt
    wall_offset = float(state.get("wall_s", 0.0)) if r.last_ckpt else 0.0
    cpu_offset = float(state.get("cpu_s", 0.0)) if r.last_ckpt else 0.0
    r.writer = RunWriter(r.job.run_dir, enabled=rt.is_main, resume_step=r.start,
                         started=started, wall_offset=wall_offset,
                         cpu_offset=cpu_offset)  # fmt: skip
    # what this start ran on: CPU kind, precision and layout decide the rounding (cpu-matrix.md)
    r.writer.provenance(r.start, {**provenance(rt.device), "precision": rt.precision,
                                  "channels_last": rt.channels_last,
                                  "threads": torch.get_num_threads()})  # fmt: skip
    r.choices = {k: v for k, v in r.job.choices.items() if v and not k.startswith("hydra")}
    tracked = [*TRACKED, *([f"Metrics/{r.best['metric']}"] if r.evaluator else [])]
    r.writer.hparams({**flatten(r.config), **r.choices}, metrics=tracked)  # model=dcgan, ...
    millions = [sum(p.numel() for p in net.parameters()) / 1e6 for net in (r.gan.G, r.gan.D)]
    log.info(
        "run dir %s | data %s %s x %d | G %.2fM, D %.2fM params | %s %s, CPU threads %d%s",
        r.job.run_dir, r.source.name, r.source.shape, len(r.source), *millions, rt.device,
        rt.precision, torch.get_num_threads(),
        f" | {rt.world_size} ranks" if rt.distributed else "",
    )  # fmt: skip


def loop(r: Run) -> None:
    """optim.d_steps updates of D, then one of G, per step; at the intervals (the only places
    values leave the device): log, samples, evaluation, checkpoints, and a requested stop."""
    spec = r.spec
    r.since, r.t_last = 0, time.perf_counter()
    stopping = False  # SIGTERM/Ctrl-C; with several ranks, agreed at log steps
    bar = tqdm(total=spec.steps, initial=r.start, unit="step", dynamic_ncols=True,
               disable=not (r.rt.is_main and sys.stderr.isatty()))  # fmt: skip
    with logging_redirect_tqdm(), StopRequest() as stop:
        for step in range(r.start + 1, spec.steps + 1):
            r.gan.G.train()
            r.gan.schedule.set(step - 1, spec.steps)  # the learning rates of this step
            r.gan.step(r.batches)
            r.since += 1
            bar.update()
            last = step == spec.steps
            if step % spec.log_every == 0 or last:
                stopping = log_interval(r, step, stop.requested, bar)
            if step % spec.sample_every == 0 or last:
                write_samples(r, step)
            if not r.rt.distributed:  # one process: act on a signal at once, no need to agree
                stopping = stop.requested
            if r.evaluator and (step % spec.eval.every == 0 or last):  # rank 0 only
                evaluate(r, step)
            if step % spec.ckpt_every == 0 or last or stopping:
                save_checkpoint(r, step)
            if stopping and not last:
                r.writer.close()
                signum = stop.signum or signal.SIGTERM  # (another rank's signal, agreed on)
                raise Interrupted(
                    f"interrupted by {signal.Signals(signum).name} at step {step}; checkpoint "
                    f"{r.last_ckpt}; continue with: gan train resume={r.job.run_dir}",
                    128 + int(signum),
                )
    bar.close()
    r.writer.close()


def log_interval(r: Run, step: int, stop_requested: bool, bar: tqdm) -> bool:
    """Write what the step, loss and stabilisers reported; every rank agrees on a stop and on
    divergence. Returns whether to stop."""
    values = r.gan.stats.flush()
    now = time.perf_counter()
    values["speed/img_per_s"] = r.since * r.spec.batch_size / (now - r.t_last)
    r.since, r.t_last = 0, now
    bad = [tag for tag, v in values.items() if not math.isfinite(v)]
    stopping, diverged = r.rt.agree(stop_requested, bool(bad))  # all ranks at once
    if diverged:
        raise Diverged(f"training diverged at step {step} "
                       f"({', '.join(bad) or 'on another rank'} not finite); "
                       f"{_last_good(r.last_ckpt)}")  # fmt: skip
    r.writer.scalars(step, values)
    bar.set_postfix(d=f"{values['Loss/D']:.3f}", g=f"{values['Loss/G']:.3f}")
    shown = " | ".join(f"{tag} {value:.4g}" for tag, value in values.items())
    log.info("step %d/%d | %s", step, r.spec.steps, shown)
    return stopping


def write_samples(r: Run, step: int) -> None:
    G = r.gan.sampler.eval()  # batch norm from running statistics, as `gan sample`
    with torch.no_grad(), r.rt.autocast():
        samples = generate_in_parts(G, r.fixed_z, r.fixed_c)
    r.writer.picture(step, "samples", picture(samples, r.reference, r.per_row))


def evaluate(r: Run, step: int) -> None:
    """The metrics of the sampler (fp32, as `gan eval`); checkpoints/best.pt when better."""
    scores = r.evaluator(r.gan.sampler)
    r.writer.scalars(step, {f"Metrics/{k}": v for k, v in scores.items()})
    log.info("step %d | %s", step, " | ".join(f"{k} {v:.4g}" for k, v in scores.items()))
    r.value = scores[r.best["metric"]]
    if better(r.best["metric"], r.value, r.best["value"]):  # (rank 0's generators)
        r.best = {"metric": r.best["metric"], "value": r.value, "step": step}
        checkpoint.save_as(checkpoint_state(r, step, rng_state(r.rt.device)),
                           r.ckpt_dir / "best.pt")  # fmt: skip


def save_checkpoint(r: Run, step: int) -> None:
    rng = r.rt.gather(rng_state(r.rt.device))  # every rank takes part
    if r.rt.is_main:
        state = checkpoint_state(r, step, rng if r.rt.distributed else rng[0])
        r.last_ckpt = checkpoint.save(state, r.ckpt_dir, step, r.spec.ckpt_keep)


def checkpoint_state(r: Run, step: int, rng: dict | list) -> dict:
    """Everything a resume continues exactly from, and what `gan sample`/`eval` read."""
    require_finite_weights(step, r.gan, r.last_ckpt)  # never replace a good checkpoint by NaNs
    return {
        **r.gan.state_dict(),
        "step": step,
        "fixed_z": r.fixed_z.cpu(),
        "data": r.batches.state_dict(),
        "data_shape": list(r.source.shape),
        "rng": rng,  # every rank's generators (a list with several ranks)
        "config": r.config,
        "overrides": r.job.overrides,  # the command line, a record (resume replays `config`)
        "choices": r.choices,  # the options of each group, by name: what resume replays
        "best": r.best,
        "metrics_kind": metrics_kind(r.spec.dataset),  # how `gan eval` measures it
        "num_classes": r.num_classes,  # > 0: conditional; `gan sample` rebuilds G with it
        "wall_s": r.writer.wall_s,  # seconds of training so far, start-ups included
        "cpu_s": r.writer.cpu_s,  # CPU seconds of it (rank 0's process)
        "provenance": provenance(r.rt.device),
        "channels_last": r.rt.channels_last,  # layout changes rounding: a resume keeps it
    }


def weights_digest(net: torch.nn.Module) -> str:
    """A hash of the trained weights (not the buffers: with several ranks each keeps the batch
    statistics of its own slice, broadcast_buffers=False)."""
    h = hashlib.sha256()
    for p in net.parameters():
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def require_finite_weights(step: int, gan: GAN, last_ckpt: Path | None) -> None:
    bad = [
        name
        for name, net in (("G", gan.G), ("D", gan.D))
        if not torch.stack([torch.isfinite(p).all() for p in net.parameters()]).all()
    ]
    if bad:
        raise Diverged(f"training diverged by step {step} (weights of {' and '.join(bad)} not "
                       f"finite); {_last_good(last_ckpt)}")  # fmt: skip


def _last_good(last_ckpt: Path | None) -> str:
    return f"last good checkpoint: {last_ckpt}" if last_ckpt else "no checkpoint was written"
