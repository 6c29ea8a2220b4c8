"""MSTmodel (Tax et al. 2017; corticph/MSTmodel): a waveform front-end built to imitate a 60-band log-mel.

Waveform ``(batch, 1, samples)`` at 22 050 Hz. Three conv1d layers, all TensorFlow 'SAME' (``ceil(samples/512)``
frames, padding split ⌊p/2⌋ left / ⌈p/2⌉ right), each with a bias, followed by batch norm and its nonlinearity:

| layer | filters | kernel | stride | nonlinearity |
|---|---|---|---|---|
| ``conv1`` | nf (512 at paper) | 1024 | 512 | ReLU |
| ``conv2`` | nf // 2 (256) | 3 | 1 | ReLU |
| ``mst`` | 60 (the "mel" bands, fixed) | 3 | 1 | tanh |

Feature layers: all three, mean-pooled over time: ``nf + nf // 2 + 60`` values (paper 828, small nf = 64 → 156).
The original trains this stack to regress log-mel spectrograms: ``random`` leaves it untrained (Xavier-uniform as
the original, zero biases); ``mst`` loads the weights ``rwbench pretrain mst`` trained that way on each outer
split's training side (:mod:`rwbench.pretrain`). BN keeps identity statistics in eval mode (see ``samplecnn``). The original feeds
51 200-sample segments of peak-normalised audio; rwbench feeds the whole clip unnormalised (any length works).
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.frontend import register_frontend

from .frame_level import tf_same_pad

N_MELS = 60
KERNEL, HOP = 1024, 512


def half(nf: int) -> int:
    return max(nf // 2, 1)


class MST(nn.Module):
    """``(batch, 1, samples)`` → ``[conv1, conv2, mst]``, each ``(batch, C, ceil(samples / 512))``."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, filters, KERNEL, stride=HOP)
        self.bn1 = nn.BatchNorm1d(filters)
        self.conv2 = nn.Conv1d(filters, half(filters), 3, padding=1)
        self.bn2 = nn.BatchNorm1d(half(filters))
        self.conv3 = nn.Conv1d(half(filters), N_MELS, 3, padding=1)
        self.bn3 = nn.BatchNorm1d(N_MELS)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        x1 = torch.relu(self.bn1(self.conv1(tf_same_pad(wave, KERNEL, HOP))))
        x2 = torch.relu(self.bn2(self.conv2(x1)))
        return [x1, x2, torch.tanh(self.bn3(self.conv3(x2)))]


@register_frontend(
    name="mst",
    input_kind="waveform",
    sample_rate=22050,
    widths={"small": 64, "paper": 512},
    feature_dim=lambda nf: nf + half(nf) + N_MELS,
    feature_layers=("conv1", "conv2", "mst"),
    source="Tax et al. 2017, Utilizing domain knowledge in end-to-end audio processing "
    "(arXiv 1712.00254; corticph/MSTmodel)",
    min_input=1,
    pad_to_min="repeat",
    input_length="any length ('same' padding: ceil(samples / 512) frames)",
    init="xavier_uniform",
    weights=("random", "mst"),  # mst: pre-trained per outer fold by `rwbench pretrain mst`
    description="conv 1024/512 'same' + BN + ReLU, conv 3 + BN + ReLU, conv 3 → 60 + BN + tanh; all 3 layers",
)
def mst(filters: int) -> MST:
    return MST(filters)
