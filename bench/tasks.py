"""Task types: what a label is, which metrics score a fold, and how a backend is fitted to it.

``multiclass``: one label per clip. Folds record accuracy (primary), balanced accuracy and macro F1; the inner CV
selects on accuracy.

``multilabel``: a set of tags per clip (``Clip.tags``), the targets an indicator matrix ``(clips, tags)``. Folds
record the macro ROC-AUC (primary, as in MagnaTagATune auto-tagging), the macro PR-AUC (average precision), micro F1
at a threshold chosen on the inner validation side (never on the test clips) and each tag's ROC-AUC. A macro
average runs over the tags that have both positive and negative test clips (a tag without positives in a fold has
no AUC: it is left out and counted, never scored as 0.5). The inner CV selects on the macro ROC-AUC. A backend whose
estimator takes an indicator matrix itself (the ELMs: one ridge solve for all tags) is used as it is; any other is
wrapped in ``OneVsRestClassifier`` (one binary estimator per tag), its grid keys prefixed ``estimator__``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, average_precision_score, balanced_accuracy_score, f1_score, make_scorer
from sklearn.multiclass import OneVsRestClassifier

from .errors import RwbenchError

THRESHOLD_CANDIDATES = 99  # quantiles of the validation scores tried as the micro-F1 threshold


def scorable_tags(truth: np.ndarray) -> np.ndarray:
    """The tags (columns) with both positive and negative clips: the ones an AUC is defined for."""
    positives = truth.sum(axis=0)
    return np.flatnonzero((positives > 0) & (positives < len(truth)))


def per_tag(metric: Callable, truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``metric`` of each tag; NaN for a tag without both classes among the clips."""
    out = np.full(truth.shape[1], np.nan)
    for tag in scorable_tags(truth):
        out[tag] = metric(truth[:, tag], scores[:, tag])
    return out


def per_tag_roc_auc(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each tag's ROC-AUC at once, as the Mann–Whitney U of its scores (ties ranked by their mean: equal to
    ``sklearn.metrics.roc_auc_score``, tested); NaN for a tag without both classes. The inner CV scores every grid
    setting with it, so it is vectorised over tags."""
    truth, scores = np.asarray(truth, bool), np.asarray(scores, np.float64)
    positives = truth.sum(axis=0)
    negatives = len(truth) - positives
    ranks = stats.rankdata(scores, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * truth).sum(axis=0) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def macro(values: np.ndarray) -> float:
    if np.isnan(values).all():
        raise ValueError("no tag has both positive and negative clips here: no AUC is defined")
    return float(np.nanmean(values))


def roc_auc_macro(truth: np.ndarray, scores: np.ndarray) -> float:
    return macro(per_tag_roc_auc(truth, scores))


def pr_auc_macro(truth: np.ndarray, scores: np.ndarray) -> float:
    return macro(per_tag(average_precision_score, np.asarray(truth), np.asarray(scores)))


def choose_threshold(truth: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold that maximises micro F1 on (validation) clips; ties go to the lower threshold."""
    candidates = np.unique(np.quantile(scores, np.linspace(0.01, 0.99, THRESHOLD_CANDIDATES)))
    f1 = [f1_score(truth, scores >= t, average="micro", zero_division=0) for t in candidates]
    return float(candidates[int(np.argmax(f1))])


def response(model: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """Per-tag scores ``(clips, tags)``: ``decision_function`` when the model has one, else ``predict_proba``."""
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=np.float64)
    return np.asarray(model.predict_proba(X), dtype=np.float64)


@dataclass(frozen=True)
class TaskType:
    name: str
    metrics: tuple[str, ...]  # recorded in every fold (and required of result files); the first is primary
    scoring: str | Callable  # the inner CV's selection score (scikit-learn ``scoring``)
    description: str

    @property
    def primary(self) -> str:
        return self.metrics[0]

    @property
    def multilabel(self) -> bool:
        return self.name == "multilabel"

    def estimator(self, build: Callable[[int], BaseEstimator], seed: int, native: bool) -> BaseEstimator:
        """The backend's estimator for this task: as built, or one binary estimator per tag."""
        estimator = build(seed)
        return OneVsRestClassifier(estimator) if self.multilabel and not native else estimator

    def grid(self, grid: list[dict], native: bool) -> list[dict]:
        if not self.multilabel or native:
            return grid
        return [{f"estimator__{key}": values for key, values in part.items()} for part in grid]

    def scores(self, truth: np.ndarray, predicted: np.ndarray | None, scores: np.ndarray | None,
               n_classes: int, threshold: float | None = None, untrained: np.ndarray | None = None) -> dict:
        """The fold's metrics (and, multilabel, its threshold and per-tag ROC-AUCs). ``untrained``: multilabel tags
        without a positive training clip, left out of the macro averages (listed in ``tags_untrained``)."""
        if not self.multilabel:
            with warnings.catch_warnings():  # a small test fold may lack a class the model predicts
                warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
                return {"accuracy": float(accuracy_score(truth, predicted)),
                        "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
                        "macro_f1": float(f1_score(truth, predicted, average="macro", labels=np.arange(n_classes),
                                                   zero_division=0))}
        tags = per_tag_roc_auc(truth, scores)
        untrained = np.asarray([] if untrained is None else untrained, dtype=int)
        tags[untrained] = np.nan
        if np.isnan(tags).all():
            raise RwbenchError("no tag has both positive and negative test clips (and a positive training clip) in this "
                               "fold: no AUC is defined")
        precision = per_tag(average_precision_score, np.asarray(truth), np.asarray(scores))
        precision[untrained] = np.nan
        return {"roc_auc_macro": float(np.nanmean(tags)), "pr_auc_macro": macro(precision),
                "micro_f1": float(f1_score(truth, scores >= threshold, average="micro", zero_division=0)),
                "threshold": float(threshold), "tags_scored": int(np.isfinite(tags).sum()),
                "per_tag_roc_auc": [None if np.isnan(v) else float(v) for v in tags],
                **({"tags_untrained": untrained.tolist()} if len(untrained) else {})}


TASK_TYPES = {
    "multiclass": TaskType("multiclass", ("accuracy", "balanced_accuracy", "macro_f1"), "accuracy",
                           "one label per clip; accuracy (balanced accuracy, macro F1)"),
    "multilabel": TaskType("multilabel", ("roc_auc_macro", "pr_auc_macro", "micro_f1"),
                           make_scorer(roc_auc_macro, response_method=("decision_function", "predict_proba")),
                           "a set of tags per clip; macro ROC-AUC (macro PR-AUC, micro F1 at a validated threshold)"),
}


METRIC_LABELS = {"accuracy": "accuracy", "roc_auc_macro": "macro ROC-AUC"}  # how figures and pages name them


def primary_metric(columns) -> str:
    """The metric a leaderboard table (its ``columns``) ranks on: ``accuracy`` or ``roc_auc_macro``."""
    return next((t.primary for t in TASK_TYPES.values() if f"{t.primary}_mean" in columns), "accuracy")


def task_type(name: str | None) -> TaskType:
    """The task type named ``name`` (``None``: multiclass, what results before task types were)."""
    try:
        return TASK_TYPES[name or "multiclass"]
    except KeyError:
        raise RwbenchError(f"unknown task type {name!r}; rwbench knows {', '.join(TASK_TYPES)}") from None


def fold_threshold(estimator: BaseEstimator, params: dict, X: np.ndarray, y: np.ndarray,
                   inner: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """The micro-F1 threshold for a multilabel fold, chosen on the inner validation sides: the selected setting is
    refit on each inner fit side, its scores on the validation clips pooled, and the best threshold kept."""
    truth, scores = [], []
    for fit, validate in inner:
        model = clone(estimator).set_params(**params).fit(X[fit], y[fit])
        truth.append(y[validate])
        scores.append(response(model, X[validate]))
    return choose_threshold(np.concatenate(truth), np.concatenate(scores))
