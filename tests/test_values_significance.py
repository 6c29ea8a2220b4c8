"""Significance pinned by value: bootstrap intervals against their exact distributions or an independent
Monte Carlo bootstrap, McNemar and permutation p with ties against counts by hand, Wilcoxon's zero_method, block
scores as seed means (not medians), the best row by its mean, and the wins/ties/losses of ``compare``."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from conftest import secondary_metrics
from scipy import stats
from sklearn.metrics import roc_auc_score

from rwbench.analysis.significance import (
    block_scores,
    bootstrap_draws,
    clip_outputs,
    clip_test,
    compare_pair,
    hierarchical_interval,
    leaderboard_statistics,
    least_clip_p,
    least_wilcoxon_p,
    paired_bootstrap,
    paired_wilcoxon,
    regime_of,
    seed_means,
    weight_kinds,
)
from rwbench.results import SCHEMA_VERSION, ResultRecord


def record(correct: list[list[int]], *, frontend="f", seed=0, weights="random", start=0) -> ResultRecord:
    """A multiclass result whose fold ``i`` has one test clip per entry of ``correct[i]``: truth 0, predicted 0
    (right) or 1 (wrong); clip indices are consecutive from ``start``."""
    folds, first = [], start
    for i, hits in enumerate(correct):
        clips = list(range(first, first + len(hits)))
        first += len(hits)
        accuracy = float(np.mean(hits))
        truth, predicted = [0] * len(hits), [0 if h else 1 for h in hits]
        folds.append({"name": f"fold{i + 1}", "accuracy": accuracy, **secondary_metrics(truth, predicted),
                      "test_clips": clips, "truth": truth, "predicted": predicted})
    return from_folds(folds, frontend=frontend, seed=seed, weights=weights)


def from_folds(folds, *, frontend="f", seed=0, weights="random", task_type=None) -> ResultRecord:
    dataset = {"key": "toy", "skipped": []} | ({"task_type": task_type} if task_type else {})
    return ResultRecord.from_json({
        "schema_version": SCHEMA_VERSION, "seed": seed, "rwbench_version": "test", "git_sha": None, "created": "",
        "environment": {}, "run_key": "k", "device": "cpu", "summary": {}, "dataset": dataset,
        "frontend": {"name": frontend, "input_kind": "waveform", "width": "small", "weights": weights,
                     "pooling": "mean", "feature_dim": 8, "params": 10, "layers": ["a"], "default_layers": True},
        "backend": {"name": "svm"}, "folds": folds, "timings": {"embed_seconds_per_clip": 0.01}})


def scores_record(accuracies: list[float], *, frontend="f", seed=0) -> ResultRecord:
    """Fold scores only (no per-clip outputs)."""
    return from_folds([{"name": f"fold{i + 1}", "accuracy": a} for i, a in enumerate(accuracies)],
                      frontend=frontend, seed=seed)


# -- hierarchical bootstrap interval ------------------------------------------------------------------------------
def test_one_fold_interval_is_the_clip_bootstrap_of_the_accuracy():
    """One fold, 10 clips, only the first right: a resampled accuracy is Binomial(10, 0.1) / 10, whose 2.5 and 97.5
    percentiles are 0 and 0.3 (P(X ≤ 2) = 0.930 < 0.975 < P(X ≤ 3) = 0.987)."""
    folds = clip_outputs([record([[1] + [0] * 9])])
    assert hierarchical_interval(folds) == (0.0, pytest.approx(0.3))
    assert hierarchical_interval(clip_outputs([record([[0] * 9 + [1]])])) == (0.0, pytest.approx(0.3))


def test_fold_draws_with_constant_folds():
    """Five folds, every clip of four right and of one wrong: the mean over five fold draws is (5 − Z) / 5 with
    Z ~ Binomial(5, 0.2) wrong folds drawn; P(Z ≤ 2) = 0.942 < 0.975 < P(Z ≤ 3) = 0.993: interval (0.4, 1.0)."""
    folds = clip_outputs([record([[1] * 4, [1] * 6, [0] * 3, [1] * 5, [1] * 2])])
    assert hierarchical_interval(folds) == (pytest.approx(0.4), 1.0)


def reference_interval(correct: list[np.ndarray], draws: int, seed: int) -> tuple[float, float]:
    """An independent two-level bootstrap, one draw at a time: folds with replacement, then clips of each."""
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(draws):
        picked = rng.integers(0, len(correct), len(correct))
        means.append(np.mean([rng.choice(correct[f], len(correct[f])).mean() for f in picked]))
    return tuple(np.percentile(means, [2.5, 97.5]))


def test_hierarchical_interval_agrees_with_an_independent_bootstrap():
    rng = np.random.default_rng(11)
    correct = [(rng.random(n) < p).astype(int) for n, p in ((8, 0.9), (30, 0.5), (15, 0.7), (40, 0.2))]
    low, high = hierarchical_interval(clip_outputs([record([c.tolist() for c in correct])]), draws=4000, seed=1)
    ref_low, ref_high = reference_interval(correct, 4000, seed=2)
    assert low == pytest.approx(ref_low, abs=0.03) and high == pytest.approx(ref_high, abs=0.03)
    assert low < np.mean([c.mean() for c in correct]) < high


def test_seeds_are_averaged_per_clip_before_resampling():
    """Two seeds, one right on the first clip only and one on the second only: every clip's correctness is 0.5
    or 0, so one fold's accuracy lies in [0, 0.5]."""
    folds = clip_outputs([record([[1, 0, 0, 0]], seed=0), record([[0, 1, 0, 0]], seed=1)])
    low, high = hierarchical_interval(folds)
    assert low == 0.0 and high == pytest.approx(0.5)


# -- paired tests over clips ----------------------------------------------------------------------------------------
def test_mcnemar_counts_only_the_discordant_clips():
    """a right and b wrong on 1 clip, the reverse on 5, both right on 3 and both wrong on 2 (ties): the exact
    binomial p of 1 of 6, two-sided, is 2 · 7/64."""
    a = record([[1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0]])
    b = record([[0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]])
    p, name = clip_test(clip_outputs([a]), clip_outputs([b]))
    assert name == "exact McNemar over clips" and p == pytest.approx(14 / 64)
    p, _ = clip_test(clip_outputs([b]), clip_outputs([a]))
    assert p == pytest.approx(14 / 64)
    assert clip_test(clip_outputs([a]), clip_outputs([a]))[0] == 1.0
    balanced = record([[1, 1, 0, 0, 1]]), record([[0, 0, 1, 1, 1]])
    assert clip_test(*(clip_outputs([r]) for r in balanced))[0] == 1.0


def test_permutation_p_over_seed_averaged_correctness_is_exact_for_few_clips():
    a = clip_outputs([record([[1, 1, 1, 0, 1, 1, 0, 1]], seed=s) for s in (0, 1)])
    b = clip_outputs([record([[0, 1, 0, 0, 1, 0, 0, 0]], seed=0), record([[0, 1, 1, 0, 0, 0, 0, 1]], seed=1)])
    p, name = clip_test(a, b)
    d = np.array([1, 1, 1, 0, 1, 1, 0, 1]) - np.array([0, 1, 0.5, 0, 0.5, 0, 0, 0.5])
    flips = np.array(list(itertools.product([-1, 1], repeat=8)))
    null = (flips * d).mean(axis=1)
    observed = d.mean()
    expected = min(1.0, 2 * min(np.mean(null >= observed - 1e-12), np.mean(null <= observed + 1e-12)))
    assert name == "paired permutation over clips" and p == pytest.approx(expected)


def test_paired_bootstrap_resamples_the_same_clips_for_both():
    """a right everywhere, b right on the first of 10 clips only: difference 1 − Binomial(10, 0.1)/10 → (0.7, 1.0)."""
    a, b = clip_outputs([record([[1] * 10])]), clip_outputs([record([[1] + [0] * 9])])
    assert paired_bootstrap(a, b) == (pytest.approx(0.7), 1.0)
    assert paired_bootstrap(b, a) == (-1.0, pytest.approx(-0.7))
    assert paired_bootstrap(a, a) == (0.0, 0.0)
    assert paired_bootstrap(a, clip_outputs([record([[1] * 10], start=3)])) is None
    # two folds: the mean over folds of the difference
    two_a, two_b = clip_outputs([record([[1] * 4, [1] * 6])]), clip_outputs([record([[0] * 4, [1] * 6])])
    assert paired_bootstrap(two_a, two_b) == (pytest.approx(0.5), pytest.approx(0.5))


def multilabel_record(truth, scores, seed=0) -> ResultRecord:
    from rwbench.tasks import roc_auc_macro

    fold = {"name": "fold1", "roc_auc_macro": roc_auc_macro(np.asarray(truth), np.asarray(scores)), "pr_auc_macro": 0.5,
            "micro_f1": 0.5, "test_clips": list(range(len(truth))), "truth": truth, "scores": scores}
    return from_folds([fold], seed=seed, task_type="multilabel")


def pairwise_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC by its definition: the share of (positive, negative) pairs ordered right, ties counting half."""
    pos, neg = scores[truth == 1], scores[truth == 0]
    greater = pos[:, None] - neg[None, :]
    return float(np.mean((greater > 0) + 0.5 * (greater == 0)))


def test_multilabel_interval_resamples_the_macro_roc_auc():
    rng = np.random.default_rng(5)
    truth = (rng.random((40, 3)) < 0.4).astype(int)
    scores = np.round(truth + rng.normal(0, 0.8, truth.shape), 1)  # rounded: tied scores
    folds = clip_outputs([multilabel_record(truth.tolist(), scores.tolist())])
    low, high = hierarchical_interval(folds)
    reference = []
    for _ in range(1000):
        pick = rng.integers(0, 40, 40)
        tags = [t for t in range(3) if 0 < truth[pick, t].sum() < 40]
        reference.append(np.mean([pairwise_auc(truth[pick, t], scores[pick, t]) for t in tags]))
    ref_low, ref_high = np.percentile(reference, [2.5, 97.5])
    observed = np.mean([roc_auc_score(truth[:, t], scores[:, t]) for t in range(3)])
    assert low == pytest.approx(ref_low, abs=0.04) and high == pytest.approx(ref_high, abs=0.04)
    assert low < observed < high


# -- Wilcoxon over folds ------------------------------------------------------------------------------------------
def test_wilcoxon_splits_zero_differences_between_the_signs():
    """Differences (0, 0, 0, 1, 2, −3, 4, 5) / 10: ``zsplit`` ranks the zeros too (rank 2 each, half of them to each
    side), the nonzero ones get ranks 4..8, R+ = 3 + 4 + 5 + 7 + 8 = 27 around a centre of 18; the exact p is the
    share of the 2⁵ sign flips of the nonzero ranks as far from 18: 8/32. ``wilcox`` (zeros dropped) gives 10/32."""
    d = np.array([0, 0, 0, 1, 2, -3, 4, 5]) / 10
    a, b = 0.5 + d, np.full(8, 0.5)
    flips = np.array(list(itertools.product([0, 1], repeat=5)))
    r_plus = 3.0 + flips @ np.array([4.0, 5, 6, 7, 8])
    expected = np.mean(np.abs(r_plus - 18) >= 27 - 18 - 1e-9)
    assert expected == 0.25
    assert paired_wilcoxon(a, b) == pytest.approx(0.25)
    assert paired_wilcoxon(b, a) == pytest.approx(0.25)
    dropped = stats.wilcoxon(a, b, zero_method="wilcox", method=stats.PermutationMethod(n_resamples=np.inf)).pvalue
    assert dropped == pytest.approx(10 / 32)  # the zero_method matters here


def test_wilcoxon_large_n_and_least_p():
    rng = np.random.default_rng(0)
    a, b = rng.random(20), rng.random(20)
    assert paired_wilcoxon(a, b) == pytest.approx(stats.wilcoxon(a, b, zero_method="zsplit").pvalue)
    assert [least_wilcoxon_p(n) for n in (0, 1, 2, 3)] == [1.0, 1.0, 0.5, 0.25]
    assert paired_wilcoxon(a, a + 1e-12) == 1.0


# -- blocks, best row, compare --------------------------------------------------------------------------------------
def test_block_scores_are_seed_means_not_medians():
    rows = {"r": [scores_record([0.1, 0.3], seed=0), scores_record([0.2, 0.3], seed=1), scores_record([0.9, 0.9], seed=2)]}
    assert seed_means(rows["r"]).to_dict() == pytest.approx({"fold1": 0.4, "fold2": 0.5})
    assert block_scores(rows).loc["r"].tolist() == pytest.approx([0.4, 0.5])


def test_best_row_is_the_highest_mean_over_seeds_and_folds():
    """Row ``m`` has the highest mean (0.6) but the lower median; the Wilcoxon runs against it, so it is the best."""
    key = ("toy", "{}", "small", "random", "svm")
    rows = {
        key[:1] + ("m",) + key[2:]: [scores_record([0.1] * 5, seed=0), scores_record([0.5] * 5, seed=1),
                                     scores_record([1.0] * 5, seed=2), scores_record([0.8] * 5, seed=3)],
        key[:1] + ("n",) + key[2:]: [scores_record([0.55, 0.56, 0.57, 0.58, 0.59])],
        key[:1] + ("o",) + key[2:]: [scores_record([0.2, 0.3, 0.2, 0.3, 0.2])],
    }
    stats_ = leaderboard_statistics(rows)
    best = key[:1] + ("m",) + key[2:]
    assert stats_[best]["tied_with_best"] is True and np.isnan(stats_[best]["p_vs_best"])
    assert stats_[key[:1] + ("o",) + key[2:]]["avg_rank"] == 3.0
    assert stats_[best]["block_kind"] == "folds" and stats_[best]["n_blocks"] == 5
    assert stats_[best]["least_p"] == pytest.approx(2 / 16)  # Holm over the 2 comparisons with the best
    assert stats_[best]["weight_kinds"] == "random ×3"
    # Demšar (2006), table 5(a): q_0.05 = 2.343 for k = 3; CD = q · √(k(k+1) / 6N) with N = 5 folds
    assert stats_[best]["nemenyi_cd"] == pytest.approx(2.343 * np.sqrt(3 * 4 / (6 * 5)), abs=1e-3)
    chi2, p = stats.friedmanchisquare([0.6] * 5, [0.55, 0.56, 0.57, 0.58, 0.59], [0.2, 0.3, 0.2, 0.3, 0.2])
    assert stats_[best]["friedman_chi2"] == pytest.approx(chi2) and stats_[best]["friedman_p"] == pytest.approx(p)


def test_the_least_p_of_thousands_of_differing_clips_is_zero_not_an_overflow():
    from rwbench.analysis.significance import least_wilcoxon_p

    assert least_wilcoxon_p(0) == 1.0 and least_wilcoxon_p(5) == 2 / 32 and least_wilcoxon_p(3000) == 0.0


def test_compare_counts_wins_ties_and_losses():
    a = [scores_record([0.8, 0.7, 0.6, 0.5, 0.9])]
    b = [scores_record([0.8, 0.6, 0.7, 0.5, 0.8], frontend="g")]
    out = compare_pair(a, b)
    assert (out["wins"], out["ties"], out["losses"]) == (2, 2, 1)
    assert out["mean_difference"] == pytest.approx(0.02)
    assert out["a_scores"] == [0.8, 0.7, 0.6, 0.5, 0.9] and out["n_blocks"] == 5
    # d = (0, .1, −.1, 0, .1): the zeros share rank 1.5, the rest rank 4; every sign flip is as far from the centre
    assert out["p"] == pytest.approx(1.0)
    # two ties carry no sign: 3 folds where they differ, so no p below 2/2³ (not 2/2⁵)
    assert out["least_p"] == pytest.approx(2 / 2 ** 3) and out["bootstrap_ci_low"] is None


def test_fold_scores_equal_in_exact_arithmetic_tie_whatever_the_rounding():
    """40 test clips per fold: the row loses fold 1 by one clip (22 vs 23) and wins six folds by one (21 vs 20). In
    floating point 22/40 − 23/40 = −0.02499999999999991 and 21/40 − 20/40 = +0.025000000000000022, which broke the tie
    of the seven |d| (p 0.03125); tied, they give R− = 4 of 28, and 16 of the 128 sign flips are as extreme: 0.125."""
    def row(counts, frontend, seed=0):
        return record([[1] * k + [0] * (40 - k) for k in counts], frontend=frontend, seed=seed)

    out = compare_pair([row([22] + [21] * 6, "a")], [row([23] + [20] * 6, "b")])
    assert (out["wins"], out["ties"], out["losses"]) == (6, 0, 1)
    assert out["p"] == pytest.approx(0.125)
    # a mean over seeds (20, 20, 26)/40 is 0.5499999999999999: it ties 22/40 in every fold
    seeds = [row([k] * 5, "a", seed=i) for i, k in enumerate((20, 20, 26))]
    tie = compare_pair(seeds, [row([22] * 5, "b")])
    assert (tie["wins"], tie["ties"], tie["losses"], tie["p"]) == (0, 5, 0, 1.0)
    key = ("toy", "{}", "small", "random", "svm")
    ranks = leaderboard_statistics({key[:1] + ("a",) + key[2:]: seeds, key[:1] + ("b",) + key[2:]: [row([22] * 5, "b")],
                                    key[:1] + ("c",) + key[2:]: [row([10] * 5, "c")]})
    assert sorted(v["avg_rank"] for v in ranks.values()) == [1.5, 1.5, 3.0]


def test_single_split_blocks_are_the_pooled_test_clips():
    key = ("toy", "{}", "small", "random", "svm")
    rows = {key[:1] + ("a",) + key[2:]: [record([[1, 1, 1, 0, 1, 1], [1, 0, 1]])],
            key[:1] + ("b",) + key[2:]: [record([[0, 1, 0, 0, 1, 0], [1, 0, 0]], frontend="b")]}
    out = leaderboard_statistics(rows)
    a, b = (out[k] for k in rows)
    assert a["block_kind"] == "clips" and a["n_blocks"] == 9  # 6 + 3 clips of two folds
    # a right and b wrong on clips 0, 2, 5, 8; never the reverse: McNemar p = 2 / 2⁴
    assert b["test_vs_best"] == "exact McNemar over clips" and b["p_vs_best"] == pytest.approx(2 / 16)
    # and 2 / 2⁴ is the least p 4 discordant clips allow: no evidence of a tie either
    assert a["tied_with_best"] is True and b["vs_best"] == "untestable" and np.isnan(b["tied_with_best"])


def test_a_fold_without_one_per_clip_field_has_no_clip_outputs():
    full = record([[1, 0, 1]])
    for field in ("test_clips", "truth", "predicted"):
        folds = [{k: v for k, v in full.folds[0].items() if k != field}]
        assert clip_outputs([from_folds(folds)]) is None


def test_multilabel_paired_bootstrap_p():
    rng = np.random.default_rng(2)
    truth = (rng.random((30, 2)) < 0.5).astype(int)
    perfect = multilabel_record(truth.tolist(), (truth + 0.1 * rng.random((30, 2))).tolist())
    noise = multilabel_record(truth.tolist(), rng.random((30, 2)).tolist())
    p, name = clip_test(clip_outputs([perfect]), clip_outputs([perfect]))
    assert (p, name) == (1.0, "paired bootstrap over clips")  # every centred difference is 0: (500 + 1) / (500 + 1)
    p, _ = clip_test(clip_outputs([perfect]), clip_outputs([noise]))
    assert p == pytest.approx(1 / 501)  # no centred difference reaches the observed one: (0 + 1) / (500 + 1)


def test_single_split_multilabel_tests_draw_enough_for_holm_over_many_rows():
    """27 rows on one split: with the task's 500 draws no p could fall below 26/501 = 0.052 after Holm, and every
    row read "tied" with the best; the test draws 1,040 so that rows far below the best are shown worse."""
    rng = np.random.default_rng(3)
    truth = (rng.random((40, 3)) < 0.5).astype(int)
    rows = {("ml", "best", "small", "random", "svm"): [multilabel_record(truth.tolist(), (truth + 0.1).tolist())]}
    for i in range(26):
        rows[("ml", f"noise{i:02d}", "small", "random", "svm")] = [
            multilabel_record(truth.tolist(), rng.random((40, 3)).tolist())]
    out = leaderboard_statistics(rows)
    best = out[("ml", "best", "small", "random", "svm")]
    folds = list(clip_outputs(rows[("ml", "best", "small", "random", "svm")]).values())
    assert bootstrap_draws(folds, 26) == 1040 and best["least_p"] == pytest.approx(26 / 1041)
    assert best["block_kind"] == "clips"
    assert all(v["tied_with_best"] is False and v["p_vs_best"] < 0.05 for k, v in out.items() if k[1] != "best")
    assert bootstrap_draws(folds, 1) == 500 and bootstrap_draws(folds, 200) == 2000  # the cap, raised up to 2,000
    assert least_clip_p(folds, 200) == pytest.approx(200 / 2001)  # above 0.05: such rows read 'untestable'


def test_regime_and_weight_kinds():
    frame = block_scores({"a": [scores_record([0.5] * 4)], "b": [scores_record([0.4] * 4)]})
    assert regime_of(frame) == "clips" and regime_of(frame, "folds") == "folds"
    assert regime_of(block_scores({"a": [scores_record([0.5] * 5)]})) == "folds"
    with pytest.raises(ValueError, match="unknown test regime"):
        regime_of(frame, "seeds")
    assert weight_kinds([("d", "f", "w", "trained", "b"), ("d", "g", "w", "random", "b"),
                         ("d", "h", "w", "random", "b")]) == "random ×2, trained ×1"


def test_multilabel_bootstrap_p_over_three_folds_by_hand():
    """Three folds of 12 clips: the observed difference is the mean over folds of macro ROC-AUC(a) − (b); each
    draw resamples the same clips for both within each fold (one generator, folds in order)."""
    rng = np.random.default_rng(11)
    truth = (rng.random((36, 2)) < 0.5).astype(int)
    truth[::6] = [1, 0]
    truth[1::6] = [0, 1]  # every fold has both classes of both tags
    a_scores = np.round(truth + rng.normal(0, 0.9, truth.shape), 2)
    b_scores = np.round(truth + rng.normal(0, 1.1, truth.shape), 2)

    def folded(scores):
        from rwbench.tasks import roc_auc_macro

        folds = [{"name": f"fold{i + 1}", "pr_auc_macro": 0.5, "micro_f1": 0.5,
                  "roc_auc_macro": roc_auc_macro(truth[12 * i:12 * i + 12], scores[12 * i:12 * i + 12]),
                  "test_clips": list(range(12 * i, 12 * i + 12)), "truth": truth[12 * i:12 * i + 12].tolist(),
                  "scores": scores[12 * i:12 * i + 12].tolist()} for i in range(3)]
        return clip_outputs([from_folds(folds, task_type="multilabel")])

    def macro(t, s):
        values = [pairwise_auc(t[:, k], s[:, k]) for k in range(2) if 0 < t[:, k].sum() < len(t)]
        return np.mean(values) if values else np.nan

    parts = [slice(12 * i, 12 * i + 12) for i in range(3)]
    per_fold = [macro(truth[s], a_scores[s]) - macro(truth[s], b_scores[s]) for s in parts]
    observed = np.mean(per_fold)
    assert np.median(per_fold) != pytest.approx(observed)  # the folds differ: mean and median tell apart
    draws, generator = 500, np.random.default_rng(0)
    differences = np.zeros(draws)
    for s in parts:
        picks = generator.integers(0, 12, size=(draws, 12))
        differences += [(macro(truth[s][p], a_scores[s][p]) - macro(truth[s][p], b_scores[s][p])) / 3 for p in picks]
    expected = min(1.0, (np.sum(np.abs(differences - observed) >= abs(observed)) + 1) / (draws + 1))
    assert 0.02 < expected < 0.9
    p, name = clip_test(folded(a_scores), folded(b_scores))
    assert name == "paired bootstrap over clips" and p == pytest.approx(expected)


def test_identical_seed_averaged_correctness_has_p_one():
    a = clip_outputs([record([[1, 0, 1, 1, 0, 1]], seed=s) for s in (0, 1)])
    b = clip_outputs([record([[1, 0, 1, 1, 0, 1]], seed=s, frontend="g") for s in (0, 1)])
    assert clip_test(a, b) == (1.0, "paired permutation over clips")


def test_rows_without_per_clip_outputs_get_no_clip_test():
    key = ("toy", "{}", "small", "random", "svm")
    with_clips = record([[1, 1, 1, 0], [1, 0, 1]])
    rows = {key[:1] + ("a",) + key[2:]: [with_clips],
            key[:1] + ("b",) + key[2:]: [scores_record([0.5, 0.4], frontend="b")]}
    a, b = (leaderboard_statistics(rows)[k] for k in rows)
    assert a["block_kind"] == "clips" and a["n_blocks"] == 7
    assert b["test_vs_best"] == "no per-clip outputs" and np.isnan(b["p_vs_best"])
    assert np.isnan(b["tied_with_best"])
    bare = {key[:1] + (f,) + key[2:]: [scores_record([0.5, 0.4 + i / 10], frontend=f)] for i, f in enumerate("cd")}
    assert all(v["n_blocks"] == 0 and v["block_kind"] == "clips" for v in leaderboard_statistics(bare).values())
    out = compare_pair([with_clips], [scores_record([0.5, 0.4], frontend="b")])
    assert out["test"] == "no per-clip outputs" and np.isnan(out["p"]) and out["bootstrap_ci_low"] is None


def test_compare_reports_the_paired_bootstrap_interval_of_the_clips():
    a, b = record([[1] * 10]), record([[1] + [0] * 9], frontend="g")
    out = compare_pair([a], [b])
    assert (out["bootstrap_ci_low"], out["bootstrap_ci_high"]) == (pytest.approx(0.7), 1.0)
    assert out["test"] == "exact McNemar over clips" and out["p"] == pytest.approx(2 / 2 ** 9)


def test_rows_with_equal_means_share_a_rank_whatever_the_order_of_their_sums():
    """(0.1 + 0.2 + 0.3) / 3 is 0.20000000000000004, (0.3 + 0.2 + 0.1) / 3 is 0.2: the same fold scores summed in
    another order differ in the last bit, so the rank is taken on the mean rounded as the significance tests round."""
    from rwbench.analysis.leaderboard import build

    a = scores_record([0.1, 0.2, 0.3], frontend="a")
    b = scores_record([0.3, 0.2, 0.1], frontend="b")
    assert np.mean([0.1, 0.2, 0.3]) != np.mean([0.3, 0.2, 0.1])
    c = scores_record([0.1, 0.1, 0.1], frontend="c")
    table = build([a, b, c]).set_index("frontend")
    assert table.loc["a", "rank"] == table.loc["b", "rank"] == 1 and table.loc["c", "rank"] == 3


def test_one_protocol_id_that_splits_the_clips_differently_is_not_comparable():
    from rwbench.analysis.leaderboard import data_of

    def with_protocol(assignment):
        r = scores_record([0.5, 0.6])
        r.dataset["protocol"] = {"id": "csv/stratified-2fold", "k": 2, "seed": 0, "assignment": assignment}
        return r

    assert data_of(with_protocol({"x": 1, "y": 2})) == data_of(with_protocol({"x": 1, "y": 2}))
    assert data_of(with_protocol({"x": 1, "y": 2})) != data_of(with_protocol({"x": 2, "y": 1}))


def test_a_row_on_fewer_folds_or_seeds_evaluated_differently_are_named_not_comparable():
    from rwbench.analysis.leaderboard import mixed_data, rows_of_records

    full, short = scores_record([0.5, 0.6, 0.7], frontend="a"), scores_record([0.6, 0.7], frontend="b")
    short = short.__class__(**{**short.__dict__, "folds": tuple({**f, "name": f"fold{i + 2}"}
                                                                 for i, f in enumerate(short.folds))})
    (line,) = mixed_data(rows_of_records([full, short]))
    assert "outer fold(s) fold1 fold2 fold3 scored" in line and "outer fold(s) fold2 fold3 scored" in line
    moved = scores_record([0.6, 0.7, 0.8], frontend="c")  # as many folds, other ones: folds 2-4 against 1-3
    moved = moved.__class__(**{**moved.__dict__, "folds": tuple({**f, "name": f"fold{i + 2}"}
                                                                 for i, f in enumerate(moved.folds))})
    (line,) = mixed_data(rows_of_records([full, moved]))
    assert "outer fold(s) fold2 fold3 fold4 scored: 1 result(s), e.g. c random svm seed 0" in line
    wide, study = scores_record([0.5, 0.6], seed=0), scores_record([0.5, 0.6], seed=1)
    wide.backend.update(grid_name="wide", version=2)
    study.backend.update(grid_name="study", version=2)
    (line,) = mixed_data(rows_of_records([wide, study]))
    assert "its seeds were evaluated differently (seed 0: grid wide, version 2; seed 1: grid study, version 2)" in line
    assert mixed_data(rows_of_records([scores_record([0.5, 0.6], seed=0), scores_record([0.4, 0.6], seed=1)])) == []


def test_seeds_of_one_row_computed_by_two_networks_are_named_not_comparable():
    """A plugin edited (or a front-end's version bumped) between runs: a rerun with fewer seeds recomputed seed 0 and
    kept seed 1, and the row pooled the two networks as seed noise."""
    from rwbench.analysis.leaderboard import mixed_data, rows_of_records

    def built(seed, params, network=None):
        r = scores_record([0.5, 0.6], seed=seed)
        r.frontend.update(params=params, feature_dim=32, **({"network": network} if network else {}))
        return r

    (line,) = mixed_data(rows_of_records([built(0, 1824), built(1, 4896)]))
    assert "its seeds were computed by different networks (seed 0: 1824 params, dim 32; seed 1: 4896 params" in line
    v1, v2 = {"name": "a", "version": 1}, {"name": "a", "version": 2}
    (line,) = mixed_data(rows_of_records([built(0, 10, v1), built(1, 10, v2)]))
    assert "seed 0: version 1, 10 params, dim 32; seed 1: version 2, 10 params" in line
    # a result from before the network was recorded beside one after: compared by what both record
    assert mixed_data(rows_of_records([built(0, 10, v1), built(1, 10)])) == []
    assert mixed_data(rows_of_records([built(0, 10, v1), built(1, 10, v1)])) == []


def test_a_view_rounds_once_from_full_precision():
    """std 0.05154 was rounded to 0.0515 by the table, then printed 0.051 by the summary and the report."""
    from rwbench.analysis.leaderboard import build, to_csv, to_summary

    table = build([scores_record([0.5, 0.60308])])
    assert table.loc[0, "accuracy_std"] == pytest.approx(0.05154)
    assert "0.552 ± 0.052" in to_summary(table)
    assert "0.5515" in to_csv(table) and "0.0515" in to_csv(table)  # the exports keep their 4 decimals


def test_compare_in_the_folds_regime_draws_the_folds_too():
    """a right on every clip; b right on every clip of four folds and wrong on all of the fifth's. Over clips alone
    every draw is the observed difference 0.2 (an interval of width 0 beside a fold test that sees one fold of
    five differ); drawing the folds too, the difference is Z / 5 with Z ~ Binomial(5, 0.2) wrong folds drawn:
    P(Z ≤ 2) = 0.942 < 0.975 < P(Z ≤ 3) = 0.993, interval (0, 0.6)."""
    sizes = (4, 6, 3, 5, 2)
    a = record([[1] * n for n in sizes])
    b = record([[1] * n for n in sizes[:4]] + [[0] * sizes[4]], frontend="g")
    folds = compare_pair([a], [b], regime="folds")
    assert (folds["bootstrap_ci_low"], folds["bootstrap_ci_high"]) == (0.0, pytest.approx(0.6))
    assert folds["bootstrap_over"] == "folds, then clips within them"
    clips = compare_pair([a], [b], regime="clips")
    assert (clips["bootstrap_ci_low"], clips["bootstrap_ci_high"]) == (pytest.approx(0.2), pytest.approx(0.2))
    assert clips["bootstrap_over"] == "clips within folds"


def test_rows_tied_in_every_fold_leave_friedman_undefined_and_say_so(caplog):
    """scipy divides 0 by 0 there (a RuntimeWarning), and the line left Friedman out without a word."""
    import warnings

    from rwbench.analysis.leaderboard import significance_line

    rows = {("toy", f, "small", "random", "svm"): [scores_record([0.8] * 5, frontend=f)] for f in "abc"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = leaderboard_statistics(rows)
    assert all(np.isnan(v["friedman_p"]) for v in out.values())
    group = pd.DataFrame([{"frontend": k[1], "copy_of": "", **v} for k, v in out.items()])
    assert "Friedman undefined: every row ties in every fold; Nemenyi" in significance_line("svm", group)


def test_the_least_p_of_the_clip_tests_is_what_they_can_give():
    """The permutation test's least p was given as 1/(N + 1); scipy's two-sided randomised p cannot go below
    2/(N + 1): with 251 to 500 rows compared a group read 'tied' where it was 'untestable'. Rows of one seed each
    are tested by exact McNemar, whose least p is 2/2ⁿ."""
    from rwbench.analysis.significance import ClipFold, correctness_test, least_pair_p
    from rwbench.tasks import task_type

    task, n = task_type("multiclass"), 40
    clips, truth = np.arange(n), np.zeros(n, int)
    two_seeds = [ClipFold(task, clips, truth, np.ones((2, n))), ClipFold(task, clips, truth, np.zeros((2, n)))]
    p, name = correctness_test([two_seeds[0]], [two_seeds[1]], 0)  # right on every clip against wrong on every one
    assert name == "paired permutation over clips"
    assert least_pair_p("clips", None, None, {"f": two_seeds[0]}, {"f": two_seeds[1]}) == pytest.approx(p)
    assert least_clip_p([two_seeds[0]], 1) == pytest.approx(p) == pytest.approx(2 / 10_000)
    one_seed = [ClipFold(task, clips, truth, np.ones((1, n))), ClipFold(task, clips, truth, np.zeros((1, n)))]
    p, name = correctness_test([one_seed[0]], [one_seed[1]], 0)
    assert name == "exact McNemar over clips" and least_clip_p([one_seed[0]], 1, one_seed=True) == pytest.approx(p)
