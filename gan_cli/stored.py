"""What a run stored, read back as data (docs/security.md): checkpoint fields, the stored config
and the stored overrides, each checked on read with one line naming the file and the field.

Nothing read back is ever resolved or interpolated: a string holding `${` is refused (gan-cli
stores its configs resolved, so only a crafted file has one). What `gan train resume=` replays
is an allow-list of the settings that make the model, the objective and the training what they
were; paths, caches, the device and Hydra's own settings come from the command line only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gan_cli.errors import CheckpointError, ConfigError
from gan_cli.metrics.protocol import METRICS

MAX_DEPTH, MAX_NODES, MAX_STRING = 12, 20_000, 4_096  # a stored config or container
MAX_OVERRIDES, MAX_OVERRIDE = 1_000, 1_000  # stored overrides: how many, how long each
MAX_SIDE, MAX_CLASSES = 4_096, 100_000  # data shape and class count a checkpoint may declare

# ---- the replay allow-list of `gan train resume=`
# group choices replayed (`model=resnet`), and the groups whose every setting is replayed
REPLAYED_GROUPS = ("model", "loss", "dataset", "optim", "stabilizers", "experiment")
REPLAYED_BELOW = ("model.", "loss.", "optim.", "stabilizers.")
REPLAYED_KEYS = {  # single settings replayed: the data's shape and the run's schedule
    "seed", "steps", "batch_size", "micro_batches", "log_every", "sample_every", "ckpt_every",
    "ckpt_keep", "grid_size", "dataset.resolution", "dataset.channels", "dataset.size",
    "dataset.seed", "eval.every", "eval.samples", "eval.seed", "eval.best",
    "eval.reference_samples",
}  # fmt: skip
NEVER = ("hydra", "resume", "trust")  # Hydra itself, and what only the user may say: refused
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
# a replayed value: a number, a bool, a name, or a list of those; never a path or interpolation
_VALUE = re.compile(r"[A-Za-z0-9_.+\-]*|\[[A-Za-z0-9_.+\-, ]*\]")


def override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def replayed(overrides: list[str], origin: Path) -> tuple[list[str], list[str]]:
    """(the stored overrides to replay, those left to the user) from a checkpoint's list; a
    crafted entry (Hydra's settings, trust, a path as a group choice, an interpolation, a path
    as a value) is refused in one line naming it: gan-cli never stores one."""
    kept, left = [], []
    for override in overrides:
        key = override_key(override)
        _, sep, value = override.partition("=")
        replay = key in REPLAYED_GROUPS or key in REPLAYED_KEYS or key.startswith(REPLAYED_BELOW)
        crafted = (
            not _KEY.fullmatch(key)
            or key.split(".")[0] in NEVER
            or "${" in override
            or (not sep and not (override.startswith("~") and "." in key))  # ~stabilizers.r1
            or (replay and sep and not _VALUE.fullmatch(value))  # a path in a replayed value
            or ("." not in key and replay and sep and not _names(value))
        )
        if crafted:
            raise ConfigError(
                f"{origin}: stored override {override!r} refused (only plain settings and "
                "option names are replayed); nothing was loaded"
            )
        (kept if replay else left).append(override)
    return kept, left


def _names(value: str) -> bool:
    names = value[1:-1].split(",") if value.startswith("[") and value.endswith("]") else [value]
    return value == "[]" or all(_NAME.fullmatch(n.strip()) for n in names if n.strip())


# ---- stored containers: plain data only
def check_plain(value: Any, where: str, tensors: bool = False) -> None:
    """A stored config (or, with `tensors`, a state dict): dicts, lists, numbers, bools, None,
    strings without `${` (and tensors); bounded in depth, size and string length. ValueError
    names the place."""
    import torch

    count = 0
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        node, at, depth = stack.pop()
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            raise ValueError(f"{where} is too large or too deeply nested")
        if isinstance(node, dict):
            for k, v in node.items():
                short_key = isinstance(k, str) and len(k) <= 200
                if not (short_key or (tensors and isinstance(k, int))):
                    raise ValueError(f"{at} has a key that is not a short name")
                stack.append((v, f"{at}.{k}", depth + 1))
        elif isinstance(node, list | tuple):
            stack += [(v, f"{at}[{i}]", depth + 1) for i, v in enumerate(node)]
        elif isinstance(node, str):
            if "${" in node:
                raise ValueError(f"{at} holds an interpolation ({node[:40]!r}): refused, never "
                                 "resolved")  # fmt: skip
            if len(node) > MAX_STRING:
                raise ValueError(f"{at} is a string of {len(node):,} characters")
        elif tensors and isinstance(node, torch.Tensor):
            continue
        elif node is not None and not isinstance(node, bool | int | float):
            raise ValueError(f"{at} is a {type(node).__name__}, not plain data")


# ---- checkpoint fields: name -> check (True when fine; a string says what is wrong)
def _tensor_dict(v: Any) -> bool | str:
    import torch

    if not isinstance(v, dict) or not v:
        return "is not a dict of tensors"
    if not all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items()):
        return "holds something other than named tensors"
    return True


def _tensor(dims: tuple[int, ...], floating: bool) -> Callable[[Any], bool | str]:
    def check(v: Any) -> bool | str:
        import torch

        if not isinstance(v, torch.Tensor) or v.dim() not in dims:
            return f"is not a {' or '.join(map(str, dims))}-D tensor"
        return v.is_floating_point() == floating or f"has dtype {v.dtype}"

    return check


def _int(low: int, high: float = math.inf) -> Callable[[Any], bool | str]:
    def check(v: Any) -> bool | str:
        ok = isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
        return ok or f"is not a whole number in [{low}, {high}]"

    return check


def _shape(v: Any) -> bool | str:
    ok = (isinstance(v, list | tuple) and len(v) in (1, 3)
          and all(_int(1, MAX_SIDE)(n) is True for n in v))  # fmt: skip
    return ok or f"is not a list of 1 or 3 whole numbers in [1, {MAX_SIDE}]"


def _state(v: Any) -> bool | str:
    if not isinstance(v, dict):
        return "is not a dict"
    check_plain(v, "it", tensors=True)
    return True


def _config(v: Any) -> bool | str:
    if not isinstance(v, dict):
        return "is not a dict"
    check_plain(v, "config")
    model = v.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("_target_"), str):
        return "has no model with a _target_"
    stabilizers = v.get("stabilizers", {})
    if not isinstance(stabilizers, dict) or not all(isinstance(s, dict) for s in
                                                    stabilizers.values()):  # fmt: skip
        return "has stabilizers that are not a dict of settings"
    return True


def _overrides(v: Any) -> bool | str:
    ok = (isinstance(v, list) and len(v) <= MAX_OVERRIDES
          and all(isinstance(o, str) and len(o) <= MAX_OVERRIDE for o in v))  # fmt: skip
    return ok or f"is not a list of at most {MAX_OVERRIDES} short strings"


def _best(v: Any) -> bool | str:
    if not isinstance(v, dict) or not isinstance(v.get("metric"), str):
        return "is not a dict with a metric name"
    value, step = v.get("value"), v.get("step")
    ok = (value is None or isinstance(value, int | float)) and (step is None or _int(0)(step)
                                                                is True)  # fmt: skip
    return ok or "has a value or step of the wrong type"


def _data(v: Any) -> bool | str:
    ok = isinstance(v, dict) and all(_int(0)(v.get(k)) is True for k in ("epoch", "taken"))
    return ok or "is not {epoch, taken} as whole numbers"


def _rng(v: Any) -> bool | str:
    per_rank = v if isinstance(v, list) else [v]
    ok = 0 < len(per_rank) <= 4096 and all(isinstance(r, dict) and {"python", "numpy", "torch"}
                                           <= set(r) for r in per_rank)  # fmt: skip
    return ok or "is not the random generators' state"


FIELDS: dict[str, Callable[[Any], bool | str]] = {
    "step": _int(0),
    "G": _tensor_dict,
    "D": _tensor_dict,
    "G_ema": _tensor_dict,
    "opt_g": _state,
    "opt_d": _state,
    "stabilizers": _state,
    "noise_rng": _tensor((1,), False),
    "fixed_z": _tensor((2,), True),
    "data": _data,
    "data_shape": _shape,
    "rng": _rng,
    "config": _config,
    "overrides": _overrides,
    "best": _best,
    "metrics_kind": lambda v: v in METRICS or f"is not one of {', '.join(METRICS)}",
    "num_classes": _int(0, MAX_CLASSES),
    "wall_s": lambda v: (isinstance(v, int | float) and v >= 0) or "is not seconds",
    "channels_last": lambda v: isinstance(v, bool) or "is not true or false",
}
OPTIONAL = {"G_ema", "best", "wall_s", "channels_last", "num_classes", "metrics_kind"}
TO_SAMPLE = ("config", "data_shape", "G", "G_ema", "num_classes", "step")  # gan sample
TO_EVALUATE = (*TO_SAMPLE, "metrics_kind")  # gan eval
TO_RESUME = tuple(FIELDS)  # gan train resume=


def require(state: dict, path: Path, names: tuple[str, ...]) -> None:
    """Check each named field of a loaded checkpoint; CheckpointError naming the file and the
    first field that is missing (and not optional) or malformed."""
    for name in names:
        if name not in state:
            if name in OPTIONAL:
                continue
            raise CheckpointError(f"{path}: field {name!r} is missing")
        try:
            verdict = FIELDS[name](state[name])
        except ValueError as exc:
            verdict = f"is refused: {exc}"
        except (TypeError, AttributeError, RecursionError):
            verdict = "is malformed"
        if verdict is not True:
            raise CheckpointError(f"{path}: field {name!r} {verdict}")
