"""The ``rwbench reproduce`` command's options and handler (kept out of :mod:`rwbench.cli`, which registers them).

Parsing imports nothing heavy; the handler imports the pipeline when it runs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .paper import Paper

log = logging.getLogger("rwbench")

HELP = "run a paper's experiment (pons2019, tax2017, lee2017, or a paper file) and put its published numbers beside"


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    from . import cli_args
    from .choices import GRID_NAMES

    p = sub.add_parser("reproduce", parents=[common], help=HELP, description=HELP + ". Datasets without a --data-root "
                       "are skipped with a line that says how to get them.")
    p.add_argument("paper", metavar="PAPER", help="a shipped paper (pons2019, tax2017, lee2017) or a paper file "
                                                  "(.toml, format in bench/papers/README.md)")
    p.add_argument("--data-root", action="append", default=[], metavar="NAME=PATH",
                   help="where one of the paper's datasets is (repeatable), e.g. gtzan=~/data/gtzan")
    p.add_argument("--protocol", choices=("honest", "published", "both"), default="honest",
                   help="honest (default): rwbench's nested CV; published: the reference study's own selection and "
                        "reporting (best_score_; GTZAN refit on train only), results under RESULTS/published; both")
    cli_args.add_width(p, default=None, help="small, paper or a filter count (default: the paper's, usually paper)")
    cli_args.add_seeds(p, default=None, help="a count (3 → 0,1,2) or a list (default: the paper's)")
    p.add_argument("--grid", choices=GRID_NAMES, help="the backends' grid: study or wide (default: the paper's)")
    cli_args.add_frontends(p, help="run only these of the paper's front-ends (comma-separated)")
    p.add_argument("--backends", action=cli_args.Once, help="run only these of the paper's backends (comma-separated)")
    p.add_argument("--dry-run", action="store_true", help="print the plan per dataset (jobs, predicted time and "
                                                          "disk) and the table of what exists; compute nothing")
    p.add_argument("--partial", action="store_true", help="run on the files present when a copy is incomplete "
                                                          "(recorded in the results)")
    p.add_argument("--skip-bad-audio", action="store_true", help="leave unreadable clips out and record them")
    cli_args.add_device(p)
    cli_args.add_batch_size(p, help="clips per forward pass")
    cli_args.add_workers(p, help="DataLoader decoding workers")
    cli_args.add_jobs(p, help="grid-search fits in parallel (default: every core)")
    cli_args.add_results(p)
    cli_args.add_cache(p)
    cli_args.add_force(p)
    p.add_argument("-o", "--output", type=cli_args.output_file, help="also write the side-by-side table (Markdown) to this file")
    p.add_argument("--plot", type=cli_args.figure_file, metavar="FIGURE",
                   help="also draw published vs rwbench (with intervals and the identity line) to this .png/.svg/.pdf "
                        "(matplotlib)")
    p.set_defaults(handler=cmd_reproduce)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def cmd_reproduce(args) -> str:
    from . import cli_args
    from .errors import RwbenchError
    from .evaluate import available_cores
    from .paper import find_paper
    from .pipeline import RunOptions
    from .reproduce import (
        backends_of,
        check_targets,
        comparison,
        dry_run,
        effective_protocol,
        every_frontend,
        missing_trained,
        parse_roots,
        partial_lines,
        render_comparison,
        run_paper,
        select_targets,
    )

    paper = check_trained_commands(find_paper(args.paper))
    roots = parse_roots(paper, args.data_root)
    frontends = _names(args.frontends)
    known = list(dict.fromkeys(f for d in paper.datasets for f in paper.frontends_on(d)))
    if unknown := [n for n in frontends or [] if n not in known]:
        raise RwbenchError(f"--frontends {','.join(unknown)}: not among {paper.id}'s front-ends ({', '.join(known)})")
    backends = backends_of(paper, _names(args.backends))
    protocol, note = effective_protocol(paper, args.protocol)
    if not args.dry_run:
        cli_args.writable_folder(args.results, "--results")
    options = {k: True for k in ("partial", "skip_bad_audio") if getattr(args, k)}
    targets, skipped, absent = select_targets(paper, roots, options=options, frontends=frontends)
    check_targets(paper, targets, protocol)  # before any embedding or fit is paid for
    opts = RunOptions(width=args.width or paper.width, seeds=args.seeds or list(range(paper.seeds)),
                      device=args.device, batch_size=args.batch_size, workers=args.workers,
                      skip_bad_audio=args.skip_bad_audio, results_dir=args.results, cache_dir=args.cache,
                      n_jobs=args.jobs if args.jobs is not None else available_cores(), force=args.force,
                      progress=not args.quiet and sys.stderr.isatty(), grid=args.grid or paper.grid)
    if note:
        log.info("%s", note)
    asked = {t.frontend: command_recipe(t.command, opts.width) for t in paper.trained}  # the paper file's recipes
    out = dry_run(paper, targets, backends, opts) if args.dry_run else ""
    if not args.dry_run and targets:
        for line in run_paper(paper, targets, backends, opts, protocol):
            log.info("%s", line)
    # every front-end's rows (the report's record keeps them all), read once; the table shows the run's
    whole = comparison(paper, every_frontend(paper, targets), opts, protocol, every_frontend(paper, absent), asked)
    shown = {(t.entry.name, spec.name) for t in [*targets, *absent] for spec in t.frontends}
    rows = [r for r in whole if r["weights"] == "trained" or (r["paper_dataset"], r["frontend"]) in shown]
    for line in missing_trained(paper, rows, opts):  # beside the table, also with -q: what the table lacks
        log.warning("%s", line)
    text = render_comparison(paper, rows, protocol, skipped + partial_lines(targets), opts)
    out += text
    if not args.dry_run:
        from .reproduce import write_record

        log.info("kept the table for `rwbench report --results %s`: %s", args.results,
                 write_record(paper, whole, protocol, skipped + partial_lines(targets), opts, roots,
                              getattr(args, "command_line", None)))
    if args.output:
        from .fileio import write_text

        try:
            write_text(args.output, text)
        except OSError as err:  # every result is kept: a rerun reads them and prints the table at once
            raise RwbenchError(f"-o {str(args.output)!r} cannot be written ({err.strerror or err}); the results are "
                               "kept: rerun with another -o") from None
        log.info("wrote %s", args.output)
    if args.plot:
        from .reproduce import scatter_figure

        figure = scatter_figure(paper, rows, "study" if protocol == "published" else "honest")
        out += f"wrote {cli_args.save_figure(figure, args.plot, '--plot')}\n"
    return out


def check_trained_commands(paper: Paper) -> Paper:
    """``paper``, each of whose ``[[trained]] command`` is one ``rwbench train`` reads and that trains the entry's
    front-end (it is printed to make the row, and its recipe judges the row): checked before any work, else a
    :class:`~rwbench.paper.PaperError` naming the entry."""
    from .errors import RwbenchError
    from .frontend import FRONTENDS
    from .paper import PaperError

    for i, t in enumerate(paper.trained):
        where = f"{paper.file}: trained[{i}] ({t.frontend})"
        try:
            args = train_args(t.command, paper.width)
            names = [spec.name for spec in FRONTENDS.select(args.frontends)]
        except RwbenchError as err:
            raise PaperError(f"{where}.command: {err}") from None
        if names != [t.frontend]:
            raise PaperError(f"{where}.command: --frontends {args.frontends} trains {names}, not the entry's "
                             f"[{t.frontend!r}]; give --frontends {t.frontend}")
    return paper


def train_args(command: str, width: str | int) -> argparse.Namespace:
    """A paper file's ``[[trained]] command`` read by ``rwbench train``'s own parser (``WIDTH`` filled in; DATASET,
    PATH and RESULTS stay placeholders: they set no recipe choice); an error saying why when it is not one."""
    import contextlib
    import io

    from .cli import build_parser
    from .errors import RwbenchError

    def refused(why: str) -> RwbenchError:
        return RwbenchError(f"the paper file's trained command {command!r} is not one `rwbench train` reads: {why}")

    try:  # split first, then fill in WIDTH
        words = [w.replace("WIDTH", str(width)) for w in shlex.split(command)]
    except ValueError as err:  # an unclosed quote
        raise refused(str(err)) from None
    if words[:2] != ["rwbench", "train"]:
        raise refused(f"it starts {' '.join(words[:2])!r}, not 'rwbench train'")
    said = io.StringIO()
    try:  # argparse says why on stderr and exits: its line is the reason
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
            return build_parser().parse_args(words[1:])
    except SystemExit:
        lines = [line for line in said.getvalue().splitlines() if line.strip()]
        raise refused(lines[-1].removeprefix("rwbench: error: ") if lines else "--help or --version") from None
    except (RwbenchError, ValueError) as err:
        raise refused(str(err)) from None


def command_recipe(command: str, width: str | int) -> dict[str, Any]:
    """The training recipe a paper file's ``[[trained]] command`` asks for, as a trained result's
    ``training.recipe`` records it: the command read by ``rwbench train``'s own parser (rwbench's defaults for
    what it leaves out)."""
    from .fitting import DROPOUTS, LR_SCHEDULES, LRS

    args = train_args(command, width)
    schedule = LR_SCHEDULES[args.lr_schedule]
    return {"epoch_cap": args.epochs, "patience": args.patience, "batch_size": args.batch_size,
            "lrs": [float(v) for v in ([args.lr] if args.lr is not None else args.lrs or LRS)],
            "dropouts": [float(v) for v in ([args.dropout] if args.dropout is not None else args.dropouts or DROPOUTS)],
            "refit": args.refit, "select_on": args.select_on, "crop_seconds": args.crop_seconds,
            "precise_bn": bool(args.precise_bn),
            "schedule": f"{schedule} on the validation loss" if args.lr_schedule == "plateau" else schedule}
