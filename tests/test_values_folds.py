"""Values of the fold record (rwbench.folds): what fold_result stores and scores, pinned against scikit-learn on the
stored (rounded) outputs, and the flat dict it is written as, read back exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)

from rwbench.folds import SCORE_KINDS, FoldResult, fold_result, round_scores
from rwbench.tasks import TASK_TYPES, Outputs

COMMON = dict(best_params={"clf__C": 2.0}, selection_score=0.75, fit_seconds=1.5)


def _multiclass(score_classes=None, scores=True, score_kind="decision_function", grid_edge=None):
    rng = np.random.default_rng(3)
    truth = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    raw = rng.normal(size=(8, 3)) + 2 * np.eye(3)[truth] + 1e-8
    predicted = raw.argmax(axis=1)
    outputs = Outputs(predicted, raw if scores else None, score_kind, score_classes)
    fold = fold_result(TASK_TYPES["multiclass"], name="fold2", n_train=np.int64(16), clips=np.arange(10, 18),
                       truth=truth, n_classes=3, outputs=outputs, grid_edge=grid_edge, **COMMON)
    return fold, truth, predicted, raw


def test_multiclass_fold_holds_sklearn_metrics_and_every_output():
    fold, truth, predicted, raw = _multiclass(score_classes=np.arange(3), grid_edge={"clf__C": "high"})
    assert fold.metrics == pytest.approx({"accuracy": accuracy_score(truth, predicted),
                                          "balanced_accuracy": balanced_accuracy_score(truth, predicted),
                                          "macro_f1": f1_score(truth, predicted, average="macro")})
    assert list(fold.metrics) == ["accuracy", "balanced_accuracy", "macro_f1"]
    assert fold.accuracy == fold.metrics["accuracy"]  # metrics read as attributes
    with pytest.raises(AttributeError, match="roc_auc_macro"):
        _ = fold.roc_auc_macro
    assert (fold.name, fold.n_train, fold.n_test) == ("fold2", 16, 8) and type(fold.n_train) is int
    assert (fold.best_params, fold.selection_score, fold.fit_seconds) == ({"clf__C": 2.0}, 0.75, 1.5)
    assert fold.confusion == confusion_matrix(truth, predicted, labels=[0, 1, 2]).tolist()
    assert fold.test_clips == list(range(10, 18)) and all(type(c) is int for c in fold.test_clips)
    assert fold.truth == truth.tolist() and fold.predicted == predicted.tolist()
    assert fold.scores == round_scores(raw).tolist() and fold.scores != raw.tolist()
    assert fold.score_kind == "decision_function"
    assert fold.score_classes is None  # every class in order is not stored
    assert fold.grid_edge == {"clf__C": "high"} and fold.details == {}


def test_a_subset_of_score_classes_is_stored_and_no_scores_store_no_score_fields():
    fold, *_ = _multiclass(score_classes=np.array([0, 2]))
    assert fold.score_classes == [0, 2] and all(type(c) is int for c in fold.score_classes)
    fold, truth, predicted, _ = _multiclass(scores=False, score_kind="softmax")
    assert fold.scores is None and fold.score_kind is None and fold.score_classes is None
    assert fold.accuracy == pytest.approx(accuracy_score(truth, predicted))
    assert not {"scores", "score_kind", "score_classes", "grid_edge"} & set(fold.to_dict())


def test_multiclass_fold_dict_is_flat_and_reads_back():
    fold, truth, predicted, raw = _multiclass(score_classes=np.array([2, 0, 1]))
    data = fold.to_dict()
    assert list(data) == ["name", "n_train", "n_test", "accuracy", "balanced_accuracy", "macro_f1", "best_params",
                          "selection_score", "fit_seconds", "confusion", "test_clips", "truth", "predicted",
                          "score_kind", "score_classes", "scores"]
    assert data["accuracy"] == accuracy_score(truth, predicted) and data["score_classes"] == [2, 0, 1]
    back = FoldResult.from_dict(data)
    assert back == fold and back.to_dict() == data
    assert back.metrics == fold.metrics and back.details == {}


def _multilabel():
    truth = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]])
    # tag 0: two scores that only tie once rounded to 6 digits, so its AUC differs between raw and stored scores
    raw = np.array([[0.91234561, 0.2, 0.1, 0.7], [0.91234564, 0.8, 0.2, 0.4], [0.6, 0.9, 0.3, 0.1],
                    [0.3, 0.3, 0.4, 0.9], [0.5, 0.1, 0.5, 0.2], [0.4, 0.6, 0.6, 0.3]])
    train_truth = np.array([[1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 1]])  # tag 2: no positive training clip
    fold = fold_result(TASK_TYPES["multilabel"], name="test", n_train=3, clips=[0, 1, 2, 3, 4, 5], truth=truth,
                       n_classes=4, outputs=Outputs(scores=raw, score_kind="sigmoid"), threshold=0.5,
                       train_truth=train_truth, **COMMON)
    return fold, truth, raw


def test_multilabel_fold_scores_the_stored_scores_without_untrained_tags():
    fold, truth, raw = _multilabel()
    stored = round_scores(raw)
    assert stored[0, 0] == stored[1, 0] and roc_auc_score(truth[:, 0], stored[:, 0]) != roc_auc_score(truth[:, 0],
                                                                                                   raw[:, 0])
    aucs = [roc_auc_score(truth[:, t], stored[:, t]) for t in (0, 1, 3)]  # tag 2: untrained (and no positive)
    precisions = [average_precision_score(truth[:, t], stored[:, t]) for t in (0, 1, 3)]
    assert fold.metrics == pytest.approx({"roc_auc_macro": np.mean(aucs), "pr_auc_macro": np.mean(precisions),
                                          "micro_f1": f1_score(truth, (stored >= 0.5) & (np.arange(4) != 2),
                                                               average="micro")})  # tag 2: never predicted
    assert fold.details["per_tag_roc_auc"] == pytest.approx([aucs[0], aucs[1], None, aucs[2]])
    assert fold.details["per_tag_roc_auc"][2] is None
    assert fold.details["tags_untrained"] == [2] and fold.details["threshold"] == 0.5
    assert fold.details["tags_scored"] == 3
    assert fold.truth == truth.tolist() and fold.predicted is None and fold.confusion is None
    assert fold.scores == stored.tolist() and fold.score_kind == "sigmoid" and fold.n_test == 6


def test_an_untrained_tag_with_test_positives_is_left_out_of_the_macro():
    truth = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.2, 0.1], [0.2, 0.8, 0.3], [0.6, 0.7, 0.9], [0.1, 0.3, 0.8]])
    train_truth = np.array([[1, 1, 0], [0, 1, 0]])  # tag 2 has test positives but no training positive
    fold = fold_result(TASK_TYPES["multilabel"], name="f", n_train=2, clips=np.arange(4), truth=truth, n_classes=3,
                       outputs=Outputs(scores=scores, score_kind="sigmoid"), threshold=0.5, train_truth=train_truth,
                       **COMMON)
    assert fold.roc_auc_macro == pytest.approx(np.mean([roc_auc_score(truth[:, t], scores[:, t]) for t in (0, 1)]))
    assert fold.roc_auc_macro != pytest.approx(np.mean([roc_auc_score(truth[:, t], scores[:, t]) for t in range(3)]))
    assert fold.details["tags_untrained"] == [2] and fold.details["tags_scored"] == 2


def test_multilabel_fold_dict_keeps_details_flat_and_reads_back():
    fold, _, _ = _multilabel()
    data = fold.to_dict()
    assert {"threshold", "tags_scored", "per_tag_roc_auc", "tags_untrained", "roc_auc_macro"} <= set(data)
    assert "details" not in data and "metrics" not in data and "predicted" not in data
    back = FoldResult.from_dict(data)
    assert back.metrics == fold.metrics and list(back.metrics) == ["roc_auc_macro", "pr_auc_macro", "micro_f1"]
    assert back.details == fold.details and back.details["tags_untrained"] == [2]
    assert back == fold and back.to_dict() == data


def test_a_multilabel_fold_needs_its_threshold():
    truth = np.array([[1, 0], [0, 1], [1, 1]])
    with pytest.raises(Exception, match="threshold"):
        fold_result(TASK_TYPES["multilabel"], name="f", n_train=3, clips=[0, 1, 2], truth=truth, n_classes=2,
                    outputs=Outputs(scores=np.eye(3, 2), score_kind="sigmoid"), **COMMON)


def test_score_kinds_and_rounding():
    assert set(SCORE_KINDS) == {"decision_function", "predict_proba", "softmax", "sigmoid", "majority_votes",
                                "mean_predict_proba", "mean_decision_function"}
    values = np.array([[3.14159265, -2.71828183e-7], [123456789.0, 0.5]])
    expected = [[float(np.format_float_positional(v, precision=6, unique=False, fractional=False)) for v in row]
                for row in values]
    assert round_scores(values).tolist() == expected == [[3.14159, -2.71828e-7], [123457000.0, 0.5]]
    assert round_scores(values).shape == (2, 2)
