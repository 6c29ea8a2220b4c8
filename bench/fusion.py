"""Exact rewrites of a front-end's network: for inference, applied by the embed stage and ``rwbench profile``; and
one for training (the last item).

- **Batch norm folded into the convolution before it.** In eval mode BN is the per-channel affine map
  ``y ↦ (y − μ)·s + β`` with ``s = γ/√(σ² + ε)``, so ``BN(conv(x; W, b)) = conv(x; s·W, s·(b − μ) + β)``: the same
  function, one pass over the output less. The BN becomes an ``nn.Identity``.
- **Max pooling before a monotone activation** in an ``nn.Sequential`` (``[ReLU, MaxPool] → [MaxPool, ReLU]``):
  max commutes with a non-decreasing function, so the values are the same and the activation runs on the pooled map.
- **Max pooling before ReLU and batch norm** (:func:`max_of_bn_relu`, called by the networks that pool a
  ``BN(ReLU(conv))``: musicnn, its VGG, CREPE): in eval mode BN is, per channel, monotone — non-decreasing where
  γ ≥ 0, non-increasing where γ < 0, in floating point too — so the max of ``BN(ReLU(z))`` is ``BN(ReLU(max z))``
  on the first channels and ``BN(ReLU(min z))`` on the others: both element-wise steps run on the pooled map.

- **A one-channel input batch norm applied after the convolutions that read it, in training**
  (:class:`NormalisedInput`, musicnn's front): ``conv(γ·x̂ + β) = γ·conv(x̂) + β·conv(1)``,
  so the convolutions read the normalised input, which needs no gradient, and autograd skips their input gradient.

Which pairs qualify is read from the network's real data flow: one forward pass on the meta device (no memory, no
arithmetic) records, per tensor, the operations that read it. A BN is folded only when every input it gets is the
output of one plain convolution, read by nothing else and not returned as a feature layer; a Sequential is
reordered only when its members run nowhere else. A BN after an activation or behind zero padding (musicnn's) is
not a fold and stays. The rewrites hold for any weights (random, signal-processing, published, trained): folding
changes the rounding only (about 1e-7 relative in float32; under ``--precision bf16``/``fp16`` the folded weights are
rounded once to that precision, so fused and unfused differ by its rounding, up to ~1e-2 relative, and every embedding
is fused alike), so they are not part of the embedding cache key, as the batch size, which also changes the rounding of
the convolutions, is not. The rewritten network is checked against the network on a seeded random input: where they
differ (a module reached other than by its name, e.g. from a plain list of steps) every rewrite is put back.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Callable, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

if TYPE_CHECKING:
    from .frontend import Embedder

log = logging.getLogger(__name__)

CONVS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
MAX_POOLS: tuple[type[nn.Module], ...] = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)


def _as_built(module: nn.Module) -> bool:
    """No hook and no parametrisation changes what ``module`` computes (a weight-normed conv's ``weight`` is computed
    on each call: folding into it would write a temporary and drop the batch norm's scale)."""
    return not (parametrize.is_parametrized(module) or module._forward_hooks or module._forward_pre_hooks)


def _plain(module: nn.Module, kinds: tuple[type[nn.Module], ...]) -> bool:
    """``module`` is one of ``kinds`` and computes as it does (a subclass with its own ``forward``, a hook or a
    parametrisation: left alone)."""
    return any(isinstance(module, kind) and type(module).forward is kind.forward for kind in kinds) and _as_built(module)


def _foldable_bn(module: nn.Module) -> bool:
    return (isinstance(module, _BatchNorm) and type(module).forward is _BatchNorm.forward and not module.training
            and module.running_mean is not None and module.running_var is not None and _as_built(module))


def _monotone(module: nn.Module) -> bool:
    """A non-decreasing, piecewise-linear activation: exactly monotone in floating point too."""
    if isinstance(module, nn.LeakyReLU):
        return type(module).forward is nn.LeakyReLU.forward and module.negative_slope >= 0
    return _plain(module, (nn.ReLU, nn.ReLU6, nn.Hardtanh))


def _tensors(tree) -> list[torch.Tensor]:
    return [t for t in tree_leaves(tree) if isinstance(t, torch.Tensor)]


class _Reads(TorchDispatchMode):
    """Counts the operations that read each tensor; every tensor seen is kept alive so that ids stay unique."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[int] = Counter()
        self.alive: list[torch.Tensor] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        inputs = _tensors((args, kwargs or {}))
        self.reads.update(id(t) for t in inputs)
        out = func(*args, **(kwargs or {}))
        self.alive += inputs + _tensors(out)
        return out


@dataclass
class DataFlow:
    """What one forward pass showed: each module's calls, each conv's outputs, each BN's inputs, tensor reads."""

    calls: Counter[str] = field(default_factory=Counter)
    conv_out: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    bn_in: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    reads: Counter[int] = field(default_factory=Counter)
    param_reads: Counter[str] = field(default_factory=Counter)  # operations that read each parameter, by name
    outputs: set[int] = field(default_factory=set)
    alive: list = field(default_factory=list, repr=False)


def trace(net: nn.Module, example: torch.Tensor) -> DataFlow:
    """The data flow of ``net(example)``, run on the meta device (or on ``example``'s, where meta fails)."""
    flow, alive, hooks = DataFlow(), [], []
    modules = list(net.named_modules())  # judged before the trace's own hooks are on them
    convs = {name for name, module in modules if _plain(module, CONVS)}
    norms = {name for name, module in modules if _foldable_bn(module)}
    for name, module in modules:
        def after(module, inputs, output, name=name):
            flow.calls[name] += 1
            if name in convs:
                flow.conv_out[name].append(id(output))
                alive.append(output)

        def before(module, inputs, name=name):
            flow.bn_in[name].append(id(inputs[0]))
        hooks.append(module.register_forward_hook(after))
        if name in norms:
            hooks.append(module.register_forward_pre_hook(before))
    try:
        try:
            out = _run(_meta_copy(net), torch.empty_like(example, device="meta"), flow)
        except Exception as err:  # a module that keeps tensors outside its parameters and buffers, or reads values
            log.debug("meta trace of %s failed (%s); tracing on %s", type(net).__name__, err, example.device)
            flow.calls.clear()
            flow.conv_out.clear()
            flow.bn_in.clear()
            out = _run(net, example, flow)
    finally:
        for hook in hooks:
            hook.remove()
    flow.outputs = {id(t) for t in _tensors(out)}
    flow.alive += alive
    return flow


def _meta_copy(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose parameters and buffers are empty tensors on the meta device (no memory), the hooks the
    trace put on its modules copied with them. A copy, not ``functional_call`` on ``net``: that left meta tensors in
    a network where one module is registered under two names (``self.last = self.blocks[-1]``)."""
    memo: dict[int, object] = {id(t): torch.empty_like(t, device="meta") for t in net.buffers()}
    memo.update({id(p): nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad) for p in net.parameters()})
    return copy.deepcopy(net, memo)


def _run(net: nn.Module, x: torch.Tensor, flow: DataFlow):
    """``net(x)``, counting reads into ``flow``."""
    mode = _Reads()
    with torch.no_grad(), mode:
        out = net(x)
    tensors = {**dict(net.named_parameters()), **dict(net.named_buffers())}
    flow.param_reads = Counter({name: mode.reads[id(t)] for name, t in tensors.items()})
    flow.reads = mode.reads
    flow.alive = mode.alive  # ids are unique only while their tensors live
    return out


def foldable_pairs(flow: DataFlow) -> list[tuple[str, str]]:
    """(conv, BN) names where every input of the BN is an output of that conv read by nothing else, every output
    of the conv goes to that BN, and none is a feature layer of the network."""
    produced = {out: conv for conv, outs in flow.conv_out.items() for out in outs}
    pairs = []
    for bn, inputs in flow.bn_in.items():
        convs = {produced.get(i) for i in inputs}
        conv = convs.pop() if len(convs) == 1 else None
        if conv is None:  # inputs from several modules, or from one that is not a conv
            continue
        outs = flow.conv_out[conv]
        if sorted(outs) == sorted(inputs) and all(flow.reads[i] == 1 and i not in flow.outputs for i in outs):
            pairs.append((conv, bn))
    return pairs


@torch.no_grad()
def fold(conv: _ConvNd, bn: _BatchNorm) -> None:
    """Fold eval-mode ``bn`` into ``conv`` (weights and bias in place, computed in float64)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fold: a batch norm without running statistics is not an affine map")
    scale = (bn.running_var.double() + bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    shift = (bias - bn.running_mean.double()) * scale + (bn.bias.double() if bn.bias is not None else 0.0)
    conv.weight.copy_(conv.weight.double() * scale.view(-1, *[1] * (conv.weight.dim() - 1)))
    if conv.bias is None:
        conv.bias = nn.Parameter(shift.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)
    else:
        conv.bias.copy_(shift)


def _replace(net: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(net.get_submodule(parent), leaf, module)


def _swap(seq: nn.Sequential, i: int) -> None:
    """Swap ``seq``'s members ``i`` and ``i + 1`` (its own undoing)."""
    seq[i], seq[i + 1] = seq[i + 1], seq[i]


def _pool_swaps(net: nn.Module, flow: DataFlow) -> list[tuple[nn.Sequential, int, str]]:
    """The ``[activation, max-pool]`` neighbours to swap, in order, in Sequentials that run as a whole (and whose
    members do not run elsewhere, e.g. unpacked by a ``forward``): (Sequential, position, what)."""
    swaps = []
    for name, seq in net.named_modules():
        if not (isinstance(seq, nn.Sequential) and type(seq).forward is nn.Sequential.forward and flow.calls[name]):
            continue
        members = list(seq)  # as the swaps before leave it: an activation may move past several pools
        for i in range(len(members) - 1):
            act, pool = members[i], members[i + 1]
            member = [f"{name}.{i}" if name else str(i), f"{name}.{i + 1}" if name else str(i + 1)]
            # an in-place activation rewrites its input, which another reader may see (a returned layer): kept
            if (_monotone(act) and not getattr(act, "inplace", False) and _plain(pool, MAX_POOLS) and not pool.return_indices
                    and all(flow.calls[m] == flow.calls[name] for m in member)):
                members[i], members[i + 1] = pool, act
                swaps.append((seq, i, f"{name}: {type(act).__name__} after {type(pool).__name__}"))
    return swaps


def fuse_for_inference(net: nn.Module, example: torch.Tensor) -> list[str]:
    """Apply the exact rewrites to ``net`` (in eval mode) in place; ``example`` is an input of ``net`` (its shape,
    dtype and memory format are what count). Returns what was done, one line per rewrite."""
    if net.training:
        raise ValueError("fuse_for_inference rewrites a network in eval mode only (batch norm uses its running stats)")
    flow = trace(net, example)
    tied = _tied_modules(net)
    # folding would rescale a tied or otherwise read weight for its other reader as well
    pairs = [(conv, bn) for conv, bn in foldable_pairs(flow) if conv not in tied and not _read_elsewhere(conv, flow)]
    swaps = _pool_swaps(net, flow)
    if not pairs and not swaps:
        return []
    probe = torch.randn(example.shape, generator=torch.Generator().manual_seed(0)).to(example)
    with torch.no_grad():
        before = [t.clone() for t in _tensors(net(probe))]
    done, undo = [], []
    for conv, bn in pairs:
        conv_module, bn_module = net.get_submodule(conv), net.get_submodule(bn)
        if not isinstance(conv_module, _ConvNd) or not isinstance(bn_module, _BatchNorm):  # what trace records
            raise TypeError(f"fuse_for_inference: {conv} / {bn} is not a convolution and a batch norm")
        undo.append(_unfold(net, conv_module, bn, bn_module))
        fold(conv_module, bn_module)
        _replace(net, bn, nn.Identity())
        done.append(f"{bn} folded into {conv}")
    for seq, i, what in swaps:
        _swap(seq, i)
        undo.append(partial(_swap, seq, i))
        done.append(what)
    with torch.no_grad():
        after = _tensors(net(probe))
    if not _same_outputs(before, after):  # a module reached other than by its name (a list of steps, say)
        for step in reversed(undo):
            step()
        log.warning("%s: not fused (the rewritten network's output differs from the network's on a test input: "
                    "its modules are reached other than by their names); it runs as built", type(net).__name__)
        return []
    return done


def _same_outputs(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    """The same outputs up to the rounding a rewrite changes (about 1e-6 of the largest value; a wrong rewrite
    changes them by its order)."""
    def close(a: torch.Tensor, b: torch.Tensor) -> bool:
        scale = float(a.detach().double().abs().nan_to_num(0, 0, 0).max()) if a.numel() else 0.0
        return a.shape == b.shape and torch.allclose(b.double(), a.double(), rtol=1e-4, atol=1e-4 * scale + 1e-12,
                                                     equal_nan=True)
    return len(before) == len(after) and all(close(a, b) for a, b in zip(before, after))


def _unfold(net: nn.Module, conv: _ConvNd, name: str, bn: _BatchNorm) -> Callable[[], None]:
    """What puts ``conv`` and ``bn`` back as they were before :func:`fold` and the BN's replacement."""
    weight = conv.weight.detach().clone()
    bias = None if conv.bias is None else conv.bias.detach().clone()

    @torch.no_grad()
    def restore() -> None:
        conv.weight.copy_(weight)
        if bias is None:
            conv.bias = None
        else:
            cast(torch.Tensor, conv.bias).copy_(bias)
        _replace(net, name, bn)
    return restore


def _read_elsewhere(conv: str, flow: DataFlow) -> bool:
    """Whether an operation besides ``conv``'s own calls reads its weight or bias (``F.conv1d(x, self.conv.weight)``
    in another branch, say)."""
    return any(flow.param_reads[f"{conv}.{p}"] > flow.calls[conv] for p in ("weight", "bias"))


def _tied_modules(net: nn.Module) -> set[str]:
    """Names of the modules that hold a parameter another module holds too (tied weights)."""
    owners: dict[int, list[str]] = {}
    for name, module in net.named_modules(remove_duplicate=False):
        for param in module.parameters(recurse=False):
            owners.setdefault(id(param), []).append(name)
    return {name for names in owners.values() if len(set(names)) > 1 for name in names}


def fuse_embedder(model: Embedder) -> list[str]:
    """:func:`fuse_for_inference` on an :class:`~rwbench.frontend.Embedder`'s network, traced on one clip of the
    front-end's minimum length (its input transform is run for real: a few milliseconds)."""
    spec = model.spec
    device = next((t.device for t in [*model.parameters(), *model.buffers()]), torch.device("cpu"))
    with torch.no_grad():
        x = model.input(torch.zeros(1, 1, max(spec.min_samples(), 1), device=device))
    if spec.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    try:
        done = fuse_for_inference(model.net, x)
    except Exception as err:  # noqa: BLE001 — e.g. a plugin whose declared minimum input is too short for its layers
        log.info("%s: not fused (tracing one clip of its minimum input failed: %s); it runs as built", spec.name,
                 str(err).splitlines()[0])
        return []
    log.debug("%s: %s", spec.name, "; ".join(done) or "nothing to fuse")
    return done


def relu_of_max(z: torch.Tensor, pool: Callable[[torch.Tensor], torch.Tensor], training: bool,
                relu: Callable[[torch.Tensor], torch.Tensor] = torch.relu) -> torch.Tensor:
    """``pool(relu(z))`` for a max-type ``pool``: in eval mode as ``relu(pool(z))`` (the same values, the ReLU on
    1/k of them); in training mode as written, so that what reads every ReLU's input (naswot's activation codes,
    a proxy network runs in training mode) sees the network as defined. Gradients are the same either way."""
    return pool(relu(z)) if training else relu(pool(z))


def max_of_bn_relu(z: torch.Tensor, bn: nn.Module, pool: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``pool(bn(relu(z)))`` for a max-type ``pool`` (a max-pool, ``amax``) that keeps the channel axis 1, with the
    ReLU and the batch norm run on the pooled map: the same values (see the module's docstring). In training mode
    (batch statistics of the unpooled map), for a module that is not a plain batch norm, or on the meta device (shapes
    only: the signs of γ are not known there), the original order."""
    if not _foldable_bn(bn) or z.is_meta or any(t.is_meta for t in bn.parameters()):
        return pool(bn(torch.relu(z)))
    norm = cast(_BatchNorm, bn)
    top = pool(z)
    falling = norm.weight < 0 if norm.weight is not None else None  # these channels' max is the min of z
    if falling is not None and bool(falling.any()):
        top = torch.where(falling.view(1, -1, *[1] * (top.dim() - 2)), -pool(-z), top)
    # functional: the pool may drop an axis (amax) that BatchNorm2d's shape check asks for
    return F.batch_norm(torch.relu(top), norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0,
                        norm.eps)


class NormalisedInput:
    """The output of a one-channel batch norm ``bn`` of ``x``, read by convolutions through :meth:`conv`.

    In training mode with a learnable affine, each convolution reads the normalised input ``x̂`` (batch statistics,
    no parameter) and the affine comes after it: a convolution is linear, so ``conv(pad(γ·x̂ + β)) =
    γ·conv(pad(x̂)) + β·conv(pad(1))``, the ones padded as the input is (zeros stay zeros) and convolved once, at
    batch 1; γ is folded into the weights (``γ·conv(x̂; W) = conv(x̂; γW)``). The values and gradients are the same up
    to rounding, but no gradient flows into the input of the convolutions, so autograd computes their weight
    gradients only: musicnn's training step, whose five one-channel convolutions of up to 7×67 dominate it, ran ×1.41
    faster on CPU (``benchmarks/train_step.py``); a single 3×3 convolution (musicnn's VGG) gains less than the shift
    map costs, so it is not used there. The running statistics are updated as the batch norm updates them.
    Otherwise (eval mode, no gradient, a frozen or absent affine, another module, the meta device) the batch norm as
    written, then the convolution."""

    def __init__(self, bn: nn.Module, x: torch.Tensor) -> None:
        self.bn, self.later = bn, self.applies(bn, x)
        if not self.later:
            self.x = bn(x)
            return
        norm = cast(_BatchNorm, bn)
        factor = 0.0  # _BatchNorm.forward's bookkeeping: the momentum, or a cumulative average when it is None
        if norm.track_running_stats and norm.num_batches_tracked is not None:
            norm.num_batches_tracked.add_(1)
            factor = 1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum
        stats = (norm.running_mean, norm.running_var) if norm.track_running_stats else (None, None)
        self.x = F.batch_norm(x, *stats, None, None, True, factor, norm.eps)

    @staticmethod
    def applies(bn: nn.Module, x: torch.Tensor) -> bool:
        return (isinstance(bn, _BatchNorm) and type(bn).forward is _BatchNorm.forward and bn.training and bn.affine
                and bn.num_features == 1 and torch.is_grad_enabled() and bn.weight.requires_grad and not x.is_meta)

    def conv(self, conv: nn.Module, pad: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> torch.Tensor:
        """``conv(pad(bn(x)))``, ``pad`` a zero padding (or any linear map) of the input."""
        if not self.later:
            return conv(pad(self.x))
        norm = cast(_BatchNorm, self.bn)
        if not _plain(conv, CONVS):
            return conv(pad(self.x * norm.weight + norm.bias))
        layer = cast(nn.Conv2d, conv)  # or Conv1d, Conv3d: each has _conv_forward (the convolution, bias apart)
        shift = layer._conv_forward(pad(torch.ones_like(self.x[:1])), layer.weight, None) * norm.bias  # batch 1
        if layer.bias is not None:
            shift = shift + layer.bias.view(1, -1, *[1] * (shift.dim() - 2))
        return layer._conv_forward(pad(self.x), layer.weight * norm.weight, None) + shift  # γ·conv(x̂; W) = conv(x̂; γW)
