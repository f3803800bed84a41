"""What a run stored, read back as data (docs/security.md): checkpoint fields and the stored
config, each checked on read with one line naming the file and the field. Nothing read back is
ever resolved or interpolated: a string holding `${` is refused (gan-cli stores its configs
resolved, so only a crafted file has one). What `gan train resume=` replays of it: replay.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gan_cli.errors import CheckpointError
from gan_cli.metrics.protocol import METRICS

MAX_DEPTH, MAX_NODES, MAX_STRING = 12, 20_000, 4_096  # a stored config or container
MAX_OVERRIDES, MAX_OVERRIDE = 1_000, 1_000  # stored overrides: how many, how long each
MAX_SIDE, MAX_CLASSES = 4_096, 100_000  # data shape and class count a checkpoint may declare
MAX_COUNT = 2**40  # a step, epoch or batch count: far beyond any run, and a seed plus it fits
# in the 64 bits torch.Generator.manual_seed takes
DEVICES = ("cpu", "cuda")  # the kinds of device a run trains on (config.run.DeviceType)

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,199}")  # a key of a stored config or state


# ---- stored containers: plain data only
def check_plain(value: Any, where: str, tensors: bool = False) -> None:
    """A stored config (or, with `tensors`, a state dict): dicts, lists, numbers, bools, None,
    strings without `${` (and tensors); bounded in depth, size and string length; keys are
    names (their keys become override keys on replay: no `=`, `.`, `${` or control character);
    its whole numbers fit 64 bits.
    A state dict's numbers are finite and its whole numbers counts' size (a stabiliser's
    `updates` of 10**400 or inf would overflow at its first use, mid-run). ValueError names
    the place."""
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
                name = isinstance(k, str) and _KEY.fullmatch(k)
                if not (name or (tensors and type(k) is int and abs(k) <= MAX_COUNT)):
                    raise ValueError(f"{at} has a key that is not a short name "
                                     f"({_KEY.pattern})")  # fmt: skip
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
        elif tensors and isinstance(node, int | float) and not _state_number(node):
            raise ValueError(f"{at} is not a finite number of at most {MAX_COUNT:,}")
        elif isinstance(node, int) and abs(node) >= 2**63:  # no setting needs more, and a
            raise ValueError(f"{at} is a whole number beyond 64 bits")  # float() of it fails


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


is_count = _int(0, MAX_COUNT)  # a step, an epoch, a data set's size: whole and in range


def _shape(v: Any) -> bool | str:
    ok = (isinstance(v, list | tuple) and len(v) in (1, 3)
          and all(_int(1, MAX_SIDE)(n) is True for n in v))  # fmt: skip
    return ok or f"is not a list of 1 or 3 whole numbers in [1, {MAX_SIDE}]"


def _plain_dict(tensors: bool) -> Callable[[Any], bool | str]:
    def check(v: Any) -> bool | str:
        if not isinstance(v, dict):
            return "is not a dict"
        check_plain(v, "it", tensors=tensors)
        return True

    return check


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
    # the groups readers look into (`config.device.channels_last`, `config.dataset.metrics`)
    wrong = [g for g in ("loss", "dataset", "device", "optim", "eval", "limits")
             if not isinstance(v.get(g, {}), dict)]  # fmt: skip
    return not wrong or f"has a {wrong[0]} that is not a dict of settings"


def _overrides(v: Any) -> bool | str:
    """The run's command line, kept as a record (never replayed: `replay` rebuilds the config)."""
    ok = (isinstance(v, list) and len(v) <= MAX_OVERRIDES
          and all(isinstance(o, str) and len(o) <= MAX_OVERRIDE for o in v))  # fmt: skip
    if not ok:
        return f"is not a list of at most {MAX_OVERRIDES} short strings"
    check_plain(v, "it")  # no interpolation, even in a record
    return True


def _choices(v: Any) -> bool | str:
    ok = isinstance(v, dict) and all(isinstance(k, str) and (c is None or isinstance(c, str)
                                     and len(c) < 200) for k, c in v.items())  # fmt: skip
    return ok or "is not a table of group choices"


def _finite(low: float, high: float) -> Callable[[Any], bool]:
    """A number in [low, high] as a float: none of inf, nan or an integer too large to become
    one (float() would raise OverflowError where it is used)."""

    def check(v: Any) -> bool:
        if isinstance(v, bool):
            return low <= v <= high  # a bool is a 0 or 1 where a number is (Adam's amsgrad)
        if not isinstance(v, int | float):
            return False
        try:
            return low <= float(v) <= high
        except OverflowError:
            return False

    return check


_state_number = _finite(-MAX_COUNT, MAX_COUNT)  # a number in an optimiser's or stabiliser's state
_seconds = _finite(0, 1e12)  # wall or CPU time of a run: up to 30,000 years


def _score(v: Any) -> bool:
    """A float, finite or not (NaN too), or an integer a float holds."""
    return (isinstance(v, float) and math.isnan(v)) or _finite(-math.inf, math.inf)(v)


def _best(v: Any) -> bool | str:
    """{"metric", "value", "step"} of checkpoints/best.pt: a score and its step, or None for
    both before the first evaluation. The score is a float (an integer no float holds is
    refused); a non-finite one (inf: a run before NaN and inf scores were kept from the best,
    or a crafted -inf no score could beat) counts as no best yet on resume (loop.resume)."""
    if not isinstance(v, dict) or set(v) != {"metric", "value", "step"}:
        return "is not {metric, value, step}"
    value, step, metric = v["value"], v["step"], v["metric"]
    ok = (isinstance(metric, str) and len(metric) <= 200 and (value is None) == (step is None)
          and (value is None or _score(value))
          and (step is None or is_count(step) is True))  # fmt: skip
    return ok or "has a metric, value or step of the wrong type (a score and a count)"


def _data(v: Any) -> bool | str:
    ok = isinstance(v, dict) and all(is_count(v.get(k)) is True
                                     for k in ("epoch", "taken"))  # fmt: skip
    return ok or f"is not {{epoch, taken}} as whole numbers in [0, {MAX_COUNT}]"


# ---- random generators (runtime.rng_state), as their own set_state functions accept them
def _python_rng(v: Any) -> bool:
    """random.getstate(): (3, 624 words of 32 bits and a position in [0, 624], None or the
    next Gaussian)."""
    words = v[1] if isinstance(v, tuple) and len(v) == 3 else None
    return (isinstance(words, tuple) and _int(3, 3)(v[0]) is True and len(words) == 625
            and all(_int(0, 2**32 - 1)(w) is True for w in words) and words[-1] <= 624
            and (v[2] is None or isinstance(v[2], float)))  # fmt: skip


def _numpy_rng(v: Any) -> bool:
    """MT19937's 624 keys, a position in [0, 624] and a cached Gaussian."""
    return (isinstance(v, dict) and _tensor((1,), False)(v.get("keys")) is True
            and v["keys"].numel() == 624 and _int(0, 624)(v.get("pos")) is True
            and _int(0, 1)(v.get("has_gauss")) is True
            and isinstance(v.get("gauss"), float))  # fmt: skip


def _torch_rng(v: Any) -> bool:
    import torch

    return isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1


def _rng(v: Any) -> bool | str:
    per_rank = v if isinstance(v, list) else [v]
    if not 0 < len(per_rank) <= 4096 or not all(isinstance(r, dict) for r in per_rank):
        return "is not the random generators' state"
    for r in per_rank:
        parts = {"python": _python_rng, "numpy": _numpy_rng, "torch": _torch_rng}
        parts |= {"cuda": _torch_rng} if "cuda" in r else {}
        wrong = [name for name, check in parts.items() if not check(r.get(name))]
        if wrong:
            return f"holds a {wrong[0]} generator state that is not one"
    return True


def _scaler(v: Any) -> bool | str:
    """GradScaler.state_dict(): empty (no fp16), or its scale and schedule (set into float32
    and int32 tensors)."""
    if isinstance(v, dict) and not v:
        return True
    keys = ("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")
    ok = (isinstance(v, dict) and set(v) == set(keys)
          and all(isinstance(v[k], int | float) and not isinstance(v[k], bool)
                  and 0 < v[k] < 2**64 for k in keys[:3])
          and _int(1, 2**31 - 1)(v["growth_interval"]) is True
          and _int(0, 2**31 - 1)(v["_growth_tracker"]) is True)  # fmt: skip
    return ok or "is not a gradient scaler's state"


FIELDS: dict[str, Callable[[Any], bool | str]] = {
    "step": is_count,
    "G": _tensor_dict,
    "D": _tensor_dict,
    "G_ema": _tensor_dict,
    "opt_g": _plain_dict(tensors=True),
    "opt_d": _plain_dict(tensors=True),
    "scaler_g": _scaler,
    "scaler_d": _scaler,
    "stabilizers": _plain_dict(tensors=True),
    "noise_rng": _tensor((1,), False),
    "noise_rng_device": lambda v: v in DEVICES or f"is not one of {', '.join(DEVICES)}",
    "fixed_z": _tensor((2,), True),
    "data": _data,
    "data_shape": _shape,
    "rng": _rng,
    "config": _config,
    "overrides": _overrides,
    "best": _best,
    "metrics_kind": lambda v: v in METRICS or f"is not one of {', '.join(METRICS)}",
    "num_classes": _int(0, MAX_CLASSES),
    "wall_s": lambda v: _seconds(v) or "is not seconds (finite, >= 0)",
    "cpu_s": lambda v: _seconds(v) or "is not seconds (finite, >= 0)",
    "channels_last": lambda v: isinstance(v, bool) or "is not true or false",
    "choices": _choices,
    "provenance": _plain_dict(tensors=False),  # a record of where it ran, never acted on
}
OPTIONAL = {"G_ema", "best", "wall_s", "cpu_s", "channels_last", "num_classes", "metrics_kind",
            "choices", "scaler_g", "scaler_d", "noise_rng_device", "provenance"}  # fmt: skip
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


def check_optimizer(saved: dict, opt: Any, path: Path, name: str) -> None:
    """A stored optimiser state (`opt_g`, `opt_d`) against the parameters of `opt` it is loaded
    into, before torch's load_state_dict: that checks neither shapes (a wrong one fails at the
    first step) nor sizes (it converts each state tensor to its parameter's dtype, a copy of
    whatever size the tensor declares), nor that the state is complete (a missing `exp_avg` is
    a KeyError at the first step). Each parameter's state holds what this optimiser keeps
    (`_state_kinds`: tensors of its parameter's shape, `step` one finite count), nothing else."""
    # (what each group's settings keep: one twin per group, not per parameter)
    groups = [(kinds, p) for g in opt.param_groups for kinds in [_state_kinds(opt, g)]
              for p in g["params"]]  # fmt: skip
    try:
        ids = [i for group in saved["param_groups"] for i in _dict(group)["params"]]
        if len(ids) != len(groups):
            raise CheckpointError(f"{path}: field '{name}.param_groups' holds {len(ids)} "
                                  f"parameters; this model has {len(groups)}")  # fmt: skip
        for i, (expected, param) in zip(ids, groups, strict=True):
            entry = _dict(_dict(saved["state"]).get(i, {}))  # none yet: made at the first step
            if entry and expected is not None and set(entry) != set(expected):
                raise CheckpointError(f"{path}: field '{name}.state.{i}' holds "
                                      f"{', '.join(map(str, entry))}; this optimiser keeps "
                                      f"{', '.join(sorted(expected))}")  # fmt: skip
            for key, value in entry.items():
                _check_state_value(value, key, param, (expected or {}).get(key, "tensor"),
                                   f"{path}: field '{name}.state.{i}.{key}'")  # fmt: skip
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RuntimeError):
        raise CheckpointError(f"{path}: field {name!r} is not an optimiser's state") from None


def _dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise TypeError("not a dict")
    return value


def _check_state_value(value: Any, key: str, param: Any, kind: str, at: str) -> None:
    import torch

    if kind == "none" and value is None:  # e.g. SGD without momentum keeps None
        return
    if not isinstance(value, torch.Tensor):  # a number: float() at the step
        raise CheckpointError(f"{at} is {type(value).__name__}, not a tensor")
    if key == "step":  # one finite count (a bool tensor fails at `+= 1`, mid-run)
        ok = (value.numel() == 1 and value.dtype != torch.bool and not value.is_complex()
              and bool(torch.isfinite(value).all()) and 0 <= float(value) <= MAX_COUNT)  # fmt: skip
        if not ok:
            raise CheckpointError(f"{at} is not one count in [0, {MAX_COUNT}] (shape "
                                  f"{list(value.shape)})")  # fmt: skip
    elif value.shape != param.shape:
        raise CheckpointError(f"{at} has shape {list(value.shape)}, not its parameter's "
                              f"{list(param.shape)}")  # fmt: skip


def _state_kinds(opt: Any, group: dict) -> dict[str, str] | None:
    """What an optimiser of `opt`'s kind keeps per parameter with `group`'s settings (Adam:
    step, exp_avg, exp_avg_sq; more with amsgrad), key -> "tensor" or "none", read from a twin
    that takes one step on a one-element parameter of the same device and dtype. Settings its
    constructor does not take (a scheduler's `initial_lr`) are left out; None if no twin can
    be made."""
    import inspect

    import torch

    takes = inspect.signature(type(opt)).parameters
    settings = {k: v for k, v in group.items() if k != "params" and k in takes}
    like = group["params"][0]
    probe = torch.zeros(1, device=like.device, dtype=like.dtype, requires_grad=True)
    try:
        twin = type(opt)([probe], **settings)
        probe.grad = torch.zeros_like(probe)
        twin.step()
    except (TypeError, ValueError, RuntimeError):
        return None
    return {str(k): "none" if v is None else "tensor" for k, v in twin.state[probe].items()}
