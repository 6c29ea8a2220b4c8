"""The studies' ``run.sh`` scripts as processes (study 24's, the search study's), with a stand-in ``rwbench`` on
PATH that records each call: which commands it issues, that JOBS runs front-ends' chains at once (and no more than
JOBS), that WIDTH reaches every call, and that one front-end's failure neither stops the others nor goes unreported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

STUDIES = Path(__file__).resolve().parents[1] / "studies"
SCRIPT = STUDIES / "random-vs-trained-24" / "run.sh"
SEARCH_SCRIPT = STUDIES / "search" / "run.sh"

STUB = """#!/usr/bin/env bash
# records its arguments and how many stand-ins run at once; fails for the front-end named in STUB_FAIL
mkdir -p "$STUB_DIR/running"
touch "$STUB_DIR/running/$$"
ls "$STUB_DIR/running" | wc -l >> "$STUB_DIR/concurrency"
echo "$*" >> "$STUB_DIR/calls"
sleep 0.3
rm "$STUB_DIR/running/$$"
case " $* " in *" --frontends $STUB_FAIL "*) echo "stub: $STUB_FAIL fails" >&2; exit 1 ;; esac
"""


def run_study(tmp_path: Path, *stages: str, script: Path = SCRIPT,
              **env: str) -> tuple[subprocess.CompletedProcess, list[str], list[int]]:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    stub_dir, bin_dir = tmp_path / "stub", tmp_path / "bin"
    stub_dir.mkdir()
    bin_dir.mkdir()
    (bin_dir / "rwbench").write_text(STUB)
    (bin_dir / "rwbench").chmod(0o755)
    full_env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_DIR": str(stub_dir),
                "STUB_FAIL": "none", "OUT": str(tmp_path / "out"), "CACHE": str(tmp_path / "cache"), **env}
    proc = subprocess.run(["bash", str(script), *stages], env=full_env, capture_output=True, text=True, timeout=120)
    calls = (stub_dir / "calls").read_text().splitlines() if (stub_dir / "calls").exists() else []
    concurrency = [int(n) for n in (stub_dir / "concurrency").read_text().split()] if calls else []
    return proc, calls, concurrency


def frontends_of(calls: list[str], command: str) -> list[str]:
    return [call.split("--frontends ")[1].split()[0] for call in calls if call.startswith(command)]


def test_one_job_runs_every_frontend_in_order_one_at_a_time(tmp_path):
    proc, calls, concurrency = run_study(tmp_path, "esc-train")
    assert proc.returncode == 0, proc.stderr
    trained = frontends_of(calls, "train ")
    assert len(trained) == 24 + 8 and trained[:2] == ["strided_1024_1024", "temporal_short"]  # 24 seed 0, 8 seed 1
    seeds = [call.split("--seeds ")[1].split()[0] for call in calls if call.startswith("train ")]
    assert seeds.count("1") == 24 and seeds.count("1,") == 8  # a count of 1 (seed 0); seed 1 alone
    assert len(frontends_of(calls, "run ")) == 24 + 8  # every training (seed 1 too) is followed by its transfer rows
    assert all("--width small" in c and "--dataset esc10" in c for c in calls) and max(concurrency) == 1


def test_jobs_run_chains_at_once_and_width_reaches_every_call(tmp_path):
    proc, calls, concurrency = run_study(tmp_path, "esc-train", JOBS="4", WIDTH="paper")
    assert proc.returncode == 0, proc.stderr
    trained = frontends_of(calls, "train ")
    assert len(trained) == 32 and len(set(trained)) == 24 and len(frontends_of(calls, "run ")) == 32
    assert all("--width paper" in c for c in calls)
    assert 1 < max(concurrency) <= 4
    logs = sorted(p.name for p in (tmp_path / "out" / "logs").iterdir())
    assert "esc-train-trained_rows-vgg.log" in logs and "esc-train-second_seed-mst.log" in logs  # stage, step, item


def test_a_failing_frontend_does_not_stop_the_others_and_fails_the_stage(tmp_path):
    proc, calls, _ = run_study(tmp_path, "esc-train", JOBS="3", STUB_FAIL="vgg")
    assert proc.returncode != 0 and "trained_rows failed for some front-ends" in proc.stderr
    assert "musicnn" in frontends_of(calls, "train ")  # the last of the list, after vgg, still ran
    assert "vgg" not in frontends_of(calls, "run ")  # no transfer rows without the training
    assert "stub: vgg fails" in (tmp_path / "out" / "logs" / "esc-train-trained_rows-vgg.log").read_text()


@pytest.mark.parametrize(("env", "message"), [({"JOBS": "0"}, "JOBS must be a positive whole number"),
                                              ({"JOBS": "two"}, "JOBS must be a positive whole number"),
                                              ({"WIDTH": "huge"}, "WIDTH must be small or paper")])
def test_bad_settings_are_refused_before_anything_runs(tmp_path, env, message):
    proc, calls, _ = run_study(tmp_path, "esc-train", **env)
    assert proc.returncode == 2 and message in proc.stderr and calls == []


def test_an_unknown_stage_is_named(tmp_path):
    proc, calls, _ = run_study(tmp_path, "esc-trian")
    assert proc.returncode == 2 and "no stage 'esc-trian'" in proc.stderr and calls == []


def test_the_search_study_trains_every_architecture_jobs_at_a_time_before_train_top(tmp_path):
    out = tmp_path / "out"
    for key in ("esc10", "fsdd__speakers"):  # what the proxy pass wrote: two architectures per space
        for space in ("logmel", "waveform"):
            folder = out / "search" / f"{space}__{key}"
            folder.mkdir(parents=True)
            archs = [{"name": f"{space}:{i}", "trained": {"per_seed": {"0": 0.5 + i / 10}}} for i in range(2)]
            (folder / "search.json").write_text(json.dumps({"architectures": archs}))
    proc, calls, concurrency = run_study(tmp_path, script=SEARCH_SCRIPT, JOBS="3")
    assert proc.returncode == 0, proc.stderr
    for dataset in ("esc10", "fsdd"):
        mine = [c for c in calls if f"--dataset {dataset}" in c]
        seed0 = [c for c in mine if c.startswith("train ") and "--seeds 0," in c]
        assert sorted(frontends_of(seed0, "train ")) == ["logmel:0", "logmel:1", "waveform:0", "waveform:1"]
        top = [i for i, c in enumerate(mine) if c.startswith("search ") and "--train-top 20" in c]
        assert len(top) == 2 and max(mine.index(c) for c in seed0) < min(top)  # trained first, then reused
        assert len([c for c in mine if c.startswith("train ") and "--seeds 1," in c]) == 4  # the extremes, one each
    assert 1 < max(concurrency) <= 3
    assert all((out / "logs" / f"{data}-train-train-logmel-0.log").is_file() for data in ("esc", "fsdd"))  # one each


def test_the_search_study_refuses_a_bad_jobs_value(tmp_path):
    proc, calls, _ = run_study(tmp_path, script=SEARCH_SCRIPT, JOBS="-1")
    assert proc.returncode == 2 and "JOBS must be a positive whole number" in proc.stderr and calls == []


def test_the_search_study_runs_one_datasets_proxies_alone(tmp_path):
    """On a CPU the proxies run while the trainings wait for a GPU: ``fsdd-proxies`` issues FSDD's two proxy passes
    and nothing else (no training, no ESC-10)."""
    proc, calls, _ = run_study(tmp_path, "fsdd-proxies", script=SEARCH_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    assert [c.split()[:2] for c in calls] == [["search", "logmel"], ["search", "waveform"]]
    assert all("--dataset fsdd" in c and "--tasks speakers" in c and "--train-top" not in c for c in calls)


@pytest.mark.parametrize("stages", [("esc-trian",), ("fsdd-proxies", "gtzan"), ("esc-",)])
def test_the_search_study_names_an_unknown_stage_before_running_any(tmp_path, stages):
    proc, calls, _ = run_study(tmp_path, *stages, script=SEARCH_SCRIPT)
    bad = next(s for s in stages if s != "fsdd-proxies")
    assert proc.returncode == 2 and f"no stage '{bad}'" in proc.stderr and calls == []


def test_fsdds_backends_search_the_wide_linear32_grid_esc10s_the_wide(tmp_path):
    """Study 24 and the search study give FSDD's random rows and proxies ``--grid wide-linear32`` (so the registry's
    proxies reuse study 24's rows under one run key) and ESC-10's ``--grid wide``; ``rwbench train`` takes no grid."""
    (tmp_path / "s").mkdir(), (tmp_path / "t").mkdir()
    _, calls, _ = run_study(tmp_path, "fsdd-random", "esc-random")
    _, search_calls, _ = run_study(tmp_path / "s", "fsdd-proxies", "esc-proxies", "fsdd-registry", script=SEARCH_SCRIPT)
    for call in calls + search_calls:
        grid = call.split("--grid ")[1].split()[0]
        assert grid == ("wide-linear32" if "--dataset fsdd" in call else "wide"), call
    _, trains, _ = run_study(tmp_path / "t", "fsdd-train")
    assert trains and all("--grid" not in c for c in trains if c.startswith("train "))
    assert all("--grid wide-linear32" in c for c in trains if c.startswith("run "))


def test_fsdds_heads_search_five_learning_rates_esc10s_the_recipes_three(tmp_path):
    """Every training of both studies passes its dataset's learning rates (study 24's README, "FSDD learning rates"):
    FSDD 1e-4 … 1e-2, ESC-10 the recipe's 3e-4, 1e-3, 3e-3 (so ESC-10's finished trainings keep their run key)."""
    out = tmp_path / "s" / "out"
    for key in ("esc10", "fsdd__speakers"):
        for space in ("logmel", "waveform"):
            folder = out / "search" / f"{space}__{key}"
            folder.mkdir(parents=True)
            archs = [{"name": f"{space}:{i}", "trained": {"per_seed": {"0": 0.5 + i / 10}}} for i in range(2)]
            (folder / "search.json").write_text(json.dumps({"architectures": archs}))
    (tmp_path / "s").mkdir(exist_ok=True)
    _, calls, _ = run_study(tmp_path, "fsdd-train", "esc-train")
    _, search_calls, _ = run_study(tmp_path / "s", "esc-train", "fsdd-train", script=SEARCH_SCRIPT, JOBS="2")
    trainings = [c for c in calls + search_calls if c.startswith("train ") or "--train-top" in c]
    assert len(trainings) == 2 * 32 + 2 * (4 + 2 + 4)  # study 24: 32 per dataset; search: seed 0, train-top, seed 1
    for call in trainings:
        lrs = call.split("--lrs ")[1].split()[0]
        assert lrs == ("0.0001,0.0003,0.001,0.003,0.01" if "--dataset fsdd" in call else "0.0003,0.001,0.003"), call
