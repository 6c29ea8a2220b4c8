"""DeepFourier: a log-mel spectrogram written as a CNN, so that it can start from signal processing.

Waveform ``(batch, 1, samples)`` at 12 kHz (the reference study's log-mel, :class:`rwbench.dsp.LogMelConfig`):

1. ``stft``: zero-pad 256 samples on each side (librosa's ``center=True``, constant mode), then a conv1d of
   ``2·257`` kernels of 512 samples, stride 256, no bias. Channels ``2k``/``2k+1`` are one frequency's cos/sin pair.
2. ``power``: the sum of squares over each pair, ``(batch, 257, frames)`` (= |STFT|² with DSP kernels).
3. ``mel``: a 1×1 conv ``257 → filters`` (the mel bands), no bias, applied with the absolute value of its
   weights (a filterbank is non-negative). With DSP weights this changes nothing; with random (signed) weights
   it keeps every band a positive mix of powers: no band is floored for being negative, and no near-cancelling
   sum turns float rounding into dB-sized differences (between batch sizes, say).
4. ``logmel``: ``rwbench.dsp.power_to_db`` (ref 1, amin 1e-10, floored 80 dB below each clip's peak).

``dsp`` weights put the Hann-windowed cos/sin basis into ``stft`` and ``librosa.filters.mel`` (Slaney) into
``mel``: the network then computes :class:`rwbench.dsp.LogMel` (hence librosa's ``power_to_db(melspectrogram)``),
checked in ``tests/test_waveform_frontends.py``: float64 vs librosa < 1e-6 dB (measured 2e-11), float32 vs
``LogMel`` < 0.01 dB at every frame and band (measured 4e-4 … 2e-3).
``random`` weights draw the same two kernels at random. The feature layer is ``logmel``, ``(batch, filters,
frames)``; mean-pooled over time it gives ``filters`` values (96 at both widths, the study's mel count).

:func:`stft_kernels` is shared with the ``strided`` front-ends.
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import torch
from torch import nn

from rwbench.dsp import LogMelConfig, power_to_db
from rwbench.frontend import register_frontend

CONFIG = LogMelConfig()  # 12 kHz, n_fft 512, hop 256, 96 mels, fmin 0, fmax = Nyquist, power 2, top_db 80


def stft_kernels(length: int, freqs_hz: np.ndarray, sample_rate: int) -> torch.Tensor:
    """Hann-windowed cos/sin kernels ``(2·len(freqs), 1, length)``, interleaved: ``[cos f0, −sin f0, cos f1, …]``.

    The window is librosa's periodic Hann. A conv1d (cross-correlation) with these kernels at frame offset ``t``
    gives the real and imaginary parts of the STFT at ``freqs_hz``; at ``freqs_hz = k·sr/length`` exactly
    ``torch.stft(..., window=hann_window(length))``.
    """
    n = np.arange(length)
    window = 0.5 - 0.5 * np.cos(2 * math.pi * n / length)  # periodic Hann = scipy get_window("hann", fftbins=True)
    phase = 2 * math.pi * np.outer(np.asarray(freqs_hz, dtype=np.float64), n) / sample_rate
    pairs = np.stack([window * np.cos(phase), -window * np.sin(phase)], axis=1)  # (K, 2, length)
    return torch.from_numpy(pairs.reshape(-1, 1, length))


class NonNegativeConv1d(nn.Conv1d):
    """A conv1d applied with ``|weight|``; initialisers still write ``weight`` itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight.abs(), self.bias)


class DeepFourier(nn.Module):
    """``(batch, 1, samples)`` → ``[logmel]``, logmel ``(batch, n_mels, 1 + samples // hop)`` in dB."""

    def __init__(self, n_mels: int, config: LogMelConfig = CONFIG) -> None:
        super().__init__()
        self.config, self.n_mels = config, n_mels
        self.n_bins = config.n_fft // 2 + 1
        self.stft = nn.Conv1d(1, 2 * self.n_bins, config.n_fft, stride=config.hop_length, bias=False)
        self.mel = NonNegativeConv1d(self.n_bins, n_mels, 1, bias=False)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        pad = self.config.n_fft // 2
        parts = self.stft(nn.functional.pad(wave, (pad, pad)))  # (batch, 2·bins, frames)
        power = parts.unflatten(1, (self.n_bins, 2)).pow(2).sum(dim=2)  # (batch, bins, frames)
        return [power_to_db(self.mel(power), top_db=self.config.top_db)]

    @torch.no_grad()
    def init_dsp(self) -> None:
        """STFT basis in ``stft`` and librosa's Slaney mel triangles in ``mel``: the network computes LogMel."""
        c = self.config
        freqs = np.arange(self.n_bins) * c.sample_rate / c.n_fft
        self.stft.weight.copy_(stft_kernels(c.n_fft, freqs, c.sample_rate))
        mel = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=self.n_mels, fmin=c.fmin, fmax=c.fmax)
        self.mel.weight.copy_(torch.from_numpy(mel).unsqueeze(-1))


@register_frontend(
    name="deepfourier",
    input_kind="waveform",
    sample_rate=CONFIG.sample_rate,
    widths={"small": CONFIG.n_mels, "paper": CONFIG.n_mels},
    feature_dim=lambda nf: nf,
    feature_layers=("logmel",),
    source="DeepFourier-style STFT-kernel CNN; DSP init reproduces the reference study's log-mel (Choi et al. 2016)",
    min_input=1,
    pad_to_min="repeat",
    input_length="any length (centred frames: 1 + samples // 256)",
    description="conv 2·257×512 stride 256 (cos/sin) → |·|² → 1×1 conv to mel bands → dB; dsp = exact log-mel",
    weights=("random", "dsp"),
    dsp_init=lambda net: net.init_dsp(),
)
def deepfourier(filters: int) -> DeepFourier:
    return DeepFourier(filters)
