"""``rwbench profile``: embedding throughput of front-ends against this device's matmul peak, in one run.

Each run first measures the device's peak in the run's precision (the best of several matrix products and
convolutions, in float32, or in bfloat16 / float16 under ``--precision bf16 / fp16``: square,
transposed, shaped as the front-ends' big convolutions), then, per front-end, builds an :class:`Embedder`
(random weights, seed 0) with the embed stage's exact rewrites (:mod:`rwbench.fusion`) and times it on seeded
noise clips after warm-up calls, keeping the best of a few timings. Clips shorter than a front-end's minimum are
lengthened by its declared pad rule, as the embed stage does. ``benchmarks/README.md`` explains every column.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pandas as pd
import psutil
import torch
from tabulate import tabulate

from .allocator import release_free_memory
from .audio import fix_length
from .compiler import compile_net
from .device import check_memory, resolve_device
from .errors import RwbenchError
from .frontend import PRECISIONS, Embedder, FrontendSpec, Precision
from .fusion import fuse_embedder
from .macs import clip_samples, count_macs
from .options import Forward, Placement, check_precision, check_seconds

log = logging.getLogger(__name__)

WARMUP_CALLS = 3  # untimed calls first: allocator, oneDNN/cuDNN kernel choice
MIN_TIME = 0.2  # seconds one timing should last at least; fast calls are looped to reach it
PEAK_REPEATS = 5  # timings per peak shape (best kept)
SLOW_MS_PER_CLIP = 2000.0
MIB = 2**20


@dataclass(kw_only=True)
class ProfileOptions(Placement, Forward):
    """What is timed and how: the shared device (:class:`~rwbench.options.Placement`), clips per call and
    ``torch.compile`` (:class:`~rwbench.options.Forward`; the first warm-up call compiles), plus the width and
    precision of the random-weight networks, the clip length, timings kept and warm-up calls, and whether the embed
    stage's exact rewrites (:mod:`rwbench.fusion`) apply."""

    batch_size: int = 8
    width: str | int = "small"  # a named width or a first-layer filter count
    precision: Precision = "fp32"
    seconds: float = 4.0
    repeats: int = 3
    warmup: int = WARMUP_CALLS
    peak_repeats: int = PEAK_REPEATS  # timings per peak shape
    fuse: bool = True

    def __post_init__(self) -> None:
        check_precision(self.precision)
        check_seconds(seconds=self.seconds)
        if min(self.repeats, self.peak_repeats) < 1 or self.warmup < 0:
            raise RwbenchError(f"repeats {self.repeats} and peak_repeats {self.peak_repeats} must be at least 1, "
                               f"warmup {self.warmup} at least 0")
        super().__post_init__()


# -- timing --------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn: Callable[[], object], device: torch.device, *, repeats: int, warmup: int = WARMUP_CALLS) -> float:
    """Best of ``repeats`` timings of ``fn()``, in seconds per call.

    ``warmup`` untimed calls come first; each timing loops ``fn`` often enough to last about ``MIN_TIME``
    (estimated from the last warm-up call), and the device is synchronised around it.
    """
    last = 0.0
    for _ in range(max(warmup, 1)):
        start = time.perf_counter()
        fn()
        _sync(device)
        last = time.perf_counter() - start
    calls = max(1, math.ceil(MIN_TIME / max(last, 1e-9)))
    best = math.inf
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        _sync(device)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


@dataclass(frozen=True)
class PeakShape:
    """One candidate for the peak: ``make(device)`` builds its operands and returns the call to time."""

    name: str
    flop: float  # per call
    make: Callable[[torch.device, torch.dtype], Callable[[], object]]


@dataclass(frozen=True)
class Peak:
    gflops: float  # the best candidate's rate
    shape: str  # its name
    rates: dict[str, float]  # every candidate's GFLOP/s, in the order measured


def _randn(*shape: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to(device, dtype)


def _gemm(m: int, k: int, n: int, name: str, layout: str = "A·B") -> PeakShape:
    """``(m, k) @ (k, n)``; ``layout`` Aᵀ·B or A·Bᵀ reads an operand transposed (a strided view, as conv
    weights often are)."""
    def make(device, dtype):
        rand = partial(_randn, device=device, dtype=dtype)
        a = rand(k, m).t() if layout == "Aᵀ·B" else rand(m, k)
        b = rand(n, k).t() if layout == "A·Bᵀ" else rand(k, n)
        out = torch.empty(m, n, device=device, dtype=dtype)
        return lambda: torch.mm(a, b, out=out)
    return PeakShape(f"{name} ({m}×{k}·{k}×{n}, {layout})", 2.0 * m * k * n, make)


def _conv2d(batch: int, channels: int, height: int, width: int, *, channels_last: bool) -> PeakShape:
    """A 3×3 'same' conv2d, ``channels`` → ``channels``, as ``nn.Conv2d`` runs it (oneDNN / cuDNN)."""
    def make(device, dtype):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        x = _randn(batch, channels, height, width, device=device, dtype=dtype).contiguous(memory_format=fmt)
        w = _randn(channels, channels, 3, 3, device=device, dtype=dtype).contiguous(memory_format=fmt)
        return lambda: torch.nn.functional.conv2d(x, w, padding=1)
    layout = "NHWC" if channels_last else "NCHW"
    return PeakShape(f"conv2d 3×3 {channels}→{channels} on {batch}×{height}×{width} ({layout})",
                     2.0 * batch * channels * channels * 9 * height * width, make)


def peak_shapes(device: torch.device) -> list[PeakShape]:
    """Square products, transposed layouts, the im2col products of the front-ends' biggest convolutions at paper
    width (rows: output positions of a few clips), and a plain big conv2d."""
    sizes = (2048, 4096, 8192) if device.type == "cuda" else (1024, 2048, 3072)
    return [
        *(_gemm(n, n, n, f"mm {n}²") for n in sizes),
        _gemm(2048, 2048, 2048, "mm 2048²", "Aᵀ·B"),
        _gemm(2048, 2048, 2048, "mm 2048²", "A·Bᵀ"),
        _gemm(2048, 9 * 717, 717, "vgg conv 3×3 717→717"),
        _gemm(4096, 3 * 512, 512, "sample_level conv 3, 512→512"),
        _gemm(2048, 7 * 896, 896, "frame_level conv 7, 896→896"),
        _conv2d(4, 256, 48, 48, channels_last=False),
        _conv2d(4, 256, 48, 48, channels_last=True),
    ]


def device_peak(device: torch.device, shapes: list[PeakShape] | None = None, *, repeats: int = PEAK_REPEATS,
                timer: Callable[..., float] | None = None, dtype: torch.dtype = torch.float32) -> Peak:
    """The device's peak in ``dtype``: every shape timed (best of ``repeats`` after a warm-up), the best rate kept.

    One 2048² product alone is not a peak: on a 2-core CPU it read 156 GFLOP/s where front-ends ran at 164."""
    timer = timer or best_seconds
    rates: dict[str, float] = {}
    for shape in shapes or peak_shapes(device):
        call = shape.make(device, dtype)
        rates[shape.name] = shape.flop / timer(call, device, repeats=repeats, warmup=1) / 1e9
        del call
    best = max(rates, key=lambda name: rates[name])
    return Peak(rates[best], best, rates)


class PeakMemory:
    """Peak memory above the level at entry, in MiB: CUDA ``max_memory_allocated``; CPU the resident set size,
    sampled by a thread every ``interval`` seconds (psutil), so a peak shorter than that can be missed. On CPU the
    heap's free pages are handed back first (:func:`release_free_memory`): reused, they would not show."""

    def __init__(self, device: torch.device, interval: float = 0.002) -> None:
        self.device, self.interval, self.mib = device, interval, 0.0
        self._process, self._stop = psutil.Process(), threading.Event()

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            release_free_memory()
            self._base = self._peak = self._process.memory_info().rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self._process.memory_info().rss)
        self.mib = (peak - self._base) / MIB


# -- one front-end -------------------------------------------------------------------------------
def noise_clips(spec: FrontendSpec, seconds: float, batch: int) -> tuple[torch.Tensor, str]:
    """``batch`` noise clips ``(batch, samples)`` of ``seconds``, padded to the spec's minimum, and a label.

    The networks' cost does not depend on the signal, so seeded Gaussian noise stands in for audio.
    """
    asked, n = round(seconds * spec.sample_rate), clip_samples(spec, seconds)
    clips = 0.1 * torch.randn(batch, asked, generator=torch.Generator().manual_seed(0))
    label = f"{asked / spec.sample_rate:.2f} s"
    if n > asked:
        if spec.pad_to_min is None:
            raise RwbenchError(f"needs clips of at least {n / spec.sample_rate:.2f} s and declares no pad rule")
        clips = torch.stack([torch.from_numpy(fix_length(c, n, spec.pad_to_min)) for c in clips.numpy()])
        label += f" → {n / spec.sample_rate:.2f} s ({spec.pad_to_min})"
    return clips, label


def profile_frontend(spec: FrontendSpec, opts: ProfileOptions, peak_gflops: float) -> dict:
    """One table row: size, cost, measured embedding speed and peak memory of ``spec`` at ``opts.width``."""
    device = resolve_device(opts.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the embed stage runs (its TF32 setting is the profile's own)
    clips, label = noise_clips(spec, opts.seconds, opts.batch_size)
    check_memory(spec, opts.width, clips.shape[1], opts.batch_size, opts.device)
    macs_per_clip = count_macs(spec, opts.width, opts.seconds) * clips.shape[1] / spec.sample_rate
    with PeakMemory(device) as memory:
        per_batch, model, params, compiled = _time_batch(spec, opts, clips)
    clips_per_s = opts.batch_size / per_batch
    gflops = 2 * macs_per_clip * clips_per_s / 1e9
    width = opts.width
    return {
        "front-end": spec.name,
        "input": f"{'waveform (DSP)' if spec.input_kind == 'none' else spec.input_kind} {label}",
        "width": f"{width} ({spec.filters(width)})" if not str(width).isdigit() else str(width),
        "dim": spec.dim(width),
        "params": params,
        "MMAC/clip": macs_per_clip / 1e6,
        "clips/s": clips_per_s,
        "ms/clip": 1e3 / clips_per_s,
        "GFLOP/s": gflops,
        "% peak": 100 * gflops / peak_gflops,
        "peak MiB": memory.mib,
        **compiled,
    }


def ms_per_clip(spec: FrontendSpec, width: str | int, seconds: float, batch_size: int, device: str,
                precision: Precision = "fp32") -> float:
    """Milliseconds per clip from a quick timing (one warm-up call, one timing), for ``rwbench run --dry-run``."""
    opts = ProfileOptions(width=width, seconds=seconds, batch_size=batch_size, device=device, precision=precision,
                          repeats=1, warmup=1)
    return 1e3 * _time_batch(spec, opts, noise_clips(spec, seconds, batch_size)[0])[0] / batch_size


def _time_batch(spec: FrontendSpec, opts: ProfileOptions, clips: torch.Tensor) -> tuple[float, Embedder, int, dict]:
    """(best seconds per call on ``clips``, the model, its parameters as built, compile columns): an
    :class:`Embedder` built as the embed stage builds it (fused unless ``opts.fuse`` is off, compiled with
    ``opts.compile``) and timed on ``opts.device``. With ``opts.compile`` the columns are the first call's seconds
    (the compilation) and the largest difference from the eager output relative to its largest value; a failed
    compile raises (its timing would be the eager one under the compiled label)."""
    device = resolve_device(opts.device)
    model = Embedder(spec, width=opts.width, precision=opts.precision)
    params = sum(p.numel() for p in model.net.parameters())
    if opts.fuse:
        fuse_embedder(model)
    model.to(device)
    clips = clips.to(device)
    if not opts.compile:
        return best_seconds(lambda: model(clips), device, repeats=opts.repeats, warmup=opts.warmup), model, params, {}
    eager = model(clips)
    compiled = compile_net(model.net, spec.name)
    start = time.perf_counter()
    out = model(clips)
    _sync(device)
    compile_s = time.perf_counter() - start
    if compiled.failed:
        raise RwbenchError("torch.compile failed (see the info line above); rerun without --compile")
    seconds = best_seconds(lambda: model(clips), device, repeats=opts.repeats, warmup=opts.warmup)
    error = ((out - eager).abs().max() / eager.abs().max().clamp_min(1e-30)).item()
    return seconds, model, params, {"compile s": compile_s, "compiled Δ": error}


# -- the table -----------------------------------------------------------------------------------
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def peak_dtype(opts: ProfileOptions) -> torch.dtype:
    """The dtype the peak is measured in: the one the front-ends' products run in under ``opts.precision``."""
    return PRECISIONS[opts.precision] or torch.float32


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def header(device: torch.device, peak: Peak, opts: ProfileOptions) -> list[str]:
    if device.type == "cuda":
        tf32 = {(False, False): "off", (True, True): "on"}.get(
            (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32),
            f"matmul {torch.backends.cuda.matmul.allow_tf32}, convolutions {torch.backends.cudnn.allow_tf32}")
        name = f"cuda ({torch.cuda.get_device_name(device)}), TF32 {tf32}"
        memory = "peak MiB = torch.cuda.max_memory_allocated above the level before the model was built"
    else:
        name = f"cpu ({_cpu_name()}, {os.cpu_count()} logical cores)"
        memory = "peak MiB = resident set size (psutil, sampled every 2 ms) above the level before the model was built"
    load = "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"  # 1/5/15 min
    return [
        f"device {name}; torch {torch.__version__}; threads {torch.get_num_threads()}; load average {load}",
        f"{_dtype_name(peak_dtype(opts))} peak {peak.gflops:.1f} GFLOP/s ({peak.shape}; the best of {len(peak.rates)} "
        f"shapes, each best of {opts.peak_repeats}); rewrites {'fused' if opts.fuse else 'off'}; "
        f"torch.compile {'on' if opts.compile else 'off'}; "
        f"precision {opts.precision}; batch {opts.batch_size}, best of {opts.repeats} after {opts.warmup} warm-up "
        f"calls; {memory}",
    ]


def profile(specs: list[FrontendSpec], opts: ProfileOptions) -> tuple[list[dict], list[str]]:
    """(one row per front-end, notes): the header lines, then front-ends that failed or are slow.

    A front-end that raises is listed as failed and the others go on.
    """
    device = resolve_device(opts.device)
    if device.type == "cpu" and opts.precision == "fp16":  # its peak shapes alone took over 10 minutes on a 2-core VM
        raise RwbenchError("--precision fp16 on the CPU: PyTorch's CPU float16 products run far below float32 "
                           "(0.5 against 30 GFLOP/s measured on a 2-core x86 VM), so the peak alone would take "
                           "tens of minutes; profile --precision bf16 (the CPU's reduced precision) or fp16 on a GPU")
    if device.type == "cpu" and hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1) / 2:
        log.warning("load average %.1f on %d cores: other processes compete for the CPU and timings will vary; "
                    "--threads 1 is steadier on a shared machine", os.getloadavg()[0], os.cpu_count())
    # the reference is the precision the front-ends compute in: a bf16 network against a float32 peak reads > 100 %
    dtype = peak_dtype(opts)
    if device.type == "cuda":  # the peak's conv2d shapes autotuned as the front-ends' are (profile_frontend)
        torch.backends.cudnn.benchmark = True
    peak = device_peak(device, repeats=opts.peak_repeats, dtype=dtype)
    log.info("%s peak %.1f GFLOP/s on %s (%s)", _dtype_name(dtype), peak.gflops, device, peak.shape)
    notes, rows = header(device, peak, opts), []
    notes.append("peak shapes, GFLOP/s: " + "; ".join(f"{name} {rate:.1f}" for name, rate in peak.rates.items()))
    for spec in specs:
        try:
            row = profile_frontend(spec, opts, peak.gflops)
        except Exception as err:  # one broken front-end must not lose the others' numbers
            log.error("%s failed: %s: %s", spec.name, type(err).__name__, err)
            notes.append(f"failed: {spec.name} ({type(err).__name__}: {err})")
            continue
        log.info("%s: %.1f ms/clip, %.2f GFLOP/s", spec.name, row["ms/clip"], row["GFLOP/s"])
        if row["ms/clip"] > SLOW_MS_PER_CLIP:
            notes.append(f"slow: {spec.name} takes {row['ms/clip'] / 1e3:.1f} s per clip at width {opts.width}")
        rows.append(row)
    return rows, notes


def _sig(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits}g}")


def render(rows: list[dict], notes: list[str], fmt: str) -> str:
    """Markdown (notes above the table), CSV (notes as leading ``#`` lines: ``pandas.read_csv(comment="#")``) or
    JSON (``{"notes": [...], "rows": [...]}``, full precision)."""
    if fmt == "json":
        return json.dumps({"notes": notes, "rows": rows}, indent=2) + "\n"
    shown = [{k: _sig(v) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    if fmt == "csv":
        return "".join(f"# {note}\n" for note in notes) + (pd.DataFrame(shown).to_csv(index=False) if rows else "")
    if fmt != "md":
        raise RwbenchError(f"unknown format {fmt!r}; use md, csv or json")
    table = tabulate(shown, headers="keys", tablefmt="github", floatfmt="g", intfmt=",") if rows else "(no rows)"
    return "\n".join([*notes, "", table, ""])
