"""Significance on the leaderboard: blocks are outer folds (each row's seeds averaged), average ranks, Friedman +
Nemenyi, exact Holm-corrected Wilcoxon against the best row, paired tests over clips on single splits, hierarchical
bootstrap intervals, and `rwbench compare A B`."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import secondary_metrics
from scipy import stats

from rwbench.analysis import leaderboard
from rwbench.analysis.ranking import comparison, spearman_exact_p
from rwbench.analysis.significance import (
    average_ranks,
    block_scores,
    clip_outputs,
    clip_test,
    hierarchical_interval,
    holm,
    least_wilcoxon_p,
    nemenyi_cd,
    paired_wilcoxon,
)
from rwbench.cli import main
from rwbench.results import SCHEMA_VERSION, ResultRecord


def record(frontend, accuracies, *, seed=0, weights="random", backend="svm", n_test=40, rng=None, run_key="k",
           **instance):
    """A result record whose folds score ``accuracies``, with per-clip predictions that give exactly those."""
    folds = []
    for i, accuracy in enumerate(accuracies):
        clips = list(range(i * n_test, (i + 1) * n_test))
        truth = [c % 4 for c in clips]
        right = int(round(accuracy * n_test))
        hits = (rng or np.random.default_rng(seed + i)).permutation(n_test) < right
        predicted = [t if hit else (t + 1) % 4 for t, hit in zip(truth, hits)]
        folds.append({"name": f"fold{i + 1}", "accuracy": right / n_test, **secondary_metrics(truth, predicted),
                      "test_clips": clips, "truth": truth, "predicted": predicted})
    return ResultRecord.from_json({
        "schema_version": SCHEMA_VERSION, "seed": seed, "rwbench_version": "test", "git_sha": None, "created": "",
        "environment": {}, "run_key": run_key, "device": "cpu", "summary": {},
        "dataset": {"key": "toy", "skipped": []},
        "frontend": {"name": frontend, "input_kind": "waveform", "width": "small", "weights": weights,
                     "pooling": "mean", "feature_dim": 8, "params": 10, "layers": ["a"], "default_layers": True,
                     **instance},
        "backend": {"name": backend}, "folds": folds, "timings": {"embed_seconds_per_clip": 0.01}})


def test_holm_matches_the_step_down_rule():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])


def test_nemenyi_critical_difference_matches_demsar_2006():
    assert nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.01)  # Demšar (2006), section 3.2.2: q = 2.569
    assert nemenyi_cd(2, 10) == pytest.approx(1.960 * np.sqrt(2 * 3 / 60), abs=1e-3)


def test_average_ranks_share_ties():
    rows = {"a": [record("a", [0.9, 0.8])], "b": [record("b", [0.9, 0.7])], "c": [record("c", [0.5, 0.9])]}
    ranks = average_ranks(block_scores(rows))
    assert ranks.to_dict() == {"a": 1.75, "b": 2.25, "c": 2.0}


def test_blocks_are_folds_and_each_row_keeps_its_own_seed_mean():
    rows = {"seeded": [record("s", [0.5, 0.6], seed=s) for s in (0, 1, 2)], "once": [record("m", [0.7, 0.8])],
            "two": [record("t", [0.4, 0.5], seed=0), record("t", [0.6, 0.7], seed=1)]}
    scores = block_scores(rows)
    assert list(scores.columns) == ["fold1", "fold2"], "one block per outer fold, never fold@seed copies"
    assert scores.loc[["once"]].to_numpy()[0].tolist() == [0.7, 0.8]
    np.testing.assert_allclose(scores.loc[["two"]].to_numpy()[0], [0.5, 0.6])
    alone = block_scores({"seeded": rows["seeded"], "once": rows["once"]})
    pd.testing.assert_series_equal(alone.loc["seeded"], scores.loc["seeded"])  # other rows never change a row's blocks


def test_holm_leaves_untested_p_values_out_of_the_family():
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])


def test_wilcoxon_p_is_exact_and_bounded_by_the_number_of_folds():
    a, b = np.array([0.8, 0.82, 0.78, 0.81, 0.79]), np.array([0.7, 0.71, 0.69, 0.72, 0.65])
    assert paired_wilcoxon(a, b) == pytest.approx(0.0625) == least_wilcoxon_p(5)
    assert least_wilcoxon_p(6) == pytest.approx(0.03125)
    # a tie and a zero difference: the exact p over all 2^n sign flips of the zsplit signed ranks
    x, y = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.4]), np.array([0.5, 0.5, 0.6, 0.7, 0.7, 0.45])
    d = np.round(x - y, 12)
    ranks = stats.rankdata(np.abs(d))
    signs = np.sign(d)
    flips = np.array(np.meshgrid(*[[-1, 1]] * 6)).reshape(6, -1).T * np.abs(signs)

    def r_plus(s):  # zsplit: a zero difference counts half to each side
        return (ranks * ((s > 0) + 0.5 * (s == 0))).sum(axis=-1)

    centre = ranks.sum() / 2
    expected = np.mean(np.abs(r_plus(flips) - centre) >= abs(r_plus(signs) - centre) - 1e-9)
    assert paired_wilcoxon(x, y) == pytest.approx(expected, abs=1e-12)
    assert paired_wilcoxon(a, a) == 1.0


def test_mcnemar_on_one_seed_and_permutation_on_seed_averaged_correctness():
    rng = np.random.default_rng(3)
    good = clip_outputs([record("g", [0.9], n_test=200, rng=rng)])
    poor = clip_outputs([record("p", [0.6], n_test=200, rng=rng)])
    p, name = clip_test(good, poor)
    x, y = good["fold1"].outputs[0], poor["fold1"].outputs[0]
    b, c = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    assert name == "exact McNemar over clips" and p == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue)
    assert p < 1e-6
    seeded = clip_outputs([record("g", [0.9], seed=s, n_test=200) for s in range(3)])
    p, name = clip_test(seeded, poor)
    assert name == "paired permutation over clips" and p < 0.001
    same = clip_outputs([record("g", [0.7], n_test=200, rng=np.random.default_rng(1))])
    again = clip_outputs([record("h", [0.7], n_test=200, rng=np.random.default_rng(1))])
    assert clip_test(same, again) == (1.0, "exact McNemar over clips")


def test_hierarchical_interval_covers_fold_variation_that_a_clip_bootstrap_misses():
    steady = clip_outputs([record("a", [0.75] * 5, n_test=400)])
    spread = clip_outputs([record("a", [0.55, 0.65, 0.75, 0.85, 0.95], n_test=400)])
    low, high = hierarchical_interval(steady)
    assert low < 0.75 < high and hierarchical_interval(steady) == (low, high), "seeded: the same interval every time"
    wide_low, wide_high = hierarchical_interval(spread)
    assert wide_low < 0.75 < wide_high and (wide_high - wide_low) > 3 * (high - low)
    # the fold level dominates: 5 folds drawn with replacement from 0.55…0.95: half-width ≈ 1.96·sd/√5
    assert (wide_high - wide_low) / 2 == pytest.approx(1.96 * np.std([0.55, 0.65, 0.75, 0.85, 0.95]) / np.sqrt(5), rel=0.2)
    single = clip_outputs([record("a", [0.75], n_test=400)])
    low, high = hierarchical_interval(single)  # one fold: clips only, the binomial interval
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(0.75 * 0.25 / 400), rel=0.15)


def _board(tmp_path, records):
    folder = tmp_path / "runs" / "toy"
    folder.mkdir(parents=True)
    for i, r in enumerate(records):
        (folder / f"{r.frontend['name']}__{r.backend['name']}__{r.seed}__{i}.json").write_text(json.dumps(r.to_json()))
    return leaderboard.load(tmp_path)


def test_leaderboard_marks_rows_tied_with_the_best_or_worse_and_carries_friedman(tmp_path):
    best = [0.80, 0.82, 0.78, 0.81, 0.79, 0.83, 0.80, 0.77]  # 8 folds: an exact Wilcoxon p can reach 2/2^8
    records = ([record("best", best, seed=s) for s in range(3)]
               # differs in every fold (a fold of equal scores carries no sign: too many and no p < 0.05 is attainable)
               + [record("close", [a - d for a, d in zip(best, (0.025, -0.025, 0.025, -0.025, 0.05, -0.05, 0.025, -0.025))],
                         seed=s) for s in range(3)]
               + [record("poor", [a - 0.2 for a in best], seed=s) for s in range(3)]
               + [record("once", [a - 0.3 for a in best])])  # one seed: one block per fold, never copied
    table = _board(tmp_path, records).set_index("frontend")
    assert table.loc["best", "tied_with_best"] == True and np.isnan(table.loc["best", "p_vs_best"])  # noqa: E712
    assert table.loc["close", "tied_with_best"] == True and table.loc["close", "p_vs_best"] > 0.05  # noqa: E712
    assert table.loc["poor", "tied_with_best"] == False  # noqa: E712
    # poor and once lose every fold: exact p 2/2^8 each, Holm over 3 rows: 3 × and 2 × 0.0078125, made monotone
    assert table.loc["poor", "p_vs_best"] == table.loc["once", "p_vs_best"] == pytest.approx(3 * 2 / 2 ** 8, abs=1e-4)
    assert set(table["n_blocks"]) == {8} and set(table["block_kind"]) == {"folds"}
    assert table.loc["poor", "avg_rank"] == 3.0 and table.loc["once", "avg_rank"] == 4.0
    assert table.loc["best", "weight_kinds"] == "random ×4"
    means = [[np.mean([r.folds[i]["accuracy"] for r in records if r.frontend["name"] == n]) for i in range(8)]
             for n in ("best", "close", "poor", "once")]
    assert table.loc["best", "friedman_p"] == pytest.approx(stats.friedmanchisquare(*means).pvalue)  # full precision
    assert table.loc["best", "nemenyi_cd"] == pytest.approx(nemenyi_cd(4, 8), abs=1e-4)
    assert table.loc["best", "least_p"] == pytest.approx(3 * 2 / 2 ** 8, abs=1e-5)  # 3 Holm-corrected comparisons
    for column in ("ci_low", "ci_high"):
        assert np.isfinite(table[column]).all()
    assert (table["ci_low"] <= table["accuracy_mean"]).all() and (table["accuracy_mean"] <= table["ci_high"]).all()
    text = leaderboard.to_summary(_board(tmp_path / "again", records))
    assert "| best " in text and "tied (p=" in text and "worse (p=0.0234)" in text and "Nemenyi critical difference" in text
    assert "over 8 outer folds" in text and "cannot show" not in text


def test_five_folds_say_that_wilcoxon_cannot_reach_significance(tmp_path):
    records = [record("best", [0.9] * 5), record("poor", [0.5] * 5), record("mid", [0.7] * 5)]
    table = _board(tmp_path, records).set_index("frontend")
    assert table.loc["poor", "p_vs_best"] == pytest.approx(0.125) and table.loc["poor", "vs_best"] == "untestable"
    assert pd.isna(table.loc["poor", "tied_with_best"])  # not True: CSV/JSON read it as a tie
    text = leaderboard.to_summary(table.reset_index())
    assert ("5 folds cannot show a Holm-corrected p < 0.05 with Wilcoxon against the best for 2 other row(s) "
            "(least attainable p 0.125)") in text
    assert "untestable (p=0.125)" in text and "tied (p=" not in text  # not evidence of a tie


def test_a_pair_that_differs_in_too_few_folds_or_clips_is_untestable_not_tied(tmp_path, capsys):
    """10 folds, the row equal to the best in 6 and one clip worse in the other 4: the group's least p (2/2¹⁰) said
    "testable", but zero differences carry no sign, so this pair's least p is 2/2⁴ = 0.125: "tied" where no p < 0.05
    could be seen. So over clips: McNemar on 4 discordant clips."""
    best = [0.9] * 10
    worse = [0.9] * 6 + [0.875] * 4
    rng = lambda: np.random.default_rng(7)  # noqa: E731 (the same clips right in both rows, but the one flipped)
    records = [record("best", best, rng=rng()), record("near", worse, rng=rng())]
    table = _board(tmp_path, records).set_index("frontend")
    assert table.loc["near", "p_vs_best"] == pytest.approx(0.125) and table.loc["near", "vs_best"] == "untestable"
    assert table.loc["best", "least_p"] == pytest.approx(2 / 2 ** 10)  # the group's: every fold counted
    assert main(["compare", "near", "best", "--results", str(tmp_path)]) == 0
    assert ("exact Wilcoxon over folds: p = 0.125 (no p < 0.05 is attainable here: the test counts only the folds "
            "where the two rows differ; the least attainable p is 0.125)") in capsys.readouterr().out
    assert main(["compare", "near", "best", "--results", str(tmp_path), "--test", "clips", "--format", "json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["test"] == "exact McNemar over clips" and out["least_p"] == pytest.approx(0.125)
    clips = _board(tmp_path / "clips", records)
    assert leaderboard.load(tmp_path / "clips", regime="clips").set_index("frontend").loc["near", "vs_best"] == "untestable"
    assert len(clips) == 2


def test_holm_over_many_rows_makes_six_folds_untestable_and_the_table_says_so(tmp_path):
    # FSDD speakers: 6 folds, one raw Wilcoxon p can reach 2/2⁶ = 0.031, but Holm over 16 comparisons only 16 × that
    records = [record(f"fe{i:02d}", [0.9 - 0.04 * i + 0.001 * f for f in range(6)]) for i in range(17)]
    table = _board(tmp_path, records).set_index("frontend")
    assert table.loc["fe00", "least_p"] == pytest.approx(16 * 2 / 2 ** 6)
    assert table.loc["fe16", "p_vs_best"] == pytest.approx(0.5) and pd.isna(table.loc["fe16", "tied_with_best"])
    assert (table.drop("fe00")["vs_best"] == "untestable").all() and table.loc["fe00", "vs_best"] == "best"
    text = leaderboard.to_summary(table.reset_index())
    assert "6 folds cannot show a Holm-corrected p < 0.05 with Wilcoxon against the best for 16 other row(s)" in text
    assert text.count("untestable (p=0.5)") == 16
    two = _board(tmp_path / "two", records[:2]).set_index("frontend")  # one comparison: 0.031 is attainable
    assert two.loc["fe01", "p_vs_best"] == pytest.approx(2 / 2 ** 6) and two.loc["fe01", "tied_with_best"] == False  # noqa: E712
    assert two.loc["fe01", "vs_best"] == "worse"
    assert "worse (p=0.0312)" in leaderboard.to_summary(two.reset_index())


def test_a_row_repeated_under_another_width_is_tested_once(tmp_path):
    # mfcc at small and paper (both 20 coefficients), or --width 32 where small is 32: the same embeddings and fits
    best = [0.80, 0.82, 0.78, 0.81, 0.79, 0.83, 0.80, 0.77]
    poor = [a - 0.2 for a in best]
    records = [record("best", best, embedding_key="e1"), record("mid", [a - 0.1 for a in best], embedding_key="e2"),
               record("poor", poor, embedding_key="e3"), record("poor", poor, width="paper", embedding_key="e3")]
    table = _board(tmp_path, records).set_index(["frontend", "width"])
    copy, kept = table.loc[("poor", "paper")], table.loc[("poor", "small")]
    assert copy["copy_of"] == "poor (small)" and kept["copy_of"] == ""
    # Holm over 2 comparisons (mid, poor), not 3: poor loses every fold, exact p 2/2^8, times 2
    assert kept["p_vs_best"] == copy["p_vs_best"] == pytest.approx(2 * 2 / 2 ** 8, abs=1e-5)
    means = [best, [a - 0.1 for a in best], poor]
    assert kept["friedman_p"] == pytest.approx(stats.friedmanchisquare(*means).pvalue)  # 3 rows, not 4
    assert kept["weight_kinds"] == "random ×3" and kept["nemenyi_cd"] == pytest.approx(nemenyi_cd(3, 8), abs=1e-4)
    text = leaderboard.to_summary(table.reset_index())
    assert ("3 rows (rows: random ×3; 1 row(s) repeating another under another width, counted once (in the tests and in ρ): "
            "poor (paper) = poor (small)) over 8 outer folds") in text
    assert main(["compare", "poor:random:svm", "mid", "--results", str(tmp_path)]) == 0  # the copy is one row
    # another network at another width (another run key), or the same embeddings evaluated by other code (an edited
    # plugin backend: another run key, other scores): a row of its own, in the family
    for other in (record("poor", poor, width="paper", embedding_key="e4", run_key="k4"),
                  record("poor", [a + 0.15 for a in poor], width="paper", embedding_key="e3", run_key="k5")):
        table = _board(tmp_path / other.run_key, [*records[:3], other]).set_index(["frontend", "width"])
        assert (table["copy_of"] == "").all() and table.loc[("poor", "small"), "weight_kinds"] == "random ×4"
        assert table.loc[("poor", "small"), "p_vs_best"] == pytest.approx(3 * 2 / 2 ** 8, abs=1e-5)


def test_rows_on_other_folds_are_named_in_no_test(tmp_path):
    records = [record("a", [0.9] * 8), record("b", [0.8] * 8), record("c", [0.7] * 8), record("short", [0.6] * 4)]
    table = _board(tmp_path, records).set_index("frontend")
    assert table.loc["short", "test_vs_best"] == "other folds" and np.isnan(table.loc["short", "p_vs_best"])
    text = leaderboard.to_summary(table.reset_index())
    assert "3 rows (rows: random ×3; 1 on other folds, in no test: short) over 8 outer folds" in text


def test_a_single_split_is_tested_over_its_clips(tmp_path):
    rng = np.random.default_rng(0)
    records = ([record("best", [0.95], seed=s, n_test=300, rng=rng) for s in range(3)]
               + [record("poor", [0.2], n_test=300, rng=rng), record("near", [0.94], n_test=300, rng=rng)])
    table = _board(tmp_path, records).set_index("frontend")
    assert set(table["block_kind"]) == {"clips"} and set(table["n_blocks"]) == {300}
    assert table.loc["poor", "tied_with_best"] == False and table.loc["poor", "p_vs_best"] < 0.001  # noqa: E712 (9999 permutations)
    assert table.loc["near", "tied_with_best"] == True  # noqa: E712
    assert set(table.loc[["poor", "near"], "test_vs_best"]) == {"paired permutation over clips"}
    assert np.isnan(table.loc["best", "friedman_p"]) and np.isnan(table.loc["best", "nemenyi_cd"])
    assert "single split: paired tests over 300 test clips" in leaderboard.to_summary(table.reset_index())


def test_backends_are_ranked_apart(tmp_path):
    records = [record("a", [0.9, 0.9], backend="svm"), record("b", [0.5, 0.5], backend="svm"),
               record("a", [0.6, 0.6], backend="elm"), record("b", [0.7, 0.7], backend="elm")]
    table = _board(tmp_path, records)
    best = table[table["p_vs_best"].isna()]
    assert sorted(zip(best["frontend"], best["backend"])) == [("a", "svm"), ("b", "elm")]


def test_results_without_predictions_leave_the_interval_blank(tmp_path):
    old = record("a", [0.8, 0.7])
    for fold in old.folds:
        del fold["test_clips"], fold["truth"], fold["predicted"]
    table = _board(tmp_path, [old, record("b", [0.6, 0.6])]).set_index("frontend")
    assert np.isnan(table.loc["a", "ci_low"]) and np.isfinite(table.loc["b", "ci_low"])


def test_compare_two_rows_prints_the_paired_test(tmp_path, capsys):
    records = ([record("a", [0.8, 0.7, 0.9], seed=s) for s in range(2)]
               + [record("b", [0.6, 0.6, 0.7], seed=s) for s in range(2)] + [record("a", [0.1] * 3, backend="elm")])
    _board(tmp_path, records)
    assert main(["compare", "a:random:svm", "b", "--results", str(tmp_path), "--format", "json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["wins"] == 3 and out["losses"] == 0 and out["n_blocks"] == 3, "3 folds, each the mean of 2 seeds"
    assert out["mean_difference"] == pytest.approx(np.mean([0.2, 0.1, 0.2]), abs=0.02)
    assert out["bootstrap_ci_low"] > 0, "a beats b on the same clips"
    assert out["test"] == "paired permutation over clips" and out["p"] < 0.01 and out["least_p"] <= 0.05
    assert main(["compare", "a", "b", "--results", str(tmp_path)]) == 2
    assert "'a' matches 2 rows of toy (a:random:elm (width small), a:random:svm (width small)); name one" in \
        capsys.readouterr().err
    assert main(["compare", "a:random:svm", "zz", "--results", str(tmp_path)]) == 2
    assert "no dataset has both" in capsys.readouterr().err
    assert main(["compare", "a:random:svm", "--results", str(tmp_path)]) == 2
    import rwbench  # the same comparison from Python: what the CLI prints as JSON
    assert main(["compare", "a:random:svm", "b", "--results", str(tmp_path), "--format", "json"]) == 0
    from rwbench.analysis.leaderboard import _rounded_figures  # the export's figures; the API's are unrounded

    assert _rounded_figures(rwbench.compare_rows(tmp_path, "a:random:svm", "b")) == json.loads(capsys.readouterr().out)


def test_compare_names_a_sampled_front_end_whose_name_holds_a_colon(tmp_path, capsys):
    records = [record("logmel:5f65a9bd", [0.8, 0.7, 0.9]), record("b", [0.6, 0.6, 0.7])]
    _board(tmp_path, records)
    assert main(["compare", "logmel:5f65a9bd:random:svm", "b", "--results", str(tmp_path), "--format", "json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["a"] == "logmel:5f65a9bd:random:svm" and out["wins"] == 3
    assert main(["compare", "logmel:5f65a9bd", "b:random", "--results", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["a"] == "logmel:5f65a9bd:random:svm"


def test_compare_refuses_two_rows_computed_on_different_clips(tmp_path, capsys):
    """A stale row (another copy of the dataset) was paired clip by clip with the current one without a word."""
    stale = record("b", [0.6, 0.6, 0.7])
    stale.dataset["fingerprint"] = "ffffffffffffffff"
    _board(tmp_path, [record("a", [0.8, 0.7, 0.9]), stale])
    assert main(["compare", "a", "b", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'a' and 'b' were computed on different clips or protocols (clips None" in err
    assert "clips ffffffffffffffff" in err
    assert "rerun the stale row" in err


def test_a_random_row_repeated_under_another_width_is_one_front_end_in_rho(tmp_path):
    # --width 32 where small is 32 filters: f4's random row at 32 repeats its row at small (same run key and
    # embeddings); its trained head at 32 is another training. ρ pairs f4 once: n = 4 front-ends, not 5
    random = {"f1": 0.5, "f2": 0.6, "f3": 0.7, "f4": 0.8}
    trained = {"f1": 0.7, "f2": 0.6, "f3": 0.8, "f4": 0.9}
    records = [r for f in random for r in (record(f, [random[f]] * 5, embedding_key=f"e{f}", run_key=f"k{f}"),
                                           record(f, [trained[f]] * 5, weights="trained", backend="head",
                                                  run_key=f"t{f}"))]
    records += [record("f4", [0.8] * 5, width="32", embedding_key="ef4", run_key="kf4"),
                record("f4", [0.9] * 5, width="32", weights="trained", backend="head", run_key="t32")]
    table = _board(tmp_path, records)
    assert table.loc[(table["frontend"] == "f4") & (table["width"] == "32") & (table["weights"] == "random"),
                     "copy_of"].tolist() == ["f4 (small)"]
    svm = table[(table["weights"] == "random") & (table["backend"] == "svm")].iloc[0]
    expected = stats.spearmanr(list(random.values()), list(trained.values()))
    assert svm["rank_corr_n"] == 4 and svm["rank_corr_spearman"] == pytest.approx(expected.statistic)
    assert svm["rank_corr_spearman_p"] == pytest.approx(spearman_exact_p(list(random.values()), list(trained.values())))
    pairs, correlations = comparison(table)  # rwbench compare and the report pair the same way
    assert len(pairs) == 4 and correlations["n"].tolist() == [4]


def test_a_bootstrap_interval_over_draws_that_cannot_be_scored_is_said_or_left_undefined(caplog):
    """A multilabel resample without a tag that has both classes scores NaN; np.nanpercentile dropped such draws
    without a word (182 of 500 in a small fold with rare tags), an interval over the scorable resamples only."""
    from rwbench.analysis.significance import MAX_UNDEFINED_DRAWS, percentile_interval

    values = np.r_[np.linspace(0.6, 0.9, 95), [np.nan] * 5]
    with caplog.at_level("WARNING"):
        low, high = percentile_interval(values, "row x")
    assert 0.6 <= low < high <= 0.9 and "row x: 5 of 100 bootstrap draws undefined" in caplog.text
    over = np.r_[np.linspace(0.6, 0.9, 80), [np.nan] * 20]
    assert 20 / 100 > MAX_UNDEFINED_DRAWS and np.isnan(percentile_interval(over, "row y")).all()
    assert "left undefined" in caplog.text
