"""The options the stages share, as small groups each declared once: which networks (width, seeds) and what instance
of them is embedded (weights, pooling, layers, precision); how a job runs (device, decoding workers, bad audio,
progress; batch size, ``torch.compile`` and backend threads for embedding and evaluation); where its files go
(results folder, embedding cache, whether finished work is redone).

A stage's options class is made of the groups it needs — ``RunOptions`` (run, embed, evaluate, reproduce) of all of
them; ``TrainOptions`` (train, pretrain) of :class:`Networks`, :class:`Execution` and :class:`Storage` plus the
training recipe; ``SearchOptions`` of a run's groups except :class:`Instance` (a search's networks are random-weight
only) plus the search's own; ``ProfileOptions`` of :class:`Placement` and :class:`Forward` plus the timing — so a
field means the same everywhere and is checked in one place. Fields are keyword-only.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .choices import INITS, MAX_SEEDS, MAX_WIDTH, POOLINGS, PRECISIONS, SEED_LIMIT
from .errors import RwbenchError

if TYPE_CHECKING:  # for the annotations only: this module stays light (no torch)
    from .frontend import Pooling, Precision

DEVICES = ("auto", "cpu", "cuda")


class Checked:
    """Root of the groups: each group's ``__post_init__`` checks its own fields, then calls the next group's."""

    def __post_init__(self) -> None:
        pass


def _one_of(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise RwbenchError(f"{name} {value!r} is not one of {list(allowed)}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _flags(group: object, *names: str) -> None:
    """Switches are True or False: from Python, "no" would be truthy and switch them on."""
    for name in names:
        if not isinstance(value := getattr(group, name), bool):
            raise RwbenchError(f"{name} takes True or False, got {value!r}")


@dataclass(kw_only=True)
class Networks(Checked):
    """Which networks: the width (``small``, ``paper`` or a filter count) and the seeds of their initialisation."""

    width: str = "small"
    seeds: list[int] = field(default_factory=lambda: [0])

    def __post_init__(self) -> None:
        if (not self.seeds or not all(map(_is_int, self.seeds)) or len(set(self.seeds)) != len(self.seeds)
                or min(self.seeds) < 0 or max(self.seeds) >= SEED_LIMIT):
            # 2^32 + 5 draws seed 5's network (32-bit random states): a second seed that is the first one again
            raise RwbenchError(f"seeds {self.seeds} must be distinct integers from 0 to 2^31 − 1, at least one")
        if len(self.seeds) > MAX_SEEDS:
            raise RwbenchError(f"{len(self.seeds)} seeds: at most {MAX_SEEDS} in one run")
        self.width = normal_width(self.width)
        super().__post_init__()


def normal_width(width: object) -> str:
    """``small``, ``paper`` (or another name a front-end's ``widths`` gives) or a filter count, one spelling per count
    (``8``, ``"08"`` and ``"8"`` are ``"8"``: two spellings made two rows of one network), as ``--width`` reads it; a
    name is checked by the front-ends that run it."""
    text = str(width) if _is_int(width) else width
    if isinstance(text, str) and text.isdigit() and 0 < int(text) <= MAX_WIDTH:
        return str(int(text))
    if isinstance(text, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", text):  # part of result file names
        return text
    raise RwbenchError(f"width takes small, paper (or a front-end's own width name) or a filter count from 1 to "
                       f"{MAX_WIDTH}, got {width!r}")


@dataclass(kw_only=True)
class Instance(Networks):
    """What is embedded of each network: its weight tags, per-layer pooling, the layer sets evaluated and the
    precision it runs in (all part of the embedding's cache key, except ``layers``, which selects columns)."""

    weights: list[str] = field(default_factory=lambda: ["random"])  # tags; seeds apply to random, trained, mst
    init: str | None = None  # what random weights are drawn from (None: each front-end's own)
    pooling: Pooling = "mean"
    layers: str = "default"  # default | each | all | "a+b,c": the layer sets evaluated, one result each
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        _one_of("pooling", self.pooling, POOLINGS)
        if self.init is not None:
            _one_of("init", self.init, INITS)
            if "random" not in self.weights:
                raise RwbenchError(f"--init {self.init} draws random weights, and none are asked for (--weights "
                                   f"{','.join(self.weights)}): add random")
        check_precision(self.precision)
        super().__post_init__()


@dataclass(kw_only=True)
class Placement(Checked):
    """Where the networks run: ``auto`` (CUDA when present), ``cpu`` or ``cuda``."""

    device: str = "auto"

    def __post_init__(self) -> None:
        _one_of("device", self.device, DEVICES)
        super().__post_init__()


@dataclass(kw_only=True)
class Execution(Placement):
    """How a job runs, without changing its result: :class:`Placement`'s device, DataLoader decoding workers, whether
    unreadable clips are left out (recorded) instead of stopping the run, progress bars."""

    workers: int | None = None  # None: min(4, cores − 1)
    skip_bad_audio: bool = False
    progress: bool = False

    def __post_init__(self) -> None:
        if self.workers is not None and not (_is_int(self.workers) and self.workers >= 0):
            raise RwbenchError(f"workers {self.workers!r} must be 0 or more")
        _flags(self, "skip_bad_audio", "progress")
        super().__post_init__()


@dataclass(kw_only=True)
class Forward(Checked):
    """How a forward pass uses the hardware, without changing its result beyond float rounding: clips per pass (None:
    16 on CPU, chosen from free memory on CUDA) and ``torch.compile`` (so neither is in the cache key)."""

    batch_size: int | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        if self.batch_size is not None and not (_is_int(self.batch_size) and self.batch_size >= 1):
            raise RwbenchError(f"batch_size {self.batch_size!r} must be at least 1")
        _flags(self, "compile")
        super().__post_init__()


@dataclass(kw_only=True)
class Batching(Forward):
    """:class:`Forward` for the embedding, and the threads of the backends' grid search (None: every core; the
    results are the same)."""

    n_jobs: int | None = None

    def __post_init__(self) -> None:
        check_n_jobs(self.n_jobs)
        super().__post_init__()


@dataclass(kw_only=True)
class Storage(Checked):
    """Where results go, and whether finished work is computed again."""

    results_dir: Path = Path("results")
    force: bool = False

    def __post_init__(self) -> None:
        self.results_dir = Path(self.results_dir)  # a str from Python works as the CLI's Path
        _flags(self, "force")
        super().__post_init__()


@dataclass(kw_only=True)
class Cached(Storage):
    """:class:`Storage` with the embedding cache: ``cache_dir``, default ``<results_dir>/embeddings``."""

    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.cache_dir is not None:
            self.cache_dir = Path(self.cache_dir)
        super().__post_init__()

    @property
    def cache_root(self) -> Path:
        return self.cache_dir or self.results_dir / "embeddings"


def check_precision(precision: str) -> None:
    """``precision`` is one the networks run in (the check :class:`Instance` makes, for options without it)."""
    _one_of("precision", precision, PRECISIONS)


def check_n_jobs(n_jobs: object) -> None:
    if n_jobs is not None and not (_is_int(n_jobs) and (n_jobs >= 1 or n_jobs == -1)):  # type: ignore[operator]
        raise RwbenchError(f"n_jobs {n_jobs!r} must be a positive count, or -1 (every core)")


def check_seconds(**values: float | None) -> None:
    """Each given value is None or a positive, finite number of seconds."""
    for name, value in values.items():
        if value is not None and not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                                      and math.isfinite(value) and value > 0):  # "1" from Python: a TypeError deep in
            raise RwbenchError(f"{name} {value!r} must be a positive number of seconds")
