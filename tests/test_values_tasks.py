"""Task types' metrics pinned by value: every multiclass and multilabel metric of a fold on imbalanced
clips with a class (tag) missing, computed by hand or per tag with scikit-learn, the confusion matrix's orientation,
the micro-F1 threshold, the tags left out of macro averages, and the per-clip outputs the paired tests read."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from rwbench.tasks import Outputs, choose_threshold, per_tag_roc_auc, pr_auc_macro, roc_auc_macro, task_type

# -- multiclass ---------------------------------------------------------------------------------------------------
TRUTH = np.array([0, 0, 0, 0, 1, 1])
PREDICTED = np.array([0, 0, 0, 2, 1, 0])  # 4 classes: 2 is predicted once but never true, 3 neither


def test_multiclass_metrics_on_an_imbalanced_fold_with_missing_classes():
    """By hand: accuracy 4/6; recall 3/4 (class 0) and 1/2 (class 1), balanced accuracy over the true classes
    0.625; F1 per class 0.75, 2/3, 0 (class 2: precision 0); class 3, neither true nor predicted, has no F1 and is
    left out (as scikit-learn's default does): macro F1 (0.75 + 2/3 + 0) / 3, not a perfect fold's class counted 0."""
    record = task_type("multiclass").fold_record(TRUTH, Outputs(predicted=PREDICTED), 4)
    assert list(record.metrics) == ["accuracy", "balanced_accuracy", "macro_f1"]
    assert record.metrics["accuracy"] == pytest.approx(4 / 6)
    assert record.metrics["balanced_accuracy"] == pytest.approx(0.625)
    assert record.metrics["macro_f1"] == pytest.approx((0.75 + 2 / 3) / 3) == f1_score(TRUTH, PREDICTED, average="macro")
    perfect = task_type("multiclass").fold_record(TRUTH, Outputs(predicted=TRUTH), 4).metrics
    assert perfect == {"accuracy": 1.0, "balanced_accuracy": 1.0, "macro_f1": 1.0}
    assert record.truth == TRUTH.tolist() and record.predicted == PREDICTED.tolist()


def test_confusion_rows_are_true_classes_and_columns_predicted():
    record = task_type("multiclass").fold_record(TRUTH, Outputs(predicted=PREDICTED), 4)
    assert record.confusion == [[3, 0, 1, 0],  # true 0: three right, one predicted as 2
                                [1, 1, 0, 0],  # true 1: one predicted as 0
                                [0, 0, 0, 0],
                                [0, 0, 0, 0]]


def test_multiclass_head_outputs_and_clip_outputs():
    task = task_type("multiclass")
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 4.0, 1.0]])
    out = task.head_outputs(logits)
    assert out.predicted.tolist() == [0, 2, 1]
    np.testing.assert_allclose(out.scores, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    assert task.head_score(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    truth, correct = task.clip_output({"truth": [0, 1, 2], "predicted": [0, 2, 2]})
    assert truth.tolist() == [0, 1, 2] and correct.tolist() == [1.0, 0.0, 1.0]
    outputs = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])  # two seeds × four clips
    picks = np.array([[0, 1, 2, 3], [0, 0, 0, 0], [3, 3, 1, 1]])
    np.testing.assert_allclose(task.clip_score(None, outputs, picks), [0.625, 0.5, 0.5])


# -- multilabel ---------------------------------------------------------------------------------------------------
# 8 clips × 4 tags: tag 0 balanced, tag 1 rare (two positives), tag 2 positive on every clip (no AUC), tag 3 with
# tied scores
ML_TRUTH = np.array([[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 1, 0], [1, 0, 1, 1],
                     [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 0, 1, 1]])
ML_SCORES = np.array([[0.9, 0.1, 0.5, 0.3], [0.8, 0.7, 0.4, 0.3], [0.3, 0.2, 0.6, 0.3], [0.4, 0.3, 0.7, 0.8],
                      [0.5, 0.6, 0.2, 0.1], [0.1, 0.5, 0.1, 0.3], [0.7, 0.2, 0.9, 0.2], [0.2, 0.4, 0.8, 0.9]])


def test_per_tag_roc_auc_against_scikit_learn_with_ties_and_an_unscorable_tag():
    expected = [roc_auc_score(ML_TRUTH[:, t], ML_SCORES[:, t]) for t in (0, 1, 3)]
    values = per_tag_roc_auc(ML_TRUTH, ML_SCORES)
    np.testing.assert_allclose(values[[0, 1, 3]], expected)
    assert np.isnan(values[2])
    assert roc_auc_macro(ML_TRUTH, ML_SCORES) == pytest.approx(np.mean(expected))
    precision = [average_precision_score(ML_TRUTH[:, t], ML_SCORES[:, t]) for t in (0, 1, 3)]
    assert pr_auc_macro(ML_TRUTH, ML_SCORES) == pytest.approx(np.mean(precision))  # tag 2 never enters


def test_multilabel_fold_metrics_with_an_untrained_tag():
    task = task_type("multilabel")
    record = task.fold_record(ML_TRUTH, Outputs(scores=ML_SCORES), 4, threshold=0.45, untrained=np.array([1]))
    kept = (0, 3)  # tag 1 had no positive training clip, tag 2 no negative test clip
    assert record.metrics["roc_auc_macro"] == pytest.approx(np.mean([roc_auc_score(ML_TRUTH[:, t], ML_SCORES[:, t])
                                                                    for t in kept]))
    assert record.metrics["pr_auc_macro"] == pytest.approx(np.mean([average_precision_score(ML_TRUTH[:, t],
                                                                                            ML_SCORES[:, t])
                                                                    for t in kept]))
    # micro F1 over every tag at scores ≥ 0.45, counted by hand; the untrained tag is never predicted (its scores
    # 0.7, 0.6 on its two positives and 0.5 on a negative would count 2 true and 1 false positive): 2 misses
    predicted = ML_SCORES >= 0.45
    predicted[:, 1] = False
    tp = int((predicted & (ML_TRUTH == 1)).sum())
    fp = int((predicted & (ML_TRUTH == 0)).sum())
    fn = int((~predicted & (ML_TRUTH == 1)).sum())
    assert record.metrics["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert record.details["threshold"] == 0.45 and record.details["tags_scored"] == 2
    assert record.details["tags_untrained"] == [1] and record.details["tags_untested"] == [2]
    assert record.details["per_tag_roc_auc"][1] is None and record.details["per_tag_roc_auc"][2] is None
    assert record.truth == ML_TRUTH.tolist()


def test_micro_f1_counts_a_score_equal_to_the_threshold_as_positive():
    record = task_type("multilabel").fold_record(ML_TRUTH, Outputs(scores=ML_SCORES), 4, threshold=0.9)
    # scores ≥ 0.9: clip 0 tag 0, clip 6 tag 2, clip 7 tag 3, all true: 3 true positives of 18, no false one
    assert record.metrics["micro_f1"] == pytest.approx(f1_score(ML_TRUTH, ML_SCORES >= 0.9, average="micro"))
    assert record.metrics["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 15))


def test_threshold_maximises_micro_f1_and_ties_go_low():
    truth = np.array([[1, 0], [1, 1], [0, 0], [0, 1], [1, 0]])
    scores = np.array([[0.9, 0.2], [0.8, 0.7], [0.1, 0.3], [0.4, 0.6], [0.7, 0.1]])
    # positives score 0.6 … 0.9, negatives 0.1 … 0.4: any threshold in (0.4, 0.6] gives micro F1 = 1; the lowest
    # such candidate wins
    threshold = choose_threshold(truth, scores)
    candidates = np.unique(np.quantile(scores, np.linspace(0.01, 0.99, 99)))
    assert threshold == candidates[candidates > 0.4].min()
    assert f1_score(truth, scores >= threshold, average="micro") == 1.0


def test_the_threshold_is_chosen_without_the_scores_of_tags_a_model_never_saw():
    """A one-vs-rest model gives a tag without positives a constant 0; at a threshold below 0 it would be called
    on every clip. Left out, the threshold is the one the trained tags alone give."""
    truth = np.array([[1, 0], [1, 0], [0, 0], [0, 1], [1, 0]])
    scores = np.array([[0.9, 0.0], [0.8, 0.0], [0.1, 0.0], [0.4, 0.0], [0.7, 0.0]])
    unseen = np.zeros(scores.shape, bool)
    unseen[:, 1] = True
    threshold = choose_threshold(truth, scores, unseen)
    assert threshold == choose_threshold(truth[:, :1], scores[:, :1]) and threshold > 0.4
    assert choose_threshold(truth, np.where(unseen, 0.95, scores), unseen) == threshold  # whatever it scored


def test_untrained_tags_and_targets():
    task = task_type("multilabel")
    assert task.untrained(np.array([[1, 0, 0], [1, 0, 1]])).tolist() == [1]
    assert task.untrained(None).tolist() == []
    assert task_type("multiclass").untrained(np.array([0, 1])).tolist() == []
    from rwbench.datamodel import Clip, tagged_clip

    clips = [tagged_clip("a", ["rock", "fast"]), tagged_clip("b", ["slow"]), tagged_clip("c", ["fast"])]
    classes = task.classes(clips)
    assert classes == ["fast", "rock", "slow"]
    assert task.targets(clips, classes).tolist() == [[1, 1, 0], [0, 0, 1], [1, 0, 0]]
    multiclass = task_type("multiclass")
    labelled = [Clip("a", "dog"), Clip("b", "cat"), Clip("c", "dog")]
    assert multiclass.classes(labelled) == ["cat", "dog"]
    assert multiclass.targets(labelled, ["cat", "dog"]).tolist() == [1, 0, 1]


def test_multilabel_clip_score_is_the_seed_mean_of_the_macro_auc():
    task = task_type("multilabel")
    truth = ML_TRUTH[:, [0, 1, 3]].astype(float)
    seeds = np.stack([ML_SCORES[:, [0, 1, 3]], ML_SCORES[::-1, [0, 1, 3]]])
    picks = np.array([np.arange(8), [0, 1, 2, 3, 4, 5, 6, 6]])
    expected = [np.mean([np.mean([roc_auc_score(truth[p, t], s[p, t]) for t in range(3)
                                  if 0 < truth[p, t].sum() < len(p)]) for s in seeds]) for p in picks]
    np.testing.assert_allclose(task.clip_score(truth, seeds, picks), expected)
    fold = {"truth": ML_TRUTH.tolist(), "scores": ML_SCORES.tolist(), "tags_untrained": [1]}
    kept_truth, kept_scores = task.clip_output(fold)
    assert kept_truth.tolist() == ML_TRUTH[:, [0, 2, 3]].tolist() and kept_scores.tolist() == ML_SCORES[:, [0, 2, 3]].tolist()
    assert task.head_score(np.log(ML_SCORES / (1 - ML_SCORES)), ML_TRUTH) == pytest.approx(
        roc_auc_macro(ML_TRUTH, ML_SCORES))


def test_a_tag_without_a_positive_test_clip_is_out_of_both_macros():
    truth = ML_TRUTH.copy()
    truth[:, 3] = 0  # tag 3: no positive clip
    expected = [0, 1]  # tag 2 has no negative clip
    assert pr_auc_macro(truth, ML_SCORES) == pytest.approx(np.mean([average_precision_score(truth[:, t], ML_SCORES[:, t])
                                                                    for t in expected]))
    assert roc_auc_macro(truth, ML_SCORES) == pytest.approx(np.mean([roc_auc_score(truth[:, t], ML_SCORES[:, t])
                                                                     for t in expected]))


def test_class_scores_of_each_kind_of_classifier():
    from types import SimpleNamespace

    from rwbench.tasks import class_scores

    probabilities = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert class_scores(SimpleNamespace(predict_proba=lambda X: probabilities), None)[1] == "predict_proba"
    np.testing.assert_array_equal(class_scores(SimpleNamespace(predict_proba=lambda X: probabilities), None)[0],
                                  probabilities)
    scores, kind = class_scores(SimpleNamespace(decision_function=lambda X: np.array([1.5, -2.0])), None)
    assert kind == "decision_function" and scores.tolist() == [[-1.5, 1.5], [2.0, -2.0]]  # binary d → (−d, d)
    assert class_scores(SimpleNamespace(), None) == (None, None)


def test_a_multiclass_dataset_needs_two_labels_and_each_in_every_fold():
    from types import SimpleNamespace

    from rwbench.datamodel import Clip
    from rwbench.errors import DataError

    task = task_type("multiclass")
    protocol = SimpleNamespace(k=3, id="s")
    one = SimpleNamespace(key="d", clips=[Clip("a", "x"), Clip("b", "x")], protocol=protocol)
    with pytest.raises(DataError, match="at least two classes"):
        task.check_dataset(one)
    short = SimpleNamespace(key="d", clips=[Clip(str(i), "xy"[i % 2]) for i in range(5)], protocol=protocol)
    with pytest.raises(DataError, match=r"'y' \(2\)"):
        task.check_dataset(short)
    task.check_dataset(SimpleNamespace(key="d", clips=[Clip(str(i), "xy"[i % 2]) for i in range(6)], protocol=protocol))


def test_short_classes_are_listed_five_at_most():
    from types import SimpleNamespace

    from rwbench.datamodel import Clip
    from rwbench.errors import DataError

    dataset = SimpleNamespace(key="d", clips=[Clip(str(i), "abcdefg"[i]) for i in range(7)],
                              protocol=SimpleNamespace(k=3, id="s"))
    with pytest.raises(DataError, match=r"7 class\(es\) have fewer clips: 'a' \(1\), 'b' \(1\), 'c' \(1\), 'd' \(1\), "
                                        r"'e' \(1\); add"):
        task_type("multiclass").check_dataset(dataset)


def test_one_timed_fit_takes_the_most_balanced_tag():
    y = np.array([[0, 1, 1], [0, 0, 1], [1, 0, 1], [0, 1, 1], [0, 0, 0]])  # tag means 0.2, 0.4, 0.8
    task = task_type("multilabel")
    assert task.one_fit_target(y, native=False).tolist() == y[:, 1].tolist()
    assert task.one_fit_target(y, native=True) is y


def test_a_name_is_registered_to_one_type(monkeypatch):
    from rwbench.errors import RwbenchError
    from rwbench.tasks import TASK_TYPES, register_task_type

    original = TASK_TYPES["multiclass"]
    monkeypatch.setitem(TASK_TYPES, "multiclass", original)  # restored afterwards
    assert register_task_type(type(original)()) is TASK_TYPES["multiclass"]  # the same type again: fine

    class Other(type(original)):
        pass

    with pytest.raises(RwbenchError, match="'multiclass' of .*Other is already registered by .*Multiclass"):
        register_task_type(Other())


def test_a_task_type_cell_run_twice_replaces_itself(monkeypatch):
    """A notebook cell defining and registering a task type, run again, makes a new class of the same name: it
    replaces the first, as the other registries do, instead of being refused."""
    from rwbench.tasks import TASK_TYPES

    monkeypatch.setitem(TASK_TYPES, "ordinal_cell", None)  # the undo removes the name again
    del TASK_TYPES["ordinal_cell"]
    cell = ("from rwbench.tasks import Multiclass, register_task_type\n"
            "class Ordinal(Multiclass):\n    name = 'ordinal_cell'\n"
            "kind = register_task_type(Ordinal())\n")
    first, second = {"__name__": "__main__"}, {"__name__": "__main__"}
    exec(cell, first)
    exec(cell, second)
    assert type(first["kind"]) is not type(second["kind"]) and TASK_TYPES["ordinal_cell"] is second["kind"]


def test_a_plugin_task_types_code_is_in_its_keys(tmp_path, monkeypatch):
    """An edited plugin task type (its scoring, its metrics) gets new result keys, as an edited plugin front-end
    does: the results of the old code are never reported as up to date. rwbench's own types add nothing."""
    import importlib
    import sys

    from rwbench.tasks import TASK_TYPES, task_type

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(TASK_TYPES, "picky_plugin", None)  # the undo removes the name again
    del TASK_TYPES["picky_plugin"]
    source = ("from rwbench.tasks import Multiclass, register_task_type\n"
              "class Picky(Multiclass):\n    name = 'picky_plugin'\n    scoring = {!r}\n"
              "register_task_type(Picky())\n")
    keys = []
    for scoring in ("accuracy", "neg_log_loss"):
        (tmp_path / "picky_plugin.py").write_text(source.format(scoring))
        sys.modules.pop("picky_plugin", None)
        importlib.import_module("picky_plugin")
        keys.append(TASK_TYPES["picky_plugin"].code_key())
    sys.modules.pop("picky_plugin", None)
    assert all(len(key["task_type_code"]) == 64 for key in keys) and keys[0] != keys[1]
    assert task_type("multiclass").code_key() == {}


def test_a_tag_with_one_positive_or_one_negative_clip_has_an_auc():
    truth = np.array([[1, 0, 1], [0, 1, 1], [0, 1, 1], [0, 1, 0], [0, 0, 1]])
    scores = np.array([[0.9, 0.2, 0.4], [0.3, 0.8, 0.7], [0.5, 0.1, 0.6], [0.2, 0.6, 0.5], [0.6, 0.3, 0.1]])
    expected = [roc_auc_score(truth[:, t], scores[:, t]) for t in range(3)]  # tag 0: one positive; tag 2: one negative
    np.testing.assert_allclose(per_tag_roc_auc(truth, scores), expected)


def test_multiclass_selection_scores_accuracy_not_balanced_accuracy():
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, get_scorer

    X, y = np.zeros((6, 1)), np.array([0, 0, 0, 0, 1, 1])
    model = DummyClassifier(strategy="most_frequent").fit(X, y)
    score = get_scorer(task_type("multiclass").scoring)(model, X, y)
    assert score == accuracy_score(y, np.zeros(6)) == pytest.approx(4 / 6)
    assert balanced_accuracy_score(y, np.zeros(6)) == 0.5


def test_the_primary_metric_of_a_table_and_the_multilabel_fit_count():
    from rwbench.tasks import primary_metric

    assert primary_metric({"roc_auc_macro_mean", "micro_f1_mean"}) == "roc_auc_macro"
    assert primary_metric({"accuracy_mean"}) == "accuracy" and primary_metric(set()) == "accuracy"
    multilabel = task_type("multilabel")
    assert multilabel.fits(3, 5, native=True) == (3, 1) and multilabel.fits(3, 5, native=False) == (3, 5)


def test_a_multilabel_dataset_needs_two_tags():
    from types import SimpleNamespace

    from rwbench.errors import DataError

    task = task_type("multilabel")
    with pytest.raises(DataError, match="at least two tags"):
        task.check_dataset(SimpleNamespace(key="d", classes=["x"], protocol=SimpleNamespace(id="p")))
    task.check_dataset(SimpleNamespace(key="d", classes=["x", "y"], protocol=SimpleNamespace(id="p")))


def test_with_no_positive_validation_clip_every_threshold_ties_and_the_lowest_wins():
    scores = np.array([[0.1, 0.7], [0.4, 0.2], [0.9, 0.3], [0.6, 0.8]])
    assert choose_threshold(np.zeros((4, 2), int), scores) == pytest.approx(np.quantile(scores, 0.01))


def test_a_class_no_training_side_holds_is_refused_at_load(tmp_path):
    """User folds where a class sits in one fold only: tested there, it has no training clip, every one of its clips
    is predicted wrong and the fold's score falls with no word. Refused, naming the split and the class."""
    from conftest import write_audio

    from rwbench.datamodel import DATASETS
    from rwbench.errors import DataError

    rows = ["path,label,fold"]
    for i in range(12):
        label, fold = ("owl", 1) if i < 4 else (("cat", "dog")[i % 2], 1 + i % 3)
        write_audio(tmp_path / f"{label}{i}.wav", seconds=0.15)
        rows.append(f"{label}{i}.wav,{label},{fold}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"fold1 tests 4 clip\(s\) of 1 class\(es\) that no clip of its training side "
                                        r"has \('owl'\)"):
        DATASETS.get("csv").load(tmp_path)


@pytest.mark.parametrize("backend", ["knn", "logreg"])
def test_a_two_tag_multilabel_search_scores_every_tag(backend):
    """With 2 tags scikit-learn's make_scorer read the indicator as a binary target and kept one predict_proba
    column: knn (no decision_function) failed every setting. The search scores what the folds are rated on."""
    from rwbench.backends import BACKENDS
    from rwbench.evaluate import evaluate_split
    from rwbench.protocol import OuterSplit

    rng = np.random.default_rng(0)
    y = (rng.random((120, 2)) < 0.4).astype(np.int64)
    y[y.sum(1) == 0, 0] = 1
    X = rng.standard_normal((120, 8)) + y @ rng.standard_normal((2, 8))
    train = np.arange(30, 120)
    split = OuterSplit("f", train, np.arange(30), ((train[:45], train[45:]), (train[45:], train[:45])))
    fold = evaluate_split(X, y, split, BACKENDS.get(backend), seed=0, n_classes=2, task=task_type("multilabel"),
                          n_jobs=1)
    assert 0.6 < fold.selection_score <= 1 and 0.6 < fold.metrics["roc_auc_macro"] <= 1
