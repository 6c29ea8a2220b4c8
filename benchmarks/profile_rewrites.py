"""`rwbench profile` with and without the exact rewrites (and with --compile), and where the time goes.

    python benchmarks/profile_rewrites.py --width paper --min-gmac 1                 # unfused vs fused
    python benchmarks/profile_rewrites.py --width paper --min-gmac 1 --compile 'vgg,samplecnn'
    python benchmarks/profile_rewrites.py --width paper --min-gmac 1 --ops            # torch.profiler op shares

Front-ends of at least ``--min-gmac`` GMAC per clip at ``--width``. Each variant of a round is one fresh
``rwbench profile`` process over all of them (its own warm-up and float32 peak); rounds alternate the variants'
order (A B, B A, ...) so drift in the machine's load falls on both, and each front-end keeps its best ms/clip per
variant. ``unfused`` runs only the front-ends the rewrites change (the others run the same network either way).
``% peak`` is against the peak of the process that measured the row. /proc/loadavg is printed beside each run.
``--ops`` profiles one call per front-end (fused, in this process): the operations' shares of the time, and the
ceiling (the GFLOP/s if only the convolutions and matrix products took time) against this process's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

import torch

from rwbench.frontend import FRONTENDS, Embedder
from rwbench.fusion import fuse_embedder
from rwbench.macs import clip_samples, count_macs
from rwbench.profile import device_peak, noise_clips


def gmac(spec, width: str, seconds: float) -> float:
    return count_macs(spec, width, seconds) * clip_samples(spec, seconds) / spec.sample_rate / 1e9


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def profile_run(names: list[str], args, extra: list[str]) -> dict:
    argv = [sys.executable, "-m", "rwbench.cli", "profile", "-q", "--frontends", ",".join(names), "--width",
            args.width, "--seconds", str(args.seconds), "--batch-size", str(args.batch_size), "--repeats",
            str(args.repeats), "--format", "json", *extra]
    before = loadavg()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tempfile.gettempdir(),
                          env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    if done.returncode != 0:
        raise SystemExit(f"rwbench profile {' '.join(extra)} failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout)
    data["load"] = f"{before} → {loadavg()}"
    print(f"{' '.join(extra) or 'fused'}: load {data['load']}; {data['notes'][1].split(';')[0]}; "
          + "; ".join(n for n in data["notes"][3:]), file=sys.stderr)
    return data


# the kernels that do the counted multiply-accumulates (convolutions, matrix products)
MAC_OPS = ("aten::mkldnn_convolution", "aten::_convolution", "aten::convolution", "aten::thnn_conv2d",
           "aten::_slow_conv2d_forward", "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def op_shares(spec, args, peak: float, top: int = 5) -> str:
    """A markdown row: the top operations' shares of one profiled call (self CPU time), the share of the MAC
    kernels, and the ceiling: the front-end's GFLOP/s if only its MAC kernels took time, as % of ``peak``."""
    model = Embedder(spec, width=args.width)
    fuse_embedder(model)
    clips = noise_clips(spec, args.seconds, args.batch_size)[0]
    model(clips)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        model(clips)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    mac_us = sum(e.self_cpu_time_total for e in events if e.key in MAC_OPS)
    events.sort(key=lambda e: -e.self_cpu_time_total)
    flop = 2e9 * gmac(spec, args.width, args.seconds) * len(clips)
    ceiling = flop / (mac_us / 1e6) / 1e9 if mac_us else float("nan")
    ops = ", ".join(f"{e.key.removeprefix('aten::')} {100 * e.self_cpu_time_total / total:.0f} %" for e in events[:top])
    return (f"| {spec.name} | {flop / (total / 1e6) / 1e9 / peak * 100:.0f} | {100 * mac_us / total:.0f} | "
            f"{ceiling:.0f} ({100 * ceiling / peak:.0f} %) | {ops} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frontends", default="*")
    p.add_argument("--min-gmac", type=float, default=1.0, help="only front-ends with at least this many GMAC per clip")
    p.add_argument("--width", default="paper")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="runs of each variant (alternating order)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", default="", help="front-ends (names or wildcards) also timed under --compile")
    p.add_argument("--variants", default="unfused,fused,compiled", help="which variants run (compiled: with --compile)")
    p.add_argument("--ops", action="store_true", help="print torch.profiler's top operations per front-end instead")
    args = p.parse_args()
    specs = [s for s in FRONTENDS.select(args.frontends) if gmac(s, args.width, args.seconds) >= args.min_gmac]
    if args.ops:
        torch.set_num_threads(args.threads)
        peak = device_peak(torch.device("cpu"))
        print(f"load {loadavg()}; float32 peak {peak.gflops:.1f} GFLOP/s ({peak.shape}); one profiled call of "
              f"{args.batch_size} clips per front-end\n")
        print("| front-end | % peak in this call | MAC kernels % of time | ceiling GFLOP/s (% peak) | top operations |")
        print("|---|---|---|---|---|")
        for spec in specs:
            print(op_shares(spec, args, peak.gflops), flush=True)
        return 0
    changed = [s.name for s in specs if fuse_embedder(Embedder(s, width="small"))]
    variants = {"unfused": (changed, ["--no-fuse"]), "fused": ([s.name for s in specs], [])}
    if args.compile:
        compiled = [s.name for s in FRONTENDS.select(args.compile) if s in specs]
        variants["compiled"] = ([n for n in variants["fused"][0] if n in compiled], ["--compile"])
    variants = {k: v for k, v in variants.items() if k in args.variants.split(",")}
    best: dict[str, dict[str, dict]] = defaultdict(dict)
    runs = []
    for r in range(args.rounds):
        for variant in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            names, extra = variants[variant]
            if not names:
                continue
            data = profile_run(names, args, extra)
            runs.append((variant, data["load"], data["notes"][1].split(";")[0]))
            for row in data["rows"]:
                if variant not in best[row["front-end"]] or row["ms/clip"] < best[row["front-end"]][variant]["ms/clip"]:
                    best[row["front-end"]][variant] = row
    print(f"rwbench profile, width {args.width}, {args.seconds:g} s clips, batch {args.batch_size}, best of "
          f"{args.repeats} per run, {args.rounds} alternating runs per variant, OMP_NUM_THREADS={args.threads}\n")
    for variant, load, peak in runs:
        print(f"- {variant}: load {load}; {peak}")
    print("\n| front-end | GMAC/clip | ms unfused | ms fused | speed-up | % peak unfused | % peak fused "
          "| ms compiled | compiled vs fused | % peak compiled | compile s | compiled Δ |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in specs:
        v = best[spec.name]
        f, u, c = v.get("fused"), v.get("unfused"), v.get("compiled")
        cells = [spec.name, f"{gmac(spec, args.width, args.seconds):.2f}",
                 f"{u['ms/clip']:.1f}" if u else "not run" if spec.name in changed else "same network",
                 f"{f['ms/clip']:.1f}" if f else "failed",
                 f"×{u['ms/clip'] / f['ms/clip']:.2f}" if u and f else "", f"{u['% peak']:.1f}" if u else "",
                 f"{f['% peak']:.1f}" if f else "", f"{c['ms/clip']:.1f}" if c else "",
                 f"×{f['ms/clip'] / c['ms/clip']:.2f}" if c and f else "", f"{c['% peak']:.1f}" if c else "",
                 f"{c['compile s']:.0f}" if c else "", f"{c['compiled Δ']:.1e}" if c else ""]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
