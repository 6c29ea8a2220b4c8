"""Why one Dask worker evaluated more slowly than the local executor: the same nested-CV fits run in this process and
inside a LocalCluster worker, with the worker's defaults taken away one at a time; wall and CPU time, interleaved.

    python benchmarks/dask_one_worker.py                       # svm + elm, the study grid, one outer split, 3 repeats
    python benchmarks/dask_one_worker.py --backends elm --grid wide --repeats 5

The workload is fixed and small: one outer split of synthetic/timbre (150 clips) on seeded random features of 160
dims, ``evaluate_split`` for each backend. Each variant reports, for that workload, the wall time, the CPU time of the
process that ran it (user + system, every thread: also the worker's own event loop and profiler) and its minor page
faults; CPU time hardly depends on what else the machine runs, so it compares variants on a busy machine. The
variants run interleaved, ``--repeats`` times, and the least of each figure is kept:

* ``local jobs=N``: this process, N grid-search fits at a time (rwbench's local executor; the CLI's default is N = cores);
* ``dask jobs=1``: a task on a LocalCluster of 1 worker (Dask's defaults: a daemonic worker process) with rwbench's
  thread setting (torch/BLAS threads = cores) and one fit at a time: rwbench's Dask default before this change;
* ``dask jobs=N daemonic``: N = cores asked for, in a daemonic worker, where joblib runs one fit at a time anyway
  ("Inside a Dask worker with daemon=True, setting n_jobs=1");
* ``dask jobs=N``: N = cores in a non-daemonic worker; ``dask jobs=N no-profiler``: the same without the worker's
  profiler: rwbench's LocalCluster now (``executor.client_for``);
* ``dask jobs=1 no-malloc-trim``: without the ``MALLOC_TRIM_THRESHOLD_=65536`` that Dask's nanny puts in a worker's
  environment (``distributed.nanny.pre-spawn-environ``; its OMP/MKL/OpenBLAS thread variables are kept);
* ``dask jobs=1 no-profiler``: the worker's statistical profiler off (``distributed.worker.profile.enabled``).

It also prints, from inside a worker, the thread pools (threadpoolctl), torch's threads and the allocator variables.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import dask
import distributed  # noqa: F401  (loads Dask's distributed configuration)

from rwbench.executor import _limit_threads

NANNY_ENV = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
VARIANTS = {  # name: (where, grid-search jobs (None: the cores), Dask configuration)
    "local jobs=1": ("local", 1, {}),
    "local jobs=N": ("local", None, {}),
    "dask jobs=1": ("dask", 1, {}),
    "dask jobs=1 no-malloc-trim": ("dask", 1, {"distributed.nanny.pre-spawn-environ":
                                               {k: v for k, v in NANNY_ENV.items() if k != "MALLOC_TRIM_THRESHOLD_"}}),
    "dask jobs=1 no-profiler": ("dask", 1, {"distributed.worker.profile.enabled": False}),
    "dask jobs=N daemonic": ("dask", None, {"distributed.worker.daemon": True}),
    "dask jobs=N": ("dask", None, {"distributed.worker.daemon": False}),
    "dask jobs=N no-profiler": ("dask", None, {"distributed.worker.daemon": False,
                                               "distributed.worker.profile.enabled": False}),
}


def workload(backends: list[str], grid: str, n_jobs: int | None) -> dict:
    """The fits, timed where they run: wall, process CPU seconds, minor page faults (after an untimed warm-up)."""
    import numpy as np

    from rwbench.backends import BACKENDS
    from rwbench.datamodel import DATASETS
    from rwbench.evaluate import available_cores, evaluate_split

    cores = available_cores()
    _limit_threads(cores)  # what rwbench's Dask tasks do first (here: a no-op but for the BLAS pools)
    (ds,) = DATASETS.get("synthetic").load(None, tasks=["timbre"])
    split = ds.splits()[0]
    X = np.random.default_rng(0).standard_normal((len(ds.clips), 160)).astype(np.float32)
    specs = [BACKENDS.get(b).with_grid(grid) for b in backends]
    jobs = n_jobs or cores
    for spec in specs:  # imports, numba's ReLU, first kernels
        evaluate_split(X, ds.labels, split, spec, seed=0, n_classes=len(ds.classes), n_jobs=jobs)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    predicted = [evaluate_split(X, ds.labels, split, spec, seed=0, n_classes=len(ds.classes), n_jobs=jobs).predicted
                 for spec in specs]
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
    return {"wall": wall, "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
            "sys": after.ru_stime - before.ru_stime, "minflt": after.ru_minflt - before.ru_minflt,
            "predicted": predicted}


def worker_state() -> dict:
    """What a task sees: allocator and thread variables, torch's threads, the BLAS/OpenMP pools (after rwbench's
    thread setting)."""
    import torch
    from threadpoolctl import threadpool_info

    _limit_threads(os.cpu_count() or 1)
    return {"env": {k: os.environ.get(k) for k in NANNY_ENV}, "torch_threads": torch.get_num_threads(),
            "pools": sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})}


def on_worker(fn, *args, config: dict):
    from distributed import Client, LocalCluster

    environ = dict(os.environ)  # a nanny leaves its pre-spawn variables in this process's environment: undo that
    try:
        with dask.config.set(config), LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                                   dashboard_address=None) as cluster, Client(cluster) as client:
            return client.submit(fn, *args, pure=False).result()
    finally:
        os.environ.clear()
        os.environ.update(environ)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="svm,elm")
    p.add_argument("--grid", default="study", choices=("study", "wide"))
    p.add_argument("--variants", default=";".join(VARIANTS), help=f"';'-separated, of: {'; '.join(VARIANTS)}")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    variants = [v.strip() for v in args.variants.split(";")]
    backends = args.backends.split(",")
    print("this process:", worker_state(), file=sys.stderr)
    print("a Dask worker:", on_worker(worker_state, config={}), file=sys.stderr)
    best: dict[str, dict] = {}
    reference = None
    for _ in range(args.repeats):
        for name in variants:
            where, n_jobs, config = VARIANTS[name]
            got = workload(backends, args.grid, n_jobs) if where == "local" else \
                on_worker(workload, backends, args.grid, n_jobs, config=config)
            reference = reference or got["predicted"]
            same = got.pop("predicted") == reference and best.get(name, {}).get("same", True)
            best[name] = {k: min(v, best.get(name, {}).get(k, v)) for k, v in got.items()} | {"same": same}
            print(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in got.items()) +
                  f" (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"one outer split of synthetic/timbre, random features (150 × 160), backends {args.backends}, grid "
          f"{args.grid}; {os.cpu_count()} cores; least of {args.repeats} interleaved repeats; load average at the end "
          f"{load}\n")
    print("| variant | wall s | CPU s (user + sys) | sys s | minor page faults | CPU vs local jobs=1 | same predictions |")
    print("|---|---:|---:|---:|---:|---:|---|")
    ref = best.get("local jobs=1", next(iter(best.values())))["cpu"]
    for name in variants:
        b = best[name]
        print(f"| {name} | {b['wall']:.2f} | {b['cpu']:.2f} | {b['sys']:.2f} | {b['minflt']:,.0f} | "
              f"×{b['cpu'] / ref:.2f} | {'yes' if b['same'] else 'NO'} |")
    return 0 if all(b["same"] for b in best.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
