"""`rwbench reproduce`: the shipped paper files, their checks, the study's protocol and the command end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import shared_data

from rwbench.backends import BACKENDS
from rwbench.datamodel import DATASETS
from rwbench.errors import RwbenchError
from rwbench.frontend import FRONTENDS
from rwbench.paper import PaperError, find_paper, paper_files, read_paper
from rwbench.protocol import OuterSplit
from rwbench.published_protocol import SUFFIX, published_folds

TOY = """\
frontends = ["mfcc"]
backends = ["knn"]

[paper]
id = "toy2019"
title = "A toy study on generated data"
citation = "rwbench test fixture"

[settings]
width = "small"
seeds = 1
weights = ["random"]

[protocol]
implementation = "pons2019"
description = "the reference study's protocol"

[[sources]]
key = "fixture"
citation = "made up for the tests"

[[datasets]]
name = "synthetic"
tasks = ["rhythm"]
label = "synthetic rhythm"
get = "built in"
options = { n_per_class = 5, seconds = 1.0 }
protocol_mark = "="

[[published]]
dataset = "synthetic"
backend = "knn"
where = "figure"
unit = "percent"
precision = 1.0
source = "fixture"
values = { mfcc = 50.0 }
"""


def toy_file(folder: Path, text: str = TOY) -> Path:
    path = folder / "toy2019.toml"
    path.write_text(text)
    return path


def in_process(capsys, monkeypatch, cwd: Path, *args: str) -> tuple[int, str, str]:
    """``rwbench ARGS`` in this process (torch is imported once for the module): (exit code, stdout, stderr)."""
    from rwbench.cli import main

    monkeypatch.chdir(cwd)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def rwbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "rwbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


# -- the shipped paper files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("paper_id", ["pons2019", "tax2017", "lee2017"])
def test_every_shipped_paper_loads_and_names_registered_things(paper_id):
    assert paper_id in paper_files()
    paper = find_paper(paper_id)
    assert paper.id == paper_id and paper.citation and paper.sources
    for d in paper.datasets:
        spec = DATASETS.get(d.name)
        assert set(d.tasks or ()) <= set(spec.tasks)
        for name in paper.frontends_on(d):
            FRONTENDS.get(name)
    for name in paper.backends:
        BACKENDS.get(name)
    for p in paper.published:
        assert 0 < p.value <= 1 and p.where in ("table", "text", "figure") and paper.source(p.source)


def test_shipped_papers_are_all_tested():
    assert set(paper_files()) == {"pons2019", "tax2017", "lee2017"}


def test_a_copy_of_a_shipped_paper_under_its_id_is_refused_and_the_shipped_file_by_path_is_not(tmp_path):
    shipped = paper_files()["pons2019"]
    copy = tmp_path / "pons2019.toml"
    copy.write_text(Path(shipped).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(PaperError, match=r"'pons2019' is the id of a shipped paper.*rename the file"):
        find_paper(str(copy))
    assert find_paper(str(shipped)).id == "pons2019"


def test_pons2019_carries_the_reference_studys_figures():
    """Spot values read off the elmarc README bar charts, as fractions with their reading precision."""
    paper = find_paper("pons2019")
    published = {p.row: p for p in paper.published}
    assert len(published) == 55  # 10 SVM + 9 ELM (GTZAN); 10 + 9 (Ext. Ballroom); 9 + 8 (US8K): MFCC has no ELM
    vgg = published[("gtzan", "vgg", "random", "svm")]
    assert vgg.value == pytest.approx(0.596) and vgg.precision == pytest.approx(0.0054) and vgg.where == "figure"  # ±0.3 + 1 px
    temporal = published[("extended_ballroom", "temporal", "random", "svm")]
    # the README's 89.82 % names no backend: the SVM row is the figure's bar, the 89.82 its note
    assert temporal.value == pytest.approx(0.899) and temporal.where == "figure" and "89.82" in temporal.note
    assert temporal.precision == pytest.approx(0.0074)
    assert published[("urbansound8k", "timbral_temporal_short", "random", "elm")].value == pytest.approx(0.628)
    assert published[("extended_ballroom", "vgg", "random", "elm")].precision == pytest.approx(0.0074)  # ±0.4 + 1 px
    assert {n.row for n in paper.not_found} == {(d, "mfcc", "random", "elm")
                                                 for d in ("gtzan", "extended_ballroom", "urbansound8k")}
    lee = find_paper("lee2017").published[0]
    assert (lee.value, lee.metric, lee.weights, lee.backend) == (0.9055, "roc_auc_macro", "trained", "head")
    assert not find_paper("tax2017").published and find_paper("tax2017").not_found  # said, not invented


@pytest.mark.parametrize("change, message", [
    (("[settings]", "[settings]\ncolour = 'red'"), r"toy2019\.toml: unknown key\(s\) settings\.colour"),
    (('frontends = ["mfcc"]', 'frontends = ["mfccc"]'), r"toy2019\.toml: frontends: unknown front-end 'mfccc'.*mfcc"),
    (('backends = ["knn"]', 'backends = ["knm"]'), r"backends: unknown backend 'knm'"),
    (('name = "synthetic"', 'name = "synthetik"'), r"datasets \(synthetik\): unknown dataset"),
    (('where = "figure"', 'where = "poster"'), r"published\[0\]\.where is 'poster', not one of"),
    (("values = { mfcc = 50.0 }", "values = { vgg = 50.0 }"), r"published\[0\] \(synthetic/vgg/random/knn\): not a row"),
    (("values = { mfcc = 50.0 }", "values = { mfcc = 150.0 }"), r"published\[0\]\.values\.mfcc is 150\.0, not a score"),
    (('source = "fixture"', 'source = "nowhere"'), r"published\[0\]\.source is 'nowhere', not a key of \[\[sources\]\]"),
    (('citation = "rwbench test fixture"\n', ""), r"paper\.citation is missing"),
    (("seeds = 1", "seeds = 'one'"), r"settings\.seeds is 'one', not int"),
    (('id = "toy2019"', 'id = "toy"'), r"paper\.id 'toy' must be the file's name \('toy2019'\)"),
    (("[paper]", "[paper"), r"not valid TOML"),
    (("precision = 1.0", "precision = inf"), r"published\[0\]\.precision is inf, not a positive finite number"),
    (("precision = 1.0", "precision = -1.0"), r"published\[0\]\.precision is -1\.0, not a positive finite number"),
    (('where = "figure"', 'where = "figure"\nmetric = "accurracy"'), r"published\[0\]\.metric is 'accurracy', not one of"),
    (('tasks = ["rhythm"]\n', ""), r"datasets \(synthetic\): its published numbers are of one task; set tasks"),
    (("values = { mfcc = 50.0 }", "values = {}"), r"published\[0\]\.values is empty"),
    (("values = { mfcc = 50.0 }", "values = { mfcc = 0.5 }"), r"published\[0\]\.values\.mfcc in \(0, 1\] under unit "
                                                            r"= \"percent\": a fraction\?"),
    # one fraction among percents was read as 0.6 %; a weight-free front-end's number filed under a tag it is never
    # run with was read, checked and never shown
    (("values = { mfcc = 50.0 }", "values = { mfcc = 50.0, temporal_short = 0.6 }"),
     r"values\.temporal_short in \(0, 1\] under unit = \"percent\""),
    (('weights = ["random"]', 'weights = ["dsp", "random"]'),
     r"'mfcc' has no weights and its rows are those of settings\.weights' first tag: give its number "
     r"weights = 'dsp' \(it has 'random', the default\)"),
])
def test_a_bad_paper_file_names_the_file_and_the_key(tmp_path, change, message):
    text = TOY.replace(*change)
    assert text != TOY
    with pytest.raises(PaperError, match=message):
        read_paper(toy_file(tmp_path, text))


def test_a_paper_file_not_in_utf8_is_one_line(tmp_path):
    """A Latin-1 file (a citation with "Maaløe") was a UnicodeDecodeError traceback."""
    path = tmp_path / "toy2019.toml"
    path.write_bytes(TOY.replace("rwbench test fixture", "Maaløe et al.").encode("latin-1"))
    with pytest.raises(PaperError, match=r"toy2019\.toml: not UTF-8 text \(byte \d+\); save it as UTF-8"):
        read_paper(path)


# -- the study's protocol ----------------------------------------------------------------------------------------
def _blobs(n_per_class: int = 12, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    X = rng.standard_normal((len(y), 4)) + 1.5 * np.eye(classes, 4)[y]
    return X, y


def test_fixed_split_selects_on_valid_and_refits_on_train_only():
    X, y = _blobs()
    order = np.random.default_rng(1).permutation(len(y))
    train, valid, test = np.sort(order[:18]), np.sort(order[18:27]), np.sort(order[27:])
    split = OuterSplit("test", np.sort(np.concatenate([train, valid])), test, ((train, valid),))  # refit=train+valid
    (fold,) = published_folds(X, y, [split], BACKENDS.get("knn"), seed=0, n_classes=3, fixed_split=True)
    assert fold.n_train == len(train)  # the study refits on train only, whatever the dataset's refit option
    assert fold.test_clips == test.tolist()
    from sklearn.model_selection import cross_val_score

    estimator = BACKENDS.get("knn").build(0)
    k = fold.best_params["n_neighbors"]
    valid_score = cross_val_score(estimator.set_params(clf__n_neighbors=k), np.concatenate([X[train], X[valid]]),
                                  np.concatenate([y[train], y[valid]]),
                                  cv=[(np.arange(18), np.arange(18, 27))]).mean()
    assert fold.selection_score == pytest.approx(valid_score)  # the best validation score (not the test's)


def test_folds_report_best_score_over_the_reported_folds():
    """The study's number on folds is the best grid point's mean fold score: every fold carries that setting, and
    the folds' mean equals the selection score, at least the mean of any other setting."""
    X, y = _blobs(10)
    folds = np.arange(len(y)) % 5 + 1
    splits = [OuterSplit(f"fold{f}", np.flatnonzero(folds != f), np.flatnonzero(folds == f), ()) for f in range(1, 6)]
    out = published_folds(X, y, splits, BACKENDS.get("knn"), seed=0, n_classes=3, fixed_split=False)
    mean = np.mean([f.accuracy for f in out])
    assert [f.selection_score for f in out] == pytest.approx([mean] * 5)
    assert len({f.best_params["n_neighbors"] for f in out}) == 1
    from sklearn.model_selection import cross_val_score

    cv = [(s.train, s.test) for s in splits]
    for k in (1, 3, 5, 10, 20):
        estimator = BACKENDS.get("knn").build(0).set_params(clf__n_neighbors=k)
        assert cross_val_score(estimator, X, y, cv=cv).mean() <= mean + 1e-12


# -- the command -------------------------------------------------------------------------------------------------
def test_missing_datasets_are_skipped_with_how_to_get_them_and_published_numbers_shown(tmp_path, capsys, monkeypatch):
    code, out, err = in_process(capsys, monkeypatch, tmp_path, "reproduce", "pons2019", "--dry-run")
    assert code == 0, err
    for name in ("gtzan", "extended_ballroom", "urbansound8k"):
        assert f"no --data-root {name}=PATH given. Get it:" in out
    rows = _table(out)
    published = {p.row: p for p in find_paper("pons2019").published}
    shown = {(r["dataset"], r["front-end"], "random" if r["weights"] == "none" else r["weights"], r["backend"]):
             r["published"] for r in rows}
    assert len(shown) == 58  # 55 published and 3 not found
    for row, p in published.items():
        number, precision, where = re.fullmatch(r"([\d.]+) ±([\d.]+) \((\w+)\)", shown[row]).groups()
        assert float(number) == pytest.approx(100 * p.value) and where == p.where
        assert float(precision) == pytest.approx(100 * p.precision)
    assert all(r["rwbench [95% CI]"] == "no data" for r in rows)
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


def test_a_plot_that_is_no_figure_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    code, _, err = in_process(capsys, monkeypatch, tmp_path, "reproduce", str(toy_file(tmp_path)), "--results", "res",
                              "--plot", "scatter.txt")
    assert code == 2 and "'scatter.txt': name a .png, .svg, .pdf file" in err and not (tmp_path / "res").exists()


def test_a_plot_of_partial_copies_only_says_why_it_is_empty():
    from rwbench.reproduce import scatter_figure

    published = SimpleNamespace(value=0.5, precision=0.01)
    row = {"dataset": "gtzan/filtered", "metric": "accuracy", "published": published, "partial": "44 of 930 listed clips",
           "honest": {"mean": 0.5, "low": 0.4, "high": 0.6}}
    with pytest.raises(RwbenchError, match=r"no row has both an rwbench number and a published one \(left out, not "
                                           r"comparable with the paper's numbers: 1 row\(s\) partial copy\): nothing"):
        scatter_figure(SimpleNamespace(id="toy"), [row])


def test_the_scatter_leaves_out_every_row_the_table_does_not_judge():
    """Rows at another width, with seeds missing or of another quantity (mark ≠) were drawn against the identity line
    beside the paper's, though the table refused to judge them."""
    from rwbench.reproduce import _not_judged, scatter_points

    published = SimpleNamespace(value=0.596, precision=0.01)
    base = {"dataset": "gtzan/filtered", "metric": "accuracy", "published": published, "seeds_asked": 3,
            "honest": {"mean": 0.4, "low": 0.35, "high": 0.45, "seeds": 3}}
    rows = [{**base, "width": "small"}, {**base, "honest": {**base["honest"], "seeds": 2}}, {**base, "mark": "≠"},
            base]
    assert [_not_judged(r["honest"], r, honest=True) for r in rows] == ["width small ≠ paper's", "seeds missing",
                                                                         "protocol ≠", ""]
    assert [p["mean"] for p in scatter_points(rows)] == [pytest.approx(40.0)]  # the one judged row alone


def test_bad_data_root_is_one_line(tmp_path, capsys, monkeypatch):
    code, _, err = in_process(capsys, monkeypatch, tmp_path, "reproduce", "pons2019", "--data-root", "gtzn=/nowhere")
    assert code == 2
    assert err.strip().splitlines()[-1] == ("rwbench: error: --data-root 'gtzn=/nowhere': pons2019 has no "
                                                    "dataset 'gtzn'; its datasets: gtzan, extended_ballroom, "
                                                    "urbansound8k")


@pytest.mark.slow
def test_reproduce_runs_the_pipeline_and_both_protocols_side_by_side(tmp_path):
    paper = toy_file(tmp_path)
    done = rwbench("reproduce", str(paper), "--protocol", "both", "--results", "res", "--jobs", "1", "-o", "table.md",
                   "--plot", "scatter.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (tmp_path / "table.md").read_text() + "wrote scatter.png\n"
    assert (tmp_path / "scatter.png").stat().st_size > 0
    (row,) = _table(done.stdout)
    assert (row["dataset"], row["front-end"], row["weights"], row["backend"]) == ("synthetic/rhythm", "mfcc", "none",
                                                                                  "knn")
    assert row["published"] == "50.0 ±1 (figure)"  # the paper file's number, its precision and where it was read
    honest = float(row["rwbench [95% CI]"].split()[0])
    study = float(row["study's protocol [95% CI]"].split()[0])
    assert row["Δ"] == f"{honest - 50.0:+.1f}" and row["Δ study's"] == f"{study - 50.0:+.1f}"
    from rwbench.analysis.leaderboard import load

    main = load(tmp_path / "res")
    assert set(main["backend"]) == {"knn"}  # the study's rows are not in the honest leaderboard
    marked = load(tmp_path / "res" / "published")
    assert set(marked["backend"]) == {"knn" + SUFFIX}  # and are marked where they are
    assert marked["accuracy_mean"].iloc[0] == pytest.approx(study / 100, abs=5e-4)
    assert main["accuracy_mean"].iloc[0] == pytest.approx(honest / 100, abs=5e-4)

    # the report shows the run: one section per paper with the same table and the published-vs-rwbench scatter
    from rwbench.analysis.report import render

    html = render(tmp_path / "res")
    section = html[html.index('<section id="reproduce-'):]
    section = section[:section.index("</section>")]
    assert ": rwbench beside the published numbers</h2>" in section and "protocol both" in section
    cells = re.findall(r'<td[^>]*>([^<]*)</td>', section)
    assert [row[c] for c in ("dataset", "front-end", "rwbench [95% CI]", "published", "Δ")] == \
        [cells[0], cells[1], cells[4], cells[6], cells[7]]
    assert 'src="data:image/svg+xml;base64,' in section and "dashed: identity" in section
    assert "Stale" not in section  # its result files are as they were
    result = next((tmp_path / "res" / "runs").rglob("*.json"))
    result.write_text(result.read_text() + "\n")  # a rerun since: the kept table is older than its results
    section = render(tmp_path / "res", draw=False).split('<section id="reproduce-')[1]
    assert "Stale: the result files of the rows of synthetic (" in section and "were rerun, added or removed" in section
    result.write_text(result.read_text()[:-1])  # as it was; another front-end's result does not make it stale
    (result.parent / "otherfrontend__small__random__seed7__knn.json").write_text(result.read_text())
    assert "Stale" not in render(tmp_path / "res", draw=False).split('<section id="reproduce-')[1]


@pytest.mark.shared_data
def test_tax2017_on_shared_esc10_skips_esc50_and_plans(tmp_path, capsys, monkeypatch, caplog):
    esc10 = shared_data("esc10")
    code, out, err = in_process(capsys, monkeypatch, tmp_path, "reproduce", "tax2017", "--data-root", f"esc10={esc10}",
                                "--frontends", "piczak", "--width", "small", "--backends", "elm", "--dry-run")
    assert code == 0, err
    assert "skipped ESC-50 (5 official folds): no --data-root esc50=PATH given" in out
    assert "## ESC-10 (5 official folds; the 10-class subset of ESC-50): random weights" in out
    assert "embed: 1 of 1 jobs to compute, 400 clip rows" in out
    rows = {(r["dataset"], r["front-end"], r["weights"], r["backend"]): r for r in _table(out)}
    assert rows[("esc50", "piczak", "trained", "head")]["published"] == "not found"
    assert rows[("esc10", "piczak", "random", "elm")]["rwbench [95% CI]"] == "not run"
    said = caplog.text  # a warning beside the table (stderr in a process, also under -q)
    assert ("no trained piczak rows on esc10" in said
            and "rwbench train --dataset esc10 --data-root PATH --frontends piczak --width small --results results" in said)


def _table(text: str) -> list[dict]:
    """The rows of the side-by-side table (the last GitHub table of ``text``)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header_at = max(i for i, line in enumerate(lines) if line.startswith("| dataset ") and "published" in line)
    header = [c.strip() for c in lines[header_at].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[header_at + 2:]]


def test_partial_copy_plan_is_scaled_to_the_full_copy_and_seeds_print_as_read():

    from rwbench.reproduce import full_copy_lines, seeds_arg

    dataset = SimpleNamespace(key="gtzan/filtered", info={"partial": {"listed": 930, "present": 44}})
    rows = [SimpleNamespace(dataset="gtzan/filtered", embed_seconds=44.0, cache_bytes_new=44 * 2**20),
            SimpleNamespace(dataset="other", embed_seconds=1e6, cache_bytes_new=0)]
    (line,) = full_copy_lines([dataset, SimpleNamespace(key="x", info={})], rows)
    assert line.startswith("full copy of gtzan/filtered (930 clips, 44 here): embedding predicted 930 s (0.3 h)")
    assert "cache +930 MiB" in line
    assert (seeds_arg([0, 1, 2]), seeds_arg([5]), seeds_arg([1, 3])) == ("3", "5,", "1,3")


def test_the_table_holds_only_this_runs_seeds_and_judges_agreement_only_at_the_papers_width(tmp_path, capsys,
                                                                                            monkeypatch):
    import json

    paper = toy_file(tmp_path, TOY.replace('frontends = ["mfcc"]', 'frontends = ["mfcc", "strided_1024_1024"]')
                     .replace("values = { mfcc = 50.0 }", "values = { mfcc = 50.0, strided_1024_1024 = 50.0 }"))
    args = ("reproduce", str(paper), "--results", "res", "--jobs", "1", "--workers", "0")
    code, out, err = in_process(capsys, monkeypatch, tmp_path, *args, "--seeds", "3")
    assert code == 0, err
    code, out, err = in_process(capsys, monkeypatch, tmp_path, *args, "--seeds", "1")  # seeds 1 and 2 stay on disk
    assert code == 0, err
    rows = {r["front-end"]: r for r in _table(out)}
    (seed0,) = (tmp_path / "res" / "runs").glob("synthetic__rhythm/strided_1024_1024__small__random__seed0__knn.json")
    assert rows["strided_1024_1024"]["rwbench [95% CI]"].split()[0] == \
        f"{100 * json.loads(seed0.read_text())['summary']['accuracy_mean']:.1f}"  # seed 0 alone, as the run asked
    assert rows["strided_1024_1024"]["agrees"] in ("yes", "no")  # the paper's width: judged
    code, out, err = in_process(capsys, monkeypatch, tmp_path, *args, "--seeds", "1", "--width", "8")
    assert code == 0, err
    rows = {r["front-end"]: r for r in _table(out)}
    assert rows["strided_1024_1024"]["agrees"] == "width 8 ≠ paper's"  # 8 filters is no test of the paper's figure
    assert rows["mfcc"]["agrees"] == "width 8 ≠ paper's"  # 8 coefficients, not the paper's 20: not judged either
    # MFCC has no seeds: its one result (seed 0) is its row whatever seeds are asked
    code, out, err = in_process(capsys, monkeypatch, tmp_path, *args, "--seeds", "1,2", "--dry-run")
    assert code == 0, err
    rows = {r["front-end"]: r for r in _table(out)}
    assert rows["mfcc"]["rwbench [95% CI]"] != "not run" and rows["mfcc"]["agrees"] in ("yes", "no")
    # a row on fewer seeds than asked says so, and no agreement is judged on it
    (tmp_path / "res" / "runs" / "synthetic__rhythm" / "strided_1024_1024__small__random__seed2__knn.json").unlink()
    code, out, err = in_process(capsys, monkeypatch, tmp_path, *args, "--seeds", "3", "--dry-run")
    rows = {r["front-end"]: r for r in _table(out)}
    assert rows["strided_1024_1024"]["rwbench [95% CI]"].endswith("(2 of 3 seeds)")
    assert rows["strided_1024_1024"]["agrees"] == "seeds missing" and rows["mfcc"]["agrees"] in ("yes", "no")
    # a run of one front-end keeps the report's record of the others
    code, out, err = in_process(capsys, monkeypatch, tmp_path, *args, "--seeds", "1,", "--frontends", "mfcc")
    assert code == 0, err
    record = json.loads((tmp_path / "res" / "reproduce" / "toy2019.json").read_text())
    assert {c["front-end"] for c in record["cells"]} == {"mfcc", "strided_1024_1024"}


def test_a_partial_copy_is_never_judged_against_the_paper():
    """Files, official folds or classes missing (--partial): the line above the table says which, the agrees
    cells say "partial copy" (a 0–100 % interval on 4 clips used to "agree"), and the scatter leaves the row out."""

    from rwbench.paper import Published
    from rwbench.reproduce import Target, comparison_cells, partial_lines, scatter_points

    folds = SimpleNamespace(key="urbansound8k", info={"folds_absent": [4, 5, 6, 7, 8, 9, 10]})
    files = SimpleNamespace(key="gtzan/filtered", info={"partial": {"listed": 930, "present": 44}})
    lines = partial_lines([Target(None, [folds, files, SimpleNamespace(key="whole", info={})], [])])
    assert lines == ["partial copy of urbansound8k: official folds [4, 5, 6, 7, 8, 9, 10] absent (--partial): its "
                     "numbers check the plumbing, they are not comparable with the paper's",
                     "partial copy of gtzan/filtered: 44 of 930 listed clips (--partial): its numbers check the "
                     "plumbing, they are not comparable with the paper's"]
    published = Published(frontend="mfcc", value=0.5, dataset="gtzan", weights="random", backend="svm",
                          metric="accuracy", where="figure", precision=0.005, source="s")
    figures = {"mean": 0.5, "low": 0.0, "high": 1.0, "seeds": 2, "folds": 1}
    row = {"dataset": "gtzan/filtered", "paper_dataset": "gtzan", "frontend": "mfcc", "weights": "none",
           "backend": "svm", "metric": "accuracy", "mark": "≈", "published": published, "not_found": None,
           "at_hand": True, "width": None, "honest": figures, "study": figures}
    whole = comparison_cells([{**row, "partial": None}], "both")[0]
    assert (whole["agrees"], whole["agrees (study's)"]) == ("yes", "yes")  # the interval holds 50 %
    cells = comparison_cells([{**row, "partial": "44 of 930 listed clips"}], "both")[0]
    assert (cells["agrees"], cells["agrees (study's)"]) == ("partial copy", "partial copy")
    assert scatter_points([{**row, "partial": "44 of 930 listed clips"}]) == [] and scatter_points([{**row, "partial": None}])
    other = comparison_cells([{**row, "partial": None, "mark": "≠"}], "both")[0]  # the paper reports another quantity
    assert (other["agrees"], other["agrees (study's)"]) == ("protocol ≠", "yes")  # judged on the study's protocol only


def test_a_published_number_in_another_metric_is_refused(tmp_path, capsys, monkeypatch):
    paper = toy_file(tmp_path, TOY.replace('where = "figure"', 'where = "figure"\nmetric = "roc_auc_macro"'))
    for dry in (["--dry-run"], []):  # refused before any work, the run as its dry run
        code, out, err = in_process(capsys, monkeypatch, tmp_path, "reproduce", str(paper), *dry, "--results", "r")
        assert code == 2 and "the published roc_auc_macro of synthetic/rhythm mfcc knn cannot sit beside rwbench's " \
                              "accuracy" in err and "toy2019.toml" in err
        assert not (tmp_path / "r" / "runs").exists()


def test_the_studys_protocol_on_a_multilabel_task_is_refused_before_any_work():
    from rwbench.reproduce import check_targets

    paper = SimpleNamespace(file="toy2019.toml", published=[])
    target = SimpleNamespace(entry=SimpleNamespace(name="esc10_mix"),
                             datasets=[SimpleNamespace(key="esc10_mix", task_type="multilabel")])
    with pytest.raises(RwbenchError, match=r"toy2019\.toml: esc10_mix is a multilabel task; the reference study's "
                                           r"protocol is defined for one label per clip: use --protocol honest"):
        check_targets(paper, [target], "both")
    check_targets(paper, [target], "honest")  # the honest protocol scores any task


def test_a_filter_count_equal_to_the_papers_width_is_the_papers_width():
    from rwbench.reproduce import _same_width

    assert FRONTENDS.get("strided_1024_1024").filters("paper") == 7168
    assert _same_width("strided_1024_1024", "7168", "paper") and _same_width("strided_1024_1024", "paper", "paper")
    assert not _same_width("strided_1024_1024", "8", "paper") and not _same_width("strided_1024_1024", "small", "paper")


def test_only_the_honest_protocol_can_miss_trained_rows():
    """The study's protocol (--protocol published) scores no trained rows: it must not say they are missing."""

    from rwbench.reproduce import missing_trained

    paper, opts = find_paper("tax2017"), SimpleNamespace(width="small", results_dir="results", seeds=[0])
    row = {"frontend": "piczak", "weights": "trained", "at_hand": True, "paper_dataset": "esc10"}
    assert missing_trained(paper, [row], opts) == []  # published only: no honest cell
    (line,) = missing_trained(paper, [{**row, "honest": None}], opts)
    assert line.startswith("no trained piczak rows on esc10 in results: make them with `rwbench train")
    assert "--seeds" not in line
    # seeds 1 and 2 asked: the command made seed 0, which the table then leaves out, and the hint came again
    (line,) = missing_trained(paper, [{**row, "honest": None}], SimpleNamespace(**{**opts.__dict__, "seeds": [1, 2]}))
    assert line.endswith(" --seeds 1,2` (they appear in this table when present)")


def test_rows_with_clips_left_out_are_not_judged_against_the_paper():
    """--skip-bad-audio left a clip out: the row was judged (and plotted) as the whole dataset, the skip unsaid."""
    from rwbench.paper import Published
    from rwbench.reproduce import comparison_cells, scatter_points

    published = Published(frontend="mfcc", value=0.6, dataset="esc10", weights="random", backend="svm",
                          metric="accuracy", where="figure", precision=0.005, source="s")
    figures = {"mean": 0.794, "low": 0.735, "high": 0.859, "seeds": 1, "folds": 5, "skipped": 1}
    row = {"dataset": "esc10", "paper_dataset": "esc10", "frontend": "mfcc", "weights": "none", "backend": "svm",
           "metric": "accuracy", "mark": "=", "published": published, "not_found": None, "at_hand": True,
           "width": None, "partial": None, "honest": figures, "study": figures}
    cells = comparison_cells([row], "both")[0]
    assert (cells["agrees"], cells["agrees (study's)"]) == ("1 clip(s) skipped", "1 clip(s) skipped")
    assert scatter_points([row]) == []
    whole = {**figures, "skipped": 0}
    assert comparison_cells([{**row, "honest": whole}], "honest")[0]["agrees"] == "no"  # 79.4 against 60: judged


def test_a_result_scored_on_other_outer_splits_is_not_the_papers_row(tmp_path, capsys, monkeypatch):
    """A result of the same clips under other outer splits (another refit or fold assignment: dataset options) was
    read as the paper's row (the fingerprint covers the clips alone)."""
    import json

    from rwbench.reproduce import _leaderboard
    from rwbench.results import splits_key

    args = ("reproduce", str(toy_file(tmp_path)), "--results", "res", "--jobs", "1", "--workers", "0", "--dry-run")
    code, out, err = in_process(capsys, monkeypatch, tmp_path, *args[:-1])
    assert code == 0, err
    assert _table(out)[0]["rwbench [95% CI]"] != "not run"
    (path,) = (tmp_path / "res" / "runs").glob("synthetic__rhythm/mfcc__*__knn.json")
    record = json.loads(path.read_text())
    dataset = record["dataset"]
    made = {dataset["key"]: (dataset["fingerprint"], splits_key(dataset["protocol"]))}
    assert len(_leaderboard(tmp_path / "res", made, [0], "wide")) == 1
    dataset["protocol"] = {**dataset["protocol"], "refit": "train+valid"}
    path.write_text(json.dumps(record))
    assert _leaderboard(tmp_path / "res", made, [0], "wide").empty  # not this run's splits: not its row
    code, out, err = in_process(capsys, monkeypatch, tmp_path, *args)  # and the run would not replace it unsaid
    assert code == 2 and "synthetic__rhythm/mfcc__small__none__seed0__knn.json: its outer splits differ in refit" in err


def test_the_studys_fixed_split_is_checked_on_the_side_it_refits_on():
    """A class in valid and test but not in train passed the load-time check under refit train+valid, and the study's
    protocol, which refits on train alone, counted its test clips wrong without a word (0.75 for perfect features)."""
    from rwbench.datamodel import Clip, Dataset
    from rwbench.errors import DataError
    from rwbench.protocol import FixedSplit
    from rwbench.published_protocol import refit_side_checked

    clips = [Clip(f"{label}{i}", label, split=split) for label, splits in
             (("rock", ("train", "train", "valid", "test")), ("pop", ("train", "train", "valid", "test")),
              ("disco", ("valid", "valid", "test")))
             for i, split in enumerate(splits)]
    dataset = Dataset("toy", None, clips, FixedSplit("toy/split", refit="train+valid"), 1.0)
    splits = dataset.splits()
    assert len(splits[0].train) == 8  # the dataset's own refit side holds disco: its load-time check passes
    with pytest.raises(DataError, match=r"test tests 1 clip\(s\) of 1 class\(es\) that no clip of its training side "
                                        r"has \('disco'\)"):
        refit_side_checked(dataset, splits)
    dataset.info["partial"] = {"listed": 20, "present": 11}
    info = refit_side_checked(dataset, splits)
    assert info["untrained_test_clips"] == {"test": {"clips": 1, "classes": ["disco"]}}
    assert "untrained_test_clips" not in dataset.info  # the honest protocol's record is its own


def test_the_studys_rows_on_a_refit_train_valid_split_are_read_back(tmp_path):
    """The study's rows on a fixed split record refit "train" (it refits on train alone); the table looked them up by
    the dataset's own refit, train+valid (FSDD standard's default), found none and printed "not run"."""
    import dataclasses

    from toy import TINY, tone_dataset

    from rwbench.pipeline import RunOptions, run
    from rwbench.protocol import FixedSplit
    from rwbench.published_protocol import evaluate_published, published_results_dir, study_protocol
    from rwbench.reproduce import _leaderboard
    from rwbench.results import splits_key

    tones = tone_dataset(n_per_class=15)
    clips = [dataclasses.replace(c, fold=None, split=("train", "train", "valid", "test", "train")[i % 5])
             for i, c in enumerate(tones.clips)]
    dataset = dataclasses.replace(tones, clips=clips, protocol=FixedSplit(id="tones-fixed", refit="train+valid"))
    dataset.decoded, dataset.fail_on = [], {}
    opts = RunOptions(results_dir=tmp_path / "res", cache_dir=tmp_path / "cache", device="cpu", workers=0, seeds=[0])
    run([dataset], [TINY], [BACKENDS.get("knn")], opts)
    evaluate_published([dataset], [TINY], [BACKENDS.get("knn")], opts)
    key = {dataset.key: (dataset.fingerprint(), splits_key(study_protocol(dataset)))}
    assert len(_leaderboard(published_results_dir(opts.results_dir), key, opts.seeds, opts.grid)) == 1
    honest = {dataset.key: (dataset.fingerprint(), splits_key(dataset.describe()["protocol"]))}
    assert len(_leaderboard(opts.results_dir, honest, opts.seeds, opts.grid)) == 1


def test_a_run_without_a_datasets_data_keeps_its_rows_in_the_report(tmp_path):
    """A second run given no --data-root for a dataset rewrote its kept rows as "no data" though its results were on
    disk, and the report called the table current; its rows are now carried over, dated, and the digest reads them."""
    import json

    from rwbench.pipeline import RunOptions
    from rwbench.reproduce import write_record

    paper = read_paper(toy_file(tmp_path))
    published = paper.published[0]
    row = {"dataset": "synthetic/rhythm", "paper_dataset": "synthetic", "frontend": "mfcc", "weights": "none",
           "backend": "svm", "metric": "accuracy", "mark": "=", "published": published, "not_found": None,
           "at_hand": True, "partial": None, "seeds_asked": 1, "width": None,
           "honest": {"mean": 0.52, "low": 0.45, "high": 0.6, "seeds": 1, "skipped": 0}}
    opts = RunOptions(results_dir=tmp_path, seeds=[0])
    path = write_record(paper, [row], "honest", [], opts)
    first = json.loads(path.read_text())
    absent = {**row, "dataset": "synthetic", "at_hand": False, "honest": None}
    second = json.loads(write_record(paper, [absent], "honest", [], opts).read_text())
    assert second["cells"] == first["cells"] and second["points"] == first["points"]
    assert second["datasets"] == ["synthetic/rhythm"] and second["parts"]["synthetic"]["created"] == first["created"]
    from rwbench.analysis.reproduce_report import report_sections

    (section,) = report_sections(tmp_path, draw=False)
    assert f"The rows of synthetic are those of the run of {first['created']}" in " ".join(section["lines"])
    import dataclasses

    edited = dataclasses.replace(paper, published=[dataclasses.replace(published, value=0.6)])
    json.loads(write_record(paper, [row], "honest", [], opts).read_text())
    fresh = json.loads(write_record(edited, [absent], "honest", [], opts).read_text())
    assert "no data" in fresh["cells"][0]["rwbench [95% CI]"]  # the paper's numbers changed: old verdicts not carried
    other = json.loads(write_record(paper, [absent], "honest", [], RunOptions(results_dir=tmp_path, seeds=[1]))
                       .read_text())
    assert "no data" in other["cells"][0]["rwbench [95% CI]"] and other["points"] == []  # other settings: not carried
    # an edit of the dataset's entry (here its protocol mark: ≈ → ≠ makes the honest column "protocol ≠") kept the
    # old verdicts: everything that makes or judges a dataset's rows is in the digest
    json.loads(write_record(paper, [row], "honest", [], opts).read_text())
    marked = dataclasses.replace(paper, datasets=(dataclasses.replace(paper.datasets[0], protocol_mark="≠"),))
    assert "no data" in json.loads(write_record(marked, [absent], "honest", [], opts).read_text())["cells"][0][
        "rwbench [95% CI]"]
    # a run with no row of the dataset at all (--frontends naming none of its front-ends) carries it too
    first = json.loads(write_record(paper, [row], "honest", [], opts).read_text())
    assert json.loads(write_record(paper, [], "honest", [], opts).read_text())["cells"] == first["cells"]


def test_a_carried_part_is_checked_against_its_own_result_files(tmp_path):
    """The record's digest of result files was taken over the files as they were at the run that carried a part, so
    a part made from files rerun since (another copy of the data, --force) read as current; each part now keeps the
    digest of the files it was made from, and the report names the part that is stale."""
    import json

    from rwbench.analysis.reproduce_report import report_sections
    from rwbench.pipeline import RunOptions
    from rwbench.reproduce import write_record

    paper = read_paper(toy_file(tmp_path))
    runs = tmp_path / "runs" / "synthetic__rhythm"
    runs.mkdir(parents=True)
    result = runs / "mfcc__small__random__seed0__knn.json"
    result.write_text('{"a": 1}')
    row = {"dataset": "synthetic/rhythm", "paper_dataset": "synthetic", "frontend": "mfcc", "weights": "none",
           "backend": "knn", "metric": "accuracy", "mark": "=", "published": paper.published[0], "not_found": None,
           "at_hand": True, "partial": None, "seeds_asked": 1, "width": None,
           "honest": {"mean": 0.52, "low": 0.45, "high": 0.6, "seeds": 1, "skipped": 0}}
    opts = RunOptions(results_dir=tmp_path, seeds=[0])
    write_record(paper, [row], "honest", [], opts)
    assert report_sections(tmp_path, draw=False)[0]["warning"] == ""
    result.write_text('{"a": 2}')  # rerun since
    absent = {**row, "dataset": "synthetic", "at_hand": False, "honest": None}
    record = json.loads(write_record(paper, [absent], "honest", [], opts).read_text())
    assert record["parts"]["synthetic"]["carried"]
    assert "Stale: the result files of the rows of synthetic (" in report_sections(tmp_path, draw=False)[0]["warning"]
    assert record["paper_ref"] == str(paper.file.resolve())  # not shipped: the report's command names the file


def test_a_trained_row_is_judged_only_when_made_with_the_paper_files_recipe():
    """A 1-epoch training flagged not converged on 5 of 5 folds was set beside the published trained figure as
    'agrees yes': the row's recorded recipe is now compared with the paper file's [[trained]] command (read by
    `rwbench train`'s own parser), and a row that is not converged or made otherwise is not judged, with the reason."""
    import json

    from rwbench.reproduce import _not_judged, recipe_differences
    from rwbench.reproduce_cli import command_recipe

    paper = find_paper("tax2017")
    asked = command_recipe(paper.trained[0].command, "small")
    runs = Path(__file__).parents[1] / "studies/random-vs-trained-24/results/runs/esc10"
    record = runs / "piczak__small__trained__seed0__head.json"
    recipe = json.loads(record.read_text())["training"]["recipe"]  # the study's piczak: rwbench's default recipe
    assert recipe_differences(asked, [recipe]) == ""
    spaced = paper.trained[0].command.replace("RESULTS", "'my results'")  # a path with a space was split
    assert command_recipe(spaced, "small") == asked
    assert recipe_differences(asked, [recipe, {**recipe, "epoch_cap": 1}]) == "epoch_cap 1 ≠ 100"
    crop = command_recipe(find_paper("lee2017").trained[0].command, "small")
    assert recipe_differences(crop, [recipe]) == "crop_seconds None ≠ 2.67796"  # whole clips, not the paper's segments
    figures = {"mean": 0.52, "low": 0.4, "high": 0.62, "seeds": 1, "skipped": 0, "not_converged": "5/5"}
    assert _not_judged(figures, {"seeds_asked": 1}) == "not converged (5/5 folds)"
    assert _not_judged({**figures, "not_converged": ""}, {"seeds_asked": 1, "recipe": "epoch_cap 1 ≠ 100"}) == \
        "recipe ≠ paper file's command (epoch_cap 1 ≠ 100)"
    assert _not_judged({**figures, "not_converged": ""}, {"seeds_asked": 1, "recipe": ""}) == ""


TRAINED = """
[[trained]]
frontend = "temporal_short"
command = "rwbench train --dataset DATASET --frontends temporal_short --width WIDTH --epochs 20 --results RESULTS"

[[published]]
dataset = "synthetic"
backend = "head"
weights = "trained"
where = "table"
unit = "percent"
precision = 0.05
source = "fixture"
values = { temporal_short = 40.0 }
"""


def test_a_trained_row_short_of_seeds_is_not_judged_and_the_hint_names_it(tmp_path, monkeypatch):
    """A trained row made on seed 0 of the 2 asked was judged 'yes' with no '(1 of 2 seeds)' and no hint: trained
    rows were taken to need one seed."""
    import pandas as pd

    import rwbench.reproduce as reproduce
    from rwbench.pipeline import RunOptions
    from rwbench.reproduce_cli import command_recipe

    paper = read_paper(toy_file(tmp_path, TOY + TRAINED))
    targets, _, _ = reproduce.select_targets(paper, {})
    opts = RunOptions(width="small", seeds=[0, 1], results_dir=tmp_path / "res", grid="study")
    (key,) = [d.key for d in targets[0].datasets]
    row = {"dataset": key, "frontend": "temporal_short", "width": "small", "weights": "trained", "backend": "head",
           "accuracy_mean": 0.4, "ci_low": 0.3, "ci_high": 0.5, "n_seeds": 1, "n_folds": 5, "skipped": 0,
           "not_converged": ""}
    monkeypatch.setattr(reproduce, "_leaderboard", lambda *a, **k: pd.DataFrame([row]))
    asked = {"temporal_short": command_recipe(paper.trained[0].command, "small")}
    rows = reproduce.comparison(paper, targets, opts, "honest", (), asked)
    (trained,) = [r for r in rows if r["weights"] == "trained"]
    (cells,) = reproduce.comparison_cells([trained], "honest")
    assert cells["rwbench [95% CI]"] == "40.0 [30.0, 50.0] (1 of 2 seeds)" and cells["agrees"] == "seeds missing"
    (line,) = reproduce.missing_trained(paper, rows, opts)
    assert line.startswith(f"trained temporal_short rows on synthetic in {opts.results_dir} have 1 of 2 seeds (not "
                           "judged): make the others with `rwbench train --dataset synthetic ")
    assert line.endswith(" --seeds 2`")
    monkeypatch.setattr(reproduce, "_leaderboard", lambda *a, **k: pd.DataFrame([{**row, "n_seeds": 2}]))
    rows = reproduce.comparison(paper, targets, opts, "honest", (), asked)
    (cells,) = reproduce.comparison_cells([r for r in rows if r["weights"] == "trained"], "honest")
    assert cells["agrees"] == "yes" and reproduce.missing_trained(paper, rows, opts) == []


def test_the_trained_hint_makes_rows_on_the_papers_clips_and_splits(tmp_path):
    """The printed `rwbench train` command left out the paper dataset's tasks and loader options: the training it
    made was on other clips, filtered out of the table, and the same hint came back."""
    import shlex

    from rwbench import cli_args
    from rwbench.cli import build_parser
    from rwbench.reproduce import missing_trained, select_targets
    from rwbench.results import splits_key

    paper = read_paper(toy_file(tmp_path, (TOY + TRAINED).replace("seconds = 1.0 }", "seconds = 1.0, seed = 3 }")))
    opts = SimpleNamespace(width="small", results_dir="res", seeds=[0])
    row = {"frontend": "temporal_short", "weights": "trained", "at_hand": True, "paper_dataset": "synthetic",
           "honest": None}
    (line,) = missing_trained(paper, [row], opts)
    command = line.split("`")[1]
    assert "--tasks rhythm --dataset-option n_per_class=5 --dataset-option seconds=1.0 --dataset-option seed=3" \
        in command
    (made,) = cli_args.datasets_from_args(build_parser().parse_args(shlex.split(command)[1:]))
    ((target,), _, _) = select_targets(paper, {})
    (want,) = target.datasets
    assert (made.key, made.fingerprint(), splits_key(made.describe()["protocol"])) == \
        (want.key, want.fingerprint(), splits_key(want.describe()["protocol"]))
    # a command that gives them itself is left as it is; a string that reads as a number stays a string
    entry = paper.datasets[0]
    from rwbench.reproduce import _dataset_flags
    assert _dataset_flags(entry, "rwbench train --tasks rhythm --dataset-option n_per_class=9 --dataset-option "
                                 "seconds=2 --dataset-option seed=1") == ""
    odd = SimpleNamespace(tasks=None, options={"k": "8"})
    assert _dataset_flags(odd, "rwbench train") == " --dataset-option 'k='\"'\"'8'\"'\"''"


@pytest.mark.parametrize("command, message", [
    ("rwbench train --dataset DATASET --frontends temporal_short --epochs twenty",
     r"trained\[0\] \(temporal_short\)\.command: the paper file's trained command .* is not one `rwbench train` reads: "
     r"argument --epochs: --epochs takes a positive int, got 'twenty'$"),
    ("rwbench run --dataset DATASET --frontends temporal_short --width WIDTH",
     r"is not one `rwbench train` reads: it starts 'rwbench run', not 'rwbench train'"),
    ("python -m rwbench train --frontends temporal_short", r"it starts 'python -m', not 'rwbench train'"),
    ("rwbench train --dataset DATASET --frontends piczak --width WIDTH",
     r"trained\[0\] \(temporal_short\)\.command: --frontends piczak trains \['piczak'\], not the entry's "
     r"\['temporal_short'\]; give --frontends temporal_short"),
    ("rwbench train --dataset DATASET --width WIDTH", r"--frontends .* not the entry's"),  # the default front-ends
])
def test_a_trained_command_that_is_not_the_entrys_training_is_refused_before_any_work(tmp_path, command, message):
    """A bad [[trained]] command failed only after the whole run (no table), with argparse's exit code "2" as the
    reason, or with a traceback for another subcommand; one training another front-end judged the entry's row."""
    from rwbench.reproduce_cli import check_trained_commands

    text = (TOY + TRAINED).replace(
        "rwbench train --dataset DATASET --frontends temporal_short --width WIDTH --epochs 20 --results RESULTS", command)
    with pytest.raises(PaperError, match=message):
        check_trained_commands(read_paper(toy_file(tmp_path, text)))


@pytest.mark.parametrize("change, message", [
    ((TRAINED, TRAINED.replace("[[published]]", TRAINED.split("\n\n")[0] + "\n\n[[published]]")),
     r"trained\[1\] \(temporal_short\): a second \[\[trained\]\] entry for 'temporal_short'; keep one"),
    ((TRAINED, TRAINED.replace("temporal_short", "mfcc")),
     r"trained\[0\] \(mfcc\): 'mfcc' has no weights to train; remove the entry"),
    (("[[published]]", TOY[TOY.index("[[datasets]]"):TOY.index("[[published]]")] + "[[published]]"),
     r"datasets: 'synthetic' has two \[\[datasets\]\] entries; keep one"),
    ((TRAINED, TRAINED.replace('where = "table"', 'where = "table"\nmetric = "roc_auc_macro"')
      .replace("unit = \"percent\"", "unit = \"fraction\"").replace("40.0", "0.91").replace("0.05", "0.005")),
     r"the published numbers of 'synthetic' are in accuracy and roc_auc_macro"),
])
def test_a_paper_file_that_shows_a_row_twice_or_in_two_scales_is_refused(tmp_path, change, message):
    """Two [[trained]] entries of one front-end (both rows judged against the last command), a weight-free one
    (whose hint `rwbench train` refuses), two entries of one dataset (every row twice) and one dataset's numbers in
    two metrics (a scale drawn at random per process without the data) were all accepted."""
    text = (TOY + TRAINED).replace(*change)
    assert text != TOY + TRAINED
    with pytest.raises(PaperError, match=message):
        read_paper(toy_file(tmp_path, text))


def test_a_weight_free_front_end_runs_under_a_first_tag_of_per_fold_weights(tmp_path):
    """weights = ["mst", "random"]: MFCC runs under the first tag, and waited for mst fold weights it never has
    (its row never run, the printed `rwbench pretrain mst --frontends mfcc` refused)."""
    from rwbench.pipeline import RunOptions
    from rwbench.reproduce import dry_run, select_targets, weight_groups

    text = (TOY.replace('frontends = ["mfcc"]', 'frontends = ["mst", "mfcc"]')
            .replace('weights = ["random"]', 'weights = ["mst", "random"]')
            .replace('source = "fixture"\nvalues', 'source = "fixture"\nweights = "mst"\nvalues'))
    paper = read_paper(toy_file(tmp_path, text))
    ((target,), _, _) = select_targets(paper, {})
    opts = RunOptions(width="small", seeds=[0], results_dir=tmp_path / "res", grid="study")
    groups, lines = weight_groups(paper, target, opts)
    assert [(tag, [s.name for s in specs]) for tag, specs in groups] == [("mst", ["mfcc"]), ("random", ["mst"])]
    (line,) = lines
    assert line.startswith("no mst weights of mst on synthetic")
    assert "## synthetic rhythm: mst weights" in dry_run(paper, [target], [BACKENDS.get("knn")], opts)


def test_the_reports_stale_hint_is_the_runs_whole_command_and_an_edited_paper_file_is_stale(tmp_path):
    """The report's "run `rwbench reproduce PAPER` again" gave neither the results folder nor the carried part's
    --data-root (nor width, seeds, grid, protocol): followed, the part was carried again, still stale. A corrected
    published value in the paper file went unnoticed."""
    import json
    import shlex

    from rwbench.analysis.reproduce_report import report_sections
    from rwbench.cli import build_parser
    from rwbench.pipeline import RunOptions
    from rwbench.reproduce import write_record

    file = toy_file(tmp_path)
    paper = read_paper(file)
    runs = tmp_path / "res" / "runs" / "synthetic__rhythm"
    runs.mkdir(parents=True)
    (result := runs / "mfcc__small__random__seed0__knn.json").write_text('{"a": 1}')
    row = {"dataset": "synthetic/rhythm", "paper_dataset": "synthetic", "frontend": "mfcc", "weights": "none",
           "backend": "knn", "metric": "accuracy", "mark": "=", "published": paper.published[0], "not_found": None,
           "at_hand": True, "partial": None, "seeds_asked": 1, "width": None,
           "honest": {"mean": 0.52, "low": 0.45, "high": 0.6, "seeds": 2, "skipped": 0}}
    opts = RunOptions(results_dir=tmp_path / "res", seeds=[0, 1], width="small", grid="study")
    write_record(paper, [row], "honest", [], opts, {"synthetic": tmp_path / "data"})
    absent = {**row, "dataset": "synthetic", "at_hand": False, "honest": None}
    record = json.loads(write_record(paper, [absent], "honest", [], opts).read_text())  # carried, with its root
    result.write_text('{"a": 2}')  # rerun since
    warning = report_sections(tmp_path / "res", draw=False)[0]["warning"]
    assert warning.startswith("Stale: the result files of the rows of synthetic (")
    command = re.search(r"run `([^`]*)` again to make it from them", warning).group(1)
    assert command == record["command"]
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert (args.paper, args.results, str(args.width), args.seeds, args.grid, args.protocol, args.data_root) == \
        (str(file.resolve()), (tmp_path / "res").resolve(), "small", [0, 1], "study", "honest",
         [f"synthetic={(tmp_path / 'data').resolve()}"])
    # the command as typed (its --partial, --frontends …), a carried part's root added
    typed = f"rwbench reproduce {file} --partial --frontends mfcc --backends knn --results {tmp_path / 'res'}"
    record = json.loads(write_record(paper, [absent], "honest", [], opts, command_line=typed).read_text())
    assert record["command"] == f"{typed} --data-root=synthetic={(tmp_path / 'data').resolve()}"
    # a part kept by an older rwbench has no root: the hint says to give it
    del record["parts"]["synthetic"]["root"], record["command"]
    (tmp_path / "res" / "reproduce" / "toy2019.json").write_text(json.dumps(record))
    assert f"run `rwbench reproduce {file.resolve()}` again with --data-root synthetic=PATH (where each dataset is)" \
        in report_sections(tmp_path / "res", draw=False)[0]["warning"]
    # results as they were, the paper file's published number corrected since: stale too
    result.write_text('{"a": 1}')
    write_record(paper, [row], "honest", [], opts, {"synthetic": tmp_path / "data"})
    assert report_sections(tmp_path / "res", draw=False)[0]["warning"] == ""
    file.write_text(TOY.replace("mfcc = 50.0", "mfcc = 55.0"))
    assert report_sections(tmp_path / "res", draw=False)[0]["warning"].startswith(
        f"Stale: the paper file {file} was edited since this table was made (")
