"""`gan VERB [overrides]`: a thin front over one Hydra app per verb.

Hydra has no subcommands, so `main()` takes the verb off argv and hands the rest to that verb's
Hydra app, which then has everything a Hydra app has (overrides, --multirun, --cfg job, --help,
hydra.run.dir=...). Nothing here imports torch: `gan --help` and `gan train --cfg job` stay fast;
the verbs import their heavy modules only when they run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from gan_cli import config
from gan_cli.errors import GanError


def config_dir() -> str:
    """conf/ inside the installed package (a wheel), else conf/ at the top of the checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return str(packaged if packaged.is_dir() else here.parent / "conf")


config.register()


def _report(fn):
    """Run a verb; a GanError becomes one `error: ...` line on stderr and a non-zero exit."""
    try:
        return fn()
    except GanError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


@hydra.main(config_path=config_dir(), config_name="train", version_base="1.3")
def train_app(cfg: DictConfig) -> float | None:
    def run():
        spec = config.validate(cfg, _choices())  # before torch is imported: bad values fail fast
        from gan_cli.train import train

        return train(cfg, spec)

    return _report(run)


def _choices() -> dict[str, str]:
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices)


VERBS = {
    "train": (train_app, "train a GAN (gan train --help for every option)"),
}


def usage() -> str:
    lines = ["usage: gan VERB [key=value ...] [hydra flags]", "", "verbs:"]
    lines += [f"  {verb:<8} {help_}" for verb, (_, help_) in VERBS.items()]
    lines += [
        "",
        "examples:",
        "  gan train model=dcgan loss=hinge",
        "  gan train --multirun loss=minimax,non_saturating,wasserstein,hinge",
        "  gan train --cfg job",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"error: unknown verb {verb!r}; choose from: {', '.join(VERBS)}", file=sys.stderr)
        raise SystemExit(2)
    app, _ = VERBS[verb]
    sys.argv = [f"gan-{verb}", *rest]  # what Hydra parses
    app()


if __name__ == "__main__":
    main()
