"""Front-end specs, their registry, weight initialisation and feature pooling.

A front-end is a factory ``filters -> nn.Module`` registered with :func:`register_frontend`. The
module takes its declared input — waveform ``(batch, 1, samples)`` or log-mel
``(batch, 1, frames, n_mels)`` — and returns its feature layers as a list of tensors
``(batch, channels, *spatial)``; a tensor that is already ``(batch, channels)`` passes through.
:class:`Embedder` adds the input transform and pools each layer over its spatial axes (time, or
time × frequency as the reference study), then concatenates the layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .dsp import LogMel, LogMelConfig
from .errors import RwbenchError
from .registry import Registry

InputKind = Literal["waveform", "logmel", "none"]
Pooling = Literal["mean", "mean_std", "max"]
POOLINGS: tuple[str, ...] = ("mean", "mean_std", "max")


@dataclass(frozen=True)
class FrontendSpec:
    """What a front-end declares; every field is checked against behaviour by the test suite."""

    name: str
    build: Callable[[int], nn.Module]  # filter count -> module returning its feature layers
    input_kind: InputKind  # "none": a DSP baseline reading the waveform, no learnable weights
    sample_rate: int
    widths: Mapping[str, int]  # named widths -> filter count, e.g. {"small": 32, "paper": 717}
    feature_dim: Callable[[int], int]  # filter count -> feature dim (mean pooling)
    feature_layers: tuple[str, ...]
    source: str
    logmel: LogMelConfig | None = None  # the input transform when input_kind == "logmel"
    min_input: int = 1  # shortest input the network takes: samples (waveform) or frames (log-mel)
    pad_to_min: Literal["repeat", "zero"] | None = "repeat"  # how a shorter clip is lengthened; None = refuse
    input_length: str = "any length"  # the length rule, in words
    weights: tuple[str, ...] = ("random",)  # add "dsp" together with dsp_init
    dsp_init: Callable[[nn.Module], None] | None = None  # sets the kernels from signal processing
    init: str = "he_normal"
    description: str = ""
    version: int = 1  # bump when the network changes: it is part of the embedding cache key

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
        if self.input_kind == "logmel":
            return self.logmel.n_samples(self.min_input)  # type: ignore[union-attr]
        return self.min_input

    def dim(self, width: str | int, pooling: Pooling = "mean") -> int:
        doubled = pooling == "mean_std" and self.is_learnable()  # DSP baselines return already-pooled vectors
        return self.feature_dim(self.filters(width)) * (2 if doubled else 1)

    def param_count(self, width: str | int) -> int:
        with torch.device("meta"):
            net = self.build(self.filters(width))
        return sum(p.numel() for p in net.parameters())

    def is_learnable(self) -> bool:
        return self.input_kind != "none"


FRONTENDS: Registry[FrontendSpec] = Registry("front-end", builtins="rwbench.architectures", group="rwbench.frontends")


def register_frontend(**fields) -> Callable[[Callable[[int], nn.Module]], Callable[[int], nn.Module]]:
    """Register the decorated factory ``filters -> nn.Module`` with the given :class:`FrontendSpec` fields."""

    def decorator(build: Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
        FRONTENDS.add(FrontendSpec(build=build, **fields))
        return build

    return decorator


# -- weights -----------------------------------------------------------------------------------
def _tf1_he_normal(weight: torch.Tensor, generator: torch.Generator) -> None:
    """TF1 ``variance_scaling_initializer()`` as the study used: truncated normal, σ = sqrt(1.3·2/fan_in)."""
    fan_in = weight[0].numel()
    std = math.sqrt(1.3 * 2.0 / fan_in)
    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std, generator=generator)


INITS: dict[str, Callable[[torch.Tensor, torch.Generator], None]] = {
    "he_normal": _tf1_he_normal,
    "he_uniform": lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g),
    "xavier_uniform": lambda w, g: nn.init.xavier_uniform_(w, generator=g),
    "xavier_normal": lambda w, g: nn.init.xavier_normal_(w, generator=g),
}


def randomise(net: nn.Module, *, seed: int, init: str = "he_normal") -> None:
    """Draw every conv/linear weight from one generator seeded with ``seed``; zero the biases.

    Normalisation layers keep their identity defaults. Parameters are visited in ``named_modules``
    order, so the same seed gives the same weights on any device.
    """
    if init not in INITS:
        raise RwbenchError(f"unknown init {init!r}; use one of {sorted(INITS)}")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                INITS[init](module.weight, generator)
                if module.bias is not None:
                    module.bias.zero_()


# -- pooling and the embedding module ------------------------------------------------------------
def pool(layer: torch.Tensor, mode: Pooling = "mean") -> torch.Tensor:
    """``(batch, channels, *spatial)`` → ``(batch, channels)`` (``2·channels`` for mean_std)."""
    if layer.dim() == 2:
        return layer
    flat = layer.flatten(2)
    if mode == "mean":
        return flat.mean(dim=2)
    if mode == "max":
        return flat.amax(dim=2)
    if mode == "mean_std":
        return torch.cat([flat.mean(dim=2), flat.std(dim=2, unbiased=False)], dim=1)
    raise RwbenchError(f"unknown pooling {mode!r}; use one of {POOLINGS}")


class Embedder(nn.Module):
    """Waveform ``(batch, samples)`` → feature vector ``(batch, dim)`` for one front-end instance."""

    def __init__(
        self, spec: FrontendSpec, *, width: str | int = "small", weights: str = "random", seed: int = 0,
        pooling: Pooling = "mean",
    ) -> None:
        super().__init__()
        self.spec, self.pooling = spec, pooling
        self.input = LogMel(spec.logmel) if spec.input_kind == "logmel" else nn.Identity()
        self.net = spec.build(spec.filters(width))
        apply_weights(self.net, spec, weights, seed)
        self.eval()

    @torch.no_grad()
    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        layers = self.net(self.input(wave.unsqueeze(1)))
        return torch.cat([pool(layer, self.pooling) for layer in layers], dim=1)


# Weight kinds: each applies itself to a freshly built network.
def _random_weights(net: nn.Module, spec: FrontendSpec, seed: int) -> None:
    randomise(net, seed=seed, init=spec.init)


WEIGHT_KINDS: dict[str, Callable[[nn.Module, FrontendSpec, int], None]] = {
    "random": _random_weights,
    "dsp": lambda net, spec, seed: spec.dsp_init(net),
    "none": lambda net, spec, seed: None,
}


def weights_for(spec: FrontendSpec, requested: str) -> str:
    """The weight kind a front-end runs with: DSP baselines have none, whatever was asked."""
    if not spec.is_learnable():
        return "none"
    if requested not in spec.weights:
        raise RwbenchError(f"front-end {spec.name!r} has no {requested!r} weights; it offers {list(spec.weights)}")
    return requested


def apply_weights(net: nn.Module, spec: FrontendSpec, weights: str, seed: int) -> None:
    kind = weights_for(spec, weights)
    if kind not in WEIGHT_KINDS:
        raise RwbenchError(f"unknown weights {weights!r}; use one of {sorted(WEIGHT_KINDS)}")
    WEIGHT_KINDS[kind](net, spec, seed)
