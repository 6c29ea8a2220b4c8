"""Proxies: scores of an untrained front-end that should rank architectures as their trained accuracy does.

Each proxy is registered with :func:`register_proxy` in :data:`PROXIES` (entry-point group ``rwbench.proxies``) and
maps a :class:`ProxyContext` to a :class:`ProxyValue`; higher is better for every one. ``rwbench search`` records
each proxy's wall time beside its value. Three kinds:

* ``random-weight`` — the study's: the front-end's random-weight embedding + ``elm`` / ``svm`` under the dataset's
  protocol (nested CV on its outer folds, optionally on a recorded subset of them), mean primary metric over seeds,
  computed by the ordinary embed and evaluate stages (:mod:`rwbench.pipeline`; embeddings cached as ever).
* ``zero-cost`` — one minibatch of training clips through the untrained :class:`ProxyNetwork`:

  ============  ==============================================================================================
  ``synflow``   Tanaka et al. 2020: weights → |weights|, batch norm off, one all-ones input (float64);
                R = Σ outputs; Σ over conv/linear weights of |θ ⊙ ∂R/∂θ|
  ``naswot``    Mellor et al. 2021: binary code of each activation unit (input > 0 of every nonlinearity, a
                module or a functional call such as ``torch.relu``) per clip; K = Σ_layers [c·cᵀ + (1−c)·(1−c)ᵀ]
                (= units − Hamming distance); log |det K|
  ``jacob_cov`` Mellor et al. 2020 (v1), as Abdelfattah et al. 2021: J = ∂(Σ logits)/∂input per clip; the
                eigenvalues λ of corrcoef(J): −Σ [log(λ + 1e-5) + 1/(λ + 1e-5)]; the head reads the features
                unstandardised here (:meth:`ProxyNetwork.per_clip`: on batch statistics Σ logits is constant)
  ``grad_norm`` Abdelfattah et al. 2021: Σ over conv/linear layers of ‖∂L/∂W‖₂ (cross-entropy L)
  ``snip``      Lee et al. 2019: Σ |∂L/∂W ⊙ W| over conv/linear weights
  ``grasp``     Wang et al. 2020, as Abdelfattah et al. 2021: Σ −θ ⊙ (H g), g = ∂L/∂θ, H the Hessian of L
  ``fisher``    Theis et al. 2018 / Turner et al. 2020: per output channel of every conv/linear layer
                Δ = ½ · mean over clips of (Σ_positions activation · ∂L/∂activation)²; Σ Δ over channels (the
                paper's sum; zero-cost-nas also multiplies each channel by its fan-in when it broadcasts)
  ============  ==============================================================================================

  The network is in training mode (batch norm on batch statistics), as in zero-cost-nas; a score function uses
  up the network it is given (its batch-norm statistics and gradients change; ``synflow`` scores a copy): the
  search builds a fresh one per proxy and seed. A score that is undefined
  for a network on its minibatch (no nonlinearity to read codes from, a constant Jacobian, a second derivative that
  does not exist) is NaN with the reason in the record's ``detail.undefined``; ``rwbench search score`` counts and
  names them rather than leaving them out of n silently.
* ``baseline`` — ``params`` (front-end parameters), ``macs`` (multiply-accumulates per second of audio,
  :func:`rwbench.macs.count_macs`), ``dim`` (feature dimension of the default layers): what a proxy must beat.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dsp import LogMel
from .errors import RwbenchError
from .filehash import code_now, registering_code
from .frontend import Embedder, FrontendSpec, pool
from .registry import Registry

if TYPE_CHECKING:
    from .datamodel import Dataset
    from .pipeline import RunOptions
    from .protocol import OuterSplit

log = logging.getLogger(__name__)

ProxyKind = Literal["random-weight", "zero-cost", "baseline"]
PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)
# the nonlinearities whose input signs are naswot's codes: what torch's activation modules call (nn.ReLU … nn.Mish,
# nn.PReLU), what a network calls without a module, functions and tensor methods alike (``x.relu()``, the README's
# plugin style, was not seen: naswot read some layers only, or none and was undefined)
_METHODS = ("relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_", "prelu", "hardshrink")
NONLINEARITIES = frozenset({
    torch.relu, torch.relu_, F.relu, F.relu_, F.relu6, F.leaky_relu, F.leaky_relu_, F.rrelu, F.elu, F.elu_, F.celu,
    F.gelu, F.selu, torch.selu, F.silu, F.mish, F.hardswish, F.hardsigmoid, F.hardtanh, F.softplus, F.softsign,
    F.prelu, torch.prelu, F.tanh, torch.tanh, F.sigmoid, torch.sigmoid, F.logsigmoid,
    *(getattr(torch.Tensor, name) for name in _METHODS)})
JACOB_K = 1e-5


@dataclass
class ProxyValue:
    value: float
    per_seed: dict[int, float] = field(default_factory=dict)
    detail: dict = field(default_factory=dict)
    seconds: float | None = None  # the cost when it is not the call's wall time (as result files recorded it)
    device: str | None = None  # where that cost was measured (those results' devices)


@dataclass
class RandomWeightSetup:
    """How the random-weight proxies evaluate: the run's options (results folder of their own, shared embedding
    cache), the outer splits scored (all, or a recorded subset) and the dataset as results describe it."""

    opts: RunOptions
    splits: list[OuterSplit] | None = None
    described: dict[str, Any] | None = None


@dataclass
class ProxyContext:
    """What a proxy may read: the front-end instance, the seeds of its random weights, the dataset, a lazily loaded
    minibatch of training clips ``(waves (batch, samples), labels)``, and the random-weight setup."""

    spec: FrontendSpec
    width: str | int = "small"
    seeds: tuple[int, ...] = (0,)
    dataset: Dataset | None = None
    batch: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None
    random_weight: RandomWeightSetup | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class ProxySpec:
    name: str
    kind: ProxyKind
    compute: Callable[[ProxyContext], ProxyValue]
    source: str
    description: str
    version: int = 1  # bump when the computation changes: it is part of the proxy cache key
    code: str | None = None  # sha256 of a plugin's source file (filehash.code_sha256), taken where it is registered:
    # an edited plugin proxy is never read from the old one's cache

    @property
    def code_now(self) -> str | None:
        """:attr:`code` as ``compute`` is now (:func:`rwbench.filehash.code_now`)."""
        return code_now(self.code, self.compute)

    def __post_init__(self) -> None:
        if self.kind not in get_args(ProxyKind):
            raise RwbenchError(f"proxy {self.name!r}: kind {self.kind!r} is not one of {list(get_args(ProxyKind))}")


PROXIES: Registry[ProxySpec] = Registry("proxy", builtins="rwbench.proxies", group="rwbench.proxies")


def register_proxy(**fields) -> Callable[[Callable[[ProxyContext], ProxyValue]], Callable[[ProxyContext], ProxyValue]]:
    """Register the decorated ``ProxyContext -> ProxyValue`` function with the given :class:`ProxySpec` fields."""

    def decorator(compute):
        PROXIES.add(ProxySpec(compute=compute, **{"code": registering_code(compute), **fields}))
        return compute

    return decorator


# -- the network the zero-cost proxies score -------------------------------------------------------------------------
class ProxyNetwork(nn.Module):
    """Network input → logits: the front-end's network (seeded random weights), its default feature layers each
    mean-pooled and concatenated, batch norm without affine terms, a linear head (Xavier, seeded): the architecture
    of the classifier ``rwbench train`` trains, without its dropout, its front-end at the same initial weights (the
    head is drawn from the proxy's seed, not the training's: another draw of the same distribution), taking the input
    after the fixed log-mel transform
    (:func:`network_input`). In training mode (batch norm normalises with the minibatch's statistics) except for the
    front-end's own dropout, which stays off: a proxy is a function of the network and the minibatch, not of the
    process's random state (rese2's dropout made grad_norm differ by 3 % between two runs)."""

    def __init__(self, spec: FrontendSpec, width: str | int, n_classes: int, *, seed: int) -> None:
        super().__init__()
        self.net = Embedder(spec, width=width, seed=seed).net
        self.keep = [spec.feature_layers.index(layer) for layer in spec.defaults]
        dim = spec.dim(width, layers=spec.defaults)
        self.standardise = nn.BatchNorm1d(dim, affine=False)
        self.head = nn.Linear(dim, n_classes)
        self.standardised = True
        with torch.no_grad():
            nn.init.xavier_uniform_(self.head.weight, generator=torch.Generator().manual_seed(seed))
            self.head.bias.zero_()
        self.train()

    def train(self, mode: bool = True) -> ProxyNetwork:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = self.net(x)
        features = torch.cat([pool(layers[i]) for i in self.keep], dim=1)
        return self.head(self.standardise(features) if self.standardised else features)

    @contextmanager
    def per_clip(self) -> Iterator[ProxyNetwork]:
        """The network with the head reading its features unstandardised, so that no clip's logits depend on the
        others' through the head. On batch statistics every standardised feature sums to zero over the minibatch, so
        Σ logits is a constant and its input gradient is zero: jacob_cov would score rounding noise."""
        self.standardised = False
        try:
            yield self
        finally:
            self.standardised = True


def network_input(spec: FrontendSpec, waves: torch.Tensor) -> torch.Tensor:
    """``(batch, samples)`` → what the network reads: ``(batch, 1, frames, n_mels)`` or ``(batch, 1, samples)``."""
    x = waves.unsqueeze(1)
    if spec.input_kind == "logmel" and spec.logmel is not None:  # they come together (FrontendSpec checks)
        with torch.no_grad():
            x = LogMel(spec.logmel).to(waves.device)(x)
    return x


def prunable(net: nn.Module) -> list[nn.Conv1d | nn.Conv2d | nn.Linear]:
    return [m for m in net.modules() if isinstance(m, PRUNABLE)]


def _without_batch_norm(net: nn.Module) -> nn.Module:
    for name, child in net.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, nn.Identity())
        else:
            _without_batch_norm(child)
    return net


# -- zero-cost scores: (network → logits, inputs, targets, loss) → float ---------------------------------------------
def synflow_score(net: nn.Module, inputs: torch.Tensor, targets=None, loss_fn=None) -> float:
    net = _without_batch_norm(copy.deepcopy(net)).double()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            tensor.abs_()
    net.zero_grad()
    net(torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)).sum().backward()
    return float(sum((m.weight * m.weight.grad).abs().sum().item() for m in prunable(net) if m.weight.grad is not None))


class Undefined(RwbenchError):
    """A zero-cost score that does not exist for this network on this minibatch; the message says why."""


class _ActivationCodes(torch.overrides.TorchFunctionMode):
    """Adds each nonlinearity call's input codes (> 0, per clip of the batch) to naswot's kernel. A function mode sees
    functional calls and modules alike (a module calls its function), each once: the mode is off inside a call."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.kernel, self.calls, self.units = torch.zeros(n, n, dtype=torch.float64), 0, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        x, n = (args[0] if args else None), len(self.kernel)
        # rows: the clips, or a clip-major batch of each clip's windows (musicnn's patches, samplecnn's segments),
        # whose rows together are their clip's units
        if func in NONLINEARITIES and isinstance(x, torch.Tensor) and x.dim() and x.shape[0] % n == 0:
            codes = (x.detach().reshape(n, -1) > 0).double()
            self.kernel.add_((codes @ codes.T + (1 - codes) @ (1 - codes).T).cpu())
            self.calls, self.units = self.calls + 1, self.units + codes.shape[1]
        return func(*args, **(kwargs or {}))


def naswot_score(net: nn.Module, inputs: torch.Tensor, targets=None, loss_fn=None) -> float:
    with torch.no_grad(), _ActivationCodes(inputs.shape[0]) as codes:
        net(inputs)
    if not codes.calls:
        raise Undefined("naswot: the network calls no nonlinearity to read activation codes from")
    if codes.units + 1 < len(inputs):  # K = [C, 1−C][C, 1−C]ᵀ: its log-det would be rounding noise of either sign
        raise Undefined(f"naswot: {codes.units} activation unit(s) for {len(inputs)} clips: the kernel's rank is at "
                        "most units + 1, so it is singular")
    sign, logdet = np.linalg.slogdet(codes.kernel.numpy())
    if sign <= 0 or not np.isfinite(logdet):
        raise Undefined("naswot: the activation codes' kernel is singular (clips of the minibatch with the same codes "
                        "in every layer: duplicates, or digital silence)")
    return float(logdet)


def jacob_cov_score(net: nn.Module, inputs: torch.Tensor, targets=None, loss_fn=None) -> float:
    x = inputs.detach().clone().requires_grad_(True)
    with net.per_clip() if isinstance(net, ProxyNetwork) else nullcontext():  # the head's scale does not matter:
        out = net(x)  # the correlation of the Jacobians is invariant to it
    out.backward(torch.ones_like(out))
    if x.grad is None:
        raise RwbenchError("jacob_cov: the network's output does not depend on its input")
    jacobian = x.grad.reshape(len(x), -1).double().cpu().numpy()
    if not np.isfinite(jacobian).all():
        raise Undefined("jacob_cov: the input Jacobian is not finite (a derivative that does not exist at this input, "
                        "e.g. a square root at 0)")
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(jacobian)
    if not np.isfinite(corr).all():
        raise Undefined("jacob_cov: a clip's input Jacobian is constant, so its correlations are undefined")
    eig = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(eig + JACOB_K) + 1.0 / (eig + JACOB_K)))


def _loss_backward(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn) -> None:
    net.zero_grad()
    loss_fn(net(inputs), targets).backward()


def grad_norm_score(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn=F.cross_entropy) -> float:
    _loss_backward(net, inputs, targets, loss_fn)
    return float(sum(m.weight.grad.norm().item() for m in prunable(net) if m.weight.grad is not None))


def snip_score(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn=F.cross_entropy) -> float:
    _loss_backward(net, inputs, targets, loss_fn)
    return float(sum((m.weight.grad * m.weight).abs().sum().item() for m in prunable(net) if m.weight.grad is not None))


def grasp_score(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn=F.cross_entropy) -> float:
    weights = [m.weight for m in prunable(net)]
    grads = torch.autograd.grad(loss_fn(net(inputs), targets), weights, allow_unused=True)
    graph = torch.autograd.grad(loss_fn(net(inputs), targets), weights, create_graph=True, allow_unused=True)
    z = sum((g.detach() * f).sum() for g, f in zip(grads, graph) if g is not None and f is not None)
    if not isinstance(z, torch.Tensor):  # the int 0 of an empty sum
        raise RwbenchError("grasp: no conv/linear weight of the network has a gradient")
    hessian_g = torch.autograd.grad(z, weights, allow_unused=True)
    value = float(sum((-w.detach() * hg).sum().item() for w, hg in zip(weights, hessian_g) if hg is not None))
    if not np.isfinite(value):
        raise Undefined("grasp: the Hessian-gradient product is not finite: a second derivative of the network does not "
                        "exist on this minibatch (e.g. l2 pooling's square root at frames of digital silence)")
    return value


def fisher_score(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn=F.cross_entropy) -> float:
    outputs: list[tuple[torch.Tensor, bool]] = []  # (activation, channels last: a Linear's over a sequence)

    def keep(module, args, output):
        output.retain_grad()
        outputs.append((output, isinstance(module, nn.Linear)))

    handles = [m.register_forward_hook(keep) for m in prunable(net)]
    try:
        _loss_backward(net, inputs, targets, loss_fn)
    finally:
        for handle in handles:
            handle.remove()
    total, n = 0.0, len(inputs)
    for act, channels_last in outputs:
        if act.grad is None:
            continue
        product = (act * act.grad).detach()
        if channels_last and product.dim() > 2:  # (N, T, C): sum over T per channel, as a 1-wide conv's (N, C, T)
            product = product.movedim(-1, 1)
        per_channel = product.flatten(2).sum(2) if product.dim() > 2 else product
        if len(per_channel) % n == 0:  # a clip-major batch of each clip's windows: the clip's positions are all of them
            per_channel = per_channel.reshape(n, -1, per_channel.shape[-1]).sum(1)
        total += float(0.5 * per_channel.pow(2).mean(0).sum())
    return total


def _zero_cost(score: Callable, *, needs_labels: bool) -> Callable[[ProxyContext], ProxyValue]:
    """A proxy computing ``score`` on the context's minibatch, once per seed (a fresh :class:`ProxyNetwork` each)."""

    def compute(ctx: ProxyContext) -> ProxyValue:
        if not ctx.spec.is_learnable():
            return ProxyValue(float("nan"), detail={"note": "no weights (input kind 'none')"})
        if ctx.batch is None or ctx.dataset is None:
            raise RwbenchError("zero-cost proxies need a dataset and a minibatch")
        waves, labels = ctx.batch()
        inputs = network_input(ctx.spec, waves.to(ctx.device))
        n_classes, task = len(ctx.dataset.classes), ctx.dataset.kind
        targets, loss = task.head_targets(labels).to(ctx.device), task.head_loss()  # the trained head's loss
        per_seed, undefined = {}, {}
        for seed in ctx.seeds:
            net = ProxyNetwork(ctx.spec, ctx.width, n_classes, seed=seed).to(ctx.device)
            try:
                value = score(net, inputs, targets, loss)
                if not np.isfinite(value):  # float64 overflow (synflow of a deep network), or inf·0
                    raise Undefined(f"the score is {value} on this network: it overflows float64 or is not a number")
                per_seed[seed] = value
            except Undefined as why:
                per_seed[seed], undefined[str(seed)] = float("nan"), str(why)
        detail = {"batch": len(waves), **({} if needs_labels else {"labels_used": False}),
                  **({"undefined": undefined} if undefined else {})}
        return ProxyValue(float(np.mean(list(per_seed.values()))), per_seed, detail)

    return compute


ZERO_COST = {
    "synflow": (synflow_score, False, "Tanaka et al. 2020, 'Pruning neural networks without any data by iteratively "
                                      "conserving synaptic flow' (NeurIPS)", "Σ |θ ⊙ ∂R/∂θ|, |θ|, all-ones input"),
    "naswot": (naswot_score, False, "Mellor et al. 2021, 'Neural architecture search without training' (ICML)",
               "log |det K| of the activation codes' overlap kernel"),
    "jacob_cov": (jacob_cov_score, False, "Mellor et al. 2020 (arXiv v1); Abdelfattah et al. 2021 (ICLR)",
                  "−Σ log(λ+k) + 1/(λ+k) of the input-Jacobian correlation"),
    "grad_norm": (grad_norm_score, True, "Abdelfattah et al. 2021, 'Zero-cost proxies for lightweight NAS' (ICLR)",
                  "Σ_layers ‖∂L/∂W‖"),
    "snip": (snip_score, True, "Lee et al. 2019, 'SNIP: single-shot network pruning' (ICLR)", "Σ |∂L/∂W ⊙ W|"),
    "grasp": (grasp_score, True, "Wang et al. 2020, 'Picking winning tickets before training by preserving gradient "
                                 "flow' (ICLR); sign as Abdelfattah et al. 2021", "Σ −θ ⊙ Hg"),
    "fisher": (fisher_score, True, "Theis et al. 2018; Turner et al. 2020 (BlockSwap, ICLR)",
               "Σ_channels ½ mean (Σ a·∂L/∂a)²"),
}
# 2: the front-end's dropout off (values change only for networks with dropout: rese2_multi); naswot 3: functional
# nonlinearities are read too, and clip-major batches of windows; jacob_cov 3: the head unstandardised (per_clip);
# naswot 5: every ReLU unit read where embedding pools first (timbral, vertical, rese2, samplecnn: training mode runs
# the order as written, fusion.relu_of_max); naswot 6: tensor-method and more activation calls read (NONLINEARITIES);
# fisher 3: a clip's windows summed before squaring
VERSIONS = {"naswot": 7, "jacob_cov": 3, "fisher": 4}
for _name, (_score, _labels, _source, _what) in ZERO_COST.items():
    register_proxy(name=_name, kind="zero-cost", source=_source, description=_what, version=VERSIONS.get(_name, 2))(
        _zero_cost(_score, needs_labels=_labels))


# -- baselines -------------------------------------------------------------------------------------------------------
@register_proxy(name="params", kind="baseline", source="baseline", description="front-end parameter count")
def _params(ctx: ProxyContext) -> ProxyValue:
    return ProxyValue(float(ctx.spec.param_count(ctx.width)))


@register_proxy(name="macs", kind="baseline", source="baseline",
                description="multiply-accumulates per second of audio (rwbench.macs.count_macs)")
def _macs(ctx: ProxyContext) -> ProxyValue:
    from .macs import count_macs

    return ProxyValue(float(count_macs(ctx.spec, ctx.width, cached=False)))  # timed: the count, never a lookup


@register_proxy(name="dim", kind="baseline", source="baseline", description="feature dimension (default layers)")
def _dim(ctx: ProxyContext) -> ProxyValue:
    return ProxyValue(float(ctx.spec.dim(ctx.width, layers=ctx.spec.defaults)))


# -- the study's proxy -----------------------------------------------------------------------------------------------
def random_weight_score(ctx: ProxyContext, backend: str) -> ProxyValue:
    """Embed with random weights (each seed) and evaluate ``backend`` with nested CV on the setup's outer splits:
    the mean primary metric over seeds (each seed's: the mean over those splits)."""
    from .backends import BACKENDS
    from .fileio import read_json
    from .pipeline import RunLog, embed_all, evaluate_job, evaluation_jobs
    from .results import devices_label
    from .tasks import task_type

    setup = ctx.random_weight
    if setup is None or ctx.dataset is None:
        raise RwbenchError("random-weight proxies need a dataset and a random-weight setup")
    opts = replace(setup.opts, seeds=list(ctx.seeds), width=str(ctx.width), weights=["random"])
    protocol = (setup.described or ctx.dataset.describe())["protocol"]
    tasks = evaluation_jobs([ctx.dataset], [ctx.spec], [BACKENDS.get(backend)], opts, {ctx.dataset.key: protocol})
    reused = all(task.up_to_date(opts, protocol) for task in tasks)  # e.g. a study's random rows: nothing to embed
    if not reused:
        embed_all([ctx.dataset], [ctx.spec], opts, RunLog())
    metric = f"{task_type(ctx.dataset.task_type).primary}_mean"
    per_seed, files, recorded, devices = {}, [], 0.0, []
    for task in tasks:
        path, _ = evaluate_job(task, opts, setup.splits, setup.described)
        record = read_json(path)
        per_seed[int(record["seed"])] = float(record["summary"][metric])
        files.append(str(path))
        recorded += sum(float(record.get("timings", {}).get(k) or 0.0) for k in ("embed_seconds", "fit_seconds"))
        devices.append(record["device"])
    folds = [s.name for s in setup.splits] if setup.splits is not None else "all"
    # the cost is what the result files record, embedding (as timed when it was made) + fits, whether this call made
    # them or found them: its own wall time would leave out an embedding that a sibling proxy (rw_elm before rw_svm)
    # or an earlier run had cached
    return ProxyValue(float(np.mean(list(per_seed.values()))), per_seed,
                      {"backend": backend, "metric": metric, "outer_folds": folds, "result_files": files,
                       "reused": reused}, seconds=recorded, device=devices_label(devices))


for _backend in ("elm", "svm"):  # version 2: the cost is always the result files' embedding + fit seconds
    register_proxy(name=f"rw_{_backend}", kind="random-weight", version=2,
                   source="Pons & Serra 2019 (after Saxe et al. 2011): random-weight embedding + " + _backend.upper(),
                   description=f"random-weight embedding + {_backend} under the dataset's protocol (mean over seeds)")(
        partial(random_weight_score, backend=_backend))
