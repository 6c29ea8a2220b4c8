"""Exact inference rewrites (``rwbench.fusion``) and ``--compile``'s fallback (``rwbench.compiler``).

Every registered front-end, with every weight tag available offline, gives the same embedding fused and unfused
(to float tolerance); batch norms with trained-like statistics (negative γ included) too.
"""

import copy
import dataclasses
import logging

import numpy as np
import pytest
import torch
from torch import nn
from toy import TINY, tone_dataset

from rwbench import compiler
from rwbench.embed import embed
from rwbench.embed_job import EmbedJob
from rwbench.frontend import FRONTENDS, Embedder
from rwbench.fusion import fuse_embedder, fuse_for_inference
from rwbench.results import FOLD_TAGS
from rwbench.weight_packs import WeightsError

CASES = [(spec.name, tag) for spec in FRONTENDS for tag in spec.weights]


def _clips(spec, n: int = 2, seconds: float = 0.5) -> torch.Tensor:
    samples = max(spec.min_samples(), round(seconds * spec.sample_rate))
    return 0.1 * torch.randn(n, samples, generator=torch.Generator().manual_seed(1))


def _assert_same(fused: torch.Tensor, plain: torch.Tensor) -> None:
    scale = plain.abs().max().item() or 1.0
    torch.testing.assert_close(fused, plain, rtol=1e-4, atol=1e-5 * scale)


def _fused_and_plain(model: Embedder) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    clips = _clips(model.spec)
    plain = model(clips)
    fused = copy.deepcopy(model)
    done = fuse_embedder(fused)
    return fused(clips), plain, done


@pytest.mark.parametrize(("name", "tag"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_fused_embeddings_equal_unfused_for_every_frontend_and_weights(request, name, tag):
    spec = FRONTENDS.get(name)
    if tag in FOLD_TAGS:
        pytest.skip(f"{tag!r} weights are made per outer fold by a training run; batch norms with trained-like "
                    "statistics are tested below")
    if tag not in ("random", "dsp") and (spec.pretrained or {}).get(tag) == "musicnn":
        request.getfixturevalue("weights_home")  # the shared musicnn wheel (skips when absent)
    try:
        model = Embedder(spec, weights=tag, seed=0)
    except WeightsError as err:
        pytest.skip(f"{tag!r} weights are not installed here: {err}")
    fused, plain, _ = _fused_and_plain(model)
    _assert_same(fused, plain)


def _trained_like(net: nn.Module) -> int:
    """Give every batch norm random running statistics and affine parameters (γ of both signs); their count."""
    g = torch.Generator().manual_seed(2)
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in norms:
            n = bn.num_features
            bn.running_mean.copy_(0.5 * torch.randn(n, generator=g))
            bn.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
            if bn.affine:
                bn.weight.copy_(torch.randn(n, generator=g))
                bn.bias.copy_(0.5 * torch.randn(n, generator=g))
    return len(norms)


@pytest.mark.parametrize("name", FRONTENDS.names())
def test_fusion_is_exact_with_trained_batch_norm_statistics(name):
    model = Embedder(FRONTENDS.get(name), seed=0)
    if not _trained_like(model.net):
        pytest.skip("no batch norm")
    fused, plain, _ = _fused_and_plain(model)
    _assert_same(fused, plain)


def test_what_is_folded_and_reordered_in_the_builtins():
    folded = fuse_embedder(Embedder(FRONTENDS.get("mst")))
    assert folded == [f"bn{i} folded into conv{i}" for i in (1, 2, 3)]
    samplecnn = Embedder(FRONTENDS.get("samplecnn"))
    assert len(fuse_embedder(samplecnn)) == 11  # stem, nine blocks, head
    assert not any(isinstance(m, nn.BatchNorm1d) for m in samplecnn.net.modules())
    reordered = fuse_embedder(Embedder(FRONTENDS.get("sample_level")))
    assert reordered == [f"blocks.{i}: ReLU after MaxPool1d" for i in range(6)]
    assert fuse_embedder(Embedder(FRONTENDS.get("musicnn"))) == []  # its batch norms follow a ReLU


def test_rese_blocks_pool_before_their_relu_with_the_same_values():
    from rwbench.architectures.rese2 import ReSEBlock

    block = ReSEBlock(4, 8).eval()
    _trained_like(block)
    x = torch.randn(2, 4, 27, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(block(x), block.pool(torch.relu(block.residual(x) + block.shortcut(x))))


# -- which patterns are rewritten ----------------------------------------------------------------
class Shapes(nn.Module):
    """conv → BN (foldable); conv → BN with the conv's output also returned; conv → BN and a residual read;
    conv → ReLU → BN; a Sequential [ReLU, MaxPool] run whole, and one unpacked by ``forward``."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv1d(1, 4, 5), nn.BatchNorm1d(4)
        self.c2, self.b2 = nn.Conv1d(4, 4, 3, padding=1), nn.BatchNorm1d(4)
        self.c3, self.b3 = nn.Conv1d(4, 4, 3, padding=1, bias=False), nn.BatchNorm1d(4)
        self.c4, self.b4 = nn.Conv1d(4, 4, 3, padding=1), nn.BatchNorm1d(4)
        self.whole = nn.Sequential(nn.ReLU(), nn.MaxPool1d(2))
        self.unpacked = nn.Sequential(nn.ReLU(), nn.MaxPool1d(2))

    def forward(self, x):
        a = self.b1(self.c1(x))
        c2 = self.c2(a)
        b = self.b2(c2)
        y3 = self.c3(b)
        c = self.b3(y3) + y3
        d = self.b4(torch.relu(self.c4(c)))
        relu, pool = self.unpacked
        return [c2, self.whole(d), pool(relu(d))]


def test_only_exact_patterns_are_rewritten():
    net = Shapes().eval()
    _trained_like(net)
    x = torch.randn(3, 1, 40, generator=torch.Generator().manual_seed(0))
    plain = net(x)
    done = fuse_for_inference(net, x)
    assert done == ["b1 folded into c1", "whole: ReLU after MaxPool1d"]
    assert isinstance(net.b1, nn.Identity) and all(isinstance(m, nn.BatchNorm1d) for m in (net.b2, net.b3, net.b4))
    assert isinstance(net.unpacked[0], nn.ReLU)
    for fused, reference in zip(net(x), plain):
        _assert_same(fused, reference)


def test_a_conv_without_bias_gets_one_and_training_mode_is_refused():
    net = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3)).eval()
    _trained_like(net)
    x = torch.randn(2, 2, 8, 8)
    plain = net(x)
    assert fuse_for_inference(net, x) == ["1 folded into 0"]
    assert net[0].bias is not None
    _assert_same(net(x), plain)
    with pytest.raises(ValueError, match="eval mode"):
        fuse_for_inference(net.train(), x)


class TinyBN(nn.Module):
    def __init__(self, filters: int) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv1d(1, filters, 64, stride=32), nn.BatchNorm1d(filters)

    def forward(self, x):
        return [torch.relu(self.bn(self.conv(x)))]


TINY_BN = dataclasses.replace(TINY, name="tiny_bn", build=TinyBN, feature_dim=lambda nf: nf, feature_layers=("bn",))


def test_the_embed_stage_fuses_keeps_the_cache_key_and_records_the_built_parameters(tmp_path):
    ds = tone_dataset()
    job = EmbedJob(ds, TINY_BN, seed=3)
    out = embed(job, tmp_path, device="cpu", workers=0)
    plain = Embedder(TINY_BN, seed=3)
    wave = torch.from_numpy(ds.load_audio(ds.clips[5], 8000))[None]
    np.testing.assert_allclose(out.features[5], plain(wave)[0].numpy(), rtol=1e-4, atol=1e-6)
    assert out.manifest.params == sum(p.numel() for p in plain.net.parameters())  # the BN's γ, β counted
    assert "fus" not in str(job.description)  # an exact rewrite: the same key as before fusion existed


def test_a_network_that_cannot_run_its_declared_minimum_runs_unfused_and_says_so(caplog):
    """A plugin declaring too short a minimum input (check-plugin flags it) is not fused, not stopped: real clips
    are longer."""
    short = dataclasses.replace(TINY_BN, name="short_min", min_input=1)
    model = Embedder(short, seed=0)
    before = copy.deepcopy(model.net.state_dict())
    with caplog.at_level(logging.INFO, logger="rwbench.fusion"):
        assert fuse_embedder(model) == []
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())
    (line,) = [r.getMessage() for r in caplog.records if "not fused" in r.getMessage()]
    assert line.startswith("short_min: not fused (tracing one clip of its minimum input failed")


# -- --compile -----------------------------------------------------------------------------------
def test_compile_falls_back_with_one_info_line(monkeypatch, caplog):
    def broken(fn):
        def run(*args, **kwargs):
            raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found\nmore detail")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    model = Embedder(TINY, seed=0)
    clips = _clips(TINY)
    expected = model(clips)
    forward = compiler.compile_net(model.net, "tiny")
    with caplog.at_level(logging.INFO, logger="rwbench.compiler"):
        first, second = model(clips), model(clips)
    assert forward.failed and torch.equal(first, expected) and torch.equal(second, expected)
    (line,) = [r.getMessage() for r in caplog.records]
    assert "torch.compile failed for tiny (RuntimeError: InvalidCxxCompiler" in line and "more detail" not in line


def test_an_input_that_fails_eager_too_leaves_compiling_on_and_says_nothing_of_the_compiler(monkeypatch, caplog):
    """A clip shorter than the network's minimum raised inside the compiled call: logged as "torch.compile failed",
    and every later batch ran without compiling."""
    monkeypatch.setattr(torch, "compile", lambda fn: fn)  # the compiled forward fails where the eager one does
    model = Embedder(TINY, seed=0)
    forward = compiler.compile_net(model.net, "tiny")
    with caplog.at_level(logging.INFO, logger="rwbench.compiler"), pytest.raises(RuntimeError):
        model.net(torch.zeros(1, 1, 1))  # far below its kernel
    assert not forward.failed and caplog.records == []


def test_compile_runs_the_compiled_forward(monkeypatch):
    calls = []

    def counting(fn):
        def run(*args, **kwargs):
            calls.append(1)
            return fn(*args, **kwargs)
        return run

    monkeypatch.setattr(torch, "compile", counting)
    model = Embedder(TINY, seed=0)
    keys = list(model.state_dict())
    expected = model(_clips(TINY))
    forward = compiler.compile_net(model.net, "tiny")
    assert torch.equal(model(_clips(TINY)), expected) and calls == [1] and not forward.failed
    assert list(model.state_dict()) == keys


# -- max-pool before ReLU and batch norm ---------------------------------------------------------
def _naive_order(z, bn, pool):
    return pool(bn(torch.relu(z)))


@pytest.mark.parametrize("pool", [lambda h: h.amax(dim=3), nn.MaxPool2d((2, 1), (2, 1)), nn.MaxPool2d(3, 2)],
                         ids=["amax", "maxpool-2x1", "maxpool-3-overlapping"])
def test_max_of_bn_relu_equals_the_original_order_with_gammas_of_both_signs(pool):
    from rwbench.fusion import max_of_bn_relu

    bn = nn.BatchNorm2d(6).eval()
    _trained_like(bn)
    with torch.no_grad():
        bn.weight[0] = 0.0  # a constant channel
        assert (bn.weight < 0).any() and (bn.weight > 0).any()
        z = torch.randn(3, 6, 10, 8, generator=torch.Generator().manual_seed(4))
        z[0, 1, :4] = 0.0  # ties
        assert torch.equal(max_of_bn_relu(z, bn, pool), _naive_order(z, bn, pool))
        bn.weight.abs_()  # all non-negative: the max-pool alone
        assert torch.equal(max_of_bn_relu(z, bn, pool), _naive_order(z, bn, pool))


def test_max_of_bn_relu_keeps_the_original_order_in_training_mode():
    from rwbench.fusion import max_of_bn_relu

    bn, pool = nn.BatchNorm2d(4).train(), nn.MaxPool2d(2)
    z = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(5))
    expected = _naive_order(z, copy.deepcopy(bn), pool)  # batch statistics of the unpooled map
    torch.testing.assert_close(max_of_bn_relu(z, bn, pool), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["musicnn", "musicnn_vgg", "crepe_tiny"])
def test_networks_that_pool_bn_relu_embed_as_in_the_original_order(monkeypatch, name):
    import importlib

    model = Embedder(FRONTENDS.get(name), seed=0)
    _trained_like(model.net)
    clips = _clips(model.spec)
    rewritten = model(clips)
    module = importlib.import_module(type(model.net).__module__)
    monkeypatch.setattr(module, "max_of_bn_relu", _naive_order)
    _assert_same(rewritten, model(clips))


# -- a one-channel input batch norm applied after the convolutions, in training ------------------------------------
def _as_written(bn, x, conv, pad):
    return conv(pad(bn(x)))


def _grads(*modules):
    """Every parameter's gradient, in order (None where it gets none: a layer past the features used)."""
    return [None if p.grad is None else p.grad.clone() for m in modules for p in m.parameters()]


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum", "cumulative"])
@pytest.mark.parametrize("make_conv, pad", [
    (lambda: nn.Conv2d(1, 5, (3, 4)), lambda t: torch.nn.functional.pad(t, (0, 0, 1, 1))),  # musicnn: time padded
    (lambda: nn.Conv2d(1, 5, 3, padding=1), lambda t: t),  # the convolution's own zero padding
    (lambda: nn.Conv2d(1, 5, (4, 1), bias=False), lambda t: torch.nn.functional.pad(t, (0, 0, 2, 1))),
], ids=["padded-input", "conv-padding", "no-bias"])
def test_normalised_input_gives_the_values_gradients_and_statistics_of_the_batch_norm_as_written(make_conv, pad,
                                                                                                 momentum):
    from rwbench.fusion import NormalisedInput

    torch.manual_seed(6)  # float64: the two orders differ by rounding only, far below any real difference
    bn, conv = nn.BatchNorm2d(1, momentum=momentum).double().train(), make_conv().double()
    with torch.no_grad():
        bn.weight.fill_(1.7), bn.bias.fill_(-0.4)  # away from the identity, so a lost γ or β shows
    x = 3 + 2 * torch.randn(4, 1, 9, 7, dtype=torch.float64)
    twins = copy.deepcopy((bn, conv))
    for _ in range(2):  # the second step reads updated running statistics and num_batches_tracked
        out = NormalisedInput(bn, x).conv(conv, pad)
        assert NormalisedInput.applies(bn, x)
        expected = _as_written(twins[0], x, twins[1], pad)
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
        for m in (bn, conv, *twins):
            m.zero_grad()
        (out * expected.detach().cos()).sum().backward()
        (expected * expected.detach().cos()).sum().backward()
        torch.testing.assert_close(_grads(bn, conv), _grads(*twins), rtol=1e-10, atol=1e-10)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            assert torch.equal(getattr(bn, name), getattr(twins[0], name)), name


def test_normalised_input_is_the_batch_norm_as_written_where_the_rewrite_does_not_apply():
    from rwbench.fusion import NormalisedInput

    bn, conv, x = nn.BatchNorm2d(1), nn.Conv2d(1, 3, 3), torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        assert not NormalisedInput.applies(bn, x)  # no gradient wanted
        assert torch.equal(NormalisedInput(bn, x).conv(conv), conv(copy.deepcopy(bn)(x)))
    assert not NormalisedInput.applies(copy.deepcopy(bn).eval(), x)
    frozen = copy.deepcopy(bn)
    frozen.weight.requires_grad_(False)
    assert not NormalisedInput.applies(frozen, x) and not NormalisedInput.applies(nn.BatchNorm2d(2), x)

    class Doubled(nn.Conv2d):  # a convolution with a forward of its own is called as it is
        def forward(self, t):
            return 2 * super().forward(t)

    odd = Doubled(1, 3, 3)
    torch.testing.assert_close(NormalisedInput(bn, x).conv(odd), odd(copy.deepcopy(bn)(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["musicnn"])
def test_a_training_step_of_the_networks_with_an_input_batch_norm_matches_the_order_as_written(monkeypatch, name):
    from rwbench.fusion import NormalisedInput

    # float64: the two orders differ by rounding only, so far below float32's noise
    rewritten = Embedder(FRONTENDS.get(name), seed=0).net.double().train()
    as_written = copy.deepcopy(rewritten)
    patches = 20 * torch.randn(3, 187, 96, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    outputs = [rewritten.layers(patches)]
    monkeypatch.setattr(NormalisedInput, "applies", staticmethod(lambda bn, x: False))
    outputs.append(as_written.layers(patches))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-10)
    for out in outputs:
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum() for o in out.values()).backward()
    torch.testing.assert_close(_grads(rewritten), _grads(as_written), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(rewritten.state_dict(), as_written.state_dict())  # running statistics included


@pytest.mark.parametrize("wrap", ["weight_norm", "hook"])
def test_a_parametrised_or_hooked_conv_is_not_folded(wrap):
    """A weight-normed conv's ``weight`` is computed on each call: folding wrote the scale into a temporary and
    dropped the batch norm's γ/σ (embeddings off by 0.23 of a 0.26 range, three columns constant)."""
    net = nn.Sequential(nn.Conv1d(1, 4, 8), nn.BatchNorm1d(4), nn.ReLU())
    if wrap == "weight_norm":
        net[0] = nn.utils.parametrizations.weight_norm(net[0])
    else:
        net[1].register_forward_hook(lambda module, args, out: out * 2)
    net.eval()
    _trained_like(net)
    x = torch.randn(3, 1, 40, generator=torch.Generator().manual_seed(0))
    plain = net(x)
    assert fuse_for_inference(net, x) == []
    assert isinstance(net[1], nn.BatchNorm1d)
    _assert_same(net(x), plain)


def test_a_trace_that_fails_with_any_error_runs_unfused(monkeypatch, caplog):
    def broken(net, example):
        raise IndexError("list index out of range")

    monkeypatch.setattr("rwbench.fusion.fuse_for_inference", broken)
    with caplog.at_level(logging.INFO, logger="rwbench.fusion"):
        assert fuse_embedder(Embedder(TINY_BN, seed=0)) == []
    assert any("not fused" in r.getMessage() and "list index out of range" in r.getMessage() for r in caplog.records)


def test_convs_that_share_their_weight_are_not_folded():
    """Two convs tied to one weight, each with its own batch norm: folding rescaled the shared tensor twice (both
    branches off by ~0.45)."""
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv1d(1, 4, 8), nn.Conv1d(1, 4, 8)
            self.b.weight = self.a.weight
            self.bna, self.bnb = nn.BatchNorm1d(4), nn.BatchNorm1d(4)

        def forward(self, x):
            return [self.bna(self.a(x)), self.bnb(self.b(x))]

    done, plain, fused = _fused(Tied().eval(), samples=40)
    assert done == []
    for after, before in zip(fused, plain, strict=True):
        _assert_same(after, before)


def _fused(net: nn.Module, *, samples: int, trained: bool = True) -> tuple[list[str], list, list]:
    """(what ``fuse_for_inference`` rewrote in ``net``, its layers before, after) on one seeded input."""
    if trained:
        _trained_like(net)
    x = torch.randn(3, 1, samples, generator=torch.Generator().manual_seed(0))
    plain = [t.clone() for t in net(x)]
    done = fuse_for_inference(net, x)
    return done, plain, net(x)


def test_a_conv_whose_weight_another_operation_reads_is_not_folded():
    """`bn(conv(x))` beside `F.conv1d(x, self.conv.weight, dilation=2)`: the fold rescaled the weight the second
    branch reads too (its layer off by 92 % of its scale with trained statistics)."""
    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv1d(1, 4, 8), nn.BatchNorm1d(4)

        def forward(self, x):
            return [self.bn(self.conv(x)), nn.functional.conv1d(x, self.conv.weight, dilation=2)]

    done, plain, fused = _fused(Branches().eval(), samples=40)
    assert done == []
    for after, before in zip(fused, plain, strict=True):
        _assert_same(after, before)


@pytest.mark.parametrize("act", [nn.ReLU(inplace=True), nn.LeakyReLU(0.1, inplace=True)])
def test_an_in_place_activation_before_a_max_pool_is_not_swapped(act):
    """`Sequential(ReLU(inplace=True), MaxPool1d(4))` on a returned layer: as written the activation rewrites that
    layer; swapped, it did not (the layer off by 19 % of its scale)."""
    class Preact(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.conv2 = nn.Conv1d(1, 4, 8), nn.Conv1d(4, 4, 3)
            self.block = nn.Sequential(act, nn.MaxPool1d(4))

        def forward(self, x):
            h = self.conv(x)
            return [h, self.conv2(self.block(h))]

    done, plain, fused = _fused(Preact().eval(), samples=80, trained=False)
    assert done == []
    for after, before in zip(fused, plain, strict=True):
        _assert_same(after, before)


def test_compiling_is_timed_apart_from_the_clips_and_recorded(monkeypatch, tmp_path):
    """torch.compile compiles on the first call: timed with the clips, it made a compiled front-end ~20x slower per
    clip. A warm-up pass takes it; the manifest and the result keep its seconds apart."""
    import time

    from toy import tone_dataset

    from rwbench.embed import ensure_embedded
    from rwbench.embed_job import Embeddings, EmbedJob

    def slow_first(fn):
        first = []

        def run(*args, **kwargs):
            if not first:
                first.append(1)
                time.sleep(2.0)  # the compilation
            return fn(*args, **kwargs)
        return run

    monkeypatch.setattr(torch, "compile", slow_first)
    job = EmbedJob(tone_dataset(n_per_class=2), TINY)
    ensure_embedded(job, tmp_path, device="cpu", workers=0, compile=True)
    stored = Embeddings.read(job.entry(tmp_path))
    assert stored.manifest.compile_seconds >= 2.0 and stored.manifest.embed_seconds < 2.0
    assert stored.manifest.threads == torch.get_num_threads()


class _ConvBnTwice(nn.Module):
    """conv → BN → ReLU twice, the second block reached as ``blocks[1]`` and ``last`` (one module, two names)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv1d(1 if i == 0 else 4, 4, 9, stride=4), nn.BatchNorm1d(4),
                                                  nn.ReLU()) for i in range(2))
        self.last = self.blocks[-1]

    def forward(self, x):
        h = self.blocks[0](x)
        return [h, self.last(h)]


def test_a_module_registered_under_two_names_keeps_its_weights():
    """The meta trace ran ``functional_call`` on the network itself: with an aliased module it left the alias's
    weights on the meta device (every later call: "Cannot copy out of meta tensor"). The aliased block is left as
    built (its parameters have two owners' names), the other folded."""
    net = _ConvBnTwice().eval()
    done, plain, fused = _fused(net, samples=200)
    assert done == ["blocks.0.1 folded into blocks.0.0"]
    assert not any(t.is_meta for t in [*net.parameters(), *net.buffers()])
    for after, before in zip(fused, plain, strict=True):
        _assert_same(after, before)


def test_a_batch_norm_reached_other_than_by_its_name_is_not_folded(caplog):
    """``forward`` walks a plain list of its modules: the BN replaced by name still ran from the list, after a conv
    that had it folded in (a trained network's embeddings off by 171 %, no warning). The rewritten network is checked
    against the network on a test input, and put back where they differ."""
    class Steps(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.b1 = nn.Conv1d(1, 4, 9, stride=4), nn.BatchNorm1d(4)
            self.steps = [self.c1, self.b1, torch.relu]

        def forward(self, x):
            for step in self.steps:
                x = step(x)
            return [x]

    net = Steps().eval()
    with caplog.at_level(logging.WARNING, logger="rwbench.fusion"):
        done, plain, fused = _fused(net, samples=200)
    assert done == [] and isinstance(net.b1, nn.BatchNorm1d) and "not fused" in caplog.text
    _assert_same(fused[0], plain[0])
