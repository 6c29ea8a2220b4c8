"""``rwbench reproduce PAPER``: a paper's experiment through the ordinary pipeline, its published numbers beside.

A paper file (:mod:`rwbench.paper`) names datasets, front-ends, backends, weights and settings. This module turns
it into :func:`rwbench.pipeline.run` calls (one per dataset and weights tag; embeddings and results are cached and
reused as for ``rwbench run``), optionally the study's own protocol (:mod:`rwbench.published_protocol`), and a
side-by-side table: rwbench's number (mean over folds × seeds, with the leaderboard's 95 % interval), the
published number with where it was read and its precision, their difference, and a mark where the protocols differ.
Datasets without a ``--data-root NAME=PATH`` are skipped with a line that says how to get them.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from .analysis.reproduce_report import REPORT_FOLDER, draw_scatter, paper_digest, sources_digest
from .datamodel import DATASETS, Dataset
from .errors import RwbenchError
from .frontend import FrontendSpec, offers
from .paper import Paper, PaperDataset, Published, paper_files
from .pipeline import RunOptions
from .results import FOLD_TAGS, fold_weights_folder, seeded, splits_key

log = logging.getLogger(__name__)

PROTOCOLS = ("honest", "published", "both")
MARKS = {"=": "the paper's protocol is rwbench's", "≈": "same split and selection; details differ (see notes)",
         "≠": "the paper reports a different quantity (see notes): compare with care"}


@dataclass
class Target:
    """One dataset of the paper that is at hand: its loaded task(s) and the front-ends run on it."""

    entry: PaperDataset
    datasets: list[Dataset]
    frontends: list[FrontendSpec]


def parse_roots(paper: Paper, pairs: list[str]) -> dict[str, Path]:
    """``--data-root NAME=PATH`` values → {dataset name: path}; NAME must be one of the paper's datasets."""
    names = [d.name for d in paper.datasets]
    roots: dict[str, Path] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise RwbenchError(f"--data-root takes NAME=PATH (e.g. {names[0]}=~/data/{names[0]}), got {pair!r}")
        if name not in names:
            raise RwbenchError(f"--data-root {pair!r}: {paper.id} has no dataset {name!r}; its datasets: "
                               f"{', '.join(names)}")
        if name in roots:
            raise RwbenchError(f"--data-root {name}=... is given twice")
        roots[name] = Path(path).expanduser()
    return roots


def select_targets(paper: Paper, roots: dict[str, Path], *, options: dict | None = None,
                   frontends: list[str] | None = None) -> tuple[list[Target], list[str], list[Target]]:
    """The paper's datasets that are at hand (loaded); one line per dataset skipped; and the datasets not at hand
    (no data root: their published numbers are still shown). ``options``: loader options added to the paper's
    (``partial``, ``skip_bad_audio``); ``frontends``: run only these of the paper's."""
    from .frontend import FRONTENDS

    targets, lines, absent = [], [], []
    for entry in paper.datasets:
        spec = DATASETS.get(entry.name)
        if entry.instead_of and entry.instead_of in roots:
            lines.append(f"skipped {entry.label}: {entry.instead_of} is given, and {entry.name} is used only "
                         "instead of it")
            continue
        names = [n for n in paper.frontends_on(entry) if frontends is None or n in frontends]
        if spec.needs_root and entry.name not in roots:
            lines.append(f"skipped {entry.label}: no --data-root {entry.name}=PATH given. Get it: {entry.get}")
            absent.append(Target(entry, [], [FRONTENDS.get(n) for n in names]))
            continue
        if not names:
            lines.append(f"skipped {entry.label}: none of its front-ends ({', '.join(paper.frontends_on(entry))}) "
                         "is selected")
            continue
        extra = options if spec.needs_root else {}  # partial, skip_bad_audio: options of file datasets
        datasets = spec.load(roots.get(entry.name), tasks=entry.tasks, **{**entry.options, **(extra or {})})
        targets.append(Target(entry, datasets, [FRONTENDS.get(n) for n in names]))
    return targets, lines, absent


def every_frontend(paper: Paper, targets: Sequence[Target]) -> list[Target]:
    """``targets`` with all the paper's front-ends on each (a ``--frontends`` run's record must not drop the rows
    of the others: the table only reads results that exist)."""
    from .frontend import FRONTENDS

    return [replace(t, frontends=[FRONTENDS.get(n) for n in paper.frontends_on(t.entry)]) for t in targets]


def weight_groups(paper: Paper, target: Target, opts: RunOptions) -> tuple[list[tuple[str, list[FrontendSpec]]],
                                                                            list[str]]:
    """(weights tag, the front-ends run with it) for each of the paper's tags, and a line for each front-end whose
    per-fold weights (``mst``) are not there yet (with the command that makes them). Weight-free front-ends (MFCC)
    run once, with the first tag."""
    groups, lines = [], []
    for i, tag in enumerate(paper.weights):
        specs = [s for s in target.frontends if (offers(s, tag) if s.is_learnable() else i == 0)]
        if tag in FOLD_TAGS:
            # a weight-free front-end (MFCC, run under the first tag) has no per-fold weights to wait for
            ready = [s for s in specs if not s.is_learnable()
                     or all(_fold_weights(opts, tag, d, s) for d in target.datasets)]
            for spec in specs:
                if spec not in ready:
                    lines.append(f"no {tag} weights of {spec.name} on {target.entry.name} (width {opts.width}, seeds "
                                 f"{opts.seeds}) under {opts.results_dir}: its {tag} rows are skipped; make them with "
                                 f"`rwbench pretrain {tag} --dataset {target.entry.name} --data-root PATH --frontends "
                                 f"{spec.name} --width {opts.width} --seeds {seeds_arg(opts.seeds)} "
                                 f"--results {opts.results_dir}`")
            specs = ready
        if specs:
            groups.append((tag, specs))
    return groups, lines


def seeds_arg(seeds: list[int]) -> str:
    """``seeds`` as ``--seeds`` reads them: a count for 0..n-1, else a list (``5,`` for the single seed 5)."""
    if list(seeds) == list(range(len(seeds))):
        return str(len(seeds))
    return ",".join(map(str, seeds)) + ("," if len(seeds) == 1 else "")


def _fold_weights(opts: RunOptions, tag: str, dataset: Dataset, spec: FrontendSpec) -> bool:
    names = [s.name for s in dataset.splits()]
    return all((fold_weights_folder(opts.results_dir, tag, dataset.key, spec.name, opts.width, seed)
                / f"{name}.safetensors").is_file() for seed in opts.seeds for name in names)


def backends_of(paper: Paper, chosen: list[str] | None = None):
    from .backends import BACKENDS

    unknown = [b for b in chosen or [] if b not in paper.backends]
    if unknown:
        raise RwbenchError(f"--backends {','.join(unknown)}: not among {paper.id}'s backends "
                           f"({', '.join(paper.backends)})")
    names = [b for b in paper.backends if chosen is None or b in chosen]
    if not names:
        raise RwbenchError(f"none of {paper.id}'s backends ({', '.join(paper.backends)}) is selected")
    return [BACKENDS.get(b) for b in names]


def effective_protocol(paper: Paper, protocol: str) -> tuple[str, str | None]:
    """The protocol(s) run, and a line when ``published`` cannot apply (the paper's protocol is rwbench's own)."""
    if protocol != "honest" and paper.protocol != "pons2019":
        return "honest", (f"{paper.id}'s own protocol is rwbench's ({paper.protocol}): --protocol {protocol} runs "
                          "the honest protocol only")
    return protocol, None


# -- running --------------------------------------------------------------------------------------------
def run_paper(paper: Paper, targets: list[Target], backends, opts: RunOptions, protocol: str) -> list[str]:
    """Embed and evaluate every target through the pipeline (``protocol`` honest, published or both); lines to
    print (weights that are missing)."""
    from .pipeline import RunLog, embed_all, run
    from .published_protocol import evaluate_published

    lines = []
    for target in targets:
        groups, missing = weight_groups(paper, target, opts)
        lines += missing
        for tag, specs in groups:
            tagged = replace(opts, weights=[tag])
            if protocol in ("honest", "both"):
                done = run(target.datasets, specs, backends, tagged)
                log.info("%s (%s weights): embedded %d, cached %d; %d new results, %d up to date", target.entry.name,
                         tag, done.embedded, done.cached, done.evaluated, done.reused)
            else:
                embed_all(target.datasets, specs, tagged, RunLog())
            if protocol in ("published", "both") and tag not in FOLD_TAGS:
                evaluate_published(target.datasets, specs, backends, tagged)
    return lines


def dry_run(paper: Paper, targets: list[Target], backends, opts: RunOptions) -> str:
    """The plan of every target (:mod:`rwbench.plan`): jobs, cache, predicted time and disk, per dataset."""
    from .plan import plan, render

    out = []
    for target in targets:
        groups, missing = weight_groups(paper, target, opts)
        for tag, specs in groups:
            out.append(f"## {target.entry.label}: {tag} weights\n")
            rows = plan(target.datasets, specs, backends, replace(opts, weights=[tag]))
            out.append(render(rows, opts))
            out += [line + "\n" for line in full_copy_lines(target.datasets, rows)]
        out += [line + "\n" for line in missing]
    return "\n".join(out)


def partial_reason(dataset: Dataset) -> str | None:
    """What makes ``dataset`` less than the paper's (files, official folds or classes missing: ``--partial``), or
    None for a whole copy."""
    info = dataset.info
    parts = []
    if (partial := info.get("partial") or {}).get("present"):
        parts.append(f"{partial['present']:,} of {partial['listed']:,} listed clips")
    if info.get("folds_absent"):
        parts.append(f"official folds {info['folds_absent']} absent")
    if info.get("classes_absent"):
        parts.append(f"{len(info['classes_absent'])} classes absent")
    return "; ".join(parts) or None


def partial_lines(targets: list[Target]) -> list[str]:
    """A line per partial copy in use: its numbers are not the paper's dataset (no agreement is judged on them)."""
    return [f"partial copy of {dataset.key}: {reason} (--partial): its numbers check the plumbing, they are not "
            "comparable with the paper's" for target in targets for dataset in target.datasets
            if (reason := partial_reason(dataset))]


def full_copy_lines(datasets: list[Dataset], rows) -> list[str]:
    """For a partial copy (``--partial``): the embedding time and cache size of the full copy, scaled from the
    plan by listed / present clips (the fits grow faster than the clip count: not extrapolated)."""
    lines = []
    for dataset in datasets:
        partial = dataset.info.get("partial") or {}
        if not partial.get("present"):
            continue
        scale = partial["listed"] / partial["present"]
        mine = [r for r in rows if r.dataset == dataset.key]
        seconds = scale * sum(r.embed_seconds for r in mine)
        mib = scale * sum(r.cache_bytes_new for r in mine) / 2**20
        lines.append(f"full copy of {dataset.key} ({partial['listed']:,} clips, {partial['present']:,} here): embedding "
                     f"predicted {seconds:.0f} s ({seconds / 3600:.1f} h) on this device, cache +{mib:.0f} MiB "
                     f"(scaled by {scale:.1f}; fits not extrapolated)")
    return lines


# -- the side-by-side table -----------------------------------------------------------------------------
def _leaderboard(results_dir: Path, datasets: dict[str, tuple[str, str]], seeds: Sequence[int], grid: str,
                 recipes: dict | None = None) -> pd.DataFrame:
    """The leaderboard rows of this run under ``results_dir`` (empty when it has none): of the dataset keys in
    ``datasets`` (key → fingerprint, protocol key), only results of ``seeds`` made on those clips and outer splits
    (refit, folds) with backends on ``grid`` (the folder may hold other seeds or another grid of an earlier run, or
    results on another copy of the data or under other dataset options); the files are read once, each dataset's
    table built on its own (a table holds one task type)."""
    from .analysis.leaderboard import read_results, table_of
    from .backends import grid_name_of

    if not (Path(results_dir) / "runs").is_dir():
        return pd.DataFrame()
    records, _ = read_results(results_dir)
    # weights that are the same for every seed (MFCC, pretrained) are run once, as seed 0, whatever the seeds asked
    records = [r for r in records if (r.seed in seeds or (r.seed == 0 and not seeded(r.frontend["weights"])))
               and (r.dataset.get("fingerprint"), splits_key(r.dataset.get("protocol"))) == datasets.get(r.dataset["key"])
               and grid_name_of(r.backend) in (None, grid)]  # None: a trained head, a backend of one grid
    for r in records:  # (dataset key, front-end, width) → trained seeds' recipes
        if recipes is not None and r.training and r.training.get("recipe"):
            recipes.setdefault((r.dataset["key"], r.frontend["name"], str(r.frontend["width"])), []).append(
                r.training["recipe"])
    tables = [table_of([r for r in records if r.dataset["key"] == key]) for key in datasets]
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _row_of(table: pd.DataFrame, dataset: str, frontend: str, width: str, weights: str, backend: str):
    if table.empty:
        return None
    hit = table[(table["dataset"] == dataset) & (table["frontend"] == frontend) & (table["width"] == width)
                & (table["weights"] == weights) & (table["backend"] == backend)]
    return None if hit.empty else hit.iloc[0]


def comparison(paper: Paper, targets: list[Target], opts: RunOptions, protocol: str,
               absent: Sequence[Target] = (), asked: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """One row per (dataset task, front-end, weights, backend) the paper runs on the targets, and per trained row:
    rwbench's figures (honest and / or the study's protocol) and the published number or why there is none. The
    ``absent`` datasets (no data) add their published rows, rwbench's cells marked ``no data``. ``asked``: per
    trained front-end, the recipe of the paper file's command (``reproduce_cli.command_recipe``); a trained row made
    otherwise is not judged."""
    from .published_protocol import SUFFIX, published_results_dir, study_protocol

    check_targets(paper, targets, protocol)
    loaded = [d for t in targets for d in t.datasets]
    described = {d.key: d.describe()["protocol"] for d in loaded}
    made = {d.key: (d.fingerprint(), splits_key(described[d.key])) for d in loaded}
    # the study's rows were refit on train alone on a fixed split: keyed by the protocol they record
    made_study = {d.key: (d.fingerprint(), splits_key(study_protocol(d, described[d.key]))) for d in loaded}
    partial = {d.key: partial_reason(d) for t in targets for d in t.datasets}
    recipes: dict = {}
    honest = (_leaderboard(opts.results_dir, made, opts.seeds, opts.grid, recipes) if protocol != "published"
              else pd.DataFrame())
    study = (_leaderboard(published_results_dir(opts.results_dir), made_study, opts.seeds, opts.grid)
             if protocol != "honest" else pd.DataFrame())
    published = {p.row: p for p in paper.published}
    missing = {n.row: n for n in paper.not_found}
    rows = []
    at_hand = {t.entry.name for t in targets}
    for target in sorted([*targets, *absent], key=lambda t: paper.datasets.index(t.entry)):
        for dataset, metric in _keys(paper, target):
            for frontend, weights, backend in _paper_rows(paper, target):
                shown = weights if _learnable(frontend) or weights == "trained" else "none"
                key = (target.entry.name, frontend, weights, backend)
                row: dict[str, Any] = {
                    "dataset": dataset, "paper_dataset": target.entry.name, "frontend": frontend,
                    "weights": shown, "backend": backend, "metric": metric, "mark": target.entry.protocol_mark,
                    "published": published.get(key), "not_found": missing.get(key),
                    "at_hand": target.entry.name in at_hand, "partial": partial.get(dataset),
                    "seeds_asked": len(opts.seeds) if seeded(shown) else 1,  # trained rows too: one per seed
                    # the published figures are of the paper's widths: another width (a DSP baseline's coefficient
                    # count too: mfcc at --width 4 has 4) is no test of agreement
                    "width": None if _same_width(frontend, opts.width, paper.width) else str(opts.width)}
                if not row["at_hand"]:
                    if row["published"] is not None or row["not_found"] is not None:
                        rows.append({**row, "honest": None, "study": None})
                    continue
                if protocol != "published":
                    row["honest"] = _figures(_row_of(honest, dataset, frontend, opts.width, shown, backend), metric)
                if weights == "trained" and row.get("honest") is not None and asked and frontend in asked:
                    row["recipe"] = recipe_differences(asked[frontend],  # made with the paper file's recipe?
                                                       recipes.get((dataset, frontend, str(opts.width)), []))
                if protocol != "honest" and weights != "trained":
                    row["study"] = _figures(_row_of(study, dataset, frontend, opts.width, shown, backend + SUFFIX),
                                            metric)
                rows.append(row)
    return rows


def check_targets(paper: Paper, targets: Sequence[Target], protocol: str) -> None:
    """Before any work: each published number is in its task's metric, and the study's protocol (``protocol``
    published or both) runs on one-label tasks only; else an error naming the paper file and the dataset."""
    from .tasks import task_type

    for target in targets:
        for dataset in target.datasets:
            metric = task_type(dataset.task_type).primary
            if wrong := [p for p in paper.published if p.dataset == target.entry.name and p.metric != metric]:
                raise RwbenchError(f"{paper.file}: the published {wrong[0].metric} of {dataset.key} {wrong[0].frontend} "
                                   f"{wrong[0].backend} cannot sit beside rwbench's {metric} (its task's metric)")
            if protocol != "honest" and dataset.task_type != "multiclass":
                raise RwbenchError(f"{paper.file}: {dataset.key} is a {dataset.task_type} task; the reference study's "
                                   "protocol is defined for one label per clip: use --protocol honest")


def _keys(paper: Paper, target: Target) -> list[tuple[str, str]]:
    """(dataset key, primary metric) of each loaded task of a target; a dataset not at hand: its name and the
    metric of its published numbers."""
    if target.datasets:
        from .tasks import task_type

        return [(d.key, task_type(d.task_type).primary) for d in target.datasets]
    metrics = {p.metric for p in paper.published if p.dataset == target.entry.name} or {"accuracy"}
    return [(target.entry.name, metrics.pop())]


def _same_width(name: str, width: str | int, papers: str) -> bool:
    """Whether ``width`` builds ``name`` at the paper's width (``paper``, or that many filters given as a count)."""
    from .frontend import FRONTENDS

    spec = FRONTENDS.get(name)
    return str(width) == papers or spec.filters(width) == spec.filters(papers)


def _learnable(name: str) -> bool:
    from .frontend import FRONTENDS

    return FRONTENDS.get(name).is_learnable()


def _paper_rows(paper: Paper, target: Target) -> list[tuple[str, str, str]]:
    names = [s.name for s in target.frontends]
    rows = [(fe, tag, be) for tag in paper.weights for fe in names for be in paper.backends
            if tag == paper.weights[0] or (_learnable(fe) and tag in _offered(fe))]
    rows += [(t.frontend, "trained", "head") for t in paper.trained]
    return rows


def _offered(name: str) -> tuple[str, ...]:
    from .frontend import FRONTENDS

    return FRONTENDS.get(name).weights


def _figures(row, metric: str) -> dict | None:
    if row is None:
        return None
    return {"mean": float(row[f"{metric}_mean"]), "low": _num(row.get("ci_low")), "high": _num(row.get("ci_high")),
            "seeds": int(row["n_seeds"]), "folds": int(row["n_folds"]),
            "skipped": int(row.get("skipped") or 0),  # clips left out while embedding (--skip-bad-audio)
            "not_converged": str(row.get("not_converged") or "")}  # trained rows: "3/5" folds × seeds flagged


def recipe_differences(asked: dict[str, Any], recipes: list[dict]) -> str:
    """How the recorded recipes of a trained row (one per seed) differ from ``asked`` (``reproduce_cli.command_recipe``):
    ``""`` when every seed's is the one asked for."""
    seen: dict[str, str] = {}
    for recipe in recipes:
        for name, value in asked.items():
            got = recipe.get(name, False if name == "precise_bn" else None)
            if got != value:
                seen.setdefault(name, f"{name} {got} ≠ {value}")
    return "; ".join(seen.values())


def _num(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _scale(metric: str) -> tuple[float, int, str]:
    """Display scale, decimals and unit of a metric: accuracy in percentage points, ROC-AUC as it is."""
    return (100.0, 1, " points") if metric == "accuracy" else (1.0, 4, "")


def _figure_cell(figures: dict | None, metric: str, at_hand: bool = True, seeds_asked: int = 1) -> str:
    if figures is None:
        return "not run" if at_hand else "no data"
    scale, digits, _ = _scale(metric)
    text = f"{figures['mean'] * scale:.{digits}f}"
    if figures["low"] is not None and figures["high"] is not None:
        text += f" [{figures['low'] * scale:.{digits}f}, {figures['high'] * scale:.{digits}f}]"
    if figures["seeds"] < seeds_asked:
        text += f" ({figures['seeds']} of {seeds_asked} seeds)"
    return text


def _published_cell(p: Published | None, missing, metric: str) -> str:
    if p is None:
        return "not found" if missing is not None else "—"
    scale, digits, _ = _scale(metric)
    shown = max(digits, _decimals(p.value * scale))
    precision = f" ±{p.precision * scale:.{_decimals(p.precision * scale)}f}" if p.precision else ""
    return f"{p.value * scale:.{shown}f}{precision} ({p.where})"


def _decimals(value: float) -> int:
    text = f"{value:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _delta(figures: dict | None, p: Published | None, metric: str) -> str:
    if figures is None or p is None:
        return ""
    scale, digits, _ = _scale(metric)
    return f"{(figures['mean'] - p.value) * scale:+.{digits}f}"


def _agrees(figures: dict | None, p: Published | None, row: dict | None = None, *, honest: bool = False) -> str:
    """``yes`` when the published number lies in rwbench's interval widened by its reading precision; not judged
    (said why) for another width than the paper's, a partial copy of the dataset, fewer seeds than asked, or (the
    ``honest`` column) a paper that reports another quantity than rwbench's protocol (mark ≠)."""
    if figures is None or p is None:  # nothing computed (no data, not run) or nothing published: nothing to judge
        return ""
    if row is not None and (why := _not_judged(figures, row, honest)):
        return why
    if figures["low"] is None:
        return ""
    slack = p.precision or 0.0
    return "yes" if figures["low"] - slack <= p.value <= figures["high"] + slack else "no"


def _not_judged(figures: dict | None, row: dict, honest: bool = False) -> str:
    if honest and row.get("mark") == "≠":  # two different quantities: a yes or no between them says nothing
        return "protocol ≠"
    if row.get("width"):
        return f"width {row['width']} ≠ paper's"
    if row.get("partial") and figures is not None:
        return "partial copy"
    if figures is not None and figures.get("skipped"):
        return f"{figures['skipped']} clip(s) skipped"
    if figures is not None and figures["seeds"] < row.get("seeds_asked", 1):
        return "seeds missing"
    if figures is not None and figures.get("not_converged"):  # stopped while improving: not the paper's model
        return f"not converged ({figures['not_converged']} folds)"
    if row.get("recipe"):
        return f"recipe ≠ paper file's command ({row['recipe']})"
    return ""


def render_comparison(paper: Paper, rows: list[dict], protocol: str, skipped: list[str],
                      opts: RunOptions | None = None) -> str:
    """The side-by-side table (Markdown) with its legend, the paper's notes and its sources; ``opts``: the run's
    settings, stated under the citation."""
    lines = [f"# {paper.id}: {paper.title}", "", paper.citation, ""]
    if opts is not None:
        lines += [f"rwbench: width {opts.width}, seeds {', '.join(map(str, opts.seeds))}, grid {opts.grid}, results "
                  f"{opts.results_dir}; protocol {protocol}", ""]
    lines += [f"- {line}" for line in skipped]
    if skipped:
        lines.append("")
    table = comparison_cells(rows, protocol)
    if table:
        lines += [tabulate(table, headers="keys", tablefmt="github", disable_numparse=True), ""]
    else:
        lines += ["nothing to compare: no dataset of this paper is at hand and none has published numbers", ""]
    lines += _legend(paper, rows, protocol)
    return "\n".join(lines) + "\n"


def comparison_cells(rows: list[dict], protocol: str) -> list[dict[str, str]]:
    """The side-by-side table's rows as text cells (column name → cell), as the Markdown and the report show them."""
    table = []
    for r in rows:
        cells = {"dataset": r["dataset"], "front-end": r["frontend"], "weights": r["weights"], "backend": r["backend"]}
        asked = r.get("seeds_asked", 1)
        if "honest" in r:
            cells["rwbench [95% CI]"] = _figure_cell(r["honest"], r["metric"], r["at_hand"], asked)
        if protocol != "honest":
            cells["study's protocol [95% CI]"] = (_figure_cell(r.get("study"), r["metric"], r["at_hand"], asked)
                                                  if "study" in r else "—")
        cells["published"] = _published_cell(r["published"], r["not_found"], r["metric"])
        if "honest" in r:
            cells["Δ"] = _delta(r["honest"], r["published"], r["metric"])
            cells["agrees"] = _agrees(r["honest"], r["published"], r, honest=True)
            cells["protocol"] = r["mark"]
        if protocol != "honest":
            cells["Δ study's"] = _delta(r.get("study"), r["published"], r["metric"])
            cells["agrees (study's)"] = _agrees(r.get("study"), r["published"], r)
        table.append(cells)
    return table


def _legend(paper: Paper, rows: list[dict], protocol: str) -> list[str]:
    out = ["Accuracy in percent (ROC-AUC as a fraction); rwbench: mean over outer folds × seeds and the "
           "leaderboard's 95 % interval (hierarchical bootstrap); published: the number as read, ± its reading "
           "precision, and where it was read; Δ = rwbench − published; agrees: the published number lies in "
           "rwbench's interval widened by that precision (not judged for a front-end built at another width "
           "than the paper's: 'width … ≠ paper's'; on a partial copy of the dataset: 'partial copy'; on fewer seeds "
           "than asked: 'seeds missing'; with clips left out by --skip-bad-audio: 'N clip(s) skipped'; where the paper "
           "reports another quantity than rwbench's protocol: 'protocol ≠', "
           "judged in the study's-protocol column only).",
           "protocol: " + "; ".join(f"{mark} {text}" for mark, text in MARKS.items()) + "."]
    if protocol != "honest":
        out.append("study's protocol: the reference study's selection and reporting "
                   "(rwbench.published_protocol; results under <results>/published, backends named <backend>@published)"
                   f": {paper.protocol_description}")
    out.append("")
    for entry in paper.datasets:
        if entry.protocol_note and any(r["paper_dataset"] == entry.name for r in rows):
            out.append(f"- {entry.name} ({entry.protocol_mark}): {entry.protocol_note}")
    for r in rows:
        if r["not_found"] is not None:
            out.append(f"- not found, {r['dataset']} {r['frontend']} {r['backend']}: {r['not_found'].what}")
    for r in rows:
        if r["published"] is not None and r["published"].note:
            out.append(f"- {r['dataset']} {r['frontend']} {r['backend']}: {r['published'].note}")
    out += [f"- {note}" for note in paper.notes]
    used = {r["published"].source for r in rows if r["published"] is not None}
    if used:
        out.append("")
    out += [f"[{s.key}] {s.citation}" + (f" <{s.url}>" if s.url else "") for s in paper.sources if s.key in used]
    return out


def missing_trained(paper: Paper, rows: list[dict], opts: RunOptions) -> list[str]:
    """A line per trained row the paper has but the results folder does not, or has on fewer seeds than asked
    (datasets at hand), with the command that makes it (``DATASET``, ``WIDTH`` and ``RESULTS`` of the paper file's
    command filled in; the dataset entry's tasks and loader options added: the table reads only results made on its
    clips and splits)."""
    out = []
    for trained in paper.trained:
        short = {r["paper_dataset"]: r["honest"] for r in rows if r["frontend"] == trained.frontend
                 and r["weights"] == "trained" and r["at_hand"] and "honest" in r  # the study's protocol: none
                 and (r["honest"] is None or r["honest"]["seeds"] < len(opts.seeds))}
        for name, figures in short.items():
            command = (trained.command.replace("DATASET", name).replace("WIDTH", str(opts.width))
                       .replace("RESULTS", str(opts.results_dir)) + _dataset_flags(paper.dataset(name), trained.command))
            if "--seeds" not in command and list(opts.seeds) != [0]:  # the table reads the seeds asked, only
                command += f" --seeds {seeds_arg(opts.seeds)}"
            if figures is None:
                out.append(f"no trained {trained.frontend} rows on {name} in {opts.results_dir}: make them with "
                           f"`{command}` (they appear in this table when present)")
            else:  # seeds already trained are up to date for `rwbench train`: it trains the others only
                out.append(f"trained {trained.frontend} rows on {name} in {opts.results_dir} have {figures['seeds']} "
                           f"of {len(opts.seeds)} seeds (not judged): make the others with `{command}`")
    return out


def _dataset_flags(entry: PaperDataset, command: str) -> str:
    """``--tasks`` and ``--dataset-option K=V`` of a paper's dataset entry that ``command`` does not give itself."""
    import shlex

    from .guards import literal

    words = shlex.split(command)
    flags = [] if entry.tasks is None or "--tasks" in words else ["--tasks", ",".join(entry.tasks)]
    given = {words[i + 1].partition("=")[0] for i, w in enumerate(words[:-1]) if w == "--dataset-option"}
    for key, value in entry.options.items():
        if key not in given:
            # as --dataset-option reads it back: a string that reads as a literal ("8") is quoted
            text = value if isinstance(value, str) and literal(value) == value else repr(value)
            flags += ["--dataset-option", f"{key}={text}"]
    return "".join(f" {shlex.quote(f)}" for f in flags)


def scatter_points(rows: list[dict], which: str = "honest") -> list[dict]:
    """The rows with both an rwbench number (``which``: ``honest`` or ``study``) and a published one, in the display
    scale (percent for accuracy): dataset, published value and reading precision, rwbench mean and interval. A row the
    table does not judge (another width, a partial copy, clips skipped, seeds missing, another quantity:
    :func:`_not_judged`) is left out, never drawn against the identity line as if comparable."""
    out = []
    for r in rows:
        figures, published = r.get(which), r["published"]
        if figures is None or published is None or _not_judged(figures, r, honest=which == "honest"):
            continue
        scale = _scale(r["metric"])[0]
        mean = figures["mean"]
        out.append({"dataset": r["dataset"], "metric": r["metric"], "published": published.value * scale,
                    "precision": (published.precision or 0.0) * scale, "mean": mean * scale,
                    "low": (mean if figures["low"] is None else figures["low"]) * scale,
                    "high": (mean if figures["high"] is None else figures["high"]) * scale})
    return out


def scatter_figure(paper: Paper, rows: list[dict], which: str = "honest"):
    """Published (x) against rwbench (y, with its 95 % interval) for every row that has both, one colour per
    dataset, the identity line drawn; ``which``: ``honest`` or ``study`` (the study's protocol). A matplotlib
    figure (``pip install 'rwbench[report]'``)."""
    points = scatter_points(rows, which)
    if not points:
        why = Counter(reason for r in rows if r.get(which) and r["published"]
                      and (reason := _not_judged(r[which], r, honest=which == "honest")))
        said = (" (left out, not comparable with the paper's numbers: "
                + ", ".join(f"{n} row(s) {reason}" for reason, n in why.items()) + ")" if why else "")
        raise RwbenchError(f"{paper.id}: no row has both an rwbench number and a published one{said}: nothing to plot")
    return draw_scatter(f"{paper.id}: published vs rwbench", points, which)


# -- the HTML report's section ------------------------------------------------------------------------------------
def write_record(paper: Paper, rows: list[dict], protocol: str, skipped: list[str], opts: RunOptions,
                 roots: dict[str, Path] | None = None, command_line: str | None = None) -> Path:
    """Keep the run's table for ``rwbench report``: ``RESULTS/reproduce/<paper>.json`` (replaced atomically); ``rows``:
    every front-end of the paper on the datasets run (:func:`every_frontend`), at this run's width, seeds and protocol;
    ``roots``: the run's ``--data-root`` of each dataset (kept with its part: the report's command gives them);
    ``command_line``: the command as typed (its --partial, --frontends, --plugin …), which the report's command is,
    with the roots of the parts carried over from an earlier run added."""
    import shlex

    from .fileio import write_json

    which = "study" if protocol == "published" else "honest"
    path = Path(opts.results_dir) / REPORT_FOLDER / f"{paper.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {"width": str(opts.width), "seeds": list(opts.seeds), "grid": opts.grid}
    created = time.strftime("%Y-%m-%d %H:%M %Z")
    mine = {d.name: [r for r in rows if r["paper_dataset"] == d.name] for d in paper.datasets}
    results, width = Path(opts.results_dir), str(opts.width)
    # each part's result files are digested when the part is made: a carried part is checked against its own
    given = roots or {}
    parts: dict[str, dict[str, Any]]
    parts = {name: {"keys": (keys := sorted({r["dataset"] for r in part})), "created": created,
                    "paper": paper_digest(paper, name), "cells": comparison_cells(part, protocol),
                    "points": scatter_points(part, which),
                    "frontends": (names_run := sorted({r["frontend"] for r in part})),
                    "sources": sources_digest(results, keys, names_run, width),
                    "root": str(Path(given[name]).resolve()) if name in given else None}  # None: none needed
             for name, part in mine.items() if any(r["at_hand"] for r in part)}
    # a dataset given no --data-root this time keeps the rows the last run with it made (its results are on disk)
    # (one run without any row of it, e.g. --frontends naming none of its front-ends, too)
    parts |= carried_over(path, protocol, settings, {n: paper_digest(paper, n) for n in mine if n not in parts})
    names = [name for name, part in mine.items() if part or name in parts]  # the paper's order
    cells = [c for name in names for c in (parts[name]["cells"] if name in parts else
                                           comparison_cells(mine[name], protocol))]
    datasets = sorted({key for part in parts.values() for key in part["keys"]})
    frontends = sorted({r["frontend"] for r in rows})
    shipped = paper_files().get(paper.id)
    # what `rwbench reproduce` takes to make it again: a shipped paper's id, else its file
    ref = paper.id if shipped and shipped.resolve() == Path(paper.file).resolve() else str(Path(paper.file).resolve())
    command = (shlex.split(command_line) if command_line else
               ["rwbench", "reproduce", ref, "--results", str(results.resolve()), "--width", width, "--seeds",
                seeds_arg(opts.seeds), "--grid", opts.grid, "--protocol", protocol])
    named = " ".join(command)
    command += [f"--data-root={name}={part['root']}" for name, part in parts.items()
                if part.get("root") and f"{name}=" not in named]  # a part carried over: its root from its run
    write_json(path, {"paper": paper.id, "title": paper.title, "citation": paper.citation, "protocol": protocol,
                      "paper_ref": ref, "command": shlex.join(command),
                      "created": created, "datasets": datasets, "frontends": frontends,
                      "sources": sources_digest(results, datasets, frontends, width),
                      "settings": settings, "skipped": skipped, "cells": cells,
                      "legend": [line for line in _legend(paper, rows, protocol) if line],
                      "points": [p for name in names if name in parts for p in parts[name]["points"]],
                      "points_of": which, "parts": parts})
    return path


def carried_over(path: Path, protocol: str, settings: dict, absent: dict[str, str]) -> dict[str, dict]:
    """The ``absent`` datasets' rows (cells, points, dataset keys, when made) as the record kept at ``path`` has them
    from a run with their data under the same protocol and settings, and the same published numbers (``absent``:
    name → :func:`paper_digest`; an edited paper file's old numbers and verdicts are not carried)."""
    from .fileio import read_json

    try:
        earlier = read_json(path) if path.is_file() else {}
    except RwbenchError:
        return {}
    if earlier.get("protocol") != protocol or earlier.get("settings") != settings:
        return {}
    parts = earlier.get("parts", {})
    return {name: {**parts[name], "carried": True} for name, digest in absent.items()
            if name in parts and parts[name].get("paper") == digest}
