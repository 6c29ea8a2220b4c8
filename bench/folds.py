"""The record of one outer fold: its scores, the settings chosen on its inner splits, and its per-clip outputs —
made in one place, :func:`fold_result`, by every producer (nested CV, trained heads, published protocols)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .tasks import TASK_TYPES, Outputs, TaskType

log = logging.getLogger(__name__)


@dataclass
class FoldResult:
    """One outer split's scores and per-clip outputs. Stored flat (:meth:`to_dict`): the task type's metrics sit
    beside ``name``. Made by :func:`fold_result`, the one place a fold is assembled from its outputs."""

    name: str
    n_train: int
    n_test: int
    metrics: dict[str, float]  # the task type's metrics (rwbench.tasks), primary first
    best_params: dict[str, Any]
    selection_score: float  # mean inner-CV primary metric of the chosen setting (not a test score)
    fit_seconds: float
    confusion: list[list[int]] | None = None  # multiclass: rows = true class, columns = predicted (``classes`` order)
    test_clips: list[int] | None = None  # the dataset index of each test clip (None in results before v3)
    truth: list[Any] | None = None  # multiclass: each clip's true class index; multilabel: its row of 0/1 per tag
    predicted: list[int] | None = None  # multiclass: its predicted class index
    scores: list[list[float]] | None = None  # per clip, one score per class (per tag), rounded (SCORE_DIGITS)
    score_kind: str | None = None  # what ``scores`` are (SCORE_KINDS)
    score_classes: list[int] | None = None  # the class of each score column, when not every class (0..n-1)
    grid_edge: dict[str, str] | None = None  # chosen settings at the low / high end of their searched values
    details: dict[str, Any] = field(default_factory=dict)  # multilabel: threshold, tags_scored, per_tag_roc_auc

    def __getattr__(self, name: str) -> float:  # fold.accuracy, fold.roc_auc_macro
        metrics: dict[str, float] = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        raise AttributeError(f"{type(self).__name__} has no {name!r}")

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "n_train": self.n_train, "n_test": self.n_test, **self.metrics,
               "best_params": self.best_params, "selection_score": self.selection_score, "fit_seconds": self.fit_seconds}
        optional = {"grid_edge": self.grid_edge, "confusion": self.confusion, "test_clips": self.test_clips,
                    "truth": self.truth, "predicted": self.predicted, "score_kind": self.score_kind,
                    "score_classes": self.score_classes, "scores": self.scores}
        return {**out, **{k: v for k, v in optional.items() if v is not None}, **self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldResult:
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


def fold_result(task: TaskType, *, name: str, n_train: int, clips: np.ndarray | Sequence[int], truth: np.ndarray,
                n_classes: int, outputs: Outputs, best_params: dict[str, Any], selection_score: float,
                fit_seconds: float, threshold: float | None = None, grid_edge: dict[str, str] | None = None,
                train_truth: np.ndarray | None = None) -> FoldResult:
    """A fold's result from its per-clip outputs — every producer's one way to make one: ``clips`` (dataset
    indices), ``truth`` (the task type's targets), ``outputs`` (:class:`~rwbench.tasks.Outputs`), the ``threshold``
    of a thresholded type and the fold's training targets ``train_truth`` (for the columns no model could learn).
    Scores (and the threshold) are rounded to :data:`SCORE_DIGITS` significant digits first and the metrics computed
    from the rounded ones, so that every stored metric can be recomputed from the stored outputs."""
    stored = None if outputs.scores is None else round_scores(outputs.scores)
    if threshold is not None:  # rounded as the scores are: a test score equal to it (k-NN's 1/3) stays at it
        threshold = float(round_scores(np.array(threshold)))
    score_classes = outputs.score_classes
    if score_classes is not None and np.array_equal(score_classes, np.arange(n_classes)):
        score_classes = None
    untrained = task.untrained(train_truth)
    if len(untrained):
        log.warning("%s: %d tag(s) have no positive training clip (tag indices %s): left out of the macro averages",
                    name, len(untrained), ", ".join(map(str, untrained)))
    record = task.fold_record(np.asarray(truth), replace(outputs, scores=stored), n_classes, threshold=threshold,
                              untrained=untrained)
    if untested := (record.details or {}).get("tags_untested"):
        log.warning("%s: %d tag(s) have no positive or no negative test clip (tag indices %s): no AUC, left out of "
                    "the macro averages", name, len(untested), ", ".join(map(str, untested)))
    return FoldResult(
        name=name, n_train=int(n_train), n_test=len(record.truth), metrics=record.metrics,
        best_params=best_params, selection_score=float(selection_score), fit_seconds=float(fit_seconds),
        confusion=record.confusion, test_clips=[int(c) for c in clips], truth=record.truth,
        predicted=record.predicted, scores=None if stored is None else stored.tolist(),
        score_kind=None if stored is None else outputs.score_kind,
        score_classes=None if score_classes is None else [int(c) for c in score_classes],
        grid_edge=grid_edge, details=record.details or {})


def fold_dicts(folds: list[FoldResult]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in folds]
