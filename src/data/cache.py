"""A one-time cache of a decoded, checked and resized split: two uint8 .npy arrays, memory-mapped when read.

Decoding and resizing a 2048x1024 PNG costs ~30 ms per core, more than a training step of a small net, so
each split is decoded once. The cache folder is named by what defines its content (dataset, root, split,
the list of files, size, class mapping); its meta.json also records the files' sizes and mtimes (stale when
they change) and a CRC of each array (corrupt when it does not match). It is built in a temporary folder and
renamed into place, so a killed build never leaves a cache that a later run trusts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from src.core.errors import DataError
from src.data.decode import load_pair
from src.data.labels import ClassTable

CACHE_VERSION = 2  # bump when the decoding or the file format changes
Pair = tuple[Path, Path]


def relative_names(pairs: Sequence[Pair], root: Path) -> list[str]:
    """The files' paths relative to the resolved root, so `data.root=cv` and `data.root=/abs/cv` agree."""
    return [
        str(p.resolve().relative_to(root)) if p.resolve().is_relative_to(root) else str(p)
        for pair in pairs
        for p in pair
    ]


def fingerprint(pairs: Sequence[Pair], root: Path) -> str:
    """A hash of the source files' names, sizes and modification times: it changes when any file does."""
    digest = hashlib.sha256()
    for name, path in zip(relative_names(pairs, root), (p for pair in pairs for p in pair), strict=True):
        stat = path.stat()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def file_crc(path: Path) -> int:
    """CRC-32 of a file, read in 16 MiB chunks (~1 GB/s: a 128x256 Cityscapes train cache checks in 0.3 s)."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
    return crc


def cache_folder(cache_dir: str | Path, name: str, identity: dict) -> Path:
    """The folder for one split's cache: readable prefix + hash of everything that defines its content."""
    key = hashlib.sha256(json.dumps({"version": CACHE_VERSION, **identity}, sort_keys=True).encode()).hexdigest()
    return Path(cache_dir).expanduser() / f"{name}_{key[:12]}"


def check_cache(folder: Path, source_fingerprint: str) -> str | None:
    """None if the cache in `folder` can be trusted, else why not (missing, stale, corrupt)."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return "missing"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return "corrupt: unreadable meta.json"
    if meta.get("version") != CACHE_VERSION:
        return f"stale: made by cache version {meta.get('version')}, not {CACHE_VERSION}"
    if meta.get("fingerprint") != source_fingerprint:
        return "stale: the source files changed since it was built"
    for name, crc in meta.get("crc", {}).items():
        path = folder / name
        if not path.is_file() or file_crc(path) != crc:
            return f"corrupt: {name} does not match its checksum"
    return None


def build_cache(
    folder: Path,
    pairs: Sequence[Pair],
    table: ClassTable,
    size: Sequence[int],
    source_fingerprint: str,
    workers: int = 0,
    description: str = "caching",
) -> list[str]:
    """Decode, check, map and resize every pair into `folder`; returns the files whose image mode was converted."""
    height, width = size
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a shared data.cache_dir needs the usual permissions
    converted: list[str] = []
    counts = np.zeros(256, dtype=np.int64)
    try:
        images = _allocate(tmp / "images.npy", (len(pairs), height, width, 3))
        labels = _allocate(tmp / "labels.npy", (len(pairs), height, width))
        load = partial(_load, table=table, size=tuple(size))
        with ProcessPoolExecutor(workers) if workers > 0 else _InProcess() as pool:
            try:
                results = pool.map(load, pairs, chunksize=8)
                for i, (image, label, mode) in enumerate(tqdm(results, total=len(pairs), desc=description, unit="img")):
                    images[i], labels[i] = image, label
                    counts += np.bincount(label.ravel(), minlength=256)
                    if mode is not None:
                        converted.append(f"{pairs[i][0]} ({mode})")
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # the first bad file ends the build, not the last
                raise
        images.flush()
        labels.flush()
        del images, labels
        meta = {
            "version": CACHE_VERSION,
            "fingerprint": source_fingerprint,
            "count": len(pairs),
            "size": [height, width],
            "classes": list(table.names),
            "converted_to_rgb": converted,
            "label_counts": counts.tolist(),  # pixels per training index (255: ignored)
            "crc": {name: file_crc(tmp / name) for name in ("images.npy", "labels.npy")},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        for name in ("images.npy", "labels.npy", "meta.json"):
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        _swap_into_place(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return converted


def _allocate(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A writable .npy memmap whose disk blocks are reserved now: a full disk is an error here, not a SIGBUS later."""
    array = np.lib.format.open_memmap(path, "w+", np.uint8, shape)
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.path.getsize(path))
        except OSError as err:
            raise DataError(
                f"{path.parent.parent}: cannot reserve {os.path.getsize(path) / 2**20:.0f} MiB for the data cache"
                f" ({err.strerror}); free space there or set data.cache_dir elsewhere"
            ) from None
    return array


def cached_label_counts(folder: Path) -> np.ndarray:
    """Pixels per training index (256 entries) over a checked cache, as counted when it was built."""
    return np.array(json.loads((folder / "meta.json").read_text())["label_counts"], dtype=np.int64)


def load_cache(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The (images, labels) arrays of a checked cache, memory-mapped read-only."""
    return np.load(folder / "images.npy", mmap_mode="r"), np.load(folder / "labels.npy", mmap_mode="r")


def ensure_cache(
    cache_dir: str | Path,
    name: str,
    identity: dict,
    root: Path,
    pairs: Sequence[Pair],
    table: ClassTable,
    size: Sequence[int],
    workers: int = 0,
) -> tuple[Path, str]:
    """The folder of a trusted cache for these pairs, and "reused", "built" or "rebuilt (<why>)"."""
    if not pairs:
        raise DataError(f"{name}: no image/label pairs to cache (data.root={root}); expected at least one")
    files = hashlib.sha256("\n".join(relative_names(pairs, root)).encode()).hexdigest()
    folder = cache_folder(cache_dir, name, {**identity, "files": files})
    source = fingerprint(pairs, root)
    problem = check_cache(folder, source)
    if problem is None:
        return folder, "reused"
    if problem != "missing":
        warnings.warn(f"data cache {folder} is {problem}; rebuilding it", stacklevel=2)
    converted = build_cache(folder, pairs, table, size, source, workers, description=f"caching {name}")
    if converted:
        warnings.warn(
            f"{len(converted)} image(s) of {name} were not 8-bit RGB and were converted to RGB, e.g. {converted[0]}",
            stacklevel=2,
        )
    return folder, "built" if problem == "missing" else f"rebuilt ({problem})"


def _load(pair: Pair, table: ClassTable, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, str | None]:
    return load_pair(pair[0], pair[1], table, size)


class _InProcess:
    """The executor interface, run serially in this process (workers=0, as for DataLoaders)."""

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn: Callable, items: Iterable, chunksize: int = 1) -> Iterator:  # as Executor.map
        return map(fn, items)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        return None


def _swap_into_place(tmp: Path, folder: Path) -> None:
    """Rename the finished `tmp` to `folder`, moving any old cache out of the way first."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.replace(folder, old)
    try:
        os.replace(tmp, folder)
    except OSError:
        if not folder.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process put an equal cache in place first
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
