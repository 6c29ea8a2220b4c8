"""Multiply-accumulates per second of audio of a front-end: the compute figure of listings, profiles, results and
the rankings' compute null.

Counted by PyTorch's FLOP counter over the convolutions and matrix products (modules or functional calls) plus the mel
(and DCT) matmuls; learnable networks run on the meta device, so paper widths cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .frontend import Embedder, FrontendSpec


def clip_samples(spec: FrontendSpec, seconds: float) -> int:
    """Samples of a ``seconds``-long clip at the spec's rate, raised to its minimum input."""
    return max(round(seconds * spec.sample_rate), spec.min_samples(), 1)



def _count(run: Callable[[], object]) -> int:
    """Multiply-accumulates of ``run()``: half the FLOPs PyTorch's counter sees in its convolutions and matrix
    products, whether a module or a functional call makes them (the CQTs of basic_pitch and pesto are
    ``F.conv1d`` with fixed kernels); the FFT is not counted."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() // 2


_MACS: dict[tuple, int] = {}  # count_macs per (network builder, input, width, seconds) in this process


def count_macs(spec: FrontendSpec, width: str | int = "small", seconds: float = 1.0, *, cached: bool = True) -> int:
    """Multiply-accumulates per second of audio: convolutions and matrix products plus the mel (and DCT) matmuls.

    Counted (:func:`_count`) on one clip of ``seconds`` (raised to the spec's minimum) and divided by its
    duration. Learnable networks run on the meta device (shapes only, so paper widths cost nothing); the FFT is not
    counted. Counted once per process for each network and width (every result file of a run records it; a baseline
    without weights runs for real, up to seconds), unless not ``cached`` (the ``macs`` proxy: its time is the count's).
    """
    key = (spec.name, spec.version, spec.build, spec.input_kind, spec.logmel, spec.min_input, str(width), float(seconds))
    if key not in _MACS or not cached:
        _MACS[key] = _count_macs(spec, width, seconds)
    return _MACS[key]


def _count_macs(spec: FrontendSpec, width: str | int, seconds: float) -> int:
    n = clip_samples(spec, seconds)
    duration = n / spec.sample_rate
    if spec.input_kind == "none":
        embedder = Embedder(spec, width=width)
        return round(_count(lambda: embedder(torch.zeros(1, n))) / duration)
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
        macs = _count(lambda: net(torch.empty(shape, device="meta")))
    except Exception:  # e.g. an op without a meta kernel: run for real
        embedder = Embedder(spec, width=width)
        return round(_count(lambda: embedder(torch.zeros(1, n))) / duration)
    return round((macs + transform) / duration)
