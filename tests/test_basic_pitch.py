"""Basic Pitch: the seeded random twin (nothing downloaded), and the port of basic-pitch 0.4.0's ONNX model against
onnxruntime running that model (the wheel is pip-downloaded once into pytest's cache; skipped when it cannot be).

Measured on this port (float32, CPU), max |port − onnxruntime| over 8 GTZAN clips of 30 s (152 windows): contour
1.3e-6, note 1.3e-6, onset 1.4e-6; cqt 8.3e-7, contour_conv 1.3e-5, note_conv 1.9e-6, onset_conv 1.5e-5 (values up
to 14). On the synthetic windows below (a chord with 5 harmonics per note, white noise, a chirp) every layer is
within 1.5e-5 and the outputs within 1.2e-6.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import shared
from filelock import FileLock

from rwbench import audio
from rwbench.architectures import basic_pitch as bp
from rwbench.frontend import FRONTENDS, Embedder, resolve_weights
from rwbench.weight_packs import WEIGHT_PACKS, WeightsError, fetch, listing, sha256_of

TOLERANCE = 1e-4  # max |port − onnxruntime| for every layer
PACK = WEIGHT_PACKS.get("basic_pitch")
SPEC = FRONTENDS.get("basic_pitch")


def chord(samples: int, seed: int = 0) -> np.ndarray:
    """A C-major-ish chord (5 harmonics per note) entering at 0.3 s, plus a little noise."""
    t = np.arange(samples) / bp.SAMPLE_RATE
    tones = sum(0.2 / k * np.sin(2 * np.pi * f * k * t) for f in (220.0, 277.18, 329.63) for k in range(1, 6))
    noise = 0.01 * np.random.default_rng(seed).standard_normal(samples)
    return (tones * (t > 0.3) + noise).astype(np.float32)


# -- the random twin and the signal processing ---------------------------------------------------------
def test_cqt_constants_are_basic_pitchs():
    """Values read off the published graph: its harmonic-stacking slices and its first bin scales."""
    assert bp.SHIFTS == (-36, 0, 36, 57, 72, 84, 93, 101)
    np.testing.assert_allclose(bp.bin_scale()[:3], [203.08865, 201.14174, 199.21596], rtol=1e-7)
    real, imag = bp.cqt_kernels()
    assert real.shape == imag.shape == (36, 256)
    np.testing.assert_allclose(np.abs(real + 1j * imag).sum(axis=1), 1.0, rtol=1e-5)  # L1-normalised
    assert abs(float(bp.lowpass_filter().sum()) - 1.0) < 1e-3  # unit gain at DC


@pytest.mark.parametrize(("freq", "expected_bin"), [(440.0, 144), (55.0, 36), (3520.0, 252)])
def test_a_tone_peaks_in_its_cqt_bin(freq, expected_bin):
    """Bin k is 27.5 Hz · 2^(k/36): A4 is bin 144, A1 (in the 7th octave down the decimation chain) bin 36."""
    t = np.arange(bp.WINDOW) / bp.SAMPLE_RATE
    window = torch.from_numpy((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32))[None]
    with torch.no_grad():
        cqt = bp.HarmonicCQT()(window)[0]  # (172, 309)
    assert cqt.shape == (bp.WINDOW_FRAMES, bp.N_BINS)
    assert int(cqt[20:150].mean(dim=0).argmax()) == expected_bin
    assert float(cqt.min()) == 0.0 and float(cqt.max()) == 1.0  # min–max normalised over the window


def test_the_cqt_stays_float32_under_autocast():
    window = torch.from_numpy(chord(bp.WINDOW))[None]
    net = bp.HarmonicCQT()
    with torch.no_grad():
        plain = net(window)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = net(window)
    assert auto.dtype == torch.float32 and torch.equal(plain, auto)


def test_the_cqt_has_a_gradient_where_a_window_is_zero_padded_and_the_same_values(monkeypatch):
    """√ of a zero CQT bin (a clip's zero-padded first window) had an infinite derivative: every input gradient
    was NaN, and jacob_cov called basic_pitch undefined on any clip. Clamped, the gradient is finite and the
    forward values are the unclamped ones bit for bit."""
    window = torch.from_numpy(chord(bp.WINDOW))[None].clone()
    window[:, : bp.WINDOW // 2] = 0.0

    def cqt_and_gradient():
        x = window.clone().requires_grad_(True)
        out = bp.HarmonicCQT()(x)
        out.square().sum().backward()
        return out.detach(), x.grad

    clamped, gradient = cqt_and_gradient()
    monkeypatch.setattr(bp, "FLOAT32_TINY", 0.0)
    unclamped, nan_gradient = cqt_and_gradient()
    assert torch.equal(clamped, unclamped)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0 and not torch.isfinite(nan_gradient).all()


def test_harmonic_stack_shifts_each_harmonic():
    cqt = torch.arange(bp.N_BINS, dtype=torch.float32).expand(1, 3, -1)  # each bin holds its index
    stacked = bp.harmonic_stack(cqt)
    assert stacked.shape == (1, 8, 3, bp.CONTOUR_BINS)
    for h, shift in enumerate(bp.SHIFTS):
        expected = torch.arange(bp.CONTOUR_BINS) + shift
        expected[(expected < 0) | (expected >= bp.N_BINS)] = 0  # zeros shifted in
        assert torch.equal(stacked[0, h, 0], expected.float())


@pytest.mark.parametrize("samples", [bp.WINDOW, 3 * bp.SAMPLE_RATE, 100_000])
def test_windows_and_frames_follow_run_inference(samples):
    """Windows of the clip after 3840 zeros, every 36164 samples; 142 frames kept per window, then cut."""
    wave = torch.arange(1, samples + 1, dtype=torch.float32)[None]
    windows = bp.to_windows(wave)
    assert len(windows) == len(range(0, samples + 3840, 36164)) == bp.n_windows(samples)
    padded = torch.cat([torch.zeros(3840), wave[0], torch.zeros(len(windows) * bp.WINDOW)])
    for i, window in enumerate(windows):
        assert torch.equal(window, padded[i * 36164:i * 36164 + bp.WINDOW])
    coded = torch.arange(len(windows) * 172, dtype=torch.float32).reshape(-1, 1, 172, 1)  # window · 172 + frame
    frames = bp.from_windows(coded, 1, samples)[0, 0]
    assert len(frames) == math.floor(samples * 86 / 22050)
    assert frames[:3].tolist() == [15, 16, 17] and frames[142].item() == 172 + 15


@pytest.mark.parametrize("filters", [4, 32])
def test_every_layer_is_framed_with_its_declared_dim(filters):
    samples = 3 * bp.SAMPLE_RATE
    wave = torch.from_numpy(np.stack([chord(samples), chord(samples, seed=1)]))[:, None]
    net = Embedder(SPEC, width=filters, seed=0).net
    with torch.no_grad():
        layers = net(wave)
    dims = SPEC.layer_dims(filters)
    assert [tuple(layer.shape) for layer in layers] == [(2, dims[name], bp.n_frames(samples)) for name in bp.LAYERS]
    assert bp.n_frames(samples) == 258 and dims["note_conv"] == filters * 88
    assert SPEC.dim(filters) == sum(dims.values()) and SPEC.dim(filters, layers=bp.OUTPUTS) == 264 + 88 + 88


def test_random_twin_draws_basic_pitchs_initialiser_from_the_seed():
    """Keras VarianceScaling(2, fan_avg, uniform): U(±sqrt(12 / (fan_in + fan_out))); biases zero, input_bn identity."""
    nets = [Embedder(SPEC, seed=seed).net for seed in (0, 0, 1)]
    assert all(torch.equal(a, b) for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()))
    weight = nets[0].contour_conv.weight.detach()  # (8, 8, 3, 39): fan_in = fan_out = 936
    bound = math.sqrt(12 / (2 * 8 * 3 * 39))
    assert bound * 0.99 < float(weight.abs().max()) <= bound
    assert abs(float(weight.std()) - bound / math.sqrt(3)) < 0.05 * bound
    assert not torch.equal(weight, nets[2].contour_conv.weight)
    assert all(float(m.bias.abs().max()) == 0 for m in nets[0].modules() if isinstance(m, torch.nn.Conv2d))
    assert (float(nets[0].input_bn.weight), float(nets[0].input_bn.bias)) == (1.0, 0.0)
    assert set(nets[0].state_dict()) == {f"{m}.{p}" for m in ("contour_conv", "contour_head", "note_conv", "note_head",
                                                                "onset_conv", "onset_head", "input_bn")
                                         for p in ("weight", "bias")}  # the CQT constants are not weights


def test_missing_onnx_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with zipfile.ZipFile(tmp_path / "empty.whl", "w") as archive:
        with pytest.raises(WeightsError, match=r"needs the onnx package: pip install 'rwbench\[weights\]'"):
            bp.read_wheel(archive, bp.MODEL)


def test_weights_not_installed_name_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match=r"`rwbench weights fetch basic_pitch`.*--from PATH/basic_pitch-0.4.0-py2"):
        resolve_weights(SPEC, bp.TAG)


# -- the published model ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def wheel(request, tmp_path_factory) -> Path:
    """The basic-pitch wheel: from the shared folder, pytest's cache, or pip (``--no-deps``) into that cache."""
    local = Path(__file__).resolve().parents[2] / "shared" / "weights" / PACK.wheel
    if local.is_file():
        return local
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("basic-pitch-wheel") if cache is not None else tmp_path_factory.mktemp("wheel")
    path = folder / PACK.wheel
    with FileLock(folder / f"{PACK.wheel}.lock"):  # xdist workers share the cache: one downloads, the others wait
        if not path.is_file():
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                                   "--disable-pip-version-check", "--timeout", "30", "--retries", "1", "-d", str(folder),
                                   PACK.requirement], capture_output=True, text=True, timeout=600)
            if done.returncode != 0 or not path.is_file():
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                pytest.skip(f"could not pip download {PACK.requirement} ({last}); put {PACK.wheel} in ../shared/weights/")
    return path


@pytest.fixture(scope="session")
def onnx_model(wheel):
    onnx = pytest.importorskip("onnx", reason="the conformance tests need onnx: pip install -e '.[test]'")
    with zipfile.ZipFile(wheel) as archive:
        return onnx.load_model_from_string(archive.read(bp.ONNX_MEMBER))


@pytest.fixture(scope="session")
def session(onnx_model):
    """onnxruntime on the published graph, with the port's intermediate layers added as outputs."""
    ort = pytest.importorskip("onnxruntime", reason="the conformance tests need onnxruntime: pip install -e '.[test]'")
    from onnx import TensorProto, helper, numpy_helper

    model = type(onnx_model)()
    model.CopyFrom(onnx_model)
    graph = model.graph
    shapes = {t.name: numpy_helper.to_array(t).shape for t in graph.initializer}

    def relu_after(weight_shape):
        conv = next(n for n in graph.node if n.op_type == "Conv" and shapes.get(n.input[1]) == weight_shape)
        return next(n for n in graph.node if n.op_type == "Relu" and n.input[0] == conv.output[0]).output[0]

    scale = next(n for n in graph.node if n.op_type == "Mul" and "batch_normalization/" in n.input[1])
    names = {"contour": "StatefulPartitionedCall:0", "note": "StatefulPartitionedCall:1",
             "onset": "StatefulPartitionedCall:2",
             "cqt": next(n for n in graph.node if n.op_type == "Add" and n.input[0] == scale.output[0]).output[0],
             "contour_conv": relu_after((8, 8, 3, 39)), "note_conv": relu_after((32, 1, 7, 7)),
             "onset_conv": relu_after((32, 8, 5, 5))}
    graph.output.extend(helper.make_tensor_value_info(names[k], TensorProto.FLOAT, None) for k in bp.LAYERS[:4])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    run = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    input_name = graph.input[0].name

    def infer(windows: np.ndarray) -> dict[str, np.ndarray]:
        out = dict(zip([o.name for o in run.get_outputs()], run.run(None, {input_name: windows[:, :, None]})))
        return {layer: out[name] for layer, name in names.items()}

    return infer


@pytest.fixture(scope="session")
def basic_pitch_home(wheel, tmp_path_factory) -> Path:
    pytest.importorskip("onnx", reason="converting the model needs onnx: pip install -e '.[test]'")
    home = tmp_path_factory.mktemp("weights")
    fetch("basic_pitch", wheel, home=home)
    return home


@pytest.fixture
def published(basic_pitch_home, monkeypatch) -> Embedder:
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(basic_pitch_home))
    return Embedder(SPEC, weights=bp.TAG)


def as_onnx_layout(name: str, value: torch.Tensor) -> np.ndarray:
    """Port layers ``(N, C, 172, bins)`` in the graph's layout: outputs ``(N, 172, bins)``, the normalised CQT
    ``(N, 172, 309, 1)``, conv maps as they are (NCHW)."""
    v = value.numpy()
    if name in bp.OUTPUTS:
        return v[:, 0]
    return v[:, 0, :, :, None] if name == "cqt" else v


def test_every_layer_matches_onnxruntime(published, session):
    samples = bp.WINDOW
    t = np.arange(samples) / bp.SAMPLE_RATE
    windows = np.stack([chord(samples), 0.1 * np.random.default_rng(1).standard_normal(samples),
                        0.5 * np.sin(2 * np.pi * 1000 * t * (1 + t))]).astype(np.float32)
    reference = session(windows)
    with torch.no_grad():
        ours = published.net.layers(torch.from_numpy(windows))
    errors = {name: float(np.abs(as_onnx_layout(name, ours[name]) - reference[name]).max()) for name in bp.LAYERS}
    assert max(errors.values()) <= TOLERANCE, errors
    assert float(reference["note"].max()) > 0.5  # the chord is transcribed: the comparison is not of near-zeros


def _run_inference_reference(wheel: Path):
    """basic-pitch's own ``get_audio_input`` and ``unwrap_output``, read from the wheel's inference.py (importing
    the module would need TensorFlow or pretty_midi)."""
    import pathlib
    import typing

    import librosa
    import numpy.typing as npt

    with zipfile.ZipFile(wheel) as archive:
        tree = ast.parse(archive.read("basic_pitch/inference.py").decode())
    wanted = {"window_audio_file", "get_audio_input", "unwrap_output"}
    module = ast.Module([n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted], type_ignores=[])
    namespace = {"np": np, "npt": npt, "librosa": librosa, "pathlib": pathlib,
                 **{name: getattr(typing, name) for name in ("Any", "Dict", "Iterable", "List", "Optional", "Tuple",
                                                             "Union")},
                 "AUDIO_SAMPLE_RATE": 22050, "AUDIO_N_SAMPLES": bp.WINDOW, "ANNOTATIONS_FPS": 86, "FFT_HOP": 256}
    exec(compile(module, "basic_pitch/inference.py", "exec"), namespace)
    return namespace["get_audio_input"], namespace["unwrap_output"]


def test_clip_frames_are_basic_pitchs_run_inference(published, session, wheel, tmp_path):
    """A 4.5-s clip (3 windows) through basic-pitch's own windowing, onnxruntime and unwrapping, against the
    front-end's output layers, frame by frame; the pooled embedding is their mean over frames."""
    get_audio_input, unwrap_output = _run_inference_reference(wheel)
    clip = chord(100_000, seed=3)
    path = tmp_path / "clip.wav"
    sf.write(path, clip, bp.SAMPLE_RATE, subtype="FLOAT")
    overlap = 30 * 256
    windows, lengths = [], set()
    for window, _, length in get_audio_input(path, overlap, bp.WINDOW - overlap):
        windows.append(window[0, :, 0])
        lengths.add(length)
    assert lengths == {len(clip)} and len(windows) == 3
    out = session(np.stack(windows))
    reference = {name: unwrap_output(out[name], len(clip), 30) for name in bp.OUTPUTS}
    with torch.no_grad():
        wave = torch.from_numpy(clip)[None]
        layers = dict(zip(bp.LAYERS, published.net(wave[:, None])))
        embedding = published(wave)[0].numpy()
    slices = published.layer_slices()
    for name in bp.OUTPUTS:
        ours = layers[name][0].numpy().T  # (frames, bins)
        assert ours.shape == reference[name].shape == (390, layers[name].shape[1])
        assert float(np.abs(ours - reference[name]).max()) <= TOLERANCE, name
        np.testing.assert_allclose(embedding[slice(*slices[name])], reference[name].mean(axis=0), atol=1e-5)


@pytest.mark.shared_data
def test_a_real_clip_matches_onnxruntime_window_by_window(published, session):
    wave = audio.load(shared("data/gtzan_mini/genres/jazz/jazz.00000.wav"), bp.SAMPLE_RATE)[:10 * bp.SAMPLE_RATE]
    windows = bp.to_windows(torch.from_numpy(wave)[None])
    reference = session(windows.numpy())
    with torch.no_grad():
        ours = published.net.layers(windows)
    errors = {name: float(np.abs(as_onnx_layout(name, ours[name]) - reference[name]).max()) for name in bp.LAYERS}
    assert max(errors.values()) <= TOLERANCE, errors


def test_fetch_installs_the_converted_model_with_its_sha256_and_licence(basic_pitch_home, wheel, tmp_path):
    info = json.loads((basic_pitch_home / "basic_pitch" / "pack.json").read_text())
    assert info["wheel_sha256"] == sha256_of(wheel) == PACK.sha256
    entry = info["files"][bp.MODEL]
    assert sha256_of(basic_pitch_home / "basic_pitch" / entry["file"]) == entry["sha256"]
    row = next(r for r in listing(basic_pitch_home) if r["pack"] == "basic_pitch")
    assert row["licence"] == "Apache-2.0 (basic-pitch 0.4.0, Spotify)" and row["weights"] == bp.TAG
    fetch("basic_pitch", wheel, home=tmp_path)  # converted again: byte-identical
    assert json.loads((tmp_path / "basic_pitch" / "pack.json").read_text())["files"] == info["files"]


def test_a_graph_that_is_not_the_ports_is_refused(onnx_model):
    from onnx import numpy_helper

    def altered(change) -> object:
        model = type(onnx_model)()
        model.CopyFrom(onnx_model)
        change(model.graph)
        return model.graph

    def lowpass(graph):
        tensor = next(t for t in graph.initializer if numpy_helper.to_array(t).shape == (1, 1, 1, 256))
        tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * 1.01, tensor.name))

    def stride(graph):
        node = next(n for n in graph.node if n.op_type == "Conv" and any(a.name == "kernel_shape" and a.ints == [7, 7]
                                                                         for a in n.attribute))
        next(a for a in node.attribute if a.name == "strides").ints[:] = [1, 1]

    with pytest.raises(WeightsError, match="low-pass filter differ from the port's by up to"):
        bp.convert(altered(lowpass))
    with pytest.raises(WeightsError, match="conv note_conv has .* the port strides"):
        bp.convert(altered(stride))
