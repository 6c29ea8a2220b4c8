"""Every stored fold metric can be recomputed from the stored per-clip outputs, with independent scikit-learn code,
for each producer (random-weight runs with svm and elm, segment voting, trained heads, a transfer row) and each
task type (multiclass, multilabel). Small runs on the toy front-end and datasets."""

from __future__ import annotations

import dataclasses
import json

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
from toy import TINY, chord_dataset, tone_dataset

from rwbench.backends import BACKENDS
from rwbench.fitting import TrainOptions
from rwbench.pipeline import RunOptions, run
from rwbench.results import SCHEMA_VERSION, iter_results
from rwbench.train import train_all

EXACT = 1e-9
SMALL_GRIDS = {  # the real backends on a few settings of their grids, for speed
    "svm": [{"clf__kernel": ["rbf"], "clf__gamma": ["scale", 2.0**-5], "clf__C": [2.0, 32.0]},
            {"clf__kernel": ["linear"], "clf__C": [0.1, 2.0]}],
    "elm": [{"clf__n_hidden": [50, 200], "clf__alpha": [1e-2, 1.0]}],
}


def backend(name: str):
    spec = BACKENDS.get(name)
    named = {"grids": None, "grid_name": None} if hasattr(spec, "grids") else {}  # one grid: --grid keeps it
    return dataclasses.replace(spec, grid=SMALL_GRIDS[name], **named)


ARGMAX_IS_PREDICTED = {"softmax", "mean_decision_function", "mean_predict_proba"}


def recompute_multiclass(fold: dict, n_classes: int) -> dict:
    truth, predicted = np.asarray(fold["truth"]), np.asarray(fold["predicted"])
    assert len(truth) == len(predicted) == len(fold["test_clips"]) == fold["n_test"]
    assert len(set(fold["test_clips"])) == fold["n_test"]
    scores = np.asarray(fold["scores"])
    columns = fold.get("score_classes", list(range(n_classes)))
    assert scores.shape == (len(truth), len(columns))
    if fold["score_kind"] == "majority_votes":  # a tie of votes is settled by mean window scores: one of the tied
        assert (scores[np.arange(len(predicted)), predicted] == scores.max(1)).all()
    elif fold["score_kind"] in ARGMAX_IS_PREDICTED or fold["score_kind"] == "decision_function":
        agree = np.mean(np.asarray(columns)[scores.argmax(1)] == predicted)
        # SVC's one-vs-rest-shaped decision values come from its one-vs-one votes: argmax may differ on ties
        assert agree == 1.0 or (fold["score_kind"] == "decision_function" and agree >= 0.9), agree
    assert fold["confusion"] == confusion_matrix(truth, predicted, labels=range(n_classes)).tolist()
    return {"accuracy": accuracy_score(truth, predicted),
            "balanced_accuracy": balanced_accuracy_score(truth, predicted),
            "macro_f1": f1_score(truth, predicted, average="macro", labels=range(n_classes), zero_division=0)}


def recompute_multilabel(fold: dict, n_tags: int) -> dict:
    truth, scores = np.asarray(fold["truth"]), np.asarray(fold["scores"])
    assert truth.shape == scores.shape == (fold["n_test"], n_tags) == (len(fold["test_clips"]), n_tags)
    assert set(np.unique(truth)) <= {0, 1}
    untrained = set(fold.get("tags_untrained", []))  # no positive training clip: out of the macro averages
    per_tag = [roc_auc_score(truth[:, t], scores[:, t]) if 0 < truth[:, t].sum() < len(truth) and t not in untrained
               else None for t in range(n_tags)]
    scored = [t for t in range(n_tags) if per_tag[t] is not None]
    assert fold["tags_scored"] == len(scored)
    assert all((a is None and b is None) or abs(a - b) <= EXACT for a, b in zip(per_tag, fold["per_tag_roc_auc"]))
    return {"roc_auc_macro": np.mean([per_tag[t] for t in scored]),
            "pr_auc_macro": np.mean([average_precision_score(truth[:, t], scores[:, t]) for t in scored]),
            "micro_f1": f1_score(truth, scores >= fold["threshold"], average="micro", zero_division=0)}


def check_recomputable(record: dict) -> dict[str, float]:
    """Assert every fold metric equals its recomputation (to 1e-9); returns the largest difference per metric."""
    assert record["schema_version"] == SCHEMA_VERSION
    multilabel = record["dataset"].get("task_type") == "multilabel"
    n = len(record["dataset"]["classes"])
    worst: dict[str, float] = {}
    for fold in record["folds"]:
        again = recompute_multilabel(fold, n) if multilabel else recompute_multiclass(fold, n)
        for metric, value in again.items():
            worst[metric] = max(worst.get(metric, 0.0), abs(fold[metric] - value))
            assert fold[metric] == pytest.approx(value, abs=EXACT), (metric, fold["name"])
    for metric in worst:
        assert record["summary"][f"{metric}_mean"] == pytest.approx(np.mean([f[metric] for f in record["folds"]]),
                                                                    abs=EXACT)
    return worst


def _records(root) -> dict[tuple[str, str], dict]:
    return {(r.frontend["weights"], r.backend["name"]): r.to_json() for r in iter_results(root, strict=True)}


QUICK_TRAIN = dict(device="cpu", workers=0, epochs=2, patience=2, batch_size=8)


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory):
    """tones: svm, elm and knn on random weights; a trained head; the transfer row (svm on the trained weights)."""
    root = tmp_path_factory.mktemp("recompute-multiclass")
    train_all([tone_dataset()], [TINY], TrainOptions(results_dir=root, **QUICK_TRAIN))
    run([tone_dataset()], [TINY], [backend("svm"), backend("elm"), BACKENDS.get("knn")],
        RunOptions(results_dir=root, device="cpu", workers=0, weights=["random"]))
    run([tone_dataset()], [TINY], [backend("svm")],
        RunOptions(results_dir=root, device="cpu", workers=0, weights=["trained"]))
    return _records(root)


@pytest.fixture(scope="module")
def multilabel(tmp_path_factory):
    """chords: svm and elm on random weights; a trained head."""
    root = tmp_path_factory.mktemp("recompute-multilabel")
    train_all([chord_dataset()], [TINY], TrainOptions(results_dir=root, **QUICK_TRAIN))
    run([chord_dataset()], [TINY], [backend("svm"), backend("elm")],
        RunOptions(results_dir=root, device="cpu", workers=0))
    return _records(root)


@pytest.mark.parametrize("row, kind", [
    (("random", "svm"), "decision_function"), (("random", "elm"), "decision_function"),
    (("random", "knn"), "predict_proba"), (("trained", "head"), "softmax"), (("trained", "svm"), "decision_function"),
])
def test_multiclass_fold_metrics_are_recomputed_from_the_stored_outputs(multiclass, row, kind):
    record = multiclass[row]
    assert {f["score_kind"] for f in record["folds"]} == {kind}
    worst = check_recomputable(record)
    assert set(worst) == {"accuracy", "balanced_accuracy", "macro_f1"}
    if row[1] != "head":
        assert all("grid_edge" in f for f in record["folds"])
    if kind in ("softmax", "predict_proba"):
        assert all(abs(sum(p) - 1) < 1e-4 for f in record["folds"] for p in f["scores"])  # probabilities


@pytest.mark.parametrize("row, kind", [
    (("random", "svm"), "decision_function"), (("random", "elm"), "decision_function"), (("trained", "head"), "sigmoid"),
])
def test_multilabel_fold_metrics_are_recomputed_from_the_stored_outputs(multilabel, row, kind):
    record = multilabel[row]
    assert {f["score_kind"] for f in record["folds"]} == {kind}
    assert set(check_recomputable(record)) == {"roc_auc_macro", "pr_auc_macro", "micro_f1"}
    assert all("predicted" not in f and "confusion" not in f for f in record["folds"])


@pytest.mark.parametrize("aggregate, name, kind", [
    ("majority", "elm", "majority_votes"), ("probability", "svm", "mean_decision_function"),
])
def test_voted_fold_metrics_are_recomputed_from_the_outputs_stored_per_clip_after_the_vote(tmp_path, aggregate,
                                                                                             name, kind):
    ds = tone_dataset()
    log = run([ds], [TINY], [backend(name)], RunOptions(results_dir=tmp_path, device="cpu", workers=0,
                                                                segment=0.1, hop=0.05, aggregate=aggregate))
    record = json.loads(log.results[0].read_text())
    assert {f["score_kind"] for f in record["folds"]} == {kind}
    assert sorted(c for f in record["folds"] for c in f["test_clips"]) == list(range(len(ds.clips)))  # per clip
    check_recomputable(record)
    if aggregate == "majority":  # fractions of windows: each clip's row sums to 1
        assert all(abs(sum(row) - 1) < 1e-5 for f in record["folds"] for row in f["scores"])


def test_every_embedding_row_records_its_macs_for_the_null_ranking(multiclass):
    from rwbench.macs import count_macs

    expected = count_macs(TINY, "small")
    for row in (("random", "svm"), ("random", "elm"), ("trained", "svm")):
        assert multiclass[row]["frontend"]["macs_per_second"] == expected > 0
