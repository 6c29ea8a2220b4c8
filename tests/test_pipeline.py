"""embed → evaluate → results: reuse, seeds, provenance (on the toy front-end and dataset)."""

import json
import re
import shutil

import numpy as np
import pytest
from conftest import result_dicts
from toy import TINY, tone_dataset

from rwbench.analysis.leaderboard import load
from rwbench.backends import BACKENDS
from rwbench.pipeline import RunOptions, run


@pytest.fixture
def opts(tmp_path):
    return RunOptions(results_dir=tmp_path / "results", device="cpu", workers=0)


def test_a_rerun_recomputes_nothing_and_a_new_backend_reuses_the_embeddings(opts):
    ds = tone_dataset()
    first = run([ds], [TINY], [BACKENDS.get("logreg")], opts)
    assert (first.embedded, first.evaluated) == (1, 1)
    ds.decoded.clear()
    again = run([ds], [TINY], [BACKENDS.get("logreg")], opts)
    assert (again.embedded, again.cached, again.evaluated, again.reused) == (0, 0, 0, 1) and ds.decoded == []
    more = run([ds], [TINY], [BACKENDS.get("logreg"), BACKENDS.get("knn")], opts)
    assert (more.embedded, more.cached, more.evaluated, more.reused) == (0, 1, 1, 1) and ds.decoded == []
    shutil.rmtree(opts.cache_root)  # result files without the cache (another machine): nothing is embedded again
    moved = run([ds], [TINY], [BACKENDS.get("logreg"), BACKENDS.get("knn")], opts)
    assert (moved.embedded, moved.cached, moved.reused) == (0, 0, 2) and ds.decoded == []


def test_same_seed_same_scores_other_seed_other_weights(opts, tmp_path):
    ds = tone_dataset()
    run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(**{**opts.__dict__, "seeds": [0, 1]}))
    again = RunOptions(**{**opts.__dict__, "results_dir": tmp_path / "again", "seeds": [0]})
    run([ds], [TINY], [BACKENDS.get("logreg")], again)
    a = {r["seed"]: r for r in result_dicts(opts.results_dir)}
    b = {r["seed"]: r for r in result_dicts(again.results_dir)}
    assert a[0]["folds"] == [{**f, "fit_seconds": a[0]["folds"][i]["fit_seconds"]} for i, f in enumerate(b[0]["folds"])]
    assert a[0]["frontend"]["seed"] == 0 and a[1]["frontend"]["seed"] == 1
    assert a[0]["frontend"]["embedding_key"] != a[1]["frontend"]["embedding_key"]
    f0 = np.load(next((opts.results_dir / "embeddings").rglob(f"{a[0]['frontend']['embedding_key']}/features.npy")))
    f1 = np.load(next((opts.results_dir / "embeddings").rglob(f"{a[1]['frontend']['embedding_key']}/features.npy")))
    assert not np.allclose(f0, f1)


def test_result_record_has_provenance_and_per_fold_scores(opts):
    ds = tone_dataset()
    log = run([ds], [TINY], [BACKENDS.get("svm")], opts)
    record = json.loads(log.results[0].read_text())
    for field in ("schema_version", "rwbench_version", "git_sha", "environment", "run_key", "device", "timings"):
        assert field in record
    assert record["environment"]["packages"]["torch"] and record["environment"]["packages"]["scikit-learn"]
    protocol = dict(record["dataset"]["protocol"])
    assert len(protocol.pop("assignment_sha256")) == 64  # which clip is in which fold
    assert protocol == {"id": "tones-folds", "kind": "predefined_folds", "folds": [1, 2, 3, 4]}
    assert [f["name"] for f in record["folds"]] == ["fold1", "fold2", "fold3", "fold4"]
    assert {"C", "kernel"} <= set(record["folds"][0]["best_params"])
    assert record["frontend"]["feature_dim"] == TINY.dim("small") and record["frontend"]["params"] > 0
    assert record["summary"]["accuracy_mean"] == pytest.approx(np.mean([f["accuracy"] for f in record["folds"]]))
    assert record["summary"]["accuracy_mean"] > 0.9  # tones at 300/900/2000 Hz are easy


def test_skipped_clips_are_recorded_in_the_result(opts):
    from rwbench.errors import DataError

    ds = tone_dataset()
    ds.fail_on = {ds.clips[4].id: DataError("cannot decode low/004: truncated")}
    log = run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(**{**opts.__dict__, "skip_bad_audio": True}))
    record = json.loads(log.results[0].read_text())
    assert record["dataset"]["skipped"] == [{"clip": "low/004", "reason": "cannot decode low/004: truncated"}]
    assert sum(f["n_test"] for f in record["folds"]) == len(ds.clips) - 1


def test_segment_and_aggregate_embeds_windows_and_scores_clips(opts):
    from rwbench.audio import n_segments

    ds = tone_dataset()
    segmented = RunOptions(**{**opts.__dict__, "segment": 0.1, "hop": 0.05})
    records = {}
    for aggregate in ("mean", "majority", "probability"):
        log = run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(**{**segmented.__dict__, "aggregate": aggregate}))
        records[aggregate] = json.loads(log.results[0].read_text())
        assert log.embedded == (1 if aggregate == "mean" else 0), "the aggregation reuses the window embeddings"
    entry = next((opts.results_dir / "embeddings").rglob("clip_index.npy")).parent
    clip_index = np.load(entry / "clip_index.npy")
    windows = n_segments(2000, 800, 400)  # 0.25 s clips, 0.1 s windows, 0.05 s hop, at 8 kHz
    assert np.array_equal(clip_index, np.repeat(np.arange(len(ds.clips)), windows))
    for aggregate, record in records.items():
        assert record["frontend"]["segment"] == {"seconds": 0.1, "hop": 0.05, "aggregate": aggregate,
                                                 "last_window": "ends at the clip's end", "silent_windows": "dropped"}
        assert sum(f["n_test"] for f in record["folds"]) == len(ds.clips), "scored per clip, not per window"
        assert record["summary"]["accuracy_mean"] > 0.9
    assert len({r["run_key"] for r in records.values()}) == 3


class Gapped(type(tone_dataset())):
    """Tones whose clip ``low/000`` is silent over ``silent`` (a slice of its samples at the asked rate's tenths)."""

    silent = slice(1, 2)

    def load_audio(self, clip, sample_rate):
        audio = super().load_audio(clip, sample_rate)
        if clip.id == "low/000":
            tenth = sample_rate // 10
            audio[self.silent.start * tenth:self.silent.stop * tenth] = 0.0
        return audio


def gapped(silent: slice) -> Gapped:
    base = tone_dataset()
    ds = Gapped(name="tones", task=None, clips=base.clips, protocol=base.protocol, seconds=0.25)
    ds.decoded, ds.fail_on, ds.silent = [], {}, silent
    return ds


@pytest.mark.parametrize("aggregate", ["mean", "majority", "probability"])
def test_windows_of_digital_silence_are_not_embedded(opts, aggregate):
    """A clip silent over 0.1-0.2 s: its window [0.1, 0.2) held no signal yet carried the clip's label into the mean,
    and a vote; it is not embedded (the clip keeps its three other windows, and is scored), and the last window of a
    clip that windows do not tile ends at the clip's end instead of being zero-padded."""
    from rwbench.clips import ClipAudio
    from rwbench.embed_job import EmbedJob

    ds = gapped(slice(1, 2))
    _, windows, error = ClipAudio(EmbedJob(ds, TINY, segment=0.1, hop=0.05))[0]
    audio = ds.load_audio(ds.clips[0], TINY.sample_rate)
    assert error is None and [w[0] for w in windows.numpy()] == [audio[0], audio[400], audio[1200]]
    _, untiled, _ = ClipAudio(EmbedJob(ds, TINY, segment=0.15))[1]  # 0.25 s in windows of 0.15 s: 0-0.15, 0.1-0.25
    np.testing.assert_array_equal(untiled.numpy()[1], ds.load_audio(ds.clips[1], TINY.sample_rate)[-1200:])

    log = run([ds], [TINY], [BACKENDS.get("logreg")],
              RunOptions(**{**opts.__dict__, "segment": 0.1, "hop": 0.05, "aggregate": aggregate}))
    clip_index = np.load(next((opts.results_dir / "embeddings").rglob("clip_index.npy")))
    assert np.bincount(clip_index).tolist() == [3] + [4] * (len(ds.clips) - 1)
    record = json.loads(log.results[0].read_text())
    assert sum(f["n_test"] for f in record["folds"]) == len(ds.clips) and record["dataset"]["skipped"] == []


@pytest.mark.parametrize("aggregate", ["mean", "majority"])
def test_a_clip_whose_every_window_is_silent_is_named_never_dropped(opts, aggregate):
    """A loader of its own returning zeros (the files' reader refuses a file of none): with --segment every window
    was dropped and the clip vanished — an IndexError under mean, and under a vote a fold scored without it while
    the result counted it. It is the unsegmented path's error now, or with --skip-bad-audio a named skipped clip."""
    from rwbench.errors import DataError

    ds = gapped(slice(0, 3))  # 0.25 s: all of it
    segmented = {**opts.__dict__, "segment": 0.1, "hop": 0.05, "aggregate": aggregate}
    with pytest.raises(DataError, match=r"low/000: every 0\.1-s window is digital silence"):
        run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(**segmented))
    log = run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(**{**segmented, "skip_bad_audio": True}))
    record = json.loads(log.results[0].read_text())
    assert [s["clip"] for s in record["dataset"]["skipped"]] == ["low/000"]
    assert sum(f["n_test"] for f in record["folds"]) == len(ds.clips) - 1


def test_votes_count_windows_per_clip():
    from rwbench.evaluate import VOTES

    class Fixed:
        classes_ = np.array([0, 1, 2])

        def predict(self, X):
            return X[:, 0].astype(int)

        def decision_function(self, X):
            return X[:, 1:]

    # clip 0: windows predict 2, 2, 1 → 2; clip 1: 0, 1, a tie settled by the mean decision values [0.5, 1, 0] → 1
    X = np.array([[2, 0, 0, 1], [2, 0, 0, 1], [1, 0, 5, 0], [0, 1, 0, 0], [1, 0, 2, 0]], float)
    y, clips = np.array([2, 2, 2, 1, 1]), np.array([0, 0, 0, 1, 1])
    predicted, truth = VOTES["majority"](Fixed(), X, y, clips, 3)
    assert predicted.tolist() == [2, 1] and truth.tolist() == [2, 1]
    predicted, _ = VOTES["probability"](Fixed(), X, y, clips, 3)  # summed scores: [0, 5, 2] and [1, 2, 0]
    assert predicted.tolist() == [1, 1]


@pytest.mark.parametrize("field, value, problem", [
    ("pooling", "median", "pooling 'median' is not one of ['mean', 'mean_std', 'max']"),
    ("aggregate", "vote", "aggregate 'vote' is not one of"),
    ("device", "tpu", "device 'tpu' is not one of ['auto', 'cpu', 'cuda']"),
    ("seeds", [], "seeds [] must be distinct integers from 0 to 2^31 − 1"),
    ("seeds", [1, 1], "seeds [1, 1] must be distinct"),
    ("segment", float("nan"), "segment nan must be a positive number of seconds"),
    ("hop", 0.0, "hop 0.0 must be a positive number of seconds"),
    ("batch_size", 0, "batch_size 0 must be at least 1"),
    ("init", "glorot", "init 'glorot' is not one of ['he_normal', 'he_uniform', 'xavier_normal', 'xavier_uniform'"),
])
def test_run_options_refuse_a_closed_choice_they_do_not_know(field, value, problem):
    from rwbench.errors import RwbenchError

    with pytest.raises(RwbenchError, match=re.escape(problem)):
        RunOptions(**{field: value})


def test_a_reduced_precision_result_stands_beside_the_fp32_one(opts):
    ds = tone_dataset()
    full = run([ds], [TINY], [BACKENDS.get("logreg")], opts)
    half = run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(**{**opts.__dict__, "precision": "bf16"}))
    assert (half.embedded, half.evaluated) == (1, 1) and half.results[0] != full.results[0]
    assert half.results[0].name.endswith("__bf16.json")
    records = {r["frontend"].get("precision", "fp32"): r for r in result_dicts(opts.results_dir)}
    assert set(records) == {"fp32", "bf16"}
    assert records["bf16"]["frontend"]["embedding_key"] != records["fp32"]["frontend"]["embedding_key"]
    assert {f"{TINY.name}", f"{TINY.name}[bf16]"} <= set(load(opts.results_dir)["frontend"])


def test_another_init_is_a_row_of_its_own_with_its_weights_drawn_from_it(opts):
    """--init xavier_uniform: other random weights (bounded by Glorot's limit), another cache entry and result file,
    shown as tiny[init=xavier_uniform] beside the default row; naming the front-end's own init is the default row."""
    import math

    import torch

    from rwbench.frontend import Embedder

    ds = tone_dataset()
    default = run([ds], [TINY], [BACKENDS.get("logreg")], opts)
    xavier = run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(**{**opts.__dict__, "init": "xavier_uniform"}))
    assert (xavier.embedded, xavier.evaluated) == (1, 1) and xavier.results[0].name.endswith("__init-xavier_uniform.json")
    same = run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(**{**opts.__dict__, "init": TINY.init}))
    assert (same.embedded, same.evaluated, same.reused) == (0, 0, 1) and same.results == default.results
    records = {r["frontend"]["init"]: r["frontend"] for r in result_dicts(opts.results_dir)}
    assert set(records) == {"he_normal", "xavier_uniform"} and records["he_normal"]["default_init"]
    assert records["xavier_uniform"]["embedding_key"] != records["he_normal"]["embedding_key"]
    assert set(load(opts.results_dir)["frontend"]) == {"tiny", "tiny[init=xavier_uniform]"}

    convs = [m for m in Embedder(TINY, init="xavier_uniform").net.modules() if isinstance(m, torch.nn.Conv1d)]
    he = [m for m in Embedder(TINY).net.modules() if isinstance(m, torch.nn.Conv1d)]
    for conv, other in zip(convs, he):
        fan_in, fan_out = conv.weight[0].numel(), conv.weight.shape[0] * conv.weight[0, 0].numel()
        assert conv.weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out)) + 1e-7
        assert not torch.equal(conv.weight, other.weight)


def test_init_without_random_weights_is_refused():
    from rwbench.errors import RwbenchError

    with pytest.raises(RwbenchError, match=r"--init he_uniform draws random weights, and none are asked for "
                                           r"\(--weights dsp\): add random"):
        RunOptions(weights=["dsp"], init="he_uniform")


# -- an interrupted evaluation resumes from its finished outer folds -----------------------------------------------
KILLED_IN_FOLD_3 = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from toy import TINY, tone_dataset
from rwbench import evaluate
from rwbench.backends import BACKENDS
from rwbench.pipeline import RunOptions, run

original = evaluate.evaluate_split
def evaluate_split(X, y, split, *args, **kwargs):
    if split.name == "fold3":
        os.kill(os.getpid(), signal.SIGKILL)  # no handler, no cleanup: as `kill -9`
    return original(X, y, split, *args, **kwargs)
evaluate.evaluate_split = evaluate_split
run([tone_dataset()], [TINY], [BACKENDS.get("logreg")],
    RunOptions(results_dir=Path({results!r}), cache_dir=Path({cache!r}), device="cpu", workers=0))
"""


def _folds_without_times(results_dir):
    (record,) = result_dicts(results_dir)
    return [{k: v for k, v in fold.items() if k != "fit_seconds"} for fold in record["folds"]]


def scored_splits(monkeypatch) -> list[str]:
    """The names of the outer splits evaluated from now on, in order (evaluate_split still runs)."""
    from rwbench import evaluate

    scored: list[str] = []
    original = evaluate.evaluate_split
    monkeypatch.setattr(evaluate, "evaluate_split", lambda X, y, split, *a, **k: scored.append(split.name)
                        or original(X, y, split, *a, **k))
    return scored


def test_a_killed_evaluation_resumes_from_its_scored_folds_to_the_same_result(tmp_path, monkeypatch, caplog):
    import signal
    import subprocess
    import sys
    from pathlib import Path


    results, cache = tmp_path / "results", tmp_path / "cache"
    code = KILLED_IN_FOLD_3.format(tests=str(Path(__file__).parent), results=str(results), cache=str(cache))
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    partial = results / ".partial"
    assert sorted(p.name for p in partial.rglob("*.json")) == ["fold1.json", "fold2.json"]
    assert not list((results / "runs").rglob("*.json"))  # no result file from a run that did not finish

    scored = scored_splits(monkeypatch)
    opts = RunOptions(results_dir=results, cache_dir=cache, device="cpu", workers=0)
    with caplog.at_level("INFO", logger="rwbench.evaluate"):
        assert run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts).evaluated == 1
    assert scored == ["fold3", "fold4"]
    assert any("2 of 4 outer folds already scored" in r.getMessage() for r in caplog.records)
    assert not partial.exists() or not list(partial.rglob("*.json"))  # cleared once the result is written

    fresh = RunOptions(results_dir=tmp_path / "fresh", cache_dir=cache, device="cpu", workers=0)
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], fresh)
    assert _folds_without_times(results) == _folds_without_times(fresh.results_dir)


def test_stale_or_unreadable_scored_folds_are_computed_again_and_force_starts_over(opts, monkeypatch, caplog):
    from rwbench.folds import FoldResult
    from rwbench.results import FoldStore

    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    (path,) = (opts.results_dir / "runs").rglob("*.json")
    fold = FoldStore(opts.results_dir, path, json.loads(path.read_text())["run_key"])
    record = json.loads(path.read_text())
    path.unlink()  # as if the run had stopped before writing its result
    fold.put(FoldResult.from_dict(record["folds"][0]))
    stale = FoldStore(opts.results_dir, path, "another run key")
    stale.put(FoldResult.from_dict(record["folds"][1]))
    assert fold.folder == stale.folder and fold.get("fold2") is None  # written under another key: not reused
    (fold.folder / "fold3.json").write_text("{not json")
    # fold 1 copied under fold 4's name, and one without its metric: every rerun stopped ("scores outer fold fold1
    # more than once", "folds[0].accuracy is missing"), naming no file
    (fold.folder / "fold4.json").write_bytes((fold.folder / "fold1.json").read_bytes())
    scored = scored_splits(monkeypatch)
    with caplog.at_level("WARNING", logger="rwbench.results"):
        run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert scored == ["fold2", "fold3", "fold4"]  # fold1 reused; the stale, corrupted and misnamed ones computed again
    assert any("fold3.json is unreadable" in r.getMessage() for r in caplog.records)
    assert any("fold4.json is unreadable or not fold4's" in r.getMessage() for r in caplog.records)
    path.unlink()
    fold.put(FoldResult.from_dict({k: v for k, v in record["folds"][0].items() if k != "accuracy"}))
    scored.clear()
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert scored == ["fold1", "fold2", "fold3", "fold4"]

    fold.put(FoldResult.from_dict(record["folds"][0]))
    scored.clear()
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], RunOptions(**{**opts.__dict__, "force": True}))
    assert scored == ["fold1", "fold2", "fold3", "fold4"]  # --force recomputes every fold


def test_a_front_end_without_seeded_weights_is_one_row_seed_whatever_the_seed_lists(tmp_path):
    """`--seeds 0,1,2` then `--seeds 1,2`: logmel_stats (no weights) was evaluated with each run's first seed, so its
    row gained a second "seed" that was a copy of the first (± seeds 0.0)."""
    from rwbench.frontend import FRONTENDS

    spec = FRONTENDS.get("logmel_stats")
    for seeds in ([0, 1, 2], [1, 2]):
        run([tone_dataset()], [spec], [BACKENDS.get("logreg")],
            RunOptions(results_dir=tmp_path, device="cpu", workers=0, seeds=seeds))
    assert [r["seed"] for r in result_dicts(tmp_path)] == [0]
    (row,) = load(tmp_path).itertuples()
    assert row.n_seeds == 1


def test_float32_on_cuda_turns_tf32_off_and_leaves_the_cpu_alone():
    """torch lets cuDNN run float32 convolutions in TF32 by default; an fp32 embedding on CUDA must not (checked on
    the flags: this machine may have no GPU)."""
    import torch

    from rwbench.device import exact_float32

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        exact_float32(torch.device("cpu"))
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        exact_float32(torch.device("cuda"))
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("metric", ["balanced_accuracy", "macro_f1"])
def test_an_edited_secondary_metric_is_refused_as_an_edited_accuracy_is(opts, metric):
    from rwbench.results import result_problem

    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    (path,) = (opts.results_dir / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    assert result_problem(record) is None
    record["folds"][2][metric] = 0.5 * record["folds"][2][metric] + 0.25
    assert result_problem(record).startswith(f"folds[2] (fold3) has {metric} ")


def test_a_fold_copied_over_another_is_never_used(opts):
    """A result file whose fold 1 was overwritten by fold 4 (each fold's outputs agree with its score): its mean
    counted fold 4 twice, shown as the protocol's score and "up to date". Refused by name and computed again."""
    from rwbench.results import iter_results

    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    (path,) = (opts.results_dir / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "folds": [record["folds"][-1], *record["folds"][1:]]}))
    invalid: list = []
    assert list(iter_results(opts.results_dir, invalid=invalid)) == []
    assert invalid[0][1] == "folds scores outer fold fold4 more than once"
    rerun = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    folds = json.loads(path.read_text())["folds"]
    assert (rerun.evaluated, rerun.reused) == (1, 0)
    assert [(f["name"], f["accuracy"]) for f in folds] == [(f["name"], f["accuracy"]) for f in record["folds"]]


def test_a_result_missing_an_outer_fold_is_never_ranked(opts):
    """A result file with one outer fold cut out (each left fold agrees with its outputs): its mean over three folds
    was ranked as the protocol's score over four. Refused by name and computed again; a run declared partial
    (``rwbench train --folds``, ``rwbench search --folds``) is held to the folds it names instead."""
    from rwbench.results import iter_results, result_problem

    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    (path,) = (opts.results_dir / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "folds": record["folds"][:2] + record["folds"][3:]}))
    invalid: list = []
    assert list(iter_results(opts.results_dir, invalid=invalid)) == []
    protocol = record["dataset"]["protocol"]
    assert invalid[0][1] == (f"folds scores fold1, fold2, fold4, but its protocol {protocol['id']} has fold1, fold2, "
                             "fold3, fold4: missing outer fold(s) fold3")
    rerun = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert (rerun.evaluated, rerun.reused) == (1, 0)
    assert [f["name"] for f in json.loads(path.read_text())["folds"]] == ["fold1", "fold2", "fold3", "fold4"]

    renamed = {**record, "folds": [*record["folds"][:3], {**record["folds"][3], "name": "fold9"}]}
    assert result_problem(renamed).endswith("missing outer fold(s) fold4; outer fold(s) fold9 not in it")
    declared = {**record, "folds": record["folds"][1:2],
                "dataset": {**record["dataset"], "protocol": {**protocol, "outer_folds_scored": ["fold2"]}}}
    assert result_problem(declared) is None
    assert result_problem({**declared, "folds": record["folds"][2:3]}) == (
        f"folds scores fold3, but its protocol {protocol['id']} declares fold2: missing outer fold(s) fold2; outer "
        "fold(s) fold3 not in it")
    trained = {**record, "folds": record["folds"][:1], "training": {"partial": True, "folds_run": ["fold1"]}}
    assert result_problem(trained) is None
    assert result_problem({**trained, "training": {"partial": False}}).endswith("missing outer fold(s) fold2, fold3, fold4")


def test_a_stored_score_its_own_clip_outputs_contradict_is_never_used(opts, monkeypatch, caplog):
    """A hand-edited accuracy (0.27 → 0.97 with the clips' predictions unchanged) in a scored fold or a result file:
    the fold is computed again, the file is skipped and named, never averaged into the leaderboard."""
    from rwbench.folds import FoldResult
    from rwbench.results import FoldStore, iter_results

    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    (path,) = (opts.results_dir / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    edited = {**record["folds"][0], "accuracy": 0.5 * record["folds"][0]["accuracy"] + 0.25}
    path.write_text(json.dumps({**record, "folds": [edited, *record["folds"][1:]]}))
    invalid: list = []
    assert list(iter_results(opts.results_dir, invalid=invalid)) == []
    assert invalid[0][1].startswith("folds[0] (fold1) has accuracy ") and "per-clip outputs give" in invalid[0][1]
    with caplog.at_level("WARNING", logger="rwbench.results"):  # the file itself: computed again, not "up to date"
        rerun = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    redone = json.loads(path.read_text())
    assert (rerun.evaluated, rerun.reused) == (1, 0) and redone["folds"][0]["accuracy"] == record["folds"][0]["accuracy"]
    assert [f["predicted"] for f in redone["folds"]] == [f["predicted"] for f in record["folds"]]
    assert sum("not a valid result (folds[0] (fold1) has accuracy" in r.getMessage() for r in caplog.records) == 1

    path.unlink()  # as if stopped after fold 1, whose stored score was then edited
    FoldStore(opts.results_dir, path, record["run_key"]).put(FoldResult.from_dict(edited))
    scored = scored_splits(monkeypatch)
    with caplog.at_level("WARNING", logger="rwbench.evaluate"):
        run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert scored == ["fold1", "fold2", "fold3", "fold4"]
    assert any("fold1 has accuracy" in r.getMessage() and "computed again" in r.getMessage() for r in caplog.records)
    assert json.loads(path.read_text())["folds"][0]["accuracy"] == record["folds"][0]["accuracy"]


def test_a_result_keyed_before_protocols_held_their_assignment_is_named_as_such():
    """GTZAN's lists (and any plugin's folds) gained an assignment digest in the key: an old result folder on the same
    copy was refused as "another copy, a partial one, other --dataset-option values"."""
    from rwbench.pipeline import other_data

    made = {"id": "gtzan/fault-filtered", "kind": "fixed_split", "refit": "train", "counts": {"train": 3}}
    old = {"dataset": {"fingerprint": "f" * 16, "protocol": made}}
    assert "before 2026-12-07" in other_data(old, "f" * 16, {**made, "assignment_sha256": "0" * 64})
    moved = {"dataset": {"fingerprint": "f" * 16, "protocol": {**made, "assignment_sha256": "1" * 64}}}
    assert other_data(moved, "f" * 16, {**made, "assignment_sha256": "0" * 64}) == (
        "its outer splits differ in assignment_sha256")  # clips moved between sides: other splits
