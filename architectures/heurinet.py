"""HeuriNet: the heuristically designed waveform front of the DeepFourier comparison.

Sources: the layer list of the DeepFourier comparison as rwbench's design notes give it — 80 filters of 155
samples stride 10, max-pool 9 stride 3, 60 filters of 15 stride 4, max-pool 9 stride 4. The original code and paper
text were not available here, so these are assumptions, each recorded:

- 22 050 Hz, the ESC-50 rate of the MSTmodel / PiczakCNN work it is compared with: the total hop
  10·3·4·4 = 480 samples (21.8 ms) then matches their 512-sample log-mel hop, and the 60 output channels their
  60 mel bands — so the 60 is kept fixed, like ``mst``; the width scales the first layer only;
- 'valid' convolutions and pools, a ReLU after each conv, biases, no batch norm;
- feature layers: both pooled outputs, mean-pooled over time: ``nf + 60`` values (140 at nf = 80, both widths:
  the network is already small).

The shortest input is 1615 samples (then ``pool2`` has one frame), computed by :func:`min_samples`.
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.frontend import register_frontend

N_OUT = 60
# (kernel, stride) of conv1, pool1, conv2, pool2
STAGES: tuple[tuple[int, int], ...] = ((155, 10), (9, 3), (15, 4), (9, 4))


def min_samples() -> int:
    """Fewest samples for one output frame: invert ``out = (n − k) // s + 1`` from the last stage back."""
    n = 1
    for kernel, stride in reversed(STAGES):
        n = (n - 1) * stride + kernel
    return n


class HeuriNet(nn.Module):
    """``(batch, 1, samples ≥ 1615)`` → ``[pool1, pool2]``, ``(batch, nf, t1)`` and ``(batch, 60, t2)``."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        (k1, s1), (p1, q1), (k2, s2), (p2, q2) = STAGES
        self.conv1 = nn.Conv1d(1, filters, k1, stride=s1)
        self.pool1 = nn.MaxPool1d(p1, stride=q1)
        self.conv2 = nn.Conv1d(filters, N_OUT, k2, stride=s2)
        self.pool2 = nn.MaxPool1d(p2, stride=q2)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        x1 = self.pool1(torch.relu(self.conv1(wave)))
        return [x1, self.pool2(torch.relu(self.conv2(x1)))]


@register_frontend(
    name="heurinet",
    input_kind="waveform",
    sample_rate=22050,
    widths={"small": 80, "paper": 80},
    feature_dim=lambda nf: nf + N_OUT,
    feature_layers=("pool1", "pool2"),
    source="HeuriNet front-end of the DeepFourier comparison (layer list as given; details assumed, see module)",
    min_input=min_samples(),
    pad_to_min="repeat",
    input_length=f"≥ {min_samples()} samples ('valid' convs and pools, total hop 480)",
    description="conv 80×155 stride 10, ReLU, max-pool 9/3, conv 60×15 stride 4, ReLU, max-pool 9/4; both pools",
)
def heurinet(filters: int) -> HeuriNet:
    return HeuriNet(filters)
