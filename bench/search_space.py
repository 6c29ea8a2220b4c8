"""Search spaces: parametric families of front-ends, written as TOML files (``rwbench search``).

A space file has a name, the base filter counts per named width, the settings every member shares (``[fixed]``) and
the design axes (``[axes]``: each a list of values; a sampled architecture takes one value of each)::

    name = "logmel"            # must equal the file's stem for the spaces shipped in rwbench/spaces/
    version = 1
    max_input_seconds = 1.0    # optional: members whose shortest input is longer are not in the space
    [widths]                   # --width small | paper: the first layer's filter count
    small = 24
    paper = 512
    [fixed]
    input = "logmel"
    sample_rate = 12000
    [axes]
    depth = [1, 2, 3]
    first_kernel = [[7, 86], [3, 3], [32, 1]]

Any configuration key may sit in either table (a list-valued key such as ``first_kernel`` is a list of lists in
``[axes]``). The keys (:data:`KEYS`): ``input`` (``logmel`` / ``waveform``), ``sample_rate``; log-mel: ``n_fft``,
``hop_length``, ``n_mels``; ``first_kernel`` (log-mel: ``[frames, bands]``; waveform: samples), ``first_stride``
(waveform), ``kernel`` (later layers, 'same' padding), ``depth`` (conv layers), ``growth`` and ``max_growth`` (layer
``i`` has ``round(base · min(growth**i, max_growth))`` filters), ``pool`` (``max`` / ``avg``), ``pool_size``
(log-mel ``[frames, bands]``, capped by the bands left; waveform samples), ``nonlinearity`` (:data:`NONLINEARITIES`),
``batch_norm``.

The network (:class:`SearchedNet`): layer 1 = conv ``first_kernel`` ('valid', stride ``first_stride``), layers 2…
``depth`` = conv ``kernel`` ('same'); each followed by batch norm (if chosen), the nonlinearity and the pooling.
Every layer is a feature layer (mean-pooled over time, and over frequency for log-mel, by the embedder).

An architecture's id is the first :data:`ID_CHARS` hex digits of the sha256 of its configuration (canonical JSON),
so ``logmel:3fa2c1d0`` names the same network wherever it is rebuilt; the front-end registry resolves such names
(:func:`frontend_from_name`), taking a packaged space's name or a path to a space file before the colon, and any
unique prefix of at least 4 digits after it. The configuration is written into the front-end's ``source``, so it
is part of every result file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .dsp import LogMelConfig
from .errors import RwbenchError, UnknownNameError
from .frontend import FrontendSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ID_CHARS = 8
MIN_PREFIX = 4
BUILDER_VERSION = 1  # bump when SearchedNet changes: it is the sampled front-ends' spec version (cache keys)
INPUTS = ("logmel", "waveform")
NONLINEARITIES: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}
POOLS: dict[str, dict[int, type[nn.Module]]] = {"max": {1: nn.MaxPool1d, 2: nn.MaxPool2d},
                                                "avg": {1: nn.AvgPool1d, 2: nn.AvgPool2d}}


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _pair(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_int(v) for v in value)


# key -> (inputs it applies to, check, what a valid value is)
KEYS: dict[str, tuple[tuple[str, ...], Callable[[Any], bool], str]] = {
    "input": (INPUTS, lambda v: v in INPUTS, f"one of {list(INPUTS)}"),
    "sample_rate": (INPUTS, _int, "a positive integer (Hz)"),
    "n_fft": (("logmel",), _int, "a positive integer"),
    "hop_length": (("logmel",), _int, "a positive integer"),
    "n_mels": (("logmel",), _int, "a positive integer"),
    "first_kernel": (INPUTS, lambda v: _int(v) or _pair(v), "[frames, bands] (log-mel) or samples (waveform)"),
    "first_stride": (("waveform",), _int, "a positive integer"),
    "kernel": (INPUTS, lambda v: (_int(v) or _pair(v)) and all(k % 2 for k in np.atleast_1d(v)),
               "odd sizes: [frames, bands] (log-mel) or samples (waveform)"),
    "depth": (INPUTS, _int, "a positive integer"),
    "growth": (INPUTS, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v < math.inf,
               "a finite number ≥ 1"),
    "max_growth": (INPUTS, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1, "a number ≥ 1"),
    "pool": (INPUTS, lambda v: isinstance(v, str) and v in POOLS, f"one of {list(POOLS)}"),
    "pool_size": (INPUTS, lambda v: _int(v) or _pair(v), "[frames, bands] (log-mel) or samples (waveform)"),
    "nonlinearity": (INPUTS, lambda v: isinstance(v, str) and v in NONLINEARITIES, f"one of {list(NONLINEARITIES)}"),
    "batch_norm": (INPUTS, lambda v: isinstance(v, bool), "true or false"),
}
REQUIRED = {"logmel": ("sample_rate", "n_fft", "hop_length", "n_mels", "first_kernel", "kernel", "depth", "growth",
                       "max_growth", "pool", "pool_size", "nonlinearity", "batch_norm"),
            "waveform": ("sample_rate", "first_kernel", "first_stride", "kernel", "depth", "growth", "max_growth",
                         "pool", "pool_size", "nonlinearity", "batch_norm")}
SHAPED = {"logmel": ("first_kernel", "kernel", "pool_size")}  # keys that are [frames, bands] pairs for log-mel


def canonical_json(config: dict) -> str:
    """A configuration as one line of JSON, keys sorted: what its id hashes and what results record."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def arch_id(config: dict) -> str:
    """The architecture's id: the first :data:`ID_CHARS` hex digits of the sha256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:ID_CHARS]


# -- the network ------------------------------------------------------------------------------------------------
def channels(config: dict, filters: int) -> list[int]:
    """Filters of each layer for a first-layer count ``filters``."""
    return [max(1, round(filters * min(config["growth"] ** i, config["max_growth"]))) for i in range(config["depth"])]


def _pools(config: dict) -> list[tuple[int, ...]]:
    """Each layer's pooling size; log-mel band pooling is capped by the bands left (never below one band)."""
    if config["input"] == "waveform":
        return [(config["pool_size"],)] * config["depth"]
    frames, bands = config["pool_size"]
    left = config["n_mels"] - config["first_kernel"][1] + 1
    out: list[tuple[int, ...]] = []
    for _ in range(config["depth"]):
        size = (frames, max(1, min(bands, left)))
        left //= size[1]
        out.append(size)
    return out


def min_input(config: dict) -> int:
    """Fewest frames (log-mel) or samples (waveform) for which the last layer keeps one time step."""
    frames = math.prod(size[0] for size in _pools(config))
    if config["input"] == "logmel":
        return config["first_kernel"][0] - 1 + frames
    return config["first_kernel"] + config["first_stride"] * (frames - 1)


def min_seconds(config: dict) -> float:
    shortest = min_input(config)
    if config["input"] == "logmel":
        shortest = (shortest - 1) * config["hop_length"]
    return shortest / config["sample_rate"]


@dataclass(frozen=True)
class Layer:
    """One conv layer of a member, as :class:`SearchedNet` builds it."""

    channels: int
    kernel: Any  # samples (waveform) or (frames, bands)
    stride: int
    padding: Any  # as kernel
    pool: tuple[int, ...]  # (1,) or (1, 1): none


def layers(config: dict, filters: int) -> list[Layer]:
    """The conv layers of ``config`` at first-layer width ``filters``: what the network is, whichever keys spelled it
    (at depth 1, ``growth``, ``max_growth`` and ``kernel`` change nothing)."""
    out = []
    for i, (width, pool) in enumerate(zip(channels(config, filters), _pools(config))):
        first = i == 0
        kernel = config["first_kernel"] if first else config["kernel"]
        out.append(Layer(channels=width, kernel=tuple(kernel) if isinstance(kernel, list) else kernel,
                         stride=config.get("first_stride", 1) if first and config["input"] == "waveform" else 1,
                         padding=0 if first else tuple(k // 2 for k in np.atleast_1d(kernel).tolist()), pool=pool))
    return out


def network_key(config: dict, widths: dict[str, int]) -> str:
    """What the networks of ``config`` are at every named width, as one string: two configurations with one key build
    the same networks (the same layers, input, nonlinearity, batch norm; the pooling kind only where a layer pools)."""
    shared = {k: v for k, v in config.items() if k not in ("first_kernel", "first_stride", "kernel", "depth", "growth",
                                                           "max_growth", "pool", "pool_size")}
    nets = {name: layers(config, filters) for name, filters in widths.items()}
    pooled = any(math.prod(layer.pool) > 1 for layer in next(iter(nets.values())))  # pooling is the same at any width
    return json.dumps({**shared, "layers": {name: [dataclasses.astuple(layer) for layer in net] for name, net in nets.items()},
                       "pool": config["pool"] if pooled else None}, sort_keys=True)


class SearchedNet(nn.Module):
    """A member of a search space: ``depth`` × [conv, batch norm?, nonlinearity, pooling], every layer returned.

    Input ``(batch, 1, frames, n_mels)`` (log-mel) or ``(batch, 1, samples)`` (waveform); output one tensor per
    layer, ``(batch, channels_i, time, [bands])``."""

    def __init__(self, config: dict, filters: int) -> None:
        super().__init__()
        dims = 2 if config["input"] == "logmel" else 1
        conv, norm = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv1d, nn.BatchNorm1d)
        modules, previous = [], 1
        for layer in layers(config, filters):
            parts: list[nn.Module] = [conv(previous, layer.channels, layer.kernel, stride=layer.stride,
                                           padding=layer.padding, bias=not config["batch_norm"])]
            if config["batch_norm"]:
                parts.append(norm(layer.channels))
            parts.append(NONLINEARITIES[config["nonlinearity"]]())
            if math.prod(layer.pool) > 1:
                parts.append(POOLS[config["pool"]][dims](layer.pool, stride=layer.pool))
            modules.append(nn.Sequential(*parts))
            previous = layer.channels
        self.layers = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        return out


def _layer_dims(config: dict, filters: int) -> dict[str, int]:
    return {f"layer{i + 1}": c for i, c in enumerate(channels(config, filters))}


def _feature_dim(config: dict, filters: int) -> int:
    return sum(channels(config, filters))


def describe(config: dict) -> str:
    """One line in words, e.g. ``log-mel 96 bands; 3 layers, first 7×86 (vertical), then 3×3; max-pool 2×2; …``."""
    if config["input"] == "logmel":
        t, f = config["first_kernel"]
        shape = "vertical" if f > t else "horizontal" if t > f else "square"
        head = (f"log-mel {config['n_mels']} bands at {config['sample_rate']} Hz; first conv {t}×{f} ({shape}), "
                f"then {'×'.join(map(str, config['kernel']))}")
        pool = "×".join(map(str, config["pool_size"]))
    else:
        head = (f"waveform at {config['sample_rate']} Hz; first conv {config['first_kernel']} samples stride "
                f"{config['first_stride']}, then {config['kernel']}")
        pool = str(config["pool_size"])
    return (f"{head}; {config['depth']} layer(s), growth ×{config['growth']:g} (≤ ×{config['max_growth']:g}); "
            f"{config['pool']}-pool {pool}; {config['nonlinearity']}; {'batch norm' if config['batch_norm'] else 'no BN'}")


def shape_of(config: dict) -> str:
    """The log-mel first filter's shape class (vertical / horizontal / square), else the input kind."""
    if config["input"] != "logmel" or "first_kernel" not in config:
        return config["input"]
    t, f = config["first_kernel"]
    return "vertical" if f > t else "horizontal" if t > f else "square"


# -- the space ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchSpace:
    name: str
    version: int
    widths: dict[str, int]
    fixed: dict
    axes: dict[str, list]
    origin: str  # the file it was read from
    sha256: str  # of the file's bytes
    description: str = ""
    max_input_seconds: float | None = None  # members whose shortest input is longer are not in the space

    @cached_property
    def configs(self) -> list[dict]:
        """Every valid configuration, in the order of the axes' product (the file's axis and value order)."""
        names = list(self.axes)
        out = []
        for values in itertools.product(*(self.axes[n] for n in names)):
            config = {**self.fixed, **dict(zip(names, values))}
            if config_problem(config) is None and self.fits(config):
                out.append(config)
        return out

    def fits(self, config: dict) -> bool:
        """Whether the network's shortest input is within ``max_input_seconds``."""
        return self.max_input_seconds is None or min_seconds(config) <= self.max_input_seconds

    @cached_property
    def by_id(self) -> dict[str, dict]:
        ids: dict[str, dict] = {}
        for config in self.configs:
            key = arch_id(config)
            if key in ids:
                raise RwbenchError(f"search space {self.origin}: two configurations share the id {key}; rename or "
                                   "reorder a value (ids are hashes of the configuration)")
            ids[key] = config
        return ids

    @cached_property
    def distinct(self) -> list[bool]:
        """Per configuration (in :attr:`configs` order): whether it is the first to build its network. Axes that change
        nothing at some settings (``growth`` at depth 1) make several configurations of one network; the later ones
        stay valid names (``SPACE:ID``) of it, but are never drawn. Read through :attr:`by_id`, so that a space
        whose ids collide is refused before anything is drawn from it."""
        seen: set[str] = set()
        first = []
        for config in self.by_id.values():  # the configurations, in their order
            key = network_key(config, self.widths)
            first.append(key not in seen)
            seen.add(key)
        return first

    @property
    def size(self) -> int:
        """Distinct networks in the space."""
        return sum(self.distinct)

    def sample(self, n: int, seed: int = 0) -> list[dict]:
        """``n`` distinct networks drawn uniformly with ``seed``: a seeded permutation of the configurations, read in
        order, keeping the first configuration of each network (so each network has one chance, not one per spelling).
        A larger ``n`` extends a smaller one's sample."""
        if n < 1 or n > self.size:
            raise RwbenchError(f"search space {self.name!r} holds {self.size} distinct architectures; "
                               f"--n {n} must be between 1 and that")
        order = np.random.default_rng(seed).permutation(len(self.configs))
        return [self.configs[i] for i in order if self.distinct[i]][:n]

    def config(self, prefix: str) -> dict:
        """The configuration whose id starts with ``prefix`` (at least :data:`MIN_PREFIX` hex digits, unique)."""
        if len(prefix) < MIN_PREFIX:
            raise RwbenchError(f"architecture id {prefix!r}: give at least {MIN_PREFIX} hex digits")
        hits = [key for key in self.by_id if key.startswith(prefix.lower())]
        if len(hits) == 1:
            return self.by_id[hits[0]]
        if hits:
            raise RwbenchError(f"architecture id {prefix!r} of space {self.name!r} is ambiguous: {', '.join(hits[:5])}")
        raise RwbenchError(f"search space {self.name!r} ({self.origin}) has no architecture {prefix!r} "
                           f"({len(self.configs)} valid configurations; `rwbench search {self.name} --dry-run` lists a sample)")

    def frontend(self, config: dict) -> FrontendSpec:
        """The registrable front-end of one configuration, named ``SPACE:ID``."""
        kind = config["input"]
        logmel = (LogMelConfig(sample_rate=config["sample_rate"], n_fft=config["n_fft"], hop_length=config["hop_length"],
                               n_mels=config["n_mels"]) if kind == "logmel" else None)
        shortest = min_input(config)
        unit = "frames" if kind == "logmel" else "samples"
        return FrontendSpec(
            name=f"{self.name}:{arch_id(config)}", build=partial(SearchedNet, config), input_kind=kind,
            sample_rate=config["sample_rate"], widths=dict(self.widths), feature_dim=partial(_feature_dim, config),
            feature_layers=tuple(f"layer{i + 1}" for i in range(config["depth"])),
            layer_dims=partial(_layer_dims, config),
            source=(f"rwbench search space {self.name!r} v{self.version} (sha256 {self.sha256[:12]}); config "
                    + canonical_json(config)),
            logmel=logmel, min_input=shortest, pad_to_min="repeat", input_length=f"≥ {shortest} {unit}",
            description=describe(config), version=BUILDER_VERSION, widths_from_data=True,
        )


def value_problem(key: str, value: Any, kind: str) -> str | None:
    """Why ``key = value`` can be in no configuration of input ``kind`` (unknown key, a key of the other input, a
    value of the wrong type or range, a shape that is not the input's), or None."""
    if key not in KEYS:
        return f"unknown key {key!r} (keys: {', '.join(KEYS)})"
    inputs, check, want = KEYS[key]
    if kind not in inputs:
        return f"key {key!r} does not apply to input {kind!r}"
    pair = key in SHAPED.get(kind, ())
    if not check(value) or (pair and not _pair(value)) or (not pair and isinstance(value, list)):
        return f"{key} = {value!r}: want {want}"
    return None


def config_problem(config: dict) -> str | None:
    """Why ``config`` is not a valid member (a missing, unknown or ill-typed key, or a first layer wider than the
    input), or None."""
    kind = config.get("input")
    if kind not in INPUTS:
        return f"input {kind!r} is not one of {list(INPUTS)}"
    missing = [k for k in REQUIRED[kind] if k not in config]
    if missing:
        return f"missing key(s) {missing} for input {kind!r}"
    for key, value in config.items():
        if problem := value_problem(key, value, kind):
            return problem
    if kind == "logmel" and config["first_kernel"][1] > config["n_mels"]:
        return f"first_kernel {config['first_kernel']} spans more than the {config['n_mels']} mel bands"
    if kind == "waveform" and config["first_stride"] > config["first_kernel"]:
        return f"first_stride {config['first_stride']} is longer than first_kernel {config['first_kernel']} (gaps)"
    return None


def _table(data: dict, key: str, origin: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise RwbenchError(f"search space {origin}: [{key}] must be a table")
    return value


def read_space(path: str | Path) -> SearchSpace:
    """Read and check a space file; an error names the file and the key at fault."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode())
    except OSError as err:
        raise RwbenchError(f"cannot read search space {str(path)!r}: {err.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise RwbenchError(f"search space {path}: not valid TOML: {err}") from None
    origin = str(path)
    unknown = set(data) - {"name", "version", "description", "max_input_seconds", "widths", "fixed", "axes"}
    if unknown:
        raise RwbenchError(f"search space {origin}: unknown top-level key(s) {sorted(unknown)}")
    name, version = data.get("name"), data.get("version", 1)
    if not isinstance(name, str) or not name or ":" in name or "," in name:
        raise RwbenchError(f"search space {origin}: name must be a non-empty string without ':' or ','")
    if not _int(version):
        raise RwbenchError(f"search space {origin}: version must be a positive integer")
    longest = data.get("max_input_seconds")
    if longest is not None and (not isinstance(longest, (int, float)) or isinstance(longest, bool) or longest <= 0):
        raise RwbenchError(f"search space {origin}: max_input_seconds must be a positive number of seconds")
    widths, fixed, axes = (_table(data, k, origin) for k in ("widths", "fixed", "axes"))
    if not widths or any(not _int(v) for v in widths.values()):
        raise RwbenchError(f"search space {origin}: [widths] must map names (small, paper) to positive filter counts")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise RwbenchError(f"search space {origin}: axes.{key} must be a non-empty list of values")
        if len({json.dumps(v) for v in values}) != len(values):
            raise RwbenchError(f"search space {origin}: axes.{key} repeats a value")
        if key in fixed:
            raise RwbenchError(f"search space {origin}: {key!r} is both in [fixed] and [axes]")
        if key not in KEYS:
            raise RwbenchError(f"search space {origin}: axes.{key} is not a known key ({', '.join(KEYS)})")
    for key in fixed:
        if key not in KEYS:
            raise RwbenchError(f"search space {origin}: fixed.{key} is not a known key ({', '.join(KEYS)})")
    # a value no configuration can take is an error, never a silently smaller space: only combinations of valid
    # values (a first kernel wider than n_mels, a stride longer than its kernel) are left out member by member
    kinds = [k for k in ([fixed["input"]] if "input" in fixed else axes.get("input", INPUTS)) if k in INPUTS]
    for table, entries in (("fixed", {k: [v] for k, v in fixed.items()}), ("axes", axes)):
        for key, values in entries.items():
            for value in values:
                problems = [value_problem(key, value, kind) for kind in kinds or INPUTS]
                if all(problems):
                    raise RwbenchError(f"search space {origin}: {table}.{key} value {value!r}: {problems[0]}")
    space = SearchSpace(name=name, version=version, widths=dict(widths), fixed=dict(fixed), axes=dict(axes),
                        origin=origin, sha256=hashlib.sha256(raw).hexdigest(), description=str(data.get("description", "")),
                        max_input_seconds=longest)
    if not space.configs:
        example = {**fixed, **{k: v[0] for k, v in axes.items()}}
        why = config_problem(example) or f"a shortest input over max_input_seconds = {longest}"
        raise RwbenchError(f"search space {origin}: no valid architecture; e.g. the first values give: {why}")
    drawn = [c for c, first in zip(space.configs, space.distinct) if first]  # a network is drawn as its first spelling
    for key, values in axes.items():  # each declared value is in some member, or the space claims what it lacks
        taken = {json.dumps(c[key]) for c in space.configs}
        shaping = {json.dumps(c[key]) for c in drawn}
        for value in values:
            if json.dumps(value) not in taken:
                raise RwbenchError(f"search space {origin}: no architecture of the space has axes.{key} = {value!r}: "
                                   f"{_why_none(space, key, value)}; remove the value or change what excludes it")
            if json.dumps(value) not in shaping:  # e.g. growth 2 under max_growth = 1: never drawn, unsaid
                raise RwbenchError(f"search space {origin}: axes.{key} = {value!r} changes no network (every member "
                                   f"with it builds the network of another value, e.g. growth 2 under max_growth = 1, "
                                   "or a pooling kind with pool_size 1): it would never be drawn; remove the value")
    return space


def _why_none(space: SearchSpace, key: str, value) -> str:
    """Why no member of ``space`` has ``key`` = ``value``: the first combination's problem, or its input length."""
    others = [k for k in space.axes if k != key]
    first = None
    for values in itertools.product(*(space.axes[k] for k in others)):
        config = {**space.fixed, **dict(zip(others, values)), key: value}
        if (problem := config_problem(config)) is None:  # valid, so too long for max_input_seconds
            return (f"its shortest input, {min_seconds(config):.3g} s, is over max_input_seconds = "
                    f"{space.max_input_seconds} (e.g. with {dict(zip(others, values))})")
        first = first or problem
    return f"every combination is invalid, e.g. the first: {first}"


# -- packaged spaces and SPACE:ID names ----------------------------------------------------------------------------
def packaged_spaces() -> dict[str, Path]:
    """The spaces shipped with rwbench (``rwbench/spaces/*.toml``), by name."""
    folder = resources.files("rwbench") / "spaces"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".toml")}


_SPACES: dict[str, SearchSpace] = {}


def load_space(ref: str | Path) -> SearchSpace:
    """A packaged space by name (``logmel``), or a space file by path; read once per process."""
    ref = str(ref)
    if ref not in _SPACES:
        packaged = packaged_spaces()
        if ref in packaged:
            space = read_space(packaged[ref])
            if space.name != ref:
                raise RwbenchError(f"packaged search space {packaged[ref]} is named {space.name!r}, not {ref!r}")
        elif ref.endswith(".toml") or Path(ref).is_file():
            space = read_space(ref)
            # SPACE:ID names one network: a file may not take a packaged space's name, nor another file's
            if space.name in packaged:
                raise RwbenchError(f"search space {ref}: its name {space.name!r} is a packaged space's; rename it "
                                   "(its members' names SPACE:ID would rebuild the packaged space's networks)")
            if space.name in RESERVED_NAMES:  # search:ID, hear:MODULE, pretrained:PATH mean other front-ends
                raise RwbenchError(f"search space {ref}: its name {space.name!r} is taken by front-end names "
                                   f"{space.name}:...; rename it (in another process its members' names would "
                                   "build other networks)")
            if space.name in _SPACES and _SPACES[space.name].sha256 != space.sha256:
                raise RwbenchError(f"search space {ref}: its name {space.name!r} is taken in this process by "
                                   f"{_SPACES[space.name].origin}; rename one of them")
        else:
            raise UnknownNameError("search space", ref, sorted(packaged))
        _SPACES[ref] = _SPACES[space.name] = space  # SPACE:ID names made from a file resolve in this process too
    return _SPACES[ref]


def refuse_repeated_networks(members: list[tuple[str, dict, dict[str, int]]]) -> None:
    """An error when two of ``members`` (name, configuration, named widths) are one network (the same layers at
    every named width): one architecture counted twice."""
    seen: dict[str, str] = {}
    for name, config, widths in members:
        if (network := network_key(config, widths)) in seen:
            raise RwbenchError(f"--frontends: {name} builds the same network as {seen[network]}; give one (two rows "
                               "of one network would count twice in the leaderboard's tests)")
        seen[network] = name


def searched_config(spec: FrontendSpec) -> dict | None:
    """The configuration a search-space front-end was built from; None for any other front-end."""
    build = spec.build
    return build.args[0] if isinstance(build, partial) and build.func is SearchedNet else None


ANY_SPACE = "search"  # search:ID looks the id up in every packaged space
RESERVED_NAMES = (ANY_SPACE, "hear", "pretrained")  # prefixes of front-end names that are no space's


def frontend_from_name(name: str) -> FrontendSpec | None:
    """``SPACE:ID`` (or ``search:ID``, any packaged space) → the sampled front-end, named ``SPACE:ID`` (the front-end
    registry's fallback); None for a name of another form."""
    ref, sep, key = name.rpartition(":")
    if not sep or not ref or not key:
        return None
    if ref == ANY_SPACE and ref not in packaged_spaces():
        spaces = [load_space(n) for n in sorted(packaged_spaces())]
        hits = [space for space in spaces if any(k.startswith(key.lower()) for k in space.by_id)]
        if len(hits) != 1:
            raise RwbenchError(f"{name}: architecture id {key!r} is in {len(hits)} packaged spaces "
                               f"({', '.join(s.name for s in hits) or 'none'}); name the space (SPACE:ID)")
        space = hits[0]
    else:
        space = load_space(ref)
    return space.frontend(space.config(key))
