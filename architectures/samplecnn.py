"""SampleCNN, the "3^9 model" of Lee et al. 2017 (tae-jun/sample-cnn), as a random-weight front-end.

Waveform at 22 050 Hz. The network reads segments of 3^10 = 59 049 samples (2.68 s):

- ``stem``: conv1d kernel 3, stride 3, 'valid' → 19 683 frames; BN; ReLU;
- ``block1`` … ``block9``: conv1d kernel 3 'same', BN, ReLU, max-pool 3 → 6561, 2187, …, 1 frames;
- ``head``: conv1d kernel 1, BN, ReLU (the layer before the paper's dropout and 50 sigmoid tags).

Channel plan from the base width ``nf``: stem, block1, block2 = nf; block3–8 = 2·nf; block9 and head = 4·nf.
``paper`` (nf = 128) is the published 128, 128, 128, 256 ×6, 512, 512; ``small`` (nf = 7) is the same plan scaled
down, 7, 7, 7, 14 ×6, 28, 28. Every conv has a bias (Keras default, as the original); init He-uniform as the
original. Feature layers: all 11 outputs (stem, nine blocks, head), mean-pooled over time:
``nf + 2·nf + 12·nf + 4·nf + 4·nf = 23·nf`` values (small 161, paper 2944).

**Batch norm** keeps its identity statistics (running mean 0, variance 1, γ = 1, β = 0) and runs in eval mode:
with random weights there is nothing to normalise from, and batch statistics would make a clip's embedding
depend on its batch. Each BN is therefore ``x / sqrt(1 + 1e-5)``.

**Length rule** (as SampleCNN's clip-level evaluation): a clip of ``n ≥ 59 049`` samples is cut into
``S = ceil(n / 59 049)`` windows of 59 049 samples, evenly spaced from the first sample to the last (they overlap
unless ``n`` is a multiple), and every window runs through the network. Each layer's windows are joined along
time, ``(batch, C, S·t)``, so mean pooling averages every window equally. A shorter clip is repeat-padded to
59 049 by the harness (``pad_to_min``); the module refuses one that is not.

:func:`to_segments` / :func:`from_segments` are shared with ``rese2_multi``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from rwbench.errors import RwbenchError
from rwbench.frontend import register_frontend
from rwbench.fusion import relu_of_max

SAMPLE_RATE = 22050
SEGMENT = 3**10  # 59 049 samples
LENGTH_RULE = (
    f"windows of {SEGMENT} samples (3^10): ceil(samples / {SEGMENT}) evenly spaced windows covering the clip, "
    f"features averaged over all windows; shorter clips repeat-padded to {SEGMENT}"
)


def to_segments(wave: torch.Tensor, length: int = SEGMENT) -> tuple[torch.Tensor, int]:
    """``(batch, 1, n ≥ length)`` → ``(batch·S, 1, length)`` windows, ``S = ceil(n / length)``, evenly spaced."""
    n = wave.shape[-1]
    if n < length:
        raise RwbenchError(f"this front-end needs at least {length} samples per clip, got {n}; pad the clip first")
    count = -(-n // length)
    starts = [round(i * (n - length) / (count - 1)) for i in range(count)] if count > 1 else [0]
    windows = torch.stack([wave[..., s : s + length] for s in starts], dim=1)  # (batch, S, 1, length)
    return windows.flatten(0, 1), count


def from_segments(layer: torch.Tensor, count: int) -> torch.Tensor:
    """``(batch·S, C, t)`` → ``(batch, C, S·t)``: a clip's windows side by side along time."""
    _, channels, t = layer.shape
    return layer.unflatten(0, (-1, count)).permute(0, 2, 1, 3).reshape(-1, channels, count * t)


def conv_bn_relu(cin: int, cout: int, kernel: int, *, stride: int = 1, padding: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, stride=stride, padding=padding), nn.BatchNorm1d(cout), nn.ReLU())


def channel_plan(nf: int) -> list[int]:
    """Widths of the nine blocks from the base width: nf, nf, 2nf ×6, 4nf (128, 128, 256 ×6, 512 at nf = 128)."""
    return [nf, nf] + [2 * nf] * 6 + [4 * nf]


class SampleCNN(nn.Module):
    """``(batch, 1, samples ≥ 59 049)`` → ``[stem, block1, …, block9, head]``, each ``(batch, C, S·t)``."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.stem = conv_bn_relu(1, filters, 3, stride=3)
        widths = [filters, *channel_plan(filters)]
        self.blocks = nn.ModuleList(
            nn.Sequential(conv_bn_relu(cin, cout, 3, padding=1), nn.MaxPool1d(3))
            for cin, cout in zip(widths, widths[1:])
        )
        self.head = conv_bn_relu(widths[-1], widths[-1], 1)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        x, count = to_segments(wave)
        x = self.stem(x)
        layers = [x]
        blocks: Iterable[Any] = self.blocks  # each ((conv, bn, relu), pool): nested Sequentials
        for (conv, bn, relu), pool in blocks:
            x = relu_of_max(bn(conv(x)), pool, self.training, relu)
            layers.append(x)
        layers.append(self.head(x))
        return [from_segments(layer, count) for layer in layers]


@register_frontend(
    name="samplecnn",
    input_kind="waveform",
    sample_rate=SAMPLE_RATE,
    widths={"small": 7, "paper": 128},
    feature_dim=lambda nf: 23 * nf,
    feature_layers=("stem", *(f"block{i}" for i in range(1, 10)), "head"),
    source="Lee et al. 2017, Sample-level deep CNNs for music auto-tagging using raw waveforms (3^9 model)",
    min_input=SEGMENT,
    pad_to_min="repeat",
    input_length=LENGTH_RULE,
    init="he_uniform",
    description="conv 3/3 + 9 × [conv 3, BN, ReLU, pool 3] (128,128,256×6,512 at paper) + conv 1; BN identity (eval)",
)
def samplecnn(filters: int) -> SampleCNN:
    return SampleCNN(filters)
