"""Time `rwbench report` on a results folder, phase by phase: read the files, build the leaderboard (its
statistics and bootstraps included), draw the figures, render the page.

    python benchmarks/report_time.py [RESULTS]     (default: studies/random-vs-trained/results, 137 files)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rwbench.analysis import leaderboard, report


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1] / "studies/random-vs-trained/results")
    marks = [("start", time.perf_counter())]
    records, invalid = leaderboard.read_results(folder)
    marks.append(("read result files", time.perf_counter()))
    table = leaderboard.table_of(records, invalid)
    marks.append(("leaderboard + statistics", time.perf_counter()))
    sections = report.sections(table, leaderboard.rows_of_records(records))
    marks.append(("figures (SVG)", time.perf_counter()))
    html = report.render(folder)
    marks.append(("whole report again (render)", time.perf_counter()))
    n_plots = sum(len(s.plots) for s in sections)
    print(f"{folder}: {len(records)} result files, {len(table)} rows, {len(sections)} dataset(s), {n_plots} figures, "
          f"page {len(html) / 2**20:.2f} MiB")
    for (_, before), (name, after) in zip(marks, marks[1:]):
        print(f"  {name:<28} {after - before:6.2f} s")


if __name__ == "__main__":
    main()
