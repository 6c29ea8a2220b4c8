"""Task types: what a label is, which metrics score a fold, how a backend or a trained head is fitted to it, and
which paired test its per-clip outputs support. Each is an object (:class:`TaskType`); no other module branches on
which one it has.

``multiclass``: one label per clip. Folds record accuracy (primary), balanced accuracy and macro F1; the inner CV
selects on accuracy; a trained head minimises cross-entropy; per-clip outputs are correctness, compared by McNemar /
a paired permutation test.

``multilabel``: a set of tags per clip (``Clip.tags``), the targets an indicator matrix ``(clips, tags)``. Folds
record the macro ROC-AUC (primary, as in MagnaTagATune auto-tagging), the macro PR-AUC (average precision), micro F1
at a threshold chosen on the inner validation side (never on the test clips) and each tag's ROC-AUC. A macro
average runs over the tags that have both positive and negative test clips and a positive training clip (any other
tag has no AUC, or one no model learnt: it is left out, named in the fold's ``tags_untested`` / ``tags_untrained``
and under the leaderboard, not scored as 0.5; a tag on every training clip of a fold is still scored as its model
scores it, a constant). The inner CV selects on the macro ROC-AUC; a trained head minimises binary cross-entropy per
tag; two rows are compared by a paired bootstrap over clips. A backend whose estimator takes an indicator matrix itself
(the ELMs: one ridge solve for all tags) is used as it is; any other is wrapped in ``OneVsRestClassifier`` (one binary
estimator per tag), its grid keys prefixed ``estimator__``.

A third type (regression, retrieval) subclasses :class:`TaskType`, implements its abstract methods and is added with
:func:`register_task_type`; ``tests/test_task_types.py`` runs a regression type through the nested CV that way.
"""

from __future__ import annotations

import logging
import re
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy import special, stats
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
)
from sklearn.multiclass import OneVsRestClassifier

from .errors import DataError, RwbenchError
from .filehash import code_sha256

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from .datamodel import Clip, Dataset
    from .protocol import OuterSplit

log = logging.getLogger(__name__)

THRESHOLD_CANDIDATES = 99  # quantiles of the validation scores tried as the micro-F1 threshold
MULTILABEL_DRAWS = 500  # bootstrap draws over clips at most: each draw scores every seed's macro ROC-AUC


# -- metrics ------------------------------------------------------------------------------------------------------
def scorable_tags(truth: np.ndarray) -> np.ndarray:
    """The tags (columns) with both positive and negative clips: the ones an AUC is defined for."""
    positives = truth.sum(axis=0)
    return np.flatnonzero((positives > 0) & (positives < len(truth)))


def per_tag(metric: Callable[[np.ndarray, np.ndarray], float], truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
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


def choose_threshold(truth: np.ndarray, scores: np.ndarray, unseen: np.ndarray | None = None) -> float:
    """The score threshold that maximises micro F1 on (validation) clips; ties go to the lower threshold.
    ``unseen`` (a mask like ``scores``): scores of a tag its model had no positive clip of, never predicted (a
    one-vs-rest backend gives such a tag a constant 0 that a threshold below 0 would call positive on every clip)."""
    unseen = np.zeros(np.shape(scores), bool) if unseen is None else np.asarray(unseen, bool)
    seen = scores[~unseen] if (~unseen).any() else np.ravel(scores)
    candidates = np.unique(np.quantile(seen, np.linspace(0.01, 0.99, THRESHOLD_CANDIDATES)))
    f1 = [f1_score(truth, (scores >= t) & ~unseen, average="micro", zero_division=0) for t in candidates]
    return float(candidates[int(np.argmax(f1))])


def score_kind(model: BaseEstimator) -> str:
    """``decision_function`` when the model has one, else ``predict_proba``. A one-vs-rest model is asked through
    the estimator it wraps: its own ``hasattr`` answers for its first tag's fitted model, a constant predictor (with
    a ``decision_function``) where that tag has no positive training clip, whatever the estimator is (kNN)."""
    asked = model.estimator if isinstance(model, OneVsRestClassifier) else model
    return "decision_function" if hasattr(asked, "decision_function") else "predict_proba"


def response(model: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """Per-tag scores ``(clips, tags)`` by :func:`score_kind`."""
    return np.asarray(getattr(model, score_kind(model))(X), dtype=np.float64)


def roc_auc_scorer(model: BaseEstimator, X: np.ndarray, y: np.ndarray) -> float:
    """The inner search's score of a multilabel model: macro ROC-AUC of the per-tag scores its folds are rated on
    (not ``make_scorer``, which reads a 2-tag indicator as a binary target and keeps one column of predict_proba)."""
    return roc_auc_macro(y, response(model, X))


def class_scores(model: BaseEstimator, X: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """Per-class scores ``(clips, classes_)`` of a fitted classifier and their kind: ``decision_function`` when it
    has one, else ``predict_proba`` (a binary decision ``d`` becomes the columns ``(-d, d)``); (None, None) for a
    classifier with neither."""
    if hasattr(model, "decision_function"):
        scores, kind = np.asarray(model.decision_function(X), np.float64), "decision_function"
    elif hasattr(model, "predict_proba"):
        scores, kind = np.asarray(model.predict_proba(X), np.float64), "predict_proba"
    else:
        return None, None
    return (np.column_stack([-scores, scores]) if scores.ndim == 1 else scores), kind


# -- what a fold produces -----------------------------------------------------------------------------------------
@dataclass
class Outputs:
    """A fitted model's outputs on the test clips, before they are scored: ``predicted`` (multiclass: class index),
    ``scores`` per clip per class or tag with their ``score_kind`` (folds.SCORE_KINDS), and ``score_classes``,
    the class of each score column when it is not every class in order."""

    predicted: np.ndarray | None = None
    scores: np.ndarray | None = None
    score_kind: str | None = None
    score_classes: np.ndarray | None = None


@dataclass
class FoldRecord:
    """What a task type makes of a fold's outputs: its metrics (primary first), the truth and predictions as stored,
    the confusion matrix where one exists, and type-specific details (threshold, per-tag AUCs …)."""

    metrics: dict[str, float]
    truth: list[Any]
    predicted: list[int] | None = None
    confusion: list[list[int]] | None = None
    details: dict[str, Any] | None = None


class TaskType(ABC):
    """One kind of task. Class attributes: ``name``; ``metrics`` (recorded in every fold, the first primary; a
    metric added later is optional in older result files); ``scoring`` (the inner CV's selection score, a
    scikit-learn ``scoring``); ``description``; ``thresholded`` (a decision threshold is chosen on validation clips:
    :meth:`threshold`); ``votes`` (window predictions can be voted into a clip prediction); ``paired_clip_test``
    (the name of its paired test over clips in ``significance.PAIRED_CLIP_TESTS``), ``max_draws`` (bootstrap
    draws over clips at most, for costly clip scores) and ``metric_bounds`` (the range of its metrics). Every metric
    is higher-is-better, as rwbench ranks them (rank 1, "best", ρ): an error is stored negated (``neg_mae``), as
    scikit-learn's scorers do."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    scoring: ClassVar[str | Callable[..., float]]
    description: ClassVar[str]
    thresholded: ClassVar[bool] = False
    votes: ClassVar[bool] = False
    code_version: ClassVar[int] = 1  # bump when this type's scoring changes: its results and trainings are redone

    def code_key(self) -> dict[str, int | str]:
        """This type's part of result and training keys: its version past 1 (the keys of every result written before
        it had a version stay as they were) and, for a plugin's type, the sha256 of its code (an edited scoring or
        metric is never keyed as the old one; rwbench's own bump ``code_version``)."""
        key: dict[str, int | str] = {"task_code": self.code_version} if self.code_version > 1 else {}
        if (code := code_sha256(type(self))) is not None:
            key["task_type_code"] = code
        return key
    paired_clip_test: ClassVar[str]
    max_draws: ClassVar[int | None] = None
    metric_bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)  # every metric's range: a stored value outside is invalid

    @property
    def primary(self) -> str:
        return self.metrics[0]

    def __repr__(self) -> str:
        return f"<task type {self.name}>"

    # -- labels ---------------------------------------------------------------------------------------------------
    @abstractmethod
    def classes(self, clips: Sequence[Clip]) -> list[str]:
        """The sorted names a target's column ``i`` (or class index ``i``) stands for."""

    @abstractmethod
    def targets(self, clips: Sequence[Clip], classes: list[str]) -> np.ndarray:
        """Each clip's target, in the form the backends fit."""

    def check_clips(self, clips: Sequence[Clip], label: str) -> None:  # noqa: B027  (an optional hook)
        """Raise :class:`DataError` for clips this type cannot label (checked before anything else about them)."""

    @abstractmethod
    def check_dataset(self, dataset: Dataset) -> None:
        """Raise :class:`DataError` when the dataset's classes or protocol do not fit this type."""

    def check_splits(self, dataset: Dataset, splits: Sequence[OuterSplit],  # noqa: B027  (an optional hook)
                     partial: bool = False) -> None:
        """Raise :class:`DataError` when the outer splits cannot score this type fairly (a ``partial`` copy: warn
        and record it in ``dataset.info``)."""

    # -- backends -------------------------------------------------------------------------------------------------
    def estimator(self, build: Callable[[int], BaseEstimator], seed: int, native: bool) -> BaseEstimator:
        """The backend's estimator for this task (``native``: the backend fits this type's targets itself)."""
        return build(seed)

    def grid(self, grid: list[dict[str, Any]], native: bool) -> list[dict[str, Any]]:
        """The backend's grid, keyed for :meth:`estimator`'s estimator."""
        return grid

    def fits(self, n_inner: int, n_classes: int, native: bool) -> tuple[int, int]:
        """(extra fits per outer split, fits per counted fit): what :meth:`threshold` and one-vs-rest add to a
        nested CV's grid fits and refit."""
        return 0, 1

    def one_fit_target(self, y: np.ndarray, native: bool) -> np.ndarray:
        """The target one counted fit sees (for timing it)."""
        return y

    @abstractmethod
    def outputs(self, model: BaseEstimator, X: np.ndarray) -> Outputs:
        """A fitted backend's outputs on clips ``X``."""

    def validation_scores(self, model: BaseEstimator, X: np.ndarray) -> np.ndarray:
        """The scores :meth:`threshold` is chosen on."""
        scores = self.outputs(model, X).scores
        if scores is None:
            raise RwbenchError(f"task type {self.name}: the model gives no scores to choose a threshold on")
        return scores

    def threshold(self, truth: np.ndarray, scores: np.ndarray, unseen: np.ndarray | None = None) -> float | None:
        """The decision threshold chosen on validation clips (``thresholded`` types; else None); ``unseen``: see
        :func:`choose_threshold`."""
        return None

    # -- folds ----------------------------------------------------------------------------------------------------
    @abstractmethod
    def fold_record(self, truth: np.ndarray, outputs: Outputs, n_classes: int, *, threshold: float | None = None,
                    untrained: np.ndarray | None = None) -> FoldRecord:
        """The fold's metrics and stored outputs. ``untrained``: target columns without a positive training clip
        (see :meth:`untrained`), left out of macro averages."""

    def stored_metrics(self, fold: dict[str, Any]) -> dict[str, float]:
        """Every metric a stored fold's per-clip outputs give, as :meth:`fold_record` scored them; empty where the
        fold lacks what that takes (then its primary metric alone is checked, by :meth:`clip_score`)."""
        return {}

    def untrained(self, train_truth: np.ndarray | None) -> np.ndarray:
        """Target columns no model could learn from ``train_truth`` (the fold's training targets)."""
        return np.array([], dtype=int)

    # -- trained heads (rwbench.train) ------------------------------------------------------------------------------
    @abstractmethod
    def head_loss(self) -> torch.nn.Module:
        """The loss a trained head minimises (on logits)."""

    def head_targets(self, labels: torch.Tensor) -> torch.Tensor:
        """:meth:`targets` as :meth:`head_loss` takes them."""
        return labels

    @abstractmethod
    def head_outputs(self, logits: np.ndarray) -> Outputs:
        """A trained head's outputs from its logits."""

    @abstractmethod
    def head_score(self, logits: np.ndarray, truth: np.ndarray) -> float:
        """The validation score of a head's logits (the primary metric or its cheap equivalent; NaN: undefined)."""

    # -- per-clip outputs (rwbench.analysis.significance) ----------------------------------------------------------------------
    clip_fields: ClassVar[tuple[str, ...]]  # fold fields the per-clip outputs are read from

    @abstractmethod
    def clip_output(self, fold: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(truth, output) of a stored fold's test clips, in the stored order."""

    @abstractmethod
    def clip_score(self, truth: np.ndarray, outputs: np.ndarray, picks: np.ndarray) -> np.ndarray:
        """The fold metric on the clips ``picks`` (``(draws, n)`` indices) of ``outputs`` (seeds first), averaged
        over seeds: ``(draws,)``."""


class Multiclass(TaskType):
    name = "multiclass"
    metrics = ("accuracy", "balanced_accuracy", "macro_f1")
    scoring = "accuracy"
    description = "one label per clip; accuracy (balanced accuracy, macro F1)"
    votes = True
    paired_clip_test = "correctness"
    clip_fields = ("test_clips", "truth", "predicted")

    def classes(self, clips: Sequence[Clip]) -> list[str]:
        return sorted({c.label for c in clips})

    def targets(self, clips: Sequence[Clip], classes: list[str]) -> np.ndarray:
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index[c.label] for c in clips])

    def check_dataset(self, dataset: Dataset) -> None:
        counts = Counter(c.label for c in dataset.clips)
        if len(counts) < 2:
            raise DataError(f"{dataset.key}: all {len(dataset.clips)} clips have the label "
                            f"{next(iter(counts), '')!r}; a classification task needs at least two classes")
        k = getattr(dataset.protocol, "k", None)
        short = {label: n for label, n in sorted(counts.items()) if k and n < k}
        if short:
            listed = ", ".join(f"{label!r} ({n})" for label, n in list(short.items())[:5])
            fewest = min(short.values())
            lower = (f"lower k (--dataset-option k={fewest}), " if fewest >= 3 else
                     "(k cannot go below 3: nested cross-validation needs 3 folds or more, so each class 3 clips) ")
            raise DataError(f"{dataset.key}: protocol {dataset.protocol.id} puts each class in all {k} folds, but "
                            f"{len(short)} class(es) have fewer clips: {listed}; add clips, {lower}or drop the class")

    def check_splits(self, dataset: Dataset, splits: Sequence[OuterSplit], partial: bool = False) -> None:
        """A class tested in a split whose training side has none of it is always predicted wrong: the fold's
        accuracy would fall by its clips, with no word (user folds, a folds file, a manifest's split). Refused; in a
        ``partial`` copy (some of a class's files absent) warned about and recorded as ``untrained_test_clips``. An inner
        fit part of one class is refused (no classifier fits it)."""
        labels = np.array([c.label for c in dataset.clips])
        untrained = {}
        for split in splits:
            unseen = sorted(set(labels[split.test].tolist()) - set(labels[split.train].tolist()))
            if not unseen:
                continue
            n = int(np.isin(labels[split.test], unseen).sum())
            what = (f"{dataset.key}: {split.name} tests {n} clip(s) of {len(unseen)} class(es) that no clip of its "
                    f"training side has ({', '.join(map(repr, unseen[:5]))}): no backend can predict them, and the "
                    f"fold's score counts them wrong")
            if not partial:
                raise DataError(f"{what}. Put every class in the training side of every split (in at least two "
                                f"folds), or drop those clips")
            log.warning("%s (a partial copy; recorded in the result as untrained_test_clips)", what)
            untrained[split.name] = {"clips": n, "classes": unseen}
        if untrained:
            dataset.info["untrained_test_clips"] = untrained
        for split in splits:  # a backend fitted on one class fails on every grid setting, after all the embedding
            for i, (fit, _) in enumerate(split.inner, start=1):
                if len(present := set(labels[fit].tolist())) < 2:
                    raise DataError(f"{dataset.key}: {split.name}'s inner fit part {i} holds {len(fit)} clip(s), all "
                                    f"of class {next(iter(present), '')!r}: a classifier needs two classes to fit. "
                                    "Spread every class over more folds (a folds file or manifest), or drop the "
                                    "class")

    def outputs(self, model: BaseEstimator, X: np.ndarray) -> Outputs:
        scores, kind = class_scores(model, X)
        return Outputs(model.predict(X), scores, kind, getattr(model, "classes_", None))

    def fold_record(self, truth: np.ndarray, outputs: Outputs, n_classes: int, *, threshold: float | None = None,
                    untrained: np.ndarray | None = None) -> FoldRecord:
        predicted = np.asarray(outputs.predicted)
        with warnings.catch_warnings():  # a small test fold may lack a class the model predicts
            warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
            metrics = {"accuracy": float(accuracy_score(truth, predicted)),
                       "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
                       # over the classes in the fold's truth or predictions (scikit-learn's default): a class
                       # absent from both has no F1, not an F1 of 0
                       "macro_f1": float(f1_score(truth, predicted, average="macro",
                                                  labels=np.union1d(truth, predicted), zero_division=0))}
        return FoldRecord(metrics, [int(t) for t in truth], [int(p) for p in predicted],
                          confusion_matrix(truth, predicted, labels=np.arange(n_classes)).tolist())

    def stored_metrics(self, fold: dict[str, Any]) -> dict[str, float]:
        truth, predicted = np.asarray(fold["truth"], dtype=int), np.asarray(fold["predicted"], dtype=int)
        n_classes = len(fold.get("confusion") or []) or int(max(truth.max(), predicted.max())) + 1
        return self.fold_record(truth, Outputs(predicted=predicted), n_classes).metrics

    def head_loss(self) -> torch.nn.Module:
        from torch import nn

        return nn.CrossEntropyLoss()

    def head_outputs(self, logits: np.ndarray) -> Outputs:
        logits = np.asarray(logits, np.float64)
        return Outputs(logits.argmax(1), special.softmax(logits, axis=1), "softmax")

    def head_score(self, logits: np.ndarray, truth: np.ndarray) -> float:
        return float((np.asarray(logits).argmax(1) == np.asarray(truth)).mean())

    def clip_output(self, fold: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        truth = np.asarray(fold["truth"])
        return truth, (np.asarray(fold["predicted"]) == truth).astype(float)

    def clip_score(self, truth: np.ndarray, outputs: np.ndarray, picks: np.ndarray) -> np.ndarray:
        return np.asarray(outputs.mean(axis=0)[picks].mean(axis=-1))


class Multilabel(TaskType):
    name = "multilabel"
    code_version = 3  # 2: a tag without a positive training clip is never predicted, nor in the threshold's choice;
    # 3: the threshold rounded as the stored scores are (a test score equal to it was rounded below it)
    metrics = ("roc_auc_macro", "pr_auc_macro", "micro_f1")
    scoring = staticmethod(roc_auc_scorer)
    description = "a set of tags per clip; macro ROC-AUC (macro PR-AUC, micro F1 at a validated threshold)"
    thresholded = True
    paired_clip_test = "bootstrap"
    max_draws = MULTILABEL_DRAWS
    clip_fields = ("test_clips", "truth", "scores")

    def classes(self, clips: Sequence[Clip]) -> list[str]:
        return sorted({tag for c in clips for tag in c.tags})

    def targets(self, clips: Sequence[Clip], classes: list[str]) -> np.ndarray:
        index = {c: i for i, c in enumerate(classes)}
        targets = np.zeros((len(clips), len(index)), dtype=np.int64)
        for row, clip in enumerate(clips):
            targets[row, [index[t] for t in clip.tags]] = 1
        return targets

    def check_clips(self, clips: Sequence[Clip], label: str) -> None:
        untagged = [c for c in clips if not c.tags]
        if untagged:
            raise DataError(f"{label}: {len(untagged)} clip(s) of a multilabel task have no tag (first: "
                            f"{untagged[0].path or untagged[0].id})")

    def check_dataset(self, dataset: Dataset) -> None:
        if len(dataset.classes) < 2:
            raise DataError(f"{dataset.key}: a multilabel task needs at least two tags, found {dataset.classes}")
        if getattr(dataset.protocol, "k", None):
            raise DataError(f"{dataset.key}: protocol {dataset.protocol.id} stratifies one label per clip; a multilabel "
                            "task needs predefined folds or a train/valid/test split")

    def estimator(self, build: Callable[[int], BaseEstimator], seed: int, native: bool) -> BaseEstimator:
        estimator = build(seed)
        return estimator if native else OneVsRestClassifier(estimator)

    def grid(self, grid: list[dict[str, Any]], native: bool) -> list[dict[str, Any]]:
        return grid if native else [{f"estimator__{key}": values for key, values in part.items()} for part in grid]

    def fits(self, n_inner: int, n_classes: int, native: bool) -> tuple[int, int]:
        return n_inner, 1 if native else n_classes  # the threshold's refit per inner fold; one fit per tag

    def one_fit_target(self, y: np.ndarray, native: bool) -> np.ndarray:
        return y if native else np.asarray(y[:, int(np.argmin(np.abs(y.mean(axis=0) - 0.5)))])  # the most balanced tag

    def outputs(self, model: BaseEstimator, X: np.ndarray) -> Outputs:
        return Outputs(scores=response(model, X), score_kind=score_kind(model))

    def threshold(self, truth: np.ndarray, scores: np.ndarray, unseen: np.ndarray | None = None) -> float | None:
        return choose_threshold(truth, scores, unseen)

    def untrained(self, train_truth: np.ndarray | None) -> np.ndarray:
        """Tags without a positive training clip: never predicted, left out of the macro averages. (A tag on every
        training clip keeps the model's own, constant prediction.)"""
        if train_truth is None:
            return np.array([], dtype=int)
        return np.flatnonzero(np.asarray(train_truth).sum(axis=0) == 0)

    def fold_record(self, truth: np.ndarray, outputs: Outputs, n_classes: int, *, threshold: float | None = None,
                    untrained: np.ndarray | None = None) -> FoldRecord:
        if threshold is None:
            raise RwbenchError("a multilabel fold is scored at a threshold chosen on its validation clips; none given")
        scores = np.asarray(outputs.scores)
        tags = per_tag_roc_auc(truth, scores)
        untrained = np.asarray([] if untrained is None else untrained, dtype=int)
        tags[untrained] = np.nan
        if np.isnan(tags).all():
            raise RwbenchError("no tag has both positive and negative test clips (and a positive training clip) in this "
                               "fold: no AUC is defined")
        precision = per_tag(average_precision_score, np.asarray(truth), scores)
        precision[untrained] = np.nan
        predicted = scores >= threshold
        predicted[:, untrained] = False  # a tag without a positive training clip is never predicted; its test
        # positives stay in the count (missed), so micro F1 does not rise by leaving it out
        metrics = {"roc_auc_macro": float(np.nanmean(tags)), "pr_auc_macro": macro(precision),
                   "micro_f1": float(f1_score(truth, predicted, average="micro", zero_division=0))}
        untested = np.setdiff1d(np.flatnonzero(np.isnan(tags)), untrained)
        details = {"threshold": float(threshold), "tags_scored": int(np.isfinite(tags).sum()),
                   "per_tag_roc_auc": [None if np.isnan(v) else float(v) for v in tags],
                   **({"tags_untrained": untrained.tolist()} if len(untrained) else {}),
                   **({"tags_untested": untested.tolist()} if len(untested) else {})}
        return FoldRecord(metrics, np.asarray(truth).astype(int).tolist(), details=details)

    def stored_metrics(self, fold: dict[str, Any]) -> dict[str, float]:
        if fold.get("threshold") is None:  # micro F1 is scored at the fold's threshold
            return {}
        return self.fold_record(np.asarray(fold["truth"]), Outputs(scores=np.asarray(fold["scores"], dtype=float)), 0,
                                threshold=fold["threshold"], untrained=fold.get("tags_untrained")).metrics

    def head_loss(self) -> torch.nn.Module:
        from torch import nn

        return nn.BCEWithLogitsLoss()

    def head_targets(self, labels: torch.Tensor) -> torch.Tensor:
        return labels.float()

    def head_outputs(self, logits: np.ndarray) -> Outputs:
        return Outputs(scores=special.expit(np.asarray(logits, np.float64)), score_kind="sigmoid")

    def head_score(self, logits: np.ndarray, truth: np.ndarray) -> float:
        auc = per_tag_roc_auc(truth, logits)
        return float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan")

    def clip_output(self, fold: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """A tag without a positive training clip is out of the macro, as in the fold's metric."""
        scores = np.asarray(fold["scores"], dtype=float)
        truth = np.asarray(fold["truth"], dtype=float)
        if truth.ndim != 2 or truth.shape[1] != scores.shape[1]:
            raise ValueError("multilabel truth is not a (clips, tags) indicator matrix")
        kept = np.setdiff1d(np.arange(scores.shape[1]), fold.get("tags_untrained", []))
        return truth[:, kept], scores[:, kept]

    def clip_score(self, truth: np.ndarray, outputs: np.ndarray, picks: np.ndarray) -> np.ndarray:
        def auc(p: np.ndarray, seed: np.ndarray) -> float:
            values = per_tag_roc_auc(truth[p], seed[p])
            return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan

        return np.array([np.mean([auc(p, seed) for seed in outputs]) for p in picks])


TASK_TYPES: dict[str, TaskType] = {}


LOWER_IS_BETTER = re.compile(r"(^|_)(mae|mse|rmse|error|err|loss|eer|wer|cer|distance)($|_)")  # unless neg_…


def register_task_type(kind: TaskType) -> TaskType:
    """Add a task type (an instance of a :class:`TaskType` subclass) under its name; one whose metric reads as an
    error (``mae``, ``loss``, ...) is refused: rwbench ranks every metric higher-is-better."""
    if errors := [m for m in kind.metrics if LOWER_IS_BETTER.search(m) and not m.startswith("neg_")]:
        raise RwbenchError(f"task type {kind.name!r}: metric(s) {errors} read as lower-is-better, and rwbench ranks "
                           f"every metric higher-is-better (rank 1, 'best', ρ, the significance tests): store each "
                           f"negated and named neg_<metric> (neg_{errors[0]}), as scikit-learn's scorers do")
    if kind.name in TASK_TYPES:  # the same class defined again (a notebook cell run twice) replaces the old one
        old, new = (f"{type(k).__module__}.{type(k).__qualname__}" for k in (TASK_TYPES[kind.name], kind))
        if old != new:
            raise RwbenchError(f"task type {kind.name!r} of {new} is already registered by {old}: choose another name")
    TASK_TYPES[kind.name] = kind
    return kind


register_task_type(Multiclass())
register_task_type(Multilabel())

METRIC_LABELS = {"accuracy": "accuracy", "roc_auc_macro": "macro ROC-AUC"}  # how figures and pages name them


def metric_label(metric: str) -> str:
    """How figures and pages name ``metric`` (a plugin type's: its name, spaced)."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))

# a second headline metric shown beside the ranked one (multilabel: ROC-AUC and PR-AUC, macro, as the spec asks)
SECOND_HEADLINE = {"roc_auc_macro": ("pr_auc_macro", "macro PR-AUC")}


def primary_metric(table: pd.DataFrame | Container[str]) -> str:
    """The metric a leaderboard ``table`` (or its columns) ranks on: the primary metric of a task type whose results
    it holds (``accuracy``, ``roc_auc_macro``, a plugin type's; in a table, a column with values), not one that is
    another present type's secondary metric (a plugin type recording ``accuracy`` beside its own primary)."""
    import pandas as pd

    def holds(column: str) -> bool:
        if isinstance(table, pd.DataFrame):
            return column in table.columns and bool(table[column].notna().any())
        return column in table

    present = [t for t in TASK_TYPES.values() if holds(f"{t.primary}_mean")]
    secondary = {m for t in present for m in t.metrics[1:]}
    return next((t.primary for t in present if t.primary not in secondary), present[0].primary if present else "accuracy")


def task_type(name: str | None) -> TaskType:
    """The task type named ``name`` (``None``: multiclass, what results before task types were)."""
    try:
        return TASK_TYPES[name or "multiclass"]
    except KeyError:
        raise RwbenchError(f"unknown task type {name!r}; rwbench knows {', '.join(TASK_TYPES)}") from None


def fold_threshold(task: TaskType, estimator: BaseEstimator, params: dict[str, Any], X: np.ndarray, y: np.ndarray,
                   inner: list[tuple[np.ndarray, np.ndarray]]) -> float | None:
    """A thresholded task's decision threshold for a fold, chosen on the inner validation sides: the selected
    setting is refit on each inner fit side, its scores on the validation clips pooled, and the best threshold kept.
    None for a type without one."""
    if not task.thresholded:
        return None
    truth: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    unseen: list[np.ndarray] = []
    for fit, validate in inner:
        model = clone(estimator).set_params(**params).fit(X[fit], y[fit])
        truth.append(y[validate])
        scores.append(task.validation_scores(model, X[validate]))
        unseen.append(np.zeros(scores[-1].shape, bool))
        unseen[-1][:, task.untrained(y[fit])] = True
    return task.threshold(np.concatenate(truth), np.concatenate(scores), np.concatenate(unseen))
