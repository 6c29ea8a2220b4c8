"""Named backend grids (``--grid wide|study``) and grid edges: the settings chosen at the edge of their grid."""

import json
import logging
import shutil
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression
from toy import TINY, tone_dataset

from rwbench.analysis.leaderboard import load, to_summary
from rwbench.backends import (
    BACKENDS,
    DEFAULT_GRID,
    GRID_NAMES,
    BackendSpec,
    chosen_edges,
    grid_edge_counts,
    grid_edge_flag,
    grid_edges,
    grid_name_of,
)
from rwbench.errors import RwbenchError
from rwbench.pipeline import RunOptions, evaluate_job, evaluation_jobs, run
from rwbench.plan import plan

STUDY_RUNS = Path(__file__).resolve().parents[1] / "studies" / "random-vs-trained" / "results" / "runs"

# two named grids of a cheap backend; on the easy tones every C of "study" ties, so the first (the smallest) wins
TWO_GRIDS = {"wide": [{"C": [0.01, 1.0, 100.0]}], "study": [{"C": [10.0, 100.0]}]}
TWO = BackendSpec(name="two_grids", build=lambda seed: LogisticRegression(max_iter=500), grid=TWO_GRIDS["wide"],
                  grids=TWO_GRIDS, grid_name="wide", description="logistic regression with two named grids")


@pytest.fixture
def opts(tmp_path):
    return RunOptions(results_dir=tmp_path / "results", device="cpu", workers=0)


def with_(opts: RunOptions, **changes) -> RunOptions:
    return RunOptions(**{**opts.__dict__, **changes})


def test_study_grid_is_the_reference_studys_and_wide_extends_it():
    assert DEFAULT_GRID == "wide" and set(GRID_NAMES) == {"wide", "study", "wide-linear32"}
    svm, elm, elm_torch = (BACKENDS.get(name) for name in ("svm", "elm", "elm_torch"))
    study = svm.with_grid("study")
    assert study.grid_name == "study" and study.grid_size == 32
    assert study.grid[0]["clf__C"] == study.grid[1]["clf__C"] == [0.1, 2.0, 8.0, 32.0]
    assert study.grid[0]["clf__gamma"] == [2.0**-k for k in (3, 5, 7, 9, 11, 13)] + ["scale"]
    assert elm.with_grid("study").grid == [{"clf__n_hidden": [100, 250, 500, 1200, 1800, 2500],
                                            "clf__alpha": [0.01, 1.0, 100.0]}]
    wide_c, wide_alpha = svm.grids["wide"][0]["clf__C"], elm.grids["wide"][0]["clf__alpha"]
    assert set(study.grid[0]["clf__C"]) < set(wide_c) and max(wide_c) >= 2**9 and min(wide_c) < 0.1
    assert {0.01, 1.0, 100.0} < set(wide_alpha) and max(wide_alpha) >= 1e4 and min(wide_alpha) < 0.01
    assert svm.grid == svm.grids["wide"] and svm.grid_name == "wide"  # the registered spec searches the default
    assert elm_torch.grids == elm.grids
    assert BACKENDS.get("logreg").with_grid("study") is BACKENDS.get("logreg")  # one grid: kept under any name
    with pytest.raises(RwbenchError, match="no grid 'paper'"):
        svm.with_grid("paper")


def test_wide_linear32_is_wide_with_the_linear_kernels_c_stopped_at_32():
    svm, elm = BACKENDS.get("svm"), BACKENDS.get("elm")
    rbf, linear = svm.with_grid("wide-linear32").grid
    wide_rbf, wide_linear = svm.grids["wide"]
    assert rbf == wide_rbf and linear["clf__C"] == [c for c in wide_linear["clf__C"] if c <= 32] == [0.01, 0.1, 2, 8, 32]
    assert svm.with_grid("wide-linear32").grid_size == svm.grid_size - 3
    assert elm.with_grid("wide-linear32").grid == elm.grids["wide"]  # the ELM has no linear kernel: its wide grid
    assert grid_edges(svm_record([{"kernel": "linear", "C": 32.0}], svm.grids["wide-linear32"])) == [{"C": "high"}]


def svm_record(params: list[dict], grid=None) -> dict:
    grid = grid or BACKENDS.get("svm").grids["study"]
    return {"backend": {"name": "svm", "grid": json.loads(json.dumps(grid))}, "folds": [{"best_params": p} for p in params]}


def test_grid_edges_per_fold_from_the_sub_grid_the_setting_came_from():
    record = svm_record([
        {"kernel": "rbf", "C": 32.0, "gamma": 2.0**-13},  # C high, gamma low (the smallest numeric γ)
        {"kernel": "rbf", "C": 8.0, "gamma": "scale"},  # nothing: 'scale' is categorical
        {"kernel": "linear", "C": 0.1},  # the linear entry's smallest C
        {"kernel": "rbf", "C": 2.0, "gamma": 0.125},  # gamma high
    ])
    assert grid_edges(record) == [{"C": "high", "gamma": "low"}, {}, {"C": "low"}, {"gamma": "high"}]
    counts, folds = grid_edge_counts([record])
    assert folds == 4 and counts == {("C", "high"): 1, ("gamma", "low"): 1, ("C", "low"): 1, ("gamma", "high"): 1}
    assert grid_edge_flag([record]) == ""  # no edge in more than half the folds
    assert grid_edge_flag([svm_record([{"kernel": "rbf", "C": 32.0, "gamma": 2.0**-7}] * 3)]) == "C high 3/3"
    wide = svm_record([{"kernel": "rbf", "C": 32.0, "gamma": 2.0**-7}], BACKENDS.get("svm").grids["wide"])
    assert grid_edges(wide) == [{}]  # 32 is inside the wide grid


def test_grid_edges_of_elm_multilabel_heads_and_stored_edges():
    elm = {"backend": {"name": "elm", "grid": BACKENDS.get("elm").grids["study"]},
           "folds": [{"best_params": {"alpha": 100.0, "n_hidden": 2500}}, {"best_params": {"alpha": 1.0, "n_hidden": 100}}]}
    assert grid_edges(elm) == [{"alpha": "high", "n_hidden": "high"}, {"n_hidden": "low"}]
    one_vs_rest = {"backend": {"name": "knn", "grid": [{"estimator__clf__n_neighbors": [1, 3, 5]}]},
                   "folds": [{"best_params": {"n_neighbors": 5}}]}
    assert grid_edges(one_vs_rest) == [{"n_neighbors": "high"}]
    head = {"backend": {"name": "head", "grid": {"epochs": 30, "lr": 1e-3}}, "folds": [{"best_params": {"epoch": 29}}]}
    assert grid_edges(head) == [{}] and grid_edge_flag([head]) == ""  # one learning rate (recipe v1): no grid
    searched = {"backend": {"name": "head", "grid": {"lrs": [3e-4, 1e-3, 3e-3], "dropouts": [0.0, 0.5]}},
                "folds": [{"best_params": {"lr": lr, "dropout": d, "epoch": 9}}
                          for lr, d in [(3e-3, 0.0), (3e-3, 0.5), (1e-3, 0.0), (3e-4, 0.5)]]}
    assert grid_edges(searched) == [{"lr": "high"}, {"lr": "high"}, {}, {"lr": "low"}]  # dropout: never an edge
    assert grid_edge_flag([searched]) == "" and grid_edge_flag([searched], share=0.4) == "lr high 2/4"
    stored = {"backend": elm["backend"], "folds": [{"best_params": {"alpha": 1.0, "n_hidden": 500}, "grid_edge": {}}]}
    assert grid_edges(stored) == [{}]


def test_grid_name_of_old_files_is_read_from_their_grid():
    assert grid_name_of({"name": "svm", "grid": BACKENDS.get("svm").grids["study"], "grid_name": "wide"}) == "wide"
    assert grid_name_of(json.loads(json.dumps({"name": "svm", "grid": BACKENDS.get("svm").grids["study"]}))) == "study"
    assert grid_name_of({"name": "elm", "grid": BACKENDS.get("elm").grids["wide"]}) == "wide"
    assert grid_name_of({"name": "elm", "grid": [{"clf__alpha": [3.0]}]}) is None
    assert grid_name_of({"name": "head", "grid": {"epochs": 30}}) is None


@pytest.mark.skipif(not STUDY_RUNS.is_dir(), reason="the committed study results are not in this checkout")
def test_committed_study_results_chose_the_study_grids_edges():
    """ELM's largest ridge (100) won 95 of 125 ESC-10 folds; the study grid's largest C won most FSDD folds."""
    def counts(dataset: str, backend: str):
        records = [json.loads(p.read_text()) for p in sorted((STUDY_RUNS / dataset).glob(f"*__{backend}.json"))]
        assert records and {grid_name_of(r["backend"]) for r in records} == {"study"}
        return grid_edge_counts(records)

    (esc10_elm, folds) = counts("esc10", "elm")
    assert folds == 125 and esc10_elm[("alpha", "high")] == 95
    (fsdd_svm, folds) = counts("fsdd__standard", "svm")
    assert folds == 25 and fsdd_svm[("C", "high")] == 18


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    """One run of TWO with --grid study (embeddings cached for the other tests), and what it logged."""
    base = tmp_path_factory.mktemp("grids")
    opts = RunOptions(results_dir=base / "results", cache_dir=base / "cache", device="cpu", workers=0, grid="study")
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("rwbench").addHandler(handler)
    try:
        log_ = run([tone_dataset()], [TINY], [TWO], opts)
    finally:
        logging.getLogger("rwbench").removeHandler(handler)
    return opts, log_, "\n".join(r.getMessage() for r in records)


def test_the_grid_is_in_the_run_key_the_backend_section_and_the_fit_count(study_run):
    opts, log_, _ = study_run
    ds = tone_dataset()
    wide, study = (evaluation_jobs([ds], [TINY], [TWO], with_(opts, grid=g, force=True))[0] for g in ("wide", "study"))
    assert wide.path(opts) == study.path(opts)  # one file per row: a second grid must not silently replace it
    protocol = ds.describe()["protocol"]
    assert wide.run_key(opts, protocol) != study.run_key(opts, protocol)
    timings = {}
    (wide_plan,), (study_plan,) = (plan([ds], [TINY], [TWO], with_(opts, grid=g, force=True), timings=timings)
                                   for g in ("wide", "study"))
    inner = sum(len(s.inner) for s in ds.splits())
    assert (wide_plan.fits, study_plan.fits) == (inner * 3 + 4, inner * 2 + 4)  # inner folds × grid + one refit per split

    record = json.loads(log_.results[0].read_text())
    assert record["backend"]["grid_name"] == "study" and record["backend"]["grid"] == TWO_GRIDS["study"]
    assert record["backend"]["grid_size"] == 2
    again = run([ds], [TINY], [TWO], opts)
    assert (again.embedded, again.evaluated, again.reused) == (0, 0, 1)


def test_a_result_of_another_grid_stops_the_run_unless_forced(study_run, tmp_path):
    opts = with_(study_run[0], results_dir=tmp_path / "results")
    shutil.copytree(study_run[0].results_dir, opts.results_dir)
    path = next((opts.results_dir / "runs").rglob("*.json"))
    before = path.read_text()
    ds = tone_dataset()
    with pytest.raises(RwbenchError, match=r"grid 'study'.*--grid study.*--force"):
        run([ds], [TINY], [TWO], with_(opts, grid="wide"))
    assert path.read_text() == before and ds.decoded == []  # nothing replaced, nothing embedded
    forced = run([ds], [TINY], [TWO], with_(opts, grid="wide", force=True))
    assert forced.evaluated == 1 and json.loads(path.read_text())["backend"]["grid_name"] == "wide"


def test_an_interrupted_forced_run_of_another_grid_resumes_on_a_plain_rerun(study_run, tmp_path, monkeypatch):
    """`--grid wide --force` over a study-grid result, stopped after fold 1: the plain rerun refused the study-grid file
    still there, and the --force it advised scored fold 1 again. The files it replaces now go before any fold."""
    from rwbench import evaluate

    opts = with_(study_run[0], results_dir=tmp_path / "results", grid="wide")
    shutil.copytree(study_run[0].results_dir, opts.results_dir)
    original, scored = evaluate.evaluate_split, []

    def stop_at_fold2(X, y, split, *args, **kwargs):
        if split.name == "fold2":
            raise KeyboardInterrupt
        scored.append(split.name)
        return original(X, y, split, *args, **kwargs)

    monkeypatch.setattr(evaluate, "evaluate_split", stop_at_fold2)
    with pytest.raises(KeyboardInterrupt):
        run([tone_dataset()], [TINY], [TWO], with_(opts, force=True))
    monkeypatch.setattr(evaluate, "evaluate_split", lambda X, y, split, *a, **k: scored.append(split.name)
                        or original(X, y, split, *a, **k))
    assert run([tone_dataset()], [TINY], [TWO], opts).evaluated == 1  # not refused
    assert scored == ["fold1", "fold2", "fold3", "fold4"]  # fold 1 scored once: resumed
    (path,) = (opts.results_dir / "runs").rglob("*.json")
    assert json.loads(path.read_text())["backend"]["grid_name"] == "wide"


def test_a_result_of_another_grid_written_after_the_check_is_not_replaced(study_run, tmp_path):
    """Two runs at once with another --grid: the one that checked before the other wrote its result must not
    replace that result silently (it stops, as the check before any work would have)."""
    opts = with_(study_run[0], results_dir=tmp_path / "results", grid="wide")
    ds = tone_dataset()
    (wide,) = evaluation_jobs([ds], [TINY], [TWO], opts)  # no result file yet: the check passes
    shutil.copytree(study_run[0].results_dir, opts.results_dir)  # meanwhile the --grid study run writes its result
    path = wide.path(opts)
    before = path.read_text()
    with pytest.raises(RwbenchError, match=r"grid 'study'.*--grid study.*--force"):
        evaluate_job(wide, opts)
    assert path.read_text() == before and json.loads(before)["backend"]["grid_name"] == "study"
    assert evaluate_job(wide, with_(opts, force=True))[1]  # --force still replaces it
    assert json.loads(path.read_text())["backend"]["grid_name"] == "wide"


def test_a_published_protocol_row_of_another_grid_written_after_the_check_is_not_replaced(study_run, tmp_path,
                                                                                          monkeypatch):
    """The study's-protocol rows (`rwbench reproduce --protocol both`) guard their files under the lock as well."""
    import rwbench.pipeline as pipeline
    from rwbench.published_protocol import evaluate_published, published_options

    opts = with_(study_run[0], results_dir=tmp_path / "results")  # the module's cached embeddings
    ds = tone_dataset()
    (path,) = evaluate_published([ds], [TINY], [TWO], opts).results
    before = path.read_text()
    monkeypatch.setattr(pipeline, "check_grids", lambda eval_jobs, opts, protocols=None: None)  # the file came after the check
    wide = with_(opts, grid="wide")
    assert published_options(wide).results_dir == path.parents[2]
    with pytest.raises(RwbenchError, match=r"grid 'study'.*--grid study.*--force"):
        evaluate_published([ds], [TINY], [TWO.with_grid("wide")], wide)
    assert path.read_text() == before


def test_a_published_protocol_row_of_a_fixed_split_records_the_refit_it_made(tmp_path):
    """The study refits on train alone: its row recorded the dataset's refit "train+valid" (and the honest rows'
    splits key) while its model saw the 18 training clips of 27."""
    import dataclasses

    from rwbench.protocol import FixedSplit
    from rwbench.published_protocol import evaluate_published

    ds = tone_dataset(n_per_class=15)
    clips = [dataclasses.replace(clip, fold=None, split=("train", "train", "valid", "test", "train")[i % 5])
             for i, clip in enumerate(ds.clips)]
    ds = dataclasses.replace(ds, clips=clips, protocol=FixedSplit(id="tones-fixed", refit="train+valid"))
    ds.decoded, ds.fail_on = [], {}
    opts = RunOptions(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", device="cpu", workers=0)
    honest = run([ds], [TINY], [BACKENDS.get("knn")], opts).results[0]
    (path,) = evaluate_published([ds], [TINY], [BACKENDS.get("knn")], opts).results
    record, fair = json.loads(path.read_text()), json.loads(honest.read_text())
    assert (fair["dataset"]["protocol"]["refit"], fair["folds"][0]["n_train"]) == ("train+valid", 36)
    assert (record["dataset"]["protocol"]["refit"], record["folds"][0]["n_train"]) == ("train", 27)
    # a row written before the fix (its refit recorded as the dataset's) is read as the refit it made: one protocol
    from rwbench.analysis.leaderboard import data_of, read_results

    older = {**record, "seed": 1, "dataset": {**record["dataset"],
                                              "protocol": {**record["dataset"]["protocol"], "refit": "train+valid"}}}
    path.with_name(path.name.replace("seed0", "seed1")).write_text(json.dumps(older))
    now, before = sorted(read_results(path.parents[2])[0], key=lambda r: r.seed)
    assert before.seed == 1 and data_of(now) == data_of(before) and len(load(path.parents[2])) == 1


def test_another_name_for_the_same_grid_reuses_the_result(study_run, tmp_path):
    """The ELM's `wide-linear32` is its `wide` grid (no linear kernel to cap): a result of one is the other's, not a
    clash that only --force (recomputing the same numbers) gets past."""
    alias = BackendSpec(name="two_grids", build=TWO.build, grid=TWO_GRIDS["wide"],
                        grids={**TWO_GRIDS, "wide-alias": TWO_GRIDS["wide"]}, grid_name="wide",
                        description=TWO.description)
    opts = with_(study_run[0], results_dir=tmp_path / "results", grid="wide")
    ds = tone_dataset()
    run([ds], [TINY], [alias], opts)
    again = run([ds], [TINY], [alias.with_grid("wide-alias")], with_(opts, grid="wide-alias"))
    assert (again.evaluated, again.reused) == (0, 1)
    with pytest.raises(RwbenchError, match=r"grid 'wide'.*--grid wide.*--force"):
        run([ds], [TINY], [alias.with_grid("study")], with_(opts, grid="study"))


def test_edges_are_warned_after_evaluation_and_flagged_on_the_leaderboard(study_run, tmp_path, caplog):
    _, log_, warned = study_run
    record = json.loads(log_.results[0].read_text())
    assert [f["best_params"]["C"] for f in record["folds"]] == [10.0] * 4  # ties with 100: the first, smallest C
    assert grid_edges(record) == [{}] * 4 and "C low" not in warned  # a tie is no edge
    from sklearn.neighbors import KNeighborsClassifier

    knn = BackendSpec(name="edge_knn", build=lambda seed: KNeighborsClassifier(), grid=[{"n_neighbors": [1, 15]}],
                      description="k = 1 beats 15 on the tones")  # strictly: an edge
    opts = RunOptions(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", device="cpu", workers=0)
    with caplog.at_level(logging.WARNING, logger="rwbench"):
        (path,) = run([tone_dataset()], [TINY], [knn], opts).results
    assert grid_edges(json.loads(path.read_text())) == [{"n_neighbors": "low"}] * 4
    assert "1 of 1 results chose a setting at the edge of its grid" in caplog.text and "n_neighbors low 4/4" in caplog.text
    table = load(opts.results_dir)
    assert list(table["grid_edge"]) == ["n_neighbors low 4/4"]
    assert "n_neighbors↓ 4/4" in to_summary(table)


def test_cli_takes_the_grid_and_lists_both(capsys):
    from rwbench.cli import build_parser, main

    assert build_parser().parse_args(["run"]).grid == "wide"
    assert build_parser().parse_args(["evaluate", "--grid", "study"]).grid == "study"
    assert main(["run", "--grid", "paper"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["list", "backends", "svm"]) == 0
    out = capsys.readouterr().out
    assert "64 (wide)" in out and "32 (study)" in out


def test_a_tie_broken_towards_the_grids_first_values_is_no_edge():
    """Separable features: every C scores 1.0 on every inner fold and the search takes the first, the smallest C;
    the flag said "C low" (the best may lie below the grid) when the top of the grid did as well."""
    import numpy as np

    import rwbench
    from rwbench.backends import tied_edges

    (timbre,) = rwbench.load_dataset("synthetic", tasks=["timbre"])
    labels = np.array([timbre.classes.index(c.label) for c in timbre.clips])
    noise = np.random.default_rng(0).normal(0, 0.01, (len(labels), len(timbre.classes)))
    features = np.eye(len(timbre.classes))[labels] * 10 + noise
    folds = rwbench.cross_validate(features, labels, timbre, backend="logreg")
    assert all(f.accuracy == 1.0 for f in folds)
    assert all(f.best_params == folds[0].best_params for f in folds) and all(f.grid_edge == {} for f in folds)
    grid = [{"C": [0.1, 1.0, 10.0], "kernel": ["linear"]}]
    assert tied_edges(grid, [{"C": 0.1, "kernel": "linear"}]) == {"C": "low"}  # the only best: an edge
    assert tied_edges(grid, [{"C": 0.1, "kernel": "linear"}, {"C": 1.0, "kernel": "linear"}]) == {}
    assert tied_edges(grid, [{"C": 10.0, "kernel": "linear"}, {"C": 10.0, "kernel": "linear"}]) == {"C": "high"}


def test_a_plugin_grid_of_numpy_values_is_flagged_and_stored_as_numbers():
    """`n_neighbors: list(np.arange(1, 3))`: every fold chose an end, no edge was flagged (np.int64 was not a number
    to the edge rule) and the result stored the grid as strings."""
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    from rwbench.backends import BackendSpec

    spec = BackendSpec(name="knn_np", build=lambda seed: KNeighborsClassifier(), description="a test",
                       grid=[{"n_neighbors": list(np.arange(1, 4))}, {"n_neighbors": np.array([5.0, 7.0])}])
    assert spec.grid == [{"n_neighbors": [1, 2, 3]}, {"n_neighbors": [5.0, 7.0]}]
    assert all(type(v) in (int, float) for part in spec.grid for v in part["n_neighbors"])
    assert json.loads(json.dumps(spec.grid)) == spec.grid
    assert chosen_edges(spec.grid, {"n_neighbors": np.int64(3)}) == {"n_neighbors": "high"}


def test_named_grids_without_the_default_are_refused_at_registration():
    """Named grids `coarse` / `fine`: the plugin failed to load with a bare KeyError: 'wide'."""
    from sklearn.linear_model import RidgeClassifier

    from rwbench.backends import register_backend

    with pytest.raises(RwbenchError, match=r"backend 'ridge_named': named grids 'coarse', 'fine' must include 'wide'"):
        register_backend(name="ridge_named", description="a test", grids={"coarse": [{"alpha": [1.0, 10.0]}],
                                                                         "fine": [{"alpha": [1.0, 2.0, 4.0]}]})(
            lambda seed: RidgeClassifier())
