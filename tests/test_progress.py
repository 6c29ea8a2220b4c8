"""One progress display over a run (embed jobs + result files), quiet with --quiet; fits in parallel by default
with the same results as one job; the dry run predicts the fits' time."""

import json
import logging
import re
import subprocess
import sys

import pytest
from toy import TINY, tone_dataset

from rwbench.backends import BACKENDS
from rwbench.cli import main
from rwbench.pipeline import RunOptions, run

# the synthetic data, small: 1 embed job (temporal, seed 0) + 2 result files (logreg, knn) = 3 steps
SMALL = ["run", "--frontends", "temporal", "--backends", "logreg,knn", "--device", "cpu", "--workers", "0",
         "--dataset-option", "n_per_class=8", "--tasks", "rhythm"]


@pytest.mark.slow
def test_a_run_logs_one_plain_line_per_step_outside_a_terminal_and_none_with_quiet(tmp_path):
    command = [sys.executable, "-m", "rwbench.cli", *SMALL, "--results", str(tmp_path / "r")]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    steps = re.findall(r"\[(\d+) of (\d+), [\d:]+, ETA (?:[\d:]+|\?)\] (.*)", plain.stderr)
    assert [(int(n), int(total)) for n, total, _ in steps] == [(1, 3), (2, 3), (3, 3)]  # 1 embed job + 2 results
    assert steps[0][2].startswith("embedded temporal on synthetic/rhythm")
    assert re.match(r"synthetic/rhythm temporal random (logreg|knn) seed 0: accuracy \d\.\d{3}$", steps[2][2])
    assert "\r" not in plain.stderr  # nothing redrawn
    quiet = subprocess.run(command + ["--quiet"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert quiet.returncode == 0 and " of 3" not in quiet.stderr and "jobs |" not in quiet.stderr, quiet.stderr


@pytest.mark.slow
def test_in_a_terminal_one_bar_counts_embed_jobs_and_results_and_quiet_draws_none(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main([*SMALL, "--results", str(tmp_path), "--quiet"]) == 0
    assert "jobs |" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # capsys swapped the stream: again
    assert main([*SMALL, "--results", str(tmp_path), "--force"]) == 0
    err = capsys.readouterr().err
    assert "run: 0/3 jobs |" in err and "run: 3/3 jobs |" in err and "/4 jobs" not in err


def test_the_eta_counts_the_time_of_steps_that_did_work_only(monkeypatch, caplog):
    """Three cached steps in 6 s, then a computed one of 100 s: the ETA read 0:17 after the cached ones (6× short of
    the truth) and is now "?" there, then 100 s per step left."""
    from rwbench import progress

    now = iter([0.0, 2.0, 4.0, 6.0, 106.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(now))
    with caplog.at_level(logging.INFO, logger="rwbench.progress"), progress.Progress(12, bar=False) as bar:
        for i in range(3):
            bar.step(f"cached {i}", worked=False)
        bar.step("computed")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[2] == "[3 of 12, 0:06, ETA ?] cached 2"
    assert lines[3] == "[4 of 12, 1:46, ETA 13:20] computed"  # 8 steps left at 100 s


def test_the_eta_leaves_out_the_results_up_to_date_and_the_embeddings_cached_as_the_run_starts(tmp_path, monkeypatch,
                                                                                                   caplog):
    """The ETA counted the results a run already knew to be up to date (and its cached embeddings) as steps of full
    cost: after the last result to compute it still predicted one more. They are counted as done from the start."""
    import itertools
    from types import SimpleNamespace

    from rwbench import progress

    opts = RunOptions(results_dir=tmp_path / "r", cache_dir=tmp_path / "cache", device="cpu", workers=0)
    run([tone_dataset()], [TINY], [BACKENDS.get("knn")], opts)
    clock = itertools.count(0.0, 10.0)  # every step of the run takes 10 s
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    with caplog.at_level(logging.INFO, logger="rwbench.progress"):
        run([tone_dataset()], [TINY], [BACKENDS.get("logreg"), BACKENDS.get("knn")], opts)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split("]")[0] for line in lines] == ["[1 of 3, 0:10, ETA ?", "[2 of 3, 0:20, ETA 0:00",
                                                      "[3 of 3, 0:30, ETA 0:00"], lines
    assert lines[0].endswith(": cached") and "logreg" in lines[1] and lines[2].endswith(": up to date")


def test_failed_steps_leave_the_count_of_steps_known_to_need_no_work_as_it_was(monkeypatch):
    """A failed Dask task stepped as "no work" and took one off the steps known up to date, which it never was one
    of: after 3 failures the up-to-date results still to come were charged as work (ETA 4:00 where 1:00 is right)."""
    import itertools
    from types import SimpleNamespace

    from rwbench import progress

    clock = itertools.count(0.0, 60.0)
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    bar = progress.Progress(10, bar=False, enabled=False, known_done=5)
    bar.step("computed")
    for _ in range(3):
        bar.step("failed", failed=True)
    assert (bar.done, bar.worked, bar.free) == (4, 1, 5) and bar.eta() == "1:00"  # 6 left: 5 up to date, 1 to do


def test_the_terminal_bar_shows_its_eta_as_the_log_lines_do(capsys):
    """tqdm writes ", " before the postfix: the bar read "ETA , ?" and started with a blank ETA."""
    from rwbench import progress

    with progress.Progress(3, bar=True) as bar:
        bar.step("cached", worked=False)
        bar.clips("x", 1, 4)
        bar.step("computed")
    err = capsys.readouterr().err
    assert "jobs |" in err and ", ETA ?" in err and "ETA ? (x: 1/4 clips)" in err and re.search(r", ETA \d+:\d\d", err)
    assert "ETA ," not in err and not re.search(r"ETA\s*$", err, re.M)


@pytest.mark.parametrize("backend", ["svm", "elm"])
def test_parallel_fits_give_the_results_of_one_job(tmp_path, backend):
    ds = tone_dataset()
    folds = {}
    for jobs in (1, 2):
        opts = RunOptions(results_dir=tmp_path / f"jobs{jobs}", cache_dir=tmp_path / "cache", device="cpu", workers=0,
                          n_jobs=jobs)
        (path,) = run([ds], [TINY], [BACKENDS.get(backend)], opts).results
        folds[jobs] = [(f["accuracy"], f["best_params"], f["selection_score"])
                       for f in json.loads(path.read_text())["folds"]]
    assert folds[1] == folds[2]


def test_the_dry_run_predicts_the_fits_time(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO)
    assert main(["run", "--dry-run", "--frontends", "mfcc", "--backends", "svm", "--tasks", "rhythm",
                 "--jobs", "2", "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    fits = re.search(r"^fits: predicted (\d+) s \([\d.]+ h\): per backend, dataset and feature size, the grid searched "
                     r"on one inner fold of the first outer split \(random features, 2 grid-search job\(s\)\) × inner "
                     r"folds × outer splits, plus the refits\. A lower bound for iterative solvers "
                     r"\(logreg.s lbfgs, the SVMs. libsvm\).*"
                     r"--grid wide-linear32 stops them at C = 32\)$", out, re.M)
    count = re.search(r"^evaluate: 1 of 1 result files to compute, ([\d,]+) backend fits$", out, re.M)
    assert fits and count, out
    assert int(count.group(1).replace(",", "")) == 5 * (4 * 64 + 1) and int(fits.group(1)) > 0
    assert re.search(r"^total: predicted \d+ s", out, re.M) and "fit s" in out
    assert not (tmp_path / "r").exists()


def test_parallel_fits_share_the_cores_out_and_give_the_threads_back(monkeypatch):
    import torch
    from threadpoolctl import threadpool_info

    from rwbench import evaluate

    monkeypatch.setattr(evaluate, "available_cores", lambda: 8)
    before = torch.get_num_threads()
    with evaluate.shared_threads(4):
        from joblib.parallel import get_active_backend

        assert torch.get_num_threads() == 2 and type(get_active_backend()[0]).__name__ == "ThreadingBackend"
        assert all(pool["num_threads"] <= 2 for pool in threadpool_info())
    assert torch.get_num_threads() == before
