"""Continuing a run: finding its checkpoint, and refusing one that does not fit this config.

The `gan` front calls `resume_argv()` before Hydra composes anything; torch is imported
only when there is a checkpoint to read.

`gan train resume=PATH` (a run dir, or a checkpoint file) replays the overrides stored in the
checkpoint, adds the ones given now (which win), and runs in that run's directory; the task
then loads the checkpoint. Rerunning a command with the same
`hydra.run.dir` resumes from `checkpoints/last.pt` when there is one.
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from gan_cli.errors import CheckpointError, ConfigError

# Settings a checkpoint must share with the run that continues it. Everything else (steps,
# intervals, learning rates, device, precision) may change on resume.
IDENTITY = ("model", "loss", "dataset", "batch_size", "seed", "optim.name", "optim.d_steps")
FREE = {"dataset.metrics", "dataset.eval_every"}  # inside IDENTITY, but free to change


def run_dir_of(path: Path) -> Path:
    """The run directory a resume path belongs to."""
    if path.is_file():
        return path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return path


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
    """The checkpoint to continue from: `resume` if given, else this run dir's newest."""
    if not resume:
        return latest(run_dir / "checkpoints")
    path = Path(resume).expanduser()
    found = latest(path / "checkpoints") if path.is_dir() else path
    if found is None or not found.is_file():
        raise CheckpointError(f"resume={resume}: no checkpoint there")
    return found


def override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _last_value(argv: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in argv if override_key(a) == key and "=" in a]
    return values[-1] if values else None


_NAME = re.compile(r"[A-Za-z0-9_-]+")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
NEVER_REPLAYED = ("hydra", "resume", "trust")  # Hydra itself, and what only the user may say


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


def check_replayable(override: str, origin: Path) -> str:
    """A stored override from a checkpoint (which may come from anyone), or ConfigError naming
    it. Only plain `key=value` settings and group choices that are plain option names pass:
    nothing that configures Hydra, adds or deletes keys, loads a YAML from outside the config
    search path, or grants trust. Targets (`model._target_=...`) may pass: building checks them
    against the registry (registry.py), so a stored target is never imported unless trusted."""
    key, sep, value = override.partition("=")
    refused = (
        not sep
        or not _PLAIN_KEY.fullmatch(key)
        or key.split(".")[0] in NEVER_REPLAYED
        or (_is_group_choice(key) and not _plain_names(value))
    )
    if refused:
        raise ConfigError(
            f"{origin}: stored override {override!r} refused (only plain settings and option "
            "names are replayed); nothing was loaded"
        )
    return override


def _plain_names(value: str) -> bool:
    names = value[1:-1].split(",") if value.startswith("[") and value.endswith("]") else [value]
    return all(_NAME.fullmatch(n.strip()) for n in names if n.strip()) or value == "[]"


def resume_argv(argv: list[str]) -> list[str]:
    """Rewrite `gan train` arguments for continuing a run.

    `resume=PATH`: replay the overrides stored in that checkpoint (the run's own settings;
    each checked by `check_replayable`), then the ones given now (which win), in the
    checkpoint's run directory. And whenever the run directory already holds a run, Hydra's
    record of this invocation goes to .hydra/resumed_<time>/ instead of over the original
    run's .hydra/ files.
    """
    check_group_choices(argv)
    given = _last_value(argv, "resume")
    if given is not None:
        if "--multirun" in argv or "-m" in argv:
            raise ConfigError("resume= continues one run; it cannot be combined with --multirun")
        path = Path(given).expanduser()
        if not path.exists():
            raise CheckpointError(f"resume={given}: no such file or folder")
        from gan_cli.checkpoint import load  # torch: only when resuming

        ckpt = checkpoint_of(given, run_dir_of(path))
        original = [check_replayable(str(o), ckpt) for o in load(ckpt).get("overrides", [])]
        now = [a for a in argv if override_key(a) != "resume"]
        keys_now = {override_key(a) for a in now if "=" in a}
        chosen_now = tuple(f"{k}." for k in keys_now if _is_group_choice(k))
        # what is given now wins; a group chosen anew also drops the old choice's settings
        kept = [
            o
            for o in original
            if override_key(o) not in keys_now and not override_key(o).startswith(chosen_now)
        ]
        argv = [*kept, *now, f"resume={given}", f"hydra.run.dir={run_dir_of(path)}"]
    run_dir = _last_value(argv, "hydra.run.dir")
    if (
        run_dir
        and (Path(run_dir) / ".hydra").is_dir()
        and not _last_value(argv, "hydra.output_subdir")
    ):
        argv = [*argv, "hydra.output_subdir=.hydra/resumed_${now:%Y-%m-%d_%H-%M-%S}"]
    return argv


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
    stored = OmegaConf.create(state.get("config", {}))
    current = OmegaConf.create(config)
    had, has = list(stored.get("stabilizers", {})), list(current.get("stabilizers", {}))
    if had != has:
        raise CheckpointError(
            f"{path} was trained with stabilizers=[{','.join(had)}]; this run has "
            f"stabilizers=[{','.join(has)}]: resume with the same list, or start a new run"
        )
    diffs = []
    for key in IDENTITY:
        old, new = OmegaConf.select(stored, key), OmegaConf.select(current, key)
        old = OmegaConf.to_container(old) if OmegaConf.is_config(old) else old
        new = OmegaConf.to_container(new) if OmegaConf.is_config(new) else new
        diffs += _differences(key, old, new)
    if diffs:
        shown = "; ".join(diffs[:3]) + ("; ..." if len(diffs) > 3 else "")
        raise CheckpointError(
            f"{path} comes from a different model or config ({shown}): resume with the same "
            "settings, or start a new run directory"
        )


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
