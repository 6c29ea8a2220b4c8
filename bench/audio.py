"""Decoding, mono mix-down, resampling and length fixing of clips."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from .errors import DataError

PadMode = Literal["zero", "repeat"]


def load(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode ``path``, mix to mono and resample to ``sample_rate`` with soxr: ``(samples,)`` float32."""
    path = Path(path)
    try:
        audio, native_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise DataError(f"cannot decode {path}: {err}") from err
    if audio.size == 0:
        raise DataError(f"{path} holds no audio samples")
    return resample(audio.mean(axis=1), native_rate, sample_rate)


def resample(audio: np.ndarray, native_rate: int, sample_rate: int) -> np.ndarray:
    if native_rate == sample_rate:
        return np.ascontiguousarray(audio, dtype=np.float32)
    return soxr.resample(audio, native_rate, sample_rate, quality="HQ").astype(np.float32, copy=False)


def fix_length(audio: np.ndarray, n_samples: int, pad: PadMode = "zero") -> np.ndarray:
    """Keep the first ``n_samples``; lengthen a shorter clip with zeros or by tiling it (repeat-pad)."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    if pad == "repeat" and len(audio) > 0:
        return np.tile(audio, -(-n_samples // len(audio)))[:n_samples]
    return np.pad(audio, (0, n_samples - len(audio)))
