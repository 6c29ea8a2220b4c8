"""Nested cross-validation of one backend on one embedding matrix.

For each outer split of the dataset's protocol, the backend's grid is searched on the inner
(fit, validate) pairs — drawn from the outer training side only — the best setting is refit on the
outer training clips and scored once on the outer test clips. The selection score is recorded but
never reported as the result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from dataclasses import dataclass, field, fields, replace

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.model_selection import GridSearchCV

from .backends import BackendSpec, chosen_edges, short_name
from .errors import RwbenchError
from .protocol import OuterSplit
from .results import summarise  # noqa: F401  (re-exported: evaluate.summarise as before)
from .tasks import TASK_TYPES, Outputs, TaskType, fold_threshold

log = logging.getLogger(__name__)

@dataclass
class FoldResult:
    """One outer split's scores and per-clip outputs. Stored flat (:meth:`to_dict`): the task type's metrics sit
    beside ``name``. Made by :func:`fold_result`, the one place a fold is assembled from its outputs."""

    name: str
    n_train: int
    n_test: int
    metrics: dict[str, float]  # the task type's metrics (rwbench.tasks), primary first
    best_params: dict
    selection_score: float  # mean inner-CV primary metric of the chosen setting (not a test score)
    fit_seconds: float
    confusion: list[list[int]] | None = None  # multiclass: rows = true class, columns = predicted (``classes`` order)
    test_clips: list[int] | None = None  # the dataset index of each test clip (None in results before v3)
    truth: list | None = None  # multiclass: each clip's true class index; multilabel: its row of 0/1 per tag
    predicted: list[int] | None = None  # multiclass: its predicted class index
    scores: list[list[float]] | None = None  # per clip, one score per class (per tag), rounded (SCORE_DIGITS)
    score_kind: str | None = None  # what ``scores`` are (SCORE_KINDS)
    score_classes: list[int] | None = None  # the class of each score column, when not every class (0..n-1)
    grid_edge: dict[str, str] | None = None  # chosen settings at the low / high end of their searched values
    details: dict = field(default_factory=dict)  # multilabel: threshold, tags_scored, per_tag_roc_auc

    def __getattr__(self, name: str):  # fold.accuracy, fold.roc_auc_macro
        metrics = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        raise AttributeError(f"{type(self).__name__} has no {name!r}")

    def to_dict(self) -> dict:
        out = {"name": self.name, "n_train": self.n_train, "n_test": self.n_test, **self.metrics,
               "best_params": self.best_params, "selection_score": self.selection_score, "fit_seconds": self.fit_seconds}
        optional = {"grid_edge": self.grid_edge, "confusion": self.confusion, "test_clips": self.test_clips,
                    "truth": self.truth, "predicted": self.predicted, "score_kind": self.score_kind,
                    "score_classes": self.score_classes, "scores": self.scores}
        return {**out, **{k: v for k, v in optional.items() if v is not None}, **self.details}

    @classmethod
    def from_dict(cls, data: dict) -> FoldResult:
        known = {f.name for f in fields(cls)} - {"metrics", "details"}
        metrics = {m: data[m] for t in TASK_TYPES.values() for m in t.metrics if m in data}
        details = {k: v for k, v in data.items() if k not in known and k not in metrics}
        return cls(**{k: v for k, v in data.items() if k in known}, metrics=metrics, details=details)


SCORE_DIGITS = 6  # significant digits of stored per-clip scores; the fold's metrics are computed from the stored ones
SCORE_KINDS = {
    "decision_function": "the backend's decision values (svm: SVC one-vs-rest-shaped from its one-vs-one votes; "
                         "elm / elm_torch: ridge outputs; logreg: logits); two classes: (-d, d)",
    "predict_proba": "the backend's class probabilities (knn: neighbour fractions)",
    "softmax": "the trained head's softmax probabilities",
    "sigmoid": "the trained head's sigmoid per tag",
    "majority_votes": "the fraction of the clip's windows voting for each class",
    "mean_predict_proba": "class probabilities averaged over the clip's windows",
    "mean_decision_function": "decision values averaged over the clip's windows",
}


def round_scores(scores: np.ndarray) -> np.ndarray:
    """``scores`` to :data:`SCORE_DIGITS` significant digits (what a result file stores)."""
    flat = [float(f"{v:.{SCORE_DIGITS}g}") for v in np.asarray(scores, np.float64).ravel()]
    return np.array(flat, np.float64).reshape(np.shape(scores))


def fold_result(task: TaskType, *, name: str, n_train: int, clips, truth, n_classes: int, outputs: Outputs,
                best_params: dict, selection_score: float, fit_seconds: float, threshold: float | None = None,
                grid_edge: dict | None = None, train_truth=None) -> FoldResult:
    """A fold's result from its per-clip outputs — every producer's one way to make one: ``clips`` (dataset
    indices), ``truth`` (the task type's targets), ``outputs`` (:class:`~rwbench.tasks.Outputs`), the ``threshold``
    of a thresholded type and the fold's training targets ``train_truth`` (for the columns no model could learn).
    Scores are rounded to :data:`SCORE_DIGITS` significant digits first and the metrics computed from the rounded
    ones, so that every stored metric can be recomputed from the stored outputs."""
    stored = None if outputs.scores is None else round_scores(outputs.scores)
    score_classes = outputs.score_classes
    if score_classes is not None and np.array_equal(score_classes, np.arange(n_classes)):
        score_classes = None
    untrained = task.untrained(train_truth)
    if len(untrained):
        log.warning("%s: %d tag(s) have no positive training clip (tag indices %s): left out of the macro averages",
                    name, len(untrained), ", ".join(map(str, untrained)))
    record = task.fold_record(np.asarray(truth), replace(outputs, scores=stored), n_classes, threshold=threshold,
                              untrained=untrained)
    return FoldResult(
        name=name, n_train=int(n_train), n_test=len(record.truth), metrics=record.metrics,
        best_params=best_params, selection_score=float(selection_score), fit_seconds=float(fit_seconds),
        confusion=record.confusion, test_clips=[int(c) for c in clips], truth=record.truth,
        predicted=record.predicted, scores=None if stored is None else stored.tolist(),
        score_kind=None if stored is None else outputs.score_kind,
        score_classes=None if score_classes is None else [int(c) for c in score_classes],
        grid_edge=grid_edge, details=record.details or {})


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a cgroup's or taskset's share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def shared_threads(n_jobs: int | None):
    """The context of a grid search over ``n_jobs`` jobs: joblib threads in this process (libsvm and BLAS release
    the GIL), each with its share of the cores in every BLAS/OpenMP pool (threadpoolctl, as on a Dask worker) and
    in torch, so jobs × threads never exceeds the cores. Threads, not processes: no worker starts or imports
    torch, the features are not copied, and the kernel SVM's memoised Gram matrices (per process, up to
    ``kernel_svm.CACHE_BYTES``) are shared rather than held once per worker. One job: nothing changes."""
    from joblib import effective_n_jobs, parallel_config

    jobs = effective_n_jobs(n_jobs)
    if jobs <= 1:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    threads, before = max(1, available_cores() // jobs), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with parallel_config(backend="threading"), threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)


def _relative(indices: np.ndarray, search: np.ndarray) -> np.ndarray:
    return np.searchsorted(search, indices)


def evaluate_split(
    X: np.ndarray, y: np.ndarray, split: OuterSplit, backend: BackendSpec, *, seed: int, n_classes: int,
    n_jobs: int | None = None, vote: str | None = None, row_clip: np.ndarray | None = None,
    task: TaskType = TASK_TYPES["multiclass"],
) -> FoldResult:
    """Select on ``split.inner``, refit on ``split.train``, score on ``split.test``, by ``task``'s metrics.

    With ``vote``, rows are windows of clips (``row_clip``): selection scores windows, the test
    score is per clip after voting over its windows' predictions (:data:`VOTES`; multiclass only).
    A multilabel ``y`` is an indicator matrix; its micro-F1 threshold is chosen on the inner validation sides.
    """
    if vote is not None and not task.votes:
        raise RwbenchError(f"voting over windows (--aggregate majority/probability) is not defined for {task.name} tasks")
    start = time.perf_counter()
    search = split.search
    inner = [(_relative(fit, search), _relative(val, search)) for fit, val in split.inner]
    estimator = task.estimator(backend.build, seed, backend.multilabel_native)
    searched = task.grid(backend.grid, backend.multilabel_native)
    grid = search_grid(estimator, searched, X[search], y[search], inner, scoring=task.scoring, n_jobs=n_jobs,
                       where=f"{backend.name} on {split.name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(estimator).set_params(**grid.best_params_).fit(X[split.train], y[split.train])
        threshold = fold_threshold(task, estimator, grid.best_params_, X[search], y[search], inner)
    if vote is None:
        outputs, truth, clips = task.outputs(model, X[split.test]), y[split.test], split.test
    else:
        outputs, truth = vote_outputs(vote, model, X[split.test], y[split.test], row_clip[split.test], n_classes)
        clips = np.unique(row_clip[split.test])  # the voters return clips in ascending order
    return fold_result(
        task, name=split.name, n_train=len(split.train), clips=clips, truth=truth, n_classes=n_classes,
        outputs=outputs, threshold=threshold,
        best_params=stored_params(grid.best_params_),
        selection_score=float(grid.best_score_), fit_seconds=time.perf_counter() - start,
        grid_edge=chosen_edges(searched, grid.best_params_), train_truth=y[split.train])


def search_grid(estimator, grid: list[dict], X: np.ndarray, y: np.ndarray, cv: list, *, scoring,
                n_jobs: int | None, where: str) -> GridSearchCV:
    """Every setting of ``grid`` fitted and scored on each (fit, validate) pair of ``cv`` (``refit=False``): an
    infeasible setting (k > n) scores NaN; every setting failing is an error naming ``where``."""
    search = GridSearchCV(estimator, grid, cv=cv, scoring=scoring, refit=False, n_jobs=n_jobs, error_score=np.nan)
    with warnings.catch_warnings(), shared_threads(n_jobs):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.filterwarnings("ignore", "(Scoring failed|One or more of the test scores are non-finite)")
        search.fit(X, y)
    if np.isnan(search.cv_results_["mean_test_score"]).all():
        raise RwbenchError(f"{where}: every grid setting failed; check the features")
    return search


def stored_params(params: dict) -> dict:
    """Chosen settings as a result file stores them: short keys (``C``, not ``clf__C``), plain Python values."""
    return {short_name(k): _plain(v) for k, v in params.items()}


def nested_cv(
    X: np.ndarray, y: np.ndarray, splits: list[OuterSplit], backend: BackendSpec, *, seed: int, n_classes: int,
    n_jobs: int | None = None, vote: str | None = None, row_clip: np.ndarray | None = None,
    task: TaskType = TASK_TYPES["multiclass"],
) -> list[FoldResult]:
    return [evaluate_split(X, y, s, backend, seed=seed, n_classes=n_classes, n_jobs=n_jobs, vote=vote,
                           row_clip=row_clip, task=task) for s in splits]


# -- segment-and-aggregate -----------------------------------------------------------------------
def clip_means(features: np.ndarray, clip_index: np.ndarray) -> np.ndarray:
    """Average the window rows of each clip (``clip_index`` ascending): ``(n_clips, dim)``."""
    starts = np.flatnonzero(np.r_[True, clip_index[1:] != clip_index[:-1]])
    counts = np.diff(np.r_[starts, len(clip_index)])
    return np.add.reduceat(np.asarray(features, dtype=np.float64), starts, axis=0) / counts[:, None]


def rows_of(split: OuterSplit, clip_index: np.ndarray) -> OuterSplit:
    """The split over window rows: every window goes where its clip goes."""
    def rows(clips: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(clip_index, clips))

    return OuterSplit(split.name, rows(split.train), rows(split.test),
                      tuple((rows(fit), rows(val)) for fit, val in split.inner))


def _per_clip(values: np.ndarray, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each clip, sum of ``values`` over each clip's rows)."""
    ids, first, inverse = np.unique(clips, return_index=True, return_inverse=True)
    sums = np.zeros((len(ids), values.shape[1]))
    np.add.at(sums, inverse, values)
    return first, sums


def vote_outputs(vote: str, model, X, y, clips, n_classes) -> tuple[Outputs, np.ndarray]:
    """Per clip after voting over its windows: (its outputs, its true class). ``majority``: each window votes for its
    predicted class (scores: the fraction of the clip's windows voting for each class; ties go to the lower class
    index). ``probability``: class probabilities (``predict_proba``), or decision scores without it, averaged over
    the clip's windows."""
    if vote == "majority":
        first, votes = _per_clip(np.eye(n_classes)[model.predict(X)], clips)
        return Outputs(votes.argmax(axis=1), votes / votes.sum(axis=1, keepdims=True), "majority_votes"), y[first]
    if hasattr(model, "predict_proba"):
        scores, kind = model.predict_proba(X), "mean_predict_proba"
    else:
        scores, kind = model.decision_function(X), "mean_decision_function"
    scores = np.asarray(scores, np.float64)
    if scores.ndim == 1:  # binary decision_function: > 0 means classes_[1]
        scores = np.column_stack([-scores, scores])
    first, sums = _per_clip(scores, clips)
    counts = np.bincount(np.unique(clips, return_inverse=True)[1])
    return Outputs(model.classes_[sums.argmax(axis=1)], sums / counts[:, None], kind, model.classes_), y[first]


def _majority_vote(model, X, y, clips, n_classes):
    """Each window votes for its predicted class; ties go to the lower class index."""
    outputs, truth = vote_outputs("majority", model, X, y, clips, n_classes)
    return outputs.predicted, truth


def _probability_vote(model, X, y, clips, n_classes):
    """Mean class probabilities (``predict_proba``) over windows, or mean decision scores without it."""
    outputs, truth = vote_outputs("probability", model, X, y, clips, n_classes)
    return outputs.predicted, truth


VOTES = {"majority": _majority_vote, "probability": _probability_vote}
AGGREGATES = ("mean", *VOTES)  # "mean": average the window embeddings of a clip, then classify clips


def fold_dicts(folds: list[FoldResult]) -> list[dict]:
    return [f.to_dict() for f in folds]


def _plain(value):
    """numpy scalars → Python scalars, so best params serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def keep_rows(split: OuterSplit, keep: np.ndarray) -> OuterSplit:
    """The split without the rows where ``keep`` is False (clips skipped as unreadable)."""
    def kept(indices: np.ndarray) -> np.ndarray:
        return indices[keep[indices]]

    return OuterSplit(split.name, kept(split.train), kept(split.test),
                      tuple((kept(fit), kept(val)) for fit, val in split.inner))
