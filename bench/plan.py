"""``rwbench run --dry-run``: what a study implies before anything is computed.

Per dataset and front-end: the embed jobs and how many are cached, the predicted embedding time (a quick
timing of the front-end on this device × the clips still to embed), the cache size on disk (entries there now,
plus the predicted size of the new ones), the result files and how many are up to date, and the backend fits
still to run (per outer split: inner folds × grid + the refit) with their predicted time (one fit per backend,
dataset and feature dim timed on random features × the fits, shared by the grid-search jobs). Nothing is written.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import effective_n_jobs
from tabulate import tabulate

from .backends import BackendSpec
from .dataset import Dataset
from .embed import EmbedJob, choose_batch_size, default_workers, resolve_device
from .errors import DataError
from .frontend import FrontendSpec
from .pipeline import RunOptions, evaluation_tasks, jobs
from .profile import ms_per_clip

log = logging.getLogger(__name__)

PROFILE_BATCH_CPU = 4  # clips per timed call on CPU: per-clip time barely depends on the batch there
DECODE_SAMPLE = 3  # clips decoded to time decoding
FIT_REPEATS, FIT_BUDGET_S = 3, 1.0  # a backend fit is timed up to 3 times (fewer once 1 s is spent), the fastest kept


def decode_ms(dataset: Dataset, sample_rate: int) -> float:
    """Mean milliseconds to decode and resample one clip, over the first ``DECODE_SAMPLE`` clips."""
    clips = dataset.clips[:DECODE_SAMPLE]
    start = time.perf_counter()
    for clip in clips:
        try:
            dataset.load_audio(clip, sample_rate)
        except DataError:
            pass  # an unreadable clip fails fast; the embed stage names it
    return 1e3 * (time.perf_counter() - start) / max(len(clips), 1)


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
    decode_workers: int = 1
    cache_bytes_now: int = 0
    cache_bytes_new: int = 0
    results: int = 0
    up_to_date: int = 0
    fits: int = 0
    fit_seconds: float = 0.0  # the fits to run × one timed fit each (one process, before --jobs shares them out)

    @property
    def network_seconds(self) -> float:
        return self.rows_to_embed * self.ms_per_row / 1e3 if self.rows_to_embed else 0.0

    @property
    def decode_seconds(self) -> float:
        """Decoding time spread over the DataLoader workers (it overlaps the network when there are some)."""
        return self.clips_to_decode * self.decode_ms_per_clip / 1e3 / self.decode_workers if self.clips_to_decode else 0.0

    @property
    def embed_seconds(self) -> float:
        """The slower of the two when workers decode beside the network; their sum when the main process does both."""
        if self.decode_workers > 1 or self.decode_seconds == 0:
            return max(self.network_seconds, self.decode_seconds)
        return self.network_seconds + self.decode_seconds


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
    task, native, n_classes = dataset.kind, backend.multilabel_native, len(dataset.classes)
    total = 0
    for split in dataset.splits():
        extra, per_fit = task.fits(len(split.inner), n_classes, native)
        total += (len(split.inner) * backend.grid_size + 1 + extra) * per_fit
    return total


def fit_ms(dataset: Dataset, backend: BackendSpec, dim: int, seed: int = 0) -> float:
    """Milliseconds of one fit of ``backend`` (its grid's middle setting, on this machine) on random features of
    ``dim`` columns and as many rows as an inner fit part of ``dataset``'s first outer split, with the dataset's
    own labels (for a one-vs-rest multilabel backend, one tag: what one counted fit is)."""
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid

    split = dataset.splits()[0]
    rows = split.inner[0][0] if split.inner else split.train
    y = dataset.kind.one_fit_target(dataset.labels[rows], backend.multilabel_native)
    X = np.random.default_rng(seed).standard_normal((len(rows), dim)).astype(np.float32)
    settings = list(ParameterGrid(backend.grid))
    estimator = backend.build(seed).set_params(**settings[len(settings) // 2])
    times: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence on noise is not what is timed
        while len(times) < FIT_REPEATS and sum(times) < FIT_BUDGET_S:  # the fastest: the first pays warm-up costs
            start = time.perf_counter()
            try:
                clone(estimator).fit(X, y)
            except Exception as err:  # noqa: BLE001 - a backend that cannot fit noise: no estimate, no failed dry run
                log.warning("could not time a %s fit on random features (%s): its fits are not estimated",
                            backend.name, err)
                return math.nan
            times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def plan(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec],
         opts: RunOptions, *, timings: dict | None = None) -> list[PlanRow]:
    """One row per (dataset, front-end). ``timings`` ((front-end, network samples) → network ms per row, and
    ("decode", dataset, sample rate) → decode ms per clip) is filled and reused, so each is timed once."""
    timings = {} if timings is None else timings
    backends = [backend.with_grid(opts.grid) for backend in backends]  # fits depend on the grid searched
    device = resolve_device(opts.device)
    rows: dict[tuple[str, str], PlanRow] = {}
    for job in jobs(datasets, frontends, opts):
        row = rows.setdefault((job.dataset.key, job.frontend.name), PlanRow(job.dataset.key, job.frontend.name))
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
        row.decode_workers = max(1, default_workers() if opts.workers is None else opts.workers)
        row.cache_bytes_new += 4 * n_rows * job.frontend.dim(job.width, job.pooling)
        shape = (job.frontend.name, job.input_samples()[1])
        if shape not in timings:
            batch = opts.batch_size or choose_batch_size(job, opts.device)
            batch = min(batch, PROFILE_BATCH_CPU) if device.type == "cpu" else batch
            log.info("timing %s on %s (%d clips of %.2f s)", job.frontend.name, device, batch,
                     shape[1] / job.frontend.sample_rate)
            timings[shape] = ms_per_clip(job.frontend, job.width, shape[1] / job.frontend.sample_rate, batch,
                                         opts.device, job.precision)
        row.ms_per_row = timings[shape]
    protocols = {d.key: d.describe()["protocol"] for d in datasets}
    fits = {(d.key, b.name): fits_per_result(d, b) for d in datasets for b in backends}
    for task in evaluation_tasks(datasets, frontends, backends, opts):
        job = task.job
        key = job.dataset.key
        row = rows[(key, job.frontend.name)]
        row.results += 1
        if task.up_to_date(opts, protocols[key]):
            row.up_to_date += 1
            continue
        row.fits += fits[(key, task.backend.name)]
        dim = job.frontend.dim(job.width, job.pooling)
        timed = ("fit", key, task.backend.name, task.backend.grid_name, dim)
        if timed not in timings:
            log.info("timing one %s fit on %s-sized random features (%d dims)", task.backend.name, key, dim)
            timings[timed] = fit_ms(job.dataset, task.backend, dim)
        row.fit_seconds += fits[(key, task.backend.name)] * timings[timed] / 1e3
    return list(rows.values())


def render(rows: list[PlanRow], opts: RunOptions) -> str:
    mib = lambda n: n / 2**20  # noqa: E731
    table = [{"dataset": r.dataset, "front-end": r.frontend, "embed jobs": r.embed_jobs, "cached": r.cached,
              "clips to embed": r.rows_to_embed, "ms/clip": round(r.ms_per_row, 2) if r.rows_to_embed else None,
              "decode ms/clip": round(r.decode_ms_per_clip, 1) if r.rows_to_embed else None,
              "embed s": round(r.embed_seconds, 1), "cache MiB now": round(mib(r.cache_bytes_now), 1),
              "cache MiB new": round(mib(r.cache_bytes_new), 1), "results": r.results, "up to date": r.up_to_date,
              "fits": r.fits, "fit s": round(r.fit_seconds, 1)} for r in rows]
    total = lambda name: sum(getattr(r, name) for r in rows)  # noqa: E731
    seconds = sum(r.embed_seconds for r in rows)
    jobs = effective_n_jobs(opts.n_jobs)
    fit_wall = sum(r.fit_seconds for r in rows) / jobs
    lines = [
        f"dry run: nothing computed or written (device {resolve_device(opts.device)}, width {opts.width}, "
        f"precision {opts.precision}, cache {opts.cache_root})",
        "",
        tabulate(table, headers="keys", tablefmt="github", intfmt=",", missingval="—"),
        "",
        f"embed: {total('embed_jobs') - total('cached')} of {total('embed_jobs')} jobs to compute, "
        f"{total('rows_to_embed'):,} clip rows, predicted {seconds:.0f} s ({seconds / 3600:.2f} h): network "
        f"{sum(r.network_seconds for r in rows):.0f} s (one batch per front-end timed on this device), decoding "
        f"{sum(r.decode_seconds for r in rows):.0f} s ({DECODE_SAMPLE} clips timed per sample rate, spread over "
        f"{rows[0].decode_workers if rows else 1} DataLoader worker(s), overlapping the network when more than one)",
        f"cache: {mib(total('cache_bytes_now')):.1f} MiB on disk for these jobs, "
        f"+{mib(total('cache_bytes_new')):.1f} MiB predicted",
        f"evaluate: {total('results') - total('up_to_date')} of {total('results')} result files to compute, "
        f"{total('fits'):,} backend fits",
        f"fits: predicted {fit_wall:.0f} s ({fit_wall / 3600:.2f} h): {total('fits'):,} fits × one fit per backend, "
        f"dataset and feature dim timed on this machine (the grid's middle setting, on random features of an inner "
        f"fit part's size) = {total('fit_seconds'):.0f} s, shared by {jobs} grid-search job(s)",
        f"total: predicted {seconds + fit_wall:.0f} s ({(seconds + fit_wall) / 3600:.2f} h) for embedding and fits",
    ]
    return "\n".join(lines) + "\n"
