"""The reference study's sample-level waveform front-end (Pons & Serra 2019 §3.6, after Lee et al. 2017).

Waveform ``(batch, 1, samples)`` at 12 kHz, ``nf`` filters in every layer, every conv with a bias:

- ``conv0``: conv1d kernel 3, stride 3, 'valid', ReLU → ``samples // 3`` frames;
- ``pool1`` … ``pool6``: six blocks of [conv1d kernel 3, stride 1, 'same' (1 + 1 zeros), ReLU, max-pool 3/3].

All seven outputs are feature layers (the study returns conv0 before any pooling and the blocks after pooling;
kept as the study did), mean-pooled over time: ``7·nf`` values (small 23 → 161, paper 512 → 3584;
4.72 M parameters at paper width). No batch norm, He-normal weights as the study. The shortest input is
3^7 = 2187 samples: then conv0 gives 729 frames and pool6 one frame.
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.frontend import register_frontend

BLOCKS = 6
MIN_SAMPLES = 3 ** (BLOCKS + 1)


class SampleLevel(nn.Module):
    """``(batch, 1, samples ≥ 2187)`` → ``[conv0, pool1, …, pool6]``, each ``(batch, nf, time)``."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv1d(1, filters, 3, stride=3)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(filters, filters, 3, padding=1), nn.ReLU(), nn.MaxPool1d(3)) for _ in range(BLOCKS)
        )

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        x = torch.relu(self.conv0(wave))
        layers = [x]
        for block in self.blocks:
            x = block(x)
            layers.append(x)
        return layers


@register_frontend(
    name="sample_level",
    input_kind="waveform",
    sample_rate=12000,
    widths={"small": 23, "paper": 512},
    feature_dim=lambda nf: (BLOCKS + 1) * nf,
    feature_layers=("conv0", *(f"pool{i}" for i in range(1, BLOCKS + 1))),
    source="Pons & Serra 2019 (elmarc) 'sample_level', after Lee et al. 2017 SampleCNN",
    min_input=MIN_SAMPLES,
    pad_to_min="repeat",
    input_length=f"≥ {MIN_SAMPLES} samples (3^7: conv0 stride 3 then six pool-3 blocks)",
    description="conv 3 stride 3 + 6 × [conv 3 'same', ReLU, max-pool 3], constant width, no BN; all 7 layers",
)
def sample_level(filters: int) -> SampleLevel:
    return SampleLevel(filters)
