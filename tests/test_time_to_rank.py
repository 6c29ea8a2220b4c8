"""``benchmarks/time_to_rank.py``: its quick mode runs both pipelines end to end, and its agreement check counts (and
flags) differing settings and predictions. Nothing here is timed."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_rank.py"


@pytest.fixture(scope="module")
def ttr():
    spec = importlib.util.spec_from_file_location("time_to_rank", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folds):
    return {"runs": [{"dataset": "d", "frontend": "f", "backend": "svm", "decode": 1.0, "network": 2.0, "fit": 3.0,
                      "embed": 4.0, "folds": folds}]}


def _fold(name, params, predicted, clips):
    return {"name": name, "best_params": params, "predicted": predicted, "test_clips": clips}


def test_agreement_counts_settings_and_predictions_and_flags_differences(ttr):
    naive = _run([_fold("fold1", {"C": 8.0, "kernel": "rbf"}, [0, 1, 2], [0, 1, 2]),
                  _fold("fold2", {"C": 2.0, "kernel": "linear"}, [1, 1], [3, 4])])
    same = _run([_fold("fold1", {"C": 8, "kernel": "rbf"}, [0, 1, 2], [0, 1, 2]),
                 _fold("fold2", {"C": 2.0, "kernel": "linear"}, [1, 1], [3, 4])])
    (row,) = ttr.agreement(naive, same)
    assert (row["settings_agree"], row["folds"], row["predictions_agree"], row["clips"]) == (2, 2, 5, 5)
    other = _run([_fold("fold1", {"C": 8.0, "kernel": "rbf"}, [0, 2, 2], [0, 1, 2]),
                  _fold("fold2", {"C": 32.0, "kernel": "linear"}, [1, 1], [3, 4])])
    (row,) = ttr.agreement(naive, other)
    assert (row["settings_agree"], row["predictions_agree"]) == (1, 4)
    moved = _run([_fold("fold1", {"C": 8.0, "kernel": "rbf"}, [0, 1, 2], [0, 1, 5]),
                  _fold("fold2", {"C": 2.0, "kernel": "linear"}, [1, 1], [3, 4])])
    with pytest.raises(SystemExit, match="tested other clips"):
        ttr.agreement(naive, moved)
    with pytest.raises(SystemExit, match="no result"):
        ttr.agreement(naive, {"runs": []})


@pytest.mark.slow
def test_quick_mode_runs_both_pipelines_and_they_agree(tmp_path):
    out = tmp_path / "ttr"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--executors", "local", "--frontends",
                           "mfcc,logmel_stats", "-o", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    assert [(r["pipeline"], r["frontends"], r["paired"]) for r in report["phases"]] == [
        ("naive", 1, True), ("rwbench (local)", 1, True), ("rwbench (local)", 2, False)]
    assert report["phases"][2]["naive_wall_over_this"] is None  # other front-ends: no ratio
    every = report["every_frontend"]["local"]
    assert {r["frontend"] for r in every} == {"mfcc", "logmel_stats"}
    assert all(r["embed_s"] > 0 and r["svm_fit_s"] > 0 and r["elm_fit_s"] > 0 for r in every)
    rows = report["agreement"]["local"]
    assert {(r["frontend"], r["backend"]) for r in rows} == {("mfcc", "svm"), ("mfcc", "elm")}
    for r in rows:  # the same grid under the same nested CV on the same features: the same choices
        assert r["settings_agree"] == r["folds"] == 5 and r["predictions_agree"] == r["clips"] == 50
    text = out.with_suffix(".md").read_text()
    assert "| naive | 1 (naive's) |" in text and "Every front-end, rwbench (local)" in text


def test_unknown_front_end_is_named(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--naive-frontends", "no_such_net", "-o",
                           str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no_such_net" in done.stderr
