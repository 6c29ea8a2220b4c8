"""ReSE-2-Multi (Kim, Lee & Nam 2018; tae-jun/resemul) as a random-weight front-end.

Waveform at 22 050 Hz, read in 59 049-sample windows exactly as ``samplecnn`` (same length rule and helpers).

- ``stem``: conv1d kernel 3, stride 3, 'valid', BN, ReLU (``nf`` channels);
- nine ReSE blocks of widths nf, nf, 2nf ×6, 4nf (128, 128, 256 ×6, 512 at paper). A block: residual path
  conv 3 'same' → BN → ReLU → dropout 0.2 → conv 3 'same' → BN → squeeze-excitation (time-mean → dense
  ``16·C`` ReLU → dense ``C`` sigmoid → channel scale; amplifying ratio 16 as the original); shortcut = identity,
  or conv 1×1 + BN where the width changes; add, ReLU, max-pool 3. Every conv and dense layer has a bias.
- "multi" features: the **global max-pool** of the last three blocks (2nf + 2nf + 4nf = ``8·nf``: 1024 at paper,
  160 at small nf = 20). The dense head of the original is not built.

The max pooling happens inside the module, per 59 049-sample window: each feature layer is returned as
``(batch, C, S)`` — one max per window — so the harness's time pooling then combines the ``S`` windows (mean:
the average of window features, as SampleCNN averages window predictions; max: the clip's global max). A clip of
one window gives ``(batch, C, 1)``. This keeps the declared dim right for every pooling mode.

BN uses identity statistics in eval mode and dropout is off (see ``samplecnn``). ``random`` draws every conv and
dense layer He-uniform (the original uses He-uniform for convs, Glorot-uniform for the 1×1 shortcut and dense
layers; rwbench has one init per front-end).
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.frontend import register_frontend
from rwbench.fusion import relu_of_max

from .samplecnn import LENGTH_RULE, SAMPLE_RATE, SEGMENT, channel_plan, conv_bn_relu, from_segments, to_segments

AMPLIFYING_RATIO = 16
MULTI = 3  # feature layers: the last three blocks


class SqueezeExcitation(nn.Module):
    """Channel gates from the time-mean: ``(batch, C, t)`` → same shape, each channel scaled by a sigmoid."""

    def __init__(self, channels: int, ratio: int = AMPLIFYING_RATIO) -> None:
        super().__init__()
        self.excite = nn.Sequential(
            nn.Linear(channels, channels * ratio), nn.ReLU(), nn.Linear(channels * ratio, channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.excite(x.mean(dim=2)).unsqueeze(2)


class ReSEBlock(nn.Module):
    """``(batch, cin, t)`` → ``(batch, cout, t // 3)``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            conv_bn_relu(cin, cout, 3, padding=1), nn.Dropout(0.2),
            nn.Conv1d(cout, cout, 3, padding=1), nn.BatchNorm1d(cout), SqueezeExcitation(cout),
        )
        self.shortcut = nn.Identity() if cin == cout else nn.Sequential(nn.Conv1d(cin, cout, 1), nn.BatchNorm1d(cout))
        self.pool = nn.MaxPool1d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu_of_max(self.residual(x) + self.shortcut(x), self.pool, self.training)


class ReSE2Multi(nn.Module):
    """``(batch, 1, samples ≥ 59 049)`` → max-pooled last three blocks, each ``(batch, C, windows)``."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.stem = conv_bn_relu(1, filters, 3, stride=3)
        widths = [filters, *channel_plan(filters)]
        self.blocks = nn.ModuleList(ReSEBlock(cin, cout) for cin, cout in zip(widths, widths[1:]))

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        x, count = to_segments(wave)
        x = self.stem(x)
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return [from_segments(layer.amax(dim=2, keepdim=True), count) for layer in outputs[-MULTI:]]


@register_frontend(
    name="rese2_multi",
    input_kind="waveform",
    sample_rate=SAMPLE_RATE,
    widths={"small": 20, "paper": 128},
    feature_dim=lambda nf: 8 * nf,
    feature_layers=("block7_max", "block8_max", "block9_max"),
    source="Kim, Lee & Nam 2018, Sample-level CNN architectures for music auto-tagging using raw waveforms "
    "(ReSE-2-Multi; tae-jun/resemul)",
    min_input=SEGMENT,
    pad_to_min="repeat",
    input_length=LENGTH_RULE,
    init="he_uniform",
    description="SampleCNN stem + 9 ReSE blocks (residual + squeeze-excitation ×16), global max of the last 3 blocks",
)
def rese2_multi(filters: int) -> ReSE2Multi:
    return ReSE2Multi(filters)
