"""Start-up time of the ``rwbench`` commands: each command run N times in a fresh Python process.

Prints, per command, the median wall time and the median CPU time (user + system of the child process) — on a
shared machine the CPU time is the steadier figure: wall time grows with the load, CPU time much less. No timed
unit test: SPEC §11.

    python benchmarks/startup.py                        # this checkout (the installed rwbench), 5 runs each
    python benchmarks/startup.py --runs 9 --imports     # and the heavy modules each command imported
    # another version: a folder that holds a package tree named rwbench (bench/ with architectures/ and datasets/
    # copied inside it), e.g. built from HEAD with `git archive HEAD | tar -x -C /tmp/before`
    python benchmarks/startup.py --pythonpath /tmp/before/pkg

The table commands (``leaderboard``, ``compare``, ``report``) read ``studies/multilabel-esc10-mix/results`` (28
result files): their time is start-up plus that small amount of work; ``report`` also draws its figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "studies" / "multilabel-esc10-mix" / "results"
HEAVY = ("torch", "sklearn", "librosa", "scipy.stats", "pandas", "matplotlib", "hpelm", "numba")


def commands(out: Path) -> dict[str, list[str]]:
    return {
        "--help": ["--help"],
        "list datasets": ["list", "datasets"],
        "list backends": ["list", "backends"],
        "list frontends": ["list", "frontends"],
        "weights list": ["weights", "list"],
        "leaderboard --help": ["leaderboard", "--help"],
        "leaderboard (28 results)": ["leaderboard", "--results", str(STUDY)],
        "compare (28 results)": ["compare", "--results", str(STUDY), "--trained", "mtt"],
        "report --help": ["report", "--help"],
        "report (28 results)": ["report", "--results", str(STUDY), "-o", str(out / "report.html")],
        "run --help": ["run", "--help"],
    }


CHILD = """
import sys, time
start = time.perf_counter()
from rwbench.cli import main
try:
    code = main(sys.argv[1:])
except BaseException as err:  # an old version's crash (e.g. `--help` of a version that crashed on it) still times its start
    code = f"{type(err).__name__}"
heavy = [m for m in HEAVY if m in sys.modules]
print("\\n@@", code, ",".join(heavy), file=sys.stderr)
"""


def time_one(argv: list[str], env: dict, cwd: Path) -> tuple[float, float, str, str]:
    """(wall s, child CPU s, exit code, heavy modules imported) of one run."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD.replace("HEAVY", repr(HEAVY), 1), *argv], env=env, cwd=cwd,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    tail = done.stderr.rsplit("\n@@ ", 1)
    code, _, heavy = tail[1].strip().partition(" ") if len(tail) == 2 else (f"rc {done.returncode}", "", "?")
    return wall, cpu, code, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (5); the median is shown")
    parser.add_argument("--pythonpath", help="put this folder first on PYTHONPATH (another version's rwbench)")
    parser.add_argument("--only", help="comma-separated command labels to time (default: all)")
    parser.add_argument("--imports", action="store_true", help="also list the heavy modules each command imported")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    where = subprocess.run([sys.executable, "-c", "import rwbench; print(rwbench.__file__)"], env=env, cwd="/",
                           capture_output=True, text=True).stdout.strip()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"rwbench from {where}; {os.cpu_count()} cores; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; "
          f"{args.runs} runs per command, medians\n")
    print(f"| command | wall s | CPU s | exit |{' heavy modules imported |' if args.imports else ''}")
    print(f"| --- | ---: | ---: | --- |{' --- |' if args.imports else ''}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, argv in commands(Path(tmp)).items():
            if args.only and label not in args.only.split(","):
                continue
            runs = [time_one(argv, env, Path(tmp)) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            extra = f" {runs[-1][3] or '-'} |" if args.imports else ""
            print(f"| `rwbench {label}` | {wall:.2f} | {cpu:.2f} | {runs[-1][2]} |{extra}", flush=True)


if __name__ == "__main__":
    main()
