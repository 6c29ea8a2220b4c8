"""Nested cross-validation of one backend on one embedding matrix.

For each outer split of the dataset's protocol, the backend's grid is searched on the inner
(fit, validate) pairs — drawn from the outer training side only — the best setting is refit on the
outer training clips and scored once on the outer test clips. The selection score is recorded but
never reported as the result.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field, fields

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GridSearchCV

from .backends import BackendSpec
from .errors import RwbenchError
from .protocol import OuterSplit
from .tasks import TASK_TYPES, TaskType, fold_threshold, response

log = logging.getLogger(__name__)

@dataclass
class FoldResult:
    """One outer split's scores. Stored flat (:meth:`to_dict`): the task type's metrics sit beside ``name``."""

    name: str
    n_train: int
    n_test: int
    metrics: dict[str, float]  # the task type's metrics (rwbench.tasks), primary first
    best_params: dict
    selection_score: float  # mean inner-CV primary metric of the chosen setting (not a test score)
    fit_seconds: float
    confusion: list[list[int]] | None = None  # multiclass: rows = true class, columns = predicted (``classes`` order)
    test_clips: list[int] | None = None  # the dataset index of each test clip (None in results before v3)
    truth: list[int] | None = None  # multiclass: its true class index, in ``classes`` order
    predicted: list[int] | None = None  # multiclass: its predicted class index
    details: dict = field(default_factory=dict)  # multilabel: threshold, tags_scored, per_tag_roc_auc

    def __getattr__(self, name: str):  # fold.accuracy, fold.roc_auc_macro
        metrics = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        raise AttributeError(f"{type(self).__name__} has no {name!r}")

    def to_dict(self) -> dict:
        out = {"name": self.name, "n_train": self.n_train, "n_test": self.n_test, **self.metrics,
               "best_params": self.best_params, "selection_score": self.selection_score, "fit_seconds": self.fit_seconds}
        optional = {"confusion": self.confusion, "test_clips": self.test_clips, "truth": self.truth,
                    "predicted": self.predicted}
        return {**out, **{k: v for k, v in optional.items() if v is not None}, **self.details}

    @classmethod
    def from_dict(cls, data: dict) -> FoldResult:
        known = {f.name for f in fields(cls)} - {"metrics", "details"}
        metrics = {m: data[m] for t in TASK_TYPES.values() for m in t.metrics if m in data}
        details = {k: v for k, v in data.items() if k not in known and k not in metrics}
        return cls(**{k: v for k, v in data.items() if k in known}, metrics=metrics, details=details)


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
    if task.multilabel and vote is not None:
        raise RwbenchError("voting over windows (--aggregate majority/probability) is for multiclass tasks")
    start = time.perf_counter()
    search = split.search
    inner = [(_relative(fit, search), _relative(val, search)) for fit, val in split.inner]
    estimator = task.estimator(backend.build, seed, backend.multilabel_native)
    grid = GridSearchCV(estimator, task.grid(backend.grid, backend.multilabel_native), cv=inner,
                        scoring=task.scoring, refit=False, n_jobs=n_jobs,
                        error_score=np.nan)  # an infeasible setting (k > n) scores NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.filterwarnings("ignore", "(Scoring failed|One or more of the test scores are non-finite)")
        grid.fit(X[search], y[search])
    if np.isnan(grid.cv_results_["mean_test_score"]).all():
        raise RwbenchError(f"{backend.name}: every grid setting failed on {split.name}; check the features")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(estimator).set_params(**grid.best_params_).fit(X[split.train], y[split.train])
        threshold = (fold_threshold(estimator, grid.best_params_, X[search], y[search], inner)
                     if task.multilabel else None)
    scores = confusion = predicted = None
    if task.multilabel:
        scores, truth, clips = response(model, X[split.test]), y[split.test], split.test
    elif vote is None:
        predicted, truth, clips = model.predict(X[split.test]), y[split.test], split.test
    else:
        predicted, truth = VOTES[vote](model, X[split.test], y[split.test], row_clip[split.test], n_classes)
        clips = np.unique(row_clip[split.test])  # the voters return clips in ascending order
    scored = task.scores(truth, predicted, scores, n_classes, threshold)
    if not task.multilabel:
        confusion = confusion_matrix(truth, predicted, labels=np.arange(n_classes)).tolist()
    return FoldResult(
        name=split.name,
        n_train=len(split.train),
        n_test=len(truth),
        metrics={m: scored.pop(m) for m in task.metrics},
        best_params={_short(k): _plain(v) for k, v in grid.best_params_.items()},
        selection_score=float(grid.best_score_),
        fit_seconds=time.perf_counter() - start,
        confusion=confusion,
        test_clips=[int(c) for c in clips],
        truth=None if task.multilabel else [int(t) for t in truth],
        predicted=None if task.multilabel else [int(p) for p in predicted],
        details=scored,
    )


def _short(param: str) -> str:
    """A grid key as results show it: ``clf__C`` and ``estimator__clf__C`` → ``C``."""
    return param.removeprefix("estimator__").removeprefix("clf__")


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


def _majority_vote(model, X, y, clips, n_classes):
    """Each window votes for its predicted class; ties go to the lower class index."""
    first, votes = _per_clip(np.eye(n_classes)[model.predict(X)], clips)
    return votes.argmax(axis=1), y[first]


def _probability_vote(model, X, y, clips, n_classes):
    """Mean class probabilities (``predict_proba``) over windows, or mean decision scores without it."""
    scores = model.predict_proba(X) if hasattr(model, "predict_proba") else model.decision_function(X)
    if scores.ndim == 1:  # binary decision_function: > 0 means classes_[1]
        scores = np.column_stack([-scores, scores])
    first, sums = _per_clip(scores, clips)
    return model.classes_[sums.argmax(axis=1)], y[first]


VOTES = {"majority": _majority_vote, "probability": _probability_vote}
AGGREGATES = ("mean", *VOTES)  # "mean": average the window embeddings of a clip, then classify clips


def summarise(folds: list[FoldResult]) -> dict:
    """Unweighted mean and std (ddof 0) of each metric over the outer folds (bug B5: never size-weighted)."""
    out = {}
    for metric in folds[0].metrics:
        values = np.array([f.metrics[metric] for f in folds])
        out[f"{metric}_mean"] = float(values.mean())
        out[f"{metric}_std"] = float(values.std())
    return out


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
