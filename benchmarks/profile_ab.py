"""`rwbench profile` of the working tree against an earlier commit, front-end by front-end, in one run.

    python benchmarks/profile_ab.py --before 626e737 --width paper
    python benchmarks/profile_ab.py --before HEAD~3 --frontends 'vgg,strided_*' --rounds 3

The earlier commit's package (``bench/``, ``architectures/``, ``datasets/``) is extracted with ``git archive`` into
a temporary folder laid out as the installed ``rwbench``, and put first on ``PYTHONPATH`` for its runs. For each
front-end the two versions run alternately (before, after, after, before, …: drift in the machine's load falls
on both), each run a fresh ``rwbench profile`` process; the best ms/clip of each side is kept. The ratio
before/after is the speed-up. ``% peak`` is each side's best run against the matmul peak measured in that run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from rwbench.frontend import FRONTENDS

ROOT = Path(__file__).resolve().parents[1]


def extract(rev: str, into: Path) -> Path:
    """The package of commit ``rev`` as ``into/rwbench`` (+ ``architectures``, ``datasets`` inside it)."""
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "bench", "architectures", "datasets"],
                   check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    package = into / "pkg" / "rwbench"
    package.parent.mkdir()
    (into / "tree" / "bench").rename(package)
    for sub in ("architectures", "datasets"):
        (into / "tree" / sub).rename(package / sub)
    return into / "pkg"


def profile_once(frontend: str, args: argparse.Namespace, pythonpath: Path | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "rwbench.cli", "profile", "-q", "--frontends", frontend, "--width", args.width,
            "--seconds", str(args.seconds), "--batch-size", str(args.batch_size), "--repeats", "2", "--format", "json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"rwbench profile failed ({'before' if pythonpath else 'after'}):\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout)
    if not data["rows"]:
        raise SystemExit(f"{frontend}: {data['notes'][2:]}")
    return data["rows"][0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="the earlier commit (any git revision)")
    p.add_argument("--frontends", default="*")
    p.add_argument("--width", default="paper")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2, help="runs of each side per front-end (alternating)")
    args = p.parse_args()
    names = [spec.name for spec in FRONTENDS.select(args.frontends)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = extract(args.before, Path(tmp))
        for name in names:
            best = {"before": None, "after": None}
            for i in range(args.rounds):
                order = ("before", "after") if i % 2 == 0 else ("after", "before")
                for side in order:
                    row = profile_once(name, args, old if side == "before" else None)
                    if best[side] is None or row["ms/clip"] < best[side]["ms/clip"]:
                        best[side] = row
            b, a = best["before"], best["after"]
            rows.append((name, b, a))
            print(f"{name}: {b['ms/clip']:.1f} → {a['ms/clip']:.1f} ms/clip (×{b['ms/clip'] / a['ms/clip']:.2f})",
                  file=sys.stderr)
    print(f"rwbench profile, width {args.width}, {args.seconds:g} s clips, batch {args.batch_size}; before = "
          f"{args.before}, after = working tree; best of {args.rounds} alternating runs per side\n")
    print("| front-end | width | GMAC/clip | ms/clip before | ms/clip after | speed-up | % peak before | % peak after |")
    print("|---|---|---|---|---|---|---|---|")
    for name, b, a in rows:
        print(f"| {name} | {a['width']} | {a['MMAC/clip'] / 1e3:.2f} | {b['ms/clip']:.1f} | {a['ms/clip']:.1f} | "
              f"×{b['ms/clip'] / a['ms/clip']:.2f} | {b['% peak']:.1f} | {a['% peak']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
