"""Orchestration of the stages: embed every (dataset, front-end, seed), then evaluate every backend.

Each stage talks to the next through files (embedding cache entries, result JSONs) and skips the
work whose files already exist, so a rerun, or a run that only adds backends, recomputes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from .backends import DEFAULT_GRID, BackendSpec, check_estimator, grid_name_of, same_grid, warn_grid_edges
from .datamodel import Dataset, dataset_from_record, dataset_record
from .device import check_fits, choose_batch_size, memory_key
from .embed import ensure_embedded, refuse_skipped, unless_skipped
from .embed_job import Embeddings, EmbedJob
from .embedding_manifest import EmbeddingManifest
from .errors import DataError, RwbenchError
from .evaluate import VOTES, clip_means, nested_cv
from .fileio import content_key, read_json, write_json
from .folds import FoldResult
from .frontend import (
    FRONTENDS,
    PRETRAINED_PREFIX,
    FrontendSpec,
    layer_pooling,
    layer_sets,
    network_precision,
    offers,
    weight_tags,
)
from .guards import checked
from .hear_import import provenance as hear_provenance
from .macs import count_macs
from .options import Batching, Cached, Execution, Instance, check_seconds
from .progress import Progress
from .protocol import OuterSplit, keep_rows, rows_of
from .results import (
    FOLD_TAGS,
    FoldStore,
    build_record,
    check_fold_weights,
    fold_weights_folder,
    network_identity,
    result_lock,
    result_path,
    retrain_command,
    reusable,
    seeded,
    splits_key,
    variant,
    write_result,
)
from .weight_packs import checked_checkpoint_path

log = logging.getLogger(__name__)

EVALUATE_CODE_VERSION = 4  # bump when the evaluation changes: results with an older key are recomputed
# 4: per-clip scores stored in every fold (multilabel: truth too), grid edges; multilabel metrics of the stored
#    (rounded) scores


Device = Literal["auto", "cpu", "cuda"]
Aggregate = Literal["mean", "majority", "probability"]


@dataclass(kw_only=True)
class RunOptions(Instance, Execution, Batching, Cached):
    """Options of ``rwbench run`` / ``embed`` / ``evaluate`` (and of ``reproduce``): the shared groups of
    :mod:`rwbench.options` plus windowing and the backends' grid."""

    segment: float | None = None  # window seconds for segment-and-aggregate (None: crop/pad each clip)
    hop: float | None = None
    aggregate: Aggregate = "mean"  # with segments: mean embedding, or majority / probability voting
    grid: str = DEFAULT_GRID  # the backends' named grid searched (--grid): wide | study (the reference study's)

    def __post_init__(self) -> None:
        if self.aggregate not in get_args(Aggregate):
            raise RwbenchError(f"aggregate {self.aggregate!r} is not one of {list(get_args(Aggregate))}")
        check_seconds(segment=self.segment, hop=self.hop)
        if (self.hop is not None or self.aggregate != "mean") and self.segment is None:
            raise RwbenchError("hop and aggregate need segment (the window length in seconds)")
        if self.hop is not None and self.segment is not None and self.hop > self.segment:
            raise RwbenchError(f"hop {self.hop:g} s is longer than segment {self.segment:g} s: the audio between windows "
                               "would never be seen, and a window could start past a clip's end (padding alone, "
                               "averaged in); give a hop of at most the segment")
        super().__post_init__()

    def job(self, dataset: Dataset, spec: FrontendSpec, weights: str, seed: int, fold: str | None = None) -> EmbedJob:
        checkpoint = recorded = None
        if fold is not None:  # per-fold weights made by rwbench train / pretrain under this results folder
            folder = fold_weights_folder(self.results_dir, weights, dataset.key, spec.name, self.width, seed)
            checkpoint = folder / f"{fold}.safetensors"
            head = (result_path(self.results_dir, dataset=dataset.key, frontend=spec.name, width=str(self.width),
                                weights="trained", seed=seed, backend="head") if weights == "trained" else None)
            check_fold_weights(folder, fold, dataset, spec, head, weights)
            if not checkpoint.is_file():
                recorded = recorded_sha256(folder, fold, head)
        return EmbedJob(dataset, spec, self.width, weights, seed, self.pooling, self.segment, self.hop, fold, checkpoint,
                        self.precision, recorded, self.init)


@dataclass
class RunLog:
    embedded: int = 0  # cache entries computed by this run
    cached: int = 0  # cache entries found complete
    embed_seconds: float = 0.0  # wall time of the embed stage in this run
    evaluated: int = 0
    reused: int = 0  # result files already up to date
    results: list[Path] = field(default_factory=list)


def recorded_sha256(folder: Path, fold: str, head: Path | None) -> str | None:
    """The sha256 of a fold's weights file as its training recorded it, standing in where the file is gone (another
    machine, results kept): the ``head`` row's (``trained``), else the fold's ``<fold>.json`` (a pre-training's too);
    None where neither says."""
    try:
        if head is not None and head.is_file():
            recorded = read_json(head).get("frontend", {}).get("weights_sha256")
            if isinstance(recorded, dict) and isinstance(recorded.get(fold), str):
                return recorded[fold]
        record = folder / f"{fold}.json"
        sha256 = read_json(record).get("weights_sha256") if record.is_file() else None
    except RwbenchError:
        return None
    return sha256 if isinstance(sha256, str) else None


def jobs(datasets: list[Dataset], frontends: list[FrontendSpec], opts: RunOptions) -> list[EmbedJob]:
    """One job per (dataset, front-end, weights tag, seed), and per outer split for per-fold weights (trained,
    mst). Seeds apply to random and per-fold weights only: pretrained, DSP and weight-free front-ends are embedded
    (and evaluated) once, with seed 0 for the backend whatever ``--seeds`` says: a run with ``--seeds 1,2`` after one
    with ``--seeds 0,1,2`` would otherwise add a second "seed" of the same embedding (a copy for a deterministic
    backend) to the row."""
    known = {tag for spec in FRONTENDS for tag in spec.weights} | {*FOLD_TAGS, "random", "trained"}
    if typos := [t for t in opts.weights if t not in known and not t.startswith(PRETRAINED_PREFIX)]:  # mfcc alone too
        raise RwbenchError(f"unknown weights tag(s) {typos}: the tags are {', '.join(sorted(known))} or "
                           f"{PRETRAINED_PREFIX}PATH (`rwbench list frontends` shows each front-end's)")
    for tag in opts.weights:  # checked whatever is selected: weight-free front-ends alone would not read the file
        if tag.startswith(PRETRAINED_PREFIX):
            checked_checkpoint_path(tag.removeprefix(PRETRAINED_PREFIX))
    learnable = [spec for spec in frontends if spec.is_learnable()]
    unused = [t for t in opts.weights if not any(offers(spec, t) for spec in learnable)]
    if unused and learnable:
        offered = "; ".join(f"{spec.name} offers {list(spec.weights)}" for spec in learnable[:5])
        raise RwbenchError(f"no selected front-end offers weights {unused} ({offered}{'; …' if len(learnable) > 5 else ''})")
    out: dict[str, EmbedJob] = {}
    for dataset in datasets:
        fold_names = [s.name for s in dataset.splits()] if set(opts.weights) & set(FOLD_TAGS) else []
        for spec in frontends:
            for tag in weight_tags(spec, opts.weights):
                folds = fold_names if tag in FOLD_TAGS else [None]
                for seed in opts.seeds if seeded(tag) else [0]:
                    for fold in folds:
                        job = opts.job(dataset, spec, tag, seed, fold)
                        out.setdefault(job.key, job)
    return list(out.values())


def dataset_record_path(cache_root: Path, record: dict) -> Path:
    """Where ``record`` (:func:`dataset_record`) is kept: named by the clips' fingerprint and a digest of the whole
    record, so that the same clips under another protocol (folds, k, seed, refit) are a record of their own."""
    return (Path(cache_root) / record["key"].replace("/", "__")
            / f"dataset-{record['fingerprint']}-{content_key(record)[:12]}.json")


def store_dataset(dataset: Dataset, cache_root: Path) -> None:
    """Keep what evaluation needs of ``dataset`` beside its embeddings (once per record; a record already there is
    touched, so the latest one embedded is the one `rwbench evaluate` reads)."""
    record = dataset_record(dataset)
    path = dataset_record_path(cache_root, record)
    try:  # a damaged record (a full disk, a crash of another tool) is written again, never kept for evaluate to trip on
        intact = path.is_file() and read_json(path) == json.loads(json.dumps(record, default=str))
    except RwbenchError:
        intact = False
    if intact:
        os.utime(path)
    else:
        write_json(path, record)


def stored_datasets(cache_root: Path, name: str, tasks: list[str] | None) -> list[Dataset]:
    """The datasets the embed stage stored for ``name`` (its ``tasks``, default every task found): the most
    recent record of each, so `rwbench evaluate` needs neither the audio nor a reload of the dataset."""
    folders = ([Path(cache_root) / f"{name}__{t}" for t in tasks] if tasks else
               [Path(cache_root) / name, *sorted(Path(cache_root).glob(f"{name}__*"))])
    out: list[Dataset] = []
    for folder in folders:
        paths = sorted(folder.glob("dataset-*.json"), key=lambda p: p.stat().st_mtime)
        if not paths:
            continue
        records = [read_json(path) for path in paths]
        for path, record in zip(paths, records):  # its name holds its content key (since 2026-12-04): an edit shows
            legacy = path.name == f"dataset-{record.get('fingerprint')}.json"
            if not legacy and path.name != dataset_record_path(cache_root, record).name:
                raise RwbenchError(f"{path} does not match the content key in its name (edited by hand?): its clips, "
                                   f"labels or protocol are not what was embedded. Delete it and run `rwbench embed` "
                                   f"again, or pass --data-root")
        versions = len({content_key(record) for record in records})  # a cache of before 2026-12-04 names one twice
        if versions > 1:
            log.warning("%s: %d stored versions of the dataset (its files or its protocol changed); evaluating the one "
                        "embedded last, %s", folder.name, versions, paths[-1].name)
        out.append(dataset_from_record(records[-1]))
    if not out:
        raise RwbenchError(f"no stored dataset {name!r}{f' (tasks {tasks})' if tasks else ''} in the cache "
                           f"{cache_root}: run `rwbench embed` first, or pass --data-root")
    return out


def embed_all(datasets: list[Dataset], frontends: list[FrontendSpec], opts: RunOptions, log_: RunLog,
              progress: Progress | None = None, only: list[EmbedJob] | None = None) -> None:
    """Every embed job (or those of ``only``); each one a step of ``progress`` (default: a display of this stage
    alone)."""
    start = time.perf_counter()
    todo = prepare_embedding(datasets, frontends, opts, only)
    with ExitStack() as stack:
        if progress is None:
            progress = stack.enter_context(Progress(len(todo), bar=opts.progress, desc="embed"))
        for job in todo:
            label = f"{job.frontend.name} on {job.dataset.key}"
            computed = embed_job(job, opts, on_clips=partial(progress.clips, label))
            log_.embedded += computed
            log_.cached += not computed
            which = "" if job.weights_kind == "none" else f" ({job.weights_kind} weights, seed {job.seed}" + (
                f", fold {job.fold})" if job.fold else ")")
            progress.step(f"embedded {label}{which}{'' if computed else ': cached'}", worked=bool(computed))
    log_.embed_seconds += time.perf_counter() - start


def prepare_embedding(datasets: list[Dataset], frontends: list[FrontendSpec], opts: RunOptions,
                      only: list[EmbedJob] | None = None) -> list[EmbedJob]:
    """The embed jobs (all, or ``only``), once each dataset is stored beside the cache and every instance is known
    to fit in memory (a width or batch that cannot fit fails before any work)."""
    for dataset in datasets:
        store_dataset(dataset, opts.cache_root)
    todo = jobs(datasets, frontends, opts) if only is None else only
    checked = set()
    for job in todo:
        if (key := memory_key(job)) not in checked and not job.entry(opts.cache_root).is_complete():
            check_fits(job, opts.batch_size or choose_batch_size(job, opts.device), opts.device, workers=opts.workers)
            checked.add(key)
    return todo


def jobs_to_embed(datasets: list[Dataset], eval_jobs: list[EvalJob], opts: RunOptions,
                  protocols: dict[str, dict] | None = None) -> list[EmbedJob]:
    """The embed jobs that the results still to compute read (each once): where every result is up to date
    nothing is embedded (a machine that has the result files but not the cache, or not the per-fold weights,
    recomputes nothing). ``protocols``: as for :func:`stale_results`."""
    return embed_jobs_of(stale_results(datasets, eval_jobs, opts, protocols))


def stale_results(datasets: list[Dataset], eval_jobs: list[EvalJob], opts: RunOptions,
                  protocols: dict[str, dict] | None = None) -> list[EvalJob]:
    """The evaluations whose result file is not up to date. ``protocols``: the protocol each dataset's results are
    keyed by, where it is not the one the dataset describes (a search scoring some outer folds)."""
    protocols = protocols or {dataset.key: dataset.describe()["protocol"] for dataset in datasets}
    return [task for task in eval_jobs if not task.up_to_date(opts, protocols[task.job.dataset.key])]


def embed_jobs_of(eval_jobs: list[EvalJob]) -> list[EmbedJob]:
    """The embed jobs ``eval_jobs`` read, each once."""
    return list({job.key: job for task in eval_jobs for job in task.jobs}.values())


def known_done(eval_jobs: list[EvalJob], stale: list[EvalJob], embed_jobs: list[EmbedJob], opts: RunOptions) -> int:
    """How many steps of a run are known to need no work as it starts: its results up to date, its embeddings
    cached (the ETA counts them as done)."""
    return len(eval_jobs) - len(stale) + sum(job.entry(opts.cache_root).exists() for job in embed_jobs)


def embed_job(job: EmbedJob, opts: RunOptions, on_clips=None) -> bool:
    """Make one job's cache entry complete; True when this call computed it."""
    return ensure_embedded(job, opts.cache_root, device=opts.device, batch_size=opts.batch_size, workers=opts.workers,
                           skip_bad_audio=opts.skip_bad_audio, progress=opts.progress, on_clips=on_clips,
                           compile=opts.compile)


def check_embedded(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec],
                   opts: RunOptions) -> None:
    """The evaluate stage alone, before any fit: every embedding its results still to compute read is in the cache,
    else one error naming them (and the datasets the cache does hold), not a result written and then a stop."""
    needed = jobs_to_embed(datasets, evaluation_jobs(datasets, frontends, backends, opts), opts)
    missing = [job for job in needed if not job.entry(opts.cache_root).is_complete()]
    if not missing:
        return
    mine = {d.key.replace("/", "__") for d in datasets}  # the cache's folder of a dataset (EmbedJob.entry)
    held = sorted(f.name.replace("__", "/", 1) for f in Path(opts.cache_root).glob("*")
                  if f.name not in mine and any(f.glob("dataset-*.json")))
    raise RwbenchError(
        f"{len(missing)} of the {len(needed)} embeddings this evaluation reads are not in {opts.cache_root} (or are "
        f"damaged): {'; '.join(job.label + ' on ' + job.dataset.key for job in missing[:4])}"
        f"{' …' if len(missing) > 4 else ''}; run `rwbench embed` with the same options first"
        + (f" (the cache holds other datasets: {', '.join(held)}; --dataset names one)" if held else ""))


def load_embeddings(job: EmbedJob, opts: RunOptions) -> Embeddings:
    entry = job.entry(opts.cache_root)
    if entry.exists() and (problem := entry.problem()) is not None:
        raise RwbenchError(f"the cached embeddings of {job.frontend.name!r} on {job.dataset.key!r} are damaged: "
                           f"{problem}; `rwbench embed` (or `rwbench run`) with the same options computes them again")
    if not entry.is_complete():
        raise RwbenchError(
            f"no embeddings of {job.label} on {job.dataset.key!r} in "
            f"{opts.cache_root}; run `rwbench embed` with the same options first"
        )
    return unless_skipped(Embeddings.read(entry), job, opts.skip_bad_audio)


@dataclass(frozen=True)
class EvalJob:
    """One result file: a front-end instance's embeddings (one job, or one per outer fold for per-fold weights)
    × a layer set × a backend. Its path and run key are known before any embedding exists."""

    jobs: tuple[EmbedJob, ...]
    layers: tuple[str, ...]
    backend: BackendSpec

    @property
    def job(self) -> EmbedJob:
        return self.jobs[0]

    def frontend_variant(self, opts: RunOptions) -> str:
        segment = {"seconds": opts.segment, "hop": opts.hop or opts.segment, "aggregate": opts.aggregate}
        pooling = layer_pooling(self.job.frontend, opts.pooling)  # a DSP baseline's vectors: mean whatever asked
        return variant({"pooling": pooling, "segment": segment if opts.segment else None,
                        "precision": network_precision(self.job.frontend, opts.precision),
                        "init": self.job.description["init"],
                        "default_init": self.job.default_init,
                        "layers": list(self.layers), "default_layers": self.layers == self.job.frontend.defaults})

    def path(self, opts: RunOptions) -> Path:
        job = self.job
        return result_path(opts.results_dir, dataset=job.dataset.key, frontend=job.frontend.name, width=str(opts.width),
                           weights=job.weights_kind, seed=job.seed, backend=self.backend.name,
                           variant=self.frontend_variant(opts))

    def run_key(self, opts: RunOptions, protocol: dict) -> str:
        """Everything that determines the result: a result file with another key is computed again."""
        backend = self.backend
        return content_key({"embedding": sorted(j.key for j in self.jobs), "backend": backend.name,
                            "grid": backend.grid, "backend_version": backend.version, "seed": self.job.seed,
                            **({"backend_code": code} if (code := backend.code_now) else {}),
                            "protocol": protocol, "aggregate": opts.aggregate if opts.segment else None,
                            # majority ties went to the lowest class index before they went to the mean window score
                            **({"majority_ties": "mean_window_score"} if opts.segment and opts.aggregate == "majority"
                               else {}),
                            "layers": list(self.layers), "evaluate_code": EVALUATE_CODE_VERSION,
                            **self.job.dataset.kind.code_key()})

    def reusable_record(self, opts: RunOptions, protocol: dict) -> dict | None:
        """The result file's record where it is up to date (this run's key, reusable), else None."""
        path = self.path(opts)
        record = None if opts.force else existing_record(path)
        fresh = record is not None and record.get("run_key") == self.run_key(opts, protocol) and reusable(path, record)
        return record if fresh else None

    def up_to_date(self, opts: RunOptions, protocol: dict) -> bool:
        return self.reusable_record(opts, protocol) is not None


def evaluation_jobs(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec],
                     opts: RunOptions, protocols: dict[str, dict] | None = None) -> list[EvalJob]:
    """The result files to compute, checked against those already there (:func:`check_grids`); ``protocols``: the
    protocol each dataset's results are keyed by, where it is not the one the dataset describes (a search scoring
    some outer folds)."""
    chosen = {spec.name: layer_sets(spec, opts.layers) for spec in frontends}  # bad --layers fail before any work
    check_task_options(datasets, opts)
    backends = [backend.with_grid(opts.grid) for backend in backends]
    for backend in backends:  # a plugin's estimator that cannot be searched fails before any embedding
        check_estimator(backend)
    eval_jobs = []
    for dataset in datasets:
        instances: dict[tuple, list[EmbedJob]] = {}  # (front-end, weights, seed) → its job, or one per fold
        for job in jobs([dataset], frontends, opts):
            instances.setdefault((job.frontend.name, job.weights, job.seed), []).append(job)
        eval_jobs += [EvalJob(tuple(group), layers, backend) for group in instances.values()
                  for layers in chosen[group[0].frontend.name] for backend in backends]
    check_grids(eval_jobs, opts, protocols)
    return eval_jobs


def existing_record(path: Path) -> dict | None:
    """The result file at ``path`` as JSON; None when there is none or it cannot be read (it is computed again)."""
    try:
        return read_json(path) if path.is_file() else None
    except RwbenchError:
        return None


def grid_clash(eval_job: EvalJob, opts: RunOptions, existing: dict | None) -> str | None:
    """The named grid the ``existing`` result of ``eval_job`` was made with, where it is another than this run's
    (None: no readable file, the same grid or another name for the same values, a backend with one grid, or
    ``--force``)."""
    if opts.force or eval_job.backend.grid_name is None or existing is None:
        return None
    backend = existing.get("backend") or {}
    made = grid_name_of(backend)
    if made is None or made == eval_job.backend.grid_name or same_grid(backend.get("grid"), eval_job.backend.grid):
        return None
    return made


def grid_clash_error(clashes: list[tuple[Path, str]], opts: RunOptions) -> RwbenchError:
    path, made = clashes[0]
    return RwbenchError(
        f"{len(clashes)} result file(s) under {opts.results_dir} were made with another backend grid (e.g. "
        f"{path.parent.name}/{path.name}: grid {made!r}) and this run searches grid {opts.grid!r}: pass "
        f"--grid {made} to reuse them, another --results folder to keep both, or --force to replace them")


def refuse_grid_clash(eval_job: EvalJob, opts: RunOptions, existing: dict | None) -> None:
    """Under the result's lock, before it is replaced: a file written by a run of another ``--grid`` since
    :func:`check_grids` looked stops this run as that check would have."""
    if (made := grid_clash(eval_job, opts, existing)) is not None:
        raise grid_clash_error([(eval_job.path(opts), made)], opts)


def check_grids(eval_jobs: list[EvalJob], opts: RunOptions, protocols: dict[str, dict] | None = None) -> None:
    """A result made with another named grid of its backend (``--grid study`` vs ``wide``), or on other data under the
    same dataset key, lives at the same path (the grid and the data are in its run key, not in its file name), so it
    is not replaced silently: the run stops before any work unless ``--force``. A file another run writes after this
    check is caught under the result's lock (:func:`evaluate_job`)."""
    if opts.force:
        return
    clashes, other = replaced_results(eval_jobs, opts, protocols)
    if clashes:
        raise grid_clash_error(clashes, opts)
    if other:
        raise other_data_error(other, opts)


def replaced_results(eval_jobs: list[EvalJob], opts: RunOptions, protocols: dict[str, dict] | None = None
                     ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """The result files of ``eval_jobs`` made with another named grid, and those made on other data: (path, what)."""
    plain = replace(opts, force=False)
    existing = [(eval_job, existing_record(eval_job.path(opts))) for eval_job in eval_jobs]
    clashes = [(eval_job.path(opts), made) for eval_job, record in existing
               if (made := grid_clash(eval_job, plain, record))]
    data = {d.key: (d.fingerprint(), (protocols or {}).get(d.key) or d.describe()["protocol"])
            for d in {j.job.dataset.key: j.job.dataset for j in eval_jobs}.values()}
    other = [(eval_job.path(opts), what) for eval_job, record in existing
             if (what := other_data(record, *data[eval_job.job.dataset.key]))]
    return clashes, other


def forget_replaced(eval_jobs: list[EvalJob], opts: RunOptions) -> None:
    """``--force``: the result files a plain run would refuse to replace (another grid, other data) go first, every
    one before any evaluation, so that a rerun without --force after an interruption resumes (finding one, it
    refused, and the --force it advised scored the finished folds again)."""
    if opts.force:
        for path, _ in (pair for found in replaced_results(eval_jobs, opts) for pair in found):
            path.unlink(missing_ok=True)


def check_task_options(datasets: list[Dataset], opts: RunOptions) -> None:
    """Options that a dataset's task type cannot take are refused before any work."""
    if opts.segment and opts.aggregate in VOTES:
        refused = [d for d in datasets if not d.kind.votes]
        if refused:
            raise RwbenchError(f"--aggregate {opts.aggregate} votes for one class per clip; "
                               f"{', '.join(d.key for d in refused)} is {refused[0].kind.name}: use --aggregate mean "
                               "(window embeddings averaged)")


def evaluate_all(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec],
                 opts: RunOptions, log_: RunLog, progress: Progress | None = None) -> None:
    """Every result file; each one a step of ``progress`` (default: a display of this stage alone)."""
    described = {dataset.key: (dataset.splits(), dataset.describe()) for dataset in datasets}  # once per dataset
    eval_jobs = evaluation_jobs(datasets, frontends, backends, opts)
    forget_replaced(eval_jobs, opts)
    with ExitStack() as stack:
        if progress is None:
            progress = stack.enter_context(Progress(len(eval_jobs), bar=opts.progress, desc="evaluate"))
        for eval_job in eval_jobs:
            path, computed = evaluate_job(eval_job, opts, *described[eval_job.job.dataset.key], progress=progress)
            log_.results.append(path)
            log_.evaluated += computed
            log_.reused += not computed
    warn_grid_edges(log_.results)


def evaluate_job(eval_job: EvalJob, opts: RunOptions, splits=None, described: dict | None = None,
                  progress: Progress | None = None) -> tuple[Path, bool]:
    """Write the evaluation's result file unless an up-to-date one exists; (its path, whether this call computed it).
    A concurrent run with the same result waits on its lock, then reuses it. The result's line is logged, or is
    the message of a step of ``progress``."""
    dataset = eval_job.job.dataset
    splits = splits if splits is not None else dataset.splits()
    described = described or dataset.describe()
    path = eval_job.path(opts)
    with result_lock(opts.results_dir, path):
        if (record := eval_job.reusable_record(opts, described["protocol"])) is not None:
            refuse_skipped(record.get("dataset", {}).get("skipped"), eval_job.job, opts.skip_bad_audio,
                           f"the result {path.name}")
            if progress is not None:
                progress.step(f"{path.parent.name}/{path.stem}: up to date", worked=False)
            return path, False
        existing = existing_record(path)
        refuse_grid_clash(eval_job, opts, existing)
        embeddings = {job.fold: load_embeddings(job, opts) for job in eval_job.jobs}
        refuse_other_data(path, existing, next(iter(embeddings.values())).manifest.dataset_fingerprint,
                          described["protocol"], opts)
        line = _evaluate(eval_job, embeddings, path, eval_job.run_key(opts, described["protocol"]), splits, described, opts)
    if progress is not None:
        progress.step(line)
    else:
        log.info("%s", line)
    return path, True


KEYED_SINCE = "made by an rwbench before 2026-12-07"  # protocols key which clip is on which side since then


def other_data(existing: dict | None, fingerprint: str, protocol: dict) -> str | None:
    """How the ``existing`` result's data differ from this run's — its clips (dataset fingerprint) or its outer
    splits (the protocol's refit, fold assignment, k, seed: other dataset options) — or None (no file, the same)."""
    dataset = (existing or {}).get("dataset") or {}
    made_on, made = dataset.get("fingerprint"), dataset.get("protocol")
    if made_on and made_on != fingerprint:
        return f"fingerprint {made_on[:16]}, now {fingerprint[:16]}"
    if isinstance(made, dict) and splits_key(made) != splits_key(protocol):
        differ = sorted(k for k in {*made, *protocol} if made.get(k) != protocol.get(k))
        if differ == ["assignment_sha256"] and "assignment_sha256" not in made:  # the same splits, keyed since
            return (f"{KEYED_SINCE}, whose key did not hold this protocol's fold assignment (the splits may be the "
                    "same: --force scores them again under today's key)")
        return "its outer splits differ in " + ", ".join(differ)
    return None


def other_data_error(found: list[tuple[Path, str]], opts: RunOptions) -> RwbenchError:
    path, what = found[0]
    why = "" if what.startswith(KEYED_SINCE) else ": another copy, a partial one, other --dataset-option values"
    return RwbenchError(
        f"{len(found)} result file(s) under {opts.results_dir} were made on other data or outer splits under the same "
        f"dataset key (e.g. {path.parent.name}/{path.name}: {what}{why}): another --results folder keeps both, --force "
        "replaces them")


def refuse_other_data(path: Path, existing: dict | None, fingerprint: str, protocol: dict, opts: RunOptions) -> None:
    """Under the result's lock, before it is replaced: a result on other data written since :func:`check_grids`
    looked (or found by a run with ``--force``, which replaces it) stops this run as that check would have."""
    if not opts.force and (what := other_data(existing, fingerprint, protocol)):
        raise other_data_error([(path, what)], opts)


def frontend_section(eval_job: EvalJob, manifests: dict[str | None, EmbeddingManifest], feature_dim: int,
                     opts: RunOptions) -> dict:
    """A result's ``frontend`` section: the instance, its weights and input, from the embeddings' manifests (keyed
    by outer fold for per-fold weights, else ``{None: manifest}``)."""
    job, spec, layers = eval_job.job, eval_job.job.frontend, eval_job.layers
    manifest = next(iter(manifests.values()))

    def each(field):  # {fold: value} for per-fold weights, else the one value
        return {f: field(m) for f, m in manifests.items()} if None not in manifests else field(manifest)

    hear = hear_provenance(spec.name)  # hear:MODULE front-ends
    trainings = fold_trainings(manifests, spec.name)
    return {"name": spec.name, "input_kind": spec.input_kind, "width": str(opts.width),
            "filters": spec.filters(opts.width), "weights": job.weights_kind, "seed": job.weights_seed,
            "weights_file": each(lambda m: m.weights["file"]), "weights_sha256": each(lambda m: m.weights["sha256"]),
            "init": manifest.description["init"], "default_init": job.default_init,
            "pooling": layer_pooling(job.frontend, opts.pooling),
            "layers": list(layers), "default_layers": layers == spec.defaults, "feature_dim": feature_dim,
            "params": manifest.params, "network": network_identity(spec),
            "macs_per_second": count_macs(spec, opts.width), "source": spec.source,
            "embedding_key": each(lambda m: m.key), "input": manifest.description["input"],
            **({"precision": job.precision} if network_precision(spec, job.precision) != "fp32" else {}),
            "segment": {**manifest.description["input"]["segment"], "aggregate": opts.aggregate}
            if opts.segment else None,
            **({"hear": hear} if hear else {}), **({"training": trainings} if trainings else {})}


TRAINING_FIELDS = ("train_key", "not_converged", "refit", "lr", "dropout", "chosen_on", "best_epoch", "epoch_cap")


def fold_trainings(manifests: dict[str | None, EmbeddingManifest], frontend: str) -> dict[str, dict] | None:
    """Per outer fold, the training its weights come from, as the ``<fold>.json`` beside them says (key, whether it
    converged, its choices): a row on trained or pre-trained features names its recipe and is flagged
    ``not_converged`` as the network's own row is. An error when the folds' weights come from different trainings
    (some folds trained again under other settings); None for weights that are not per fold."""
    out = {}
    for fold, manifest in manifests.items():
        file = manifest.weights.get("file")
        if fold is None or not file or not (record := Path(file).with_suffix(".json")).is_file():
            continue
        summary = read_json(record)
        if summary.get("weights_sha256") != manifest.weights.get("sha256"):
            continue  # trained again since these embeddings were made: not their training
        fields = {**summary, **summary.get("training", {})}
        out[fold] = {k: fields[k] for k in TRAINING_FIELDS if k in fields}
    if len(keys := {t.get("train_key") for t in out.values()}) > 1:
        tag = str(next(iter(manifests.values())).weights.get("tag") or "trained")
        raise RwbenchError(f"{frontend}: its per-fold weights come from {len(keys)} different trainings ("
                           + "; ".join(f"{fold}: {t.get('train_key')}" for fold, t in sorted(out.items()))
                           + f"): finish every fold under one recipe (`{retrain_command(tag)}` with the settings "
                           "wanted resumes an interrupted one) before embedding them")
    return out or None


def _evaluate(eval_job: EvalJob, embeddings: dict[str | None, Embeddings], path: Path, run_key: str, splits,
              described: dict, opts: RunOptions) -> str:
    """Write the result file; returns its one-line summary.

    ``embeddings`` maps each outer split's name to its embeddings (per-fold weights), or ``None`` to the one
    matrix every split uses."""
    job, layers, backend = eval_job.job, eval_job.layers, eval_job.backend
    dataset, spec = job.dataset, job.frontend
    manifests = {fold: e.manifest for fold, e in embeddings.items()}
    manifest = next(iter(manifests.values()))
    columns = next(iter(embeddings.values())).columns(layers)
    frontend = frontend_section(eval_job, manifests, len(columns), opts)
    store = FoldStore(opts.results_dir, path, run_key, dataset.kind.primary)  # finished folds survive an interruption
    if opts.force:
        store.clear()
    by_split: dict[str, FoldResult] = {}
    for fold, matrix in embeddings.items():  # each split scored on its own fold's embeddings, or all on one
        mine = [s for s in splits if fold is None or s.name == fold]
        by_split.update(zip([s.name for s in mine],
                            _nested_cv(matrix, columns, dataset, mine, backend, job.seed, opts, store)))
    missing = [s.name for s in splits if s.name not in by_split]
    if missing:
        raise RwbenchError(f"{spec.name} ({job.weights_kind}): no embeddings for split(s) {missing}")
    folds = [by_split[s.name] for s in splits]
    left_out = list({row["clip"]: row for m in manifests.values() for row in m.skipped}.values())  # in any fold's
    record = build_record(
        run_key=run_key,
        # n_clips: the clips listed and screened; n_scored: those the splits scored (less what failed while embedding)
        dataset={**described, "fingerprint": manifest.dataset_fingerprint, "skipped": described["skipped"] + left_out,
                 "n_scored": described["n_clips"] - len(left_out)},
        frontend=frontend,
        backend={"name": backend.name, "grid": backend.grid, "grid_size": backend.grid_size, "version": backend.version,
                 **({"grid_name": backend.grid_name} if backend.grid_name else {})},
        seed=job.seed,
        device=manifest.device,
        folds=folds,
        timings={"embed_seconds": sum(m.embed_seconds for m in manifests.values()),
                 "embed_seconds_per_clip": float(np.mean([m.seconds_per_clip for m in manifests.values()])),
                 **embedding_conditions(manifests.values())},
    )
    write_result(path, record)
    store.clear()
    shown = f"{spec.name}[{variant(frontend)}]" if variant(frontend) else spec.name
    metric = dataset.kind.primary
    return (f"{dataset.key} {shown} {job.weights_kind} {backend.name} seed {job.seed}: {metric} "
            f"{record.summary[f'{metric}_mean']:.3f}")


def embedding_conditions(manifests) -> dict:
    """What a result's embedding times were measured under, beside the device: torch threads (where every entry
    says the same), and the seconds a --compile run spent compiling (left out of the times)."""
    threads = {m.threads for m in manifests}
    return {**({"torch_threads": threads.pop()} if len(threads) == 1 and None not in threads else {}),
            **({"compile_seconds": sum(m.compile_seconds for m in manifests)}
               if any(m.compile_seconds for m in manifests) else {})}


def _nested_cv(embeddings: Embeddings, columns: np.ndarray, dataset: Dataset, splits, backend: BackendSpec, seed: int,
               opts: RunOptions, store: FoldStore | None = None):
    """Clip rows, or window rows voted per clip; rows of skipped clips (NaN) never enter a split."""
    labels, n_classes, task = dataset.labels, len(dataset.classes), dataset.kind
    features, clip_index = np.asarray(embeddings.features[:, columns]), embeddings.clip_index
    if opts.segment and opts.aggregate in VOTES:
        valid = ~np.isnan(features).any(axis=1)
        kept_clips = np.zeros(len(dataset.clips), bool)
        kept_clips[clip_index[valid]] = True
        if not kept_clips.all():
            check_after_skips(dataset, [keep_rows(s, kept_clips) for s in splits])
        row_splits = [keep_rows(rows_of(s, clip_index), valid) for s in splits]
        return nested_cv(features, labels[clip_index], row_splits, backend, seed=seed, n_classes=n_classes,
                         n_jobs=opts.n_jobs, vote=opts.aggregate, row_clip=clip_index, task=task, store=store)
    clips = clip_means(features, clip_index) if embeddings.segmented else features
    valid = ~np.isnan(clips).any(axis=1)
    kept = [keep_rows(s, valid) for s in splits]
    if not valid.all():
        check_after_skips(dataset, kept)
    return nested_cv(clips, labels, kept, backend, seed=seed, n_classes=n_classes, n_jobs=opts.n_jobs, task=task,
                     store=store)


def check_after_skips(dataset: Dataset, splits: list[OuterSplit]) -> None:
    """The splits as clips left out while embedding (--skip-bad-audio) leave them: every side still holds clips,
    and (the load-time check, again) every class a split tests is on its training side; else a named error."""
    for split in splits:
        sides = [("training", split.train), ("test", split.test),
                 *((f"inner validation part {i + 1}", validation) for i, (_, validation) in enumerate(split.inner))]
        if empty := next((side for side, rows in sides if len(rows) == 0), None):
            raise RwbenchError(f"{dataset.key}: {split.name}'s {empty} holds no clip once the clips left out while "
                               "embedding are removed (--skip-bad-audio): nothing to fit or score there")
    try:
        dataset.kind.check_splits(dataset, splits, partial=bool(dataset.info.get("partial")))
    except DataError as err:
        raise DataError(f"once the clips left out while embedding are removed (--skip-bad-audio): {err}") from None


def run(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec],
        opts: RunOptions) -> RunLog:
    """embed → evaluate; returns what was computed and what was reused."""
    for spec in frontends:  # bad --layers fail before any work
        layer_sets(spec, opts.layers)
    check_task_options(datasets, opts)
    for dataset in datasets:  # one built in Python is held to a loader's checks
        checked(dataset, partial=bool(dataset.info.get("partial")))
    tasks = evaluation_jobs(datasets, frontends, backends, opts)  # a result made with another --grid stops it here
    stale = stale_results(datasets, tasks, opts)
    todo = embed_jobs_of(stale)
    log_ = RunLog()
    with Progress(len(todo) + len(tasks), bar=opts.progress, known_done=known_done(tasks, stale, todo, opts)) as progress:
        embed_all(datasets, frontends, opts, log_, progress, only=todo)
        evaluate_all(datasets, frontends, backends, opts, log_, progress)
    return log_
