"""Embedding throughput of the registered front-ends, against this machine's matmul peak (SPEC §11).

    python benchmarks/throughput.py                                    # all front-ends, small width, 4 s clips
    python benchmarks/throughput.py --frontends 'strided_*,vgg' --device cuda --format csv -o cuda.csv

One run first measures the device's float32 matmul peak, then, for each front-end, builds an ``Embedder``
(random weights, seed 0), embeds batches of noise clips after a warm-up and keeps the best of
``--repeats`` timings. Clips shorter than a front-end's minimum are lengthened with its declared pad rule,
as the embed stage does. ``benchmarks/README.md`` explains every column.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable

import torch
from tabulate import tabulate

from rwbench.audio import fix_length
from rwbench.check import clip_samples, count_macs
from rwbench.embed import resolve_device
from rwbench.errors import RwbenchError
from rwbench.frontend import FRONTENDS, Embedder, FrontendSpec

try:  # optional: the CPU memory column
    import psutil
except ImportError:
    psutil = None

log = logging.getLogger("throughput")

WARMUP_CALLS = 3  # untimed calls first: allocator, oneDNN/cuDNN kernel choice
MIN_TIME = 0.2  # seconds one timing should last at least; fast calls are looped to reach it
MATMUL_SIZE, MATMUL_REPEATS = 2048, 10
SLOW_MS_PER_CLIP = 2000.0
MIB = 2**20


# -- timing --------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn: Callable[[], object], device: torch.device, *, repeats: int) -> float:
    """Best of ``repeats`` timings of ``fn()``, in seconds per call.

    ``WARMUP_CALLS`` untimed calls come first; each timing loops ``fn`` often enough to last about
    ``MIN_TIME`` (estimated from the last warm-up call), and the device is synchronised around it.
    """
    last = 0.0
    for _ in range(WARMUP_CALLS):
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


def matmul_peak(device: torch.device, size: int = MATMUL_SIZE) -> float:
    """Measured float32 matmul rate of ``size × size`` matrices on ``device``, in GFLOP/s (2·n³ per product)."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=g).to(device) for _ in range(2))
    out = torch.empty(size, size, device=device)
    seconds = best_seconds(lambda: torch.mm(a, b, out=out), device, repeats=MATMUL_REPEATS)
    return 2 * size**3 / seconds / 1e9


# -- one front-end -------------------------------------------------------------------------------
def bench_clips(spec: FrontendSpec, seconds: float, batch: int) -> tuple[torch.Tensor, str]:
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


def _memory_now(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MIB
    return psutil.Process().memory_info().rss / MIB if psutil else None


def bench_frontend(spec: FrontendSpec, *, width: str, seconds: float, batch: int, device: torch.device,
                   repeats: int, peak_gflops: float) -> dict:
    """One table row: size, cost and measured embedding speed of ``spec`` at ``width``."""
    clips, label = bench_clips(spec, seconds, batch)
    clip_seconds = clips.shape[1] / spec.sample_rate
    macs_per_clip = count_macs(spec, width, seconds) * clip_seconds
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    before = 0.0 if device.type == "cuda" else _memory_now(device)
    model = Embedder(spec, width=width).to(device)
    clips = clips.to(device)
    per_batch = best_seconds(lambda: model(clips), device, repeats=repeats)
    after = _memory_now(device)
    clips_per_s = batch / per_batch
    gflops = 2 * macs_per_clip * clips_per_s / 1e9
    row = {
        "front-end": spec.name,
        "input": f"{'waveform (DSP)' if spec.input_kind == 'none' else spec.input_kind} {label}",
        "width": f"{width} ({spec.filters(width)})" if not str(width).isdigit() else str(width),
        "dim": spec.dim(width),
        "params": sum(p.numel() for p in model.net.parameters()),
        "MMAC/clip": macs_per_clip / 1e6,
        "clips/s": clips_per_s,
        "ms/clip": 1e3 / clips_per_s,
        "GFLOP/s": gflops,
        "% peak": 100 * gflops / peak_gflops,
    }
    if after is not None:
        row["memory MiB"] = after - before
    return row


# -- report --------------------------------------------------------------------------------------
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def header(device: torch.device, peak_gflops: float, args: argparse.Namespace) -> list[str]:
    if device.type == "cuda":
        name = f"cuda ({torch.cuda.get_device_name(device)}), TF32 {'on' if args.tf32 else 'off'}"
        memory = "memory MiB = torch.cuda.max_memory_allocated (weights + batch + activations)"
    else:
        name = f"cpu ({_cpu_name()}, {os.cpu_count()} logical cores)"
        memory = ("memory MiB = resident-set growth from building the model to the end of its runs (psutil; "
                  "not a peak)" if psutil
                  else "memory: not measured on CPU (psutil is not installed)")
    load = "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"  # 1/5/15 min
    return [
        f"device {name}; torch {torch.__version__}; threads {torch.get_num_threads()}; load average {load}",
        f"float32 matmul peak {peak_gflops:.1f} GFLOP/s ({MATMUL_SIZE}×{MATMUL_SIZE}, best of {MATMUL_REPEATS}); "
        f"batch {args.batch}, best of {args.repeats} after {WARMUP_CALLS} warm-up calls; {memory}",
    ]


def _sig(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits}g}")


def render(rows: list[dict], notes: list[str], fmt: str) -> str:
    rows = [{k: _sig(v) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        out.writelines(f"# {note}\n" for note in notes)
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return out.getvalue()
    table = tabulate(rows, headers="keys", tablefmt="github", floatfmt="g", intfmt=",") if rows else "(no rows)"
    return "\n".join([*notes, "", table, ""])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frontends", default="*", help="comma-separated names or wildcards (default: all)")
    p.add_argument("--width", default="small", help="named width (small, paper) or a filter count")
    p.add_argument("--seconds", type=float, default=4.0, help="clip length, raised to each front-end's minimum")
    p.add_argument("--batch", type=int, default=8, help="clips per forward pass")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=3, help="timings per front-end; the best is kept")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--tf32", action="store_true", help="allow TF32 on CUDA (matmul and cuDNN); off by default")
    p.add_argument("--format", default="md", choices=["md", "csv"])
    p.add_argument("-o", "--output", help="write the table here instead of stdout")
    args = p.parse_args(argv)
    if min(args.batch, args.repeats, args.threads or 1) < 1 or args.seconds <= 0:
        p.error("--batch, --repeats and --threads must be at least 1, --seconds positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    start = time.perf_counter()
    try:
        device = resolve_device(args.device)
        specs = FRONTENDS.select(args.frontends)
    except RwbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    if device.type == "cpu" and hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1) / 2:
        log.warning("load average %.1f on %d cores: other processes compete for the CPU and timings will vary; "
                    "--threads 1 is steadier on a shared machine", os.getloadavg()[0], os.cpu_count())
    peak = matmul_peak(device)
    log.info("matmul peak %.1f GFLOP/s on %s", peak, device)
    notes, rows = header(device, peak, args), []
    for spec in specs:
        try:
            row = bench_frontend(spec, width=args.width, seconds=args.seconds, batch=args.batch, device=device,
                                 repeats=args.repeats, peak_gflops=peak)
        except Exception as err:  # one broken front-end must not lose the others' numbers
            log.error("%s failed: %s: %s", spec.name, type(err).__name__, err)
            notes.append(f"failed: {spec.name} ({type(err).__name__}: {err})")
            continue
        log.info("%s: %.1f ms/clip, %.2f GFLOP/s", spec.name, row["ms/clip"], row["GFLOP/s"])
        if row["ms/clip"] > SLOW_MS_PER_CLIP:
            notes.append(f"slow: {spec.name} takes {row['ms/clip'] / 1e3:.1f} s per clip at width {args.width}")
        rows.append(row)
    text = render(rows, notes, args.format)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        print(text)
    log.info("done in %.0f s", time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
