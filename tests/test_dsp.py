"""The torch log-mel against librosa, and on signals with known answers."""

import librosa
import numpy as np
import pytest
import torch

from rwbench.dsp import LogMel, LogMelConfig


def reference(y, c: LogMelConfig):
    mel = librosa.feature.melspectrogram(y=y, sr=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length,
                                         n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax, power=c.power)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=c.top_db).T  # (frames, mels)


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(0)
    t = np.arange(3 * 12000) / 12000
    return 0.1 * rng.standard_normal(len(t)) + np.sin(2 * np.pi * 440 * t) * (t < 1.5)


@pytest.mark.parametrize("config", [LogMelConfig(), LogMelConfig(sample_rate=22050, n_fft=1024, hop_length=512,
                                                                  n_mels=60)])
def test_matches_librosa_in_float64_and_float32(clip, config):
    y = clip if config.sample_rate == 12000 else librosa.resample(clip, orig_sr=12000, target_sr=config.sample_rate)
    expected = reference(y, config)
    got64 = LogMel(config)(torch.from_numpy(y)[None, None]).squeeze().numpy()
    got32 = LogMel(config)(torch.from_numpy(y.astype(np.float32))[None, None]).squeeze().numpy()
    assert got64.shape == expected.shape == (config.n_frames(len(y)), config.n_mels)
    np.testing.assert_allclose(got64, expected, atol=1e-6)  # dB
    np.testing.assert_allclose(got32, expected, atol=0.05)


def test_float32_buffers_follow_module_casts(clip):
    """The float32 copies of the window and mel basis serve float32 inputs; after ``.double()`` a
    float32 input falls back to casting the float64 ones, so these casts give the same float32 answer."""
    wave = torch.from_numpy(clip.astype(np.float32))[None, None]
    expected = LogMel()(wave)
    for cast in (lambda m: m.double(), lambda m: m.double().float()):
        torch.testing.assert_close(cast(LogMel())(wave), expected, atol=1e-4, rtol=0)


def test_a_tone_lands_in_its_mel_band():
    config = LogMelConfig()
    t = np.arange(12000) / 12000
    db = LogMel(config)(torch.from_numpy(np.sin(2 * np.pi * 1000 * t))[None, None]).squeeze().numpy()
    centres = librosa.mel_frequencies(n_mels=config.n_mels + 2, fmin=0, fmax=6000)[1:-1]
    assert abs(centres[db.mean(axis=0).argmax()] - 1000) < 60


def test_top_db_floor_is_per_clip_so_batches_do_not_interact(clip):
    loud, quiet = torch.from_numpy(clip)[None], torch.from_numpy(1e-3 * clip)[None]
    m = LogMel()
    together = m(torch.stack([loud, quiet]))
    np.testing.assert_allclose(together[1].numpy(), m(quiet[None])[0].numpy(), atol=1e-9)
    assert together[1].max() < together[0].max() - 50


def test_a_strided_dsp_front_end_stays_finite_in_float16_on_a_loud_clip():
    """``log1p(1e4·x)`` ran in float16 under CPU autocast: any partial above about -26 dBFS overflowed to inf, and
    the embed stage blamed the clip ("not finite"; --skip-bad-audio then dropped 361 of ESC-10's 400)."""
    from rwbench.frontend import FRONTENDS, Embedder

    t = torch.arange(16000) / 16000
    tone = (0.5 * torch.sin(2 * np.pi * 1000 * t))[None]
    spec = FRONTENDS.get("strided_512_256")
    out32, out16 = (Embedder(spec, weights="dsp", precision=p)(tone) for p in ("fp32", "fp16"))
    assert all(torch.isfinite(o).all() for o in out16)
    loudest = out32[0].argmax()  # (quiet bins differ more: float16 sums, then 1e4·x, amplify their rounding)
    assert out16[0].flatten()[loudest].item() == pytest.approx(out32[0].flatten()[loudest].item(), rel=0.02)


@pytest.mark.parametrize(("frontend", "width", "says"), [("mfcc", 200, "200 MFCCs asked of a 128-band log-mel"),
                                                        ("logmel_stats", 300, "leaves")])
def test_a_width_past_what_the_log_mel_holds_is_refused_by_name(frontend, width, says):
    """mfcc's width is its MFCC count: 200 kept the DCT's 128 rows and failed later, blaming the spec (768 features
    made, 1200 declared); logmel_stats at 300 bands built empty mel filters (constant columns) with a warning."""
    from rwbench.errors import RwbenchError
    from rwbench.frontend import FRONTENDS

    spec = FRONTENDS.get(frontend)
    with pytest.raises(RwbenchError, match=says):
        spec.build(width)
