"""``--executor dask``: the same results as the local run, on a LocalCluster of 2 worker processes; a worker that
dies loses only its task; failures are reported by task and finished work is kept."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import result_dicts
from toy import TINY, tone_dataset

from rwbench.backends import BACKENDS
from rwbench.cli import main
from rwbench.errors import RwbenchError
from rwbench.pipeline import RunOptions, run

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install 'rwbench[dask]')")
from distributed import LocalCluster  # noqa: E402

from rwbench.executor import _embed_on_worker, run_dask  # noqa: E402

TESTS = Path(__file__).parent
BACKENDS_USED = [BACKENDS.get("logreg"), BACKENDS.get("knn")]


@pytest.fixture(autouse=True)
def workers_import_the_toys(monkeypatch):
    """Worker processes start fresh: they find the tests' toy front-end and dataset through PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


def _opts(root: Path, **kw) -> RunOptions:
    return RunOptions(**{"results_dir": root / "results", "device": "cpu", "workers": 0, "seeds": [0, 1], **kw})


def _by_file(root: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in (root / "results" / "runs").rglob("*.json")}


def _same_results(a: Path, b: Path) -> None:
    left, right = _by_file(a), _by_file(b)
    assert sorted(left) == sorted(right) and len(left) == 4
    for name in left:
        for fa, fb in zip(left[name]["folds"], right[name]["folds"], strict=True):
            assert (fa["accuracy"], fa["best_params"], fa["predicted"]) == (fb["accuracy"], fb["best_params"], fb["predicted"])
        assert left[name]["frontend"]["embedding_key"] == right[name]["frontend"]["embedding_key"]
    features = lambda root: {p.parent.name: np.load(p) for p in (root / "results").rglob("features.npy")}  # noqa: E731
    fa, fb = features(a), features(b)
    assert fa.keys() == fb.keys()
    for key in fa:
        np.testing.assert_array_equal(fa[key], fb[key])


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """(folder, log) of the local executor's run on the tones, the reference the Dask runs below must equal: one
    run for the module (pyproject's `--dist loadfile` keeps a module in one xdist worker), read only."""
    root = tmp_path_factory.mktemp("executor")
    return root, run([tone_dataset()], [TINY], BACKENDS_USED, _opts(root / "local"))


@pytest.mark.slow
def test_two_workers_give_the_local_results_and_a_rerun_reuses_them(tmp_path, local_run):
    ds = tone_dataset()
    root, local = local_run
    remote = run_dask([ds], [TINY], BACKENDS_USED, _opts(tmp_path / "dask"), n_workers=2)
    assert (remote.embedded, remote.evaluated) == (local.embedded, local.evaluated) == (2, 4)
    _same_results(root / "local", tmp_path / "dask")
    again = run_dask([ds], [TINY], BACKENDS_USED, _opts(tmp_path / "dask"), n_workers=2)
    # every result up to date: nothing to embed
    assert (again.embedded, again.cached, again.evaluated, again.reused) == (0, 0, 0, 4)


@pytest.mark.slow
def test_a_worker_that_dies_loses_only_its_task(tmp_path, local_run):
    dying = tone_dataset()
    dying.die_once = str(tmp_path / "died")  # the first decode kills its worker process (os._exit)
    log = run_dask([dying], [TINY], BACKENDS_USED, _opts(tmp_path / "dask"), n_workers=2)
    assert (tmp_path / "died").exists() and (log.embedded, log.evaluated) == (2, 4)
    _same_results(local_run[0] / "local", tmp_path / "dask")


@pytest.mark.slow
def test_a_failing_task_is_named_and_the_others_finish(tmp_path, monkeypatch):
    from rwbench import executor
    from rwbench.errors import DataError

    bad = tone_dataset(fail_on={"mid/003": DataError("mid/003: cannot decode")})
    bad.name = "tones_bad"
    opts = _opts(tmp_path, seeds=[0])
    shown = []  # a failed task is no step that did work: it counted in the ETA's mean time of a step

    class Shown(executor.Progress):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            shown.append(self)

    monkeypatch.setattr(executor, "Progress", Shown)
    with pytest.raises(RwbenchError, match=r"3 of 6 Dask tasks failed \(finished ones are kept.*: embed-tones_bad-tiny"
                                           r"-random-seed0-[\w-]+ \(and 2 task\(s\) waiting on it\): DataError: "
                                           r"tones_bad: mid/003: cannot decode"):
        run_dask([tone_dataset(), bad], [TINY], BACKENDS_USED, opts, n_workers=2)
    assert {r["dataset"]["key"] for r in result_dicts(opts.results_dir)} == {"tones"}
    assert len(result_dicts(opts.results_dir)) == 2
    assert (shown[0].done, shown[0].worked) == (6, 3)  # 1 embed and 2 results computed, 3 tasks failed


@pytest.mark.slow
def test_two_runs_at_once_on_one_scheduler_each_compute_their_results(tmp_path):
    """Task keys named the dataset, front-end, weights, seed and backend only: a second run on the same scheduler
    (other results folder, pooling or grid) was handed the first run's tasks, said "4 new results" and wrote none."""
    from concurrent.futures import ThreadPoolExecutor

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        def one(name: str):
            return run_dask([tone_dataset()], [TINY], BACKENDS_USED, _opts(tmp_path / name), scheduler=cluster.scheduler_address)

        with ThreadPoolExecutor(2) as pool:
            logs = list(pool.map(one, ["a", "b"]))
    assert [log.evaluated for log in logs] == [4, 4]
    assert len(_by_file(tmp_path / "a")) == len(_by_file(tmp_path / "b")) == 4


A_MAY_EMBED = threading.Event()


def _embed_when_allowed(job, opts, threads):
    """The worker's embed task, held for run "a" until the test lets it go (in-process workers share this event)."""
    if opts.results_dir.parent.name == "a" and not A_MAY_EMBED.wait(120):
        raise TimeoutError("run a's embed task was never let go")
    return _embed_on_worker(job, opts, threads)


@pytest.mark.slow
def test_a_run_sees_its_tasks_finish_after_a_later_runs_client_closed(tmp_path, monkeypatch):
    """Two runs in one process (threads, a notebook): as_completed tracked run a's futures on the process's latest
    client, run b's; b closed it, and a waited forever on tasks long finished (the CI hang of the test above). Here
    a enters as_completed once b's client exists, and its tasks finish only after b has closed."""
    import distributed

    from rwbench import executor

    b_client_made, client_for, as_completed = threading.Event(), executor.client_for, distributed.as_completed

    def b_says_when_its_client_exists(*args):
        made = client_for(*args)
        if threading.current_thread().name == "b":
            b_client_made.set()
        return made

    def a_enters_after_b(*args, **kwargs):
        if threading.current_thread().name == "a":
            b_client_made.wait(120)
        return as_completed(*args, **kwargs)

    monkeypatch.setattr(executor, "client_for", b_says_when_its_client_exists)
    monkeypatch.setattr(distributed, "as_completed", a_enters_after_b)
    monkeypatch.setattr(executor, "_embed_on_worker", _embed_when_allowed)
    A_MAY_EMBED.clear()
    logs: dict[str, object] = {}
    # 4 threads: a's two held embed tasks leave b two
    with LocalCluster(n_workers=1, threads_per_worker=4, processes=False, dashboard_address=None) as cluster:
        def one(name: str) -> None:
            try:
                logs[name] = run_dask([tone_dataset()], [TINY], BACKENDS_USED, _opts(tmp_path / name),
                                      scheduler=cluster.scheduler_address)
            finally:
                if name == "b":
                    A_MAY_EMBED.set()

        threads = [threading.Thread(target=one, args=(name,), name=name, daemon=True) for name in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads), "a run is still waiting on finished tasks"
    assert [logs[name].evaluated for name in "ab"] == [4, 4]


@pytest.mark.slow
def test_the_command_line_runs_on_a_local_cluster(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "run", "-q", "--frontends", "mfcc", "--backends",
                           "logreg", "--executor", "dask", "--dask-workers", "2", "--results", "r"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "r" / "runs").rglob("*.json"))) == 2 and "mfcc" in done.stdout


@pytest.mark.parametrize("argv, match", [
    (["run", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler and --dask-workers need --executor dask"),
    (["run", "--dask-workers", "2"], "--scheduler and --dask-workers need --executor dask"),
    (["run", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--dask-workers", "2"], "not both"),
    (["run", "--executor", "dask", "--dask-workers", "0"], "--dask-workers takes a positive int"),
])
def test_bad_executor_options_give_one_clear_line(capsys, argv, match):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    argv = ["run", "--frontends", "mfcc", "--backends", "logreg", "--executor", "dask", "--scheduler",
            "tcp://127.0.0.1:9", "--results", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in capsys.readouterr().err


def test_relative_clip_paths_are_refused_before_any_worker_starts(tmp_path):
    """A worker reads a relative path from its own working directory: another copy there was embedded under the
    client's key (the CLI makes --data-root absolute; a dataset loaded from a relative root is refused)."""
    from rwbench.datamodel import Clip

    ds = tone_dataset()
    ds.clips[3] = Clip(id="rel.wav", label=ds.clips[3].label, path=Path("data/rel.wav"), fold=ds.clips[3].fold)
    with pytest.raises(RwbenchError, match="clip paths must be absolute .*data/rel.wav"):
        run_dask([ds], [TINY], BACKENDS_USED, _opts(tmp_path), n_workers=1)
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_an_existing_clusters_device_and_memory_are_checked_on_its_worker_not_here(tmp_path, monkeypatch):
    """With --scheduler, the memory (and CUDA) checks ran on the submitting machine: one without the workers' GPUs or
    memory was refused. Here this process has "1 byte" of memory; the worker process has its own. The grid-edge
    warning, printed by the local executor alone, comes from the Dask one too."""
    from rwbench import device, executor

    warned = []
    monkeypatch.setattr(executor, "warn_grid_edges", warned.append)
    monkeypatch.setattr(device, "memory_available", lambda _: 1)
    with pytest.raises(RwbenchError, match="needs about .* memory is 0.0 GiB"):  # a cluster of this machine: checked here
        run_dask([tone_dataset()], [TINY], BACKENDS_USED, _opts(tmp_path / "here"), n_workers=1)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        log_ = run_dask([tone_dataset()], [TINY], BACKENDS_USED, _opts(tmp_path / "there"),
                        scheduler=cluster.scheduler_address)
    assert log_.evaluated == 4 and warned == [log_.results] and len(log_.results) == 4


def test_dask_workers_benchmark_compares_every_tasks_predictions(tmp_path):
    """benchmarks/dask_workers.py keyed predictions by file name: the two synthetic tasks' files share names, so
    only one task's predictions were compared with the local run's. Keyed by path under the results folder."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dask_workers", TESTS.parent / "benchmarks" / "dask_workers.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for folder, altered in (("same", 0), ("altered", 1)):
        for task in ("synthetic__timbre", "synthetic__rhythm"):
            path = tmp_path / folder / task / "mfcc__small__none__seed0__logreg.json"
            path.parent.mkdir(parents=True)
            predicted = [altered if task == "synthetic__timbre" else 0] * 3
            path.write_text(json.dumps({"folds": [{"predicted": predicted}]}))
    same, altered = bench.predictions(tmp_path / "same"), bench.predictions(tmp_path / "altered")
    assert len(same) == 2 and same != altered
