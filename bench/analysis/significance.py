"""Which differences on a leaderboard are real: tests over independent blocks, and intervals that cover them.

Rows compete within one dataset/task and one backend. We follow Demšar (2006) for comparing several classifiers,
Dietterich (1998) for paired tests on one test set and Benavoli et al. (2016) on the pitfalls of post-hoc tests:

* **Blocks are outer folds.** A row's score in a fold is its mean over *its own* seeds. Seeds of one fold share its
  test clips, so they are not independent blocks; a row run once (published or DSP weights, a weight-free front-end,
  one seed) keeps its one score, never copies of it. Which other rows share a table never changes a row's blocks, and
  rows of every weight kind (random, dsp, published, trained, transfer) are compared on the same blocks.
* **k-fold protocols** (at least :data:`MIN_FOLD_BLOCKS` folds; ``regime="folds"``): average ranks over the folds,
  Friedman's test (three or more rows) and the Nemenyi critical difference of average ranks; each row against the
  best row (highest mean) by a two-sided Wilcoxon signed-rank test over the folds with its **exact** p (the permutation
  distribution of the signed ranks, ties and zero differences included), Holm-corrected over the rows. With n folds no
  Wilcoxon p can fall below 2/2ⁿ (:func:`least_wilcoxon_p`), and after Holm's correction over m comparisons none
  below m·2/2ⁿ (the group's ``least_p``): 5 folds cannot show p < 0.05, nor can 6 folds against 3 or more other rows;
  the table then says "untestable" rather than "tied". So it does for a row whose own test cannot go below α even
  as Holm's last step (:func:`least_pair_p`): a fold (or, over clips, a clip) where it and the best score the same
  carries no sign, so 10 folds of which 6 are equal count as 4.
* **Single-split protocols** (or on request, ``regime="clips"``): paired tests over the test clips, which are
  independent there (each clip is tested once): for accuracy, the exact McNemar test when both rows have one seed,
  else a paired permutation test of the seed-averaged per-clip correctness; for ROC-AUC, a paired bootstrap over
  clips (each seed's macro ROC-AUC, averaged over seeds). Holm-corrected over the rows.
* **The interval beside a mean** (``ci_low``/``ci_high``) is a hierarchical bootstrap: folds drawn with replacement,
  then clips within each drawn fold, each clip scored by its mean over the row's seeds (ROC-AUC: each seed's fold
  score averaged). It covers fold and clip variation; the seed-only t-interval stays a column of its own.
  It needs per-clip outputs (results since evaluate code v3 for multiclass rows); without them it is blank.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import RwbenchError
from ..results import ResultRecord, RowKey, task_of
from ..tasks import TaskType

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)  # what names a row: a leaderboard RowKey, or "a" / "b" in a comparison

ALPHA = 0.05
BOOTSTRAP_DRAWS = 2000
MAX_UNDEFINED_DRAWS = 0.1  # a bootstrap interval over fewer defined draws is left undefined
BOOTSTRAP_SEED = 0
PERMUTATIONS = 9999
MIN_FOLD_BLOCKS = 5  # fewer folds than this: the clips are the blocks (``auto``)
REGIMES = ("auto", "folds", "clips")
OTHER_FOLDS = "other folds"  # test_vs_best of a row scored on other folds than the group's: in no test
ROW_COLUMNS = ("avg_rank", "p_vs_best", "tied_with_best", "vs_best", "test_vs_best", "ci_low", "ci_high")
GROUP_COLUMNS = ("block_kind", "n_blocks", "least_p", "friedman_chi2", "friedman_p", "nemenyi_cd", "weight_kinds")


# -- blocks -------------------------------------------------------------------------------------------------------
def fold_names(records: list[ResultRecord]) -> tuple[str, ...]:
    return tuple(f["name"] for f in records[0].folds)


SCORE_DECIMALS = 10  # fold scores are ratios of clip counts: equal ones must compare equal, not by rounding noise


def settled(scores):
    """``scores`` (an array or a pandas object) rounded to :data:`SCORE_DECIMALS`: what every rank, sign, tie and
    correlation reads, so that values equal in exact arithmetic compare equal whatever order summed them."""
    return np.round(scores, SCORE_DECIMALS)


def seed_means(records: list[ResultRecord]) -> pd.Series:
    """A row's primary metric per outer fold, averaged over the row's own seeds (index: fold names), rounded to
    :data:`SCORE_DECIMALS`: a mean of seeds (20, 20, 26)/40 is 0.5499999999999999 in floating point, which would win
    a tie with 0.55 in every rank, sign and equality test below."""
    metric = task_of(records[0]).primary
    scores = np.array([[f[metric] for f in r.folds] for r in records], dtype=float)
    return pd.Series(settled(scores.mean(axis=0)), index=list(fold_names(records)))


def shared_folds(rows: Mapping[K, list[ResultRecord]]) -> tuple[str, ...]:
    """The fold list most rows share (ties: the first row's); rows on other folds share no block with them."""
    counts = Counter(fold_names(records) for records in rows.values())
    return max(counts, key=lambda folds: (counts[folds], folds == fold_names(next(iter(rows.values())))))


def block_scores(rows: Mapping[K, list[ResultRecord]]) -> pd.DataFrame:
    """The primary metric (accuracy, macro ROC-AUC) of each row (index) in each outer fold (columns), each the mean
    over the row's own seeds; rows scored on other folds than :func:`shared_folds` are left out."""
    folds = shared_folds(rows)
    table = {key: seed_means(records) for key, records in rows.items() if fold_names(records) == folds}
    frame = pd.DataFrame(table).T
    frame.index = list(table)  # tuple keys as plain labels, not a MultiIndex
    return frame


def average_ranks(scores: pd.DataFrame) -> pd.Series:
    return scores.rank(axis=0, ascending=False, method="average").mean(axis=1)


def nemenyi_cd(k: int, n_blocks: int, alpha: float = ALPHA) -> float:
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6 * n_blocks)))


def holm(p_values: Iterable[float]) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (same order as given; NaN stays NaN, outside the family)."""
    p = np.asarray(list(p_values), dtype=float)
    out = np.full_like(p, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested])]
    m = len(order)
    out[order] = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    return out


def least_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p a Wilcoxon signed-rank test over ``n`` paired blocks can give: 2/2ⁿ."""
    return min(1.0, 2.0 ** (1 - n))  # a float power: thousands of clips underflow to 0, never overflow


EXACT_WILCOXON_BLOCKS = 20  # 2²⁰ sign flips: enumerated; more blocks: the normal approximation (named as such)


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired scores, exact up to :data:`EXACT_WILCOXON_BLOCKS` blocks: the
    statistic's permutation distribution over all 2ⁿ sign flips (scipy), so tied and zero differences (split between
    the signs, Demšar 2006) keep an exact p; 1.0 when the scores never differ. The differences are rounded to
    :data:`SCORE_DECIMALS` first, so that rounding noise neither signs a zero nor breaks a tie of |d|."""
    d = settled(np.asarray(a, float) - np.asarray(b, float))
    if not d.any():
        return 1.0
    method = stats.PermutationMethod(n_resamples=np.inf) if len(d) <= EXACT_WILCOXON_BLOCKS else "approx"
    return float(stats.wilcoxon(d, zero_method="zsplit", method=method).pvalue)


def wilcoxon_name(n_blocks: int) -> str:
    """How :func:`paired_wilcoxon` computes its p over ``n_blocks`` folds."""
    return ("exact Wilcoxon over folds" if n_blocks <= EXACT_WILCOXON_BLOCKS
            else "Wilcoxon over folds (normal approximation)")


# -- per-clip outputs ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipFold:
    """One outer fold of one row: its test clips (sorted dataset indices), their truth, and per seed the per-clip
    output its task type reads (multiclass: correctness ``(seeds, clips)``; multilabel: scores
    ``(seeds, clips, tags)``)."""

    task: TaskType
    clips: np.ndarray
    truth: np.ndarray
    outputs: np.ndarray

    def score(self, picks: np.ndarray) -> np.ndarray:
        """The fold metric on the clips ``picks`` (``(draws, n)`` indices), averaged over seeds: ``(draws,)``."""
        return self.task.clip_score(self.truth, self.outputs, picks)


def clip_outputs(records: list[ResultRecord]) -> dict[str, ClipFold] | None:
    """Per outer fold, the row's per-clip outputs over its seeds (:class:`ClipFold`); None when a record lacks them
    or its seeds were tested on different clips."""
    task = task_of(records[0])
    runs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for record in records:
        for fold in record.folds:
            if any(fold.get(field) is None for field in task.clip_fields):
                return None
            order = np.argsort(fold["test_clips"])
            truth, output = task.clip_output(fold)
            runs.setdefault(fold["name"], []).append((np.asarray(fold["test_clips"])[order], truth[order],
                                                      output[order]))
    out = {}
    for name, seeds in runs.items():
        clips, truth, _ = seeds[0]
        if any(not np.array_equal(c, clips) for c, _, _ in seeds):
            return None
        out[name] = ClipFold(task, clips, truth, np.stack([o for _, _, o in seeds]))
    return out


def _draws(folds: Iterable[ClipFold], draws: int) -> int:
    """``draws``, capped by the task type's ``max_draws`` (a costly clip score, e.g. a macro ROC-AUC per seed)."""
    caps = [fold.task.max_draws for fold in folds if fold.task.max_draws]
    return min([draws, *caps])


def hierarchical_interval(folds: dict[str, ClipFold], *, draws: int = BOOTSTRAP_DRAWS,
                          seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95 % percentile interval of the mean over folds of the fold metric: each draw picks the folds with
    replacement, then the clips of each picked fold with replacement (a two-level bootstrap; one fold: clips only)."""
    ordered = [folds[name] for name in sorted(folds)]
    means = _two_level(ordered, _draws(ordered, draws), np.random.default_rng(seed),
                       lambda i, picks: ordered[i].score(picks))
    return percentile_interval(means, "the interval of a row")


def percentile_interval(values: np.ndarray, what: str) -> tuple[float, float]:
    """The 95 % percentile interval of bootstrap ``values``. A draw can be undefined (a multilabel resample in which
    no tag has both a positive and a negative clip): the interval over the others is said, and undefined where
    more than :data:`MAX_UNDEFINED_DRAWS` of them are (it would describe the scorable resamples only)."""
    undefined = int(np.isnan(values).sum())
    if undefined:
        share = undefined / len(values)
        log.warning("%s: %d of %d bootstrap draws undefined (no scorable tag in the resample)%s", what, undefined,
                    len(values), f"; over {MAX_UNDEFINED_DRAWS:.0%}, left undefined" if share > MAX_UNDEFINED_DRAWS
                    else "; the interval is over the rest")
        if share > MAX_UNDEFINED_DRAWS:
            return float("nan"), float("nan")
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def _two_level(folds: list[ClipFold], draws: int, rng: np.random.Generator,
               score: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
    """``draws`` means over folds of ``score(i, picks)`` (fold ``i`` scored on the clip indices ``picks``), each draw
    picking the folds with replacement, then the clips of each picked fold with replacement (one fold: clips only)."""
    k = len(folds)
    picked = rng.integers(0, k, size=(draws, k)) if k > 1 else np.zeros((draws, 1), dtype=int)
    total = np.zeros(draws)
    for slot in range(k):  # one slot of the fold draw at a time: memory stays draws × clips of one fold
        for i, fold in enumerate(folds):
            rows = np.flatnonzero(picked[:, slot] == i)
            if len(rows):
                total[rows] += score(i, rng.integers(0, len(fold.clips), size=(len(rows), len(fold.clips))))
    return total / k


def _pooled(a: dict[str, ClipFold], b: dict[str, ClipFold]) -> tuple[list[ClipFold], list[ClipFold]] | None:
    """The two rows' folds in one order, when both were tested on the same clips; else None."""
    if a.keys() != b.keys() or any(not np.array_equal(a[f].clips, b[f].clips) for f in a):
        return None
    return [a[f] for f in sorted(a)], [b[f] for f in sorted(b)]


def clip_test(a: dict[str, ClipFold], b: dict[str, ClipFold], *, seed: int = BOOTSTRAP_SEED,
              family: int = 1) -> tuple[float, str]:
    """(two-sided p, test name) of a paired test over the test clips of two rows (clips pooled over folds), one of
    ``family`` tests that are Holm-corrected together (the bootstrap draws enough for its least p to survive).

    Accuracy: exact McNemar (binomial test on the discordant clips) when both rows have one seed, else a paired
    permutation test of the mean difference in seed-averaged correctness (:data:`PERMUTATIONS` swaps, seeded; exact
    when there are fewer arrangements). ROC-AUC: a paired bootstrap over clips within folds; p is the share of
    centred bootstrap differences at least as far from 0 as the observed one."""
    pooled = _pooled(a, b)
    if pooled is None:
        return np.nan, "different test clips"
    fa, fb = pooled
    return PAIRED_CLIP_TESTS[fa[0].task.paired_clip_test](fa, fb, seed, family)


def seed_averaged(folds: list[ClipFold]) -> np.ndarray:
    """Each test clip's output averaged over the row's seeds, the folds' clips pooled in order."""
    return np.concatenate([f.outputs.mean(axis=0) for f in folds])


def correctness_test(fa: list[ClipFold], fb: list[ClipFold], seed: int, family: int = 1) -> tuple[float, str]:
    """Per-clip correctness of two rows: exact McNemar for one seed each, else a paired permutation test."""
    x, y = seed_averaged(fa), seed_averaged(fb)
    if fa[0].outputs.shape[0] == 1 and fb[0].outputs.shape[0] == 1:
        only_a, only_b = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
        p = 1.0 if only_a + only_b == 0 else stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
        return float(p), "exact McNemar over clips"
    if np.allclose(x, y):
        return 1.0, "paired permutation over clips"
    result = stats.permutation_test((x, y), _mean_difference, permutation_type="samples", vectorized=True,
                                    n_resamples=PERMUTATIONS, random_state=seed)
    return float(result.pvalue), "paired permutation over clips"


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def _paired_differences(fa: list[ClipFold], fb: list[ClipFold], draws: int, seed: int,
                        over_folds: bool = False) -> np.ndarray:
    """``draws`` bootstrap values of metric(a) − metric(b) (the mean over folds), the same clips drawn for both
    within each fold; ``over_folds``: the folds drawn with replacement first (the same for both), as
    :func:`hierarchical_interval` does, so that the spread between folds is in the interval too."""
    rng = np.random.default_rng(seed)
    if over_folds:
        return _two_level(fa, draws, rng, lambda i, picks: fa[i].score(picks) - fb[i].score(picks))
    differences = np.zeros(draws)
    for f, g in zip(fa, fb):
        picks = rng.integers(0, len(f.clips), size=(draws, len(f.clips)))
        differences += (f.score(picks) - g.score(picks)) / len(fa)
    return differences


def bootstrap_test(fa: list[ClipFold], fb: list[ClipFold], seed: int, family: int = 1) -> tuple[float, str]:
    """A fold metric not decomposable over clips (ROC-AUC): a paired bootstrap over clips within folds."""
    return _bootstrap_p(fa, fb, draws=bootstrap_draws(fa, family), seed=seed), "paired bootstrap over clips"


def bootstrap_draws(folds: Iterable[ClipFold], family: int) -> int:
    """Draws of the paired bootstrap test: the task's cap (a costly clip score), raised, up to
    :data:`BOOTSTRAP_DRAWS`, until its least p (1/(draws + 1)) times the ``family`` of Holm-corrected tests is at most
    α/2: with the cap alone, 500 draws, 26 rows against the best could show no p < 0.05 at all."""
    return min(BOOTSTRAP_DRAWS, max(_draws(folds, BOOTSTRAP_DRAWS), math.ceil(2 * family / ALPHA)))


def least_clip_p(folds: Iterable[ClipFold], family: int, one_seed: bool = False) -> float:
    """The least Holm-corrected p the clip tests of a group can give: ``family`` × the test's least p (the
    bootstrap's 1/(draws + 1); the two-sided randomised permutation test's 2/(:data:`PERMUTATIONS` + 1), twice its
    one-sided least; exact McNemar's 2/2ⁿ over n clips where every row of the group has one seed, ``one_seed``)."""
    folds = list(folds)
    if folds[0].task.paired_clip_test == "bootstrap":
        least = 1 / (bootstrap_draws(folds, family) + 1)
    else:
        least = least_wilcoxon_p(sum(len(f.clips) for f in folds)) if one_seed else 2 / (PERMUTATIONS + 1)
    return min(1.0, family * least)


def least_pair_p(kind: str, x: np.ndarray, y: np.ndarray, mine: dict[str, ClipFold] | None,
                 theirs: dict[str, ClipFold] | None, family: int = 1) -> float:
    """The least p the paired test of two rows can give on their data, before any correction: a fold or clip where
    they score the same carries no sign, so over ``k`` where they differ the exact tests (Wilcoxon with zeros split,
    McNemar on the discordant clips, the permutation test) cannot go below 2/2ᵏ — nor the random tests below
    1/(draws + 1). ``kind``: the regime; ``x``, ``y``: the rows' fold scores; ``mine``, ``theirs``: their clip folds."""
    if kind == "folds":
        return least_wilcoxon_p(int(np.count_nonzero(settled(np.asarray(x, float) - np.asarray(y, float)))))
    pooled = _pooled(mine, theirs) if mine and theirs else None
    if pooled is None:
        return np.nan
    fa, fb = pooled
    if fa[0].task.paired_clip_test == "bootstrap":
        return 1 / (bootstrap_draws(fa, family) + 1)
    a, b = seed_averaged(fa), seed_averaged(fb)
    exact = least_wilcoxon_p(int(np.count_nonzero(~np.isclose(a, b))))
    one_seed = fa[0].outputs.shape[0] == 1 and fb[0].outputs.shape[0] == 1  # McNemar: exact
    return exact if one_seed else max(exact, 2 / (PERMUTATIONS + 1))  # scipy's two-sided: 2 × the one-sided least


def _bootstrap_p(fa: list[ClipFold], fb: list[ClipFold], *, draws: int, seed: int = BOOTSTRAP_SEED) -> float:
    everything = [np.arange(len(f.clips))[None] for f in fa]
    observed = np.mean([f.score(all_)[0] - g.score(all_)[0] for f, g, all_ in zip(fa, fb, everything)])
    centred = _paired_differences(fa, fb, draws, seed) - observed
    return float(min(1.0, (np.sum(np.abs(centred) >= abs(observed)) + 1) / (draws + 1)))


PAIRED_CLIP_TESTS = {"correctness": correctness_test, "bootstrap": bootstrap_test}  # TaskType.paired_clip_test


def paired_bootstrap(a: dict[str, ClipFold], b: dict[str, ClipFold], *, draws: int = BOOTSTRAP_DRAWS,
                     seed: int = BOOTSTRAP_SEED, over_folds: bool = False) -> tuple[float, float] | None:
    """95 % interval of metric(a) − metric(b), the same clips resampled for both within each fold (the mean over
    folds, as the leaderboard averages), and with ``over_folds`` the folds first (the folds regime: its test treats
    the folds as the sample, and an interval over clips alone would leave their spread out); None when the two were
    not tested on the same clips."""
    pooled = _pooled(a, b)
    if pooled is None:
        return None
    draws = _draws(pooled[0], draws)
    return percentile_interval(_paired_differences(*pooled, draws, seed, over_folds), "a paired interval")


# -- one group: one dataset and backend ---------------------------------------------------------------------------
def regime_of(scores: pd.DataFrame, regime: str = "auto") -> str:
    """``folds`` when the group has at least :data:`MIN_FOLD_BLOCKS` folds (or when asked), else ``clips``."""
    if regime not in REGIMES:
        raise ValueError(f"unknown test regime {regime!r}; use one of {', '.join(REGIMES)}")
    if regime == "folds" and scores.shape[1] < 2:  # a test over folds needs two of them to vary over
        raise RwbenchError(f"--test folds: these results have {scores.shape[1]} outer fold(s) (a single split), and a "
                           f"test over folds needs at least 2; use --test clips (paired over its test clips) or auto")
    if regime != "auto":
        return regime
    return "folds" if scores.shape[1] >= MIN_FOLD_BLOCKS else "clips"


def weight_kinds(rows: Iterable[tuple]) -> str:
    """``random ×6, trained ×2``: the weight tags of a group's rows (the key's fourth field)."""
    counts = Counter(key[3] for key in rows)
    return ", ".join(f"{tag} ×{n}" for tag, n in sorted(counts.items()))


def group_statistics(rows: dict[K, list[ResultRecord]], score: dict[K, float],
                     regime: str = "auto") -> dict[K, dict[str, Any]]:
    """:data:`ROW_COLUMNS` and the group's :data:`GROUP_COLUMNS` for each row of one dataset and backend;
    ``score`` is each row's leaderboard mean."""
    scores = block_scores(rows)
    kind = regime_of(scores, regime)
    outputs = {key: clip_outputs(records) for key, records in rows.items()}
    out: dict[K, dict[str, Any]] = {key: dict.fromkeys(ROW_COLUMNS, np.nan) for key in rows}
    for key, clips in outputs.items():
        out[key]["test_vs_best"] = "" if key in scores.index else OTHER_FOLDS
        out[key]["vs_best"] = "" if key in scores.index else "untested"
        if clips:
            out[key]["ci_low"], out[key]["ci_high"] = hierarchical_interval(clips)
    group: dict[str, Any] = dict.fromkeys(GROUP_COLUMNS, np.nan) | {"block_kind": kind,
                                                                    "weight_kinds": weight_kinds(scores.index)}
    if kind == "folds":  # the least p the Holm-corrected 'vs best' tests can give: m comparisons × 2/2ⁿ
        group.update(n_blocks=scores.shape[1], least_p=min(1.0, max(1, len(scores) - 1) * least_wilcoxon_p(scores.shape[1])))
    else:
        sizes = {len(np.concatenate([f.clips for f in clips.values()])) for clips in outputs.values() if clips}
        group["n_blocks"] = max(sizes) if sizes else 0
        some = next((clips for clips in outputs.values() if clips), None)
        if some:
            one_seed = all(f.outputs.shape[0] == 1 for clips in outputs.values() if clips for f in clips.values())
            group["least_p"] = least_clip_p(some.values(), max(1, len(scores) - 1), one_seed)
    if len(scores) < 2:
        return {key: {**values, **group} for key, values in out.items()}
    for key, rank in average_ranks(scores).items():
        out[key]["avg_rank"] = float(rank)
    best = max(scores.index, key=lambda key: score[key])
    others = [key for key in scores.index if key != best]
    tests = [_versus(scores, outputs, key, best, kind, family=len(others)) for key in others]
    out[best].update(tied_with_best=True, vs_best="best")
    # where no Holm-corrected p below α was attainable, a p above it is no evidence of a tie: too few blocks for the
    # group's first step (its least_p), or too few where this row and the best differ for its own p even as Holm's
    # last step (factor 1): a fold or clip where they score the same carries no sign
    group_attainable = not (np.isfinite(group["least_p"]) and group["least_p"] > ALPHA)
    best_scores = scores.loc[[best]].to_numpy()[0]
    floors = [least_pair_p(kind, scores.loc[[key]].to_numpy()[0], best_scores, outputs[key], outputs[best], len(others))
              for key in others]
    for key, p, (_, name), floor in zip(others, holm([p for p, _ in tests]), tests, floors):
        attainable = group_attainable and not floor > ALPHA
        verdict = ("untested" if not np.isfinite(p) else "untestable" if not attainable else
                   "tied" if p >= ALPHA else "worse")
        out[key].update(p_vs_best=float(p), tied_with_best={"tied": True, "worse": False}.get(verdict, np.nan),
                        vs_best=verdict, test_vs_best=name)
    if kind == "folds":
        group["nemenyi_cd"] = nemenyi_cd(len(scores), scores.shape[1])
        if len(scores) >= 3 and (scores.nunique(axis=0) > 1).any():  # every row tied in every fold: undefined (0/0)
            chi2, p = stats.friedmanchisquare(*scores.to_numpy())
            group.update(friedman_chi2=float(chi2), friedman_p=float(p))
    return {key: {**values, **group} for key, values in out.items()}


def _versus(scores: pd.DataFrame, outputs: Mapping[K, dict[str, ClipFold] | None], key: K, best: K,
            kind: str, family: int = 1) -> tuple[float, str]:
    if kind == "folds":
        return (paired_wilcoxon(scores.loc[[key]].to_numpy()[0], scores.loc[[best]].to_numpy()[0]),
                wilcoxon_name(scores.shape[1]))
    mine, theirs = outputs[key], outputs[best]
    if not mine or not theirs:
        return np.nan, "no per-clip outputs"
    return clip_test(mine, theirs, family=family)


def leaderboard_statistics(rows: dict[RowKey, list[ResultRecord]], regime: str = "auto") -> dict[RowKey, dict[str, Any]]:
    """:data:`ROW_COLUMNS` and :data:`GROUP_COLUMNS` of every leaderboard row, keyed like ``rows``:
    (dataset, front-end as shown, width, weights, backend) → the row's result records."""
    score = {key: float(np.mean([[f[task_of(r).primary] for f in r.folds] for r in records]))
             for key, records in rows.items()}
    groups: dict[tuple[str, str], dict[RowKey, list[ResultRecord]]] = {}
    for key, records in rows.items():
        groups.setdefault((key[0], key[4]), {})[key] = records
    return {key: values for members in groups.values()
            for key, values in group_statistics(members, score, regime).items()}


# -- rwbench compare A B ------------------------------------------------------------------------------------------
def compare_pair(a: list[ResultRecord], b: list[ResultRecord], regime: str = "auto") -> dict:
    """The paired test of two leaderboard rows (their result records, one dataset): the folds (each row's seed
    mean), the mean difference, wins/ties/losses of ``a``, the test of the regime with its p, and the paired
    bootstrap interval of the difference (``bootstrap_over``: over the folds and the clips within them in the folds
    regime, over clips within folds in the clips regime)."""
    scores = block_scores({"a": a, "b": b})
    if len(scores) < 2:
        return {"n_blocks": 0}
    x, y = scores.loc[["a"]].to_numpy()[0], scores.loc[["b"]].to_numpy()[0]
    kind = regime_of(scores, regime)
    outputs = {"a": clip_outputs(a), "b": clip_outputs(b)}
    p, test = _versus(scores, outputs, "a", "b", kind)
    over_folds = kind == "folds"
    interval = paired_bootstrap(outputs["a"], outputs["b"], over_folds=over_folds) if outputs["a"] and outputs["b"] else None
    return {"n_blocks": len(x), "blocks": list(scores.columns), "a_scores": x.tolist(), "b_scores": y.tolist(),
            "mean_difference": float(np.mean(x - y)), "wins": int((x > y).sum()), "ties": int((x == y).sum()),
            "losses": int((x < y).sum()), "test": test, "p": p,
            "least_p": None if not np.isfinite(least := least_pair_p(kind, x, y, outputs["a"], outputs["b"])) else least,
            "bootstrap_ci_low": interval[0] if interval else None, "bootstrap_ci_high": interval[1] if interval else None,
            "bootstrap_over": ("folds, then clips within them" if over_folds else "clips within folds") if interval else None}
