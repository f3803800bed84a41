"""What `gan train resume=` replays of a checkpoint's stored config (docs/security.md).

The stored config itself, through an allow-list of the settings that make the model, the
objective and the training what they were, as explicit overrides: a run continues with its own
hyperparameters whatever today's defaults are. Paths, caches, the device's kind and Hydra's own
settings come from the command line only; the stored overrides are a record, never replayed.
The config was checked as data first (stored.py): plain values, no interpolation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gan_cli.errors import CheckpointError

# ---- the replay allow-list of `gan train resume=`: the stored config's settings that make the
# model, the objective and the training what they were, replayed as explicit overrides (so no
# default of today changes a run made before it); never a path, a cache, the device's kind or
# an evaluation location
REPLAYED_GROUPS = ("model", "dataset", "loss")  # their choices (by name), then every value
REPLAYED_BELOW = ("model.", "loss.", "optim.", "stabilizers.")
REPLAYED_KEYS = {  # single settings: the data's shape, the run's schedule, its arithmetic
    "seed", "steps", "batch_size", "micro_batches", "log_every", "sample_every", "ckpt_every",
    "ckpt_keep", "grid_size", "dataset.resolution", "dataset.channels", "dataset.size",
    "dataset.seed", "eval.every", "eval.samples", "eval.seed", "eval.best",
    "eval.reference_samples", "device.precision",
}  # fmt: skip
NEVER = ("hydra", "resume", "trust")  # never written into a checkpoint's record of overrides
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_PLAIN = re.compile(r"[A-Za-z0-9_.+\-]+")  # a number, a bool, a name or a builder's path


def override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def replayed(key: str) -> bool:
    return key in REPLAYED_KEYS or key.startswith(REPLAYED_BELOW)


def replay(config: dict, choices: dict[str, str], origin: Path) -> list[str]:
    """The overrides that rebuild a checkpoint's stored config through the allow-list: the
    group choices (`choices`: model, dataset and loss by name), the stabilisers by name, then
    every replayed value explicitly. Values are plain (numbers, bools, names, lists of them);
    anything else is refused in one line naming it (gan-cli never stores one)."""
    out = []
    for group in REPLAYED_GROUPS:
        name = choices.get(group)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise CheckpointError(f"{origin}: field 'choices.{group}' is not an option's name")
        out.append(f"{group}={name}")
    names = list(config.get("stabilizers") or {})
    if not all(_NAME.fullmatch(n) for n in names):
        raise CheckpointError(f"{origin}: field 'config.stabilizers' holds a name that is not "
                              "an option's name; refused, nothing was replayed")  # fmt: skip
    out.append(f"stabilizers=[{','.join(names)}]")
    leaves = dict(_leaves(config, ""))
    for key, value in {**_missing_defaults(config, choices, leaves), **leaves}.items():
        if replayed(key):
            out.append(f"{key}={_hydra_value(value, key, origin)}")
    return out


def _missing_defaults(config: dict, choices: dict[str, str], leaves: dict) -> dict[str, Any]:
    """Keys a checkpoint lacks because its version did not have them yet, at their schema's
    default: the value every run had before the key existed (a new key's default keeps the old
    behaviour), never a value today's tuned settings would give."""
    from dataclasses import MISSING, fields
    from enum import Enum

    from gan_cli.config import OptimConfig
    from gan_cli.schemas import SCHEMAS  # every schema, those beside the code too

    nodes = [("optim", OptimConfig), ("model", SCHEMAS.get("model", {}).get(choices["model"]))]
    nodes += [(f"stabilizers.{n}", SCHEMAS.get("stabilizers", {}).get(n))
              for n in config.get("stabilizers") or {}]  # fmt: skip
    out: dict[str, Any] = {}
    for prefix, schema in nodes:
        for f in fields(schema) if schema is not None else ():
            key = f"{prefix}.{f.name}"
            if key in leaves or f.name.startswith("_"):
                continue
            value = f.default if f.default_factory is MISSING else f.default_factory()
            if value is not MISSING and not (isinstance(value, str) and "${" in value):
                out[key] = value.value if isinstance(value, Enum) else value
    return out


def _leaves(node: Any, prefix: str):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]
    # (a stored config is a dict of dicts: check_plain has bounded its size and depth)


def _hydra_value(value: Any, key: str, origin: Path) -> str:
    """`value` as Hydra's override grammar reads it back unchanged."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(_hydra_value(v, key, origin) for v in value) + "]"
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return value
    raise CheckpointError(f"{origin}: field 'config.{key}' ({str(value)[:40]!r}) is not a plain "
                          "value; refused, nothing was replayed")  # fmt: skip
