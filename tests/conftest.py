"""Shared test helpers: tiny seeded audio files and the location of the real shared data."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist (pyproject's addopts: `-n 2`) each worker process runs one test at a time on its share of
    # the cores: one torch/BLAS/OpenMP thread each, so two workers on 2 cores do not fight over 4 threads. The
    # environment variables reach the processes the tests start (rwbench commands, scripts, Dask workers); the
    # pools of this process are set directly, since BLAS read the variables when numpy was imported.
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_variable] = "1"
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def pytest_collection_modifyitems(items):
    """The modules with a test marked ``slow`` first (each keeping its tests' order): pytest-xdist hands out whole
    modules in this order (pyproject: --dist loadfile --no-loadscope-reorder), so a 100-s test does not start last
    while the other worker sits idle. Only the order changes; no test relies on it."""
    slow = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow)  # stable: the rest keep collection order


def write_audio(path: Path, seconds: float = 0.2, rate: int = 8000, channels: int = 1, **kwargs) -> Path:
    """Write seeded noise (distinct per file name) to ``path``; the format follows the extension."""
    rng = np.random.default_rng(zlib.crc32(str(path.name).encode()))
    data = (0.1 * rng.standard_normal((int(seconds * rate), channels))).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("format", path.suffix.lstrip(".").upper())
    with open(path, "wb") as f:  # a file object: libsndfile opens paths ~15x slower
        sf.write(f, data, rate, **kwargs)
    return path


@pytest.fixture(autouse=True, scope="session")
def rwbench_home(tmp_path_factory):
    """The tests' own rwbench home (file-hash memo; weights unless RWBENCH_WEIGHTS is set): never the user's."""
    home = tmp_path_factory.mktemp("rwbench-home")
    previous = os.environ.get("RWBENCH_HOME")
    os.environ["RWBENCH_HOME"] = str(home)
    yield home
    if previous is None:
        del os.environ["RWBENCH_HOME"]
    else:
        os.environ["RWBENCH_HOME"] = previous


@pytest.fixture
def audio_file():
    """The :func:`write_audio` helper."""
    return write_audio


def shared_data(name: str) -> Path:
    """``$RWBENCH_SHARED_DATA/<name>`` or ``../shared/data/<name>``; skips the test when absent."""
    base = Path(os.environ.get("RWBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = base / name
    if not path.is_dir():
        pytest.skip(f"real audio {path} is absent (set RWBENCH_SHARED_DATA to the folder holding {name}/)")
    return path


def shared(relative: str) -> Path:
    """``../shared/<relative>`` (the reference outputs, the musicnn wheel); skips the test when absent."""
    path = Path(__file__).resolve().parents[2] / "shared" / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (it comes with the project's shared folder, not with the package)")
    return path


MUSICNN_WHEEL = "weights/musicnn-0.1.0-py3-none-any.whl"


@pytest.fixture(scope="session")
def musicnn_wheel(request) -> Path:
    """The published musicnn wheel: the shared folder's copy, else downloaded with pip as a user's machine would
    (the test skips, saying why, where neither is possible)."""
    from published import wheel

    path = Path(__file__).resolve().parents[2] / "shared" / MUSICNN_WHEEL
    return path if path.is_file() else wheel(request.config, "musicnn")


@pytest.fixture(scope="session")
def musicnn_home(tmp_path_factory, musicnn_wheel) -> Path:
    """A weights folder with the musicnn pack installed from the published wheel (converted once per session)."""
    from rwbench.weight_packs import fetch

    home = tmp_path_factory.mktemp("weights")
    fetch("musicnn", musicnn_wheel, home=home)
    return home


@pytest.fixture
def weights_home(musicnn_home, monkeypatch) -> Path:
    """``RWBENCH_WEIGHTS`` pointed at :func:`musicnn_home` for one test."""
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(musicnn_home))
    return musicnn_home


def result_dicts(results_dir: Path) -> list[dict]:
    """The result records under ``results_dir`` as the JSON mappings they are stored as."""
    from rwbench.results import iter_results

    return [record.to_json() for record in iter_results(results_dir)]


def secondary_metrics(truth, predicted) -> dict[str, float]:
    """Balanced accuracy and macro F1 of a hand-made multiclass fold, as its per-clip outputs give them (a result
    whose stored metrics its outputs contradict is refused)."""
    from sklearn.metrics import balanced_accuracy_score, f1_score

    return {"balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", labels=np.union1d(truth, predicted)))}
