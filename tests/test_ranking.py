"""Rank correlation of random-weight and trained accuracy: leaderboard note and columns, and `rwbench compare`."""

import copy
import io
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import result_dicts
from scipy import stats
from test_leaderboard import markdown_rows
from toy import TINY, tone_dataset

from rwbench.analysis import leaderboard, ranking
from rwbench.analysis.significance import holm
from rwbench.backends import BACKENDS
from rwbench.cli import main
from rwbench.pipeline import RunOptions, run
from rwbench.results import ResultRecord, result_path, variant, write_result

FOLD_OFFSETS = (-0.02, 0.02, -0.01, 0.01)  # four outer folds whose mean is the row's accuracy
SVM = {"sample_level": 0.60, "vgg": 0.70, "timbral": 0.80, "temporal": 0.80, "musicnn": 0.50}
ELM = {"sample_level": 0.55, "vgg": 0.65, "timbral": 0.75, "temporal": 0.60, "musicnn": 0.70}
HEAD = {"sample_level": 0.90, "vgg": 0.85, "timbral": 0.95, "temporal": 0.80}  # musicnn has no trained row
MTT = {"svm": {"sample_level": 0.70, "vgg": 0.60, "timbral": 0.90}, "elm": {"sample_level": 0.70, "vgg": 0.80, "timbral": 0.60}}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A real result record (TINY on the tone dataset), the shape every written variant copies."""
    root = tmp_path_factory.mktemp("template")
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], RunOptions(results_dir=root, device="cpu", workers=0))
    (record,) = result_dicts(root)
    return record


def write(results, template, frontend, weights, backend, accuracy, *, width="small", pooling="mean", dataset=None,
          seed=None):
    """One result file: ``template`` as ``frontend``/``weights``/``backend`` with fold accuracies averaging ``accuracy``."""
    record = copy.deepcopy(template)
    record["seed"] = record["seed"] if seed is None else seed
    record["frontend"].update(name=frontend, weights=weights, width=width, pooling=pooling)
    record["backend"]["name"] = backend
    if dataset:
        record["dataset"].update(name=dataset, key=dataset)
    for fold, offset in zip(record["folds"], FOLD_OFFSETS):
        fold["accuracy"] = accuracy + offset
        for field in ("test_clips", "truth", "predicted", "scores", "score_kind"):  # a made-up accuracy: no clips
            fold.pop(field, None)
    record["summary"].update(accuracy_mean=accuracy, accuracy_std=float(np.std([accuracy + o for o in FOLD_OFFSETS])))
    write_result(result_path(results, dataset=record["dataset"]["key"], frontend=frontend, width=width, weights=weights,
                             seed=record["seed"], backend=backend, variant=variant(record["frontend"])),
                 ResultRecord.from_json(record))


def write_board(results, template, *sides):
    """``sides``: (weights, backend, {frontend: accuracy}) each."""
    for weights, backend, accuracies in sides:
        for frontend, accuracy in accuracies.items():
            write(results, template, frontend, weights, backend, accuracy)
    return results


@pytest.fixture(scope="module")
def board(tmp_path_factory, template):
    """Random svm + elm, trained head, and mtt svm + elm rows on one dataset."""
    return write_board(tmp_path_factory.mktemp("board"), template, ("random", "svm", SVM), ("random", "elm", ELM),
                       ("trained", "head", HEAD), ("mtt", "svm", MTT["svm"]), ("mtt", "elm", MTT["elm"]))


def correlation(table, backend, **kwargs):
    corr = ranking.rank_correlation(table, **kwargs)
    (row,) = corr[corr["backend"] == backend].to_dict("records")
    return row


def test_agreeing_rankings_give_one_and_reversed_give_minus_one(tmp_path, template):
    random = {"sample_level": 0.5, "vgg": 0.6, "timbral": 0.7, "temporal": 0.8, "musicnn": 0.9}
    agreeing = {f: a + 0.05 for f, a in random.items()}
    reversed_ = {f: 1.4 - a for f, a in random.items()}
    write_board(tmp_path, template, ("random", "svm", random), ("trained", "head", agreeing), ("mtt", "svm", reversed_))
    table = leaderboard.load(tmp_path)
    same = correlation(table, "svm")
    opposite = correlation(table, "svm", trained="mtt", trained_backend=None)
    assert same["n"] == opposite["n"] == 5
    assert same["spearman_rho"] == pytest.approx(1) and same["kendall_tau"] == pytest.approx(1)
    assert opposite["spearman_rho"] == pytest.approx(-1) and opposite["kendall_tau"] == pytest.approx(-1)
    expected = stats.kendalltau(list(random.values()), list(agreeing.values())).pvalue
    assert same["kendall_p"] == pytest.approx(expected) and same["kendall_p"] == pytest.approx(2 / 120)
    assert same["spearman_p"] == pytest.approx(2 / 120), "n! = 120 pairings, two-sided"
    assert same["spearman_p_method"] == same["kendall_p_method"] == "exact"
    assert ("- svm: ρ = 1.00 (exact p 0.0167, Holm 0.0333; no interval over front-ends below 8 front-ends, over folds × seeds "
            "1.00 … 1.00), τ = 1.00 (exact p 0.0167, Holm 0.0333); ρ with one front-end left out 1.00 … 1.00; n = 5"
            ) in leaderboard.export(table, "md")  # no removal moves ρ: no front-end is named the most influential


def test_figures_equal_scipys_per_backend(board):
    table = leaderboard.load(board)
    for backend, random in (("svm", SVM), ("elm", ELM)):
        both = sorted(set(random) & set(HEAD))
        x, y = [random[f] for f in both], [HEAD[f] for f in both]
        row = correlation(table, backend)
        rho, tau = stats.spearmanr(x, y), stats.kendalltau(x, y)
        assert row["n"] == 4 and sorted(row["frontends"]) == both
        np.testing.assert_allclose([row["spearman_rho"], row["kendall_tau"]], [rho.statistic, tau.statistic], atol=1e-12)
        # n = 4: the exact p of every pairing (24 of them), ties in x (svm: timbral = temporal) included
        pairings = [stats.spearmanr(x, [y[i] for i in order]).statistic for order in itertools.permutations(range(4))]
        taus = [stats.kendalltau(x, [y[i] for i in order]).statistic for order in itertools.permutations(range(4))]
        assert row["spearman_p"] == pytest.approx(np.mean(np.abs(pairings) >= abs(rho.statistic) - 1e-9))
        assert row["kendall_p"] == pytest.approx(np.mean(np.abs(taus) >= abs(tau.statistic) - 1e-9))
        assert row["spearman_p_method"] == row["kendall_p_method"] == "exact"


def test_n_counts_only_frontends_with_both(tmp_path, template):
    write_board(tmp_path, template, ("random", "svm", {"vgg": 0.6, "timbral": 0.7, "temporal": 0.8, "random_only": 0.5}),
                ("trained", "head", {"vgg": 0.7, "timbral": 0.8, "temporal": 0.9, "trained_only": 0.95}),
                ("trained", "svm", {"sample_level": 0.9}),  # not the head: does not count
                ("mtt", "svm", {"random_only": 0.9}))
    write(tmp_path, template, "sample_level", "random", "svm", 0.4, width="paper")  # trained at small only
    write(tmp_path, template, "sample_level", "trained", "head", 0.6)
    write(tmp_path, template, "vgg", "trained", "head", 0.5, pooling="max")  # vgg[max]: no random vgg[max]
    write(tmp_path, template, "timbral", "random", "svm", 0.3, dataset="other")  # another dataset, no trained row
    table = leaderboard.load(tmp_path)
    corr = ranking.rank_correlation(table)
    assert corr[["dataset", "backend", "n"]].values.tolist() == [["other", "svm", 0], ["tones", "svm", 3]]
    assert corr["frontends"].tolist() == [[], ["temporal", "timbral", "vgg"]]
    md = leaderboard.export(table, "md")
    assert "### other" in md and md.split("### tones")[0].count("Rank correlation") == 0  # no trained rows: no note
    assert md.split("### tones")[1].count("n = 3") == 1


def test_fewer_than_three_frontends_gives_a_sentence_not_numbers(tmp_path, template):
    write_board(tmp_path, template, ("random", "svm", {"vgg": 0.6, "timbral": 0.7, "temporal": 0.8}),
                ("trained", "head", {"vgg": 0.7, "timbral": 0.8}))
    table = leaderboard.load(tmp_path)
    md, csv = leaderboard.export(table, "md"), leaderboard.export(table, "csv")
    assert "- svm: the rank correlation needs at least 3 front-ends with both random and trained results (n = 2)" in md
    assert "ρ =" not in md and "nan" not in md.lower() and "nan" not in csv.lower()
    for row in json.loads(leaderboard.export(table, "json"))["rows"]:
        assert row["rank_corr_spearman"] is None and row["rank_corr_kendall_p"] is None
        assert row["rank_corr_n"] == (2 if row["weights"] == "random" else None)


def test_constant_accuracies_are_undefined_not_nan(tmp_path, template):
    write_board(tmp_path, template, ("random", "svm", {"vgg": 0.6, "timbral": 0.6, "temporal": 0.6}),
                ("trained", "head", {"vgg": 0.7, "timbral": 0.8, "temporal": 0.9}))
    md = leaderboard.export(leaderboard.load(tmp_path), "md")
    assert "- svm: ρ and τ are undefined, the accuracies of one side are all equal (n = 3)" in md and "nan" not in md


def test_markdown_csv_and_json_agree_on_the_rank_correlation(board):
    table = leaderboard.load(board)
    csv_rows = pd.read_csv(io.StringIO(leaderboard.export(table, "csv")), dtype=str, keep_default_na=False)
    json_rows = json.loads(leaderboard.export(table, "json"))["rows"]
    md = leaderboard.export(table, "md")
    md_rows = markdown_rows(md)
    assert len(csv_rows) == len(json_rows) == len(md_rows) == len(SVM) + len(ELM) + len(HEAD) + 6
    corr = ranking.rank_correlation(table).set_index("backend")
    for csv_row, json_row, md_row in zip(csv_rows.to_dict("records"), json_rows, md_rows):
        assert csv_row["frontend"] == json_row["frontend"] == md_row["frontend"]
        for column, figure in ranking.EXPORT_COLUMNS.items():
            if json_row["weights"] == "random":
                expected = corr.loc[json_row["backend"], figure]
                if isinstance(expected, (dict, list)):  # JSON: the object; CSV and Markdown: its JSON text
                    assert json_row[column] == json.loads(csv_row[column]) == json.loads(md_row[column]), column
                    assert json_row[column] == json.loads(pd.Series([expected]).to_json(orient="records"))[0], column
                    continue
                if isinstance(expected, str):
                    assert csv_row[column] == json_row[column] == md_row[column] == expected, column
                    continue
                values = [float(csv_row[column] or "nan"), json_row[column], float(md_row[column] or "nan")]
                values = [np.nan if v is None else v for v in values]
                np.testing.assert_allclose(values, expected, rtol=0, atol=1e-4, err_msg=column)
            else:
                assert (csv_row[column], json_row[column], md_row[column]) == ("", None, ""), column
    for backend in ("svm", "elm"):
        assert f"- {ranking.describe(corr.loc[backend].to_dict() | {'backend': backend})}\n" in md
    assert md.count("Rank correlation of random-weight and trained (head) accuracy") == 1


def test_compare_shows_the_two_rankings_side_by_side(board, capsys):
    assert main(["compare", "--random", "random", "--trained", "trained", "--results", str(board)]) == 0
    out = capsys.readouterr().out
    assert "### tones: random (svm) vs trained (head)" in out and "### tones: random (elm) vs trained (head)" in out
    svm = [r for r in markdown_rows(out) if r["dataset"] == "tones: random (svm) vs trained (head)"]
    ranks = {r["frontend"]: (r["random rank"], r["trained rank"], r["rank diff"]) for r in svm}
    # random: timbral = temporal 0.80 (tie → both 1), vgg 0.70, sample_level 0.60; trained: timbral, sample_level, vgg, temporal
    assert ranks == {"timbral": ("1", "1", "0"), "temporal": ("1", "4", "-3"), "vgg": ("3", "3", "0"),
                     "sample_level": ("4", "2", "2")}
    assert [r["frontend"] for r in svm][-1] == "sample_level" and "musicnn" not in out  # no trained musicnn row
    assert svm[0]["random accuracy"] == "0.8000" and svm[0]["trained accuracy"] == "0.9500"
    table = leaderboard.load(board)
    for backend in ("svm", "elm"):
        line = ranking.describe(correlation(table, backend))
        assert f"{line}\n" in out.split(f"random ({backend}) vs trained")[1].split("###")[0]


def test_compare_backend_choice_and_exports(board, capsys, tmp_path):
    assert main(["compare", "--results", str(board), "--backend", "svm"]) == 0
    out = capsys.readouterr().out
    assert "(svm) vs trained (head)" in out and "(elm)" not in out and out.count("ρ = ") == 1
    out_file = tmp_path / "sub" / "compare.json"
    assert main(["compare", "--results", str(board), "--format", "json", "-o", str(out_file)]) == 0
    rows = json.loads(out_file.read_text())["rows"]
    assert {(r["backend"], r["frontend"]) for r in rows} == {(b, f) for b in ("svm", "elm") for f in HEAD}
    corr = ranking.rank_correlation(leaderboard.load(board)).set_index("backend")
    for r in rows:
        assert (r["random_weights"], r["trained_weights"], r["trained_backend"]) == ("random", "trained", "head")
        assert r["rank_corr_n"] == 4 and r["rank_corr_kendall"] == pytest.approx(corr.loc[r["backend"], "kendall_tau"], abs=1e-4)
    assert main(["compare", "--results", str(board), "--format", "csv"]) == 0
    csv_rows = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert csv_rows[["frontend", "random_rank", "trained_rank", "rank_diff"]].values.tolist() == \
        [[r["frontend"], r["random_rank"], r["trained_rank"], r["rank_diff"]] for r in rows]


def test_compare_shows_each_sides_seeds_and_folds(tmp_path, template, capsys):
    """A row on more seeds (or fewer) than the others is ranked like them: the table says so, per side."""
    results = write_board(tmp_path, template, ("random", "svm", SVM), ("trained", "head", HEAD))
    write(results, template, "vgg", "random", "svm", SVM["vgg"], seed=1)
    assert main(["compare", "--results", str(results)]) == 0
    rows = markdown_rows(capsys.readouterr().out)
    runs = {r["frontend"]: (r["random seeds × folds"], r["trained seeds × folds"]) for r in rows}
    assert runs == {"vgg": ("2 × 4", "1 × 4"), **{f: ("1 × 4", "1 × 4") for f in HEAD if f != "vgg"}}
    assert main(["compare", "--results", str(results), "--format", "csv"]) == 0
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("frontend")
    assert rows.loc["vgg", ["random_seeds", "random_n_folds", "trained_seeds", "trained_n_folds"]].tolist() == [2, 4, 1, 4]
    assert rows.loc["timbral", "random_seeds"] == 1


def test_compare_says_which_rows_are_not_comparable_or_left_out(tmp_path, template, capsys):
    """Trained rows scored on other clips, and a result file that is no valid result: the compare page says so under
    and above its tables, not only in a log line that `-o` files never hold."""
    results = write_board(tmp_path, template, ("random", "svm", SVM), ("trained", "head", HEAD))
    for path in results.rglob("*__trained__*.json"):
        data = json.loads(path.read_text())
        data["dataset"]["fingerprint"] = "0" * 16
        path.write_text(json.dumps(data))
    (bad := next(results.rglob("*.json")).with_name("zz_bad.json")).write_text("{")
    assert main(["compare", "--results", str(results), "-o", str(tmp_path / "c.md")]) == 0
    text = (tmp_path / "c.md").read_text()
    assert text.startswith("Left out of every table: 1 result file(s)") and str(bad) in text.split("###")[0]
    assert "Not comparable: these results were computed on different clips" in text.split("ρ = ")[1]


def test_compare_with_a_pretrained_tag_pairs_the_same_backend(board, capsys):
    assert main(["compare", "--results", str(board), "--trained", "mtt", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert all(r["trained_backend"] == r["backend"] and r["trained_weights"] == "mtt" for r in rows)
    for backend in ("svm", "elm"):
        mine = {r["frontend"]: r["trained_accuracy"] for r in rows if r["backend"] == backend}
        assert mine == pytest.approx(MTT[backend])
        x, y = SVM if backend == "svm" else ELM, MTT[backend]
        rho = stats.spearmanr([x[f] for f in y], list(y.values()))
        figures = [r["rank_corr_spearman"] for r in rows if r["backend"] == backend]
        assert figures == pytest.approx([rho.statistic] * 3, abs=1e-4)
    assert main(["compare", "--results", str(board), "--trained", "mtt"]) == 0
    assert "### tones: random (svm) vs mtt (svm)" in capsys.readouterr().out


def test_compare_transfer_ranks_the_trained_features_under_each_random_backend(tmp_path, template, capsys):
    transfer = {"svm": {f: 1.3 - a for f, a in SVM.items()}, "elm": dict(ELM)}  # svm reversed, elm agreeing
    write_board(tmp_path, template, ("random", "svm", SVM), ("random", "elm", ELM), ("trained", "head", HEAD),
                ("trained", "svm", transfer["svm"]), ("trained", "elm", transfer["elm"]))
    assert main(["compare", "--results", str(tmp_path), "--transfer", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert all(r["trained_backend"] == r["backend"] and r["trained_weights"] == "trained" for r in rows)
    for backend, random in (("svm", SVM), ("elm", ELM)):
        assert {r["frontend"]: r["trained_accuracy"] for r in rows if r["backend"] == backend} == \
            pytest.approx(transfer[backend])
        x, y = zip(*[(random[f], transfer[backend][f]) for f in random])
        figures = [r["rank_corr_spearman"] for r in rows if r["backend"] == backend]
        assert figures == pytest.approx([stats.spearmanr(x, y).statistic] * len(random), abs=1e-4)
    assert main(["compare", "--results", str(tmp_path)]) == 0  # without --transfer: the head, as before
    assert "### tones: random (svm) vs trained (head)" in capsys.readouterr().out
    assert main(["compare", "--results", str(tmp_path), "--transfer"]) == 0
    assert "### tones: random (svm) vs trained (svm)" in capsys.readouterr().out


@pytest.mark.parametrize("extra, match", [
    (["--trained", "nosuch"], "--trained: no results with weights 'nosuch' (weights present: mtt, random, trained)"),
    (["--random", "nosuch"], "--random: no results with weights 'nosuch' (weights present: mtt, random, trained)"),
    (["--trained", "random"], "--random and --trained both name weights 'random'"),
    (["--backend", "knn"], "--backend: no 'random' results with backend 'knn' (backends: elm, svm)"),
    (["--format", "xml"], "invalid choice: 'xml'"),
])
def test_compare_bad_input_gives_one_clear_line(board, capsys, extra, match):
    assert main(["compare", "--results", str(board), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rwbench: error:") and match in err, err


def test_compare_on_missing_empty_or_headless_results_gives_one_clear_line(tmp_path, template, capsys):
    cases = [(tmp_path / "nowhere", "does not exist; run `rwbench run` first"),
             (tmp_path / "bare", "holds no results (no runs/ folder); run `rwbench run` with this --results first"),
             (tmp_path / "empty", "--random: no results with weights 'random' (the results folder holds no results)")]
    (tmp_path / "bare").mkdir()
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    headless = write_board(tmp_path / "headless", template, ("random", "svm", SVM), ("trained", "svm", HEAD))
    cases.append((headless, "--trained: no 'trained' results with backend 'head' (backends: svm)"))
    for results, match in cases:
        assert main(["compare", "--results", str(results)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("rwbench: error:") and match in err, err


def _spearman_of_every_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``stats.spearmanr(x, y[order]).statistic`` for every order of ``y``: Spearman's rho is Pearson's r of the
    average ranks (its definition, and how scipy computes it), here for all n! orders in one vectorised call
    instead of n! calls (40320 calls took ~40 s)."""
    orders = np.array(list(itertools.permutations(range(len(y)))))
    return stats.pearsonr(stats.rankdata(x), stats.rankdata(y[orders], axis=1), axis=1).statistic


def test_exact_spearman_p_enumerates_every_pairing_with_ties():
    x = np.array([0.5, 0.7, 0.7, 0.2, 0.9, 0.4, 0.65])
    y = np.array([0.6, 0.8, 0.5, 0.3, 0.8, 0.2, 0.7])
    rho = stats.spearmanr(x, y).statistic
    null = _spearman_of_every_order(x, y)
    assert ranking.spearman_exact_p(x, y) == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-9), abs=1e-12)
    # no ties, n = 8 as in the study: exact 0.0694 where the t approximation says 0.058
    a, b = np.arange(8.0), np.array([1, 0, 3, 2, 6, 7, 4, 5.0])
    exact = ranking.spearman_exact_p(a, b)
    brute = _spearman_of_every_order(a, b)
    assert exact == pytest.approx(np.mean(np.abs(brute) >= stats.spearmanr(a, b).statistic - 1e-9), abs=1e-12)


def test_kendall_p_with_ties_is_a_permutation_test():
    x, y = np.array([1, 2, 2, 3, 4, 5.0]), np.array([2, 1, 3, 3, 5, 4.0])
    tau = stats.kendalltau(x, y).statistic
    null = [stats.kendalltau(x, y[list(o)]).statistic for o in itertools.permutations(range(6))]
    assert ranking.kendall_exact_p(x, y) == pytest.approx(np.mean(np.abs(null) >= abs(tau) - 1e-9), abs=1e-9)


def test_intervals_holm_and_null_rankings(tmp_path, template):
    random = {"a": 0.5, "b": 0.6, "c": 0.7, "d": 0.8, "e": 0.9, "f": 0.55, "g": 0.65, "h": 0.72}
    trained = {"a": 0.6, "b": 0.58, "c": 0.8, "d": 0.75, "e": 0.95, "f": 0.5, "g": 0.7, "h": 0.66}
    write_board(tmp_path, template, ("random", "svm", random), ("random", "elm", random), ("trained", "head", trained))
    for name, params in zip(random, (10, 20, 30, 40, 50, 60, 70, 80)):  # the null ranking: parameter count
        for path in (tmp_path / "runs").rglob(f"{name}__*.json"):
            data = json.loads(path.read_text())
            data["frontend"]["params"] = params
            path.write_text(json.dumps(data))
    table = leaderboard.load(tmp_path)
    row = correlation(table, "svm")
    assert row["rho_ci_frontends_low"] < row["spearman_rho"] <= row["rho_ci_frontends_high"] <= 1
    assert -1 <= row["rho_ci_folds_low"] <= row["rho_ci_folds_high"] <= 1
    names = sorted(random)
    assert row["null_rho_params"] == pytest.approx(stats.spearmanr(range(8), [trained[f] for f in names]).statistic)
    # Holm over the dataset's four p-values (ρ and τ of svm and elm, the same figures twice)
    ps = [row["spearman_p"], row["spearman_p"], row["kendall_p"], row["kendall_p"]]
    np.testing.assert_allclose([row["spearman_p_holm"], row["kendall_p_holm"]],
                               holm(ps)[[0, 2]], atol=1e-12)


def test_the_macs_null_ranking_reads_recorded_macs_and_counts_them_for_older_files():
    """Ρ of MACs with the trained ranking beside ρ(params) and ρ(dim); a file without the figure gets it
    from the registered front-end (count_macs), one not registered stays NaN rather than a made-up number."""
    from rwbench.frontend import FRONTENDS
    from rwbench.macs import count_macs

    table = pd.DataFrame({"frontend": ["vgg", "timbral[layers=conv]", "not_registered", "sample_level"],
                          "width": ["small"] * 4, "macs": [123.0, np.nan, np.nan, np.nan]})
    filled = ranking.with_macs(table)
    assert filled["macs"].iloc[0] == 123.0, "a recorded figure is kept"
    assert filled["macs"].iloc[1] == count_macs(FRONTENDS.get("timbral"), "small") > 0
    assert np.isnan(filled["macs"].iloc[2]) and np.isnan(table["macs"].iloc[1]), "the caller's table is untouched"
    assert filled["macs"].iloc[3] == count_macs(FRONTENDS.get("sample_level"), "small")

    both = pd.DataFrame({"random_accuracy": [0.5, 0.6, 0.7, 0.8, 0.9], "trained_accuracy": [0.6, 0.5, 0.8, 0.9, 0.7],
                         "params": [1, 2, 3, 4, 5], "macs": [5, 1, 4, 2, 3], "dim": [3, 3, 1, 2, 5]})
    row = ranking._correlations(both, "accuracy")
    y = both["trained_accuracy"]
    assert row["null_rho_macs"] == pytest.approx(stats.spearmanr(both["macs"], y).statistic)
    assert row["null_rho_dim"] == pytest.approx(stats.spearmanr(both["dim"], y).statistic)
    assert "ρ(macs) = " in ranking.describe({**row, "n": 5, "backend": "svm", "spearman_p_holm": 1.0,
                                               "kendall_p_holm": 1.0})


def test_within_family_rho_and_the_input_family_null_ranking():
    """Ρ within each input family (exact p at small n) beside the pooled ρ, and the family-only null."""
    random = [0.50, 0.55, 0.60, 0.65, 0.70, 0.80, 0.82, 0.84, 0.86, 0.88]
    trained = [0.60, 0.58, 0.66, 0.70, 0.64, 0.90, 0.85, 0.92, 0.95, 0.93]
    both = pd.DataFrame({"random_accuracy": random, "trained_accuracy": trained, "params": range(10),
                         "macs": range(10), "dim": range(10), "input": ["waveform"] * 5 + ["logmel"] * 5})
    row = ranking._correlations(both, "accuracy")
    families = row["rho_within_families"]
    assert set(families) == {"waveform", "logmel"}
    for name, rows in (("waveform", slice(0, 5)), ("logmel", slice(5, 10))):
        x, y = np.array(random[rows]), np.array(trained[rows])
        assert families[name]["n"] == 5 and families[name]["p_method"] == "exact"
        assert families[name]["rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
        assert families[name]["p"] == pytest.approx(ranking.spearman_exact_p(x, y))
    family_mean = [np.mean(trained[:5])] * 5 + [np.mean(trained[5:])] * 5
    assert row["null_rho_input"] == pytest.approx(stats.spearmanr(family_mean, trained).statistic)
    line = ranking.describe({**row, "n": 10, "backend": "svm", "spearman_p_holm": 0.01, "kendall_p_holm": 0.01})
    assert "ρ(input, in-sample family means) = " in line and "within families logmel ρ = " in line
    assert "waveform ρ = " in line


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")  # a draw of one family's rows: its null is flat
def test_rho_against_the_strongest_null_with_a_paired_bootstrap():
    """ρ − the highest null ρ, and its interval from the same front-end draws as ρ's with every null recomputed
    and the strongest chosen again within each draw (the input family's means too): checked against a plain loop
    over the draws. Holding the full sample's choice fixed made the interval too narrow (another null was the
    strongest in 17–52 % of the study's draws)."""
    rng = np.random.default_rng(3)
    trained = np.round(rng.uniform(0.5, 0.9, 12), 3)
    random = trained + rng.normal(0, 0.05, 12)
    inputs = np.array(["waveform"] * 6 + ["logmel"] * 6)
    both = pd.DataFrame({"random_accuracy": random, "trained_accuracy": trained, "params": rng.permutation(12),
                         "macs": rng.permutation(12), "dim": rng.permutation(12), "input": inputs})
    row = ranking._correlations(both, "accuracy")
    nulls = {name: row[f"null_rho_{name}"] for name in ("params", "macs", "dim", "input")}
    best = max(nulls, key=lambda name: abs(nulls[name]))  # a negative one counts reversed
    sign = 1.0 if nulls[best] >= 0 else -1.0
    assert row["null_best"] == (best if sign > 0 else f"{best} reversed")
    assert row["rho_minus_null"] == pytest.approx(row["spearman_rho"] - abs(nulls[best]))

    def spearman(a, b):
        return stats.spearmanr(a, b).statistic

    picks = np.random.default_rng(ranking.BOOTSTRAP_SEED).integers(0, 12, size=(ranking.BOOTSTRAP_DRAWS, 12))
    diffs = []
    for p in picks:
        y = trained[p]
        family_null = np.array([y[inputs[p] == family].mean() for family in inputs[p]])
        strongest = np.nan_to_num([abs(spearman(both[c].to_numpy(float)[p], y)) for c in ("params", "macs", "dim")]
                                  + [abs(spearman(family_null, y))], nan=0.0).max()  # a flat null ranks nothing
        diffs.append(spearman(random[p], y) - strongest)
    diffs = np.array(diffs)
    low, high = np.percentile(diffs[np.isfinite(diffs)], [2.5, 97.5])
    assert (row["rho_minus_null_ci_low"], row["rho_minus_null_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    # the family-mean null alone, against the same loop
    codes = pd.factorize(inputs)[0]
    direct = [spearman(random[p], trained[p]) - spearman(
        np.array([trained[p][codes[p] == c].mean() for c in codes[p]]), trained[p]) for p in picks]
    direct = np.array(direct)
    assert ranking.rho_difference_interval(random, trained, codes, families=True) == (
        pytest.approx(np.percentile(direct[np.isfinite(direct)], 2.5)),
        pytest.approx(np.percentile(direct[np.isfinite(direct)], 97.5)))
    line = ranking.describe({**row, "n": 12, "backend": "svm", "spearman_p_holm": 0.01, "kendall_p_holm": 0.01})
    assert (f"ρ − ρ({row['null_best']}) = {row['rho_minus_null']:+.2f} (95 % CI over front-ends, the strongest "
            "null chosen in each draw, ") in line
