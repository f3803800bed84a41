"""Continuing a run: finding its checkpoint, and refusing one that does not fit this config.

The `gan` front calls `resume_argv()` before Hydra composes anything; torch is imported
only when there is a checkpoint to read.

`gan train resume=PATH` (a run dir, or a checkpoint file) replays the overrides stored in the
checkpoint, adds the ones given now (which win), and runs in that run's directory; the task
then loads the checkpoint. Rerunning a command with the same
`hydra.run.dir` resumes from `checkpoints/last.pt` when there is one.
"""

from __future__ import annotations

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
    steps = sorted(folder.glob("step_*.pt"))
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


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _last_value(argv: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in argv if _key(a) == key and "=" in a]
    return values[-1] if values else None


def _replayable(override: str) -> bool:
    """A stored override that may be replayed: a checkpoint may come from anyone, so nothing
    that configures Hydra itself or names a callable (`_target_`) is taken from it."""
    key = _key(override)
    return not key.startswith("hydra") and "_target_" not in key and key != "resume"


def resume_argv(argv: list[str]) -> list[str]:
    """Rewrite `gan train` arguments for continuing a run.

    `resume=PATH`: replay the overrides stored in that checkpoint (the run's own settings),
    then the ones given now (which win), in the checkpoint's run directory. And whenever the
    run directory already holds a run, Hydra's record of this invocation goes to
    .hydra/resumed_<time>/ instead of over the original run's .hydra/ files.
    """
    given = _last_value(argv, "resume")
    if given is not None:
        if "--multirun" in argv or "-m" in argv:
            raise ConfigError("resume= continues one run; it cannot be combined with --multirun")
        path = Path(given).expanduser()
        if not path.exists():
            raise CheckpointError(f"resume={given}: no such file or folder")
        from gan_cli.checkpoint import load  # torch: only when resuming

        ckpt = checkpoint_of(given, run_dir_of(path))
        original = [o for o in map(str, load(ckpt).get("overrides", [])) if _replayable(o)]
        now = [a for a in argv if _key(a) != "resume"]
        keys_now = {_key(a) for a in now if "=" in a}
        kept = [o for o in original if _key(o) not in keys_now]
        argv = [*kept, *now, f"resume={given}", f"hydra.run.dir={run_dir_of(path)}"]
    run_dir = _last_value(argv, "hydra.run.dir")
    if (
        run_dir
        and (Path(run_dir) / ".hydra").is_dir()
        and not _last_value(argv, "hydra.output_subdir")
    ):
        argv = [*argv, "hydra.output_subdir=.hydra/resumed_${now:%Y-%m-%d_%H-%M-%S}"]
    return argv


def check_compatible(state: dict, config: dict, data_shape: tuple[int, ...], path: Path) -> None:
    """Refuse, in one line, a checkpoint made for other data or another model/config."""
    stored_shape = tuple(state.get("data_shape", ()))
    if stored_shape and stored_shape != tuple(data_shape):
        raise CheckpointError(
            f"{path} was trained on data of shape {_describe(stored_shape)}; this run's data "
            f"is {_describe(tuple(data_shape))} (check dataset.channels / dataset.resolution)"
        )
    stored = OmegaConf.create(state.get("config", {}))
    current = OmegaConf.create(config)
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
        return [
            d
            for k in sorted(set(old) | set(new))
            for d in _differences(f"{key}.{k}", old.get(k), new.get(k))
        ]
    return [] if old == new or key in FREE else [f"{key}: {old!r} there, {new!r} here"]


def _describe(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        kind = {1: "grayscale", 3: "RGB"}.get(shape[0], f"{shape[0]} channels")
        return f"{shape} ({kind})"
    return f"{shape} (points)"
