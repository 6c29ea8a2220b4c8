"""Single-layer vertical filters on log-mel (Pons & Serra 2019 §3.3, "cnn_single" 7×96 and 7×86).

Input log-mel ``(batch, 1, frames, 96)``. One 'valid' conv with a 7-frame × ``n_freq``-band kernel, ReLU, then a
max-pool over every frequency shift (identity for 7×96, 1×11 for 7×86). The feature layer is the pooled map
``(batch, filters, frames − 6, 1)``, mean-pooled over time.
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.dsp import LogMelConfig
from rwbench.frontend import register_frontend
from rwbench.fusion import relu_of_max

N_MELS = 96
KERNEL_FRAMES = 7


class VerticalConv(nn.Module):
    """``(batch, 1, frames ≥ 7, 96)`` → ``[pool]`` with pool ``(batch, filters, frames − 6, 1)``."""

    def __init__(self, filters: int, n_freq: int, n_mels: int = N_MELS) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel_size=(KERNEL_FRAMES, n_freq))
        self.pool = nn.MaxPool2d((1, n_mels - n_freq + 1))  # max over all frequency shifts

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [relu_of_max(self.conv(x), self.pool, self.training)]


def _register(n_freq: int):
    return register_frontend(
        name=f"vertical_7x{n_freq}",
        input_kind="logmel",
        sample_rate=12000,
        widths={"small": 160, "paper": 3585},
        feature_dim=lambda nf: nf,
        feature_layers=("pool",),
        source="Pons & Serra 2019 'cnn_single' (after Pons et al. 2016 musically motivated vertical filters)",
        logmel=LogMelConfig(),
        min_input=KERNEL_FRAMES,
        pad_to_min="repeat",
        input_length=f"≥ {KERNEL_FRAMES} frames",
        description=f"one conv 7×{n_freq} (time×freq) 'valid', ReLU, max over the {N_MELS - n_freq + 1} frequency shifts",
        channels_last=True,
    )


@_register(96)
def vertical_7x96(filters: int) -> VerticalConv:
    return VerticalConv(filters, 96)


@_register(86)
def vertical_7x86(filters: int) -> VerticalConv:
    return VerticalConv(filters, 86)
