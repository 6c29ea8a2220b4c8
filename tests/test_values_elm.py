"""The ELMs pinned by value against numpy by hand: the seeded hidden layer W ~ N(0, 9/d), b ~ N(0, 1), the
ridge solution for multilabel targets (primal and dual), the binary decision value and the multilabel threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification

from rwbench import elm
from rwbench.elm import ELMClassifier, TorchELMClassifier

CLASSES = [ELMClassifier, lambda **kw: TorchELMClassifier(device="cpu", **kw)]


def relu_hidden(model, X):
    return np.maximum(X @ model.hidden_weights_ + model.hidden_biases_, 0)


def ridge(H, T, alpha):
    return np.linalg.solve(H.T @ H + alpha * np.eye(H.shape[1]), H.T @ T)


@pytest.mark.parametrize("make", CLASSES)
def test_hidden_layer_is_seeded_normal_with_variance_nine_over_d(make):
    X, y = make_classification(n_samples=30, n_features=16, random_state=0)
    model = make(n_hidden=12, random_state=5).fit(X, y)
    rng = np.random.default_rng(5)  # W first, (d, L), scaled by 3/√d; then b, (L,), unscaled
    np.testing.assert_allclose(model.hidden_weights_, rng.standard_normal((16, 12)) * 3.0 / 4.0, rtol=1e-12)
    np.testing.assert_allclose(model.hidden_biases_, rng.standard_normal(12), rtol=1e-12)


def test_hidden_weight_spread_is_three_over_root_d():
    W, B = elm._draw_hidden(np.random.default_rng(0), 400, 500)
    assert W.std() == pytest.approx(3.0 / 20.0, rel=0.01) and B.std() == pytest.approx(1.0, rel=0.1)


def multilabel_data(n):
    X, y = make_classification(n_samples=n, n_features=6, random_state=1)
    Y = np.column_stack([y, 1 - y, (X[:, 1] > 0).astype(int), (X[:, 2] > 0.5).astype(int)])
    return X, Y


@pytest.mark.parametrize("make", CLASSES)
@pytest.mark.parametrize("n_hidden", [10, 80])  # fewer hidden units than the 50 samples (primal), more (dual)
def test_multilabel_ridge_solution_and_threshold(make, n_hidden):
    X, Y = multilabel_data(50)
    model = make(n_hidden=n_hidden, alpha=0.3, random_state=2).fit(X, Y)
    H = relu_hidden(model, X.astype(np.float64))
    beta = ridge(H, Y.astype(float), 0.3)
    float32 = isinstance(model, TorchELMClassifier)
    np.testing.assert_allclose(model.output_weights_, beta, rtol=1e-3 if float32 else 1e-7, atol=1e-4 if float32 else 1e-9)
    assert model.multilabel_ and model.classes_.tolist() == [0, 1, 2, 3]
    scores = model.decision_function(X)
    assert scores.shape == (50, 4)
    np.testing.assert_allclose(scores, H @ beta, atol=1e-3 if float32 else 1e-8)
    if not float32:  # the prediction threshold is 0.5: halfway between the 0/1 targets
        np.testing.assert_array_equal(model.predict(X), (scores >= 0.5).astype(np.int64))


def test_multilabel_predict_threshold_is_one_half_exactly():
    X, Y = multilabel_data(50)
    model = ELMClassifier(n_hidden=10, random_state=2).fit(X, Y)
    model._scores = lambda X: np.array([[0.5, 0.4999999], [0.5000001, -1.0], [0.0, 7.0]])
    assert model.predict(X[:3]).tolist() == [[1, 0], [1, 0], [0, 1]]


def test_binary_decision_is_second_minus_first_score():
    X, y = make_classification(n_samples=40, n_features=5, random_state=3)
    model = ELMClassifier(n_hidden=20, alpha=0.5, random_state=1).fit(X, y)
    H = relu_hidden(model, X)
    beta = ridge(H, np.eye(2)[y], 0.5)
    np.testing.assert_allclose(model.decision_function(X), H @ (beta[:, 1] - beta[:, 0]), rtol=1e-6, atol=1e-9)
    torch_model = TorchELMClassifier(n_hidden=20, alpha=0.5, random_state=1, device="cpu").fit(X, y)
    np.testing.assert_allclose(torch_model.decision_function(X), H @ (beta[:, 1] - beta[:, 0]), atol=1e-3)


def test_torch_row_blocks_slice_every_row_once(monkeypatch):
    monkeypatch.setattr(elm, "ROW_BLOCK", 7)  # 50 rows: blocks of 7, the last one of 1
    X, Y = multilabel_data(50)
    model = TorchELMClassifier(n_hidden=10, alpha=0.3, random_state=2, device="cpu").fit(X, Y)
    H = relu_hidden(model, X)
    np.testing.assert_allclose(model.output_weights_, ridge(H, Y.astype(float), 0.3), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(model.decision_function(X), H @ model.output_weights_, atol=1e-4)


@pytest.mark.parametrize("n_samples, dual", [(9, True), (10, False), (11, False)])
def test_the_dual_ridge_solves_only_when_samples_are_fewer_than_hidden_units(monkeypatch, n_samples, dual):
    """Both forms give one β; the n×n dual is the cheaper one exactly when n < L (here L = 10)."""
    calls = []
    original = elm._dual_ridge
    monkeypatch.setattr(elm, "_dual_ridge", lambda *a: calls.append(1) or original(*a))
    X, y = make_classification(n_samples=n_samples, n_features=4, n_informative=2, n_redundant=0, random_state=0)
    ELMClassifier(n_hidden=10, random_state=0).fit(X, y)
    assert bool(calls) == dual
    torch_calls = []
    torch_dual = TorchELMClassifier._dual_system
    monkeypatch.setattr(TorchELMClassifier, "_dual_system", lambda self, *a: torch_calls.append(1) or torch_dual(self, *a))
    TorchELMClassifier(n_hidden=10, random_state=0, device="cpu").fit(X, y)
    assert bool(torch_calls) == dual


def test_auto_device_is_cuda_when_available(monkeypatch):
    monkeypatch.setattr(elm.torch.cuda, "is_available", lambda: True)
    assert TorchELMClassifier()._device().type == "cuda"
    monkeypatch.setattr(elm.torch.cuda, "is_available", lambda: False)
    assert TorchELMClassifier()._device().type == "cpu"
    assert TorchELMClassifier(device="cpu")._device().type == "cpu"


def test_defaults():
    expected = {"n_hidden": 500, "alpha": 1.0, "activation": "relu", "random_state": None}
    assert ELMClassifier().get_params() == expected
    assert TorchELMClassifier().get_params() == expected | {"device": "auto"}


@pytest.mark.parametrize("make", CLASSES)
def test_one_class_is_rejected(make):
    with pytest.raises(ValueError, match="at least 2 classes"):
        make(n_hidden=5).fit(np.eye(4), ["a"] * 4)


@pytest.mark.parametrize("make", CLASSES)
def test_scoring_checks_the_feature_count_seen_in_fit(make):
    X, y = make_classification(n_samples=30, n_features=6, random_state=0)
    model = make(n_hidden=8, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but .* is expecting 6 features"):
        model.decision_function(X[:, :5])
