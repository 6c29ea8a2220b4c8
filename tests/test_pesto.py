"""The PESTO port (``pesto``): its seeded random twin (no download), and the published ``mir-1k_g7`` model and CQT
against pesto-pitch 2.0.1's own modules and forward (the wheel, fetched once with pip).

Measured on this port (float32, CPU): the CQT kernels are pesto's bit for bit (the same float64 operations in the
same order, then float32), and so are the network input and every layer, conv1 … conv5 and the Toeplitz output,
and the rolled activations of PESTO's forward, at the port's 64-ms hop and at PESTO's own 10 ms (max |diff| 0): the
port runs the same torch operations on the same tensors. The bound, 1e-6, leaves room only for another machine's
kernels summing in another order. The feature layer, the rolled logits, gives those activations through a softmax.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from conftest import result_dicts
from published import installed_home, reference, wheel
from toy import tone_dataset

from rwbench.architectures.pesto import BINS, CROP, HOP, LAYERS, Pesto, _CheckpointUnpickler, cqt_kernels, read_pesto
from rwbench.backends import BACKENDS
from rwbench.frontend import FRONTENDS, Embedder, resolve_weights
from rwbench.pipeline import RunOptions, run
from rwbench.weight_packs import WeightsError, listing, read_state, sha256_of

TOLERANCE = 1e-6  # max |port − pesto| for the input and every layer (see the module docstring)


def clip(seconds: float = 1.0) -> torch.Tensor:
    """Two clips: a voice-like glide (220 → 330 Hz, three harmonics) in noise, and noise alone."""
    t = torch.arange(int(seconds * 16000), dtype=torch.float64) / 16000
    phase = 2 * np.pi * (220 * t + 55 * t**2 / seconds)
    g = torch.Generator().manual_seed(0)
    voice = sum(torch.sin(k * phase) / k for k in (1, 2, 3)) * 0.3 + 0.02 * torch.randn(len(t), generator=g,
                                                                                      dtype=torch.float64)
    return torch.stack([voice, 0.1 * torch.randn(len(t), generator=g, dtype=torch.float64)]).float()


# -- the random twin ---------------------------------------------------------------------------------
def test_layer_shapes_and_parameter_count():
    spec = FRONTENDS.get("pesto")
    assert spec.param_count("small") == 130_461  # 1600 + 2 × 62440 + 1230 + 930 + 310 + 33 + 1040 + 438
    with torch.device("meta"):
        layers = spec.build(40)(torch.empty(2, 1, 5000))
    n = 1 + 5000 // HOP
    channels = (40, 40, 40, 30, 30, 10, 3)
    assert [tuple(x.shape) for x in layers] == [(2, c, n, BINS) for c in channels] + [(2, 384, n)]
    assert spec.layer_dims(40) == {**dict(zip(LAYERS, channels)), "logits": 384}
    assert spec.dim("small") == 193 + 384


def test_the_declared_minimum_is_the_shortest_clip():
    embedder, wave = Embedder(FRONTENDS.get("pesto"), seed=2), clip()
    assert FRONTENDS.get("pesto").min_samples() == 2049 and embedder(wave[:, :2049]).isfinite().all()
    with pytest.raises(RuntimeError, match="[Pp]adding size should be less than"):
        embedder(wave[:, :2048])


def test_the_cqt_has_no_weights_and_is_shared_by_every_seed():
    a, b = (Embedder(FRONTENDS.get("pesto"), seed=s).net for s in (0, 1))
    assert torch.equal(a.cqt.kernels, b.cqt.kernels) and not torch.equal(a.conv1.weight, b.conv1.weight)
    assert not any(k.startswith("cqt.") for k in a.state_dict())
    kernels, lengths = cqt_kernels()
    assert kernels.shape == (251, 4096) and lengths.max() <= 4096 < 2 * lengths.max()
    assert np.allclose(np.abs(kernels).sum(axis=1), 1, atol=1e-5)  # each kernel L1-normalised


def test_the_checkpoint_reader_runs_no_code():
    class RunsCode:
        def __reduce__(self):
            return print, ("unpickling ran code",)

    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        _CheckpointUnpickler(io.BytesIO(pickle.dumps(RunsCode()))).load()


def test_missing_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match=r"'mir1k' weights \(pesto mir-1k_g7\) are not installed.*rwbench weights "
                                           r"fetch pesto.*pesto_pitch-2.0.1-py3-none-any.whl"):
        resolve_weights(FRONTENDS.get("pesto"), "mir1k")
    (row,) = [r for r in listing(tmp_path) if r["pack"] == "pesto"]
    assert (row["frontend"], row["weights"]) == ("pesto", "mir1k") and row["licence"].startswith("LGPL-3.0")


# -- the published model -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pesto_wheel(request):
    return wheel(request.config, "pesto")


@pytest.fixture(scope="module")
def pesto_home(pesto_wheel, tmp_path_factory):
    return installed_home(pesto_wheel, "pesto", tmp_path_factory)


@pytest.fixture(scope="module")
def pesto():
    package = reference("pesto", "pip install --no-deps pesto-pitch==2.0.1 && pip install omegaconf")
    pytest.importorskip("omegaconf", reason="pesto's checkpoint pickles omegaconf objects: pip install omegaconf")
    return package


def ours(pesto_home, hop: int = HOP) -> Pesto:
    net = Pesto(40, hop).eval()
    net.load_state_dict(read_state(pesto_home / "pesto" / "mir-1k_g7.safetensors"))
    return net


def test_the_pack_is_the_checkpoints_encoder_and_shift(pesto_wheel, pesto_home):
    info = json.loads((pesto_home / "pesto" / "pack.json").read_text())
    assert info["wheel_sha256"] == sha256_of(pesto_wheel) and info["licence"].startswith("LGPL-3.0")
    assert info["files"]["mir-1k_g7"]["tag"] == "mir1k"
    state = read_state(pesto_home / "pesto" / "mir-1k_g7.safetensors")
    assert float(state["shift"]) == pytest.approx(6.678, abs=1e-3) and state["layernorm.weight"].shape == (BINS,)


def test_the_first_pesto_model_is_refused_by_name(pesto_wheel):
    """pesto-pitch 2.0.1 itself loads ``mir-1k`` only in part (its keys no longer fit its network)."""
    with zipfile.ZipFile(pesto_wheel) as archive, pytest.raises(WeightsError, match=r"mir-1k is not the network.*"
                                                                                      r"prefilt_kernel_size=15"):
        read_pesto(archive, "mir-1k")


def _package_layers(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """pesto's encoder run block by block with its own modules (eval: dropout off)."""
    enc, out = model.encoder, {}
    h = enc.conv1(enc.layernorm(x))
    out["conv1"] = h
    for i, layer in enumerate(enc.prefilt_layers, start=1):
        h = layer(h) + h
        out[f"prefilt{i}"] = h
    for i in range(4):
        h = enc.conv_layers[3 * i:3 * i + 3](h)
        out[f"conv{i + 2}"] = h
    out["raw"] = enc.fc(enc.flatten(h))
    return out


@pytest.mark.parametrize("step_ms", [1000 * HOP / 16000, 10.0])
def test_input_and_every_layer_match_pesto(pesto, pesto_home, step_ms):
    hop = round(step_ms * 16)
    model = pesto.load_model("mir-1k_g7", step_size=step_ms, sampling_rate=16000)
    net, wave = ours(pesto_home, hop), clip()
    with torch.no_grad():
        x = model.preprocessor(wave, sr=16000).flatten(0, 1)  # (batch · frames, 1, 251) dB
        x = model.crop_cqt(x.mul_(np.log(10) / 10.0))  # as PESTO's forward leaves it for the encoder
        errors = {"input": float((net.cqt(wave[:, None]).flatten(0, 1) - x[:, 0]).abs().max())}
        mine, theirs = net.layers(x), _package_layers(model, x)
        errors |= {name: float((mine[name] - theirs[name]).abs().max()) for name in theirs}
        activations = model(wave, sr=16000)[3]  # (batch, frames, 384), rolled by the calibrated shift
        errors["activations"] = float((net.layers(x)["activations"].unflatten(0, (2, -1)) - activations).abs().max())
        logits = net(wave[:, None])[-1].transpose(1, 2)  # the feature layer: rolled as the activations
        errors["logits"] = float((logits.softmax(dim=-1) - activations).abs().max())
    assert x.shape == (2 * (1 + len(wave[0]) // hop), 1, CROP[1] - CROP[0])
    assert max(errors.values()) <= TOLERANCE, errors


def test_the_published_model_finds_the_pitch_of_a_tone(pesto_home):
    tone = torch.sin(2 * np.pi * 440 * torch.arange(16000) / 16000)[None, None]
    with torch.no_grad():
        logits = ours(pesto_home)(tone)[-1][0]  # (384, frames): bins of 1/3 semitone, MIDI = bin / 3
    assert np.abs(logits.argmax(dim=0).numpy()[2:-2] / 3 - 69).max() <= 1 / 3


def test_random_and_published_rows_run_side_by_side(pesto_home, tmp_path, monkeypatch):
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(pesto_home))
    opts = RunOptions(results_dir=tmp_path / "results", device="cpu", workers=0, weights=["random", "mir1k"])
    log = run([tone_dataset()], [FRONTENDS.get("pesto")], [BACKENDS.get("logreg")], opts)
    assert (log.embedded, log.evaluated) == (2, 2)
    records = {r["frontend"]["weights"]: r["frontend"] for r in result_dicts(opts.results_dir)}
    assert set(records) == {"random", "mir1k"}
    assert records["mir1k"]["weights_sha256"] == sha256_of(pesto_home / "pesto" / "mir-1k_g7.safetensors")
    assert records["random"]["weights_sha256"] is None and records["random"]["seed"] == 0
