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
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GridSearchCV

from .backends import BackendSpec
from .errors import RwbenchError
from .protocol import OuterSplit

log = logging.getLogger(__name__)

METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


@dataclass
class FoldResult:
    name: str
    n_train: int
    n_test: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    best_params: dict
    selection_score: float  # mean inner-CV accuracy of the chosen setting (not a test score)
    fit_seconds: float
    confusion: list[list[int]]  # rows = true class, columns = predicted, in ``classes`` order
    test_clips: list[int] | None = None  # the dataset index of each test clip (None in results before v3)
    truth: list[int] | None = None  # its true class index, in ``classes`` order
    predicted: list[int] | None = None  # its predicted class index


def _relative(indices: np.ndarray, search: np.ndarray) -> np.ndarray:
    return np.searchsorted(search, indices)


def evaluate_split(
    X: np.ndarray, y: np.ndarray, split: OuterSplit, backend: BackendSpec, *, seed: int, n_classes: int,
    n_jobs: int | None = None, vote: str | None = None, row_clip: np.ndarray | None = None,
) -> FoldResult:
    """Select on ``split.inner``, refit on ``split.train``, score on ``split.test``.

    With ``vote``, rows are windows of clips (``row_clip``): selection scores windows, the test
    score is per clip after voting over its windows' predictions (:data:`VOTES`).
    """
    start = time.perf_counter()
    search = split.search
    inner = [(_relative(fit, search), _relative(val, search)) for fit, val in split.inner]
    grid = GridSearchCV(backend.build(seed), backend.grid, cv=inner, scoring="accuracy", refit=False,
                        n_jobs=n_jobs, error_score=np.nan)  # an infeasible setting (k > n) scores NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.filterwarnings("ignore", "(Scoring failed|One or more of the test scores are non-finite)")
        grid.fit(X[search], y[search])
    if np.isnan(grid.cv_results_["mean_test_score"]).all():
        raise RwbenchError(f"{backend.name}: every grid setting failed on {split.name}; check the features")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(backend.build(seed)).set_params(**grid.best_params_).fit(X[split.train], y[split.train])
    if vote is None:
        predicted, truth, clips = model.predict(X[split.test]), y[split.test], split.test
    else:
        predicted, truth = VOTES[vote](model, X[split.test], y[split.test], row_clip[split.test], n_classes)
        clips = np.unique(row_clip[split.test])  # the voters return clips in ascending order
    return FoldResult(
        name=split.name,
        n_train=len(split.train),
        n_test=len(truth),
        **_metrics(truth, predicted, n_classes),
        best_params={k.removeprefix("clf__"): _plain(v) for k, v in grid.best_params_.items()},
        selection_score=float(grid.best_score_),
        fit_seconds=time.perf_counter() - start,
        confusion=confusion_matrix(truth, predicted, labels=np.arange(n_classes)).tolist(),
        test_clips=[int(c) for c in clips],
        truth=[int(t) for t in truth],
        predicted=[int(p) for p in predicted],
    )


def _metrics(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, float]:
    with warnings.catch_warnings():  # a small test fold may lack a class the model predicts
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        return {"accuracy": float(accuracy_score(truth, predicted)),
                "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
                "macro_f1": float(f1_score(truth, predicted, average="macro", labels=np.arange(n_classes),
                                           zero_division=0))}


def nested_cv(
    X: np.ndarray, y: np.ndarray, splits: list[OuterSplit], backend: BackendSpec, *, seed: int, n_classes: int,
    n_jobs: int | None = None, vote: str | None = None, row_clip: np.ndarray | None = None,
) -> list[FoldResult]:
    return [evaluate_split(X, y, s, backend, seed=seed, n_classes=n_classes, n_jobs=n_jobs, vote=vote,
                           row_clip=row_clip) for s in splits]


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
    for metric in METRICS:
        values = np.array([getattr(f, metric) for f in folds])
        out[f"{metric}_mean"] = float(values.mean())
        out[f"{metric}_std"] = float(values.std())
    return out


def fold_dicts(folds: list[FoldResult]) -> list[dict]:
    return [asdict(f) for f in folds]


def _plain(value):
    """numpy scalars → Python scalars, so best params serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def keep_rows(split: OuterSplit, keep: np.ndarray) -> OuterSplit:
    """The split without the rows where ``keep`` is False (clips skipped as unreadable)."""
    def kept(indices: np.ndarray) -> np.ndarray:
        return indices[keep[indices]]

    return OuterSplit(split.name, kept(split.train), kept(split.test),
                      tuple((kept(fit), kept(val)) for fit, val in split.inner))
