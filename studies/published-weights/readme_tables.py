"""A README table of this study from its result files (run it from this folder):

    python readme_tables.py [--dataset fsdd__speakers] [--results results]

Per published network and backend: the published weights' accuracy (mean of the outer folds ± std over folds), its
random twin's (the mean over the seeds run, ± std over folds of the seed-0 run), and published − random paired over
the test clips (``rwbench.compare_rows``, as ``rwbench compare A B --test clips``: mean difference over folds, folds
won, the test's p, bootstrap 95 % interval over clips); then the weight-free rows (MFCC, HEAR 2021's ``naive``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean

import rwbench

PUBLISHED = [("musicnn", "msd"), ("musicnn", "mtt"), ("basic_pitch", "icassp2022"), ("pesto", "mir1k"),
             ("crepe", "crepe"), ("crepe_tiny", "crepe")]
WEIGHT_FREE = [("mfcc", "`mfcc`"), ("hear-hearbaseline_naive_compat", "HEAR 2021 `naive`")]


def summary(path: Path) -> tuple[float, float]:
    s = json.loads(path.read_text())["summary"]
    return s["accuracy_mean"], s["accuracy_std"]


def paired(results: Path, a: str, b: str, dataset: str) -> str:
    o = next(o for o in rwbench.compare_rows(results, a, b, test="clips") if o["dataset"] == dataset)
    return (f"{o['mean_difference']:+.3f}, {o['wins']} of {o['n_blocks']} folds, p = {o['p']:.2g}, "
            f"{o['bootstrap_ci_low']:+.3f} … {o['bootstrap_ci_high']:+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fsdd__speakers", help="dataset key as in results/runs")
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    folder, dataset = args.results / "runs" / args.dataset, args.dataset.replace("__", "/")
    print("| front-end (weights) | backend | published | random twin | published − random, paired over clips |")
    print("|---|---|---|---|---|")
    for frontend, tag in PUBLISHED:
        for backend in ("svm", "elm"):
            published = folder / f"{frontend}__small__{tag}__seed0__{backend}.json"
            twins = sorted(folder.glob(f"{frontend}__small__random__seed*__{backend}.json"))
            if not (published.is_file() and twins):
                continue
            p, spread = summary(published), summary(twins[0])[1]
            seeds = f"{len(twins)} seed{'s' * (len(twins) > 1)}"
            twin = f"{mean(summary(t)[0] for t in twins):.3f} ± {spread:.3f} ({seeds})"
            print(f"| `{frontend}` (`{tag}`) | {backend} | {p[0]:.3f} ± {p[1]:.3f} | {twin} | "
                  f"{paired(args.results, f'{frontend}:{tag}:{backend}', f'{frontend}:random:{backend}', dataset)} |")
    for frontend, label in WEIGHT_FREE:
        for backend in ("svm", "elm"):
            path = folder / f"{frontend}__small__none__seed0__{backend}.json"
            if path.is_file():
                m, s = summary(path)
                print(f"| {label} | {backend} | {m:.3f} ± {s:.3f} | — | — |")


if __name__ == "__main__":
    main()
