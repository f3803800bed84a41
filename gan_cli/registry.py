"""Builders by config group: the only callables a config can make gan-cli call.

A model, loss or data set is built from its config node's `_target_`, and the target must be
registered for that node's group: `@register("model")` on a builder function or class in
gan_cli's own modules. A config from an untrusted source (a downloaded checkpoint's stored
config) can therefore never make us call, say, `os.system` or `gan_cli.run_writer.RunWriter`:
a target that is not registered for its group is refused by name before anything is imported.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gan_cli.errors import ConfigError

# group -> the package whose modules hold its built-in builders (imported on first use)
PACKAGES = {"model": "gan_cli.models", "loss": "gan_cli.losses", "dataset": "gan_cli.data",
            "stabilizer": "gan_cli.stabilizers"}  # fmt: skip
_BUILDERS: dict[str, dict[str, Callable]] = {group: {} for group in PACKAGES}
_SCANNED: set[str] = set()


def register(group: str) -> Callable:
    """Decorator: make a function or class a builder of `group`, named by its import path."""
    if group not in _BUILDERS:
        raise ValueError(f"unknown config group {group!r}: {', '.join(_BUILDERS)}")

    def add(obj: Callable) -> Callable:
        _BUILDERS[group][f"{obj.__module__}.{obj.__qualname__}"] = obj
        return obj

    return add


def builders(group: str) -> dict[str, Callable]:
    """Every registered builder of `group`, by target name (gan_cli's own modules imported)."""
    if group not in _SCANNED:
        package = importlib.import_module(PACKAGES[group])
        for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(info.name)
        _SCANNED.add(group)
    return _BUILDERS[group]


def resolve(group: str, target: str, key: str) -> Callable:
    """The builder `target` names, if it is registered for `group`; ConfigError otherwise."""
    fn = builders(group).get(target)
    if fn is None:
        raise ConfigError(
            f"{key}._target_={target!r}: not a registered {group} builder; refused, nothing "
            "was imported"
        )
    return fn


def build(node: DictConfig | dict, group: str, ignore: tuple[str, ...] = (),
          key: str | None = None, **extra: Any) -> Any:  # fmt: skip
    """Call `node._target_(**node, **extra)`; `ignore`: keys of the node that are not params;
    `key`: the node's place in the config, for messages (default: the group's name)."""
    params = (
        OmegaConf.to_container(node, resolve=True, enum_to_str=True)
        if isinstance(node, DictConfig)
        else dict(node)
    )
    for name in ignore:
        params.pop(name, None)
    target = str(params.pop("_target_", ""))
    return resolve(group, target, key or group)(**params, **extra)
