"""The README tables of this study from its result files (run it from this folder):

    python readme_tables.py [--dataset esc10 | fsdd__speakers] [--results results] [--permutations N]

prints the dataset's table as the README shows it (``--permutations 199999``: the permutation p's again with that
many draws, printed as estimates "p ≈ …": the README's 200,000-draw figures; about 10 minutes and 6 GB for ESC-10).
Per published network and backend:

* published: the accuracy's mean over the outer folds ± std over folds (95 % bootstrap CI over folds and clips: the
  leaderboard's ``ci_low``–``ci_high``, folds drawn, then clips within each);
* random twin: the mean over the seeds run ± std over all folds × seeds pooled (the leaderboard's
  ``accuracy_std``), then (± std over seeds of the seed means: ``seed_std``) or (seed 0 only);
* published − random, paired over the test clips (``rwbench.compare_rows``, as ``rwbench compare A B --test
  clips``): mean difference, folds won (ties counted), p, bootstrap 95 % CI of the difference. The p is exact
  McNemar where both rows have one seed, else a two-sided paired permutation test of the seed-averaged per-clip
  correctness (``scipy.stats.permutation_test``, 9,999 draws, seed 0; least attainable p 2/10,000 = 0.0002): a p
  under 0.001 is a Monte-Carlo estimate from a handful of draws near that floor and is printed "< 0.001".

then the weight-free rows (MFCC, HEAR 2021's ``naive``). A network whose published weights share a random twin with
the row above (musicnn ``mtt`` after ``msd``) prints "(the same twin)".
"""

from __future__ import annotations

import argparse
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import rwbench
from rwbench.analysis import significance

PUBLISHED = [("musicnn", "msd"), ("musicnn", "mtt"), ("basic_pitch", "icassp2022"), ("pesto", "mir1k"),
             ("crepe", "crepe"), ("crepe_tiny", "crepe")]
WEIGHT_FREE = [("mfcc", "`mfcc`"), ("hear:hearbaseline_naive_compat", "`hear:hearbaseline_naive_compat` (HEAR 2021 `naive`)")]
PERMUTATIONS = significance.PERMUTATIONS  # rwbench's draws (9,999)
PERMUTATION_FLOOR = 0.001  # permutation p below this: printed "< 0.001" (9,999 draws reach 0.0002 at best)


def fixed(x: float, sign: bool = False) -> str:
    """``x`` to 3 decimals, a half rounded up (0.7475 → 0.748: scores are clip-count ratios, and float noise must not
    decide which way a half goes); a minus sign as −."""
    d = Decimal(f"{x:.10f}").quantize(Decimal("0.001"), ROUND_HALF_UP)
    return f"{d:{'+' if sign else ''}f}".replace("-", "−")


def signed(x: float) -> str:
    return fixed(x, sign=True)


def p_cell(o: dict) -> str:
    if "permutation" in o["test"] and significance.PERMUTATIONS != PERMUTATIONS:
        return f"p ≈ {o['p']:.2g}"
    if "permutation" in o["test"] and o["p"] < PERMUTATION_FLOOR:
        return "p < 0.001"
    return f"p = {o['p']:.2g}"


def paired(results: Path, a: str, b: str, dataset: str) -> tuple[str, list[int]]:
    """The paired cell of rows ``a`` and ``b``, and ``b``'s seeds."""
    o = next(o for o in rwbench.compare_rows(results, a, b, test="clips") if o["dataset"] == dataset)
    tie = f" ({o['ties']} tie{'s' * (o['ties'] > 1)})" if o["ties"] else ""
    return (f"{signed(o['mean_difference'])}, {o['wins']} of {o['n_blocks']}{tie}, {p_cell(o)}, "
            f"{signed(o['bootstrap_ci_low'])} … {signed(o['bootstrap_ci_high'])}"), o["b_seeds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="esc10", help="dataset key as in results/runs (esc10, fsdd__speakers)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--permutations", type=int, default=PERMUTATIONS,
                        help="draws of the paired permutation test (default rwbench's 9,999)")
    args = parser.parse_args()
    significance.PERMUTATIONS = args.permutations  # read by rwbench's paired test of per-clip correctness
    dataset = args.dataset.replace("__", "/")
    table = rwbench.load_results(args.results, test="clips")
    rows = {(r.frontend, r.weights, r.backend): r for r in table[table["dataset"] == dataset].itertuples()}

    def accuracy(r, interval: bool = True) -> str:
        ci = f" ({fixed(r.ci_low)}–{fixed(r.ci_high)})" if interval else ""
        return f"{fixed(r.accuracy_mean)} ± {fixed(r.accuracy_std)}{ci}"

    print("| front-end (weights) | backend | published | random twin | published − random: mean, folds won, p, 95 % CI |")
    print("|---|---|---|---|---|")
    for i, (frontend, tag) in enumerate(PUBLISHED):
        same_twin = i > 0 and PUBLISHED[i - 1][0] == frontend
        for backend in ("svm", "elm"):
            published, twin = rows.get((frontend, tag, backend)), rows.get((frontend, "random", backend))
            if published is None or twin is None:
                continue
            cell, seeds = paired(args.results, f"{frontend}:{tag}:{backend}", f"{frontend}:random:{backend}", dataset)
            if same_twin:
                twin_cell = "(the same twin)"
            elif len(seeds) > 1:
                twin_cell = f"{accuracy(twin, False)} (±{fixed(twin.seed_std)} over {len(seeds)} seeds)"
            else:
                twin_cell = f"{accuracy(twin, False)} (seed {seeds[0]} only)"
            name = f"`{frontend}` (`{tag}`)" if backend == "svm" else ""
            print(f"| {name} | {backend} | {accuracy(published)} | {twin_cell} | {cell} |")
    for frontend, label in WEIGHT_FREE:
        for backend in ("svm", "elm"):
            r = rows.get((frontend, "none", backend))
            if r is not None:
                print(f"| {label if backend == 'svm' else ''} | {backend} | {accuracy(r)} | — | — |")


if __name__ == "__main__":
    main()
