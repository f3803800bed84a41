"""Each default has one home, its schema: a YAML of conf/ sets only what differs from its
schema (a data set's own channels, a device's type), and a builder's keyword defaults, kept for
callers from Python, agree with what the YAML composes to."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
from pathlib import Path

import pytest
import yaml

from gan_cli.config import ROOT_SCHEMAS
from gan_cli.config.base import SCHEMAS

CONF = Path(__file__).resolve().parents[1] / "conf"


def _plain(value):
    """Enums as their values and tuples as lists, as YAML writes them."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.value if isinstance(value, enum.Enum) else value


def _default(f: dataclasses.Field):
    return _plain(f.default if f.default_factory is dataclasses.MISSING else f.default_factory())


def _nested(node: dict, schema: type):
    """(node, schema) for `node` and each of its values whose field is itself a schema
    (conf/train.yaml's `eval:` against TrainConfig's EvalConfig)."""
    yield node, schema
    for f in dataclasses.fields(schema):
        value = node.get(f.name)
        if isinstance(value, dict) and f.default_factory is not dataclasses.MISSING:
            inner = type(f.default_factory())
            if dataclasses.is_dataclass(inner):
                yield from _nested(value, inner)


def _nodes(path: Path):
    """(node, schema) for each schema a YAML selects: `/schema/<group>/<name>@<where>`, or a
    verb's root schema (`train_schema`), nested schemas included."""
    tree = yaml.safe_load(path.read_text()) or {}
    for item in tree.get("defaults") or []:
        if isinstance(item, str) and item in ROOT_SCHEMAS:
            yield from _nested(tree, ROOT_SCHEMAS[item])
        if not (isinstance(item, str) and item.startswith("/schema/")):
            continue
        ref, _, at = item.partition("@")
        group, name = ref.split("/")[2:4]
        node = tree if at == "_here_" else tree.get(at)
        if isinstance(node, dict):
            yield node, SCHEMAS[group][name]


SELECTING = [p for p in sorted(CONF.rglob("*.yaml")) if any(_nodes(p))]


def _same(default, value) -> bool:
    """Equal, and an int is not a bool (YAML's `1` against a default of True)."""
    return default == value and isinstance(value, bool) == isinstance(default, bool)


@pytest.mark.parametrize("path", SELECTING, ids=lambda p: str(p.relative_to(CONF)))
def test_a_yaml_sets_only_what_differs_from_its_schema(path: Path) -> None:
    for node, schema in _nodes(path):
        defaults = {f.name: _default(f) for f in dataclasses.fields(schema)}
        restated = [
            key
            for key, value in node.items()
            if key in defaults and key != "_target_" and _same(defaults[key], value)
        ]
        assert not restated, f"{path.name} restates {schema.__name__}'s defaults: {restated}"


@pytest.mark.parametrize("path", SELECTING, ids=lambda p: str(p.relative_to(CONF)))
def test_a_builders_defaults_agree_with_the_composed_values(path: Path) -> None:
    for node, schema in _nodes(path):
        if "_target_" not in node:
            continue
        composed = {f.name: _default(f) for f in dataclasses.fields(schema)} | node
        module, name = node["_target_"].rsplit(".", 1)
        builder = getattr(importlib.import_module(module), name)
        for p in inspect.signature(builder).parameters.values():
            value = composed.get(p.name, dataclasses.MISSING)
            if p.default is inspect.Parameter.empty or value in (dataclasses.MISSING, "???"):
                continue
            if isinstance(value, str) and "${" in value:
                continue  # resolved at composition (an environment variable's default)
            assert _plain(p.default) == value, (
                f"{node['_target_']}({p.name}={p.default!r}) but {path.name} composes "
                f"{p.name}={value!r}"
            )
