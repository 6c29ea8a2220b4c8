"""Check a front-end's declared metadata against its behaviour.

:func:`check_frontend` runs one front-end on short synthetic clips and returns one :class:`CheckResult` per property:

==================  ==========================================================================================
``clip_length``     the clip used, and ``spec.min_samples()``, give at least ``min_input`` frames/samples
                    (a shorter request is raised to the minimum)
``feature_layers``  the network returns one tensor per declared feature layer
``dim``             the produced embedding width equals ``spec.dim(width, pooling)`` for every pooling, and each
                    layer's width its ``layer_dims`` entry where the spec declares them
``finite``          every embedding value is finite
``silence``         a clip of digital silence (a silent crop or window of a real clip) embeds to finite values
``input_dependent`` distinct synthetic clips give distinct embeddings (a network ignoring its input fails)
``whole_clip``      changing the last quarter of a clip of at least 30 s changes its (mean-pooled) embedding: a
                    network that crops its input unsaid fails
``stateless``       embedding changes nothing in the network: its state dict is as before, and two fresh builds fed
                    two clips in opposite orders give each clip the same embedding (a lazy, data-dependent
                    initialisation such as an ActNorm set from its first batch made embeddings depend on the batch
                    size and on what came first, which no cache key holds)
``same_seed``       two builds with the same seed have identical weights and identical embeddings
``other_process``   a plugin's network built in another process (another ``PYTHONHASHSEED``) has the same weights:
                    one drawn from ``hash()`` or the clock is another network under one cache key (skipped for
                    rwbench's own networks and for a front-end registered in this process only)
``other_seed``      a different seed gives different random weights (parameters or buffers), and no kernel (a
                    parameter of dim ≥ 2) is the same for every seed; 1-D parameters and buffers the same for
                    every seed (band edges set by design, fixed DSP pieces, or a projection drawn from a fixed
                    generator) are named
``batch_size``      embedding a batch equals embedding its clips one by one, within the batch tolerance below
``…[dsp]``          ``finite``, ``silence``, ``input_dependent`` and ``batch_size`` again with each weight tag that
                    needs no file (``dsp``): a broken ``dsp_init`` is scored at chance as a valid row
``param_count``     ``spec.param_count(width)`` (a meta-device build) equals the built module's parameter count
``min_input``       a clip of exactly the declared minimum length embeds to finite values of the declared width
``odd_lengths``     clips off the whole-second grid (the checked length + 1 and + 17 samples, the minimum + 1, and 5
                    seeded lengths up to the checked one) embed to finite values of the declared width: a
                    layer that breaks on an even frame count passed on round lengths and crashed on 29.1-s clips
``cpu_cuda``        CPU and CUDA embeddings agree (TF32 off); skipped when CUDA is not available
==================  ==========================================================================================

Tolerances (float32), with ``scale = max |embedding|``:

- batch size: ``|a − b| ≤ 1e-4·|b| + 1e-5·max(scale, 1)`` (different batch sizes may take different kernels,
  which reorders float sums; measured: at most 4e-7·scale for the log-mel and DSP front-ends);
- CPU vs CUDA: ``|a − b| ≤ 1e-3·|b| + 1e-4·max(scale, 1)``.

TF32 is switched off while checking, so CUDA runs in true float32.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from .device import resolve_device
from .frontend import POOLINGS, Embedder, FrontendSpec, Pooling, layer_pooling, pool
from .macs import clip_samples

BATCH_RTOL, BATCH_ATOL = 1e-4, 1e-5
BATCH_GAINS = (1.0, 0.1, 0.01)  # the batch check's clips at three levels: a batch-wide normalisation shows
WHOLE_CLIP_SECONDS = 30.0  # the whole_clip check's clip: a GTZAN excerpt's length, the registry's longest
FILELESS_TAGS = ("dsp",)  # weight tags a front-end builds without a file: checked as random weights are
DEVICE_RTOL, DEVICE_ATOL = 1e-3, 1e-4
ODD_LENGTHS = 5  # seeded clip lengths the odd_lengths check draws (a frame-parity bug shows at half of them)


@dataclass(frozen=True)
class CheckResult:
    """One checked property. A skipped check counts as passed and says why in ``detail``."""

    name: str
    passed: bool
    detail: str
    skipped: bool = False


# -- inputs ------------------------------------------------------------------------------------
def synthetic_clips(n_clips: int, n_samples: int, sample_rate: int, *, seed: int = 1234) -> torch.Tensor:
    """Distinct, deterministic test clips ``(n_clips, n_samples)``: a few tones with vibrato plus noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    clips = []
    for _ in range(n_clips):
        f0 = 80.0 + 900.0 * torch.rand(1, generator=g, dtype=torch.float64)
        tone = sum(torch.sin(2 * math.pi * k * f0 * t + 3.0 * torch.sin(2 * math.pi * 2.0 * t)) / k for k in (1, 2, 3))
        noise = 0.05 * torch.randn(n_samples, generator=g, dtype=torch.float64)
        clips.append(0.2 * tone + noise)
    return torch.stack(clips).float()


def _embedder(spec: FrontendSpec, width: str | int, seed: int, device: str, weights: str = "random",
              pooling: Pooling = "mean") -> Embedder:
    return Embedder(spec, width=width, seed=seed, weights=weights, pooling=pooling).to(device)


def _device_of(embedder: Embedder) -> torch.device:
    for tensor in [*embedder.parameters(), *embedder.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _embed(embedder: Embedder, clips: torch.Tensor) -> torch.Tensor:
    return embedder(clips.to(_device_of(embedder))).cpu()


# -- the checks --------------------------------------------------------------------------------
def _close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float) -> tuple[bool, str]:
    if a.shape != b.shape:
        return False, f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"
    finite = torch.isfinite(b)
    # the scale of each column (at least 1): a layer of large values must not widen the tolerance of a small one
    # beside it, which the backends' standardisation makes count as much
    columns = torch.where(finite, b.abs(), 0.0).reshape(-1, b.shape[-1]).amax(0).clamp_min(1.0) if b.numel() else \
        torch.ones(b.shape[-1:])
    diff = torch.where(finite | torch.isfinite(a), (a - b).abs(), 0.0)  # non-finite values are the finite check's
    bound = torch.where(finite, rtol * b.abs(), torch.inf)  # (a NaN beside a number still fails: its diff is NaN)
    ok = bool((diff <= bound + atol * columns).all())
    worst = int((diff - bound - atol * columns).reshape(-1, b.shape[-1]).amax(0).argmax()) if b.numel() else 0
    return ok, (f"max |diff| {float(diff.max()) if diff.numel() else 0:.3g} (column {worst}: scale "
                f"{float(columns[worst]) if b.numel() else 1.0:.3g}; rtol {rtol}, atol {atol}·its column's scale)")


def _input_units(spec: FrontendSpec, n_samples: int) -> int:
    """Length of the network input for a clip: frames (log-mel) or samples."""
    return spec.logmel.n_frames(n_samples) if spec.input_kind == "logmel" and spec.logmel is not None else n_samples


def _check_clip_length(spec: FrontendSpec, seconds: float, n: int) -> CheckResult:
    units = "frames" if spec.input_kind == "logmel" else "samples"
    got, shortest = _input_units(spec, n), _input_units(spec, spec.min_samples())
    ok = got >= spec.min_input and shortest >= spec.min_input
    return CheckResult("clip_length", ok, f"{seconds} s requested → {n} samples = {got} {units}; "
                       f"declared minimum {spec.min_input} {units} ({spec.min_samples()} samples → {shortest})")


def _check_layers_and_dims(spec: FrontendSpec, width: str | int, embedder: Embedder, clips: torch.Tensor
                           ) -> list[CheckResult]:
    with torch.no_grad():
        layers = embedder.net(embedder.input(clips[:1].to(_device_of(embedder)).unsqueeze(1)))
    n_ok = len(layers) == len(spec.feature_layers)
    first = CheckResult("feature_layers", n_ok, f"returned {len(layers)} layers, declared {spec.feature_layers}")
    produced: dict[str, Any] = {mode: sum(pool(layer, layer_pooling(spec, mode)).shape[1] for layer in layers)
                                for mode in POOLINGS}
    declared: dict[str, Any] = {mode: spec.dim(width, mode) for mode in POOLINGS}
    if spec.layer_dims is not None:  # per layer too, when declared
        produced["layers"] = dict(zip(spec.feature_layers, (pool(layer).shape[1] for layer in layers)))
        declared["layers"] = dict(spec.layer_dims(spec.filters(width)))
    return [first, CheckResult("dim", produced == declared, f"produced {produced}, declared {declared}")]


def _check_same_seed(spec: FrontendSpec, width: str | int, seed: int, embedder: Embedder, clips: torch.Tensor,
                     out: torch.Tensor) -> CheckResult:
    again = _embedder(spec, width, seed, str(_device_of(embedder)))
    first, second = embedder.state_dict(), again.state_dict()
    same_weights = first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    same_out = _identical(_embed(again, clips), out)
    return CheckResult("same_seed", same_weights and same_out,
                       f"identical weights: {same_weights}, identical embeddings: {same_out}")


def write_weights_digest(out: str, name: str, width: str, seed: str, *plugin_files: str) -> None:
    """The other_process check's child: ``name``'s network built with ``seed`` after loading ``plugin_files`` (in
    order), its :func:`weights_digest` written to ``out`` (``unknown`` where no such front-end is registered here)."""
    from pathlib import Path

    from .frontend import FRONTENDS
    from .registry import load_plugin_file

    for file in plugin_files:
        load_plugin_file(file)
    digest = "unknown" if name not in FRONTENDS else weights_digest(
        Embedder(FRONTENDS.get(name), width=int(width) if width.isdigit() else width, seed=int(seed)).net)
    Path(out).write_text(digest)


def weights_digest(net: nn.Module) -> str:
    """The sha256 of ``net``'s state dict (names and values)."""
    digest = hashlib.sha256()
    for key, value in net.state_dict().items():
        digest.update(key.encode() + value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check_other_process(spec: FrontendSpec, width: str | int, seed: int, embedder: Embedder) -> CheckResult:
    """The network built with ``seed`` in a fresh process, its string hashes salted otherwise: the same weights."""
    from .frontend import FRONTENDS

    unbuildable = CheckResult("other_process", True, "skipped: not registered from a plugin file or package (another "
                                                     "process cannot build it)", skipped=True)
    if spec.code is None:
        return CheckResult("other_process", True, "skipped: rwbench's own network", skipped=True)
    if spec.code.startswith("value:") or spec.name not in FRONTENDS or FRONTENDS.get(spec.name).source != spec.source:
        return unbuildable  # a notebook's, a script's, one built in Python
    files = [str(m.__file__) for name, m in list(sys.modules.items())  # in load order: one may build on another
             if name.startswith("rwbench_plugin_") and getattr(m, "__file__", None)]
    salt = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "digest")
        done = subprocess.run([sys.executable, "-c", "import sys; from rwbench.check import write_weights_digest; "
                               "write_weights_digest(*sys.argv[1:])", out, spec.name, str(width), str(seed), *files],
                              env={**os.environ, "PYTHONHASHSEED": salt}, capture_output=True, text=True, timeout=600)
        said = open(out).read() if os.path.exists(out) else None
    if done.returncode or said is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return CheckResult("other_process", False, f"building it in another process failed: {last}")
    if said == "unknown":  # a script's or notebook's registration is not in the fresh process
        return unbuildable
    same = said == weights_digest(embedder.net)
    return CheckResult("other_process", same, f"seed {seed} in another process (PYTHONHASHSEED={salt}): "
                       + ("the same weights" if same else "other weights: they are drawn from something besides the "
                          "seed (hash(), the clock, os.urandom)"))


def _identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-equal, NaN where the other is NaN (a non-finite output is the finite check's, not a seed's fault)."""
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())


def _check_input_dependent(out: torch.Tensor) -> CheckResult:
    """Distinct clips give distinct embeddings: a network that ignores its input (a constant, all-zero or dead
    layer) would be scored at chance as if it were a front-end."""
    if len(out) < 2:
        return CheckResult("input_dependent", True, "skipped: one clip", skipped=True)
    if not torch.isfinite(out).all():
        return CheckResult("input_dependent", True, "skipped: non-finite embeddings (the finite check)", skipped=True)
    same = all(_identical(out[0], row) for row in out[1:])
    return CheckResult("input_dependent", not same, f"{len(out)} distinct clips → "
                       + ("identical embeddings: the network ignores its input" if same else "distinct embeddings"))


def _check_whole_clip(spec: FrontendSpec, embedder: Embedder, n: int) -> CheckResult:
    """The clip's last quarter replaced by another clip's: the mean-pooled embedding must change (a network reading
    only the start, ``x[..., :8000]``, scores a crop as the clip). On a clip of at least ``WHOLE_CLIP_SECONDS`` and
    four times the minimum input: on the checked clip alone, a network that keeps its first 3 s passed."""
    long = max(n, int(WHOLE_CLIP_SECONDS * spec.sample_rate), 4 * spec.min_samples())
    clips = synthetic_clips(2, long, spec.sample_rate)
    tail = long - long // 4
    changed = clips[:1].clone()
    changed[:, tail:] = clips[1:2, tail:]
    before, after = _embed(embedder, clips[:1]), _embed(embedder, changed)
    if not (torch.isfinite(before).all() and torch.isfinite(after).all()):
        return CheckResult("whole_clip", True, "skipped: non-finite embeddings (the finite check)", skipped=True)
    same = _identical(before, after)
    return CheckResult("whole_clip", not same, f"last quarter of a {long / spec.sample_rate:g}-s clip (samples "
                       f"{tail}…) changed → " + ("identical embedding: the network does not read the whole clip"
                                                  if same else "another embedding"))


def _floating_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t for name, t in net.state_dict().items() if t.is_floating_point() and t.numel()}


def _constant(tensor: torch.Tensor) -> bool:
    """All one value (zeros, ones: a bias or norm default, the same for every seed by design)."""
    return bool((tensor == tensor.flatten()[0]).all())


def _check_other_seed(spec: FrontendSpec, width: str | int, seed: int) -> CheckResult:
    if not spec.is_learnable():
        return CheckResult("other_seed", True, "skipped: no weights (input kind 'none')", skipped=True)
    first, second = (Embedder(spec, width=width, seed=s).net for s in (seed, seed + 1))
    a, b = _floating_state(first), _floating_state(second)
    parameters = {name for name, _ in first.named_parameters()}
    same = [name for name in a if torch.equal(a[name], b[name])]
    # a kernel (dim ≥ 2) the same for every seed is one the seed never reached; a 1-D parameter may start where its
    # design puts it (SincNet's band edges), a constant one is a default: named, not failed
    kernels = [name for name in same if name in parameters and a[name].dim() >= 2]
    vectors = [name for name in same if name in parameters and a[name].dim() < 2 and not _constant(a[name])]
    fixed_buffers = [name for name in same if name not in parameters and not _constant(a[name])]
    differ = [name for name in a if not torch.equal(a[name], b[name])]
    ok = bool(differ) and not kernels
    return CheckResult("other_seed", ok, f"seeds {seed}/{seed + 1}: {len(differ)} of {len(a)} weight tensors differ"
                       + ("" if differ else " (no random weights found)")
                       + f"; kernels the same for both: {kernels or 'none'}"
                       + (f"; 1-D parameters the same for both (set by design?): {vectors}" if vectors else "")
                       + f"; buffers the same for both (fixed, not drawn from the seed): {fixed_buffers or 'none'}")


def _check_batch(embedder: Embedder, clips: torch.Tensor) -> CheckResult:
    """A batch of clips at different levels (0, −20, −40 dB: a loudness normalised over the batch shows) against
    each clip alone."""
    gains = torch.tensor(BATCH_GAINS)[torch.arange(len(clips)) % len(BATCH_GAINS), None]
    clips = clips * gains
    out = _embed(embedder, clips)
    single = torch.cat([_embed(embedder, clips[i : i + 1]) for i in range(len(clips))])
    ok, detail = _close(single, out, BATCH_RTOL, BATCH_ATOL)
    return CheckResult("batch_size", ok, f"batch of {len(clips)} at gains {BATCH_GAINS[:len(clips)]} vs one by one: "
                                         f"{detail}")


def _check_params(spec: FrontendSpec, width: str | int, embedder: Embedder) -> CheckResult:
    declared, built = spec.param_count(width), sum(p.numel() for p in embedder.net.parameters())
    return CheckResult("param_count", declared == built, f"declared (meta build) {declared}, built {built}")


def _check_silence(embedder: Embedder, n: int) -> CheckResult:
    out = _embed(embedder, torch.zeros(1, n))
    n_bad = int((~torch.isfinite(out)).sum())
    return CheckResult("silence", n_bad == 0, f"a clip of {n} zero samples → {n_bad} non-finite of {out.numel()}"
                       + (" (a silent crop, window or segment of a real clip stops the run)" if n_bad else ""))


def _check_tag(spec: FrontendSpec, width: str | int, seed: int, device: str, tag: str,
               clips: torch.Tensor) -> list[CheckResult]:
    """The checks a weight tag can break, with the network under ``tag``'s weights."""
    embedder = _embedder(spec, width, seed, device, weights=tag)
    out = _embed(embedder, clips)
    n_bad = int((~torch.isfinite(out)).sum())
    results = [CheckResult("finite", n_bad == 0, f"{n_bad} non-finite of {out.numel()}"),
               *_guarded("silence", lambda: _check_silence(embedder, clips.shape[-1])),
               *_guarded("input_dependent", lambda: _check_input_dependent(out)),
               *_guarded("batch_size", lambda: _check_batch(embedder, clips))]
    return [CheckResult(f"{r.name}[{tag}]", r.passed, r.detail, r.skipped) for r in results]


def _check_min_input(spec: FrontendSpec, width: str | int, embedder: Embedder) -> CheckResult:
    n = max(spec.min_samples(), 1)
    ok, detail = _embeds_at(spec, width, embedder, n)
    return CheckResult("min_input", ok, f"{n} samples ({spec.input_length}) → {detail}")


def _embeds_at(spec: FrontendSpec, width: str | int, embedder: Embedder, n: int) -> tuple[bool, str]:
    """Whether one clip of ``n`` samples embeds to finite values of the declared width, and what it gave."""
    out = _embed(embedder, synthetic_clips(1, n, spec.sample_rate))
    declared, finite = (1, spec.dim(width)), bool(torch.isfinite(out).all())
    return tuple(out.shape) == declared and finite, f"{tuple(out.shape)} (declared {declared}), finite {finite}"


def _check_odd_lengths(spec: FrontendSpec, width: str | int, seed: int, embedder: Embedder, n: int) -> CheckResult:
    shortest = max(spec.min_samples(), 1)
    drawn = torch.randint(shortest, max(n, shortest + 2), (ODD_LENGTHS,), generator=torch.Generator().manual_seed(seed))
    lengths = sorted({n + 1, n + 17, shortest + 1, *drawn.tolist()})
    for length in lengths:
        try:
            ok, detail = _embeds_at(spec, width, embedder, length)
        except Exception as err:  # noqa: BLE001 — the length it breaks at is the finding
            ok, detail = False, f"raised {type(err).__name__}: {err}"
        if not ok:
            return CheckResult("odd_lengths", False, f"{length} samples → {detail}")
    return CheckResult("odd_lengths", True, f"{', '.join(map(str, lengths))} samples → the declared width, finite")


def _check_stateless(spec: FrontendSpec, width: str | int, seed: int, device: str, n: int) -> CheckResult:
    a, b = synthetic_clips(2, n, spec.sample_rate, seed=99).split(1)
    first, second = (_embedder(spec, width, seed, device) for _ in range(2))
    second.load_state_dict(first.state_dict())  # the same weights whatever the seed does (same_seed's concern)
    before = {k: v.clone() for k, v in first.state_dict().items()}
    a_first, b_second = _embed(first, a), _embed(first, b)
    b_first, a_second = _embed(second, b), _embed(second, a)
    after = first.state_dict()
    changed = sorted(k for k in before.keys() | after.keys()
                     if k not in before or k not in after or not torch.equal(before[k], after[k]))
    same_a, detail_a = _close(a_second, a_first, BATCH_RTOL, BATCH_ATOL)
    same_b, _ = _close(b_second, b_first, BATCH_RTOL, BATCH_ATOL)
    if changed:
        return CheckResult("stateless", False, f"embedding one clip modified the network's state: {changed[:5]}")
    return CheckResult("stateless", same_a and same_b, "two clips in opposite orders through two fresh builds: "
                       + ("each clip's embedding the same" if same_a and same_b else
                          f"a clip's embedding depends on what was embedded before it ({detail_a}): state kept "
                          "outside the state dict (a lazy, data-dependent initialisation?)"))


@contextlib.contextmanager
def _no_tf32() -> Iterator[None]:
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _check_cuda(spec: FrontendSpec, width: str | int, seed: int, clips: torch.Tensor) -> CheckResult:
    if not torch.cuda.is_available():
        return CheckResult("cpu_cuda", True, "skipped: CUDA is not available", skipped=True)
    with _no_tf32():
        cpu = _embed(_embedder(spec, width, seed, "cpu"), clips)
        cuda = _embed(_embedder(spec, width, seed, "cuda"), clips)
    ok, detail = _close(cuda, cpu, DEVICE_RTOL, DEVICE_ATOL)
    return CheckResult("cpu_cuda", ok, detail)


def _guarded(name: str, check: Callable[[], CheckResult | list[CheckResult]]) -> list[CheckResult]:
    """Run one check; an exception becomes a failed result naming it."""
    try:
        result = check()
    except Exception as err:  # a check must report, not abort the others
        return [CheckResult(name, False, f"raised {type(err).__name__}: {err}")]
    return result if isinstance(result, list) else [result]


def check_frontend(
    spec: FrontendSpec, width: str | int = "small", *, device: str = "cpu", seconds: float = 1.0, seed: int = 0,
    batch: int = 3,
) -> list[CheckResult]:
    """Check ``spec`` at ``width`` on ``batch`` synthetic clips of ``seconds`` (raised to the spec's minimum)."""
    device = str(resolve_device(device))  # a device this machine lacks is the command's error, not the front-end's
    n = clip_samples(spec, seconds)
    results = _guarded("clip_length", lambda: _check_clip_length(spec, seconds, n))
    clips = synthetic_clips(batch, n, spec.sample_rate)
    with _no_tf32():
        try:
            embedder = _embedder(spec, width, seed, device)
            out = _embed(embedder, clips)
        except Exception as err:
            return results + [CheckResult("embed", False, f"raised {type(err).__name__}: {err}")]
        results += _guarded("dim", lambda: _check_layers_and_dims(spec, width, embedder, clips))
        n_bad = int((~torch.isfinite(out)).sum())
        results.append(CheckResult("finite", n_bad == 0, f"{n_bad} non-finite of {out.numel()}"))
        results += _guarded("silence", lambda: _check_silence(embedder, n))
        results += _guarded("input_dependent", lambda: _check_input_dependent(out))
        results += _guarded("whole_clip", lambda: _check_whole_clip(spec, embedder, n))
        results += _guarded("stateless", lambda: _check_stateless(spec, width, seed, device, n))
        results += _guarded("same_seed", lambda: _check_same_seed(spec, width, seed, embedder, clips, out))
        results += _guarded("other_process", lambda: _check_other_process(spec, width, seed, embedder))
        results += _guarded("other_seed", lambda: _check_other_seed(spec, width, seed))
        results += _guarded("batch_size", lambda: _check_batch(embedder, clips))
        for tag in (t for t in spec.weights if t in FILELESS_TAGS):
            results += _guarded(f"weights[{tag}]", partial(_check_tag, spec, width, seed, device, tag, clips))
        results += _guarded("param_count", lambda: _check_params(spec, width, embedder))
        results += _guarded("min_input", lambda: _check_min_input(spec, width, embedder))
        results += _guarded("odd_lengths", lambda: _check_odd_lengths(spec, width, seed, embedder, n))
        results += _guarded("cpu_cuda", lambda: _check_cuda(spec, width, seed, clips))
    return results
