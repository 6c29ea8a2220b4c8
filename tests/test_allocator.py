"""rwbench.allocator: glibc's malloc thresholds raised at start-up, the same arithmetic, fewer page faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import rwbench.allocator as allocator
from rwbench.allocator import TUNED, malloc_choice, tune_malloc
from rwbench.cli import main

GLIBC = allocator._libc() is not None

# one epoch of a small log-mel network (a search-space architecture of the studies) on noise, then its logits
EPOCH = """
import hashlib, json, resource, torch
from rwbench.allocator import tune_malloc
tuned = tune_malloc()
from rwbench.frontend import FRONTENDS
from rwbench.train import Classifier
torch.set_num_threads(1)
spec = FRONTENDS.get("logmel:5f65a9bd")
waves = 0.1 * torch.randn(64, 5 * spec.sample_rate, generator=torch.Generator().manual_seed(0))
model = Classifier(spec, "small", 4, seed=0, dropout=0.0)
optimizer = torch.optim.Adam(model.parameters(), 1e-3)
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for batch in torch.arange(64).split(16):
    loss = model(waves[batch]).logsumexp(1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
logits = model.eval()(waves[:8]).detach()
digest = hashlib.sha256(b"".join(t.contiguous().numpy().tobytes() for t in [*model.state_dict().values(), logits]))
print(json.dumps({"tuned": tuned, "faults": faults, "digest": digest.hexdigest()}))
"""


@pytest.mark.parametrize(("environ", "choice"), [
    ({}, "tuned"),
    ({"RWBENCH_MALLOC": "tuned"}, "tuned"),
    ({"RWBENCH_MALLOC": "system"}, "system"),
    ({"MALLOC_ARENA_MAX": "2"}, "system"),  # the user tunes glibc: left as it is
    ({"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}, "system"),  # another allocator
    ({"LD_PRELOAD": "/opt/libfoo.so"}, "tuned"),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, "system"),  # glibc's own way to tune it
    ({"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=2048"}, "tuned"),  # another tunable
])
def test_the_environment_decides(environ, choice):
    assert malloc_choice(environ) == choice


def test_an_unknown_choice_is_refused_by_the_command_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "rwbench.cli", "list", "datasets"], capture_output=True, text=True,
                         env={**os.environ, "RWBENCH_MALLOC": "fast"}, cwd=tmp_path)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == "rwbench: error: RWBENCH_MALLOC='fast': use tuned or system (unset: tuned)"


def test_the_thresholds_set_are_the_tuned_ones(monkeypatch):
    calls = []

    class Libc:
        @staticmethod
        def mallopt(parameter, value):
            calls.append((parameter, value))
            return 1

    monkeypatch.setattr(allocator, "_libc", Libc)
    assert tune_malloc({}) and calls == list(TUNED.items())
    calls.clear()
    assert not tune_malloc({"RWBENCH_MALLOC": "system"}) and calls == []


def test_a_threshold_glibc_refuses_reads_as_untuned(monkeypatch):
    monkeypatch.setattr(allocator, "_libc", lambda: type("Libc", (), {"mallopt": staticmethod(lambda p, v: 0)}))
    assert tune_malloc({}) is False


def test_the_command_line_tunes_before_its_command_runs(monkeypatch):
    seen = []
    monkeypatch.setattr("rwbench.cli.tune_malloc", lambda: seen.append("tuned"))
    assert main(["list", "datasets"]) == 0
    assert seen == ["tuned"]


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt: elsewhere rwbench leaves malloc as it is")
def test_same_weights_with_far_fewer_page_faults():
    """Real processes, one per allocator: a training epoch gives the same weights and logits bit for bit, and the
    tuned heap keeps its pages (here about half the faults of glibc's defaults; a full ESC-10 epoch: a seventh)."""
    runs = {}
    # without a malloc setting of the caller's (a Dask nanny started by an earlier test puts MALLOC_TRIM_THRESHOLD_
    # into this process's environment before it spawns its worker, and then rwbench rightly leaves malloc alone)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "LD_PRELOAD"}
    for choice in ("system", "tuned"):
        out = subprocess.run([sys.executable, "-c", EPOCH], capture_output=True, text=True, check=True,
                             env={**environ, "RWBENCH_MALLOC": choice, "OMP_NUM_THREADS": "1"}).stdout
        runs[choice] = json.loads(out.splitlines()[-1])
    assert (runs["system"]["tuned"], runs["tuned"]["tuned"]) == (False, True)
    assert runs["tuned"]["digest"] == runs["system"]["digest"]
    assert runs["tuned"]["faults"] < 0.7 * runs["system"]["faults"], runs
