"""``rwbench profile``: its rows are consistent with each other, memory is measured, failures are named."""

import io
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from toy import DEVICES

from rwbench import profile as profile_module
from rwbench.cli import main
from rwbench.frontend import FRONTENDS
from rwbench.macs import count_macs
from rwbench.profile import Peak, PeakMemory, PeakShape, ProfileOptions, device_peak, peak_shapes, profile, render

QUICK = ProfileOptions(seconds=1.5, batch_size=2, repeats=1, warmup=1)  # not 1 s: MACs per clip scale with it


@pytest.fixture
def fixed_peak(monkeypatch):
    """A fixed peak: these tests check the arithmetic, not this machine's speed."""
    monkeypatch.setattr(profile_module, "device_peak",
                        lambda device, repeats, dtype: Peak(100.0, "mm 9²", {"mm 9²": 100.0, "b": 50.0}))


def test_on_cuda_the_peak_is_measured_with_the_cudnn_autotuning_the_front_ends_get(monkeypatch):
    """The peak's conv2d shapes ran without cudnn.benchmark, the front-ends with it: a low reference, a high % peak.
    (No GPU needed: the device is said to be CUDA and the peak stops the run once it has seen the setting.)"""
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(profile_module, "resolve_device", lambda device: torch.device("cuda"))
    seen = []

    def peak(device, repeats, dtype):
        seen.append(torch.backends.cudnn.benchmark)
        raise KeyboardInterrupt

    monkeypatch.setattr(profile_module, "device_peak", peak)
    with pytest.raises(KeyboardInterrupt):
        profile(FRONTENDS.select("mst"), QUICK)
    assert seen == [True]


@pytest.mark.parametrize("device", DEVICES)
def test_rows_are_consistent_with_the_counted_work(fixed_peak, device):
    opts = ProfileOptions(**{**QUICK.__dict__, "device": device})
    rows, notes = profile(FRONTENDS.select("mst,piczak"), opts)
    assert [r["front-end"] for r in rows] == ["mst", "piczak"] and not any(n.startswith("failed") for n in notes)
    for row in rows:
        spec = FRONTENDS.get(row["front-end"])
        assert row["MMAC/clip"] == pytest.approx(count_macs(spec, "small", 1.5) * 1.5 / 1e6, rel=1e-3)  # per second × s
        assert row["ms/clip"] == pytest.approx(1e3 / row["clips/s"])
        assert row["GFLOP/s"] == pytest.approx(2 * row["MMAC/clip"] * 1e6 * row["clips/s"] / 1e9)
        assert row["% peak"] == pytest.approx(row["GFLOP/s"])  # against the fixed 100 GFLOP/s
        assert row["dim"] == spec.dim("small") and row["peak MiB"] >= 0
    assert notes[0].startswith(f"device {device}")


def test_a_failing_frontend_is_named_and_the_others_are_kept(fixed_peak, monkeypatch):
    """Only piczak's network is too large for the machine (its memory check fails, mst's passes): mst's row stays.
    (At --width 100000 both used to fail here, and `rows == []` passed whatever profile() dropped.)"""
    from rwbench.frontend import FrontendSpec

    real = FrontendSpec.memory_needed
    monkeypatch.setattr(FrontendSpec, "memory_needed", lambda spec, *a, **k: (
        {"weights": 2**50, "activations": 0} if spec.name == "piczak" else real(spec, *a, **k)))
    rows, notes = profile(FRONTENDS.select("mst,piczak"), QUICK)
    assert [r["front-end"] for r in rows] == ["mst"]
    failed = [n for n in notes if n.startswith("failed: ")]
    assert len(failed) == 1 and failed[0].startswith("failed: piczak") and "needs about" in failed[0]
    assert "Use a smaller --width or --batch-size" in failed[0]


def test_peak_memory_sees_a_short_allocation_on_cpu():
    with PeakMemory(torch.device("cpu")) as memory:
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        del block
    assert 150 < memory.mib < 400
    with PeakMemory(torch.device("cpu")) as idle:
        pass
    assert idle.mib < 50


def test_formats_carry_the_notes_and_every_column(fixed_peak):
    rows, notes = profile(FRONTENDS.select("mst"), QUICK)
    table = pd.read_csv(io.StringIO(render(rows, notes, "csv")), comment="#")
    assert list(table.columns) == list(rows[0]) and len(table) == 1
    data = json.loads(render(rows, notes, "json"))
    assert data["notes"] == notes and data["rows"] == rows
    markdown = render(rows, notes, "md")
    assert markdown.startswith(notes[0]) and "| mst " in markdown


@pytest.mark.slow
def test_the_command_runs_in_a_real_process(tmp_path):
    out = tmp_path / "profile.json"
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "profile", "--frontends", "mst", "--seconds", "1",
                           "--batch-size", "2", "--repeats", "1", "--peak-repeats", "1", "--threads", "1", "--format",
                           "json", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert "threads 1" in data["notes"][0] and "float32 peak" in data["notes"][1] and "shapes" in data["notes"][2]
    assert "each best of 1)" in data["notes"][1]
    (row,) = data["rows"]
    assert row["front-end"] == "mst" and row["clips/s"] > 0 and 0 < row["% peak"]


@pytest.mark.parametrize("argv, match", [
    (["profile", "--frontends", "nosuch"], "unknown front-end 'nosuch'"),
    (["profile", "--repeats", "0"], "--repeats takes a positive int"),
    (["profile", "--precision", "int8"], "invalid choice: 'int8'"),
    # float16 products on a CPU: the peak alone ran for tens of minutes without a word
    (["profile", "--frontends", "mst", "--device", "cpu", "--precision", "fp16"], "--precision fp16 on the CPU"),
])
def test_bad_options_give_one_clear_line(capsys, argv, match):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_the_best_peak_shape_is_kept_and_named():
    seconds = {"slow square": 2.0, "fast conv": 0.5, "transposed": 1.0}
    shapes = [PeakShape(name, 1e9, lambda device, dtype, name=name: name) for name in seconds]  # make → the call to time
    timed = []

    def timer(call, device, *, repeats, warmup):
        timed.append((call, repeats))
        return seconds[call]

    peak = device_peak(torch.device("cpu"), shapes, repeats=4, timer=timer)
    assert peak == Peak(2.0, "fast conv", {"slow square": 0.5, "fast conv": 2.0, "transposed": 1.0})
    assert timed == [(name, 4) for name in seconds]


def test_the_peak_candidates_cover_sizes_layouts_and_convolutions():
    names = [shape.name for shape in peak_shapes(torch.device("cpu"))]
    assert sum(name.startswith("mm ") and "A·B)" in name for name in names) >= 3
    assert any("Aᵀ·B" in name for name in names) and any("A·Bᵀ" in name for name in names)
    assert any(name.startswith("vgg conv") for name in names) and any(name.startswith("conv2d") for name in names)
    shape = profile_module._gemm(3, 4, 5, "tiny", "Aᵀ·B")
    assert shape.flop == 2 * 3 * 4 * 5 and shape.make(torch.device("cpu"), torch.float32)().shape == (3, 5)
    assert shape.make(torch.device("cpu"), torch.bfloat16)().dtype == torch.bfloat16


@pytest.mark.parametrize(("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_the_peak_is_measured_in_the_precision_the_front_ends_compute_in(monkeypatch, precision, dtype):
    # an H200 run read "% peak" 221–407 for bf16 networks measured against its float32 peak
    seen = []
    monkeypatch.setattr(profile_module, "device_peak",
                        lambda device, repeats, dtype: seen.append(dtype) or Peak(100.0, "mm 9²", {"mm 9²": 100.0}))
    _, notes = profile(FRONTENDS.select("mst"), ProfileOptions(**{**QUICK.__dict__, "precision": precision}))
    assert seen == [dtype] and f"{str(dtype).removeprefix('torch.')} peak 100.0 GFLOP/s" in notes[1]


def test_the_header_names_the_winning_shape_and_the_rewrites(fixed_peak):
    rows, notes = profile(FRONTENDS.select("mst"), QUICK)
    assert "float32 peak 100.0 GFLOP/s (mm 9²; the best of 2 shapes" in notes[1]
    assert "rewrites fused; torch.compile off" in notes[1] and notes[2] == "peak shapes, GFLOP/s: mm 9² 100.0; b 50.0"
    plain, plain_notes = profile(FRONTENDS.select("mst"), ProfileOptions(**{**QUICK.__dict__, "fuse": False}))
    assert "rewrites off" in plain_notes[1]
    assert rows[0]["params"] == plain[0]["params"] == FRONTENDS.get("mst").param_count("small")  # as built


def test_a_failed_compile_is_a_failed_row_not_an_eager_timing(fixed_peak, monkeypatch):
    def broken(fn):
        def run(*args, **kwargs):
            raise RuntimeError("no compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    rows, notes = profile(FRONTENDS.select("mst"), ProfileOptions(**{**QUICK.__dict__, "compile": True}))
    assert rows == [] and any(n.startswith("failed: mst") and "torch.compile failed" in n for n in notes)


@pytest.mark.parametrize("field, value, problem", [
    ("precision", "fp8", "precision 'fp8' is not one of"),
    ("seconds", 0.0, "seconds 0.0 must be a positive number of seconds"),
    ("repeats", 0, "repeats 0 and peak_repeats 5 must be at least 1"),
    ("peak_repeats", 0, "peak_repeats 0 must be at least 1"),
    ("batch_size", 0, "batch_size 0 must be at least 1"),  # the shared groups check their own fields
    ("device", "tpu", "device 'tpu' is not one of"),
])
def test_profile_options_refuse_what_they_cannot_time(field, value, problem):
    from rwbench.errors import RwbenchError

    with pytest.raises(RwbenchError, match=re.escape(problem)):
        ProfileOptions(**{field: value})
