"""Builds the object a config node's `_target_` names, and nothing outside gan_cli.

Every model, loss and data set is created here from its config node, so a config from an
untrusted source (a downloaded checkpoint's stored config) can never make us call, say,
`os.system`: the target must be inside `gan_cli` both by name and by where it was defined.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from gan_cli.errors import ConfigError


def build(node: DictConfig | dict, key: str, ignore: tuple[str, ...] = (), **extra: Any) -> Any:
    """Call `node._target_(**node, **extra)`; `ignore`: keys of the node that are not params."""
    params = (
        OmegaConf.to_container(node, resolve=True, enum_to_str=True)
        if isinstance(node, DictConfig)
        else dict(node)
    )
    for name in ignore:
        params.pop(name, None)
    target = str(params.pop("_target_", ""))
    if not target.startswith("gan_cli."):
        raise ConfigError(f"{key}._target_={target!r}: only builders inside gan_cli may be used")
    try:
        fn = get_object(target)
    except Exception:
        raise ConfigError(f"{key}._target_={target!r}: no such builder") from None
    if not str(getattr(fn, "__module__", "")).startswith("gan_cli."):
        raise ConfigError(f"{key}._target_={target!r}: defined outside gan_cli, refused")
    return fn(**params, **extra)
