"""The README's "Progress of recipe v2" table, from the result files as they stand (run it from this folder):

    python progress.py [--dataset esc10] [--results results]

One row per front-end with a trained (head) result at seed 0: the recipe-v1 head (``diagnosis/recipe-v1``) where
there is one, the v2 head with the setting chosen on the first split (and seed 1's head where there is one), the
selected epochs and the folds flagged ``not_converged``, the training's wall minutes and where it ran (every fold,
the first one's setting search included; cpu: one thread beside other work, so they vary with the load; cuda: one of
13 trainings at once on an H200), the random rows (SVM / ELM, mean over their seeds), the transfer row (trained
features + SVM; "stale" where it was computed from another training's weights than the head's), and the heads (seeds
averaged per clip where there are two) against the random twin + SVM paired over the test clips
(``rwbench.compare_rows``, as ``rwbench compare A B --test clips``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean

import rwbench

V1 = Path("diagnosis/recipe-v1")


def accuracy(path: Path) -> float:
    return json.loads(path.read_text())["summary"]["accuracy_mean"]


def cell(paths: list[Path]) -> str:
    return f"{mean(accuracy(p) for p in paths):.3f}" if paths else "—"


def paired(results: Path, frontend: str, dataset: str) -> str:
    """The heads against the random twin + SVM over the test clips; "—" until the random rows are in."""
    try:
        o = next(o for o in rwbench.compare_rows(results, f"{frontend}:trained:head", f"{frontend}:random:svm",
                                                 test="clips") if o["dataset"] == dataset)
    except StopIteration:
        return "—"
    except rwbench.errors.RwbenchError as err:  # not yet there is "—"; anything else (other clips …) is said
        return "—" if "no dataset has both" in str(err) else f"not paired: {err}"
    difference = round(o["mean_difference"], 9) + 0.0  # an exact tie (−2e-11 of float noise) reads +0.000
    return (f"{difference:+.3f} [{o['bootstrap_ci_low']:+.3f}, {o['bootstrap_ci_high']:+.3f}], "
            f"p = {o['p']:.2g}, wins {o['wins']}/{o['n_blocks']}")


def row(results: Path, head: Path, dataset: str, width: str, with_v1: bool) -> str:
    record = json.loads(head.read_text())
    name, training = record["frontend"]["name"], record["training"]
    folder, stem = head.parent, f"{name}__{width}"
    first = next(iter(training["chosen"].values()))
    epochs = list(training["epochs_selected"].values())
    v1 = V1 / "runs" / folder.name / head.name
    random = {b: sorted(folder.glob(f"{stem}__random__seed*__{b}.json")) for b in ("svm", "elm")}
    seed1 = head.with_name(head.name.replace("__seed0__", "__seed1__"))
    also = f"; seed 1: {accuracy(seed1):.3f}" if seed1.is_file() else ""
    v1_cell = f" {cell([v1] if v1.is_file() else [])} |" if with_v1 else ""
    return (f"| {name} |{v1_cell} **{accuracy(head):.3f}** (lr {first['lr']:g}, "
            f"dropout {first['dropout']:g}){also} | {min(epochs)}–{max(epochs)}, {training['not_converged_folds']} | "
            f"{record['timings']['fit_seconds'] / 60:.0f} {record['device']} | "
            f"{cell(random['svm'])} / {cell(random['elm'])}{seeds_in(random)} | "
            f"{transfer(head, record)} | {paired(results, name, dataset)} |")


def seeds_in(random: dict[str, list[Path]]) -> str:
    """`` (2 / 2 of 3 seeds)`` while a row's random seeds are still coming in; nothing when all or none are."""
    counts = [len(files) for files in random.values()]
    return "" if set(counts) <= {0, 3} else f" ({' / '.join(map(str, counts))} of 3 seeds)"


def transfer(head: Path, record: dict) -> str:
    """The transfer row's accuracy, or why there is none to show: a row computed from another training's weights
    than the head's is stale (``rwbench leaderboard`` names it too)."""
    path = head.with_name(head.name.replace("__head.json", "__svm.json"))
    if not path.is_file():
        return "—"
    if json.loads(path.read_text())["frontend"]["weights_sha256"] != record["frontend"]["weights_sha256"]:
        return "stale (another training's weights)"
    return cell([path])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="esc10", help="dataset key as in results/runs (esc10, fsdd__speakers)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--width", default="small", help="the width of the rows (small; paper: WIDTH=paper run.sh)")
    args = parser.parse_args()
    heads = sorted((args.results / "runs" / args.dataset).glob(f"*__{args.width}__trained__seed0__head.json"))
    if not heads:
        sys.exit(f"progress.py: no trained heads at width {args.width} in {args.results / 'runs' / args.dataset}")
    dataset = args.dataset.replace("__", "/")
    with_v1 = (V1 / "runs" / args.dataset).is_dir()  # a column only where recipe v1 ran on this dataset
    print(f"| front-end |{' v1 head |' if with_v1 else ''} v2 head (chosen on fold 1) | best epochs (cap 100), not "
          "converged folds | training min, device | random svm / elm (3 seeds) | transfer (trained + svm) | v2 heads − "
          "random svm, paired over clips |")
    print(f"|---|{'---:|' if with_v1 else ''}---|---|---:|---|---:|---|")
    for head in heads:
        print(row(args.results, head, dataset, args.width, with_v1))


if __name__ == "__main__":
    main()
