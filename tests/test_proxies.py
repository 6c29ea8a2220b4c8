"""Each zero-cost proxy against the same quantity computed independently: a numpy forward pass of a tiny network
(conv1d 3 → ReLU → mean over time → linear) and central finite differences in float64, no autograd."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from rwbench.proxies import (
    JACOB_K,
    PROXIES,
    ProxyContext,
    ProxyNetwork,
    Undefined,
    fisher_score,
    grad_norm_score,
    grasp_score,
    jacob_cov_score,
    naswot_score,
    network_input,
    snip_score,
    synflow_score,
)

N, L, C, K, CLASSES = 5, 8, 3, 3, 4


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, C, K)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(C, CLASSES)

    def forward(self, x):
        return self.fc(self.relu(self.conv(x)).mean(2))


@pytest.fixture
def tiny():
    torch.manual_seed(3)
    net = Tiny().double()
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, 1, L))
    y = rng.integers(0, CLASSES, N)
    params = {name: p.detach().numpy().copy() for name, p in net.named_parameters()}
    return net, torch.from_numpy(x), torch.from_numpy(y), params, x, y


# -- the independent reference: numpy forward, finite differences ---------------------------------------------------
def forward(p, x, pre_offset=0.0, logit_offset=0.0):
    """logits (N, classes) and the conv output (N, C, T)."""
    T = x.shape[2] - K + 1
    windows = np.stack([x[:, 0, t:t + K] for t in range(T)], axis=2)  # (N, K, T)
    pre = np.einsum("nkt,ck->nct", windows, p["conv.weight"][:, 0]) + p["conv.bias"][None, :, None] + pre_offset
    logits = np.maximum(pre, 0).mean(2) @ p["fc.weight"].T + p["fc.bias"] + logit_offset
    return logits, pre


def cross_entropy(logits, y):
    shifted = logits - logits.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(shifted).sum(1)) - shifted[np.arange(len(y)), y]))


def numeric_grad(f, array, eps=1e-6):
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        keep = array[i]
        array[i] = keep + eps
        up = f()
        array[i] = keep - eps
        down = f()
        array[i] = keep
        grad[i] = (up - down) / (2 * eps)
    return grad


def loss_grads(p, x, y):
    return {k: numeric_grad(lambda: cross_entropy(forward(p, x)[0], y), p[k]) for k in p}


WEIGHTS = ("conv.weight", "fc.weight")


# -- the tests ---------------------------------------------------------------------------------------------------------
def test_synflow_matches_the_formula(tiny):
    net, x_t, _, params, _, _ = tiny
    p = {k: np.abs(v) for k, v in params.items()}
    ones = np.ones((1, 1, L))
    grads = {k: numeric_grad(lambda: forward(p, ones)[0].sum(), p[k]) for k in WEIGHTS}
    expected = sum(np.abs(p[k] * grads[k]).sum() for k in WEIGHTS)
    assert synflow_score(net, x_t) == pytest.approx(expected, rel=1e-6)
    assert torch.equal(net.conv.weight.detach(), torch.from_numpy(params["conv.weight"]))  # the network is untouched


def test_naswot_matches_the_formula(tiny):
    net, x_t, _, params, x, _ = tiny
    codes = (forward(params, x)[1].reshape(N, -1) > 0).astype(float)
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    hamming = np.array([[np.sum(a != b) for b in codes] for a in codes])
    assert np.allclose(kernel, codes.shape[1] - hamming)  # Mellor et al.: K = N_A − Hamming distance
    assert naswot_score(net, x_t) == pytest.approx(np.linalg.slogdet(kernel)[1], rel=1e-9)


class TinyFunctional(Tiny):
    """Tiny with its ReLU called as a function (as most registered front-ends do), not as a module."""

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(2))


class TinyMethod(Tiny):
    """Tiny with its ReLU called as a tensor method, the README plugin's style (naswot did not see it)."""

    def forward(self, x):
        return self.fc(self.conv(x).relu().mean(2))


def test_naswot_reads_functional_nonlinearities_as_it_reads_modules(tiny):
    net, x_t, _, params, x, _ = tiny
    functional = TinyFunctional().double()
    functional.load_state_dict(net.state_dict())
    codes = (forward(params, x)[1].reshape(N, -1) > 0).astype(float)
    expected = np.linalg.slogdet(codes @ codes.T + (1 - codes) @ (1 - codes).T)[1]
    assert naswot_score(functional, x_t) == pytest.approx(expected, rel=1e-9) == naswot_score(net, x_t)
    method = TinyMethod().double()
    method.load_state_dict(net.state_dict())
    assert naswot_score(method, x_t) == pytest.approx(expected, rel=1e-9)
    # a network with no nonlinearity has no codes: undefined, with the reason, never a number
    with pytest.raises(Undefined, match="calls no nonlinearity"):
        naswot_score(nn.Sequential(nn.Conv1d(1, C, K), nn.Flatten(), nn.LazyLinear(CLASSES)).double(), x_t)


class TinyWindows(Tiny):
    """Tiny reading each clip as two windows batched clip-major, as musicnn's patches and samplecnn's segments are."""

    def forward(self, x):
        windows = torch.stack([x[..., :L // 2], x[..., L // 2:]], dim=1).flatten(0, 1)  # (2N, 1, L/2)
        return self.fc(torch.relu(self.conv(windows)).unflatten(0, (-1, 2)).mean(dim=(1, 3)))


def test_naswot_gives_a_clip_the_units_of_all_its_windows(tiny):
    net, x_t, _, params, x, _ = tiny
    windowed = TinyWindows().double()
    windowed.load_state_dict(net.state_dict())
    pre = [forward(params, half)[1] for half in (x[..., :L // 2], x[..., L // 2:])]  # (N, C, T) per window
    codes = (np.concatenate([p.reshape(N, -1) for p in pre], axis=1) > 0).astype(float)
    expected = np.linalg.slogdet(codes @ codes.T + (1 - codes) @ (1 - codes).T)[1]
    assert naswot_score(windowed, x_t) == pytest.approx(expected, rel=1e-9)


def test_an_undefined_score_is_nan_with_its_reason_in_the_record():
    """strided_* pool with an l2 norm, whose second derivative does not exist at zero: one silent clip in the
    minibatch makes grasp undefined; the value is NaN and the record says why (search score counts it)."""
    from toy import tone_dataset

    from rwbench.frontend import FRONTENDS

    spec = FRONTENDS.get("strided_512_512")
    waves = 0.1 * torch.randn(4, 16000, generator=torch.Generator().manual_seed(0))
    waves[1] = 0  # digital silence
    ctx = ProxyContext(spec=spec, width="small", seeds=(0, 1), dataset=tone_dataset(n_per_class=4),
                       batch=lambda: (waves, torch.tensor([0, 1, 2, 0])))
    grasp = PROXIES.get("grasp").compute(ctx)
    assert math.isnan(grasp.value) and set(grasp.detail["undefined"]) == {"0", "1"}
    assert "second derivative" in grasp.detail["undefined"]["0"]
    assert math.isfinite(PROXIES.get("snip").compute(ctx).value)  # first derivatives exist there
    naswot = PROXIES.get("naswot").compute(ctx)  # an l2 norm and a log: no nonlinearity with binary codes
    assert math.isnan(naswot.value) and "calls no nonlinearity" in naswot.detail["undefined"]["0"]
    # sample_level calls torch.relu (no module): its codes are read (naswot 1 gave NaN for it)
    level = replace(ctx, spec=FRONTENDS.get("sample_level"), batch=lambda: (waves[:, :12000], torch.tensor([0, 1, 2, 0])))
    value = PROXIES.get("naswot").compute(level)
    assert math.isfinite(value.value) and "undefined" not in value.detail


@pytest.mark.parametrize("overflow", [float("inf"), float("nan")])
def test_a_score_that_overflows_is_undefined_with_its_reason(overflow):
    """synflow of a 300-layer network overflows float64: NaN with its reason, never +inf (which the table would
    rank first and --train-top last)."""
    from toy import tone_dataset

    from rwbench.frontend import FRONTENDS
    from rwbench.proxies import _zero_cost

    ctx = ProxyContext(spec=FRONTENDS.get("strided_512_512"), width="small", seeds=(0,),
                       dataset=tone_dataset(n_per_class=4), batch=lambda: (torch.randn(2, 16000), torch.tensor([0, 1])))
    value = _zero_cost(lambda *args: overflow, needs_labels=False)(ctx)
    assert math.isnan(value.value) and "overflows float64 or is not a number" in value.detail["undefined"]["0"]


def test_naswot_on_clips_with_the_same_codes_is_undefined_with_its_reason(tiny):
    net, x_t, *_ = tiny
    with pytest.raises(Undefined, match="kernel is singular"):
        naswot_score(net, torch.cat([x_t[:3], x_t[:1]]))  # a duplicate clip: two equal rows of K


def test_jacob_cov_matches_the_formula(tiny):
    net, x_t, _, params, x, _ = tiny
    x = x.copy()
    jacobian = np.stack([numeric_grad(lambda n=n: forward(params, x)[0][n].sum(), x)[n].ravel() for n in range(N)])
    eig = np.linalg.eigvals(np.corrcoef(jacobian)).real
    expected = -np.sum(np.log(eig + JACOB_K) + 1 / (eig + JACOB_K))
    assert jacob_cov_score(net, x_t) == pytest.approx(expected, rel=1e-5)


def test_jacob_cov_reads_each_clips_own_jacobian_through_the_proxy_network():
    """The head's standardisation on batch statistics makes Σ logits constant over the minibatch, so the summed
    logits' input gradient was rounding noise (max |J| 1e-9–1e-6 against 0.03–0.5 for one clip alone) and the score
    changed with the precision (−11.7 in float32, −9.6 in float64). Without batch norm in the body, each clip's
    Jacobian is the one of that clip run alone, and the score is the same in float32 and float64."""
    from rwbench.frontend import FRONTENDS
    from rwbench.search_space import load_space

    space = load_space("logmel")
    config = next(c for c in space.sample(40, seed=0) if not c["batch_norm"])
    spec = FRONTENDS.get(space.frontend(config).name)
    waves = torch.randn(6, spec.min_samples() + 2048, generator=torch.Generator().manual_seed(0)) * 0.1
    inputs = network_input(spec, waves)
    net = ProxyNetwork(spec, 4, 3, seed=0)
    x = inputs.clone().requires_grad_(True)
    with net.per_clip():
        net(x).sum().backward()
    alone = []
    for clip in inputs:
        one = clip[None].clone().requires_grad_(True)
        with net.per_clip():
            net(one).sum().backward()
        alone.append(one.grad[0])
    assert x.grad.abs().max() > 1e-3
    assert torch.allclose(x.grad, torch.stack(alone), rtol=1e-4, atol=1e-7)
    assert net.standardised  # per_clip is undone
    single = jacob_cov_score(net, inputs)
    double = jacob_cov_score(ProxyNetwork(spec, 4, 3, seed=0).double(), inputs.double())
    assert single == pytest.approx(double, rel=1e-4)


def test_grad_norm_and_snip_match_the_formulas(tiny):
    net, x_t, y_t, params, x, y = tiny
    grads = loss_grads(params, x, y)
    assert grad_norm_score(net, x_t, y_t) == pytest.approx(sum(np.linalg.norm(grads[k]) for k in WEIGHTS), rel=1e-6)
    assert snip_score(net, x_t, y_t) == pytest.approx(sum(np.abs(grads[k] * params[k]).sum() for k in WEIGHTS),
                                                      rel=1e-6)


def test_grasp_matches_the_formula(tiny):
    net, x_t, y_t, params, x, y = tiny
    g = {k: v for k, v in loss_grads(params, x, y).items() if k in WEIGHTS}
    eps = 1e-4

    def weight_grads(sign):  # ∇_w L at w + sign·eps·g (the Hessian-vector product by differences of gradients)
        shifted = {k: v + (sign * eps * g[k] if k in WEIGHTS else 0) for k, v in params.items()}
        return loss_grads(shifted, x, y)

    up, down = weight_grads(1), weight_grads(-1)
    hessian_g = {k: (up[k] - down[k]) / (2 * eps) for k in WEIGHTS}
    expected = sum((-params[k] * hessian_g[k]).sum() for k in WEIGHTS)
    assert grasp_score(net, x_t, y_t) == pytest.approx(expected, rel=1e-4, abs=1e-9)


def test_fisher_matches_the_formula(tiny):
    net, x_t, y_t, params, x, y = tiny
    logits, pre = forward(params, x)
    pre_offset, logit_offset = np.zeros_like(pre), np.zeros_like(logits)
    d_pre = numeric_grad(lambda: cross_entropy(forward(params, x, pre_offset)[0], y), pre_offset)
    d_logits = numeric_grad(lambda: cross_entropy(forward(params, x, 0.0, logit_offset)[0], y), logit_offset)
    expected = 0.5 * ((pre * d_pre).sum(2) ** 2).mean(0).sum() + 0.5 * ((logits * d_logits) ** 2).mean(0).sum()
    assert fisher_score(net, x_t, y_t) == pytest.approx(expected, rel=1e-5)


def test_fisher_sums_a_clips_windows_before_squaring(tiny):
    """Δ is a mean over clips, not over windows: the same network reading clips as two windows gives each clip the
    sum over both windows' positions (a mean over the 2N windows scored samplecnn 3.3 times lower)."""
    net, x_t, y_t, params, x, y = tiny
    windowed = TinyWindows().double()
    windowed.load_state_dict(net.state_dict())
    halves = (x[..., :L // 2], x[..., L // 2:])

    def logits_of(offsets, logit_offset=0.0):
        pres = [forward(params, half, offset)[1] for half, offset in zip(halves, offsets)]
        features = np.mean([np.maximum(pre, 0).mean(2) for pre in pres], axis=0)
        return features @ params["fc.weight"].T + params["fc.bias"] + logit_offset, pres

    offsets = [np.zeros((N, C, L // 2 - K + 1)) for _ in halves]
    logit_offset = np.zeros((N, CLASSES))
    logits, pres = logits_of(offsets)
    d_pres = [numeric_grad(lambda: cross_entropy(logits_of(offsets)[0], y), offset) for offset in offsets]
    d_logits = numeric_grad(lambda: cross_entropy(logits_of(offsets, logit_offset)[0], y), logit_offset)
    per_clip = sum((pre * d).sum(2) for pre, d in zip(pres, d_pres))  # (N, C): both windows of a clip
    expected = 0.5 * (per_clip ** 2).mean(0).sum() + 0.5 * ((logits * d_logits) ** 2).mean(0).sum()
    assert fisher_score(windowed, x_t, y_t) == pytest.approx(expected, rel=1e-5)


def test_fisher_of_a_linear_layer_over_a_sequence_is_that_of_the_same_one_wide_conv():
    """A Linear applied to (N, T, C) has its channels last: Fisher summed over the channels, per time step, and
    scored the network 6 % lower than the same network written with a 1-wide Conv1d over (N, C, T)."""
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv1d(4, 6, 1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(6, CLASSES))

    class Sequence(nn.Module):  # (N, 4, T) → (N, T, 4) → Linear → (N, 6, T): the same function
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 6)
            self.rest = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(6, CLASSES))

        def forward(self, x):
            return self.rest(self.linear(x.transpose(1, 2)).transpose(1, 2))

    seq = Sequence()
    with torch.no_grad():
        seq.linear.weight.copy_(conv[0].weight[..., 0])
        seq.linear.bias.copy_(conv[0].bias)
        seq.rest[3].load_state_dict(conv[4].state_dict())
    x, y = torch.randn(N, 4, 7, dtype=torch.float64), torch.arange(N) % CLASSES
    conv, seq = conv.double(), seq.double()
    assert torch.allclose(conv(x), seq(x))
    assert fisher_score(seq, x, y) == pytest.approx(fisher_score(conv, x, y), rel=1e-12)


def test_naswot_with_fewer_units_than_clips_is_undefined_not_rounding_noise():
    """K = [C, 1−C][C, 1−C]ᵀ has rank ≤ units + 1: with 2 units and 4 clips of distinct codes it is singular, and its
    log-det (−34) was scored or called undefined by the sign of the rounding."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        net[1].weight.copy_(torch.eye(2))
    codes = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # every code once
    with pytest.raises(Undefined, match=r"2 activation unit\(s\) for 4 clips: .* singular"):
        naswot_score(net, codes[:, None, :])
    assert math.isfinite(naswot_score(net, codes[:3, None, :]))  # 3 clips: rank 3, defined


def test_the_macs_proxy_counts_every_time_it_is_timed(monkeypatch):
    """A search runs each proxy once untimed (imports, kernel set-up) before timing it: that run filled the MAC
    count's process cache, and the first architecture's `macs` was timed as a lookup (2e-05 s against 0.01-0.08 s)."""
    from rwbench import macs
    from rwbench.frontend import FRONTENDS

    counted = []
    monkeypatch.setattr(macs, "_MACS", {})  # the 7 stays in this test
    monkeypatch.setattr(macs, "_count_macs", lambda spec, width, seconds: counted.append(spec.name) or 7)
    ctx = ProxyContext(spec=FRONTENDS.get("strided_512_512"), width="small")
    assert [PROXIES.get("macs").compute(ctx).value for _ in range(2)] == [7.0, 7.0] and len(counted) == 2
    macs.count_macs(ctx.spec, "small")  # a result file's count: from the cache
    assert len(counted) == 2


def test_every_proxy_runs_on_a_sampled_architecture():
    from toy import tone_dataset

    from rwbench.frontend import FRONTENDS
    from rwbench.search_space import load_space

    space = load_space("logmel")
    spec = FRONTENDS.get(space.frontend(space.sample(1, seed=1)[0]).name)
    dataset = tone_dataset(n_per_class=4)
    waves = torch.randn(6, spec.min_samples() + 256, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    ctx = ProxyContext(spec=spec, width=4, seeds=(0, 1), dataset=dataset, batch=lambda: (waves, labels))
    for proxy in PROXIES:
        if proxy.kind == "random-weight":
            continue
        value = proxy.compute(ctx)
        assert math.isfinite(value.value), proxy.name
        if proxy.kind == "zero-cost":
            assert set(value.per_seed) == {0, 1}
            label_free = proxy.name in ("synflow", "naswot", "jacob_cov")  # their papers score without labels
            assert value.detail.get("labels_used", True) is not label_free, proxy.name
    net = ProxyNetwork(spec, 4, 3, seed=0)
    assert net(network_input(spec, waves)).shape == (6, 3)


def test_the_dim_proxy_counts_the_default_layers_only():
    from rwbench.frontend import FRONTENDS

    spec = FRONTENDS.get("musicnn")  # features mean_pool + max_pool by default (753 each), not every layer
    value = PROXIES.get("dim").compute(ProxyContext(spec=spec, width="small"))
    assert value.value == 2 * 753 and value.value < spec.dim("small")


def test_a_proxy_is_a_function_of_network_and_minibatch_not_of_the_random_state():
    """rese2's front-end holds dropout: the proxy network keeps it off (batch norm stays in training mode), so two
    different global random states give one grad_norm; with its dropout on they did not (165.8 vs 170.9)."""
    from torch import nn as tnn

    from rwbench.frontend import FRONTENDS
    from rwbench.proxies import ZERO_COST, ProxyNetwork, network_input
    from rwbench.tasks import TASK_TYPES

    spec, task = FRONTENDS.get("rese2_multi"), TASK_TYPES["multiclass"]
    inputs = network_input(spec, torch.randn(2, 60000, generator=torch.Generator().manual_seed(0)) * 0.1)
    targets = task.head_targets(torch.tensor([0, 1]))
    values = []
    for state in (1, 2):
        torch.manual_seed(state)
        net = ProxyNetwork(spec, "small", 2, seed=0)
        dropouts = [m for m in net.modules() if isinstance(m, tnn.Dropout)]
        norms = [m for m in net.modules() if isinstance(m, tnn.modules.batchnorm._BatchNorm)]
        assert dropouts and not any(m.training for m in dropouts) and all(m.training for m in norms)
        values.append(ZERO_COST["grad_norm"][0](net, inputs, targets, task.head_loss()))
    assert values[0] == values[1]


@pytest.mark.parametrize("name, module", [("timbral", "musically_motivated"), ("vertical_7x96", "vertical"),
                                          ("rese2_multi", "rese2"), ("samplecnn", "samplecnn")])
def test_naswot_reads_every_relu_unit_where_embedding_pools_first(name, module, monkeypatch):
    """Embedding applies the ReLU after the max-pool (the same values, fewer ReLUs); naswot read only the pooled
    units there (timbral 72.9 where the network as written gives 100.6). A proxy network runs in training mode: the
    order as written."""
    import importlib

    from rwbench.frontend import FRONTENDS
    from rwbench.proxies import ProxyNetwork, network_input

    spec = FRONTENDS.get(name)
    waves = torch.randn(6, max(spec.min_samples(), spec.sample_rate), generator=torch.Generator().manual_seed(0))
    x = network_input(spec, waves)
    net = ProxyNetwork(spec, "small", 3, seed=0)
    score = naswot_score(net, x)
    as_written = importlib.import_module(f"rwbench.architectures.{module}")
    monkeypatch.setattr(as_written, "relu_of_max", lambda z, pool, training, relu=torch.relu: pool(relu(z)))
    assert naswot_score(net, x) == pytest.approx(score, rel=1e-12)


def test_a_jacobian_that_is_not_finite_is_named_so():
    """sqrt at 0 has no derivative: the reason said 'a clip's input Jacobian is constant'."""
    from rwbench.proxies import Undefined, jacob_cov_score

    class Magnitude(nn.Module):
        def forward(self, x):
            return torch.sqrt(x * x).sum(dim=-1, keepdim=True)

    x = torch.zeros(3, 1, 8, dtype=torch.float64)
    x[:, :, 1:] = torch.randn(3, 1, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(Undefined, match="input Jacobian is not finite"):
        jacob_cov_score(Magnitude(), x)
