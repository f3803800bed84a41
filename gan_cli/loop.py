"""The training loop of `gan train`: build everything from the composed config, then loop.

Read top to bottom: set-up (data, networks, loss, optimisers, outputs), the loop (D steps,
then a G step, gan.py), and what is written at the intervals. Every piece it uses lives in its
own module: models/, losses/, stabilizers/, data/, run_writer.py, checkpoint.py, runtime.py,
resume.py. It runs in the Hydra task (train.py), or once per rank under torchrun.
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

from gan_cli import checkpoint, job_started, layout, runfolder, stored
from gan_cli.config import TrainConfig, metrics_kind
from gan_cli.data import load_dataset
from gan_cli.data.source import BatchStream
from gan_cli.errors import CheckpointError, DataError, GanError, Interrupted
from gan_cli.gan import GAN, build_gan
from gan_cli.metrics.evaluate import Evaluator, better
from gan_cli.metrics.protocol import DEFAULT_BEST
from gan_cli.networks import (
    build_networks,
    build_stabilizers,
    check_size,
    generate,
    grid_labels,
)
from gan_cli.provenance import provenance
from gan_cli.resume import check_compatible, check_data_shape, checkpoint_of
from gan_cli.run_writer import RunWriter, flatten
from gan_cli.runtime import make_runtime, rng_state, seed_everything, set_rng_state
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


def run(job: Job, cfg: DictConfig, spec: TrainConfig) -> Outcome:
    """`spec` is `cfg` validated (config.validate); `cfg` is kept to rebuild objects from."""
    run_dir, overrides = job.run_dir, job.overrides
    started = job_started()  # `wall_s` of this run counts from here
    rt = make_runtime(spec.device)
    seed_everything(spec.seed + rt.rank)  # per rank; the noise and the data order are global
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    config.pop("trust", None)  # trust is the user's, for this run: never kept in a checkpoint

    # ---- the checkpoint this run continues, if any: it must fit before any data is loaded
    start, ckpt_dir = 0, run_dir / "checkpoints"
    if not runfolder.inside(run_dir, ckpt_dir):  # a link the start-up check did not see
        raise runfolder.UnsafeRunFolder(f"{ckpt_dir}: outside the run folder {run_dir}")
    last_ckpt = checkpoint_of(spec.resume, run_dir)
    state = None
    if last_ckpt:
        state = checkpoint.load(last_ckpt)  # on the CPU: RNG states must stay there
        checkpoint.require_resumable(state, last_ckpt)
        stored.require(state, last_ckpt, stored.TO_RESUME)  # every field, one line if not
        check_compatible(state, config, last_ckpt)

    # ---- data, networks, objective, optimisers
    source = load_dataset(cfg.dataset)
    if state is not None:
        check_data_shape(state, source.shape, last_ckpt)
    num_classes = classes_of(spec, source)  # > 0: a conditional model, fed the data's labels
    check_size(cfg.model, build_stabilizers(cfg.stabilizers), source.shape, num_classes,
               spec.limits.params_m, "model")  # fmt: skip
    rt.channels_last = choose_layout(cfg, spec, rt, source.shape, num_classes, state)
    batches = BatchStream(source, spec.batch_size, spec.seed, rt.device, rt.channels_last,
                          labels=num_classes > 0, rank=rt.rank,
                          world_size=rt.world_size)  # fmt: skip
    gan = build_gan(cfg, spec, source.shape, rt, num_classes)
    evaluator = make_evaluator(spec, config["dataset"], source, rt, num_classes)
    best = {"metric": best_metric(spec), "value": None, "step": None}
    noise = torch.Generator().manual_seed(spec.seed)
    fixed_c, per_row = grid_labels(num_classes, spec.grid_size, rt.device)  # a row per class
    n_fixed = len(fixed_c) if fixed_c is not None else spec.grid_size
    n_fixed = n_fixed if source.is_image else POINTS_SHOWN
    fixed_z = torch.randn(n_fixed, gan.G.latent_dim, generator=noise).to(rt.device)
    reference = None if source.is_image else source.data[:2000]  # drawn under 2-D samples

    # ---- resume: `resume=PATH`, or this run dir's own last checkpoint
    if state is not None:
        if (shape := tuple(state["fixed_z"].shape)) != tuple(fixed_z.shape):
            raise CheckpointError(f"{last_ckpt}: field 'fixed_z' has shape {shape}, not "
                                  f"{tuple(fixed_z.shape)}")  # fmt: skip
        try:
            gan.load_state_dict(state, int(state["step"]))
            batches.load_state_dict(state["data"])
            restore_rng(state["rng"], rt, int(state["step"]) + spec.seed)  # last: set-up drew
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise CheckpointError(f"{last_ckpt} does not fit this model ({first})") from None
        fixed_z = state["fixed_z"].to(rt.device, torch.float32)
        if state.get("best", {}).get("metric") == best["metric"]:  # the same measure as now
            best = state["best"]
        start = int(state["step"])
        log.info("resumed from %s at step %d", last_ckpt, start)
        if start >= spec.steps:
            log.info("nothing to do: step %d >= steps=%d (raise steps to go on)", start, spec.steps)
            return Outcome(None, weights_digest(gan.G))
    if last_ckpt and rt.is_main:
        checkpoint.prepare_resume(ckpt_dir, start)

    # ---- outputs (main process only)
    wall_offset = float(state.get("wall_s", 0.0)) if last_ckpt else 0.0
    cpu_offset = float(state.get("cpu_s", 0.0)) if last_ckpt else 0.0
    writer = RunWriter(run_dir, enabled=rt.is_main, resume_step=start, started=started,
                       wall_offset=wall_offset, cpu_offset=cpu_offset)  # fmt: skip
    # what this start ran on: CPU kind, precision and layout decide the rounding (cpu-matrix.md)
    writer.provenance(start, {**provenance(rt.device), "precision": rt.precision,
                              "channels_last": rt.channels_last})  # fmt: skip
    choices = {k: v for k, v in job.choices.items() if v and not k.startswith("hydra")}
    tracked = [*TRACKED, *([f"Metrics/{best['metric']}"] if evaluator else [])]
    writer.hparams({**flatten(config), **choices}, metrics=tracked)  # model=dcgan, ...
    millions = [sum(p.numel() for p in net.parameters()) / 1e6 for net in (gan.G, gan.D)]
    log.info(
        "run dir %s | data %s %s x %d | G %.2fM, D %.2fM params | %s %s, CPU threads %d%s",
        run_dir, source.name, source.shape, len(source), *millions, rt.device, rt.precision,
        torch.get_num_threads(), f" | {rt.world_size} ranks" if rt.distributed else "",
    )  # fmt: skip

    def snapshot(step: int, rng: dict | list) -> dict:
        require_finite_weights(step, gan, last_ckpt)  # never replace a good checkpoint by NaNs
        return {
            **gan.state_dict(),
            "step": step,
            "fixed_z": fixed_z.cpu(),
            "data": batches.state_dict(),
            "data_shape": list(source.shape),
            "rng": rng,  # every rank's generators (a list with several ranks)
            "config": config,
            "overrides": overrides,  # the command line, a record (resume replays `config`)
            "choices": choices,  # the options of each group, by name: what resume replays
            "best": best,
            "metrics_kind": metrics_kind(spec.dataset),  # how `gan eval` measures it
            "num_classes": num_classes,  # > 0: conditional; `gan sample` rebuilds G with it
            "wall_s": writer.wall_s,  # seconds of training so far, start-ups included
            "cpu_s": writer.cpu_s,  # CPU seconds of it (rank 0's process)
            "provenance": provenance(rt.device),
            "channels_last": rt.channels_last,  # layout changes rounding: a resume keeps it
        }

    # ---- the loop: optim.d_steps updates of D, then one of G
    since, t_last = 0, time.perf_counter()
    stopping = False  # SIGTERM/Ctrl-C; with several ranks, agreed at log steps
    bar = tqdm(
        total=spec.steps,
        initial=start,
        unit="step",
        dynamic_ncols=True,
        disable=not (rt.is_main and sys.stderr.isatty()),
    )
    with logging_redirect_tqdm(), StopRequest() as stop:
        for step in range(start + 1, spec.steps + 1):
            gan.G.train()
            gan.set_progress(step - 1, spec.steps)  # the learning rates of this step
            gan.step(batches)
            since += 1
            bar.update()
            last = step == spec.steps

            # ---- at the intervals (the only places values leave the device)
            if step % spec.log_every == 0 or last:
                values = gan.stats.flush()  # whatever the step, loss and stabilisers reported
                now = time.perf_counter()
                values["speed/img_per_s"] = since * spec.batch_size / (now - t_last)
                since, t_last = 0, now
                bad = [tag for tag, v in values.items() if not math.isfinite(v)]
                stopping, diverged = rt.agree(stop.requested, bool(bad))  # all ranks at once
                if diverged:
                    raise Diverged(f"training diverged at step {step} "
                                   f"({', '.join(bad) or 'on another rank'} not finite); "
                                   f"{_last_good(last_ckpt)}")  # fmt: skip
                writer.scalars(step, values)
                bar.set_postfix(d=f"{values['Loss/D']:.3f}", g=f"{values['Loss/G']:.3f}")
                shown = " | ".join(f"{tag} {value:.4g}" for tag, value in values.items())
                log.info("step %d/%d | %s", step, spec.steps, shown)
            if step % spec.sample_every == 0 or last:
                G = gan.sampler.eval()  # batch norm from running statistics, as `gan sample`
                with torch.no_grad(), rt.autocast():
                    samples = generate(G, fixed_z, fixed_c)
                writer.picture(step, "samples", picture(samples, reference, per_row))
            if not rt.distributed:  # one process: act on a signal at once, no need to agree
                stopping = stop.requested
            if evaluator and (step % spec.eval.every == 0 or last):  # rank 0 only
                scores = evaluator(gan.sampler)  # fp32, as `gan eval`
                writer.scalars(step, {f"Metrics/{k}": v for k, v in scores.items()})
                log.info(
                    "step %d | %s", step, " | ".join(f"{k} {v:.4g}" for k, v in scores.items())
                )
                value = scores[best["metric"]]
                if better(best["metric"], value, best["value"]):  # (rank 0's generators)
                    best = {"metric": best["metric"], "value": value, "step": step}
                    checkpoint.save_as(snapshot(step, rng_state(rt.device)), ckpt_dir / "best.pt")
            if step % spec.ckpt_every == 0 or last or stopping:
                rng = rt.gather(rng_state(rt.device))  # every rank takes part
                if rt.is_main:
                    saved = snapshot(step, rng if rt.distributed else rng[0])
                    last_ckpt = checkpoint.save(saved, ckpt_dir, step, spec.ckpt_keep)
            if stopping and not last:
                writer.close()
                signum = stop.signum or signal.SIGTERM  # (another rank's signal, agreed on)
                raise Interrupted(
                    f"interrupted by {signal.Signals(signum).name} at step {step}; checkpoint "
                    f"{last_ckpt}; continue with: gan train resume={run_dir}",
                    128 + int(signum),
                )
    bar.close()
    writer.close()
    log.info("done: %d steps; checkpoint %s; samples in %s", spec.steps, last_ckpt,
             writer.samples_dir)  # fmt: skip
    if not evaluator:
        return Outcome(None, weights_digest(gan.G))
    log.info("final %s %.4g; best %.4g at step %s", best["metric"], value, best["value"],
             best["step"])  # fmt: skip
    return Outcome(value, weights_digest(gan.G))  # what a Hydra sweeper (e.g. Optuna) optimises


def choose_layout(cfg: DictConfig, spec: TrainConfig, rt, data_shape: tuple[int, ...],
                  num_classes: int, state: dict | None) -> bool:  # fmt: skip
    """`device.channels_last` for this run (layout.py): the checkpoint's own when resuming
    (checkpoints before the layout was recorded: their config's, channels-last by default)."""
    recorded = None
    if state is not None:
        old = state.get("config", {}).get("device", {}).get("channels_last", True)
        recorded = bool(state.get("channels_last", old is not False))
    stabilizers = build_stabilizers(cfg.stabilizers)
    d_shape = data_shape
    for s in stabilizers:
        d_shape = s.d_data_shape(d_shape)
    batch = spec.batch_size // spec.forward_passes()  # one forward pass's samples
    d_batch = batch * math.prod(data_shape) // math.prod(d_shape)
    model = layout.Model(
        build=lambda: build_networks(cfg.model, stabilizers, data_shape, num_classes),
        batch=batch,
        d_input=(d_batch, *d_shape),
        num_classes=num_classes,
        key={
            "model": OmegaConf.to_container(cfg.model, resolve=True),
            "stabilizers": list(cfg.stabilizers),
            "data": list(data_shape),
        },  # fmt: skip
    )
    cache_dir = Path(spec.eval.cache_dir).expanduser()
    return layout.decide(spec.device.channels_last, rt, recorded, model, cache_dir)


def best_metric(spec: TrainConfig) -> str:
    kind = metrics_kind(spec.dataset)
    return DEFAULT_BEST[kind] if spec.eval.best == "auto" else spec.eval.best


def classes_of(spec: TrainConfig, source) -> int:
    """The number of classes a conditional model is built for (0 for an unconditional one)."""
    if not getattr(spec.model, "conditional", False):
        return 0
    if not source.num_classes:
        raise DataError(f"model.conditional=true needs class labels; data set {source.name} "
                        "has none (labelled: digits, mnist, fashion_mnist, cifar10, folder "
                        "with one subfolder per class)")  # fmt: skip
    return source.num_classes


def make_evaluator(spec: TrainConfig, dataset: dict, source, rt,
                   num_classes: int = 0) -> Evaluator | None:  # fmt: skip
    """The evaluator of rank 0 (None on other ranks, or with evaluation off)."""
    if not spec.eval.every or not rt.is_main:
        return None
    kind = metrics_kind(spec.dataset)
    with torch.random.fork_rng(devices=[]):  # building its networks must not move the seed
        return Evaluator(
            kind, source, spec.eval.samples, spec.eval.seed, dataset, rt.device,
            cache_dir=Path(spec.eval.cache_dir).expanduser(),
            reference_n=spec.eval.reference_samples,
            inception_weights=spec.eval.inception_weights, download=spec.eval.download,
            samples_key="eval.samples", num_classes=num_classes,
        )  # fmt: skip


def restore_rng(saved: dict | list, rt, reseed: int) -> None:
    """Every rank's generators as they were; on another number of ranks, rank r's streams
    (augmentation, penalties) start afresh from a seed of the step instead, while weights,
    optimisers, the data order and the noise continue exactly."""
    per_rank = saved if isinstance(saved, list) else [saved]
    if len(per_rank) == rt.world_size:
        set_rng_state(per_rank[rt.rank], rt.device)
        return
    log.warning("resuming a %d-rank checkpoint on %d ranks: each rank's own random streams "
                "restart; weights, optimisers, data order and noise continue exactly",
                len(per_rank), rt.world_size)  # fmt: skip
    seed_everything(reseed * 1_000_003 + rt.rank)


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
