"""The reference study's own evaluation protocol (Pons & Serra 2019, ``jordipons/elmarc``), beside rwbench's honest one.

``rwbench reproduce pons2019 --protocol published`` scores the same cached embeddings the way the study did, so a
reader sees the faithful number and the honest number and how far apart they are. What the study's code
(``jordipons/elmarc``) did:

* a **fixed split** (GTZAN fault-filtered): the grid is searched on the single train → valid split, the best
  setting is refit on **train only** (whatever the dataset's ``refit`` option) and scored on test. The study
  re-instantiated its ELM after selection, which redrew its hidden layer: the refit estimator is drawn with another
  seed (``seed + REDRAW``), so the number carries that noise as the study's did.
* **folds** (Extended Ballroom, UrbanSound8K, ESC-50, …): the grid is searched over the very folds that are
  reported (each fold the validation side once), and the number is the best grid point's unweighted mean fold
  score, GridSearchCV's ``best_score_``: hyperparameters are chosen on the test folds (optimistic: a selection
  score reported as a test score). The study's SVM search ran with ``iid=True`` (scikit-learn < 0.22), which
  weighted each fold by its test clips in selection and in ``best_score_``; here folds weigh alike, for both
  backends (UrbanSound8K's unequal folds: a small difference; the paper file's notes say so). Each fold's record
  holds that setting's test outputs, refit on the fold's training side.

Backends keep rwbench's feature scaling and ridge ELM (the study's code had neither): only the protocol changes.

Results are written under ``<results>/published/`` (never in the folder the leaderboard reads by default) and each
is marked: its backend is named ``<backend>@published`` (``svm@published``), its backend section carries
``protocol: published:pons2019`` and what is reported, and its dataset protocol carries ``evaluation``; a
leaderboard that is pointed at them shows them as rows of their own, never mixed into the honest rows.

Built on the one fold record (:func:`~rwbench.folds.fold_result`), rwbench.evaluate's grid search
(:func:`~rwbench.evaluate.search_grid`), the task type's outputs (:meth:`rwbench.tasks.TaskType.outputs`) and the
pipeline's task list and embedding cache; nothing of the honest evaluation changes.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from .backends import BackendSpec, chosen_edges
from .datamodel import Dataset
from .errors import RwbenchError
from .evaluate import clip_means, search_grid, stored_params
from .folds import FoldResult, fold_result
from .frontend import FrontendSpec
from .pipeline import (
    EvalJob,
    RunLog,
    RunOptions,
    check_after_skips,
    embedding_conditions,
    evaluation_jobs,
    existing_record,
    frontend_section,
    load_embeddings,
    refuse_grid_clash,
)
from .protocol import FixedSplit, OuterSplit, keep_rows
from .results import build_record, result_lock, write_result
from .tasks import TaskType, task_type

log = logging.getLogger(__name__)

NAME = "published:pons2019"
VERSION = 1  # bump when this protocol's evaluation changes: its results are recomputed
REDRAW = 1_000_003  # the refit estimator's seed offset: the study's ELM drew new hidden weights after selection
SUFFIX = "@published"
FOLDER = "published"  # under the results folder
REPORTED = {
    "fixed_split": "test score of the setting selected on valid, refit on train only (the ELM's hidden layer redrawn)",
    "folds": "best_score_: the best grid point's unweighted mean fold score, selected on the reported folds",
}


def published_results_dir(results_dir: Path) -> Path:
    """Where published-protocol results of a results folder live."""
    return Path(results_dir) / FOLDER


def published_options(opts: RunOptions) -> RunOptions:
    """``opts`` writing published-protocol results under ``<results>/published``, embeddings from the same cache."""
    return replace(opts, results_dir=published_results_dir(opts.results_dir), cache_dir=opts.cache_root)


def _fold(task: TaskType, estimator, params: dict, X, y, train, test, *, name: str, n_classes: int, grid: list[dict],
          selection: float, start: float) -> FoldResult:
    """Fit ``estimator`` with ``params`` on ``train``, score ``test``: the fold's record."""
    from sklearn.base import clone

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = clone(estimator).set_params(**params).fit(X[train], y[train])
        outputs = task.outputs(model, X[test])
    return fold_result(task, name=name, n_train=len(train), clips=test, truth=y[test], n_classes=n_classes,
                       outputs=outputs, best_params=stored_params(params),
                       selection_score=selection, fit_seconds=time.perf_counter() - start,
                       grid_edge=chosen_edges(grid, params), train_truth=y[train])


def published_folds(X: np.ndarray, y: np.ndarray, splits: list[OuterSplit], backend: BackendSpec, *, seed: int,
                    n_classes: int, fixed_split: bool, n_jobs: int | None = None,
                    task: TaskType | None = None) -> list[FoldResult]:
    """The study's protocol on one embedding matrix ``X`` ``(clips, dim)`` and labels ``y`` ``(clips,)``: one
    :class:`~rwbench.folds.FoldResult` per split of ``splits`` (module docstring). ``fixed_split``: one
    train/valid/test split (``splits[0].inner[0]`` is (train, valid)); else the splits are the reported folds."""
    task = task or task_type("multiclass")
    if task.name != "multiclass":
        raise RwbenchError("the reference study's protocol is defined for one label per clip (multiclass)")
    estimator, grid = backend.build(seed), backend.grid
    start = time.perf_counter()
    if fixed_split:
        if len(splits) != 1 or len(splits[0].inner) != 1:
            raise RwbenchError("a fixed split has one outer split with one (train, valid) pair")
        split = splits[0]
        train, valid = split.inner[0]
        rows = np.concatenate([train, valid])
        cv = [(np.arange(len(train)), np.arange(len(train), len(rows)))]
        search = search_grid(estimator, grid, X[rows], y[rows], cv, scoring=task.scoring, n_jobs=n_jobs,
                             where=f"{backend.name} on {split.name}")
        redrawn = backend.build(seed + REDRAW)  # the study re-instantiated the chosen model: new random weights
        return [_fold(task, redrawn, search.best_params_, X, y, train, split.test, name=split.name,
                      n_classes=n_classes, grid=grid, selection=float(search.best_score_), start=start)]
    rows = np.unique(np.concatenate([np.concatenate([s.train, s.test]) for s in splits]))
    cv = [(np.searchsorted(rows, s.train), np.searchsorted(rows, s.test)) for s in splits]
    search = search_grid(estimator, grid, X[rows], y[rows], cv, scoring=task.scoring, n_jobs=n_jobs,
                         where=f"{backend.name} on the reported folds")
    best = float(search.best_score_)
    return [_fold(task, estimator, search.best_params_, X, y, s.train, s.test, name=s.name, n_classes=n_classes,
                  grid=grid, selection=best, start=start) for s in splits]


# -- result files ------------------------------------------------------------------------------------
def evaluate_published(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec],
                       opts: RunOptions, log_: RunLog | None = None) -> RunLog:
    """A published-protocol result file for every (dataset, front-end instance, layer set, backend) whose
    embeddings the honest run cached; ``opts`` as for the honest run (its results go under
    ``<results>/published``)."""
    log_ = log_ or RunLog()
    if opts.segment and opts.aggregate != "mean":
        raise RwbenchError("the study's protocol scores one embedding per clip: use --aggregate mean with --segment")
    mine = published_options(opts)
    for dataset in datasets:
        described, splits = dataset.describe(), dataset.splits()
        fixed = isinstance(dataset.protocol, FixedSplit)
        protocol = study_protocol(dataset, described["protocol"])
        if fixed:
            described = {**described, "info": refit_side_checked(dataset, splits)}
        for task in evaluation_jobs([dataset], frontends, backends, mine):
            path = task.path(mine)
            key = task.run_key(mine, protocol)
            with result_lock(mine.results_dir, path):
                existing = existing_record(path)
                if existing is not None and not opts.force and existing.get("run_key") == key:
                    log_.reused += 1
                else:
                    refuse_grid_clash(task, mine, existing)
                    line = _write(task, path, key, dataset, {**described, "protocol": protocol}, splits, fixed, mine)
                    log.info("%s", line)
                    log_.evaluated += 1
            log_.results.append(path)
    return log_


def study_protocol(dataset: Dataset, described: dict | None = None) -> dict:
    """The protocol a study-protocol result records: the dataset's (``described``, else its own), marked with this
    evaluation, and for a fixed split refit on train alone (:func:`published_folds`), whatever the dataset's refit."""
    protocol = {**(described or dataset.describe()["protocol"]), "evaluation": NAME, "evaluation_version": VERSION}
    if isinstance(dataset.protocol, FixedSplit) and "refit" in protocol:
        protocol["refit"] = "train"
    return protocol


def refit_on_train(splits: list[OuterSplit]) -> list[OuterSplit]:
    """A fixed split as the study scores it: refit on its train part alone (the first inner fit part)."""
    return [OuterSplit(s.name, s.inner[0][0], s.test, s.inner) for s in splits]


def refit_side_checked(dataset: Dataset, splits: list[OuterSplit]) -> dict:
    """The dataset's ``info`` as the study's fixed split sees it: it refits on train alone (:func:`published_folds`),
    so a class the test side holds and only valid trains on is never predicted, whatever the dataset's own refit
    side (train+valid passed the load-time check): refused, or for a partial copy recorded (``untrained_test_clips``)."""
    study = replace(dataset, info={k: v for k, v in dataset.info.items() if k != "untrained_test_clips"})
    study.kind.check_splits(study, refit_on_train(splits), partial=bool(dataset.info.get("partial")))
    return study.info


def _write(task: EvalJob, path: Path, run_key: str, dataset: Dataset, described: dict, splits, fixed: bool,
           opts: RunOptions) -> str:
    if len(task.jobs) != 1:
        raise RwbenchError(f"{task.job.frontend.name}: per-fold weights (trained, mst) are not evaluated with the "
                           "study's protocol (it had none)")
    job, backend = task.job, task.backend
    embeddings = load_embeddings(job, opts)
    columns = embeddings.columns(task.layers)
    features = np.asarray(embeddings.features[:, columns])
    clips = clip_means(features, embeddings.clip_index) if embeddings.segmented else features
    valid = ~np.isnan(clips).any(axis=1)
    kept = [keep_rows(s, valid) for s in splits]
    if not valid.all():  # clips left out while embedding (--skip-bad-audio): every side and tested class still trained
        check_after_skips(dataset, refit_on_train(kept) if fixed else kept)
    folds = published_folds(clips, dataset.labels, kept, backend, seed=job.seed, n_classes=len(dataset.classes),
                            fixed_split=fixed, n_jobs=opts.n_jobs, task=dataset.kind)
    manifest = embeddings.manifest
    frontend = frontend_section(task, {None: manifest}, len(columns), opts)
    record = build_record(
        run_key=run_key,
        dataset={**described, "fingerprint": manifest.dataset_fingerprint,
                 "skipped": described["skipped"] + list(manifest.skipped)},
        frontend=frontend,
        backend={"name": backend.name + SUFFIX, "base": backend.name, "grid": backend.grid,
                 "grid_size": backend.grid_size, "version": backend.version,
                 **({"grid_name": backend.grid_name} if backend.grid_name else {}),
                 "protocol": NAME, "reported": REPORTED["fixed_split" if fixed else "folds"]},
        seed=job.seed, device=manifest.device, folds=folds,
        timings={"embed_seconds": manifest.embed_seconds, "embed_seconds_per_clip": manifest.seconds_per_clip,
                 **embedding_conditions([manifest])})
    write_result(path, record)
    metric = dataset.kind.primary
    return (f"{dataset.key} {job.frontend.name} {job.weights_kind} {backend.name}{SUFFIX} seed {job.seed}: {metric} "
            f"{record.summary[f'{metric}_mean']:.3f} (the study's protocol)")
