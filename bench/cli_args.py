"""The command line's shared vocabulary: argument types that refuse bad values with one clear line, and each option
that several commands take, declared once (``add_width``, ``add_results`` …; a command overrides its default or
help). ``rwbench``, ``rwbench search`` and ``rwbench reproduce`` build their parsers from these."""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from .choices import (
    AGGREGATES,
    DEFAULT_BACKENDS,
    DEFAULT_FRONTENDS,
    DEFAULT_GRID,
    FORMATS,
    GRID_NAMES,
    INITS,
    LR_SCHEDULES,
    MAX_SEEDS,
    POOLINGS,
    PRECISIONS,
    SEED_LIMIT,
)
from .errors import DataError, RwbenchError
from .fileio import atomic_path

MAX_SECONDS = 86400.0  # a window or clip length beyond a day is a typing error
log = logging.getLogger("rwbench")


def seed_list(text: str) -> list[int]:
    """``3`` → seeds 0, 1, 2; ``0,5,7`` → those seeds; ``5,`` → seed 5 alone (a lone number is a count)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a count (3) or a list (0,5,7), got {text!r}") from None
    if len(values) == 1 and "," not in text:
        if values[0] > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"--seeds count {values[0]} is more than {MAX_SEEDS} seeds (a lone number "
                                             f"is a count; seed {values[0]} alone is written {values[0]},)")
        if values[0] < 0:
            raise argparse.ArgumentTypeError(f"--seeds takes a count (3) or non-negative seeds (0,5,7), got {text!r}")
        if values[0] == 0:
            raise argparse.ArgumentTypeError(f"--seeds count must be at least 1, got {text!r} (a lone number is a "
                                             "count; seed 0 alone is written 0,)")
        return list(range(values[0]))
    if not values or any(v < 0 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--seeds list takes distinct non-negative seeds (0,5,7), got {text!r}")
    if any(v >= SEED_LIMIT for v in values):
        raise argparse.ArgumentTypeError(f"--seeds: seeds must be below 2^31 ({SEED_LIMIT}), got {text!r} (the "
                                         "backends' and numpy's random states are 32-bit)")
    return values


def _distinct_numbers(flag: str, valid, what: str, example: str):
    """A parser of distinct comma-separated numbers each satisfying ``valid``; the error names ``flag``."""
    def parse(text: str) -> tuple[float, ...]:
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            values = []
        if not values or not all(valid(v) for v in values) or len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{flag} takes distinct {what} ({example}), got {text!r}")
        names = [f"{v:g}" for v in values]  # as the runs name them: two values of one name would share one run
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"{flag} {text}: values equal to 6 significant digits ("
                                             f"{', '.join(sorted({n for n in names if names.count(n) > 1}))}) name one "
                                             "run; give values that differ there")
        return tuple(values)
    return parse


learning_rates = _distinct_numbers("--lrs", lambda v: math.isfinite(v) and v > 0, "positive learning rates",
                                   "3e-4,1e-3,3e-3")
dropouts = _distinct_numbers("--dropouts", lambda v: 0 <= v < 1, "numbers in [0, 1)", "0,0.5")


def negative_dbfs(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value < 0:
        raise argparse.ArgumentTypeError(f"--silence-dbfs takes a negative level in dBFS (-60), got {text!r}")
    return value


def window_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"--window-hop takes a fraction of the window in (0, 1], got {text!r}")
    return value


def fold_names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"--folds takes comma-separated outer fold names (fold1), got {text!r}")
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise argparse.ArgumentTypeError(f"--folds names {', '.join(twice)} twice ({text}): each fold is scored once")
    return names


def positive(kind: type, name: str, *, below: float | None = None):
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


def fraction(name: str):
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


def count(name: str):
    """A non-negative integer (``--workers 0``: decode in the main process)."""
    def parse(text: str) -> int:
        if not text.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{name} takes a non-negative integer, got {text!r}")
        return int(text)
    return parse


def worker_count(text: str) -> int:
    """``--workers``: decoding processes, 0 (the main process) up to 4 per core (more only wait on each other)."""
    value = count("--workers")(text)
    if value > (most := 4 * (os.cpu_count() or 1)):
        raise argparse.ArgumentTypeError(f"--workers {value}: more decoding processes than 4 per core ({most} here) "
                                         f"only wait on each other; give at most {most}")
    return value


def thread_count(text: str) -> int:
    """``--threads``: torch CPU threads, 1 up to 4 per core (past that, OpenMP fails to start them or crashes)."""
    value = positive(int, "--threads")(text)
    if value > (most := 4 * (os.cpu_count() or 1)):
        raise argparse.ArgumentTypeError(f"--threads {value}: more than 4 threads per core ({most} here) only wait on "
                                         f"each other (and past a few thousand OpenMP cannot start them); give at most "
                                         f"{most}")
    return value


def jobs(text: str) -> int:
    """``--jobs``: a positive count, or -1 for every core (joblib's convention)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"--jobs takes a positive count or -1 (every core), got {text!r}")
    return value


def width(text: str) -> str:
    """``small``, ``paper`` or a filter count, one spelling per count (``08`` is ``8``: two spellings made two rows
    of one network)."""
    from .options import normal_width  # the rule RunOptions applies to the API's widths too

    try:
        return normal_width(text)
    except RwbenchError as err:
        raise argparse.ArgumentTypeError(f"--{err}") from None


def task_list(text: str) -> list[str]:
    """``--tasks``: distinct comma-separated names, spaces and empty items dropped (as every other list)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"--tasks names no task, got {text!r}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"--tasks names a task twice ({text}): each runs once")
    return names


def flags_set(args: argparse.Namespace, defaults: dict[str, object]) -> list[str]:
    """The options among ``defaults`` (destination → default) given another value, spelt as flags."""
    return [f"--{dest.replace('_', '-')}" for dest, default in defaults.items() if getattr(args, dest) != default]


def could_write_folder(path: Path, flag: str) -> Path:
    """``path`` as a folder the run could make and write (``--dry-run``), else a one-line error; nothing lasting is
    created (a probe file is made and removed at once: ``os.access`` says yes to root where ``/proc`` refuses)."""
    if path.exists() and not path.is_dir():
        raise RwbenchError(f"{flag} {str(path)!r} is a file, not a folder")
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    try:
        if not ancestor.is_dir():
            raise NotADirectoryError
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError:
        raise RwbenchError(f"{flag} {str(path)!r} is not a writable folder: {ancestor} cannot be written") from None
    return path


def output_file(text: str) -> Path:
    """``-o``: a file that can be written (its missing folders are made on writing), checked before any work: a
    folder, a path under a file or a read-only place is refused at once, not after the computation."""
    path = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError(f"-o takes the file to write, got {text!r}")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"-o {text!r} is a folder; give the file to write")
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"-o {text!r} cannot be written: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise argparse.ArgumentTypeError(f"-o {text!r} cannot be written: {ancestor} is not writable")
    return path


SUFFIX_FORMATS = {".md": "md", ".csv": "csv", ".json": "json"}  # -o's suffix → the table format it names


def table_format(given: str | None, output: Path | None) -> str:
    """The format of a table: ``--format``, else the one ``-o``'s suffix names (.md, .csv, .json), else Markdown;
    a suffix naming another format than ``--format`` is refused (``-o board.csv`` wrote Markdown into the .csv)."""
    named = SUFFIX_FORMATS.get(output.suffix.lower()) if output is not None else None
    if given and named and given != named:
        raise RwbenchError(f"--format {given} and -o {str(output)!r} (a .{named} name) disagree: drop --format, or "
                           f"give -o a .{given} name")
    return given or named or "md"


def weight_tags(text: str) -> list[str]:
    tags = [t.strip() for t in text.split(",") if t.strip()]
    if not tags or len(set(tags)) != len(tags):
        raise argparse.ArgumentTypeError(f"--weights takes distinct comma-separated tags (random,mtt), got {text!r}")
    return tags


def loader_option(text: str) -> tuple[str, object, str]:
    """``KEY=VALUE`` → (key, value, the value's text); the value is a Python literal when it reads as one (8, 0.5,
    True), else a string; the loader's annotation of the option is checked later (:func:`guards.typed_option`)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--dataset-option takes KEY=VALUE, got {text!r}")
    from .guards import literal  # here: `rwbench list` stays light (guards imports pandas)

    return key, literal(value), value


def data_root(text: str) -> Path:
    """``--data-root``: a folder; an empty value (an unset shell variable) is refused, not read as the current
    folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"--data-root takes the folder that holds the dataset, got {text!r} (an "
                                         f"unset variable?); write --data-root . for the current folder")
    return Path(text).expanduser().absolute()  # Dask workers read it from their own working directories


def folder(flag: str) -> Callable[[str], Path]:
    """``--results`` / ``--cache``: a folder; an empty value (an unset shell variable) is refused, not read as the
    current folder (its runs/ and embeddings/ written there)."""
    def parse(text: str) -> Path:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{flag} takes a folder, got {text!r} (an unset variable?); write {flag} . "
                                             "for the current folder")
        return Path(text).expanduser()
    return parse


class Once(argparse.Action):
    """A list option whose repetition is said: argparse keeps the last (``--frontends mfcc --frontends vgg`` ran vgg
    alone, unsaid). The last still wins, as a script's later flag overrides its defaults, with a warning."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        given: dict[str, object] = getattr(namespace, "_given", {})
        if self.dest in given:
            log.warning("%s given twice: the last (%s) replaces %s; give one comma-separated list for both",
                        option_string, shown(values), shown(given[self.dest]))
        namespace._given = {**given, self.dest: values}
        setattr(namespace, self.dest, values)


def shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def add_data_options(p: argparse.ArgumentParser, *, stored_tasks: bool = False) -> None:
    """``stored_tasks``: a stage that reads the dataset the embed stage stored (`rwbench evaluate` without
    --data-root) evaluates every task stored there by default."""
    p.add_argument("--dataset", default="synthetic", help="registered dataset (see `rwbench list datasets`)")
    p.add_argument("--data-root", type=data_root, help="folder that holds the dataset (not needed for synthetic)")
    stored = "; without --data-root, every task the embed stage stored in the cache" if stored_tasks else ""
    p.add_argument("--tasks", type=task_list, action=Once, help=f"comma-separated tasks of a multi-task dataset (default: the "
                                                  f"dataset's default tasks, see `rwbench list datasets`{stored})")
    p.add_argument("--dataset-option", type=loader_option, action="append", default=[], metavar="KEY=VALUE",
                   help="loader option, e.g. refit=train+valid (repeatable)")
    p.add_argument("--skip-bad-audio", action="store_true", help="leave unreadable clips out and record them")
    p.add_argument("--partial", action="store_true",
                   help="run on the files and classes present when a copy of the dataset is incomplete (listed files missing, "
                        "official classes without clips; recorded in results)")


def add_embed_options(p: argparse.ArgumentParser) -> None:
    add_frontends(p, default=DEFAULT_FRONTENDS, help="comma-separated names or wildcards ('vgg*')")
    p.add_argument("--weights", type=weight_tags, default=["random"], action=Once,
                   help="comma-separated weight tags: random (seeded), dsp, a pretrained tag such as mtt/msd (see "
                        "`rwbench list frontends`), or pretrained:PATH (safetensors or torch state dict)")
    add_seeds(p)
    add_width(p)
    p.add_argument("--init", choices=INITS,
                   help="the distribution random weights are drawn from (default: each front-end's own, he_normal "
                        "for most, as the reference study; `rwbench list frontends` shows it)")
    p.add_argument("--pooling", choices=POOLINGS, default="mean", help="per-layer pooling over time")
    p.add_argument("--segment", type=positive(float, "--segment", below=MAX_SECONDS), metavar="SECONDS",
                   help="segment-and-aggregate: embed fixed windows over the whole clip instead of cropping it")
    p.add_argument("--hop", type=positive(float, "--hop", below=MAX_SECONDS), metavar="SECONDS",
                   help="window hop with --segment (default: the window)")
    p.add_argument("--aggregate", choices=AGGREGATES, default="mean",
                   help="with --segment: average window embeddings (mean) or vote over window predictions")
    add_device(p)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="bf16/fp16: the network under autocast (log-mel and pooling in fp32; embeddings stored fp32)")
    p.add_argument("--compile", action="store_true",
                   help="run each network under torch.compile (inductor; compiling takes tens of seconds per network; "
                        "without a working compiler it runs as usual, with one info line)")
    add_batch_size(p, help="clips per forward pass (default: 16 on CPU; on CUDA the largest that fits half the free memory)")
    add_workers(p)
    add_results(p)
    add_cache(p)


def add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default=DEFAULT_BACKENDS, action=Once, help="comma-separated backends or wildcards")
    p.add_argument("--layers", default="default", action=Once,
                   help="feature layers evaluated, one result each: default (each front-end's own), each (every "
                        "layer alone), all, or sets like 'mean_pool+max_pool,penultimate'")
    add_jobs(p, help="grid-search fits run in this many threads, the cores' BLAS/torch threads shared out among them "
                        "(default: every core this process may use; 1: one after another, here); --executor dask: "
                        "per task, on its worker (default: a LocalCluster task, its share of the cores; a task on "
                        "--scheduler's cluster, 1, not capped by this machine's cores); the results are the same")
    add_force(p)
    p.add_argument("--grid", choices=GRID_NAMES, default=DEFAULT_GRID,
                   help="the SVM/ELM hyperparameter grid: wide (default; C 0.01…2^11, ELM ridge 1e-4…1e4), study (the "
                        "reference study's values) or wide-linear32 (wide, the SVM's linear kernel at C ≤ 32: for "
                        "thousands of clips); part of each result's run key (see `rwbench list backends`)")


def add_train_options(p: argparse.ArgumentParser, *, frontends: str = "sample_level,timbral,temporal",
                       lr: float | None = 1e-3, dropout: float | None = 0.5, epochs: int = 30,
                       patience: int = 6, head: bool = True) -> None:
    """The options of every training; ``head``: a classifier's too (dropout before it, crops averaged over a clip)."""
    add_frontends(p, default=frontends, help=f"comma-separated names or wildcards ({frontends})")
    add_seeds(p)
    add_width(p)
    p.add_argument("--epochs", type=positive(int, "--epochs"), default=epochs,
                   help=f"at most this many epochs ({epochs})")
    p.add_argument("--patience", type=positive(int, "--patience"), default=patience,
                   help=f"stop after this many epochs without a better validation loss ({patience})")
    p.add_argument("--lr", type=positive(float, "--lr"), default=lr,
                   help=f"Adam learning rate ({lr:g})" if lr is not None else "one Adam learning rate: --lrs LR")
    add_batch_size(p, default=32)
    add_lr_schedule(p)
    if head:
        p.add_argument("--dropout", type=fraction("--dropout"), default=dropout,
                       help=f"dropout before the linear head ({dropout:g})" if dropout is not None else
                       "one dropout before the linear head: --dropouts P")
        p.add_argument("--crop-seconds", type=positive(float, "--crop-seconds", below=MAX_SECONDS), metavar="SECONDS",
                       help="train on a random non-silent window of each clip; validation and test average the logits "
                            "of the clip's windows (default: whole clips throughout)")
        add_precise_bn(p)
    add_device(p)
    add_workers(p)
    add_results(p)
    add_force(p, help="train again what is already trained: finished folds and result files")


def add_lr_schedule(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=LR_SCHEDULES[0],
                   help="plateau (default): halve the learning rate after 3 epochs without a better validation loss; "
                        "constant: hold it, early stopping alone ends a run (recorded in the result and its key)")


def add_precise_bn(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precise-bn", action="store_true",
                   help="trained heads: recompute the batch norms' statistics over the training clips before each "
                        "validation and after the refit, so that early stopping, the plateau schedule and the score "
                        "read the network's own statistics, not running averages that lag its weights (one more "
                        "training; recorded in the result and its key)")


def add_weights_source_options(p: argparse.ArgumentParser) -> None:
    """Which instance's weights a figure reads: width, seed, and for per-fold weights the results folder and fold."""
    add_width(p)
    p.add_argument("--seed", type=count("--seed"), default=0, help="the seed of random weights, or of the training")
    add_results(p, help="where trained / mst weights live")
    p.add_argument("--fold", help="the outer fold whose trained / mst weights to read (default: the first)")


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


def datasets_from_args(args):
    from .datamodel import DATASETS
    from .guards import typed_option

    tasks = args.tasks or None
    spec = DATASETS.get(args.dataset)
    check_loader_keys(key for key, _, _ in args.dataset_option)
    options = {key: typed_option(spec.name, spec.build, key, value, text) for key, value, text in args.dataset_option}
    given: dict[str, str] = {}
    for key, _, text in args.dataset_option:  # the last wins, as on any command line, and is said to
        if (first := given.setdefault(key, text)) != text:
            log.warning("--dataset-option %s given twice (%s, then %s): %s is used", key, first, text, text)
            given[key] = text
    options.update(loader_flags(spec, skip_bad_audio=args.skip_bad_audio, partial=args.partial))
    return load_registered(spec, args.data_root, tasks, options)


def check_loader_keys(keys) -> None:
    """Dataset options that are not the loader's to take (its root, its tasks) are refused with the option to use."""
    for key in keys:
        if key in ("task", "tasks", "root", "listed_in"):
            flag = {"root": "--data-root (root=)", "listed_in": None}.get(key, "--tasks (tasks=)")
            raise RwbenchError(f"dataset option {key} is not a loader option" + (f"; use {flag}" if flag else ""))


def loader_flags(spec, *, skip_bad_audio: bool, partial: bool) -> dict[str, bool]:
    """The run's --skip-bad-audio and --partial as ``spec``'s loader takes them: a generated dataset (no --data-root)
    has no files to screen, so --skip-bad-audio acts in the embed stage alone there."""
    flags = {"partial": bool(partial),
             "skip_bad_audio": bool(skip_bad_audio) and (spec.needs_root or "skip_bad_audio" in loader_options(spec.build))}
    return {flag: True for flag, on in flags.items() if on}


def load_registered(spec, root, tasks: list[str] | None, options: dict) -> list:
    """``spec.load`` (a :class:`~rwbench.datamodel.DatasetSpec`) with loader ``options``, an option the loader
    fixes itself (esc10's ``seconds``) or an unknown one named (the CLI's and :func:`rwbench.load_dataset`'s)."""
    try:
        return spec.load(root, tasks=tasks, **options)
    except TypeError as err:  # an option the loader sets itself (esc10's seconds) or cannot take
        fixed = re.search(r"got multiple values for (?:keyword )?argument '(\w+)'", str(err))
        if fixed and fixed.group(1) in options:
            raise RwbenchError(f"dataset {spec.name!r} fixes {fixed.group(1)} itself (part of its protocol); drop "
                               f"--dataset-option {fixed.group(1)}=...") from None
        raise
    except DataError as err:
        own = loader_options(spec.build)
        if "unknown option(s)" in str(err) and own:  # name the loader's own too: the message knows only the common
            raise DataError(f"{err}; {spec.name}'s own: {', '.join(own)}") from None
        raise


def loader_options(build) -> list[str]:
    """The keyword options a dataset loader takes itself (``k``, ``seed``, ``folds_file`` for ``folder``)."""
    import inspect

    fixed = {"root", "task", "tasks", "listed_in"}
    return [name for name, p in inspect.signature(build).parameters.items()
            if p.kind == p.KEYWORD_ONLY and name not in fixed]


FIGURE_FORMATS = (".png", ".svg", ".pdf")


def figure_file(text: str) -> Path:
    """A figure to write (``-o`` of ``plot``, ``reproduce --plot``): :func:`output_file` named .png, .svg or .pdf,
    checked before any work."""
    path = output_file(text)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise argparse.ArgumentTypeError(f"{text!r}: name a {', '.join(FIGURE_FORMATS)} file")
    return path


def save_figure(figure, output: Path, flag: str = "-o") -> Path:
    """Write a matplotlib figure to ``output`` (.png, .svg or .pdf); the path written."""
    if output.suffix.lower() not in FIGURE_FORMATS:
        raise RwbenchError(f"{flag} {str(output)!r}: name a {', '.join(FIGURE_FORMATS)} file")
    try:
        with atomic_path(output) as tmp:  # a failed write keeps the figure that was there
            figure.savefig(tmp, dpi=150, format=output.suffix[1:].lower())
    except OSError as err:  # a plain error: a figure has no chunks or results to resume
        raise RwbenchError(f"{flag} {str(output)!r} cannot be written ({err.strerror or err})") from None
    return output


# -- options several commands take, each declared here once -----------------------------------------
def shared_option(*flags: str, **declared):
    """An adder for an option several commands take: ``add(parser, **overrides)`` declares ``flags`` with
    ``declared`` updated by the command's ``overrides`` (another default or help)."""
    def add(parser: argparse.ArgumentParser, **overrides) -> argparse.Action:
        return parser.add_argument(*flags, **{**declared, **overrides})
    return add


add_frontends = shared_option("--frontends", action=Once, help="comma-separated names or wildcards ('vgg*')")
add_width = shared_option("--width", type=width, default="small", help="small, paper or a filter count")
add_seeds = shared_option("--seeds", type=seed_list, default=[0], action=Once, help="a count (3 → 0,1,2) or a list (0,5,7)")
add_device = shared_option("--device", choices=("auto", "cpu", "cuda"), default="auto")
add_batch_size = shared_option("--batch-size", type=positive(int, "--batch-size"), help="clips per forward pass")
add_workers = shared_option("--workers", type=worker_count,
                            help="DataLoader decoding workers (default: min(4, cores − 1))")
add_jobs = shared_option("--jobs", type=jobs, help="grid-search fits in parallel (default: every core)")
add_results = shared_option("--results", type=folder("--results"), default=Path("results"),
                            help="results folder (default ./results)")
add_cache = shared_option("--cache", type=folder("--cache"), help="embedding cache (default RESULTS/embeddings)")
add_format = shared_option("--format", choices=FORMATS, help="md, csv or json (default: -o's suffix .md, .csv or .json, "
                                                              "else md)")
add_output = shared_option("-o", "--output", type=output_file, help="write to this file instead of stdout")
add_force = shared_option("--force", action="store_true", help="re-evaluate even when an up-to-date result exists")
