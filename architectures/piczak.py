"""PiczakCNN convolutional front (Piczak 2015, "Environmental sound classification with CNNs"), as used by Tax et al.
2017 (MSTmodel) and DeepFourier as the classifier on 60-band log-mels.

Input log-mel ``(batch, 1, frames, 60)`` at 22 050 Hz, n_fft 1024, hop 512 (Piczak's and Tax et al.'s features;
as in Tax et al.'s code), one channel (Tax et al.; Piczak's optional delta channel is not used). The paper writes shapes
as frequency × time; in our (time, frequency) layout:

- conv1: 80 filters 57×6 (freq×time) → ``kernel_size=(6, 57)``, ReLU → ``(batch, nf, frames − 5, 4)``
- pool1: max 4×3 (freq×time), stride 1×3 → ``(3, 4)`` stride ``(3, 1)`` → ``(batch, nf, ⌊(frames − 8)/3⌋ + 1, 1)``
- conv2: 80 filters 1×3 → ``(3, 1)``, ReLU; pool2: max 1×3 stride 1×3 → ``(3, 1)``

The dense layers (5000, 5000, softmax) are the classifier and are not built. Feature layers are all four conv/pool
outputs (4·nf; 320-d at the paper's nf = 80, 160-d at small nf = 40). The chain needs ≥ 20 frames (Piczak's
short segments are 41 frames).
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.dsp import LogMelConfig
from rwbench.frontend import register_frontend

N_MELS = 60
MIN_FRAMES = 20  # conv1 6 → pool1 3/3 → conv2 3 → pool2 3/3 all non-empty
PICZAK_LOGMEL = LogMelConfig(sample_rate=22050, n_fft=1024, hop_length=512, n_mels=N_MELS)


class PiczakCNN(nn.Module):
    """``(batch, 1, frames ≥ 20, 60)`` → ``[conv1, pool1, conv2, pool2]``, each ``(batch, filters, time, freq)``."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, filters, kernel_size=(6, 57))
        self.pool1 = nn.MaxPool2d(kernel_size=(3, 4), stride=(3, 1))
        self.conv2 = nn.Conv2d(filters, filters, kernel_size=(3, 1))
        self.pool2 = nn.MaxPool2d(kernel_size=(3, 1), stride=(3, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = torch.relu(self.conv1(x))
        p1 = self.pool1(c1)
        c2 = torch.relu(self.conv2(p1))
        return [c1, p1, c2, self.pool2(c2)]


@register_frontend(
    name="piczak",
    input_kind="logmel",
    sample_rate=22050,
    widths={"small": 40, "paper": 80},
    feature_dim=lambda nf: 4 * nf,
    feature_layers=("conv1", "pool1", "conv2", "pool2"),
    source="Piczak 2015 (MLSP) PiczakCNN; as the classifier of Tax et al. 2017 (arXiv 1712.00254)",
    logmel=PICZAK_LOGMEL,
    min_input=MIN_FRAMES,
    pad_to_min="repeat",
    input_length=f"≥ {MIN_FRAMES} frames (0.44 s at 22.05 kHz)",
    description="conv 57×6 (freq×time) → max 4×3/1×3 → conv 1×3 → max 1×3/1×3, ReLU, 60-band log-mel",
)
def piczak(filters: int) -> PiczakCNN:
    return PiczakCNN(filters)
