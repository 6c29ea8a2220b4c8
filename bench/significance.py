"""Which differences on a leaderboard are real: rank statistics over blocks and bootstrap intervals.

Rows compete within one dataset/task and one backend. A *block* is one outer fold of one seed: every row
is scored on the same test clips there. A row evaluated once (published or DSP weights, a front-end without
weights, or a run with one seed) has its fold score stand in every seed's block; rows with seeds are
compared on the seeds they share (without a shared seed, blocks are folds and scores their seed means).

* **Average rank** of each row over the blocks (1 = best; ties share the mean rank).
* **Friedman** test that all rows rank alike (scipy; three or more rows), and the **Nemenyi critical
  difference** of average ranks at α = 0.05 (Demšar 2006: q_α(k, ∞)/√2 · √(k(k+1)/6N), with q from
  scipy's studentized range).
* Each row against the **best** row of its dataset and backend (highest mean accuracy): a paired **Wilcoxon**
  signed-rank test over the blocks, **Holm**-corrected over the rows; ``tied_with_best`` when the corrected
  p ≥ α (the best row itself is marked tied).
* A **bootstrap 95 % interval** of the mean accuracy over test clips: clips are resampled within each
  outer fold (2000 draws, seeded), each clip scored by its mean correctness over seeds, and the fold
  accuracies averaged as the leaderboard does. It needs the per-clip predictions results carry since
  evaluate code v3; older results leave it blank.

Blocks of one fold under several seeds share their test clips, so they are not independent: the tests are
a guide to which gaps exceed fold and seed noise, not a guarantee. With few blocks (5 folds × 1 seed) the
Wilcoxon test cannot reach p < 0.05 (its least two-sided p at n = 5 is 0.0625), and rows stay tied.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from .results import ResultRecord, task_of

ALPHA = 0.05
BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 0
ROW_COLUMNS = ("avg_rank", "p_vs_best", "tied_with_best", "boot_ci_low", "boot_ci_high")
GROUP_COLUMNS = ("friedman_chi2", "friedman_p", "nemenyi_cd", "n_blocks")


def block_scores(rows: dict[tuple, list[ResultRecord]]) -> pd.DataFrame:
    """The primary metric (accuracy, macro ROC-AUC) of each row (index) in each block (columns: ``fold`` or
    ``fold@seed``); rows whose folds differ from the first row's are left out (they do not share blocks)."""
    metric = task_of(next(iter(rows.values()))[0]).primary
    seeded = [{r.seed for r in records} for records in rows.values() if len(records) > 1]
    shared = sorted(set.intersection(*seeded)) if seeded else []
    folds = [f["name"] for f in next(iter(rows.values()))[0].folds]
    table = {}
    for key, records in rows.items():
        if [f["name"] for f in records[0].folds] != folds:
            continue
        by_seed = {r.seed: [f[metric] for f in r.folds] for r in records}
        if shared:
            values = [by_seed[s] if len(records) > 1 else next(iter(by_seed.values())) for s in shared]
            table[key] = {f"{fold}@{s}": v[i] for s, v in zip(shared, values) for i, fold in enumerate(folds)}
        else:  # no seed in common: one block per fold, each row's seed mean
            means = np.mean(list(by_seed.values()), axis=0)
            table[key] = dict(zip(folds, means))
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index = list(table)  # tuple keys as plain labels, not a MultiIndex
    return frame


def average_ranks(scores: pd.DataFrame) -> pd.Series:
    return scores.rank(axis=0, ascending=False, method="average").mean(axis=1)


def nemenyi_cd(k: int, n_blocks: int, alpha: float = ALPHA) -> float:
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6 * n_blocks)))


def holm(p_values: Iterable[float]) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (same order as given)."""
    p = np.asarray(list(p_values), dtype=float)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate(np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order]))
    out = np.empty_like(p)
    out[order] = adjusted
    return out


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired scores; 1.0 when they never differ."""
    if np.allclose(a, b):
        return 1.0
    return float(stats.wilcoxon(a, b, zero_method="zsplit").pvalue)


def clip_correctness(records: list[ResultRecord]) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Per outer fold: (test clip indices, mean correctness of each clip over the records' seeds); None when
    a record lacks per-clip predictions."""
    folds: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for record in records:
        for fold in record.folds:
            if any(fold.get(field) is None for field in ("test_clips", "truth", "predicted")):
                return None
            truth = np.asarray(fold["truth"])
            order = np.argsort(fold["test_clips"])
            clips = np.asarray(fold["test_clips"])[order]
            folds.setdefault(fold["name"], []).append((clips, (np.asarray(fold["predicted"]) == truth)[order]))
    out = {}
    for name, runs in folds.items():
        clips = runs[0][0]
        if any(not np.array_equal(c, clips) for c, _ in runs):
            return None
        out[name] = (clips, np.mean([correct for _, correct in runs], axis=0))
    return out


def bootstrap_interval(correct: dict[str, tuple[np.ndarray, np.ndarray]], *, draws: int = BOOTSTRAP_DRAWS,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95 % percentile interval of the unweighted mean of fold accuracies, clips resampled within folds."""
    rng = np.random.default_rng(seed)
    fold_means = []
    for _, values in sorted(correct.items()):
        score = values[1]
        picks = rng.integers(0, len(score), size=(draws, len(score)))
        fold_means.append(score[picks].mean(axis=1))
    means = np.mean(fold_means, axis=0)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def group_statistics(rows: dict[tuple, list[ResultRecord]], accuracy: dict[tuple, float]) -> dict[tuple, dict]:
    """:data:`ROW_COLUMNS` and the group's :data:`GROUP_COLUMNS` for each row of one dataset and backend;
    ``accuracy`` is each row's leaderboard mean."""
    scores = block_scores(rows)
    out = {key: dict.fromkeys(ROW_COLUMNS, np.nan) for key in rows}
    for key, records in rows.items():
        correct = clip_correctness(records)
        if correct:
            out[key]["boot_ci_low"], out[key]["boot_ci_high"] = bootstrap_interval(correct)
    group = {"friedman_chi2": np.nan, "friedman_p": np.nan, "nemenyi_cd": np.nan, "n_blocks": scores.shape[1]}
    if len(scores) >= 2:
        for key, rank in average_ranks(scores).items():
            out[key]["avg_rank"] = float(rank)
        best = max(scores.index, key=lambda key: accuracy[key])
        others = [key for key in scores.index if key != best]
        adjusted = holm([paired_wilcoxon(scores.loc[[key]].to_numpy()[0], scores.loc[[best]].to_numpy()[0])
                         for key in others])
        out[best]["tied_with_best"] = True
        for key, p in zip(others, adjusted):
            out[key]["p_vs_best"], out[key]["tied_with_best"] = float(p), bool(p >= ALPHA)
        group["nemenyi_cd"] = nemenyi_cd(len(scores), scores.shape[1])
    if len(scores) >= 3:
        chi2, p = stats.friedmanchisquare(*scores.to_numpy())
        group.update(friedman_chi2=float(chi2), friedman_p=float(p))
    return {key: {**values, **group} for key, values in out.items()}


def leaderboard_statistics(rows: dict[tuple, list[ResultRecord]]) -> dict[tuple, dict]:
    """:data:`ROW_COLUMNS` and :data:`GROUP_COLUMNS` of every leaderboard row, keyed like ``rows``:
    (dataset, front-end as shown, width, weights, backend) → the row's result records."""
    accuracy = {key: float(np.mean([[f[task_of(r).primary] for f in r.folds] for r in records]))
                for key, records in rows.items()}
    groups: dict[tuple, dict[tuple, list[ResultRecord]]] = {}
    for key, records in rows.items():
        groups.setdefault((key[0], key[4]), {})[key] = records
    return {key: values for members in groups.values() for key, values in group_statistics(members, accuracy).items()}


def paired_bootstrap(a: dict[str, tuple[np.ndarray, np.ndarray]], b: dict[str, tuple[np.ndarray, np.ndarray]], *,
                     draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """95 % interval of accuracy(a) − accuracy(b), the same clips resampled for both within each fold; None when
    the two were not tested on the same clips."""
    if a.keys() != b.keys() or any(not np.array_equal(a[f][0], b[f][0]) for f in a):
        return None
    rng = np.random.default_rng(seed)
    fold_means = []
    for fold in sorted(a):
        diff = a[fold][1] - b[fold][1]
        fold_means.append(diff[rng.integers(0, len(diff), size=(draws, len(diff)))].mean(axis=1))
    low, high = np.percentile(np.mean(fold_means, axis=0), [2.5, 97.5])
    return float(low), float(high)


def compare_pair(a: list[ResultRecord], b: list[ResultRecord]) -> dict:
    """The paired test of two leaderboard rows (their result records, one dataset): blocks, mean difference,
    wins/ties/losses of ``a``, the Wilcoxon p and the paired bootstrap interval of the difference."""
    scores = block_scores({"a": a, "b": b})
    if len(scores) < 2:
        return {"n_blocks": 0}
    x, y = scores.loc[["a"]].to_numpy()[0], scores.loc[["b"]].to_numpy()[0]
    correct_a, correct_b = clip_correctness(a), clip_correctness(b)
    interval = paired_bootstrap(correct_a, correct_b) if correct_a and correct_b else None
    return {"n_blocks": len(x), "blocks": list(scores.columns), "a_scores": x.tolist(), "b_scores": y.tolist(),
            "mean_difference": float(np.mean(x - y)), "wins": int((x > y).sum()), "ties": int((x == y).sum()),
            "losses": int((x < y).sum()), "wilcoxon_p": paired_wilcoxon(x, y),
            "bootstrap_ci_low": interval[0] if interval else None, "bootstrap_ci_high": interval[1] if interval else None}
