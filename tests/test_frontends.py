"""Every registered front-end's declared metadata against its behaviour (``rwbench.check``), at small width.

Also: the checker itself catches broken specs, and family-specific facts (shapes, axes, padding) of the log-mel
front-ends.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rwbench.architectures.musically_motivated import pad_time_with_floor
from rwbench.check import check_frontend
from rwbench.dsp import LogMelConfig
from rwbench.frontend import FRONTENDS, Embedder, FrontendSpec
from rwbench.macs import count_macs

SECONDS = 0.5  # raised to each spec's minimum by check_frontend (vgg: 1280 frames ≈ 27.3 s)
CHECKS = {"clip_length", "feature_layers", "dim", "finite", "silence", "input_dependent", "whole_clip", "stateless",
          "same_seed", "other_process", "other_seed", "batch_size", "param_count", "min_input", "odd_lengths", "cpu_cuda"}
DSP_CHECKS = {"finite[dsp]", "silence[dsp]", "input_dependent[dsp]", "batch_size[dsp]"}  # per file-less tag


def _failures(results) -> list[str]:
    return [f"{r.name}: {r.detail}" for r in results if not r.passed]


@pytest.mark.parametrize("name", FRONTENDS.names())
def test_declared_metadata_matches_behaviour(name):
    spec = FRONTENDS.get(name)
    results = check_frontend(spec, "small", seconds=SECONDS)
    assert {r.name for r in results} == CHECKS | (DSP_CHECKS if "dsp" in spec.weights else set())
    assert not _failures(results), "\n".join(_failures(results))
    cuda = next(r for r in results if r.name == "cpu_cuda")
    assert cuda.skipped is (not torch.cuda.is_available())


@pytest.mark.parametrize("name", FRONTENDS.names())
def test_macs_are_counted(name):
    spec = FRONTENDS.get(name)
    macs = count_macs(spec, "small")
    assert macs > 0
    if spec.is_learnable() and spec.widths["paper"] > spec.widths["small"]:
        assert count_macs(spec, "paper") > macs


def test_a_functional_convolution_is_counted():
    """The CQTs of pesto and basic_pitch are F.conv1d calls with fixed kernels, not modules: counted now (7–8 % of
    their MACs were missing), as by hand: output positions × output channels × kernel."""
    import torch.nn.functional as F

    from rwbench.macs import _count

    wave, kernels = torch.empty(1, 1, 1000, device="meta"), torch.empty(8, 1, 16, device="meta")
    assert _count(lambda: F.conv1d(wave, kernels, stride=4)) == ((1000 - 16) // 4 + 1) * 8 * 16


# -- the checker catches broken specs ------------------------------------------------------------
class Toy(nn.Module):
    """Waveform ``(batch, 1, samples)`` → ``[conv]``; ``mode`` breaks one property on purpose."""

    def __init__(self, filters: int, mode: str = "ok") -> None:
        super().__init__()
        self.mode = mode
        self.conv = nn.Conv1d(1, filters, 16, stride=8)
        if mode == "unseeded":
            # numpy's global generator: the seed reaches torch's (the build runs under it), not numpy's
            self.extra = nn.Parameter(torch.from_numpy(np.random.randn(filters, filters)).float())
        if mode == "seed_ignored":
            self.extra = nn.Parameter(torch.ones(filters, filters))
        if mode == "band_edges":  # learnable, starting where the design puts them (SincNet's mel-spaced edges)
            self.edges = nn.Parameter(torch.linspace(0.1, 0.9, filters))
        if mode in ("fixed_buffer", "buffer_only"):  # a random projection kept as a buffer
            generator = torch.Generator().manual_seed(0) if mode == "fixed_buffer" else None
            self.register_buffer("proj", torch.randn(filters, filters, generator=generator))
        if mode == "lazy_buffer":  # an ActNorm's data-dependent start, kept in the state dict
            self.register_buffer("shift", torch.zeros(1))
            self.register_buffer("started", torch.zeros((), dtype=torch.bool))
        self.lazy_shift = None  # ``lazy_attribute``: the same, kept outside it

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.mode == "batch_peak":  # a loud power layer beside one of the input scaled by the batch's peak
            return [torch.relu(self.conv(x)) ** 2 * 1e5, torch.relu(self.conv(x / x.abs().amax().clamp_min(1e-8)))]
        if self.mode == "crop":  # reads the first 64 samples of any clip
            x = x[..., :64]
        if self.mode == "crop_3s":  # reads the first 3 s: the whole of a short check clip
            x = x[..., :24000]
        if self.mode == "silence_nan":  # normalised by the clip's own spread: 0/0 on silence
            x = x / x.std(dim=-1, keepdim=True)
        y = torch.relu(self.conv(x))
        if self.mode == "lazy_buffer" and not self.started:
            self.shift.copy_(y.mean().detach().reshape(1))
            self.started.fill_(True)
        if self.mode == "lazy_attribute" and self.lazy_shift is None:
            self.lazy_shift = y.mean().detach()
        if self.mode in ("lazy_buffer", "lazy_attribute"):
            y = y - (self.shift if self.mode == "lazy_buffer" else self.lazy_shift)
        if self.mode == "parity":  # a skip connection that needs an odd frame count
            y = y[..., 0::2] + nn.functional.pad(y[..., 1::2], (0, 1))
        if self.mode == "band_edges":
            y = y * self.edges[:, None]
        if self.mode in ("fixed_buffer", "buffer_only"):
            y = torch.einsum("fg,bgt->bft", self.proj, y)
        if self.mode == "batch_norm":
            y = y - y.mean(dim=0, keepdim=True)  # depends on the other clips of the batch
        if self.mode == "non_finite":
            y = torch.log(y * 0)
        if self.mode == "nan":  # NaN is the finite check's alone: not a seed's or a batch's fault
            y = y * float("nan")
        if self.mode == "constant":  # ignores its input: every clip the same embedding
            y = y * 0 + 1
        if self.mode == "unseeded":
            y = y + self.extra.sum()
        return [y, y] if self.mode == "two_layers" else [y]


def toy_spec(mode: str = "ok", **overrides) -> FrontendSpec:
    fields = dict(name=f"toy_{mode}", build=lambda nf: Toy(nf, mode), input_kind="waveform", sample_rate=8000,
                  widths={"small": 4, "paper": 8}, feature_dim=lambda nf: nf, feature_layers=("conv",), source="test",
                  min_input=16)
    return FrontendSpec(**{**fields, **overrides})


def _failed(spec: FrontendSpec, **kwargs) -> set[str]:
    return {r.name for r in check_frontend(spec, "small", seconds=0.05, **kwargs) if not r.passed}


def test_checker_passes_a_correct_spec():
    assert _failed(toy_spec()) == set()


def test_a_layer_normalised_over_the_batch_fails_beside_a_loud_one():
    """The tolerance was scaled by the largest value of the whole embedding: a power layer of large values hid a
    layer normalised by the batch's peak (11 % off when embedded alone), and the check's clips were equally loud."""
    spec = toy_spec("batch_peak", feature_layers=("power", "conv"), feature_dim=lambda nf: 2 * nf)
    assert "batch_size" in _failed(spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (toy_spec(feature_dim=lambda nf: nf + 1), {"dim", "min_input", "odd_lengths"}),
        (toy_spec("two_layers"), {"feature_layers", "dim", "min_input", "odd_lengths"}),
        (toy_spec("non_finite"), {"finite", "silence", "min_input", "odd_lengths"}),
        (toy_spec("nan"), {"finite", "silence", "min_input", "odd_lengths"}),
        (toy_spec("constant"), {"input_dependent", "whole_clip"}),
        (toy_spec("batch_norm"), {"batch_size", "whole_clip"}),  # alone in its batch, a clip embeds to zeros
        (toy_spec("unseeded"), {"same_seed"}),
        (toy_spec("seed_ignored"), {"other_seed"}),
        (toy_spec(min_input=8), {"min_input", "odd_lengths"}),  # the conv needs 16 samples
        (toy_spec("crop"), {"whole_clip"}),
        (toy_spec("crop_3s"), {"whole_clip"}),  # passed: the check's 1-s clip was all it read
        (toy_spec("silence_nan"), {"silence"}),
        (toy_spec(weights=("random", "dsp"), dsp_init=lambda net: nn.init.zeros_(net.conv.weight)),
         {"input_dependent[dsp]"}),
        # a DSP initialisation that normalises by the clip's spread: 0/0 on silence under it alone (unchecked before)
        (toy_spec(weights=("random", "dsp"), dsp_init=lambda net: setattr(net, "mode", "silence_nan")),
         {"silence[dsp]"}),
        # data-dependent starts: the embeddings depend on what was embedded first, which no cache key holds
        (toy_spec("lazy_buffer"), {"stateless", "same_seed"}),
        (toy_spec("lazy_attribute"), {"stateless"}),  # every other check passed
        (toy_spec("parity"), {"odd_lengths"}),  # the check's round lengths happen to give odd frame counts
    ],
    ids=["dim", "layers", "non_finite", "nan", "constant", "batch", "unseeded", "seed_ignored", "min_input", "crop",
         "crop_3s", "silence_nan", "dsp_dead", "dsp_silence_nan", "lazy_buffer", "lazy_attribute", "parity"],
)
def test_checker_catches(spec, expected):
    assert _failed(spec) == expected


HASHED_PLUGIN = """
import torch
from torch import nn
from rwbench.frontend import register_frontend


class Hashed(nn.Module):
    def __init__(self, filters):
        super().__init__()
        self.conv = nn.Conv1d(1, filters, 16, stride=8)
        generator = torch.Generator().manual_seed(hash("projection") % 2**31)  # {salt}
        self.register_buffer("proj", torch.randn(filters, filters, generator=generator))

    def forward(self, x):
        return [torch.einsum("fg,bgt->bft", self.proj, torch.relu(self.conv(x)))]


@register_frontend(name="{name}", input_kind="waveform", sample_rate=8000, widths={{"small": 4, "paper": 8}},
                   feature_dim=lambda nf: nf, feature_layers=("conv",), source="a test", min_input=16)
def build(filters):
    print("building", filters)  # a plugin's own output is not its weights' digest
    return Hashed(filters)
"""


@pytest.mark.parametrize("salted", [True, False])
def test_weights_drawn_from_a_salted_hash_fail_in_another_process(tmp_path, salted):
    """A projection seeded with ``hash("projection")`` is another network in every process (PYTHONHASHSEED), under
    one cache key: two builds in one process agreed, and check-plugin passed it."""
    from rwbench.registry import load_plugin_file

    name = f"hashed_{salted}"
    source = HASHED_PLUGIN.format(name=name, salt="salted per process" if salted else "")
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(source if salted else source.replace('hash("projection") % 2**31', "7"))
    load_plugin_file(plugin)
    (result,) = [r for r in check_frontend(FRONTENDS.get(name), "small", seconds=0.05) if r.name == "other_process"]
    assert result.passed is not salted and not result.skipped, result.detail
    assert ("other weights" in result.detail) is salted


@pytest.mark.parametrize("mode, passed, named", [("fixed_buffer", True, "['proj']"), ("buffer_only", True, "none")])
def test_random_weights_kept_in_buffers_count_and_fixed_ones_are_named(mode, passed, named):
    """Only conv/linear kernels were compared: a projection buffer drawn from torch's seeded generator failed
    ("0 kernels"), and one drawn from a fixed generator — the same for every seed — passed unnamed."""
    (result,) = [r for r in check_frontend(toy_spec(mode), "small", seconds=0.05) if r.name == "other_seed"]
    assert result.passed is passed
    assert f"buffers the same for both (fixed, not drawn from the seed): {named}" in result.detail


def test_a_one_dimensional_parameter_set_by_design_is_named_not_failed():
    """SincNet-style band edges start at the same values for every seed by design: a correct plugin failed."""
    (result,) = [r for r in check_frontend(toy_spec("band_edges"), "small", seconds=0.05) if r.name == "other_seed"]
    assert result.passed and "1-D parameters the same for both (set by design?): ['edges']" in result.detail


def test_checker_catches_a_param_count_that_depends_on_the_device():
    spec = toy_spec(build=lambda nf: Toy(nf + (torch.empty(0).device.type == "meta")), feature_dim=lambda nf: nf)
    assert "param_count" in _failed(spec)


def test_checker_raises_a_short_request_to_the_minimum():
    spec = FRONTENDS.get("vertical_7x96")
    clip = next(r for r in check_frontend(spec, "small", seconds=0.0) if r.name == "clip_length")
    assert clip.passed and f"{spec.min_samples()} samples" in clip.detail


# -- family facts --------------------------------------------------------------------------------
def _meta_layers(name: str, frames: int, width: str | int = "small") -> list[torch.Size]:
    spec = FRONTENDS.get(name)
    with torch.device("meta"):
        net = spec.build(spec.filters(width))
        return [layer.shape for layer in net(torch.empty(2, 1, frames, spec.logmel.n_mels))]


def test_vgg_pooled_shapes_match_the_study_table():
    shapes = [tuple(s[2:]) for s in _meta_layers("vgg", 1376)]
    assert shapes == [(344, 48), (86, 16), (17, 8), (4, 4), (1, 1)]


def test_vgg_declares_its_minimum_and_repeat_padding():
    spec = FRONTENDS.get("vgg")
    assert (spec.min_input, spec.pad_to_min) == (1280, "repeat")
    assert tuple(_meta_layers("vgg", 1280)[-1][2:]) == (1, 1)
    with pytest.raises(RuntimeError):
        _meta_layers("vgg", 1279)


@pytest.mark.parametrize(("name", "kernel"), [("vertical_7x96", (7, 96)), ("vertical_7x86", (7, 86))])
def test_vertical_kernels_are_time_by_frequency(name, kernel):
    net = FRONTENDS.get(name).build(8)
    assert tuple(net.conv.weight.shape[2:]) == kernel
    assert tuple(_meta_layers(name, 100)[0][1:]) == (160, 94, 1)


def test_piczak_axes_and_shapes():
    spec = FRONTENDS.get("piczak")
    assert spec.logmel == LogMelConfig(sample_rate=22050, n_fft=1024, hop_length=512, n_mels=60)
    net = spec.build(80)
    assert tuple(net.conv1.weight.shape) == (80, 1, 6, 57)  # 57 bands × 6 frames
    assert tuple(net.conv2.weight.shape) == (80, 80, 3, 1)  # 1 band × 3 frames
    shapes = [tuple(s[2:]) for s in _meta_layers("piczak", 41)]
    assert shapes == [(36, 4), (12, 1), (10, 1), (3, 1)]


def test_pad_time_with_floor_pads_with_each_clips_minimum():
    x = torch.tensor([[[[-10.0, -70.0], [-5.0, -20.0]]], [[[-1.0, -2.0], [-3.0, -4.0]]]])  # (2, 1, 2 frames, 2)
    padded = pad_time_with_floor(x, 2, 1)
    assert padded.shape == (2, 1, 5, 2)
    assert torch.equal(padded[:, :, 2:4], x)
    assert torch.equal(padded[0, :, [0, 1, 4]], torch.full((1, 3, 2), -70.0))
    assert torch.equal(padded[1, :, [0, 1, 4]], torch.full((1, 3, 2), -4.0))


@pytest.mark.parametrize("name", ["timbral", "temporal", "timbral_temporal_short"])
@pytest.mark.parametrize("frames", [1, 9, 200])
def test_musically_motivated_keeps_time_and_pads_with_silence(name, frames):
    """A constant (silent) log-mel gives outputs constant in time: no loud 0 dB edges (the study's log-mel had them)."""
    spec = FRONTENDS.get(name)
    net = spec.build(4)
    torch.manual_seed(0)
    for module in net.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            nn.init.normal_(module.weight)
            nn.init.normal_(module.bias)
    with torch.no_grad():
        layers = net(torch.full((1, 1, frames, 96), -60.0))
    assert [layer.shape[2:] for layer in layers] == [(frames,)] * len(spec.feature_layers)
    assert sum(layer.shape[1] for layer in layers) == spec.feature_dim(4)
    for layer in layers:
        torch.testing.assert_close(layer, layer[..., :1].expand_as(layer), rtol=1e-5, atol=1e-4)


def test_short_variant_has_short_temporal_kernels():
    long, short = FRONTENDS.get("temporal").build(8), FRONTENDS.get("temporal_short").build(8)
    assert [c.kernel_size[0] for c in long.temporal.convs] == [165, 128, 64, 32]
    assert [c.kernel_size[0] for c in short.temporal.convs] == [64, 32, 16, 8]
    assert long.timbral is None and short.timbral is None


def test_single_branch_frontends_build_only_their_branch():
    assert FRONTENDS.get("timbral").build(8).temporal is None
    both = FRONTENDS.get("timbral_temporal").build(8)
    assert both.timbral is not None and both.temporal is not None


def test_dsp_baselines_keep_their_dim_under_every_pooling():
    spec = FRONTENDS.get("mfcc")
    assert spec.dim("small", "mean_std") == spec.dim("small") == 120
    as_logmel = dataclasses.replace(spec, input_kind="logmel", logmel=FRONTENDS.get("vgg").logmel)
    assert as_logmel.dim("small", "mean_std") == 240


def test_a_dsp_baseline_is_one_instance_under_every_pooling_and_precision():
    """`--pooling max` or `--precision bf16` on `mfcc` computed the same (or, under bf16 autocast, moved) features
    under new keys and row names (`mfcc[max]`), counted as rows of their own in the rank tests."""
    from toy import tone_dataset

    from rwbench.embed_job import EmbedJob

    spec, dataset = FRONTENDS.get("mfcc"), tone_dataset()
    plain = EmbedJob(dataset, spec, "small")
    for pooling, precision in (("max", "fp32"), ("mean_std", "fp32"), ("mean", "bf16")):
        asked = EmbedJob(dataset, spec, "small", pooling=pooling, precision=precision)
        assert asked.key == plain.key, (pooling, precision)
    wave = 0.1 * torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(Embedder(spec, precision="bf16")(wave), Embedder(spec)(wave), rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n in FRONTENDS.names() if FRONTENDS.get(n).channels_last])
def test_channels_last_gives_the_same_embeddings(name):
    spec = FRONTENDS.get(name)
    assert name in {"vgg", "musicnn_vgg", "vertical_7x86", "vertical_7x96"}  # where it was measured faster
    wave = 0.1 * torch.randn(2, spec.min_samples() + 100, generator=torch.Generator().manual_seed(0))
    fast = Embedder(spec, width="small", seed=1)
    plain = Embedder(dataclasses.replace(spec, channels_last=False), width="small", seed=1)
    assert next(p for p in fast.net.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast(wave), plain(wave), rtol=1e-4, atol=1e-5)


def test_pooling_before_the_activation_is_the_published_order():
    """VGG (ELU), vertical (ReLU) and the timbral branch (ReLU) pool first: max commutes with an increasing
    activation, so the values are those of activation-then-pool."""
    from rwbench.architectures.musically_motivated import TimbralBranch
    from rwbench.architectures.vgg import VGGBlock

    g = torch.Generator().manual_seed(0)
    block, x = VGGBlock(3, 5, (4, 2)), torch.randn(2, 3, 16, 12, generator=g)
    conv, pool, _ = block
    torch.testing.assert_close(block(x), pool(nn.functional.elu(conv(x))), rtol=0, atol=0)
    vertical = FRONTENDS.get("vertical_7x86").build(6)
    logmel = torch.randn(2, 1, 20, 96, generator=g)
    torch.testing.assert_close(vertical(logmel)[0], vertical.pool(torch.relu(vertical.conv(logmel))), rtol=0, atol=0)
    timbral = TimbralBranch(2)
    padded = pad_time_with_floor(logmel, timbral.halo, timbral.halo)
    starts = [timbral.halo - t // 2 for t, _, _ in timbral.kernels]
    reference = torch.cat([torch.relu(conv(padded[:, :, s:s + 20 + t - 1])).amax(dim=3)
                           for conv, s, (t, _, _) in zip(timbral.convs, starts, timbral.kernels)], dim=1)
    torch.testing.assert_close(timbral(logmel), reference, rtol=0, atol=0)


def test_samplecnn_blocks_pool_before_relu_with_the_same_values():
    net = FRONTENDS.get("samplecnn").build(3).eval()
    x = torch.randn(1, 3, 3**9, generator=torch.Generator().manual_seed(0))  # 9 blocks, each pooling by 3
    for block in net.blocks:
        (conv, bn, relu), pool = block
        torch.testing.assert_close(relu(pool(bn(conv(x)))), block(x), rtol=0, atol=0)
        x = block(x)


class _Unusual(nn.Module):
    """Layers ``randomise`` once missed: a transposed conv, a 3-d conv, a weight-normed conv, a GRU."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose1d(1, nf, 8, stride=4)
        self.cube = nn.Conv3d(1, 1, 1)
        self.normed = nn.utils.parametrizations.weight_norm(nn.Conv1d(nf, nf, 3))
        self.gru = nn.GRU(nf, nf, batch_first=True)

    def forward(self, x):
        a = torch.relu(self.normed(self.up(x)))
        return [a, self.gru(a.transpose(1, 2))[0].transpose(1, 2)]


UNUSUAL = FrontendSpec(name="unusual", build=_Unusual, input_kind="waveform", sample_rate=8000,
                       widths={"small": 4, "paper": 8}, feature_dim=lambda nf: 2 * nf,
                       feature_layers=("normed", "gru"), source="test", min_input=64)


def test_every_weight_comes_from_the_seed_whatever_the_layer():
    """A ConvTranspose, Conv3d, weight-normed conv or GRU kept PyTorch's default init from the unseeded global
    generator: "seed 0" gave another network in every process, under one cache key."""
    def weights(seed: int) -> dict:
        torch.manual_seed(1000 + seed)  # the global generator must not matter
        return {k: v.clone() for k, v in Embedder(UNUSUAL, seed=seed).net.state_dict().items()}

    a, b, other = weights(0), weights(0), weights(1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for name in ("up.weight", "cube.weight", "normed.parametrizations.weight.original1", "gru.weight_hh_l0"):
        assert not torch.equal(a[name], other[name]), name
    drawn = torch.empty(1, 4, 8)  # the transposed conv's weight is he_normal from the seed's generator, first drawn
    from rwbench.frontend import INITS
    INITS["he_normal"](drawn, torch.Generator().manual_seed(0))
    assert torch.equal(a["up.weight"], drawn)


def test_the_same_seed_gives_the_same_network_in_two_processes(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "draw.py"
    script.write_text(
        "import hashlib, sys, torch\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_frontends import UNUSUAL\n"
        "from rwbench.frontend import Embedder\n"
        "torch.manual_seed(int(sys.argv[1]))\n"
        "net = Embedder(UNUSUAL, seed=0).net\n"
        "print(hashlib.sha256(b''.join(v.numpy().tobytes() for v in net.state_dict().values())).hexdigest())\n")
    digests = {subprocess.run([sys.executable, str(script), str(n)], capture_output=True, text=True, check=True,
                              cwd=tmp_path).stdout.strip() for n in (1, 2)}
    assert len(digests) == 1 and len(next(iter(digests))) == 64


def test_a_plugins_key_names_its_helper_modules_by_content_not_by_path(tmp_path):
    """The helper files were joined in the order of their absolute paths: the same code in another checkout got
    another key (its cache and results computed again)."""
    from rwbench.filehash import with_sources

    for folder, names in (("a", ("layers.py", "blocks.py")), ("b", ("a_layers.py", "z_blocks.py"))):
        (tmp_path / folder).mkdir()
        for name, text in zip(names, ("class A: pass\n", "class B: pass\n")):
            (tmp_path / folder / name).write_text(text)
    keys = {with_sources("sha", sorted((tmp_path / f).iterdir())) for f in ("a", "b")}
    assert len(keys) == 1 and next(iter(keys)).startswith("net:")
    assert with_sources("sha", []) == "sha"
