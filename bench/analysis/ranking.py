"""Does the random-weight ranking predict the trained one? Rank correlations between two weight tags.

A front-end — its leaderboard name (variant included) and width — counts for a backend ``b`` when the
leaderboard has both its random row (weights ``random``, backend ``b``) and its trained row: weights
``trained`` with backend ``head`` (a classifier head trained end to end), or, for any other tag such as
``mtt``, the row of that tag with the same backend ``b``. Spearman ρ and Kendall τ (``scipy.stats``) are
computed on the means of the primary metric (accuracy; macro ROC-AUC for multilabel tasks) of those front-ends;
with fewer than :data:`MIN_FRONTENDS` they are left undefined (NaN, shown as a sentence, never as a number).
Ranks are within the front-ends with both, 1 = best, ties share the better rank.

What a referee needs beside ρ and τ (:func:`correlation_figures`):

* **exact p**: Spearman's for n ≤ :data:`SPEARMAN_EXACT_N` from the exact permutation distribution of
  Σ rank(x)·rank(y) over all n! pairings (enumerated by subsets, ties included); Kendall's from scipy's exact
  distribution without ties (n ≤ :data:`KENDALL_EXACT_N`), from all n! pairings with ties (n ≤ :data:`EXACT_N`);
  beyond, the large-sample p (``spearman_p_method`` / ``kendall_p_method`` say which). Two-sided throughout:
  |statistic| at least the observed.
* **intervals**: a percentile bootstrap of ρ over the front-ends (pairs drawn with replacement; none below
  :data:`MIN_BOOTSTRAP_N` front-ends, where it contradicts the exact test; the share of draws with an undefined ρ
  is recorded), and one over the outer folds × seeds (the same folds drawn for every front-end and both sides,
  each row's seeds drawn from its own; none, with the reason, when rows hold different numbers of folds), with
  its median: a redraw adds fold noise to every row's mean, which lowers ρ, so the observed ρ can lie above this
  percentile interval (the line then says so, to three decimals).
* **Holm** across the correlations of one dataset (ρ and τ of every random backend: one family, also where
  ``--backend`` prints one of them; the within-family p-values are descriptive, in no family).
* **null rankings**: ρ of the parameter count, of the multiply-accumulates per second of audio (MACs) and of the
  feature dimension with the trained ranking: what ρ must beat to say more than "bigger networks do better". Results
  written before MACs were recorded get them from the registered front-end (:func:`rwbench.macs.count_macs`); a
  null with a value unknown for any front-end is undefined, and the front-ends are named (``null_unknown``).
  And ρ of the input family (waveform, log-mel …) with the families ordered by their mean trained score — the
  very scores it is compared with (in-sample): an upper bound of what a ranking that knows only the family can do.
* **against the strongest null**: ρ minus the largest |null ρ| (a negative one reversed: "smaller does better" is as
  cheap a ranking), with a percentile bootstrap over the front-ends in which every null is recomputed and the
  strongest chosen again in each draw (the choice is made on the data, so the interval must repeat it): an interval
  above zero says the random weights rank the trained networks better than their size, compute, feature
  dimension or input family alone do.
* **within families**: ρ (exact p at small n) over the front-ends of each input family alone; the pooled ρ is the
  across-family figure. A ρ carried by the gap between families says less about architectures within one.
* **leave one out**: the lowest and highest ρ with one front-end removed, and the front-end whose removal moves ρ
  most (or leaves it undefined: the other trained scores all tie). A row cannot be dropped after the numbers are
  seen; this shows instead whether one row decides ρ.

A front-end that appears at several widths is named ``name (width)`` in every list.
"""

from __future__ import annotations

import math
import warnings
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import RwbenchError
from ..tasks import primary_metric
from .significance import holm, settled

RANDOM, TRAINED, HEAD = "random", "trained", "head"
SEED_FOLD_COLUMN = "fold_scores_by_seed"  # leaderboard column: per row, its (seeds × folds) primary-metric scores
MIN_FRONTENDS = 3
SPEARMAN_EXACT_N = 14  # Spearman: exact p up to this many front-ends (the subset programme: 1.5 s at 14, 4 s at 15)
KENDALL_EXACT_N = 100  # Kendall without ties: scipy's exact distribution (milliseconds)
EXACT_N = 10  # Kendall with tied ranks: all n! pairings (seconds at 10)
MIN_BOOTSTRAP_N = 8  # fewer pairs: the percentile bootstrap of ρ contradicts the exact test (n = 5: 14 of the 120
# orderings have p > 0.05 and an interval excluding 0) or collapses to a point (n = 4, ρ = 1: 1.00 … 1.00)
BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 0
FIGURES = ["spearman_rho", "spearman_p", "kendall_tau", "kendall_p", "spearman_p_method", "kendall_p_method",
           "spearman_p_holm", "kendall_p_holm", "rho_ci_frontends_low", "rho_ci_frontends_high",
           "rho_ci_undefined_draws", "rho_ci_folds_low", "rho_ci_folds_high", "rho_folds_median", "rho_ci_folds_missing",
           "null_rho_params", "null_rho_macs", "null_rho_dim", "null_rho_input", "null_unknown", "null_best",
           "rho_minus_null", "rho_minus_null_ci_low", "rho_minus_null_ci_high", "rho_within_families",
           "rho_leave_one_out_low", "rho_leave_one_out_high", "rho_leave_one_out_undefined", "most_influential"]
TEXT_FIGURES = ("spearman_p_method", "kendall_p_method", "rho_ci_folds_missing", "null_best", "most_influential")
CORRELATION_COLUMNS = ["dataset", "backend", "n", *FIGURES, "frontends"]
# each side's seeds and outer folds: a row on fewer runs than the others is ranked all the same, and shown
RUN_COUNTS = ("random_seeds", "random_n_folds", "trained_seeds", "trained_n_folds")


def pair_columns(metric: str = "accuracy") -> list[str]:
    return ["dataset", "backend", "frontend", "width", f"random_{metric}", "random_rank", f"trained_{metric}",
            "trained_rank", "rank_diff", *RUN_COUNTS, *(f"trained_{flag}" for flag in TRAINED_FLAGS)]


# what a trained accuracy needs to be read by (leaderboard flags), carried beside it into the comparison
TRAINED_FLAGS = ("not_converged", "selected_elsewhere", "grid_edge")


# leaderboard / comparison export column ← rank_correlation column
EXPORT_COLUMNS = {"rank_corr_spearman": "spearman_rho", "rank_corr_spearman_p": "spearman_p",
                  "rank_corr_kendall": "kendall_tau", "rank_corr_kendall_p": "kendall_p", "rank_corr_n": "n",
                  "rank_corr_spearman_p_method": "spearman_p_method", "rank_corr_kendall_p_method": "kendall_p_method",
                  "rank_corr_spearman_p_holm": "spearman_p_holm", "rank_corr_kendall_p_holm": "kendall_p_holm",
                  "rank_corr_spearman_ci_low": "rho_ci_frontends_low", "rank_corr_spearman_ci_high": "rho_ci_frontends_high",
                  "rank_corr_spearman_ci_undefined_draws": "rho_ci_undefined_draws",
                  "rank_corr_spearman_folds_ci_low": "rho_ci_folds_low",
                  "rank_corr_spearman_folds_ci_high": "rho_ci_folds_high",
                  "rank_corr_spearman_folds_median": "rho_folds_median",
                  "rank_corr_spearman_folds_ci_missing": "rho_ci_folds_missing",
                  "rank_corr_null_params": "null_rho_params", "rank_corr_null_macs": "null_rho_macs",
                  "rank_corr_null_dim": "null_rho_dim", "rank_corr_null_input": "null_rho_input",
                  "rank_corr_null_unknown": "null_unknown",
                  "rank_corr_null_best": "null_best", "rank_corr_minus_null": "rho_minus_null",
                  "rank_corr_minus_null_ci_low": "rho_minus_null_ci_low",
                  "rank_corr_minus_null_ci_high": "rho_minus_null_ci_high",
                  "rank_corr_within_families": "rho_within_families",
                  "rank_corr_spearman_leave_one_out_low": "rho_leave_one_out_low",
                  "rank_corr_spearman_leave_one_out_high": "rho_leave_one_out_high",
                  "rank_corr_spearman_leave_one_out_undefined": "rho_leave_one_out_undefined",
                  "rank_corr_most_influential": "most_influential"}


NULLS = ("params", "macs", "dim")  # the null rankings: front-end size, compute and feature dimension
NULL_LABELS = {"input": "input, in-sample family means"}  # families ordered by the trained scores compared with


def with_macs(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every row's ``macs`` (per second of audio): as recorded, else counted on the registered
    front-end of that name and width (results written before MACs were recorded); NaN where it cannot be counted
    (not registered here, or no longer at that width)."""
    table = table.copy()
    if "macs" not in table.columns:
        table["macs"] = np.nan
    missing = table["macs"].isna()
    if missing.any():
        from ..frontend import FRONTENDS
        from ..macs import count_macs  # torch: imported only when a file lacks the figure

        for i in table.index[missing]:
            name, width = str(table.at[i, "frontend"]).split("[")[0], str(table.at[i, "width"])
            try:
                table.at[i, "macs"] = float(count_macs(FRONTENDS.get(name), width))
            except RwbenchError:  # not registered here, or no longer at that width: unknown, and said so
                table.at[i, "macs"] = np.nan
    return table


def trained_backend_for(trained: str, transfer: bool = False) -> str | None:
    """The backend of the trained side: ``head`` for ``trained`` rows, else (or with ``transfer``: the trained
    features refit with the random side's backend) None, the random side's backend."""
    return HEAD if trained == TRAINED and not transfer else None


def paired(table: pd.DataFrame, random: str = RANDOM, trained: str = TRAINED,
           trained_backend: str | None = HEAD) -> pd.DataFrame:
    """The front-ends with both sides, one row per (dataset, random backend, front-end, width): columns
    :func:`pair_columns` of the table's primary metric. ``rank_diff`` = random rank − trained rank (> 0: ranks
    higher on the trained side).
    ``trained_backend=None`` pairs each random backend with the same backend of the trained tag."""
    pairs = _pairs(table, random, trained, trained_backend)
    return pairs[pair_columns(primary_metric(table))].reset_index(drop=True)


def _pairs(table: pd.DataFrame, random: str, trained: str, trained_backend: str | None) -> pd.DataFrame:
    """:func:`paired` with the random side's ``params``, ``macs`` and ``dim`` and each side's per-seed fold scores."""
    metric = primary_metric(table)
    mean, mine, theirs = f"{metric}_mean", f"random_{metric}", f"trained_{metric}"
    compared = table[table["weights"].isin([random, trained])]
    if not (bad := compared[~np.isfinite(compared[mean].to_numpy(float))]).empty:
        rows = "; ".join(f"{r.dataset} {r.frontend} ({r.width}, {r.weights}, {r.backend})" for r in bad.itertuples())
        raise RwbenchError(f"no {mean} to rank (NaN or infinite) for: {rows}")
    # means equal in exact arithmetic tie (float noise of their sums would order them): as significance rounds
    table = table.assign(**{mean: settled(table[mean])})
    by_seed = SEED_FOLD_COLUMN if SEED_FOLD_COLUMN in table.columns else None
    table = with_macs(table)
    table = table.assign(**{c: table[c] if c in table.columns else pd.NA for c in ("n_seeds", "n_folds")})
    table = table.assign(**{flag: table[flag].fillna("") if flag in table.columns else "" for flag in TRAINED_FLAGS})
    detail = [*NULLS, *(["input"] if "input" in table.columns else []), *([by_seed] if by_seed else [])]
    on = ["dataset", "frontend", "width"] if trained_backend is not None else ["dataset", "frontend", "width", "backend"]
    counts: dict[str, dict[str | None, str]] = {side: {"n_seeds": f"{side}_seeds", "n_folds": f"{side}_n_folds"}
                                                for side in ("random", "trained")}
    if "copy_of" in table.columns:  # a row repeating another under another width label is one front-end, paired once
        table = table[table["copy_of"].fillna("") == ""]
    random_side = table.loc[table["weights"] == random,
                            ["dataset", "frontend", "width", "backend", mean, "n_seeds", "n_folds", *detail]]
    trained_side = table[table["weights"] == trained]
    if trained_backend is not None:
        trained_side = trained_side[trained_side["backend"] == trained_backend]
    mine_names: dict[str | None, str] = {mean: mine, by_seed: "random_folds", **counts["random"]}
    their_names: dict[str | None, str] = {mean: theirs, by_seed: "trained_folds", **counts["trained"],
                                          **{flag: f"trained_{flag}" for flag in TRAINED_FLAGS}}
    pairs = random_side.rename(columns=mine_names).merge(
        trained_side[[*on, mean, "n_seeds", "n_folds", *TRAINED_FLAGS, *([by_seed] if by_seed else [])]]
        .rename(columns=their_names), on=on)
    if pairs.empty:
        return pd.DataFrame(columns=[*pair_columns(metric), *NULLS, "input"])
    groups = pairs.groupby(["dataset", "backend"])
    for side, column in (("random", mine), ("trained", theirs)):
        pairs[f"{side}_rank"] = groups[column].rank(ascending=False, method="min").astype(int)
    pairs["rank_diff"] = pairs["random_rank"] - pairs["trained_rank"]
    return pairs.sort_values(["dataset", "backend", "random_rank", "trained_rank", "frontend"], kind="stable")


# -- exact p-values -------------------------------------------------------------------------------------------------
def spearman_exact_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided exact p of Spearman's ρ: the share of the n! pairings of y's ranks with x's whose Σ rank(x)·rank(y)
    lies at least as far from its mean as the observed one (mid-ranks for ties)."""
    a, b = np.rint(2 * stats.rankdata(x)).astype(int), np.rint(2 * stats.rankdata(y)).astype(int)
    values, counts = _pairing_sums(tuple(a), tuple(sorted(b)))
    centre = a.sum() * b.sum() / len(a)
    observed = abs(int(a @ b) - centre)
    return float(counts[np.abs(values - centre) >= observed - 1e-9].sum() / math.factorial(len(a)))


@cache
def _pairing_sums(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The distribution of Σᵢ a[i]·b[π(i)] over all permutations π: (values, counts). A dynamic programme over the
    subsets of b already placed (position i takes the i-th of a): 2ⁿ states instead of n! pairings."""
    n, top = len(a), int(np.dot(sorted(a), sorted(b)))
    layer = {0: np.zeros(top + 1, dtype=np.int64)}
    layer[0][0] = 1
    for i in range(n):
        following: dict[int, np.ndarray] = {}
        for mask, counts in layer.items():
            for j in range(n):
                if not mask >> j & 1:
                    shift = a[i] * b[j]
                    target = following.setdefault(mask | 1 << j, np.zeros(top + 1, dtype=np.int64))
                    target[shift:] += counts[:top + 1 - shift]
        layer = following
    (counts,) = layer.values()
    values = np.flatnonzero(counts)
    return values, counts[values]


def kendall_exact_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided exact p of Kendall's τ-b: scipy's exact distribution without ties; with ties the share of all n!
    pairings whose |τ-b| is at least the observed one, the two-sided rule of :func:`spearman_exact_p` (a doubled
    one-sided p, scipy's default, disagrees with it where tied ranks make the distribution asymmetric). n ≤
    :data:`EXACT_N`: 10! pairings take seconds."""
    if len(np.unique(x)) == len(x) and len(np.unique(y)) == len(y):
        return float(stats.kendalltau(x, y, method="exact").pvalue)
    result = stats.permutation_test((np.asarray(x, float),), lambda v, axis=-1: np.abs(_tau_b(v, np.asarray(y, float))),
                                    permutation_type="pairings", vectorized=True, n_resamples=math.factorial(len(x)),
                                    batch=40_320, alternative="greater")
    return float(result.pvalue)


def _tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's τ-b of each row of ``x`` (``(..., n)``) with ``y``."""
    sx = np.sign(x[..., :, None] - x[..., None, :])
    sy = np.sign(y[:, None] - y[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sx * sy).sum(axis=(-1, -2)) / np.sqrt(np.abs(sx).sum(axis=(-1, -2)) * np.abs(sy).sum())


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ of each row pair of ``x`` and ``y`` (``(draws, n)``); NaN where a row is constant."""
    rx, ry = stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(axis=-1, keepdims=True), ry - ry.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=-1) / np.sqrt((rx ** 2).sum(axis=-1) * (ry ** 2).sum(axis=-1))


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _pair_draws(n: int, draws: int, seed: int) -> np.ndarray | None:
    """Bootstrap draws of ``n`` pairs, ``(draws, n)`` indices; None below :data:`MIN_BOOTSTRAP_N` pairs."""
    return np.random.default_rng(seed).integers(0, n, size=(draws, n)) if n >= MIN_BOOTSTRAP_N else None


def frontend_rhos(x: np.ndarray, y: np.ndarray, *, draws: int = BOOTSTRAP_DRAWS,
                  seed: int = BOOTSTRAP_SEED) -> np.ndarray | None:
    """ρ of each bootstrap draw of the pairs (NaN where a drawn side is constant); None below
    :data:`MIN_BOOTSTRAP_N` pairs."""
    picks = _pair_draws(len(x), draws, seed)
    return None if picks is None else _spearman_rows(np.asarray(x, float)[picks], np.asarray(y, float)[picks])


def frontend_interval(x: np.ndarray, y: np.ndarray, *, draws: int = BOOTSTRAP_DRAWS,
                      seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95 % percentile interval of ρ with the front-ends (pairs) drawn with replacement; NaN below
    :data:`MIN_BOOTSTRAP_N` pairs."""
    rhos = frontend_rhos(x, y, draws=draws, seed=seed)
    return (float("nan"), float("nan")) if rhos is None else _interval(rhos)


def family_means(y: np.ndarray, families: np.ndarray) -> np.ndarray:
    """Each row's family mean of ``y`` (``(draws, n)``), within the row: ``families`` holds integer codes."""
    onehot = families[..., None] == np.arange(families.max() + 1)  # (draws, n, families)
    means = (y[..., None] * onehot).sum(axis=-2) / np.maximum(onehot.sum(axis=-2), 1)
    return (onehot * means[..., None, :]).sum(axis=-1)


def rho_difference_interval(x: np.ndarray, y: np.ndarray, other: np.ndarray, *, families: bool = False,
                            draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95 % percentile interval of ρ(x, y) − ρ(other, y), a paired bootstrap: the pairs drawn with replacement, the
    same draws for both (those of :func:`frontend_interval`). With ``families``, ``other`` holds family codes and
    is the family mean of ``y`` in each draw (the input-family null ranking)."""
    picks = _pair_draws(len(x), draws, seed)
    if picks is None:
        return float("nan"), float("nan")
    yp = np.asarray(y, float)[picks]
    otherp = family_means(yp, np.asarray(other)[picks]) if families else np.asarray(other, float)[picks]
    return _interval(_spearman_rows(np.asarray(x, float)[picks], yp) - _spearman_rows(otherp, yp))


def strongest_null_interval(x: np.ndarray, y: np.ndarray, nulls: list[np.ndarray], family_codes: np.ndarray | None,
                            *, draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95 % percentile interval of ρ(x, y) − maxₖ |ρ(nullₖ, y)|, the pairs drawn with replacement (the draws of
    :func:`frontend_interval`) and the strongest null chosen again in every draw: it was chosen on the data.
    ``family_codes``: the input family of each pair (its null: the family means of ``y``, recomputed per draw), or
    None. A null constant in a draw ranks nothing there (|ρ| = 0). NaN below :data:`MIN_BOOTSTRAP_N` pairs."""
    picks = _pair_draws(len(x), draws, seed)
    if picks is None:
        return float("nan"), float("nan")
    yp = np.asarray(y, float)[picks]
    drawn = [np.asarray(v, float)[picks] for v in nulls]
    if family_codes is not None:
        drawn.append(family_means(yp, np.asarray(family_codes)[picks]))
    strongest = np.nan_to_num(np.abs(np.stack([_spearman_rows(v, yp) for v in drawn])), nan=0.0).max(axis=0)
    return _interval(_spearman_rows(np.asarray(x, float)[picks], yp) - strongest)


def fold_interval(random_folds: list, trained_folds: list, *, draws: int = BOOTSTRAP_DRAWS,
                  seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95 % percentile interval of ρ over outer folds × seeds (:func:`fold_draws`); NaN where it has none."""
    rhos = fold_draws(random_folds, trained_folds, draws=draws, seed=seed)
    return (float("nan"), float("nan")) if rhos is None else _interval(rhos)


def fold_draws(random_folds: list, trained_folds: list, *, draws: int = BOOTSTRAP_DRAWS,
               seed: int = BOOTSTRAP_SEED) -> np.ndarray | None:
    """ρ of ``draws`` redraws of the outer folds × seeds: each takes the outer folds with replacement (the same folds
    for every front-end and both sides) and each row's seeds with replacement, and recomputes every row's mean.
    ``*_folds``: per front-end, its (seeds × folds) scores. None (undefined) when every draw would be the same (one
    outer split and one seed per row) or the rows hold different numbers of folds (:func:`folds_missing` says why).
    A redraw repeats some folds and leaves others out, which adds noise to every row's mean and so lowers ρ: the
    draws sit below the observed ρ, by more where rows differ by less than their folds vary."""
    sides = [[np.asarray(m, float) for m in side] for side in (random_folds, trained_folds)]
    n_folds = {m.shape[1] for side in sides for m in side}
    if len(n_folds) != 1:
        return None
    rng, (k,) = np.random.default_rng(seed), n_folds
    if k == 1 and all(len(m) == 1 for side in sides for m in side):  # one split, one seed: nothing to resample
        return None
    folds = rng.integers(0, k, size=(draws, k))
    means = []
    for side in sides:
        columns = []
        for m in side:
            seeds = rng.integers(0, len(m), size=(draws, len(m)))
            columns.append(settled(m[seeds[:, :, None], folds[:, None, :]].mean(axis=(1, 2))))
        means.append(np.stack(columns, axis=1))
    return _spearman_rows(*means)


def folds_missing(names: list[str], random_folds: list, trained_folds: list) -> str:
    """Why :func:`fold_interval` has no interval when the rows hold different numbers of outer folds ("" when they
    hold the same): each count, with the rows that have it."""
    counts: dict[int, list[str]] = {}
    for name, r, t in zip(names, random_folds, trained_folds):
        for side, m in (("random", r), ("trained", t)):
            counts.setdefault(np.asarray(m).shape[1], []).append(f"{name} {side}")
    if len(counts) < 2:
        return ""
    usual = max(counts, key=lambda k: len(counts[k]))
    odd = "; ".join(f"{', '.join(rows)}: {k}" for k, rows in sorted(counts.items()) if k != usual)
    return f"rows scored on different numbers of outer folds ({odd}; the others: {usual})"


def leave_one_out(x: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, Any]:
    """ρ of the pairs with each one left out: its lowest and highest value over the removals that leave ρ defined,
    the names whose removal leaves it undefined (the other scores of a side all tie), and the most influential
    name: the first of those, else the one whose removal moves ρ furthest from the full ρ (the first on a tie; ""
    when no removal moves it). NaN and "" below :data:`MIN_FRONTENDS` + 1 pairs."""
    out: dict[str, Any] = {"rho_leave_one_out_low": float("nan"), "rho_leave_one_out_high": float("nan"),
                           "rho_leave_one_out_undefined": [], "most_influential": ""}
    n = len(x)
    if n <= MIN_FRONTENDS:
        return out
    keep = ~np.eye(n, dtype=bool)  # row i: every pair but the i-th
    rhos = _spearman_rows(np.broadcast_to(x, (n, n))[keep].reshape(n, n - 1),
                          np.broadcast_to(y, (n, n))[keep].reshape(n, n - 1))
    defined = np.isfinite(rhos)
    out["rho_leave_one_out_undefined"] = [names[i] for i in np.flatnonzero(~defined)]
    if not defined.any():
        return out
    # settled: removals that move ρ equally in exact arithmetic (0.2 as 0.20000000000000007 and 0.19999999999999996)
    # tie, and the first of them is named, not the one rounding favoured
    moved = settled(np.abs(rhos - _spearman_rows(np.asarray(x, float)[None], np.asarray(y, float)[None])[0]))
    moved[~defined] = np.inf
    out.update(rho_leave_one_out_low=float(rhos[defined].min()), rho_leave_one_out_high=float(rhos[defined].max()),
               most_influential=names[int(np.argmax(moved))] if moved.max() > 1e-12 else "")
    return out


def within_families(both: pd.DataFrame, metric: str) -> dict[str, dict]:
    """Per input family with at least :data:`MIN_FRONTENDS` front-ends: ``{"n", "rho", "p", "p_method"}`` of the
    random-vs-trained Spearman ρ over that family's front-ends alone; empty when one family holds them all (the
    pooled ρ is its ρ)."""
    out: dict[str, dict] = {}
    if both["input"].nunique() < 2:
        return out
    for family, members in both.groupby("input", sort=True):
        x, y = members[f"random_{metric}"].to_numpy(float), members[f"trained_{metric}"].to_numpy(float)
        if len(x) < MIN_FRONTENDS:
            continue
        agreement = rank_agreement(x, y, interval=False, kendall=False)
        out[str(family)] = {"n": len(x), "rho": agreement["spearman_rho"], "p": agreement["spearman_p"],
                            "p_method": agreement["spearman_p_method"]}
    return out


def rank_agreement(x: np.ndarray, y: np.ndarray, *, interval: bool = True, kendall: bool = True) -> dict[str, Any]:
    """Spearman ρ and (with ``kendall``) Kendall τ of the pairs ``(x, y)`` with their two-sided p, exact where
    affordable (see the module's notes; ``spearman_p_method``/``kendall_p_method``: ``exact`` or ``large-sample``)
    and, with ``interval``, the bootstrap 95 % interval of ρ over the pairs (``rho_ci_low``/``rho_ci_high``; none
    below :data:`MIN_BOOTSTRAP_N` pairs) with the share of draws where ρ was undefined (``rho_ci_undefined_draws``,
    left out of the interval). NaN where undefined (a constant side)."""
    nan = float("nan")
    out: dict[str, Any] = {"spearman_rho": nan, "spearman_p": nan, "kendall_tau": nan, "kendall_p": nan,
                           "spearman_p_method": "", "kendall_p_method": "", "rho_ci_low": nan, "rho_ci_high": nan,
                           "rho_ci_undefined_draws": nan}
    with warnings.catch_warnings():  # a constant side gives NaN, reported as undefined, not as a warning
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = stats.spearmanr(x, y)
        tau = stats.kendalltau(x, y, method="asymptotic") if kendall else None  # exact below, when it is
    out["spearman_rho"] = float(rho.statistic)
    if not np.isfinite(out["spearman_rho"]):
        return out
    n = len(x)
    if n <= SPEARMAN_EXACT_N:
        out.update(spearman_p=spearman_exact_p(x, y), spearman_p_method="exact")
    else:
        out.update(spearman_p=float(rho.pvalue), spearman_p_method="large-sample")
    if tau is not None:
        ties = len(np.unique(x)) < n or len(np.unique(y)) < n
        exact = n <= (EXACT_N if ties else KENDALL_EXACT_N)
        out.update(kendall_tau=float(tau.statistic), kendall_p=kendall_exact_p(x, y) if exact else float(tau.pvalue),
                   kendall_p_method="exact" if exact else "large-sample")
    if interval and (rhos := frontend_rhos(x, y)) is not None:
        out.update(zip(("rho_ci_low", "rho_ci_high"), _interval(rhos)),
                   rho_ci_undefined_draws=float(np.mean(~np.isfinite(rhos))))
    return out


def labels(both: pd.DataFrame) -> list[str]:
    """The front-ends' names, ``name (width)`` where a name appears at more than one width."""
    if "frontend" not in both:
        return [str(v) for v in both.index]
    if "width" not in both:
        return [str(v) for v in both["frontend"]]
    widths = both.groupby("frontend")["width"].transform("nunique")
    return [f"{f} ({w})" if k > 1 else str(f) for f, w, k in zip(both["frontend"], both["width"], widths)]


def _nulls(both: pd.DataFrame, y: np.ndarray, metric: str, names: list[str]) -> tuple[dict[str, Any], dict]:
    """The null rankings' ρ (``null_rho_*``), and per null the front-ends whose value is unknown (that null is then
    undefined: ρ over a subset is another ranking's ρ), with the values that enter the bootstrap."""
    null: dict[str, Any] = {"null_unknown": {}}
    values: dict[str, np.ndarray] = {}
    columns = [*NULLS, *(["input"] if "input" in both.columns else [])]
    for c in columns:
        known = both[c].notna().to_numpy() if c == "input" else np.isfinite(both[c].to_numpy(float))
        if not known.all():
            null[f"null_rho_{c}"] = float("nan")
            null["null_unknown"][c] = [name for name, k in zip(names, known) if not k]
            continue
        if c == "input":
            values[c] = pd.factorize(both["input"])[0]
            ranking = both.groupby("input")[f"trained_{metric}"].transform("mean").to_numpy(float)  # in-sample
        else:
            values[c] = ranking = both[c].to_numpy(float)
        with warnings.catch_warnings():  # a constant ranking gives NaN, reported as undefined, not as a warning
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            null[f"null_rho_{c}"] = float(stats.spearmanr(ranking, y).statistic)
    return null, values


def _correlations(both: pd.DataFrame, metric: str) -> dict:
    x, y = both[f"random_{metric}"].to_numpy(float), both[f"trained_{metric}"].to_numpy(float)
    out: dict[str, Any] = {**dict.fromkeys(FIGURES, float("nan")), **dict.fromkeys(TEXT_FIGURES, ""),
                           "null_unknown": {}, "rho_within_families": {}, "rho_leave_one_out_undefined": []}
    if len(x) < MIN_FRONTENDS:
        return out
    names = labels(both)
    null, values = _nulls(both, y, metric, names)
    if "input" in both.columns:
        null["rho_within_families"] = within_families(both, metric)
    agreement = rank_agreement(x, y)
    finite = {c: null[f"null_rho_{c}"] for c in values if np.isfinite(null[f"null_rho_{c}"])}
    if finite and np.isfinite(agreement["spearman_rho"]):
        # the strongest by |ρ|: "smaller networks do better" (ρ(params) = −0.9) is as cheap a ranking as its reverse
        best = max(finite, key=lambda c: abs(finite[c]))
        low, high = strongest_null_interval(x, y, [values[c] for c in values if c != "input"], values.get("input"))
        null.update(null_best=best if finite[best] >= 0 else f"{best} reversed",
                    rho_minus_null=agreement["spearman_rho"] - abs(finite[best]),
                    rho_minus_null_ci_low=low, rho_minus_null_ci_high=high)
    out.update(null, **{k: v for k, v in agreement.items() if not k.startswith("rho_ci_")},
               rho_ci_frontends_low=agreement["rho_ci_low"], rho_ci_frontends_high=agreement["rho_ci_high"],
               rho_ci_undefined_draws=agreement["rho_ci_undefined_draws"], **leave_one_out(x, y, names))
    if not np.isfinite(out["spearman_p"]):
        return out
    if "random_folds" in both.columns:
        random_folds, trained_folds = list(both["random_folds"]), list(both["trained_folds"])
        out["rho_ci_folds_missing"] = folds_missing(names, random_folds, trained_folds)
        if (rhos := fold_draws(random_folds, trained_folds)) is not None:
            out["rho_ci_folds_low"], out["rho_ci_folds_high"] = _interval(rhos)
            out["rho_folds_median"] = float(np.nanmedian(rhos)) if np.isfinite(rhos).any() else float("nan")
    return out


def rank_correlation(table: pd.DataFrame, random: str = RANDOM, trained: str = TRAINED,
                     trained_backend: str | None = HEAD) -> pd.DataFrame:
    """Spearman ρ and Kendall τ between the random and trained accuracies of the front-ends with both, one
    row per (dataset, backend of the random side): columns :data:`CORRELATION_COLUMNS`. ``n`` counts those
    front-ends (0 when the dataset has no trained row), ``frontends`` lists them by random rank; with
    ``n`` < :data:`MIN_FRONTENDS` the figures are NaN. p-values are Holm-adjusted across every ρ and τ of a dataset
    (``*_p_holm``)."""
    pairs, metric = _pairs(table, random, trained, trained_backend), primary_metric(table)
    rows = []
    for (dataset, backend), _ in table[table["weights"] == random].groupby(["dataset", "backend"], sort=True):
        both = pairs[(pairs["dataset"] == dataset) & (pairs["backend"] == backend)]
        rows.append({"dataset": dataset, "backend": backend, "n": len(both), **_correlations(both, metric),
                     "frontends": labels(both)})
    out = pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
    for _, members in out.groupby("dataset"):
        adjusted = holm([*members["spearman_p"], *members["kendall_p"]])
        out.loc[members.index, "spearman_p_holm"] = adjusted[:len(members)]
        out.loc[members.index, "kendall_p_holm"] = adjusted[len(members):]
    return out


def describe(row: pd.Series | dict, random: str = RANDOM, trained: str = TRAINED) -> str:
    """One line for a :func:`rank_correlation` row: ``svm: ρ = 0.69 (exact p 0.058, Holm 0.23; 95 % CI over
    front-ends −0.05–0.94, over folds × seeds 0.55–0.83), τ = …; null rankings ρ(params) = 0.21, ρ(dim) = 0.40;
    n = 8``."""
    n, backend = int(row["n"]), row["backend"]
    if n < MIN_FRONTENDS:
        return (f"{backend}: the rank correlation needs at least {MIN_FRONTENDS} front-ends with both {random} and "
                f"{trained} results (n = {n})")
    if np.isnan(row["spearman_rho"]) or np.isnan(row["kendall_tau"]):
        return f"{backend}: ρ and τ are undefined, the accuracies of one side are all equal (n = {n})"
    rho_p, tau_p = (("exact p" if row.get(f"{s}_p_method") == "exact" else "p") for s in ("spearman", "kendall"))
    if np.isfinite(row.get("rho_ci_frontends_low", np.nan)):
        intervals = f"95 % CI over front-ends {_range(row, 'rho_ci_frontends')}"
        if (undefined := row.get("rho_ci_undefined_draws", 0.0)) > 0.01:
            intervals += f" ({undefined:.0%} of draws had no ρ and are left out)"
    else:
        intervals = f"no interval over front-ends below {MIN_BOOTSTRAP_N} front-ends"
    if np.isfinite(low := row.get("rho_ci_folds_low", np.nan)):
        high, rho = row["rho_ci_folds_high"], row["spearman_rho"]
        if low - 1e-9 <= rho <= high + 1e-9:  # (ρ = 1 beside draws of 1 − 1e-16)
            intervals += f", over folds × seeds {_range(row, 'rho_ci_folds')}"
        else:  # three decimals: two could round the interval onto ρ
            intervals += (f", over folds × seeds {low:.3f} … {high:.3f} (median {row.get('rho_folds_median', np.nan):.3f}; ρ "
                          f"{rho:.3f} lies {'above' if rho > high else 'below'} it: a redraw of the folds repeats some "
                          "and leaves others out, which adds noise to every row's mean and lowers ρ)")
    elif row.get("rho_ci_folds_missing"):
        intervals += f", none over folds × seeds: {row['rho_ci_folds_missing']}"
    said = row.get("null_unknown")
    unknown: dict = said if isinstance(said, dict) else {}
    nulls = ", ".join(f"ρ({NULL_LABELS.get(name, name)}) = {row[f'null_rho_{name}']:.2f}" if name not in unknown
                      else f"ρ({name}) undefined ({name} unknown for {', '.join(unknown[name])})"
                      for name in (*NULLS, "input")
                      if name in unknown or np.isfinite(row.get(f"null_rho_{name}", np.nan)))
    if row.get("null_best") and np.isfinite(row.get("rho_minus_null", np.nan)):
        nulls += f"; ρ − ρ({row['null_best']}) = {row['rho_minus_null']:+.2f} (" + (
            f"95 % CI over front-ends, the strongest null chosen in each draw, {row['rho_minus_null_ci_low']:+.2f} … "
            f"{row['rho_minus_null_ci_high']:+.2f})" if np.isfinite(row.get("rho_minus_null_ci_low", np.nan))
            else f"no interval below {MIN_BOOTSTRAP_N} front-ends)")
    families, within = row.get("rho_within_families"), ""
    if isinstance(families, dict) and families:
        within = "; within families " + ", ".join(
            f"{name} ρ = {f['rho']:.2f} (n = {f['n']}, {'exact ' if f['p_method'] == 'exact' else ''}p {_p(f['p'])})"
            if np.isfinite(f["rho"]) else f"{name} ρ undefined (n = {f['n']}, one side's accuracies all equal)"
            for name, f in families.items())
    loo, undefined_without = "", row.get("rho_leave_one_out_undefined")
    if np.isfinite(row.get("rho_leave_one_out_low", np.nan)):
        loo = f"; ρ with one front-end left out {_range(row, 'rho_leave_one_out')}" + (
            f" (most influential: {row['most_influential']})" if row.get("most_influential") else "")
    if isinstance(undefined_without, list) and undefined_without:
        loo += (f"; without {' or '.join(undefined_without)} ρ is undefined (the other scores of one side all tie)")
    return (f"{backend}: ρ = {row['spearman_rho']:.2f} ({rho_p} {_p(row['spearman_p'])}, Holm {_p(row['spearman_p_holm'])}; "
            f"{intervals}), τ = {row['kendall_tau']:.2f} ({tau_p} {_p(row['kendall_p'])}, Holm "
            f"{_p(row['kendall_p_holm'])})" + (f"; null rankings {nulls}" if nulls else "") + within + loo
            + f"; n = {n}")


def _range(row, prefix: str) -> str:
    return f"{row[f'{prefix}_low']:.2f} … {row[f'{prefix}_high']:.2f}"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3g}"  # 3 digits: 0.0496 and 0.0504 read apart at α = 0.05


# -- rwbench compare ------------------------------------------------------------------------------
def comparison(table: pd.DataFrame, random: str = RANDOM, trained: str = TRAINED,
               backend: str | None = None, transfer: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`paired`, :func:`rank_correlation`) of ``table``, cut to ``backend`` when given; a clear error
    when a side or the backend has no rows. ``transfer``: the trained side is the trained features refit with the
    random side's backend (``--weights trained`` rows), not the trained head."""
    if random == trained:
        raise RwbenchError(f"--random and --trained both name weights {random!r}; compare two different tags")
    tags = sorted(table["weights"].unique())
    for flag, tag in (("--random", random), ("--trained", trained)):
        if tag not in tags:
            present = f"weights present: {', '.join(tags)}" if tags else "the results folder holds no results"
            raise RwbenchError(f"{flag}: no results with weights {tag!r} ({present})")
    trained_backend = trained_backend_for(trained, transfer)
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
