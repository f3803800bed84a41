"""The command line as the user typed it, rewritten into what Hydra parses: flags first, paths
quoted, `gan report A B` as `path=[A,B]`, `stabilizers=[auto,x]` as Hydra's way of adding to a
group, and what every rank of torchrun needs. No torch, as cli.py."""

from __future__ import annotations

import os
import re

from gan_cli.errors import ConfigError
from gan_cli.resume import VALUED_FLAGS as RESUME_VALUED_FLAGS

# Keys whose values are paths. Sweep folders are named like `0_loss=hinge,seed=1`, and '=' or
# ',' in an override value trips Hydra's parser, so such values are quoted for it.
PATH_KEYS = {"ckpt", "resume", "out", "path", "dataset.path", "dataset.root", "hydra.run.dir",
             "hydra.sweep.dir", "eval.inception_weights", "inception_weights"}  # fmt: skip
_SPECIAL = set("=,()[]{} '\"")


def quote_paths(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        plain = value and value[0] not in "['\"" and any(c in _SPECIAL for c in value)
        out.append(f"{key}='{value}'" if sep and key.lstrip("+") in PATH_KEYS and plain else arg)
    return out


def torchrun_argv(argv: list[str]) -> list[str]:
    """Under torchrun every rank runs this command: they must share one run folder, and only
    rank 0 writes Hydra's records and the log (the training writes through rank 0 only)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return argv
    if "--multirun" in argv or "-m" in argv:
        raise ConfigError("--multirun under torchrun: start one run per torchrun; sweep "
                          "with device.nproc_per_node=N instead")  # fmt: skip
    if not any(a.split("=", 1)[0] == "hydra.run.dir" for a in argv):
        raise ConfigError("under torchrun, give the run folder: hydra.run.dir=PATH (every "
                          "rank must write to, and read from, the same one)")  # fmt: skip
    if int(os.environ.get("RANK", "0")) > 0:
        argv = [*argv, "hydra.output_subdir=null", "hydra/job_logging=disabled",
                "hydra/hydra_logging=disabled"]  # fmt: skip
    return argv


# Hydra's flags that take a value: the word after them is not a path (--info's is optional)
VALUED_FLAGS = {*RESUME_VALUED_FLAGS, "--info", "-i"}


INFO_CHOICES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def flags_first(argv: list[str]) -> list[str]:
    """Hydra's flags (with their values) before the overrides: Hydra reads the overrides as one
    run of words, and the rewrites below append overrides (`gan train x=1 --cfg job`)."""
    flags, rest = [], []
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            rest.append(word)
            continue
        flags.append(word)
        if word in VALUED_FLAGS - {"--info", "-i"}:
            flags.append(next(words, ""))
    for k, word in enumerate(rest):  # --info's value is optional: one of its choices
        if word in INFO_CHOICES and flags[-1:] in (["--info"], ["-i"]):
            flags.append(rest.pop(k))
            break
    return [f for f in flags if f] + rest


def positional_paths(argv: list[str]) -> list[str]:
    """`gan report A B` means `gan report path=[A,B]` (the paths quoted for Hydra's parser)."""
    paths = [a for i, a in enumerate(argv) if "=" not in a and not a.startswith("-")
             and (i == 0 or argv[i - 1] not in VALUED_FLAGS)]  # fmt: skip
    if not paths:
        return argv
    rest = [a for a in argv if a not in paths]
    return [*rest, "path=[" + ",".join(f"'{p}'" for p in paths) + "]"]


# `stabilizers=[auto,x]`: one list, or a sweep of lists (`[auto,x],[auto,y]`)
_LIST = re.compile(r"\[([^\[\]]*)\]")


def added_stabilizers(argv: list[str]) -> list[str]:
    """`stabilizers=[auto,x,...]`: the stabilisers the run gets without a list (a preset's, or
    those its model, loss and data set need: conf/stabilizers/auto.yaml) plus x. Hydra puts no
    interpolated config (auto's files name ${model}) in a list, so this becomes its way of
    adding to a group, `+stabilizers@stabilizers=[x,...]`; `stabilizers=[auto]` alone is the
    default and is dropped."""
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        value = value.replace(" ", "")
        if key != "stabilizers":
            out.append(arg)
            continue
        if value in ("auto", "[auto]"):  # the default
            continue
        lists = [[s for s in m.split(",") if s] for m in _LIST.findall(value)]
        autos = ["auto" in items for items in lists]
        if not any(autos):
            out.append(arg)
        elif all(autos) and value == ",".join(f"[{','.join(i)}]" for i in lists):
            added = [f"[{','.join(s for s in items if s != 'auto')}]" for items in lists]
            out.append(f"+stabilizers@stabilizers={','.join(added)}")
        else:
            raise ConfigError(f"{arg}: auto stands for the run's own stabilisers; sweep lists "
                              "that all include it, or none")  # fmt: skip
    return out
