"""Signal-processing baselines without learnable weights (input kind "none"): waveform → pooled vector.

- ``mfcc``: the reference study's 120-d baseline (Pons & Serra 2019 §4, after keunwoochoi/transfer_learning_music):
  ``librosa.feature.mfcc(y, sr=12000, n_mfcc=20)`` with the librosa defaults of the time (n_fft 2048, hop 512,
  128 mels, dB with an 80 dB floor, orthonormal DCT-II), computed in torch by :class:`rwbench.dsp.MFCC`. Deltas are
  plain differences Δ[t] = x[t+1] − x[t] and ΔΔ = Δ of Δ (not ``librosa.feature.delta``). Vector
  [mean, std] of MFCC, Δ, ΔΔ over time (std with ddof 0) = 6 × 20 = 120. The study cropped every clip to its first
  2048 samples (0.17 s: its
  length option cropped where it meant a minimum); here the whole clip is used, and 2048 samples is only the minimum
  (shorter clips repeat-pad).
  STFT centre padding is zeros (librosa ≥ 0.10; librosa of the time reflected).
- ``logmel_stats``: mean and std over time of each band of the study's 96-band log-mel (12 kHz, 512/256): 192-d.

The width is the number of coefficients (mfcc: 20) or mel bands (logmel_stats: 96); there are no weights.
"""

from __future__ import annotations

import torch
from torch import nn

from rwbench.dsp import MFCC, LogMel, LogMelConfig
from rwbench.frontend import register_frontend

MFCC_LOGMEL = LogMelConfig(sample_rate=12000, n_fft=2048, hop_length=512, n_mels=128, top_db=80.0)
MFCC_MIN_SAMPLES = 2048  # the study's minimum length (3+ frames, so ΔΔ has at least one frame)


def mean_std(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``[mean, std]`` (ddof 0) along ``dim``, concatenated on the last axis."""
    return torch.cat([x.mean(dim=dim), x.std(dim=dim, unbiased=False)], dim=-1)


class MFCCStats(nn.Module):
    """Waveform ``(batch, 1, samples ≥ 2048)`` → ``[mfcc, delta, delta2]``, each ``(batch, 2·n_mfcc)``."""

    def __init__(self, n_mfcc: int = 20) -> None:
        super().__init__()
        self.mfcc = MFCC(MFCC_LOGMEL, n_mfcc=n_mfcc)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        coeffs = self.mfcc(wave)  # (batch, frames, n_mfcc)
        delta = coeffs.diff(dim=1)
        delta2 = delta.diff(dim=1)
        return [mean_std(c, dim=1) for c in (coeffs, delta, delta2)]


class LogMelStats(nn.Module):
    """Waveform ``(batch, 1, samples)`` → ``[stats]`` of shape ``(batch, 2·n_mels)``: band means then band stds."""

    def __init__(self, n_mels: int = 96) -> None:
        super().__init__()
        self.logmel = LogMel(LogMelConfig(n_mels=n_mels))

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        return [mean_std(self.logmel(wave).squeeze(1), dim=1)]


@register_frontend(
    name="mfcc",
    input_kind="none",
    sample_rate=12000,
    widths={"small": 20, "paper": 20},
    feature_dim=lambda n: 6 * n,
    feature_layers=("mfcc", "delta", "delta2"),
    source="Pons & Serra 2019 MFCC baseline (after Choi et al. 2017 transfer_learning_music)",
    min_input=MFCC_MIN_SAMPLES,
    pad_to_min="repeat",
    input_length=f"any length; ≥ {MFCC_MIN_SAMPLES} samples (shorter clips are repeat-padded, never cropped)",
    description="20 MFCCs (n_fft 2048, hop 512, 128 mels) + first/second differences, mean and std: 120-d",
)
def mfcc(n_mfcc: int) -> MFCCStats:
    return MFCCStats(n_mfcc)


@register_frontend(
    name="logmel_stats",
    input_kind="none",
    sample_rate=12000,
    widths={"small": 96, "paper": 96},
    feature_dim=lambda n: 2 * n,
    feature_layers=("logmel",),
    source="log-mel of Pons & Serra 2019 (Choi et al. 2016 features), mean and std per band",
    min_input=1,
    pad_to_min="repeat",
    input_length="any length",
    description="mean and std over time of each of the 96 log-mel bands (12 kHz, 512/256): 192-d",
)
def logmel_stats(n_mels: int) -> LogMelStats:
    return LogMelStats(n_mels)
