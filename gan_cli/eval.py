"""`gan eval`: measure one generator, several, or every run of a sweep.

Prints a table and writes a JSON file with the numbers and their protocol. With more than one
checkpoint it adds the mean and standard deviation across them, which is how a result over
seeds should be reported.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import statistics
from pathlib import Path

from omegaconf import DictConfig

from gan_cli import runfolder, stored
from gan_cli.config import METRICS, EvalCommandConfig
from gan_cli.data import EVAL_KEYS, load_dataset
from gan_cli.errors import CheckpointError, ConfigError
from gan_cli.generation import truncation_options
from gan_cli.metrics.evaluate import Evaluator
from gan_cli.registry import resolve
from gan_cli.replay import REPLAYED_KEYS
from gan_cli.resume import check_folder_of, latest
from gan_cli.runtime import pick_device
from gan_cli.sample import load_generator
from gan_cli.schemas import SCHEMAS  # every schema, those beside the code too

log = logging.getLogger(__name__)


def find_checkpoints(spec) -> list[Path]:
    """Checkpoint files from a file, a run dir, a sweep dir (its runs), or a list of these."""
    found: list[Path] = []
    for item in [spec] if isinstance(spec, str) else list(spec):
        p = Path(str(item)).expanduser()
        if p.exists():
            check_folder_of(p)
        if p.is_file():
            found.append(p)
        elif (p / "checkpoints").is_dir():
            found += [f for f in [latest(p / "checkpoints")] if f]
        elif p.is_dir():  # a sweep: every run below it
            runs = sorted(d.parent for d in p.glob("*/checkpoints"))
            found += [f for f in (latest(r / "checkpoints") for r in runs) if f]
        else:
            raise CheckpointError(f"ckpt={item}: no such file or folder")
    if not found:
        raise CheckpointError(f"ckpt={spec}: no checkpoints found there")
    return found


def evaluate(_: DictConfig, cfg: EvalCommandConfig) -> dict:
    device = pick_device(cfg.device.type)
    runs, evaluator, protocol = [], None, None
    for path in find_checkpoints(cfg.ckpt):
        G, state = load_generator(path, device, cfg.ema, cfg.limits, stored.TO_EVALUATE)
        truncation_options(G, cfg.truncation)  # refused before any data or reference loads
        dataset = data_node(state, G.checkpoint_path, cfg)  # checked before any data loads
        kind = measured_as(state, G.checkpoint_path) if cfg.metrics == "auto" else cfg.metrics
        cfg.limits.check_evaluation(cfg.samples, cfg.reference_samples, kind,
                                    tuple(state["data_shape"]))  # fmt: skip
        same = (
            evaluator
            and evaluator.dataset_key == without_eval_keys(dataset)
            and (evaluator.num_classes == state.get("num_classes", 0))
        )
        if not same or evaluator.kind != kind:
            evaluator = Evaluator(
                kind, load_dataset(dataset), cfg.samples, cfg.seed, dataset, device,
                cache_dir=Path(cfg.cache_dir).expanduser(), reference_n=cfg.reference_samples,
                inception_weights=cfg.inception_weights, download=cfg.download,
                num_classes=state.get("num_classes", 0), truncation=cfg.truncation,
            )  # fmt: skip
            if protocol is not None and protocol != evaluator.protocol:
                log.warning("checkpoints measured under different protocols: see %s", cfg.out)
            protocol = evaluator.protocol
        scores = evaluator(G)
        runs.append({"ckpt": str(path), "step": state.get("step"), "ema": "G_ema" in state
                     and cfg.ema, "metrics": scores, "protocol": evaluator.protocol})  # fmt: skip
    summary = summarise([r["metrics"] for r in runs])
    result = {"protocol": protocol, "runs": runs, "summary": summary}
    out = Path(cfg.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    runfolder.write_text(out, json.dumps(result, indent=2) + "\n")
    print(table(runs, summary))
    print(f"protocol: {json.dumps(protocol)}")
    print(f"wrote {out}")
    return result


def measured_as(state: dict, path: Path) -> str:
    """How the checkpoint's data is measured: its `metrics_kind` (format gan-cli/1: the
    dataset config's `metrics`), one of metrics/protocol.py's kinds."""
    kind = state.get("metrics_kind") or state["config"].get("dataset", {}).get("metrics")
    if kind not in METRICS:
        raise CheckpointError(f"{path}: field 'metrics_kind' is not one of {', '.join(METRICS)}")
    return kind


# a checkpoint's data set settings that `gan eval` reads back (as `gan train resume=` replays)
DATA_KEYS = tuple(k.removeprefix("dataset.") for k in sorted(REPLAYED_KEYS)
                  if k.startswith("dataset."))  # fmt: skip


def data_node(state: dict, path: Path, cfg: EvalCommandConfig) -> dict:
    """The data set a checkpoint was trained on, rebuilt from its stored config through the
    replay allow-list (replay.py): its registered loader and shape settings; local paths from
    the command line (`dataset.path=`, `dataset.root=`), never from the checkpoint. Its shape is
    checked against the checkpoint's before anything is loaded."""
    saved = state["config"].get("dataset")
    if not isinstance(saved, dict) or not isinstance(saved.get("_target_"), str):
        raise CheckpointError(f"{path}: field 'config.dataset' names no data set")
    node = {"_target_": saved["_target_"]}
    for key in DATA_KEYS:
        if key in saved:
            value = saved[key]
            if stored.is_count(value) is not True:
                raise CheckpointError(f"{path}: field 'config.dataset.{key}' is not a count")
            node[key] = value
    loader = resolve("dataset", node["_target_"], "dataset")  # registered loaders only
    accepted = inspect.signature(loader).parameters
    local = {"path": cfg.dataset.path, "root": cfg.dataset.root,
             "download": cfg.dataset.download, "cache_dir": cfg.cache_dir}  # fmt: skip
    node.update({k: v for k, v in local.items() if k in accepted and v is not None})
    if "path" in accepted and "path" not in node:
        raise ConfigError(f"{path} was trained on a folder of images; paths are never read "
                          "from a checkpoint: give it with dataset.path=PATH")  # fmt: skip
    shape = tuple(state["data_shape"])
    if len(shape) == 3:
        expected = {"channels": shape[0], "resolution": shape[1]}
        wrong = [f"{k}={node[k]}" for k, v in expected.items() if node.get(k, v) != v]
        if wrong:
            raise CheckpointError(f"{path}: field 'config.dataset' ({', '.join(wrong)}) does "
                                  f"not match its data shape {list(shape)}")  # fmt: skip
    # a data set held in memory: its schema's checks (config/dataset.py) bound its memory
    schema = SCHEMAS["dataset"].get(getattr(loader, "schema", None))
    if schema is not None:
        data = schema(**{k: v for k, v in node.items() if k in schema.__dataclass_fields__})
        data._key = f"{path}: config.dataset"
        data.check(cfg)
    elif "size" in node:  # a plugin's: at least its samples as float32
        cfg.limits.check_data(4 * node["size"] * math.prod(shape), f"{path}: dataset.size")
    return node


def without_eval_keys(dataset: dict) -> dict:
    return {k: v for k, v in dataset.items() if k not in EVAL_KEYS}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (0 for one value); a non-finite value (the reverse KL of a
    generator with no sample near any mode is inf) makes both non-finite, not an error."""
    if not all(math.isfinite(v) for v in values):
        return sum(values) / len(values), math.nan
    try:
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
    except OverflowError:  # values near a float's limit (1e308: only a crafted file has them)
        return math.nan, math.nan


def summarise(all_metrics: list[dict]) -> dict:
    keys = [k for k in all_metrics[0] if all(k in m for m in all_metrics)]
    out = {}
    for k in keys:
        mean, std = mean_std([m[k] for m in all_metrics])
        out[k] = {"mean": mean, "std": std, "n": len(all_metrics)}
    return out


def table(runs: list[dict], summary: dict) -> str:
    keys = list(summary)
    rows = [["checkpoint", "step", *keys]]
    # a run's name comes from its folder: printable, no terminal escapes (runfolder.py)
    rows += [[runfolder.printable(f"{Path(r['ckpt']).parent.parent.name}/{Path(r['ckpt']).name}"),
              str(r["step"]), *(f"{r['metrics'][k]:.4g}" for k in keys)] for r in runs]  # fmt: skip
    if len(runs) > 1:
        rows.append(["mean ± std", "", *(f"{summary[k]['mean']:.4g} ± {summary[k]['std']:.2g}"
                                          for k in keys)])  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )
