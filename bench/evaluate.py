"""Nested cross-validation of one backend on one embedding matrix.

For each outer split of the dataset's protocol, the backend's grid is searched on the inner
(fit, validate) pairs — drawn from the outer training side only — the best setting is refit on the
outer training clips and scored once on the outer test clips. The selection score is recorded but
never reported as the result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.model_selection import GridSearchCV

from .backends import BackendSpec, short_name, tied_edges
from .errors import RwbenchError
from .folds import FoldResult, fold_result
from .protocol import OuterSplit
from .results import FoldStore, fold_contradiction
from .tasks import TASK_TYPES, Outputs, TaskType, fold_threshold

log = logging.getLogger(__name__)

def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a cgroup's or taskset's share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def shared_threads(n_jobs: int | None):
    """The context of a grid search over ``n_jobs`` jobs: joblib threads in this process (libsvm and BLAS release
    the GIL), each with its share of the cores in every BLAS/OpenMP pool (threadpoolctl, as on a Dask worker) and
    in torch, so jobs × threads never exceeds the cores. Threads, not processes: no worker starts or imports
    torch, the features are not copied, and the kernel SVM's memoised Gram matrices (per process, up to
    ``kernel_svm.CACHE_BYTES``) are shared rather than held once per worker. One job: nothing changes."""
    from joblib import effective_n_jobs, parallel_config

    jobs = effective_n_jobs(n_jobs)
    if jobs <= 1:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    threads, before = max(1, available_cores() // jobs), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with parallel_config(backend="threading"), threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)


def _relative(indices: np.ndarray, search: np.ndarray) -> np.ndarray:
    return np.searchsorted(search, indices)


def evaluate_split(
    X: np.ndarray, y: np.ndarray, split: OuterSplit, backend: BackendSpec, *, seed: int, n_classes: int,
    n_jobs: int | None = None, vote: str | None = None, row_clip: np.ndarray | None = None,
    task: TaskType = TASK_TYPES["multiclass"],
) -> FoldResult:
    """Select on ``split.inner``, refit on ``split.train``, score on ``split.test``, by ``task``'s metrics.

    With ``vote``, rows are windows of clips (``row_clip``): selection scores windows, the test
    score is per clip after voting over its windows' predictions (:data:`VOTES`; multiclass only).
    A multilabel ``y`` is an indicator matrix; its micro-F1 threshold is chosen on the inner validation sides.
    """
    if vote is not None and not task.votes:
        raise RwbenchError(f"voting over windows (--aggregate majority/probability) is not defined for {task.name} tasks")
    start = time.perf_counter()
    search = split.search
    inner = [(_relative(fit, search), _relative(val, search)) for fit, val in split.inner]
    estimator = task.estimator(backend.build, seed, backend.multilabel_native)
    searched = task.grid(backend.grid, backend.multilabel_native)
    grid = search_grid(estimator, searched, X[search], y[search], inner, scoring=task.scoring, n_jobs=n_jobs,
                       where=f"{backend.name} on {split.name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(estimator).set_params(**grid.best_params_).fit(X[split.train], y[split.train])
        threshold = fold_threshold(task, estimator, grid.best_params_, X[search], y[search], inner)
    if vote is None:
        outputs, truth, clips = task.outputs(model, X[split.test]), y[split.test], split.test
        n_train = len(split.train)
    else:
        if row_clip is None:
            raise RwbenchError("voting over windows needs each row's clip (row_clip)")
        outputs, truth = vote_outputs(vote, model, X[split.test], y[split.test], row_clip[split.test], n_classes)
        clips = np.unique(row_clip[split.test])  # the voters return clips in ascending order
        n_train = len(np.unique(row_clip[split.train]))  # clips, as n_test: not windows
    return fold_result(
        task, name=split.name, n_train=n_train, clips=clips, truth=truth, n_classes=n_classes,
        outputs=outputs, threshold=threshold,
        best_params=stored_params(grid.best_params_),
        selection_score=float(grid.best_score_), fit_seconds=time.perf_counter() - start,
        grid_edge=tied_edges(searched, tied_settings(grid)), train_truth=y[split.train])


def tied_settings(search: GridSearchCV) -> list[dict]:
    """The chosen setting first, then every other setting whose mean inner score equals it (to 1e-12: equal correct
    counts over unequal validation folds differ in the last bit)."""
    means, best = np.asarray(search.cv_results_["mean_test_score"], float), search.best_index_
    return [search.best_params_] + [params for i, params in enumerate(search.cv_results_["params"])
                                    if i != best and np.isclose(means[i], means[best], rtol=0, atol=1e-12)]


def search_grid(estimator, grid: list[dict], X: np.ndarray, y: np.ndarray, cv: list, *, scoring,
                n_jobs: int | None, where: str) -> GridSearchCV:
    """Every setting of ``grid`` fitted and scored on each (fit, validate) pair of ``cv`` (``refit=False``): an
    infeasible setting (k > n) scores NaN; every setting failing is an error naming ``where`` and the estimator's own
    error. The chosen setting has the highest mean inner score; settings tied on it go to the first in scikit-learn's
    order (``ParameterGrid``: parameter names sorted, the first varying slowest, values in their listed order). Means
    of equal correct counts over unequal validation folds can differ in the last bit, which then decides: either
    choice is one of equals."""
    search = GridSearchCV(estimator, grid, cv=cv, scoring=scoring, refit=False, n_jobs=n_jobs, error_score=np.nan)
    with warnings.catch_warnings(record=True) as caught, shared_threads(n_jobs):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("always", FitFailedWarning)
        warnings.filterwarnings("always", "Scoring failed")
        warnings.filterwarnings("ignore", "One or more of the test scores are non-finite")
        try:
            search.fit(X, y)
        except ValueError as err:  # scikit-learn's own "All the N fits failed", its last line the estimator's error
            if "fits failed" not in str(err):
                raise
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            raise RwbenchError(f"{where}: every grid setting failed on the inner splits: {lines[-1]}") from None
    failed = np.isnan(search.cv_results_["mean_test_score"])
    if failed.all():
        raise RwbenchError(f"{where}: every grid setting failed on the inner splits{failure_cause(caught)}")
    if failed.any():  # left out of the choice (k > n is expected; anything else is worth a look)
        log.info("%s: %d of %d grid settings failed on the inner splits and are not chosen from%s", where,
                 int(failed.sum()), len(failed), failure_cause(caught))
    return search


def failure_cause(caught: list[warnings.WarningMessage]) -> str:
    """``: <the estimator's own error>`` from scikit-learn's fit- or scoring-failure warnings (their last line);
    empty when none was caught."""
    for warning in caught:
        text = str(warning.message)
        if issubclass(warning.category, FitFailedWarning) or text.startswith("Scoring failed"):
            lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
            return f": {lines[-1]}" if lines else ""
    return ""


def stored_params(params: dict) -> dict:
    """Chosen settings as a result file stores them: short keys (``C``, not ``clf__C``), plain Python values."""
    return {short_name(k): _plain(v) for k, v in params.items()}


def nested_cv(
    X: np.ndarray, y: np.ndarray, splits: list[OuterSplit], backend: BackendSpec, *, seed: int, n_classes: int,
    n_jobs: int | None = None, vote: str | None = None, row_clip: np.ndarray | None = None,
    task: TaskType = TASK_TYPES["multiclass"], store: FoldStore | None = None,
) -> list[FoldResult]:
    """:func:`evaluate_split` on each outer split; with ``store``, a fold it holds is reused and each new one is
    kept there as soon as it is scored."""
    done: dict[str, FoldResult | None] = {}
    if store is not None:
        done = {s.name: store.get(s.name) for s in splits}
        for name, fold in done.items():
            contradiction = fold and fold_contradiction(task, fold.to_dict())
            if contradiction:
                log.warning("%s: the stored fold %s has %s; that fold is computed again", store.folder, name,
                            contradiction)
                done[name] = None
        reused = sum(fold is not None for fold in done.values())
        if reused:
            log.info("%s: %d of %d outer folds already scored (%s); resuming", backend.name, reused, len(splits),
                     store.folder)
    out = []
    for s in splits:
        fold = done.get(s.name)
        if fold is None:
            fold = evaluate_split(X, y, s, backend, seed=seed, n_classes=n_classes, n_jobs=n_jobs, vote=vote,
                                  row_clip=row_clip, task=task)
            if store is not None:
                store.put(fold)
        out.append(fold)
    return out


# -- segment-and-aggregate -----------------------------------------------------------------------
def clip_means(features: np.ndarray, clip_index: np.ndarray) -> np.ndarray:
    """Average the window rows of each clip (``clip_index`` ascending): ``(n_clips, dim)``."""
    starts = np.flatnonzero(np.r_[True, clip_index[1:] != clip_index[:-1]])
    counts = np.diff(np.r_[starts, len(clip_index)])
    return np.add.reduceat(np.asarray(features, dtype=np.float64), starts, axis=0) / counts[:, None]


def _per_clip(values: np.ndarray, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each clip, sum of ``values`` over each clip's rows)."""
    ids, first, inverse = np.unique(clips, return_index=True, return_inverse=True)
    sums = np.zeros((len(ids), values.shape[1]))
    np.add.at(sums, inverse, values)
    return first, sums


def vote_outputs(vote: str, model, X, y, clips, n_classes) -> tuple[Outputs, np.ndarray]:
    """Per clip after voting over its windows: (its outputs, its true class). ``majority``: each window votes for its
    predicted class (scores: the fraction of the clip's windows voting for each class); a tie goes to the tied class
    with the highest mean window score (``predict_proba``, else the decision function), never to a class by its
    index. ``probability``: those mean window scores decide."""
    if vote == "majority":
        first, votes = _per_clip(np.eye(n_classes)[model.predict(X)], clips)
        tied = votes == votes.max(axis=1, keepdims=True)
        predicted = votes.argmax(axis=1)
        if (tied.sum(axis=1) > 1).any():
            by_score = np.full(votes.shape, -np.inf)
            by_score[:, np.asarray(model.classes_, int)] = _clip_means(window_scores(model, X)[0], clips)[1]
            predicted = np.where(tied, by_score, -np.inf).argmax(axis=1)
        return Outputs(predicted, votes / votes.sum(axis=1, keepdims=True), "majority_votes"), y[first]
    scores, kind = window_scores(model, X)
    first, means = _clip_means(scores, clips)
    return Outputs(model.classes_[means.argmax(axis=1)], means, kind, model.classes_), y[first]


def _clip_means(scores: np.ndarray, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each clip, mean of ``scores`` over each clip's rows)."""
    first, sums = _per_clip(scores, clips)
    return first, sums / np.bincount(np.unique(clips, return_inverse=True)[1])[:, None]


def window_scores(model, X) -> tuple[np.ndarray, str]:
    """Each window's class scores (columns: ``model.classes_``) and what they are."""
    if not hasattr(model, "predict_proba") and not hasattr(model, "decision_function"):
        raise RwbenchError(f"{type(model).__name__} gives no class scores (predict_proba or decision_function): "
                           "windows voted per clip cannot be averaged, nor a tie of votes settled")
    if hasattr(model, "predict_proba"):
        scores, kind = model.predict_proba(X), "mean_predict_proba"
    else:
        scores, kind = model.decision_function(X), "mean_decision_function"
    scores = np.asarray(scores, np.float64)
    if scores.ndim == 1:  # binary decision_function: > 0 means classes_[1]
        scores = np.column_stack([-scores, scores])
    return scores, kind


def _majority_vote(model, X, y, clips, n_classes):
    """Each window votes for its predicted class; a tie goes to the tied class of highest mean window score."""
    outputs, truth = vote_outputs("majority", model, X, y, clips, n_classes)
    return outputs.predicted, truth


def _probability_vote(model, X, y, clips, n_classes):
    """Mean class probabilities (``predict_proba``) over windows, or mean decision scores without it."""
    outputs, truth = vote_outputs("probability", model, X, y, clips, n_classes)
    return outputs.predicted, truth


VOTES = {"majority": _majority_vote, "probability": _probability_vote}
AGGREGATES = ("mean", *VOTES)  # "mean": average the window embeddings of a clip, then classify clips


def _plain(value):
    """numpy scalars → Python scalars, so best params serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value
