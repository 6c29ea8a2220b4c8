"""Nested CV: selection sees only the outer training side; scores are per outer fold."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from rwbench.backends import BACKENDS, BackendSpec
from rwbench.datamodel import Clip
from rwbench.evaluate import nested_cv
from rwbench.protocol import FixedSplit, PredefinedFolds, keep_rows
from rwbench.results import summarise

SEEN: list[tuple[str, set[int], int]] = []  # (call, clip indices, param)


class Spy(BaseEstimator, ClassifierMixin):
    """Predicts the majority class; records which clips (last column) each call sees."""

    def __init__(self, param=0):
        self.param = param

    def fit(self, X, y):
        SEEN.append(("fit", set(X[:, -1].astype(int)), self.param))
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[counts.argmax()]
        return self

    def predict(self, X):
        SEEN.append(("predict", set(X[:, -1].astype(int)), self.param))
        # param 1 "cheats" on clip parity so the search has a clear winner
        return np.where(X[:, -1] % 2 == 0, 0, 1) if self.param == 1 else np.full(len(X), self.majority_)


SPY = BackendSpec(name="spy", build=lambda seed: Spy(), grid=[{"param": [0, 1]}], description="test spy")


def folds_data(n=40, k=4):
    clips = [Clip(id=f"c{i:03d}", label=str(i % 2), fold=(i // 2) % k + 1) for i in range(n)]
    X = np.column_stack([np.zeros(n), np.arange(n)])
    return clips, X, np.arange(n) % 2


def test_selection_never_sees_the_outer_test_fold():
    clips, X, y = folds_data()
    splits = PredefinedFolds(id="t").splits(clips)
    SEEN.clear()
    folds = nested_cv(X, y, splits, SPY, seed=0, n_classes=2)
    calls = iter(SEEN)
    for split in splits:
        test = set(split.test.tolist())
        for _ in range(len(split.inner) * 2):  # grid of 2 × inner splits, fit + predict each
            kind, seen, _ = next(calls)
            assert not seen & test, f"{split.name}: selection touched the test fold"
            kind, seen, _ = next(calls)
            assert not seen & test
        kind, seen, param = next(calls)
        assert kind == "fit" and seen == set(split.train.tolist()) and param == 1
        kind, seen, _ = next(calls)
        assert kind == "predict" and seen == test
    assert [f.accuracy for f in folds] == [1.0] * 4
    assert all(f.best_params == {"param": 1} for f in folds)


def test_inner_splits_leave_one_training_fold_out():
    clips, _, _ = folds_data(k=5)
    split = PredefinedFolds(id="t").splits(clips)[0]
    assert split.name == "fold1" and len(split.inner) == 4
    folds = np.array([c.fold for c in clips])
    for fit, val in split.inner:
        assert len(set(folds[val])) == 1 and 1 not in set(folds[fit]) | set(folds[val])


def test_fixed_split_selects_on_valid_and_refits_on_train_or_train_plus_valid():
    clips = [Clip(id=str(i), label=str(i % 2), split=("train", "valid", "test")[i % 3]) for i in range(30)]
    only_train = FixedSplit(id="g").splits(clips)[0]
    both = FixedSplit(id="g", refit="train+valid").splits(clips)[0]
    split = np.array([c.split for c in clips])
    assert set(split[only_train.train]) == {"train"} and set(split[both.train]) == {"train", "valid"}
    (fit, val), = only_train.inner
    assert set(split[fit]) == {"train"} and set(split[val]) == {"valid"} and set(split[only_train.test]) == {"test"}


def test_summary_is_the_unweighted_mean_over_folds():
    clips, X, y = folds_data(n=41)  # unequal folds: a size-weighted mean would differ
    folds = nested_cv(X, y, PredefinedFolds(id="t").splits(clips), SPY, seed=0, n_classes=2)
    s = summarise(folds)
    assert s["accuracy_mean"] == pytest.approx(np.mean([f.accuracy for f in folds]))
    assert s["accuracy_std"] == pytest.approx(np.std([f.accuracy for f in folds]))


def test_skipped_rows_leave_every_index_set():
    clips, _, _ = folds_data()
    keep = np.ones(len(clips), bool)
    keep[[3, 17]] = False
    for split in PredefinedFolds(id="t").splits(clips):
        kept = keep_rows(split, keep)
        everything = np.concatenate([kept.train, kept.test, *[np.concatenate(p) for p in kept.inner]])
        assert not {3, 17} & set(everything.tolist())


@pytest.mark.parametrize("name", ["svm", "elm", "logreg", "knn"])
def test_every_backend_learns_a_separable_problem_under_nested_cv(name):
    rng = np.random.default_rng(0)
    n = 90
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 20)) + 3 * np.eye(3)[y] @ rng.normal(size=(3, 20))
    clips = [Clip(id=str(i), label=str(y[i]), fold=(i // 3) % 3 + 1) for i in range(n)]
    folds = nested_cv(X, y, PredefinedFolds(id="t").splits(clips), BACKENDS.get(name), seed=0, n_classes=3)
    assert np.mean([f.accuracy for f in folds]) > 0.85
    assert all(np.array(f.confusion).sum() == f.n_test for f in folds)
