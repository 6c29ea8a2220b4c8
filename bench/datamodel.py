"""Datasets: a list of labelled clips, a protocol, a length policy, and their registry.

A loader is a function registered with :func:`register_dataset` that returns a :class:`Dataset`
for one task. File datasets decode audio with :mod:`rwbench.audio`; generated datasets (the
built-in ``synthetic``) override :meth:`Dataset.load_audio`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import audio
from .audio import PadMode
from .errors import DataError, UnknownNameError
from .filehash import code_now, code_sha256, content_stat, file_digests, registering_code
from .protocol import FixedSplit, OuterSplit, PredefinedFolds, Protocol, StratifiedFolds
from .registry import Registry

if TYPE_CHECKING:
    from .tasks import TaskType


@dataclass(frozen=True)
class Clip:
    id: str  # unique and stable within the dataset (a relative path for file datasets)
    label: str
    path: Path | None = None
    fold: int | None = None  # predefined fold, when the protocol has folds
    split: str | None = None  # "train" / "valid" / "test", when the protocol is a fixed split
    group: str | None = None  # source recording, speaker or artist: kept on one side of every split
    tags: tuple[str, ...] = ()  # multilabel tasks: the clip's tags (``label`` then reads them joined by "+")

    @property
    def file(self) -> Path:
        """The clip's audio file (every clip of a file dataset has one; a generated clip has none)."""
        if self.path is None:
            raise DataError(f"clip {self.id!r} has no audio file")
        return self.path


def tagged_clip(id: str, tags, **fields) -> Clip:
    """A clip of a multilabel task: its tags sorted, its label the tags joined by "+" (for display)."""
    tags = tuple(sorted(set(tags)))
    return Clip(id, "+".join(tags), tags=tags, **fields)


@dataclass
class Dataset:
    """One task of one dataset, ready for the embed and evaluate stages."""

    name: str
    task: str | None
    clips: list[Clip]
    protocol: Protocol
    seconds: float  # clip length fed to the front-ends (longer clips are cropped from the start)
    pad: PadMode = "zero"  # how shorter clips are lengthened
    root: Path | None = None
    skipped: list[dict] = field(default_factory=list)  # files left out (with --skip-bad-audio), and why
    info: dict = field(default_factory=dict)  # provenance for the result: partial copy, duplicates, fold names
    task_type: str = "multiclass"  # or "multilabel": a set of tags per clip (rwbench.tasks)
    clip_chosen: bool = False  # seconds and pad are the user's options (folder, csv): the fingerprint names them
    # its classes and protocol checked (rwbench.guards.checked); not copied by replace(): other clips are checked again
    checked: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def key(self) -> str:
        """``name`` or ``name/task``: the dataset column of results and leaderboards."""
        return f"{self.name}/{self.task}" if self.task else self.name

    @property
    def kind(self) -> TaskType:
        """The task type object (rwbench.tasks) named by ``task_type``."""
        from .tasks import task_type  # scikit-learn: not imported for listing datasets

        return task_type(self.task_type)

    @property
    def classes(self) -> list[str]:
        """The class names (multiclass) or the tags (multilabel), sorted: column ``i`` of a target is ``classes[i]``."""
        return self.kind.classes(self.clips)

    @property
    def labels(self) -> np.ndarray:
        """Each clip's class index ``(clips,)``, or its tags as an indicator matrix ``(clips, tags)`` (multilabel)."""
        return self.kind.targets(self.clips, self.classes)

    def splits(self) -> list[OuterSplit]:
        return self.protocol.splits(self.clips)

    def load_audio(self, clip: Clip, sample_rate: int) -> np.ndarray:
        """The clip at ``sample_rate``, mono float32, at its natural length."""
        return audio.load(clip.file, sample_rate)

    def describe(self) -> dict:
        """What a result records about the dataset: protocol (with folds or counts), length policy, skips."""
        return {"name": self.name, "task": self.task, "key": self.key, "task_type": self.task_type,
                "n_clips": len(self.clips), "classes": self.classes, "seconds": self.seconds, "pad": self.pad,
                "protocol": self.protocol.describe(self.clips), "skipped": self.skipped, "info": self.info}

    def fingerprint_parts(self) -> dict:
        """What identifies the audio: each clip's id, label and the sha1 of its file's bytes (remembered by
        stat, see :mod:`rwbench.filehash`); generated datasets give their generator parameters instead. Where the
        clip length and padding are options of the loader (``clip_chosen``), they too: every key built on the
        fingerprint (embeddings, results, trainings, proxies) then changes with them; a loader that fixes them
        (ESC-50's 5 s) names them by the dataset's name."""
        files = [c.path for c in self.clips if c.path is not None]
        try:
            # stat and sha1 as hashed: a file whose bytes change later in the run is refused when decoded
            # (clips.changed_since_fingerprint)
            stats: dict[str, tuple[int, int, int]] = {}
            sha1s = file_digests(files, stats)
            self.__dict__["_file_stats"] = {path: (stats[path], sha1) for path, sha1 in zip(map(str, files), sha1s)}
            digests = iter(sha1s)
        except OSError as err:
            raise DataError(f"{self.key}: cannot read {err.filename}: {err.strerror}") from err
        rows = [[c.id, c.label, next(digests) if c.path is not None else None, *([list(c.tags)] if c.tags else [])]
                for c in self.clips]
        return {"name": self.name, "task": self.task, "clips": rows,
                **({"clip": {"seconds": self.seconds, "pad": self.pad}} if self.clip_chosen else {}),
                **({"loader_code": self.info["loader_code"]} if self.info.get("loader_code") else {})}

    def fingerprint(self) -> str:
        """A hash of :meth:`fingerprint_parts`, taken once per list of clips and taken again where a file hashed for
        it was rewritten since (the same object run again after its audio changed, in a notebook)."""
        memo = self.__dict__.get("_fingerprint")
        if memo is None or memo[0] is not self.clips or memo[1] != len(self.clips) or self._files_changed():
            blob = json.dumps(self.fingerprint_parts(), sort_keys=True, default=str).encode()
            memo = (self.clips, len(self.clips), hashlib.sha256(blob).hexdigest()[:16])
            self.__dict__["_fingerprint"] = memo
        return memo[2]

    def _files_changed(self) -> bool:
        """Whether a file hashed for the fingerprint has another size, modification time or inode now (a stat each)."""
        for path, (stat, _) in self.__dict__.get("_file_stats", {}).items():
            try:
                if content_stat(os.stat(path)) != stat:
                    return True
            except OSError:
                return True
        return False


class StoredDataset(Dataset):
    """A dataset read back from the record the embed stage stores beside its embeddings: clips, labels,
    folds, protocol and fingerprint, without audio. Evaluation needs nothing more."""

    stored_fingerprint: str = ""

    def fingerprint(self) -> str:
        return self.stored_fingerprint

    def load_audio(self, clip: Clip, sample_rate: int) -> np.ndarray:
        raise DataError(f"{self.key}: read from the embedding cache, without audio; pass --data-root to "
                        f"compute embeddings")


PROTOCOLS = {cls.__name__: cls for cls in (PredefinedFolds, StratifiedFolds, FixedSplit)}


def dataset_record(dataset: Dataset) -> dict:
    """What evaluation needs of ``dataset``, as JSON: see :func:`dataset_from_record`."""
    protocol = dataset.protocol
    return {"name": dataset.name, "task": dataset.task, "key": dataset.key, "fingerprint": dataset.fingerprint(),
            "seconds": dataset.seconds, "pad": dataset.pad,
            "protocol": {"class": type(protocol).__name__, **asdict(protocol)},
            "clips": [[c.id, c.label, c.fold, c.split, c.group, *([list(c.tags)] if c.tags else [])]
                      for c in dataset.clips],
            "skipped": dataset.skipped, "info": dataset.info, "task_type": dataset.task_type}


def upgraded_protocol(fields: dict) -> dict:
    """A stored protocol's fields as today's class takes them. Records before 2026-12-07 have no
    ``ids_spell_assignment`` (their describe() keyed the assignment only where ``keyed_assignment``, or a fixed split's
    ``assignment_digest``, said so): read with the flag that gives the key they were made under."""
    if fields.get("class") in ("PredefinedFolds", "FixedSplit") and "ids_spell_assignment" not in fields:
        digest = fields.pop("assignment_digest", False)
        fields["ids_spell_assignment"] = not (fields.get("keyed_assignment") or digest)
    return fields


def dataset_from_record(record: dict) -> StoredDataset:
    try:
        protocol_fields = upgraded_protocol(dict(record["protocol"]))
        protocol = PROTOCOLS[protocol_fields.pop("class")](**protocol_fields)
        clips = [Clip(id=i, label=label, fold=fold, split=split, group=group, tags=tuple(tags[0]) if tags else ())
                 for i, label, fold, split, group, *tags in record["clips"]]
        dataset = StoredDataset(record["name"], record["task"], clips, protocol, record["seconds"], record["pad"],
                                None, record["skipped"], record["info"], record.get("task_type", "multiclass"))
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"a stored dataset record is malformed ({type(err).__name__}: {err})") from err
    dataset.stored_fingerprint = record["fingerprint"]
    return dataset


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    build: Callable[..., Dataset]  # (root, *, task, **options) -> Dataset
    description: str
    protocol: str  # the official protocol, in words
    tasks: tuple[str, ...] = ()  # empty: a single-task dataset
    default_tasks: tuple[str, ...] | None = None  # loaded when none are asked for (None: all of ``tasks``)
    needs_root: bool = True
    source: str = ""
    task_type: str = "multiclass"  # what its tasks are (rwbench.tasks): multiclass or multilabel
    code: str | None = None  # sha256 of a plugin loader's source (filehash.code_sha256), taken where it is registered

    def __post_init__(self) -> None:
        if self.code is None:
            object.__setattr__(self, "code", code_sha256(self.build))

    def load(self, root: str | Path | None = None, *, tasks: Sequence[str] | None = None, **options) -> list[Dataset]:
        """Build the dataset for each requested task (all of them by default)."""
        if root is not None and not self.needs_root:
            raise DataError(f"dataset {self.name!r} is generated and takes no --data-root (got {str(root)!r})")
        if self.needs_root:
            if root is None:
                raise DataError(f"dataset {self.name!r} needs --data-root (the folder that holds it)")
            root = Path(root).expanduser()
            if not root.is_dir():
                raise DataError(f"data root {str(root)!r} for dataset {self.name!r} does not exist or is not a folder")
        defaults = self.tasks if self.default_tasks is None else self.default_tasks
        chosen: list[str | None] = list(tasks) if tasks else list(defaults) or [None]
        if tasks and not self.tasks:
            raise DataError(f"dataset {self.name!r} has one task and takes no --tasks (got {','.join(tasks)!r})")
        if len(set(chosen)) != len(chosen):
            raise DataError(f"--tasks names a task twice ({','.join(map(str, chosen))}): each runs once")
        for task in chosen:
            if task is not None and task not in self.tasks:
                raise UnknownNameError(f"task of {self.name}", task, list(self.tasks))
        from .guards import checked

        # a plugin's own Dataset is held to the checks a file loader's gets (a class its training side lacks, ...)
        return [checked(self._stamped(self.build(root, task=task, **options)), partial=bool(options.get("partial")))
                for task in chosen]

    def _stamped(self, dataset: Dataset) -> Dataset:
        """A plugin dataset keyed by its code too (its loader's and its ``load_audio``'s source): an edited generator,
        or a ``load_audio`` that now scales, filters or cuts the files' audio otherwise, is another dataset, never the
        old one's cached embeddings and results (the files' bytes alone do not say what the network is fed)."""
        codes = sorted({c for c in (code_now(self.code, self.build), code_sha256(type(dataset).load_audio)) if c})
        if codes:
            dataset.info["loader_code"] = codes
        return dataset


DATASETS: Registry[DatasetSpec] = Registry("dataset", builtins="rwbench.datasets", group="rwbench.datasets")


def register_dataset(**fields) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Register the decorated loader ``(root, *, task, **options) -> Dataset`` with :class:`DatasetSpec` fields."""

    def decorator(build: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS.add(DatasetSpec(build=build, **{"code": registering_code(build), **fields}))
        return build

    return decorator
