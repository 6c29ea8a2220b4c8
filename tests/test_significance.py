"""Significance on the leaderboard: average ranks, Friedman + Nemenyi, Holm-corrected Wilcoxon against the best
row, bootstrap intervals over test clips, and `rwbench compare A B`."""

import json

import numpy as np
import pytest
from scipy import stats

from rwbench import leaderboard
from rwbench.cli import main
from rwbench.results import SCHEMA_VERSION, ResultRecord
from rwbench.significance import average_ranks, block_scores, bootstrap_interval, clip_correctness, holm, nemenyi_cd


def record(frontend, accuracies, *, seed=0, weights="random", backend="svm", n_test=40, rng=None):
    """A result record whose folds score ``accuracies``, with per-clip predictions that give exactly those."""
    folds = []
    for i, accuracy in enumerate(accuracies):
        clips = list(range(i * n_test, (i + 1) * n_test))
        truth = [c % 4 for c in clips]
        right = int(round(accuracy * n_test))
        hits = (rng or np.random.default_rng(seed + i)).permutation(n_test) < right
        predicted = [t if hit else (t + 1) % 4 for t, hit in zip(truth, hits)]
        folds.append({"name": f"fold{i + 1}", "accuracy": right / n_test, "balanced_accuracy": right / n_test,
                      "macro_f1": right / n_test, "test_clips": clips, "truth": truth, "predicted": predicted})
    return ResultRecord.from_json({
        "schema_version": SCHEMA_VERSION, "seed": seed, "rwbench_version": "test", "git_sha": None, "created": "",
        "environment": {}, "run_key": "k", "device": "cpu", "summary": {},
        "dataset": {"key": "toy", "skipped": []},
        "frontend": {"name": frontend, "input_kind": "waveform", "width": "small", "weights": weights,
                     "pooling": "mean", "feature_dim": 8, "params": 10, "layers": ["a"], "default_layers": True},
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


def test_a_row_evaluated_once_stands_in_every_seed_block_and_seeds_are_shared():
    rows = {"seeded": [record("s", [0.5, 0.6], seed=s) for s in (0, 1, 2)], "once": [record("m", [0.7, 0.8])],
            "two": [record("t", [0.4, 0.4], seed=s) for s in (0, 1)]}
    scores = block_scores(rows)
    assert list(scores.columns) == ["fold1@0", "fold2@0", "fold1@1", "fold2@1"]
    assert scores.loc[["once"]].to_numpy()[0].tolist() == [0.7, 0.8, 0.7, 0.8]


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_clips():
    small = clip_correctness([record("a", [0.75] * 5, n_test=40)])
    large = clip_correctness([record("a", [0.75] * 5, n_test=400)])
    low, high = bootstrap_interval(small)
    assert low < 0.75 < high and bootstrap_interval(small) == (low, high), "seeded: the same interval every time"
    low_large, high_large = bootstrap_interval(large)
    assert high_large - low_large < (high - low) / 2
    # 5 folds × 40 clips at p = 0.75: the normal interval half-width is 1.96·√(0.75·0.25/200) ≈ 0.060
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(0.75 * 0.25 / 200), rel=0.15)


def _board(tmp_path, records):
    folder = tmp_path / "runs" / "toy"
    folder.mkdir(parents=True)
    for i, r in enumerate(records):
        (folder / f"{r.frontend['name']}__{r.backend['name']}__{r.seed}__{i}.json").write_text(json.dumps(r.to_json()))
    return leaderboard.load(tmp_path)


def test_leaderboard_marks_rows_tied_with_the_best_or_worse_and_carries_friedman(tmp_path):
    best = [0.80, 0.82, 0.78, 0.81, 0.79]
    records = ([record("best", best, seed=s) for s in range(3)]
               + [record("close", [a - d for a, d in zip(best, (0.025, -0.025, 0.025, -0.025, 0.0))], seed=s)
                  for s in range(3)]
               + [record("poor", [a - 0.2 for a in best], seed=s) for s in range(3)])
    table = _board(tmp_path, records).set_index("frontend")
    assert table.loc["best", "tied_with_best"] == True and np.isnan(table.loc["best", "p_vs_best"])  # noqa: E712
    assert table.loc["close", "tied_with_best"] == True and table.loc["close", "p_vs_best"] > 0.05  # noqa: E712
    assert table.loc["poor", "tied_with_best"] == False and table.loc["poor", "p_vs_best"] < 0.01  # noqa: E712
    assert table["avg_rank"].to_dict()["poor"] == 3.0 and set(table["n_blocks"]) == {15}
    scores = [[f["accuracy"] for r in records if r.frontend["name"] == n for f in r.folds]
              for n in ("best", "close", "poor")]
    assert table.loc["best", "friedman_p"] == pytest.approx(float(f"{stats.friedmanchisquare(*scores).pvalue:.4g}"))
    assert table.loc["best", "nemenyi_cd"] == pytest.approx(nemenyi_cd(3, 15), abs=1e-4)
    for column in ("boot_ci_low", "boot_ci_high"):
        assert np.isfinite(table[column]).all()
    assert (table["boot_ci_low"] <= table["accuracy_mean"]).all() and (table["accuracy_mean"] <= table["boot_ci_high"]).all()
    text = leaderboard.to_summary(_board(tmp_path / "again", records))
    assert "| best " in text and "worse (p=" in text and "tied (p=" in text and "Nemenyi critical difference" in text


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
    assert np.isnan(table.loc["a", "boot_ci_low"]) and np.isfinite(table.loc["b", "boot_ci_low"])


def test_compare_two_rows_prints_the_paired_test(tmp_path, capsys):
    records = ([record("a", [0.8, 0.7, 0.9], seed=s) for s in range(2)]
               + [record("b", [0.6, 0.6, 0.7], seed=s) for s in range(2)] + [record("a", [0.1] * 3, backend="elm")])
    _board(tmp_path, records)
    assert main(["compare", "a:random:svm", "b", "--results", str(tmp_path), "--format", "json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["wins"] == 6 and out["losses"] == 0 and out["n_blocks"] == 6
    assert out["mean_difference"] == pytest.approx(np.mean([0.2, 0.1, 0.2]), abs=0.02)
    assert out["bootstrap_ci_low"] > 0, "a beats b on the same clips"
    assert out["wilcoxon_p"] == pytest.approx(stats.wilcoxon(out["a_scores"], out["b_scores"], zero_method="zsplit").pvalue)
    assert main(["compare", "a", "b", "--results", str(tmp_path)]) == 2
    assert "'a' matches 2 rows of toy (a:random:elm, a:random:svm); name one" in capsys.readouterr().err
    assert main(["compare", "a:random:svm", "zz", "--results", str(tmp_path)]) == 2
    assert "no dataset has both" in capsys.readouterr().err
    assert main(["compare", "a:random:svm", "--results", str(tmp_path)]) == 2
