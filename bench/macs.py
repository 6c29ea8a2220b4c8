"""Multiply-accumulates per second of audio of a front-end: the compute figure of listings, profiles, results and
the rankings' compute null.

Counted with forward hooks on Conv1d/Conv2d/Linear modules plus the mel (and DCT) matmuls; learnable networks run on
the meta device, so paper widths cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .dsp import MFCC, LogMel
from .frontend import Embedder, FrontendSpec


def clip_samples(spec: FrontendSpec, seconds: float) -> int:
    """Samples of a ``seconds``-long clip at the spec's rate, raised to its minimum input."""
    return max(round(seconds * spec.sample_rate), spec.min_samples(), 1)



def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, LogMel):  # the mel matmul; the FFT is not counted
        c = module.config
        return output.numel() // c.n_mels * (c.n_fft // 2 + 1) * c.n_mels
    if isinstance(module, MFCC):  # the DCT matmul (its LogMel counts itself)
        return output.numel() * module.dct.shape[0]
    return 0


def _count(net: nn.Module, run: Callable[[], object]) -> int:
    total = 0

    def hook(module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += _layer_macs(module, output)

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return total


_MACS: dict[tuple, int] = {}  # count_macs per (network builder, input, width, seconds) in this process


def count_macs(spec: FrontendSpec, width: str | int = "small", seconds: float = 1.0) -> int:
    """Multiply-accumulates per second of audio: Conv1d/Conv2d/Linear layers plus the mel (and DCT) matmuls.

    Measured with forward hooks on one clip of ``seconds`` (raised to the spec's minimum) and divided by its
    duration. Learnable networks run on the meta device (shapes only, so paper widths cost nothing); the FFT and
    functional convolutions outside ``nn`` modules are not counted. Counted once per process for each network and
    width (every result file of a run records it; a baseline without weights runs for real, up to seconds).
    """
    key = (spec.name, spec.version, spec.build, spec.input_kind, spec.logmel, spec.min_input, str(width), float(seconds))
    if key not in _MACS:
        _MACS[key] = _count_macs(spec, width, seconds)
    return _MACS[key]


def _count_macs(spec: FrontendSpec, width: str | int, seconds: float) -> int:
    n = clip_samples(spec, seconds)
    duration = n / spec.sample_rate
    if spec.input_kind == "none":
        embedder = Embedder(spec, width=width)
        return round(_count(embedder, lambda: embedder(torch.zeros(1, n))) / duration)
    transform = 0
    shape: tuple[int, ...]
    if spec.input_kind == "logmel" and spec.logmel is not None:  # they come together (FrontendSpec checks)
        c = spec.logmel
        shape = (1, 1, c.n_frames(n), c.n_mels)
        transform = c.n_frames(n) * (c.n_fft // 2 + 1) * c.n_mels
    else:
        shape = (1, 1, n)
    try:
        with torch.device("meta"):
            net = spec.build(spec.filters(width)).eval()
        macs = _count(net, lambda: net(torch.empty(shape, device="meta")))
    except Exception:  # e.g. an op without a meta kernel: run for real
        embedder = Embedder(spec, width=width)
        return round(_count(embedder, lambda: embedder(torch.zeros(1, n))) / duration)
    return round((macs + transform) / duration)
