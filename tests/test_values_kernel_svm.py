"""KernelSVC pinned by value against scikit-learn's own SVC: the γ of ``gamma='scale'`` and its fallback on
zero-variance features, the multilabel path tag by tag, parameter checks and the memo's eviction order."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.svm import SVC

from rwbench import kernel_svm
from rwbench.kernel_svm import KernelSVC


def test_gamma_scale_is_one_over_features_times_variance():
    X, y = make_classification(n_samples=40, n_features=6, random_state=2)
    X = 3.0 * X + 1.0
    model = KernelSVC().fit(X, y)
    assert model.gamma_ == pytest.approx(1.0 / (6 * X.var()))
    np.testing.assert_allclose(model.decision_function(X[:7]), SVC().fit(X, y).decision_function(X[:7]), atol=1e-6)
    assert KernelSVC(gamma=0.25).fit(X, y).gamma_ == 0.25
    small = 0.01 * X  # a variance below 1 uses the same rule
    assert KernelSVC().fit(small, y).gamma_ == pytest.approx(1.0 / (6 * small.var()))


def test_gamma_falls_back_to_one_on_zero_variance():
    """scikit-learn's 'scale' rule: γ = 1 when the training features have zero variance (never 1/0)."""
    X = np.full((6, 3), 2.5)
    y = np.array([0, 1, 0, 1, 0, 1])
    model = KernelSVC().fit(X, y)
    assert model.gamma_ == 1.0
    reference = SVC(gamma="scale").fit(X, y)
    test = np.array([[2.5, 2.5, 2.5], [3.0, 2.0, 2.5]])
    # the kernel of the second test clip is exp(-1 · ‖(0.5, -0.5, 0)‖²) = exp(-0.5) with γ = 1
    np.testing.assert_allclose(model._gram(test)[1], np.exp(-0.5))
    np.testing.assert_allclose(model.decision_function(test), reference.decision_function(test), atol=1e-9)


@pytest.mark.parametrize("kernel", ["rbf", "linear"])
def test_multilabel_fit_is_one_svc_per_tag(kernel):
    X, y = make_classification(n_samples=60, n_features=5, random_state=4)
    rng = np.random.default_rng(0)
    Y = np.column_stack([y, 1 - y, (X[:, 0] > 0).astype(int), np.ones(60, int), np.zeros(60, int),
                         rng.integers(0, 2, 60)])
    train, test = slice(0, 45), slice(45, None)
    model = KernelSVC(kernel=kernel, C=2.0).fit(X[train], Y[train])
    assert model.multilabel_ and model.classes_.tolist() == [0, 1, 2, 3, 4, 5]
    scores = model.decision_function(X[test])
    assert scores.shape == (15, 6)
    for tag in (0, 1, 2, 5):
        reference = SVC(kernel=kernel, C=2.0).fit(X[train], Y[train, tag])
        # libsvm on a precomputed Gram stops at its tolerance (1e-3) on a slightly different path than on its own kernel
        np.testing.assert_allclose(scores[:, tag], reference.decision_function(X[test]), atol=2e-3)
    # a tag constant over the training clips predicts that constant: +1 everywhere for 1, -1 for 0
    assert scores[:, 3].tolist() == [1.0] * 15 and scores[:, 4].tolist() == [-1.0] * 15
    np.testing.assert_array_equal(model.predict(X[test]), (scores > 0).astype(np.int64))


def test_multiclass_predict_and_classes_match_libsvm():
    X, y = make_classification(n_samples=90, n_features=6, n_informative=4, n_classes=3, random_state=5)
    labels = np.array(["cat", "dog", "eel"])[y]
    model = KernelSVC(gamma=0.1, C=3.0).fit(X[:60], labels[:60])
    reference = SVC(gamma=0.1, C=3.0).fit(X[:60], labels[:60])
    assert model.classes_.tolist() == ["cat", "dog", "eel"]
    assert model.predict(X[60:]).tolist() == reference.predict(X[60:]).tolist()


@pytest.mark.parametrize("params", [{"kernel": "poly"}, {"gamma": 0}, {"gamma": -1.0}, {"gamma": "auto"}])
def test_rejected_parameters(params):
    with pytest.raises(ValueError):
        KernelSVC(**params).fit(np.eye(4), [0, 1, 0, 1])


def test_memo_keeps_the_most_recently_used_matrices(monkeypatch):
    kernel_svm._cache.clear()
    A, B, C = (np.random.default_rng(s).standard_normal((5, 3)) for s in range(3))
    one = kernel_svm._memoised("sqdist", A, A).nbytes  # 5 × 5 float64 = 200 bytes
    monkeypatch.setattr(kernel_svm, "CACHE_BYTES", 2 * one)
    kernel_svm._memoised("sqdist", B, B)
    kernel_svm._memoised("sqdist", A, A)  # used again: now the most recent
    kernel_svm._memoised("sqdist", C, C)  # over budget: the least recently used (B) goes
    kept = [key[1] for key in kernel_svm._cache]
    assert kept == [kernel_svm._digest(A), kernel_svm._digest(C)]
    np.testing.assert_allclose(kernel_svm._memoised("sqdist", A, B), ((A[:, None] - B[None]) ** 2).sum(-1))
    np.testing.assert_allclose(kernel_svm._memoised("dot", A, B), A @ B.T)
    # the shape is part of a matrix's key: the same bytes read as another shape are another matrix
    assert kernel_svm._digest(A.reshape(3, 5)) != kernel_svm._digest(A)
    kernel_svm._cache.clear()


def test_memo_keeps_small_matrices_and_always_the_newest_one(monkeypatch):
    kernel_svm._cache.clear()
    A, B, C = (np.random.default_rng(s).standard_normal((5, 3)) for s in range(3))
    for X in (A, B, C):  # 3 × 200 bytes: far inside the default budget
        kernel_svm._memoised("sqdist", X, X)
    assert [key[1] for key in kernel_svm._cache] == [kernel_svm._digest(X) for X in (A, B, C)]
    monkeypatch.setattr(kernel_svm, "CACHE_BYTES", 10)  # one matrix over the budget is still kept (the newest)
    kernel_svm._memoised("dot", A, B)
    assert [key[0] for key in kernel_svm._cache] == ["dot"]
    kernel_svm._cache.clear()


def test_scoring_checks_the_feature_count_seen_in_fit():
    X, y = make_classification(n_samples=30, n_features=6, random_state=0)
    model = KernelSVC().fit(X, y)
    for method in (model.decision_function, model.predict):
        with pytest.raises(ValueError, match="X has 5 features, but KernelSVC is expecting 6 features"):
            method(X[:, :5])
