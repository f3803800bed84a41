"""The parts of the training loop's set-up that decide something: the memory layout, the metric
of checkpoints/best.pt, the classes of a conditional model, the evaluator, and the random
streams of a resumed run (loop.py calls them in order)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from gan_cli import layout
from gan_cli.config import TrainConfig, metrics_kind
from gan_cli.errors import DataError
from gan_cli.metrics.evaluate import Evaluator
from gan_cli.metrics.protocol import DEFAULT_BEST
from gan_cli.networks import build_networks, build_stabilizers
from gan_cli.runtime import seed_everything, set_rng_state

log = logging.getLogger(__name__)


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
