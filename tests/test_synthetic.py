"""The built-in ``synthetic`` dataset: registration, folds, determinism, levels, and that each task's
classes differ only in their intended cue (rhythm: temporal structure; timbre: spectral envelope)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import PredefinedSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rwbench import audio
from rwbench.datamodel import DATASETS
from rwbench.datasets import synthetic
from rwbench.dsp import LogMel, LogMelConfig
from rwbench.errors import DataError, UnknownNameError

SEPARABILITY_CLIPS_PER_CLASS = 24
MAX_LAG_FRAMES = 160  # 3.4 s at hop 256 / 12 kHz: as long as the temporal front-end's longest filter


def load(task: str, **options) -> synthetic.SyntheticDataset:
    """One task of the registered dataset, as the CLI builds it."""
    return DATASETS.get("synthetic").load(None, tasks=[task], **options)[0]


# -- features for the separability checks ----------------------------------------------------------
def log_mel(waves: np.ndarray) -> np.ndarray:
    """``(clips, samples)`` at 12 kHz → the study's log-mel ``(clips, frames, 96)`` in dB."""
    with torch.no_grad():
        return LogMel(LogMelConfig())(torch.from_numpy(waves).unsqueeze(1)).squeeze(1).numpy()


def bag_of_frames(db: np.ndarray) -> np.ndarray:
    """Per-band time mean and std: blind to the order of frames. ``(clips, 192)``."""
    return np.concatenate([db.mean(axis=1), db.std(axis=1)], axis=1)


def energy_autocorrelation(waves: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of the frame energy (dB; Hann frames of 512, hop 256) at lags
    1..MAX_LAG_FRAMES: a tempogram-like summary, blind to the spectrum. ``(clips, MAX_LAG_FRAMES)``."""
    spectrum = torch.stft(torch.from_numpy(waves), 512, 256, window=torch.hann_window(512), return_complex=True)
    curve = 10 * np.log10(spectrum.abs().square().sum(dim=1).double().numpy() + 1e-10)
    curve -= curve.mean(axis=1, keepdims=True)
    power = np.abs(np.fft.rfft(curve, 2 * curve.shape[1])) ** 2
    acf = np.fft.irfft(power)[:, : MAX_LAG_FRAMES + 1]
    return acf[:, 1:] / acf[:, :1]


def cv_accuracy(features: np.ndarray, dataset: synthetic.SyntheticDataset) -> float:
    """Mean accuracy of a standardised logistic regression over the dataset's own folds."""
    folds = PredefinedSplit(np.array([c.fold for c in dataset.clips]))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return float(cross_val_score(model, features, dataset.labels, cv=folds).mean())


@pytest.fixture(scope="module")
def accuracies() -> dict[str, dict[str, float]]:
    """{task: {"chance", "bag_of_frames", "energy_autocorrelation"}} on 24 clips per class."""
    out = {}
    for task in synthetic.TASKS:
        dataset = load(task, n_per_class=SEPARABILITY_CLIPS_PER_CLASS)
        waves = np.stack([dataset.load_audio(c, 12000) for c in dataset.clips])
        out[task] = {
            "chance": 1 / len(dataset.classes),
            "bag_of_frames": cv_accuracy(bag_of_frames(log_mel(waves)), dataset),
            "energy_autocorrelation": cv_accuracy(energy_autocorrelation(waves), dataset),
        }
    return out


# -- registration, clips and folds -----------------------------------------------------------------
def test_registered_without_a_root_with_both_tasks():
    spec = DATASETS.get("synthetic")
    assert spec.tasks == ("rhythm", "timbre") and not spec.needs_root
    datasets = spec.load(None)
    assert [d.task for d in datasets] == ["rhythm", "timbre"]
    for dataset in datasets:
        assert isinstance(dataset, synthetic.SyntheticDataset)
        assert len(dataset.classes) == 5 and len(dataset.clips) == 5 * 30 and dataset.seconds == 6.0


def test_clip_ids_name_task_class_and_index():
    dataset = load("rhythm", n_per_class=7)
    ids = [c.id for c in dataset.clips]
    assert len(set(ids)) == len(ids)
    assert "rhythm/3-4/0006" in ids
    assert all(c.id.split("/")[:2] == ["rhythm", c.label] for c in dataset.clips)


@pytest.mark.parametrize("n_per_class", [5, 12, 30])
def test_folds_are_balanced_per_class(n_per_class):
    dataset = load("timbre", n_per_class=n_per_class)
    for label in dataset.classes:
        folds = np.array([c.fold for c in dataset.clips if c.label == label])
        counts = np.bincount(folds, minlength=synthetic.N_FOLDS + 1)[1:]
        assert counts.max() - counts.min() <= 1 and counts.sum() == n_per_class
    splits = dataset.splits()
    assert len(splits) == synthetic.N_FOLDS
    assert all(len(np.intersect1d(s.train, s.test)) == 0 for s in splits)


@pytest.mark.parametrize(
    "options",
    [{"n_per_class": 4}, {"n_per_class": 7.5}, {"seconds": 0}, {"seconds": "6"}, {"seed": -1}, {"seed": "0"},
     {"sample_rate": 8000}],
)
def test_bad_options_are_refused(options):
    with pytest.raises(DataError, match=next(iter(options))):
        load("rhythm", **options)


def test_unknown_task_is_refused():
    with pytest.raises(UnknownNameError, match="rhythm"):
        synthetic.load_synthetic(None, task="rythm")


# -- audio -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", list(synthetic.TASKS))
@pytest.mark.parametrize("sample_rate", [8000, 12000, 16000, 22050])
def test_audio_length_dtype_and_level(task, sample_rate):
    dataset = load(task, n_per_class=5, seconds=2.5)
    for clip in dataset.clips[::3]:
        wave = dataset.load_audio(clip, sample_rate)
        assert wave.dtype == np.float32 and wave.shape == (round(2.5 * sample_rate),)
        assert np.isfinite(wave).all()
        assert 0.05 < np.abs(wave).max() < 0.9  # audible, never clipped
        assert 20 * np.log10(np.sqrt(np.mean(wave.astype(float) ** 2))) > -45


@pytest.mark.parametrize("task", list(synthetic.TASKS))
def test_same_seed_same_audio_other_seed_other_audio(task):
    first, again, other = load(task, n_per_class=5), load(task, n_per_class=5), load(task, n_per_class=5, seed=1)
    clip = first.clips[7]
    reference = first.load_audio(clip, 12000)
    np.testing.assert_array_equal(reference, first.load_audio(clip, 12000))
    np.testing.assert_array_equal(reference, again.load_audio(again.clips[7], 12000))
    assert not np.allclose(reference, other.load_audio(other.clips[7], 12000))
    assert not np.allclose(reference, first.load_audio(first.clips[8], 12000))


def test_one_clip_is_one_sound_at_every_rate():
    dataset = load("timbre", n_per_class=5)
    clip = dataset.clips[0]
    native = dataset.load_audio(clip, synthetic.NATIVE_RATE)
    back = audio.resample(dataset.load_audio(clip, 12000), 12000, synthetic.NATIVE_RATE)
    core = slice(1000, -1000)  # away from the resampler's edge effects
    assert np.corrcoef(native[core], back[: len(native)][core])[0, 1] > 0.99


def test_fingerprint_follows_the_generator():
    base = load("rhythm", n_per_class=5)
    assert base.fingerprint() == load("rhythm", n_per_class=5).fingerprint()
    assert base.fingerprint_parts()["generator_version"] == synthetic.GENERATOR_VERSION
    others = [load("rhythm", n_per_class=5, seed=1), load("rhythm", n_per_class=6),
              load("rhythm", n_per_class=5, seconds=5), load("timbre", n_per_class=5)]
    assert len({base.fingerprint(), *(d.fingerprint() for d in others)}) == 1 + len(others)


# -- the classes differ only in their intended cue ---------------------------------------------------
def test_metres_rank_downbeats_over_beats_over_other_pulses():
    ranks = {m.name: m.loudness_ranks(np.random.default_rng(3), 60) for m in synthetic.RHYTHM_CLASSES}
    for meter in synthetic.RHYTHM_CLASSES:
        rank = ranks[meter.name]
        np.testing.assert_array_equal(np.sort(rank), np.arange(60))  # a permutation: the same levels for all
        bar = meter.metrical_weights()
        first = -int(np.argmin(rank)) % len(bar)  # the loudest pulse is a downbeat: where the clip enters the bar
        weight = bar[(first + np.arange(60)) % len(bar)]
        assert rank[weight == 2].max() < rank[weight == 1].min()
        assert rank[weight == 1].max() < rank[weight == 0].min()
    assert len({tuple(r) for r in ranks.values()}) == len(ranks)


def test_same_draws_give_every_metre_the_same_spectrum():
    waves = [m.render(np.random.default_rng(5), 6.0) for m in synthetic.RHYTHM_CLASSES]
    spectra = log_mel(np.stack([audio.resample(w, synthetic.NATIVE_RATE, 12000) for w in waves])).mean(axis=1)
    assert np.abs(spectra - spectra.mean(axis=0)).max() < 1.5  # dB: the metre moves levels, not the sound


def test_same_draws_give_every_vowel_the_same_notes_in_time():
    waves = np.stack([v.render(np.random.default_rng(5), 6.0) for v in synthetic.TIMBRE_CLASSES])
    frames = waves[:, : waves.shape[1] // 400 * 400].reshape(len(waves), -1, 400)  # 25 ms frames
    envelopes = 10 * np.log10(np.mean(frames**2, axis=2) + 1e-6)
    assert np.corrcoef(envelopes).min() > 0.99


def test_rhythm_is_in_the_order_of_frames_not_in_their_distribution(accuracies):
    rhythm = accuracies["rhythm"]
    assert rhythm["bag_of_frames"] < rhythm["chance"] + 0.15, rhythm
    assert rhythm["energy_autocorrelation"] > 0.7, rhythm


def test_timbre_is_in_the_spectrum_not_in_the_timing(accuracies):
    timbre = accuracies["timbre"]
    assert timbre["bag_of_frames"] > 0.8, timbre
    assert timbre["energy_autocorrelation"] < timbre["chance"] + 0.15, timbre
