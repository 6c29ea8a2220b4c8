"""benchmarks/gpu.sh runs unchanged on CPU (--device cpu --quick), so it is known to work before it meets a GPU."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_script_runs_every_step_on_cpu_and_records_each(tmp_path):
    out = tmp_path / "gpu"
    done = subprocess.run([str(ROOT / "benchmarks" / "gpu.sh"), "--device", "cpu", "--quick"], cwd=ROOT,
                          env={**os.environ, "GPU_OUT": str(out)}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = (out / "summary.md").read_text()
    steps = re.findall(r"^\| ([^|]+) \| (\d+)[^|]* \| \d+ \| (\S+) \|$", summary, re.M)
    assert [name for name, _, _ in steps] == ["tests on the device path", "profile fp32, small width",
                                               "profile bf16, small width", "elm_torch vs hpelm",
                                               "Gram matrix, device vs cpu", "GTZAN-sized study (synthetic timbre)"]
    for name, status, file in steps:
        assert status == "0", f"{name} failed: {(out / file).read_text()[-2000:]}"
    assert "- device: cpu (--device cpu, --quick)" in summary
    profile = (out / "profile-fp32.md").read_text()
    assert re.search(r"^\| sample_level .*\|\s+[\d.]+ \|\s+[\d.]+ \|$", profile, re.M), "a row with % peak and MiB"
    assert "| % peak |" in re.sub(r" +", " ", profile)
    assert re.search(r"predictions agree on 1\.0000 of \d+ test clips", (out / "elm.txt").read_text())
    assert "max abs difference 0.00e+00" in (out / "gram.txt").read_text()
    assert list((out / "study" / "runs").rglob("*.json")), "the timed study wrote its result files"
