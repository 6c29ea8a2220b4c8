"""Rank correlations pinned by value on hand-made leaderboard tables: pair ranks and their differences,
exact p-values against brute-force enumeration, both bootstrap intervals against a reference drawn with the same
seed, Holm within a dataset, the n thresholds and the null rankings."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rwbench.analysis import ranking
from rwbench.analysis.significance import holm
from rwbench.errors import RwbenchError


def table(random: dict, trained: dict, *, backend="svm", dataset="d", folds=None, params=None) -> pd.DataFrame:
    """A leaderboard table: one random row per front-end of ``random`` (backend ``backend``) and one trained row
    (backend ``head``) per front-end of ``trained``; ``folds``: per front-end, its (random, trained) seeds × folds."""
    rows = []
    for weights, side, this_backend in (("random", random, backend), ("trained", trained, "head")):
        for i, (frontend, accuracy) in enumerate(side.items()):
            row = {"dataset": dataset, "frontend": frontend, "width": "small", "weights": weights,
                   "backend": this_backend, "accuracy_mean": accuracy,
                   "params": (params or {}).get(frontend, 10 * (i + 1)), "macs": 5.0 * (i % 3), "dim": 100 - i}
            if folds is not None:
                row[ranking.SEED_FOLD_COLUMN] = folds[frontend][0 if weights == "random" else 1]
            rows.append(row)
    return pd.DataFrame(rows)


def test_pairs_rank_each_side_with_ties_sharing_the_better_rank():
    t = table({"a": 0.5, "b": 0.7, "c": 0.7, "d": 0.2, "x": 0.9}, {"a": 0.9, "b": 0.6, "c": 0.8, "d": 0.7})
    pairs = ranking.paired(t)
    assert list(pairs.columns) == ranking.pair_columns() and pairs.index.tolist() == [0, 1, 2, 3]
    assert pairs["frontend"].tolist() == ["c", "b", "a", "d"]  # by random rank, then trained rank
    assert pairs["random_rank"].tolist() == [1, 1, 3, 4]
    assert pairs["trained_rank"].tolist() == [2, 4, 1, 3]
    assert pairs["rank_diff"].tolist() == [-1, -3, 2, 1]  # random rank − trained rank
    assert pairs["random_accuracy"].tolist() == [0.7, 0.7, 0.5, 0.2]
    assert pairs["trained_accuracy"].tolist() == [0.8, 0.6, 0.9, 0.7]


def test_spearman_exact_p_against_every_permutation():
    x, y = np.array([0.1, 0.4, 0.3, 0.9, 0.5]), np.array([0.2, 0.1, 0.5, 0.8, 0.9])
    rho = stats.spearmanr(x, y).statistic  # 0.7
    null = np.array([stats.spearmanr(x, y[list(p)]).statistic for p in itertools.permutations(range(5))])
    assert ranking.spearman_exact_p(x, y) == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-9))
    assert ranking.spearman_exact_p(x, -y) == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-9))
    assert ranking.spearman_exact_p(x, x) == pytest.approx(2 / 120)


def test_kendall_p_without_ties_is_scipys_exact_and_with_ties_a_two_sided_permutation():
    x, y = np.array([1.0, 2, 3, 4, 5, 6]), np.array([2.0, 1, 4, 3, 6, 5])
    assert ranking.kendall_exact_p(x, y) == pytest.approx(stats.kendalltau(x, y, method="exact").pvalue)
    tied = np.array([2.0, 1, 4, 4, 6, 5])
    tau = stats.kendalltau(x, tied).statistic
    null = np.array([stats.kendalltau(x[list(p)], tied).statistic for p in itertools.permutations(range(6))])
    assert ranking.kendall_exact_p(x, tied) == pytest.approx(np.mean(np.abs(null) >= abs(tau) - 1e-12))


def test_rho_and_tau_share_one_two_sided_rule_where_ties_make_the_null_asymmetric():
    """|statistic| at least the observed one, for both: τ = −1 cannot happen with these ties, so doubling the one-sided
    p (scipy's permutation_test default) gave τ 2/30 beside ρ's 1/30 on the same pairs."""
    random, trained = np.array([0.70, 0.75, 0.75, 0.80, 0.80]), np.array([0.80, 0.85, 0.85, 0.90, 0.90])
    assert ranking.spearman_exact_p(random, trained) == pytest.approx(1 / 30)
    assert ranking.kendall_exact_p(random, trained) == pytest.approx(1 / 30)


def test_kendall_with_ties_is_enumerated_at_nine_and_ten_front_ends_not_sampled():
    x, y = np.array([1, 2, 2, 3, 4, 5, 5, 6, 7.0]), np.array([2, 1, 3, 3, 5, 4, 7, 6, 6.0])
    assert ranking.kendall_exact_p(x, y) == pytest.approx(0.009534832451499118, abs=1e-12)  # 3,460 of 9! pairings


def test_frontend_interval_is_the_pairs_bootstrap_of_rho():
    x = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.55, 0.65, 0.72])
    y = np.array([0.6, 0.58, 0.8, 0.75, 0.95, 0.5, 0.7, 0.66])
    picks = np.random.default_rng(4).integers(0, 8, size=(300, 8))
    with warnings.catch_warnings():  # a draw of one repeated front-end has no ρ
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rhos = np.array([stats.spearmanr(x[p], y[p]).statistic for p in picks])
    expected = np.percentile(rhos[np.isfinite(rhos)], [2.5, 97.5])
    assert ranking.frontend_interval(x, y, draws=300, seed=4) == pytest.approx(tuple(expected))
    assert np.isnan(ranking.frontend_interval(x[:7], y[:7])).all()  # below MIN_BOOTSTRAP_N: none


def test_below_eight_front_ends_no_bootstrap_interval_contradicts_the_exact_test():
    """n = 5, ρ = 0.9: exact p 0.083, yet the percentile interval read 0.11 … 1.00 (excluding 0); n = 4, ρ = 1:
    1.00 … 1.00, a point. Below 8 front-ends there is no interval, and the line says so."""
    random = {f"f{i}": 0.5 + 0.1 * i for i in range(5)}
    trained = dict(zip(random, [0.0, 1, 2, 4, 3]))
    row = ranking.rank_correlation(table(random, trained)).iloc[0]
    assert row["spearman_rho"] == pytest.approx(0.9) and row["spearman_p"] == pytest.approx(0.0833, abs=1e-4)
    assert np.isnan(row["rho_ci_frontends_low"]) and np.isnan(row["rho_minus_null_ci_low"])
    line = ranking.describe(row)
    assert "no interval over front-ends below 8 front-ends" in line and "nan" not in line


def test_the_share_of_bootstrap_draws_without_a_rho_is_recorded_and_said():
    """Nine front-ends whose trained scores tie but for one: draws that miss it leave one side constant (no ρ)."""
    random = {f"f{i}": 0.5 + 0.01 * i for i in range(9)}
    trained = {f: 0.9 if f == "f8" else 0.7 for f in random}
    row = ranking.rank_correlation(table(random, trained)).iloc[0]
    x, y = (np.array([side[f] for f in row["frontends"]]) for side in (random, trained))  # in the row's order
    share = np.mean(~np.isfinite(ranking.frontend_rhos(x, y)))
    assert row["rho_ci_undefined_draws"] == pytest.approx(share) and share == pytest.approx((8 / 9) ** 9, abs=0.03)
    assert f"({share:.0%} of draws had no ρ and are left out)" in ranking.describe(row)


def test_fold_interval_resamples_folds_and_seeds():
    rng = np.random.default_rng(0)
    random_folds = [rng.random((2, 4)) for _ in range(5)]  # 5 front-ends, 2 seeds × 4 folds
    trained_folds = [rng.random((1, 4)) for _ in range(5)]
    draws = 200
    ref = np.random.default_rng(9)
    folds = ref.integers(0, 4, size=(draws, 4))
    means = []
    for side in (random_folds, trained_folds):
        columns = []
        for m in side:
            seeds = ref.integers(0, len(m), size=(draws, len(m)))
            columns.append([m[np.ix_(s, f)].mean() for s, f in zip(seeds, folds)])
        means.append(np.array(columns).T)
    rhos = np.array([stats.spearmanr(a, b).statistic for a, b in zip(*means)])
    expected = np.percentile(rhos[np.isfinite(rhos)], [2.5, 97.5])
    low, high = ranking.fold_interval(random_folds, trained_folds, draws=draws, seed=9)
    assert (low, high) == pytest.approx(tuple(expected))
    assert np.isnan(ranking.fold_interval([np.ones((1, 3))], [np.ones((1, 4))])[0])  # different fold counts


def test_rank_correlation_figures_n_thresholds_and_holm():
    random = {"a": 0.5, "b": 0.6, "c": 0.7, "d": 0.8, "e": 0.9, "f": 0.55, "g": 0.65, "h": 0.72}
    trained = {"a": 0.6, "b": 0.58, "c": 0.8, "d": 0.75, "e": 0.95, "f": 0.5, "g": 0.7, "h": 0.66}
    params = {"a": 60, "b": 10, "c": 30, "d": 20, "e": 50, "f": 40, "g": 70, "h": 5}
    rng = np.random.default_rng(1)
    folds = {f: (rng.random((2, 3)), rng.random((3, 3))) for f in random}  # seeds × 3 folds, per side
    elm_random = {f: a + 0.001 * i for i, (f, a) in enumerate(random.items())}  # same order: same figures
    both = pd.concat([table(random, trained, params=params, folds=folds),
                      table(elm_random, {}, backend="elm", params=params, folds=folds),
                      table({"a": 0.1, "b": 0.2}, {"a": 0.3, "b": 0.4}, dataset="other")])
    x, y = np.array(list(random.values())), np.array(list(trained.values()))
    out = ranking.rank_correlation(both)
    other = out[out["dataset"] == "other"].iloc[0]
    out = out[out["dataset"] == "d"].set_index("backend")
    svm, elm = out.loc["svm"], out.loc["elm"]
    assert svm["n"] == elm["n"] == 8 and other["n"] == 2 and np.isnan(other["spearman_rho"])
    assert svm["spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert svm["kendall_tau"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert svm["spearman_p_method"] == svm["kendall_p_method"] == "exact"
    assert svm["spearman_p"] == pytest.approx(ranking.spearman_exact_p(x, y))
    assert svm["kendall_p"] == pytest.approx(ranking.kendall_exact_p(x, y))
    assert (svm["rho_ci_frontends_low"], svm["rho_ci_frontends_high"]) == pytest.approx(
        ranking.frontend_interval(np.array([random[f] for f in svm["frontends"]]),
                                  np.array([trained[f] for f in svm["frontends"]])))
    assert (svm["rho_ci_folds_low"], svm["rho_ci_folds_high"]) == pytest.approx(ranking.fold_interval(
        [folds[f][0] for f in svm["frontends"]], [folds[f][1] for f in svm["frontends"]]))
    assert svm["null_rho_params"] == pytest.approx(stats.spearmanr([params[f] for f in random], y).statistic)
    assert svm["null_rho_dim"] == pytest.approx(stats.spearmanr([100 - i for i in range(8)], y).statistic)
    assert svm["frontends"] == ["e", "d", "h", "c", "g", "b", "f", "a"]
    # Holm over the dataset's ρ and τ p-values of both backends (the other dataset is another family)
    adjusted = holm([svm["spearman_p"], elm["spearman_p"], svm["kendall_p"], elm["kendall_p"]])
    assert [svm["spearman_p_holm"], svm["kendall_p_holm"]] == pytest.approx(adjusted[[0, 2]].tolist())
    assert np.isnan(other["spearman_p_holm"])
    line = ranking.describe(svm.to_dict() | {"backend": "svm"})
    assert line.startswith(f"svm: ρ = {svm['spearman_rho']:.2f} (exact p {ranking._p(svm['spearman_p'])}, Holm ")
    assert "95 % CI over front-ends" in line and ", over folds × seeds " in line
    assert "null rankings ρ(params) = " in line and line.endswith("n = 8")
    rhos = ranking.fold_draws([folds[f][0] for f in svm["frontends"]], [folds[f][1] for f in svm["frontends"]])
    assert svm["rho_folds_median"] == pytest.approx(np.nanmedian(rhos))


def test_a_rho_outside_its_fold_interval_is_said_to_three_decimals():
    """A redraw of the folds adds noise to every row's mean, which lowers ρ: on 21 of study 24's ESC-10 front-ends
    ρ = 0.923 beside 0.809 … 0.9168, printed '0.81 … 0.92', as if it held ρ."""
    rng = np.random.default_rng(3)
    truth = np.linspace(0.5, 0.9, 12)  # the rows differ by less than their folds vary
    random_folds = [t + rng.normal(0, 0.1, (3, 5)) for t in truth]
    trained_folds = [t + rng.normal(0, 0.1, (1, 5)) for t in truth]
    rhos = ranking.fold_draws(random_folds, trained_folds)
    observed = stats.spearmanr([m.mean() for m in random_folds], [m.mean() for m in trained_folds]).statistic
    low, high = ranking.fold_interval(random_folds, trained_folds)
    assert np.median(rhos) < observed and (low, high) == pytest.approx(tuple(np.percentile(rhos, [2.5, 97.5])))
    row = {"n": 21, "backend": "elm", "spearman_rho": 0.923, "kendall_tau": 0.8, "spearman_p": 1e-6, "kendall_p": 1e-6,
           "spearman_p_holm": 1e-5, "kendall_p_holm": 1e-5, "rho_ci_frontends_low": 0.8, "rho_ci_frontends_high": 0.97,
           "rho_ci_folds_low": 0.809, "rho_ci_folds_high": 0.9168, "rho_folds_median": 0.865}
    assert ("over folds × seeds 0.809 … 0.917 (median 0.865; ρ 0.923 lies above it: a redraw of the folds repeats "
            "some and leaves others out, which adds noise to every row's mean and lowers ρ)") in ranking.describe(row)
    assert "over folds × seeds 0.81 … 0.93)" in ranking.describe(row | {"rho_ci_folds_high": 0.93})


@pytest.mark.parametrize("n, ties, rho_method, tau_method", [
    (2, False, None, None), (3, False, "exact", "exact"), (14, False, "exact", "exact"),
    (15, False, "large-sample", "exact"), (10, True, "exact", "exact"), (11, True, "exact", "large-sample")])
def test_minimum_and_exact_thresholds(n, ties, rho_method, tau_method):
    """Spearman exact up to 14 front-ends (at 11 the large-sample p read 0.047 where the exact one is 0.052);
    Kendall exact at any n without ties, up to 10 with them."""
    order = np.random.default_rng(n).permutation(n)
    if ties:
        order[order == 1] = 0
    random = {f"f{i}": 0.5 + 0.01 * i for i in range(n)}
    trained = {f"f{i}": 0.5 + 0.01 * int(k) for i, k in enumerate(order)}
    row = ranking.rank_correlation(table(random, trained)).iloc[0]
    assert row["n"] == n
    if rho_method is None:
        assert np.isnan(row["spearman_rho"]) and "needs at least 3" in ranking.describe(row)
        return
    assert (row["spearman_p_method"], row["kendall_p_method"]) == (rho_method, tau_method)
    x, y = np.array(list(random.values())), np.array(list(trained.values()))
    rho_exact, tau_exact = rho_method == "exact", tau_method == "exact"
    assert row["spearman_p"] == pytest.approx(ranking.spearman_exact_p(x, y) if rho_exact else stats.spearmanr(x, y).pvalue)
    large = stats.kendalltau(x, y, method="asymptotic").pvalue  # "large-sample" is what it says (scipy's
    assert row["kendall_p"] == pytest.approx(ranking.kendall_exact_p(x, y) if tau_exact else large)  # auto: exact)
    line = ranking.describe(row)
    assert ("ρ = " + f"{row['spearman_rho']:.2f} (" + ("exact p" if rho_exact else "p ")) in line
    assert ("τ = " + f"{row['kendall_tau']:.2f} (" + ("exact p" if tau_exact else "p ")) in line


def test_p_formatting():
    assert ranking._p(0.0009) == "< 0.001" and ranking._p(0.001) == "0.001" and ranking._p(0.0123) == "0.0123"


def test_comparison_cut_to_one_backend():
    random = {"a": 0.5, "b": 0.6, "c": 0.7}
    both = pd.concat([table(random, {"a": 0.9, "b": 0.6, "c": 0.8}), table(random, {}, backend="elm")])
    pairs, correlations = ranking.comparison(both, backend="elm")
    assert list(pairs.columns) == ranking.pair_columns() and pairs.index.tolist() == [0, 1, 2]
    assert set(pairs["backend"]) == {"elm"} and correlations["backend"].tolist() == ["elm"]
    assert correlations.index.tolist() == [0]
    for kwargs, message in (({"trained": "random"}, "both name weights"), ({"trained": "mtt"}, "no results with weights"),
                            ({"backend": "knn"}, "no 'random' results with backend 'knn'")):
        with pytest.raises(ranking.RwbenchError, match=message):
            ranking.comparison(both, **kwargs)


def test_recorded_macs_are_kept_and_an_unknown_front_end_without_them_is_nan():
    t = pd.DataFrame({"frontend": ["nosuch", "nosuch[max]"], "width": ["small", "small"], "macs": [123.0, 5.0]})
    assert ranking.with_macs(t)["macs"].tolist() == [123.0, 5.0]
    bare = t.drop(columns="macs")
    assert ranking.with_macs(bare)["macs"].isna().all() and "macs" not in bare.columns


def brute_spearman_p(x, y):
    observed = abs(stats.spearmanr(x, y).statistic)
    rhos = [abs(stats.spearmanr(x, np.asarray(p)).statistic) for p in itertools.permutations(y)]
    return float(np.mean(np.array(rhos) >= observed - 1e-12))


def test_within_family_rho_per_input_family_with_enough_front_ends():
    both = pd.DataFrame({
        "input": ["waveform"] * 4 + ["logmel"] * 3 + ["none"] * 2,
        "random_accuracy": [0.5, 0.6, 0.7, 0.8, 0.3, 0.2, 0.4, 0.9, 0.1],
        "trained_accuracy": [0.6, 0.5, 0.9, 0.8, 0.7, 0.9, 0.8, 0.2, 0.3]})
    out = ranking.within_families(both, "accuracy")
    assert list(out) == ["logmel", "waveform"]  # "none" has fewer than MIN_FRONTENDS
    for family, members in both.groupby("input"):
        if family == "none":
            continue
        x, y = members["random_accuracy"].to_numpy(), members["trained_accuracy"].to_numpy()
        assert out[family]["n"] == len(x) and out[family]["p_method"] == "exact"
        assert out[family]["rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
        assert out[family]["p"] == pytest.approx(brute_spearman_p(x, y))
    assert ranking.within_families(both.assign(input="waveform"), "accuracy") == {}
    two = both[both["input"] != "none"]  # two families are enough to split
    assert list(ranking.within_families(two, "accuracy")) == ["logmel", "waveform"]


def test_three_front_ends_are_described_and_the_columns_are_fixed():
    row = ranking.rank_correlation(table({"a": 0.5, "b": 0.6, "c": 0.7}, {"a": 0.6, "b": 0.9, "c": 0.8})).iloc[0]
    line = ranking.describe(row)
    assert line.startswith(f"svm: ρ = {stats.spearmanr([0.5, 0.6, 0.7], [0.6, 0.9, 0.8]).statistic:.2f} (exact p ")
    assert line.endswith("n = 3")
    assert list(ranking.rank_correlation(table({"a": 0.5}, {"a": 0.6})).columns) == ranking.CORRELATION_COLUMNS
    empty = ranking.rank_correlation(table({}, {"a": 0.6}))  # no random row: no row, the same columns
    assert len(empty) == 0 and list(empty.columns) == ranking.CORRELATION_COLUMNS


def test_leave_one_out_range_and_the_most_influential_front_end_against_scipy():
    # "e" is the outlier: random ranks it best, training worst; leaving it out makes the ranking perfect
    random = {"a": 0.50, "b": 0.60, "c": 0.70, "d": 0.80, "e": 0.90}
    trained = {"a": 0.55, "b": 0.65, "c": 0.75, "d": 0.85, "e": 0.40}
    row = ranking.rank_correlation(table(random, trained)).iloc[0]
    names = list(random)
    by_hand = {left: stats.spearmanr([random[k] for k in names if k != left],
                                     [trained[k] for k in names if k != left]).statistic for left in names}
    assert row["rho_leave_one_out_low"] == pytest.approx(min(by_hand.values()))
    assert row["rho_leave_one_out_high"] == pytest.approx(max(by_hand.values())) == pytest.approx(1.0)
    full = stats.spearmanr(list(random.values()), list(trained.values())).statistic
    assert row["most_influential"] == max(names, key=lambda k: abs(by_hand[k] - full)) == "e"
    assert "; ρ with one front-end left out " in ranking.describe(row) and "(most influential: e)" in ranking.describe(row)
    three = ranking.rank_correlation(table({"a": 0.5, "b": 0.6, "c": 0.7}, {"a": 0.6, "b": 0.9, "c": 0.8})).iloc[0]
    assert three["most_influential"] == "" and np.isnan(three["rho_leave_one_out_low"])  # 2 left: no ρ to speak of
    assert "left out" not in ranking.describe(three)


def test_the_most_influential_front_end_is_the_first_of_those_that_move_rho_equally():
    """Trained ranks 1, 2, 4, 5, 3: leaving out a, b or e moves ρ = 0.7 by exactly 0.3 each (exact arithmetic); e was
    named, in every order of the rows, because its move rounded to 0.30000000000000004."""
    x, y = np.array([0.1, 0.2, 0.3, 0.4, 0.5]), np.array([0.1, 0.2, 0.4, 0.5, 0.3])
    names = list("abcde")
    assert ranking.leave_one_out(x, y, names)["most_influential"] == "a"
    for order in ([4, 3, 2, 1, 0], [2, 4, 1, 0, 3]):  # the first of a, b, e in the rows' order: e, then e
        ordered = [names[i] for i in order]
        assert ranking.leave_one_out(x[order], y[order], ordered)["most_influential"] == next(
            n for n in ordered if n in "abe")
    assert ranking.leave_one_out(x[[1, 0, 2, 3, 4]], y[[1, 0, 2, 3, 4]], list("bacde"))["most_influential"] == "b"


def test_missing_macs_are_counted_on_the_registered_front_end_of_the_name():
    from rwbench.frontend import FRONTENDS
    from rwbench.macs import count_macs

    t = pd.DataFrame({"frontend": ["strided_256_256[max]"], "width": ["small"], "macs": [np.nan]})
    expected = float(count_macs(FRONTENDS.get("strided_256_256"), "small"))
    assert expected > 0 and ranking.with_macs(t)["macs"].tolist() == [expected]


def test_exact_p_values_with_ties_on_either_side():
    x, tied = np.array([0.1, 0.4, 0.3, 0.9, 0.5, 0.7]), np.array([0.2, 0.2, 0.5, 0.8, 0.8, 0.9])
    rho = stats.spearmanr(x, tied).statistic
    null = np.array([stats.spearmanr(x, tied[list(p)]).statistic for p in itertools.permutations(range(6))])
    assert ranking.spearman_exact_p(x, tied) == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-9))
    assert ranking.spearman_exact_p(tied, x) == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-9))
    tau = stats.kendalltau(tied, x).statistic  # ties in x this time (the first argument)
    taus = np.array([stats.kendalltau(tied[list(p)], x).statistic for p in itertools.permutations(range(6))])
    assert ranking.kendall_exact_p(tied, x) == pytest.approx(np.mean(np.abs(taus) >= abs(tau) - 1e-12))


def test_a_comparison_with_pretrained_weights_pairs_them_on_the_random_sides_backend():
    random = {"a": 0.5, "b": 0.6, "c": 0.7}
    mtt = table({}, {"a": 0.9, "b": 0.6, "c": 0.8}).assign(weights="mtt", backend="svm")
    pairs, correlations = ranking.comparison(pd.concat([table(random, {}), mtt]), trained="mtt")
    assert pairs["frontend"].tolist() == ["c", "b", "a"] and pairs["trained_accuracy"].tolist() == [0.8, 0.6, 0.9]
    assert correlations["spearman_rho"].tolist() == pytest.approx([stats.spearmanr([0.5, 0.6, 0.7],
                                                                                   [0.9, 0.6, 0.8]).statistic])


def test_a_folds_by_seeds_interval_needs_something_to_resample():
    one = [np.array([[0.5]]), np.array([[0.6]]), np.array([[0.7]]), np.array([[0.8]])]
    assert np.isnan(ranking.fold_interval(one, one[::-1])).all()  # one split, one seed each: no interval, not a point
    two_seeds = [np.array([[0.5], [0.55]]), *one[1:]]
    assert np.isfinite(ranking.fold_interval(two_seeds, one[::-1])).all()


def test_an_undefined_within_family_rho_is_a_sentence_not_nan():
    line = ranking.describe(pd.Series({
        "dataset": "d", "backend": "svm", "n": 6, "spearman_rho": 0.8, "spearman_p": 0.1, "spearman_p_holm": 0.2,
        "kendall_tau": 0.6, "kendall_p": 0.1, "kendall_p_holm": 0.2, "spearman_p_method": "exact", "kendall_p_method": "exact",
        "rho_ci_frontends_low": 0.1, "rho_ci_frontends_high": 0.9,
        "rho_within_families": {"logmel": {"n": 3, "rho": float("nan"), "p": float("nan"), "p_method": ""}}}))
    assert "logmel ρ undefined (n = 3, one side's accuracies all equal)" in line and "nan" not in line



def test_holm_adjusted_p_values_keep_their_significant_digits_in_the_leaderboard():
    from rwbench.analysis.leaderboard import _rounded

    table = pd.DataFrame({"rank_corr_spearman_p": [2.3e-6], "rank_corr_spearman_p_holm": [4.6e-6],
                          "rank_corr_kendall_p_holm": [1.23456e-7], "accuracy_mean": [0.123456]})
    out = _rounded(table).iloc[0]
    assert out["rank_corr_spearman_p_holm"] == 4.6e-6 and out["rank_corr_kendall_p_holm"] == 1.235e-7
    assert out["rank_corr_spearman_p_holm"] > out["rank_corr_spearman_p"]  # never below the p it adjusts


def test_a_strong_negative_null_is_the_strongest_null_reversed():
    """Smaller networks training better (ρ(params) = −1) is a ranking as cheap as "bigger is better": ρ must beat it."""
    random = {f"f{i}": 0.5 + 0.01 * i for i in range(9)}
    trained = {f"f{i}": 0.6 + 0.01 * ((i * 5) % 9) for i in range(9)}  # ρ(random, trained) < 1
    row = ranking.rank_correlation(table(random, trained, params={f: -a for f, a in trained.items()})).iloc[0]
    assert row["null_rho_params"] == pytest.approx(-1.0)
    assert row["null_best"] == "params reversed" and row["rho_minus_null"] == pytest.approx(row["spearman_rho"] - 1)
    assert row["rho_minus_null_ci_high"] <= 1e-9  # the reversed null ranks perfectly: ρ cannot be ahead of it


def test_means_equal_in_exact_arithmetic_tie_in_rho():
    noisy = np.mean([0.1, 0.2, 0.3])  # 0.20000000000000004, where (0.3 + 0.2 + 0.1) / 3 is 0.2
    random = {"a": noisy, "b": float(np.mean([0.3, 0.2, 0.1])), "c": 0.5, "d": 0.6}
    trained = {"a": 0.6, "b": 0.5, "c": 0.7, "d": 0.8}
    row = ranking.rank_correlation(table(random, trained)).iloc[0]
    tied = stats.spearmanr([0.2, 0.2, 0.5, 0.6], list(trained.values())).statistic
    assert noisy != 0.2 and row["spearman_rho"] == pytest.approx(tied)


def test_a_null_with_an_unknown_value_is_undefined_and_named_not_dropped():
    """MACs unknown for one front-end (a plugin read without --plugin) made ρ(macs) vanish from the line without a
    word, and the "strongest null" fell to a weaker one: ρ − ρ(macs) = −0.12 became ρ − ρ(dim reversed) = +0.42."""
    random = {f"f{i}": 0.5 + 0.01 * i for i in range(8)}
    trained = {f"f{i}": 0.6 + 0.01 * ((i * 3) % 8) for i in range(8)}
    t = table(random, trained)
    t["macs"] = t["frontend"].map({f: float(v) for f, v in trained.items()})  # MACs rank exactly as trained
    assert ranking.rank_correlation(t).iloc[0]["null_best"] == "macs"
    t.loc[t["frontend"] == "f5", "macs"] = np.nan
    row = ranking.rank_correlation(t).iloc[0]
    assert np.isnan(row["null_rho_macs"]) and row["null_unknown"] == {"macs": ["f5"]}
    assert row["null_best"] != "macs"
    assert "ρ(macs) undefined (macs unknown for f5)" in ranking.describe(row)


def test_a_result_whose_width_is_gone_has_unknown_macs_not_an_aborted_leaderboard():
    filled = ranking.with_macs(pd.DataFrame({"frontend": ["sample_level"], "width": ["tiny"], "macs": [np.nan]}))
    assert np.isnan(filled["macs"].iloc[0])


def test_leave_one_out_names_the_front_end_without_which_rho_is_undefined():
    """Trained [.7, .7, .7, .7, .9]: without the last, the trained side is constant; the clause vanished exactly
    when one front-end decides ρ."""
    random = {f"f{i}": a for i, a in enumerate([0.5, 0.6, 0.7, 0.8, 0.9])}
    trained = {f"f{i}": a for i, a in enumerate([0.7, 0.7, 0.7, 0.7, 0.9])}
    row = ranking.rank_correlation(table(random, trained)).iloc[0]
    assert row["rho_leave_one_out_undefined"] == ["f4"] and row["most_influential"] == "f4"
    assert np.isfinite(row["rho_leave_one_out_low"])  # over the four removals that leave ρ defined
    assert "without f4 ρ is undefined (the other scores of one side all tie)" in ranking.describe(row)


def test_rows_on_different_numbers_of_folds_say_why_there_is_no_fold_interval():
    random = {f"f{i}": 0.5 + 0.01 * i for i in range(8)}
    trained = {f"f{i}": 0.6 + 0.01 * ((i * 3) % 8) for i in range(8)}
    rng = np.random.default_rng(0)
    folds = {f: (rng.random((2, 5)), rng.random((1, 4 if f == "f2" else 5))) for f in random}
    row = ranking.rank_correlation(table(random, trained, folds=folds)).iloc[0]
    assert np.isnan(row["rho_ci_folds_low"])
    assert row["rho_ci_folds_missing"] == "rows scored on different numbers of outer folds (f2 trained: 4; the others: 5)"
    assert "none over folds × seeds: rows scored on different numbers of outer folds" in ranking.describe(row)


def test_a_front_end_at_two_widths_is_named_with_its_width():
    rows = []
    for width, shift in (("small", 0.0), ("paper", 0.05)):
        t = table({f"f{i}": 0.5 + 0.01 * i + shift for i in range(4)}, {f"f{i}": 0.6 + 0.02 * i + shift for i in range(4)})
        rows.append(t.assign(width=width))
    row = ranking.rank_correlation(pd.concat(rows)).iloc[0]
    assert row["n"] == 8 and row["frontends"][0] == "f3 (paper)" and "f0 (small)" in row["frontends"]


def test_a_non_finite_mean_is_a_named_error_not_a_pandas_traceback():
    t = table({"a": 0.5, "b": 0.6, "c": 0.7}, {"a": 0.6, "b": np.nan, "c": 0.8})
    with pytest.raises(RwbenchError, match=r"no accuracy_mean to rank \(NaN or infinite\) for: d b \(small, trained, head\)"):
        ranking.rank_correlation(t)
