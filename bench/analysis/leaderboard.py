"""Leaderboards derived from result files only, exported as Markdown, CSV or JSON with the same rows.

One row per (dataset/task, front-end, width, weights, variant, backend), pooling every seed. A table holds one
task type (:mod:`rwbench.tasks`) and its columns carry that type's metric names: ``accuracy_*`` (multiclass) or
``roc_auc_macro_*`` (multilabel), the primary metric. Its mean and std are over all outer folds × seeds,
``seed_std`` is the spread of the per-seed means (initialisation noise), and ``{p}_ci95`` is a t-interval on the
per-seed means (seed noise only; with one seed there is none). ``ci_low``/``ci_high`` are the interval a reader
should quote: a hierarchical bootstrap over folds and the clips within them (:mod:`rwbench.analysis.significance`, with the
tests behind ``avg_rank`` and ``p_vs_best``). Rows are ranked within each dataset
by the primary metric's mean (ties share the better rank). A variant — pooling other than mean,
segment-and-aggregate, or layers other than the front-end's default — is shown after the front-end's name:
``vgg[max]``, ``vgg[seg4s-hop2s-majority]``, ``musicnn[penultimate]``.

Random-weight rows also carry the rank correlation (:func:`rwbench.analysis.ranking.rank_correlation`) between the
random-weight and trained accuracies of their dataset and backend; the Markdown prints it under each
table that has trained rows, and :func:`export_comparison` shows the two rankings side by side.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tabulate import tabulate

from .. import __version__
from ..backends import grid_edge_flag
from ..errors import RwbenchError
from ..fileio import content_key
from ..results import FOLD_TAGS, ResultRecord, RowKey, devices_label, git_sha, iter_results, task_of
from ..tasks import SECOND_HEADLINE, TASK_TYPES, TaskType, metric_label, primary_metric, task_type
from .ranking import (
    EXPORT_COLUMNS,
    HEAD,
    RANDOM,
    RUN_COUNTS,
    SEED_FOLD_COLUMN,
    TRAINED,
    TRAINED_FLAGS,
    comparison,
    describe,
    rank_correlation,
    trained_backend_for,
)
from .significance import (
    ALPHA,
    GROUP_COLUMNS,
    OTHER_FOLDS,
    ROW_COLUMNS,
    compare_pair,
    leaderboard_statistics,
    settled,
    wilcoxon_name,
)

log = logging.getLogger(__name__)
STAT_COLUMNS = (*ROW_COLUMNS, *GROUP_COLUMNS)
FORMATS = ("md", "csv", "json")
DECIMALS = 4


def fold_column(metric: str) -> str:
    """The column listing a row's per-fold means of ``metric`` (``fold_accuracies`` for accuracy, as ever)."""
    return "fold_accuracies" if metric == "accuracy" else f"fold_{metric}"


def columns_for(task: TaskType) -> list[str]:
    """A leaderboard's columns: named after its task type's metrics, the primary one ranked on."""
    p, others = task.primary, task.metrics[1:]
    return ["rank", "dataset", "frontend", "input", "width", "weights", "backend", "dim", "params", "macs",
            f"{p}_mean", f"{p}_std", f"{p}_ci95", "seed_std", *(f"{m}_mean" for m in others),
            "n_seeds", "n_folds", fold_column(p), SEED_FOLD_COLUMN, "embed_ms_per_clip", "timing_device",
            "timing_threads", "skipped", "partial_copy", "data", "grid_edge",
            "not_converged", "selected_elsewhere", "copy_of", *STAT_COLUMNS, *EXPORT_COLUMNS]


COLUMNS = columns_for(TASK_TYPES["multiclass"])


def _row(records: list[ResultRecord], task: TaskType, known: Trainings | None = None) -> dict:
    """The figures of one leaderboard row (its front-end as shown is set by :func:`build`); ``known``: the trainings
    of every record of the table (:func:`known_trainings`)."""
    first, p = records[0], task.primary
    per_seed = np.array([[f[p] for f in r.folds] for r in records])  # (seeds, folds)
    seed_means = per_seed.mean(axis=1)
    n = len(seed_means)
    ci = float(stats.t.ppf(0.975, n - 1) * seed_means.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    fe, device = first.frontend, timing_device(records)
    return {
        "dataset": first.dataset["key"], "frontend": fe["name"], "input": fe["input_kind"], "width": fe["width"],
        "weights": fe["weights"], "backend": first.backend["name"],
        "dim": fe["feature_dim"], "params": fe["params"], "macs": fe.get("macs_per_second", np.nan),
        f"{p}_mean": float(per_seed.mean()),
        f"{p}_std": float(per_seed.std()) if per_seed.size > 1 else float("nan"), f"{p}_ci95": ci,  # one score: no spread
        "seed_std": float(seed_means.std(ddof=1)) if n > 1 else float("nan"),
        **{f"{m}_mean": float(np.mean([[f[m] for f in r.folds] for r in records])) for m in task.metrics[1:]},
        "n_seeds": n, "n_folds": per_seed.shape[1],
        fold_column(p): " ".join(f"{a:.{DECIMALS}f}" for a in per_seed.mean(axis=0)),
        SEED_FOLD_COLUMN: per_seed.round(6).tolist(),
        "embed_ms_per_clip": (float("nan") if device.startswith("mixed") else
                              1000 * float(np.mean([r.timings["embed_seconds_per_clip"] for r in records]))),
        "timing_device": device,
        "timing_threads": timing_threads(records),
        "skipped": max(len(r.dataset["skipped"]) for r in records),  # the seed that left out most
        # what the Markdown's notes say of a row, in the row itself (a CSV has no notes): a partial copy's gaps, and
        # a digest of the clips, protocol and outer folds scored (rows of two digests are not comparable)
        "partial_copy": " | ".join(sorted({partial_line(r.dataset.get("info") or {}) for r in records} - {""})),
        "data": " ".join(dict.fromkeys(content_key({"data": data_of(r)})[:12] for r in records)),
        "not_converged": not_converged(records, known),
        "selected_elsewhere": selected_elsewhere(records, known),
        "grid_edge": grid_edge_flag(records),  # e.g. "C high 5/5": a setting at its grid's edge in > half the folds
    }


def timing_device(records: list[ResultRecord]) -> str:
    """Where a row's ``embed_ms_per_clip`` was measured; ``mixed (cpu ×1, cuda ×1)`` when its seeds ran on different
    devices, whose times cannot be averaged (the row's time is then left blank, not a mean of the two)."""
    return devices_label(r.device for r in records)


def timing_threads(records: list[ResultRecord]) -> str:
    """The torch threads a row's times were measured with (``"2"``; ``"1+2"`` when its seeds differ), ``""`` where
    its results do not say (before this was recorded)."""
    known = {int(r.timings["torch_threads"]) for r in records if r.timings.get("torch_threads") is not None}
    return "+".join(str(n) for n in sorted(known))


def timing_note(rows: pd.DataFrame) -> str:
    """One dataset's caveat on its ms/clip column, or ``""``: what a head row's time measures when the table also
    has embedding rows, and which devices the times come from when there are several (times on a GPU and on a
    CPU are not comparable)."""
    parts = []
    if (rows["backend"] == HEAD).any() and (rows["backend"] != HEAD).any():
        parts.append("a head row times its trained network's forward pass on decoded test clips, the other rows "
                     "the embedding stage (decoding and resampling included)")
    if several_devices(rows):
        devices = Counter(rows["timing_device"])
        counted = ", ".join(f"{device} ({n} row{'s' * (n > 1)})" for device, n in sorted(devices.items()))
        parts.append(f"measured on more than one device: {counted}; compare times within one device only")
    threads = Counter(t for t in rows.get("timing_threads", pd.Series(dtype=str)) if t)
    if len(threads) > 1:  # a Dask task embeds with its share of the cores; OMP_NUM_THREADS sets others
        counted = ", ".join(f"{t} ({n} row{'s' * (n > 1)})" for t, n in sorted(threads.items()))
        parts.append(f"measured with different torch thread counts: {counted}; compare times at one count only")
    return f"ms/clip: {'; '.join(parts)}." if parts else ""


Trainings = dict[tuple, dict]  # weights_key → the per-fold training records of those weights


def weights_key(r: ResultRecord) -> tuple | None:
    """What names one training's weights: dataset, front-end, width, weight tag, seed and every fold's sha256 (None
    for weights not trained per fold)."""
    fe = r.frontend
    if fe.get("weights") not in FOLD_TAGS or not isinstance(fe.get("weights_sha256"), dict):
        return None
    return r.dataset["key"], fe["name"], fe.get("width"), fe["weights"], r.seed, tuple(sorted(fe["weights_sha256"].items()))


def known_trainings(records: Iterable[ResultRecord]) -> Trainings:
    """The per-fold training records of every training among ``records``, by :func:`weights_key`: a row on trained
    features written before its result carried them takes its head's (the same weights files)."""
    out: Trainings = {}
    for r in records:
        folds = (r.training or {}).get("folds") or r.frontend.get("training")
        if folds and (key := weights_key(r)) is not None:
            out.setdefault(key, folds)
    return out


def fold_trainings(records: list[ResultRecord], known: Trainings | None = None) -> list[tuple[str, dict]]:
    """Each (fold, its training record) of every seed: the head's own or, for a row on trained features, its weights'
    (from ``known`` where its result does not carry them)."""
    def folds_of(r: ResultRecord) -> dict:
        own = (r.training or {}).get("folds") or r.frontend.get("training")
        return own or (known or {}).get(weights_key(r) or (), {})

    return [(name, f) for r in records for name, f in folds_of(r).items() if isinstance(f, dict)]


def not_converged(records: list[ResultRecord], known: Trainings | None = None) -> str:
    """Trained rows: ``"3/10"`` folds × seeds whose best epoch sat near the epoch cap (``rwbench train`` flags them
    ``not_converged``; the row is reported, never silently); empty for other rows or when none was flagged."""
    folds = fold_trainings(records, known)
    flagged = sum(bool(f.get("not_converged")) for _, f in folds)
    return f"{flagged}/{len(folds)}" if flagged else ""


def selected_elsewhere(records: list[ResultRecord], known: Trainings | None = None) -> str:
    """Trained rows: ``"8/10"`` folds × seeds whose learning rate and dropout were chosen on another outer split's
    inner validation part (``--select-on first-fold``), a part that may hold clips of their own test side; empty
    when every fold chose on its own split."""
    folds = fold_trainings(records, known)
    elsewhere = sum(f.get("chosen_on") not in (None, name) for name, f in folds)
    return f"{elsewhere}/{len(folds)}" if elsewhere else ""


def task_of_records(records: list[ResultRecord]) -> TaskType:
    """The one task type of ``records``; a clear error when they mix task types (one table holds one)."""
    kinds: dict[str, set[str]] = {}
    for r in records:
        kinds.setdefault(task_of(r).name, set()).add(r.dataset["key"])
    if len(kinds) > 1:
        listed = "; ".join(f"{kind}: {', '.join(sorted(keys))}" for kind, keys in sorted(kinds.items()))
        raise RwbenchError(f"these results mix task types ({listed}); a table ranks one metric, so pick one with "
                           f"--task-type {'|'.join(sorted(kinds))}")
    return task_type(next(iter(kinds), "multiclass"))


def rows_of_records(records: Iterable[ResultRecord]) -> dict[RowKey, list[ResultRecord]]:
    """Result records grouped into leaderboard rows: :class:`RowKey` (dataset, front-end as shown, width, weights,
    backend), a tuple. A row whose seeds were scored on different outer folds is an error: they cannot be averaged."""
    rows: dict[RowKey, list[ResultRecord]] = {}
    for r in records:
        rows.setdefault(RowKey.of(r), []).append(r)
    for key, group in rows.items():
        if len({tuple(f["name"] for f in r.folds) for r in group}) > 1:
            seeds = "; ".join(f"seed {r.seed}: {len(r.folds)} folds, {data_of(r)}" for r in group)
            raise RwbenchError(f"{key.dataset} {key.frontend} ({key.weights}, {key.backend}): its seeds were scored on "
                               f"different outer folds ({seeds}); rerun the row on one protocol")
        if len({_clips_and_protocol(r) for r in group}) > 1:  # one mean of a refit on 18 clips and one on 40
            seeds = "; ".join(f"seed {r.seed}: {_clips_and_protocol(r)}" for r in group)
            raise RwbenchError(f"{key.dataset} {key.frontend} ({key.weights}, {key.backend}): its seeds were scored on "
                               f"different clips or protocols ({seeds}; they differ in {differences(group)}); a row "
                               "averages seeds of one: rerun the row on one protocol")
    return {key: sorted(group, key=lambda r: r.seed) for key, group in rows.items()}


def copies_of(groups: dict[RowKey, list[ResultRecord]]) -> dict[RowKey, RowKey]:
    """Rows that repeat another row under another width label — seed by seed the same run key (everything that
    determines a result but the label: a front-end without weights run at ``small`` and ``paper``, or ``--width 32``
    where ``small`` is 32 filters), data and fold scores — each mapped to the row it repeats (``small`` first, then
    ``paper``, then counts), so that the tests count their scores once. Rows without stored embedding keys (trained
    heads) are never copies."""
    def signature(key: RowKey, records: list[ResultRecord]) -> tuple | None:
        if any(r.frontend.get("embedding_key") is None for r in records):
            return None
        primary = task_of(records[0]).primary
        return (key.dataset, key.frontend, key.weights, key.backend, frozenset(
            (r.seed, r.run_key, data_of(r), tuple((f["name"], f[primary]) for f in r.folds)) for r in records))
    first: dict[tuple, RowKey] = {}
    copies = {}
    for key in sorted(groups, key=lambda k: (k.width != "small", k.width != "paper", k.width)):
        sig = signature(key, groups[key])
        if sig is not None and (kept := first.setdefault(sig, key)) != key:
            copies[key] = kept
    return copies


OTHER_DATA = "other data"  # test_vs_best of a row on other clips or another protocol than its group's: in no test


def other_data(groups: dict[RowKey, list[ResultRecord]]) -> set[RowKey]:
    """The rows scored on other clips or another protocol than most rows of their dataset and backend (ties: the
    first row's): their fold k holds other test clips than the others' fold k of the same name, so, like rows on
    other folds, they share no block with them and are left out of the tests (a partial copy beside the full data)."""
    data = {key: _clips_and_protocol(records[0]) for key, records in groups.items()}
    counts: dict[tuple[str, str], Counter] = {}
    for key, made_on in data.items():
        counts.setdefault((key.dataset, key.backend), Counter())[made_on] += 1
    shared = {group: max(seen, key=lambda d: seen[d]) for group, seen in counts.items()}  # max: the first of a tie
    return {key for key, made_on in data.items() if made_on != shared[(key.dataset, key.backend)]}


def build(records: Iterable[ResultRecord], regime: str = "auto") -> pd.DataFrame:
    """The leaderboard table of ``records`` (one task type): columns :func:`columns_for`, sorted by dataset then
    rank on the task's primary metric. ``regime``: which blocks the significance tests use (folds, clips, or
    auto: folds for k-fold protocols, clips for single splits; :mod:`rwbench.analysis.significance`)."""
    records = list(records)
    task = task_of_records(records)
    columns, p = columns_for(task), task.primary
    groups = rows_of_records(records)
    if not groups:
        return pd.DataFrame(columns=columns)
    known = known_trainings(records)
    table = pd.DataFrame([{**_row(g, task, known), "frontend": key[1]} for key, g in groups.items()])
    # the mean rounded as significance rounds fold scores: equal means summed in another order tie in rank and show
    # the same digits (0.8175000000000001 and 0.8174999999999999 are one mean)
    table[f"{p}_mean"] = settled(table[f"{p}_mean"])
    table["rank"] = table[f"{p}_mean"].groupby(table["dataset"]).rank(ascending=False, method="min").astype(int)
    copies = copies_of(groups)  # tested once: a copy takes the figures of the row it repeats
    apart = other_data({k: g for k, g in groups.items() if k not in copies})
    statistics = leaderboard_statistics({k: g for k, g in groups.items() if k not in copies and k not in apart}, regime)
    for key in apart:  # its own interval; the group's blocks and tests, in none of them
        group = next(statistics[k] for k in statistics if (k.dataset, k.backend) == (key.dataset, key.backend))
        statistics[key] = {**leaderboard_statistics({key: groups[key]}, regime)[key],
                           **{c: group[c] for c in GROUP_COLUMNS}, "vs_best": "untested", "test_vs_best": OTHER_DATA}
    statistics |= {copy: statistics[kept] for copy, kept in copies.items()}
    for column in STAT_COLUMNS:  # table rows are still in the order of ``groups``
        table[column] = [statistics[key][column] for key in groups]
    table["copy_of"] = [f"{kept.frontend} ({kept.width})" if (kept := copies.get(key)) else "" for key in groups]
    table = table.sort_values(["dataset", "rank", "frontend", "backend"], kind="stable").reset_index(drop=True)
    table = table[columns[:-len(EXPORT_COLUMNS)]]
    table = with_correlation_columns(table, rank_correlation(table))
    table.loc[table["weights"] != RANDOM, list(EXPORT_COLUMNS)] = np.nan  # the figures belong to random rows only
    # full precision: each view rounds once (Markdown and summary formats, the report; CSV/JSON via _rounded), so
    # that a std of 0.05154 is never 0.0515 first and then 0.051
    return table[columns].reset_index(drop=True)


P_VALUES = ("p_vs_best", "least_p", "friedman_p", "rank_corr_spearman_p", "rank_corr_kendall_p",
            "rank_corr_spearman_p_holm", "rank_corr_kendall_p_holm")


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Figures to :data:`DECIMALS` places; p-values to 4 significant digits (a tiny p must not print as 0)."""
    p_columns = [c for c in P_VALUES if c in table.columns]
    out = table.copy()
    for column in table.columns:  # each value as the Markdown prints it (DataFrame.round gives 0.7912 for 0.79125)
        if column in p_columns or pd.api.types.is_float_dtype(table[column]):
            shape = ".4g" if column in p_columns else f".{DECIMALS}f"
            out[column] = [float(f"{v:{shape}}") if isinstance(v, float) and np.isfinite(v) else v
                           for v in table[column]]
    return out


def with_correlation_columns(rows: pd.DataFrame, correlations: pd.DataFrame) -> pd.DataFrame:
    """``rows`` plus the ``rank_corr_*`` columns of their (dataset, backend) from ``correlations`` (NA where none)."""
    figures = correlations.rename(columns={v: k for k, v in EXPORT_COLUMNS.items()})
    merged = rows.merge(figures[["dataset", "backend", *EXPORT_COLUMNS]], on=["dataset", "backend"], how="left")
    merged.index = rows.index
    merged["rank_corr_n"] = merged["rank_corr_n"].astype("Int64").mask(merged["rank_corr_n"] == 0)  # none: blank
    return merged


def read_results(results_dir: Path, *, strict: bool = False) -> tuple[list[ResultRecord], list[tuple[str, str]]]:
    """Every valid result under ``results_dir``, and the files left out as (path, problem) (with ``strict``, a
    malformed file is an error instead)."""
    if Path(results_dir).is_file():
        raise RwbenchError(f"results folder {str(results_dir)!r} is a file, not a folder")
    if not Path(results_dir).is_dir():
        raise RwbenchError(f"results folder {str(results_dir)!r} does not exist; run `rwbench run` first")
    folder = Path(results_dir)
    if not any((folder / part).is_dir() for part in ("runs", "search", "reproduce")):  # not a results folder
        hint = (f": it is a results folder's runs/ itself; pass --results {folder.parent}" if folder.name == "runs"
                else f"; the results are perhaps in {folder / 'results'} (--results {folder / 'results'})"
                if (folder / "results" / "runs").is_dir() else "; run `rwbench run` with this --results first")
        raise RwbenchError(f"{str(results_dir)!r} holds no results (no runs/ folder){hint}")
    invalid: list[tuple[str, str]] = []
    return list(iter_results(results_dir, strict=strict, invalid=invalid)), invalid


def mixed_trainings(records: list[ResultRecord]) -> list[str]:
    """One line per network whose rows with per-fold weights (``trained``: the head and each backend on its
    features) were not all computed from the same weights files: a row made before the last training is stale."""
    made: dict[tuple, dict[tuple, list[str]]] = {}
    for r in records:
        if (key := weights_key(r)) is not None:
            made.setdefault(key[:5], {}).setdefault(key[5], []).append(r.backend["name"])
    lines = []
    for (dataset, name, width, weights, seed), versions in made.items():
        if len(versions) > 1:
            parts = sorted(f"{', '.join(sorted(backends))} from weights {files[0][0]} {files[0][1][:12]}…"
                           for files, backends in versions.items())
            lines.append(f"{dataset} {name} ({weights}, width {width}, seed {seed}): {'; '.join(parts)}")
    return lines


def data_of(record: ResultRecord) -> str:
    """The data a result was computed on: its clips' fingerprint (ids, labels, audio) and its protocol, named by its
    id and a hash of its whole description (k, seed and fold assignment: one id may split the clips differently),
    and the outer folds it scored, by name (rows on folds 1-4 and 2-5 hold as many, and are not comparable)."""
    return f"{_clips_and_protocol(record)}, outer fold(s) {' '.join(str(f['name']) for f in record.folds)} scored"


def protocol_of(record: ResultRecord) -> dict:
    """The protocol a result was scored on. The study's protocol (``--protocol published``) refits a fixed split on
    train alone, which its rows before session 27 recorded as the dataset's refit: read as the "train" it was."""
    protocol = record.dataset.get("protocol") or {}
    if (str(protocol.get("evaluation", "")).startswith("published") and protocol.get("kind") == "fixed_split"
            and "refit" in protocol):
        return {**protocol, "refit": "train"}
    return protocol


def _clips_and_protocol(record: ResultRecord) -> str:
    protocol = protocol_of(record)
    return f"clips {record.dataset.get('fingerprint')}, protocol {protocol.get('id', '?')} #{content_key(protocol)[:8]}"


def differences(records: Iterable[ResultRecord]) -> str:
    """What the data of ``records`` differ in: "clips" (their fingerprints) and the protocol's fields (refit, k,
    seed, folds …), named so that a reader sees it, not only two hashes."""
    records = list(records)
    protocols = [protocol_of(r) for r in records]
    fields = sorted(k for k in {k for p in protocols for k in p} if len({content_key({"v": p.get(k)}) for p in protocols}) > 1)
    clips = ["clips"] if len({r.dataset.get("fingerprint") for r in records}) > 1 else []
    folds = ["outer folds scored"] if len({tuple(f["name"] for f in r.folds) for r in records}) > 1 else []
    return ", ".join(clips + [f"protocol {k}" for k in fields] + folds) or "nothing recorded"


def evaluated_by(record: ResultRecord) -> str:
    """How a result's backend was set up: its grid (name, or a hash of its values) and version."""
    backend = record.backend
    grid = backend.get("grid_name") or content_key({"grid": backend.get("grid")})[:8]
    return f"grid {grid}, version {backend.get('version')}"


def built_by(records: list[ResultRecord]) -> list[str]:
    """The network each result's embeddings came from, as far as every one of ``records`` recorded it: its version
    (and plugin code; results made before the ``network`` field have only the next two), parameter count and
    feature dimension."""
    networks = [r.frontend.get("network") for r in records]
    known = all(networks)

    def one(record: ResultRecord, network: dict | None) -> str:
        code = f", code {network['code'][:8]}" if known and network and network.get("code") else ""
        version = f"version {network['version']}{code}, " if known and network else ""
        return f"{version}{record.frontend.get('params')} params, dim {record.frontend.get('feature_dim')}"

    return [one(r, n) for r, n in zip(records, networks)]


def mixed_data(groups: dict[RowKey, list[ResultRecord]]) -> list[str]:
    """One line per dataset whose rows were computed on different clips, protocols or numbers of outer folds, and one
    per row whose seeds were evaluated differently (grid, backend version) or computed by different networks (an
    edited plugin, a front-end's new version): rows, or seeds, that are not comparable (rerun the stale ones)."""
    versions: dict[str, dict[str, list[str]]] = {}
    examples: dict[str, list[ResultRecord]] = {}  # per dataset, one record of each data version
    backends: dict[tuple[str, str], dict[str, list[str]]] = {}  # rows one backend's tests rank against each other
    lines = []
    for key, records in groups.items():
        for record in records:
            seen, data = versions.setdefault(key.dataset, {}), data_of(record)
            if data not in seen:
                examples.setdefault(key.dataset, []).append(record)
            seen.setdefault(data, []).append(f"{key.frontend} {key.weights} {key.backend} seed {record.seed}")
        if len(set(networks := built_by(records))) > 1:
            lines.append(f"{key.dataset}: {key.frontend} {key.weights} {key.backend}: its seeds were computed by "
                         "different networks (" + "; ".join(f"seed {r.seed}: {n}" for r, n in zip(records, networks))
                         + ")")
        setups = {evaluated_by(r) for r in records}
        if len(setups) > 1:
            lines.append(f"{key.dataset}: {key.frontend} {key.weights} {key.backend}: its seeds were evaluated "
                         "differently (" + "; ".join(f"seed {r.seed}: {evaluated_by(r)}" for r in records) + ")")
        if len(setups) == 1:  # (a row whose seeds differ is named above)
            backends.setdefault((key.dataset, key.backend), {}).setdefault(next(iter(setups)), []).append(
                f"{key.frontend} {key.weights}")
    for dataset, by_data in versions.items():
        if len(by_data) > 1:
            parts = (f"{data}: {len(rows)} result(s), e.g. {rows[0]}" for data, rows in
                     sorted(by_data.items(), key=lambda item: -len(item[1])))
            lines.append(f"{dataset}: {'; '.join(parts)} (they differ in {differences(examples[dataset])})")
    for (dataset, backend), by_setup in backends.items():
        if len(by_setup) > 1:  # its rows' ranks, Friedman and Wilcoxon tests set other grids or code side by side
            parts = (f"{setup}: {len(rows)} row(s), e.g. {rows[0]}" for setup, rows in
                     sorted(by_setup.items(), key=lambda item: (-len(item[1]), item[0])))
            lines.append(f"{dataset}: {backend}'s rows were evaluated differently: {'; '.join(parts)}")
    return lines


def table_of(records: list[ResultRecord], invalid: Sequence[tuple[str, str]] = (), regime: str = "auto") -> pd.DataFrame:
    """The leaderboard of ``records``; ``attrs["skipped"]`` maps each dataset to the clips its results left out
    (shown as a note under its Markdown table), ``attrs["invalid"]`` lists the result files left out,
    ``attrs["mixed_trainings"]`` the networks whose trained rows come from different trainings, ``attrs["mixed_data"]``
    the datasets whose results were computed on different clips or protocols (both warned of)."""
    mixed = mixed_trainings(records)
    if mixed:
        log.warning("%d network(s) have trained rows computed from different trainings' weights; the rows made "
                    "before the last `rwbench train` are stale: rerun `rwbench run --weights trained` for them (it "
                    "recomputes what the present weights change):\n  %s", len(mixed), "\n  ".join(mixed))
    mixed_inputs = mixed_data(rows_of_records(records))
    if mixed_inputs:
        log.warning("results computed on different clips or protocols share a table, and their rows are not "
                    "comparable: rerun the stale ones on the present data:\n  %s", "\n  ".join(mixed_inputs))
    table = build(records, regime)
    skipped: dict[str, dict[str, str]] = {}
    for r in records:
        for item in r.dataset["skipped"]:
            skipped.setdefault(r.dataset["key"], {})[item["clip"]] = item["reason"]
    table.attrs["skipped"] = skipped
    table.attrs["tags_left_out"] = tags_left_out(records)
    table.attrs["partial_copies"] = partial_copies(records)
    if table.attrs["partial_copies"]:
        log.warning("results computed on a partial copy of a dataset (--partial), whose scores are not the dataset's:"
                    "\n  %s", "\n  ".join(f"{d}: {'; '.join(lines)}" for d, lines in table.attrs["partial_copies"].items()))
    table.attrs["invalid"] = list(invalid)
    table.attrs["mixed_trainings"] = mixed
    table.attrs["mixed_data"] = mixed_inputs
    return table


def load(results_dir: Path, *, strict: bool = False, task: str | None = None,
         datasets: Iterable[str] | None = None, regime: str = "auto") -> pd.DataFrame:
    """The leaderboard of every valid result under ``results_dir`` (a malformed file is skipped with a
    warning, or an error when ``strict``): :func:`table_of` :func:`read_results`, cut to the results of task type
    ``task`` and of the dataset keys ``datasets`` when given."""
    records, invalid = read_results(results_dir, strict=strict)
    if task is not None:
        task_type(task)  # an unknown name is an error, not an empty table
        present = sorted({task_of(r).name for r in records})
        records = [r for r in records if task_of(r).name == task]
        if not records and present:
            raise RwbenchError(f"no result of task type {task} under {results_dir} (its results are of "
                               f"{', '.join(present)}: --task-type {present[0]})")
    if datasets is not None:
        keys = set(datasets)
        records = [r for r in records if r.dataset["key"] in keys]
    table = table_of(records, invalid, regime)
    table.attrs["results"] = str(results_dir)
    return table


def to_markdown(table: pd.DataFrame, columns: str | None = None) -> str:
    """One section per dataset/task, each a pipe table with every column (or the comma-separated ``columns``);
    under it the significance tests and, when the dataset has trained rows, the rank correlation of random-weight
    and trained accuracy per random backend, both computed from the whole table whatever columns are shown."""
    def view(rows: pd.DataFrame) -> pd.DataFrame:
        shown = select(rows, columns) if columns else rows
        return structured_as_json(shown.drop(columns=["dataset", SEED_FOLD_COLUMN], errors="ignore"))
    return _sections(table, view, extra=_notes(table))


def correlation_lines(table: pd.DataFrame, dataset: str) -> list[str]:
    """The ρ/τ line of each random backend of ``dataset`` when it has trained rows (else none)."""
    if not ((table["dataset"] == dataset) & (table["weights"] == TRAINED)).any():
        return []
    correlations = rank_correlation(table[table["dataset"] == dataset])
    return [describe(row) for _, row in correlations.iterrows()]


def correlation_heading(metric: str = "accuracy") -> str:
    return (f"Rank correlation of {RANDOM}-weight and {TRAINED} ({trained_backend_for(TRAINED)}) {metric_label(metric)}, "
            "over the front-ends with both:")


def _correlation_note(table: pd.DataFrame):
    """``dataset -> text``: the ρ/τ lines printed under a dataset's table when it has trained rows."""
    def note(dataset: str) -> str:
        lines = correlation_lines(table, dataset)
        heading = correlation_heading(primary_metric(table))
        return f"\n{heading}\n" + "".join(f"- {line}\n" for line in lines) if lines else ""
    return note


def to_summary(table: pd.DataFrame) -> str:
    """The Markdown tables cut to what a reader scans first (``rwbench run`` prints this); the width, a row's copy
    and the trained rows that chose elsewhere where a dataset has them (else two widths read as one label)."""
    def compact(rows: pd.DataFrame) -> pd.DataFrame:
        widths = ["width"] if rows["width"].nunique() > 1 else []
        view = rows[["rank", "frontend", *widths, "input", "weights", "backend", "dim", "params"]].rename(
            columns={"rank": "rank (all backends)"})
        p = primary_metric(rows)
        view[metric_label(p)] = [f"{m:.3f}" + (f" ± {s:.3f}" if np.isfinite(s) else "")  # one score: no spread
                                 for m, s in zip(rows[f"{p}_mean"], rows[f"{p}_std"])]
        view["95% CI"] = ["" if pd.isna(lo) else f"{lo:.3f}–{hi:.3f}" for lo, hi in zip(rows["ci_low"], rows["ci_high"])]
        view["± seeds"] = ["" if np.isnan(c) else f"±{c:.3f}" for c in rows[f"{p}_ci95"]]
        if (second := SECOND_HEADLINE.get(p)) and f"{second[0]}_mean" in rows:
            view[second[1]] = [f"{m:.3f}" for m in rows[f"{second[0]}_mean"]]
        if any(flags := data_cells(rows)):  # rows on a partial copy, or on other data than most: named in the row
            view.insert(list(view.columns).index("backend") + 1, "data", flags)
        view["folds"] = rows[fold_column(p)]
        view["seeds"] = rows["n_seeds"]
        view["avg rank (backend)"] = ["" if pd.isna(r) else f"{r:.2f}" for r in rows["avg_rank"]]
        view["vs best (backend)"] = [versus_best(row) for _, row in rows.iterrows()]
        view["ms/clip"] = ms_per_clip_cells(rows)
        view["grid edge"] = rows["grid_edge"].map(grid_edge_cell)
        view["not converged"] = rows["not_converged"].fillna("")
        for column in ("selected_elsewhere", "copy_of"):  # named by the notes below the table
            if (rows[column].fillna("") != "").any():
                view[column.replace("_", " ")] = rows[column].fillna("")
        return view
    return _sections(table, compact, extra=_notes(table), numparse=False)


def data_cells(rows: pd.DataFrame) -> list[str]:
    """Per row of one dataset, what its data was where it differs from the rest: ``partial copy`` (``--partial``),
    ``other data`` and its ``data`` digest (other clips, protocol or outer folds than most of the dataset's rows;
    ties: the rows on whole data); empty otherwise. The notes under the table say more of each."""
    partial = (rows["partial_copy"].fillna("") != "").to_numpy()
    data = rows["data"].to_numpy()
    counts = Counter(data)
    shared = max(counts, key=lambda d: (counts[d], -int(partial[data == d].sum())))  # max: the first of a tie
    return ["; ".join([*(["partial copy"] if p else []), *([f"other data {d}"] if d != shared else [])])
            for p, d in zip(partial, data)]


def grid_edge_cell(flag) -> str:
    """A ``grid_edge`` flag as shown: ``C↑ 5/5`` for ``C high 5/5``."""
    return flag.replace(" high", "↑").replace(" low", "↓") if isinstance(flag, str) else ""


def ms_per_clip_cells(rows: pd.DataFrame) -> list[str]:
    """One dataset's ms/clip as shown: the device beside each time when the rows were timed on several."""
    several = several_devices(rows)
    return [ms_per_clip_cell(ms, device, several) for ms, device in zip(rows["embed_ms_per_clip"], rows["timing_device"])]


def several_devices(rows: pd.DataFrame) -> bool:
    """Whether one dataset's rows were timed on more than one device (their times then name it)."""
    return rows["timing_device"].nunique() > 1


def ms_per_clip_cell(ms: float, device: str, mixed_table: bool) -> str:
    if device.startswith("mixed"):
        return device  # its seeds' times were measured on different devices: no mean is shown
    return "" if pd.isna(ms) else f"{ms:.1f} {device}" if mixed_table else f"{ms:.1f}"


def versus_best(row: pd.Series) -> str:
    """``vs_best`` as shown: ``best`` for the best row of its backend; ``tied (p=…)`` when the Holm-corrected test
    against that row does not separate them, ``worse (p=…)`` when it does; ``untestable (p=…)`` when no
    Holm-corrected p below α was attainable (too few folds for the rows compared); ``untested`` when no test applies
    (see :mod:`rwbench.analysis.significance`)."""
    verdict = row["vs_best"] if isinstance(row["vs_best"], str) else ""
    # 3 significant digits: p = 0.0496 (worse) and 0.0504 (tied) both read 0.05 at 2
    return f"{verdict} (p={row['p_vs_best']:.3g})" if verdict in ("tied", "worse", "untestable") else verdict


def significance_lines(rows: pd.DataFrame) -> list[str]:
    """Per backend of one dataset's rows: its blocks, the tests run and what they can show."""
    return [significance_line(backend, group) for backend, group in rows.groupby("backend", sort=True) if len(group) > 1]


def repeated_rows(group: pd.DataFrame) -> tuple[int, str]:
    """How many of a backend group's rows repeat another row (:func:`copies_of`), and the words that name them."""
    copies = group[group["copy_of"] != ""]
    named = ", ".join(f"{r.frontend} ({r.width}) = {r.copy_of}" for r in copies.itertuples())
    return len(copies), (f"; {len(copies)} row(s) repeating another under another width, counted once (in the tests "
                         f"and in ρ): {named}" if len(copies) else "")


def rows_in_no_test(group: pd.DataFrame) -> tuple[int, str]:
    """How many of a backend group's rows the tests leave out (scored on other folds, or on other clips or another
    protocol: see "Not comparable"), and the words that name them."""
    reasons = {OTHER_FOLDS: "other folds", OTHER_DATA: "other clips or another protocol"}
    parts = [f"{len(names)} on {words}, in no test: {', '.join(names)}" for tag, words in reasons.items()
             if (names := group.loc[group["test_vs_best"] == tag, "frontend"].tolist())]
    return sum(group["test_vs_best"].isin(list(reasons))), "".join(f"; {part}" for part in parts)


def significance_line(backend: str, group: pd.DataFrame) -> str:
    first, n = group.iloc[0], int(group.iloc[0]["n_blocks"])
    n_copies, copies = repeated_rows(group)
    kinds = f"rows: {first['weight_kinds']}{copies}"
    n_outside, left = rows_in_no_test(group)
    if first["block_kind"] == "folds":
        tested = len(group) - n_outside - n_copies
        friedman = (f"Friedman χ² = {first['friedman_chi2']:.2f}, p = {first['friedman_p']:.3g}; "
                    if pd.notna(first["friedman_p"]) else
                    "Friedman undefined: every row ties in every fold; " if tested >= 3 else "")
        line = (f"{backend}: {tested} rows ({kinds}{left}) over {n} outer folds, each row's seeds averaged per fold; "
                f"{friedman}Nemenyi critical difference of average ranks {first['nemenyi_cd']:.2f} (α = 0.05); "
                f"'vs best': {wilcoxon_name(n)}, Holm-corrected")
        if first["least_p"] > ALPHA:
            line += (f". {n} folds cannot show a Holm-corrected p < {ALPHA:g} with Wilcoxon against the best for "
                     f"{tested - 1} other row(s) (least attainable p {first['least_p']:.3g}): 'untestable' rows are not "
                     "shown to be equal")
        return line
    untested = (group["test_vs_best"] == "no per-clip outputs").sum()
    tested = len(group) - n_outside - n_copies
    n_folds = int(group["n_folds"].max())
    split = "on a single split" if n_folds == 1 else f"on {n_folds} outer folds, tested over their clips"
    if n == 0:
        return (f"{backend}: {tested} rows ({kinds}{left}) {split}, none with per-clip outputs (results made "
                f"before they were stored): no paired test over clips can run, and one block allows no rank test")
    note = f"; {untested} row(s) without per-clip outputs are untested" if untested else ""
    if first["least_p"] > ALPHA:
        note += (f"; against {tested - 1} other rows no Holm-corrected p < {ALPHA:g} is attainable (least "
                 f"{first['least_p']:.3g}): 'untestable' rows are not shown to be equal")
    return (f"{backend}: {tested} rows ({kinds}{left}) {split}: paired tests over {n} test clips against "
            f"the best row (exact McNemar for one seed each, else a paired permutation test of seed-averaged "
            f"correctness; ROC-AUC: paired bootstrap), Holm-corrected; "
            f"{'no rank test over one block' if n_folds == 1 else 'no rank test (it ranks over folds: --test folds)'}"
            f"{note}")


def _significance_note(table: pd.DataFrame):
    """``dataset -> text``: :func:`significance_lines` under a dataset's table."""
    def note(dataset: str) -> str:
        lines = significance_lines(table[table["dataset"] == dataset])
        return "\nSignificance, per backend:\n" + "".join(f"- {line}\n" for line in lines) if lines else ""
    return note


def _warning_note(table: pd.DataFrame, attr: str, separator: str, heading: str):
    """``dataset -> text``: the lines of ``table.attrs[attr]`` about ``dataset`` (they start with the dataset key and
    ``separator``) under ``heading``; nothing when there are none."""
    def note(dataset: str) -> str:
        lines = [line for line in table.attrs.get(attr, []) if line.startswith(f"{dataset}{separator}")]
        return f"\n{heading}:\n" + "".join(f"- {line}\n" for line in lines) if lines else ""
    return note


def _comparability_notes(table: pd.DataFrame):
    """``dataset -> text``: its rows computed on different clips or protocols, or from different trainings."""
    parts = [_warning_note(table, "mixed_data", ": ", "Not comparable: these results were computed on different clips "
                           "or protocols; rerun the stale ones"),
             _warning_note(table, "mixed_trainings", " ", "Stale trained rows: these networks' rows were computed from "
                           "different trainings' weights; rerun `rwbench run --weights trained` for them")]
    return lambda dataset: "".join(part(dataset) for part in parts)


def _notes(table: pd.DataFrame):
    rows = lambda dataset: table[table["dataset"] == dataset]  # noqa: E731
    parts = [_paragraph(lambda d: partial_note(table, d)), _comparability_notes(table), _significance_note(table),
             _paragraph(lambda d: timing_note(rows(d))),
             _paragraph(lambda d: selection_note(rows(d))), _paragraph(lambda d: tags_note(table, d)),
             _correlation_note(table)]
    return lambda dataset: "".join(part(dataset) for part in parts)


def tags_left_out(records: Iterable[ResultRecord]) -> dict[str, dict[str, list[str]]]:
    """Per dataset, the tags some fold left out of its macro averages (no positive or no negative test clip, or no
    positive training clip) → those folds; empty for single-label results."""
    out: dict[str, dict[str, set[str]]] = {}
    for r in records:
        classes = r.dataset.get("classes") or []
        for fold in r.folds:
            for tag, value in enumerate(fold.get("per_tag_roc_auc") or []):
                if value is None:
                    name = classes[tag] if tag < len(classes) else f"tag {tag}"
                    out.setdefault(r.dataset["key"], {}).setdefault(name, set()).add(fold["name"])
    return {dataset: {tag: sorted(folds) for tag, folds in sorted(tags.items())} for dataset, tags in out.items()}


def partial_copies(records: Iterable[ResultRecord]) -> dict[str, list[str]]:
    """Per dataset, what its results' partial copies (``--partial``) lacked, as recorded in their dataset info: files
    missing, official folds or classes absent, test clips of a class their training side has not (always counted
    wrong). Empty for results on whole datasets."""
    out: dict[str, set[str]] = {}
    for r in records:
        if line := partial_line(r.dataset.get("info") or {}):
            out.setdefault(r.dataset["key"], set()).add(line)
    return {dataset: sorted(lines) for dataset, lines in sorted(out.items())}


def partial_line(info: dict) -> str:
    """One dataset info's partial-copy facts in a sentence; empty where there are none."""
    parts = []
    if partial := info.get("partial"):
        missing = partial.get("missing_examples") or []
        parts.append(f"{partial.get('present')} of {partial.get('listed')} listed clips present"
                     + (f" (missing e.g. {', '.join(missing[:3])})" if missing else ""))
    if folds := info.get("folds_absent"):
        parts.append(f"official fold(s) {', '.join(map(str, folds))} absent")
    if classes := info.get("classes_absent"):
        parts.append(f"class(es) {', '.join(map(str, classes))} absent")
    if untrained := info.get("untrained_test_clips"):
        parts.append("test clips of a class no training clip has, always counted wrong: " + ", ".join(
            f"{split} {v.get('clips')} ({', '.join(map(str, v.get('classes', [])))})" for split, v in untrained.items()))
    return "; ".join(parts)


def partial_note(table: pd.DataFrame, dataset: str) -> str:
    """The caveat of results on a partial copy of ``dataset``; empty if none."""
    lines = table.attrs.get("partial_copies", {}).get(dataset, [])
    if not lines:
        return ""
    return (f"Partial copy (--partial): {' | '.join(lines)}. These scores are not {dataset.split('/')[0]}'s under its "
            "protocol; compare them with published figures only after restoring the data.")


def tags_note(table: pd.DataFrame, dataset: str) -> str:
    """The caveat of macro averages taken over fewer than all tags in some folds; empty if none."""
    left_out = table.attrs.get("tags_left_out", {}).get(dataset, {})
    if not left_out:
        return ""
    listed = "; ".join(f"`{tag}` ({', '.join(folds)})" for tag, folds in left_out.items())
    return (f"Tags: the macro averages of some folds leave out {len(left_out)} tag(s) that fold cannot score (no "
            f"positive or no negative test clip, or no positive training clip): {listed}.")


def _paragraph(text_of):
    """``dataset -> text`` as a paragraph under that dataset's table (nothing where the text is empty)."""
    def note(dataset: str) -> str:
        text = text_of(dataset)
        return f"\n{text}\n" if text else ""
    return note


def selection_note(rows: pd.DataFrame) -> str:
    """The caveat of trained rows whose choices were made on another split (``selected_elsewhere``); empty if none."""
    flagged = int((rows["selected_elsewhere"].fillna("") != "").sum())
    if not flagged:
        return ""
    return (f"Selection: {flagged} trained row(s) chose their learning rate and dropout on the first outer split's "
            "inner validation part and reused the choice on the other folds (column selected elsewhere: folds × seeds), "
            "a part that may hold clips of those folds' test sides; `rwbench train --select-on every-fold` makes "
            "each fold's choice on its own split.")


def left_out_note(table: pd.DataFrame) -> str:
    """The result files that are in no table (not valid results: a NaN fold, a partial or repeated run), above the
    tables: a row, or a seed of one, missing without a word would read as a complete table."""
    invalid = table.attrs.get("invalid", [])
    lines = "".join(f"- {path}: {problem}\n" for path, problem in invalid)
    return f"Left out of every table: {len(invalid)} result file(s) that are not valid results:\n{lines}\n" if invalid else ""


def pipe_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``|`` in text cells escaped: a name holding one (a plugin's, a result file's) must not split a
    Markdown row and shift its numbers into other columns."""
    return frame.map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v)


def _sections(table: pd.DataFrame, view, extra=lambda dataset: "", numparse: bool = True) -> str:
    """``extra(dataset)`` is printed under that dataset's table; :func:`left_out_note` above them all."""
    if table.empty:
        return left_out_note(table) + "No results yet.\n"
    sections = []
    for dataset, rows in table.groupby("dataset", sort=True):
        shown = pipe_safe(view(rows))
        shown = shown.astype(object).where(shown.notna(), None)  # NaN (one seed: no CI) → blank
        floatfmt = [".4g" if c in P_VALUES else f".{DECIMALS}f" for c in shown.columns]  # a tiny p is not 0.0000
        body = tabulate(shown, headers="keys", tablefmt="pipe", showindex=False, floatfmt=floatfmt,
                        missingval="", disable_numparse=not numparse)
        skipped = table.attrs.get("skipped", {}).get(dataset, {})
        note = "".join(f"\n- skipped `{clip}`: {reason}" for clip, reason in sorted(skipped.items()))
        note = f"\nLeft out (--skip-bad-audio: unreadable or non-finite), {len(skipped)} clip(s):{note}\n" if skipped else ""
        sections.append(f"### {dataset}\n\n{body}\n{note}{extra(dataset)}")
    return left_out_note(table) + "\n".join(sections)


def select(table: pd.DataFrame, columns: str) -> pd.DataFrame:
    """``table`` cut to the comma-separated ``columns`` (``dataset`` kept: tables are per dataset); an unknown name
    is an error that lists the columns."""
    names = list(dict.fromkeys(c.strip() for c in columns.split(",") if c.strip()))  # a repeat shows once
    unknown = [c for c in names if c not in table.columns]
    if not names:
        raise RwbenchError(f"--columns {columns!r} names no column; columns: {', '.join(table.columns)}")
    if unknown:
        close = difflib.get_close_matches(unknown[0], table.columns, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RwbenchError(f"--columns: unknown column {unknown[0]!r}{hint}; columns: {', '.join(table.columns)}")
    out = table[["dataset", *[c for c in names if c != "dataset"]]]
    out.attrs = table.attrs
    return out


def structured_as_json(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every cell that holds a dict or list (``rank_corr_within_families``) as JSON text."""
    out = table.copy()
    for column in [c for c in out.columns if out[c].dtype == object]:  # dicts and lists (str columns are not)
        out[column] = [json.dumps(_finite_or_null(v), ensure_ascii=False) if isinstance(v, (dict, list)) else v
                       for v in out[column]]
    return out


def to_csv(table: pd.DataFrame) -> str:
    return structured_as_json(_rounded(table)).to_csv(index=False)


def to_json(table: pd.DataFrame) -> str:
    """``{"metadata": …, "rows": […]}``: the rows as the CSV has them (the per-fold column a list of numbers) and
    what produced them (rwbench version, commit, command, creation time, result files left out)."""
    # (NaN inside a dict or list: null); 15 places, not pandas' 10: a p of 2.5e-12 is not 0.0
    rows = json.loads(_rounded(table).to_json(orient="records", double_precision=15))
    for row in rows:
        for column in [c for c in row if c.startswith("fold_") and isinstance(row[c], str)]:
            row[column] = [float(v) for v in row[column].split()]
    return json.dumps({"metadata": metadata(table), "rows": rows}, indent=2, ensure_ascii=False) + "\n"


def metadata(table: pd.DataFrame) -> dict:
    return {"rwbench_version": __version__, "git_sha": git_sha(), "command": table.attrs.get("command"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": table.attrs.get("results"),
            "left_out": [{"file": path, "problem": problem} for path, problem in table.attrs.get("invalid", [])],
            "not_comparable": table.attrs.get("mixed_data", []),
            "partial_copies": table.attrs.get("partial_copies", {}),
            "tags_left_out": table.attrs.get("tags_left_out", {}),  # per dataset: tags a fold's macro averages left out
            "stale_trained_rows": table.attrs.get("mixed_trainings", [])}


EXPORTERS = {"md": to_markdown, "csv": to_csv, "json": to_json}


def export(table: pd.DataFrame, fmt: str, columns: str | None = None) -> str:
    """``table`` as ``fmt``, cut to the comma-separated ``columns`` when given (an unknown name is an error)."""
    if fmt not in EXPORTERS:
        raise RwbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if columns is None:
        return EXPORTERS[fmt](table)
    selected = select(table, columns)  # checks the names even when the Markdown cuts each section itself
    return to_markdown(table, columns) if fmt == "md" else EXPORTERS[fmt](selected)


# -- rwbench compare ------------------------------------------------------------------------------
def comparison_to_markdown(pairs: pd.DataFrame, correlations: pd.DataFrame, random: str = RANDOM,
                           trained: str = TRAINED, transfer: bool = False, notes=lambda dataset: "") -> str:
    """Per dataset and random backend, the two rankings side by side and the ρ/τ line under the table, then
    ``notes(dataset)``."""
    sections = []
    for _, corr in correlations.iterrows():
        rows = pairs[(pairs["dataset"] == corr.dataset) & (pairs["backend"] == corr.backend)]
        trained_side = f"{trained} ({trained_backend_for(trained, transfer) or corr['backend']})"
        metric = next(c.removeprefix("random_") for c in pairs.columns if c.startswith("random_") and c != "random_rank")
        label = metric_label(metric)
        flags = [f"trained_{flag}" for flag in TRAINED_FLAGS]
        view = rows.drop(columns=["dataset", "backend", *RUN_COUNTS, *flags]).rename(columns={
            f"random_{metric}": f"{random} {label}", "random_rank": f"{random} rank",
            f"trained_{metric}": f"{trained} {label}", "trained_rank": f"{trained} rank", "rank_diff": "rank diff"})
        for side, tag in (("random", random), ("trained", trained)):
            view[f"{tag} seeds × folds"] = [_runs(s, f) for s, f in zip(rows[f"{side}_seeds"], rows[f"{side}_n_folds"])]
        view["not converged"] = rows["trained_not_converged"].to_numpy()
        view["selected elsewhere"] = rows["trained_selected_elsewhere"].to_numpy()  # the leaderboard's flags
        view["grid edge"] = rows["trained_grid_edge"].map(grid_edge_cell).to_numpy()
        body = (tabulate(pipe_safe(view), headers="keys", tablefmt="pipe", showindex=False,
                         floatfmt=f".{DECIMALS}f") if len(rows) else f"No front-end has both {random} and {trained} results.")
        sections.append(f"### {corr['dataset']}: {random} ({corr['backend']}) vs {trained_side}\n\n{body}\n\n"
                        f"{describe(corr, random, trained)}\n{unconverged_line(rows)}{notes(corr['dataset'])}")
    return "\n".join(sections) if sections else "No results yet.\n"


# rwbench train's not_converged
UNCONVERGED = "folds × seeds whose best epoch sat within 10 % of the epoch cap or within the patience of it"


def unconverged_line(rows: pd.DataFrame) -> str:
    """The trained rows of a comparison that hold folds flagged ``not_converged``, named under its ρ line."""
    flagged = rows[rows["trained_not_converged"] != ""]
    if flagged.empty:
        return ""
    named = ", ".join(f"{r.frontend} {r.trained_not_converged}" for r in flagged.itertuples())
    return f"{len(flagged)} of {len(rows)} trained rows hold {UNCONVERGED} (not converged; raise `--epochs`): {named}\n"


def _runs(seeds, folds) -> str:
    return "?" if pd.isna(seeds) or pd.isna(folds) else f"{int(seeds)} × {int(folds)}"


def comparison_rows(pairs: pd.DataFrame, correlations: pd.DataFrame, random: str = RANDOM,
                    trained: str = TRAINED, transfer: bool = False) -> pd.DataFrame:
    """The CSV/JSON rows of ``rwbench compare``: the paired front-ends, the tags and backend compared, and
    the ``rank_corr_*`` figures of each row's dataset and backend."""
    rows = pairs.assign(random_weights=random, trained_weights=trained,
                        trained_backend=trained_backend_for(trained, transfer) or pairs["backend"])
    return with_correlation_columns(rows, correlations)


PAIR_DATA_COLUMNS = ("partial_copy", "data")  # each side's, from its leaderboard row (a CSV has no notes)


def with_data_columns(rows: pd.DataFrame, table: pd.DataFrame, random: str, trained: str,
                      trained_backend: str | None) -> pd.DataFrame:
    """``rows`` (pairs) with each side's :data:`PAIR_DATA_COLUMNS` (``random_partial_copy`` … ``trained_data``), read
    from its leaderboard row (``trained_backend`` None: the random side's backend), after the trained flags: a
    random row on a partial copy beside a trained row on the full data must be told apart in every row."""
    out = rows
    for side, tag, backend in (("random", random, None), ("trained", trained, trained_backend)):
        side_rows = table[table["weights"] == tag]
        on = ["dataset", "frontend", "width", "backend"]
        if backend is not None:
            side_rows, on = side_rows[side_rows["backend"] == backend], on[:-1]
        side_rows = side_rows[[*on, *PAIR_DATA_COLUMNS]].rename(columns={c: f"{side}_{c}" for c in PAIR_DATA_COLUMNS})
        out = out.merge(side_rows, on=on, how="left", validate="many_to_one")
    position = list(rows.columns).index(f"trained_{TRAINED_FLAGS[-1]}") + 1  # after the pair's own columns
    added = [f"{side}_{c}" for side in ("random", "trained") for c in PAIR_DATA_COLUMNS]
    order = [*rows.columns[:position], *added, *rows.columns[position:]]
    return out[order].fillna({c: "" for c in added})


def export_comparison(table: pd.DataFrame, fmt: str, random: str = RANDOM, trained: str = TRAINED,
                      backend: str | None = None, transfer: bool = False) -> str:
    """``rwbench compare``: the rankings of the ``random`` and ``trained`` weight tags side by side, as
    Markdown, CSV or JSON (one table per random backend unless ``backend`` picks one)."""
    if fmt not in EXPORTERS:
        raise RwbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    pairs, correlations = comparison(table, random, trained, backend, transfer)
    if fmt == "md":
        notes = [_paragraph(lambda d: partial_note(table, d)), _comparability_notes(table)]
        return left_out_note(table) + comparison_to_markdown(pairs, correlations, random, trained, transfer,
                                                             lambda dataset: "".join(n(dataset) for n in notes))
    rows = comparison_rows(pairs, correlations, random, trained, transfer)
    rows = with_data_columns(rows, table, random, trained, trained_backend_for(trained, transfer))
    rows.attrs = table.attrs  # the command, the results folder, the files left out
    return to_csv(rows) if fmt == "csv" else to_json(rows)


# -- rwbench compare A B ------------------------------------------------------------------------------
def _match(rows: dict[RowKey, list[ResultRecord]], spec: str, dataset: str) -> RowKey | None:
    """The one row of ``dataset`` that ``spec`` (``frontend[@width][:weights[:backend]]``) names; None if none does.
    A front-end name may hold colons itself (``logmel:5f65a9bd``): the longest front-end name of a row is taken."""
    width = None
    if "@" in spec.split(":")[0]:  # piczak@paper:trained:head: one width of a front-end run at several
        name, _, rest = spec.partition("@")
        width, colon, tail = rest.partition(":")
        spec = name + colon + tail
        if not width:
            raise RwbenchError(f"compare: a row's width follows '@' (e.g. piczak@paper:trained:head), got {spec!r}")
    parts = spec.split(":")
    if not parts[0] or "" in parts[:-2]:
        raise RwbenchError(f"compare: a row is FRONTEND[@WIDTH][:WEIGHTS[:BACKEND]] (e.g. piczak:random:svm), got "
                           f"{spec!r}")
    names = {key[1] for key in rows if key[0] == dataset}
    # after the front-end: weights (pretrained:STEM@SHA holds a colon) and backend
    split = next((k for k in range(len(parts), max(len(parts) - 4, 0), -1) if ":".join(parts[:k]) in names), None)
    after: list[str] = parts[split:] if split is not None else []
    if after[:1] == ["pretrained"] and len(after) > 1:  # the tag of --weights pretrained:PATH is pretrained:STEM@SHA
        after = [f"pretrained:{after[1]}", *after[2:]]
    if split is None or len(after) > 2:
        return None
    wanted = {"frontend": ":".join(parts[:split]), **dict(zip(("weights", "backend"), after))}
    found = [key for key in rows if key[0] == dataset and key[1] == wanted["frontend"] and width in (None, key[2])
             and wanted.get("weights", key[3]) in ("", key[3]) and wanted.get("backend", key[4]) in ("", key[4])]
    copies = copies_of({key: rows[key] for key in found})
    found = [key for key in found if key not in copies]  # a row repeated under another width label is one row
    if len(found) > 1:
        options = ", ".join(f"{k[1]}:{k[3]}:{k[4]} (width {k[2]})" for k in found)
        differ = [part for part, i in (("width", 2), ("weights", 3), ("backend", 4)) if len({k[i] for k in found}) > 1]
        raise RwbenchError(f"compare: {spec!r} matches {len(found)} rows of {dataset} ({options}); name one by its "
                           f"{' and '.join(differ)} (FRONTEND@WIDTH:WEIGHTS:BACKEND, e.g. "
                           f"{found[0][1]}{'@' + found[0][2] if 'width' in differ else ''}:{found[0][3]}:{found[0][4]})")
    return found[0] if found else None


def _row_label(key: RowKey, other: RowKey) -> str:
    """``frontend:weights:backend``, with ``@width`` where ``other`` is the same front-end at another width."""
    width = f"@{key[2]}" if key[1] == other[1] and key[2] != other[2] else ""
    return f"{key[1]}{width}:{key[3]}:{key[4]}"


def pair_comparisons(records: Iterable[ResultRecord], a: str, b: str, regime: str = "auto",
                     invalid: Sequence[tuple[str, str]] = ()) -> list[dict]:
    """The paired test of rows ``a`` and ``b`` (``FRONTEND[@WIDTH][:WEIGHTS[:BACKEND]]``) on every dataset that has both:
    one :func:`~rwbench.analysis.significance.compare_pair` dict per dataset, with its ``dataset``, ``a`` and ``b``,
    the seeds each row's means hold (``a_seeds``, ``b_seeds``) and the folder's result files left out as not valid
    (``left_out``: ``invalid``, (path, problem) pairs): a seed missing from a row is never missing unsaid."""
    records = list(records)
    rows, known = rows_of_records(records), known_trainings(records)
    out, same = [], []
    for dataset in sorted({key[0] for key in rows}):
        key_a, key_b = _match(rows, a, dataset), _match(rows, b, dataset)
        if key_a and key_a == key_b:
            same.append(dataset)
        if key_a and key_b and key_a != key_b:
            inputs = {_clips_and_protocol(record) for record in [*rows[key_a], *rows[key_b]]}
            if len(inputs) > 1:  # a paired test over clips of two different sets of clips pairs nothing real
                raise RwbenchError(f"compare: on {dataset}, {a!r} and {b!r} were computed on different clips or "
                                   f"protocols ({'; '.join(sorted(inputs))}); rerun the stale row")
            if differently := mixed_data({key_a: rows[key_a], key_b: rows[key_b]}):  # its seeds: other grids
                raise RwbenchError(f"compare: {'; '.join(differently)}; rerun the stale seeds")
            if stale := mixed_trainings([*rows[key_a], *rows[key_b]]):  # a head beside features of another training
                raise RwbenchError(f"compare: stale trained rows: {'; '.join(stale)}; rerun `rwbench run --weights "
                                   "trained` for them")
            out.append({"dataset": dataset, "a": _row_label(key_a, key_b),
                        "b": _row_label(key_b, key_a), **compare_pair(rows[key_a], rows[key_b], regime),
                        "a_seeds": sorted(r.seed for r in rows[key_a]), "b_seeds": sorted(r.seed for r in rows[key_b]),
                        "a_not_converged": not_converged(rows[key_a], known),
                        "b_not_converged": not_converged(rows[key_b], known),
                        "left_out": [{"file": path, "problem": problem} for path, problem in invalid]})
    if not out and same:
        raise RwbenchError(f"compare: {a!r} and {b!r} name one row (on {', '.join(same)}); compare it with another row")
    if not out:
        shown = sorted({f"{k[1]}:{k[3]}:{k[4]}" for k in rows})[:12]
        raise RwbenchError(f"compare: no dataset has both {a!r} and {b!r}; rows present include {', '.join(shown)}")
    return out


def export_pair(records: Iterable[ResultRecord], a: str, b: str, fmt: str, regime: str = "auto",
                invalid: Sequence[tuple[str, str]] = ()) -> str:
    """``rwbench compare A B``: the paired test of two rows on every dataset that has both (``invalid``: the result
    files left out, :func:`read_results`)."""
    if fmt not in EXPORTERS:
        raise RwbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = pair_comparisons(records, a, b, regime, invalid)
    if fmt in ("json", "csv"):  # the Markdown's figures: DECIMALS places, p-values 4 significant digits
        out = [_rounded_figures(o) for o in out]
    if fmt == "json":
        return json.dumps(_finite_or_null(out), indent=2, allow_nan=False) + "\n"
    if fmt == "csv":  # the seeds as text ("0 1"), the files left out as their count (the JSON lists them)
        return pd.DataFrame([{**{k: v for k, v in o.items() if not isinstance(v, list)},
                              "a_seeds": " ".join(map(str, o["a_seeds"])), "b_seeds": " ".join(map(str, o["b_seeds"])),
                              "left_out_files": len(o["left_out"])} for o in out]).to_csv(index=False)
    note = pd.DataFrame()
    note.attrs["invalid"] = list(invalid)
    return left_out_note(note) + "\n".join(_pair_markdown(o) for o in out)


PAIR_P_VALUES = ("p", "least_p")


def _rounded_figures(value, key: str = ""):
    """``value`` with each float (nested in lists and dicts) rounded as :func:`_rounded` rounds a table's."""
    if isinstance(value, dict):
        return {k: _rounded_figures(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded_figures(v, key) for v in value]
    if isinstance(value, float) and np.isfinite(value):
        return float(f"{value:.4g}") if key in PAIR_P_VALUES else round(value, DECIMALS)
    return value


def _finite_or_null(value):
    """``value`` with every NaN or infinite float (nested in lists and dicts) as None: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _pair_markdown(o: dict) -> str:
    head = f"### {o['dataset']}: {o['a']} vs {o['b']}\n\n"
    if not o["n_blocks"]:
        return head + "The two rows share no blocks (different folds).\n"
    body = tabulate([[blk, x, y, x - y] for blk, x, y in zip(o["blocks"], o["a_scores"], o["b_scores"])],
                    headers=["outer fold (seed mean)", o["a"], o["b"], "difference"], tablefmt="pipe", floatfmt=".4f")
    interval = ("" if o["bootstrap_ci_low"] is None else
                f"; bootstrap 95 % CI of the difference over {o['bootstrap_over']} [{o['bootstrap_ci_low']:+.4f}, "
                f"{o['bootstrap_ci_high']:+.4f}]")
    unit = "folds" if "over folds" in o["test"] else "clips"
    least = ("" if o["least_p"] is None or o["least_p"] <= ALPHA else
             f" (no p < {ALPHA:g} is attainable here: the test counts only the {unit} where the two rows differ; "
             f"the least attainable p is {o['least_p']:.3g})")
    p = "untested" if o["p"] is None or not np.isfinite(o["p"]) else f"p = {o['p']:.3g}"
    flagged = [f"{o[side]} {o[f'{side}_not_converged']}" for side in ("a", "b") if o.get(f"{side}_not_converged")]
    unconverged = f"Not converged ({UNCONVERGED}; raise `--epochs`): {', '.join(flagged)}.\n" if flagged else ""
    seeds = f"Seeds: {o['a']} {', '.join(map(str, o['a_seeds']))}; {o['b']} {', '.join(map(str, o['b_seeds']))}.\n"
    return (f"{head}{body}\n\n{seeds}Mean difference {o['mean_difference']:+.4f} over {o['n_blocks']} folds; "
            f"{o['a']} wins {o['wins']}, ties {o['ties']}, loses {o['losses']}; {o['test']}: {p}{least}{interval}.\n"
            f"{unconverged}")
