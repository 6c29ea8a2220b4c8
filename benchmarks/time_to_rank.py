"""Time to rank: rwbench against the pipeline a user writes without it, on the same front-ends, in one run.

    python benchmarks/time_to_rank.py --data-root ../shared/data/esc10 --elm-hidden 100,250,500   # every front-end
    python benchmarks/time_to_rank.py --data-root ../shared/data/esc10 --frontends mfcc,temporal --executors local
    python benchmarks/time_to_rank.py --quick -o /tmp/ttr                                # synthetic, tiny: checks only

The naive pipeline runs on a subset (``--naive-frontends``; it costs several times rwbench's time per front-end),
and rwbench twice per executor: on that subset with the same grid (the paired comparison: wall-time ratio, chosen
settings, predictions), then on every front-end of ``--frontends`` (default: every registered one but ``--skip``)
with the grid as named, ``--elm-hidden`` not applied (the time a user waits for a whole ranking).

Each pipeline runs in its own Python process from a cold start (imports, an empty embedding cache and file-hash
cache; the audio files may sit in the OS page cache), one after another:

* **naive**: the reference study's way (Pons & Serra 2019, jordipons/elmarc). For each backend it extracts the
  features again (every clip decoded, cropped/padded and run through the network in batches, in this process), then
  ``GridSearchCV(Pipeline(StandardScaler, SVC))`` over the same grid (``n_jobs=-1``), or for the ELM one hpelm
  model built and trained per setting and inner fold, all under the same nested CV as rwbench (the same inner
  splits, the setting with the best mean inner accuracy refit on the outer training side). It reuses rwbench's
  decoder, length policy, seeded network and seeded ELM hidden layer, so that both pipelines compute the same
  features and models and their choices can be compared; only the orchestration differs.
* **rwbench**: ``embed`` then ``evaluate`` (the ``rwbench run`` stages) with the CLI's defaults (one DataLoader
  worker decoding beside the network, grid-search fits in threads over every core, kernel matrices reused across
  the SVM grid), or on a Dask LocalCluster (``--executors dask``).

For each it reports the wall time (the whole process), decoding, network and fit time, and the peak memory of its
process tree; then the agreement of the chosen settings and test predictions, fold by fold. The SVM is meant to
agree exactly (the same libsvm problem; rwbench computes the kernel matrix with torch). The ELM agrees where both
solve the same system: rwbench solves the ridge in its n×n dual form when an inner fit part has fewer clips than
hidden units, hpelm always factorises the L×L primal, so at the smallest ridge λ rounding can move a prediction.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAIVE_FRONTENDS = "mfcc,temporal,sample_level"
SKIP = "crepe"  # 89 GMAC per 4-s clip (the 20 others at small width: 0.001-2.3): alone it would double the run
QUICK_GRIDS = {  # --quick: a few settings of each grid (both pipelines search the same)
    "svm": [{"clf__kernel": ["rbf"], "clf__gamma": ["scale", 2.0**-9], "clf__C": [0.1, 8.0]},
            {"clf__kernel": ["linear"], "clf__C": [0.1]}],
    "elm": [{"clf__n_hidden": [20, 50], "clf__alpha": [1.0, 100.0]}],
}


# -- shared by the two pipelines -------------------------------------------------------------------
def load(args):
    from rwbench.datamodel import DATASETS

    if args.quick:  # 10 clips of 2 s per class: a check of the plumbing in seconds
        return DATASETS.get("synthetic").load(None, tasks=["timbre"], n_per_class=10, seconds=2.0)
    return DATASETS.get(args.dataset).load(args.data_root, tasks=args.tasks.split(",") if args.tasks else None)


def backends(args):
    """The backends with the grid searched: the paired runs' (``--elm-hidden`` cuts the ELM's), else the named one."""
    from rwbench.backends import BACKENDS

    specs = [BACKENDS.get(name).with_grid(args.grid) for name in args.backends.split(",")]
    if args.quick:
        return [replace(b, grid=QUICK_GRIDS[b.name], grids=None, grid_name=None) for b in specs]
    if args.elm_hidden and args.paired:  # fewer hidden sizes: hpelm's L×L solve at L = 2500 takes seconds a fit
        hidden = [int(h) for h in args.elm_hidden.split(",")]
        specs = [replace(b, grid=[{**part, "clf__n_hidden": hidden} for part in b.grid], grids=None, grid_name=None)
                 if b.name == "elm" else b for b in specs]
    return specs


def relative_inner(split):
    import numpy as np

    search = split.search
    return search, [(np.searchsorted(search, fit), np.searchsorted(search, val)) for fit, val in split.inner]


# -- the naive pipeline ----------------------------------------------------------------------------
def extract(dataset, spec, args, batch_size: int = 16):
    """(features of the front-end's default layers (clips, dim), decode s, network s): a plain loop, no cache."""
    import numpy as np
    import torch

    from rwbench.clips import clip_audio
    from rwbench.embed import build_model
    from rwbench.embed_job import EmbedJob

    job = EmbedJob(dataset, spec, args.width, "random", args.seed)
    model, _ = build_model(job, torch.device("cpu"))  # the network as rwbench builds it: the same features
    decode = network = 0.0
    out = []
    for start in range(0, len(dataset.clips), batch_size):
        t0 = time.perf_counter()
        waves = torch.stack([clip_audio(job, i) for i in range(start, min(start + batch_size, len(dataset.clips)))])
        t1 = time.perf_counter()
        out.append(model(waves).numpy())
        decode, network = decode + t1 - t0, network + time.perf_counter() - t1
    slices = model.layer_slices()
    columns = np.concatenate([np.arange(*slices[layer]) for layer in spec.defaults])
    return np.concatenate(out)[:, columns], decode, network


def naive_svm(X, y, split, grid, seed, n_jobs=-1):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    search, inner = relative_inner(split)
    model = Pipeline([("scale", StandardScaler()), ("clf", SVC(random_state=seed))])
    gs = GridSearchCV(model, grid, cv=inner, scoring="accuracy", n_jobs=n_jobs, refit=False).fit(X[search], y[search])
    fitted = clone(model).set_params(**gs.best_params_).fit(X[split.train], y[split.train])
    return gs.best_params_, fitted.predict(X[split.test])


def hpelm_predict(X_fit, y_fit, X_out, n_hidden, alpha, seed):
    """One hpelm ELM on standardised features: the seeded hidden layer rwbench draws, hpelm's ridge solve."""
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    from rwbench.elm import _build_elm, _draw_hidden

    scaler = StandardScaler().fit(X_fit)
    X_fit, X_out = (scaler.transform(a).astype(np.float64) for a in (X_fit, X_out))
    classes, index = np.unique(y_fit, return_inverse=True)
    W, B = _draw_hidden(np.random.default_rng(seed), X_fit.shape[1], n_hidden)
    elm = _build_elm(W, B, len(classes), "relu", alpha)
    elm.train(X_fit, np.eye(len(classes))[index], "c")
    return classes[np.argmax(elm.predict(X_out), axis=1)]


def naive_elm(X, y, split, grid, seed, n_jobs=None):
    import numpy as np
    from sklearn.model_selection import ParameterGrid

    settings = list(ParameterGrid(grid))  # GridSearchCV's order, so ties resolve alike
    search, inner = relative_inner(split)
    Xs, ys = X[search], y[search]
    means = []
    for params in settings:
        n_hidden, alpha = int(params["clf__n_hidden"]), float(params["clf__alpha"])
        means.append(np.mean([np.mean(hpelm_predict(Xs[fit], ys[fit], Xs[val], n_hidden, alpha, seed) == ys[val])
                              for fit, val in inner]))
    best = settings[int(np.argmax(means))]  # the first best, as GridSearchCV's rank
    return best, hpelm_predict(X[split.train], y[split.train], X[split.test], int(best["clf__n_hidden"]),
                               float(best["clf__alpha"]), seed)


def run_naive(args) -> dict:
    from rwbench.evaluate import stored_params
    from rwbench.frontend import FRONTENDS

    fit = {"svm": naive_svm, "elm": naive_elm}
    runs, totals = [], {"decode": 0.0, "network": 0.0, "fit": 0.0}
    for dataset in load(args):
        y, splits = dataset.labels, dataset.splits()
        for backend in backends(args):
            for spec in FRONTENDS.select(args.naive_frontends):
                X, decode, network = extract(dataset, spec, args)  # again for every backend, as the study did
                start, folds = time.perf_counter(), []
                for split in splits:
                    params, predicted = fit[backend.name](X, y, split, backend.grid, args.seed,
                                                          n_jobs=1 if args.quick else -1)  # quick: no process pool
                    folds.append({"name": split.name, "best_params": stored_params(params),
                                  "predicted": [int(p) for p in predicted], "test_clips": split.test.tolist()})
                seconds = time.perf_counter() - start
                runs.append({"dataset": dataset.key, "frontend": spec.name, "backend": backend.name, "decode": decode,
                             "network": network, "fit": seconds, "folds": folds})
                for key, value in (("decode", decode), ("network", network), ("fit", seconds)):
                    totals[key] += value
                print(f"naive {spec.name} {backend.name}: decode {decode:.1f} s, network {network:.1f} s, "
                      f"fit {seconds:.1f} s", file=sys.stderr)
    return {"runs": runs, "phases": totals}


# -- rwbench ---------------------------------------------------------------------------------------
def timed_decoding(datasets):
    """Decoding seconds summed over every process that decodes (DataLoader workers are forked: shared memory)."""
    total = multiprocessing.Value("d", 0.0)

    def wrap(load_audio):
        def timed(clip, rate):
            start = time.perf_counter()
            try:
                return load_audio(clip, rate)
            finally:
                with total.get_lock():
                    total.value += time.perf_counter() - start
        return timed

    for dataset in datasets:
        dataset.load_audio = wrap(dataset.load_audio)
    return total


def run_rwbench(args, workdir: Path) -> dict:
    from rwbench.evaluate import available_cores
    from rwbench.frontend import FRONTENDS
    from rwbench.pipeline import RunLog, RunOptions, embed_all, evaluate_all, evaluation_jobs

    chosen = args.naive_frontends if args.paired else args.frontends
    datasets, frontends, specs = load(args), FRONTENDS.select(chosen), backends(args)
    dask = args.executor == "dask"
    opts = RunOptions(seeds=[args.seed], width=args.width, device="cpu", results_dir=workdir / "results",
                      grid=args.grid, n_jobs=None if dask else available_cores())  # the CLI's defaults
    phases = {}
    if dask:
        from rwbench.executor import run_dask

        start = time.perf_counter()
        run_dask(datasets, frontends, specs, opts, n_workers=args.dask_workers)
        phases["graph"] = time.perf_counter() - start  # embed and evaluate tasks overlap
    else:
        decoding, log_ = timed_decoding(datasets), RunLog()
        evaluation_jobs(datasets, frontends, specs, opts)
        start = time.perf_counter()
        embed_all(datasets, frontends, opts, log_)
        phases["embed"] = time.perf_counter() - start
        start = time.perf_counter()
        evaluate_all(datasets, frontends, specs, opts, log_)
        phases["fit"] = time.perf_counter() - start
        phases["decode"] = decoding.value
    runs = []
    for path in sorted((opts.results_dir / "runs").rglob("*.json")):
        record = json.loads(path.read_text())
        runs.append({"dataset": record["dataset"]["key"], "frontend": record["frontend"]["name"],
                     "backend": record["backend"]["name"], "embed": record["timings"]["embed_seconds"],
                     "fit": sum(f["fit_seconds"] for f in record["folds"]),
                     "folds": [{k: f[k] for k in ("name", "best_params", "predicted", "test_clips")}
                               for f in record["folds"]]})
    return {"runs": runs, "phases": phases}


def child(args) -> int:
    start = time.perf_counter()  # after the interpreter started and imported this script (not rwbench, torch)
    workdir = Path(args.workdir)
    report = run_naive(args) if args.child == "naive" else run_rwbench(args, workdir)
    report["seconds_in_process"] = time.perf_counter() - start
    report["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (workdir / "report.json").write_text(json.dumps(report))
    return 0


# -- the parent: run each pipeline, compare ----------------------------------------------------------
def tree_pss_mib(pid: int) -> float:
    """Proportional set size of ``pid`` and its descendants (shared pages counted once in all)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue  # the process ended meanwhile
    return total / 1024


def run_child(pipeline: str, args, executor: str, workdir: Path, paired: bool = True) -> dict:
    workdir.mkdir(parents=True)
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", pipeline, "--executor", executor,
            "--workdir", str(workdir), "--frontends", args.frontends, "--naive-frontends", args.naive_frontends,
            *(["--paired"] if paired else []), "--backends", args.backends, "--seed",
            str(args.seed), "--width", str(args.width), "--grid", args.grid, "--dask-workers", str(args.dask_workers),
            *(["--elm-hidden", args.elm_hidden] if args.elm_hidden else []),
            "--dataset", args.dataset, *(["--data-root", str(args.data_root)] if args.data_root else []),
            *(["--tasks", args.tasks] if args.tasks else []), *(["--quick"] if args.quick else [])]
    env = {**os.environ, "RWBENCH_HOME": str(workdir / "home")}  # an empty file-hash cache: a cold start
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr.txt", "w"))
    peak, done = [0.0], threading.Event()

    def sample():
        while not done.wait(0.1):
            peak[0] = max(peak[0], tree_pss_mib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if rc != 0:
        tail = (workdir / "stderr.txt").read_text()[-3000:]
        raise SystemExit(f"time_to_rank: the {pipeline} ({executor}) pipeline failed (exit {rc}):\n{tail}")
    report = json.loads((workdir / "report.json").read_text())
    return {**report, "pipeline": pipeline, "executor": executor, "paired": paired, "wall": wall, "peak_pss_mib": peak[0],
            "load_before": load_before, "load_after": os.getloadavg()}


def same_params(a: dict, b: dict) -> bool:
    def same(x, y):
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            return math.isclose(x, y, rel_tol=1e-9)
        return x == y

    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


def agreement(naive: dict, rwbench: dict) -> list[dict]:
    """Per (dataset, front-end, backend): folds whose chosen setting is the same, test clips predicted alike, and the
    accuracy neither pipeline computed itself (predictions vs truth are not stored by the naive run: counts only)."""
    theirs = {(r["dataset"], r["frontend"], r["backend"]): r for r in rwbench["runs"]}
    rows = []
    for mine in naive["runs"]:
        key = (mine["dataset"], mine["frontend"], mine["backend"])
        other = theirs.get(key)
        if other is None:
            raise SystemExit(f"time_to_rank: rwbench wrote no result for {key}")
        folds = {f["name"]: f for f in other["folds"]}
        settings = predictions = clips = 0
        for fold in mine["folds"]:
            match = folds[fold["name"]]
            if match["test_clips"] != fold["test_clips"]:
                raise SystemExit(f"time_to_rank: {key} fold {fold['name']}: the two pipelines tested other clips")
            settings += same_params(fold["best_params"], match["best_params"])
            predictions += sum(a == b for a, b in zip(fold["predicted"], match["predicted"]))
            clips += len(fold["predicted"])
        rows.append({"dataset": key[0], "frontend": key[1], "backend": key[2], "folds": len(mine["folds"]),
                     "settings_agree": settings, "clips": clips, "predictions_agree": predictions,
                     "naive_extract_s": mine["decode"] + mine["network"], "naive_fit_s": mine["fit"],
                     "rwbench_embed_s": other["embed"], "rwbench_fit_s": other["fit"]})
    return rows


def phase_row(result: dict, naive_wall: float) -> dict:
    ph = result["phases"]
    if result["pipeline"] == "naive":
        decode, embed, fit = ph["decode"], ph["decode"] + ph["network"], ph["fit"]
    elif "graph" in ph:
        decode = embed = fit = None
    else:
        decode, embed, fit = ph["decode"], ph["embed"], ph["fit"]
    known = embed + fit if embed is not None else ph["graph"]
    name = result["pipeline"] if result["pipeline"] == "naive" else f"rwbench ({result['executor']})"
    return {"pipeline": name, "frontends": len({r["frontend"] for r in result["runs"]}), "paired": result["paired"],
            "wall_s": result["wall"], "decode_s": decode, "embed_s": embed, "fit_s": fit,
            "other_s": result["seconds_in_process"] - known, "startup_s": result["wall"] - result["seconds_in_process"],
            "peak_tree_pss_mib": result["peak_pss_mib"], "main_max_rss_mib": result["max_rss_mib"],
            "naive_wall_over_this": naive_wall / result["wall"] if result["paired"] else None,
            "load_before": result["load_before"][0], "load_after": result["load_after"][0]}


def per_frontend(result: dict) -> list[dict]:
    """Seconds per front-end of one rwbench run: its embedding (shared by the backends) and each backend's fits."""
    rows: dict[str, dict] = {}
    for run in result["runs"]:
        row = rows.setdefault(run["frontend"], {"frontend": run["frontend"], "embed_s": run["embed"]})
        row[f"{run['backend']}_fit_s"] = run["fit"]
    return sorted(rows.values(), key=lambda r: -(r["embed_s"] + sum(v for k, v in r.items() if k.endswith("fit_s"))))


def fmt(value, digits=1) -> str:
    return "—" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(meta: dict, phases: list[dict], agree: dict[str, list[dict]], every: dict[str, list[dict]]) -> str:
    lines = [f"# Time to rank: {meta['dataset']}", "", meta["setting"], "",
             "| pipeline | front-ends | wall s | decode s | embed s (incl. decode) | fit s | other s | start-up s | "
             "peak tree PSS MiB | main max RSS MiB | naive wall / this | load 1-min before → after |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in phases:
        which = f"{r['frontends']} (naive's)" if r["paired"] else f"{r['frontends']} (every one)"
        ratio = "—" if r["naive_wall_over_this"] is None else f"×{r['naive_wall_over_this']:.2f}"
        lines.append(f"| {r['pipeline']} | {which} | {fmt(r['wall_s'])} | {fmt(r['decode_s'])} | {fmt(r['embed_s'])} | "
                     f"{fmt(r['fit_s'])} | {fmt(r['other_s'])} | {fmt(r['startup_s'])} | "
                     f"{fmt(r['peak_tree_pss_mib'], 0)} | {fmt(r['main_max_rss_mib'], 0)} | {ratio} | "
                     f"{r['load_before']:.2f} → {r['load_after']:.2f} |")
    for executor, rows in agree.items():
        lines += ["", f"Agreement, naive vs rwbench ({executor}):", "",
                  "| front-end | backend | settings agree (folds) | predictions agree (test clips) | naive extract s | "
                  "naive fit s | rwbench embed s | rwbench fit s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['frontend']} | {r['backend']} | {r['settings_agree']}/{r['folds']} | "
                         f"{r['predictions_agree']}/{r['clips']} ({100 * r['predictions_agree'] / r['clips']:.1f} %) | "
                         f"{fmt(r['naive_extract_s'])} | {fmt(r['naive_fit_s'])} | {fmt(r['rwbench_embed_s'])} | "
                         f"{fmt(r['rwbench_fit_s'])} |")
    for executor, rows in every.items():
        fits = sorted({k for r in rows for k in r if k.endswith("_fit_s")})
        lines += ["", f"Every front-end, rwbench ({executor}), slowest first (seconds):", "",
                  "| front-end | embed s | " + " | ".join(f"{k[:-6]} fit s" for k in fits) + " |",
                  "|---|---:|" + "---:|" * len(fits)]
        lines += [f"| {r['frontend']} | {fmt(r['embed_s'])} | " + " | ".join(fmt(r.get(k)) for k in fits) + " |"
                  for r in rows]
    return "\n".join(lines + [""]) + "\n" + meta["notes"] + "\n"


NOTES = """Columns: *wall* is the pipeline's whole process from a cold start; *start-up* the interpreter's start and this
script's imports; *other* the rest of the pipeline's own work besides embedding and fitting (importing rwbench and
torch, loading and hashing the dataset, writing results; on Dask also the cluster's start). *decode* is the time in
decoding and resampling (rwbench: in its DataLoader worker, overlapping the network; naive: in the main process, once
per backend); *embed* the embedding stage including decoding (naive: decoding + network, summed over both
extractions); *fit* the evaluate stage's wall (rwbench) or every grid search and refit (naive). On Dask the embed and
evaluate tasks overlap: their graph's wall is the pipeline's work less *other*, not split further. *peak tree PSS*:
the proportional set size of the pipeline's process and all its children (DataLoader and loky workers, Dask workers),
sampled every 0.1 s; *main max RSS*: the pipeline's own process. In the agreement tables, seconds are per front-end
and backend: rwbench's embed time is its one shared embedding (from its manifest), its fit time the sum of its folds'
`fit_seconds` (on Dask, tasks overlap: these sum more than the graph's wall). *naive wall / this* compares runs on the
same front-ends and grid only; the runs on every front-end search the grid as named."""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="esc10")
    p.add_argument("--data-root", type=Path)
    p.add_argument("--tasks")
    p.add_argument("--frontends", default="*", help="rwbench's front-ends, names or wildcards (default: every registered "
                                                    "one but --skip)")
    p.add_argument("--skip", default=SKIP, help=f"left out of --frontends (default: {SKIP}; '' for none)")
    p.add_argument("--naive-frontends", default=NAIVE_FRONTENDS, help=f"the paired comparison's front-ends (default: "
                                                                      f"{NAIVE_FRONTENDS})")
    p.add_argument("--backends", default="svm,elm", choices=("svm,elm", "svm", "elm", "elm,svm"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", default="small")
    p.add_argument("--grid", default="wide", choices=("wide", "study"))
    p.add_argument("--elm-hidden", help="the ELM's hidden sizes the paired runs search, e.g. 100,250,500 (default: the "
                                        "grid's)")
    p.add_argument("--executors", default="local,dask", help="rwbench executors, each beside the one naive run")
    p.add_argument("--dask-workers", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="synthetic timbre, mfcc, a few grid settings: a check, "
                                                        "not a timing")
    p.add_argument("-o", "--output", type=Path, help="writes OUTPUT.json and OUTPUT.md "
                                                     "(default: benchmarks/results/time_to_rank-DATASET)")
    p.add_argument("--child", choices=("naive", "rwbench"), help=argparse.SUPPRESS)
    p.add_argument("--executor", default="local", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--paired", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    if args.quick:  # defaults: mfcc alone, no run on every front-end
        args.dataset = "synthetic"
        if args.naive_frontends == NAIVE_FRONTENDS:
            args.naive_frontends = "mfcc"
        if args.frontends == "*":
            args.frontends = args.naive_frontends
    elif args.data_root is None and args.dataset != "synthetic":
        p.error(f"--data-root is needed for {args.dataset} (or --quick)")
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    if set(executors) - {"local", "dask"}:
        p.error(f"--executors takes local and/or dask, got {args.executors!r}")
    from rwbench.errors import UnknownNameError
    from rwbench.frontend import FRONTENDS

    try:
        naive = [s.name for s in FRONTENDS.select(args.naive_frontends)]
        skip = {s.name for s in FRONTENDS.select(args.skip)} if args.skip.strip() else set()
        every = [s.name for s in FRONTENDS.select(args.frontends) if s.name not in skip]
    except UnknownNameError as err:  # the registry's message lists the known ones
        p.error(str(err))
    args.naive_frontends, args.frontends = ",".join(naive), ",".join(every)
    output = args.output or HERE / "results" / f"time_to_rank-{args.dataset}"
    with tempfile.TemporaryDirectory(prefix="time_to_rank-") as tmp:
        results = {"naive": run_child("naive", args, "local", Path(tmp) / "naive")}
        for executor in executors:
            results[executor] = run_child("rwbench", args, executor, Path(tmp) / f"rwbench-{executor}")
        if set(every) != set(naive):
            for executor in executors:
                results[f"{executor}, every front-end"] = run_child("rwbench", args, executor,
                                                                    Path(tmp) / f"every-{executor}", paired=False)
    naive_wall = results["naive"]["wall"]
    phases = [phase_row(r, naive_wall) for r in results.values()]
    agree = {e: agreement(results["naive"], results[e]) for e in executors}
    every_rows = {e: per_frontend(results[f"{e}, every front-end"]) for e in executors
                  if f"{e}, every front-end" in results}
    n_clips = sum(len(r["folds"][0]["test_clips"]) for r in results["naive"]["runs"][:1])
    meta = {"dataset": args.dataset, "notes": NOTES,
            "setting": f"{args.dataset}{' (quick check: not a timing)' if args.quick else ''}; naive and paired rwbench "
                       f"runs on {args.naive_frontends}, rwbench on every front-end: {len(every)} ({args.frontends}), "
                       f"left out: {args.skip or 'none'}; width {args.width}; backends {args.backends}, grid "
                       f"{'quick' if args.quick else args.grid}"
                       f"{f' (paired runs: ELM hidden sizes {args.elm_hidden} only)' if args.elm_hidden else ''}; "
                       f"seed {args.seed}; "
                       f"{os.cpu_count()} cores; rwbench on "
                       f"Dask: a LocalCluster of {args.dask_workers} workers; {time.strftime('%Y-%m-%d %H:%M UTC')}; "
                       f"first fold's test clips {n_clips}"}
    text = markdown(meta, phases, agree, every_rows)
    print(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".md").write_text(text)
    output.with_suffix(".json").write_text(json.dumps({"meta": meta, "phases": phases, "agreement": agree,
                                                       "every_frontend": every_rows, "raw": results}, indent=1))
    print(f"written: {output.with_suffix('.md')}, {output.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
