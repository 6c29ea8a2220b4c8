"""Musically motivated filter shapes on log-mel (Pons et al. 2016; Pons & Serra 2019 §3.4–3.5, "cnn_music"/"cnn_audio").

Input log-mel ``(batch, 1, frames, 96)``; ``filters`` = nf, r = nf // 4.

- **Timbral branch**: six parallel convs, 'valid' in frequency, time length kept: 7×86 (nf), 3×86 (2nf), 1×86 (4nf),
  7×38 (nf), 3×38 (2nf), 1×38 (4nf) (time × freq; 86 = int(0.9·96), 38 = int(0.4·96)), each ReLU then max over
  every frequency position, concatenated: ``(batch, 14·nf, frames)``.
- **Temporal branch**: the log-mel averaged over its 96 bands, ``(batch, 1, frames)``, read by four parallel 1-D convs
  'same' of 165, 128, 64, 32 frames (``*_short``: 64, 32, 16, 8, the study's 4-s "cnn_audio" model) with
  nf − r, 2nf − r, 4nf − r, 8nf − r filters, ReLU, concatenated: ``(batch, 15·nf − 4·r, frames)``.

Padding (unlike the study): the study kept the time length by padding with **0 dB**, which in a dB log-mel whose values
are mostly far below 0 is a loud frame. Here time is padded with the **per-clip minimum** of the branch input (the
clip's quietest value — its top-db floor for a log-mel, its quietest frame for the band-mean curve), i.e. with
silence relative to the clip. This is per clip, so embeddings do not depend on the batch. Even 'same' kernels are
padded as TF 'same': (k − 1) // 2 frames before, the rest after.

Branches (unlike the study): the study always built both branches and printed their joint parameter count (Timbral
0.76 M = 0.54 M timbral + 0.22 M temporal at nf 256). ``timbral`` and ``temporal`` build only the branch they use, so
their ``param_count`` is the branch's own (0.54 M / 0.22 M); ``timbral_temporal`` builds both (0.38 M at nf 128).

Widths: paper 256 / 256 / 128 give 3584-d (study legends). The study had no ~160-d setting for this family; small
widths are 12 (timbral 168-d, temporal 15·12 − 4·3 = 168-d) and 6 (timbral_temporal 84 + 86 = 170-d).
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.dsp import LogMelConfig
from rwbench.frontend import register_frontend
from rwbench.fusion import relu_of_max

N_MELS = 96
# (time frames, frequency bands, filter multiple) of the six timbral convs.
TIMBRAL_KERNELS: tuple[tuple[int, int, int], ...] = tuple(
    (t, int(frac * N_MELS), mult) for frac in (0.9, 0.4) for t, mult in ((7, 1), (3, 2), (1, 4))
)
TEMPORAL_KERNELS = (165, 128, 64, 32)  # ≈ 3.5, 2.7, 1.4, 0.7 s at 12 kHz / hop 256
TEMPORAL_KERNELS_SHORT = (64, 32, 16, 8)  # "cnn_audio", for 4-s clips
TEMPORAL_MULTS = (1, 2, 4, 8)


def pad_time_with_floor(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Pad the time axis (dim 2) of ``(batch, channels, time, ...)`` with each clip's minimum value."""
    if before == after == 0:
        return x
    floor = x.flatten(1).amin(dim=1).view(-1, *([1] * (x.dim() - 1)))
    shape = list(x.shape)
    parts = []
    for n in (before, after):
        shape[2] = n
        parts.append(floor.expand(shape))
    return torch.cat([parts[0], x, parts[1]], dim=2)


def same_padding(kernel: int) -> tuple[int, int]:
    """TF 'same' padding (before, after) for stride 1."""
    return (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2


def _max_over_bands(h: torch.Tensor) -> torch.Tensor:
    return h.amax(dim=3)


class TimbralBranch(nn.Module):
    """``(batch, 1, frames, 96)`` → ``(batch, 14·nf, frames)``: vertical convs, max over frequency."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.kernels = TIMBRAL_KERNELS
        self.convs = nn.ModuleList(nn.Conv2d(1, m * filters, (t, f)) for t, f, m in TIMBRAL_KERNELS)
        self.halo = max(t for t, _, _ in TIMBRAL_KERNELS) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, padded = x.shape[2], pad_time_with_floor(x, self.halo, self.halo)
        outs = []
        for conv, (t, _, _) in zip(self.convs, self.kernels):
            start = self.halo - t // 2
            # embedding: relu(max over frequency) = max(relu), the ReLU on 1/bands of the values (21 % of the time)
            outs.append(relu_of_max(conv(padded[:, :, start : start + frames + t - 1]), _max_over_bands, self.training))
        return torch.cat(outs, dim=1)


class TemporalBranch(nn.Module):
    """``(batch, 1, frames, 96)`` → ``(batch, 15·nf − 4·r, frames)``: 1-D convs on the band-mean energy curve."""

    def __init__(self, filters: int, kernels: tuple[int, ...] = TEMPORAL_KERNELS) -> None:
        super().__init__()
        r = filters // 4
        self.kernels = kernels
        self.convs = nn.ModuleList(nn.Conv1d(1, m * filters - r, k) for k, m in zip(kernels, TEMPORAL_MULTS))
        self.before = max(same_padding(k)[0] for k in kernels)
        self.after = max(same_padding(k)[1] for k in kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        curve = x.mean(dim=3)  # (batch, 1, frames)
        frames, padded = curve.shape[2], pad_time_with_floor(curve, self.before, self.after)
        outs = []
        for conv, k in zip(self.convs, self.kernels):
            start = self.before - same_padding(k)[0]
            outs.append(torch.relu(conv(padded[:, :, start : start + frames + k - 1])))
        return torch.cat(outs, dim=1)


class MusicallyMotivated(nn.Module):
    """Log-mel ``(batch, 1, frames, 96)`` → ``[timbral]``, ``[temporal]`` or ``[timbral, temporal]``."""

    def __init__(self, filters: int, *, timbral: bool = True, temporal: tuple[int, ...] | None = TEMPORAL_KERNELS):
        super().__init__()
        self.timbral = TimbralBranch(filters) if timbral else None
        self.temporal = TemporalBranch(filters, temporal) if temporal else None

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [branch(x) for branch in (self.timbral, self.temporal) if branch is not None]


def timbral_dim(nf: int) -> int:
    return 14 * nf


def temporal_dim(nf: int) -> int:
    return 15 * nf - 4 * (nf // 4)


def _register(name: str, *, small: int, paper: int, layers: tuple[str, ...], kernels: tuple[int, ...] | None,
              description: str):
    dims = {"timbral": timbral_dim, "temporal": temporal_dim}
    return register_frontend(
        name=name,
        input_kind="logmel",
        sample_rate=12000,
        widths={"small": small, "paper": paper},
        feature_dim=lambda nf: sum(dims[layer](nf) for layer in layers),
        feature_layers=layers,
        source="Pons et al. 2016 (CBMI) musically motivated CNNs; Pons & Serra 2019 "
        + ("'cnn_audio' (short temporal filters)" if kernels == TEMPORAL_KERNELS_SHORT else "'cnn_music'"),
        logmel=LogMelConfig(),
        min_input=1,
        pad_to_min="repeat",
        input_length="any length (time kept by padding with the clip minimum)",
        description=description,
    )


@_register("timbral", small=12, paper=256, layers=("timbral",), kernels=None,
           description="timbral branch only: 7/3/1 × 86/38 vertical filters, max over frequency")
def timbral(filters: int) -> MusicallyMotivated:
    return MusicallyMotivated(filters, timbral=True, temporal=None)


@_register("temporal", small=12, paper=256, layers=("temporal",), kernels=TEMPORAL_KERNELS,
           description="temporal branch only: 1-D filters of 165/128/64/32 frames on the band-mean curve")
def temporal(filters: int) -> MusicallyMotivated:
    return MusicallyMotivated(filters, timbral=False, temporal=TEMPORAL_KERNELS)


@_register("timbral_temporal", small=6, paper=128, layers=("timbral", "temporal"), kernels=TEMPORAL_KERNELS,
           description="both branches: timbral vertical filters + temporal 165/128/64/32-frame filters")
def timbral_temporal(filters: int) -> MusicallyMotivated:
    return MusicallyMotivated(filters, timbral=True, temporal=TEMPORAL_KERNELS)


@_register("temporal_short", small=12, paper=256, layers=("temporal",), kernels=TEMPORAL_KERNELS_SHORT,
           description="short-clip (4 s) variant: temporal filters of 64/32/16/8 frames")
def temporal_short(filters: int) -> MusicallyMotivated:
    return MusicallyMotivated(filters, timbral=False, temporal=TEMPORAL_KERNELS_SHORT)


@_register("timbral_temporal_short", small=6, paper=128, layers=("timbral", "temporal"), kernels=TEMPORAL_KERNELS_SHORT,
           description="short-clip (4 s) variant of timbral_temporal: temporal filters of 64/32/16/8 frames")
def timbral_temporal_short(filters: int) -> MusicallyMotivated:
    return MusicallyMotivated(filters, timbral=True, temporal=TEMPORAL_KERNELS_SHORT)
