"""Nested CV pinned by value: the exact clips every inner fit and validation sees, the selection score and
the refit, a fold's metrics and confusion through the whole split, window means and votes (the binary decision
vote too), stored score rounding, and the row index sets of skipped clips and windows."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from rwbench.backends import BackendSpec
from rwbench.datamodel import Clip
from rwbench.errors import RwbenchError
from rwbench.evaluate import clip_means, evaluate_split, vote_outputs
from rwbench.folds import round_scores
from rwbench.protocol import OuterSplit, PredefinedFolds, keep_rows, rows_of

CALLS: list[tuple[str, list[int], int]] = []


class Recorder(ClassifierMixin, BaseEstimator):
    """Column 0 of X is the clip's dataset index, column 1 the label it "predicts" with ``honest=1``; ``honest=0``
    always predicts class 0. Every fit and predict is recorded with the clips it saw."""

    def __init__(self, honest=0):
        self.honest = honest

    def fit(self, X, y):
        CALLS.append(("fit", X[:, 0].astype(int).tolist(), self.honest))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        CALLS.append(("predict", X[:, 0].astype(int).tolist(), self.honest))
        return X[:, 1].astype(int) if self.honest else np.zeros(len(X), int)


RECORDER = BackendSpec(name="recorder", build=lambda seed: Recorder(), grid=[{"honest": [0, 1]}], description="test")
FOLDS = [2, 1, 3, 1, 2, 3, 3, 1, 2, 3]  # fold 1 = {1, 3, 7}, fold 2 = {0, 4, 8}, fold 3 = {2, 5, 6, 9}


def test_inner_fits_and_validations_see_exactly_their_clips():
    truth = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 1])
    guess = truth.copy()
    guess[[2, 5]] = [2, 1]  # on the outer test fold 3 the honest setting errs twice; on folds 1 and 2 it is right
    X = np.column_stack([np.arange(10), guess]).astype(float)
    clips = [Clip(f"c{i}", str(t), fold=f) for i, (t, f) in enumerate(zip(truth, FOLDS))]
    split = PredefinedFolds("p").splits(clips)[2]  # test fold 3; inner: leave out fold 1, then fold 2
    CALLS.clear()
    fold = evaluate_split(X, truth, split, RECORDER, seed=0, n_classes=3)
    searched = CALLS[:8]  # 2 settings × 2 inner splits × (fit, predict)
    expected = []
    for honest in (0, 1):
        expected += [("fit", [0, 4, 8], honest), ("predict", [1, 3, 7], honest),
                     ("fit", [1, 3, 7], honest), ("predict", [0, 4, 8], honest)]
    assert searched == expected
    assert CALLS[8:] == [("fit", [0, 1, 3, 4, 7, 8], 1), ("predict", [2, 5, 6, 9], 1)]
    assert fold.best_params == {"honest": 1} and fold.selection_score == 1.0
    assert fold.test_clips == [2, 5, 6, 9] and fold.n_train == 6 and fold.n_test == 4
    # test truth (0, 0, 1, 1), predicted (2, 1, 1, 1): accuracy 1/2, recalls 0 and 1, macro F1 over the 3 classes
    # (0; precision 2/3 and recall 1 for class 1: 0.8; 0)
    assert fold.metrics["accuracy"] == 0.5 and fold.metrics["balanced_accuracy"] == 0.5
    assert fold.metrics["macro_f1"] == pytest.approx(0.8 / 3)
    assert fold.confusion == [[0, 1, 1], [0, 2, 0], [0, 0, 0]]  # rows: true class; columns: predicted
    assert fold.truth == [0, 0, 1, 1] and fold.predicted == [2, 1, 1, 1]


def test_the_selection_score_is_the_mean_inner_accuracy_of_the_chosen_setting():
    truth = np.array([1, 1, 1, 0, 1, 0, 1, 0, 0, 0])
    X = np.column_stack([np.arange(10), np.zeros(10)]).astype(float)  # honest = 1 predicts 0 everywhere too
    clips = [Clip(f"c{i}", str(t), fold=f) for i, (t, f) in enumerate(zip(truth, FOLDS))]
    split = PredefinedFolds("p").splits(clips)[2]
    fold = evaluate_split(X, truth, split, RECORDER, seed=0, n_classes=2)
    # validate on fold 1 {1, 3, 7}: two of three are 0; on fold 2 {0, 4, 8}: one of three: mean (2/3 + 1/3) / 2
    assert fold.selection_score == pytest.approx(0.5)
    assert fold.best_params == {"honest": 0}  # tied: the first setting
    assert fold.metrics["accuracy"] == 0.5  # test {2, 5, 6, 9}: truth 1, 0, 1, 0, all predicted 0


def test_window_means_divide_by_the_window_count():
    features = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [10.0, 0.0], [0.0, 0.0], [2.0, 9.0]])
    clip_index = np.array([0, 0, 0, 4, 7, 7])
    np.testing.assert_allclose(clip_means(features, clip_index), [[3.0, 4.0], [10.0, 0.0], [1.0, 4.5]])


class Fixed(ClassifierMixin, BaseEstimator):
    """Returns the predictions / decisions / probabilities stored in X's first columns."""

    def __init__(self, kind="decision"):
        self.kind = kind

    def predict(self, X):
        return X[:, 0].astype(int)


class Voter(ClassifierMixin, BaseEstimator):
    """Predicts the class in X's first column; its probabilities are the next three columns."""

    classes_ = np.array([0, 1, 2])

    def predict(self, X):
        return X[:, 0].astype(int)

    def predict_proba(self, X):
        return X[:, 1:]


def test_majority_vote_fractions_and_ties_to_the_highest_mean_window_score():
    X = np.array([[2, 0, .2, .8], [1, .1, .6, .3], [2, .1, .1, .8],  # clip 5: votes 2, 1, 2 → 2
                  [0, .7, .3, 0], [1, .1, .8, .1],  # clip 2: a tie of 0 and 1; mean probabilities .4, .55 → 1
                  [1, .2, .5, .3], [0, .6, .1, .3]], float)  # clip 9: a tie of 0 and 1; means .4, .3 (2: .3) → 0
    clips = np.array([5, 5, 5, 2, 2, 9, 9])
    y = np.array([2, 2, 2, 1, 1, 0, 0])
    outputs, truth = vote_outputs("majority", Voter(), X, y, clips, 3)
    # a tie no longer goes to the lower class index (clip 2 was predicted 0): a class is no likelier for its name
    assert outputs.predicted.tolist() == [1, 2, 0] and truth.tolist() == [1, 2, 0]
    np.testing.assert_allclose(outputs.scores, [[0.5, 0.5, 0], [0, 1 / 3, 2 / 3], [0.5, 0.5, 0]])


class Binary(ClassifierMixin, BaseEstimator):
    classes_ = np.array([3, 7])

    def decision_function(self, X):
        return X[:, 0]

    def predict(self, X):
        return np.where(X[:, 0] > 0, 7, 3)


def test_binary_decision_vote_averages_signed_margins():
    X = np.array([[2.0], [-1.0], [-0.5], [-0.6], [0.9]])
    clips = np.array([1, 1, 4, 4, 4])  # clip 1: mean +0.5 → class 7; clip 4: mean −0.0667 → class 3
    outputs, truth = vote_outputs("probability", Binary(), X, np.array([7, 7, 3, 3, 3]), clips, 2)
    assert outputs.predicted.tolist() == [7, 3] and truth.tolist() == [7, 3]
    np.testing.assert_allclose(outputs.scores, [[-0.5, 0.5], [0.2 / 3, -0.2 / 3]])
    assert outputs.score_kind == "mean_decision_function"


def test_probability_vote_averages_probabilities():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 3
    model = LogisticRegression().fit(X, y)
    clips = np.repeat(np.arange(10), 3)
    outputs, truth = vote_outputs("probability", model, X, y, clips, 3)
    mean = model.predict_proba(X).reshape(10, 3, 3).mean(axis=1)
    np.testing.assert_allclose(outputs.scores, mean)
    assert outputs.predicted.tolist() == mean.argmax(axis=1).tolist() and truth.tolist() == y[::3].tolist()


def test_scores_are_rounded_to_six_significant_digits():
    np.testing.assert_array_equal(round_scores(np.array([[0.123456789, -98765.4321], [1e-9 * 1.23456789, 2.0]])),
                                  [[0.123457, -98765.4], [1.23457e-9, 2.0]])


def test_rows_of_windows_and_kept_rows():
    split = OuterSplit("f", np.array([0, 2]), np.array([1]), ((np.array([0]), np.array([2])),))
    windows = rows_of(split, np.array([0, 0, 1, 2, 2, 2]))
    assert windows.train.tolist() == [0, 1, 3, 4, 5] and windows.test.tolist() == [2]
    assert [(f.tolist(), v.tolist()) for f, v in windows.inner] == [([0, 1], [3, 4, 5])]
    kept = keep_rows(windows, np.array([True, False, True, True, False, True]))
    assert kept.train.tolist() == [0, 3, 5] and kept.test.tolist() == [2]
    assert [(f.tolist(), v.tolist()) for f, v in kept.inner] == [([0], [3, 5])]


class TagRecorder(ClassifierMixin, BaseEstimator):
    """Multilabel, fits the indicator matrix itself. X: clip index, then one score per tag. ``rank=1`` scores with
    those columns but predicts no tag; ``rank=0`` predicts the tags right but scores every clip 0."""

    def __init__(self, rank=0):
        self.rank = rank

    def fit(self, X, Y):
        self.classes_ = np.arange(Y.shape[1])
        return self

    def decision_function(self, X):
        return X[:, 1:] if self.rank else np.zeros((len(X), X.shape[1] - 1))

    def predict(self, X):
        return np.zeros((len(X), X.shape[1] - 1), int) if self.rank else (X[:, 1:] > 0.5).astype(int)


TAGS = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 0], [0, 1, 0],
                 [0, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])  # tag 2 only on test clips 2 and 5


def test_multilabel_split_selects_on_roc_auc_and_leaves_an_untrained_tag_out():
    from sklearn.metrics import roc_auc_score

    from rwbench.tasks import task_type

    scores = TAGS.astype(float)
    test = [2, 5, 6, 9]
    scores[test] = [[0.9, 0.2, 0.7], [0.4, 0.8, 0.1], [0.3, 0.6, 0.5], [0.5, 0.7, 0.2]]
    X = np.column_stack([np.arange(10), scores])
    clips = [Clip(f"c{i}", "x", fold=f) for i, f in enumerate(FOLDS)]
    split = PredefinedFolds("p").splits(clips)[2]
    backend = BackendSpec(name="tags", build=lambda seed: TagRecorder(), grid=[{"rank": [0, 1]}], description="test",
                          multilabel_native=True)
    fold = evaluate_split(X, TAGS, split, backend, seed=0, n_classes=3, task=task_type("multilabel"))
    assert fold.best_params == {"rank": 1} and fold.selection_score == 1.0  # ROC-AUC selects, not subset accuracy
    # tag 0: positives 0.9, 0.3 against negatives 0.4, 0.5: AUC 1/2; tag 1: 1; tag 2 had no positive training clip
    assert fold.metrics["roc_auc_macro"] == pytest.approx(0.75)
    assert fold.metrics["roc_auc_macro"] == pytest.approx(np.mean([roc_auc_score(TAGS[test, t], scores[test, t])
                                                                   for t in (0, 1)]))
    assert fold.details["tags_untrained"] == [2] and fold.details["tags_scored"] == 2
    threshold = fold.details["threshold"]  # chosen on the inner validation clips, whose scores are their 0/1 tags
    assert 0 < threshold <= 1
    predicted = scores[test] >= threshold
    predicted[:, 2] = False  # the untrained tag is never predicted
    tp, fp = int((predicted & (TAGS[test] == 1)).sum()), int((predicted & (TAGS[test] == 0)).sum())
    fn = int((~predicted & (TAGS[test] == 1)).sum())
    assert fold.metrics["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert fold.score_kind == "decision_function" and fold.scores == scores[test].tolist()
    with pytest.raises(RwbenchError, match="not defined for multilabel"):
        evaluate_split(X, TAGS, split, backend, seed=0, n_classes=3, task=task_type("multilabel"), vote="majority",
                       row_clip=np.arange(10))


def test_voting_through_a_split_scores_clips_not_windows():
    truth = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 1])
    clips = [Clip(f"c{i}", str(t), fold=f) for i, (t, f) in enumerate(zip(truth, FOLDS))]
    split = PredefinedFolds("p").splits(clips)[2]
    row_clip = np.repeat(np.arange(10), 3)  # three windows per clip
    guess = np.repeat(truth, 3)
    guess[[6, 7]] = 1 - guess[[6, 7]]  # clip 2: two of its three windows wrong
    guess[15] = 1 - guess[15]  # clip 5: one of three wrong
    X = np.column_stack([row_clip, guess]).astype(float)
    windows = rows_of(split, row_clip)
    numpy_grid = BackendSpec(name="recorder", build=lambda seed: Recorder(), grid=[{"honest": np.arange(2)}],
                             description="test")  # numpy values in the grid: the chosen one is a numpy scalar
    fold = evaluate_split(X, np.repeat(truth, 3), windows, numpy_grid, seed=0, n_classes=2, vote="majority",
                          row_clip=row_clip)
    assert fold.test_clips == [2, 5, 6, 9] and fold.n_test == 4 and fold.truth == [0, 0, 1, 1]
    assert fold.n_train == len(split.train) == 6 and len(windows.train) == 18  # clips, as n_test: not windows
    assert fold.predicted == [1, 0, 1, 1] and fold.accuracy == 0.75  # clip 2 outvoted
    assert fold.score_kind == "majority_votes" and fold.scores[0] == pytest.approx([1 / 3, 2 / 3])
    assert fold.best_params == {"honest": 1} and type(fold.best_params["honest"]) is int  # plain, for JSON


def test_every_score_kind_is_described():
    from rwbench.folds import SCORE_KINDS

    assert set(SCORE_KINDS) == {"decision_function", "predict_proba", "softmax", "sigmoid", "majority_votes",
                                "mean_predict_proba", "mean_decision_function"}


def test_nested_cv_is_evaluate_split_on_each_split_with_every_option():
    from rwbench.evaluate import nested_cv
    from rwbench.tasks import task_type

    truth = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 1])
    clips = [Clip(f"c{i}", str(t), fold=f) for i, (t, f) in enumerate(zip(truth, FOLDS))]
    splits = PredefinedFolds("p").splits(clips)
    row_clip = np.repeat(np.arange(10), 2)
    guess = np.repeat(truth, 2)
    guess[[4, 5]] = 1  # clip 2 (truth 0, fold 3): both windows say 1
    X = np.column_stack([row_clip, guess]).astype(float)
    folds = nested_cv(X, np.repeat(truth, 2), [rows_of(s, row_clip) for s in splits], RECORDER, seed=0, n_classes=3,
                      vote="majority", row_clip=row_clip)
    assert [f.name for f in folds] == ["fold1", "fold2", "fold3"]
    assert [f.test_clips for f in folds] == [[1, 3, 7], [0, 4, 8], [2, 5, 6, 9]]  # clips, not windows: voted
    assert [f.accuracy for f in folds] == [1.0, 1.0, 0.75] and folds[2].predicted == [1, 0, 1, 1]
    assert all(len(f.confusion) == 3 and f.score_kind == "majority_votes" for f in folds)  # n_classes = 3
    assert [f.grid_edge for f in folds] == [{"honest": "high"}] * 3
    tags = nested_cv(np.column_stack([np.arange(10), TAGS]).astype(float), TAGS, splits,
                     BackendSpec(name="tags", build=lambda seed: TagRecorder(), grid=[{"rank": [0, 1]}],
                                 description="test", multilabel_native=True),
                     seed=0, n_classes=3, task=task_type("multilabel"))
    assert [sorted(f.metrics) for f in tags] == [["micro_f1", "pr_auc_macro", "roc_auc_macro"]] * 3


def test_a_failing_grid_setting_scores_nan_and_every_one_failing_is_an_error():
    class Picky(Recorder):
        def fit(self, X, y):
            if self.honest == 2:
                raise ValueError("infeasible")
            return super().fit(X, y)

        def predict(self, X):
            if self.honest == 3:
                raise ValueError("unscorable")
            return super().predict(X)

    truth = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 1])
    X = np.column_stack([np.arange(10), truth]).astype(float)
    split = PredefinedFolds("p").splits([Clip(f"c{i}", str(t), fold=f) for i, (t, f) in enumerate(zip(truth, FOLDS))])[2]
    picky = BackendSpec(name="picky", build=lambda seed: Picky(), grid=[{"honest": [0, 2, 1]}], description="test")
    before = time.perf_counter()
    fold = evaluate_split(X, truth, split, picky, seed=0, n_classes=2)
    elapsed = time.perf_counter() - before
    assert fold.best_params == {"honest": 1} and fold.accuracy == 1.0 and fold.selection_score == 1.0
    assert 0 <= fold.fit_seconds <= elapsed  # the fold's own fitting time, inside the call's
    never = BackendSpec(name="never", build=lambda seed: Picky(), grid=[{"honest": [3]}], description="test")
    with pytest.raises(RwbenchError, match="never on fold3: every grid setting failed on the inner splits: "
                                           "ValueError: unscorable"):
        evaluate_split(X, truth, split, never, seed=0, n_classes=2)
    # every fit failing (scikit-learn raises its own ValueError then): the same error, the estimator's own last line
    unfit = BackendSpec(name="unfit", build=lambda seed: Picky(), grid=[{"honest": [2]}], description="test")
    with pytest.raises(RwbenchError, match="unfit on fold3: every grid setting failed on the inner splits: "
                                           "ValueError: infeasible"):
        evaluate_split(X, truth, split, unfit, seed=0, n_classes=2)


def test_the_vote_functions_return_predictions_and_truth_per_clip():
    from rwbench.evaluate import VOTES

    X = np.array([[2], [1], [2], [0], [1], [1], [0]], float)
    clips, y = np.array([5, 5, 5, 2, 2, 9, 9]), np.array([2, 2, 2, 1, 1, 0, 0])
    with pytest.raises(RwbenchError, match="Fixed gives no class scores"):  # clips 2 and 9 tie: nothing to settle by
        VOTES["majority"](Fixed(), X, y, clips, 3)
    predicted, truth = VOTES["majority"](Fixed(), X[:3], y[:3], clips[:3], 3)  # no tie: votes alone
    assert predicted.tolist() == [2] and truth.tolist() == [2]
    predicted, truth = VOTES["probability"](Binary(), np.array([[2.0], [-1.0], [-0.5], [-0.6], [0.9]]),
                                            np.array([7, 7, 3, 3, 3]), np.array([1, 1, 4, 4, 4]), 2)
    assert predicted.tolist() == [7, 3] and truth.tolist() == [7, 3]


def test_parallel_search_shares_the_cores_between_joblib_threads(monkeypatch):
    import os

    import torch
    from joblib.parallel import get_active_backend

    from rwbench import evaluate
    from rwbench.evaluate import available_cores, shared_threads

    cores = len(os.sched_getaffinity(0))
    assert available_cores() == cores
    before = torch.get_num_threads()
    for jobs in (None, 1):  # one job: nothing changes
        with shared_threads(jobs):
            assert torch.get_num_threads() == before
            assert type(get_active_backend()[0]).__name__ != "ThreadingBackend"
    for jobs in (2, cores + 1):
        with shared_threads(jobs):
            assert torch.get_num_threads() == max(1, cores // jobs)
            assert type(get_active_backend()[0]).__name__ == "ThreadingBackend"
        assert torch.get_num_threads() == before
    monkeypatch.setattr(evaluate, "available_cores", lambda: 5)
    with shared_threads(2):  # 5 cores, 2 jobs: 2 threads each (whole threads)
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
