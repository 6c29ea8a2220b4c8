"""Result records: one JSON file per (dataset/task, front-end, width, weights, seed, backend).

Fields are explained column by column in ``results/README.md``. The leaderboard is derived from
these files only.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import metadata
from pathlib import Path

from . import __version__
from .cache import exclusive, write_json
from .errors import RwbenchError
from .tasks import TaskType, task_type

log = logging.getLogger(__name__)

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
    """How a result's front-end instance differs from crop + mean pooling + its default layers + fp32, or ''."""
    parts = [frontend["pooling"]] if frontend["pooling"] != "mean" else []
    if frontend.get("precision", "fp32") != "fp32":
        parts.append(frontend["precision"])
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


@dataclass(frozen=True)
class ResultRecord:
    """One result file: what was evaluated (dataset, front-end instance, backend, seed), the outer folds' scores
    and per-clip predictions, and provenance. Fields are explained in ``results/README.md``; the nested
    sections stay mappings, checked against :data:`SCHEMA` on reading."""

    schema_version: int
    rwbench_version: str
    git_sha: str | None
    created: str
    environment: dict
    run_key: str
    dataset: dict
    frontend: dict
    backend: dict
    seed: int
    device: str
    folds: tuple[dict, ...]
    summary: dict
    timings: dict
    training: dict | None = None  # trained rows: epochs run, best epoch, validation loss per fold

    def to_json(self) -> dict:
        out = {**asdict(self), "folds": [dict(f) for f in self.folds]}
        if self.training is None:
            del out["training"]
        return out

    @classmethod
    def from_json(cls, data: object, where: str = "result") -> ResultRecord:
        problem = result_problem(data)
        if problem:
            raise RwbenchError(f"{where} is not a valid rwbench result: {problem}")
        names = {f.name for f in fields(cls)}
        missing = sorted(names - {"training"} - set(data))  # type: ignore[arg-type]
        if missing:
            raise RwbenchError(f"{where} is not a valid rwbench result: {', '.join(missing)} missing")
        return cls(**{k: v for k, v in data.items() if k in names} | {"folds": tuple(data["folds"])})  # type: ignore


def write_result(path: Path, record: ResultRecord) -> None:
    write_json(path, record.to_json())


def result_lock(results_dir: Path, path: Path) -> AbstractContextManager[None]:
    """The lock that one process holds while it computes the result file ``path`` (lock files live under
    ``<results>/.locks``, out of the leaderboard's way)."""
    relative = Path(path).relative_to(Path(results_dir))
    return exclusive(Path(results_dir) / ".locks" / relative.with_suffix(".lock"), f"the result {relative}")


# What the leaderboard reads from a result, by type (a dict: nested fields; a list element type: every item). The
# folds carry the metrics of the dataset's task type (``dataset.task_type``; absent: multiclass), see fold_schema.
NUMBER = (int, float)
SCHEMA = {
    "schema_version": int, "seed": int,
    "dataset": {"key": str, "skipped": [{"clip": str, "reason": str}]},
    "frontend": {"name": str, "input_kind": str, "width": str, "weights": str, "pooling": str, "feature_dim": int,
                 "params": int},
    "backend": {"name": str},
    "folds": [{}],
    "timings": {"embed_seconds_per_clip": NUMBER},
}


def fold_schema(task: TaskType) -> list[dict]:
    """What every fold of a result of ``task`` carries: its metrics."""
    return [dict.fromkeys(task.metrics, NUMBER)]


def task_of(record: ResultRecord | dict) -> TaskType:
    """The task type of a result (its ``dataset.task_type``; results before task types are multiclass)."""
    dataset = record.dataset if isinstance(record, ResultRecord) else record["dataset"]
    return task_type(dataset.get("task_type"))


def schema_problem(value: object, schema: object, where: str = "") -> str | None:
    """The first way ``value`` departs from ``schema`` (see :data:`SCHEMA`), or None."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where or 'the file'} is {type(value).__name__}, not an object"
        for name, inner in schema.items():
            if name not in value:
                return f"{where + '.' if where else ''}{name} is missing"
            problem = schema_problem(value[name], inner, f"{where + '.' if where else ''}{name}")
            if problem:
                return problem
        return None
    if isinstance(schema, list):
        if not isinstance(value, list):
            return f"{where} is {type(value).__name__}, not a list"
        return next((p for i, item in enumerate(value) if (p := schema_problem(item, schema[0], f"{where}[{i}]"))), None)
    if isinstance(value, bool) or not isinstance(value, schema):  # bool is an int to Python, never to a schema
        names = " or ".join(t.__name__ for t in (schema if isinstance(schema, tuple) else (schema,)))
        return f"{where} is {value!r}, not {names}"
    return None


def result_problem(record: object) -> str | None:
    """Why ``record`` is not a result the leaderboard can use, or None."""
    if isinstance(record, dict) and record.get("schema_version") != SCHEMA_VERSION:
        return f"schema_version is {record.get('schema_version')!r}, this rwbench reads {SCHEMA_VERSION}"
    problem = schema_problem(record, SCHEMA)
    if problem:
        return problem
    try:
        task = task_of(record)
    except RwbenchError as err:
        return f"dataset.task_type: {err}"
    problem = schema_problem(record["folds"], fold_schema(task), "folds")
    if problem:
        return problem
    if not record["folds"]:
        return "folds is empty"
    for i, fold in enumerate(record["folds"]):
        for name in task.metrics:
            if not math.isfinite(fold[name]) or not 0 <= fold[name] <= 1:
                return f"folds[{i}].{name} is {fold[name]!r}, not a score in [0, 1]"
    return None


def iter_results(results_dir: Path, *, strict: bool = False,
                 invalid: list[tuple[str, str]] | None = None) -> Iterator[ResultRecord]:
    """Every valid result record under ``results_dir/runs``, in a stable order. A file that cannot be read
    or breaks the schema is skipped with a warning naming it (and appended to ``invalid`` as (path, problem)),
    or, with ``strict``, is an error."""
    for path in sorted((Path(results_dir) / "runs").rglob("*.json")):
        try:
            data = json.loads(path.read_text())
            problem = result_problem(data)
            record = ResultRecord.from_json(data, str(path)) if problem is None else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            problem = f"unreadable: {err}"
        except RwbenchError as err:
            problem = str(err)
        if problem is None:
            yield record
        elif strict:
            raise RwbenchError(f"{path} is not a valid rwbench result: {problem}")
        else:
            if invalid is not None:
                invalid.append((str(path), problem))
            log.warning("skipping %s: not a valid rwbench result (%s); --strict makes this an error", path, problem)
