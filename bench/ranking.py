"""Does the random-weight ranking predict the trained one? Rank correlations between two weight tags.

A front-end — its leaderboard name (variant included) and width — counts for a backend ``b`` when the
leaderboard has both its random row (weights ``random``, backend ``b``) and its trained row: weights
``trained`` with backend ``head`` (a classifier head trained end to end), or, for any other tag such as
``mtt``, the row of that tag with the same backend ``b``. Spearman ρ and Kendall τ (``scipy.stats``) are
computed on the means of the primary metric (accuracy; macro ROC-AUC for multilabel tasks) of those front-ends;
with fewer than :data:`MIN_FRONTENDS` they are left undefined (NaN, shown as a sentence, never as a number).
Ranks are within the front-ends with both, 1 = best, ties share the better rank.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .errors import RwbenchError
from .tasks import primary_metric

RANDOM, TRAINED, HEAD = "random", "trained", "head"
MIN_FRONTENDS = 3
CORRELATION_COLUMNS = ["dataset", "backend", "n", "spearman_rho", "spearman_p", "kendall_tau", "kendall_p", "frontends"]
def pair_columns(metric: str = "accuracy") -> list[str]:
    return ["dataset", "backend", "frontend", "width", f"random_{metric}", "random_rank", f"trained_{metric}",
            "trained_rank", "rank_diff"]

# leaderboard / comparison export column ← rank_correlation column
EXPORT_COLUMNS = {"rank_corr_spearman": "spearman_rho", "rank_corr_spearman_p": "spearman_p",
                  "rank_corr_kendall": "kendall_tau", "rank_corr_kendall_p": "kendall_p", "rank_corr_n": "n"}


def trained_backend_for(trained: str) -> str | None:
    """The backend of the trained side: ``head`` for ``trained`` rows, else None (the random side's backend)."""
    return HEAD if trained == TRAINED else None


def paired(table: pd.DataFrame, random: str = RANDOM, trained: str = TRAINED,
           trained_backend: str | None = HEAD) -> pd.DataFrame:
    """The front-ends with both sides, one row per (dataset, random backend, front-end, width): columns
    :func:`pair_columns` of the table's primary metric. ``rank_diff`` = random rank − trained rank (> 0: ranks
    higher on the trained side).
    ``trained_backend=None`` pairs each random backend with the same backend of the trained tag."""
    metric = primary_metric(table.columns)
    mean, mine, theirs = f"{metric}_mean", f"random_{metric}", f"trained_{metric}"
    on = ["dataset", "frontend", "width"] if trained_backend is not None else ["dataset", "frontend", "width", "backend"]
    random_side = table.loc[table["weights"] == random, ["dataset", "frontend", "width", "backend", mean]]
    trained_side = table[table["weights"] == trained]
    if trained_backend is not None:
        trained_side = trained_side[trained_side["backend"] == trained_backend]
    pairs = random_side.rename(columns={mean: mine}).merge(
        trained_side[[*on, mean]].rename(columns={mean: theirs}), on=on)
    if pairs.empty:
        return pd.DataFrame(columns=pair_columns(metric))
    groups = pairs.groupby(["dataset", "backend"])
    for side, column in (("random", mine), ("trained", theirs)):
        pairs[f"{side}_rank"] = groups[column].rank(ascending=False, method="min").astype(int)
    pairs["rank_diff"] = pairs["random_rank"] - pairs["trained_rank"]
    pairs = pairs.sort_values(["dataset", "backend", "random_rank", "trained_rank", "frontend"], kind="stable")
    return pairs[pair_columns(metric)].reset_index(drop=True)


def _correlations(random_scores: np.ndarray, trained_scores: np.ndarray) -> dict:
    if len(random_scores) < MIN_FRONTENDS:
        return dict.fromkeys(["spearman_rho", "spearman_p", "kendall_tau", "kendall_p"], float("nan"))
    with warnings.catch_warnings():  # a constant side gives NaN, reported as undefined, not as a warning
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = stats.spearmanr(random_scores, trained_scores)
        tau = stats.kendalltau(random_scores, trained_scores)
    return {"spearman_rho": float(rho.statistic), "spearman_p": float(rho.pvalue),
            "kendall_tau": float(tau.statistic), "kendall_p": float(tau.pvalue)}


def rank_correlation(table: pd.DataFrame, random: str = RANDOM, trained: str = TRAINED,
                     trained_backend: str | None = HEAD) -> pd.DataFrame:
    """Spearman ρ and Kendall τ between the random and trained accuracies of the front-ends with both, one
    row per (dataset, backend of the random side): columns :data:`CORRELATION_COLUMNS`. ``n`` counts those
    front-ends (0 when the dataset has no trained row), ``frontends`` lists them by random rank; with
    ``n`` < :data:`MIN_FRONTENDS` the figures are NaN."""
    pairs, metric = paired(table, random, trained, trained_backend), primary_metric(table.columns)
    rows = []
    for (dataset, backend), _ in table[table["weights"] == random].groupby(["dataset", "backend"], sort=True):
        both = pairs[(pairs["dataset"] == dataset) & (pairs["backend"] == backend)]
        rows.append({"dataset": dataset, "backend": backend, "n": len(both),
                     **_correlations(both[f"random_{metric}"].to_numpy(float), both[f"trained_{metric}"].to_numpy(float)),
                     "frontends": list(both["frontend"])})
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def describe(row: pd.Series | dict, random: str = RANDOM, trained: str = TRAINED) -> str:
    """One line for a :func:`rank_correlation` row: ``svm: ρ = 0.71 (p 0.047), τ = 0.57 (p 0.06), n = 8``."""
    n, backend = int(row["n"]), row["backend"]
    if n < MIN_FRONTENDS:
        return (f"{backend}: the rank correlation needs at least {MIN_FRONTENDS} front-ends with both {random} and "
                f"{trained} results (n = {n})")
    if np.isnan(row["spearman_rho"]) or np.isnan(row["kendall_tau"]):
        return f"{backend}: ρ and τ are undefined, the accuracies of one side are all equal (n = {n})"
    return (f"{backend}: ρ = {row['spearman_rho']:.2f} (p {_p(row['spearman_p'])}), "
            f"τ = {row['kendall_tau']:.2f} (p {_p(row['kendall_p'])}), n = {n}")


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


# -- rwbench compare ------------------------------------------------------------------------------
def comparison(table: pd.DataFrame, random: str = RANDOM, trained: str = TRAINED,
               backend: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`paired`, :func:`rank_correlation`) of ``table``, cut to ``backend`` when given; a clear error
    when a side or the backend has no rows."""
    if random == trained:
        raise RwbenchError(f"--random and --trained both name weights {random!r}; compare two different tags")
    tags = sorted(table["weights"].unique())
    for flag, tag in (("--random", random), ("--trained", trained)):
        if tag not in tags:
            present = f"weights present: {', '.join(tags)}" if tags else "the results folder holds no results"
            raise RwbenchError(f"{flag}: no results with weights {tag!r} ({present})")
    trained_backend = trained_backend_for(trained)
    trained_backends = sorted(table.loc[table["weights"] == trained, "backend"].unique())
    if trained_backend is not None and trained_backend not in trained_backends:
        raise RwbenchError(f"--trained: no {trained!r} results with backend {trained_backend!r} "
                           f"(backends: {', '.join(trained_backends)})")
    pairs = paired(table, random, trained, trained_backend)
    correlations = rank_correlation(table, random, trained, trained_backend)
    if backend is not None:
        backends = sorted(correlations["backend"].unique())
        if backend not in backends:
            raise RwbenchError(f"--backend: no {random!r} results with backend {backend!r} (backends: {', '.join(backends)})")
        pairs = pairs[pairs["backend"] == backend].reset_index(drop=True)
        correlations = correlations[correlations["backend"] == backend].reset_index(drop=True)
    return pairs, correlations
