"""Builders by config group: the only callables a config can make gan-cli call.

A model, loss, data set or stabiliser is built from its config node's `_target_`, and the
target must be one of:
- registered for that node's group: `@register("model")` on a builder in gan_cli's own
  modules, or named for that group by an installed plugin (plugins.py);
- defined in a module the user trusts for this run (`trust=[mymodels]`, plugins.py).
A config from an untrusted source (a downloaded checkpoint's stored config) can therefore
never make us call, say, `os.system` or `gan_cli.run_writer.RunWriter`: any other target is
refused by name, before anything is imported but gan-cli's own module of that group the
target names (which holds nothing the config can call unless it registered it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NoReturn

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from gan_cli.errors import ConfigError

# group -> the package whose modules hold its built-in builders (a module is imported when a
# config names a target in it)
PACKAGES = {"model": "gan_cli.models", "loss": "gan_cli.losses", "dataset": "gan_cli.data",
            "stabilizer": "gan_cli.stabilizers"}  # fmt: skip
_BUILDERS: dict[str, dict[str, Callable]] = {group: {} for group in PACKAGES}
_ALLOWED: dict[str, set[str]] = {group: set() for group in PACKAGES}  # plugins' target names
_TRUSTED: set[str] = set()  # modules the user trusts for this run


def _check_group(group: str) -> None:
    if group not in _BUILDERS:
        raise ValueError(f"unknown config group {group!r}: {', '.join(_BUILDERS)}")


def register(group: str, schema: str | None = None) -> Callable:
    """Decorator: make a function or class a builder of `group`, named by its import path.
    `schema`: the name of the schema (config.SCHEMAS[group]) whose checks bound what it makes,
    for a caller that rebuilds it without composing a config (`gan eval`'s data set)."""
    _check_group(group)

    def add(obj: Callable) -> Callable:
        _BUILDERS[group][f"{obj.__module__}.{obj.__qualname__}"] = obj
        if schema is not None:
            obj.schema = schema  # type: ignore[attr-defined]
        return obj

    return add


def allow(group: str, target: str) -> None:
    """A plugin's builder, by name (imported when a config names it)."""
    _check_group(group)
    _ALLOWED[group].add(target)


def trust(modules: list[str]) -> None:
    """Modules whose callables may be builders of any group, for this process."""
    _TRUSTED.update(modules)


def _in_package(group: str, module: str) -> bool:
    """Whether `module` is a plain dotted name inside `group`'s own package."""
    named = all(part.isidentifier() for part in module.split("."))  # no '..', no odd bytes
    return named and module.startswith(f"{PACKAGES[group]}.")


def builtin(group: str, target: str, key: str) -> Callable | None:
    """gan_cli's own builder `target` of `group`, or None. The module the target names is
    imported (as Hydra's `instantiate` imports a `_target_`) only when it lies in the group's
    own package (PACKAGES), and what it holds counts only if it registered itself there: the
    registry names no module it depends on, so the packages that import it are never
    imported back by it (tests/test_imports.py). `key`: the node's place, for messages."""
    _check_group(group)
    module = target.rpartition(".")[0]
    if target not in _BUILDERS[group] and _in_package(group, module):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # no such module, or one it needs is missing
            if exc.name == module or module.startswith(f"{exc.name}."):
                return None
            _cannot_import(key, target, exc)
        except Exception as exc:  # a module of ours that fails to import: one line
            _cannot_import(key, target, exc)
    return _BUILDERS[group].get(target)


def _cannot_import(key: str, target: str, exc: Exception) -> NoReturn:
    raise ConfigError(f"{key}._target_={target!r}: cannot import it ({type(exc).__name__}: "
                      f"{(str(exc).splitlines() or [''])[0][:120]})") from None  # fmt: skip


def _trusted_module(target: str) -> str | None:
    """The trusted module `target` lies in, if any (`a.b.build` lies in `a.b` and in `a`)."""
    parts = target.split(".")
    return next((m for i in range(len(parts) - 1, 0, -1)
                 if (m := ".".join(parts[:i])) in _TRUSTED), None)  # fmt: skip


def resolve(group: str, target: str, key: str) -> Callable:
    """The builder `target` names, if the group or the user allows it; ConfigError otherwise,
    before anything is imported (but the group's own module the target names)."""
    fn = builtin(group, target, key)
    if fn is not None:
        return fn
    module = _trusted_module(target)
    if target not in _ALLOWED[group] and module is None:
        own = target.rpartition(".")[0]
        hint = (
            ""
            if not own or own.startswith("gan_cli")
            else (
                f"; to use your own code, trust its module: trust=[{own}] (or GAN_CLI_TRUST={own})"
            )
        )
        done = "nothing in it was called" if _in_package(group, own) else "nothing was imported"
        raise ConfigError(f"{key}._target_={target!r}: not a registered {group} builder; "
                          f"refused, {done}{hint}")  # fmt: skip
    try:
        fn = get_object(target)
    except Exception as exc:
        _cannot_import(key, target, exc)
    defined_in = str(getattr(fn, "__module__", ""))
    if module is not None and not (defined_in == module or defined_in.startswith(f"{module}.")):
        raise ConfigError(f"{key}._target_={target!r}: defined in {defined_in}, outside the "
                          f"trusted module {module}; refused")  # fmt: skip
    return fn


def check_targets(config: DictConfig | dict) -> None:
    """Every builder a run's config names (model, data set, loss, stabilisers), resolved by
    name: a refused one fails before any data is loaded or network built (seconds earlier)."""
    nodes = [(group, group, config.get(group)) for group in ("model", "dataset", "loss")]
    nodes += [("stabilizer", f"stabilizers.{name}", node)
              for name, node in (config.get("stabilizers") or {}).items()]  # fmt: skip
    for group, key, node in nodes:
        if node is not None:
            resolve(group, str(node.get("_target_", "")), key)


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
