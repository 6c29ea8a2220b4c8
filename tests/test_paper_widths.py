"""Paper-width dims and parameter counts against the reference study (the feature dims its README figure legends give,
jordipons/elmarc; parameters counted by hand from its model code), and the MFCC baseline
against a librosa-based reference.

Parameter counts come from meta-device builds (no memory, no time). The study's table is rounded to 0.01 M, so a
count passes within half a unit (±0.005 M).
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from rwbench.check import synthetic_clips
from rwbench.frontend import FRONTENDS, Embedder, pool

ROUNDING_M = 0.005

# name: (feature dim, params in millions, as the study's table) — front-ends that build what the study counted.
STUDY_TABLE = {
    "vgg": (3585, 18.52),
    "vertical_7x96": (3585, 2.41),
    "vertical_7x86": (3585, 2.16),
    "timbral_temporal": (3584, 0.38),
    "timbral_temporal_short": (3584, 0.30),  # cnn_audio
}
# Single-branch front-ends build only their branch (the study's printed count included both branches).
BRANCH_PARAMS = {"timbral": 0.54, "temporal": 0.22}
PAPER_DIMS = {"timbral": 3584, "temporal": 3584, "temporal_short": 3584, "mfcc": 120, "logmel_stats": 192, "piczak": 320}
SMALL_DIMS = {"vgg": 160, "vertical_7x96": 160, "vertical_7x86": 160, "timbral": 168, "temporal": 168,
              "temporal_short": 168, "timbral_temporal": 170, "timbral_temporal_short": 170, "piczak": 160,
              "mfcc": 120, "logmel_stats": 192}


def _millions(name: str) -> float:
    return FRONTENDS.get(name).param_count("paper") / 1e6


def _meta_dim(name: str, width: str, frames: int = 1376) -> int:
    """Feature dim produced by a meta-device forward of a log-mel front-end (shapes only)."""
    spec = FRONTENDS.get(name)
    with torch.device("meta"):
        net = spec.build(spec.filters(width))
        layers = net(torch.empty(1, 1, frames, spec.logmel.n_mels))
        return sum(pool(layer).shape[1] for layer in layers)


@pytest.mark.parametrize("name", sorted(STUDY_TABLE))
def test_paper_width_matches_the_study_table(name):
    dim, params = STUDY_TABLE[name]
    assert FRONTENDS.get(name).dim("paper") == dim
    assert _meta_dim(name, "paper") == dim
    assert _millions(name) == pytest.approx(params, abs=ROUNDING_M)


def test_single_branches_count_only_their_branch():
    for name, params in BRANCH_PARAMS.items():
        assert _millions(name) == pytest.approx(params, abs=ROUNDING_M)
    # the study's printed counts (both branches built): Timbral/Temporal 0.76 M, Timbral with cnn_audio 0.60 M
    assert _millions("timbral") + _millions("temporal") == pytest.approx(0.76, abs=ROUNDING_M)
    assert _millions("timbral") + _millions("temporal_short") == pytest.approx(0.60, abs=ROUNDING_M)


@pytest.mark.parametrize("name", sorted(PAPER_DIMS))
def test_paper_dims(name):
    spec = FRONTENDS.get(name)
    assert spec.dim("paper") == PAPER_DIMS[name]
    if spec.input_kind == "logmel":
        assert _meta_dim(name, "paper", frames=200) == PAPER_DIMS[name]


@pytest.mark.parametrize("name", sorted(SMALL_DIMS))
def test_small_dims(name):
    assert FRONTENDS.get(name).dim("small") == SMALL_DIMS[name]


def test_piczak_param_count_is_piczaks_two_conv_layers():
    assert FRONTENDS.get("piczak").param_count("paper") == (57 * 6 * 80 + 80) + (3 * 80 * 80 + 80)


# -- the MFCC baseline ---------------------------------------------------------------------------
def librosa_mfcc_baseline(y: np.ndarray, sr: int = 12000) -> np.ndarray:
    """The study's 120-d vector from ``librosa.feature.mfcc`` (defaults of the time), whole clip (not the study's
    2048-sample crop)."""
    m = librosa.feature.mfcc(y=y.astype(np.float64), sr=sr, n_mfcc=20, n_fft=2048, hop_length=512, n_mels=128)
    d1 = np.diff(m, axis=1)
    d2 = np.diff(d1, axis=1)
    return np.concatenate([stat(x, axis=1) for x in (m, d1, d2) for stat in (np.mean, np.std)])


@pytest.mark.parametrize("seconds", [0.2, 3.0])
def test_mfcc_matches_librosa(seconds):
    clips = synthetic_clips(2, int(seconds * 12000), 12000, seed=7)
    ours = Embedder(FRONTENDS.get("mfcc"))(clips).numpy()
    expected = np.stack([librosa_mfcc_baseline(c) for c in clips.numpy()])
    assert ours.shape == (2, 120)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-3)  # measured max |diff| ≈ 5e-6


def test_mfcc_uses_the_whole_clip():
    """The study cropped to 2048 samples; a change after the first 2048 samples must change the vector."""
    clip = synthetic_clips(1, 24000, 12000, seed=3)
    changed = clip.clone()
    changed[:, 12000:] *= 0.1
    net = Embedder(FRONTENDS.get("mfcc"))
    assert not torch.allclose(net(clip), net(changed))


def test_logmel_stats_matches_librosa():
    clip = synthetic_clips(1, 24000, 12000, seed=5)
    db = librosa.power_to_db(
        librosa.feature.melspectrogram(y=clip[0].double().numpy(), sr=12000, n_fft=512, hop_length=256, n_mels=96),
        ref=1.0, amin=1e-10, top_db=80.0,
    )
    expected = np.concatenate([db.mean(axis=1), db.std(axis=1)])
    ours = Embedder(FRONTENDS.get("logmel_stats"))(clip)[0].numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-3)
