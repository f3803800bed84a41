"""Continuing a run: finding its checkpoint, and refusing one that does not fit this config.

The `gan` front calls `resume_argv()` before Hydra composes anything; torch is imported
only when there is a checkpoint to read.

`gan train resume=PATH` (a run dir, or a checkpoint file) replays the settings stored in the
checkpoint (replay.py: an allow-list, never paths), adds the ones given now (which win), and
runs in that run's directory; the task then loads the checkpoint. Rerunning a command with the same
`hydra.run.dir` resumes from `checkpoints/last.pt` when there is one.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from gan_cli import replay, runfolder, stored
from gan_cli.errors import CheckpointError, ConfigError
from gan_cli.replay import NEVER as NEVER_REPLAYED  # noqa: F401 - train.py's filter
from gan_cli.replay import override_key

# Settings a checkpoint must share with the run that continues it. Everything else (steps,
# intervals, learning rates, device, precision) may change on resume.
IDENTITY = ("model", "loss", "dataset", "batch_size", "seed", "optim.name", "optim.d_steps")
# inside IDENTITY, but free to change: how a run was evaluated (format gan-cli/1), and where
# this machine keeps the data (paths come from the command line only)
FREE = {"dataset.metrics", "dataset.eval_every", "dataset.path", "dataset.root",
        "dataset.cache_dir", "dataset.cache", "dataset.workers", "dataset.download"}  # fmt: skip


def run_dir_of(path: Path) -> Path:
    """The run directory a resume path belongs to."""
    if path.is_file():
        return path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return path


def check_folder_of(path: Path) -> None:
    """Before `gan sample`/`gan eval` read `path`: a run or sweep folder, or a checkpoint in a
    run's checkpoints/, is walked for links (runfolder.check_tree). A loose checkpoint file is
    the one thing read (opened without following a link): the folder around it, ~/Downloads
    say, is not a run folder and is not walked."""
    if path.is_dir() or path.parent.name == "checkpoints":
        runfolder.check_tree(run_dir_of(path))


def latest(folder: Path) -> Path | None:
    """The newest complete checkpoint in a checkpoints/ folder.

    Step files appear only once whole (atomic rename), and last.pt is re-pointed just after;
    a kill in between leaves last.pt one checkpoint behind, so the highest step file wins.
    """
    from gan_cli.checkpoint import step_files  # torch: only when there is a folder to read

    steps = step_files(folder)
    if steps:
        return steps[-1]
    last = folder / "last.pt"
    return last if last.is_file() else None


def checkpoint_of(resume: str | None, run_dir: Path) -> Path | None:
    """The checkpoint to continue from: `resume` if given, else this run dir's newest. The run
    dir is checked first: a job of a sweep continues a job folder no one else checked."""
    if not resume:
        runfolder.check_tree(run_dir)
        return latest(run_dir / "checkpoints")
    path = Path(resume).expanduser()
    found = latest(path / "checkpoints") if path.is_dir() else path
    if found is None or not found.is_file():
        raise CheckpointError(f"resume={resume}: no checkpoint there")
    return found


def _last_value(argv: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in argv if override_key(a) == key and "=" in a]
    return values[-1] if values else None


def _existing_dir(argv: list[str], key: str) -> Path | None:
    """The folder given as `key=PATH` (quoted for Hydra's parser or not), if it exists."""
    value = _last_value(argv, key)
    folder = Path(value.strip("'\"")).expanduser() if value else None
    return folder if folder is not None and folder.is_dir() else None


NODES = {"model", "loss", "dataset", "stabilizers", "device", "optim", "eval"}  # not settings


def _settings() -> set[str]:
    """The root keys that hold one value (`steps`, `seed`, `trust`, ...)."""
    from dataclasses import fields

    from gan_cli.config import TrainConfig

    return {f.name for f in fields(TrainConfig)} - NODES


def _is_group_choice(key: str) -> bool:
    """`model=dcgan`, `experiment=wgan_gp`: a dot-free key that is not a one-value setting."""
    return "." not in key and key not in _settings()


def check_group_choices(argv: list[str]) -> None:
    """The user's own group choices stay inside the config search path: a choice is the name
    of an option, never a path (`experiment=../../x` would load a YAML from anywhere)."""
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or arg.startswith("-") or not _is_group_choice(key.lstrip("+~")):
            continue
        if ".." in value or value.lstrip("[('\"").startswith(("/", "~")):
            raise ConfigError(f"{arg}: a config-group choice names an option, not a path")


# files written by name into a continued run or sweep, in any of its folders: appended to
# (Hydra's log handler, RunWriter) or rewritten in place (Hydra's records of a sweep job, and
# the sweep's multirun.yaml). Each gets a copy of its own first if it has other hard links.
WRITTEN_BY_NAME = ("train.log", "metrics.jsonl", "provenance.jsonl", "multirun.yaml",
                   *sorted(runfolder.HYDRA_RECORDS))  # fmt: skip


def check_existing(folder: Path) -> None:
    """An existing run or sweep folder about to be continued: no links, FIFOs or devices
    anywhere below it, and no file written by name shared with another name (runfolder.py)."""
    for sub in runfolder.check_tree(folder):
        runfolder.detach_hard_links(sub, WRITTEN_BY_NAME)


# Hydra's flags that take a value
VALUED_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                "--config-dir", "-cd", "--experimental-rerun"}  # fmt: skip


def resume_argv(argv: list[str]) -> list[str]:
    """Rewrite `gan train` arguments for continuing a run.

    `resume=PATH`: replay the config stored in that checkpoint (replay.replay: its group
    choices and, through an allow-list, its values), then the settings given now (which win),
    in the checkpoint's run directory. Whenever the run directory already exists, it is checked
    first (no links, no shared files: runfolder.py), and Hydra's record of this invocation goes
    to .hydra/resumed_<time>/ instead of over the original run's .hydra/ files.
    """
    check_group_choices(argv)
    given = _last_value(argv, "resume")
    if given is not None:
        if "--multirun" in argv or "-m" in argv:
            raise ConfigError("resume= continues one run; it cannot be combined with --multirun")
        path = Path(given).expanduser()
        if not path.exists():
            raise CheckpointError(f"resume={given}: no such file or folder")
        runfolder.check_tree(run_dir_of(path))
        from gan_cli.checkpoint import load  # torch: only when resuming

        ckpt = checkpoint_of(given, run_dir_of(path))
        state = load(ckpt)
        stored.require(state, ckpt, ("config", "choices", "overrides"))
        original = replay.replay(state["config"], choices_of(state, ckpt), ckpt)
        flags = [a for i, a in enumerate(argv) if a.startswith("-")
                 or (i > 0 and argv[i - 1] in VALUED_FLAGS)]  # fmt: skip
        now = [a for a in argv if override_key(a) != "resume" and a not in flags]
        keys_now = {override_key(a) for a in now if "=" in a}
        chosen_now = tuple(f"{k}." for k in keys_now if _is_group_choice(k))
        # what is given now wins; a group chosen anew also drops the old choice's settings
        kept = [
            o
            for o in original
            if override_key(o) not in keys_now and not override_key(o).startswith(chosen_now)
        ]
        argv = [*flags, *kept, *now, f"resume={given}", f"hydra.run.dir={run_dir_of(path)}"]
        if _last_value(argv, "dataset") == "folder" and not _last_value(argv, "dataset.path"):
            raise ConfigError(
                f"resume={given}: the run trained on dataset=folder; paths are never replayed "
                "from a run folder: give its images again with dataset.path=PATH"
            )
    # a run's or a sweep's folder that exists (downloaded, perhaps): continue it safely; each
    # job of a sweep then writes into, and resumes from, a folder below the one checked here
    sweep_dir = _existing_dir(argv, "hydra.sweep.dir")
    if sweep_dir:
        check_existing(sweep_dir)
    folder = _existing_dir(argv, "hydra.run.dir")
    if folder:
        check_existing(folder)
        if (folder / ".hydra").is_dir() and not _last_value(argv, "hydra.output_subdir"):
            argv = [*argv, "hydra.output_subdir=.hydra/resumed_${now:%Y-%m-%d_%H-%M-%S}"]
    return argv


def choices_of(state: dict, origin: Path) -> dict[str, str]:
    """The model, data set and loss options a checkpoint was trained with, by name: as it
    recorded them, or (a checkpoint from before they were recorded) the option of today's
    conf/ whose `_target_` built it."""
    saved = state.get("choices") or {}
    out = {}
    for group in replay.REPLAYED_GROUPS:
        name = saved.get(group)
        if name is None:
            node = state["config"].get(group)
            target = node.get("_target_") if isinstance(node, dict) else None
            name = _options(group).get(target) if isinstance(target, str) else None
            if name is None:
                raise CheckpointError(f"{origin}: no option of conf/{group}/ builds {target!r}; "
                                      "this version cannot continue the run")  # fmt: skip
        out[group] = name
    return out


@functools.cache
def _options(group: str) -> dict[str, str]:
    """`_target_` -> the name of the conf/<group>/ option (or an installed plugin's) naming it
    (a `_global_` option, such as loss=wasserstein, names it under `<group>._target_`)."""
    from gan_cli import plugins

    found: dict[str, str] = {}
    for folder in [Path(plugins.config_dir()), *plugins.conf_dirs()]:
        for file in sorted((folder / group).glob("*.yaml")):
            data = yaml.safe_load(file.read_text()) or {}
            target = data.get("_target_") or (data.get(group) or {}).get("_target_")
            if isinstance(target, str):
                found.setdefault(target, file.stem)
    return found


def check_data_shape(state: dict, data_shape: tuple[int, ...], path: Path) -> None:
    """Refuse, in one line, a checkpoint made for data of another shape."""
    stored_shape = tuple(state.get("data_shape", ()))
    if stored_shape and stored_shape != tuple(data_shape):
        raise CheckpointError(
            f"{path} was trained on data of shape {_describe(stored_shape)}; this run's data "
            f"is {_describe(tuple(data_shape))} (check dataset.channels / dataset.resolution)"
        )


def check_compatible(state: dict, config: dict, path: Path) -> None:
    """Refuse, in one line, a checkpoint made for another model or config (before any data is
    loaded: check_data_shape follows once it is)."""
    stored, current = state.get("config", {}), config
    had, has = list(stored.get("stabilizers", {})), list(current.get("stabilizers", {}))
    if had != has:
        raise CheckpointError(
            f"{path} was trained with stabilizers=[{','.join(had)}]; this run has "
            f"stabilizers=[{','.join(has)}]: resume with the same list, or start a new run"
        )
    diffs = []
    for key in IDENTITY:
        diffs += _differences(key, _select(stored, key), _select(current, key))
    if diffs:
        shown = "; ".join(diffs[:3]) + ("; ..." if len(diffs) > 3 else "")
        raise CheckpointError(
            f"{path} comes from a different model or config ({shown}): resume with the same "
            "settings, or start a new run directory"
        )


def _select(tree: dict, key: str):
    """`tree` at a dotted key of plain dicts (None where there is nothing)."""
    for part in key.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def _differences(key: str, old, new) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [  # a key the checkpoint lacks came with a later version: its default then
            d
            for k in sorted(set(old) | set(new))
            if k in old
            for d in _differences(f"{key}.{k}", old.get(k), new.get(k))
        ]
    return [] if old == new or key in FREE else [f"{key}: {old!r} there, {new!r} here"]


def _describe(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        kind = {1: "grayscale", 3: "RGB"}.get(shape[0], f"{shape[0]} channels")
        return f"{shape} ({kind})"
    return f"{shape} (points)"
