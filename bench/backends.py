"""Backends: scikit-learn estimators with the hyperparameter grid the inner CV searches.

Each backend standardises features first (the reference study did not, bug B15). The SVM grid is
the study's with float γ (bug B8) and ``'scale'`` for its ``'auto'``; the ELM adds hpelm's ridge
``norm`` to the study's hidden sizes, because an unregularised ELM collapses where the hidden size
approaches the training-set size (SPEC §8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .kernel_svm import KernelSVC
from .registry import Registry

ParamGrid = list[dict[str, list]]


@dataclass(frozen=True)
class BackendSpec:
    name: str
    build: Callable[[int], BaseEstimator]  # seed -> unfitted estimator
    grid: ParamGrid  # searched by the inner CV; keys are Pipeline parameter names
    description: str
    source: str = ""
    version: int = 1  # bump when the estimator changes: it is part of every result's run key
    multilabel_native: bool = False  # the estimator fits an indicator matrix itself (else: one-vs-rest per tag)

    @property
    def grid_size(self) -> int:
        total = 0
        for part in self.grid:
            size = 1
            for values in part.values():
                size *= len(values)
            total += size
        return total


BACKENDS: Registry[BackendSpec] = Registry("backend", builtins="rwbench.backends", group="rwbench.backends")


def register_backend(**fields):
    """Register the decorated ``seed -> estimator`` factory as a backend with :class:`BackendSpec` fields."""

    def decorator(build: Callable[[int], BaseEstimator]) -> Callable[[int], BaseEstimator]:
        BACKENDS.add(BackendSpec(build=build, **fields))
        return build

    return decorator


def scaled(estimator: BaseEstimator) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", estimator)])


C_GRID = [0.1, 2.0, 8.0, 32.0]
GAMMA_GRID = [2.0**-k for k in (3, 5, 7, 9, 11, 13)] + ["scale"]


@register_backend(
    name="svm",
    grid=[
        {"clf__kernel": ["rbf"], "clf__gamma": GAMMA_GRID, "clf__C": C_GRID},
        {"clf__kernel": ["linear"], "clf__C": C_GRID},
    ],
    description="StandardScaler + SVC; RBF γ ∈ {2^-3…2^-13, scale} × C ∈ {0.1, 2, 8, 32} and linear C (32 settings)",
    source="reference study grid (Pons & Serra 2019), float γ",
    version=2,  # 2: kernel matrices computed by torch and reused across the grid (same results as SVC)
    multilabel_native=True,  # one binary SVC per tag on one kernel matrix
)
def svm(seed: int) -> Pipeline:
    return scaled(KernelSVC(random_state=seed))


@register_backend(
    name="elm",
    grid=[{"clf__n_hidden": [100, 250, 500, 1200, 1800, 2500], "clf__alpha": [1e-2, 1.0, 100.0]}],
    description="StandardScaler + hpelm ELM; hidden ∈ {100…2500} × ridge λ ∈ {0.01, 1, 100}",
    source="reference study hidden sizes; hpelm (Akusok et al. 2015)",
    multilabel_native=True,  # one ridge solve for every tag
)
def elm(seed: int) -> Pipeline:
    from .elm import ELMClassifier

    return scaled(ELMClassifier(random_state=seed))


@register_backend(
    name="elm_torch",
    grid=[{"clf__n_hidden": [100, 250, 500, 1200, 1800, 2500], "clf__alpha": [1e-2, 1.0, 100.0]}],
    description="StandardScaler + the same ELM in torch (hidden layer float32 on CUDA when present, ridge "
                "solved in float64); the grid of `elm`",
    source="as elm; closed-form ridge ELM computed with torch",
    multilabel_native=True,
)
def elm_torch(seed: int) -> Pipeline:
    from .elm import TorchELMClassifier

    return scaled(TorchELMClassifier(random_state=seed))


@register_backend(
    name="logreg",
    grid=[{"clf__C": [1e-3, 1e-2, 0.1, 1.0, 10.0]}],
    description="StandardScaler + L2 logistic regression; C ∈ {1e-3…10}",
)
def logreg(seed: int) -> Pipeline:
    return scaled(LogisticRegression(max_iter=2000, random_state=seed))


@register_backend(
    name="knn",
    grid=[{"clf__n_neighbors": [1, 3, 5, 10, 20]}],
    description="StandardScaler + k-nearest neighbours; k ∈ {1, 3, 5, 10, 20}",
)
def knn(seed: int) -> Pipeline:
    return scaled(KNeighborsClassifier())
