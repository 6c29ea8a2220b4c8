"""``rwbench profile``: its rows are consistent with each other, memory is measured, failures are named."""

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from toy import DEVICES

from rwbench import profile as profile_module
from rwbench.check import count_macs
from rwbench.cli import main
from rwbench.frontend import FRONTENDS
from rwbench.profile import PeakMemory, ProfileOptions, profile, render

QUICK = ProfileOptions(seconds=1.0, batch_size=2, repeats=1, warmup=1)


@pytest.fixture
def fixed_peak(monkeypatch):
    """A fixed matmul peak: these tests check the arithmetic, not this machine's speed."""
    monkeypatch.setattr(profile_module, "matmul_peak", lambda device: 100.0)


@pytest.mark.parametrize("device", DEVICES)
def test_rows_are_consistent_with_the_counted_work(fixed_peak, device):
    opts = ProfileOptions(**{**QUICK.__dict__, "device": device})
    rows, notes = profile(FRONTENDS.select("mst,piczak"), opts)
    assert [r["front-end"] for r in rows] == ["mst", "piczak"] and not any(n.startswith("failed") for n in notes)
    for row in rows:
        spec = FRONTENDS.get(row["front-end"])
        assert row["MMAC/clip"] == pytest.approx(count_macs(spec, "small", 1.0) / 1e6)
        assert row["ms/clip"] == pytest.approx(1e3 / row["clips/s"])
        assert row["GFLOP/s"] == pytest.approx(2 * row["MMAC/clip"] * 1e6 * row["clips/s"] / 1e9)
        assert row["% peak"] == pytest.approx(row["GFLOP/s"])  # against the fixed 100 GFLOP/s
        assert row["dim"] == spec.dim("small") and row["peak MiB"] >= 0
    assert notes[0].startswith(f"device {device}")


def test_a_failing_frontend_is_named_and_the_others_are_kept(fixed_peak):
    rows, notes = profile(FRONTENDS.select("mst,piczak"), ProfileOptions(**{**QUICK.__dict__, "width": "100000"}))
    assert rows == [] or all(r["front-end"] != "piczak" for r in rows)
    failed = [n for n in notes if n.startswith("failed: piczak")]
    assert failed and "needs about" in failed[0] and "Use a smaller --width or --batch-size" in failed[0]


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


def test_the_command_runs_in_a_real_process(tmp_path):
    out = tmp_path / "profile.json"
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "profile", "--frontends", "mst", "--seconds", "1",
                           "--batch-size", "2", "--repeats", "1", "--threads", "1", "--format", "json", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert "threads 1" in data["notes"][0] and "matmul peak" in data["notes"][1]
    (row,) = data["rows"]
    assert row["front-end"] == "mst" and row["clips/s"] > 0 and 0 < row["% peak"]


@pytest.mark.parametrize("argv, match", [
    (["profile", "--frontends", "nosuch"], "unknown front-end 'nosuch'"),
    (["profile", "--repeats", "0"], "--repeats takes a positive int"),
    (["profile", "--precision", "int8"], "invalid choice: 'int8'"),
])
def test_bad_options_give_one_clear_line(capsys, argv, match):
    assert main(argv) == 2
    assert match in capsys.readouterr().err
