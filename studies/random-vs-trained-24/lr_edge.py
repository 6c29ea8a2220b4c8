"""The learning-rate edge diagnosis (run.sh lr-edge): for each ESC-10 front-end whose head chose an end of the
recipe's --lrs, its fold-1 search (seed 0) beside the runs one rate past that end, as Markdown.

    python lr_edge.py RESULTS DIAGNOSIS [WIDTH]   # e.g. results diagnosis/lr-edge small (the default)

A setting is chosen by its inner validation loss (rwbench.train.choose); the rate past the edge would have been
chosen where its best validation loss is lower than the chosen setting's. Runs start from the same seeded
initialisation on the same fit / validation parts, so their losses compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FILE = "{fe}__{width}__trained__seed0__head.json"


def fold1(path: Path) -> tuple[dict, float]:
    """Fold 1's training record (empty for a random row) and its test accuracy, from a result file."""
    record = json.loads(path.read_text())
    accuracy = next(f["accuracy"] for f in record["folds"] if f["name"] == "fold1")
    return (record.get("training") or {}).get("folds", {}).get("fold1", {}), accuracy


def chosen_run(record: dict) -> dict:
    """The inner run of the setting a fold's training record chose."""
    return record["selection"][f"lr{record['lr']:g}_dropout{record['dropout']:g}"]


def diagnosed(diagnosis: Path, name: str) -> Path | None:
    """The diagnosis run of a result file's front-end (past the high or the low edge), where it has run."""
    return next((p for side in ("high", "low") if (p := diagnosis / side / "runs" / "esc10" / name).is_file()), None)


def best(selection: dict) -> dict:
    return min(selection.values(), key=lambda run: run["best_val_loss"])


def setting(run: dict) -> str:
    return f"{run['lr']:g} / {run['dropout']:g}"


def main(results: Path, diagnosis: Path, width: str = "small") -> str:
    lines = ["# Learning-rate edge diagnosis (ESC-10, fold 1, seed 0)", "",
             "Written by `python lr_edge.py` (`./run.sh lr-edge`). Per front-end whose head chose an end of the "
             "recipe's learning rates (0.0003, 0.001, 0.003): the setting chosen on fold 1's inner validation part, "
             "the best run one rate past that end (dropouts 0 and 0.5), their best validation losses (lower is chosen) "
             "and their fold-1 test accuracies (the refit of that setting on the whole training side).", "",
             "| front-end | edge | chosen lr / dropout | its val loss | its fold-1 acc | past the edge: lr / dropout "
             "| its val loss | its fold-1 acc | past the edge chosen? |",
             "|---|---|---|---|---|---|---|---|---|"]
    counts = {"yes": 0, "no": 0}
    for side in ("high", "low"):
        for path in sorted((diagnosis / side / "runs" / "esc10").glob(FILE.format(fe="*", width=width))):
            fe = path.name.split("__")[0]
            original = results / "runs" / "esc10" / FILE.format(fe=fe, width=width)
            (kept, kept_acc), (past, past_acc) = fold1(original), fold1(path)
            chosen = chosen_run(kept)
            other = best(past["selection"])
            wins = other["best_val_loss"] < chosen["best_val_loss"]
            counts["yes" if wins else "no"] += 1
            lines.append(f"| {fe} | {side} | {setting(chosen)} | {chosen['best_val_loss']:.4f} | {kept_acc:.3f} | "
                         f"{setting(other)} | {other['best_val_loss']:.4f} | {past_acc:.3f} | "
                         f"{'**yes**' if wins else 'no'} |")
    lines += ["", f"Past the edge chosen: {counts['yes']} of {sum(counts.values())} front-ends."]
    return "\n".join(lines + sensitivity(results, diagnosis, width)) + "\n"


def sensitivity(results: Path, diagnosis: Path, width: str) -> list[str]:
    """Fold 1's ranking under the recipe's grid and under the grid one rate wider (a diagnosed front-end takes the
    past-the-edge setting where its validation loss is lower; the others keep theirs), each against the random
    rows' fold-1 accuracy (mean of seeds 0-2): how far the grid's edge can move the study's ρ."""
    from scipy.stats import spearmanr

    runs = results / "runs" / "esc10"
    trained, wider = {}, {}
    for path in sorted(runs.glob(FILE.format(fe="*", width=width))):
        fe = path.name.split("__")[0]
        record, trained[fe] = fold1(path)
        wider[fe] = trained[fe]
        if (past := diagnosed(diagnosis, path.name)) is not None:
            other, accuracy = fold1(past)
            if best(other["selection"])["best_val_loss"] < chosen_run(record)["best_val_loss"]:
                wider[fe] = accuracy
    flagged = json.loads((diagnosis / "flagged.json").read_text()) if (diagnosis / "flagged.json").is_file() else []
    pending = [fe for fe in flagged if diagnosed(diagnosis, FILE.format(fe=fe, width=width)) is None]
    lines = ["", "## Sensitivity of fold 1's ranking", "",
             f"Over the {len(trained)} trained front-ends (seed 0), fold 1's test accuracy under the recipe's grid and "
             "under the grid one rate wider; Spearman ρ against the random rows' fold-1 accuracy (mean of seeds 0–2)."
             + (f" Not yet diagnosed (they keep the recipe's value): {', '.join(pending)}." if pending else ""), "",
             "| random backend | ρ (recipe's grid) | ρ (one rate wider) |", "|---|---|---|"]
    for backend in ("svm", "elm"):
        random = {}
        for fe in trained:
            seeds = [runs / f"{fe}__{width}__random__seed{seed}__{backend}.json" for seed in range(3)]
            scores = [fold1(path)[1] for path in seeds if path.is_file()]
            if scores:
                random[fe] = sum(scores) / len(scores)
        names = [fe for fe in trained if fe in random]
        rho = [spearmanr([random[f] for f in names], [side[f] for f in names])[0] for side in (trained, wider)]
        lines.append(f"| {backend} (n = {len(names)}) | {rho[0]:.3f} | {rho[1]:.3f} |")
    names = list(trained)
    same = spearmanr([trained[f] for f in names], [wider[f] for f in names])[0]
    lines += ["", f"ρ between the two trained fold-1 rankings: {same:.3f}."]
    return lines


if __name__ == "__main__":
    print(main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4]), end="")
