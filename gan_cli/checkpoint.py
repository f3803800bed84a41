"""Checkpoints: written atomically, read safely.

A checkpoint is a dict of tensors and plain containers only (the config as plain dicts, RNG
states as tensors), so it loads with `torch.load(weights_only=True)`: a file carrying a pickled
object is refused and nothing in it runs.

Writes go to a temporary file in the same folder, are flushed and fsynced, then renamed over
the target with `os.replace`: a kill at any moment leaves the previous file whole.
Layout: checkpoints/step_0000500.pt (the last `keep` of them) and checkpoints/last.pt, a hard
link to the newest (one write per save, not two).
"""

from __future__ import annotations

import math
import os
import pickle
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from gan_cli.errors import CheckpointError
from gan_cli.runfolder import UnsafeRunFolder, new_temporary, open_read

# The layout of a checkpoint. /2 (stabilisers): optimiser settings by group, EMA and the other
# stabilisers' state under "stabilizers". Earlier formats still sample and evaluate (G, G_ema
# and the model config are unchanged) but are not resumed.
FORMAT = "gan-cli/2"
READABLE = ("gan-cli/1", FORMAT)
MAX_FILE = 1 << 40  # bytes: no bound in practice; what loading expands to is (_check_archive)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_save(state: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = new_temporary(path)  # a new file of our own: never a link or a shared file
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def atomic_link(src: Path, dst: Path) -> None:
    """Make `dst` another name of `src`, replacing `dst` atomically (copy if links fail)."""
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:  # a file system without hard links
        tmp.unlink(missing_ok=True)
        atomic_save(load(src), dst)
        return
    _fsync_dir(dst.parent)


def save_as(state: dict[str, Any], path: Path) -> Path:
    """One checkpoint file at `path` (e.g. best.pt), atomically."""
    atomic_save({"format": FORMAT, **state}, path)
    return path


def _file_step(path: Path) -> int:
    """The step in a name like step_0000500.pt (-1 for names that are not ours)."""
    digits = path.stem.removeprefix("step_")
    # ASCII digits only: "²".isdigit() is true and int("²") fails
    return int(digits) if digits.isascii() and digits.isdecimal() else -1


def step_files(folder: Path) -> list[Path]:
    """checkpoints/step_*.pt, oldest first by step number (never by name: step 10,000,000 has
    one digit more than the zero-padding and would sort before step 9,999,999)."""
    return sorted((p for p in folder.glob("step_*.pt") if _file_step(p) >= 0), key=_file_step)


def save(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Write step_<step>.pt and point last.pt at it; keep the newest `keep` step files."""
    path = folder / f"step_{step:07d}.pt"
    atomic_save({"format": FORMAT, **state}, path)
    atomic_link(path, folder / "last.pt")
    for old in step_files(folder)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def prepare_resume(folder: Path, step: int) -> None:
    """Before a run continues from `step`: delete what a killed save left half-written, and
    move checkpoints of later steps (from a timeline that resuming an older checkpoint leaves
    behind), and a best.pt from after `step`, into superseded_<step>_<time>/: out of the way
    of pruning and of the new best, but not lost."""
    for tmp in folder.glob(".*.tmp*"):
        tmp.unlink(missing_ok=True)
    later = [p for p in step_files(folder) if _file_step(p) > step]
    best = folder / "best.pt"
    if best.is_file() and _step_of(best) > step:  # the best of the abandoned timeline
        later.append(best)
    if later:
        aside = folder / f"superseded_{step:07d}_{time.strftime('%Y%m%d-%H%M%S')}"
        aside.mkdir(exist_ok=True)
        for p in later:
            os.replace(p, aside / p.name)
        current = folder / f"step_{step:07d}.pt"
        if current.is_file():  # last.pt named the abandoned timeline's newest
            atomic_link(current, folder / "last.pt")


def _step_of(path: Path) -> float:
    try:
        state = load(path)
    except CheckpointError:
        return math.inf  # unreadable: move it aside too
    step = state.get("step")  # data, like the rest: a step that is no count goes aside as well
    return step if type(step) is int and step >= 0 else math.inf


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint file safely; CheckpointError (one line) on anything wrong with it.
    Never through a link; its tensors may not claim more memory than the file holds."""
    path = Path(path)
    with _open_regular(path) as f:
        _check_archive(f, path)
        try:
            state = torch.load(f, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            what = f" (it calls {found.group(1)})" if found else ""
            raise CheckpointError(
                f"{path} holds objects other than tensors and plain containers{what}; refused, "
                "nothing in it was run"
            ) from None
        except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, TypeError,
                KeyError, AttributeError, IndexError, MemoryError) as exc:  # fmt: skip
            what = type(exc).__name__
            raise CheckpointError(f"{path} is truncated or corrupt ({what})") from None
    if not isinstance(state, dict) or state.get("format") not in READABLE:
        raise CheckpointError(f"{path} is not a gan-cli checkpoint (format {FORMAT} expected)")
    _check_tensors(state, path)
    return state


def _open_regular(path: Path):
    """The checkpoint file opened for reading by `runfolder.open_read`: one open with
    O_NOFOLLOW (no window between a check and the open), a regular file only."""
    try:
        return open_read(path, MAX_FILE, "checkpoint")
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except UnsafeRunFolder as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path} ({exc.strerror})") from None


def _check_tensors(state: dict[str, Any], path: Path) -> None:
    """Every tensor holds its own values. A view's shape is free of its stored bytes: one
    element saved with stride 0 loads at any size, and the first copy of it (a load_state_dict,
    a dtype change) allocates all of it. torch.save writes dense tensors, so an expanded or
    overlapping view, a sparse or a meta tensor (a size with no data) only comes from a crafted
    file. Containers are walked once each (a pickle may share or nest one in itself)."""
    stack: list[tuple[Any, str]] = [(state, "")]
    seen: set[int] = set()
    while stack:
        node, at = stack.pop()
        if isinstance(node, torch.Tensor):
            if node.layout != torch.strided or node.is_meta:
                raise CheckpointError(f"{path}: field {at!r} is not a dense tensor; refused")
            declared, held = node.numel() * node.element_size(), node.untyped_storage().nbytes()
            if declared > held:
                raise CheckpointError(f"{path}: field {at!r} declares {declared:,} bytes of "
                                      f"values on {held:,} stored; refused")  # fmt: skip
        elif isinstance(node, dict | list | tuple) and id(node) not in seen:
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack += [(v, f"{at}.{k}" if at else str(k)) for k, v in items]


def _check_archive(f, path: Path) -> None:
    """torch.save writes a zip archive of stored (uncompressed) records: one that is cut short
    has no index, and one whose records are compressed could expand far beyond its size on
    disk (a few hundred KB into gigabytes). Both are refused before anything is read."""
    if not zipfile.is_zipfile(f):
        raise CheckpointError(f"{path} is truncated or corrupt (not a complete checkpoint archive)")
    try:
        f.seek(0)
        with zipfile.ZipFile(f) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is truncated or corrupt ({type(exc).__name__})") from None
    size = os.fstat(f.fileno()).st_size
    packed = [r.filename for r in records if r.compress_type != zipfile.ZIP_STORED]
    if packed or sum(r.file_size for r in records) > size:
        raise CheckpointError(f"{path} declares more data than it holds (compressed records: "
                              f"{', '.join(packed[:2]) or 'none'}); refused")  # fmt: skip
    f.seek(0)


def require_resumable(state: dict[str, Any], path: Path) -> None:
    """Training continues only from this version's format (older ones sample and evaluate)."""
    if state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} has checkpoint format {state.get('format')} (from before stabilisers); "
            f"this version resumes {FORMAT} only: sample or evaluate it, or start a new run"
        )
