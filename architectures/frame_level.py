"""Frame-level waveform front-ends with the study's backend (Pons & Serra 2019 §3.7–3.9).

Waveform ``(batch, 1, samples)`` at 12 kHz, ``nf`` = filters.

- ``frame_level``: one conv1d, 512-sample kernels, stride 32, **'valid'**, ``nf`` filters, ReLU.
- ``frame_level_many``: five parallel conv1d of 512/256/128/64/32 samples, stride 32, **'same'** (TensorFlow's
  rule: ``ceil(samples/32)`` frames, the padding split left ⌊p/2⌋ / right ⌈p/2⌉), ``nf`` filters each, ReLU,
  concatenated to ``5·nf`` channels. 'same' is what lets the five kernel lengths give equally long outputs; the
  single-kernel ``frame_level`` keeps the study's 'valid' (the two differ as in the study, on purpose).
- backend (after Pons et al. 2018), reading the front-end's ``C`` channels: ``c1`` = conv 7 frames × all ``C``
  channels, 'valid', ``nf`` filters, ReLU; ``res2`` = ReLU(conv 7 × nf, zero-padded 3+3) + c1; max-pool 2 over
  time; ``res3`` = ReLU(conv 7 × nf, padded 3+3) + the pooled res2. Every conv has a bias.

The study's code pooled each backend layer over time *and* channels (a feature of one value per layer) and
sized every layer's row by layer 0. Here every layer is returned as ``(batch, channels, time)`` and the
harness pools over time only, so each backend channel is its own feature. True dims: ``frame_level`` =
nf (front) + 3·nf (backend) = **4·nf** (3584 at nf = 896, of which the study kept 899 informative);
``frame_level_many`` = 5·nf + 3·nf = **8·nf** (3584 at nf = 448; study: 2243). Parameters at paper width:
17.32 M and 10.28 M, as the study.

No ``dsp`` weights: windowed-cosine kernels could seed the 512-sample front-end, but the backend (≥ 95 % of the
parameters) has no signal-processing counterpart and ``dsp`` weights take no seed, so it could only be zero or
drawn from a hidden fixed seed. ``strided_512_*`` and ``deepfourier`` are the DSP-initialised waveform front-ends.

:func:`tf_same_pad` is shared with ``mst``.
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.frontend import register_frontend

SAMPLE_RATE = 12000
STRIDE = 32
MANY_KERNELS = (512, 256, 128, 64, 32)
BACKEND_KERNEL = 7


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad the last axis as TensorFlow's 'SAME' does: ``ceil(n / stride)`` outputs, extra sample on the right."""
    n = x.shape[-1]
    total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
    return nn.functional.pad(x, (total // 2, total - total // 2))


class Backend(nn.Module):
    """``(batch, C, T ≥ 8)`` → ``[c1, res2, res3]``: ``(batch, nf, T − 6)`` twice, then ``(batch, nf, (T − 6) // 2)``."""

    def __init__(self, in_channels: int, filters: int) -> None:
        super().__init__()
        k = BACKEND_KERNEL
        self.c1 = nn.Conv1d(in_channels, filters, k)
        self.c2 = nn.Conv1d(filters, filters, k, padding=k // 2)
        self.pool = nn.MaxPool1d(2)
        self.c3 = nn.Conv1d(filters, filters, k, padding=k // 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = torch.relu(self.c1(x))
        res2 = torch.relu(self.c2(c1)) + c1
        pooled = self.pool(res2)
        res3 = torch.relu(self.c3(pooled)) + pooled
        return [c1, res2, res3]


class FrameLevel(nn.Module):
    """``(batch, 1, samples)`` → ``[front conv(s)…, c1, res2, res3]``, each ``(batch, channels, time)``."""

    def __init__(self, filters: int, kernels: tuple[int, ...] = (512,), *, same: bool = False) -> None:
        super().__init__()
        self.kernels, self.same = kernels, same
        self.fronts = nn.ModuleList(nn.Conv1d(1, filters, k, stride=STRIDE) for k in kernels)
        self.backend = Backend(filters * len(kernels), filters)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        fronts = [
            torch.relu(conv(tf_same_pad(wave, k, STRIDE) if self.same else wave))
            for conv, k in zip(self.fronts, self.kernels)
        ]
        return [*fronts, *self.backend(torch.cat(fronts, dim=1))]


def min_samples(kernels: tuple[int, ...], same: bool) -> int:
    """Fewest samples giving 8 front-end frames: c1 ('valid', 7) leaves 2, the pool 1."""
    frames = BACKEND_KERNEL + 1
    return (frames - 1) * STRIDE + 1 if same else (frames - 1) * STRIDE + max(kernels)


_SOURCE = "Pons & Serra 2019 (elmarc) frame-level front-end + backend of Pons et al. 2018; pooled over time only"
_BACKEND = ("c1", "res2", "res3")


@register_frontend(
    name="frame_level",
    input_kind="waveform",
    sample_rate=SAMPLE_RATE,
    widths={"small": 40, "paper": 896},
    feature_dim=lambda nf: 4 * nf,
    feature_layers=("conv512", *_BACKEND),
    source=_SOURCE,
    min_input=min_samples((512,), same=False),
    pad_to_min="repeat",
    input_length=f"≥ {min_samples((512,), same=False)} samples (conv 512/32 'valid' → ≥ 8 frames for the backend)",
    description="conv 512-sample filters stride 32 'valid', ReLU → backend c1 / res2 / res3, pooled over time only",
)
def frame_level(filters: int) -> FrameLevel:
    return FrameLevel(filters)


@register_frontend(
    name="frame_level_many",
    input_kind="waveform",
    sample_rate=SAMPLE_RATE,
    widths={"small": 20, "paper": 448},
    feature_dim=lambda nf: 8 * nf,
    feature_layers=(*(f"conv{k}" for k in MANY_KERNELS), *_BACKEND),
    source=_SOURCE,
    min_input=min_samples(MANY_KERNELS, same=True),
    pad_to_min="repeat",
    input_length=f"≥ {min_samples(MANY_KERNELS, same=True)} samples ('same' stride 32: ceil(samples/32) ≥ 8 frames)",
    description="convs of 512/256/128/64/32 samples stride 32 'same', ReLU, concatenated → backend, time-pooled",
)
def frame_level_many(filters: int) -> FrameLevel:
    return FrameLevel(filters, MANY_KERNELS, same=True)
