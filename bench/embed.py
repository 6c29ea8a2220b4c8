"""The embed stage: one front-end instance × one dataset → a cached embedding matrix.

Clips are decoded in DataLoader workers, cropped/padded to one length, batched through the
front-end on the chosen device and pooled. Work is saved in chunks, so an interrupted run resumes
where it stopped; a finished entry is never recomputed (see :mod:`rwbench.cache`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import __version__
from .audio import fix_length, segments
from .cache import CacheEntry, content_key
from .dataset import Dataset
from .errors import DataError, RwbenchError
from .frontend import Embedder, FrontendSpec, Precision, Weights, resolve_weights
from .manifest import EmbeddingManifest

log = logging.getLogger(__name__)

EMBED_CODE_VERSION = 2  # bump when the embedding computation changes: it invalidates the cache
CHUNK_CLIPS = 128  # clips per saved chunk: the most an interruption can lose


@dataclass(frozen=True)
class EmbedJob:
    """One front-end instance (name, width, weights tag, seed, pooling) applied to one dataset task."""

    dataset: Dataset
    frontend: FrontendSpec
    width: str | int = "small"
    weights: str = "random"
    seed: int = 0
    pooling: str = "mean"
    segment: float | None = None  # window length (s) for segment-and-aggregate; None = crop/pad the clip
    hop: float | None = None  # window hop (s); None = the window length (no overlap)
    fold: str | None = None  # the outer split whose weights these are (per-fold weights: trained, mst)
    checkpoint: Path | None = None  # that fold's weights file
    precision: Precision = "fp32"  # bf16 / fp16: the network under autocast (embeddings stored float32)

    @cached_property
    def resolved(self) -> Weights:
        """The weights this job runs with (a pretrained file is located and its sha256 taken once)."""
        return resolve_weights(self.frontend, self.weights, self.seed, self.checkpoint)

    @property
    def weights_kind(self) -> str:
        return self.resolved.tag

    @property
    def weights_seed(self) -> int | None:
        """The seed that draws the weights; None when nothing random is drawn."""
        return self.resolved.seed

    def input_samples(self) -> tuple[int, int]:
        """(samples of a clip or window, samples fed to the network) at the front-end's rate."""
        spec = self.frontend
        clip = int(round((self.segment or self.dataset.seconds) * spec.sample_rate))
        minimum = spec.min_samples()
        if self.segment and clip < max(minimum, 1):  # a window padded to the minimum (or empty) scores at chance
            raise DataError(f"segment windows of {self.segment:g} s are shorter than front-end {spec.name!r} can "
                            f"compute: it needs at least {max(minimum, 1)} sample(s) at {spec.sample_rate} Hz")
        if clip >= minimum:
            return clip, clip
        if spec.pad_to_min is None:
            raise DataError(
                f"front-end {spec.name!r} needs clips of at least {minimum / spec.sample_rate:.2f} s "
                f"({spec.input_length}); dataset {self.dataset.key!r} gives {clip / spec.sample_rate:g} s"
            )
        return clip, minimum

    @cached_property
    def description(self) -> dict:
        """Everything that determines the embeddings; its hash is the cache key (computed once)."""
        spec = self.frontend
        clip, network = self.input_samples()
        return {
            "embed_code": EMBED_CODE_VERSION,
            "frontend": spec.name,
            "frontend_version": spec.version,
            "filters": spec.filters(self.width),
            "weights": self.weights_kind,
            "seed": self.weights_seed,
            "weights_sha256": self.resolved.file.sha256 if self.resolved.file else None,
            **({"fold": self.fold} if self.fold else {}),  # per-fold weights
            "init": spec.init if self.weights_kind == "random" else None,
            "pooling": self.pooling,
            **({"precision": self.precision} if self.precision != "fp32" else {}),  # fp32 keys predate the option
            "input": {"kind": spec.input_kind, "sample_rate": spec.sample_rate, "clip_samples": clip,
                      "network_samples": network, "clip_pad": self.dataset.pad, "min_pad": spec.pad_to_min,
                      "logmel": asdict(spec.logmel) if spec.logmel else None,
                      "segment": {"seconds": self.segment, "hop": self.hop or self.segment} if self.segment else None},
            "dataset": self.dataset.key,
            "dataset_fingerprint": self.dataset.fingerprint(),
        }

    @cached_property
    def key(self) -> str:
        return content_key(self.description)

    def entry(self, cache_root: Path) -> CacheEntry:
        folder = cache_root / self.dataset.key.replace("/", "__") / self.frontend.name / self.key
        return CacheEntry(folder)


@dataclass
class Embeddings:
    features: np.ndarray  # (n_rows, dim), memory-mapped: one row per clip, or per window when segmented
    clip_index: np.ndarray  # (n_rows,) the clip of each row, ascending; a skipped clip has one NaN row
    manifest: EmbeddingManifest

    @classmethod
    def read(cls, entry: CacheEntry) -> Embeddings:
        return cls(entry.features(), entry.clip_index(), entry.manifest())

    @property
    def valid(self) -> np.ndarray:
        return ~np.isnan(self.features).any(axis=1)

    @property
    def segmented(self) -> bool:
        return len(self.clip_index) != len(np.unique(self.clip_index))

    def columns(self, layers: tuple[str, ...]) -> np.ndarray:
        """The feature columns of ``layers``, in the order given."""
        slices = self.manifest.layers
        return np.concatenate([np.arange(*slices[layer]) for layer in layers])


class _ClipAudio(torch.utils.data.Dataset):
    """Decoded, length-fixed clips; a clip that fails to decode yields its error instead."""

    def __init__(self, job: EmbedJob) -> None:
        self.dataset, self.rate = job.dataset, job.frontend.sample_rate
        self.clip_samples, self.network_samples = job.input_samples()
        self.min_pad = job.frontend.pad_to_min or "zero"
        self.hop = int(round((job.hop or job.segment) * self.rate)) if job.segment else None

    def __len__(self) -> int:
        return len(self.dataset.clips)

    def __getitem__(self, index: int):
        clip = self.dataset.clips[index]
        try:
            audio = self.dataset.load_audio(clip, self.rate)
        except DataError as err:
            return index, None, str(err)
        if self.hop:  # windows over the whole clip
            windows = segments(audio, self.clip_samples, self.hop, pad=self.dataset.pad)
        else:
            windows = fix_length(audio, self.clip_samples, self.dataset.pad)[None]
        if self.network_samples > self.clip_samples:
            windows = np.stack([fix_length(w, self.network_samples, self.min_pad) for w in windows])
        return index, torch.from_numpy(windows), None  # (n_windows, samples)


def clip_audio(job: EmbedJob, index: int) -> torch.Tensor:
    """Clip ``index`` of ``job.dataset`` as the network sees it, ``(samples,)`` (the first window when segmented)."""
    _, windows, error = _ClipAudio(job)[index]
    if error is not None:
        raise DataError(error)
    return windows[0]


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


def memory_available(device: torch.device) -> int:
    """Bytes of memory the device has in all (CUDA: the GPU's; CPU: the machine's physical memory)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1]
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(job: EmbedJob, batch_size: int, device: str = "auto", *, training: bool = False) -> None:
    """:func:`check_memory` for the job's front-end instance and input length."""
    check_memory(job.frontend, job.width, job.input_samples()[1], batch_size, device, training=training)


def check_memory(spec: FrontendSpec, width: str | int, samples: int, batch_size: int, device: str = "auto", *,
                 training: bool = False) -> None:
    """Refuse, before anything is allocated, a front-end whose weights and activations for one batch of clips of
    ``samples`` cannot fit in the device's memory (a --width or --batch-size far too large). ``training``: the
    weights count four times (gradients and Adam's two moments) and the activations twice (kept for backward)."""
    need = spec.memory_needed(width, samples, batch_size)
    if training:
        need = {"weights": 4 * need["weights"], "activations": 2 * need["activations"]}
    torch_device = resolve_device(device)
    have = memory_available(torch_device)
    if sum(need.values()) > 0.9 * have:
        gib = lambda n: f"{n / 2**30:.1f} GiB"  # noqa: E731
        raise RwbenchError(
            f"{spec.name} at --width {width} needs about {gib(sum(need.values()))} to "
            f"{'train on' if training else 'embed'} a batch of {batch_size} clips of {samples / spec.sample_rate:.3g} s "
            f"(weights {gib(need['weights'])}, activations {gib(need['activations'])}); {torch_device.type} memory is "
            f"{gib(have)}. Use a smaller --width or --batch-size")


MAX_AUTO_BATCH = 256


def choose_batch_size(job: EmbedJob, device: str = "auto") -> int:
    """The batch size when none is given: 16 on CPU (larger batches gain nothing there); on CUDA the largest
    power of two up to ``MAX_AUTO_BATCH`` whose estimated memory fits in half the free GPU memory."""
    torch_device = resolve_device(device)
    if torch_device.type != "cuda":
        return 16
    free = torch.cuda.mem_get_info(torch_device)[0]
    batch = MAX_AUTO_BATCH
    while batch > 1 and sum(job.frontend.memory_needed(job.width, job.input_samples()[1], batch).values()) > free / 2:
        batch //= 2
    return batch


def default_workers() -> int:
    return min(4, max((os.cpu_count() or 1) - 1, 0))


def embed(
    job: EmbedJob, cache_root: Path, *, device: str = "auto", batch_size: int | None = None, workers: int | None = None,
    skip_bad_audio: bool = False, progress: bool = False,
) -> Embeddings:
    """Compute (or load from the cache) the embeddings of every clip of ``job.dataset``."""
    ensure_embedded(job, cache_root, device=device, batch_size=batch_size, workers=workers,
                    skip_bad_audio=skip_bad_audio, progress=progress)
    return Embeddings.read(job.entry(Path(cache_root)))


def ensure_embedded(job: EmbedJob, cache_root: Path, **options) -> bool:
    """Make the job's cache entry complete; True when this call computed it (False: it was there, or another
    process computed it while this one waited for the entry's lock). A damaged entry is computed again."""
    entry = job.entry(Path(cache_root))
    if entry.is_complete():
        log.debug("cache hit %s", entry.folder)
        return False
    with entry.lock():
        if entry.exists() and (problem := entry.problem()) is not None:
            entry.discard(problem)
        entry.tidy()
        if entry.exists():
            return False
        _compute(job, entry, **options)
        return True


def _compute(job: EmbedJob, entry: CacheEntry, *, device: str = "auto", batch_size: int | None = None,
             workers: int | None = None, skip_bad_audio: bool = False, progress: bool = False,
             on_clips: Callable[[int, int], None] | None = None) -> None:
    """``progress``: this job's own clip bar; ``on_clips(done, total)``, called after each batch, replaces it
    when a run-wide progress display shows the job (:mod:`rwbench.progress`)."""
    torch_device = resolve_device(device)
    batch_size = batch_size or choose_batch_size(job, device)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one clip length per job: the fastest kernels are chosen once
    model = Embedder(job.frontend, width=job.width, weights=job.resolved, pooling=job.pooling, precision=job.precision)
    model.to(torch_device)
    n_clips = len(job.dataset.clips)
    chunks = [list(range(start, min(start + CHUNK_CLIPS, n_clips))) for start in range(0, n_clips, CHUNK_CLIPS)]
    todo = [i for i in range(len(chunks)) if not entry.has_part(i)]
    if len(todo) < len(chunks):
        log.info("%s: resuming, %d of %d chunks already done", job.frontend.name, len(chunks) - len(todo), len(chunks))
    bar = tqdm(total=n_clips, initial=n_clips - sum(len(chunks[i]) for i in todo), unit="clip",
               desc=f"embed {job.frontend.name} on {job.dataset.key}", disable=not progress or on_clips is not None,
               leave=False)
    # one loader for every unfinished chunk (workers start once); each batch lies inside one chunk
    batches = [chunks[c][i:i + batch_size] for c in todo for i in range(0, len(chunks[c]), batch_size)]
    loader = DataLoader(_ClipAudio(job), batch_sampler=batches, collate_fn=_collate,
                        num_workers=default_workers() if workers is None else workers)
    left = {c: len(chunks[c]) for c in todo}
    rows, features, failed = [], [], {}
    clip_ids = [c.id for c in job.dataset.clips]
    dim = job.frontend.dim(job.width, job.pooling)
    start = time.perf_counter()
    for batch in loader:
        index = batch[0][0] // CHUNK_CLIPS
        _embed_batch(model, batch, torch_device, batch_size, rows, features, failed)
        bar.update(len(batch))
        if on_clips is not None:
            on_clips(n_clips - sum(left.values()) + len(batch), n_clips)
        left[index] -= len(batch)
        if left[index]:
            continue
        if failed and not skip_bad_audio:
            bar.close()
            clip, reason = next(iter(failed.items()))
            named = "" if clip_ids[clip] in reason else f"{clip_ids[clip]}: "  # a decoder's message names the file
            raise DataError(f"{job.dataset.key}: {named}{reason} (rerun with --skip-bad-audio to leave such clips "
                            f"out; they are named in the result)")
        entry.save_chunk(index, rows, features, failed, dim=features[0].shape[1] if features else dim,
                         clip_ids=clip_ids, seconds=time.perf_counter() - start)
        rows, features, failed, start = [], [], {}, time.perf_counter()
    bar.close()
    _finish(job, entry, n_parts=len(chunks), device=str(torch_device), model=model, batch_size=batch_size)


def _embed_batch(model: Embedder, batch, device: torch.device, batch_size: int, rows: list[int],
                 features: list[np.ndarray], failed: dict[int, str]) -> None:
    """Embed the windows of a batch of clips, appending a clip index per window row; note failures, and
    clips whose embedding is not finite (a failed clip keeps no row here: it becomes one NaN row)."""
    good = [(i, windows) for i, windows, _ in batch if windows is not None]
    failed.update({i: err for i, _, err in batch if err is not None})
    if not good:
        return
    waves = torch.cat([w for _, w in good])
    if device.type == "cuda":  # page-locked: the copies below run asynchronously
        waves = waves.pin_memory()
    out = np.concatenate([model(part.to(device, non_blocking=True)).cpu().numpy()  # ≤ batch_size windows a pass
                          for part in torch.split(waves, batch_size)])
    start = 0
    for i, windows in good:
        mine, start = out[start:start + len(windows)], start + len(windows)
        if not np.isfinite(mine).all():
            failed[i] = (f"the front-end's output for this clip is not finite ({int(np.isnan(mine).sum())} NaN, "
                         f"{int(np.isinf(mine).sum())} ±Inf of {mine.size} values)")
            continue
        features.append(mine)
        rows += [i] * len(windows)


def _finish(job: EmbedJob, entry: CacheEntry, *, n_parts: int, device: str, model: Embedder, batch_size: int) -> None:
    summary = entry.chunk_summary(n_parts)
    n_clips = len(job.dataset.clips)
    if n_clips and len(summary["skipped"]) == n_clips:  # nothing left to evaluate: say so, not a crash downstream
        first = summary["skipped"][0]
        raise DataError(f"{job.dataset.key}: all {n_clips} clips were unreadable or gave a non-finite embedding with "
                        f"{job.frontend.name} and were skipped (--skip-bad-audio); nothing is left to evaluate. First: "
                        f"{first['clip']}: {first['reason']}")
    manifest = EmbeddingManifest(
        key=job.key, description=job.description, n_clips=n_clips, n_rows=summary["n_rows"],
        clip_ids=tuple(c.id for c in job.dataset.clips), dim=summary["dim"],
        layers={name: tuple(span) for name, span in model.layer_slices().items()},
        weights=job.resolved.describe(), params=sum(p.numel() for p in model.net.parameters()), device=device,
        batch_size=batch_size, embed_seconds=summary["seconds"], skipped=tuple(summary["skipped"]),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), rwbench_version=__version__)
    entry.finish(n_parts, summary["dim"], manifest)
