"""Study 24's ``run.sh`` as a process, with a stand-in ``rwbench`` on PATH that records each call: which commands it
issues, that JOBS runs front-ends' chains at once (and no more than JOBS), that WIDTH reaches every call, and that
one front-end's failure neither stops the others nor goes unreported."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "studies" / "random-vs-trained-24" / "run.sh"

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


def run_study(tmp_path: Path, *stages: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str], list[int]]:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    stub_dir, bin_dir = tmp_path / "stub", tmp_path / "bin"
    stub_dir.mkdir()
    bin_dir.mkdir()
    (bin_dir / "rwbench").write_text(STUB)
    (bin_dir / "rwbench").chmod(0o755)
    full_env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_DIR": str(stub_dir),
                "STUB_FAIL": "none", "OUT": str(tmp_path / "out"), "CACHE": str(tmp_path / "cache"), **env}
    proc = subprocess.run(["bash", str(SCRIPT), *stages], env=full_env, capture_output=True, text=True, timeout=120)
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
    assert len(frontends_of(calls, "run ")) == 24  # every training is followed by its transfer rows
    assert all("--width small" in c and "--dataset esc10" in c for c in calls) and max(concurrency) == 1


def test_jobs_run_chains_at_once_and_width_reaches_every_call(tmp_path):
    proc, calls, concurrency = run_study(tmp_path, "esc-train", JOBS="4", WIDTH="paper")
    assert proc.returncode == 0, proc.stderr
    trained = frontends_of(calls, "train ")
    assert len(trained) == 32 and len(set(trained)) == 24 and len(frontends_of(calls, "run ")) == 24
    assert all("--width paper" in c for c in calls)
    assert 1 < max(concurrency) <= 4
    logs = sorted(p.name for p in (tmp_path / "out" / "logs").iterdir())
    assert "trained_rows-vgg.log" in logs and "second_seed-mst.log" in logs


def test_a_failing_frontend_does_not_stop_the_others_and_fails_the_stage(tmp_path):
    proc, calls, _ = run_study(tmp_path, "esc-train", JOBS="3", STUB_FAIL="vgg")
    assert proc.returncode != 0 and "trained_rows failed for some front-ends" in proc.stderr
    assert "musicnn" in frontends_of(calls, "train ")  # the last of the list, after vgg, still ran
    assert "vgg" not in frontends_of(calls, "run ")  # no transfer rows without the training
    assert "stub: vgg fails" in (tmp_path / "out" / "logs" / "trained_rows-vgg.log").read_text()


@pytest.mark.parametrize(("env", "message"), [({"JOBS": "0"}, "JOBS must be a positive whole number"),
                                              ({"JOBS": "two"}, "JOBS must be a positive whole number"),
                                              ({"WIDTH": "huge"}, "WIDTH must be small or paper")])
def test_bad_settings_are_refused_before_anything_runs(tmp_path, env, message):
    proc, calls, _ = run_study(tmp_path, "esc-train", **env)
    assert proc.returncode == 2 and message in proc.stderr and calls == []


def test_an_unknown_stage_is_named(tmp_path):
    proc, calls, _ = run_study(tmp_path, "esc-trian")
    assert proc.returncode == 2 and "no stage 'esc-trian'" in proc.stderr and calls == []
