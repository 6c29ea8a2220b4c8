"""The HTML report's section for ``rwbench reproduce`` runs: each paper's last side-by-side table, kept by the
command under ``RESULTS/reproduce/<paper>.json``, and its published-vs-rwbench scatter. Reads files only (no torch)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..paper import Paper

log = logging.getLogger(__name__)

REPORT_FOLDER = "reproduce"  # RESULTS/reproduce/<paper>.json: the last table of each paper, for `rwbench report`


def sources_digest(results_dir: Path, datasets: Sequence[str], frontends: Sequence[str], width: str) -> str:
    """One digest of the result files a reproduce table reads (names and contents): those of its datasets,
    front-ends and width, honest and under the study's protocol. The report tells a kept table from one whose
    results were rerun, added to (another seed) or removed since; other front-ends' results do not count."""
    from ..filehash import files_digest
    from ..results import safe

    folders = [results_dir, *(p.parent for p in results_dir.glob("*/runs"))]  # the study's protocol's beside them
    return files_digest([p for folder in folders for d in datasets for f in frontends
                         for p in (folder / "runs" / safe(d.replace("/", "__"))).glob(f"{safe(f)}__{safe(width)}__*.json")],
                        results_dir)


def paper_digest(paper: Paper, dataset: str) -> str:
    """A key of what the paper file says of ``dataset``: its published numbers and the ones not found, and all
    that makes or judges its rows (the dataset's entry: tasks, options, front-ends, protocol mark; the paper's
    weights, backends, width, trained rows and protocol)."""
    from ..fileio import content_key

    return content_key({"rows": [repr(p) for p in (*paper.published, *paper.not_found) if p.dataset == dataset],
                        "entry": repr(paper.dataset(dataset)), "weights": list(paper.weights),
                        "backends": list(paper.backends), "width": paper.width, "protocol": paper.protocol,
                        "trained": [repr(t) for t in paper.trained]})


def draw_scatter(title: str, points: list[dict], which: str = "honest"):
    """Published (x) against rwbench (y, with its 95 % interval) for ``points`` (``reproduce.scatter_points``), one
    colour per dataset, the identity line drawn; a matplotlib figure."""
    from ..errors import RwbenchError
    from .figures import TEXT, WIDTH, legible, new_figure, plain

    figure = new_figure(WIDTH, WIDTH)
    ax = figure.add_subplot()
    for i, dataset in enumerate(dict.fromkeys(p["dataset"] for p in points)):
        mine = [p for p in points if p["dataset"] == dataset]
        ax.errorbar([p["published"] for p in mine], [p["mean"] for p in mine],
                    yerr=[[p["mean"] - p["low"] for p in mine], [p["high"] - p["mean"] for p in mine]],
                    xerr=[p["precision"] for p in mine], fmt="o", color=f"C{i}", capsize=2, label=plain(dataset))
    lo, hi = ax.get_xlim()
    lo, hi = min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], color="#777777", linestyle="--", linewidth=1, label="identity")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    metrics = list(dict.fromkeys(p["metric"] for p in points))
    if len(metrics) > 1:  # a percentage and a fraction on one axis: each point would read on the other's scale
        raise RwbenchError(f"{title}: the points mix metrics {metrics}; plot one metric at a time")
    unit = "accuracy (%)" if metrics[0] == "accuracy" else metrics[0]
    ax.set_xlabel(f"published {unit}")
    ax.set_ylabel(f"rwbench {unit}" + (" (the study's protocol)" if which == "study" else ""))
    ax.set_title(plain(title), fontsize=TEXT + 1)
    ax.legend(fontsize=TEXT - 1)
    legible(ax)
    return figure


def report_sections(results_dir: Path, *, draw: bool = True, left_out: list | None = None,
                    strict: bool = False) -> list[dict]:
    """One section per paper reproduced into ``results_dir`` for ``rwbench report``: the side-by-side table and the
    published-vs-rwbench scatter with its identity line (an SVG data URI; None without points or with ``draw`` off).
    A record that cannot be read is appended to ``left_out`` as (path, problem) (``strict``: an error); a table
    whose result files changed since ``rwbench reproduce`` kept it says so."""
    from ..errors import RwbenchError
    from ..fileio import read_json
    from .figures import data_uri

    out = []
    for path in sorted((Path(results_dir) / REPORT_FOLDER).glob("*.json")):
        try:
            record = read_json(path)
            columns = list(record["cells"][0]) if record["cells"] else []
            rows = [[{"text": cells.get(c, ""), "sort": _leading_number(cells.get(c, ""))} for c in columns]
                    for cells in record["cells"]]
            settings = record.get("settings", {})
            note = (f"{record['citation']} rwbench: width {settings.get('width')}, seeds "
                    f"{', '.join(map(str, settings.get('seeds', [])))}, grid {settings.get('grid')}; protocol "
                    f"{record['protocol']} (rwbench reproduce {record.get('paper_ref', record['paper'])})")
            title = f"{record['paper']}: {record['title']}: rwbench beside the published numbers"
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, RwbenchError) as err:
            problem = f"not a reproduce record this rwbench reads ({type(err).__name__}: {err})"
            if strict:
                raise RwbenchError(f"{path}: {problem}") from err
            log.warning("%s: %s; left out of the report", path, problem)
            (left_out if left_out is not None else []).append((str(path), problem))
            continue
        plot, lines = None, [*record.get("skipped", []), *record.get("legend", [])]
        lines += [f"The rows of {name} are those of the run of {part['created']}: the last run ({record['created']}) "
                  "was given no data for it, and its results stayed on disk."
                  for name, part in record.get("parts", {}).items() if part.get("carried")]
        metrics = sorted({p["metric"] for p in record.get("points", [])})
        if len(metrics) > 1:
            lines.append(f"No scatter: its rows use different metrics ({', '.join(metrics)}), not one axis.")
        elif draw and record.get("points"):
            plot = data_uri(draw_scatter(f"{record['paper']}: published vs rwbench", record["points"],
                                         record.get("points_of", "honest")))
        out.append({"title": title, "anchor": f"reproduce-{path.stem}", "note": note, "columns": columns, "rows": rows,
                    "warning": _staleness(Path(results_dir), record),
                    "lines": lines, "plot": plot,
                    "caption": "<strong>Published against rwbench</strong>, one point per row with both (rwbench's "
                               "95 % interval, the published number's reading precision); dashed: identity.",
                    "alt": "published number against rwbench's number per row, with the identity line"})
    return out


def _staleness(results_dir: Path, record: dict) -> str:
    """``""`` when the result files the table was made from and the paper file's numbers are as they were; else
    what to do."""
    parts = record.get("parts", {})
    # the run's own command (results, width, seeds, grid, protocol, data roots); an older record's: its paper only
    again = f"run `{record.get('command') or 'rwbench reproduce ' + record.get('paper_ref', record['paper'])}` again"
    if unknown := [name for name, part in parts.items() if "root" not in part]:  # kept by an older rwbench
        again += f" with --data-root {' '.join(f'{name}=PATH' for name in unknown)} (where each dataset is)"
    again += " to make it from them"
    if changed := _paper_changes(record):  # a corrected published value: the kept verdicts are of the old one
        return (f"Stale: the paper file {_paper_file(record)} was edited since this table was made "
                f"({record.get('created', 'undated')}): its published numbers or settings of {', '.join(changed)} "
                f"differ; {again}.")
    if "sources" not in record:
        return f"This table was kept by an older rwbench, undated: the results may have changed since; {again}."
    width = record.get("settings", {}).get("width", "")
    if parts and all("sources" in part for part in parts.values()):  # each part against the files it was made from
        frontends = record.get("frontends", [])
        stale = [f"{name} ({part.get('created', 'undated')})" for name, part in parts.items()
                 if sources_digest(results_dir, part.get("keys", []), part.get("frontends", frontends), width)
                 != part["sources"]]
        if stale:
            return (f"Stale: the result files of the rows of {', '.join(stale)} were rerun, added or removed since "
                    f"those rows were made; the leaderboard above shows them as they are now; {again}.")
        return ""
    digest = sources_digest(results_dir, record.get("datasets", []), record.get("frontends", []), width)
    if digest != record["sources"]:
        return (f"Stale: the result files of its rows were rerun, added or removed since this table was made "
                f"({record.get('created', 'undated')}); the leaderboard above shows them as they are now; {again}.")
    return ""


def _paper_file(record: dict) -> Path | None:
    """The paper file a record was made from (a shipped paper by its id), when it can be found."""
    from ..paper import paper_files

    ref = record.get("paper_ref", record.get("paper", ""))
    path = paper_files().get(ref) or Path(ref)
    return path if path.suffix == ".toml" and path.is_file() else None


def _paper_changes(record: dict) -> list[str]:
    """The datasets whose part was made from other published numbers or settings than the paper file has now
    (:func:`paper_digest`); ``[]`` when the file is not at hand or not readable (nothing to compare with)."""
    from ..errors import RwbenchError
    from ..paper import read_paper

    if (path := _paper_file(record)) is None:
        return []
    try:
        paper = read_paper(path, check_names=False)  # the registries (torch) are not loaded for a report
        names = {d.name for d in paper.datasets}
        return [name for name, part in record.get("parts", {}).items()
                if "paper" in part and (name not in names or paper_digest(paper, name) != part["paper"])]
    except RwbenchError:  # a file edited into an unreadable one: `rwbench reproduce` says what is wrong
        return []


def _leading_number(text: str) -> float | None:
    """The number a cell such as ``85.2 [80.1, 90.0]`` sorts by (None: text)."""
    match = re.match(r"\s*[+-]?\d+(\.\d+)?", str(text))
    return float(match.group()) if match else None
