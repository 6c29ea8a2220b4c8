"""Where a run's jobs execute: in this process, one after another (``local``), or as Dask tasks (``dask``).

On Dask every embed job (dataset × front-end × weights × seed [× fold]) and every evaluate job (one result file)
is a task; an evaluate task depends on the embed tasks of its embeddings. Tasks talk through the same files as
the local run — the embedding cache and the results folder, which must be a path every worker sees — and take
the same per-entry locks, so the results are those of the local executor up to float rounding (a task embeds
with its share of the cores' torch threads, whose sums run in another order: last-digit differences). A worker
that dies loses only the task it was running: the scheduler runs it again elsewhere (up to
``distributed.scheduler.allowed-failures`` times); an entry it left half-written resumes from its finished chunks.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from .backends import BackendSpec, warn_grid_edges
from .datamodel import Dataset
from .errors import RwbenchError
from .frontend import FrontendSpec, layer_sets
from .pipeline import (
    EvalJob,
    RunLog,
    RunOptions,
    embed_job,
    embed_jobs_of,
    evaluate_job,
    evaluation_jobs,
    forget_replaced,
    known_done,
    prepare_embedding,
    run,
    stale_results,
)
from .progress import Progress

log = logging.getLogger(__name__)


# -- Dask ------------------------------------------------------------------------------------------
def _limit_threads(threads: int | None) -> None:
    """torch's and the BLAS libraries' threads in this worker (a Dask worker starts with one BLAS thread)."""
    if threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)


def _embed_on_worker(job, opts: RunOptions, threads: int | None) -> bool:
    _limit_threads(threads)
    # decoding in the task itself: the cluster already runs a task per core (and a daemonic worker process, which
    # an existing cluster's may be, cannot start DataLoader processes); --workers N asks for them where possible
    if opts.workers is None or (multiprocessing.current_process().daemon and opts.workers != 0):
        opts = replace(opts, workers=0)
    return embed_job(job, opts)


def _evaluate_on_worker(eval_job: EvalJob, opts: RunOptions, threads: int | None, *embedded: bool):
    _limit_threads(threads)
    return evaluate_job(eval_job, opts)


def _task_name(kind: str, job, run: str) -> str:
    """A task's key on the cluster, unique to this run (``run``): a scheduler hands a key it already holds the result
    of that task, so another run's task under the same name (other pooling, grid, cache or results folder) would be
    reported done and its result never computed."""
    fold = f"-{job.fold}" if job.fold else ""
    return f"{kind}-{job.dataset.key}-{job.frontend.name}-{job.weights}-seed{job.seed}{fold}-{run}"


def _ship_plugins() -> None:
    """Front-ends, datasets and backends from --plugin files are not importable on the workers: send them by value."""
    import cloudpickle

    for name, module in list(sys.modules.items()):
        if name.startswith("rwbench_plugin_"):
            cloudpickle.register_pickle_by_value(module)


DASK_MISSING = ("--executor dask needs Dask's distributed scheduler, which is not installed here ({error}): "
                'pip install "rwbench[dask]"')


def ensure_dask() -> None:
    """A :class:`RwbenchError` with the fix when Dask (distributed, cloudpickle) cannot be imported."""
    try:
        import cloudpickle  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as err:
        raise RwbenchError(DASK_MISSING.format(error=f"{type(err).__name__}: {err}")) from None
    if logging.getLogger().level > logging.INFO:  # -q: distributed's own INFO lines (workers lost, nannies) too
        logging.getLogger("distributed").setLevel(logging.getLogger().level)


def client_for(scheduler: str | None, n_workers: int | None):
    """A ``distributed.Client`` of the cluster at ``scheduler``, or of a new ``LocalCluster`` of ``n_workers``
    worker processes (default: one per core) running one task each, with the cores shared out among them (torch
    and BLAS threads = cores // workers). Returns (client, torch threads per task; None: the cluster's own)."""
    ensure_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="10s", set_as_default=False), None
        except (OSError, TimeoutError) as err:
            raise RwbenchError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from None
    import dask

    n_workers = n_workers or os.cpu_count() or 1
    threads = max(1, (os.cpu_count() or 1) // n_workers)  # the cores shared out among the workers
    # non-daemonic worker processes: in a daemonic one joblib runs every grid search one fit at a time (n_jobs=1,
    # even with threads), which left a core idle on a cluster of 1 worker (0.72x the local executor). A worker the
    # nanny restarts after a crash is started with the defaults (daemonic): still correct, its fits one at a time.
    # No statistical profiler: it serves the dashboard, which is off, and costs CPU time in every task
    with dask.config.set({"distributed.worker.daemon": False, "distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
    # not the process's default client: another run in this process (a thread, a notebook) keeps its own
    return Client(cluster, set_as_default=False), threads


def run_dask(datasets: list[Dataset], frontends: list[FrontendSpec], backends: list[BackendSpec], opts: RunOptions,
             *, scheduler: str | None = None, n_workers: int | None = None) -> RunLog:
    """The run as a Dask task graph. Finished tasks keep their files whatever fails; failures are reported
    together at the end, by task."""
    ensure_dask()
    from distributed import as_completed

    for spec in frontends:  # bad --layers fail before any work
        layer_sets(spec, opts.layers)
    # every worker must find the same files, whatever its working directory
    relative = next((f"{d.key}: {c.path}" for d in datasets for c in d.clips if c.path and not c.path.is_absolute()),
                    None)
    if relative:
        raise RwbenchError(f"--executor dask: clip paths must be absolute (a worker reads a relative one from its own "
                           f"working directory, perhaps another copy): {relative}; load the dataset from an absolute "
                           f"root")
    bar = opts.progress
    opts = replace(opts, results_dir=opts.results_dir.resolve(), cache_dir=opts.cache_root.resolve(), progress=False)
    eval_jobs = evaluation_jobs(datasets, frontends, backends, opts)
    forget_replaced(eval_jobs, opts)
    stale = stale_results(datasets, eval_jobs, opts)
    todo = embed_jobs_of(stale)
    # the device and memory checks where the embeddings run: here for a cluster of this machine; on a worker of an
    # existing one (--scheduler), whose GPUs and memory this machine may not have
    embed_jobs = None if scheduler else prepare_embedding(datasets, frontends, opts, todo)
    _ship_plugins()
    client, threads = client_for(scheduler, n_workers)
    # an evaluate task's grid search runs in as many threads as the task has cores (--jobs overrides), as the local executor's
    opts = replace(opts, n_jobs=opts.n_jobs or threads or 1)
    log_, failures, start = RunLog(), [], time.perf_counter()
    last_embed = start
    try:
        if embed_jobs is None:
            embed_jobs = client.submit(prepare_embedding, datasets, frontends, opts, todo, pure=False).result()
        log.info("dask: %d embed and %d evaluate tasks on %d workers (%s)", len(embed_jobs), len(eval_jobs),
                 len(client.scheduler_info()["workers"]), client.scheduler.address)
        run = uuid.uuid4().hex[:8]
        embedded = {job.key: client.submit(_embed_on_worker, job, opts, threads, key=_task_name("embed", job, run) +
                                           f"-{job.key[:8]}", pure=False) for job in embed_jobs}
        # an evaluate task waits for the embed tasks it reads (none where its result is up to date)
        evaluated = [client.submit(_evaluate_on_worker, eval_job, opts, threads,
                                   *(embedded[j.key] for j in eval_job.jobs if j.key in embedded),
                                   key=_task_name("evaluate", eval_job.job, run) + f"-{eval_job.backend.name}-{i}",
                                   pure=False)
                     for i, eval_job in enumerate(eval_jobs)]
        kinds = {f.key: kind for kind, futures in (("embed", embedded.values()), ("evaluate", evaluated))
                 for f in futures}
        progress = Progress(len(embedded) + len(evaluated), bar=bar,
                            known_done=known_done(eval_jobs, stale, embed_jobs, opts))
        # on this run's client's loop: by default as_completed tracks futures on the process's latest client, and
        # when another run's client closed first this one waited forever on futures long finished
        for future in as_completed([*embedded.values(), *evaluated], loop=client.loop):
            if future.status != "finished":
                failures.append((future.key, future.exception()))
                progress.step(f"{future.key}: failed", failed=True)
                continue
            outcome = future.result()
            if kinds[future.key] == "embed":
                log_.embedded += outcome
                log_.cached += not outcome
                last_embed = time.perf_counter()
                progress.step(f"{future.key}{'' if outcome else ': cached'}", worked=bool(outcome))
            else:
                path, computed = outcome
                log_.results.append(path)
                log_.evaluated += computed
                log_.reused += not computed
                progress.step(f"{path.parent.name}/{path.stem}{'' if computed else ': up to date'}", worked=computed)
        progress.close()
        warn_grid_edges(log_.results)  # as the local executor does
        log_.embed_seconds = last_embed - start  # to the last embed task's end (evaluate tasks overlap it)
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None and scheduler is None:
            cluster.close()
    if failures:  # an evaluate task fails with the error of the embed task it waited for: each error once
        first: dict[str, list[str]] = {}
        for key, err in failures:
            first.setdefault(f"{type(err).__name__}: {err}", []).append(key)
        shown = "; ".join(f"{keys[0]}{f' (and {len(keys) - 1} task(s) waiting on it)' if len(keys) > 1 else ''}: "
                          f"{error}" for error, keys in list(first.items())[:3])
        raise RwbenchError(f"{len(failures)} of {len(embedded) + len(evaluated)} Dask tasks failed (finished ones "
                           f"are kept; rerun to retry the rest): {shown}{' …' if len(first) > 3 else ''}")
    return log_


EXECUTORS: dict[str, Callable[..., RunLog]] = {"local": run, "dask": run_dask}  # (datasets, frontends, backends, opts)
