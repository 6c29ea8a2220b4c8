"""``rwbench plot filters`` and ``rwbench plot mel-target``: the spectra and maps drawn are the weights' own."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib", reason="the figures need the [report] extra: pip install 'rwbench[report]'")

from toy import tone_dataset  # noqa: E402

from rwbench import weight_figures as wf  # noqa: E402
from rwbench.errors import RwbenchError  # noqa: E402
from rwbench.frontend import FRONTENDS  # noqa: E402
from rwbench.pretrain import pretrain, scale_target, target_logmel  # noqa: E402
from rwbench.results import fold_weights_folder  # noqa: E402
from rwbench.train import TrainOptions  # noqa: E402
from rwbench.weight_packs import write_safetensors  # noqa: E402


def panel(name, tag="random", **kw):
    return wf.filter_panel(FRONTENDS.get(name), tag, width="small", seed=0, results_dir=kw.pop("results", None),
                           dataset=kw.pop("dataset", None), fold=kw.pop("fold", None))


def test_each_dsp_stft_kernel_peaks_at_its_frequency():
    spec = FRONTENDS.get("strided_512_512")
    p = panel("strided_512_512", "dsp")
    kernels = wf.waveform_kernels(spec, p.net)
    frequencies = np.repeat(p.net.frequencies(), 2)  # cos/sin pairs
    bin_hz = spec.sample_rate / wf.SPECTRUM_POINTS
    for kernel, hz in zip(kernels, frequencies):
        if np.abs(kernel).max() == 0:  # the sine at 0 Hz (and at Nyquist) is zero
            assert hz in (0, spec.sample_rate / 2)
            continue
        freqs, db, dominant = wf.filter_spectra([kernel], spec.sample_rate)
        assert abs(dominant[0] - hz) <= bin_hz, (hz, dominant[0])
        assert db.max() == 0 and freqs[-1] == spec.sample_rate / 2


def test_spectra_are_sorted_by_dominant_frequency_and_zero_kernels_sit_at_the_floor():
    rng = np.random.default_rng(0)
    tones = [np.cos(2 * np.pi * f * np.arange(256) / 8000) for f in (3000, 500, 1500)]
    freqs, db, dominant = wf.filter_spectra([*tones, np.zeros(256), rng.standard_normal(64)], 8000)
    assert list(dominant) == sorted(dominant)
    assert [round(d, -2) for d in dominant if d in (dominant[dominant > 400])][:3] == [500, 1500, 3000]
    assert np.isneginf(db).all(axis=1).sum() == 1  # the zero kernel: no dB level at all, drawn at the floor


def test_every_waveform_first_layer_is_found():
    """frame_level_many has five parallel first layers (32 … 512 samples): all of them are the first layer."""
    p = panel("frame_level_many")
    kernels = wf.waveform_kernels(p.frontend, p.net)
    convs = [m for m in p.net.modules() if isinstance(m, torch.nn.Conv1d) and m.in_channels == 1]
    assert len(convs) == 5 and len(kernels) == sum(c.out_channels for c in convs)
    assert sorted({len(k) for k in kernels}) == [32, 64, 128, 256, 512]
    first = convs[0].weight[0, 0].detach().double().numpy()
    np.testing.assert_array_equal(kernels[0], first)


def test_a_dilated_kernel_is_plotted_as_the_filter_it_is():
    """A cosine of 1 kHz over taps two samples apart (dilation 2) passes 500 Hz at 8 kHz: the spectrum of the raw taps
    showed 1 kHz. The response is checked against the conv's own output for an impulse."""
    conv = torch.nn.Conv1d(1, 1, 33, dilation=2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.cos(2 * np.pi * 1000 * torch.arange(33) / 8000).view(1, 1, -1))
    spec = FRONTENDS.get("sample_level")
    spec = type(spec)(**{**spec.__dict__, "waveform_filters": None})
    (kernel,) = wf.waveform_kernels(spec, torch.nn.Sequential(conv))
    impulse = torch.zeros(1, 1, 65 + 64)
    impulse[0, 0, 64] = 1
    response = conv(impulse)[0, 0].detach().double().numpy()[::-1]  # a correlation: the kernel reversed
    np.testing.assert_allclose(np.trim_zeros(response), np.trim_zeros(kernel), atol=1e-7)
    _, _, dominant = wf.filter_spectra([kernel], 8000)
    assert abs(dominant[0] - 500) <= 8000 / wf.SPECTRUM_POINTS


@pytest.mark.parametrize(("name", "reads"), [("vgg", "a log-mel spectrogram"), ("mfcc", "no learnable filters")])
def test_front_ends_without_waveform_filters_are_refused_by_name(name, reads):
    p = panel(name)
    with pytest.raises(RwbenchError, match=f"front-end '{name}' reads {reads}: it has no first-layer waveform"):
        wf.filters_figure([p])


def test_trained_weights_are_read_from_the_results_folder(tmp_path):
    """A per-fold weights file is found by dataset, width, seed and fold, and its kernels are the ones drawn."""
    spec = FRONTENDS.get("strided_512_512")
    dsp = panel("strided_512_512", "dsp").net.state_dict()
    folder = fold_weights_folder(tmp_path, "trained", "tones", spec.name, "small", 0)
    write_safetensors(folder / "fold2.safetensors", dsp, {"frontend": spec.name})
    p = panel("strided_512_512", "trained", results=tmp_path)
    assert p.note == "tones, fold2, seed 0, width small"
    assert torch.equal(p.net.state_dict()["conv.weight"], dsp["conv.weight"])
    with pytest.raises(RwbenchError, match=r"no 'trained' weights for fold 'fold9'.*folds present: fold2"):
        panel("strided_512_512", "trained", results=tmp_path, fold="fold9")
    with pytest.raises(RwbenchError, match=r"no 'trained' weights of sample_level .*`rwbench train` first"):
        panel("sample_level", "trained", results=tmp_path)
    fold_weights_folder(tmp_path, "trained", "other", spec.name, "small", 0).mkdir(parents=True)
    with pytest.raises(RwbenchError, match="name the dataset .*other, tones"):
        panel("strided_512_512", "trained", results=tmp_path)


def test_the_figure_has_one_panel_per_front_end_and_tag():
    fig = wf.filters_figure([panel("sample_level"), panel("strided_512_512", "dsp"), panel("strided_512_512")])
    images = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert [ax.get_title() for ax in images] == [f"{name} · {tag}\n(seed 0, width small)" for name, tag in (
        ("sample_level", "random"), ("strided_512_512", "dsp"), ("strided_512_512", "random"))]
    shown = np.asarray(images[1].images[0].get_array())
    assert shown.shape == (wf.SPECTRUM_POINTS // 2 + 1, 320)  # frequency up, filters across


def test_a_pretrained_file_is_titled_as_its_table_rows_are(tmp_path):
    """The path as typed matches no table row once the file changes; ``STEM@SHA8`` names these bytes."""
    from rwbench.filehash import sha256_of

    spec = FRONTENDS.get("sample_level")
    torch.manual_seed(3)
    path = tmp_path / "mine.safetensors"
    write_safetensors(path, spec.build(spec.filters("small")).state_dict(), {})
    shown = panel("sample_level", f"pretrained:{path}")
    assert shown.weights == f"pretrained:mine@{sha256_of(path)[:8]}"


def test_mel_target_compares_the_fold_weights_with_their_random_start(tmp_path):
    spec, dataset = FRONTENDS.get("mst"), tone_dataset()
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, epochs=12, patience=12, batch_size=8, lr=3e-3)
    pretrain("mst", [dataset], [spec], opts)
    data = wf.mel_target(spec, dataset, tmp_path, width="small", seed=0, fold="fold2")
    split = next(s for s in dataset.splits() if s.name == "fold2")
    assert data.fold == "fold2" and data.clip == dataset.clips[int(split.test[0])].id  # a clip training never saw
    learned, start = (np.mean((m - data.target) ** 2) for m in (data.learned, data.random))
    assert learned < 0.7 * start, (learned, start)
    assert data.target.shape == data.learned.shape == data.random.shape and data.target.shape[0] == 60
    assert -1.5 < data.target.min() and data.target.max() < 1.5  # the training target's scaling
    wave = torch.from_numpy(dataset.load_audio(dataset.clips[int(split.test[0])], 22050)).float()
    summary = fold_weights_folder(tmp_path, "mst", dataset.key, "mst", "small", 0) / "fold2.json"
    import json

    expected = scale_target(target_logmel(wave[None]), json.loads(summary.read_text())["target"])[0]
    np.testing.assert_allclose(data.target, expected[:, :data.target.shape[1]].numpy(), atol=1e-5)
    fig = wf.mel_target_figure(data)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:3]] == [
        "target log-mel (scaled)", "mst layer, mst weights", "mst layer, random init"]
    with pytest.raises(RwbenchError, match=r"--clip 999 is not a clip of tones"):
        wf.mel_target(spec, dataset, tmp_path, width="small", seed=0, clip=999)
    assert "seed 0 (the random twin's too), width small" in fig._suptitle.get_text()
    # a clip the fold's weights were trained on was titled "test clip", its MSE read as held out
    trained_on = int(split.train[0])
    with pytest.raises(RwbenchError, match=rf"--clip {trained_on} \({dataset.clips[trained_on].id}\) is on fold2's "
                                           r"training side: pick one of its \d+ test clips"):
        wf.mel_target(spec, dataset, tmp_path, width="small", seed=0, fold="fold2", clip=trained_on)
    # weights a run refuses (trained on other clips or splits) are refused here too
    fewer = tone_dataset(n_per_class=8)
    with pytest.raises(RwbenchError, match=r"was trained on other clips and outer splits of tones than this run's"):
        wf.mel_target(spec, fewer, tmp_path, width="small", seed=0, fold="fold2")


def run_cli(*argv):
    return subprocess.run([sys.executable, "-m", "rwbench.cli", *argv], capture_output=True, text=True)


def test_plot_filters_cli_writes_png_and_svg(tmp_path):
    from matplotlib.image import imread

    out = run_cli("plot", "filters", "sample_level:random", "strided_512_512:dsp", "-o", str(tmp_path / "f.png"))
    assert out.returncode == 0, out.stderr
    image = imread(tmp_path / "f.png")
    assert image.shape[0] > 300 and image.shape[1] > 600 and image.std() > 0.05
    out = run_cli("plot", "filters", "strided_256_256", "-o", str(tmp_path / "f.svg"))  # random and dsp by default
    assert out.returncode == 0, out.stderr
    svg = (tmp_path / "f.svg").read_text()
    assert "strided_256_256 · random" in svg and "strided_256_256 · dsp" in svg


@pytest.mark.parametrize(("argv", "message"), [
    (["filters", "vgg", "-o", "x.png"], "front-end 'vgg' reads a log-mel spectrogram"),
    (["filters", "nosuch", "-o", "x.png"], "unknown front-end 'nosuch'"),
    (["filters", "sample_level", "-o", "x.txt"], "name a .png, .svg, .pdf file"),
    (["filters", "sample_level:dsp", "-o", "x.png"], "front-end 'sample_level' has no 'dsp' weights"),
    (["mel-target", "--frontend", "vgg", "-o", "x.png"], "front-end 'vgg' has no mst weights"),
    # a place that cannot hold the file: a plain error, not the embedding runs' "rerun to resume"
    (["filters", "sample_level", "-o", "/proc/rwbench-none/f.png"], "-o '/proc/rwbench-none/f.png' cannot be written ("),
])
def test_plot_cli_names_bad_input(tmp_path, argv, message):
    out = subprocess.run([sys.executable, "-m", "rwbench.cli", "plot", *argv], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr and "resume" not in out.stderr, out.stderr
    assert not list(tmp_path.iterdir())


def test_plot_mel_target_cli_without_mst_weights_names_the_command(tmp_path):
    out = run_cli("plot", "mel-target", "--dataset", "synthetic", "--tasks", "timbre", "--results", str(tmp_path),
                  "-o", str(tmp_path / "m.png"))
    assert out.returncode == 2 and "make them with `rwbench pretrain mst` first" in out.stderr, out.stderr


@pytest.mark.slow
def test_plot_mel_target_cli_after_pretraining(tmp_path):
    data = ["--dataset", "synthetic", "--tasks", "timbre", "--dataset-option", "n_per_class=5",
            "--dataset-option", "seconds=1", "--results", str(tmp_path)]
    out = run_cli("pretrain", "mst", *data, "--epochs", "2", "-q")
    assert out.returncode == 0, out.stderr
    out = run_cli("plot", "mel-target", *data, "--fold", "fold3", "-o", str(tmp_path / "m.svg"))
    assert out.returncode == 0, out.stderr
    svg = (tmp_path / "m.svg").read_text()
    assert "synthetic/timbre, fold3, test clip" in svg and "mst layer, random init" in svg


def test_declared_waveform_filters_crepe_found_pesto_refused():
    """PESTO convolves a fixed CQT: its one-channel convs ran over CQT bins and were drawn as waveform filters in kHz.
    CREPE's waveform filters are a (512, 1) Conv2d: they were refused."""
    crepe = panel("crepe_tiny")
    kernels = wf.waveform_kernels(crepe.frontend, crepe.net)
    assert len(kernels) == crepe.net.conv1.out_channels and {len(k) for k in kernels} == {512}
    np.testing.assert_array_equal(kernels[0], crepe.net.conv1.weight[0, 0, :, 0].detach().double().numpy())
    pesto = panel("pesto")
    with pytest.raises(RwbenchError, match="front-end 'pesto' convolves a fixed transform of the waveform"):
        wf.waveform_kernels(pesto.frontend, pesto.net)
