"""Result records: one JSON file per (dataset/task, front-end, width, weights, seed, backend).

Fields are explained column by column in ``results/README.md``. The leaderboard is derived from
these files only.
"""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

from . import __version__
from .cache import read_json, write_json

SCHEMA_VERSION = 1
PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "hpelm", "librosa", "soundfile", "soxr", "pandas")


@cache
def git_sha() -> str | None:
    """The commit of the rwbench source tree, when it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


@cache
def environment() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
            "packages": versions}


def provenance() -> dict:
    return {"schema_version": SCHEMA_VERSION, "rwbench_version": __version__, "git_sha": git_sha(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": environment()}


def result_path(results_dir: Path, *, dataset: str, frontend: str, width: str, weights: str, seed: int,
                backend: str, variant: str = "") -> Path:
    suffix = f"__{safe(variant)}" if variant else ""
    name = f"{safe(frontend)}__{safe(width)}__{safe(weights)}__seed{seed}__{safe(backend)}{suffix}.json"
    return results_dir / "runs" / safe(dataset.replace("/", "__")) / name


def variant(frontend: dict) -> str:
    """How a result's front-end instance differs from crop + mean pooling + its default layers, or ''."""
    parts = [frontend["pooling"]] if frontend["pooling"] != "mean" else []
    if frontend.get("segment"):
        seg = frontend["segment"]
        parts.append(f"seg{seg['seconds']:g}s-hop{seg['hop']:g}s-{seg['aggregate']}")
    if not frontend.get("default_layers", True):
        parts.append("+".join(frontend["layers"]))
    return ",".join(parts)


def fold_weights_folder(results_dir: Path, tag: str, dataset: str, frontend: str, width: str | int, seed: int) -> Path:
    """Where per-outer-fold weights of kind ``tag`` (``trained``, ``mst``) of one front-end instance live:
    ``<results>/weights/<tag>/<dataset>/<front-end>__<width>__seed<k>/<fold>.safetensors``."""
    return (Path(results_dir) / "weights" / tag / safe(dataset.replace("/", "__"))
            / f"{safe(frontend)}__{safe(width)}__seed{seed}")


def safe(text: object) -> str:
    """A file-name-safe form of ``text``."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in str(text))


def write_result(path: Path, record: dict) -> None:
    write_json(path, record)


def iter_results(results_dir: Path) -> Iterator[dict]:
    """Every result record under ``results_dir/runs``, in a stable order."""
    for path in sorted((Path(results_dir) / "runs").rglob("*.json")):
        record = read_json(path)
        if record.get("schema_version") == SCHEMA_VERSION:
            yield record
