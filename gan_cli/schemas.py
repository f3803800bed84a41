"""Every config schema, ready for composing: the built-in ones of `gan_cli/config/` and the
`<name>_schema.py` files that a model, loss, stabiliser or data set added later keeps beside
its code (`models/biggan_schema.py`). Import this module, not `gan_cli.config`, before
composing a config (the CLI and the tests do).

It sits above both: a `_schema.py` file imports `gan_cli.config` (its base classes and the
`@schema` decorator), so the config package itself must never import the code packages back
(tests/test_imports.py). Torch-free, like every schema.
"""

from __future__ import annotations

import importlib
import pkgutil

from gan_cli import config
from gan_cli.config import SCHEMAS

__all__ = ["SCHEMAS", "SCHEMA_PACKAGES", "discover"]  # SCHEMAS: read it from here

# the packages whose `<name>_schema.py` modules hold the schemas of what was added to them
SCHEMA_PACKAGES = ("gan_cli.models", "gan_cli.losses", "gan_cli.stabilizers", "gan_cli.data")


def discover() -> None:
    """Import every `*_schema` module of SCHEMA_PACKAGES: their `@schema` classes register
    themselves (the packages' other modules, which import torch, are not imported)."""
    for name in SCHEMA_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(package.__path__, f"{name}."):
            if info.name.endswith("_schema"):
                importlib.import_module(info.name)


discover()
config.register()  # where the YAML files' defaults lists look for them
