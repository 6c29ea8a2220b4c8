"""``rwbench run --dry-run``: what a study implies before anything is computed.

Per dataset and front-end: the embed jobs and how many are cached, the predicted embedding time, the cache size on
disk (entries there now, plus the predicted size of the new ones), the result files and how many are up to date, and
the backend fits still to run (per outer split: inner folds × grid + the refit) with their predicted time. Nothing
is written.

Embedding, per job: a start-up (the network built and its weights drawn, its first batch beyond a steady one, and
with DataLoader workers their start and the first batch's decoding, which the network waits for), then the clips:
network time from one batch timed on this device (on CPU up to 96 s of audio), decoding from a few of the dataset's clips,
overlapping when workers decode beside the network. Fits, per (dataset, backend, feature size): the whole grid
searched on one inner fold of the first outer split, on random features, with the run's ``--jobs`` threads (kernel
matrices reused across the grid as in the run), × the inner folds and outer splits, plus a refit per split.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from joblib import effective_n_jobs
from tabulate import tabulate

from .backends import BackendSpec
from .datamodel import Dataset
from .device import choose_batch_size, default_workers, resolve_device
from .embed import build_model
from .embed_job import EmbedJob
from .errors import DataError
from .evaluate import available_cores
from .frontend import FrontendSpec, resolve_weights
from .pipeline import RunOptions, evaluation_jobs, jobs
from .profile import MIN_TIME, best_seconds, noise_clips

log = logging.getLogger(__name__)

PROFILE_AUDIO_CPU = 96.0  # seconds of audio per timed call on CPU: the run's batch of short clips (its threads as busy
# as in the run), fewer of long ones (at least 4) so that the dry run stays a fraction of the run
DECODE_SAMPLE = 3  # clips decoded to time decoding (after one untimed, which pays the decoders' first use)
DIM_SHARE = 1.25  # a fit timing serves every feature dim within this factor of the one timed


def decode_ms(dataset: Dataset, sample_rate: int) -> float:
    """Mean milliseconds to decode and resample one clip, over ``DECODE_SAMPLE`` clips after an untimed one."""
    clips = dataset.clips[:DECODE_SAMPLE + 1]

    def load(clip) -> None:
        try:
            dataset.load_audio(clip, sample_rate)
        except DataError:
            pass  # an unreadable clip fails fast; the embed stage names it

    if len(clips) > 1:
        load(clips[0])
        clips = clips[1:]
    start = time.perf_counter()
    for clip in clips:
        load(clip)
    return 1e3 * (time.perf_counter() - start) / max(len(clips), 1)


@dataclass(frozen=True)
class NetworkTiming:
    build_s: float  # the Embedder built, its weights drawn and moved to the device
    first_extra_s: float  # the first batch's call beyond a steady one (allocator, oneDNN/cuDNN kernel choice)
    ms_per_row: float  # steady network time per clip (or window)


def time_network(job: EmbedJob, batch: int, device: str, compile: bool = False) -> NetworkTiming:
    """The front-end of ``job`` built as the embed stage builds it (with random weights: a checkpoint need not exist
    yet) and run on ``batch`` noise clips of its network length (the networks' cost does not depend on the signal)."""
    spec, torch_device = job.frontend, resolve_device(device)
    clips, _ = noise_clips(spec, job.input_samples()[1] / spec.sample_rate, batch)
    sync = torch.cuda.synchronize if torch_device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    model, _ = build_model(job, torch_device, compile=compile, weights=resolve_weights(spec, "random", job.seed))
    sync()
    build = time.perf_counter() - start
    clips = clips.to(torch_device)
    start = time.perf_counter()
    model(clips)
    sync()
    first = time.perf_counter() - start
    start = time.perf_counter()
    model(clips)
    sync()
    steady = time.perf_counter() - start
    if steady < MIN_TIME:  # a short call: the best of a loop lasting MIN_TIME
        steady = best_seconds(lambda: model(clips), torch_device, repeats=1, warmup=0)
    return NetworkTiming(build, max(0.0, first - steady), 1e3 * steady / batch)


def _noop(batch: list[int]) -> list[int]:
    return batch


def loader_start_s(workers: int) -> float:
    """Seconds for a DataLoader to start ``workers`` processes (forked from this one) and hand over a first item."""
    if workers <= 0:
        return 0.0
    from torch.utils.data import DataLoader

    start = time.perf_counter()
    # a range serves as a map-style dataset (len and indexing); torch's stubs ask for a Dataset
    next(iter(DataLoader(range(workers), batch_size=1, num_workers=workers, collate_fn=_noop)))  # type: ignore[arg-type]
    return time.perf_counter() - start


@dataclass
class PlanRow:
    dataset: str
    frontend: str
    embed_jobs: int = 0
    cached: int = 0
    rows_to_embed: int = 0  # clips (or windows) of the jobs not cached
    clips_to_decode: int = 0
    ms_per_row: float = math.nan  # network time per row, timed on this device
    decode_ms_per_clip: float = math.nan  # decoding and resampling one clip, timed on a few of the dataset's clips
    decode_workers: int = 0  # DataLoader worker processes (0: the main process decodes)
    startup_seconds: float = 0.0  # per-job start-up summed over the jobs to compute
    cores: int = 1
    torch_threads: int = 1
    cache_bytes_now: int = 0
    cache_bytes_new: int = 0
    results: int = 0
    up_to_date: int = 0
    fits: int = 0
    fit_seconds: float = 0.0  # predicted wall time of the fits, with the run's grid-search threads

    @property
    def network_seconds(self) -> float:
        return self.rows_to_embed * self.ms_per_row / 1e3 if self.rows_to_embed else 0.0

    @property
    def decode_seconds(self) -> float:
        """Decoding time of one process (spread over the DataLoader workers, when there are some)."""
        if not self.clips_to_decode:
            return 0.0
        return self.clips_to_decode * self.decode_ms_per_clip / 1e3 / max(self.decode_workers, 1)

    @property
    def embed_seconds(self) -> float:
        """Start-up + clips. The main process decoding: network + decoding. Workers decoding beside the network:
        the slower of the two, but no less than the CPU work of both shared out over the cores (the network's torch
        threads and the workers compete for them)."""
        network, decode = self.network_seconds, self.decode_seconds
        if self.decode_workers <= 0 or decode == 0:
            return self.startup_seconds + network + decode
        shared = (network * min(self.torch_threads, self.cores) + decode * self.decode_workers) / self.cores
        return self.startup_seconds + max(network, decode, shared)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def rows_per_clip(job: EmbedJob) -> int:
    """Window rows per clip with --segment, from the dataset's clip length (its files may be longer or shorter)."""
    if not job.segment:
        return 1
    hop = job.hop or job.segment
    return max(1, math.ceil((job.dataset.seconds - job.segment) / hop) + 1)


def fits_per_result(dataset: Dataset, backend: BackendSpec) -> int:
    """Estimator fits of one nested CV: per outer split, each grid setting on each inner fold, then one refit;
    multilabel: plus the threshold's refit per inner fold, and one fit per tag for a one-vs-rest backend."""
    task_type, native, n_classes = dataset.kind, backend.multilabel_native, len(dataset.classes)
    total = 0
    for split in dataset.splits():
        extra, per_fit = task_type.fits(len(split.inner), n_classes, native)
        total += (len(split.inner) * backend.grid_size + 1 + extra) * per_fit
    return total


CLASS_SPREAD = 1.5  # distance scale of the random class centres (in noise standard deviations): partly separable


def _random_features(dataset: Dataset, rows: np.ndarray, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features of ``dim`` columns around a random centre per class (multilabel: per tag, summed), so that
    the classes are partly separable as embeddings are: an SVM on pure noise needs far more iterations than on
    them (every clip a support vector at large C)."""
    rng = np.random.default_rng(seed)
    y = dataset.labels[rows]
    targets = y if y.ndim == 2 else np.eye(int(dataset.labels.max()) + 1)[y]
    centres = rng.standard_normal((targets.shape[1], dim)) * CLASS_SPREAD / np.sqrt(dim)
    X = rng.standard_normal((len(rows), dim)) + targets @ centres
    return X.astype(np.float32), y


def search_seconds(dataset: Dataset, backend: BackendSpec, dim: int, n_jobs: int | None) -> tuple[float, float]:
    """(seconds to search ``backend``'s whole grid on one inner fold, mean seconds of one fit): measured as the
    evaluation runs it (the task type's estimator and scoring, ``n_jobs`` threads) on random features of ``dim``
    columns over the first outer split's search rows, with the dataset's labels. NaN when it cannot fit noise."""
    from .evaluate import search_grid

    split, task_type, native = dataset.splits()[0], dataset.kind, backend.multilabel_native
    search = split.search
    inner = [(np.searchsorted(search, fit), np.searchsorted(search, val)) for fit, val in split.inner[:1]]
    estimator, grid = task_type.estimator(backend.build, 0, native), task_type.grid(backend.grid, native)
    try:  # untimed, on a few rows: imports and one-off compilation (the ELM's numba ReLU) are paid once per run
        warm = inner[0][0][: max(20, len(inner[0][0]) // 10)]
        X, y = _random_features(dataset, search[warm], dim, 1)
        search_grid(estimator, grid[:1], X, y, [(np.arange(len(warm)), np.arange(len(warm)))], scoring=task_type.scoring,
                    n_jobs=1, where="warm-up")
        X, y = _random_features(dataset, search, dim, 0)
        start = time.perf_counter()
        search_grid(estimator, grid, X, y, inner, scoring=task_type.scoring, n_jobs=n_jobs, where="timing")
        seconds = time.perf_counter() - start
    except Exception as err:  # noqa: BLE001 - a backend that cannot fit noise: no estimate, no failed dry run
        log.warning("could not time %s fits on random features (%s): its fits are not estimated", backend.name, err)
        return math.nan, math.nan
    return seconds, seconds / backend.grid_size


def result_seconds(dataset: Dataset, backend: BackendSpec, searched: tuple[float, float]) -> float:
    """One result's fits: per outer split, its inner folds × the timed search, its refit and the task's extra fits
    (multilabel: a threshold refit per inner fold), each such fit at the timed mean."""
    inner_fold, one_fit = searched
    total = 0.0
    for split in dataset.splits():
        extra, _ = dataset.kind.fits(len(split.inner), len(dataset.classes), backend.multilabel_native)
        total += len(split.inner) * inner_fold + (1 + extra) * one_fit
    return total


def _dim_timing(timings: dict, key: tuple, dim: int):
    """A fit timing of ``key`` at a feature dim within ``DIM_SHARE`` of ``dim``, if one was made."""
    for (*rest, timed_dim), value in timings.items():
        if tuple(rest) == key and max(dim, timed_dim) <= DIM_SHARE * min(dim, timed_dim):
            return value
    return None


def plan(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec],
         opts: RunOptions, *, timings: dict | None = None) -> list[PlanRow]:
    """One row per (dataset, front-end). ``timings`` is filled and reused, so each thing is timed once:
    (front-end, width, network samples) → :class:`NetworkTiming`; ("decode", dataset, rate) → ms per clip;
    ("loader", workers) → start seconds; ("fit", dataset, backend, grid, dim) → (inner-fold search s, one fit s)."""
    timings = {} if timings is None else timings
    backends = [backend.with_grid(opts.grid) for backend in backends]  # fits depend on the grid searched
    device = resolve_device(opts.device)
    workers = default_workers() if opts.workers is None else opts.workers
    cores = available_cores() if device.type == "cpu" else 1
    rows: dict[tuple[str, str], PlanRow] = {}
    for job in jobs(datasets, frontends, opts):
        row = rows.setdefault((job.dataset.key, job.frontend.name),
                              PlanRow(job.dataset.key, job.frontend.name, decode_workers=workers, cores=cores,
                                      torch_threads=torch.get_num_threads() if device.type == "cpu" else 1))
        entry = job.entry(opts.cache_root)
        row.embed_jobs += 1
        row.cache_bytes_now += folder_bytes(entry.folder)
        if entry.is_complete():
            row.cached += 1
            continue
        n_rows = len(job.dataset.clips) * rows_per_clip(job)
        row.rows_to_embed += n_rows
        row.clips_to_decode += len(job.dataset.clips)
        rate = ("decode", job.dataset.key, job.frontend.sample_rate)
        if rate not in timings:
            timings[rate] = decode_ms(job.dataset, job.frontend.sample_rate)
        row.decode_ms_per_clip = timings[rate]
        row.cache_bytes_new += 4 * n_rows * job.frontend.dim(job.width, job.pooling)
        batch = opts.batch_size or choose_batch_size(job, opts.device)
        shape = (job.frontend.name, str(job.width), job.input_samples()[1], batch, job.pooling, job.precision)
        if shape not in timings:
            log.info("timing %s on %s (%d clips of %.2f s)", job.frontend.name, device, batch,
                     shape[2] / job.frontend.sample_rate)
            seconds = shape[2] / job.frontend.sample_rate
            timed_batch = max(4, min(batch, int(PROFILE_AUDIO_CPU / seconds))) if device.type == "cpu" else batch
            timings[shape] = time_network(job, min(timed_batch, batch), opts.device, opts.compile)
        timed = timings[shape]  # timed on fewer clips than a batch on CPU: its start-up is per job, its ms per row
        if ("loader", workers) not in timings:
            timings[("loader", workers)] = loader_start_s(workers)
        first_batch = min(batch, len(job.dataset.clips)) * timings[rate] / 1e3 if workers > 0 else 0.0
        row.startup_seconds += timed.build_s + timed.first_extra_s + timings[("loader", workers)] + first_batch
        row.ms_per_row = timed.ms_per_row
    protocols = {d.key: d.describe()["protocol"] for d in datasets}
    fits = {(d.key, b.name): fits_per_result(d, b) for d in datasets for b in backends}
    for eval_job in evaluation_jobs(datasets, frontends, backends, opts):
        job = eval_job.job
        key = job.dataset.key
        row = rows[(key, job.frontend.name)]
        row.results += 1
        if eval_job.up_to_date(opts, protocols[key]):
            row.up_to_date += 1
            continue
        row.fits += fits[(key, eval_job.backend.name)]
        dim = job.frontend.dim(job.width, job.pooling)
        which = ("fit", key, eval_job.backend.name, eval_job.backend.grid_name)
        searched = _dim_timing(timings, which, dim)
        if searched is None:
            log.info("timing %s's grid on one inner fold of %s, random features of %d dims", eval_job.backend.name, key, dim)
            searched = timings[(*which, dim)] = search_seconds(job.dataset, eval_job.backend, dim, opts.n_jobs)
        row.fit_seconds += result_seconds(job.dataset, eval_job.backend, searched)
    return list(rows.values())


def render(rows: list[PlanRow], opts: RunOptions) -> str:
    mib = lambda n: n / 2**20  # noqa: E731
    table = [{"dataset": r.dataset, "front-end": r.frontend, "embed jobs": r.embed_jobs, "cached": r.cached,
              "clips to embed": r.rows_to_embed, "ms/clip": round(r.ms_per_row, 2) if r.rows_to_embed else None,
              "decode ms/clip": round(r.decode_ms_per_clip, 1) if r.rows_to_embed else None,
              "start-up s": round(r.startup_seconds, 1), "embed s": round(r.embed_seconds, 1),
              "cache MiB now": round(mib(r.cache_bytes_now), 1), "cache MiB new": round(mib(r.cache_bytes_new), 1),
              "results": r.results, "up to date": r.up_to_date, "fits": r.fits, "fit s": round(r.fit_seconds, 1)}
             for r in rows]
    total = lambda name: sum(getattr(r, name) for r in rows)  # noqa: E731
    seconds, fit_wall = sum(r.embed_seconds for r in rows), total("fit_seconds")
    workers = rows[0].decode_workers if rows else 0
    lines = [
        f"dry run: nothing computed or written (device {resolve_device(opts.device)}, width {opts.width}, "
        f"precision {opts.precision}, cache {opts.cache_root})",
        "",
        tabulate(table, headers="keys", tablefmt="github", intfmt=",", missingval="—"),
        "",
        f"embed: {total('embed_jobs') - total('cached')} of {total('embed_jobs')} jobs to compute, "
        f"{total('rows_to_embed'):,} clip rows, predicted {seconds:.0f} s ({seconds / 3600:.2f} h): start-up "
        f"{total('startup_seconds'):.0f} s (per job: network built, its first batch, DataLoader start and first "
        f"batch decoded), network {sum(r.network_seconds for r in rows):.0f} s (one batch per front-end timed on this "
        f"device), decoding {sum(r.decode_seconds for r in rows):.0f} s ({DECODE_SAMPLE} clips timed per sample rate, "
        + (f"in {workers} DataLoader worker(s) beside the network)" if workers else "in the main process)"),
        f"cache: {mib(total('cache_bytes_now')):.1f} MiB on disk for these jobs, "
        f"+{mib(total('cache_bytes_new')):.1f} MiB predicted",
        f"evaluate: {total('results') - total('up_to_date')} of {total('results')} result files to compute, "
        f"{total('fits'):,} backend fits",
        f"fits: predicted {fit_wall:.0f} s ({fit_wall / 3600:.2f} h): per backend, dataset and feature size, the grid "
        f"searched on one inner fold of the first outer split (random features, {effective_n_jobs(opts.n_jobs)} "
        f"grid-search job(s)) × inner folds × outer splits, plus the refits",
        f"total: predicted {seconds + fit_wall:.0f} s ({(seconds + fit_wall) / 3600:.2f} h) for embedding and fits",
    ]
    return "\n".join(lines) + "\n"
