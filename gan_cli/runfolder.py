"""Reading and writing inside a run folder that may come from someone else (docs/security.md).

A run folder is data: gan-cli reads from it and writes into it only through these functions,
which never follow a symbolic link below the folder's root, never write through a file that
has other hard links (they write a new file and rename it into place), and keep every file
they write under the root. `check_tree` refuses a folder holding any link, or anything but files
and folders (a FIFO, socket or device: opening one can block forever), before a command starts
on it (Hydra, the logging and TensorBoard then write by name into a tree known to hold none);
the functions below hold on their own as well (O_NOFOLLOW, O_NONBLOCK, O_EXCL, rename).
Text read from a run folder reaches the terminal through `printable` only.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from gan_cli.errors import GanError

MAX_ENTRIES = 200_000  # files and folders walked in one run folder (a sweep of runs included)
# Bytes of a run's files read back. A run logs ~300 bytes a row every `log_every` steps (a
# million steps at the default 50: 6 MB); parsed rows take ~30x their size in memory.
MAX_METRICS = 64 << 20  # metrics.jsonl
MAX_OVERRIDES = 64 << 10  # .hydra/overrides.yaml: a few hundred overrides (PyYAML: ~100 KB/s)
MAX_STATUS = 64 << 10  # a sweep job's status.json


class UnsafeRunFolder(GanError):
    """A run folder with links, or a file of it that is not what it should be."""


def check_tree(root: Path) -> list[Path]:
    """Refuse, in one line, a run folder (or sweep folder) that holds a symbolic link, a FIFO,
    socket or device anywhere below `root`, or too many entries to be a run. `root` itself is
    the user's own path. Returns the folders walked (`root` first)."""
    stack, seen, folders = [Path(root)], 0, []
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone or replaced since its parent was listed: nothing to walk
        folders.append(folder)
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                raise UnsafeRunFolder(f"{root}: more than {MAX_ENTRIES:,} files; not a run folder")
            if entry.is_symlink():
                raise UnsafeRunFolder(
                    f"{entry.path}: a symbolic link inside a run folder; refused (gan-cli "
                    "never reads or writes through links there)"
                )
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif not entry.is_file(follow_symlinks=False):
                raise UnsafeRunFolder(
                    f"{entry.path}: not a file or folder (a FIFO, socket or device) inside a "
                    "run folder; refused (reading it could block forever)"
                )
    return folders


def inside(root: Path, path: Path) -> bool:
    """Does `path`, links resolved, lie under `root` (links resolved)?"""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def _require_inside(root: Path | None, path: Path) -> None:
    if root is not None and not inside(root, path.parent):
        raise UnsafeRunFolder(f"{path}: outside the run folder {root}; refused")


def open_read(path: Path, limit: int, what: str = "file") -> BinaryIO:
    """A regular file opened for reading, never through a link at its own name, refused if it
    holds more than `limit` bytes. O_NONBLOCK: opening a FIFO returns at once (and is refused
    below) instead of waiting for a writer that never comes; it changes nothing for a file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the name is a symbolic link
            raise UnsafeRunFolder(f"{path}: a symbolic link; refused") from None
        raise
    f = os.fdopen(fd, "rb")
    info = os.fstat(fd)
    if not _regular(info) or info.st_size > limit:
        f.close()
        if not _regular(info):
            raise UnsafeRunFolder(f"{path}: not a regular file; refused")
        raise UnsafeRunFolder(f"{path}: {info.st_size:,} bytes, more than a {what} may "
                              f"have ({limit:,}); refused")  # fmt: skip
    return f


def read_bytes(path: Path, limit: int, what: str = "file") -> bytes:
    """A regular file's bytes (`open_read`), at most `limit` of them."""
    with open_read(path, limit, what) as f:
        return f.read(limit + 1)[:limit]


def read_text(path: Path, limit: int, what: str = "file") -> str:
    try:
        return read_bytes(path, limit, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeRunFolder(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _regular(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode)


# C0 and C1 control characters but tab: ANSI escapes (ESC), line breaks, the terminal's OSC;
# and Unicode's invisible format characters that reorder or hide what is shown: the bidi
# embeddings, overrides and isolates (U+202A-202E, U+2066-2069, the marks U+200E/F, U+061C),
# zero-width spaces and joiners, word joiner, BOM, soft hyphen (Trojan Source, CVE-2021-42574);
# the line and paragraph separators (splitlines() breaks a line at them) and the tag
# characters that hide text (U+E0000-E007F); and lone surrogates (U+D800-DFFF: JSON may
# escape them, no UTF-8 encoder writes them, no font draws them)
CONTROL = re.compile(
    r"[\x00-\x08\x0a-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)


def printable(text: object) -> str:
    """Text that may come from a run folder (a file or folder name, a value, an error naming
    them) as it may reach a terminal: one line, each control character shown as its escape
    (`\\x1b`, `\\n`), never sent: a name cannot move the cursor, retitle the window or forge a
    second `error:` line."""
    return CONTROL.sub(_escape, str(text))


def _escape(match: re.Match) -> str:
    char = match[0]
    if ord(char) < 0xA0:
        return repr(char)[1:-1]
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def as_float(value: object) -> float | None:
    """A JSON number read from a run folder as a float; None for anything else (a bool, a
    string, an integer too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def new_temporary(path: Path) -> tuple[int, Path]:
    """A file of our own beside `path`, created for this write (never an existing name)."""
    for n in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{n}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            return os.open(tmp, flags, 0o644), tmp
        except FileExistsError:
            continue
    raise UnsafeRunFolder(f"{path}: cannot create a temporary file beside it")


def write_bytes(path: Path, data: bytes, root: Path | None = None, sync: bool = False) -> None:
    """Write `data` as a new file renamed to `path`: whatever was at `path` (a link, a file with
    other hard links) is replaced, never written through. `root`: the folder `path` must stay
    in once links are resolved."""
    path = Path(path)
    _require_inside(root, path)
    fd, tmp = new_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        _replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _replace(tmp: Path, path: Path) -> None:
    """Rename the new file over `path`; a failure names `path` (a folder there, say), not the
    temporary name the user never chose."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def write_text(path: Path, text: str, root: Path | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), root)


def filter_lines(path: Path, keep: Callable[[bytes], bool], limit: int, what: str,
                 root: Path | None = None) -> None:  # fmt: skip
    """Rewrite a text file with only the lines `keep` accepts, a line at a time (a file of a
    million short rows never sits in memory as a million strings), into a new file renamed
    over it (a kill leaves the old file; a link or hard link at `path` is replaced)."""
    path = Path(path)
    _require_inside(root, path)
    fd, tmp = new_temporary(path)
    try:
        with os.fdopen(fd, "wb") as dst, open_read(path, limit, what) as src:
            for line in src:
                if keep(line):
                    dst.write(line if line.endswith(b"\n") else line + b"\n")
        _replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def open_append(path: Path, root: Path | None = None):
    """A text file opened for appending, never through a link; a file with other hard links is
    first replaced by a copy of its own (so the other names never change)."""
    path = Path(path)
    _require_inside(root, path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and not _regular(info):
        raise UnsafeRunFolder(f"{path}: not a regular file (a link, FIFO or device); refused")
    if info is not None and info.st_nlink > 1:
        fd, tmp = new_temporary(path)
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:  # noqa: PTH123
                shutil.copyfileobj(src, dst)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    # O_NONBLOCK: a FIFO put there since is an error (ENXIO), never a wait for a reader
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    return os.fdopen(os.open(path, flags, 0o644), "a", encoding="utf-8")


def detach_hard_links(folder: Path, names: tuple[str, ...]) -> None:
    """Give each named file of `folder` that has other hard links a copy of its own, before
    something that appends by name (Hydra's log handler) opens it."""
    for name in names:
        path = Path(folder) / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if _regular(info) and info.st_nlink > 1:
            open_append(path).close()


HYDRA_RECORDS = {"config.yaml", "hydra.yaml", "overrides.yaml"}


def discard_unstarted(run_dir: Path, records: str, log: str, made: set[Path]) -> None:
    """Remove what Hydra wrote for a run that was refused before it started, when its folder
    holds nothing but Hydra's records (`records`/) and an empty `log`: a bad override leaves
    no litter. Anything else in it (a run continued, a user's files) and it stays as it is.
    Folders go only if this process made them (`made`, e.g. the day's folder of its first
    run): a folder the user named or made before, even an empty one, stays."""
    try:
        names = {p.name for p in run_dir.iterdir()}
        kept = run_dir / records
        if names - {records, log} or kept.is_symlink() or not kept.is_dir():
            return
        if {p.name for p in kept.iterdir()} - HYDRA_RECORDS:
            return
        logged = run_dir / log
        if logged.exists() and (logged.is_symlink() or logged.stat().st_size):
            return
        for p in kept.iterdir():
            p.unlink()
        kept.rmdir()
        logged.unlink(missing_ok=True)
        for folder in (run_dir, *run_dir.parents):
            if folder not in made:
                break
            folder.rmdir()  # fails, and stops here, once a folder holds anything else
    except OSError:
        pass  # whatever could not go stays: never worse than Hydra left it
