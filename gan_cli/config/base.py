"""What every schema shares: range checks that name the key, and the table of schemas that
YAML files select by name (`- /schema/<group>/<name>@_here_` in their defaults lists)."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from gan_cli.errors import ConfigError

# group -> schema name -> dataclass; filled by @schema, stored in Hydra's ConfigStore by
# config.register(). Plugins add theirs the same way.
SCHEMAS: dict[str, dict[str, type]] = {}
SEEDS = 2**32  # seeds are below this


def schema(group: str, name: str):
    """Class decorator: the schema YAML files of `group` select as `/schema/<group>/<name>`."""

    def add(cls: type) -> type:
        SCHEMAS.setdefault(group, {})[name] = cls
        return cls

    return add


class Choice(str, Enum):
    """A field's fixed options: an Enum, so that a wrong value fails while Hydra composes, and a
    str to every reader after (`==`, hashing, f-strings, JSON), so that none unwraps `.value`."""

    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__


class Checked:
    """Mixin: `require(name, ok, must)` raises ConfigError naming the field."""

    _key: str = ""  # dotted path of this node in the composed config, set by validate()

    def require(self, name: str, ok: bool, must: str) -> None:
        if not ok:
            key = f"{self._key}.{name}" if self._key else name
            raise ConfigError(f"{key}={getattr(self, name)!r}: must be {must}")

    def check(self, root: Any) -> None:  # noqa: B027 - optional hook
        """Range and cross-group checks; `root` is the whole (validated) config."""

    def require_seed(self, *names: str) -> None:
        """Seeds in [0, 2**32): what every generator takes (NumPy's limit), and what leaves the
        noise stream's per-step seed (seed x 1,000,003 + step) inside torch's 64 bits."""
        for name in names:
            value = getattr(self, name)
            values = value if isinstance(value, list | tuple) else [value]
            ok = all(type(v) is int and 0 <= v < SEEDS for v in values)  # (no bool)
            self.require(name, ok, f"a whole number in [0, 2**32) (seeds below {SEEDS:,})")

    def require_positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            finite = isinstance(value, int) or math.isfinite(value)  # (isfinite(10**400) raises)
            self.require(name, value > 0 and finite, "> 0 and finite")


def choice(root: Any, group: str) -> str:
    """The group's choice as the user typed it (e.g. 'ring8'), or the group name if unknown."""
    choices = getattr(root, "_choices", {}) or {}
    return choices.get(group, group)
