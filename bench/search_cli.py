"""The ``rwbench search`` command: its options (light: nothing heavy is imported to parse) and its handler."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import cli_args
from .choices import FORMATS, GRID_NAMES
from .errors import RwbenchError

log = logging.getLogger("rwbench")

DEFAULT_PROXIES = "zero-cost,baseline,rw_elm"  # = rwbench.search.DEFAULT_PROXIES (not imported: it imports torch)


def add_search_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("search", parents=[common], help="sample architectures of a search space, score them with "
                                                       "random-weight and zero-cost proxies, train a few, rank; "
                                                       "`search score FOLDER` scores the proxies against training")
    p.add_argument("space", metavar="SPACE", help="a packaged space (logmel, waveform), a space file (.toml), "
                                                  "'registry' (with --frontends), or 'score' followed by a search folder")
    p.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                   help="with 'score': the folder(s) searches wrote (several on one dataset are pooled, e.g. both spaces)")
    cli_args.add_data_options(p)
    p.add_argument("--n", type=cli_args.positive(int, "--n"), help="architectures sampled (20)")
    cli_args.add_frontends(p, help="with a space: its members scored instead of --n sampled (SPACE:ID or ID, "
                                       "comma-separated, e.g. a study's registered list); with SPACE 'registry': the "
                                       "registered front-ends scored (names or wildcards), e.g. to join a search with "
                                       "the registry's own trainable front-ends")
    p.add_argument("--seed", type=cli_args.count("--seed"), default=0, help="draws the architectures and the random ones trained")
    p.add_argument("--proxies", default=DEFAULT_PROXIES, action=cli_args.Once,
                   help="comma-separated proxies, wildcards or kinds: zero-cost (synflow, naswot, jacob_cov, grad_norm, "
                        "snip, grasp, fisher), baseline (params, macs, dim), random-weight (rw_elm, rw_svm) "
                        f"(default {DEFAULT_PROXIES})")
    p.add_argument("--proxy-seeds", type=cli_args.seed_list, action=cli_args.Once, default=[0],
                   help="random-weight seeds of every proxy: a count or a list")
    cli_args.add_width(p)
    p.add_argument("--batch", type=cli_args.positive(int, "--batch"), default=32,
                   help="clips in the zero-cost proxies' minibatch, from the first outer split's training side (32)")
    p.add_argument("--folds", type=cli_args.fold_names, metavar="FOLD,...",
                   help="outer folds the random-weight proxies score (default: all; recorded in their results)")
    p.add_argument("--grid", choices=GRID_NAMES, help="the random-weight backends' grid (default: theirs)")
    p.add_argument("--random-weight-results", type=Path, metavar="DIR",
                   help="where the random-weight proxies' result files are read and written (default: the search "
                        "folder): a study's results folder, whose random rows of every fold under the same run key are "
                        "reused, not computed again (their recorded seconds are the proxy's cost); not with --folds")
    p.add_argument("--rank-by", metavar="PROXY", help="the proxy that ranks the table and picks --train-top (default: "
                                                      "the first random-weight proxy, else the first)")
    p.add_argument("--halving", action="store_true", help="successive halving: cheap proxies on all, random-weight "
                                                          "ones on the best half by a cheap one (--rank-by if cheap, else "
                                                          "the first asked), training on the top by random weights")
    p.add_argument("--train-top", type=cli_args.count("--train-top"), default=0, help="train the K best by --rank-by")
    p.add_argument("--train-random", type=cli_args.count("--train-random"), default=0, help="and M others drawn at random")
    p.add_argument("--train-seeds", type=cli_args.seed_list, action=cli_args.Once, default=[0],
                   help="training seeds (a count or a list)")
    p.add_argument("--epochs", type=cli_args.positive(int, "--epochs"), default=100, help="training: at most this many epochs")
    p.add_argument("--patience", type=cli_args.positive(int, "--patience"), default=10, help="training: early-stopping patience")
    p.add_argument("--lrs", type=cli_args.learning_rates, action=cli_args.Once, metavar="LR,LR,...",
                   help="training: learning rates searched (rwbench train's)")
    p.add_argument("--dropouts", type=cli_args.dropouts, action=cli_args.Once, metavar="P,P,...",
                   help="training: dropouts searched with every learning rate (rwbench train's)")
    cli_args.add_lr_schedule(p)
    cli_args.add_precise_bn(p)
    cli_args.add_device(p)
    cli_args.add_workers(p)
    cli_args.add_batch_size(p, help="clips per forward pass of the random-weight proxies' embedding")
    cli_args.add_jobs(p, help="grid-search threads of the random-weight backends (default: every core)")
    cli_args.add_force(p, help="compute every proxy (and random-weight result) again, even when cached")
    p.add_argument("--retrain", action="store_true", help="train an architecture again where its training ran under "
                                                          "other settings, code or data (what these settings finished "
                                                          "is reused: a rerun resumes)")
    cli_args.add_results(p, help="results folder (default ./results): trained "
                                                                          "rows go to its runs/, the search to search/")
    cli_args.add_cache(p)
    p.add_argument("--out", type=Path, help="the search folder (default RESULTS/search/SPACE__DATASET); with 'score': "
                                            "where score.md/.csv/.json go")
    p.add_argument("--format", choices=FORMATS, default="md", help="what is printed (all three are written)")
    p.add_argument("--dry-run", action="store_true", help="list the sample and predict the cost; compute nothing")
    defaults = vars(p.parse_known_args(["score"])[0])  # what `search score` must find untouched
    p.set_defaults(handler=cmd_search, search_defaults=defaults)


SCORE_OPTIONS = {"space", "folders", "format", "out", "plugin", "quiet", "verbose"}  # what `search score` reads


def search_options_given(args, among: tuple[str, ...] | None = None) -> list[str]:
    """The options of a search (not of ``search score``; ``among``: of these destinations) given on the command
    line, as typed (``--proxy-seeds``)."""
    return [f"--{dest.replace('_', '-')}" for dest, default in args.search_defaults.items()
            if dest not in SCORE_OPTIONS and (among is None or dest in among) and getattr(args, dest) != default]


def refuse_unused(args, dests: tuple[str, ...], sets: str) -> None:
    """An error naming the options among ``dests`` given on the command line, which set ``sets`` (what they set, why
    that is not done here, and the remedy) and so would be ignored."""
    if given := search_options_given(args, dests):
        one = len(given) == 1
        raise RwbenchError(f"{', '.join(given)} set{'s' if one else ''} {sets} (or leave {'it' if one else 'them'} out)")


def cmd_search(args) -> str:
    if args.space == "score":
        from .analysis.search_score import score

        if not args.folders:
            raise RwbenchError("rwbench search score FOLDER [FOLDER ...]: give the folder(s) a search wrote")
        if given := search_options_given(args):  # e.g. --proxies: it would narrow nothing, silently
            raise RwbenchError(f"search score reads what the searches recorded and takes FOLDERs, --format and --out; "
                               f"{', '.join(given)} {'is an option' if len(given) == 1 else 'are options'} of a search")
        return score(args.folders, args.format, args.out)
    if args.folders:
        raise RwbenchError(f"unexpected argument {str(args.folders[0])!r}: a search takes one SPACE (FOLDERs go with "
                           "'score')")
    if not (args.train_top or args.train_random):
        refuse_unused(args, ("retrain", "train_seeds", "epochs", "patience", "lrs", "dropouts", "lr_schedule",
                             "precise_bn"), "the training of what --train-top/--train-random choose, and this search "
                      "trains nothing: give one of them")
    from .search import SearchOptions, plan_search, render, search, search_table, select_proxies

    if all(p.kind != "random-weight" for p in select_proxies(args.proxies)):  # --halving: refused with its proxies
        refuse_unused(args, ("folds", "grid", "random_weight_results"), "the random-weight proxies, and this search "
                      "computes none: add rw_svm/rw_elm to --proxies")
    for name in ("out", "random_weight_results"):  # before any work: a file there failed after the first embedding
        if getattr(args, name) is not None and not args.dry_run:
            cli_args.writable_folder(getattr(args, name), f"--{name.replace('_', '-')}")

    datasets = cli_args.datasets_from_args(args)
    if len(datasets) != 1:
        raise RwbenchError(f"dataset {args.dataset!r} has {len(datasets)} tasks; pick one with --tasks")
    from .evaluate import available_cores

    if args.n is not None and args.frontends:
        raise RwbenchError("--n samples architectures and --frontends lists them: give one")
    opts = SearchOptions(space=args.space, n=args.n or 20, sample_seed=args.seed, proxies=args.proxies,
                         minibatch=args.batch, folds=args.folds, grid=args.grid, rank_by=args.rank_by,
                         halving=args.halving, train_top=args.train_top, train_random=args.train_random,
                         out=args.out, frontends=args.frontends, width=args.width, seeds=args.proxy_seeds,
                         device=args.device, workers=args.workers, skip_bad_audio=args.skip_bad_audio,
                         progress=not args.quiet and sys.stderr.isatty(), batch_size=args.batch_size,
                         n_jobs=args.jobs or available_cores(), results_dir=args.results, cache_dir=args.cache,
                         force=args.force, random_weight_results=args.random_weight_results)
    if args.dry_run:
        return plan_search(datasets[0], opts, _train_options(args))
    cli_args.writable_folder(args.results, "--results")
    folder = search(datasets[0], opts, _train_options(args), on_done=lambda line: log.info("%s", line))
    from .fileio import read_json

    log.info("search folder: %s (table.md/.csv/.json, search.json); score the proxies once trained: "
             "rwbench search score %s", folder, folder)
    return render(search_table(read_json(folder / "search.json")), args.format)


def _train_options(args):
    if not (args.train_top or args.train_random):
        return None
    from .fitting import DROPOUTS, LRS, TrainOptions

    return TrainOptions(width=args.width, seeds=args.train_seeds, epochs=args.epochs, patience=args.patience,
                        lrs=tuple(args.lrs or LRS), dropouts=tuple(args.dropouts or DROPOUTS),
                        device=args.device, workers=args.workers, skip_bad_audio=args.skip_bad_audio,
                        results_dir=args.results, replace=args.retrain, precise_bn=args.precise_bn,
                        lr_schedule=args.lr_schedule,
                        progress=not args.quiet and sys.stderr.isatty())
