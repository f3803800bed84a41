"""Reading and writing inside a run folder that may come from someone else (docs/security.md).

A run folder is data: gan-cli reads from it and writes into it only through these functions,
which never follow a symbolic link below the folder's root, never write through a file that
has other hard links (they write a new file and rename it into place), and keep every file
they write under the root. `check_tree` refuses a folder holding any link before a command
starts on it (Hydra, the logging and TensorBoard then write by name into a tree known to hold
none); the functions below hold on their own as well (O_NOFOLLOW, O_EXCL, rename).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from gan_cli.errors import GanError

MAX_ENTRIES = 200_000  # files and folders walked in one run folder (a sweep of runs included)


class UnsafeRunFolder(GanError):
    """A run folder with links, or a file of it that is not what it should be."""


def check_tree(root: Path) -> None:
    """Refuse, in one line, a run folder (or sweep folder) that holds a symbolic link anywhere
    below `root`, or too many entries to be a run. `root` itself is the user's own path."""
    stack, seen = [Path(root)], 0
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        except NotADirectoryError:
            continue
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


def inside(root: Path, path: Path) -> bool:
    """Does `path`, links resolved, lie under `root` (links resolved)?"""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def _require_inside(root: Path | None, path: Path) -> None:
    if root is not None and not inside(root, path.parent):
        raise UnsafeRunFolder(f"{path}: outside the run folder {root}; refused")


def read_bytes(path: Path, limit: int, what: str = "file") -> bytes:
    """A regular file's bytes, never through a link at its own name, at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the name is a symbolic link
            raise UnsafeRunFolder(f"{path}: a symbolic link; refused") from None
        raise
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not _regular(info):
            raise UnsafeRunFolder(f"{path}: not a regular file; refused")
        if info.st_size > limit:
            raise UnsafeRunFolder(f"{path}: {info.st_size:,} bytes, more than a {what} may "
                                  f"have ({limit:,}); refused")  # fmt: skip
        return f.read(limit + 1)[:limit]


def read_text(path: Path, limit: int, what: str = "file") -> str:
    try:
        return read_bytes(path, limit, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeRunFolder(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _regular(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode)


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
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str, root: Path | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), root)


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
        raise UnsafeRunFolder(f"{path}: not a regular file (a link?); refused")
    if info is not None and info.st_nlink > 1:
        fd, tmp = new_temporary(path)
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:  # noqa: PTH123
                shutil.copyfileobj(src, dst)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
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
