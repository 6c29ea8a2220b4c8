"""Front-end specs, their registry, weight initialisation and feature pooling.

A front-end is a factory ``filters -> nn.Module`` registered with :func:`register_frontend`. The
module takes its declared input — waveform ``(batch, 1, samples)`` or log-mel
``(batch, 1, frames, n_mels)`` — and returns its feature layers as a list of tensors
``(batch, channels, *spatial)``; a tensor that is already ``(batch, channels)`` passes through.
:class:`Embedder` adds the input transform and pools each layer over its spatial axes (time, or
time × frequency as the reference study), then concatenates the layers.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize

from .audio import MAX_PEAK
from .choices import SEED_LIMIT
from .device import float32_within
from .dsp import LogMel, LogMelConfig
from .errors import RwbenchError, UnknownNameError
from .filehash import code_now, code_sha256, registering_code, sha256_of, with_sources
from .registry import Registry, name_problem
from .results import FOLD_TAGS, retrain_command
from .weight_packs import (
    WeightsError,
    WeightsFile,
    checkpoint_file,
    file_metadata,
    load_into,
    misfit,
    pack_file,
    tensor_shapes,
)

InputKind = Literal["waveform", "logmel", "none"]
Pooling = Literal["mean", "mean_std", "max"]
POOLINGS: tuple[Pooling, ...] = get_args(Pooling)
Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}  # autocast dtype


@dataclass(frozen=True)
class FrontendSpec:
    """What a front-end declares; every field is checked against behaviour by the test suite."""

    name: str
    build: Callable[[int], nn.Module]  # filter count -> module returning its feature layers
    input_kind: InputKind  # "none": a DSP baseline reading the waveform, no learnable weights
    sample_rate: int
    widths: Mapping[str, int]  # named widths -> filter count, e.g. {"small": 32, "paper": 717}
    feature_dim: Callable[[int], int]  # filter count -> dim of all feature layers (mean pooling)
    feature_layers: tuple[str, ...]  # every layer the module returns, in order (all are cached)
    source: str
    logmel: LogMelConfig | None = None  # the input transform when input_kind == "logmel"
    min_input: int = 1  # shortest input the network takes: samples (waveform) or frames (log-mel)
    pad_to_min: Literal["repeat", "zero"] | None = "repeat"  # how a shorter clip is lengthened; None = refuse
    input_length: str = "any length"  # the length rule, in words
    weights: tuple[str, ...] = ("random",)  # weight tags: "dsp" with dsp_init; pretrained tags with ``pretrained``
    dsp_init: Callable[[nn.Module], None] | None = None  # sets the kernels from signal processing
    pretrained: Mapping[str, str] | None = None  # weight tag -> the weight pack that ships it (rwbench.weight_packs)
    init: str = "he_normal"
    default_layers: tuple[str, ...] | None = None  # layers evaluated unless --layers says otherwise (None: all)
    layer_dims: Callable[[int], Mapping[str, int]] | None = None  # filter count -> dim per layer (mean pooling)
    description: str = ""
    version: int = 1  # bump when the network changes: it is part of the embedding cache key
    widths_from_data: bool = False  # the width table is a file's (a search space), not code: keys name the filters
    channels_last: bool = False  # run the network's 4-D tensors channels-last (NHWC): faster on oneDNN/cuDNN for
    # some 2-D CNNs, slower for others; set where `rwbench profile` measured it faster (benchmarks/README.md)
    waveform_filters: tuple[str, ...] | None = None  # the modules whose kernels run over the waveform (`rwbench
    # plot filters`); None: every Conv1d with one input channel; () for none (a network on a fixed CQT of it)
    code: str | None = None  # sha256 of a plugin's source file (filehash.code_sha256), taken where it is registered:
    # a Dask worker receives a plugin by value, with no file to hash, and would key its embeddings without it

    @property
    def code_now(self) -> str | None:
        """:attr:`code` as the build is now (:func:`rwbench.filehash.code_now`: a notebook's class redefined after
        registering keys the new network)."""
        return code_now(self.code, self.build)

    def __post_init__(self) -> None:
        if self.code is None:
            object.__setattr__(self, "code", code_sha256(self.build))
        if self.code and not self.code.startswith(("value:", "net:")):  # a plugin file: and its network's classes' files
            object.__setattr__(self, "code", with_sources(self.code, network_source_files(self)))
        problems = [p for p in [name_problem(self.name)] if p and not self.name.startswith("hear:")]  # hear:M?opts
        if self.input_kind not in get_args(InputKind):
            problems.append(f"input_kind {self.input_kind!r} is not one of {list(get_args(InputKind))}")
        if (self.input_kind == "logmel") != (self.logmel is not None):
            problems.append("input_kind 'logmel' and a logmel config come together")
        if self.logmel is not None and self.logmel.sample_rate != self.sample_rate:  # its mel bands would be misplaced
            problems.append(f"the log-mel is computed at {self.logmel.sample_rate} Hz but the front-end reads audio at "
                            f"{self.sample_rate} Hz: give the LogMelConfig sample_rate={self.sample_rate}")
        if not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            problems.append(f"sample_rate {self.sample_rate!r} is not a positive integer")
        if not self.widths or any(not isinstance(n, int) or n <= 0 for n in self.widths.values()):
            problems.append(f"widths {dict(self.widths)!r} must map names to positive filter counts")
        if not isinstance(self.feature_layers, tuple) or not all(isinstance(n, str) for n in self.feature_layers):
            problems.append(f"feature_layers {self.feature_layers!r} must be a tuple of names, e.g. ('conv1',)")
        elif not self.feature_layers or len(set(self.feature_layers)) != len(self.feature_layers):
            problems.append(f"feature_layers {self.feature_layers!r} must be distinct names, at least one")
        if self.pad_to_min not in ("repeat", "zero", None):
            problems.append(f"pad_to_min {self.pad_to_min!r} is not 'repeat', 'zero' or None")
        if "random" not in self.weights and self.input_kind != "none":
            problems.append("weights must include 'random'")
        if ("dsp" in self.weights) != (self.dsp_init is not None):
            problems.append("'dsp' weights and dsp_init come together")
        extra = set(self.weights) - {"random", "dsp", *FOLD_TAGS}
        if extra != set(self.pretrained or {}):
            problems.append(f"every pretrained tag needs a weight pack in `pretrained` (tags {sorted(extra)}, "
                            f"packs for {sorted(self.pretrained or {})})")
        unknown = set(self.default_layers or ()) - set(self.feature_layers)
        if unknown:
            problems.append(f"default_layers {sorted(unknown)} are not feature layers {self.feature_layers}")
        if self.default_layers not in (None, self.feature_layers) and self.layer_dims is None:
            problems.append("default_layers that are not all feature layers need layer_dims")
        if problems:
            raise RwbenchError(f"front-end spec {self.name!r}: " + "; ".join(problems))

    @property
    def defaults(self) -> tuple[str, ...]:
        return self.default_layers or self.feature_layers

    def filters(self, width: str | int) -> int:
        """Filter count for a named width (``small``/``paper``) or an explicit count."""
        if isinstance(width, int) or str(width).isdigit():
            if int(width) < 1:
                raise RwbenchError(f"width must be a positive filter count, got {width}")
            return int(width)
        try:
            return self.widths[width]
        except KeyError:
            raise RwbenchError(
                f"front-end {self.name!r} has no width {width!r}; use one of {sorted(self.widths)} or a filter count"
            ) from None

    def min_samples(self) -> int:
        """Shortest waveform (at ``sample_rate``) the network accepts."""
        if self.input_kind == "logmel" and self.logmel is not None:  # they come together (__post_init__)
            return self.logmel.n_samples(self.min_input)
        return self.min_input

    def dim(self, width: str | int, pooling: Pooling = "mean", layers: tuple[str, ...] | None = None) -> int:
        """Feature dim of ``layers`` (default: every feature layer) under ``pooling``."""
        doubled = pooling == "mean_std" and self.is_learnable()  # DSP baselines return already-pooled vectors
        nf = self.filters(width)
        if layers is None or tuple(layers) == self.feature_layers:
            total = self.feature_dim(nf)
        else:
            per_layer = self.layer_dims(nf)  # type: ignore[misc]
            total = sum(per_layer[layer] for layer in layers)
        return total * (2 if doubled else 1)

    def param_count(self, width: str | int) -> int:
        with torch.device("meta"):
            net = self.build(self.filters(width))
        return sum(p.numel() for p in net.parameters())

    def is_learnable(self) -> bool:
        return self.input_kind != "none"

    def memory_needed(self, width: str | int, samples: int, batch_size: int) -> dict[str, int]:
        """Bytes to embed a batch of ``batch_size`` clips of ``samples``: the weights, and the activations
        (the feature layers held until pooled, plus the largest intermediate twice: a layer's input and
        output). Shapes come from a forward pass on PyTorch's meta device, which allocates nothing."""
        largest = [0]

        def note(module, inputs, output):
            largest[0] = max(largest[0], sum(t.numel() for t in (output if isinstance(output, (list, tuple))
                                                                   else [output]) if isinstance(t, torch.Tensor)))
        try:
            with torch.device("meta"):  # random weights, seed 0 ("none" for a network without its own: a HEAR module)
                model = Embedder(self, width=width)
                leaves = [m for m in model.modules() if not list(m.children())]
                hooks = [m.register_forward_hook(note) for m in leaves]
                layers = model.net(model.input(torch.empty(1, 1, samples)))
                for hook in hooks:
                    hook.remove()
        except (RuntimeError, OverflowError) as err:  # --width 3000000000: sizes past what torch can count
            if "overflow" not in str(err).lower():
                raise
            raise RwbenchError(f"{self.name} at width {width}: its layers' sizes overflow PyTorch's size arithmetic "
                               f"({str(err).strip()}): no device has the memory; choose a smaller --width") from None
        held = sum(layer.numel() for layer in layers)
        return {"weights": 4 * sum(p.numel() for p in model.parameters()),
                "activations": 4 * batch_size * (held + 2 * largest[0])}


def _sampled(name: str) -> FrontendSpec | None:
    """``SPACE:ID``: an architecture of a search space (:mod:`rwbench.search_space`), built on first lookup.
    ``hear:MODULE[?options]`` goes first to :mod:`rwbench.hear_import` (an installed HEAR-API module)."""
    if name.startswith("hear:"):
        from .hear_import import hear_frontend

        return hear_frontend(name)
    from .search_space import frontend_from_name

    return frontend_from_name(name)


def _one_name_per_network(specs: list[FrontendSpec]) -> None:
    """Two names of one search-space network (``logmel:96e3ab17`` and ``logmel:75e6b3fe``: depth 1, growth 1 and 2)
    are refused: two rows of one network, counted twice by the leaderboard's tests."""
    if any(":" in spec.name for spec in specs):
        from .search_space import refuse_repeated_networks, searched_config

        refuse_repeated_networks([(spec.name, config, dict(spec.widths)) for spec in specs
                                  if (config := searched_config(spec)) is not None])


FRONTENDS: Registry[FrontendSpec] = Registry("front-end", builtins="rwbench.architectures", group="rwbench.frontends",
                                             resolve=_sampled, check_selection=_one_name_per_network)


def network_source_files(spec: FrontendSpec) -> list[Path]:
    """The source files of the module classes in ``spec``'s network (built on the meta device at its smallest width)
    other than torch's, rwbench's and the file of ``spec.build`` itself: a plugin's layers kept in a module of their
    own. Empty where the network cannot be built here (its key then names the plugin file alone)."""
    import inspect

    try:
        with torch.device("meta"):
            net = spec.build(min(spec.filters(w) for w in spec.widths))
    except Exception:  # noqa: BLE001 — a build that reads values, or one of a width no data gives yet
        return []
    build = spec.build
    while isinstance(build, functools.partial):
        build = build.func
    try:
        own = {inspect.getsourcefile(build)}
    except TypeError:  # a built-in or C callable
        own = set()
    files = set()
    for module in net.modules():
        cls = type(module)
        if cls.__module__.split(".")[0] in ("torch", "rwbench"):
            continue
        try:
            files.add(inspect.getsourcefile(cls))
        except TypeError:  # a class without a file (defined in a notebook cell)
            continue
    return sorted(Path(f) for f in files - own if f)


def register_frontend(**fields) -> Callable[[Callable[[int], nn.Module]], Callable[[int], nn.Module]]:
    """Register the decorated factory ``filters -> nn.Module`` with the given :class:`FrontendSpec` fields."""

    def decorator(build: Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
        FRONTENDS.add(FrontendSpec(build=build, **{"code": registering_code(build), **fields}))
        return build

    return decorator


# -- random initialisation ---------------------------------------------------------------------
def _tf1_he_normal(weight: torch.Tensor, generator: torch.Generator) -> None:
    """TF1 ``variance_scaling_initializer()`` as the study used: truncated normal, σ = sqrt(1.3·2/fan_in)."""
    fan_in = weight[0].numel()
    std = math.sqrt(1.3 * 2.0 / fan_in)
    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std, generator=generator)


INITS: dict[str, Callable[[torch.Tensor, torch.Generator], object]] = {  # in place; what they return is not used
    "he_normal": _tf1_he_normal,
    "he_uniform": lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g),
    "xavier_uniform": lambda w, g: nn.init.xavier_uniform_(w, generator=g),
    "xavier_normal": lambda w, g: nn.init.xavier_normal_(w, generator=g),
    # Keras VarianceScaling(2, "fan_avg", "uniform"): bound sqrt(12 / (fan_in + fan_out))
    "xavier_uniform_relu": lambda w, g: nn.init.xavier_uniform_(w, gain=math.sqrt(2), generator=g),
}


def randomise(net: nn.Module, *, seed: int, init: str = "he_normal") -> None:
    """Draw every convolution (1-3-d, transposed too) and linear weight from one generator seeded with ``seed``;
    zero the biases.

    Normalisation layers keep their identity defaults; other parameters keep what the build drew (under the same
    seed: :class:`Embedder`). Parameters are visited in ``named_modules`` order, so the same seed gives the same
    weights on any device. A parametrised weight (weight norm, spectral norm) is drawn whole and assigned, which
    sets its stored parts (writing into the weight it computes would change nothing).
    """
    if init not in INITS:
        raise RwbenchError(f"unknown init {init!r}; use one of {sorted(INITS)}")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (_ConvNd, nn.Linear)):
                if parametrize.is_parametrized(module, "weight"):
                    weight = torch.empty_like(module.weight)
                    INITS[init](weight, generator)
                    module.weight = weight  # the parametrisation's right inverse stores it
                else:
                    INITS[init](module.weight, generator)
                if module.bias is not None:
                    module.bias.zero_()


# -- pooling and the embedding module ------------------------------------------------------------
def pool(layer: torch.Tensor, mode: Pooling = "mean") -> torch.Tensor:
    """``(batch, channels, *spatial)`` → ``(batch, channels)`` (``2·channels`` for mean_std). A layer that is already
    ``(batch, channels)`` is one position: it passes through, with zero standard deviations beside it for mean_std
    (so every layer of a learnable front-end is as wide as :meth:`FrontendSpec.dim` declares)."""
    if layer.dim() == 2:
        return torch.cat([layer, torch.zeros_like(layer)], dim=1) if mode == "mean_std" else layer
    flat = layer.flatten(2)
    if mode == "mean":
        return flat.mean(dim=2)
    if mode == "max":
        return flat.amax(dim=2)
    if mode == "mean_std":
        return torch.cat([flat.mean(dim=2), flat.std(dim=2, unbiased=False)], dim=1)
    raise RwbenchError(f"unknown pooling {mode!r}; use one of {POOLINGS}")


def checked_seed(seed: object) -> int:
    """``seed`` as a Python int: a non-negative whole number (numpy's integers too), as ``--seeds`` takes."""
    try:
        if isinstance(seed, bool):
            raise TypeError
        value = operator.index(seed)  # type: ignore[arg-type]
    except TypeError:
        value = -1
    if not 0 <= value < SEED_LIMIT:  # 2^32 + 5 would draw seed 5's weights
        raise RwbenchError(f"seed {seed!r}: seeds are integers from 0 to 2^31 − 1 (as --seeds)")
    return value


class Embedder(nn.Module):
    """Waveform ``(batch, samples)`` → every feature layer pooled and concatenated ``(batch, dim)``.

    ``precision`` bf16 / fp16 runs the network under autocast; the log-mel input and the pooling stay float32
    (a mel band's power underflows in fp16), so the output is float32 whatever the precision. ``init``: the
    distribution random weights are drawn from (:data:`INITS`; default the spec's own).
    ``layer_widths`` holds the width of each layer in the last output (see :meth:`layer_slices`).
    """

    def __init__(
        self, spec: FrontendSpec, *, width: str | int = "small", weights: str | WeightSource = "random", seed: int = 0,
        pooling: Pooling = "mean", precision: Precision = "fp32", init: str | None = None,
    ) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise RwbenchError(f"precision {precision!r} is not one of {list(PRECISIONS)}")
        if pooling not in POOLINGS:
            raise RwbenchError(f"unknown pooling {pooling!r}; use one of {POOLINGS}")
        seed = checked_seed(seed)
        self.spec, self.pooling, self.precision = spec, pooling, precision
        self.input = LogMel(spec.logmel) if spec.input_kind == "logmel" and spec.logmel is not None else nn.Identity()
        self.source = weights if isinstance(weights, WeightSource) else resolve_weights(spec, weights, seed, init=init)
        # what the build itself draws (layers randomise does not reach: a plugin's GRU, a parametrised conv) comes
        # from the seed too, never from the process's global generator: the same seed, the same network
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.source.seed if self.source.seed is not None else seed)
            self.net = spec.build(spec.filters(width))
        self.source.apply(self.net, spec)
        if spec.channels_last:
            self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit this
        self.layer_widths: list[int] = []
        self.eval()

    def pooled_layers(self, wave: torch.Tensor) -> list[torch.Tensor]:
        """Each feature layer pooled, ``(batch, width)``; differentiable (training reads it)."""
        x = self.input(wave.unsqueeze(1))
        if self.spec.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        dtype = PRECISIONS[network_precision(self.spec, self.precision)]
        with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            layers = self.net(x)
        return [pool(layer.float(), layer_pooling(self.spec, self.pooling)) for layer in layers]

    @torch.no_grad()
    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        pooled = self.pooled_layers(wave)
        self.layer_widths = [p.shape[1] for p in pooled]
        return torch.cat(pooled, dim=1)

    def layer_slices(self) -> dict[str, list[int]]:
        """Feature layer → ``[start, stop)`` columns of the embedding (one minimal clip is run if none was)."""
        if not self.layer_widths:
            device = next((t.device for t in [*self.parameters(), *self.buffers()]), torch.device("cpu"))
            self(torch.zeros(1, max(self.spec.min_samples(), 1), device=device))
        stops = list(itertools.accumulate(self.layer_widths))
        return {name: [stop - w, stop] for name, stop, w in zip(self.spec.feature_layers, stops, self.layer_widths)}


def layer_pooling(spec: FrontendSpec, mode: Pooling) -> Pooling:
    """The pooling applied to ``spec``'s layers: ``mode``, except for DSP baselines (not learnable), whose layers are
    already-pooled vectors that every mode passes through as they are."""
    return mode if spec.is_learnable() else "mean"


def network_precision(spec: FrontendSpec, precision: Precision) -> Precision:
    """The precision ``spec``'s network runs at: ``precision``, except for DSP baselines (not learnable), computed in
    float32 as their log-mel is (a baseline's MFCCs under bf16 moved by up to 0.5)."""
    return precision if spec.is_learnable() else "fp32"


class FrozenEmbedder(Embedder):
    """An :class:`Embedder` for callers outside rwbench's own stages (``rwbench.embedder``, the HEAR model): it stays
    in evaluation mode whatever ``train()`` asks (a harness that sets its module tree to train mode to fit a probe
    would otherwise switch batch norm to batch statistics and overwrite its running statistics), takes
    ``(batch, samples)`` only, and lengthens clips shorter than the network's minimum by the front-end's rule
    (``pad_to_min``), as ``rwbench embed`` does."""

    def train(self, mode: bool = True) -> FrozenEmbedder:
        return super().train(False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if not isinstance(wave, torch.Tensor) or not wave.is_floating_point():
            kind = wave.dtype if isinstance(wave, torch.Tensor) else type(wave).__name__
            raise RwbenchError(f"{self.spec.name}: waveforms must be a float torch tensor (batch, samples) in [-1, 1] "
                               f"at {self.spec.sample_rate} Hz, got {kind} (torch.from_numpy(x).float() makes one)")
        wave = wave.float()  # float64 (numpy's default) is read as float32, as the embed stage reads audio
        if wave.dim() != 2 or wave.shape[1] == 0:
            raise RwbenchError(f"{self.spec.name}: waveforms must be (batch, samples) with samples > 0, got shape "
                               f"{tuple(wave.shape)}")
        refuse_insane_waveforms(wave, self.spec.name)
        if wave.shape[1] < (minimum := self.spec.min_samples()):
            wave = lengthen(wave, minimum, self.spec.pad_to_min, self.spec.name)
        with float32_within(wave.device):  # as `rwbench embed` computes: float32, not CUDA's TF32 default
            return super().forward(wave)


def refuse_insane_waveforms(waves: torch.Tensor, what: str) -> None:
    """Refuse ``(batch, samples)`` rows holding NaN or ±Inf, or peaking above :data:`~rwbench.audio.MAX_PEAK` (int16
    counts made float by ``.float()``), naming the first such row: the files' and loaders' rule, for callers that
    hand rwbench tensors (a partly-NaN or 32767-times-scaled embedding is not an error they would see)."""
    peaks = waves.detach().abs().amax(dim=1)
    bad = (~torch.isfinite(peaks) | (peaks > MAX_PEAK)).nonzero().flatten().tolist()
    if bad:
        peak = float(peaks[bad[0]])
        why = ("non-finite samples (NaN or ±Inf)" if not math.isfinite(peak) else
               f"a peak of {peak:.3g}: not audio on any sane scale (full scale is 1.0; rwbench refuses > {MAX_PEAK:g}; "
               "int16 samples are divided by 32768)")
        raise RwbenchError(f"{what}: sound {bad[0]} of the batch holds {why}"
                           + (f"; {len(bad)} of {len(waves)} sounds do" if len(bad) > 1 else ""))


def lengthen(waves: torch.Tensor, n: int, rule: str | None, name: str) -> torch.Tensor:
    """rwbench's ``fix_length`` in torch: tile (``repeat``) or zero-pad each (non-empty) row to ``n`` samples; a
    front-end without a rule (``pad_to_min`` None) refuses shorter sounds."""
    if rule is None:
        raise RwbenchError(f"front-end {name!r} refuses sounds shorter than {n} samples")
    if rule == "repeat":
        return waves.repeat(1, -(-n // waves.shape[1]))[:, :n]
    return torch.nn.functional.pad(waves, (0, n - waves.shape[1]))


def layer_sets(spec: FrontendSpec, request: str = "default") -> list[tuple[str, ...]]:
    """The layer sets one evaluation of ``spec`` makes, one result each: ``default`` (the spec's default layers),
    ``each`` (every feature layer alone), ``all``, or sets separated by commas, layers of a set joined by ``+``
    (``mean_pool+max_pool,penultimate``)."""
    if request == "default":
        return [spec.defaults]
    if request == "each":
        return [(layer,) for layer in spec.feature_layers]
    if request == "all":
        return [spec.feature_layers]
    sets = [tuple(part.strip() for part in chosen.split("+")) for chosen in request.split(",") if chosen.strip()]
    for layer in {layer for chosen in sets for layer in chosen}:
        if layer not in spec.feature_layers:
            raise UnknownNameError(f"feature layer of {spec.name}", layer, list(spec.feature_layers))
    if not sets or any(len(set(chosen)) != len(chosen) for chosen in sets):
        raise RwbenchError(f"--layers {request!r}: give default, each, all, or layer sets like 'a+b,c' without repeats")
    # one set of layers is one set of features, however typed: the default's order, else the network's; once each
    order = {layer: i for i, layer in enumerate(spec.feature_layers)}
    canonical = [spec.defaults if set(chosen) == set(spec.defaults) else tuple(sorted(chosen, key=order.__getitem__))
                 for chosen in sets]
    return list(dict.fromkeys(canonical))


# -- weight tags ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightSource:
    """Where the weights of a front-end instance come from: their tag, the seed that drew them, or the file they
    were read from. (On the command line, in options and in result records, "weights" names this tag.)"""

    tag: str  # random | dsp | none | a pretrained tag (mtt, ...) | trained | mst | pretrained:<file stem>@<sha256[:8]>
    seed: int | None = None  # the seed that drew the weights (random), or the training seed (trained, mst)
    file: WeightsFile | None = None
    init: str | None = None  # random: the distribution drawn from (None: the front-end's own, ``spec.init``)

    def apply(self, net: nn.Module, spec: FrontendSpec) -> None:
        if self.tag == "random":
            randomise(net, seed=self.seed, init=self.init or spec.init)  # type: ignore[arg-type]
        elif self.tag == "dsp":
            spec.dsp_init(net)  # type: ignore[misc]
        elif self.file is not None:
            if not self.file.path.is_file():
                raise WeightsError(
                    f"the {self.tag!r} weights {self.file.path} (sha256 {self.file.sha256[:12]}…, as their training "
                    f"recorded) are not on this machine, and what is asked needs them: make them again with "
                    f"`{retrain_command(self.tag)}` (--force)")
            load_into(net, self.file.path)
            self._check_unchanged()  # replaced since the run keyed it, or while it was read

    def _check_unchanged(self) -> None:
        """The file still has the sha256 its embeddings and results are keyed by (taken when the run resolved it)."""
        assert self.file is not None
        digest = sha256_of(self.file.path)
        if digest != self.file.sha256:
            raise WeightsError(f"the {self.tag!r} weights {self.file.path} changed during the run: sha256 "
                               f"{digest[:12]}… now, {self.file.sha256[:12]}… when the run keyed its embeddings and "
                               "results by them; nothing was computed from them: run again")

    def describe(self) -> dict:
        return {"tag": self.tag, "seed": self.seed, "file": str(self.file.path) if self.file else None,
                "sha256": self.file.sha256 if self.file else None}


PRETRAINED_PREFIX = "pretrained:"


def offers(spec: FrontendSpec, tag: str) -> bool:
    """Whether ``spec`` runs with weights ``tag`` (``pretrained:PATH`` and ``trained`` fit any network with weights)."""
    return tag in spec.weights or (spec.is_learnable() and (tag.startswith(PRETRAINED_PREFIX) or tag == "trained"))


def resolve_weights(spec: FrontendSpec, requested: str, seed: int = 0, checkpoint: Path | None = None,
                    recorded: str | None = None, init: str | None = None) -> WeightSource:
    """The :class:`WeightSource` of ``spec`` for a requested tag; DSP baselines have none, whatever was asked.
    Per-fold tags (:data:`FOLD_TAGS`) take their fold's ``checkpoint`` file; where that file is gone (another
    machine; result files kept, weights not), the sha256 its training ``recorded`` stands for it, so that what was
    computed from it stays up to date, and computing anything new names the missing file. ``init``: what random
    weights are drawn from (default the spec's own)."""
    if not spec.is_learnable():
        return WeightSource("none")
    if requested in FOLD_TAGS and offers(spec, requested):
        if checkpoint is not None and recorded and not Path(checkpoint).is_file():
            return WeightSource(requested, seed=seed, file=WeightsFile(Path(checkpoint), recorded))
        command = "rwbench train" if requested == "trained" else f"rwbench pretrain {requested}"
        if checkpoint is None:  # outside a run (rwbench.embedder, the HEAR API): no outer fold to take them from
            raise RwbenchError(f"{requested!r} weights of {spec.name!r} are one file per outer fold of the dataset "
                               f"`{command}` trained on, which a run picks fold by fold; here, give one fold's file "
                               f"as pretrained:PATH (its <fold>.safetensors under the run's --results weights/)")
        if not Path(checkpoint).is_file():
            raise RwbenchError(f"front-end {spec.name!r} has no {requested!r} weights at {checkpoint} (seed {seed}); "
                               f"make them with `{command}` on the same dataset, width, seeds and --results first")
        return WeightSource(requested, seed=seed, file=checkpoint_file(checkpoint))
    if requested.startswith(PRETRAINED_PREFIX):
        file = checkpoint_file(requested.removeprefix(PRETRAINED_PREFIX))
        refuse_other_frontends(spec, file.path)
        return WeightSource(f"pretrained:{Path(file.path).stem}@{file.sha256[:8]}", file=file)
    if requested not in spec.weights:
        raise RwbenchError(f"front-end {spec.name!r} has no {requested!r} weights; it offers {list(spec.weights)} "
                           "or pretrained:PATH")
    if requested == "random":
        return WeightSource("random", seed=seed, init=init)
    if requested == "dsp":
        return WeightSource("dsp")
    return WeightSource(requested, file=pack_file(spec.pretrained[requested], spec.name, requested))  # type: ignore[index]


def refuse_other_frontends(spec: FrontendSpec, path: Path) -> None:
    """Refuse a weights file that rwbench wrote for another front-end: shapes alone do not tell apart networks
    that differ in a stride, hop or dilation (``strided_1024_512`` and ``strided_1024_1024``). A state dict without
    rwbench's metadata is taken as meant for whichever front-end it fits."""
    try:
        said = file_metadata(path).get("frontend") if path.suffix == ".safetensors" else None
    except WeightsError:  # unreadable: loading it names the file and why
        return
    if said and said != spec.name:
        raise WeightsError(f"{path} holds weights rwbench wrote for front-end {said!r}, not {spec.name!r} (the "
                           f"shapes may match while strides or hops differ); give them to {said!r}")


def state_shapes(spec: FrontendSpec, width: str | int) -> dict[str, tuple[int, ...]]:
    """Name → shape of every entry of the network's state dict at ``width`` (built on the meta device: no memory)."""
    try:
        with torch.device("meta"):
            net = spec.build(spec.filters(width))
    except Exception:  # noqa: BLE001 — a build that reads values (numpy on a tensor) runs on the CPU instead
        net = spec.build(spec.filters(width))
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def check_weights_fit(spec: FrontendSpec, width: str | int, source: WeightSource) -> None:
    """Refuse, before anything is computed, a pretrained weights file that does not fit the network at ``width``
    (published weights are of one width: at another, the run would stop at the first embedding, after every job
    before it), naming the widths it fits."""
    if source.file is None or source.tag in FOLD_TAGS or not source.file.path.is_file():
        return  # per-fold weights are trained by rwbench at the run's own width
    given = tensor_shapes(source.file.path)
    if problem := misfit(state_shapes(spec, width), given):
        fits = [w for w in spec.widths if w != width and not misfit(state_shapes(spec, w), given)]
        raise WeightsError(f"front-end {spec.name!r} at --width {width}: the {source.tag!r} weights "
                           f"{source.file.path} do not fit it ({problem})"
                           + (f"; they fit --width {', '.join(map(str, fits))}" if fits else ""))


def weight_tags(spec: FrontendSpec, requested: list[str]) -> list[str]:
    """The requested tags ``spec`` runs with (``["none"]`` without weights); an error when it offers none of them."""
    if not spec.is_learnable():
        return ["none"]
    tags = [t for t in requested if offers(spec, t)]
    if not tags:
        raise RwbenchError(f"front-end {spec.name!r} offers none of the weights {requested}; it offers "
                           f"{list(spec.weights)} or pretrained:PATH")
    return tags
