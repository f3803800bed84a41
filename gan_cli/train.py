"""The `gan train` task: build everything from the composed config, then one loop.

Read top to bottom: set-up (data, networks, loss, optimisers, outputs), the loop (D steps,
then a G step), and what is written at the intervals. Every piece it uses lives in its own
module: models/, losses/, data/, run_writer.py, checkpoint.py, runtime.py, resume.py.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gan_cli import STARTED, checkpoint
from gan_cli.config import TrainConfig, metrics_kind
from gan_cli.data import load_dataset
from gan_cli.data.source import BatchStream
from gan_cli.errors import CheckpointError, DataError, GanError, Interrupted
from gan_cli.gan import GAN, build_gan
from gan_cli.metrics.evaluate import Evaluator, better
from gan_cli.metrics.protocol import DEFAULT_BEST
from gan_cli.networks import generate, grid_labels
from gan_cli.provenance import provenance
from gan_cli.resume import NEVER_REPLAYED, check_compatible, checkpoint_of, override_key
from gan_cli.run_writer import RunWriter, flatten
from gan_cli.runtime import make_runtime, rng_state, seed_everything, set_rng_state
from gan_cli.samples import picture
from gan_cli.signals import StopRequest

log = logging.getLogger(__name__)

TRACKED = ("Loss/D", "Loss/G", "D/real", "D/fake")  # linked to the HParams tab
POINTS_SHOWN = 2000  # fixed-noise samples in each scatter plot of 2-D data


class Diverged(GanError):
    """Losses or weights went non-finite."""


def train(cfg: DictConfig, spec: TrainConfig) -> float | None:
    """`spec` is `cfg` validated (config.validate); `cfg` is kept to rebuild objects from."""
    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    rt = make_runtime(spec.device)
    seed_everything(spec.seed + rt.rank)
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    config.pop("trust", None)  # trust is the user's, for this run: never kept in a checkpoint
    # what `gan train resume=` replays: the run's own settings, never what only the user may say
    overrides = [
        o for o in hydra.overrides.task if override_key(o).split(".")[0] not in NEVER_REPLAYED
    ]

    # ---- data, networks, objective, optimisers
    source = load_dataset(cfg.dataset)
    num_classes = classes_of(spec, source)  # > 0: a conditional model, fed the data's labels
    batches = BatchStream(source, spec.batch_size, spec.seed, rt.device, rt.channels_last,
                          labels=num_classes > 0)  # fmt: skip
    gan = build_gan(cfg, spec, source.shape, rt, num_classes)
    evaluator = make_evaluator(spec, config["dataset"], source, rt.device, num_classes)
    best = {"metric": best_metric(spec), "value": None, "step": None}
    noise = torch.Generator().manual_seed(spec.seed)
    fixed_c, per_row = grid_labels(num_classes, spec.grid_size, rt.device)  # a row per class
    n_fixed = len(fixed_c) if fixed_c is not None else spec.grid_size
    n_fixed = n_fixed if source.is_image else POINTS_SHOWN
    fixed_z = torch.randn(n_fixed, gan.G.latent_dim, generator=noise).to(rt.device)
    reference = None if source.is_image else source.data[:2000]  # drawn under 2-D samples

    # ---- resume: `resume=PATH`, or this run dir's own last checkpoint
    start, ckpt_dir = 0, run_dir / "checkpoints"
    last_ckpt = checkpoint_of(spec.resume, run_dir)
    if last_ckpt:
        state = checkpoint.load(last_ckpt)  # on the CPU: RNG states must stay there
        checkpoint.require_resumable(state, last_ckpt)
        check_compatible(state, config, source.shape, last_ckpt)
        try:
            gan.load_state_dict(state, int(state["step"]))
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:160]
            raise CheckpointError(f"{last_ckpt} does not fit this model ({first})") from None
        batches.load_state_dict(state["data"])
        fixed_z = state["fixed_z"].to(rt.device)
        if state.get("best", {}).get("metric") == best["metric"]:  # the same measure as now
            best = state["best"]
        set_rng_state(state["rng"], rt.device)  # last: set-up above drew from the generators too
        start = int(state["step"])
        log.info("resumed from %s at step %d", last_ckpt, start)
        if start >= spec.steps:
            log.info("nothing to do: step %d >= steps=%d (raise steps to go on)", start, spec.steps)
            return None
    if last_ckpt and rt.is_main:
        checkpoint.prepare_resume(ckpt_dir, start)

    # ---- outputs (main process only)
    wall_offset = float(state.get("wall_s", 0.0)) if last_ckpt else 0.0
    writer = RunWriter(run_dir, enabled=rt.is_main, resume_step=start, started=STARTED,
                       wall_offset=wall_offset)  # fmt: skip
    writer.provenance(start, provenance(rt.device))
    choices = {k: v for k, v in hydra.runtime.choices.items() if v and not k.startswith("hydra")}
    tracked = [*TRACKED, *([f"Metrics/{best['metric']}"] if evaluator else [])]
    writer.hparams({**flatten(config), **choices}, metrics=tracked)  # model=dcgan, ...
    millions = [sum(p.numel() for p in net.parameters()) / 1e6 for net in (gan.G, gan.D)]
    log.info(
        "run dir %s | data %s %s x %d | G %.2fM, D %.2fM params | %s %s",
        run_dir, source.name, source.shape, len(source), *millions, rt.device, rt.precision,
    )  # fmt: skip

    def snapshot(step: int) -> dict:
        require_finite_weights(step, gan, last_ckpt)  # never replace a good checkpoint by NaNs
        return {
            **gan.state_dict(),
            "step": step,
            "fixed_z": fixed_z.cpu(),
            "data": batches.state_dict(),
            "data_shape": list(source.shape),
            "rng": rng_state(rt.device),
            "config": config,
            "overrides": overrides,  # what `gan train resume=` replays
            "best": best,
            "metrics_kind": metrics_kind(spec.dataset),  # how `gan eval` measures it
            "num_classes": num_classes,  # > 0: conditional; `gan sample` rebuilds G with it
            "wall_s": writer.wall_s,  # seconds of training so far, start-ups included
            "provenance": provenance(rt.device),
        }

    # ---- the loop: optim.d_steps updates of D, then one of G
    since, t_last = 0, time.perf_counter()
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
                require_finite(step, values, last_ckpt)
                writer.scalars(step, values)
                bar.set_postfix(d=f"{values['Loss/D']:.3f}", g=f"{values['Loss/G']:.3f}")
                shown = " | ".join(f"{tag} {value:.4g}" for tag, value in values.items())
                log.info("step %d/%d | %s", step, spec.steps, shown)
            if step % spec.sample_every == 0 or last:
                G = gan.sampler.eval()  # batch norm from running statistics, as `gan sample`
                with torch.no_grad(), rt.autocast():
                    samples = generate(G, fixed_z, fixed_c)
                writer.picture(step, "samples", picture(samples, reference, per_row))
            if evaluator and (step % spec.eval.every == 0 or last):
                scores = evaluator(gan.sampler)  # fp32, as `gan eval`
                writer.scalars(step, {f"Metrics/{k}": v for k, v in scores.items()})
                log.info(
                    "step %d | %s", step, " | ".join(f"{k} {v:.4g}" for k, v in scores.items())
                )
                value = scores[best["metric"]]
                if better(best["metric"], value, best["value"]) and rt.is_main:
                    best = {"metric": best["metric"], "value": value, "step": step}
                    checkpoint.save_as(snapshot(step), ckpt_dir / "best.pt")
            if (step % spec.ckpt_every == 0 or last or stop.requested) and rt.is_main:
                last_ckpt = checkpoint.save(snapshot(step), ckpt_dir, step, spec.ckpt_keep)
            if stop.requested and not last:
                writer.close()
                raise Interrupted(
                    f"interrupted by {stop.name} at step {step}; checkpoint {last_ckpt}; "
                    f"continue with: gan train resume={run_dir}",
                    128 + int(stop.signum or 0),
                )
    bar.close()
    writer.close()
    log.info("done: %d steps; checkpoint %s; samples in %s", spec.steps, last_ckpt,
             writer.samples_dir)  # fmt: skip
    if not evaluator:
        return None
    log.info("final %s %.4g; best %.4g at step %s", best["metric"], value, best["value"],
             best["step"])  # fmt: skip
    return value  # the last evaluation: what a Hydra sweeper (e.g. Optuna) optimises


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


def make_evaluator(spec: TrainConfig, dataset: dict, source, device,
                   num_classes: int = 0) -> Evaluator | None:  # fmt: skip
    if not spec.eval.every:
        return None
    kind = metrics_kind(spec.dataset)
    with torch.random.fork_rng(devices=[]):  # building its networks must not move the seed
        return Evaluator(
            kind, source, spec.eval.samples, spec.seed, dataset, device,
            cache_dir=Path(spec.eval.cache_dir).expanduser(),
            reference_n=spec.eval.reference_samples,
            inception_weights=spec.eval.inception_weights, download=spec.eval.download,
            samples_key="eval.samples", num_classes=num_classes,
        )  # fmt: skip


def require_finite(step: int, values: dict, last_ckpt: Path | None) -> None:
    """Stop a diverged run before it writes NaN samples or checkpoints."""
    bad = [tag for tag, v in values.items() if not math.isfinite(v)]
    if bad:
        raise Diverged(f"training diverged at step {step} ({', '.join(bad)} not finite); "
                       f"{_last_good(last_ckpt)}")  # fmt: skip


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
