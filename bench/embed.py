"""The embed stage: one front-end instance × one dataset → a cached embedding matrix.

Clips are decoded in DataLoader workers, cropped/padded to one length, batched through the
front-end on the chosen device and pooled. Work is saved in chunks, so an interrupted run resumes
where it stopped; a finished entry is never recomputed (see :mod:`rwbench.cache`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import __version__
from .cache import CacheEntry
from .clips import ClipAudio, collate_as_list
from .compiler import compile_net
from .device import choose_batch_size, default_workers, embedding_settings, resolve_device
from .embed_job import Embeddings, EmbedJob
from .embedding_manifest import EmbeddingManifest
from .errors import DataError, RwbenchError
from .frontend import Embedder
from .fusion import fuse_embedder

log = logging.getLogger(__name__)

CHUNK_CLIPS = 128  # clips per saved chunk: the most an interruption can lose


def chunks_of(n_clips: int) -> list[list[int]]:
    """The clip indices of each saved chunk of an ``n_clips`` embedding, in order."""
    return [list(range(start, min(start + CHUNK_CLIPS, n_clips))) for start in range(0, n_clips, CHUNK_CLIPS)]


def embed(
    job: EmbedJob, cache_root: Path, *, device: str = "auto", batch_size: int | None = None, workers: int | None = None,
    skip_bad_audio: bool = False, progress: bool = False,
) -> Embeddings:
    """Compute (or load from the cache) the embeddings of every clip of ``job.dataset``."""
    ensure_embedded(job, cache_root, device=device, batch_size=batch_size, workers=workers,
                    skip_bad_audio=skip_bad_audio, progress=progress)
    return unless_skipped(Embeddings.read(job.entry(Path(cache_root))), job, skip_bad_audio)


def unless_skipped(embeddings: Embeddings, job: EmbedJob, skip_bad_audio: bool) -> Embeddings:
    """``embeddings``, unless they leave out clips (cached by a ``--skip-bad-audio`` run) and this run did not ask
    for that: then the error a cold cache gives, so that one command never passes or fails by what is cached."""
    refuse_skipped(embeddings.manifest.skipped, job, skip_bad_audio, f"the cached embeddings of {job.frontend.name}")
    return embeddings


def refuse_skipped(skipped, job: EmbedJob, skip_bad_audio: bool, where: str) -> None:
    """The error a cold cache gives for the first of ``skipped`` clips (left out of ``where`` by a ``--skip-bad-audio``
    run), unless this run asks to leave such clips out too."""
    if skipped and not skip_bad_audio:
        clip, reason = skipped[0]["clip"], skipped[0]["reason"]
        named = "" if clip in reason else f"{clip}: "
        raise DataError(f"{job.dataset.key}: {named}{reason} ({len(skipped)} clip(s) left out of {where}, made with "
                        "--skip-bad-audio; rerun with --skip-bad-audio to leave such clips out; they are named in the "
                        "result)")


def ensure_embedded(job: EmbedJob, cache_root: Path, **options) -> bool:
    """Make the job's cache entry complete; True when this call computed it (False: it was there, or another
    process computed it while this one waited for the entry's lock). A damaged entry is computed again; one that a
    ``--skip-bad-audio`` run left clips out of fails a run without the flag (:func:`refuse_skipped`)."""
    if not job.dataset.clips:  # no chunk to compute or assemble
        raise DataError(f"dataset {job.dataset.key!r} has no clips: nothing to embed with {job.frontend.name}")
    entry = job.entry(Path(cache_root))
    computed = False
    if entry.is_complete():
        log.debug("cache hit %s", entry.folder)
        if entry.parts.exists():  # a process killed between writing the manifest and removing them left them
            with entry.lock():
                entry.tidy()
    else:
        with entry.lock():
            if entry.exists() and (problem := entry.problem()) is not None:
                entry.discard(problem)
            entry.tidy()
            if not entry.exists():
                _compute(job, entry, **options)
                computed = True
    # an entry a --skip-bad-audio run left clips out of fails a run without the flag, as a cold cache would — one
    # finished now from the chunks of an interrupted --skip-bad-audio run too
    refuse_skipped(entry.manifest().skipped, job, options.get("skip_bad_audio", False),
                   f"the cached embeddings of {job.frontend.name}")
    return computed


def build_model(job: EmbedJob, torch_device: torch.device, *, compile: bool = False,
                weights=None) -> tuple[Embedder, int]:
    """The job's network as the embed stage runs it, and its parameter count as built (fusion folds batch norms
    away). ``weights``: others than the job's (``rwbench run --dry-run`` times random ones)."""
    model = Embedder(job.frontend, width=job.width, weights=job.resolved if weights is None else weights,
                     pooling=job.pooling, precision=job.precision)
    params = sum(p.numel() for p in model.net.parameters())
    fuse_embedder(model)  # exact rewrites (rwbench.fusion): not part of the cache key
    model.to(torch_device)
    if compile:
        compile_net(model.net, job.frontend.name)
    return model, params


def _compute(job: EmbedJob, entry: CacheEntry, *, device: str = "auto", batch_size: int | None = None,
             workers: int | None = None, skip_bad_audio: bool = False, progress: bool = False,
             on_clips: Callable[[int, int], None] | None = None, compile: bool = False) -> None:
    """``progress``: this job's own clip bar; ``on_clips(done, total)``, called after each batch, replaces it
    when a run-wide progress display shows the job (:mod:`rwbench.progress`). ``compile``: the network under
    ``torch.compile`` (:mod:`rwbench.compiler`; same embeddings within float rounding, so not in the cache key)."""
    torch_device = resolve_device(device)
    batch_size = batch_size or choose_batch_size(job, device)
    embedding_settings(torch_device, job.precision)
    model, params = build_model(job, torch_device, compile=compile)
    n_clips = len(job.dataset.clips)
    chunks = chunks_of(n_clips)
    todo = [i for i, clips in enumerate(chunks) if not entry.has_part(i, clips)]
    if len(todo) < len(chunks):
        log.info("%s: resuming, %d of %d chunks already done", job.frontend.name, len(chunks) - len(todo), len(chunks))
    bar = tqdm(total=n_clips, initial=n_clips - sum(len(chunks[i]) for i in todo), unit="clip",
               desc=f"embed {job.frontend.name} on {job.dataset.key}", disable=not progress or on_clips is not None,
               leave=False)
    # one loader for every unfinished chunk (workers start once); each batch lies inside one chunk
    batches = [chunks[c][i:i + batch_size] for c in todo for i in range(0, len(chunks[c]), batch_size)]
    loader = DataLoader(ClipAudio(job), batch_sampler=batches, collate_fn=collate_as_list,
                        num_workers=default_workers() if workers is None else workers)
    left = {c: len(chunks[c]) for c in todo}
    rows: list[int] = []
    features: list[np.ndarray] = []
    failed: dict[int, str] = {}
    clip_ids = [c.id for c in job.dataset.clips]
    dim, declared = job.frontend.dim(job.width, job.pooling), job.layer_widths()
    compile_seconds = _warm_up(model, job, batch_size, torch_device) if compile else 0.0
    start = time.perf_counter()
    for batch in loader:
        index = batch[0][0] // CHUNK_CLIPS
        _embed_batch(model, batch, torch_device, batch_size, rows, features, failed)
        made = getattr(model, "layer_widths", None) or []
        if made and len(made) != len(job.frontend.feature_layers):  # its columns would be cut into the wrong layers
            raise RwbenchError(f"front-end {job.frontend.name!r} returned {len(made)} layer(s); its spec declares "
                               f"feature_layers {job.frontend.feature_layers}: fix the spec or the network "
                               f"(rwbench check-plugin {job.frontend.name})")
        if made and any(width not in (None, w) for width, w in zip(declared.values(), made)):  # as dim, per layer
            raise RwbenchError(f"front-end {job.frontend.name!r} at width {job.width} made layers "
                               f"{dict(zip(declared, made))} wide; its layer_dims declare {declared}: fix the spec "
                               f"or the network (rwbench check-plugin {job.frontend.name})")
        if features and features[0].shape[1] != dim:  # declared and made differ: stored, it would read as damaged
            raise RwbenchError(f"front-end {job.frontend.name!r} at width {job.width} made {features[0].shape[1]} "
                               f"features per clip; its spec declares {dim}: fix the spec or the network "
                               f"(rwbench check-plugin {job.frontend.name})")
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
                         clip_ids=clip_ids, seconds=time.perf_counter() - start, device=str(torch_device),
                         batch_size=batch_size, threads=torch.get_num_threads(), compile_seconds=compile_seconds)
        compile_seconds = 0.0  # paid once, by the first chunk this process computes
        rows, features, failed, start = [], [], {}, time.perf_counter()
    bar.close()
    _finish(job, entry, n_parts=len(chunks), model=model, params=params)


def _warm_up(model: Embedder, job: EmbedJob, batch_size: int, device: torch.device) -> float:
    """Seconds of first passes on batches of zeros: a compiled network compiles there, outside the timed clips
    (counted in the embedding time, it made a compiled front-end look ~20x slower per clip). Two batch sizes: the
    second makes torch.compile build a graph for any batch size, which the last, smaller batch then uses (it
    compiled again inside the timed loop)."""
    start = time.perf_counter()
    with torch.no_grad():
        for n in dict.fromkeys((batch_size, max(2, batch_size - 1))):
            model(torch.zeros(n, job.input_samples()[1], device=device))
    return time.perf_counter() - start


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
    passes = []
    for part in torch.split(waves, batch_size):  # ≤ batch_size windows a pass
        passes.append(model(part.to(device, non_blocking=True)).cpu().numpy())
        if len(passes[-1]) != len(part):  # rows are handed to the clips by position: another count is clips swapped
            name = model.spec.name
            raise RwbenchError(f"front-end {name!r} returned {len(passes[-1])} rows for {len(part)} inputs: its "
                               f"network must keep the batch axis, one row per input (rwbench check-plugin {name})")
    out = np.concatenate(passes)
    start = 0
    for i, windows in good:
        mine, start = out[start:start + len(windows)], start + len(windows)
        if not np.isfinite(mine).all():
            failed[i] = (f"the front-end's output for this clip is not finite ({int(np.isnan(mine).sum())} NaN, "
                         f"{int(np.isinf(mine).sum())} ±Inf of {mine.size} values)")
            continue
        features.append(mine)
        rows += [i] * len(windows)


def _finish(job: EmbedJob, entry: CacheEntry, *, n_parts: int, model: Embedder, params: int) -> None:
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
        layers={name: (span[0], span[1]) for name, span in model.layer_slices().items()},
        weights=job.resolved.describe(), params=params, device=summary["device"],
        batch_size=summary["batch_size"], threads=summary["threads"], compile_seconds=summary["compile_seconds"],
        embed_seconds=summary["seconds"], skipped=tuple(summary["skipped"]),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), rwbench_version=__version__)
    entry.finish(n_parts, summary["dim"], manifest)
