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
from rwbench.dataset import DATASETS
from rwbench.executor import run_dask
from rwbench.frontend import FRONTENDS
from rwbench.pipeline import RunLog, RunOptions, embed_all, run


def predictions(results: Path) -> dict[str, list]:
    return {p.name: [f["predicted"] for f in json.loads(p.read_text())["folds"]] for p in results.rglob("*.json")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frontends", default="mfcc,temporal,piczak,mst,sample_level")
    p.add_argument("--backends", default="svm,elm")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", default="1,2", help="LocalCluster sizes to time, after the local executor")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    datasets = DATASETS.get("synthetic").load(None)
    frontends, backends = FRONTENDS.select(args.frontends), BACKENDS.select(args.backends)
    with tempfile.TemporaryDirectory() as tmp:
        base = RunOptions(seeds=list(range(args.seeds)), device="cpu", results_dir=Path(tmp) / "embed",
                          cache_dir=Path(tmp) / "cache")
        start = time.perf_counter()
        embed_all(datasets, frontends, base, RunLog())
        embed_seconds = time.perf_counter() - start
        runs = [("local", None), *((f"dask, {n} worker(s)", int(n)) for n in args.workers.split(","))]
        rows, reference = [], None
        for name, n_workers in runs:
            opts = replace(base, results_dir=Path(tmp) / name.replace(" ", "_").replace(",", ""))
            start = time.perf_counter()
            log = run(datasets, frontends, backends, opts) if n_workers is None else \
                run_dask(datasets, frontends, backends, opts, n_workers=n_workers)
            seconds = time.perf_counter() - start
            got = predictions(opts.results_dir / "runs")
            reference = reference or got
            rows.append((name, seconds, log.evaluated, got == reference))
            print(f"{name}: {seconds:.1f} s, {log.evaluated} results", file=sys.stderr)
    print(f"synthetic (rhythm + timbre, 150 clips each), front-ends {args.frontends}, {args.seeds} seed(s), backends "
          f"{args.backends}; {os.cpu_count()} cores; embeddings computed once first in {embed_seconds:.0f} s\n")
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
