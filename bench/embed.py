"""The embed stage: one front-end instance × one dataset → a cached embedding matrix.

Clips are decoded in DataLoader workers, cropped/padded to one length, batched through the
front-end on the chosen device and pooled. Work is saved in chunks, so an interrupted run resumes
where it stopped; a finished entry is never recomputed (see :mod:`rwbench.cache`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import __version__
from .audio import fix_length
from .cache import CacheEntry, content_key
from .dataset import Dataset
from .errors import DataError, RwbenchError
from .frontend import Embedder, FrontendSpec, weights_for

log = logging.getLogger(__name__)

EMBED_CODE_VERSION = 1  # bump when the embedding computation changes: it invalidates the cache
CHUNK_CLIPS = 128  # clips per saved chunk: the most an interruption can lose


@dataclass(frozen=True)
class EmbedJob:
    """One front-end instance (name, width, weights, seed, pooling) applied to one dataset task."""

    dataset: Dataset
    frontend: FrontendSpec
    width: str | int = "small"
    weights: str = "random"
    seed: int = 0
    pooling: str = "mean"

    @property
    def weights_kind(self) -> str:
        return weights_for(self.frontend, self.weights)

    @property
    def weights_seed(self) -> int | None:
        """The seed that draws the weights; None when nothing random is drawn."""
        return self.seed if self.weights_kind == "random" else None

    def input_samples(self) -> tuple[int, int]:
        """(samples of the dataset's clip length, samples fed to the network) at the front-end's rate."""
        spec = self.frontend
        clip = int(round(self.dataset.seconds * spec.sample_rate))
        minimum = spec.min_samples()
        if clip >= minimum:
            return clip, clip
        if spec.pad_to_min is None:
            raise DataError(
                f"front-end {spec.name!r} needs clips of at least {minimum / spec.sample_rate:.2f} s "
                f"({spec.input_length}); dataset {self.dataset.key!r} gives {self.dataset.seconds:g} s"
            )
        return clip, minimum

    def description(self) -> dict:
        """Everything that determines the embeddings; its hash is the cache key."""
        spec = self.frontend
        clip, network = self.input_samples()
        return {
            "embed_code": EMBED_CODE_VERSION,
            "frontend": spec.name,
            "frontend_version": spec.version,
            "filters": spec.filters(self.width),
            "weights": self.weights_kind,
            "seed": self.weights_seed,
            "init": spec.init if self.weights_kind == "random" else None,
            "pooling": self.pooling,
            "input": {"kind": spec.input_kind, "sample_rate": spec.sample_rate, "clip_samples": clip,
                      "network_samples": network, "clip_pad": self.dataset.pad, "min_pad": spec.pad_to_min,
                      "logmel": asdict(spec.logmel) if spec.logmel else None},
            "dataset": self.dataset.key,
            "dataset_fingerprint": self.dataset.fingerprint(),
        }

    def key(self) -> str:
        return content_key(self.description())

    def entry(self, cache_root: Path) -> CacheEntry:
        folder = cache_root / self.dataset.key.replace("/", "__") / self.frontend.name / self.key()
        return CacheEntry(folder)


@dataclass
class Embeddings:
    features: np.ndarray  # (n_clips, dim), memory-mapped; rows of skipped clips are NaN
    manifest: dict

    @property
    def valid(self) -> np.ndarray:
        return ~np.isnan(self.features).any(axis=1)


class _ClipAudio(torch.utils.data.Dataset):
    """Decoded, length-fixed clips; a clip that fails to decode yields its error instead."""

    def __init__(self, job: EmbedJob) -> None:
        self.dataset, self.rate = job.dataset, job.frontend.sample_rate
        self.clip_samples, self.network_samples = job.input_samples()
        self.min_pad = job.frontend.pad_to_min or "zero"

    def __len__(self) -> int:
        return len(self.dataset.clips)

    def __getitem__(self, index: int):
        clip = self.dataset.clips[index]
        try:
            audio = self.dataset.load_audio(clip, self.rate)
        except DataError as err:
            return index, None, str(err)
        audio = fix_length(audio, self.clip_samples, self.dataset.pad)
        return index, torch.from_numpy(fix_length(audio, self.network_samples, self.min_pad)), None


def _collate(items):
    return items


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RwbenchError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise RwbenchError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def default_workers() -> int:
    return min(4, max((os.cpu_count() or 1) - 1, 0))


def embed(
    job: EmbedJob, cache_root: Path, *, device: str = "auto", batch_size: int = 16, workers: int | None = None,
    skip_bad_audio: bool = False, progress: bool = False,
) -> Embeddings:
    """Compute (or load from the cache) the embeddings of every clip of ``job.dataset``."""
    entry = job.entry(Path(cache_root))
    if entry.is_complete():
        log.debug("cache hit %s", entry.folder)
        return Embeddings(entry.features(), entry.manifest())
    torch_device = resolve_device(device)
    model = Embedder(job.frontend, width=job.width, weights=job.weights, seed=job.seed, pooling=job.pooling)
    model.to(torch_device)
    n_clips = len(job.dataset.clips)
    chunks = [list(range(start, min(start + CHUNK_CLIPS, n_clips))) for start in range(0, n_clips, CHUNK_CLIPS)]
    todo = [i for i in range(len(chunks)) if not entry.has_part(i)]
    if len(todo) < len(chunks):
        log.info("%s: resuming, %d of %d chunks already done", job.frontend.name, len(chunks) - len(todo), len(chunks))
    bar = tqdm(total=n_clips, initial=n_clips - sum(len(chunks[i]) for i in todo), unit="clip",
               desc=f"embed {job.frontend.name} on {job.dataset.key}", disable=not progress, leave=False)
    audio = _ClipAudio(job)
    workers = default_workers() if workers is None else workers
    for index in todo:
        start = time.perf_counter()
        loader = DataLoader(torch.utils.data.Subset(audio, chunks[index]), batch_size=batch_size,
                            num_workers=workers, collate_fn=_collate)
        rows, features, failed = [], [], {}
        for batch in loader:
            good = [(i, wave) for i, wave, _ in batch if wave is not None]
            failed.update({i: err for i, _, err in batch if err is not None})
            if good:
                waves = torch.stack([w for _, w in good]).to(torch_device)
                features.append(model(waves).float().cpu().numpy())
                rows += [i for i, _ in good]
            bar.update(len(batch))
        if failed and not skip_bad_audio:
            bar.close()
            raise DataError(next(iter(failed.values())) + " (rerun with --skip-bad-audio to leave such files out)")
        dim = features[0].shape[1] if features else job.frontend.dim(job.width, job.pooling)
        stacked = np.concatenate(features) if features else np.zeros((0, dim), np.float32)
        bad_rows = np.array(sorted(failed), dtype=int)
        entry.save_part(
            index, rows=np.concatenate([np.array(rows, dtype=int), bad_rows]),
            features=np.concatenate([stacked, np.full((len(bad_rows), dim), np.nan, np.float32)]),
            failed=np.array([f"{job.dataset.clips[i].id}\t{failed[i]}" for i in bad_rows], dtype=str),
            seconds=np.array(time.perf_counter() - start),
        )
    bar.close()
    return _finish(job, entry, n_parts=len(chunks), device=str(torch_device), model=model, batch_size=batch_size)


def _finish(job: EmbedJob, entry: CacheEntry, *, n_parts: int, device: str, model: Embedder, batch_size: int) -> Embeddings:
    parts = [entry.load_part(i) for i in range(n_parts)]
    dim = parts[0]["features"].shape[1]
    seconds = float(sum(p["seconds"] for p in parts))
    skipped = [dict(zip(("clip", "reason"), line.split("\t", 1))) for p in parts for line in p["failed"]]
    n_clips = len(job.dataset.clips)
    manifest = {
        "key": job.key(),
        "description": job.description(),
        "rwbench_version": __version__,
        "n_clips": n_clips,
        "clip_ids": [c.id for c in job.dataset.clips],
        "dim": dim,
        "params": sum(p.numel() for p in model.net.parameters()),
        "device": device,
        "batch_size": batch_size,
        "embed_seconds": seconds,
        "seconds_per_clip": seconds / max(n_clips, 1),
        "skipped": skipped,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    entry.finish(n_parts, n_clips, dim, manifest)
    return Embeddings(entry.features(), entry.manifest())
