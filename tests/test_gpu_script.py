"""benchmarks/gpu.sh runs unchanged on CPU (--device cpu --quick), so it is known to work before it meets a GPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def test_the_gram_step_times_the_copies_to_and_from_the_device():
    """The device side timed cdist alone, without the features' copy to it and the Gram matrix's back (KernelSVC would
    pay both; the ratio read as "what moving it would gain"). The step's own Python, on CPU at a tiny size."""
    script = (ROOT / "benchmarks" / "gpu.sh").read_text()
    gram = re.search(r"gram\.txt python - .*?<<'EOF'\n(.*?)\nEOF\n", script, re.S).group(1)
    timed = gram[gram.index("start = time.perf_counter()"):gram.index("times.append")]
    assert ".to(on)" in timed and ".cpu()" in timed
    done = subprocess.run([sys.executable, "-", "cpu", "50", "8"], input=gram, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "(the copies to and from it included)" in done.stdout and "max abs difference 0.00e+00" in done.stdout
