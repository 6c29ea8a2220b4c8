"""Extreme learning machine classifier: a scikit-learn estimator around hpelm's ``ELM``.

hpelm solves the ridge system for the output weights; this module only draws the random hidden
layer from a seeded ``numpy.random.Generator`` (hpelm would draw from the global ``np.random``),
encodes labels, and keeps only the fitted arrays (an hpelm ``ELM`` holds lambdas and does not
pickle; one is rebuilt from the arrays to predict), so the estimator pickles, clones and works
inside ``Pipeline`` and ``GridSearchCV``. Standardise the features first (the hidden layer's scale assumes unit-variance inputs).

Hidden layer (hpelm's own default scaling): ``H = g(X @ W + b)`` with ``W ~ N(0, 9 / n_features)``
and ``b ~ N(0, 1)``, so the pre-activations have a similar spread for any feature dimension and the
ridge λ means the same thing for a 120-d and a 3585-d embedding. The reference study used ReLU
units with ``W ~ N(0, 1)`` and no ridge; ReLU is the default here too.
"""

from __future__ import annotations

import functools
from numbers import Integral, Real

import hpelm
import numpy as np
import scipy.linalg
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, check_scalar, column_or_1d, validate_data

__all__ = ["ACTIVATIONS", "ELMClassifier", "TorchELMClassifier"]

ACTIVATIONS = ("relu", "sigm", "tanh")


@functools.cache
def _relu_ufunc() -> np.ufunc:
    """A genuine ``numpy.ufunc`` computing max(x, 0) for float32/float64 (numba; ~0.4 s once per process)."""
    import numba

    @numba.vectorize(["float64(float64)", "float32(float32)"])
    def relu(x):
        return x if x > 0 else 0.0

    return relu.ufunc  # the DUFunc wrapper is not an np.ufunc; hpelm's add_neurons asserts one


def _neuron_type(activation: str) -> str | np.ufunc:
    """hpelm's neuron type for ``activation``: a built-in name or a custom ufunc."""
    return _relu_ufunc() if activation == "relu" else activation


def _register_ufunc(elm: hpelm.ELM, ufunc: np.ufunc) -> None:
    """Teach hpelm's network to project through ``ufunc``.

    hpelm 1.0.10 accepts a custom ufunc in ``ELM.add_neurons`` but never adds it to the network's
    ``func`` table, so projecting raises ``KeyError``; this is the missing entry.
    """

    def project(X: np.ndarray, W: np.ndarray, B: np.ndarray) -> np.ndarray:
        Z = np.dot(X, W) + B
        return ufunc(Z, out=Z)

    elm.nnet.func[ufunc] = project


def _build_elm(W: np.ndarray, B: np.ndarray, n_outputs: int, activation: str, alpha: float) -> hpelm.ELM:
    """An untrained hpelm ELM with the given hidden layer W (n_features, n_hidden), B (n_hidden,)."""
    elm = hpelm.ELM(W.shape[0], n_outputs, classification="c", norm=alpha, precision="double")
    neuron = _neuron_type(activation)
    if isinstance(neuron, np.ufunc):
        _register_ufunc(elm, neuron)
    elm.add_neurons(W.shape[1], neuron, W=W, B=B)
    return elm


def _draw_hidden(rng: np.random.Generator, n_features: int, n_hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Hidden weights (n_features, n_hidden) ~ N(0, 9/n_features) and biases (n_hidden,) ~ N(0, 1)."""
    W = rng.standard_normal((n_features, n_hidden))
    W *= 3.0 / np.sqrt(n_features)
    B = rng.standard_normal(n_hidden)
    return W, B


def _dual_ridge(H: np.ndarray, T: np.ndarray, alpha: float) -> np.ndarray:
    """β = Hᵀ(HHᵀ + αI)⁻¹T: hpelm's ridge solution (HᵀH + αI)⁻¹HᵀT, solved as an n×n system.

    hpelm always factorises the L×L matrix HᵀH + αI; with fewer samples n than hidden units L the
    identical solution needs only an n×n Cholesky solve (n=120, L=2500: 0.06 s against 1.7 s).
    ``tests/test_elm.py`` checks that both agree.
    """
    gram = H @ H.T
    gram[np.diag_indices_from(gram)] += alpha
    return H.T @ scipy.linalg.solve(gram, T, assume_a="pos")


class ELMClassifier(ClassifierMixin, BaseEstimator):
    """Extreme learning machine (random hidden layer + ridge output layer), solved by hpelm.

    Parameters
    ----------
    n_hidden : int, default=500
        Number of random hidden neurons; may exceed the number of training samples (ridge keeps
        the system well posed).
    alpha : float, default=1.0
        Ridge regularisation λ > 0, passed to hpelm as ``ELM(..., norm=alpha)``.
    activation : {'relu', 'sigm', 'tanh'}, default='relu'
        Hidden-unit nonlinearity. 'relu' is a numba-compiled ufunc given to hpelm; 'sigm' and
        'tanh' are hpelm's built-ins.
    random_state : int or None, default=None
        Seed of the hidden layer draw (``numpy.random.default_rng``); the global NumPy random state
        is never touched.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,), only when X had string column names
    hidden_weights_ : ndarray of shape (n_features_in_, n_hidden)
    hidden_biases_ : ndarray of shape (n_hidden,)
    output_weights_ : ndarray of shape (n_hidden, n_classes)
        hpelm's solution β of (HᵀH + αI) β = HᵀT for one-hot targets T.
    """

    def __init__(self, n_hidden: int = 500, alpha: float = 1.0, activation: str = "relu", random_state=None):
        self.n_hidden = n_hidden
        self.alpha = alpha
        self.activation = activation
        self.random_state = random_state

    def _check_params(self) -> None:
        check_scalar(self.n_hidden, "n_hidden", Integral, min_val=1)
        check_scalar(self.alpha, "alpha", Real, min_val=0, include_boundaries="neither")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")

    def _prepare(self, X, y, dtype) -> tuple[np.ndarray, np.ndarray]:
        """Checked parameters and data, ``classes_`` set; returns X and the ridge targets T: one-hot rows of the
        labels, or a multilabel indicator matrix ``y`` as it is (one output per tag, all solved at once)."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=dtype, multi_output=True)
        check_classification_targets(y)
        self.multilabel_ = type_of_target(y) == "multilabel-indicator"
        if not self.multilabel_:
            y = column_or_1d(y, warn=True)
        if self.multilabel_:
            self.classes_ = np.arange(y.shape[1])
            return X, y.astype(np.float64)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes; got 1 class: {self.classes_[0]!r}")
        return X, np.eye(len(self.classes_))[y_index]  # one-hot (n_samples, n_classes), as hpelm 'c' wants

    def fit(self, X, y):
        """Fit on X (n_samples, n_features) and labels y (n_samples,) or a tag indicator matrix (n_samples, n_tags)."""
        X, targets = self._prepare(X, y, np.float64)
        W, B = _draw_hidden(np.random.default_rng(self.random_state), X.shape[1], int(self.n_hidden))
        elm = _build_elm(W, B, len(self.classes_), self.activation, float(self.alpha))
        # 'c' alone: plain ridge solve for classification. Lowercase 'v'/'cv'/'loo' would silently skip
        # model selection and 'r' means regression. α > 0 keeps HᵀH + αI positive definite, so hpelm's
        # Cholesky solve succeeds and its rank-deficiency fallback (which prints) is not reached.
        if X.shape[0] < self.n_hidden:
            self.output_weights_ = _dual_ridge(elm.project(X), targets, float(self.alpha))
        else:
            elm.train(X, targets, "c")
            self.output_weights_ = elm.nnet.get_B()
        self.hidden_weights_, self.hidden_biases_ = W, B
        return self

    def _scores(self, X) -> np.ndarray:
        """hpelm's output scores for X (n_samples, n_features): (n_samples, n_classes)."""
        X = validate_data(self, X, dtype=np.float64, reset=False)
        W, B = self.hidden_weights_, self.hidden_biases_
        elm = _build_elm(W, B, len(self.classes_), self.activation, self.alpha)
        elm.nnet.set_B(self.output_weights_)
        return elm.predict(X)

    def decision_function(self, X) -> np.ndarray:
        """Scores: (n_samples,) for two classes (> 0 means ``classes_[1]``), else (n_samples, n_classes); one
        column per tag for a multilabel fit (the ridge regression of its 0/1 target)."""
        check_is_fitted(self)
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 and not self.multilabel_ else scores

    def predict(self, X) -> np.ndarray:
        """Predicted labels (n_samples,): the class with the largest output score; multilabel: each tag whose
        score reaches 0.5, halfway between its targets (rwbench's evaluation picks its threshold on validation)."""
        check_is_fitted(self)
        if self.multilabel_:
            return (self._scores(X) >= 0.5).astype(np.int64)
        return self.classes_[np.argmax(self._scores(X), axis=1)]


# hpelm's conventions, so both classes compute one model: its 'sigm' is 1 / (1 + exp(+z))
ROW_BLOCK = 1024  # rows of H formed at once by TorchELMClassifier: its memory does not grow with the samples
TORCH_ACTIVATIONS = {"relu": torch.relu, "sigm": lambda z: torch.sigmoid(-z), "tanh": torch.tanh}


class TorchELMClassifier(ELMClassifier):
    """The same ELM computed with torch: the hidden layer ``H`` in float32 on ``device``; HᵀH and HᵀT (or HHᵀ)
    multiplied, accumulated and solved in float64, and so is the output Hβ. Same seeded hidden layer (``W``, ``B``)
    and the same solution as :class:`ELMClassifier` up to float32 rounding of ``H``: ≥ 99.9 % identical test
    predictions even at n ≈ L with α = 0.01 (``tests/test_elm.py``); no hpelm, and every matrix product
    multithreaded (or on the GPU).

    Parameters are those of :class:`ELMClassifier`, plus ``device`` (``"auto"``: CUDA when available, else
    CPU). The ridge is solved in its dual form (an n×n system) when there are fewer samples than hidden units;
    otherwise HᵀH and HᵀT are accumulated over blocks of ``ROW_BLOCK`` rows, so memory is L² whatever n.
    """

    def __init__(self, n_hidden: int = 500, alpha: float = 1.0, activation: str = "relu", random_state=None,
                 device: str = "auto"):
        super().__init__(n_hidden=n_hidden, alpha=alpha, activation=activation, random_state=random_state)
        self.device = device

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _hidden(self, X: np.ndarray) -> torch.Tensor:
        device = self._device()
        W = torch.as_tensor(self.hidden_weights_, dtype=torch.float32, device=device)
        B = torch.as_tensor(self.hidden_biases_, dtype=torch.float32, device=device)
        return TORCH_ACTIVATIONS[self.activation](torch.as_tensor(X, dtype=torch.float32, device=device) @ W + B)

    def fit(self, X, y):
        """Fit on X (n_samples, n_features) and labels y (n_samples,); returns self."""
        X, T = self._prepare(X, y, np.float32)
        rng = np.random.default_rng(self.random_state)
        self.hidden_weights_, self.hidden_biases_ = _draw_hidden(rng, X.shape[1], int(self.n_hidden))
        dual = X.shape[0] < self.n_hidden  # solve the smaller of the two equivalent systems
        gram, solve = self._dual_system(X, T) if dual else self._primal_system(X, T)
        gram.diagonal().add_(float(self.alpha))
        factor, info = torch.linalg.cholesky_ex(gram)
        if int(info) != 0:
            raise ValueError(f"the ridge system is not positive definite in float64 (alpha={self.alpha})")
        self.output_weights_ = solve(factor).cpu().numpy()
        return self

    def _primal_system(self, X: np.ndarray, T: np.ndarray):
        """(HᵀH, factor ↦ β = (HᵀH + αI)⁻¹HᵀT): the float32 H of each block of ``ROW_BLOCK`` rows widened to float64,
        HᵀH and HᵀT multiplied and accumulated in float64 (memory L² + ROW_BLOCK·L, not n·L). Float32 products put
        an error of ~1e-7·‖H‖² into the Gram, larger than a small ridge α where n ≈ L: 1.5–4 % of test predictions
        then differed from hpelm's (``tests/test_elm.py`` checks n = L, L ± 1)."""
        device, L = self._device(), int(self.n_hidden)
        gram = torch.zeros(L, L, dtype=torch.float64, device=device)
        HT = torch.zeros(L, T.shape[1], dtype=torch.float64, device=device)
        for start in range(0, len(X), ROW_BLOCK):
            H = self._hidden(X[start:start + ROW_BLOCK]).double()
            gram.addmm_(H.T, H)
            HT.addmm_(H.T, torch.as_tensor(T[start:start + ROW_BLOCK], dtype=torch.float64, device=device))
        return gram, lambda factor: torch.cholesky_solve(HT, factor)

    def _dual_system(self, X: np.ndarray, T: np.ndarray):
        """(HHᵀ, factor ↦ β = Hᵀ(HHᵀ + αI)⁻¹T), the float32 H widened to float64 and every product in float64 (n < L
        here, so H is smaller than the primal Gram)."""
        H = self._hidden(X).double()
        return H @ H.T, lambda factor: H.T @ torch.cholesky_solve(
            torch.as_tensor(T, dtype=torch.float64, device=factor.device), factor)

    def _scores(self, X) -> np.ndarray:
        X = validate_data(self, X, dtype=np.float32, reset=False)
        beta = torch.as_tensor(self.output_weights_, dtype=torch.float64, device=self._device())
        return np.concatenate([(self._hidden(X[start:start + ROW_BLOCK]).double() @ beta).cpu().numpy()
                               for start in range(0, len(X), ROW_BLOCK)])
