"""A folder of images decoded and resized once, into a uint8 array on disk, then read at the
speed of in-memory data (the idea of StudioGAN's load-into-memory/HDF5 option).

The cache is a memory-mapped .npy file (N, C, R, R) under `<cache_dir>/folders/`, named by a
hash of what it was made from: every file's relative path, size and modification time, the
resolution and the channels. A changed folder (a file added, replaced or touched) or other
settings give another name, so a stale cache is never read; the labels of class subfolders are
kept beside it. It is written to a temporary name and renamed when complete: a run killed while
building it leaves nothing half-done to be read later.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from gan_cli.data.source import TensorSource, collate
from gan_cli.errors import DataError


def cache_key(root: Path, files: list[Path], resolution: int, channels: int) -> str:
    h = hashlib.sha256(json.dumps([resolution, channels]).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def cached_source(source, root: Path, cache_dir: Path) -> TensorSource:
    """`source` (a FolderSource) as an in-memory-speed TensorSource backed by the cache."""
    images = source.images
    key = cache_key(root, images.files, source.shape[1], source.shape[0])
    folder = cache_dir.expanduser() / "folders"
    data_path, meta_path = folder / f"{key}.npy", folder / f"{key}.json"
    if not (data_path.is_file() and meta_path.is_file()):
        build(source, folder, data_path, meta_path)
    data = torch.from_numpy(np.load(data_path, mmap_mode="c"))  # copy-on-write: never changed
    meta = json.loads(meta_path.read_text())
    extra = {}
    if meta.get("classes"):
        extra = {"classes": meta["classes"], "labels": torch.tensor(meta["labels"])}
    return TensorSource(data, source.name, extra)


def build(source, folder: Path, data_path: Path, meta_path: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n, shape = len(source), source.shape
    tmp = data_path.with_name(f".{data_path.name}.{os.getpid()}.tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, *shape))
    loader = DataLoader(source.images, batch_size=256, num_workers=source.workers,
                        collate_fn=collate)  # fmt: skip
    done = 0
    try:
        for batch in tqdm(loader, total=len(loader), unit="batch", desc=f"caching {n} images",
                          disable=None):  # fmt: skip
            if isinstance(batch, str):
                raise DataError(batch)
            out[done : done + len(batch)] = batch.numpy()
            done += len(batch)
        out.flush()
        del out
        labels = source.meta.get("labels")
        meta = {"n": n, "shape": list(shape), "classes": source.meta.get("classes"),
                "labels": labels.tolist() if labels is not None else None}  # fmt: skip
        meta_path.write_text(json.dumps(meta))
        os.replace(tmp, data_path)
    finally:
        tmp.unlink(missing_ok=True)
