"""Waveform front-ends: declared dims and parameter counts, the fix of the study's collapsed backend features, length
rules and the DSP initialisations."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch

from rwbench.architectures.deepfourier import DeepFourier
from rwbench.architectures.frame_level import tf_same_pad
from rwbench.architectures.samplecnn import SEGMENT, to_segments
from rwbench.architectures.strided import SETTINGS, StridedConv
from rwbench.dsp import LogMel
from rwbench.errors import RwbenchError
from rwbench.frontend import FRONTENDS, Embedder, resolve_weights

STRIDED = [f"strided_{length}_{stride}" for length, stride in SETTINGS]
MINE = ["sample_level", "samplecnn", "rese2_multi", "frame_level", "frame_level_many", "mst", "heurinet",
        "deepfourier", *STRIDED]


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k + (cout if bias else 0)


def rese2_params(nf: int) -> int:
    widths = [nf, nf, nf, *[2 * nf] * 6, 4 * nf]
    total = conv(1, nf, 3) + 2 * nf
    for cin, cout in zip(widths, widths[1:]):
        total += conv(cin, cout, 3) + conv(cout, cout, 3) + 4 * cout  # two convs, two BN
        total += conv(cout, 16 * cout, 1) + conv(16 * cout, cout, 1)  # squeeze-excitation dense layers
        total += conv(cin, cout, 1) + 2 * cout if cin != cout else 0  # projection shortcut + BN
    return total


# name: (dim small, dim paper, params paper). Study rows (dims from the figure legends of the jordipons/elmarc
# README, parameters counted from its code) are quoted in millions;
# the others are counted by hand from each module's layer list, independently of the code.
EXPECTED = {
    "sample_level": (161, 3584, 4.72e6),
    "frame_level": (160, 3584, 17.32e6),
    "frame_level_many": (160, 3584, 10.28e6),
    "samplecnn": (161, 2944, conv(1, 128, 3) + 256 + 2 * conv(128, 128, 3) + conv(128, 256, 3) + 5 * conv(256, 256, 3)
                  + conv(256, 512, 3) + 2 * (2304) + conv(512, 512, 1) + 1024),
    "rese2_multi": (160, 1024, rese2_params(128)),
    "mst": (156, 828, conv(1, 512, 1024) + conv(512, 256, 3) + conv(256, 60, 3) + 2 * (512 + 256 + 60)),
    "heurinet": (140, 140, conv(1, 80, 155) + conv(80, 60, 15)),
    "deepfourier": (96, 96, conv(1, 514, 512, bias=False) + conv(257, 96, 1, bias=False)),
    **{f"strided_{length}_{stride}": (160, 3584, conv(1, 7168, length)) for length, stride in SETTINGS},
}
STUDY = {"sample_level", "frame_level", "frame_level_many"}


def built(name: str, width: str | int = "small", weights: str | None = "random", seed: int = 0) -> torch.nn.Module:
    """The front-end's network in eval mode; ``weights=None`` keeps torch's default init (shape checks only)."""
    spec = FRONTENDS.get(name)
    net = spec.build(spec.filters(width))
    if weights is not None:
        resolve_weights(spec, weights, seed).apply(net, spec)
    return net.eval()


def tone(freq: float, sample_rate: int, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    return 0.5 * torch.sin(2 * math.pi * freq * t)


# -- declared metadata -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", MINE)
def test_declared_dims_and_param_counts(name):
    spec = FRONTENDS.get(name)
    small, paper, params = EXPECTED[name]
    assert (spec.dim("small"), spec.dim("paper")) == (small, paper)
    if name in STUDY:
        assert spec.param_count("paper") == pytest.approx(params, abs=0.01e6)
    else:
        assert spec.param_count("paper") == params


@pytest.mark.parametrize("name", MINE)
def test_paper_width_output_matches_declared_layers(name):
    spec = FRONTENDS.get(name)
    net = built(name, "paper", weights=None)
    with torch.no_grad():
        layers = net(torch.randn(1, 1, spec.min_samples(), generator=torch.Generator().manual_seed(0)))
    assert len(layers) == len(spec.feature_layers)
    assert sum(layer.shape[1] for layer in layers) == spec.dim("paper")


@pytest.mark.parametrize("name", MINE)
def test_min_input_is_the_shortest_that_works(name):
    spec = FRONTENDS.get(name)
    net = built(name)
    with torch.no_grad():
        assert all(layer.shape[-1] >= 1 for layer in net(torch.randn(1, 1, spec.min_samples())))
        if spec.min_samples() > 1:
            try:
                layers = net(torch.randn(1, 1, spec.min_samples() - 1))
            except (RuntimeError, RwbenchError):
                return
            assert any(layer.shape[-1] == 0 for layer in layers)


def test_init_follows_each_source():
    inits = {name: FRONTENDS.get(name).init for name in MINE}
    assert inits["mst"] == "xavier_uniform"
    assert inits["samplecnn"] == inits["rese2_multi"] == "he_uniform"
    assert inits["sample_level"] == inits["frame_level"] == "he_normal"  # the study's TF1 variance scaling


# -- frame-level: the study's collapsed backend fixed --------------------------------------------------------
def _varied_clips(sample_rate: int, n: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    t = torch.arange(2 * sample_rate) / sample_rate
    return torch.stack([
        0.3 * torch.sin(2 * math.pi * 110 * 2 ** (0.9 * i) * t) * (1 + 0.5 * torch.sin(2 * math.pi * (i + 1) * t))
        + 0.02 * (i + 1) * torch.randn(len(t), generator=g)
        for i in range(n)
    ])


@pytest.mark.parametrize("name,fronts", [("frame_level", 1), ("frame_level_many", 5)])
def test_backend_channels_are_kept_and_vary_across_clips(name, fronts):
    spec = FRONTENDS.get(name)
    nf = spec.filters("small")
    features = Embedder(spec, seed=0)(_varied_clips(spec.sample_rate))
    assert features.shape[1] == fronts * nf + 3 * nf
    backend = features[:, fronts * nf :].reshape(len(features), 3, nf)  # c1, res2, res3
    assert (backend.std(dim=0) > 0).all(), "a backend channel is constant across clips"
    assert (backend.std(dim=2) > 0).all(), "a backend layer collapsed to one value per clip (the study's bug)"


def test_frame_level_many_fronts_are_tf_same():
    net = built("frame_level_many")
    with torch.no_grad():
        layers = net(torch.randn(1, 1, 1000))
    assert [layer.shape[-1] for layer in layers[:5]] == [math.ceil(1000 / 32)] * 5
    assert tf_same_pad(torch.zeros(1, 1, 51200), 1024, 512).shape[-1] == 51200 + 512  # MSTmodel: 100 frames
    assert built("mst")(torch.zeros(1, 1, 51200))[0].shape[-1] == 100


# -- SampleCNN family: windows and batch norm ------------------------------------------------------
def test_segments_cover_the_clip_evenly():
    wave = torch.arange(2 * SEGMENT + 100, dtype=torch.float32).view(1, 1, -1)
    windows, count = to_segments(wave)
    assert count == 3 and windows.shape == (3, 1, SEGMENT)
    assert windows[0, 0, 0] == 0 and windows[-1, 0, -1] == wave[0, 0, -1]
    assert to_segments(wave[..., :SEGMENT])[1] == 1
    with pytest.raises(RwbenchError):
        to_segments(wave[..., : SEGMENT - 1])


def test_samplecnn_averages_windows_and_is_batch_independent():
    spec = FRONTENDS.get("samplecnn")
    embedder = Embedder(spec, seed=1)
    g = torch.Generator().manual_seed(0)
    clip = 0.1 * torch.randn(1, SEGMENT, generator=g)
    one = embedder(clip)
    torch.testing.assert_close(embedder(clip.repeat(1, 2)), one, rtol=1e-5, atol=1e-6)  # two equal windows
    batch = torch.cat([clip, 0.1 * torch.randn(2, SEGMENT, generator=g)])
    torch.testing.assert_close(embedder(batch)[:1], one, rtol=1e-5, atol=1e-6)  # BN uses no batch statistics


def test_rese2_multi_returns_one_max_per_window():
    net = built("rese2_multi")
    clip = 0.1 * torch.randn(1, 1, 2 * SEGMENT, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layers = net(clip)
        first = net(clip[..., :SEGMENT])
    assert [tuple(layer.shape) for layer in layers] == [(1, 40, 2), (1, 40, 2), (1, 80, 2)]
    for whole, window in zip(layers, first):
        torch.testing.assert_close(whole[..., :1], window)


# -- DSP initialisations -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def waves() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    noise = 0.1 * torch.randn(48000, generator=g, dtype=torch.float64)
    return torch.stack([noise, tone(440, 12000, 4.0) + 0.1 * noise, tone(2500, 12000, 4.0) * noise.sign()]).unsqueeze(1)


def test_deepfourier_dsp_reproduces_librosa_in_float64(waves):
    net = DeepFourier(96).double()
    net.init_dsp()
    with torch.no_grad():
        ours = net(waves)[0].numpy()
    for item, wave in zip(ours, waves[:, 0].numpy()):
        mel = librosa.feature.melspectrogram(y=wave, sr=12000, n_fft=512, hop_length=256, n_mels=96,
                                             pad_mode="constant")
        ref = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80)
        assert np.abs(item - ref).max() < 1e-6


def test_deepfourier_dsp_matches_logmel_in_float32(waves):
    embedder = Embedder(FRONTENDS.get("deepfourier"), weights="dsp")
    x = waves.float()
    with torch.no_grad():
        ours = embedder.net(x)[0]
        ref = LogMel()(x).squeeze(1).transpose(1, 2)
    assert ours.shape == ref.shape == (3, 96, 188)
    assert (ours - ref).abs().max() < 0.01  # dB, everywhere; measured 4e-4 … 2e-3
    torch.testing.assert_close(embedder(x[:, 0]), ref.mean(dim=2), rtol=0, atol=0.01)


def test_deepfourier_random_weights_have_the_same_shapes(waves):
    spec = FRONTENDS.get("deepfourier")
    dsp, rand = Embedder(spec, weights="dsp"), Embedder(spec, weights="random", seed=0)
    assert [p.shape for p in dsp.net.parameters()] == [p.shape for p in rand.net.parameters()]
    out = rand(waves[:, 0].float())
    assert out.shape == (3, 96) and torch.isfinite(out).all()
    assert not torch.allclose(out, dsp(waves[:, 0].float()), atol=1.0)


@pytest.mark.parametrize("length,stride", [(256, 256), (512, 256)])
def test_strided_dsp_is_an_stft_magnitude(length, stride):
    net = StridedConv(length + 2, length=length, stride=stride, log_c=None).double()
    net.init_dsp()
    wave = torch.randn(2, 1, 8 * length, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = torch.stft(wave[:, 0], n_fft=length, hop_length=stride, window=torch.hann_window(length, dtype=torch.float64),
                     center=False, return_complex=True).abs()
    with torch.no_grad():
        torch.testing.assert_close(net(wave)[0], ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", STRIDED)
@pytest.mark.parametrize("freq", [440.0, 1000.0, 5000.0])
def test_strided_dsp_puts_a_tone_in_its_filter(name, freq):
    spec = FRONTENDS.get(name)
    embedder = Embedder(spec, weights="dsp")
    features = embedder(tone(freq, spec.sample_rate).float().unsqueeze(0))[0]
    peak = embedder.net.frequencies()[int(features.argmax())]
    spacing = spec.sample_rate / 2 / (features.numel() - 1)
    assert abs(peak - freq) <= spacing / 2 + 1e-6


def test_l2_pooling_is_the_norm_of_each_pair_with_a_finite_gradient_at_zero():
    from rwbench.architectures.strided import l2_pool

    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(0))  # (batch, frames, channels)
    x[0, 1, 2:4] = 0.0  # one pair exactly zero
    x.requires_grad_(True)
    out = l2_pool(x, 2)
    torch.testing.assert_close(out, torch.linalg.vector_norm(x.unflatten(-1, (-1, 2)), dim=-1))
    assert out[0, 1, 1] == 0
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[0, 1, 2:4] == 0).all()


@pytest.mark.parametrize("length, stride", [(256, 256), (1024, 512), (7, 3)])
def test_framed_conv_is_conv1d(length, stride):
    from rwbench.architectures.strided import FramedConv1d

    framed = FramedConv1d(1, 6, length, stride=stride)
    plain = torch.nn.Conv1d(1, 6, length, stride=stride)
    plain.load_state_dict(framed.state_dict())
    wave = torch.randn(3, 1, 4000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(framed(wave).transpose(1, 2), plain(wave), rtol=1e-4, atol=1e-5)
