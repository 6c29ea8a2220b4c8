"""``rwbench report``: one self-contained HTML page of a results folder — tables and figures, no network.

Per dataset/task: the leaderboard (sortable by any column: a few lines of vanilla JavaScript), the protocol and
each row's provenance (rwbench version, commit, device, dates), the clips left out, the significance and rank
correlation notes, and the figures of :mod:`rwbench.analysis.figures` inlined as SVG data URIs: accuracy bars against the
MFCC line per backend, random vs trained accuracy, the spread over folds × seeds, the confusion matrix of the best
row, and the critical-difference diagram. Everything comes from the result files; nothing is recomputed. The page
is rendered from ``templates/report.html`` by jinja2 with autoescaping, so any name read from a file is shown as
text.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import __version__
from ..fileio import atomic_path
from ..results import ResultRecord, RowKey, task_of
from ..tasks import SECOND_HEADLINE, metric_label, primary_metric
from . import figures
from .leaderboard import (
    OTHER_DATA,
    correlation_heading,
    correlation_lines,
    data_cells,
    grid_edge_cell,
    ms_per_clip_cell,
    partial_note,
    read_results,
    rows_of_records,
    selection_note,
    several_devices,
    significance_lines,
    table_of,
    tags_note,
    timing_note,
    versus_best,
)
from .ranking import paired, rank_correlation
from .significance import block_scores


@dataclass(frozen=True)
class Cell:
    text: str
    sort: float | str | None = None  # the value its column sorts by: None = the text; '' (a blank) sorts last


@dataclass(frozen=True)
class Plot:
    title: str
    uri: str  # the figure as an SVG data URI
    caption: str = ""

    @classmethod
    def of(cls, title: str, figure, caption: str) -> Plot:
        return cls(title, figures.data_uri(figure), caption)  # drawn now: the Figure is not kept


@dataclass
class Section:
    dataset: str
    anchor: str
    protocol: str
    task_type: str
    columns: tuple[str, ...]
    correlation_heading: str
    rows: list[list[Cell]]
    skipped: list[tuple[str, str]]
    significance: list[str]  # per backend: Friedman, Nemenyi CD
    correlation: list[str]  # per random backend: ρ and τ against the trained rows
    plots: list[Plot] = field(default_factory=list)
    timing: str = ""  # the ms/clip column's caveat (leaderboard.timing_note)
    selection: str = ""  # trained rows' choices made on another split (leaderboard.selection_note)
    tags: str = ""  # tags some folds' macro averages leave out (leaderboard.tags_note)
    partial: str = ""  # the results' data was a partial copy (leaderboard.partial_note)
    evaluation: str = ""  # another protocol than nested CV (rwbench.published_protocol: the study's selection scores)


def columns(metric: str, data: bool = False) -> tuple[str, ...]:
    """The leaderboard's columns; ``data``: with the rows' data marks (:func:`leaderboard.data_cells`), where a row
    was computed on a partial copy or on other data than the rest."""
    second = (SECOND_HEADLINE[metric][1],) if metric in SECOND_HEADLINE else ()
    return ("rank (all backends)", "front-end", "input", "width", "weights", "backend", *(("data",) if data else ()),
            metric_label(metric),
            "95% CI (folds, clips)", "± 95% CI (seeds only)", *second, "avg rank (backend)", "vs best (backend)", "dim",
            "params", "seeds × folds", "ms/clip", "grid edge", "not converged", "selected elsewhere", "copy of",
            "provenance")


def _number(value, fmt: str) -> Cell:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return Cell("", "")
    return Cell(format(value, fmt), float(value))


def row_provenance(records: list[ResultRecord]) -> str:
    """Where a row's numbers come from: rwbench version(s), commit(s), device(s), creation dates."""
    versions = sorted({r.rwbench_version for r in records})
    commits = sorted({(r.git_sha or "no git")[:7] for r in records})
    devices = sorted({r.device for r in records})
    dates = sorted({r.created[:10] for r in records})
    span = dates[0] if len(dates) == 1 else f"{dates[0]} … {dates[-1]}"
    return f"rwbench {', '.join(versions)} · {', '.join(commits)} · {', '.join(devices)} · {span}"


def _cells(row: pd.Series, records: list[ResultRecord], p: str, mixed_devices: bool,
           data: str | None = None) -> list[Cell]:
    verdict = versus_best(row)
    interval = ("", "") if pd.isna(row["ci_low"]) else (f"{row['ci_low']:.3f}–{row['ci_high']:.3f}", float(row["ci_low"]))
    return [
        Cell(str(row["rank"]), int(row["rank"])), Cell(row["frontend"]), Cell(row["input"]), Cell(str(row["width"])),
        Cell(row["weights"]), Cell(row["backend"]), *([Cell(data)] if data is not None else []),
        Cell(f"{row[f'{p}_mean']:.3f}" + (f" ± {row[f'{p}_std']:.3f}" if math.isfinite(row[f'{p}_std']) else ""),
             float(row[f"{p}_mean"])),
        Cell(*interval), _number(row[f"{p}_ci95"], ".3f"),
        *([_number(row.get(f"{SECOND_HEADLINE[p][0]}_mean"), ".3f")] if p in SECOND_HEADLINE else []),
        _number(row["avg_rank"], ".2f"),
        Cell(verdict, 2.0 if verdict == "best" else _number(row["p_vs_best"], "g").sort),  # "best" sorts after any p
        _number(int(row["dim"]), "d"), _number(int(row["params"]), ",d"),
        Cell(f"{row['n_seeds']} × {row['n_folds']}", int(row["n_seeds"]) * int(row["n_folds"])),
        Cell(ms_per_clip_cell(row["embed_ms_per_clip"], row["timing_device"], mixed_devices),
             _number(row["embed_ms_per_clip"], ".1f").sort),
        Cell(grid_edge_cell(row["grid_edge"])), Cell(row["not_converged"] if isinstance(row["not_converged"], str) else ""),
        Cell(row["selected_elsewhere"] if isinstance(row["selected_elsewhere"], str) else ""),
        Cell(row["copy_of"] if isinstance(row["copy_of"], str) else ""),  # tested once, with the row it repeats
        Cell(row_provenance(records)),
    ]


def _key(row: pd.Series) -> RowKey:
    return RowKey.of_row(row)


def _plots(dataset: str, rows: pd.DataFrame, groups: dict[RowKey, list[ResultRecord]]) -> list[Plot]:
    """Every figure of one dataset: bars and spread per backend, random vs trained, confusion, CD diagrams."""
    widths, p = rows["width"].nunique(), primary_metric(rows)
    label = {_key(r): f"{figures.row_label(r, widths)} · {r['weights']}" for _, r in rows.iterrows()}
    plots = []
    drawn = rows[rows["copy_of"] == ""]  # a row repeating another under another width label: drawn once

    def once(backend: str) -> str:
        copies = rows[(rows["backend"] == backend) & (rows["copy_of"] != "")]
        return (" Drawn once (the same results under another width): " + ", ".join(
            f"{label[_key(r)]} = {r.copy_of}" for _, r in copies.iterrows()) + ".") if len(copies) else ""

    for backend in figures.panel_backends(drawn):
        baseline = figures.baseline_score(drawn, backend)
        title = f"{dataset}: {metric_label(p)} per front-end, {backend}"
        line = "dashed line: the mfcc baseline" if baseline is not None else "no mfcc row for this backend"
        plots.append(Plot.of(title, figures.score_bars_figure(figures.bar_data(drawn, backend), baseline, title, p),
                          f"Mean ± std over outer folds × seeds; {line}.{once(backend)}"))
    pairs = paired(rows)
    for _, correlation in rank_correlation(rows).iterrows():
        if correlation["n"] > 0:
            title = f"{dataset}: random ({correlation['backend']}) vs trained (head)"
            shown = pairs[pairs["backend"] == correlation["backend"]]
            plots.append(Plot.of(title, figures.scatter_figure(shown, correlation, title, p),
                                 f"Each point a front-end with both rows; dashed: equal {metric_label(p)}."))
    for backend, part in drawn.groupby("backend", sort=True):
        title = f"{dataset}: spread over folds × seeds, {backend}"
        spread = {label[_key(r)]: figures.fold_scores(groups[_key(r)]) for _, r in part.iterrows()}
        plots.append(Plot.of(title, figures.spread_figure(spread, title, p),
                             f"Each dot one outer fold of one seed.{once(backend)}"))
    best = rows.iloc[0]
    records = groups[_key(best)]
    if all(fold.get("confusion") is not None for r in records for fold in r.folds):
        title = f"{dataset}: confusion of the best row, {label[_key(best)]} · {best['backend']}"
        plots.append(Plot.of(title, figures.confusion_figure(figures.confusion_counts(records),
                                                          records[0].dataset["classes"], title),
                          f"Summed over {best['n_folds']} folds × {best['n_seeds']} seed(s); colour: share of the "
                          "true class."))
    for backend, part in rows[rows["copy_of"] == ""].groupby("backend", sort=True):  # a repeated row ranks once
        first = part.iloc[0]
        if len(part) < 3 or pd.isna(first["nemenyi_cd"]):
            continue
        apart = part["test_vs_best"] == OTHER_DATA  # other clips or protocol: in none of the group's tests
        scores = block_scores({_key(r): groups[_key(r)] for _, r in part[~apart].iterrows()})
        scores.index = [label[key] for key in scores.index]
        ranks = pd.Series({label[_key(r)]: r["avg_rank"] for _, r in part.iterrows()})  # the leaderboard's own
        friedman = (f"Friedman p = {first['friedman_p']:.3g}." if pd.notna(first["friedman_p"]) else
                    "Friedman undefined: every row ties in every fold.")
        other_folds = [label[_key(r)] for _, r in part[~apart].iterrows() if label[_key(r)] not in scores.index]
        other_data = [label[_key(r)] for _, r in part[apart].iterrows()]
        left = "".join(f" Not in it: {', '.join(names)} (scored on {why})." for names, why in (
            (other_folds, "other outer folds"), (other_data, "other clips or another protocol")) if names) + once(backend)
        title = f"{dataset}: critical difference, {backend}"
        plots.append(Plot.of(title, figures.critical_difference_figure(scores, ranks[scores.index], title),
                          f"Average rank over {scores.shape[1]} outer folds (each row's seeds averaged), 1 = best; "
                          f"joined rows: the Nemenyi test does not separate them (α = 0.05; critical difference "
                          f"{first['nemenyi_cd']:.2f}); {friedman}{left}"))
    return plots


def _anchor(dataset: str) -> str:
    """A section's id: readable, and unique (``my_sounds`` and ``my-sounds`` read alike: a hash tells them apart)."""
    readable = "".join(ch if ch.isalnum() else "-" for ch in dataset)
    return f"ds-{readable}" + ("" if readable == dataset else "-" + hashlib.sha1(dataset.encode()).hexdigest()[:6])


def sections(table: pd.DataFrame, groups: dict[RowKey, list[ResultRecord]], *, draw: bool = True) -> list[Section]:
    """One section per dataset/task of a leaderboard table (one task type)."""
    out, p = [], primary_metric(table)
    for dataset, rows in table.groupby("dataset", sort=True):
        rows = rows.reset_index(drop=True)
        records = [groups[_key(r)] for _, r in rows.iterrows()]
        protocols = sorted({r.dataset.get("protocol", {}).get("id", "?") for rs in records for r in rs})
        evaluations = sorted({e for rs in records for r in rs if (e := r.dataset.get("protocol", {}).get("evaluation"))})
        skipped = sorted(table.attrs.get("skipped", {}).get(dataset, {}).items())
        several, flags = several_devices(rows), data_cells(rows)
        marks = flags if any(flags) else [None] * len(rows)  # the column only where a row is on other data
        out.append(Section(dataset, _anchor(dataset), ", ".join(protocols), task_of(records[0][0]).name,
                           columns(p, any(flags)), correlation_heading(p),
                           [_cells(r, rs, p, several, mark) for (_, r), rs, mark in zip(rows.iterrows(), records, marks)],
                           skipped, significance_lines(rows), correlation_lines(rows, dataset),
                           _plots(dataset, rows, groups) if draw else [], timing_note(rows), selection_note(rows),
                           tags_note(table, dataset).replace("`", ""),  # Markdown's code marks: text here
                           partial_note(table, dataset), ", ".join(evaluations)))
        out[-1] = metric_first(out[-1], metric_label(p))
    return out


def metric_first(section: Section, label: str) -> Section:
    """The page's column order (layout only): rank, front-end, then the score and its interval, then the rest — so
    a phone shows the score beside the name (rank and front-end stay in view while the table scrolls sideways)."""
    lead = ("rank (all backends)", "front-end", label, "95% CI (folds, clips)")
    order = [section.columns.index(c) for c in lead if c in section.columns]
    order += [i for i in range(len(section.columns)) if i not in order]
    section.columns = tuple(section.columns[i] for i in order)
    section.rows = [[row[i] for i in order] for row in section.rows]
    return section


def render(results_dir: Path, *, strict: bool = False, draw: bool = True, regime: str = "auto") -> str:
    """The report page of ``results_dir`` as HTML text: one leaderboard per task type, a section per dataset."""
    import jinja2

    if draw:
        figures.require_matplotlib()
    records, invalid = read_results(results_dir, strict=strict)
    by_type: dict[str, list[ResultRecord]] = {}
    for record in records:
        by_type.setdefault(task_of(record).name, []).append(record)
    parts, mixed, mixed_data = [], [], []
    for kind in sorted(by_type):
        table = table_of(by_type[kind], invalid, regime)
        mixed += table.attrs["mixed_trainings"]
        mixed_data += table.attrs["mixed_data"]
        parts += sections(table, rows_of_records(by_type[kind]), draw=draw)
    parts.sort(key=lambda section: section.dataset)
    env = jinja2.Environment(loader=jinja2.PackageLoader("rwbench", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    from .reproduce_report import report_sections as reproductions  # RESULTS/reproduce: papers beside rwbench
    from .search_score import report_sections as searches  # RESULTS/search: the proxies' scores

    extras = [*reproductions(results_dir, draw=draw, left_out=invalid, strict=strict),
              *searches(results_dir, draw=draw, left_out=invalid, strict=strict)]  # unreadable ones join `invalid`
    return env.get_template("report.html").render(
        sections=parts, extras=extras, other_evaluations=any(s.evaluation for s in parts),
        results_dir=str(Path(results_dir).resolve()), n_results=len(records), invalid=invalid, mixed_trainings=mixed,
        mixed_data=mixed_data, version=__version__, created=time.strftime("%Y-%m-%d %H:%M:%S %z"), n_datasets=len(parts))


def write_report(results_dir: Path, output: Path, *, strict: bool = False, regime: str = "auto") -> Path:
    """Render the report of ``results_dir`` to ``output`` (its folder created), replacing it atomically."""
    html = render(results_dir, strict=strict, regime=regime)
    with atomic_path(output) as partial:
        partial.write_text(html, encoding="utf-8")
    return output

