"""``rwbench run --dry-run``: what a study implies before anything is computed.

Per dataset and front-end: the embed jobs and how many are cached, the predicted embedding time, the cache size on
disk (entries there now, plus the predicted size of the new ones), the result files and how many are up to date, and
the backend fits still to run (per outer split: inner folds × grid + the refit) with their predicted time. Nothing
is written.

Embedding, per job: a start-up (the network built and its weights drawn, its first batch beyond a steady one, and
with DataLoader workers their start and the first batch's decoding, which the network waits for), then the clips:
network time from one batch of the run's size timed on this device (a call has a fixed part: a smaller batch
overstates the time per clip) plus the main process taking the clips from the DataLoader workers, decoding timed
through a worker on clips spread over the dataset (in this process without workers), overlapping when workers
decode beside the network; and once per front-end and input the run's memory check, done. Fits, per (dataset,
backend, feature size): the whole grid searched on one inner fold of the first outer split, on random features,
with the run's ``--jobs`` threads (kernel matrices reused across the grid as in the run),
× the inner folds and outer splits, plus per split the rest of its evaluation (refit, thresholds, test scores) timed
by evaluating the first outer split with one grid setting; and once per process what the run pays on first use: each
backend's imports and compilation (a tiny evaluation timed twice, the difference) and each front-end's MAC count
(its result's ``frontend`` section), timed by doing them.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from joblib import effective_n_jobs
from tabulate import tabulate

from .backends import BackendSpec
from .cache import CacheEntry
from .datamodel import Dataset
from .device import (
    check_fits,
    choose_batch_size,
    default_workers,
    embedding_settings,
    memory_key,
    resolve_device,
    window_memory,
)
from .embed import build_model, chunks_of, refuse_skipped
from .embed_job import EmbedJob
from .errors import DataError
from .evaluate import VOTES, available_cores
from .frontend import FrontendSpec, resolve_weights
from .macs import count_macs
from .pipeline import RunOptions, evaluation_jobs, jobs, jobs_to_embed
from .profile import MIN_TIME, PeakMemory, best_seconds, noise_clips
from .protocol import OuterSplit, rows_of

log = logging.getLogger(__name__)

PROFILE_AUDIO_CPU = 600.0  # seconds of audio per timed call on CPU at most: the run's batch (16 clips of up to 37.5 s),
# fewer of longer ones (at least 4). A call has a fixed part (0.26 s for `temporal` at any batch on 29-s clips), so 4
# clips of GTZAN's 30 s read 1.5-3× the run's time per clip, measured 2026-12-03; long clips make that part small
MACS_PER_TIMED_CALL = 4e10  # multiply-accumulates of one timed call on CPU at most (seconds of one core): a heavier
# network is timed on fewer clips, down to one, whose call's fixed part is then small beside its compute
DECODE_SAMPLE = 3  # clips decoded to time decoding (after one untimed, which pays the decoders' first use)
DIM_SHARE = 1.25  # a fit timing serves every feature dim within this factor of the one timed


def _spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (a dataset's first clips can be unlike the rest)."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).astype(int)).tolist()


def decode_ms(dataset: Dataset, sample_rate: int) -> float:
    """Mean milliseconds to decode and resample one clip, over ``DECODE_SAMPLE`` clips spread over the dataset after
    an untimed one."""
    clips = [dataset.clips[i] for i in _spread(len(dataset.clips), DECODE_SAMPLE + 1)]

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


WORKER_SAMPLE = 96  # clips at most that a DataLoader worker decodes to time decoding beside the network, 4 a batch


def worker_decode_ms(job: EmbedJob) -> float:
    """Milliseconds per clip of a DataLoader worker making the embed stage's items (decoding, resampling, fixing the
    length, handing the windows over in shared memory), as the main process receives them: batches of 4 clips spread
    over the dataset after a first untimed one (the worker's start), until ``MIN_TIME`` and 12 clips are reached (at
    most ``WORKER_SAMPLE`` clips); one batch asked for at a time, so that the worker has no head start on what is
    timed."""
    from torch.utils.data import DataLoader

    from .clips import ClipAudio, collate_as_list

    spread = _spread(len(job.dataset.clips), WORKER_SAMPLE)
    batches = [spread[i:i + 4] for i in range(0, len(spread), 4)]
    if len(batches) < 2:
        return decode_ms(job.dataset, job.frontend.sample_rate)
    # a batch sampler of index lists; torch's stubs ask for a Sampler
    loader = iter(DataLoader(ClipAudio(job), batch_sampler=batches, collate_fn=collate_as_list,  # type: ignore[arg-type]
                             num_workers=1, prefetch_factor=1))
    next(loader)
    clips, start = 0, time.perf_counter()
    for batch in loader:
        clips += len(batch)
        if clips >= 12 and time.perf_counter() - start >= MIN_TIME:
            break
    seconds = time.perf_counter() - start
    del loader  # its worker stops
    return 1e3 * seconds / clips


@dataclass(frozen=True)
class NetworkTiming:
    build_s: float  # the Embedder built, its weights drawn and moved to the device
    first_extra_s: float  # the first batch's call beyond a steady one (allocator, oneDNN/cuDNN kernel choice)
    ms_per_row: float  # steady network time per clip (or window)


def time_network(job: EmbedJob, batch: int, device: str, compile: bool = False) -> NetworkTiming:
    """The front-end of ``job`` built as the embed stage builds it (with random weights: a checkpoint need not exist
    yet) and run on ``batch`` noise clips of its network length (the networks' cost does not depend on the signal)."""
    spec, torch_device = job.frontend, resolve_device(device)
    embedding_settings(torch_device, job.precision)  # as the run embeds: no TF32 for fp32, cuDNN autotuning
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


def memory_check_seconds(job: EmbedJob, batch: int, device: str, windows: np.ndarray | None = None,
                         workers: int | None = None) -> float:
    """Seconds of the memory check the run makes for ``job``'s front-end and input before any embedding (the first
    also imports what shape propagation on the meta device needs, torch._dynamo: about 2 s on this machine). An
    instance that cannot fit stops the dry run with the run's error, before its network is built to be timed."""
    start = time.perf_counter()
    check_fits(job, batch, device, windows=windows, workers=workers)
    return time.perf_counter() - start


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


class _NoiseWindows:
    """Items as :class:`rwbench.clips.ClipAudio` gives them, ``(index, windows, error)``: one window of noise."""

    def __init__(self, samples: int) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return 2**31 - 1

    def __getitem__(self, index: int):
        return index, torch.randn(1, self.samples), None


HANDOVER_SAMPLES = 2**18  # samples per noise window of the hand-over timing (16 of them: 16 MiB a batch)


def handover_ns_per_sample(workers: int, batch: int = 16, batches: int = 3) -> float:
    """Nanoseconds per audio sample the main process spends taking a batch from a DataLoader worker and joining its
    clips, as the embed stage does (their shared-memory pages are first touched there): timed on ``batches`` batches
    of noise windows that the worker has ready (it is given time to get ahead). 0 without workers."""
    if workers <= 0:
        return 0.0
    from torch.utils.data import DataLoader

    from .clips import collate_as_list

    # a batch sampler of index lists; torch's stubs ask for a Dataset and a Sampler
    order = [list(range(k * batch, (k + 1) * batch)) for k in range(batches + 1)]
    loader = iter(DataLoader(_NoiseWindows(HANDOVER_SAMPLES), batch_sampler=order,  # type: ignore[arg-type]
                             collate_fn=collate_as_list, num_workers=1))
    next(loader)  # the worker started
    seconds = 0.0
    for _ in range(batches):
        time.sleep(0.3)  # the worker gets ahead: what follows is the hand-over, not the wait
        start = time.perf_counter()
        torch.cat([windows for _, windows, _ in next(loader)])
        seconds += time.perf_counter() - start
    return 1e9 * seconds / (batches * batch * HANDOVER_SAMPLES)


@dataclass
class PlanRow:
    dataset: str
    frontend: str
    embed_jobs: int = 0
    cached: int = 0
    unneeded: int = 0  # embed jobs not cached whose every result is up to date: the run skips them
    rows_to_embed: int = 0  # clips (or windows) of the jobs not cached, but those of chunks an interrupted run saved
    chunks: int = 0  # chunks of the jobs to compute
    chunks_done: int = 0  # of them, saved by an interrupted run: the run resumes after them
    clips_to_decode: int = 0
    ms_per_row: float = math.nan  # network time per row, timed on this device
    decode_ms_per_clip: float = math.nan  # decoding and resampling one clip, timed on a few of the dataset's clips
    decode_workers: int = 0  # DataLoader worker processes (0: the main process decodes)
    handover_ms_per_row: float = 0.0  # with workers: the main process taking a clip from them and joining it to a batch
    startup_seconds: float = 0.0  # per-job start-up summed over the jobs to compute, and the run's memory check
    cores: int = 1
    torch_threads: int = 1
    cache_bytes_now: int = 0
    cache_bytes_new: int = 0
    results: int = 0
    up_to_date: int = 0
    fits: int = 0
    fit_seconds: float = 0.0  # predicted wall time of the fits, with the run's grid-search threads (and first_use_seconds)
    first_use_seconds: float = 0.0  # of fit_seconds, paid once per process: backends' imports and compilation, MAC counts
    embed_bytes: int = 0  # the largest job's network weights + one batch's activations (the run's memory check's estimate)
    window_bytes: int = 0  # --segment: host memory of the windows in flight and every window's embedding (the same)
    fit_mib: float = math.nan  # the largest fit's memory, measured while timing it (NaN: no fit timed)

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
    def handover_seconds(self) -> float:
        return self.rows_to_embed * self.handover_ms_per_row / 1e3 if self.decode_workers > 0 else 0.0

    @property
    def embed_seconds(self) -> float:
        """Start-up + clips. The main process decoding: network + decoding. Workers decoding beside the main
        process (network + hand-over): the slower of the two, but no less than the CPU work of both shared out over
        the cores (the network's torch threads and the workers compete for them)."""
        network, decode, handover = self.network_seconds, self.decode_seconds, self.handover_seconds
        if self.decode_workers <= 0 or decode == 0:
            return self.startup_seconds + network + decode
        shared = (network * min(self.torch_threads, self.cores) + handover + decode * self.decode_workers) / self.cores
        return self.startup_seconds + max(network + handover, decode, shared)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def done_chunks(entry: CacheEntry, n_clips: int) -> tuple[list[list[int]], list[int]]:
    """(the embed stage's chunks of clips, those an interrupted computation of ``entry`` saved): the parts it would
    keep (:meth:`CacheEntry.part_problem`), read without removing a damaged one."""
    chunks = chunks_of(n_clips)
    return chunks, [index for index, clips in enumerate(chunks) if entry.part_problem(index, clips) is None]


def _windows(timings: dict, job: EmbedJob) -> np.ndarray:
    """:meth:`EmbedJob.windows_per_clip`, read once per dataset and window geometry."""
    key = ("windows", job.dataset.key, job.segment, job.hop, job.frontend.sample_rate, job.input_samples()[0])
    if key not in timings:
        timings[key] = job.windows_per_clip()
    return timings[key]


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
# lbfgs still stops far sooner on them than on embeddings (ESC-10 temporal, logreg's grid: 5-15 iterations per C against
# 20-425), and spreads of 0.5 and 0.2 gave the same counts: the embeddings' conditioning, not class overlap, sets them


def _class_features(dataset: Dataset, rows: np.ndarray, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features of ``dim`` columns around a random centre per class (multilabel: per tag, summed), so that
    the classes are partly separable as embeddings are: an SVM on pure noise needs far more iterations than on
    them (every clip a support vector at large C)."""
    rng = np.random.default_rng(seed)
    y = dataset.labels[rows]
    targets = y if y.ndim == 2 else np.eye(int(dataset.labels.max()) + 1)[y]
    centres = rng.standard_normal((targets.shape[1], dim)) * CLASS_SPREAD / np.sqrt(dim)
    X = rng.standard_normal((len(rows), dim)) + targets @ centres
    return X.astype(np.float32), y


@dataclass(frozen=True)
class FitTiming:
    """What one (dataset, backend, feature size) costs, measured on random features (NaN: not measured)."""

    search_s: float  # the whole grid searched on one inner fold, with the run's grid-search threads
    fit_s: float  # mean seconds of one fit of that search
    split_rest_s: float = math.nan  # the rest of one outer split: refit, one inner fold's thresholds, test scores
    first_use_s: float = 0.0  # once per process: imports and one-off compilation on the backend's first evaluation
    peak_mib: float = math.nan  # memory above the level before, measured during the search and the split's rest


def _mid_setting(backend: BackendSpec) -> BackendSpec:
    """``backend`` with a one-setting grid: the middle value of each parameter of its first grid part."""
    return replace(backend, grid=[{key: [values[len(values) // 2]] for key, values in backend.grid[0].items()}])


def _tiny_split(split: OuterSplit) -> OuterSplit:
    """A few rows of ``split`` spread over it (its indices sorted, often by class): a warm-up's evaluation."""
    def spread(rows: np.ndarray) -> np.ndarray:
        return rows[_spread(len(rows), max(20, len(rows) // 10))]

    fit, validate = split.inner[0]
    return replace(split, train=spread(fit), test=spread(split.test), inner=((spread(fit), spread(validate)),))


def fit_timing(dataset: Dataset, backend: BackendSpec, dim: int, n_jobs: int | None, *,
               windows: np.ndarray | None = None, vote: str | None = None) -> FitTiming:
    """Measured as the evaluation runs it (the task type's estimator and scoring, ``n_jobs`` threads) on random
    features of ``dim`` columns with the dataset's labels: the first use (a tiny evaluation of the whole grid, timed
    twice: the difference is what the first paid for imports and compilation), the whole grid searched on the first
    outer split's first inner fold, and that split evaluated with one mid-grid setting on one inner fold, less the
    same search: its refit, thresholds and scores. Each timing on features of another seed, so that no kernel matrix
    memoised by an earlier one is reused. NaN when the backend cannot fit noise. With ``vote``, the fits are on
    window rows (``windows`` per clip) and the test predictions voted per clip, as the run does."""
    from .evaluate import evaluate_split, search_grid

    split, task_type, native = dataset.splits()[0], dataset.kind, backend.multilabel_native
    row_clip = np.repeat(np.arange(len(dataset.clips)), 1 if windows is None or vote is None else windows)
    if vote:
        split = rows_of(split, row_clip)
    everything = np.arange(len(row_clip))

    def features(rows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return _class_features(dataset, row_clip[rows], dim, seed)

    def evaluate(X: np.ndarray, y: np.ndarray, split: OuterSplit, backend: BackendSpec) -> None:
        evaluate_split(X, y, split, backend, seed=0, n_classes=len(dataset.classes), n_jobs=n_jobs, task=task_type,
                       vote=vote, row_clip=row_clip if vote else None)

    try:
        warm = []
        for seed in (1, 2):
            X, y = features(everything, seed)
            start = time.perf_counter()
            evaluate(X, y, _tiny_split(split), backend)
            warm.append(time.perf_counter() - start)
        search = split.search
        inner = [(np.searchsorted(search, fit), np.searchsorted(search, val)) for fit, val in split.inner[:1]]
        estimator, grid = task_type.estimator(backend.build, 0, native), task_type.grid(backend.grid, native)
        X, y = features(search, 0)
        start = time.perf_counter()
        with PeakMemory(torch.device("cpu")) as searching:
            search_grid(estimator, grid, X, y, inner, scoring=task_type.scoring, n_jobs=n_jobs, where="timing")
        seconds = time.perf_counter() - start
    except Exception as err:  # noqa: BLE001 - a backend that cannot fit noise: no estimate, no failed dry run
        log.warning("could not time %s fits on random features (%s): its fits are not estimated", backend.name, err)
        return FitTiming(math.nan, math.nan)
    first_use = max(0.0, warm[0] - warm[1])
    try:
        one, mid = replace(split, inner=split.inner[:1]), _mid_setting(backend)
        search = one.search
        inner = [(np.searchsorted(search, fit), np.searchsorted(search, val)) for fit, val in one.inner]
        X, y = features(search, 3)
        start = time.perf_counter()
        search_grid(estimator, task_type.grid(mid.grid, native), X, y, inner, scoring=task_type.scoring,
                    n_jobs=n_jobs, where="timing")
        searched = time.perf_counter() - start
        X, y = features(everything, 4)
        start = time.perf_counter()
        with PeakMemory(torch.device("cpu")) as refitting:  # the refit is on the whole training side
            evaluate(X, y, one, mid)
        rest = max(0.0, time.perf_counter() - start - searched)
        peak = max(searching.mib, refitting.mib)
    except Exception as err:  # noqa: BLE001 - the refit is then estimated at the mean fit time
        log.info("could not time the rest of a %s evaluation (%s): its refit is taken at the mean fit", backend.name,
                 err)
        rest, peak = math.nan, searching.mib
    return FitTiming(seconds, seconds / backend.grid_size, rest, first_use, max(peak, 0.0))


def result_seconds(dataset: Dataset, backend: BackendSpec, timing: FitTiming) -> float:
    """One result's fits: per outer split, its inner folds × the timed search, plus the rest of its evaluation as
    timed (which refit a threshold on one inner fold: a multilabel task's threshold refits on the others at the
    mean fit); where that was not timed, the refit and the threshold refits at the mean fit."""
    total = 0.0
    for split in dataset.splits():
        extra, _ = dataset.kind.fits(len(split.inner), len(dataset.classes), backend.multilabel_native)
        if math.isnan(timing.split_rest_s):
            total += len(split.inner) * timing.search_s + (1 + extra) * timing.fit_s
        else:
            timed_extra, _ = dataset.kind.fits(1, len(dataset.classes), backend.multilabel_native)
            total += len(split.inner) * timing.search_s + timing.split_rest_s + (extra - timed_extra) * timing.fit_s
    return total


def cpu_timed_clips(spec: FrontendSpec, width, seconds: float, batch: int) -> int:
    """Clips of ``seconds`` the dry run times ``spec`` on, on CPU: the run's ``batch``, or fewer — as many as
    :data:`PROFILE_AUDIO_CPU` seconds of audio (at least 4), and no more than :data:`MACS_PER_TIMED_CALL` allow (at
    least 1: VGG at paper width is 84 GMAC a 29-s clip, and 16 of them made a dry run of minutes per network)."""
    try:
        macs_per_clip = count_macs(spec, width) * seconds  # counted once per process (macs_seconds did)
    except Exception:  # noqa: BLE001 - macs_seconds said why; timed by audio alone then
        macs_per_clip = 0.0
    by_macs = max(1, int(MACS_PER_TIMED_CALL / macs_per_clip)) if macs_per_clip > 0 else batch
    return min(batch, max(4, int(PROFILE_AUDIO_CPU / seconds)), by_macs)


def macs_seconds(spec: FrontendSpec, width) -> float:
    """Seconds of the MAC count that each result's ``frontend`` section records (once per front-end and process;
    the first also imports what counting on the meta device needs, torch._dynamo: about 2 s)."""
    start = time.perf_counter()
    try:
        count_macs(spec, width)
    except Exception as err:  # noqa: BLE001 - the run would fail there; the dry run only predicts
        log.info("could not count the MACs of %s (%s)", spec.name, err)
    return time.perf_counter() - start


def _dim_timing(timings: dict, key: tuple, dim: int):
    """A fit timing of ``key`` at a feature dim within ``DIM_SHARE`` of ``dim``, if one was made."""
    for (*rest, timed_dim), value in timings.items():
        if tuple(rest) == key and max(dim, timed_dim) <= DIM_SHARE * min(dim, timed_dim):
            return value
    return None


def plan(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec],
         opts: RunOptions, *, timings: dict | None = None, protocols: dict[str, dict] | None = None) -> list[PlanRow]:
    """One row per (dataset, front-end). ``timings`` is filled and reused, so each thing is timed once:
    (front-end, width, network samples, batch, …) → :class:`NetworkTiming`; ("decode", dataset, rate[, input]) → ms
    per clip; ("check", front-end, input, batch) → the run's memory check in s; ("memory", front-end, input,
    batch) → the bytes it estimates; ("loader", workers) → start seconds;
    ("handover", workers) → ns per sample; ("fit", dataset, backend, grid, dim) → :class:`FitTiming`; ("macs",
    front-end, width) → s. ``protocols``: as for :func:`rwbench.pipeline.jobs_to_embed`."""
    timings = {} if timings is None else timings
    backends = [backend.with_grid(opts.grid) for backend in backends]  # fits depend on the grid searched
    device = resolve_device(opts.device)
    workers = default_workers() if opts.workers is None else opts.workers
    cores = available_cores() if device.type == "cpu" else 1
    rows: dict[tuple[str, str], PlanRow] = {}
    uncharged: set[tuple] = set()  # MAC counts this call made before the result that pays them
    protocols = protocols or {d.key: d.describe()["protocol"] for d in datasets}
    eval_jobs = evaluation_jobs(datasets, frontends, backends, opts, protocols)
    needed = {job.key for job in jobs_to_embed(datasets, eval_jobs, opts, protocols)} if backends else None
    for job in jobs(datasets, frontends, opts):
        row = rows.setdefault((job.dataset.key, job.frontend.name),
                              PlanRow(job.dataset.key, job.frontend.name, decode_workers=workers, cores=cores,
                                      torch_threads=torch.get_num_threads() if device.type == "cpu" else 1))
        entry = job.entry(opts.cache_root)
        row.embed_jobs += 1
        row.cache_bytes_now += folder_bytes(entry.folder)
        if entry.is_complete():  # the run refuses an entry a --skip-bad-audio run left clips out of, without the flag
            refuse_skipped(entry.manifest().skipped, job, opts.skip_bad_audio, f"the cached embeddings of "
                           f"{job.frontend.name}")
            row.cached += 1
            continue
        if needed is not None and job.key not in needed:
            row.unneeded += 1
            continue
        left = np.ones(len(job.dataset.clips), bool)  # the clips of the chunks an interrupted run did not save
        chunks, done = done_chunks(entry, len(left))
        left[[clip for index in done for clip in chunks[index]]] = False
        row.chunks += len(chunks)
        row.chunks_done += len(done)
        n_rows = int(_windows(timings, job)[left].sum())
        row.rows_to_embed += n_rows
        row.clips_to_decode += int(left.sum())
        start = time.perf_counter()  # choosing the batch size pays the memory model's first use (imports), as the run does
        run_batch = opts.batch_size or choose_batch_size(job, opts.device)
        chosen_in = time.perf_counter() - start
        checked = ("check", *memory_key(job), run_batch)
        if checked not in timings:  # the run checks each instance's memory before any embedding (and the dry run
            # before it decodes a clip): timed by doing it
            cut = _windows(timings, job)
            timings[checked] = chosen_in + memory_check_seconds(job, run_batch, opts.device, cut, workers)
            row.startup_seconds += timings[checked]
            needs = job.frontend.memory_needed(job.width, job.input_samples()[1], run_batch)
            timings[("memory", *checked[1:])] = sum(needs.values())
            timings[("host", *checked[1:])] = sum(window_memory(job, run_batch, opts.device, cut, workers).values()) \
                if job.segment else 0
        row.embed_bytes = max(row.embed_bytes, timings[("memory", *checked[1:])])
        row.window_bytes = max(row.window_bytes, timings[("host", *checked[1:])])
        rate = ("decode", job.dataset.key, job.frontend.sample_rate, *((job.input_samples(),) if workers else ()))
        if rate not in timings:  # in a worker as the run decodes, or in this process when it does
            timings[rate] = worker_decode_ms(job) if workers else decode_ms(job.dataset, job.frontend.sample_rate)
        row.decode_ms_per_clip = timings[rate]
        row.cache_bytes_new += 4 * n_rows * job.frontend.dim(job.width, job.pooling)
        batch = min(run_batch, len(job.dataset.clips))  # a batch of the run
        shape = (job.frontend.name, str(job.width), job.input_samples()[1], batch, job.pooling, job.precision)
        if shape not in timings:
            seconds = shape[2] / job.frontend.sample_rate
            timed_batch = batch
            if device.type == "cpu":  # sized by its MACs: counted (and timed) here, charged to the first result
                macs = ("macs", job.frontend.name, str(opts.width))
                if macs not in timings:
                    timings[macs] = macs_seconds(job.frontend, opts.width)
                    uncharged.add(macs)
                timed_batch = cpu_timed_clips(job.frontend, opts.width, seconds, batch)
            log.info("timing %s on %s (%d clips of %.2f s; the run's batches hold %d)", job.frontend.name, device,
                     timed_batch, seconds, batch)
            timings[shape] = time_network(job, timed_batch, opts.device, opts.compile)
        timed = timings[shape]  # timed on fewer clips than a batch on CPU: its start-up is per job, its ms per row
        if ("loader", workers) not in timings:
            timings[("loader", workers)] = loader_start_s(workers)
            timings[("handover", workers)] = handover_ns_per_sample(workers)
        row.handover_ms_per_row = timings[("handover", workers)] * job.input_samples()[1] / 1e6
        first_batch = batch * timings[rate] / 1e3 if workers > 0 else 0.0
        row.startup_seconds += timed.build_s + timed.first_extra_s + timings[("loader", workers)] + first_batch
        row.ms_per_row = timed.ms_per_row
    fits = {(d.key, b.name): fits_per_result(d, b) for d in datasets for b in backends}
    for eval_job in eval_jobs:
        job = eval_job.job
        key = job.dataset.key
        row = rows[(key, job.frontend.name)]
        row.results += 1
        if (record := eval_job.reusable_record(opts, protocols[key])) is not None:  # up to date; one a
            # --skip-bad-audio run made is refused without the flag, as the run does
            refuse_skipped(record.get("dataset", {}).get("skipped"), job, opts.skip_bad_audio,
                           f"the result {eval_job.path(opts).name}")
            row.up_to_date += 1
            continue
        row.fits += fits[(key, eval_job.backend.name)]
        dim = job.frontend.dim(job.width, job.pooling)
        vote = opts.aggregate if job.segment and opts.aggregate in VOTES else None  # fits on window rows
        windows = _windows(timings, job) if vote else None
        n_rows = int(windows.sum()) if windows is not None else len(job.dataset.clips)
        which = ("fit", key, eval_job.backend.name, eval_job.backend.grid_name, *((vote, n_rows) if vote else ()))
        searched = _dim_timing(timings, which, dim)
        if searched is None:
            log.info("timing %s's grid on one inner fold of %s, random features of %d dims%s", eval_job.backend.name,
                     key, dim, f", {n_rows} window rows" if vote else "")
            searched = timings[(*which, dim)] = fit_timing(job.dataset, eval_job.backend, dim, opts.n_jobs,
                                                           windows=windows, vote=vote)
            row.first_use_seconds += searched.first_use_s  # paid by the run's first evaluation with this backend
        row.fit_seconds += result_seconds(job.dataset, eval_job.backend, searched)
        row.fit_mib = np.fmax(row.fit_mib, searched.peak_mib)
        macs = ("macs", job.frontend.name, str(opts.width))
        if macs not in timings or macs in uncharged:  # counted by the run's first result of this front-end
            if macs not in timings:
                timings[macs] = macs_seconds(job.frontend, opts.width)
            uncharged.discard(macs)
            row.first_use_seconds += timings[macs]
    for row in rows.values():
        row.fit_seconds += row.first_use_seconds
    return list(rows.values())


def memory_line(rows: list[PlanRow], opts: RunOptions) -> str:
    """The peak memory the run needs, as far as the dry run knows it: per embedding, per fit."""
    device = resolve_device(opts.device)
    embeds = [r.embed_bytes for r in rows if r.rows_to_embed]
    fits = [r.fit_mib for r in rows if not math.isnan(r.fit_mib)]
    embed = (f"embedding up to {max(embeds) / 2**20:.0f} MiB of {device.type} memory (the largest network's weights "
             f"and one batch's activations, estimated as the run's memory check does)" if embeds else
             "nothing to embed")
    fit = (f"fits up to {max(fits):.0f} MiB of resident memory above the process's level (measured while timing "
           f"them, {effective_n_jobs(opts.n_jobs)} grid-search job(s), a refit on a whole training side included)"
           if fits else "no fit to time")
    windows = [r.window_bytes for r in rows if r.rows_to_embed and r.window_bytes]
    embed += (f"; with --segment up to {max(windows) / 2**20:.0f} MiB of host memory for the windows of the batches in "
              f"flight and every window's embedding (the run's check)" if windows else "")
    return f"memory: {embed}; {fit}; decoding workers and the page cache are not counted"


def render(rows: list[PlanRow], opts: RunOptions) -> str:
    mib = lambda n: n / 2**20  # noqa: E731
    table = [{"dataset": r.dataset, "front-end": r.frontend, "embed jobs": r.embed_jobs, "cached": r.cached,
              "not needed": r.unneeded,
              "clips to embed": r.rows_to_embed, "ms/clip": round(r.ms_per_row, 2) if r.rows_to_embed else None,
              "decode ms/clip": round(r.decode_ms_per_clip, 1) if r.rows_to_embed else None,
              "start-up s": round(r.startup_seconds, 1), "embed s": round(r.embed_seconds, 1),
              "cache MiB now": round(mib(r.cache_bytes_now), 1), "cache MiB new": round(mib(r.cache_bytes_new), 1),
              "embed MiB": round(mib(r.embed_bytes), 1) if r.rows_to_embed else None,
              "results": r.results, "up to date": r.up_to_date, "fits": r.fits, "fit s": round(r.fit_seconds, 1),
              "fit MiB": None if math.isnan(r.fit_mib) else round(r.fit_mib, 1)}
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
        f"embed: {total('embed_jobs') - total('cached') - total('unneeded')} of {total('embed_jobs')} jobs to compute, "
        + (f"up to {total('rows_to_embed'):,} window rows (windows of digital silence are not embedded)"
           if opts.segment else f"{total('rows_to_embed'):,} clip rows")
        + (f" (resuming: {total('chunks_done')} of {total('chunks')} chunks done)" if total("chunks_done") else "")
        + f", predicted {seconds:.0f} s ({seconds / 3600:.2f} h): start-up "
        f"{total('startup_seconds'):.0f} s (per job: network built, its first batch, DataLoader start and first "
        f"batch decoded), network {sum(r.network_seconds for r in rows):.0f} s (one batch per front-end timed on this "
        f"device), decoding {sum(r.decode_seconds for r in rows):.0f} s "
        + (f"(clips timed through a DataLoader worker for {MIN_TIME} s per sample rate and clip length, in {workers} "
           f"worker(s) beside the network; {sum(r.handover_seconds for r in rows):.0f} s of the main process taking "
           "the clips from them)" if workers else f"({DECODE_SAMPLE} clips timed per sample rate, in the main process)"),
        f"cache: {mib(total('cache_bytes_now')):.1f} MiB on disk for these jobs, "
        f"+{'up to ' if opts.segment else ''}{mib(total('cache_bytes_new')):.1f} MiB predicted"
        + (f"; {total('unneeded')} job(s) not cached and not needed: every result they feed is up to date"
           if total("unneeded") else ""),
        f"evaluate: {total('results') - total('up_to_date')} of {total('results')} result files to compute, "
        f"{total('fits'):,} backend fits",
        f"fits: predicted {fit_wall:.0f} s ({fit_wall / 3600:.2f} h): per backend, dataset and feature size, the grid "
        f"searched on one inner fold of the first outer split (random features, {effective_n_jobs(opts.n_jobs)} "
        f"grid-search job(s)) × inner folds × outer splits, plus the refits. A lower bound for iterative solvers "
        f"(logreg's lbfgs, the SVMs' libsvm), which need more iterations on real embeddings, up to several times the "
        f"prediction: logreg's fits on ESC-10 temporal embeddings took 3.7× it (lbfgs 20-425 iterations per C "
        f"there, 5-15 on the random features); an SVM's linear fits at C = 2048 took 417 s on 2,000 FSDD clips of "
        f"a weak front-end (--grid wide-linear32 stops them at C = 32)",
        f"fits include: per outer split the rest of its evaluation (refit, scores: timed on the first split with one "
        f"grid setting), and {total('first_use_seconds'):.0f} s once per run (the backends' first use: imports and "
        f"compilation; each front-end's MAC count for its results)",
        f"total: predicted {seconds + fit_wall:.0f} s ({(seconds + fit_wall) / 3600:.2f} h) for embedding and fits",
        memory_line(rows, opts),
        "data: the clips were listed, a few decoded to time them; the run reads every one, and one it cannot use (an "
        "unreadable file, a crop of digital silence) stops it there unless --skip-bad-audio",
    ]
    return "\n".join(lines) + "\n"
