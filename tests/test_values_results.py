"""Result records pinned by value: the fold summary (unweighted mean, population std; one fold), the
score bounds a valid result keeps, the schema checks, upgrades of version 1 files, file names and row keys."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rwbench.errors import RwbenchError
from rwbench.results import (
    SCHEMA_VERSION,
    ResultRecord,
    RowKey,
    build_record,
    fold_weights_folder,
    iter_results,
    record_text,
    result_lock,
    result_path,
    result_problem,
    safe,
    schema_problem,
    summarise,
    upgrade,
    variant,
    write_result,
)


def fold(**metrics):
    return SimpleNamespace(metrics=metrics)


def test_summary_is_the_unweighted_mean_and_population_std():
    folds = [fold(accuracy=0.5, macro_f1=0.2), fold(accuracy=0.7, macro_f1=0.4), fold(accuracy=1.0, macro_f1=0.9)]
    out = summarise(folds)
    assert list(out) == ["accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std"]
    assert out["accuracy_mean"] == pytest.approx(2.2 / 3)
    # ddof 0: sqrt(((0.5 − m)² + (0.7 − m)² + (1.0 − m)²) / 3)
    m = 2.2 / 3
    assert out["accuracy_std"] == pytest.approx(math.sqrt(((0.5 - m) ** 2 + (0.7 - m) ** 2 + (1.0 - m) ** 2) / 3))
    assert out["macro_f1_mean"] == pytest.approx(0.5)


def test_one_fold_summary_is_its_score_with_zero_spread():
    assert summarise([fold(accuracy=0.8)]) == {"accuracy_mean": 0.8, "accuracy_std": 0.0}


def data(folds, task_type=None, version=SCHEMA_VERSION) -> dict:
    dataset = {"key": "toy", "skipped": []} | ({"task_type": task_type} if task_type else {})
    return {"schema_version": version, "seed": 0, "rwbench_version": "test", "git_sha": None, "created": "",
            "environment": {}, "run_key": "k", "device": "cpu", "summary": {}, "dataset": dataset,
            "frontend": {"name": "f", "input_kind": "waveform", "width": "small", "weights": "random",
                         "pooling": "mean", "feature_dim": 8, "params": 10},
            "backend": {"name": "svm"}, "folds": folds, "timings": {"embed_seconds_per_clip": 0.01}}


@pytest.mark.parametrize("value, valid", [(0.0, True), (1.0, True), (0.5, True), (1, True), (-0.001, False),
                                          (1.001, False), (float("nan"), False), (float("inf"), False), (True, False),
                                          ("0.5", False)])
def test_scores_must_be_finite_numbers_in_the_unit_interval(value, valid):
    problem = result_problem(data([{"name": "fold1", "accuracy": value}]))
    assert (problem is None) == valid, problem
    other = result_problem(data([{"name": "fold1", "accuracy": 0.5, "macro_f1": value}]))  # an optional metric too
    assert (other is None) == valid, other


def test_multilabel_results_need_their_primary_metric():
    assert result_problem(data([{"name": "fold1", "roc_auc_macro": 0.7}], task_type="multilabel")) is None
    assert "roc_auc_macro" in result_problem(data([{"name": "fold1", "accuracy": 0.7}], task_type="multilabel"))
    assert "task_type" in result_problem(data([{"name": "fold1", "accuracy": 0.7}], task_type="ranking"))
    assert result_problem(data([])) == "folds is empty"


def test_schema_problems_name_the_first_departure():
    schema = {"a": int, "b": {"c": (int, float)}, "d": [{"e": str}]}
    assert schema_problem({"a": 1, "b": {"c": 2.5}, "d": [{"e": "x"}, {"e": "y"}]}, schema) is None
    assert schema_problem({"a": True, "b": {"c": 1}, "d": []}, schema) == "a is True, not int"
    assert schema_problem({"a": 1, "b": {}, "d": []}, schema) == "b.c is missing"
    assert schema_problem({"a": 1, "b": {"c": 1}, "d": [{"e": "x"}, {"e": 3}]}, schema) == "d[1].e is 3, not str"
    assert schema_problem({"a": 1, "b": {"c": "1"}, "d": []}, schema) == "b.c is '1', not int or float"
    assert schema_problem([], schema) == "the file is list, not an object"


def test_version_one_is_upgraded_and_later_metrics_read_as_nan():
    old = data([{"name": "fold1", "accuracy": 0.6}], version=1)
    old["frontend"]["weights_files"] = ["w.safetensors"]
    new = upgrade(old)
    assert new["schema_version"] == SCHEMA_VERSION and new["upgraded_from"] == 1
    assert new["frontend"]["weights_file"] == ["w.safetensors"] and old["schema_version"] == 1
    record = ResultRecord.from_json(old)
    assert record.upgraded_from == 1 and record.folds[0]["accuracy"] == 0.6
    assert np.isnan(record.folds[0]["balanced_accuracy"]) and np.isnan(record.folds[0]["macro_f1"])
    assert "schema_version is 7" in result_problem(data([{"name": "fold1", "accuracy": 0.6}], version=7))


def test_file_names_variants_and_row_keys():
    frontend = {"name": "vgg", "pooling": "max", "precision": "bf16", "default_layers": False, "layers": ["c1", "c2"],
                "segment": {"seconds": 3.0, "hop": 1.5, "aggregate": "mean"}}
    assert variant(frontend) == "max,bf16,seg3s-hop1.5s-mean,c1+c2"
    assert variant({"pooling": "mean"}) == ""
    # two segment lengths equal to 6 significant digits get two names; the short form stays where it is exact
    close = [{"pooling": "mean", "segment": {"seconds": s, "hop": s, "aggregate": "mean"}} for s in (3.0000001, 3.0000002)]
    assert variant(close[0]) != variant(close[1]) and variant(close[0]).startswith("seg3.0000001s")
    assert safe("a/b c:d.e_f-1") == "a-b-c-d.e_f-1"
    path = result_path(Path("r"), dataset="gtzan/filtered", frontend="vgg", width=32, weights="random", seed=3,
                       backend="svm", variant="max")
    assert path == Path("r/runs/gtzan__filtered/vgg__32__random__seed3__svm__max.json")
    record = ResultRecord.from_json(data([{"name": "fold1", "accuracy": 0.6}]) | {
        "frontend": {"name": "vgg", "input_kind": "waveform", "width": "small", "weights": "random", "pooling": "max",
                     "feature_dim": 8, "params": 10}})
    assert record.key == RowKey("toy", "vgg[max]", "small", "random", "svm")
    assert RowKey.of_row({"dataset": "toy", "frontend": "vgg[max]", "width": "small", "weights": "random",
                          "backend": "svm"}) == record.key


def test_upgrade_keeps_a_weights_file_and_needs_no_weights_files():
    plain = upgrade(data([{"name": "fold1", "accuracy": 0.6}], version=1))
    assert "weights_file" not in plain["frontend"]
    both = data([{"name": "fold1", "accuracy": 0.6}], version=1)
    both["frontend"] |= {"weights_files": ["old"], "weights_file": "new"}
    assert upgrade(both)["frontend"]["weights_file"] == "new"


def built(training=None):
    folds = [SimpleNamespace(metrics={"accuracy": a}, fit_seconds=s,
                             to_dict=lambda a=a, i=i: {"name": f"fold{i}", "accuracy": a, "test_clips": [0, 1, 2]})
             for i, (a, s) in enumerate(((0.5, 1.5), (0.75, 2.0)), start=1)]
    frontend = dict.fromkeys(("filters", "seed", "init", "layers", "source", "weights_file", "weights_sha256",
                              "segment")) | {"name": "x", "input_kind": "waveform", "width": "small", "weights": "random",
                                             "pooling": "mean", "default_layers": True, "feature_dim": 8, "params": 10}
    backend = {"name": "svm", "grid": [], "grid_size": 1, "version": 1}
    return build_record(run_key="k", dataset={"key": "d", "skipped": []}, frontend=frontend, backend=backend, seed=2,
                        device="cpu", folds=folds, timings={"embed_seconds_per_clip": 0.1}, training=training)


def test_build_record_summary_fit_time_training_and_compact_lists():
    record = built(training={"epochs": 3})
    assert record.summary == {"accuracy_mean": 0.625, "accuracy_std": 0.125}
    assert record.timings == {"embed_seconds_per_clip": 0.1, "fit_seconds": 3.5}
    assert record.training == {"epochs": 3} and record.seed == 2 and record.device == "cpu"
    assert '"test_clips": [0,1,2]' in record_text(record)  # lists on one line, without spaces
    assert "training" not in built().to_json()


def test_iter_results_yields_valid_files_and_names_the_others(tmp_path):
    good = built()
    write_result(tmp_path / "runs" / "d" / "a.json", good)
    (tmp_path / "runs" / "d" / "b.json").write_text("{not json")
    bad = good.to_json() | {"folds": [{"name": "fold1", "accuracy": 2.0}]}
    (tmp_path / "runs" / "d" / "c.json").write_text(json.dumps(bad))
    invalid: list = []
    records = list(iter_results(tmp_path, invalid=invalid))
    assert [r.run_key for r in records] == ["k"] and records[0].summary == good.summary
    assert [Path(p).name for p, _ in invalid] == ["b.json", "c.json"]
    assert invalid[0][1].startswith("unreadable") and "not a score in [0, 1]" in invalid[1][1]
    with pytest.raises(RwbenchError, match="b.json is not a valid rwbench result"):
        list(iter_results(tmp_path, strict=True))


def test_the_lock_of_a_result_lives_under_dot_locks(tmp_path):
    with result_lock(tmp_path, tmp_path / "runs" / "d" / "a.json"):
        assert (tmp_path / ".locks" / "runs" / "d" / "a.lock").exists()


def test_git_sha_is_the_stripped_output_of_a_successful_rev_parse(monkeypatch):
    from rwbench import results

    def fake(returncode):
        def run(command, **kwargs):
            out = "0123abc\n" if kwargs.get("text") else b"0123abc\n"
            return subprocess.CompletedProcess(command, returncode, stdout=out, stderr="")
        return run

    monkeypatch.setattr(results.subprocess, "run", fake(0))
    assert results.git_sha.__wrapped__() == "0123abc"
    monkeypatch.setattr(results.subprocess, "run", fake(128))
    assert results.git_sha.__wrapped__() is None


def test_fold_weights_live_in_one_folder_per_front_end_instance():
    folder = fold_weights_folder(Path("r"), "trained", "gtzan/filtered", "vgg net", "small", 3)
    assert folder == Path("r") / "weights" / "trained" / "gtzan__filtered" / "vgg-net__small__seed3"


def test_a_current_file_is_read_as_it_is_and_an_invalid_one_is_refused():
    current = data([{"name": "fold1", "accuracy": 0.6}])
    assert upgrade(current) is current and "upgraded_from" not in upgrade(current)
    assert ResultRecord.from_json(current).upgraded_from is None
    with pytest.raises(RwbenchError, match=r"toy\.json is not a valid rwbench result: .*not a score in \[0, 1\]"):
        ResultRecord.from_json(data([{"name": "fold1", "accuracy": 1.5}]), where="toy.json")


def test_record_text_writes_an_empty_list_on_one_line():
    record = built()
    text = record_text(record)
    assert '    "skipped": []' in text.splitlines()  # not "[", "", "]" over three lines
    assert json.loads(text) == json.loads(json.dumps(record.to_json(), default=str))
