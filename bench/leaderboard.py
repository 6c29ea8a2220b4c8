"""Leaderboards derived from result files only, exported as Markdown, CSV or JSON with the same rows.

One row per (dataset/task, front-end, width, weights, variant, backend), pooling every seed: the
accuracy mean and std are over all outer folds × seeds, ``seed_std`` is the spread of the per-seed
means (initialisation noise), and the 95% CI is a t-interval on the per-seed means (one value per
seed is the independent unit; with one seed there is no CI). Rows are ranked within each dataset
by mean accuracy (ties share the better rank). A variant — pooling other than mean,
segment-and-aggregate, or layers other than the front-end's default — is shown after the front-end's name:
``vgg[max]``, ``vgg[seg4s-hop2s-majority]``, ``musicnn[penultimate]``.

Random-weight rows also carry the rank correlation (:func:`rwbench.ranking.rank_correlation`) between the
random-weight and trained accuracies of their dataset and backend; the Markdown prints it under each
table that has trained rows, and :func:`export_comparison` shows the two rankings side by side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tabulate import tabulate

from .errors import RwbenchError
from .ranking import EXPORT_COLUMNS, RANDOM, TRAINED, comparison, describe, rank_correlation, trained_backend_for
from .results import iter_results, variant

COLUMNS = [
    "rank", "dataset", "frontend", "input", "width", "weights", "backend", "dim", "params",
    "accuracy_mean", "accuracy_std", "accuracy_ci95", "seed_std", "balanced_accuracy_mean", "macro_f1_mean",
    "n_seeds", "n_folds", "fold_accuracies", "embed_ms_per_clip", "skipped", *EXPORT_COLUMNS,
]
FORMATS = ("md", "csv", "json")
DECIMALS = 4


def _row(records: list[dict]) -> dict:
    first = records[0]
    per_seed = np.array([[f["accuracy"] for f in r["folds"]] for r in records])  # (seeds, folds)
    seed_means = per_seed.mean(axis=1)
    n = len(seed_means)
    ci = float(stats.t.ppf(0.975, n - 1) * seed_means.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    metric = lambda name: float(np.mean([[f[name] for f in r["folds"]] for r in records]))  # noqa: E731
    fe = first["frontend"]
    return {
        "dataset": first["dataset"]["key"], "frontend": fe["name"], "input": fe["input_kind"], "width": fe["width"],
        "weights": fe["weights"], "variant": variant(fe), "backend": first["backend"]["name"],
        "dim": fe["feature_dim"], "params": fe["params"],
        "accuracy_mean": float(per_seed.mean()), "accuracy_std": float(per_seed.std()), "accuracy_ci95": ci,
        "seed_std": float(seed_means.std(ddof=1)) if n > 1 else float("nan"),
        "balanced_accuracy_mean": metric("balanced_accuracy"), "macro_f1_mean": metric("macro_f1"),
        "n_seeds": n, "n_folds": per_seed.shape[1],
        "fold_accuracies": " ".join(f"{a:.3f}" for a in per_seed.mean(axis=0)),
        "embed_ms_per_clip": 1000 * float(np.mean([r["timings"]["embed_seconds_per_clip"] for r in records])),
        "skipped": len(first["dataset"]["skipped"]),
    }


def build(records: Iterable[dict]) -> pd.DataFrame:
    """The leaderboard table of ``records``: columns :data:`COLUMNS`, sorted by dataset then rank."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        key = (r["dataset"]["key"], r["frontend"]["name"], r["frontend"]["width"], r["frontend"]["weights"],
               variant(r["frontend"]), r["backend"]["name"])
        groups.setdefault(key, []).append(r)
    rows = [_row(sorted(g, key=lambda r: r["seed"])) for g in groups.values()]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.DataFrame(rows)
    table["rank"] = table.groupby("dataset")["accuracy_mean"].rank(ascending=False, method="min").astype(int)
    table = table.sort_values(["dataset", "rank", "frontend", "backend"], kind="stable").reset_index(drop=True)
    marked = table["variant"] != ""
    table.loc[marked, "frontend"] = table.loc[marked, "frontend"] + "[" + table.loc[marked, "variant"] + "]"
    table = table[COLUMNS[:-len(EXPORT_COLUMNS)]].round(DECIMALS)
    table = with_correlation_columns(table, rank_correlation(table))
    table.loc[table["weights"] != RANDOM, list(EXPORT_COLUMNS)] = np.nan  # the figures belong to random rows only
    return table[COLUMNS].round(DECIMALS)


def with_correlation_columns(rows: pd.DataFrame, correlations: pd.DataFrame) -> pd.DataFrame:
    """``rows`` plus the ``rank_corr_*`` columns of their (dataset, backend) from ``correlations`` (NA where none)."""
    figures = correlations.rename(columns={v: k for k, v in EXPORT_COLUMNS.items()})
    merged = rows.merge(figures[["dataset", "backend", *EXPORT_COLUMNS]], on=["dataset", "backend"], how="left")
    merged.index = rows.index
    merged["rank_corr_n"] = merged["rank_corr_n"].astype("Int64")
    return merged


def load(results_dir: Path, *, strict: bool = False) -> pd.DataFrame:
    """The leaderboard of every valid result under ``results_dir`` (a malformed file is skipped with a
    warning, or an error when ``strict``); ``table.attrs["skipped"]`` maps each dataset to the files its
    results left out (shown as a note under its Markdown table)."""
    if not Path(results_dir).is_dir():
        raise RwbenchError(f"results folder {str(results_dir)!r} does not exist; run `rwbench run` first")
    records = list(iter_results(results_dir, strict=strict))
    table = build(records)
    skipped: dict[str, dict[str, str]] = {}
    for r in records:
        for item in r["dataset"]["skipped"]:
            skipped.setdefault(r["dataset"]["key"], {})[item["clip"]] = item["reason"]
    table.attrs["skipped"] = skipped
    return table


def to_markdown(table: pd.DataFrame) -> str:
    """One section per dataset/task, each a pipe table with every column; under a table whose dataset has
    trained rows, the rank correlation of random-weight and trained accuracy per random backend."""
    return _sections(table, lambda rows: rows.drop(columns="dataset"), extra=_correlation_note(table))


def _correlation_note(table: pd.DataFrame):
    """``dataset -> text``: the ρ/τ lines printed under a dataset's table when it has trained rows."""
    correlations = rank_correlation(table)

    def note(dataset: str) -> str:
        if not ((table["dataset"] == dataset) & (table["weights"] == TRAINED)).any():
            return ""
        lines = [f"- {describe(row)}" for _, row in correlations[correlations["dataset"] == dataset].iterrows()]
        heading = (f"Rank correlation of {RANDOM}-weight and {TRAINED} ({trained_backend_for(TRAINED)}) accuracy, "
                   "over the front-ends with both:")
        return f"\n{heading}\n" + "".join(f"{line}\n" for line in lines) if lines else ""
    return note


def to_summary(table: pd.DataFrame) -> str:
    """The Markdown tables cut to what a reader scans first (``rwbench run`` prints this)."""
    def compact(rows: pd.DataFrame) -> pd.DataFrame:
        view = rows[["rank", "frontend", "input", "weights", "backend", "dim", "params"]].copy()
        view["accuracy"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(rows["accuracy_mean"], rows["accuracy_std"])]
        view["ci95"] = ["" if np.isnan(c) else f"±{c:.3f}" for c in rows["accuracy_ci95"]]
        view["folds"] = rows["fold_accuracies"]
        view["seeds"] = rows["n_seeds"]
        view["ms/clip"] = [f"{v:.1f}" for v in rows["embed_ms_per_clip"]]
        return view
    return _sections(table, compact, extra=_correlation_note(table), numparse=False)


def _sections(table: pd.DataFrame, view, extra=lambda dataset: "", numparse: bool = True) -> str:
    """``extra(dataset)`` is printed under that dataset's table."""
    if table.empty:
        return "No results yet.\n"
    sections = []
    for dataset, rows in table.groupby("dataset", sort=True):
        shown = view(rows).astype(object).where(view(rows).notna(), None)  # NaN (one seed: no CI) → blank
        body = tabulate(shown, headers="keys", tablefmt="pipe", showindex=False, floatfmt=f".{DECIMALS}f",
                        missingval="", disable_numparse=not numparse)
        skipped = table.attrs.get("skipped", {}).get(dataset, {})
        note = "".join(f"\n- skipped `{clip}`: {reason}" for clip, reason in sorted(skipped.items()))
        note = f"\nLeft out as unreadable (--skip-bad-audio), {len(skipped)} file(s):{note}\n" if skipped else ""
        sections.append(f"### {dataset}\n\n{body}\n{note}{extra(dataset)}")
    return "\n".join(sections)


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)


def to_json(table: pd.DataFrame) -> str:
    records = json.loads(table.to_json(orient="records"))
    return json.dumps(records, indent=2) + "\n"


EXPORTERS = {"md": to_markdown, "csv": to_csv, "json": to_json}


def export(table: pd.DataFrame, fmt: str) -> str:
    if fmt not in EXPORTERS:
        raise RwbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return EXPORTERS[fmt](table)


# -- rwbench compare ------------------------------------------------------------------------------
def comparison_to_markdown(pairs: pd.DataFrame, correlations: pd.DataFrame, random: str = RANDOM,
                           trained: str = TRAINED) -> str:
    """Per dataset and random backend, the two rankings side by side and the ρ/τ line under the table."""
    sections = []
    for _, corr in correlations.iterrows():
        rows = pairs[(pairs["dataset"] == corr["dataset"]) & (pairs["backend"] == corr["backend"])]
        trained_side = f"{trained} ({trained_backend_for(trained) or corr['backend']})"
        view = rows.drop(columns=["dataset", "backend"]).rename(columns={
            "random_accuracy": f"{random} accuracy", "random_rank": f"{random} rank",
            "trained_accuracy": f"{trained} accuracy", "trained_rank": f"{trained} rank", "rank_diff": "rank diff"})
        body = (tabulate(view, headers="keys", tablefmt="pipe", showindex=False, floatfmt=f".{DECIMALS}f") if len(rows)
                else f"No front-end has both {random} and {trained} results.")
        sections.append(f"### {corr['dataset']}: {random} ({corr['backend']}) vs {trained_side}\n\n{body}\n\n"
                        f"{describe(corr, random, trained)}\n")
    return "\n".join(sections) if sections else "No results yet.\n"


def comparison_rows(pairs: pd.DataFrame, correlations: pd.DataFrame, random: str = RANDOM,
                    trained: str = TRAINED) -> pd.DataFrame:
    """The CSV/JSON rows of ``rwbench compare``: the paired front-ends, the tags and backend compared, and
    the ``rank_corr_*`` figures of each row's dataset and backend."""
    rows = pairs.assign(random_weights=random, trained_weights=trained,
                        trained_backend=trained_backend_for(trained) or pairs["backend"])
    return with_correlation_columns(rows, correlations).round(DECIMALS)


def export_comparison(table: pd.DataFrame, fmt: str, random: str = RANDOM, trained: str = TRAINED,
                      backend: str | None = None) -> str:
    """``rwbench compare``: the rankings of the ``random`` and ``trained`` weight tags side by side, as
    Markdown, CSV or JSON (one table per random backend unless ``backend`` picks one)."""
    if fmt not in EXPORTERS:
        raise RwbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    pairs, correlations = comparison(table, random, trained, backend)
    if fmt == "md":
        return comparison_to_markdown(pairs, correlations, random, trained)
    rows = comparison_rows(pairs, correlations, random, trained)
    return to_csv(rows) if fmt == "csv" else to_json(rows)
