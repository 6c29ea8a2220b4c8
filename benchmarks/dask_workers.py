"""An evaluate-heavy study on the local executor, then on Dask LocalClusters of 1 and 2 workers, in one run.

    python benchmarks/dask_workers.py                       # synthetic (both tasks), 5 front-ends × 3 seeds, svm + elm
    python benchmarks/dask_workers.py --frontends mfcc,temporal --seeds 2 --backends logreg

The embeddings are computed once, first, into a shared cache (timed apart); each executor then evaluates every
result file into its own results folder, so the timings compare the evaluate stage plus the executor's own
overhead (cluster start-up included). A LocalCluster of N workers gives each task cores // N torch threads.
The script checks that every executor wrote the same fold predictions and prints wall times and speed-ups.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rwbench.backends import BACKENDS
from rwbench.datamodel import DATASETS
from rwbench.evaluate import available_cores
from rwbench.executor import run_dask
from rwbench.frontend import FRONTENDS
from rwbench.pipeline import RunLog, RunOptions, embed_all, run


def predictions(results: Path) -> dict[str, list]:
    """Each result file's fold predictions, keyed by its path under ``results`` (the tasks' files share names)."""
    files = list(results.rglob("*.json"))
    got = {p.relative_to(results).as_posix(): [f["predicted"] for f in json.loads(p.read_text())["folds"]] for p in files}
    assert len(got) == len(files), f"{len(files)} result files, {len(got)} compared"
    return got


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frontends", default="mfcc,temporal,piczak,mst,sample_level")
    p.add_argument("--backends", default="svm,elm")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", default="1,2", help="LocalCluster sizes to time, after the local executor")
    p.add_argument("--tasks", help="synthetic tasks (default: both)")
    p.add_argument("--also-jobs-1", action="store_true",
                   help="also time the local executor and 1 Dask worker with one grid-search fit at a time (--jobs 1, "
                        "the Dask default before it followed the worker's cores)")
    p.add_argument("--repeats", type=int, default=1, help="time each executor this many times, interleaved; best kept")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    datasets = DATASETS.get("synthetic").load(None, tasks=args.tasks.split(",") if args.tasks else None)
    frontends, backends = FRONTENDS.select(args.frontends), BACKENDS.select(args.backends)
    with tempfile.TemporaryDirectory() as tmp:
        base = RunOptions(seeds=list(range(args.seeds)), device="cpu", results_dir=Path(tmp) / "embed",
                          cache_dir=Path(tmp) / "cache")
        start = time.perf_counter()
        embed_all(datasets, frontends, base, RunLog())
        embed_seconds = time.perf_counter() - start
        # the CLI's defaults: the local executor fits in threads over every core, a Dask task over its worker's share
        runs = [("local", None, available_cores()), *((f"dask, {n} worker(s)", int(n), None)
                                                      for n in args.workers.split(","))]
        if args.also_jobs_1:
            runs[1:1] = [("local, --jobs 1", None, 1)]
            runs += [("dask, 1 worker(s), --jobs 1", 1, 1)]
        best, reference = {}, None
        for repeat in range(args.repeats):
            for name, n_workers, n_jobs in runs:
                folder = f"{name}-{repeat}".replace(" ", "_").replace(",", "")
                opts = replace(base, results_dir=Path(tmp) / folder, n_jobs=n_jobs)
                start = time.perf_counter()
                log = run(datasets, frontends, backends, opts) if n_workers is None else \
                    run_dask(datasets, frontends, backends, opts, n_workers=n_workers)
                seconds = time.perf_counter() - start
                got = predictions(opts.results_dir / "runs")
                assert len(got) == log.evaluated, f"{name}: {log.evaluated} results evaluated, {len(got)} files"
                reference = reference or got
                same = got == reference and best.get(name, (0, 0, 0, True))[3]
                best[name] = (name, min(seconds, best.get(name, (0, seconds))[1]), log.evaluated, same)
                print(f"{name}: {seconds:.1f} s, {log.evaluated} results (load {os.getloadavg()[0]:.2f})",
                      file=sys.stderr)
        rows = [best[name] for name, _, _ in runs]
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"synthetic ({', '.join(d.key for d in datasets)}, 150 clips each), front-ends {args.frontends}, "
          f"{args.seeds} seed(s), backends {args.backends}; {os.cpu_count()} cores; embeddings computed once first in "
          f"{embed_seconds:.0f} s; best of {args.repeats}; load average at the end {load}\n")
    print("| executor | wall s | results | speed-up vs local | same predictions as local |")
    print("|---|---|---|---|---|")
    for name, seconds, evaluated, same in rows:
        print(f"| {name} | {seconds:.1f} | {evaluated} | ×{rows[0][1] / seconds:.2f} | {'yes' if same else 'NO'} |")
    one = next((r for r in rows if r[0].startswith("dask, 1 ")), None)
    two = next((r for r in rows if r[0].startswith("dask, 2 ")), None)
    if one and two:
        print(f"\n2 workers vs 1: ×{one[1] / two[1]:.2f}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
