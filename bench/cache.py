"""Content-addressed, resumable on-disk store for embedding matrices.

An entry is a folder named by the hash of everything that determines the embeddings::

    <root>/<dataset>/<frontend>/<key>/
        features.npy     (n_rows, dim) float32, memory-mapped on read: a row per clip (per window if segmented)
        clip_index.npy   (n_rows,) the clip of each row, ascending
        manifest.json    written last: its presence marks the entry complete
        parts/00003.npz  finished chunks of an interrupted computation (removed on completion)

Every file is written to a unique temporary name and renamed into place, so a killed run never
leaves a truncated file behind and two concurrent runs cannot corrupt an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import RwbenchError


def content_key(description: dict) -> str:
    blob = json.dumps(description, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets the mode any other file would
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RwbenchError(f"cannot read {path}: {err}") from err


class CacheEntry:
    """One embedding matrix under ``folder``; see the module docstring for the layout."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.features_path = folder / "features.npy"
        self.clip_index_path = folder / "clip_index.npy"
        self.manifest_path = folder / "manifest.json"
        self.parts = folder / "parts"

    def is_complete(self) -> bool:
        return all(p.is_file() for p in (self.manifest_path, self.features_path, self.clip_index_path))

    def manifest(self) -> dict:
        return read_json(self.manifest_path)

    def features(self) -> np.ndarray:
        return np.load(self.features_path, mmap_mode="r")

    # -- chunks of an unfinished computation ----------------------------------------------------
    def part_path(self, index: int) -> Path:
        return self.parts / f"{index:05d}.npz"

    def has_part(self, index: int) -> bool:
        return self.part_path(index).is_file()

    def save_part(self, index: int, **arrays: np.ndarray) -> None:
        with atomic_path(self.part_path(index)) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)

    def load_part(self, index: int, *names: str) -> dict[str, np.ndarray]:
        """The named arrays of a part (all by default); the others are not read."""
        with np.load(self.part_path(index), allow_pickle=False) as part:
            return {name: part[name] for name in names or part.files}

    def clip_index(self) -> np.ndarray:
        return np.load(self.clip_index_path)

    def finish(self, n_parts: int, dim: int, manifest: dict) -> None:
        """Assemble the parts, in order, into ``features.npy`` (memory-mapped, one part in memory at a
        time) and ``clip_index.npy``, then write the manifest."""
        rows = np.concatenate([self.load_part(i, "rows")["rows"] for i in range(n_parts)])
        with atomic_path(self.features_path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(rows), dim))
            start = 0
            for index in range(n_parts):
                block = self.load_part(index, "features")["features"]
                out[start:start + len(block)] = block
                start += len(block)
            out.flush()
            del out
        with atomic_path(self.clip_index_path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, rows)
        write_json(self.manifest_path, manifest)
        shutil.rmtree(self.parts, ignore_errors=True)
