"""Result records: one JSON file per (dataset/task, front-end, width, weights, seed, backend).

Fields are explained column by column in ``results/README.md``. The leaderboard is derived from
these files only.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np

from . import __version__
from .errors import RwbenchError
from .filehash import sha256_of
from .fileio import atomic_path, content_key, exclusive, read_json, write_json
from .folds import FoldResult
from .protocol import outer_split_names
from .tasks import TaskType, task_type

if TYPE_CHECKING:
    from .datamodel import Dataset
    from .folds import FoldResult
    from .frontend import FrontendSpec

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: per-clip outputs (scores) in every fold, grid edges, one builder; v1 files upgraded on reading
READABLE_VERSIONS = (1, 2)  # the versions :func:`upgrade` turns into this one
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
def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
            "packages": versions}


def provenance() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "rwbench_version": __version__, "git_sha": git_sha(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": environment()}


def result_path(results_dir: Path, *, dataset: str, frontend: str, width: str, weights: str, seed: int,
                backend: str, variant: str = "") -> Path:
    suffix = f"__{safe(variant)}" if variant else ""
    name = f"{safe(frontend)}__{safe(width)}__{safe(weights)}__seed{seed}__{safe(backend)}{suffix}.json"
    return results_dir / "runs" / safe(dataset.replace("/", "__")) / name


def variant(frontend: dict[str, Any]) -> str:
    """How a result's front-end instance differs from crop + mean pooling + its own init + its default layers +
    fp32, or ''."""
    parts = [frontend["pooling"]] if frontend["pooling"] != "mean" else []
    if not frontend.get("default_init", True):
        parts.append(f"init={frontend['init']}")
    if frontend.get("precision", "fp32") != "fp32":
        parts.append(frontend["precision"])
    if frontend.get("segment"):
        seg = frontend["segment"]
        parts.append(f"seg{exact(seg['seconds'])}s-hop{exact(seg['hop'])}s-{seg['aggregate']}")
    if not frontend.get("default_layers", True):
        parts.append("+".join(frontend["layers"]))
    return ",".join(parts)


def exact(seconds: float) -> str:
    """``seconds`` as short as ``:g`` writes it where that reads back the same number, else in full (two segment
    lengths equal to 6 significant digits get two file names)."""
    short = f"{seconds:g}"
    return short if float(short) == seconds else repr(float(seconds))


# Weights rwbench makes itself, one file per outer fold (``rwbench train``; ``rwbench pretrain mst``); "trained"
# fits every network with weights, "mst" those that list it.
FOLD_TAGS = ("trained", "mst")


def seeded(tag: str) -> bool:
    """Whether weights ``tag`` differ per seed (random, per-fold trainings); the others (pretrained, DSP, none) are
    embedded and evaluated once, as seed 0, whatever ``--seeds`` says."""
    return tag == "random" or tag in FOLD_TAGS


def fold_weights_folder(results_dir: Path, tag: str, dataset: str, frontend: str, width: str | int, seed: int) -> Path:
    """Where per-outer-fold weights of kind ``tag`` (``trained``, ``mst``) of one front-end instance live:
    ``<results>/weights/<tag>/<dataset>/<front-end>__<width>__seed<k>/<fold>.safetensors``."""
    return (Path(results_dir) / "weights" / tag / safe(dataset.replace("/", "__"))
            / f"{safe(frontend)}__{safe(width)}__seed{seed}")


def fold_weights_data(dataset: Dataset) -> dict[str, str]:
    """What per-fold weights were trained on (recorded in each ``<fold>.json``): the clips (fingerprint) and the outer
    splits (a hash of every split's training and test clip ids). Weights of fold k embed fold k's test clips only
    under the same two: another fold assignment under the same dataset key (a seed, a folds file, edited metadata)
    would embed clips they were trained on."""
    ids = np.array([c.id for c in dataset.clips])
    splits = {s.name: {"train": sorted(ids[s.train].tolist()), "test": sorted(ids[s.test].tolist())}
              for s in dataset.splits()}
    return {"fingerprint": dataset.fingerprint(), "splits": content_key(splits)}


def network_identity(spec: FrontendSpec) -> dict[str, Any]:
    """What network a front-end builds: its name, version and, for a plugin, its code
    (:attr:`~rwbench.frontend.FrontendSpec.code`); recorded in a per-fold weights file's ``<fold>.json`` (what it was
    trained for) and in every result (seeds of one row computed by two networks are named by the leaderboard)."""
    return {"name": spec.name, "version": spec.version, **({"code": code} if (code := spec.code_now) else {})}


def splits_key(protocol: dict[str, Any] | None) -> str:
    """A key of the outer splits a result was scored on: its dataset protocol, less the marks the study's protocol
    adds to it (``evaluation``, ``evaluation_version``: rwbench.published_protocol)."""
    return content_key({k: v for k, v in (protocol or {}).items() if k not in ("evaluation", "evaluation_version")})


def retrain_command(tag: str) -> str:
    """The command that makes per-fold weights of kind ``tag`` (:data:`FOLD_TAGS`)."""
    return "rwbench train" if tag == "trained" else f"rwbench pretrain {tag}"


def check_fold_weights(folder: Path, fold: str, dataset: Dataset, spec: FrontendSpec, head: Path | None = None,
                       tag: str = "trained") -> None:
    """Refuse ``folder``'s ``fold`` weights (of kind ``tag``) where its ``<fold>.json`` does not vouch for them: the
    file is not the one it records (its sha256: replaced, or written by a training killed before its record), or was
    trained for another version of ``spec``'s network (:func:`network_identity`) — then
    :func:`check_fold_weights_data`."""
    check_fold_weights_file(folder, fold, spec, tag)
    check_fold_weights_data(folder, fold, dataset, head, tag)


def check_fold_weights_file(folder: Path, fold: str, spec: FrontendSpec, tag: str = "trained") -> None:
    """The part of :func:`check_fold_weights` that needs no dataset: the weights file is the one its record names,
    trained for this version of ``spec``'s network."""
    record, weights = folder / f"{fold}.json", folder / f"{fold}.safetensors"
    try:
        summary = read_json(record) if record.is_file() else {}
    except RwbenchError:
        summary = {}  # an unreadable record: the embedding names the weights file itself
    network = summary.get("network")
    if network is not None and network != network_identity(spec):
        def said(identity: dict[str, Any]) -> str:
            return f"version {identity.get('version')}, code {str(identity.get('code') or 'rwbench')[:12]}"
        raise RwbenchError(f"{weights} was trained for another version of {spec.name}'s network ({said(network)}; "
                           f"here {said(network_identity(spec))}): an edited plugin or rwbench's own change. Train it "
                           f"again ({retrain_command(tag)} --force)")
    recorded = summary.get("weights_sha256")
    if recorded and weights.is_file() and sha256_of(weights) != recorded:
        raise RwbenchError(f"{weights} is not the file its {record.name} records (sha256 {recorded[:12]}…): replaced, "
                           f"or written by a training stopped before its record; rerun `{retrain_command(tag)}` for it "
                           f"(it resumes), or train again with --force")


def check_fold_weights_data(folder: Path, fold: str, dataset: Dataset, head: Path | None = None,
                            tag: str = "trained") -> None:
    """Refuse ``folder``'s ``fold`` weights when they were trained on other clips or other outer splits than
    ``dataset``'s, as their ``<fold>.json`` records it (:func:`fold_weights_data`) or, for a record written before it
    did, as the training's ``head`` result file records its clips and protocol; weights that record neither pass."""
    record = folder / f"{fold}.json"
    try:
        made = read_json(record).get("data") if record.is_file() else None
        if made is not None:
            here = fold_weights_data(dataset)
        elif head is not None and head.is_file():
            described = read_json(head).get("dataset", {})
            made = {"fingerprint": described.get("fingerprint"), "splits": content_key(described.get("protocol"))}
            here = {"fingerprint": dataset.fingerprint(), "splits": content_key(dataset.protocol.describe(dataset.clips))}
        else:
            return
    except RwbenchError:
        return  # an unreadable record: the embedding names the weights file itself
    if made != here:
        differ = [name for key, name in (("fingerprint", "clips"), ("splits", "outer splits"))
                  if made.get(key) != here[key]]
        raise RwbenchError(f"{folder / fold}.safetensors was trained on other {' and '.join(differ)} of {dataset.key} "
                           f"than this run's: its {fold} test clips here may be clips it was trained on. Run with the "
                           f"data and dataset options it was trained with, or train again under these ({retrain_command(tag)} "
                           "--force)")


_WARNED_FOLD_FILES: set[Path] = set()  # warned about once a process


def refuse_own_fold_weights(path: Path, dataset: Dataset) -> None:
    """``pretrained:PATH`` at a per-fold weights file of ``rwbench train`` / ``pretrain`` (its metadata names a fold):
    refused where its ``<fold>.json`` beside it records ``dataset``'s clips, since every other fold's test clips were
    among its training clips; warned about where no readable record is beside it. ``--weights trained`` (``mst``)
    scores each fold with its own weights."""
    from .weight_packs import file_metadata

    said = file_metadata(path) if path.suffix == ".safetensors" else {}
    fold, tag = said.get("fold"), said.get("tag")
    if not fold or tag not in FOLD_TAGS:
        return
    try:
        made = read_json(path.parent / f"{fold}.json").get("data") or {}
    except RwbenchError:
        made = {}
    if made.get("fingerprint") == dataset.fingerprint():
        raise RwbenchError(f"pretrained:{path} holds the {tag} weights of {fold} of {dataset.key} (its {fold}.json): "
                           f"they were trained on {fold}'s training side, which holds every other fold's test clips. "
                           f"Give --weights {tag}: each fold scored with its own weights")
    trained_on = path.parent.parent.name  # <results>/weights/<tag>/<dataset key>/<instance>/<fold>.safetensors
    if made and trained_on.split("__")[0] == safe(dataset.name) and path not in _WARNED_FOLD_FILES:
        _WARNED_FOLD_FILES.add(path)  # the same audio under another task, a partial copy, clips skipped
        log.warning("pretrained:%s holds %s weights of %s of %s, other clips or labels of %s than this run's: where "
                    "they share clips, this run's test clips include clips these weights were trained on", path, tag,
                    fold, trained_on, dataset.name)
    if not made and path not in _WARNED_FOLD_FILES:
        _WARNED_FOLD_FILES.add(path)
        log.warning("pretrained:%s holds %s weights of a fold (%s) of a dataset its record does not name (no readable "
                    "%s.json beside it): if it is %s, every other fold's test clips were among its training clips",
                    path, tag, fold, fold, dataset.key)


def device_kind(device: str) -> str:
    """The kind of device a time was measured on: ``cpu``, ``cuda``, ``mps`` (``cuda:1`` → ``cuda``)."""
    return str(device).split(":")[0]


def devices_label(devices: Iterable[str]) -> str:
    """One device kind (``cpu``), or ``mixed (cpu ×1, cuda ×1)`` when times come from several: never averaged."""
    counts = Counter(device_kind(d) for d in devices)
    if len(counts) == 1:
        return next(iter(counts))
    return "mixed (" + ", ".join(f"{device} ×{n}" for device, n in sorted(counts.items())) + ")"


def safe(text: object) -> str:
    """A file-name-safe form of ``text``."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in str(text))


class RowKey(NamedTuple):
    """What one leaderboard row is: results that differ only in their seed share it. ``frontend`` is the name as
    shown, its variant included (``vgg[max]``). A tuple: ``key[1]`` and unpacking work as before."""

    dataset: str
    frontend: str
    width: str
    weights: str
    backend: str

    @classmethod
    def of(cls, record: ResultRecord) -> RowKey:
        shown = variant(record.frontend)
        name = record.frontend["name"] + (f"[{shown}]" if shown else "")
        return cls(record.dataset["key"], name, record.frontend["width"], record.frontend["weights"],
                   record.backend["name"])

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> RowKey:
        """The key of a leaderboard table row (a mapping with the columns of the same names)."""
        return cls(*(row[name] for name in cls._fields))


@dataclass(frozen=True)
class ResultRecord:
    """One result file: what was evaluated (dataset, front-end instance, backend, seed), the outer folds' scores
    and per-clip outputs, and provenance. Fields are explained in ``results/README.md``; the nested
    sections stay mappings, checked against :data:`SCHEMA` on reading. Made by :func:`build_record` (every
    producer) or read by :meth:`from_json` (a file of an older schema version is upgraded first, :func:`upgrade`)."""

    schema_version: int
    rwbench_version: str
    git_sha: str | None
    created: str
    environment: dict[str, Any]
    run_key: str
    dataset: dict[str, Any]
    frontend: dict[str, Any]
    backend: dict[str, Any]
    seed: int
    device: str
    folds: tuple[dict[str, Any], ...]
    summary: dict[str, float]
    timings: dict[str, Any]
    training: dict[str, Any] | None = None  # trained rows: epochs run, best epoch, validation loss per fold
    upgraded_from: int | None = None  # in memory only: the schema version of the file read, when older

    def to_json(self) -> dict[str, Any]:
        out = {**asdict(self), "folds": [dict(f) for f in self.folds]}
        for name in ("training", "upgraded_from"):
            if out[name] is None:
                del out[name]
        return out

    @property
    def key(self) -> RowKey:
        """The leaderboard row this result belongs to."""
        return RowKey.of(self)

    @classmethod
    def from_json(cls, data: object, where: str = "result") -> ResultRecord:
        """The record of a result file's JSON, upgraded to this schema version; a metric the task type added after
        the file was written (any but the primary one) reads as NaN."""
        problem = result_problem(data)
        if problem or not isinstance(data, dict):  # result_problem names what a non-object is
            raise RwbenchError(f"{where} is not a valid rwbench result: {problem}")
        data = upgrade(data)
        names = {f.name for f in fields(cls)}
        missing = sorted(names - {"training", "upgraded_from"} - set(data))
        if missing:
            raise RwbenchError(f"{where} is not a valid rwbench result: {', '.join(missing)} missing")
        metrics = task_of(data).metrics
        folds = tuple(fold if all(m in fold for m in metrics) else {**fold, **{m: math.nan for m in metrics
                                                                            if m not in fold}}
                      for fold in data["folds"])
        return cls(**{k: v for k, v in data.items() if k in names} | {"folds": folds})


NOT_CONVERGED = 0.1  # a best epoch within this fraction of the epoch cap is flagged not_converged


def not_converged(best_epoch: int, cap: int, patience: int | None = None) -> bool:
    """A best epoch within :data:`NOT_CONVERGED` (10 %) of the epoch cap, or within ``patience`` epochs of it (the
    cap, not early stopping, ended the run: ``--epochs 30 --patience 10`` with a best epoch of 25): validation may
    still have been improving."""
    return cap - best_epoch <= NOT_CONVERGED * cap or (patience is not None and cap - best_epoch < patience)


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A result file's JSON in this schema version (a new dict; the file is never rewritten). From version 1: the
    trained rows' ``frontend.weights_files`` is also found as ``weights_file``, the name every producer uses, and
    ``upgraded_from`` says which version was read; a head's per-fold training records move under ``training.folds``,
    each flagged ``not_converged`` by today's rule (:func:`_v1_trainings`). Version 1 files keep what they stored:
    folds without per-clip ``scores`` (and multilabel folds without ``truth``) stay without them."""
    if not isinstance(data, dict) or data.get("schema_version") == SCHEMA_VERSION:
        return data
    if data.get("schema_version") not in READABLE_VERSIONS:
        raise RwbenchError(f"schema_version is {data.get('schema_version')!r}, this rwbench reads "
                           f"{', '.join(map(str, READABLE_VERSIONS))}")
    out = {**data, "schema_version": SCHEMA_VERSION, "upgraded_from": data["schema_version"]}
    frontend = data.get("frontend")
    if isinstance(frontend, dict) and "weights_files" in frontend and "weights_file" not in frontend:
        out["frontend"] = {**frontend, "weights_file": frontend["weights_files"]}
    if (folds := _v1_trainings(data)) is not None:
        out["training"] = {"folds": folds}
    return out


def _v1_trainings(data: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """A version-1 head's per-fold training records (``training`` = {fold: {best_epoch, epochs_run, ...}}) in the
    layout of version 2 (``training.folds``), each flagged by :func:`not_converged` under the recorded cap and
    patience (``backend.grid``): version 1 did not flag them, and read as they were, they showed as converged."""
    training, grid = data.get("training"), (data.get("backend") or {}).get("grid")
    if not (isinstance(training, dict) and isinstance(grid, dict) and isinstance(grid.get("epochs"), int)
            and "folds" not in training and training
            and all(isinstance(f, dict) and isinstance(f.get("best_epoch"), int) for f in training.values())):
        return None
    return {name: {**fold, "not_converged": fold.get("not_converged",
                                                      not_converged(fold["best_epoch"], grid["epochs"],
                                                                    grid.get("patience")))}
            for name, fold in training.items()}


# What every producer's front-end and backend sections hold (checked by :func:`build_record`).
FRONTEND_FIELDS = ("name", "input_kind", "width", "filters", "weights", "seed", "init", "pooling", "layers",
                   "default_layers", "feature_dim", "params", "source", "weights_file", "weights_sha256", "segment")
BACKEND_FIELDS = ("name", "grid", "grid_size", "version")


def summarise(folds: list[FoldResult]) -> dict[str, float]:
    """Unweighted mean and std (ddof 0) of each metric over the outer folds (each fold one block, never weighted by
    its size)."""
    out: dict[str, float] = {}
    for metric in folds[0].metrics:
        values = np.array([f.metrics[metric] for f in folds])
        out[f"{metric}_mean"] = float(values.mean())
        out[f"{metric}_std"] = float(values.std())
    return out


def build_record(*, run_key: str, dataset: dict[str, Any], frontend: dict[str, Any], backend: dict[str, Any], seed: int,
                 device: str, folds: list[FoldResult], timings: dict[str, Any],
                 training: dict[str, Any] | None = None) -> ResultRecord:
    """The one way a result record is made (``rwbench run`` / ``evaluate``, transfer and mst rows, ``rwbench
    train``): provenance, the folds stored flat (:meth:`FoldResult.to_dict`), their summary and total fit time,
    and the sections checked, so that no producer drifts from the others or from :data:`SCHEMA`."""
    folds = list(folds)
    for name, section, required in (("frontend", frontend, FRONTEND_FIELDS), ("backend", backend, BACKEND_FIELDS)):
        absent = [k for k in required if k not in section]
        if absent:
            raise RwbenchError(f"a result's {name} section lacks {absent} (a producer drifted from build_record)")
    record = ResultRecord(
        **provenance(), run_key=run_key, dataset=dataset, frontend=frontend, backend=backend, seed=seed,
        device=device, folds=tuple(f.to_dict() for f in folds), summary=summarise(folds),
        timings={**timings, "fit_seconds": sum(f.fit_seconds for f in folds)}, training=training)
    problem = result_problem(json.loads(record_text(record)))
    if problem:
        raise RwbenchError(f"the result record built is not valid: {problem}")
    return record


def record_text(record: ResultRecord) -> str:
    """The JSON text of a result file: objects indented, every list without an object inside (per-clip outputs,
    confusion matrices, grids) on one line, so per-clip scores add little to a file's size."""
    return _dumps(record.to_json(), "") + "\n"


def _dumps(value: object, indent: str) -> str:
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = (f"{inner}{json.dumps(str(k))}: {_dumps(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value):
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value, default=str, separators=(",", ":") if isinstance(value, (list, tuple)) else None)


def write_result(path: Path, record: ResultRecord) -> None:
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(record_text(record))


def result_lock(results_dir: Path, path: Path) -> AbstractContextManager[None]:
    """The lock that one process holds while it computes the result file ``path`` (lock files live under
    ``<results>/.locks``, out of the leaderboard's way)."""
    relative = Path(path).relative_to(Path(results_dir))
    return exclusive(Path(results_dir) / ".locks" / relative.with_suffix(".lock"), f"the result {relative}")


class FoldStore:
    """The finished outer folds of a result being computed, kept under ``<results>/.partial`` until its result file is
    written, so that an evaluation interrupted (killed, out of memory, the session ended) resumes from its last
    finished fold. A fold is reused only under the result's run key (embeddings, backend, grid, protocol, seed …);
    one that cannot be read, or is not that fold with its ``metric`` (a copy under another fold's name, an edited
    file), is computed again."""

    def __init__(self, results_dir: Path, path: Path, run_key: str, metric: str | None = None) -> None:
        self.folder = Path(results_dir) / ".partial" / Path(path).relative_to(Path(results_dir)).with_suffix("")
        self.run_key, self.metric = run_key, metric

    def get(self, name: str) -> FoldResult | None:
        file = self.folder / f"{name}.json"
        try:
            data = read_json(file) if file.is_file() else {}
            if data.get("run_key") != self.run_key:
                return None
            fold = FoldResult.from_dict(data["fold"])
            if fold.name != name or (self.metric and not isinstance(fold.metrics.get(self.metric), float | int)):
                raise ValueError(f"not {name} with its {self.metric}")
            return fold
        except (RwbenchError, KeyError, TypeError, AttributeError, ValueError):
            log.warning("%s is unreadable or not %s's; that fold is computed again", file, name)
            return None

    def put(self, fold: FoldResult) -> None:
        write_json(self.folder / f"{fold.name}.json", {"run_key": self.run_key, "fold": fold.to_dict()})

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# What the leaderboard reads from a result, by type (a dict: nested fields; a list element type: every item). The
# folds carry the metrics of the dataset's task type (``dataset.task_type``; absent: multiclass), see fold_schema.
NUMBER = (int, float)
# A schema: an object's fields with theirs, a list with its items', or the type(s) a value must have.
Schema: TypeAlias = "dict[str, Schema] | list[Schema] | type | tuple[type, ...]"
SCHEMA: dict[str, Schema] = {
    "schema_version": int, "seed": int,
    "dataset": {"key": str, "skipped": [{"clip": str, "reason": str}]},
    "frontend": {"name": str, "input_kind": str, "width": str, "weights": str, "pooling": str, "feature_dim": int,
                 "params": int},
    "backend": {"name": str},
    "folds": [{}],
    "timings": {"embed_seconds_per_clip": NUMBER},
}


def fold_schema(task: TaskType) -> list[Schema]:
    """What every fold of a result of ``task`` must carry: its primary metric. The task type's other metrics are
    optional (checked when present), so that a metric added later never makes an older file invalid."""
    return [{task.primary: NUMBER}]


def task_of(record: ResultRecord | dict[str, Any]) -> TaskType:
    """The task type of a result (its ``dataset.task_type``; results before task types are multiclass)."""
    dataset = record.dataset if isinstance(record, ResultRecord) else record["dataset"]
    return task_type(dataset.get("task_type"))


def schema_problem(value: object, schema: Schema, where: str = "") -> str | None:
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


def fold_contradiction(task: TaskType, fold: dict[str, Any]) -> str | None:
    """Where a stored fold's metric is not what its own per-clip outputs give (a number edited by hand, or a file
    spliced from two runs), what it says and what they give; None when they agree or it stores no outputs. Every
    metric of the task type it stores is recomputed (multilabel: at the fold's threshold, its untrained tags out)."""
    if not all(fold.get(name) is not None for name in task.clip_fields) or task.primary not in fold:
        return None
    try:
        truth, outputs = task.clip_output(fold)
        recomputed = {**task.stored_metrics(fold),
                      task.primary: float(task.clip_score(truth, outputs[None], np.arange(len(truth))[None])[0])}
    except (ValueError, IndexError, TypeError, RwbenchError) as err:
        return f"its per-clip outputs cannot be read ({err})"
    for name in task.metrics:
        if name in fold and name in recomputed:
            value = fold[name]
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and abs(recomputed[name] - value) <= 1e-9):
                return f"{name} {value!r}, but its per-clip outputs give {recomputed[name]:.6g}"
    return None


def outer_folds_problem(record: dict[str, Any], scored: list[str]) -> str | None:
    """Where a result scores other outer folds than its protocol has (one missing: a fold cut from the file, which
    would rank a mean over fewer folds as the protocol's score), what differs; a run declared partial (``rwbench train
    --folds``, ``rwbench search --folds``) is held to the folds it names."""
    protocol = record["dataset"].get("protocol") or {}
    training = record.get("training") or {}
    partial = "outer_folds_scored" in protocol or bool(training.get("partial"))
    declared = (protocol.get("outer_folds_scored") if "outer_folds_scored" in protocol
                else training.get("folds_run") if partial else outer_split_names(protocol))
    if not isinstance(declared, list):
        return None
    declared = [str(name) for name in declared]
    missing = [name for name in declared if name not in scored]
    foreign = [name for name in scored if name not in declared]
    if not missing and not foreign:
        return None
    said = [f"missing outer fold(s) {', '.join(missing)}"] if missing else []
    said += [f"outer fold(s) {', '.join(foreign)} not in it"] if foreign else []
    return (f"folds scores {', '.join(scored)}, but its protocol {protocol.get('id', '?')} "
            f"{'declares' if partial else 'has'} {', '.join(declared)}: {'; '.join(said)}")


def result_problem(record: object) -> str | None:
    """Why ``record`` (a result file's JSON, of any readable schema version) is not a result the leaderboard can
    use, or None."""
    if not isinstance(record, dict):
        return schema_problem(record, SCHEMA)  # "the file is list, not an object"
    if record.get("schema_version") not in READABLE_VERSIONS:
        return (f"schema_version is {record.get('schema_version')!r}, this rwbench reads "
                f"{', '.join(map(str, READABLE_VERSIONS))}")
    record = upgrade(record)
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
    names = [fold.get("name") for fold in record["folds"]]
    if twice := sorted({str(n) for n in names if names.count(n) > 1}):  # a fold spliced in twice weighs double
        return f"folds scores outer fold {', '.join(twice)} more than once"
    if problem := outer_folds_problem(record, [str(n) for n in names]):
        return problem
    for i, fold in enumerate(record["folds"]):
        for name in task.metrics:
            if name not in fold and name != task.primary:
                continue  # a metric added after the file was written
            value = fold[name]
            if isinstance(value, bool) or not isinstance(value, NUMBER):
                return f"folds[{i}].{name} is {value!r}, not int or float"
            low, high = task.metric_bounds
            if not math.isfinite(value) or not low <= value <= high:
                return f"folds[{i}].{name} is {value!r}, not a score in [{low:g}, {high:g}]"
        contradiction = fold_contradiction(task, fold)
        if contradiction:
            return f"folds[{i}] ({fold.get('name')}) has {contradiction}"
    return None


def reusable(path: Path, record: dict[str, Any]) -> bool:
    """Whether a result file whose run key matches can stand as it is: one the leaderboard would refuse (a fold whose
    score its own outputs contradict, a value out of range) is computed again, never reported up to date while no
    table shows it. Said once per file version."""
    stat = path.stat()
    return _problem_once(str(path), stat.st_mtime_ns, stat.st_size, record) is None


def _problem_once(path: str, mtime_ns: int, size: int, record: dict[str, Any]) -> str | None:
    key = (path, mtime_ns, size)
    if key not in _PROBLEMS:
        _PROBLEMS[key] = result_problem(record)
        if _PROBLEMS[key] is not None:
            log.warning("%s: not a valid result (%s); a run computes it again", path, _PROBLEMS[key])
    return _PROBLEMS[key]


_PROBLEMS: dict[tuple[str, int, int], str | None] = {}


def iter_results(results_dir: Path, *, strict: bool = False,
                 invalid: list[tuple[str, str]] | None = None) -> Iterator[ResultRecord]:
    """Every valid result record under ``results_dir/runs`` that scored every outer fold, in a stable order. A file
    that cannot be read or breaks the schema is skipped with a warning naming it (and appended to ``invalid`` as
    (path, problem)), or, with ``strict``, is an error. A partial run (``rwbench train --folds``: some outer folds
    only) is left out the same way, strict or not: no table or test may put it beside results on every fold. A seed
    of a row found twice (a copy in a subfolder, a backup) counts once: the file where rwbench writes it
    (``runs/<dataset>/``) is read, else the one nearest ``runs/``; the other is named."""
    runs = Path(results_dir) / "runs"
    read: list[tuple[tuple[bool, int, Path], Path, ResultRecord | None, str | None]] = []
    for path in runs.rglob("*.json"):
        record = None
        try:
            data = json.loads(path.read_text())
            problem = result_problem(data)
            record = ResultRecord.from_json(data, str(path)) if problem is None else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            problem = f"unreadable: {err}"
        except RwbenchError as err:
            problem = str(err)
        own = record is not None and path.parent == runs / safe(str(record.dataset.get("key", "")).replace("/", "__"))
        read.append(((not own, len(path.relative_to(runs).parts), path), path, record, problem))
    seen: dict[tuple[RowKey, int], tuple[Path, str]] = {}  # (row, seed) → the file read and its run key
    for _, path, record, problem in sorted(read, key=lambda item: item[0]):
        if problem is not None:
            if strict:
                raise RwbenchError(f"{path} is not a valid rwbench result: {problem}")
            if invalid is not None:
                invalid.append((str(path), problem))
            log.warning("skipping %s: not a valid rwbench result (%s); --strict makes this an error", path, problem)
        elif record is not None and record.training and record.training.get("partial"):
            problem = (f"a partial run (outer folds {', '.join(record.training.get('folds_run') or [])} only; "
                       f"`rwbench train` without --folds scores every fold)")
            if invalid is not None:
                invalid.append((str(path), problem))
            log.warning("leaving out %s: %s", path, problem)
        elif record is not None and (record.key, record.seed) in seen:
            first, run_key = seen[(record.key, record.seed)]
            problem = (f"seed {record.seed} of this row is also {first} ("
                       + ("a copy: the same run key" if record.run_key == run_key else
                          "another run key: another computation; remove the stale one") + "); a seed counts once")
            if invalid is not None:
                invalid.append((str(path), problem))
            log.warning("leaving out %s: %s", path, problem)
        elif record is not None:  # always, when there is no problem: from_json made it
            seen[(record.key, record.seed)] = (path, record.run_key)
            yield record
