"""``rwbench search``: rank the architectures of a search space before training them, and score the proxies.

:func:`search` samples ``n`` architectures of a space (seeded), computes the requested proxies (:mod:`rwbench.proxies`)
for each — one JSON file per (architecture, proxy) under ``<folder>/proxies/``, written atomically and reused when
its key matches, so an interrupted search resumes — optionally trains the top ``K`` by a proxy plus ``M`` others drawn
at random (``rwbench train``'s code, results in the results folder beside every other trained row), and writes the
ranked table (``table.md``/``.csv``/``.json``) and ``search.json`` (every architecture's full configuration, proxy
values per seed, wall times). With ``halving``, the cheap proxies run on all, the random-weight ones on the best half
by ``rank_by``, training on the top ``K`` by the random-weight proxy.

Scoring the proxies against training: :mod:`rwbench.analysis.search_score`.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeGuard

import numpy as np
import pandas as pd
import torch
from tabulate import tabulate

from .analysis.search_score import look_up_trained, rank_value
from .choices import DEFAULT_GRID
from .clips import clip_audio
from .datamodel import Dataset
from .device import check_fits
from .embed_job import EMBED_CODE_VERSION, EmbedJob
from .errors import DataError, RwbenchError
from .fileio import content_key, exclusive, read_json, write_json, write_text
from .frontend import FRONTENDS, FrontendSpec
from .macs import count_macs
from .options import Batching, Cached, Execution, Networks
from .proxies import PROXIES, ProxyContext, ProxySpec, RandomWeightSetup
from .results import device_kind, network_identity, safe
from .search_space import SearchSpace, canonical_json, load_space, refuse_repeated_networks, shape_of

log = logging.getLogger(__name__)

SEARCH_CODE_VERSION = 2  # part of every proxy cache key (2: the filters, the clip and the protocol are keyed too)
ZERO_COST_EMBED_CODE = 2  # the embedding code's version when zero-cost keys learnt it: keyed only past it
DEFAULT_PROXIES = "zero-cost,baseline,rw_elm"
KINDS = ("random-weight", "zero-cost", "baseline")
FORMATS = ("md", "csv", "json")


@dataclass(kw_only=True)
class SearchOptions(Networks, Execution, Batching, Cached):
    """What a search samples, scores and keeps. From the shared groups (:mod:`rwbench.options`): ``width``; ``seeds``,
    the random weights every proxy is computed with; how the random-weight proxies embed and fit (device, workers,
    batch size, grid-search threads); the results folder (trained rows, and ``search/``), the embedding cache, and
    ``force`` (compute every proxy again)."""

    space: str  # a space name or file; "registry" with ``frontends``: registered front-ends instead of a sample
    n: int = 20
    sample_seed: int = 0  # draws the architectures, the zero-cost minibatch and the M random ones to train
    proxies: str = DEFAULT_PROXIES  # names, wildcards, or kinds (zero-cost, baseline, random-weight)
    minibatch: int = 32  # clips in the zero-cost proxies' minibatch (training side of the first outer split)
    folds: tuple[str, ...] | None = None  # outer folds the random-weight proxies score (None: all)
    grid: str | None = None  # the backends' named grid (None: their default)
    rank_by: str | None = None  # default: the first random-weight proxy asked, else the first proxy
    halving: bool = False
    train_top: int = 0
    train_random: int = 0
    out: Path | None = None
    frontends: str | None = None  # with space "registry": the registered front-ends scored (names or wildcards)
    # the random-weight proxies' result files (all folds only): a study's results folder, whose random rows under the
    # same run key are then reused rather than computed again (None: the search folder's random_weight/)
    random_weight_results: Path | None = None

    def __post_init__(self) -> None:
        if self.n < 1 or min(self.train_top, self.train_random, self.sample_seed) < 0:
            raise RwbenchError(f"n {self.n} must be at least 1; train_top, train_random and sample_seed at least 0")
        if self.minibatch < 2:  # batch norm in training mode, a Jacobian's correlation: one clip scores nothing
            raise RwbenchError(f"--batch {self.minibatch}: the zero-cost proxies need a minibatch of at least 2 clips")
        if self.random_weight_results is not None and self.folds:
            # a subset's result is written at the normal result path: it would replace the folder's all-fold row
            raise RwbenchError("--random-weight-results reuses rows scored on every outer fold; it cannot be "
                               f"combined with --folds {','.join(self.folds)} (their results stay in the search folder)")
        super().__post_init__()


REGISTRY = "registry"


@dataclass
class Architecture:
    spec: FrontendSpec
    config: dict
    proxies: dict[str, dict] = field(default_factory=dict)  # proxy → its record (value, per_seed, seconds, ...)

    @property
    def name(self) -> str:
        return self.spec.name


# -- choosing ------------------------------------------------------------------------------------------------------
def select_proxies(text: str) -> list[ProxySpec]:
    """Comma-separated proxy names, wildcards or kinds, in the order asked, no repeats; a kind gives its proxies in
    the order they were registered (``zero-cost``: synflow, naswot, jacob_cov, grad_norm, snip, grasp, fisher)."""
    chosen: list[ProxySpec] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        hits = [p for p in PROXIES.registered() if p.kind == item] if item in KINDS else PROXIES.select(item)
        chosen += [p for p in hits if p not in chosen]
    if not chosen:
        raise RwbenchError(f"--proxies {text!r} names no proxy; see the proxies: {', '.join(PROXIES.names())}")
    return chosen


def default_rank_by(proxies: list[ProxySpec]) -> str:
    return next((p.name for p in proxies if p.kind == "random-weight"), proxies[0].name)


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, numbers.Real) and math.isfinite(value)  # numpy scalars too


def ranked(archs: list[Architecture], proxy: str) -> list[Architecture]:
    """Best first by ``proxy``; architectures without a finite value last (in sample order)."""
    def key(arch: Architecture) -> float:
        value = rank_value(arch.proxies.get(proxy))
        return -value if _finite(value) else math.inf
    return sorted(archs, key=key)


def search_folder(opts: SearchOptions, space_name: str, dataset: Dataset) -> Path:
    return opts.out or opts.results_dir / "search" / f"{safe(space_name)}__{safe(dataset.key.replace('/', '__'))}"


# -- the minibatch --------------------------------------------------------------------------------------------------
def minibatch_indices(dataset: Dataset, size: int, seed: int, skipped: Sequence[int] = ()) -> np.ndarray:
    """``size`` clips of the first outer split's training side, classes in turn (multiclass), seeded; ``skipped``
    (unreadable clips) are not drawn."""
    train = np.setdiff1d(dataset.splits()[0].train, np.asarray(skipped, dtype=int))
    rng = np.random.default_rng(seed)
    labels = dataset.labels
    if labels.ndim > 1:  # multilabel: no class to balance
        return np.sort(rng.permutation(train)[:size])
    queues = [list(rng.permutation(train[labels[train] == c])) for c in np.unique(labels[train])]
    if size < len(queues):  # fewer clips than classes: which classes, drawn (not always the first in sorted order)
        queues = [queues[i] for i in sorted(rng.permutation(len(queues))[:size])]
    picks: list[int] = []
    while len(picks) < min(size, len(train)):
        for queue in queues:
            if queue and len(picks) < size:
                picks.append(int(queue.pop()))
    return np.array(sorted(picks))


class Minibatches:
    """The minibatch as each front-end reads it (decoded once per sample rate and input length). With
    ``skip_bad_audio`` an unreadable clip is replaced: the minibatch is drawn again without it (``skipped``)."""

    def __init__(self, dataset: Dataset, size: int, seed: int, width: str, skip_bad_audio: bool = False,
                 device: str = "auto") -> None:
        self.dataset, self.width, self.size, self.seed, self.skip_bad_audio = dataset, width, size, seed, skip_bad_audio
        self.device = device
        self.indices = minibatch_indices(dataset, size, seed)
        self._loaded: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self.seconds: dict[str, float] = {}  # front-end → time spent decoding for it (0: shared with another)
        self.skipped: dict[int, str] = {}  # clip index → why it could not be read

    def _decoded(self, job: EmbedJob) -> torch.Tensor:
        while True:
            waves = []
            for index in map(int, self.indices):
                try:
                    waves.append(clip_audio(job, index))
                except DataError as err:
                    if not self.skip_bad_audio:
                        raise DataError(f"{err} (a clip of the zero-cost proxies' minibatch; --skip-bad-audio draws "
                                        "another in its place)") from None
                    if self._loaded:  # read at another input length already: proxies were computed on it
                        raise DataError(f"{err}: a clip of the zero-cost proxies' minibatch that other front-ends' "
                                        "input lengths read, so it cannot be replaced for these alone; score the "
                                        "front-ends of each input length in a search of their own") from None
                    log.warning("zero-cost minibatch: %s; drawn again without it", err)
                    self.skipped[index] = str(err)
                    self.indices = minibatch_indices(self.dataset, self.size, self.seed, list(self.skipped))
                    break
            else:
                return torch.stack(waves)

    def replaced(self, spec: FrontendSpec) -> list[str]:
        """The clips left out of the minibatch ``spec`` reads (its input decoded first): they are part of a zero-cost
        record's key, which is not reused for another minibatch. Empty without ``skip_bad_audio``, where an
        unreadable clip stops the search instead."""
        if not self.skip_bad_audio:
            return []
        self(spec)()
        return sorted(self.dataset.clips[i].id for i in self.skipped)

    def __call__(self, spec: FrontendSpec) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
        def load() -> tuple[torch.Tensor, torch.Tensor]:
            job = EmbedJob(self.dataset, spec, self.width)
            shape = (spec.sample_rate, *job.input_samples(), spec.pad_to_min)
            if shape not in self._loaded:
                # the proxies back-propagate through the minibatch: a network it cannot fit is said before decoding
                check_fits(job, len(self.indices), self.device, training=True)
                start = time.perf_counter()
                waves = self._decoded(job)
                self._loaded[shape] = (waves, torch.from_numpy(np.asarray(self.dataset.labels[self.indices])))
                self.seconds[spec.name] = time.perf_counter() - start
            return self._loaded[shape]
        return load


# -- proxies, cached -----------------------------------------------------------------------------------------------
def proxy_settings(proxy: ProxySpec, arch: Architecture, opts: SearchOptions, dataset: Dataset,
                   protocol: dict | None = None, replaced: Sequence[str] = ()) -> dict:
    """Everything that determines a proxy's value: its cache key. ``protocol``: the dataset's, as it describes it
    (the outer splits: the minibatch is drawn from the first one's training side; computed here when not given);
    ``replaced``: the clips ``--skip-bad-audio`` left out of the zero-cost minibatch (:meth:`Minibatches.replaced`)."""
    settings = {"proxy": proxy.name, "proxy_version": proxy.version, "frontend": arch.name, "config": arch.config,
                "frontend_version": arch.spec.version, "width": str(opts.width),
                "filters": arch.spec.filters(opts.width),  # a space file's [widths] may change under one name
                "search_code": SEARCH_CODE_VERSION,
                # a plugin's edited network or proxy is never read from the old one's record
                **({"frontend_code": code} if (code := arch.spec.code_now) else {}),
                **({"proxy_code": code} if (code := proxy.code_now) else {})}
    if proxy.kind == "baseline":
        return settings
    settings.update(seeds=list(opts.seeds), dataset=dataset.key, fingerprint=dataset.fingerprint(),
                    clip={"seconds": dataset.seconds, "pad": dataset.pad},
                    protocol=protocol if protocol is not None else dataset.describe()["protocol"])
    if proxy.kind == "zero-cost":
        # the minibatch as decoded and log-mel transformed, the seeded random init and the loss the gradients follow;
        # the embedding code's version at the time these keys learnt it (2) is left out: the records written before
        # keep their keys (rwbench's task types change their scoring, not the loss: their versions stay out)
        settings.update(batch=opts.minibatch, batch_seed=opts.sample_seed,  # a plugin task type's loss code
                        **{k: v for k, v in dataset.kind.code_key().items() if k == "task_type_code"},
                        **({"embed_code": EMBED_CODE_VERSION} if EMBED_CODE_VERSION > ZERO_COST_EMBED_CODE else {}),
                        **({"batch_replaced": list(replaced)} if replaced else {}))
    else:
        # the default grid named or not is one computation: one key (None, as before grids could be named here)
        settings.update(folds=list(opts.folds) if opts.folds else "all",
                        grid=None if (opts.grid or DEFAULT_GRID) == DEFAULT_GRID else opts.grid,
                        evaluation={**random_weight_evaluation(proxy, opts), **dataset.kind.code_key()})
    return settings


# what a proxy's key holds of the architecture it scores (and of the minibatch's clips it reads, replaced for one
# input length): left out of what computed the proxy for the whole search
PER_ARCHITECTURE = ("frontend", "config", "frontend_version", "filters", "frontend_code", "batch_replaced")


def proxy_identity(proxy: ProxySpec, arch: Architecture, opts: SearchOptions, dataset: Dataset, protocol: dict) -> dict:
    """What computed ``proxy``'s values in this search (its version, a plugin's code, the code versions and settings
    of its key; the protocol left out, search.json has it): searches scored together must share it, or the pooled ρ
    mixes two computations of one name."""
    settings = proxy_settings(proxy, arch, opts, dataset, protocol)
    return {k: v for k, v in settings.items() if k not in (*PER_ARCHITECTURE, "protocol")}


def proxy_key_settings(proxy: ProxySpec, arch: Architecture, opts: SearchOptions, dataset: Dataset, protocol: dict,
                       batches: Minibatches) -> dict:
    """:func:`proxy_settings` with the minibatch's replaced clips, where a zero-cost proxy reads it."""
    replaced = batches.replaced(arch.spec) if proxy.kind == "zero-cost" else []
    return proxy_settings(proxy, arch, opts, dataset, protocol, replaced)


def random_weight_evaluation(proxy: ProxySpec, opts: SearchOptions) -> dict:
    """What a random-weight proxy's value depends on through the embed and evaluate stages: the backend's version and
    grid values, the stages' code versions (their result files are keyed by them; the proxy record read before them
    must be too)."""
    from .backends import BACKENDS
    from .pipeline import EVALUATE_CODE_VERSION

    codes = {"evaluate_code": EVALUATE_CODE_VERSION, "embed_code": EMBED_CODE_VERSION}
    name = proxy.name.removeprefix("rw_")
    if name not in BACKENDS:  # a plugin's random-weight proxy: its version says the rest
        return codes
    backend = BACKENDS.get(name).with_grid(opts.grid or DEFAULT_GRID)
    return {"backend_version": backend.version, "grid": backend.grid, **codes}


_WARM: set[str] = set()  # proxies already run once in this process


def proxy_file(folder: Path, arch: Architecture, proxy: ProxySpec) -> Path:
    """Where a search keeps ``arch``'s record of ``proxy``."""
    return folder / "proxies" / safe(arch.name) / f"{safe(proxy.name)}.json"


def cached_record(path: Path, key: str) -> dict | None:
    """The proxy record at ``path`` when it is readable and its key is ``key``, else None (computed again)."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except RwbenchError:
        return None
    return record if record.get("key") == key else None


def proxy_record(proxy: ProxySpec, arch: Architecture, ctx: ProxyContext, path: Path, key: str,
                 force: bool = False) -> tuple[dict, bool]:
    """The proxy's record from ``path`` when its key matches (and not ``force``), else computed, timed and written;
    (record, computed). One process computes it (a lock under the folder's ``.locks``): a second waits, then reads it."""
    record = None if force else cached_record(path, key)
    if record is not None:
        return record, False
    with exclusive(path.parent / ".locks" / f"{path.name}.lock", f"the {proxy.name} proxy of {arch.name}"):
        record = None if force else cached_record(path, key)
        if record is not None:
            return record, False
        return _computed_record(proxy, arch, ctx, path, key), True


def _computed_record(proxy: ProxySpec, arch: Architecture, ctx: ProxyContext, path: Path, key: str) -> dict:
    if proxy.kind == "zero-cost" and ctx.batch is not None:
        ctx.batch()  # decoded once per input shape, outside the proxy's time (search.json: minibatch.seconds)
    if proxy.kind != "random-weight" and proxy.name not in _WARM:
        proxy.compute(ctx)  # once per process, untimed: imports and first-call kernel set-up are not the proxy's cost
        _WARM.add(proxy.name)
    start = time.perf_counter()
    value = proxy.compute(ctx)
    seconds = time.perf_counter() - start
    if value.seconds is not None:  # the random-weight proxies: their result files' recorded cost
        seconds = value.seconds
    record = {"key": key, "proxy": proxy.name, "kind": proxy.kind, "frontend": arch.name, "value": value.value,
              "per_seed": {str(k): v for k, v in value.per_seed.items()}, "seconds": seconds,
              "seconds_source": "measured" if value.seconds is None else "recorded in the result files (embedding + fits)",
              "device": device_kind(ctx.device) if value.seconds is None else value.device,
              "detail": value.detail}
    write_json(path, record)
    return record


def checked_folds(dataset: Dataset, folds: Sequence[str] | None) -> list:
    """The outer splits ``--folds`` names (all of them without it); a name the dataset has not is an error."""
    splits = dataset.splits()
    if not folds:
        return splits
    names = [s.name for s in splits]
    if unknown := [f for f in folds if f not in names]:
        raise RwbenchError(f"--folds {','.join(unknown)}: {dataset.key} has outer folds {', '.join(names)}")
    return [s for s in splits if s.name in folds]


def in_protocol_order(opts: SearchOptions, dataset: Dataset) -> SearchOptions:
    """``opts`` with its ``folds`` in the dataset's protocol order, each once: ``--folds fold2,fold1`` scores the splits
    ``fold1,fold2`` does, so it is the same search (it was another results folder and key: every fit again)."""
    if not opts.folds:
        return opts
    return replace(opts, folds=tuple(s.name for s in checked_folds(dataset, opts.folds)))


def random_weight_setup(opts: SearchOptions, dataset: Dataset, folder: Path) -> RandomWeightSetup:
    """The random-weight proxies' options: results in the search folder (per fold subset, recorded in their protocol),
    embeddings in the shared cache (``--cache``, default RESULTS/embeddings)."""
    from .pipeline import RunOptions

    splits, described = checked_folds(dataset, opts.folds), dataset.describe()
    tag = "all-folds"
    if opts.folds:
        described["protocol"] = {**described["protocol"], "outer_folds_scored": list(opts.folds)}
        tag = "folds-" + "-".join(safe(f) for f in opts.folds)
    results = opts.random_weight_results or folder / "random_weight" / tag
    run = RunOptions(width=opts.width, seeds=list(opts.seeds), results_dir=results,
                     cache_dir=opts.cache_root, force=opts.force, grid=opts.grid or DEFAULT_GRID,
                     device=opts.device, workers=opts.workers, skip_bad_audio=opts.skip_bad_audio,
                     progress=opts.progress, batch_size=opts.batch_size, compile=opts.compile, n_jobs=opts.n_jobs)
    return RandomWeightSetup(run, splits, described)


def compute_proxies(archs: list[Architecture], proxies: list[ProxySpec], opts: SearchOptions, dataset: Dataset,
                    folder: Path, batches: Minibatches, setup: RandomWeightSetup,
                    on_done: Callable[[str], None] | None = None) -> int:
    """Fill each architecture's ``proxies``; returns how many were computed (the rest came from the cache)."""
    computed, protocol = 0, dataset.describe()["protocol"]
    for arch in archs:
        ctx = ProxyContext(spec=arch.spec, width=opts.width, seeds=tuple(opts.seeds), dataset=dataset,
                           batch=batches(arch.spec), random_weight=setup, device=_device(opts.device))
        for proxy in proxies:
            key = content_key(proxy_key_settings(proxy, arch, opts, dataset, protocol, batches))
            arch.proxies[proxy.name], new = proxy_record(proxy, arch, ctx, proxy_file(folder, arch, proxy), key,
                                                         opts.force)
            computed += new
            if on_done:
                on_done(f"{arch.name} {proxy.name} = {arch.proxies[proxy.name]['value']:.4g}"
                        f"{'' if new else ' (cached)'}")
    return computed


def _device(device: str) -> str:
    from .device import resolve_device

    return str(resolve_device(device))


# -- training ------------------------------------------------------------------------------------------------------
def to_train(archs: list[Architecture], by: str, top: int, others: int,
             seed: int) -> tuple[list[Architecture], list[Architecture]]:
    """(the architectures to train, in sample order: the top ``top`` by proxy ``by`` plus ``others`` drawn at random
    (seeded) from the rest; the drawn ones). Only architectures the proxy scored (a finite value) can be its top;
    fewer than ``top`` is said."""
    scored = [a for a in archs if by in a.proxies and _finite(a.proxies[by].get("value"))]
    best = ranked(scored, by)[:top]
    if len(best) < top:
        log.warning("--train-top %d: only %d architecture(s) have a finite %s (%d of %d not scored by it: undefined, "
                    "or below the halving cut); training those", top, len(best), by, len(archs) - len(scored), len(archs))
    if tied := tied_at_cut(archs, by, top):
        log.warning("--train-top %d: %s tie on %s across the cut; the first %d in sample order are trained (recorded "
                    "as trained.tied_at_cut)", top, ", ".join(a.name for a in tied), by, sum(a in best for a in tied))
    rest = [a for a in archs if a not in best]
    if others > len(rest):
        log.warning("--train-random %d: only %d architecture(s) are left to draw from; drawing those", others, len(rest))
    rng = np.random.default_rng([seed, 1])
    drawn = [rest[i] for i in sorted(rng.permutation(len(rest))[:others])]
    return [a for a in archs if a in best or a in drawn], drawn


def tied_at_cut(archs: list[Architecture], by: str, top: int) -> list[Architecture]:
    """The architectures whose proxy value equals the ``top``-th best's when some of them fall below the cut (which
    of them ``--train-top`` takes is then the sample's order); empty when the cut separates two values."""
    order = [a for a in ranked(archs, by) if _finite(rank_value(a.proxies.get(by)))]
    if not 0 < top < len(order):
        return []
    value = rank_value(order[top - 1].proxies[by])
    return [a for a in order if rank_value(a.proxies[by]) == value] if rank_value(order[top].proxies[by]) == value else []


def trained_elsewhere(dataset: Dataset, archs: list[Architecture], opts: SearchOptions, train_opts) -> list[str]:
    """The candidates whose training would be refused as replacing one made under other settings
    (:func:`rwbench.train.conflicts`), found before any proxy: refused when every candidate is to be trained
    (``--train-top`` + ``--train-random`` ≥ n), as the training would be after hours of proxies; else returned (a run
    choosing one of them stops there)."""
    from .train import conflicts

    if train_opts is None or not opts.train_top + opts.train_random:
        return []
    splits, protocol = dataset.splits(), dataset.describe()["protocol"]
    lines = {a.name: found for a in archs if a.spec.is_learnable()
             and (found := conflicts(dataset, a.spec, train_opts, splits, protocol))}
    if lines and opts.train_top + opts.train_random >= len(archs):
        raise RwbenchError(f"{sum(map(len, lines.values()))} training(s) would replace one made under other settings, "
                           f"code or data: {'; '.join(x for found in lines.values() for x in found)}. Every candidate "
                           "is to be trained (--train-top + --train-random ≥ the architectures scored): nothing was "
                           "computed. Pass --retrain to train them again, or another --results")
    return list(lines)


# -- the search ----------------------------------------------------------------------------------------------------
def registered(space: SearchSpace, configs: list[dict]) -> list[Architecture]:
    """Members of ``space``, registered as front-ends (``SPACE:ID``). A name registered before in this process must be
    the same network: another space file of the same name is refused, not scored under the first one's network."""
    archs = []
    for config in configs:
        spec = space.frontend(config)
        known = FRONTENDS.get(spec.name) if spec.name in FRONTENDS else FRONTENDS.add(spec)
        if known.source != spec.source:
            raise RwbenchError(f"{spec.name} names two networks in this process: {known.source} and {spec.source}")
        archs.append(Architecture(known, config))
    return archs


def listed(space: SearchSpace, names: str) -> list[dict]:
    """The members ``names`` gives (comma-separated ``SPACE:ID`` or ``ID``, unique prefixes allowed), in that order;
    two names of one network are refused (they would be one architecture counted twice)."""
    members = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        ref, _, key = name.rpartition(":")
        if ref and ref != space.name:
            raise RwbenchError(f"--frontends {name}: not a member of the space {space.name!r} (give {space.name}:ID)")
        members.append((name, space.config(key), space.widths))
    if not members:
        raise RwbenchError("--frontends names no architecture")
    refuse_repeated_networks(members)
    return [config for _, config, _ in members]


def candidates(opts: SearchOptions) -> tuple[list[Architecture], dict]:
    """The architectures scored and what the manifest says of where they came from: ``n`` sampled from the space, or
    those ``frontends`` lists (a space's members by id; with space ``registry``, registered front-ends)."""
    if opts.space == REGISTRY:
        if not opts.frontends:
            raise RwbenchError("rwbench search registry scores registered front-ends: give --frontends (names or wildcards)")
        selected = FRONTENDS.select(opts.frontends)
        specs = [s for s in selected if s.is_learnable()]
        if fixed := [s.name for s in selected if not s.is_learnable()]:
            log.warning("%s: no weights, so no architecture to rank: not scored", ", ".join(fixed))
        if not specs:
            raise RwbenchError(f"--frontends {opts.frontends}: none of them has weights ({', '.join(fixed)}); "
                               "rwbench search ranks networks")
        archs = [Architecture(s, {"registered": s.name, "input": s.input_kind}) for s in specs]
        return archs, {"name": REGISTRY, "frontends": opts.frontends}
    space = load_space(opts.space)
    archs = registered(space, listed(space, opts.frontends) if opts.frontends else space.sample(opts.n, opts.sample_seed))
    return archs, {
        "name": space.name, "version": space.version, "origin": space.origin, "sha256": space.sha256,
        "valid_architectures": space.size, "configurations": len(space.configs), "axes": space.axes, "fixed": space.fixed,
        **({"frontends": [a.name for a in archs]} if opts.frontends else {"sampled": {"n": opts.n, "seed": opts.sample_seed}})}


def by_macs(macs: float, timed: list[tuple[float, float]]) -> float:
    """Seconds at ``macs`` on the line through the ``timed`` (MACs, seconds) points (one point: that time); never
    below the least time measured."""
    (m0, t0), (m1, t1) = timed[0], timed[-1]
    if m1 == m0:
        return (t0 + t1) / 2
    return max(min(t0, t1), t0 + (t1 - t0) * (macs - m0) / (m1 - m0))


def halved(archs: list[Architecture], by: str) -> list[Architecture]:
    """The best half by ``by`` (at least one), and every architecture tied with the last one kept: a tie at the cut
    is not broken by the sample's order (which of two equal networks got the random-weight proxy was chance). Where
    fewer than half have a value of ``by``, every one without is kept too: the sample's order would choose them."""
    keep = max(1, math.ceil(len(archs) / 2))
    best = ranked(archs, by)[:keep]
    if tied := [a for a in tied_at_cut(archs, by, keep) if a not in best]:
        log.info("--halving: %d architecture(s) tie on %s with the last of the best half and are kept too: %s",
                 len(tied), by, ", ".join(a.name for a in tied))
    undefined = [a for a in archs if not _finite(rank_value(a.proxies.get(by)))]
    if len(archs) - len(undefined) < keep:
        log.warning("--halving: %s has no value for %d architecture(s) (%s), more than the worse half holds: all of "
                    "them are kept, not the first in the sample's order", by, len(undefined),
                    ", ".join(a.name for a in undefined))
        best = [a for a in best if a not in undefined] + undefined
    return best + tied


def refuse_other_search(folder: Path, archs: list[Architecture], opts: SearchOptions, dataset: Dataset) -> dict | None:
    """Refuse to replace the ``search.json`` of another search in ``folder`` (unless ``--force``); the search recorded
    there when it is this one (what its earlier runs chose for training is kept, ``--force`` or not), None where there
    is none, it cannot be read, or ``--force`` replaces another search."""
    try:
        earlier = read_json(folder / "search.json") if (folder / "search.json").is_file() else None
    except RwbenchError:
        earlier = None
    if earlier is None or not (other := other_search(earlier, archs, opts, dataset)):
        return earlier
    if not opts.force:
        raise RwbenchError(f"{folder} holds another search ({other}); this one would replace its search.json, and "
                           "`search score` would lose its trained architectures: give --out FOLDER, or --force")
    return None


def other_search(earlier: dict, archs: list[Architecture], opts: SearchOptions, dataset: Dataset) -> str:
    """How the ``earlier`` search differs from this one in what it scores (another dataset, architectures it does not
    score, width, another network under one of its names: its recorded parameter count or network identity; more
    architectures, or more or other proxies, are the same search, grown), or "" when it does not."""
    recorded = earlier.get("dataset") or {}
    if (theirs := recorded.get("key")) != dataset.key:  # --out names no dataset
        return f"dataset {theirs}, not {dataset.key}"
    if recorded.get("fingerprint") != dataset.fingerprint():  # a --dataset-option, another copy of the data
        return f"other clips: fingerprint {recorded.get('fingerprint')}, not {dataset.fingerprint()}"
    if content_key({"p": recorded.get("protocol")}) != content_key({"p": dataset.describe()["protocol"]}):
        return "another protocol (outer folds, refit)"
    names, mine = sorted({a["name"] for a in earlier.get("architectures", [])}), {a.name for a in archs}
    if missing := [n for n in names if n not in mine]:
        return f"{len(missing)} of its {len(names)} architectures are not in this one, e.g. {missing[0]}"
    if earlier.get("width") != str(opts.width):
        return f"width {earlier.get('width')}"
    now = {a.name: a for a in archs}
    for arch in earlier.get("architectures", []):  # a space file's [widths] or a plugin edited under the same names
        spec = now[arch["name"]].spec
        if "params" in arch and arch["params"] != (params := spec.param_count(opts.width)):
            return f"another network under the same names: {arch['name']} had {arch['params']} parameters, now {params}"
        if "network" in arch and arch["network"] != (network := network_identity(spec)):
            return f"another network under the same names: {arch['name']} was {arch['network']}, now {network}"
    return ""


def merged_training(earlier: dict | None, now: dict) -> dict:
    """What a search's runs chose for training, as one record: a rerun that adds proxies (and trains nothing) keeps
    the earlier choice; one that trains more joins its picks to the earlier ones — the architectures chosen, those
    drawn at random, the proxies that picked the others (``top``: how many a proxy picked). Without it, a grown
    search forgot how its trained set was selected, and ``search score`` dropped the range-restriction caveat and
    ρ over the random draw."""
    if not earlier or not earlier.get("chosen"):
        return now
    if not now["chosen"]:
        return {**earlier, "results": now["results"], "results_from_folder": now["results_from_folder"]}
    chosen = list(dict.fromkeys([*earlier["chosen"], *now["chosen"]]))
    drawn = list(dict.fromkeys([*earlier.get("drawn", []), *now["drawn"]]))
    return {**now, "chosen": chosen, "drawn": drawn, "top": len([a for a in chosen if a not in drawn]),
            "random": len(drawn),
            "top_by": ", ".join(dict.fromkeys(str(c["top_by"]) for c in (earlier, now) if c.get("top") and c.get("top_by"))),
            "tied_at_cut": list(dict.fromkeys([*earlier.get("tied_at_cut", []), *now["tied_at_cut"]]))}


def search(dataset: Dataset, opts: SearchOptions, train_opts=None, on_done: Callable[[str], None] | None = None) -> Path:
    """Run the search; returns its folder. ``train_opts`` (:class:`rwbench.fitting.TrainOptions`) trains the chosen
    architectures (``train_top`` + ``train_random``)."""
    proxies = select_proxies(opts.proxies)
    rank_by = checked_rank_by(opts, proxies)
    opts = in_protocol_order(opts, dataset)
    archs, space = candidates(opts)
    folder = search_folder(opts, space["name"], dataset)
    refuse_other_search(folder, archs, opts, dataset)
    if clashing := trained_elsewhere(dataset, archs, opts, train_opts):
        log.warning("%d of the %d candidates were trained under other settings, code or data (%s): if --train-top/"
                    "--train-random choose one, the search stops after its proxies, before training; --retrain trains "
                    "them again", len(clashing), len(archs), ", ".join(clashing))
    setup = random_weight_setup(opts, dataset, folder)
    batches = Minibatches(dataset, opts.minibatch, opts.sample_seed, opts.width, opts.skip_bad_audio, opts.device)
    cheap = [p for p in proxies if p.kind != "random-weight"]
    costly = [p for p in proxies if p.kind == "random-weight"]
    start = time.perf_counter()
    halving_by = None
    if opts.halving and costly:  # halve by --rank-by when it is cheap (else the first cheap proxy); train by costly
        halving_by = rank_by if rank_by in [p.name for p in cheap] else cheap[0].name  # checked_rank_by: one exists
        log.info("successive halving: %s on all %d architectures, %s on the best half by %s", ", ".join(p.name for p in cheap),
                 len(archs), ", ".join(p.name for p in costly), halving_by)
        compute_proxies(archs, cheap, opts, dataset, folder, batches, setup, on_done)
        best_half = halved(archs, halving_by)
        compute_proxies(best_half, costly, opts, dataset, folder, batches, setup, on_done)
        rank_by = rank_by if rank_by in [p.name for p in costly] else costly[0].name
    else:
        compute_proxies(archs, proxies, opts, dataset, folder, batches, setup, on_done)
    proxy_seconds = time.perf_counter() - start
    chosen, drawn = to_train(archs, rank_by, opts.train_top, opts.train_random, opts.sample_seed)
    training = {"chosen": [a.name for a in chosen], "top": opts.train_top, "random": opts.train_random,
                "top_by": rank_by, "drawn": [a.name for a in drawn],
                "tied_at_cut": [a.name for a in tied_at_cut(archs, rank_by, opts.train_top)],
                "results": str(opts.results_dir),  # as given (from the directory the search ran in)
                "results_from_folder": os.path.relpath(Path(opts.results_dir).resolve(), folder.resolve())}
    if chosen and train_opts is not None:
        from .train import train_all

        train_all([dataset], [a.spec for a in chosen], train_opts)
    manifest = {
        "search_code": SEARCH_CODE_VERSION,
        "space": space,
        "dataset": {"key": dataset.key, "fingerprint": dataset.fingerprint(), "task_type": dataset.task_type,
                    "protocol": dataset.describe()["protocol"]},
        "n": len(archs), "seed": opts.sample_seed, "width": str(opts.width), "proxy_seeds": list(opts.seeds),
        "proxies": [p.name for p in proxies], "rank_by": rank_by, "halving": opts.halving,
        "proxy_identity": {p.name: proxy_identity(p, archs[0], opts, dataset, dataset.describe()["protocol"])
                           for p in proxies},
        **({"halving_by": halving_by} if halving_by else {}),
        "minibatch": {"size": len(batches.indices), "clips": [dataset.clips[i].id for i in batches.indices],
                      "seconds": batches.seconds,
                      "skipped": {dataset.clips[i].id: why for i, why in batches.skipped.items()}},
        **({"random_weight": {"outer_folds": [s.name for s in setup.splits] if setup.splits else "all",
                              "results": str(setup.opts.results_dir), "grid": setup.opts.grid}} if costly else {}),
        "trained": training,
        # the proxies' cost as their records give it (a resumed search's wall time leaves out what earlier runs did)
        "seconds": sum(float(r.get("seconds") or 0.0) for a in archs for r in a.proxies.values()),
        "this_run_seconds": proxy_seconds,
        "architectures": [{"name": a.name, "config": a.config, "description": a.spec.description,
                           "params": a.spec.param_count(opts.width), "network": network_identity(a.spec),
                           "proxies": a.proxies} for a in archs],
    }
    manifest["trained_not_used"] = look_up_trained(manifest, Path(opts.results_dir))
    with exclusive(folder / ".search.lock", f"{folder}/search.json"):
        # a search started beside this one may have written its own since the check above (its records are kept)
        earlier = refuse_other_search(folder, archs, opts, dataset)
        if earlier is not None:  # the same search (grown, or --force): what earlier runs chose for training stays
            manifest["trained"] = merged_training(earlier.get("trained"), training)
        write_json(folder / "search.json", manifest)
    table = search_table(manifest)
    for fmt in FORMATS:
        write_text(folder / f"table.{fmt}", render(table, fmt))
    return folder


def checked_rank_by(opts: SearchOptions, proxies: list) -> str:
    """The proxy that ranks the architectures (``--rank-by``, or the default), checked with ``--halving`` against
    the proxies asked: a run and its dry run refuse the same options."""
    rank_by = opts.rank_by or default_rank_by(proxies)
    if rank_by not in [p.name for p in proxies]:
        raise RwbenchError(f"--rank-by {rank_by!r} is not among --proxies ({', '.join(p.name for p in proxies)})")
    kinds = {p.kind for p in proxies}
    if opts.halving and "random-weight" not in kinds:
        raise RwbenchError("--halving computes the random-weight proxies on the best half only: add rw_elm or rw_svm "
                           "to --proxies, or leave --halving out")
    if opts.halving and kinds == {"random-weight"}:
        raise RwbenchError("--halving ranks by a cheap proxy first: add a zero-cost or baseline proxy")
    return rank_by


def plan_search(dataset: Dataset, opts: SearchOptions, train_opts=None) -> str:
    """``--dry-run``: the sampled architectures and the predicted cost — zero-cost and baseline proxies timed on the
    first architecture, random-weight ones from ``rwbench run --dry-run``'s plan (embedding timed on this device,
    one backend fit timed per feature size) scaled to the folds scored, training from ``rwbench train --dry-run``'s
    (:mod:`rwbench.train_plan`) with ``train_opts``. Nothing is written."""
    from .backends import BACKENDS
    from .plan import plan

    proxies = select_proxies(opts.proxies)
    checked_rank_by(opts, proxies)
    opts = in_protocol_order(opts, dataset)  # as the search itself refuses and orders them
    archs, space = candidates(opts)
    refuse_other_search(search_folder(opts, space["name"], dataset), archs, opts, dataset)
    clashing = trained_elsewhere(dataset, archs, opts, train_opts)  # as the search refuses or warns
    lines = [f"search space {space['name']!r} ({space.get('origin', opts.frontends)}): "
             f"{space.get('valid_architectures', len(archs))} architectures; scoring {len(archs)}"
             + (f" sampled with seed {opts.sample_seed}:" if opts.space != REGISTRY else ":")]
    lines += [f"  {a.name}  {a.spec.description}" for a in archs]
    batches = Minibatches(dataset, opts.minibatch, opts.sample_seed, opts.width, opts.skip_bad_audio, opts.device)
    ctx = ProxyContext(spec=archs[0].spec, width=opts.width, seeds=tuple(opts.seeds), dataset=dataset,
                       batch=batches(archs[0].spec), device=_device(opts.device))
    folder, protocol = search_folder(opts, space["name"], dataset), dataset.describe()["protocol"]
    cached = {p.name: [a for a in archs if not opts.force and cached_record(
        proxy_file(folder, a, p), content_key(proxy_key_settings(p, a, opts, dataset, protocol, batches)))]
              for p in proxies}  # as compute_proxies finds them: these are read, not computed

    def from_cache(proxy: ProxySpec) -> str:
        n = len(cached[proxy.name])
        return f"; {n} of {len(archs)} cached in {folder}, read" if n else ""

    total = np.zeros(2)  # (fewest, most) seconds of everything still to compute
    cheap = [p for p in proxies if p.kind != "random-weight"]
    for proxy in [p for p in cheap if len(cached[p.name]) == len(archs)]:  # nothing to compute: nothing to time
        lines.append(f"{proxy.name}: all {len(archs)} cached in {folder}, read")
    cheap = [p for p in cheap if len(cached[p.name]) < len(archs)]
    macs = {a.name: count_macs(a.spec, opts.width) for a in archs} if cheap else {}
    ends = list({a.name: a for a in (min(archs, key=lambda a: macs[a.name]),
                                     max(archs, key=lambda a: macs[a.name]))}.values()) if cheap else []
    for proxy in cheap:
        proxy.compute(ctx)  # warm up (imports, first kernels), then time
        timed = {}
        for arch in ends:  # the fewest and the most MACs: the others' times lie between, by their MACs
            load = batches(arch.spec)
            load()  # decoded outside the timing, as the search does
            each = replace(ctx, spec=arch.spec, batch=load)
            start = time.perf_counter()
            proxy.compute(each)
            timed[arch.name] = time.perf_counter() - start
        each_seconds = {a.name: by_macs(macs[a.name], [(macs[n], t) for n, t in timed.items()]) for a in archs}
        total += sum(each_seconds[a.name] for a in archs if a not in cached[proxy.name])
        lines.append(f"{proxy.name}: ≈ {min(each_seconds.values()):.2f} … {max(each_seconds.values()):.2f} s per "
                     "architecture "
                     f"(timed on {' and '.join(timed)}, the fewest and most MACs; the others by their MACs)"
                     + from_cache(proxy))
    costly = [p for p in proxies if p.kind == "random-weight"]
    if costly:
        setup = random_weight_setup(opts, dataset, folder)
        outer = setup.splits if setup.splits is not None else dataset.splits()  # None: all
        share = len(outer) / len(dataset.splits())
        scored = math.ceil(len(archs) / 2) if opts.halving else len(archs)
        timings: dict = {}  # shared: each network is timed once, for all the random-weight proxies
        cost = dict.fromkeys((a.name for a in archs), 0.0)  # per architecture: its embedding and every proxy's fits
        missing = {p.name: {a.name for a in archs if a not in cached[p.name]} for p in costly}
        for proxy in costly:
            rows = plan([dataset], [a.spec for a in archs], [BACKENDS.get(proxy.name.removeprefix("rw_"))],
                        setup.opts, timings=timings,
                        protocols={dataset.key: (setup.described or dataset.describe())["protocol"]})
            embed = {r.frontend: r.embed_seconds for r in rows}  # the same rows, whichever backend
            done, results = sum(r.up_to_date for r in rows), sum(r.results for r in rows)
            reused = f"; {done} of {results} result files already in {setup.opts.results_dir}, reused" if done else ""
            for r in rows:  # a proxy value read from its record costs nothing
                cost[r.frontend] += share * r.fit_seconds * (r.frontend in missing[proxy.name])
            lines.append(f"{proxy.name}: ≈ {sum(share * r.fit_seconds for r in rows) / len(rows):.1f} s per "
                         f"architecture of backend fits (outer folds scored: {len(outer)} of {len(dataset.splits())}"
                         f"{reused}){from_cache(proxy)}")
        for name, seconds in embed.items():  # embedded when some random-weight proxy of it is to compute
            cost[name] += seconds * any(name in m for m in missing.values())
        lines.append(f"random-weight embedding, computed once for {', '.join(p.name for p in costly)}: "
                     f"≈ {sum(embed.values()) / len(embed):.1f} s per architecture ({len(opts.seeds)} seed(s))")
        ordered = sorted(cost.values())
        total += (sum(ordered[:scored]), sum(ordered[-scored:]))
        if scored < len(archs):  # which half is scored depends on the cheap proxies' values
            lines.append(f"--halving: the random-weight proxies on {scored} of the {len(archs)}, priced from the "
                         f"{scored} cheapest for them to the {scored} dearest")
    from .train_plan import hours, trained_seeds, training_cost

    trains = min(opts.train_top + opts.train_random, len(archs))
    if trains and train_opts is not None:  # which ones are trained depends on the proxies: each sampled one is timed
        from .train import planned_key

        seeds = list(train_opts.seeds)
        before = [a for a in archs if len(trained_seeds(dataset, a.spec, train_opts, {
            seed: planned_key(dataset, a.spec, seed, train_opts, protocol) for seed in seeds},
            dataset.splits())) == len(seeds)]
        left = [a for a in archs if a not in before]
        for arch in left:  # as `rwbench train --dry-run` does: a network that cannot train is said, not priced
            check_fits(EmbedJob(dataset, arch.spec, train_opts.width), train_opts.batch_size, train_opts.device,
                       training=True)
        bounds = np.array([training_cost(dataset, a.spec, train_opts).bounds for a in left] or [(0.0, 0.0)]) * len(seeds)
        # the chosen ones may be trained already (reused): at least trains − len(before) and at most trains to train
        fewest, most = max(0, trains - len(before)) * bounds[:, 0].mean(), min(trains, len(left)) * bounds[:, 1].mean()
        total += (fewest, most)
        reused = (f"; {len(before)} of the {len(archs)} already trained under these settings (reused if chosen)"
                  if before else "")
        if clashing:
            reused += (f"; {len(clashing)} trained under other settings, code or data ({', '.join(clashing)}): a run "
                       "choosing one stops after the proxies, before training (--retrain trains them again)")
        lines.append(f"training: {trains} of them × {len(seeds)} seed(s) with `rwbench train`'s recipe: "
                     f"≈ {hours(fewest)} … {hours(most)} at the sample's mean cost (per architecture "
                     f"{hours(bounds[:, 0].min())} … {hours(bounds[:, 1].max())}: every run stopped as early as patience "
                     f"allows … every run at the epoch cap){reused}")
    lines.append(f"total: ≈ {hours(total[0])} … {hours(total[1])} on this device, one computation at a time")
    return "\n".join(lines) + "\n"


# -- tables --------------------------------------------------------------------------------------------------------
def search_table(manifest: dict) -> pd.DataFrame:
    """One row per architecture, best first by the manifest's ``rank_by``: its id, input, first-filter shape, depth,
    every proxy value, trained accuracy when there is one, and the full configuration (JSON exports)."""
    rows = []
    for arch in manifest["architectures"]:
        config = arch["config"]
        row = {"frontend": arch["name"], "input": config["input"], "shape": shape_of(config), "depth": config.get("depth"),
               "description": arch["description"]}
        row.update({p: record["value"] for p, record in arch["proxies"].items()})
        row["trained"] = arch["trained"]["value"] if arch.get("trained") else math.nan
        row["config"] = config
        rows.append(row)
    table = pd.DataFrame(rows)
    by = manifest["rank_by"]
    if by in table:  # ordered as ranked() orders --train-top: by rank_value (random-weight means equal in exact
        # arithmetic tie, then sample order), a non-finite value last (pandas would put +inf first)
        values = pd.Series([rank_value(arch["proxies"].get(by)) for arch in manifest["architectures"]], dtype=float)
        order = values.where(np.isfinite(values)).sort_values(ascending=False, na_position="last", kind="stable").index
        table = table.loc[order]
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def render(table: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return table.to_json(orient="records", indent=2, double_precision=15) + "\n"  # 10 places: 1e-12 is 0.0
    if fmt == "csv":
        return table.assign(config=table["config"].map(canonical_json) if "config" in table else None).to_csv(index=False)
    shown = table.drop(columns=[c for c in ("config", "description") if c in table])
    return tabulate(shown, headers="keys", tablefmt="github", showindex=False, floatfmt=".4g") + "\n"
