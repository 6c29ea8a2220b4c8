"""Backends: scikit-learn estimators with the hyperparameter grid the inner CV searches.

Each backend standardises features first (the reference study's code did not, so one large-valued feature
could dominate its kernels). The SVM and ELM have two named grids (``rwbench run --grid``): ``study``, the
reference study's SVM grid with float γ (its code wrote γ as ``1/(2**k)``, 0 under Python 2's integer division)
and ``'scale'`` for its ``'auto'``, and the study's ELM hidden sizes with hpelm's ridge ``norm`` λ ∈ {0.01,
1, 100} (an unregularised ELM collapses where the hidden size approaches the training-set size);
and ``wide`` (the default), the same with C from 0.01 up to 2¹¹ and λ from 10⁻⁴ up to 10⁴: on the committed
studies the ``study`` grid's edges were chosen in most folds (λ = 100 in 95 of 125 ESC-10 folds), so
its optimum lay outside it. ``wide-linear32`` is ``wide`` with the SVM's linear kernel stopped at C = 32, for
datasets of thousands of clips, where libsvm's linear fits at large C take minutes each (see C_GRID_LINEAR32).
:func:`grid_edges` finds, in any result file, the folds whose chosen setting sits at an edge of its grid.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import RwbenchError
from .filehash import code_now, code_sha256, registering_code
from .fileio import read_json
from .registry import Registry, name_problem

if TYPE_CHECKING:  # scikit-learn (and torch, for KernelSVC) are imported when an estimator is built, so that
    from sklearn.base import BaseEstimator  # `rwbench list backends` and the leaderboard's grid_edge_flag are light
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

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
    grids: Mapping[str, ParamGrid] | None = None  # named grids (--grid); ``grid`` is the one in use
    grid_name: str | None = None  # the name of ``grid`` among ``grids`` (None: the backend has one grid)
    code: str | None = None  # sha256 of a plugin's source file, taken where it is registered (see FrontendSpec.code)

    @property
    def code_now(self) -> str | None:
        """:attr:`code` as the build is now (:func:`rwbench.filehash.code_now`: a notebook's estimator class redefined
        after registering is another backend)."""
        return code_now(self.code, self.build)

    def __post_init__(self) -> None:
        if self.code is None:
            object.__setattr__(self, "code", code_sha256(self.build))
        if problem := name_problem(self.name):
            raise RwbenchError(f"backend spec: {problem}")
        if self.grids and DEFAULT_GRID not in self.grids:  # the grid a run without --grid searches
            raise RwbenchError(f"backend {self.name!r}: named grids {', '.join(map(repr, self.grids))} must include "
                               f"{DEFAULT_GRID!r}, the one searched without --grid (--grid chooses among "
                               f"{', '.join(GRID_NAMES)}); a backend with one grid gives grid= alone")
        for name, grid in {"grid": self.grid, **{f"grids[{k!r}]": g for k, g in (self.grids or {}).items()}}.items():
            if not (isinstance(grid, list) and grid and all(
                    isinstance(part, dict) and part and all(_values(v) for v in part.values())
                    for part in grid)):
                raise RwbenchError(f"backend {self.name!r}: {name} must be a non-empty list of {{parameter: [values]}} "
                                   f"dicts (scikit-learn's param_grid as a list), not {grid!r}")
        # numpy scalars (np.arange, an array) as Python's: edges are found, results store numbers, keys are exact
        object.__setattr__(self, "grid", _plain_grid(self.grid))
        if self.grids:
            object.__setattr__(self, "grids", {k: _plain_grid(g) for k, g in self.grids.items()})

    def with_grid(self, name: str) -> BackendSpec:
        """This backend searching its grid ``name`` (``--grid``); a backend with a single grid keeps it."""
        if not self.grids:
            return self
        if name not in self.grids:
            raise RwbenchError(f"backend {self.name!r} has no grid {name!r}; its grids: {', '.join(self.grids)}")
        return replace(self, grid=self.grids[name], grid_name=name)

    @property
    def grid_size(self) -> int:
        return grid_size(self.grid)

    @property
    def grid_sizes(self) -> dict[str, int]:
        """Settings per named grid (``{'wide': 64, 'study': 32}``); one unnamed grid: ``{'': size}``."""
        return {name: grid_size(grid) for name, grid in self.grids.items()} if self.grids else {"": self.grid_size}


def grid_size(grid: ParamGrid) -> int:
    """The number of settings of ``grid``: the sum over its entries of the product of their value counts."""
    return sum(math.prod(len(values) for values in part.values()) for part in grid)


BACKENDS: Registry[BackendSpec] = Registry("backend", builtins="rwbench.backends", group="rwbench.backends")


def _plain_grid(grid: ParamGrid) -> ParamGrid:
    """``grid`` with each entry's values a list, numpy scalars as Python ones (an estimator object stays as it is)."""
    return [{key: [v.item() if isinstance(v, np.generic) else v for v in values] for key, values in part.items()}
            for part in grid]


def _values(candidates: object) -> bool:
    """A grid entry's values: a non-empty sequence (list, tuple, array), not a string or a single value."""
    return (hasattr(candidates, "__len__") and hasattr(candidates, "__getitem__")
            and not isinstance(candidates, (str, bytes, dict)) and len(candidates) > 0)  # type: ignore[arg-type]


def register_backend(**fields):
    """Register the decorated ``seed -> estimator`` factory as a backend with :class:`BackendSpec` fields; with
    named ``grids`` and no ``grid``, it searches the grid named :data:`DEFAULT_GRID`."""

    def decorator(build: Callable[[int], BaseEstimator]) -> Callable[[int], BaseEstimator]:
        if fields.get("grids") and "grid" not in fields:  # named grids without the default: BackendSpec names it
            name = DEFAULT_GRID if DEFAULT_GRID in fields["grids"] else next(iter(fields["grids"]))
            fields.update(grid=fields["grids"][name], grid_name=name)
        BACKENDS.add(BackendSpec(build=build, **{"code": registering_code(build), **fields}))
        return build

    return decorator


def check_estimator(backend: BackendSpec) -> None:
    """``backend.build(seed)`` is a scikit-learn estimator (clone, get_params) whose parameters include every key of
    its grids: a plugin backend that is not fails here, named, before anything is embedded, not in the inner CV."""
    from sklearn.base import clone

    try:
        params = clone(backend.build(0)).get_params(deep=True)
    except Exception as err:
        raise RwbenchError(f"backend {backend.name!r} ({getattr(backend.build, '__module__', '?')}): build(seed) must "
                           f"return a scikit-learn estimator (get_params, set_params, clone): {type(err).__name__}: "
                           f"{err}") from None
    keys = {key for grid in [backend.grid, *(backend.grids or {}).values()] for part in grid for key in part}
    if unknown := sorted(keys - set(params)):
        raise RwbenchError(f"backend {backend.name!r}: grid key(s) {unknown} are not parameters of its estimator "
                           f"(they are: {', '.join(sorted(params))})")


def scaled(estimator: BaseEstimator) -> Pipeline:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("clf", estimator)])


DEFAULT_GRID = "wide"
GRID_NAMES = ("wide", "study", "wide-linear32")  # --grid choices; "study" is the reference study's protocol
C_GRID = [0.1, 2.0, 8.0, 32.0]  # the study's
C_GRID_WIDE = [0.01, *C_GRID, 128.0, 512.0, 2048.0]  # to 2¹¹: the study's largest C won 84 of 175 ESC-10/FSDD folds
# libsvm's linear-kernel fits slow down with C on data it cannot separate: on 2,000 FSDD clips of a weak front-end
# (strided_1024_1024, 160 dims) C = 128, 512, 2048 took 67, 168, 417 s each (RBF fits < 1 s), 17 CPU-hours per
# front-end over 3 seeds × 6 outer × 5 inner folds; on ESC-10 a linear C ≥ 128 was chosen in 23 of 495 folds
C_GRID_LINEAR32 = [c for c in C_GRID_WIDE if c <= 32]
GAMMA_GRID = [2.0**-k for k in (3, 5, 7, 9, 11, 13)] + ["scale"]
SVM_GRIDS = {
    name: [{"clf__kernel": ["rbf"], "clf__gamma": GAMMA_GRID, "clf__C": rbf},
           {"clf__kernel": ["linear"], "clf__C": linear}]
    for name, rbf, linear in (("wide", C_GRID_WIDE, C_GRID_WIDE), ("study", C_GRID, C_GRID),
                              ("wide-linear32", C_GRID_WIDE, C_GRID_LINEAR32))
}
ELM_HIDDEN = [100, 250, 500, 1200, 1800, 2500]  # the study's hidden sizes
ELM_GRIDS = {
    # λ = 100 won 95 of 125 ESC-10 folds, λ = 0.01 all 15 of deepfourier's
    "wide": [{"clf__n_hidden": ELM_HIDDEN, "clf__alpha": [1e-4, 1e-2, 1.0, 100.0, 1e3, 1e4]}],
    "study": [{"clf__n_hidden": ELM_HIDDEN, "clf__alpha": [1e-2, 1.0, 100.0]}],
}
ELM_GRIDS["wide-linear32"] = ELM_GRIDS["wide"]  # no linear kernel to cap: the wide grid


@register_backend(
    name="svm",
    grids=SVM_GRIDS,
    description="StandardScaler + SVC; RBF γ ∈ {2^-3…2^-13, scale} × C, and linear C; C ∈ {0.01, 0.1, 2, 8, 32, 128, "
                "512, 2048} (wide, 64 settings), {0.1, 2, 8, 32} (study, 32 settings), or wide with linear C ≤ 32 "
                "(wide-linear32, 61 settings)",
    source="reference study grid (Pons & Serra 2019), float γ; wide: C from 0.01 to 2¹¹",
    version=2,  # 2: kernel matrices computed by torch and reused across the grid (same results as SVC)
    multilabel_native=True,  # one binary SVC per tag on one kernel matrix
)
def svm(seed: int) -> Pipeline:
    from .kernel_svm import KernelSVC

    return scaled(KernelSVC(random_state=seed))


@register_backend(
    name="elm",
    grids=ELM_GRIDS,
    description="StandardScaler + hpelm ELM; hidden ∈ {100…2500} × ridge λ ∈ {10⁻⁴, 0.01, 1, 100, 10³, 10⁴} (wide, 36 "
                "settings) or {0.01, 1, 100} (study, 18 settings)",
    source="reference study hidden sizes; hpelm (Akusok et al. 2015)",
    multilabel_native=True,  # one ridge solve for every tag
)
def elm(seed: int) -> Pipeline:
    from .elm import ELMClassifier

    return scaled(ELMClassifier(random_state=seed))


@register_backend(
    name="elm_torch",
    grids=ELM_GRIDS,
    description="StandardScaler + the same ELM in torch (hidden layer float32 on CUDA when present; HᵀH and HᵀT "
                "accumulated and the ridge solved in float64: ≥ 99.9 % the predictions of `elm`); the grids of `elm`",
    source="as elm; closed-form ridge ELM computed with torch",
    version=2,  # 2: HᵀH and HᵀT from float64 products (float32 products disagreed with elm at n ≈ L)
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
    from sklearn.linear_model import LogisticRegression

    return scaled(LogisticRegression(max_iter=2000, random_state=seed))


@register_backend(
    name="knn",
    grid=[{"clf__n_neighbors": [1, 3, 5, 10, 20]}],
    description="StandardScaler + k-nearest neighbours; k ∈ {1, 3, 5, 10, 20}",
)
def knn(seed: int) -> Pipeline:
    from sklearn.neighbors import KNeighborsClassifier

    return scaled(KNeighborsClassifier())


# -- grid edges ------------------------------------------------------------------------------------
def _section(record, name: str):
    """``record``'s section ``name``: a :class:`~rwbench.results.ResultRecord` attribute or a JSON mapping's key."""
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def short_name(param: str) -> str:
    """A grid key as results show it: ``clf__C`` and ``estimator__clf__C`` → ``C``."""
    return param.removeprefix("estimator__").removeprefix("clf__")


def _numeric(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def _same(a, b) -> bool:
    if _numeric(a) and _numeric(b):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def grid_edges(record) -> list[dict[str, str]]:
    """Per outer fold of a result record (a ``ResultRecord`` or the JSON of a result file, old or new), each
    numeric hyperparameter chosen at the smallest (``'low'``) or largest (``'high'``) value it takes in the grid
    entry (sub-grid) the fold's ``best_params`` came from: ``[{'C': 'high'}, {}, …]``. Categorical settings
    (``kernel``, ``gamma='scale'``) and parameters with fewer than two numeric values are ignored. A trained head
    (its grid the recipe's settings) is read for its learning rate among ``lrs`` only: its dropout's usual two
    values make every choice an edge, and 0 is a floor, not a grid's end. A fold that stores its ``grid_edge``
    (written by the evaluation) is taken as stored; older files are computed from ``best_params``."""
    grid, folds = _section(record, "backend").get("grid"), _section(record, "folds")
    if isinstance(grid, Mapping) and isinstance(grid.get("lrs"), list):
        lrs = [{"lr": grid["lrs"]}]
        return [chosen_edges(lrs, {"lr": lr}) if (lr := (fold.get("best_params") or {}).get("lr")) is not None else {}
                for fold in folds]
    if not isinstance(grid, list):
        return [{} for _ in folds]
    return [dict(fold["grid_edge"]) if isinstance(fold.get("grid_edge"), Mapping)  # stored since result schema 2
            else chosen_edges(grid, fold.get("best_params") or {}) for fold in folds]


def chosen_edges(grid: list, chosen: Mapping) -> dict[str, str]:
    """The settings of ``chosen`` (grid keys long or short) at the ``low`` or ``high`` end of the numeric values of
    the grid entry they came from (two or more), by short name: ``{"alpha": "high"}``; ``{}`` when none is."""
    best = {short_name(key): value for key, value in chosen.items()}
    entries = [{short_name(key): list(values) for key, values in entry.items()} for entry in grid if isinstance(entry, Mapping)]
    entry = next((e for e in entries if set(e) == set(best)
                  and all(any(_same(best[k], v) for v in values) for k, values in e.items())), None)
    edges = {}
    for key, values in (entry or {}).items():
        numeric = sorted(v for v in values if _numeric(v))
        if len(numeric) < 2 or not _numeric(best[key]):
            continue
        if _same(best[key], numeric[0]):
            edges[key] = "low"
        elif _same(best[key], numeric[-1]):
            edges[key] = "high"
    return edges


def tied_edges(grid: list, tied: Sequence[Mapping]) -> dict[str, str]:
    """:func:`chosen_edges` of the first of ``tied`` (the settings that share the best inner score; the search picks
    the first) kept only where every tied setting sits at that same edge: a tie broken towards the grid's first
    values is no sign that the optimum lies outside the grid."""
    first, *others = tied
    rest = [chosen_edges(grid, setting) for setting in others]
    return {key: end for key, end in chosen_edges(grid, first).items() if all(e.get(key) == end for e in rest)}


def grid_edge_counts(records) -> tuple[dict[tuple[str, str], int], int]:
    """Over every fold of ``records`` (the seeds of one leaderboard row, or one result): how many folds chose each
    (parameter, 'low'|'high') edge, and the number of folds."""
    counts: dict[tuple[str, str], int] = {}
    folds = 0
    for record in records:
        for edges in grid_edges(record):
            folds += 1
            for key, side in edges.items():
                counts[(key, side)] = counts.get((key, side), 0) + 1
    return counts, folds


def grid_edge_flag(records, share: float = 0.5) -> str:
    """``'alpha high 14/15'`` (several joined by ``'; '``) for each edge chosen in more than ``share`` of the folds
    of ``records``; ``''`` when none is."""
    counts, folds = grid_edge_counts(records)
    return "; ".join(f"{key} {side} {n}/{folds}" for (key, side), n in sorted(counts.items()) if n > share * folds)


def warn_grid_edges(paths: list[Path]) -> None:
    """Warn of each result whose chosen setting sat at an edge of its grid in more than half its folds."""
    flagged = []
    for path in dict.fromkeys(paths):
        try:
            flag = grid_edge_flag([read_json(path)])
        except (RwbenchError, KeyError, TypeError):
            continue
        if flag:
            flagged.append(f"{path.parent.name}/{path.stem}: {flag}")
    if flagged:
        log.warning("%d of %d results chose a setting at the edge of its grid in more than half their folds (the "
                    "best setting may lie outside the grid):\n  %s", len(flagged), len(set(paths)), "\n  ".join(flagged))


def same_grid(stored: Any, grid: Any) -> bool:
    """Whether a result's stored grid (read from JSON) holds the values of ``grid`` (tuples and lists alike)."""
    return json.loads(json.dumps(stored)) == json.loads(json.dumps(grid))


def grid_name_of(backend: Mapping) -> str | None:
    """The named grid a result's backend section was made with: its ``grid_name``, or for a file written before
    grids had names, the registered grid of that backend equal to its stored grid (None when none is)."""
    if backend.get("grid_name"):
        return backend["grid_name"]
    if backend.get("name") not in BACKENDS:  # e.g. a trained head, or a plugin backend not loaded here
        return None
    spec = BACKENDS.get(backend["name"])
    return next((name for name, grid in (spec.grids or {}).items() if same_grid(backend.get("grid"), grid)), None)
