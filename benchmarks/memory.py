"""Peak resident memory of the embed and evaluate stages for a small and a large synthetic dataset, in one run.

    python benchmarks/memory.py                          # 1 000 vs 8 000 clips, mfcc, logreg and elm_torch
    python benchmarks/memory.py --clips 1000,8000 --frontend temporal --backends logreg

Each (clip count, stage) runs in a fresh process (``rwbench embed`` then ``rwbench evaluate`` on the same
cache), so one measurement cannot inherit another's memory. A thread samples the process's resident set size
(psutil) every 5 ms; the table gives the RSS once rwbench is imported, the peak, and the ratio of the peaks
between the largest and the smallest dataset. The embed stage keeps at most one chunk (128 clips) of features
in memory and writes the rest to disk, so its peak should not grow with the clip count; the evaluate stage
holds the clips × dims feature matrix, plus whatever the backend needs (an SVM's kernel matrix is clips²).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 2**20
CHILD = """
import json, sys, threading, time
import psutil
from rwbench.cli import main
process, peak, stop = psutil.Process(), [0], threading.Event()
def sample():
    while not stop.wait(0.005):
        peak[0] = max(peak[0], process.memory_info().rss)
start_rss = process.memory_info().rss
peak[0] = start_rss
thread = threading.Thread(target=sample, daemon=True)
thread.start()
start = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - start
stop.set(); thread.join()
peak[0] = max(peak[0], process.memory_info().rss)
print(json.dumps({"code": code, "start_rss": start_rss, "peak_rss": peak[0], "seconds": seconds}))
"""


def measure(argv: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"failed: rwbench {' '.join(argv)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", default="1000,8000", help="comma-separated clip counts (multiples of 5: 5 classes)")
    p.add_argument("--frontend", default="mfcc")
    p.add_argument("--backends", default="logreg,elm_torch", help="each measured in its own evaluate process")
    p.add_argument("--seconds", type=float, default=1.0, help="clip length")
    p.add_argument("--threads", type=int, default=1, help="torch / BLAS threads in each process (1: steadier)")
    args = p.parse_args()
    counts = [int(c) for c in args.clips.split(",")]
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            common = ["--dataset", "synthetic", "--tasks", "timbre", "--dataset-option", f"n_per_class={n // 5}",
                      "--dataset-option", f"seconds={args.seconds}", "--frontends", args.frontend,
                      "--results", str(Path(tmp) / str(n)), "--workers", "0", "-q"]
            stages = [("embed", ["embed", *common])]
            stages += [(f"evaluate {b}", ["evaluate", *common, "--backends", b]) for b in args.backends.split(",")]
            for stage, argv in stages:
                m = measure(argv)
                rows.append({"clips": n, "stage": stage, "start MiB": m["start_rss"] / MIB,
                             "peak MiB": m["peak_rss"] / MIB, "growth MiB": (m["peak_rss"] - m["start_rss"]) / MIB,
                             "seconds": m["seconds"]})
                print(f"{n} clips, {stage}: peak {m['peak_rss'] / MIB:.0f} MiB in {m['seconds']:.1f} s",
                      file=sys.stderr)
    print(f"rwbench embed/evaluate on synthetic/timbre, {args.seconds:g} s clips, front-end {args.frontend}, "
          f"{args.threads} thread(s); RSS sampled every 5 ms (psutil)\n")
    print("| clips | stage | RSS after import MiB | peak RSS MiB | growth MiB | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clips']:,} | {r['stage']} | {r['start MiB']:.0f} | {r['peak MiB']:.0f} | {r['growth MiB']:.0f} | "
              f"{r['seconds']:.1f} |")
    small, large = min(counts), max(counts)
    print()
    for stage in dict.fromkeys(r["stage"] for r in rows):
        a = next(r for r in rows if r["clips"] == small and r["stage"] == stage)
        b = next(r for r in rows if r["clips"] == large and r["stage"] == stage)
        print(f"- {stage}: peak RSS ×{b['peak MiB'] / a['peak MiB']:.2f} for ×{large / small:g} clips "
              f"(growth above import: {a['growth MiB']:.0f} → {b['growth MiB']:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
