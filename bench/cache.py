"""Content-addressed, resumable on-disk store for embedding matrices.

An entry is a folder named by the hash of everything that determines the embeddings::

    <root>/<dataset>/<frontend>/<key>/
        features.npy     (n_rows, dim) float32, memory-mapped on read: a row per clip (per window if segmented)
        clip_index.npy   (n_rows,) the clip of each row, ascending
        manifest.json    written last: its presence marks the entry complete; it records the size and
                         sha256 of both arrays, checked before they are used
        parts/00003.npz  finished chunks of an interrupted computation (removed on completion)
        .lock            held by the one process computing the entry (an OS lock: a killed holder frees it)
        .lock.holder     who holds it (pid, host, since, command), for a process that waits; removed on release

Every file is written to a unique temporary name and renamed into place, so a killed run never
leaves a truncated file behind. Processes sharing a cache take the entry's lock before computing:
the others wait, then read what the first one wrote, so every chunk is computed once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np

from .embedding_manifest import MANIFEST_SCHEMA, EmbeddingManifest
from .errors import RwbenchError
from .filehash import sha256_of
from .fileio import atomic_path, exclusive, read_json, write_json
from .results import devices_label

log = logging.getLogger(__name__)

ARRAYS = ("features.npy", "clip_index.npy")


def failed_clip(note: str) -> dict:
    """A failed clip's note in a chunk: ``{"clip", "reason"}`` from its JSON object, or from the ``id<TAB>reason`` line
    that rwbench wrote before (an id holding a tab was split wrongly then; JSON keeps it whole)."""
    if note.startswith("{"):
        try:
            record = json.loads(note)
            if isinstance(record, dict) and {"clip", "reason"} <= set(record):
                return {"clip": str(record["clip"]), "reason": str(record["reason"])}
        except ValueError:
            pass
    return dict(zip(("clip", "reason"), note.split("\t", 1)))


def covers(rows: np.ndarray, clips: Sequence[int]) -> bool:
    """``rows`` (a clip per row) hold each of ``clips`` (ascending), in ascending order: once each, or several windows
    each when segmented."""
    return bool(np.array_equal(np.unique(rows), clips) and (np.diff(rows) >= 0).all())


_CHECKED: dict[Path, tuple] = {}  # entry folder -> the stats of its arrays when their sha256 last matched (per process)


class CacheEntry:
    """One embedding matrix under ``folder``; see the module docstring for the layout."""

    def __init__(self, folder: Path, layers: dict[str, int | None] | None = None) -> None:
        self.folder = folder
        self.layers = layers  # the front-end's feature layers in order → their widths (None: not declared)
        self.features_path = folder / "features.npy"
        self.clip_index_path = folder / "clip_index.npy"
        self.manifest_path = folder / "manifest.json"
        self.parts = folder / "parts"

    def lock(self) -> AbstractContextManager[None]:
        return exclusive(self.folder / ".lock", f"the embeddings in {self.folder}")

    # -- a finished entry ------------------------------------------------------------------------
    def exists(self) -> bool:
        """The manifest is there: the entry was finished (it may since have been damaged)."""
        return self.manifest_path.is_file()

    def problem(self) -> str | None:
        """Why the finished entry cannot be used (a missing, truncated or altered file), or None.

        The arrays' sizes and sha256 are checked against the manifest once per process and change of their stat."""
        try:
            manifest = self.manifest()
        except RwbenchError as err:
            return str(err)
        files = manifest.files
        if not isinstance(files, dict) or set(files) != set(ARRAYS):
            return f"{self.manifest_path} does not list the entry's files"
        paths = [self.folder / name for name in ARRAYS]
        try:
            # ctime: any write sets it, and no user tool sets it back (an in-place write with its mtime restored)
            stats = tuple((s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino) for s in (p.stat() for p in paths))
        except OSError as err:
            return f"{err.filename} is missing"
        if stats == _CHECKED.get(self.folder):
            return None
        for path, (size, *_) in zip(paths, stats):
            expected = files[path.name]
            if size != expected.get("bytes"):
                return f"{path} has {size} bytes, the manifest says {expected.get('bytes')} (truncated or replaced)"
            if sha256_of(path) != expected.get("sha256"):
                return f"{path} does not match the sha256 in its manifest (altered on disk)"
        mismatch = self._manifest_mismatch(manifest)
        if mismatch:
            return f"{self.manifest_path} does not describe its arrays: {mismatch} (edited by hand?)"
        _CHECKED[self.folder] = stats
        return None

    def _manifest_mismatch(self, manifest: EmbeddingManifest) -> str | None:
        """What the manifest says that its (checksummed) arrays contradict: their shapes, the clips, the layer spans.
        The sha256 covers the arrays, not the manifest that says how to read them."""
        rows, dim = np.load(self.features_path, mmap_mode="r").shape
        clip_index = np.load(self.clip_index_path)
        index = len(clip_index)
        segmented = bool((manifest.description.get("input") or {}).get("segment"))
        spans = sorted(tuple(span) for span in manifest.layers.values())
        tiled = bool(spans) and spans[0][0] == 0 and spans[-1][1] == manifest.dim and all(
            a[1] == b[0] for a, b in zip(spans, spans[1:]))
        if tiled and self.layers is not None:  # in the front-end's order, each as wide as it declares
            ordered = [tuple(manifest.layers[name]) for name in self.layers if name in manifest.layers]
            tiled = list(manifest.layers) == list(self.layers) and ordered == spans and all(
                width is None or stop - start == width
                for (start, stop), width in zip(ordered, self.layers.values()))
        for wrong, said in (((rows, dim) != (manifest.n_rows, manifest.dim), f"features are {rows} × {dim}, the "
                             f"manifest says {manifest.n_rows} × {manifest.dim}"),
                            (index != rows, f"clip_index has {index} rows for {rows} feature rows"),
                            (not covers(clip_index, range(manifest.n_clips))
                             or not segmented and index != manifest.n_clips,
                             f"clip_index does not hold each of the {manifest.n_clips} clips "
                             + (", in ascending order" if segmented else "once, in order")),
                            (len(manifest.clip_ids) != manifest.n_clips, f"{len(manifest.clip_ids)} clip ids for "
                             f"n_clips {manifest.n_clips}"),
                            (not tiled, f"its layers' columns {dict(manifest.layers)} do not cover 0…{manifest.dim}"
                             + ("" if self.layers is None else f" as the front-end's layers {self.layers} do"))):
            if wrong:
                return said
        return None

    def is_complete(self) -> bool:
        return self.exists() and self.problem() is None

    def manifest(self) -> EmbeddingManifest:
        return EmbeddingManifest.from_json(read_json(self.manifest_path), str(self.manifest_path))

    def features(self) -> np.ndarray:
        return np.load(self.features_path, mmap_mode="r")

    def clip_index(self) -> np.ndarray:
        return np.load(self.clip_index_path)

    def outdated(self) -> bool:
        """The manifest was written by an rwbench with another manifest schema (not damage: an upgrade)."""
        try:
            return read_json(self.manifest_path).get("schema_version") != MANIFEST_SCHEMA
        except RwbenchError:
            return False

    def discard(self, reason: str) -> None:
        """Remove a damaged or outdated finished entry (its arrays and manifest) so it is computed again."""
        if self.outdated():
            log.info("cache entry %s was written by another rwbench version; computing it again", self.folder)
        else:
            log.warning("cache entry %s is damaged: %s; computing it again", self.folder, reason)
        for path in (self.manifest_path, self.features_path, self.clip_index_path):
            path.unlink(missing_ok=True)
        _CHECKED.pop(self.folder, None)

    def tidy(self) -> None:
        """Remove what a killed process can leave: temporary files, and the parts of a finished entry.
        Call it only while holding the lock."""
        for tmp in [*self.folder.glob(".*.tmp"), *self.parts.glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)
        if self.exists():
            shutil.rmtree(self.parts, ignore_errors=True)

    # -- chunks of an unfinished computation ----------------------------------------------------
    def part_path(self, index: int) -> Path:
        return self.parts / f"{index:05d}.npz"

    def part_problem(self, index: int, clips: Sequence[int]) -> str | None:
        """Why part ``index`` cannot stand for its chunk's ``clips`` (absent, unreadable, written under another
        manifest schema, or holding other rows); None for a part a resumed run keeps. Read only."""
        path = self.part_path(index)
        if not path.is_file():
            return "absent"
        try:
            part = self.load_part(index, "rows", "features", "schema")
            if len(part["rows"]) != len(part["features"]):
                raise ValueError("rows and features differ in length")
        except KeyError:  # a part of an rwbench before its schema was kept, perhaps under other rules (silent crops)
            return "written by an older rwbench (no schema)"
        except Exception as err:  # a damaged zip raises many types; any of them means recompute
            return f"unreadable ({err})"
        if int(part["schema"]) != MANIFEST_SCHEMA:
            return f"written under manifest schema {int(part['schema'])}, not {MANIFEST_SCHEMA}"
        if not covers(part["rows"], clips):  # a copy of another part, or one of another chunk size
            return f"its rows are not its chunk's clips {clips[0]}…{clips[-1]}"
        return None

    def has_part(self, index: int, clips: Sequence[int]) -> bool:
        """A part ``index`` a resumed run keeps (:meth:`part_problem`) is there; another is removed (and computed
        again)."""
        path = self.part_path(index)
        if not path.is_file():
            return False
        if problem := self.part_problem(index, clips):
            log.warning("chunk %s: %s; computing it again", path, problem)
            path.unlink(missing_ok=True)
        return problem is None

    def save_chunk(self, index: int, rows: Sequence[int], features: Sequence[np.ndarray], failed: dict[int, str],
                   *, dim: int, clip_ids: Sequence[str], seconds: float, device: str, batch_size: int,
                   threads: int, compile_seconds: float = 0.0) -> None:
        """One finished chunk, rows sorted by clip (windows in time order); a failed clip is one NaN row and
        its id and reason are kept as one JSON object ``{"clip": ..., "reason": ...}`` per failed clip. The
        device, batch size and torch threads that computed it are kept with it (a resumed entry may mix them), and
        the seconds a compiled network took to compile before it (not in ``seconds``)."""
        bad = np.array(sorted(failed), dtype=int)
        all_rows = np.concatenate([np.asarray(rows, dtype=int), bad])
        stacked = np.concatenate([*features, np.full((len(bad), dim), np.nan, np.float32)])
        order = np.argsort(all_rows, kind="stable")
        notes = np.array([json.dumps({"clip": clip_ids[i], "reason": failed[i]}) for i in bad], dtype=str)
        with atomic_path(self.part_path(index)) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, schema=np.array(MANIFEST_SCHEMA), rows=all_rows[order], features=stacked[order],
                     seconds=np.array(seconds), failed=notes,
                     device=np.array(device), batch_size=np.array(batch_size), threads=np.array(threads),
                     compile_seconds=np.array(compile_seconds))

    def load_part(self, index: int, *names: str) -> dict[str, np.ndarray]:
        """The named arrays of a part (all by default); the others are not read."""
        with np.load(self.part_path(index), allow_pickle=False) as part:
            return {name: part[name] for name in names or part.files}

    def _part_record(self, index: int) -> dict[str, np.ndarray]:
        """A part's arrays but its features (read one part at a time where they are needed)."""
        with np.load(self.part_path(index), allow_pickle=False) as part:
            return {name: part[name] for name in part.files if name != "features"}

    def chunk_summary(self, n_parts: int) -> dict:
        """What the manifest records about the parts: rows, dim, compute seconds, the failed clips, and the
        devices and batch sizes that computed them (one value, or one per part when a resume changed them)."""
        parts = [self._part_record(i) for i in range(n_parts)]
        # parts written before these were kept say nothing: the others describe the entry (threads: unknown then)
        devices = [str(p["device"]) for p in parts if "device" in p] or ["unknown"]
        batch_sizes: list[int | None] = [int(p["batch_size"]) for p in parts if "batch_size" in p] or [None]
        threads = {int(p["threads"]) if "threads" in p else None for p in parts}
        return {"n_rows": sum(len(p["rows"]) for p in parts),
                "dim": self.load_part(0, "features")["features"].shape[1],
                "seconds": float(sum(p["seconds"] for p in parts)),
                "skipped": [failed_clip(str(line)) for p in parts for line in p["failed"]],
                "device": devices[0] if len(set(devices)) == 1 else devices_label(devices),
                "batch_size": batch_sizes[0] if len(set(batch_sizes)) == 1 else tuple(batch_sizes),
                "threads": threads.pop() if len(threads) == 1 else None,  # None: unknown or mixed
                "compile_seconds": float(sum(p.get("compile_seconds", 0.0) for p in parts))}

    def finish(self, n_parts: int, dim: int, manifest: EmbeddingManifest) -> None:
        """Assemble the parts, in order, into ``features.npy`` (memory-mapped, one part in memory at a
        time) and ``clip_index.npy``, then write the manifest with their sizes and sha256. Idempotent: a
        finished entry is left as it is."""
        if self.is_complete():
            return
        rows = np.concatenate([self.load_part(i, "rows")["rows"] for i in range(n_parts)])
        with atomic_path(self.features_path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(rows), dim))
            with open(tmp, "r+b") as handle:  # the space taken now: a full disk is an OSError here, not a SIGBUS later
                os.posix_fallocate(handle.fileno(), 0, os.path.getsize(tmp))
            start = 0
            for index in range(n_parts):
                block = self.load_part(index, "features")["features"]
                out[start:start + len(block)] = block
                start += len(block)
            out.flush()
            del out
        with atomic_path(self.clip_index_path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, rows)
        files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_of(p)}
                 for p in (self.features_path, self.clip_index_path)}
        write_json(self.manifest_path, manifest.with_files(files).to_json())
        shutil.rmtree(self.parts, ignore_errors=True)
