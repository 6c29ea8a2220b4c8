"""Leaderboards are derived from result files, and the three exports hold the same rows."""

import dataclasses
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import result_dicts
from toy import TINY, tone_dataset

from rwbench.analysis import leaderboard
from rwbench.backends import BACKENDS
from rwbench.cli import main
from rwbench.errors import RwbenchError
from rwbench.pipeline import RunOptions, run


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    opts = RunOptions(results_dir=root, device="cpu", workers=0, seeds=[0, 1])
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg"), BACKENDS.get("knn")], opts)
    return root


def markdown_rows(text):
    rows, dataset, header = [], None, None
    for line in text.splitlines():
        if line.startswith("### "):
            dataset, header = line[4:], None
        elif line.startswith("|") and not set(line) <= set("|-: "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            else:
                rows.append({"dataset": dataset, **dict(zip(header, cells))})
    return rows


def test_markdown_csv_and_json_hold_the_same_rows(results):
    table = leaderboard.load(results)
    csv_rows = pd.read_csv(io.StringIO(leaderboard.export(table, "csv")), dtype=str, keep_default_na=False)
    json_rows = json.loads(leaderboard.export(table, "json"))["rows"]
    md_rows = markdown_rows(leaderboard.export(table, "md"))
    assert len(csv_rows) == len(json_rows) == len(md_rows) == 2
    for csv_row, json_row, md_row in zip(csv_rows.to_dict("records"), json_rows, md_rows):
        by_seed = json_row.pop("fold_scores_by_seed")  # (seeds × folds): CSV and JSON only, too wide for Markdown
        assert json.loads(csv_row["fold_scores_by_seed"]) == by_seed and len(by_seed) == json_row["n_seeds"]
        folds = json_row.pop("fold_accuracies")  # a list in JSON, a string of numbers in CSV and Markdown
        assert [round(np.mean(fold), leaderboard.DECIMALS) for fold in zip(*by_seed)] == folds  # the table's precision
        assert folds == [float(v) for v in csv_row["fold_accuracies"].split()]
        for column in (c for c in leaderboard.COLUMNS if c not in ("fold_scores_by_seed", "fold_accuracies")):
            values = [csv_row[column], json_row[column], md_row[column]]
            try:
                numbers = [float(v) if v not in ("", None) else np.nan for v in values]
            except ValueError:
                assert len({str(v) for v in values}) == 1, (column, values)
            else:
                np.testing.assert_allclose(numbers, numbers[0], rtol=0, atol=1e-4, err_msg=column)


def test_rows_pool_seeds_and_rank_within_the_dataset(results):
    table = leaderboard.load(results)
    records = list(result_dicts(results))
    assert len(records) == 4 and set(table["n_seeds"]) == {2} and set(table["n_folds"]) == {4}
    for _, row in table.iterrows():
        accs = [f["accuracy"] for r in records if r["backend"]["name"] == row["backend"] for f in r["folds"]]
        assert row["accuracy_mean"] == pytest.approx(np.mean(accs), abs=1e-4)
        assert row["accuracy_std"] == pytest.approx(np.std(accs), abs=1e-4)
    assert sorted(table["rank"]) == sorted(table["accuracy_mean"].rank(ascending=False, method="min").astype(int))
    assert list(table.columns) == leaderboard.COLUMNS


@pytest.fixture(scope="module")
def two_frontends(tmp_path_factory):
    """Two rows per backend, so that every Markdown table carries its significance note."""
    root = tmp_path_factory.mktemp("lb2")
    wide = dataclasses.replace(TINY, name="tiny_wide", widths={"small": 8, "paper": 16})
    run([tone_dataset()], [TINY, wide], [BACKENDS.get("logreg")],
        RunOptions(results_dir=root, device="cpu", workers=0, seeds=[0]))
    return root


@pytest.mark.parametrize("fmt", ["md", "csv", "json"])
def test_columns_cut_every_format_and_keep_the_notes(two_frontends, fmt, capsys):
    assert main(["leaderboard", "--results", str(two_frontends), "--columns", "frontend,accuracy_mean",
                 "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "md":
        rows = markdown_rows(out)
        assert [set(r) for r in rows] == [{"dataset", "frontend", "accuracy_mean"}] * 2
        whole = leaderboard.export(leaderboard.load(two_frontends), "md")
        notes = whole[whole.index("Significance, per backend:"):]
        assert notes.startswith("Significance, per backend:\n- logreg: 2 rows") and out.endswith(notes)
    elif fmt == "csv":
        assert pd.read_csv(io.StringIO(out)).columns.tolist() == ["dataset", "frontend", "accuracy_mean"]
    else:
        assert [set(r) for r in json.loads(out)["rows"]] == [{"dataset", "frontend", "accuracy_mean"}] * 2


def test_an_unknown_column_is_named_in_every_format(two_frontends):
    table = leaderboard.load(two_frontends)
    for fmt in ("md", "csv", "json"):
        with pytest.raises(RwbenchError, match="unknown column 'acuracy_mean' \\(did you mean 'accuracy_mean'\\?\\)"):
            leaderboard.export(table, fmt, "frontend,acuracy_mean")


def test_missing_results_folder_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="does not exist; run `rwbench run` first"):
        leaderboard.load(tmp_path / "nowhere")


def test_skipped_files_are_counted_and_listed_under_the_table(tmp_path):
    from rwbench.errors import DataError

    ds = tone_dataset()
    ds.fail_on = {ds.clips[2].id: DataError("cannot decode low/002: truncated")}
    run([ds], [TINY], [BACKENDS.get("logreg")],
        RunOptions(results_dir=tmp_path, device="cpu", workers=0, skip_bad_audio=True))
    table = leaderboard.load(tmp_path)
    assert table["skipped"].tolist() == [1]
    assert "- skipped `low/002`: cannot decode low/002: truncated" in leaderboard.export(table, "md")


def _valid(results):
    return json.loads(next((results / "runs").rglob("*.json")).read_text())


MALFORMED = {
    "not JSON": lambda good: "{'single quotes': 1",
    "a JSON list": lambda good: "[1, 2, 3]",
    "another tool's JSON": lambda good: json.dumps({"model": "x", "score": 0.9}),
    "an older schema": lambda good: json.dumps({**good, "schema_version": 0}),
    "no folds": lambda good: json.dumps({**good, "folds": []}),
    "a NaN accuracy": lambda good: json.dumps({**good, "folds": [{**good["folds"][0], "accuracy": float("nan")}]}),
    "an accuracy above 1": lambda good: json.dumps({**good, "folds": [{**good["folds"][0], "accuracy": 1.5}]}),
    "a string seed": lambda good: json.dumps({**good, "seed": "0"}),
    "a missing backend": lambda good: json.dumps({k: v for k, v in good.items() if k != "backend"}),
    "binary bytes": lambda good: b"\x89PNG\r\n\x1a\n\x00\xff".decode("latin-1"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_result_file_is_skipped_by_name_or_refused_with_strict(results, tmp_path, case, caplog):
    import shutil

    from rwbench.cli import main

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    bad = copy / "runs" / "tones" / "zz_bad.json"
    bad.write_text(MALFORMED[case](_valid(results)), encoding="latin-1")
    table = leaderboard.load(copy)
    assert len(table) == 2, "the good results are all still there"
    assert f"skipping {bad}" in caplog.text
    for markdown in (leaderboard.export(table, "md"), leaderboard.to_summary(table)):  # not only a log line
        assert markdown.startswith("Left out of every table: 1 result file(s) that are not valid results:\n- ")
        assert str(bad) in markdown.split("###")[0]
    assert main(["leaderboard", "--results", str(copy), "--strict"]) == 2


def test_strict_error_names_the_file_and_the_field(results, tmp_path, capsys):
    import shutil

    from rwbench.cli import main

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    good = _valid(results)
    bad = copy / "runs" / "tones" / "zz_bad.json"
    bad.write_text(json.dumps({**good, "frontend": {**good["frontend"], "params": "many"}}))
    assert main(["leaderboard", "--results", str(copy), "--strict"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "frontend.params is 'many', not int" in err


def test_results_on_other_clips_or_protocols_are_named_and_ragged_seeds_are_an_error(results, tmp_path, caplog):
    """A copy of a result made on other clips (another fingerprint) and another protocol: the table keeps both rows
    and names the mix (warning, Markdown note, JSON metadata, report box); one row's seeds on different outer folds
    cannot be averaged: a clear error, never a traceback."""
    import shutil

    from rwbench.analysis.report import render

    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    knn = sorted(copy.rglob("*__knn.json"))  # the knn row's seeds, all on the other data
    for path in knn:
        data = json.loads(path.read_text())
        data["dataset"]["fingerprint"] = "0" * 16
        data["dataset"]["protocol"]["id"] = "tones/other-folds"
        path.write_text(json.dumps(data))
    with caplog.at_level("WARNING", logger="rwbench"):
        table = leaderboard.load(copy)
    (line,) = table.attrs["mixed_data"]
    assert line.startswith("tones: clips ") and re.search(
        rf"clips 0000000000000000, protocol tones/other-folds #[0-9a-f]{{8}}, outer fold\(s\) fold1 fold2 fold3 fold4 "
        rf"scored: {len(knn)} result\(s\), e\.g\. tiny random knn seed 0", line) and "not comparable" in caplog.text
    assert line.endswith("(they differ in clips, protocol id)")
    assert f"- {line}" in leaderboard.export(table, "md")
    assert json.loads(leaderboard.export(table, "json"))["metadata"]["not_comparable"] == [line]
    exported = pd.read_csv(io.StringIO(leaderboard.export(table, "csv")))  # a CSV has no notes: its rows tell them apart
    assert exported.loc[exported["backend"] == "knn", "data"].nunique() == 1
    assert exported.groupby(exported["backend"] == "knn")["data"].first().nunique() == 2
    assert '<div class="warning" id="mixed-data">' in render(copy, draw=False)
    assert leaderboard.load(results).attrs["mixed_data"] == []

    # one row's seeds on different protocols (a refit on 18 clips and one on 40): never one mean
    knn_seed1 = next(p for p in knn if "seed1__" in p.name)
    data = json.loads(knn_seed1.read_text())
    data["dataset"]["protocol"]["refit"] = "train+valid"
    knn_seed1.write_text(json.dumps(data))
    with pytest.raises(RwbenchError, match=r"tones tiny \(random, knn\): its seeds were scored on different clips or "
                                           r"protocols \(seed 0: .*; they differ in protocol refit\); a row averages"):
        leaderboard.load(copy)
    data["folds"] = data["folds"][:-1]  # seed 1 on one fold fewer than seed 0, declared (as `search --folds` does)
    data["dataset"]["protocol"]["outer_folds_scored"] = [f["name"] for f in data["folds"]]
    knn_seed1.write_text(json.dumps(data))
    with pytest.raises(RwbenchError, match=r"tones tiny \(random, knn\): its seeds were scored on different outer "
                                           r"folds \(seed 0: 4 folds, .*seed 1: 3 folds"):
        leaderboard.load(copy)
    assert main(["leaderboard", "--results", str(copy)]) == 2


def test_times_from_different_devices_are_labelled_never_averaged(results, tmp_path):
    """ms/clip measured on a GPU beside times measured on a CPU: each time names its device, a row whose seeds ran on
    both shows no mean, a note under the table says so (Markdown and report), CSV/JSON carry ``timing_device``."""
    import shutil

    from rwbench.analysis.report import render

    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    assert leaderboard.timing_note(leaderboard.load(copy)) == ""  # one device, no head rows: nothing to say
    assert set(leaderboard.load(copy)["timing_device"]) == {"cpu"}
    for path in copy.rglob("*.json"):  # logreg: both seeds on the GPU; knn: seed 1 on the GPU only
        data = json.loads(path.read_text())
        if data.get("backend", {}).get("name") == "logreg" or path.name.endswith("seed1__knn.json"):
            data["device"] = "cuda:0"
            data["timings"]["embed_seconds_per_clip"] = 1e-4
            path.write_text(json.dumps(data))
    table = leaderboard.load(copy)
    rows = table.set_index("backend")
    assert rows.loc["logreg", "timing_device"] == "cuda" and rows.loc["logreg", "embed_ms_per_clip"] == pytest.approx(0.1)
    assert rows.loc["knn", "timing_device"] == "mixed (cpu ×1, cuda ×1)" and np.isnan(rows.loc["knn", "embed_ms_per_clip"])
    md = leaderboard.export(table, "md")
    cells = {row["backend"]: row["ms/clip"] for row in markdown_rows(leaderboard.to_summary(table))}
    assert cells == {"logreg": "0.1 cuda", "knn": "mixed (cpu ×1, cuda ×1)"}
    note = "measured on more than one device: cuda (1 row), mixed (cpu ×1, cuda ×1) (1 row)"
    assert note in leaderboard.to_summary(table) and note in md and note in render(copy, draw=False)
    exported = {row["backend"]: row["timing_device"] for row in json.loads(leaderboard.export(table, "json"))["rows"]}
    assert exported == {"logreg": "cuda", "knn": "mixed (cpu ×1, cuda ×1)"}


def test_times_taken_with_different_thread_counts_are_said_to_be(results, tmp_path):
    """A Dask task embeds with its share of the cores (1 torch thread where a local run has 2): its ms/clip beside a
    local run's looked 2x slower with no word."""
    import shutil

    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    table = leaderboard.load(copy)
    assert set(table["timing_threads"]) == {str(torch.get_num_threads())}  # recorded by the run
    for path in (copy / "runs").rglob("*.json"):
        data = json.loads(path.read_text())
        data["timings"]["torch_threads"] = 1 if data["backend"]["name"] == "logreg" else 2
        path.write_text(json.dumps(data))
    note = leaderboard.timing_note(leaderboard.load(copy))
    assert "measured with different torch thread counts: 1 (1 row), 2 (1 row)" in note


def test_a_head_rows_time_is_said_to_be_a_forward_pass(results):
    table = leaderboard.load(results)
    one = table[table["backend"] == "knn"].assign(backend="head")
    both = pd.concat([one, table[table["backend"] == "logreg"]])
    assert leaderboard.timing_note(both).startswith("ms/clip: a head row times its trained network's forward pass")
    assert leaderboard.timing_note(one) == ""  # head rows only: nothing else to compare them with


def test_tiny_p_values_are_never_exported_as_zero(tmp_path, capsys):
    from test_significance import _board, record

    base = [0.80, 0.82, 0.78, 0.81, 0.79, 0.83, 0.80, 0.77, 0.84, 0.76, 0.82, 0.79]  # 12 folds
    rows = [record(f"fe{i}", [a - 0.03 * i for a in base]) for i in range(12)]
    table = _board(tmp_path, rows)
    friedman = float(table["friedman_p"].iloc[0])
    assert 0 < friedman < 1e-8
    md = leaderboard.export(table, "md", "frontend,friedman_p")  # Markdown: significant digits, not 0.0000
    assert f"{friedman:.4g}" in md and "0.0000" not in md
    csv = pd.read_csv(io.StringIO(leaderboard.export(table, "csv", "frontend,friedman_p")))
    assert csv["friedman_p"].iloc[0] == pytest.approx(friedman, rel=1e-3)
    order = [0, 1, 2, 3, 4, 6, 5, 7, 8, 10, 9, 11]  # ρ = 0.986: its large-sample p about 5e-9
    trained = [record(f"fe{i}", [a - 0.031 * order[i] for a in base], weights="trained", backend="head") for i in range(12)]
    _board(tmp_path / "both", rows + trained)
    assert main(["compare", "--results", str(tmp_path / "both"), "--format", "csv", "-o", str(tmp_path / "c.csv")]) == 0
    compared = pd.read_csv(tmp_path / "c.csv")
    assert 0 < compared["rank_corr_spearman_p"].iloc[0] < 1e-6, "compare's CSV kept the p of ρ over 12 rows"
    assert main(["compare", "--results", str(tmp_path / "both"), "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    board = json.loads(leaderboard.export(table, "json"))["rows"]  # 4 significant digits, not 10 decimal places
    assert board[0]["friedman_p"] == pytest.approx(friedman, rel=1e-3) and friedman < 1e-9
    assert exported["metadata"]["command"].startswith("rwbench compare --results")  # provenance, as the leaderboard's
    assert exported["metadata"]["results"] is not None
    assert 0 < exported["rows"][0]["rank_corr_spearman_p"] < 1e-6


def test_compact_markdown_and_report_flag_not_converged_and_grid_edge_rows(tmp_path):
    from test_significance import _board, record

    from rwbench.analysis.report import render

    rows = [record("a", [0.8] * 5), record("b", [0.7] * 5, weights="trained", backend="head")]
    rows[1] = dataclasses.replace(rows[1], training={"folds": {f"fold{i + 1}": {"not_converged": i < 2, "chosen_on": "fold1"}
                                                               for i in range(5)}})
    table = _board(tmp_path, rows)
    assert table.set_index("frontend")["selected_elsewhere"].to_dict() == {"a": "", "b": "4/5"}  # fold 1 chose on its own
    note = "Selection: 1 trained row(s) chose their learning rate and dropout on the first outer split's inner validation"
    assert note in leaderboard.to_summary(table) and note in leaderboard.export(table, "md")
    summary = leaderboard.to_summary(table)
    header, row_b = [line for line in summary.splitlines() if line.startswith("| ")][:2]
    assert "not converged" in header and "grid edge" in header
    shown = {r["frontend"]: r for r in markdown_rows(summary)}
    assert (shown["b"]["not converged"], shown["b"]["selected elsewhere"], shown["a"]["selected elsewhere"]) == (
        "2/5", "4/5", "")  # the note counts the flagged rows; the column says which
    assert "width" not in shown["a"] and "copy of" not in shown["a"]  # one width, no copies: not shown
    html = render(tmp_path, draw=False)
    assert "<th>not converged</th>" in html or "not converged</th>" in html
    assert ">2/5<" in html and note.split(" on the first")[0] in html


def test_an_output_that_cannot_be_written_whole_keeps_the_file_that_was_there(tmp_path):
    """On a full disk ``-o board.json`` was emptied, then left as a truncated JSON file; the text goes to stdout and
    the previous file stays (here the file-size limit of the process stands for the full disk)."""
    import resource
    import subprocess
    import sys

    from test_significance import _board, record

    _board(tmp_path, [record("a", [0.8, 0.7, 0.9]), record("b", [0.7, 0.6, 0.8])])
    board = tmp_path / "board.json"
    board.write_text('{"old": 1}')
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "leaderboard", "--results", str(tmp_path), "--format",
                           "json", "-o", str(board)], capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200)))
    assert done.returncode == 2 and "-o" in done.stderr and "cannot be written (File too large)" in done.stderr
    assert board.read_text() == '{"old": 1}' and json.loads(done.stdout)["rows"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".board")] == []  # no partial file left


def test_the_compact_markdown_names_widths_and_copies_where_a_dataset_has_several(tmp_path):
    """Two widths of piczak printed as two piczak lines told apart only by their numbers; a weight-free front-end's
    copy under another width printed as the same line twice."""
    from test_significance import record

    rows = [record("piczak", [0.8, 0.7, 0.9], width="small"), record("piczak", [0.9, 0.8, 0.9], width="paper"),
            *(record("mfcc", [0.6, 0.7, 0.6], width=w, weights="none", embedding_key="e") for w in ("small", "paper"))]
    folder = tmp_path / "runs" / "toy"
    folder.mkdir(parents=True)
    for i, r in enumerate(rows):
        (folder / f"{i}.json").write_text(json.dumps(r.to_json()))
    shown = markdown_rows(leaderboard.to_summary(leaderboard.load(tmp_path)))
    assert sorted((r["frontend"], r["width"], r["copy of"]) for r in shown) == [
        ("mfcc", "paper", "mfcc (small)"), ("mfcc", "small", ""), ("piczak", "paper", ""), ("piczak", "small", "")]


def test_a_transfer_row_older_than_its_training_record_takes_its_heads(tmp_path):
    """Transfer rows written before results carried ``frontend.training`` were flagged neither not_converged nor
    selected_elsewhere, beside a head of the same weights that was: rows of one kind flagged unevenly."""
    from test_significance import _board, record

    sha = {f"fold{i + 1}": f"{i}" * 64 for i in range(5)}
    folds = {f"fold{i + 1}": {"not_converged": i < 2, "chosen_on": "fold1"} for i in range(5)}
    head = record("b", [0.7] * 5, weights="trained", backend="head")
    head = dataclasses.replace(head, training={"folds": folds}, frontend={**head.frontend, "weights_sha256": sha})
    transfer = record("b", [0.8] * 5, weights="trained", backend="svm")
    transfer = dataclasses.replace(transfer, frontend={**transfer.frontend, "weights_sha256": sha})
    other = dataclasses.replace(transfer, frontend={**transfer.frontend, "name": "c"})  # no head of its weights
    table = _board(tmp_path, [record("a", [0.6] * 5), head, transfer, other]).set_index(["frontend", "backend"])
    assert table.loc[("b", "svm"), "not_converged"] == table.loc[("b", "head"), "not_converged"] == "2/5"
    assert table.loc[("b", "svm"), "selected_elsewhere"] == table.loc[("b", "head"), "selected_elsewhere"] == "4/5"
    assert table.loc[("c", "svm"), "not_converged"] == table.loc[("c", "svm"), "selected_elsewhere"] == ""


def test_compare_carries_the_not_converged_flag_of_the_trained_side(tmp_path, capsys):
    from test_significance import _board, record

    rows = [record(name, [a] * 5) for name, a in (("a", 0.8), ("b", 0.7), ("c", 0.6))]
    rows += [record(name, [a] * 5, weights="trained", backend="head") for name, a in (("a", 0.9), ("b", 0.6), ("c", 0.7))]
    # and chosen on fold 1's validation part: the table ρ is read from carried neither flag of the leaderboard
    rows[4] = dataclasses.replace(rows[4], training={"folds": {f"fold{i + 1}": {"not_converged": i < 2,
                                                                                 "chosen_on": "fold1"}
                                                               for i in range(5)}})
    _board(tmp_path, rows)
    assert main(["compare", "--results", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    row_b = next(r for r in text.splitlines() if "| b " in r)
    assert "| not converged" in text.splitlines()[2] and "| selected elsewhere" in text.splitlines()[2]
    assert [c.strip() for c in row_b.split("|")[-4:-1]] == ["2/5", "4/5", ""]  # not converged, elsewhere, grid edge
    assert ("1 of 3 trained rows hold folds × seeds whose best epoch sat within 10 % of the epoch cap or within the "
            "patience of it") in text
    assert main(["compare", "--results", str(tmp_path), "--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False).set_index("frontend")
    assert csv["trained_not_converged"].to_dict() == {"a": "", "b": "2/5", "c": ""}
    assert csv["trained_selected_elsewhere"].to_dict() == {"a": "", "b": "4/5", "c": ""}
    assert main(["compare", "b:random:svm", "b:trained:head", "--results", str(tmp_path)]) == 0
    assert "Not converged (folds × seeds whose best epoch sat within 10 % of the epoch cap or within the patience of it; " \
           "raise `--epochs`): b:trained:head 2/5." in capsys.readouterr().out


def test_a_pair_comparison_is_strict_json(tmp_path, capsys):
    from test_significance import _board, record

    a, b = record("a", [0.8] * 5), record("b", [0.7] * 5)
    for fold in b.folds:
        del fold["predicted"]  # a result made before per-clip outputs: the clip test is undefined
    _board(tmp_path, [a, b])
    assert main(["compare", "--results", str(tmp_path), "a", "b", "--test", "clips", "--format", "json"]) == 0
    text = capsys.readouterr().out
    out = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert out[0]["p"] is None


def test_means_equal_in_exact_arithmetic_tie_and_print_alike(tmp_path):
    """Six fold scores in two orders: 0.8174999999999999 and 0.8175000000000002 in floating point, one mean; both
    rows rank 1 and show the same digits (they printed 0.817 and 0.818 at one rank)."""
    from test_significance import _board, record

    scores = [0.8, 0.85, 0.75, 0.87, 0.82, 0.815]
    assert np.mean(scores) != np.mean(scores[1:3] + scores[:1] + scores[3:])
    table = _board(tmp_path, [record("a", scores, n_test=200), record("b", scores[1:3] + scores[:1] + scores[3:], n_test=200)])
    assert table["rank"].tolist() == [1, 1] and table["accuracy_mean"].nunique() == 1
    cells = {r["frontend"]: r["accuracy"] for r in markdown_rows(leaderboard.to_summary(table))}
    assert cells["a"] == cells["b"]


def test_a_pipe_in_a_name_does_not_shift_markdown_cells(tmp_path):
    from test_significance import _board, record

    table = _board(tmp_path, [record("pic|zak", [0.8] * 5), record("vgg", [0.7] * 5)])
    for markdown in (leaderboard.export(table, "md", "frontend,accuracy_mean,n_seeds"), leaderboard.to_summary(table)):
        lines = [line for line in markdown.splitlines() if line.startswith("| ")]
        cells = [len(re.split(r"(?<!\\)\|", line.strip().strip("|"))) for line in lines]
        assert len(set(cells)) == 1, lines  # every row as many cells as the header
        assert any("pic\\|zak" in line for line in lines)


def test_a_pair_compared_says_its_seeds_and_the_result_files_left_out(tmp_path, capsys):
    """Seed 1 of row a had a NaN fold: `compare a b` tested seed 0 alone and its Markdown, CSV and JSON said nothing
    (the leaderboard of the same folder lists the file); and a folder without runs/ read as "no dataset has both"."""
    from test_significance import _board, record

    _board(tmp_path, [record("a", [0.8, 0.7, 0.9], seed=0), record("a", [0.8, 0.7, 0.9], seed=1),
                      record("b", [0.7, 0.6, 0.8], seed=0)])
    (bad,) = (tmp_path / "runs" / "toy").glob("a__svm__1__*.json")
    data = json.loads(bad.read_text())
    data["folds"][1]["accuracy"] = None  # NaN in the file
    bad.write_text(json.dumps(data).replace("null", "NaN", 1))
    assert main(["compare", "--results", str(tmp_path), "a", "b"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Left out of every table: 1 result file(s) that are not valid results:\n- ") and bad.name in out
    assert "Seeds: a:random:svm 0; b:random:svm 0." in out
    assert main(["compare", "--results", str(tmp_path), "a", "b", "--format", "json"]) == 0
    (pair,) = json.loads(capsys.readouterr().out)
    assert pair["a_seeds"] == [0] and pair["b_seeds"] == [0] and pair["left_out"][0]["file"].endswith(bad.name)
    assert main(["compare", "--results", str(tmp_path), "a", "b", "--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert (csv.loc[0, "a_seeds"], csv.loc[0, "left_out_files"]) == (0, 1)
    assert main(["compare", "--results", str(tmp_path / "runs"), "a", "b"]) == 2
    assert "it is a results folder's runs/ itself; pass --results" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["leaderboard"], ["report", "-o", "{tmp}/page.html"], ["compare", "a", "b"]])
def test_tests_over_folds_of_a_single_split_are_refused_in_one_line(tmp_path, capsys, command):
    """`--test folds` on results of one outer split ended in scipy's traceback (exit 1)."""
    from test_significance import _board, record

    _board(tmp_path, [record("a", [0.8]), record("b", [0.7])])
    args = [arg.format(tmp=tmp_path) for arg in command[1:]]
    assert main([command[0], "--results", str(tmp_path), *args, "--test", "folds"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "rwbench: error: --test folds: these results have 1 outer fold(s) (a single split), and a test over folds needs "
        "at least 2; use --test clips (paired over its test clips) or auto")


def test_tests_over_clips_of_several_folds_are_not_said_to_be_of_a_single_split(tmp_path):
    from test_significance import _board, record

    _board(tmp_path, [record("a", [0.8, 0.7, 0.9]), record("b", [0.7, 0.6, 0.8])])
    summary = leaderboard.to_summary(leaderboard.load(tmp_path, regime="clips"))
    assert "svm: 2 rows (rows: random ×2) on 3 outer folds, tested over their clips: paired tests over 120 " \
           "test clips" in summary and "single split" not in summary, summary


def test_two_widths_of_one_front_end_are_compared_by_naming_them(tmp_path, capsys):
    """`compare` had no way to name a width: piczak at paper and at small width could never be paired."""
    from test_significance import _board, record

    _board(tmp_path, [record("a", [0.8, 0.7, 0.9], width="paper"), record("a", [0.7, 0.6, 0.8], width="small")])
    assert main(["compare", "--results", str(tmp_path), "a:random:svm", "a@small"]) == 2
    assert ("name one by its width (FRONTEND@WIDTH:WEIGHTS:BACKEND, e.g. a@paper:random:svm)"
            in capsys.readouterr().err)
    assert main(["compare", "--results", str(tmp_path), "a@paper:random:svm", "a@small", "--format", "json"]) == 0
    (pair,) = json.loads(capsys.readouterr().out)
    assert (pair["a"], pair["b"], pair["wins"]) == ("a@paper:random:svm", "a@small:random:svm", 3)
    # the exports carry the Markdown's figures: 0.8 − 0.7 is 0.10000000000000009 in floats
    assert pair["mean_difference"] == 0.1 and pair["a_scores"] == [0.8, 0.7, 0.9]
    assert main(["compare", "--results", str(tmp_path), "a@paper:random:svm", "a@small", "--format", "csv"]) == 0
    assert ",0.1," in capsys.readouterr().out


def test_a_pair_of_rows_whose_seeds_were_evaluated_differently_is_refused(tmp_path, capsys):
    from test_significance import _board, record

    seeds = [record("a", [0.8, 0.7, 0.9], seed=s) for s in (0, 1)]
    seeds[1] = dataclasses.replace(seeds[1], backend={"name": "svm", "grid_name": "old-grid", "version": 1})
    _board(tmp_path, [*seeds, record("b", [0.7, 0.6, 0.8])])
    assert main(["compare", "--results", str(tmp_path), "a", "b"]) == 2
    err = capsys.readouterr().err
    assert "its seeds were evaluated differently" in err and "grid old-grid" in err


def test_a_row_of_one_test_score_has_no_spread_rather_than_a_zero_one(tmp_path):
    """A single split run once (fault-filtered GTZAN, published weights) showed "0.556 ± 0.000": its spread over
    folds × seeds is undefined, as its seed columns already were."""
    from test_significance import _board, record

    _board(tmp_path, [record("a", [0.8]), record("b", [0.7, 0.6, 0.8])])
    table = leaderboard.load(tmp_path).set_index("frontend")
    assert np.isnan(table.loc["a", "accuracy_std"]) and table.loc["b", "accuracy_std"] == pytest.approx(np.std([0.7, 0.6, 0.8]))
    summary = leaderboard.to_summary(leaderboard.load(tmp_path))
    assert "0.800 ±" not in summary and "0.800" in summary


def test_a_pretrained_path_row_is_named_by_its_tag(tmp_path, capsys):
    """The tag of `--weights pretrained:PATH` is `pretrained:STEM@SHA`, colon and all: `compare` refused the spelling
    its own error listed (`a:pretrained:ts@3a1e2aeb:svm`), and `a` alone was ambiguous."""
    from test_significance import _board, record

    _board(tmp_path, [record("a", [0.8, 0.7, 0.9], weights="pretrained:ts@3a1e2aeb"), record("a", [0.7, 0.6, 0.8])])
    assert main(["compare", "--results", str(tmp_path), "a:pretrained:ts@3a1e2aeb:svm", "a:random:svm",
                 "--format", "json"]) == 0
    (pair,) = json.loads(capsys.readouterr().out)
    assert (pair["a"], pair["b"], pair["wins"]) == ("a:pretrained:ts@3a1e2aeb:svm", "a:random:svm", 3)
    assert main(["compare", "--results", str(tmp_path), "a:pretrained:ts@3a1e2aeb", "a:random", "--format",
                 "json"]) == 0  # the backend left out, as for any tag


def test_compare_refuses_a_head_beside_features_of_another_training(tmp_path, capsys):
    """A transfer row made before a retraining (other weights) was paired with the head and tested, unsaid, while the
    leaderboard, the ρ table and the report all said "Stale trained rows"."""
    import shutil
    from pathlib import Path

    study = Path(__file__).parents[1] / "studies/random-vs-trained-24/results/runs/esc10"
    runs = tmp_path / "runs" / "esc10"
    runs.mkdir(parents=True)
    shutil.copy(study / "piczak__small__trained__seed0__head.json", runs)
    svm = json.loads((study / "piczak__small__trained__seed0__svm.json").read_text())
    (runs / "piczak__small__trained__seed0__svm.json").write_text(json.dumps(svm))
    assert main(["compare", "--results", str(tmp_path), "piczak:trained:head", "piczak:trained:svm"]) == 0
    capsys.readouterr()
    svm["frontend"]["weights_sha256"] = {fold: "0" * 64 for fold in svm["frontend"]["weights_sha256"]}
    (runs / "piczak__small__trained__seed0__svm.json").write_text(json.dumps(svm))
    assert main(["compare", "--results", str(tmp_path), "piczak:trained:head", "piczak:trained:svm"]) == 2
    assert "compare: stale trained rows: esc10 piczak (trained, width small, seed 0)" in capsys.readouterr().err


def test_csv_and_json_round_a_halfway_mean_as_the_markdown_prints_it(tmp_path):
    """A mean of two ESC-10 seeds is K/800, often x.xxxx5 exactly: ``DataFrame.round`` wrote 0.7912 in CSV and JSON
    where the Markdown printed 0.7913 (study 24's piczak head; 33 cells of its table)."""
    study = Path(__file__).resolve().parents[1] / "studies" / "random-vs-trained-24" / "results" / "runs" / "esc10"
    sources = sorted(study.glob("piczak__small__trained__seed[01]__head.json"))
    if len(sources) != 2:
        pytest.skip(f"{study} lacks piczak's two trained seeds")
    (tmp_path / "runs" / "esc10").mkdir(parents=True)
    for source in sources:
        (tmp_path / "runs" / "esc10" / source.name).write_text(source.read_text())
    table = leaderboard.load(tmp_path)
    assert table["accuracy_mean"].iloc[0] == pytest.approx(0.79125, abs=1e-12)
    md = markdown_rows(leaderboard.export(table, "md", columns="frontend,accuracy_mean"))
    csv_rows = pd.read_csv(io.StringIO(leaderboard.export(table, "csv")), dtype=str)
    json_rows = json.loads(leaderboard.export(table, "json"))["rows"]
    assert md[0]["accuracy_mean"] == csv_rows["accuracy_mean"][0] == str(json_rows[0]["accuracy_mean"]) == "0.7913"
    p = pd.DataFrame({"p_vs_best": [0.000123456, 0.5, float("nan")]})
    assert leaderboard._rounded(p)["p_vs_best"].tolist()[:2] == [0.0001235, 0.5]


def _on_partial_copy(r, fingerprint="p" * 16):
    """``r`` as scored on a partial copy of its dataset: other clips under the same fold names."""
    info = {"partial": {"present": 392, "listed": 400, "missing_examples": ["1-100038-A-14.wav"]}}
    return dataclasses.replace(r, dataset={**r.dataset, "fingerprint": fingerprint, "info": info})


def test_a_row_on_other_clips_is_in_no_test_of_its_group(tmp_path):
    """Fold k of a partial copy holds other test clips than fold k of the full data: its row is ranked in the table
    but left out of the Wilcoxon tests, average ranks and Friedman of the rows on the data most rows have."""
    from scipy import stats
    from test_significance import _board, record

    folds = [0.80, 0.82, 0.78, 0.81, 0.79, 0.83, 0.80, 0.77]
    full = [record(name, [a - d for a in folds]) for name, d in (("a", 0.0), ("b", 0.1), ("c", 0.2))]
    part = _on_partial_copy(record("part", [a + 0.1 for a in folds]))  # the highest mean, on other clips
    table = _board(tmp_path, [*full, part]).set_index("frontend")
    assert table.loc["part", "rank"] == 1 and table.loc["part", "test_vs_best"] == leaderboard.OTHER_DATA
    assert table.loc["part", "vs_best"] == "untested" and np.isnan(table.loc["part", ["p_vs_best", "avg_rank"]]).all()
    assert table.loc["a", "vs_best"] == "best" and table.loc["a", "avg_rank"] == 1.0
    assert table.loc["c", "p_vs_best"] == pytest.approx(2 * 2 / 2 ** 8, abs=1e-6)  # Holm over b and c, not 3 rows
    scores = [[r.folds[i]["accuracy"] for i in range(8)] for r in full]
    assert table.loc["a", "friedman_p"] == pytest.approx(stats.friedmanchisquare(*scores).pvalue)
    assert np.isfinite(table.loc["part", ["ci_low", "ci_high"]].astype(float)).all()  # its own interval stays
    assert ("svm: 3 rows (rows: random ×3; 1 on other clips or another protocol, in no test: part) over 8 outer folds"
            in leaderboard.to_summary(leaderboard.load(tmp_path)))


def test_compare_says_which_side_is_on_a_partial_copy_in_every_format(tmp_path, capsys):
    """Random rows on a partial copy beside trained heads on the full data: the Markdown carries the partial-copy note,
    and every CSV/JSON row each side's partial_copy and data (a CSV has no notes)."""
    from test_significance import _board, record

    rows = [_on_partial_copy(record(name, [a] * 5)) for name, a in (("a", 0.8), ("b", 0.7), ("c", 0.6))]
    rows += [record(name, [a] * 5, weights="trained", backend="head") for name, a in (("a", 0.9), ("b", 0.6), ("c", 0.7))]
    _board(tmp_path, rows)
    out = tmp_path / "cmp.md"
    assert main(["compare", "--results", str(tmp_path), "-o", str(out)]) == 0
    assert ("Partial copy (--partial): 392 of 400 listed clips present (missing e.g. 1-100038-A-14.wav). These scores "
            "are not toy's") in out.read_text()
    assert main(["compare", "--results", str(tmp_path), "--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False).set_index("frontend")
    assert set(csv["random_partial_copy"]) == {"392 of 400 listed clips present (missing e.g. 1-100038-A-14.wav)"}
    assert set(csv["trained_partial_copy"]) == {""}
    board = leaderboard.load(tmp_path).set_index(["frontend", "weights"])
    for name in "abc":
        assert csv.loc[name, "random_data"] == board.loc[(name, "random"), "data"]
        assert csv.loc[name, "trained_data"] == board.loc[(name, "trained"), "data"]
    assert csv["random_data"].nunique() == csv["trained_data"].nunique() == 1
    assert csv["random_data"].iloc[0] != csv["trained_data"].iloc[0]
    columns = list(csv.reset_index().columns)
    assert columns[columns.index("trained_grid_edge") + 1:][:4] == [
        "random_partial_copy", "random_data", "trained_partial_copy", "trained_data"]
    assert main(["compare", "--results", str(tmp_path), "--format", "json"]) == 0
    (first, *_) = json.loads(capsys.readouterr().out)["rows"]
    assert first["random_partial_copy"].startswith("392 of 400") and first["trained_partial_copy"] == ""
