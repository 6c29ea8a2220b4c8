"""Every benchmark script that runs in seconds at a tiny size runs to its last figure: one that no longer matches the
package it times fails here, not when someone next wants its numbers. Nothing here is timed."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# script: (tiny arguments, a line its last figures print)
SMOKE = {
    "multilabel_backends.py": (["--clips", "40", "--dim", "8", "--tags", "3"], r"svm: one-vs-rest / one kernel ×[\d.]+"),
    "logmel.py": (["--clips", "2", "--seconds", "0.5", "--repeats", "1"], r"\| 12000 Hz, .*\| ×[\d.]+ \|"),
    "train_step.py": (["--clips", "2", "--seconds", "1", "--repeats", "1"], r"\| musicnn \| [\d.]+ \|"),
    "elm_speed.py": (["--clips", "100", "--dims", "80", "--hidden", "20", "--repeats", "1"],
                     r"predictions agree on \d+"),
    "svm_grid.py": (["--clips", "60", "--dims", "64", "--classes", "3"], r"identical predictions at \d+ of \d+"),
    "malloc.py": (["--frontends", "vertical_7x96", "--clips", "8", "--seconds", "1", "--repeats", "1"],
                  r"\| vertical_7x96 \| tuned \| .* \| [\d.]+× \|"),
}
# the others, and why they are not run here
NOT_HERE = {
    "time_to_rank.py": "tests/test_time_to_rank.py",
    "dask_one_worker.py": "starts Dask clusters: minutes",
    "dask_workers.py": "starts Dask clusters: minutes",
    "dry_run.py": "a dry run and a real run in fresh processes: minutes",
    "memory.py": "an embed and an evaluate process per clip count: minutes",
    "mutate.py": "runs the test suite per mutant",
    "profile_ab.py": "needs an earlier commit",
    "profile_rewrites.py": "profiles paper-width networks: minutes",
    "report_time.py": "reads a study's results",
    "startup.py": "times every command's start-up: minutes",
}


def test_every_benchmark_script_is_either_run_here_or_says_why_not():
    assert sorted(p.name for p in BENCHMARKS.glob("*.py")) == sorted({**SMOKE, **NOT_HERE})


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_the_benchmark_runs_at_a_tiny_size_and_prints_its_figures(script):
    args, figures = SMOKE[script]
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(figures, done.stdout), done.stdout
