"""The HTML report's section for ``rwbench reproduce`` runs: each paper's last side-by-side table, kept by the
command under ``RESULTS/reproduce/<paper>.json``, and its published-vs-rwbench scatter. Reads files only (no torch)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

REPORT_FOLDER = "reproduce"  # RESULTS/reproduce/<paper>.json: the last table of each paper, for `rwbench report`


def draw_scatter(title: str, points: list[dict], which: str = "honest"):
    """Published (x) against rwbench (y, with its 95 % interval) for ``points`` (``reproduce.scatter_points``), one
    colour per dataset, the identity line drawn; a matplotlib figure."""
    from .figures import TEXT, WIDTH, legible, new_figure

    figure = new_figure(WIDTH, WIDTH)
    ax = figure.add_subplot()
    for i, dataset in enumerate(dict.fromkeys(p["dataset"] for p in points)):
        mine = [p for p in points if p["dataset"] == dataset]
        ax.errorbar([p["published"] for p in mine], [p["mean"] for p in mine],
                    yerr=[[p["mean"] - p["low"] for p in mine], [p["high"] - p["mean"] for p in mine]],
                    xerr=[p["precision"] for p in mine], fmt="o", color=f"C{i}", capsize=2, label=dataset)
    lo, hi = ax.get_xlim()
    lo, hi = min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], color="#777777", linestyle="--", linewidth=1, label="identity")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    unit = "accuracy (%)" if points[0]["metric"] == "accuracy" else points[0]["metric"]
    ax.set_xlabel(f"published {unit}")
    ax.set_ylabel(f"rwbench {unit}" + (" (the study's protocol)" if which == "study" else ""))
    ax.set_title(title, fontsize=TEXT + 1)
    ax.legend(fontsize=TEXT - 1)
    legible(ax)
    return figure


def report_sections(results_dir: Path, *, draw: bool = True) -> list[dict]:
    """One section per paper reproduced into ``results_dir`` for ``rwbench report``: the side-by-side table and the
    published-vs-rwbench scatter with its identity line (an SVG data URI; None without points or with ``draw`` off)."""
    from ..fileio import read_json
    from .figures import data_uri

    out = []
    for path in sorted((Path(results_dir) / REPORT_FOLDER).glob("*.json")):
        try:
            record = read_json(path)
            columns = list(record["cells"][0]) if record["cells"] else []
            rows = [[{"text": cells.get(c, ""), "sort": None} for c in columns] for cells in record["cells"]]
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            log.warning("%s: not a reproduce record this rwbench reads; left out of the report", path)
            continue
        plot = None
        if draw and record.get("points"):
            plot = data_uri(draw_scatter(f"{record['paper']}: published vs rwbench", record["points"],
                                         record.get("points_of", "honest")))
        settings = record.get("settings", {})
        note = (f"{record['citation']} rwbench: width {settings.get('width')}, seeds "
                f"{', '.join(map(str, settings.get('seeds', [])))}, grid {settings.get('grid')}; protocol "
                f"{record['protocol']} (rwbench reproduce {record['paper']})")
        out.append({"title": f"{record['paper']}: {record['title']}: rwbench beside the published numbers",
                    "anchor": f"reproduce-{path.stem}", "note": note, "columns": columns, "rows": rows,
                    "lines": [*record.get("skipped", []), *record.get("legend", [])], "plot": plot,
                    "caption": "<strong>Published against rwbench</strong>, one point per row with both (rwbench's "
                               "95 % interval, the published number's reading precision); dashed: identity.",
                    "alt": "published number against rwbench's number per row, with the identity line"})
    return out
