"""Code the user trusts, and only that: installed plugins, and modules named for one run.

- **Plugins**: installed packages that declare an entry point in the group `gan_cli.plugins`
  naming a `Plugin` object. It lists the builders the package offers, by config group, and may
  bring a folder of YAML files (conf/<group>/<name>.yaml) that joins Hydra's search path, so
  `gan train model=<its model>` works after `pip install`. The module holding the `Plugin` is
  imported at start-up (keep it light: schemas with `@schema`, no torch); the builders are
  imported only when a config names them. Installing a package is the user's act of trust.
- **Trusted modules**: `trust=[mymodels]` on the command line, or GAN_CLI_TRUST=mymodels,other
  in the environment: any callable defined in those modules (importable from the user's
  environment, e.g. PYTHONPATH) may be a builder of any group, for this run.

Trust never comes from a checkpoint or a run folder: `trust` is not replayed on resume, not
kept in a checkpoint's config, and gan-cli adds no folder to the import path.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from gan_cli import registry
from gan_cli.errors import ConfigError

ENTRY_POINTS = "gan_cli.plugins"
TRUST_ENV = "GAN_CLI_TRUST"


@dataclass
class Plugin:
    builders: dict[str, list[str]] = field(default_factory=dict)  # group -> target names
    conf: str | Path | None = None  # a folder of conf/<group>/<name>.yaml files, if any


@functools.cache
def load_plugins() -> tuple[Plugin, ...]:
    """Every installed plugin, its builders allowed in the registry (once per process)."""
    plugins = []
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin: say which, in one line
            raise ConfigError(f"plugin {ep.name} ({ep.value}) failed to load: "
                              f"{type(exc).__name__}: {exc}") from None  # fmt: skip
        if not isinstance(plugin, Plugin):
            raise ConfigError(f"plugin {ep.name} ({ep.value}) is not a gan_cli.plugins.Plugin")
        for group, targets in plugin.builders.items():
            for target in targets:
                registry.allow(group, target)
        plugins.append(plugin)
    return tuple(plugins)


def config_dir() -> str:
    """gan-cli's own conf/: inside the installed package (a wheel), else at the top of the
    checkout. Plugins' folders (conf_dirs) join it on Hydra's search path."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return str(packaged if packaged.is_dir() else here.parent / "conf")


def conf_dirs() -> list[Path]:
    return [Path(p.conf) for p in load_plugins() if p.conf and Path(p.conf).is_dir()]


def with_searchpath(argv: list[str], dirs: list[Path]) -> list[str]:
    """`argv` with the plugins' config folders added to `hydra.searchpath` (after the user's)."""
    if not dirs:
        return argv
    ours = [f"file://{d.resolve()}" for d in dirs]
    for i, arg in enumerate(argv):
        key, _, value = arg.partition("=")
        if key.lstrip("+") == "hydra.searchpath" and value.startswith("["):
            theirs = value.strip()[1:-1]
            joined = ",".join([*([theirs] if theirs.strip() else []), *ours])
            return [*argv[:i], f"{key}=[{joined}]", *argv[i + 1 :]]
    return [*argv, f"hydra.searchpath=[{','.join(ours)}]"]


def trust_from_user(modules: list[str] | None) -> None:
    """Trust, for this process, the modules named on the command line and in GAN_CLI_TRUST."""
    named = [*(modules or []), *os.environ.get(TRUST_ENV, "").split(",")]
    registry.trust([m.strip() for m in named if m.strip()])
