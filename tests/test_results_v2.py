"""Result record v2: v1 files upgraded on reading (every committed study file), optional secondary metrics, RowKey,
and the compact layout of per-clip outputs."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from rwbench.analysis import leaderboard
from rwbench.errors import RwbenchError
from rwbench.folds import FoldResult
from rwbench.results import (
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    ResultRecord,
    RowKey,
    build_record,
    iter_results,
    record_text,
    result_problem,
    upgrade,
)

STUDIES = Path(__file__).resolve().parents[1] / "studies"
STUDY_FILES = {"random-vs-trained": 137, "multilabel-esc10-mix": 28}


def _study_records(name: str) -> list[ResultRecord]:
    folder = STUDIES / name / "results"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return list(iter_results(folder, strict=True))  # strict: any file that does not load fails the test


@pytest.mark.parametrize("study", sorted(STUDY_FILES))
def test_every_committed_study_file_loads_and_gives_its_stored_means(study):
    records = _study_records(study)
    assert len(records) == STUDY_FILES[study]
    for record in records:
        assert record.schema_version == SCHEMA_VERSION and record.upgraded_from == 1
        metrics = [k.removesuffix("_mean") for k in record.summary if k.endswith("_mean")]
        assert metrics and all(m in record.folds[0] for m in metrics)
        for metric in metrics:
            values = [fold[metric] for fold in record.folds]
            assert float(np.mean(values)) == pytest.approx(record.summary[f"{metric}_mean"], abs=1e-12), metric
            assert float(np.std(values)) == pytest.approx(record.summary[f"{metric}_std"], abs=1e-12), metric
        if record.backend["name"] == "head":  # v1 trained rows named it weights_files: found under the v2 name
            assert record.frontend["weights_file"] == record.frontend["weights_files"]


def test_a_v1_file_is_upgraded_in_memory_and_never_rewritten(tmp_path):
    source = next((STUDIES / "random-vs-trained" / "results" / "runs").rglob("*__head.json"), None)
    if source is None:
        pytest.skip("no committed trained row")
    target = tmp_path / "runs" / "x" / source.name
    target.parent.mkdir(parents=True)
    text = source.read_text()
    target.write_text(text)
    data = json.loads(text)
    upgraded = upgrade(data)
    assert data["schema_version"] == 1 and "weights_file" not in data["frontend"]  # the input is left as it was
    assert upgraded["schema_version"] == SCHEMA_VERSION and upgraded["upgraded_from"] == 1
    (record,) = iter_results(tmp_path)
    assert record.frontend["weights_file"] == data["frontend"]["weights_files"]
    assert "upgraded_from" in record.to_json() and target.read_text() == text
    assert READABLE_VERSIONS == (1, 2)
    for version in (0, 3, "2", None):
        assert result_problem({**data, "schema_version": version}) == (
            f"schema_version is {version!r}, this rwbench reads 1, 2")
    with pytest.raises(RwbenchError, match="schema_version is 3"):
        upgrade({**data, "schema_version": 3})


def _v1_multiclass() -> dict:
    path = next(p for p in sorted((STUDIES / "random-vs-trained" / "results" / "runs").rglob("*__svm.json"))
                if "truth" in json.loads(p.read_text())["folds"][0])
    return json.loads(path.read_text())


def test_a_metric_added_later_is_optional_on_older_files_never_a_reason_to_drop_them(tmp_path):
    if not (STUDIES / "random-vs-trained").is_dir():
        pytest.skip("studies absent")
    data = _v1_multiclass()
    for fold in data["folds"]:  # as if macro_f1 had been added after this file was written
        del fold["macro_f1"]
    data["summary"] = {k: v for k, v in data["summary"].items() if not k.startswith("macro_f1")}
    assert result_problem(data) is None
    path = tmp_path / "runs" / "d" / "old.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    invalid: list = []
    (record,) = iter_results(tmp_path, invalid=invalid)
    assert not invalid
    assert all(math.isnan(f["macro_f1"]) for f in record.folds)  # absent reads as NaN, shown empty
    assert record.folds[0]["accuracy"] == data["folds"][0]["accuracy"]
    table = leaderboard.build([record])
    assert len(table) == 1 and math.isnan(table["macro_f1_mean"][0])
    assert table["accuracy_mean"][0] == pytest.approx(data["summary"]["accuracy_mean"], abs=1e-4)
    del data["folds"][0]["accuracy"]  # the primary metric stays required
    assert result_problem(data) == "folds[0].accuracy is missing"


def test_the_row_key_is_a_named_tuple_shared_by_the_leaderboard_and_the_report():
    records = _study_records("random-vs-trained")
    rows = leaderboard.rows_of_records(records)
    key = next(iter(rows))
    assert isinstance(key, RowKey) and isinstance(key, tuple) and len(key) == 5
    assert key[1] == key.frontend and key == tuple(key) and hash(key) == hash(tuple(key))
    assert all(RowKey.of(r) == k for k, rs in rows.items() for r in rs)
    assert {r.key for r in records} == set(rows)
    row = {"dataset": key.dataset, "frontend": key.frontend, "width": key.width, "weights": key.weights,
           "backend": key.backend, "rank": 1}
    assert RowKey.of_row(row) == key
    variants = [k for k in rows if "[" in k.frontend]
    assert all(k.frontend.split("[")[0] == rows[k][0].frontend["name"] for k in variants)


def _fold(name: str, n: int, n_classes: int, rng) -> FoldResult:
    from rwbench.folds import fold_result
    from rwbench.tasks import TASK_TYPES, Outputs

    truth = rng.integers(0, n_classes, n)
    scores = rng.normal(size=(n, n_classes)) * 3
    return fold_result(TASK_TYPES["multiclass"], name=name, n_train=4 * n, clips=np.arange(n), truth=truth,
                       n_classes=n_classes, outputs=Outputs(scores.argmax(1), scores, "decision_function"),
                       best_params={"C": 32.0}, selection_score=0.5, fit_seconds=1.0, grid_edge={"C": "high"})


def test_build_record_checks_its_sections_and_writes_per_clip_lists_on_one_line(tmp_path):
    rng = np.random.default_rng(0)
    folds = [_fold(f"fold{i}", 20, 5, rng) for i in range(1, 4)]
    frontend = {k: None for k in ("filters", "seed", "init", "layers", "source", "weights_file", "weights_sha256",
                                  "segment")} | {"name": "x", "input_kind": "waveform", "width": "small",
                                                 "weights": "random", "pooling": "mean", "default_layers": True,
                                                 "feature_dim": 8, "params": 10}
    backend = {"name": "svm", "grid": [{"C": [0.1, 32.0]}], "grid_size": 2, "version": 1}
    common = dict(run_key="k", dataset={"key": "d/t", "skipped": [], "classes": list("abcde")}, backend=backend,
                  seed=0, device="cpu", folds=folds, timings={"embed_seconds_per_clip": 0.1})
    record = build_record(frontend=frontend, **common)
    assert record.timings["fit_seconds"] == 3.0 and record.summary["accuracy_mean"] == pytest.approx(
        np.mean([f.accuracy for f in folds]))
    text = record_text(record)
    data = json.loads(text)
    assert ResultRecord.from_json(data).to_json() == data
    assert [FoldResult.from_dict(f).to_dict() for f in data["folds"]] == data["folds"]
    lines = text.splitlines()
    assert sum(line.strip().startswith('"scores": [[') for line in lines) == 3  # one line per fold
    assert len(lines) < 200
    assert data["folds"][0]["grid_edge"] == {"C": "high"} and data["folds"][0]["score_kind"] == "decision_function"
    with pytest.raises(RwbenchError, match=r"frontend section lacks \['weights_file'\]"):
        build_record(frontend={k: v for k, v in frontend.items() if k != "weights_file"}, **common)


def test_scores_are_stored_to_six_significant_digits():
    from rwbench.folds import round_scores

    assert round_scores(np.array([[1.23456789, -0.000123456789], [123456.789, 0.0]])).tolist() == [
        [1.23457, -0.000123457], [123457.0, 0.0]]


def test_a_setting_chosen_at_the_end_of_its_searched_values_is_flagged():
    from rwbench.backends import chosen_edges as grid_edges

    grid = [{"clf__kernel": ["rbf"], "clf__gamma": [0.5, 0.125, "scale"], "clf__C": [0.1, 2.0, 32.0]},
            {"clf__kernel": ["linear"], "clf__C": [0.1, 2.0, 32.0]}]
    assert grid_edges(grid, {"clf__kernel": "rbf", "clf__gamma": 0.125, "clf__C": 32.0}) == {
        "gamma": "low", "C": "high"}
    assert grid_edges(grid, {"clf__kernel": "rbf", "clf__gamma": "scale", "clf__C": 2.0}) == {}
    assert grid_edges(grid, {"clf__kernel": "linear", "clf__C": 0.1}) == {"C": "low"}
    assert grid_edges([{"estimator__clf__alpha": [1e-2, 1.0, 100.0]}], {"estimator__clf__alpha": 100.0}) == {
        "alpha": "high"}
    assert grid_edges([{"clf__n_neighbors": [5]}], {"clf__n_neighbors": 5}) == {}  # one value: no edge


def test_a_seed_found_twice_counts_once_and_the_copy_is_named(tmp_path, caplog):
    """A result copied into a subfolder of runs/ (an old/ backup) was a fourth seed of its row: the leaderboard's mean,
    seed count and ± seeds moved without a word."""
    source = next((STUDIES / "random-vs-trained-24" / "results" / "runs" / "esc10").glob("piczak__*__random__seed0__svm.json"),
                  None)
    if source is None:
        pytest.skip("no committed result to copy")
    row = tmp_path / "runs" / "esc10"
    (row / "old").mkdir(parents=True)
    shutil.copy(source, row / source.name)
    shutil.copy(source, row / "old" / source.name)
    changed = json.loads(source.read_text())
    (row / "old" / "another.json").write_text(json.dumps({**changed, "run_key": "other"}))
    invalid: list[tuple[str, str]] = []
    with caplog.at_level(logging.WARNING, logger="rwbench"):
        records = list(iter_results(tmp_path, invalid=invalid))
    assert len(records) == 1
    assert sorted(Path(p).name for p, _ in invalid) == ["another.json", source.name]
    problems = dict((Path(p).name, why) for p, why in invalid)
    assert f"also {row / source.name} (a copy: the same run key)" in problems[source.name]
    assert "another run key" in problems["another.json"]
    assert sum("a seed counts once" in r.getMessage() for r in caplog.records) == 2


def test_a_stale_copy_beside_the_row_s_own_folder_is_never_the_seed_read(tmp_path):
    """A backup folder sorting before the dataset's (runs/a_old/ < runs/esc10/) at the same depth was read, and the
    current file left out: the table showed the stale computation's accuracy."""
    source = next((STUDIES / "random-vs-trained-24" / "results" / "runs" / "esc10").glob("piczak__*__random__seed0__svm.json"),
                  None)
    if source is None:
        pytest.skip("no committed result to copy")
    (tmp_path / "runs" / "esc10").mkdir(parents=True)
    (tmp_path / "runs" / "a_old").mkdir()
    current = json.loads(source.read_text())
    stale = {**current, "run_key": "stale", "summary": {**current["summary"], "accuracy_mean": 0.1234}}
    (tmp_path / "runs" / "a_old" / source.name).write_text(json.dumps(stale))
    shutil.copy(source, tmp_path / "runs" / "esc10" / source.name)
    invalid: list[tuple[str, str]] = []
    (record,) = iter_results(tmp_path, invalid=invalid)
    assert record.run_key == current["run_key"] and record.summary["accuracy_mean"] == current["summary"]["accuracy_mean"]
    assert [Path(p).parent.name for p, _ in invalid] == ["a_old"]


def test_rows_of_one_backend_evaluated_with_another_grid_or_code_are_named_not_comparable(tmp_path):
    """The svm rows' ranks and paired tests set a row of the `study` grid (backend version 1) beside rows of `wide`
    without a word; only two seeds of one row evaluated differently were flagged."""
    runs = STUDIES / "random-vs-trained-24" / "results" / "runs" / "esc10"
    sources = [next(runs.glob(f"{name}__small__random__seed0__svm.json"), None) for name in ("piczak", "temporal")]
    if None in sources:
        pytest.skip("no committed results to copy")
    (tmp_path / "runs" / "esc10").mkdir(parents=True)
    for source in sources:
        shutil.copy(source, tmp_path / "runs" / "esc10" / source.name)
    assert leaderboard.load(tmp_path).attrs["mixed_data"] == []
    old = json.loads(sources[1].read_text())
    old["backend"] = {**old["backend"], "grid_name": "study", "version": 1}
    (tmp_path / "runs" / "esc10" / sources[1].name).write_text(json.dumps(old))
    table = leaderboard.load(tmp_path)
    (line,) = table.attrs["mixed_data"]
    assert line.startswith("esc10: svm's rows were evaluated differently: grid ") and "grid study, version 1: 1 row(s), " \
        "e.g. temporal random" in line, line
    assert "Not comparable" in leaderboard.to_markdown(table)


def test_a_v1_heads_folds_are_flagged_not_converged_by_todays_rule():
    """Version 1 kept a head's per-fold records as ``training = {fold: ...}`` and flagged none: read as they were, the
    leaderboard's ``not converged`` stayed empty for heads whose best epoch sat at the 30-epoch cap (deepfourier,
    best epochs 27–30 on all five folds)."""
    records = [r for r in _study_records("random-vs-trained") if r.backend["name"] == "head"]
    assert records
    flagged = 0
    for record in records:
        grid, folds = record.backend["grid"], record.training["folds"]
        assert set(folds) == {f"fold{i + 1}" for i in range(len(record.folds))} or folds  # one record per fold
        for fold in folds.values():
            cap, best = grid["epochs"], fold["best_epoch"]
            near = cap - best <= 0.1 * cap or cap - best < grid["patience"]
            assert fold["not_converged"] is near
            flagged += near
    table = leaderboard.load(STUDIES / "random-vs-trained" / "results")
    heads = table[table["backend"] == "head"]
    shown = {(r.dataset, r.frontend): r.not_converged for r in heads.itertuples()}
    assert shown[("esc10", "deepfourier")] == "10/10" and flagged == 58
    assert sum(int(v.split("/")[0]) for v in shown.values() if v) == flagged


def test_a_v2_head_and_a_v2_row_without_per_fold_training_are_left_as_they_are():
    assert upgrade({"schema_version": SCHEMA_VERSION, "training": {"fold1": {"best_epoch": 30}}})["training"] == {
        "fold1": {"best_epoch": 30}}
    v1 = {"schema_version": 1, "backend": {"grid": {"epochs": 30}}, "training": {"folds": {}}}
    assert upgrade(v1)["training"] == {"folds": {}}
