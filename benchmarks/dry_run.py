"""How close ``rwbench run --dry-run`` comes to the run it predicts: the dry run, then the real run, per front-end.

    python benchmarks/dry_run.py                                                  # synthetic, the default front-ends
    python benchmarks/dry_run.py --dataset gtzan --data-root ../shared/data/gtzan_mini --dataset-option partial=true
    python benchmarks/dry_run.py --dataset esc10 --data-root ../shared/data/esc10 --frontends mfcc,temporal,sample_level

Both run in fresh Python processes with the CLI's defaults (device cpu, one DataLoader worker per core but one,
grid-search fits in threads over every core), into an empty results folder and cache, one after the other and
sharing the file-hash cache (as a dry run then a run would). The dry run is ``rwbench.plan.plan`` (what
``rwbench run --dry-run`` prints); the real run is the ``run`` stages, each embed job and each result file timed
on its own (the stage's memory checks, before any job, counted in the first job's row, as the dry run has them).
Printed: per dataset (task) and front-end the predicted and real embedding and fit seconds and their ratio, the
totals, and the load average beside them. A ratio outside 0.8–1.2 is marked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_FRONTENDS = "sample_level,vgg,timbral,temporal,timbral_temporal,mfcc"  # `rwbench run`'s default


def _options(args, results: Path):
    from rwbench.evaluate import available_cores
    from rwbench.pipeline import RunOptions

    return RunOptions(seeds=list(range(args.seeds)), device="cpu", results_dir=results, n_jobs=available_cores(),
                      grid=args.grid)


def _setup(args):
    from rwbench.backends import BACKENDS
    from rwbench.datamodel import DATASETS
    from rwbench.frontend import FRONTENDS

    options = {}
    for item in args.dataset_option:
        key, _, value = item.partition("=")
        options[key] = {"true": True, "false": False}.get(value.lower(), value)
    datasets = DATASETS.get(args.dataset).load(args.data_root, tasks=args.tasks.split(",") if args.tasks else None,
                                               **options)
    return datasets, FRONTENDS.select(args.frontends), BACKENDS.select(args.backends)


def _row_name(dataset: str, frontend: str) -> str:
    """A row of the comparison: one per dataset (task) and front-end, as the dry run has them."""
    return f"{dataset} {frontend}"


def child_plan(args, workdir: Path) -> dict:
    from rwbench.plan import plan

    datasets, frontends, backends = _setup(args)
    start = time.perf_counter()
    rows = plan(datasets, frontends, backends, _options(args, workdir / "results"))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": [{"dataset": r.dataset, "frontend": r.frontend, "embed": r.embed_seconds,
                                          "startup": r.startup_seconds,
                                          "network": r.network_seconds, "handover": r.handover_seconds,
                                          "decode": r.decode_seconds,
                                          "fit": r.fit_seconds, "first_use": r.first_use_seconds} for r in rows]}


def child_real(args, workdir: Path) -> dict:
    from rwbench.pipeline import embed_job, evaluate_job, evaluation_jobs, prepare_embedding

    datasets, frontends, backends = _setup(args)
    opts = _options(args, workdir / "results")
    embed, fit = {}, {}
    start = time.perf_counter()
    todo = prepare_embedding(datasets, frontends, opts)  # the memory checks: the first job's row pays them
    prepare = time.perf_counter() - start
    for job in todo:
        t0 = time.perf_counter()
        embed_job(job, opts)
        name = _row_name(job.dataset.key, job.frontend.name)
        embed[name] = embed.get(name, prepare) + time.perf_counter() - t0
        prepare = 0.0
    embed_stage = time.perf_counter() - start
    start = time.perf_counter()
    for task in evaluation_jobs(datasets, frontends, backends, opts):
        t0 = time.perf_counter()
        evaluate_job(task, opts)
        name = _row_name(task.job.dataset.key, task.job.frontend.name)
        fit[name] = fit.get(name, 0.0) + time.perf_counter() - t0
    return {"embed_stage": embed_stage, "evaluate_stage": time.perf_counter() - start, "embed": embed, "fit": fit}


def run_child(kind: str, argv: list[str], workdir: Path, env: dict) -> dict:
    report = workdir / f"{kind}.json"
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv, "--child", kind, "--workdir",
                           str(workdir)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dry_run: the {kind} process failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads(report.read_text()), "load": (load, os.getloadavg()[0])}


def ratio(predicted: float, real: float) -> str:
    if real <= 0:
        return "—"
    r = predicted / real
    return f"{r:.2f}" + ("" if 0.8 <= r <= 1.2 else " ✗")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--data-root")
    p.add_argument("--tasks", help="the dataset's tasks (default: its default tasks)")
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--frontends", default=DEFAULT_FRONTENDS)
    p.add_argument("--backends", default="svm,elm")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--grid", default="wide", choices=("wide", "study"))
    p.add_argument("-o", "--output", type=Path, help="also write the comparison as JSON here")
    p.add_argument("--child", choices=("plan", "real"), help=argparse.SUPPRESS)
    p.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        report = child_plan(args, args.workdir) if args.child == "plan" else child_real(args, args.workdir)
        (args.workdir / f"{args.child}.json").write_text(json.dumps(report))
        return 0
    argv = [a for a in sys.argv[1:] if a not in ("-o", "--output", str(args.output))]
    with tempfile.TemporaryDirectory(prefix="dry_run-") as tmp:
        env = {**os.environ, "RWBENCH_HOME": str(Path(tmp) / "home")}
        predicted = run_child("plan", argv, Path(tmp), env)
        real = run_child("real", argv, Path(tmp), env)
    lines = [f"{args.dataset} ({args.data_root or 'generated'}), front-ends {args.frontends}, backends {args.backends}, "
             f"{args.seeds} seed(s), grid {args.grid}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC')}; "
             f"the dry run took {predicted['seconds']:.1f} s; load average (1 min) {predicted['load'][0]:.2f} → "
             f"{predicted['load'][1]:.2f} (dry run), → {real['load'][1]:.2f} (real run)", "",
             "| dataset, front-end | embed s predicted (start-up + network/decode) | embed s real | ratio | fit s predicted | "
             "fit s real | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in predicted["rows"]:
        name = _row_name(row["dataset"], row["frontend"])
        lines.append(f"| {name} | {row['embed']:.1f} ({row['startup']:.1f} + {row['network']:.1f}/{row['decode']:.1f}) "
                     f"| {real['embed'].get(name, 0):.1f} | {ratio(row['embed'], real['embed'].get(name, 0))} | "
                     f"{row['fit']:.1f} | {real['fit'].get(name, 0):.1f} | {ratio(row['fit'], real['fit'].get(name, 0))} |")
    embed_p, fit_p = (sum(r[k] for r in predicted["rows"]) for k in ("embed", "fit"))
    lines.append(f"| **total** (stage walls) | {embed_p:.1f} | {real['embed_stage']:.1f} | "
                 f"{ratio(embed_p, real['embed_stage'])} | {fit_p:.1f} | {real['evaluate_stage']:.1f} | "
                 f"{ratio(fit_p, real['evaluate_stage'])} |")
    first_use = sum(r.get("first_use", 0.0) for r in predicted["rows"])
    lines += ["", f"of the fits predicted, {first_use:.1f} s once per run (the backends' first use, the MAC counts)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(json.dumps({"text": text, "predicted": predicted, "real": real}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
