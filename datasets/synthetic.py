"""Built-in ``synthetic`` dataset: two generated tasks that separate front-end families, no files.

- ``rhythm`` (like Ballroom): each class is a metre — 2/4, 3/4, 5/8, 6/8, 7/8, the pulse being the
  eighth note — played as an isochronous pulse of one drum sound whose loud and soft hits follow the
  metre. Per clip, the pulse rate, the drum sound (pitch, harmonics vs noise band, decay) and the hit
  levels are drawn from the same distributions for every class; the metre decides only *where* each
  level goes (the loudest hits on downbeats, the next on the other beats). So every class has the same
  onset rate and the same distribution of hit levels: only the order of loud and soft hits in time,
  hence beat (~150 or ~100 BPM) and bar, differs.
- ``timbre``: each class is a vowel's formant envelope (Peterson & Barney 1952, men's means) on
  harmonic notes. Pitch, onsets, durations, loudness, source slope and a vocal-tract scale (men to
  children) are drawn from the same distributions for every class: only the spectral envelope differs.

Every clip is drawn from its own generator seeded with (dataset seed, clip id) — the id names the task
and class — and synthesised at :data:`NATIVE_RATE`, then resampled with soxr: the same clip is the same
sound at every call and every rate. All content lies below :data:`BAND_LIMIT_HZ`, so a 12 kHz log-mel
front-end sees everything a 16 kHz waveform front-end sees. A quiet coloured noise floor keeps the
log-mel off its top-db floor between events; clips open mid-stream (events start :data:`LEAD_IN_S`
early); peaks stay well below full scale (measured: at most 0.71 over 1000 clips of each task). Bump
:data:`GENERATOR_VERSION` whenever the synthesis changes: it is part of the dataset fingerprint, hence
of the embedding cache key.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import overload

import numpy as np

from rwbench import audio
from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.errors import DataError, UnknownNameError
from rwbench.protocol import PredefinedFolds

GENERATOR_VERSION = 1
NATIVE_RATE = 16000
BAND_LIMIT_HZ = 5500.0  # below the Nyquist frequency of the front-ends' lowest rate (12 kHz)
N_FOLDS = 5
# Bounds on the options: a clip list and a clip that fit in memory (and that --dry-run can time in seconds).
MAX_PER_CLASS = 100_000
MAX_SECONDS = 600
PROTOCOL = PredefinedFolds(id="synthetic-5fold-v1", ids_spell_assignment=True)
LEAD_IN_S = 1.0  # events start this long before the clip, so it opens mid-stream
WAVETABLE_SIZE = 4096

# Nuisances shared by every class of a task: (low, high) of a uniform draw per clip unless noted.
NOISE_FLOOR_DBFS = (-62.0, -52.0)  # RMS of the background noise
NOISE_FLOOR_SLOPE_DB_PER_OCT = (-6.0, 0.0)
PULSE_RATE_HZ = (4.6, 5.4)  # rhythm: eighth notes per second
TIMING_JITTER_S = 0.004  # rhythm: std of each onset's deviation from the grid
HIT_PEAK_DBFS = (-8.0, -3.0)  # rhythm: peak level of the loudest possible hit
ACCENT_RANGE_DB = (20.0, 30.0)  # rhythm: hit levels are uniform over this many dB below it
HIT_DECAY_S = (0.04, 0.25)  # rhythm: log-uniform
HIT_PITCH_HZ = (60.0, 1000.0)  # rhythm: log-uniform fundamental of the tonal part
HIT_NOISE_CENTRE_HZ = (200.0, 4000.0)  # rhythm: log-uniform centre of the noise band
HIT_NOISE_WIDTH_OCT = (0.5, 2.5)
HIT_HARMONIC_ROLLOFF = (0.5, 2.0)  # rhythm: harmonic k of the tonal part has amplitude k**-rolloff
HIT_ATTACK_S = 0.002
HIT_DECAYS_KEPT = 6.0  # rhythm: a hit is cut after this many decay constants (at most 1 s)
NOTE_LEVEL_DBFS = (-26.0, -20.0)  # timbre: RMS level of the notes, per clip ...
NOTE_LEVEL_JITTER_DB = 3.0  # ... ± per note
NOTE_PITCH_HZ = (100.0, 400.0)  # timbre: log-uniform per note
NOTE_GAP_S = (0.2, 0.7)  # timbre: time from one onset to the next
NOTE_DURATION_S = (0.15, 0.6)
NOTE_ATTACK_S = (0.01, 0.04)
NOTE_RELEASE_S = 0.05
SOURCE_SLOPE = (0.5, 1.5)  # timbre: harmonic k has amplitude k**-slope before the formants
VOCAL_TRACT_SCALE = (0.8, 1.25)  # timbre: all formants of a clip scaled by one factor ...
FORMANT_JITTER = 0.06  # ... and each by exp(N(0, this))
FORMANT_BANDWIDTHS_HZ = (80.0, 100.0, 120.0)
BANDWIDTH_SCALE = (0.8, 1.25)


# -- signal helpers ------------------------------------------------------------------------------
@overload
def _log_uniform(rng: np.random.Generator, low: float, high: float, size: None = None) -> float: ...
@overload
def _log_uniform(rng: np.random.Generator, low: float, high: float, size: int) -> np.ndarray: ...
def _log_uniform(rng: np.random.Generator, low: float, high: float, size: int | None = None) -> np.ndarray | float:
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _db_to_gain(db: np.ndarray | float) -> np.ndarray:
    return 10.0 ** (np.asarray(db) / 20.0)


def _n_samples(seconds: float) -> int:
    return int(round(seconds * NATIVE_RATE))


def _shaped_noise(rng: np.random.Generator, n_samples: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """White noise filtered by ``gain(freq_hz)`` (zero above the band limit), unit RMS: ``(n_samples,)``."""
    freqs = np.fft.rfftfreq(n_samples, 1.0 / NATIVE_RATE)
    shaped = np.fft.rfft(rng.standard_normal(n_samples)) * gain(freqs) * (freqs < BAND_LIMIT_HZ)
    noise = np.fft.irfft(shaped, n_samples)
    return noise / np.sqrt(np.mean(noise**2))


def _tilt(freqs: np.ndarray, slope_db_per_octave: float) -> np.ndarray:
    """Amplitude gain of a spectral tilt, 1 at 1 kHz (flat below 50 Hz)."""
    return _db_to_gain(slope_db_per_octave * np.log2(np.maximum(freqs, 50.0) / 1000.0))


def _octave_band(freqs: np.ndarray, centre_hz: float, width_octaves: float) -> np.ndarray:
    """Gaussian band-pass on a log-frequency axis: 1 at ``centre_hz``, e^-1/2 at ± half the width."""
    return np.exp(-0.5 * (np.log2(np.maximum(freqs, 1.0) / centre_hz) / (width_octaves / 2)) ** 2)


def _harmonic_wave(f0: float, amplitudes: np.ndarray, phases: np.ndarray, n_samples: int) -> np.ndarray:
    """A periodic wave whose harmonic k+1 has ``amplitudes[k]``, read from a wavetable: unit RMS, ``(n_samples,)``."""
    spectrum = np.zeros(WAVETABLE_SIZE // 2 + 1, dtype=complex)
    spectrum[1 : len(amplitudes) + 1] = amplitudes * np.exp(1j * phases)
    table = np.fft.irfft(spectrum, WAVETABLE_SIZE)
    position = np.arange(n_samples) * (f0 * WAVETABLE_SIZE / NATIVE_RATE) % WAVETABLE_SIZE
    wave = np.interp(position, np.arange(WAVETABLE_SIZE), table, period=WAVETABLE_SIZE)
    return wave / np.sqrt(np.mean(table**2))


def _harmonics(f0: float) -> np.ndarray:
    """Harmonic numbers of ``f0`` below the band limit."""
    return np.arange(1, int(BAND_LIMIT_HZ // f0) + 1)


def _mix(waves: Sequence[np.ndarray], starts_s: np.ndarray, n_samples: int) -> np.ndarray:
    """Add each wave into ``n_samples`` of silence at its start (seconds; earlier than 0 is cut)."""
    out = np.zeros(n_samples)
    for wave, start in zip(waves, np.round(np.asarray(starts_s) * NATIVE_RATE).astype(int)):
        lo, hi = max(start, 0), min(start + len(wave), n_samples)
        if hi > lo:
            out[lo:hi] += wave[lo - start : hi - start]
    return out


def _noise_floor(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """Quiet background noise with a random level and spectral tilt: ``(n_samples,)``."""
    slope = rng.uniform(*NOISE_FLOOR_SLOPE_DB_PER_OCT)
    return _shaped_noise(rng, n_samples, lambda f: _tilt(f, slope)) * _db_to_gain(rng.uniform(*NOISE_FLOOR_DBFS))


# -- rhythm ----------------------------------------------------------------------------------------
def _drum_hit(rng: np.random.Generator) -> np.ndarray:
    """One percussive sound, unit peak: a harmonic tone and a noise band mixed, under an exponential decay."""
    decay = _log_uniform(rng, *HIT_DECAY_S)
    n = _n_samples(min(HIT_DECAYS_KEPT * decay, 1.0))
    f0 = _log_uniform(rng, *HIT_PITCH_HZ)
    k = _harmonics(f0)
    tone = _harmonic_wave(f0, k ** -rng.uniform(*HIT_HARMONIC_ROLLOFF), rng.uniform(0, 2 * np.pi, len(k)), n)
    centre, width = _log_uniform(rng, *HIT_NOISE_CENTRE_HZ), rng.uniform(*HIT_NOISE_WIDTH_OCT)
    noise = _shaped_noise(rng, n, lambda f: _octave_band(f, centre, width))
    tonal = rng.uniform()
    t = np.arange(n) / NATIVE_RATE
    hit = (np.sqrt(tonal) * tone + np.sqrt(1 - tonal) * noise) * (1 - np.exp(-t / HIT_ATTACK_S)) * np.exp(-t / decay)
    return hit / np.abs(hit).max()


@dataclass(frozen=True)
class Meter:
    """A ``rhythm`` class: a bar of beats, each ``beats[i]`` pulses long, on an isochronous pulse.

    At the pulse rate of ~5 Hz a beat of 2 pulses is ~150 BPM and a beat of 3 pulses ~100 BPM.
    """

    name: str
    beats: tuple[int, ...]

    def metrical_weights(self) -> np.ndarray:
        """2 on the downbeat, 1 on the other beats, 0 on the other pulses: ``(pulses_per_bar,)``."""
        weights = np.zeros(sum(self.beats))
        weights[np.cumsum((0,) + self.beats[:-1])] = 1.0
        weights[0] = 2.0
        return weights

    def loudness_ranks(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Rank (0 = loudest) of each of ``count`` pulses from a random place in the bar: downbeats
        outrank beats, beats outrank the other pulses, ties are broken at random. ``(count,)``."""
        pulses_per_bar = sum(self.beats)
        weights = self.metrical_weights()[(rng.integers(pulses_per_bar) + np.arange(count)) % pulses_per_bar]
        ranks = np.empty(count, dtype=int)
        ranks[np.lexsort((rng.uniform(size=count), -weights))] = np.arange(count)
        return ranks

    def render(self, rng: np.random.Generator, seconds: float) -> np.ndarray:
        """One clip at :data:`NATIVE_RATE`: ``(samples,)`` float64. Every draw but the last — which
        pulse gets which level — is the same for every class."""
        rate = rng.uniform(*PULSE_RATE_HZ)
        count = int(np.ceil((seconds + LEAD_IN_S) * rate)) + 1
        starts = -LEAD_IN_S + (rng.uniform() + np.arange(count)) / rate + rng.normal(0, TIMING_JITTER_S, count)
        loudest, level_range = rng.uniform(*HIT_PEAK_DBFS), rng.uniform(*ACCENT_RANGE_DB)
        levels = loudest - np.sort(rng.uniform(0.0, level_range, count))  # loudest first
        hit = _drum_hit(rng)
        n = _n_samples(seconds)
        floor = _noise_floor(rng, n)
        gains = _db_to_gain(levels[self.loudness_ranks(rng, count)])
        return _mix([hit * gain for gain in gains], starts, n) + floor


# -- timbre ----------------------------------------------------------------------------------------
def _formant_gain(freqs: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Amplitude response of cascaded two-pole resonators (Klatt 1980), 1 at 0 Hz."""
    f = np.asarray(freqs)[:, None]
    return np.prod(formants**2 / np.sqrt((formants**2 - f**2) ** 2 + (bandwidths * f) ** 2), axis=1)


def _note_envelope(n_samples: int, attack_s: float) -> np.ndarray:
    """Linear attack, sustain, raised-cosine release over the last :data:`NOTE_RELEASE_S`."""
    t = np.arange(n_samples) / NATIVE_RATE
    to_end = (n_samples - 1) / NATIVE_RATE - t
    release = 0.5 - 0.5 * np.cos(np.pi * np.clip(to_end / NOTE_RELEASE_S, 0.0, 1.0))
    return np.minimum(t / attack_s, 1.0) * release


@dataclass(frozen=True)
class Vowel:
    """A ``timbre`` class: a vowel's first three formants (Hz) shaping harmonic notes."""

    name: str
    formants_hz: tuple[float, float, float]

    def _note(self, rng: np.random.Generator, formants: np.ndarray, bandwidths: np.ndarray, slope: float) -> np.ndarray:
        """One note of random pitch and duration through the clip's formants, unit RMS before its envelope."""
        f0 = float(_log_uniform(rng, *NOTE_PITCH_HZ))
        k = _harmonics(f0)
        amplitudes = k**-slope * _formant_gain(k * f0, formants, bandwidths)
        n = _n_samples(rng.uniform(*NOTE_DURATION_S))
        wave = _harmonic_wave(f0, amplitudes, rng.uniform(0, 2 * np.pi, len(k)), n)
        return wave * _note_envelope(n, rng.uniform(*NOTE_ATTACK_S))

    def render(self, rng: np.random.Generator, seconds: float) -> np.ndarray:
        """One clip at :data:`NATIVE_RATE`: ``(samples,)`` float64. Every draw is the same for every
        class; only the formants they scale differ."""
        scale = rng.uniform(*VOCAL_TRACT_SCALE) * np.exp(rng.normal(0, FORMANT_JITTER, 3))
        formants = np.array(self.formants_hz) * scale
        bandwidths = np.array(FORMANT_BANDWIDTHS_HZ) * rng.uniform(*BANDWIDTH_SCALE)
        slope = rng.uniform(*SOURCE_SLOPE)
        count = int(np.ceil((seconds + LEAD_IN_S) / NOTE_GAP_S[0])) + 1
        starts = -LEAD_IN_S + np.cumsum(rng.uniform(*NOTE_GAP_S, count))
        starts = starts[starts < seconds]
        levels = rng.uniform(*NOTE_LEVEL_DBFS) + rng.uniform(-NOTE_LEVEL_JITTER_DB, NOTE_LEVEL_JITTER_DB, len(starts))
        notes = [self._note(rng, formants, bandwidths, slope) * gain for gain in _db_to_gain(levels)]
        n = _n_samples(seconds)
        return _mix(notes, starts, n) + _noise_floor(rng, n)


RHYTHM_CLASSES = (  # the pulse is the eighth note
    Meter("2-4", (2, 2)),
    Meter("3-4", (2, 2, 2)),
    Meter("5-8", (3, 2)),
    Meter("6-8", (3, 3)),
    Meter("7-8", (2, 2, 3)),
)
TIMBRE_CLASSES = (
    Vowel("vowel-i", (270.0, 2290.0, 3010.0)),
    Vowel("vowel-e", (530.0, 1840.0, 2480.0)),
    Vowel("vowel-a", (730.0, 1090.0, 2440.0)),
    Vowel("vowel-o", (570.0, 840.0, 2410.0)),
    Vowel("vowel-u", (300.0, 870.0, 2240.0)),
)
TASKS: dict[str, tuple[Meter, ...] | tuple[Vowel, ...]] = {"rhythm": RHYTHM_CLASSES, "timbre": TIMBRE_CLASSES}


# -- dataset ---------------------------------------------------------------------------------------
def _clip_rng(seed: int, clip_id: str) -> np.random.Generator:
    """The generator of one clip: seeded by the dataset seed and a stable hash of the clip id."""
    id_hash = int.from_bytes(hashlib.sha256(clip_id.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, id_hash])


@dataclass
class SyntheticDataset(Dataset):
    """A generated task: :meth:`load_audio` synthesises each clip from (``seed``, clip id)."""

    seed: int = 0

    def _sounds(self) -> tuple[Meter, ...] | tuple[Vowel, ...]:
        """The task's classes."""
        if self.task is None:
            raise DataError(f"{self.name}: a synthetic dataset is one of its tasks ({', '.join(TASKS)})")
        return TASKS[self.task]

    def load_audio(self, clip: Clip, sample_rate: int) -> np.ndarray:
        """The clip at ``sample_rate``: mono float32, exactly ``seconds`` long."""
        sound = {c.name: c for c in self._sounds()}[clip.label]
        wave = sound.render(_clip_rng(self.seed, clip.id), self.seconds)
        return audio.fix_length(audio.resample(wave, NATIVE_RATE, sample_rate), round(self.seconds * sample_rate))

    def fingerprint_parts(self) -> dict:
        """The generator (version, seed, length, class table) and the clip list stand in for files."""
        return {
            "name": self.name, "task": self.task, "generator_version": GENERATOR_VERSION, "seed": self.seed,
            "seconds": self.seconds, "native_rate": NATIVE_RATE, "classes": [asdict(c) for c in self._sounds()],
            "clips": [[c.id, c.label, c.fold] for c in self.clips],
        }


def _check_options(task: str | None, seed: object, n_per_class: object, seconds: object, unknown: dict) -> None:
    if unknown:
        raise DataError(f"synthetic has no option {', '.join(map(repr, unknown))}; it takes seed, n_per_class, seconds")
    if task not in TASKS:
        raise UnknownNameError("task of synthetic", str(task), list(TASKS))
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"synthetic: seed must be an integer >= 0, got {seed!r}")
    if not isinstance(n_per_class, numbers.Integral) or not N_FOLDS <= int(n_per_class) <= MAX_PER_CLASS:
        raise DataError(f"synthetic: n_per_class must be an integer from {N_FOLDS} (a clip of each class in every "
                        f"fold) to {MAX_PER_CLASS}, got {n_per_class!r}")
    if not isinstance(seconds, numbers.Real) or not 0 < float(seconds) <= MAX_SECONDS:
        raise DataError(f"synthetic: seconds must be a positive number of seconds up to {MAX_SECONDS} (longer "
                        f"recordings belong in a folder dataset), got {seconds!r}")
    if _n_samples(float(seconds)) < 2:
        raise DataError(f"synthetic: seconds={seconds!r} is shorter than two samples at {NATIVE_RATE} Hz")


@register_dataset(
    name="synthetic",
    tasks=("rhythm", "timbre"),
    needs_root=False,
    description="generated on the fly, no files: 'rhythm' (5 metres; drum sound, pulse rate and loudness random) "
    "and 'timbre' (5 vowel envelopes; pitch, onsets, durations and loudness random); 30 clips of 6 s per class",
    protocol=f"{N_FOLDS} fixed folds ({PROTOCOL.id}), balanced per class: "
    f"clip i of each class is in fold i mod {N_FOLDS} + 1",
    source="rwbench built-in generator (datasets/synthetic.py)",
)
def load_synthetic(
    root: Path | None = None, *, task: str, seed: int = 0, n_per_class: int = 30, seconds: float = 6.0, **unknown
) -> SyntheticDataset:
    """The ``synthetic`` task ``task``: ``n_per_class`` clips of ``seconds`` per class, drawn from ``seed``.
    ``root`` is ignored: nothing is read from disk."""
    _check_options(task, seed, n_per_class, seconds, unknown)
    clips = [
        Clip(id=f"{task}/{sound.name}/{i:04d}", label=sound.name, fold=i % N_FOLDS + 1)
        for sound in TASKS[task]
        for i in range(n_per_class)
    ]
    return SyntheticDataset(
        name="synthetic", task=task, clips=clips, protocol=PROTOCOL, seconds=float(seconds), seed=int(seed)
    )
