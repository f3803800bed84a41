"""Dataclass schemas for every config group, registered in Hydra's ConfigStore.

Two layers of checking, both before any training:
- types and choices (the Enums) are checked by OmegaConf while Hydra composes, so
  `optim.lr=abc` or `device.precision=fp8` fails at composition with the key named;
- ranges and cross-group rules are checked by `validate()`, which turns the composed config
  into these dataclasses and runs their `check()` methods.

Each YAML file in `conf/<group>/` names its schema in its defaults list
(`- /schema/<group>/<name>@_here_`). One module per group: model.py, loss.py, dataset.py,
stabilizer.py, run.py (device, optimiser, evaluation, the roots); a model, loss, stabiliser or
data set added later brings its schema in a file of its own beside its code,
`gan_cli/<kind>/<name>_schema.py`, which `gan_cli/schemas.py` finds and imports (this package
never imports the code packages: their schema files import it). This package must stay free
of torch imports: it is loaded for `gan train --cfg job` and `--help`, which should take well
under two seconds (so a `_schema.py` file imports no torch either).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from gan_cli.config import dataset, loss, model, stabilizer  # noqa: F401 - they register
from gan_cli.config.base import SCHEMAS, Checked, choice, schema
from gan_cli.config.dataset import metrics_kind
from gan_cli.config.model import Norm
from gan_cli.config.run import (
    DeviceConfig,
    EvalCommandConfig,
    EvalConfig,
    OptimConfig,
    ReportConfig,
    SampleConfig,
    TrainConfig,
)
from gan_cli.errors import ConfigError
from gan_cli.metrics.protocol import DEFAULT_BEST, METRICS

__all__ = ["SCHEMAS", "Checked", "ConfigError", "DEFAULT_BEST", "DeviceConfig",
           "EvalCommandConfig", "EvalConfig", "METRICS", "Norm", "OptimConfig", "SampleConfig",
           "TrainConfig", "choice", "metrics_kind", "register", "schema", "validate"]  # fmt: skip


# the root schema of each verb's YAML (conf/<verb>.yaml selects it first in its defaults list)
ROOT_SCHEMAS = {"train_schema": TrainConfig, "sample_schema": SampleConfig,
                "eval_schema": EvalCommandConfig, "report_schema": ReportConfig}  # fmt: skip


def register() -> None:
    """Put the schemas where the YAML files' defaults lists look for them."""
    cs = ConfigStore.instance()
    for name, node in ROOT_SCHEMAS.items():
        cs.store(name=name, node=node)
    for group, schemas in SCHEMAS.items():
        for name, node in schemas.items():
            cs.store(group=f"schema/{group}", name=name, node=node)


def drop_removed_stabilizers(cfg: DictConfig) -> None:
    """A stabiliser set to null by a later config file is removed (conf/tuned_loss/ files use
    this to take a loss's own Lipschitz constraint away: a defaults list cannot delete)."""
    stabilizers = cfg.get("stabilizers") if isinstance(cfg, DictConfig) else None
    if not isinstance(stabilizers, DictConfig):
        return
    with open_dict(stabilizers):
        for name in [k for k, v in stabilizers.items() if v is None]:
            del stabilizers[name]


def validate(cfg: DictConfig, choices: dict[str, str] | None = None) -> TrainConfig:
    """Turn the composed config into schema objects and run every range check.

    Raises ConfigError naming the key. `choices` (Hydra's group choices) only improves messages.
    Stabilisers a config file set to null are removed from `cfg` first.
    """
    drop_removed_stabilizers(cfg)
    try:
        root: TrainConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    except Exception as exc:  # an unresolved interpolation or a MISSING value
        raise ConfigError(_first_line(exc)) from exc
    root._choices = choices or {}  # type: ignore[attr-defined]
    nodes: list[tuple[str, Any]] = [(f.name, getattr(root, f.name)) for f in fields(root)]
    stabilizers = getattr(root, "stabilizers", {})  # `gan train` only
    nodes += [(f"stabilizers.{name}", node) for name, node in stabilizers.items()]
    for name, node in stabilizers.items():
        if not isinstance(node, Checked):  # settings without a stabiliser (a preset's, say)
            raise ConfigError(
                f"stabilizers.{name}: settings for a stabiliser that is not in the list; add it "
                f"(stabilizers=[...,{name}]) or drop its settings with ~stabilizers.{name}"
            )
    for key, node in nodes:
        if isinstance(node, Checked):
            node._key = key
            node.check(root)
    root.check(root)
    return root


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), "")
    return f"{key}: {lines[0]}" if key else lines[0]
