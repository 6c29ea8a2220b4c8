"""``rwbench search score``: how well each proxy of a search ranked its architectures against their trained accuracy.

:func:`score` reads search folders (``search.json``; several on one dataset are pooled) and looks the trained rows up
again in the results folder (training may have run since the search). Per proxy: Spearman ρ and Kendall τ with the
trained accuracy (exact p for ρ at n ≤ 14 and τ at n ≤ 100 without ties or n ≤ 10 with them, else large-sample;
:mod:`rwbench.analysis.ranking`), a 95 % percentile bootstrap interval of ρ over architectures, top-10 % precision,
regret (best trained accuracy − that of the proxy's pick), seconds per architecture, and the cost ratio to training
(÷ training seconds per architecture and seed). Higher is better for every proxy. Light: no torch import (the HTML
report reads it).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from tabulate import tabulate

from ..errors import RwbenchError
from ..fileio import atomic_path, content_key, read_json, write_text
from ..results import device_kind, devices_label, result_problem, safe, upgrade
from ..tasks import task_type
from .ranking import MIN_BOOTSTRAP_N, MIN_FRONTENDS, SPEARMAN_EXACT_N, rank_agreement, rho_difference_interval
from .significance import settled

log = logging.getLogger("rwbench")
TOP_FRACTION = 0.1


def trained_paths(results_dir: Path, dataset: str, name: str, width: str) -> list[Path]:
    folder = Path(results_dir) / "runs" / safe(dataset.replace("/", "__"))
    return sorted(folder.glob(f"{safe(name)}__{safe(width)}__trained__seed*__head.json"))


RUN_FIELDS = ("precision", "device")  # recorded in a recipe by the machine that ran it, not chosen by it
# A recipe's ``*_rule`` fields are its choices in words (refit_rule, selection_rule, validation_rule,
# not_converged_rule): each choice they state is a field of its own (refit, lrs, dropouts, select_on, epoch_cap,
# patience, schedule, precise_bn), and their words grow as rwbench names more cases (a case this recipe never meets:
# refit_repeats_selection, a fixed split's; batch_norm_recalibrated, a model trained under 50 steps). Compared, rows of
# one training were left out as "another recipe" (12 of the search study's 25, 8 second seeds on FSDD).
RULE_SUFFIX = "_rule"


def recipe_of(record: dict) -> dict:
    """A trained row's recipe (``training.recipe``, less :data:`RUN_FIELDS` and the words of its rules): what its
    training chose, the same for rows that may be compared."""
    recipe = (record.get("training") or {}).get("recipe") or {}
    return {k: v for k, v in recipe.items() if k not in RUN_FIELDS and not k.endswith(RULE_SUFFIX)}


def protocol_label(protocol: dict | None) -> str:
    return "none recorded" if not protocol else f"{protocol.get('id', '?')} #{content_key(protocol)[:8]}"


def recipe_difference(theirs: dict, ours: dict) -> str:
    """The recipe fields in which ``theirs`` differs from ``ours``, as ``epoch_cap 8 (the others' 100)``."""
    keys = sorted(k for k in {*theirs, *ours} if theirs.get(k) != ours.get(k))
    return ", ".join(f"{k} {theirs.get(k)} (the others' {ours.get(k)})" for k in keys)


def read_trained(path: Path) -> dict | str:
    """A trained result file's JSON, or why it is not used: unreadable, or one the leaderboard refuses (a summary its
    own folds or per-clip outputs contradict, a value out of range: :func:`rwbench.results.result_problem`)."""
    try:
        record = read_json(path)
    except RwbenchError as err:
        return str(err)
    problem = result_problem(record)
    return record if problem is None else problem


def trained_results(results_dir: Path, dataset: str, kind: str, name: str, width: str, *,
                    fingerprint: str | None, params: int | None, skipped: list[str], protocol: dict | None = None,
                    recipe: dict | None = None, network: dict | None = None,
                    read: Callable[[Path], dict | str] = read_trained) -> dict | None:
    """The trained rows of one front-end on dataset key ``dataset`` (task type ``kind``): mean primary metric over
    seeds, per seed, and the training seconds per seed; None when it has none (partial runs do not count). A row
    trained on other clips than ``fingerprint``, under another ``protocol`` (folds, refit), by another ``recipe``
    than the other architectures', or of another network than ``params`` parameters (a space file's widths changed
    under the same id) or than ``network`` (the front-end's version or plugin code, where both record it: an edited
    plugin of the same parameter count) is not comparable: it is left out, and why is appended to ``skipped``, as is
    a file that is not used at all (:func:`read_trained`). ``read``: how a result file is read (a caller that has
    read them already passes its copies)."""
    paths = trained_paths(results_dir, dataset, name, width)
    primary = task_type(kind).primary
    metric = f"{primary}_mean"
    per_seed: dict[str, float] = {}
    seconds: list[float] = []
    by_device: dict[str, list[float]] = {}
    used = []
    for path in paths:
        record = read(path)
        if isinstance(record, str):
            skipped.append(f"{path.name}: {record}")
            continue
        if (record.get("training") or {}).get("partial"):  # a run of some folds only is not the trained accuracy
            skipped.append(f"{path.name}: a partial training (some folds only: `rwbench train --folds`)")
            continue
        value = (record.get("summary") or {}).get(metric)
        folds_mean = float(np.mean([fold[primary] for fold in upgrade(record)["folds"]]))  # read_trained checked them
        if not isinstance(value, (int, float)) or not math.isclose(value, folds_mean, rel_tol=1e-9, abs_tol=1e-12):
            skipped.append(f"{path.name}: its summary {metric} {value} is not the mean of its folds ({folds_mean:.6g})")
            continue
        other = [f"{what} {theirs} (the search's {ours})" for what, theirs, ours in (
            ("clips", record.get("dataset", {}).get("fingerprint"), fingerprint),
            ("parameters", record.get("frontend", {}).get("params"), params)) if ours is not None and theirs != ours]
        if protocol is not None and (theirs := record.get("dataset", {}).get("protocol")) != protocol:
            other.append(f"protocol {protocol_label(theirs)} (the search's {protocol_label(protocol)})")
        if network and (theirs := record.get("frontend", {}).get("network")) and theirs != network:
            other.append(f"another version of the network ({network_label(theirs)}; the search's "
                         f"{network_label(network)})")
        if recipe is not None and recipe_of(record) != recipe:
            other.append(f"another recipe: {recipe_difference(recipe_of(record), recipe)}")
        if other:
            skipped.append(f"{path.name}: trained on {', '.join(other)}")
            continue
        per_seed[str(record["seed"])] = folds_mean
        seconds.append(float(record.get("timings", {}).get("fit_seconds", math.nan)))
        by_device.setdefault(device_kind(record["device"]), []).append(seconds[-1])
        used.append(str(path))
    if not per_seed:
        return None
    # settled: a mean of seeds equal in exact arithmetic to another row's ties with it in every rank and top-10 %
    return {"value": float(settled(np.mean(list(per_seed.values())))), "per_seed": per_seed, "metric": metric,
            "seconds_per_seed": float(np.mean(seconds)),
            "seconds_by_device": {device: float(np.mean(s)) for device, s in sorted(by_device.items())},
            "files": used}


def network_label(network: dict) -> str:
    return f"version {network.get('version')}" + (f", code {str(network['code'])[:12]}" if network.get("code") else "")


def trained_records(manifest: dict, results: Path) -> dict[Path, dict | str]:
    """Every trained result file of the search's architectures, read once (:func:`read_trained`)."""
    return {path: read_trained(path) for arch in manifest["architectures"]
            for path in trained_paths(results, manifest["dataset"]["key"], arch["name"], manifest["width"])}


def common_recipe(records: list[dict | str]) -> dict | None:
    """The training recipe most of ``records`` share (the one the others are compared with), None without rows;
    records that are not used (strings saying why) are not counted."""
    recipes = Counter(json.dumps(recipe_of(record), sort_keys=True) for record in records if isinstance(record, dict))
    return json.loads(recipes.most_common(1)[0][0]) if recipes else None


def look_up_trained(manifest: dict, results: Path, recipe: dict | None = None,
                    records: dict[Path, dict | str] | None = None) -> list[str]:
    """Each architecture's ``trained`` entry of ``manifest`` looked up in ``results`` (the search's clips and protocol,
    each architecture's parameter count, and one training recipe — ``recipe``, by default the most common of this
    search's rows — must match); returns one line per trained row left out, one naming the architectures chosen for
    training that have no usable row, and one when the architectures were trained on different seeds; and logs them."""
    skipped: list[str] = []
    dataset = manifest["dataset"]
    records = trained_records(manifest, results) if records is None else records
    recipe = recipe if recipe is not None else common_recipe(list(records.values()))
    for arch in manifest["architectures"]:
        arch["trained"] = trained_results(results, dataset["key"], dataset["task_type"], arch["name"], manifest["width"],
                                          fingerprint=dataset.get("fingerprint"), params=arch.get("params"),
                                          skipped=skipped, protocol=dataset.get("protocol"), recipe=recipe,
                                          network=arch.get("network"), read=records.__getitem__)
    lines = [f"trained row not used: {line}" for line in skipped]
    chosen = set((manifest.get("trained") or {}).get("chosen", []))
    untrained = [a["name"] for a in manifest["architectures"] if a["name"] in chosen and not a["trained"]]
    if untrained:  # chosen, then not trained (interrupted, failed, partial only): named, not silently fewer
        lines.append(f"chosen for training but no usable trained row (not trained yet, failed, or left out above): "
                     f"{len(untrained)} architecture(s): {_names(untrained)}")
    seeds = Counter(tuple(sorted(a["trained"]["per_seed"], key=int)) for a in manifest["architectures"] if a["trained"])
    if len(seeds) > 1:  # a mean of 2 seeds beside one of 1: shown, not hidden
        lines.append("trained seeds differ between architectures: " + "; ".join(
            f"{n} architecture(s) with seeds {', '.join(s)}" for s, n in seeds.most_common()))
    for line in lines:
        log.warning("%s", line)
    return lines


# -- the scores -------------------------------------------------------------------------------------------
SCORE_COLUMNS = ["proxy", "kind", "n", "undefined", "spearman_rho", "spearman_p", "kendall_tau", "kendall_p",
                 "spearman_p_method", "kendall_p_method", "rho_ci_low", "rho_ci_high", "rho_ci_undefined_draws",
                 "top10_precision", "regret", "seconds_per_arch", "device", "cost_ratio",
                 "cost_basis", "reference", "reference_minus_rho", "difference_ci_low", "difference_ci_high",
                 "n_difference", "n_drawn", "spearman_rho_drawn"]


def _in_top(values: np.ndarray, k: int) -> np.ndarray:
    """Each item's chance of being among the ``k`` highest ``values`` when ties are broken uniformly at random: 1 above
    the k-th value, 0 below it, and the free places shared equally by the items tied at it."""
    threshold = np.sort(values)[::-1][k - 1]
    above, tied = values > threshold, values == threshold
    return np.where(above, 1.0, np.where(tied, (k - above.sum()) / tied.sum(), 0.0))


def top_size(n: int, fraction: float = TOP_FRACTION) -> int:
    """How many architectures the top ``fraction`` of ``n`` holds (at least one)."""
    return max(1, math.ceil(fraction * n))


def top_precision(proxy: np.ndarray, trained: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """Expected share of the proxy's top ``ceil(fraction·n)`` architectures that are among the trained top as many,
    ties on either side broken uniformly at random (so a constant proxy scores ``k/n``, not whatever the sample's
    order gives). ``-inf`` marks an architecture the proxy could not score: it ranks below every scored one."""
    k = top_size(len(proxy), fraction)
    return float(np.sum(_in_top(proxy, k) * _in_top(trained, k)) / k)


def regret(proxy: np.ndarray, trained: np.ndarray) -> float:
    """Best trained accuracy minus the expected trained accuracy of the proxy's pick (its highest value; a tie at the
    top is broken uniformly at random)."""
    return float(trained.max() - trained[proxy == proxy.max()].mean())


def reference_proxy(manifest: dict) -> str | None:
    """The proxy every other is compared with: ``--rank-by`` when it is a random-weight proxy, else the first
    random-weight proxy of the search (the study's probe), else None."""
    kinds = {name: record["kind"] for a in manifest["architectures"] for name, record in a["proxies"].items()}
    candidates = [manifest.get("rank_by"), *manifest["proxies"]]
    return next((name for name in candidates if name and kinds.get(name) == "random-weight"), None)


def difference(manifest: dict, reference: str, name: str) -> tuple[float, float, float, int]:
    """ρ(reference) − ρ(name) with trained accuracy over the trained architectures where both are defined, its
    paired bootstrap 95 % interval (the same architectures drawn for both) and how many those are: above zero, the
    reference ranks better. Over fewer architectures than either ρ of the table when one proxy is undefined on some."""
    rows = [(_value(a["proxies"].get(reference)), _value(a["proxies"].get(name)), a["trained"]["value"])
            for a in manifest["architectures"] if a.get("trained")]
    rows = [row for row in rows if _finite(row[0]) and _finite(row[1])]
    if len(rows) < MIN_FRONTENDS:
        return math.nan, math.nan, math.nan, len(rows)
    ref, other, trained = np.array(rows, float).T
    point = stats.spearmanr(ref, trained).statistic - stats.spearmanr(other, trained).statistic  # no p: not needed
    return (float(point), *rho_difference_interval(ref, trained, other), len(rows))


def proxy_scores(manifest: dict) -> pd.DataFrame:
    """One row per proxy of the search: :data:`SCORE_COLUMNS`."""
    archs = manifest["architectures"]
    reference = reference_proxy(manifest)
    trainings = training_seconds_by_device(archs)
    drawn = drawn_only(manifest)
    rows = []
    for name in manifest["proxies"]:
        records = [a["proxies"][name] for a in archs if name in a["proxies"]]
        # every trained architecture; one the proxy did not score (undefined, or not computed: halving's lower half)
        # is -inf, below every scored one: its picks and top-10 % are chosen among all of them, against the best
        # trained of all of them; ρ and τ are over the scored ones (n)
        trained = [(_value(a["proxies"].get(name)), a["trained"]["value"]) for a in archs if a.get("trained")]
        pairs = [pair for pair in trained if math.isfinite(pair[0])]
        seconds = float(np.mean([r["seconds"] for r in records])) if records else math.nan
        by_arch = {a["name"]: float(a["proxies"][name]["seconds"]) for a in archs if name in a["proxies"]}
        row = {"proxy": name, "kind": records[0]["kind"] if records else "", "n": len(pairs),
               "undefined": len(trained) - len(pairs),  # counted, and named by score()
               **_correlation(np.array(pairs, float).reshape(-1, 2), np.array(trained, float).reshape(-1, 2)),
               "seconds_per_arch": seconds,
               **cost_ratio(by_arch, proxy_device(records), trainings), "reference": reference or ""}
        if reference is not None and name != reference:
            (row["reference_minus_rho"], row["difference_ci_low"], row["difference_ci_high"],
             row["n_difference"]) = difference(
                manifest, reference, name)
        if drawn is not None:  # the trained set was picked by a proxy: ρ over the random draw alone, unselected
            mine = np.array([(_value(a["proxies"].get(name)), a["trained"]["value"]) for a in archs
                             if a["name"] in drawn and a.get("trained") and _finite(_value(a["proxies"].get(name)))])
            row["n_drawn"] = len(mine)
            row["spearman_rho_drawn"] = (rank_agreement(mine[:, 0], mine[:, 1], interval=False, kendall=False)
                                         ["spearman_rho"] if len(mine) >= MIN_FRONTENDS else math.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def drawn_only(manifest: dict) -> set[str] | None:
    """The architectures drawn at random for training, where the trained set is a selection (the top by a proxy
    plus a random draw, not every architecture); None where every architecture was trained or nothing says."""
    chosen = manifest.get("trained", {})
    if "drawn" not in chosen or all(a.get("trained") for a in manifest["architectures"]) or not chosen.get("top"):
        return None
    return set(chosen["drawn"])


def selection_line(manifest: dict) -> list[str]:
    """Say so where the trained architectures were selected by a proxy: ρ over them is range-restricted."""
    if drawn_only(manifest) is None:
        return []
    chosen = manifest["trained"]
    return [f"The trained architectures are the top {chosen['top']} by {chosen['top_by']} plus {len(chosen['drawn'])} "
            f"drawn at random: ρ over them is over a sample the proxy selected (range restriction: its ρ, and the "
            f"others', are not those of the whole space); spearman_rho_drawn is ρ over the random draw alone "
            f"(n_drawn; needs {MIN_FRONTENDS})."]


def proxy_device(records: list[dict]) -> str | None:
    """Where a proxy's seconds were measured: its records' one device kind, ``mixed (…)``, or None when a record
    does not say (written before rwbench recorded it)."""
    devices = [r.get("device") for r in records]
    if not devices or any(d is None for d in devices):
        return None
    return devices_label(str(d) for d in devices)


def training_seconds_by_device(archs: list[dict]) -> dict[str, dict[str, float]]:
    """Device kind (``""``: not recorded) → architecture → its mean training seconds per seed on it."""
    out: dict[str, dict[str, float]] = {}
    for a in archs:
        trained = a.get("trained")
        if not trained:
            continue
        by_device = trained.get("seconds_by_device") or {"": trained.get("seconds_per_seed", math.nan)}
        for device, seconds in by_device.items():
            out.setdefault(device, {})[a["name"]] = seconds
    return out


def cost_ratio(seconds: dict[str, float], device: str | None, trainings: dict[str, dict[str, float]]
               ) -> dict[str, object]:
    """``cost_ratio``: a proxy's mean seconds ÷ the mean training seconds per seed **of the same architectures**
    (those trained on the proxy's kind of device: GPU trainings beside a CPU proxy would make it meaningless; an
    average over other architectures than the divisor's moved the registry's ratios up to 15×), and ``cost_basis``,
    what it was divided by. ``seconds``: the proxy's seconds per architecture; ``trainings``:
    :func:`training_seconds_by_device`. When the proxy and the trainings name more than one device kind, only the
    trainings on the proxy's count, and a proxy whose device is not recorded gets no ratio (``cost_basis`` says
    why)."""
    def result(ratio: float = math.nan, basis: str = "") -> dict[str, object]:
        return {"device": device or "", "cost_ratio": ratio, "cost_basis": basis}

    if not trainings:
        return result()
    if device and device in trainings:  # trainings whose device is not recorded are not assumed to be on it
        used, basis = trainings[device], device
    elif len(trainings) == 1 and (not device or "" in trainings):  # one kind, or nothing recorded beside the proxy
        (kind, used), = trainings.items()
        basis = kind or "a device not recorded"
    else:
        counted = ", ".join(f"{d or 'not recorded'} {len(s)}" for d, s in sorted(trainings.items()))
        return result(basis="none: " + (f"no training ran on {device} (trainings: {counted})" if device else
                                        f"the proxy's device is not recorded and the trainings ran on several kinds "
                                        f"({counted})"))
    both = [name for name, t in used.items() if math.isfinite(t) and math.isfinite(seconds.get(name, math.nan))]
    if not both:  # trainings that recorded no seconds, or none the proxy scored
        return result()
    train, proxy = float(np.mean([used[n] for n in both])), float(np.mean([seconds[n] for n in both]))
    return result(proxy / train if train else math.nan,
                  f"{len(both)} architecture(s) trained on {basis}, {train:.0f} s per seed on average (the proxy's "
                  f"{proxy:.3g} s on the same)")


def undefined_lines(manifest: dict) -> list[str]:
    """One sentence per proxy with undefined values: how many trained architectures, which, and why."""
    return [f"{name} is undefined on " + "; ".join(f"{len(archs)} trained architecture(s): {why} ({_names(archs)})"
                                                   for why, archs in reasons.items())
            + " (left out of its n; ranked last for top-10 % and regret, left empty where it scored fewer than "
            "its top 10 % holds)"
            for name, reasons in undefined_reasons(manifest).items()]


def _names(names: list[str], shown: int = 6) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def undefined_reasons(manifest: dict) -> dict[str, dict[str, list[str]]]:
    """Per proxy of the search, why it has no value on trained architectures: reason → those architectures (NaN with
    a recorded reason; a record written before reasons were recorded: "no reason recorded"; no record: "not
    computed")."""
    out: dict[str, dict[str, list[str]]] = {}
    for arch in manifest["architectures"]:
        if not arch.get("trained"):
            continue
        for name in manifest["proxies"]:
            record = arch["proxies"].get(name)
            if record is None:
                reasons = {"not computed (e.g. below --halving's cut)"}
            elif not _finite(record["value"]):
                reasons = set((record.get("detail") or {}).get("undefined", {}).values()) or {"no reason recorded"}
            else:
                continue
            for reason in sorted(reasons):
                out.setdefault(name, {}).setdefault(reason, []).append(arch["name"])
    return out


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def rank_value(record: dict | None) -> Any:
    """A proxy record's value as ranks, ties and cuts read it: a random-weight proxy's (a mean of accuracies) settled
    (:func:`~rwbench.analysis.significance.settled`), so that means equal in exact arithmetic (1.7 / 5 summed as
    0.33999999999999997 and as 0.34) tie instead of ranking by rounding noise; any other proxy's as computed (a
    gradient norm of 1e-12 is not zero). None where the record has none."""
    value = None if record is None else record.get("value")
    if record is not None and record.get("kind") == "random-weight" and isinstance(value, (int, float)) and _finite(value):
        return float(settled(value))
    return value


def _value(record: dict | None) -> float:
    """A proxy record's value to rank by (:func:`rank_value`), ``-inf`` where there is none (not computed, undefined)."""
    value = rank_value(record)
    return float(value) if _finite(value) else -math.inf


def _correlation(pairs: np.ndarray, trained: np.ndarray) -> dict:
    """ρ, τ and their interval over ``pairs`` (the scored architectures); top-10 % precision and regret over every
    trained architecture (``trained``, the unscored ones at -inf), when the proxy scored enough of them to fill its
    top 10 % (else ties among the unscored would be its picks: a chance value, not the proxy's)."""
    out: dict[str, Any] = {**dict.fromkeys(["spearman_rho", "spearman_p", "kendall_tau", "kendall_p", "rho_ci_low",
                                            "rho_ci_high", "top10_precision", "regret", "rho_ci_undefined_draws"],
                                           math.nan), "spearman_p_method": "", "kendall_p_method": ""}
    if len(trained) >= MIN_FRONTENDS and len(pairs) >= top_size(len(trained)):
        x, y = trained[:, 0], trained[:, 1]
        out.update(top10_precision=top_precision(x, y), regret=regret(x, y))
    if len(pairs) >= MIN_FRONTENDS:
        out.update(rank_agreement(pairs[:, 0], pairs[:, 1]))  # NaN for a constant side
    return out


def scatter_figure(manifest: dict, table: pd.DataFrame):
    """One panel per proxy: its value (x) against trained accuracy (y) over the trained architectures, ρ and τ in the
    title; None without matplotlib or without trained architectures."""
    from .figures import Figure, legible, new_figure

    trained = [a for a in manifest["architectures"] if a.get("trained")]
    if not trained or Figure is None:  # Figure: None without matplotlib (the [report] extra)
        return None
    columns = min(4, len(table))
    rows = math.ceil(len(table) / columns)
    figure = new_figure(3.0 * columns, 2.6 * rows)
    for i, row in enumerate(table.itertuples()):
        ax = figure.add_subplot(rows, columns, i + 1)
        points = [(a["proxies"][row.proxy]["value"], a["trained"]["value"]) for a in trained if row.proxy in a["proxies"]]
        if points:
            px, py = zip(*points)
            ax.scatter(px, py, s=14, color="#4477aa")
            xs = np.array([x for x, _ in points], float)
            if (xs > 0).all() and xs.max() > 100 * xs.min():  # params, MACs, synflow span decades
                ax.set_xscale("log")
        ax.set_title(f"{row.proxy}: ρ {row.spearman_rho:.2f}, τ {row.kendall_tau:.2f} (n {row.n})", fontsize=9)
        ax.set_ylabel(trained[0]["trained"]["metric"].removesuffix("_mean") if i % columns == 0 else "")
        legible(ax)
    return figure


# what search score reads from a search.json, and the kind of each
SEARCH_KEYS: dict[str, type] = {"architectures": list, "proxies": list, "dataset": dict, "trained": dict}


def read_search(folder: Path) -> dict:
    """A search folder's ``search.json`` as written (its trained rows not looked up)."""
    path = Path(folder) / "search.json"
    if not path.is_file():
        raise RwbenchError(f"{folder} holds no search.json: give a folder `rwbench search` wrote "
                           "(RESULTS/search/SPACE__DATASET, or its --out)")
    manifest = read_json(path)
    if missing := [k for k in SEARCH_KEYS if not isinstance(manifest.get(k), SEARCH_KEYS[k])]:
        raise RwbenchError(f"{path} lacks {', '.join(missing)} (or holds another kind of value there): not a "
                           "search.json this rwbench reads; run `rwbench search` again to write it")
    return manifest


def load_manifest(folder: Path) -> dict:
    """A search folder's ``search.json``, its trained results looked up again (training may have run since)."""
    manifest = read_search(folder)
    manifest["trained_not_used"] = look_up_trained(manifest, trained_folder(manifest, Path(folder)))
    return manifest


def trained_folder(manifest: dict, folder: Path) -> Path:
    """Where a search's trained rows are: relative to its folder (searches since 2026-12-05), else as the search was
    given it, from the directory it ran in; a folder that is not there is named, never read as "nothing trained"."""
    trained = manifest["trained"]
    results = (folder / trained["results_from_folder"] if "results_from_folder" in trained
               else Path(trained["results"]))
    if not results.is_dir():
        raise RwbenchError(f"{folder}: its trained results folder {results} is not there"
                           + ("" if "results_from_folder" in trained else
                              f" (search.json gives {trained['results']!r} relative to the directory the search ran "
                              "in: run from there, or run the search again to record it relative to its folder)"))
    return results


# what searches scored as one must share: their proxies are otherwise values of different computations
POOLED_SETTINGS: dict[str, Callable[[dict], Any]] = {
    "dataset": lambda m: m["dataset"]["key"],
    "dataset fingerprint": lambda m: m["dataset"].get("fingerprint"),
    "protocol": lambda m: m["dataset"].get("protocol"),  # the outer splits their trained rows must be on
    "task type": lambda m: m["dataset"].get("task_type"),
    "width": lambda m: m.get("width"),
    "proxy seeds": lambda m: m.get("proxy_seeds"),
    "minibatch": lambda m: [(m.get("minibatch") or {}).get(k) for k in ("size", "clips")],
    "random-weight folds and grid": lambda m: [m["random_weight"].get(k) for k in ("outer_folds", "grid")]
    if m.get("random_weight") else None,
}
WHERE_RECORDED = {"random-weight folds and grid"}  # compared between the searches that have it (one without
# random-weight proxies records none)


def load_pooled(folders: list[Path]) -> dict:
    """The searches in ``folders`` as one (:func:`pooled`), their trained rows looked up against one recipe: the most
    common over all of them (each search's own majority would let two recipes into one ranking)."""
    if len(folders) == 1:
        return load_manifest(folders[0])
    if len(set(where := [Path(f).resolve() for f in folders])) < len(where):
        twice = next(f for f, w in zip(folders, where) if where.count(w) > 1)
        raise RwbenchError(f"{twice} is given twice: its architectures would be pooled with themselves; give each "
                           "search folder once")
    manifests = [read_search(f) for f in folders]
    check_poolable(manifests)
    results = [trained_folder(m, Path(f)) for m, f in zip(manifests, folders)]
    records = [trained_records(m, r) for m, r in zip(manifests, results)]
    recipe = common_recipe([record for mine in records for record in mine.values()])
    for manifest, folder, mine in zip(manifests, results, records):
        manifest["trained_not_used"] = look_up_trained(manifest, folder, recipe, mine)
    return pooled(manifests)


def check_poolable(manifests: list[dict]) -> None:
    for what, setting in POOLED_SETTINGS.items():
        having = [(m, v) for m in manifests if (v := setting(m)) is not None or what not in WHERE_RECORDED]
        if not having:  # no search records it
            continue
        (first, value), *rest = having
        if other := next((m for m, v in rest if v != value), None):
            raise RwbenchError(f"the searches scored together must share their {what}: {_space(first)} has "
                               f"{_short(value)}, {_space(other)} {_short(setting(other))}")


def pooled(manifests: list[dict]) -> dict:
    """Several searches on one dataset as one (e.g. both spaces): their architectures, the proxies they share. They
    must share :data:`POOLED_SETTINGS`."""
    check_poolable(manifests)
    seen: dict[str, str] = {}  # one network in two spaces (the same configuration and size) would count twice
    for arch in (a for m in manifests for a in m["architectures"] if a.get("config") is not None):
        network = json.dumps([_network(arch["config"]), arch.get("params")], sort_keys=True)
        if (other := seen.setdefault(network, arch["name"])) != arch["name"]:
            raise RwbenchError(f"{other} and {arch['name']} are one network (the same configuration and parameter "
                               "count): pooled, it would count twice in ρ, τ, their p and intervals; score the "
                               "searches apart, or search one of them without it")
    shared = [p for p in manifests[0]["proxies"] if all(p in m["proxies"] for m in manifests)]
    proxies, notes = _one_computation(manifests, shared)
    return {**manifests[0], "proxies": proxies, "space": [m["space"]["name"] for m in manifests],
            "trained_not_used": [line for m in manifests for line in m.get("trained_not_used", [])],
            "pooled_notes": notes,
            "trained": _pooled_choice(manifests),
            "architectures": list({a["name"]: a for m in manifests for a in m["architectures"]}.values())}


def _one_computation(manifests: list[dict], proxies: list[str]) -> tuple[list[str], list[str]]:
    """(the ``proxies`` every search computed alike: the same version, plugin code and key settings, as its
    ``proxy_identity`` records; lines naming those left out, and the searches that do not record it)."""
    kept, notes = [], []
    if unrecorded := list(dict.fromkeys(_space(m) for m in manifests if not isinstance(m.get("proxy_identity"), dict))):
        notes.append(f"what computed the proxies is not recorded for {', '.join(unrecorded)} (a search.json before "
                     "2026-12-07): pooled unchecked; run that search again (it reuses every proxy record of the current code) to "
                     "record it")
    for proxy in proxies:
        known = [(m, ident[proxy]) for m in manifests if isinstance(ident := m.get("proxy_identity"), dict)
                 and proxy in ident]
        other = None
        if known:
            (first, mine), *others = known
            other = next(((m, theirs) for m, theirs in others
                          if json.dumps(theirs, sort_keys=True) != json.dumps(mine, sort_keys=True)), None)
        if other is None:
            kept.append(proxy)
            continue
        theirs = other[1]
        fields = sorted(k for k in {*mine, *theirs} if json.dumps(mine.get(k), sort_keys=True)
                        != json.dumps(theirs.get(k), sort_keys=True))
        notes.append(f"{proxy} left out: {_space(first)} and {_space(other[0])} computed it differently "
                     f"({', '.join(f'{k} {_short(mine.get(k))} vs {_short(theirs.get(k))}' for k in fields)}); run "
                     "the older search again to recompute it with the current code")
    return kept, notes


def _network(config: dict) -> str:
    """What a configuration builds, whatever spells it (``max_growth`` is idle at ``growth`` 1): its layers at two
    filter counts (with the parameter count, which the search recorded at its width, they name one network). A
    space member scored by ``search registry`` (``{"registered": "logmel:ID"}``) is read as its space configuration:
    pooled with that space's search, it counted twice."""
    from ..frontend import FRONTENDS
    from ..search_space import network_key, searched_config

    if isinstance(registered := config.get("registered"), str) and ":" in registered:
        try:
            config = searched_config(FRONTENDS.get(registered)) or config
        except RwbenchError:  # a plugin's that is not loaded here: as written
            pass
    try:
        return network_key(config, {"probe": 7, "probe_wide": 100})
    except (KeyError, TypeError, ValueError):  # not a search-space configuration: as written
        return json.dumps(config, sort_keys=True)


def _pooled_choice(manifests: list[dict]) -> dict:
    """The searches' training choices as one: their chosen and random draws joined, each architecture once (two
    searches of one space may share some; no draw when one search does not say), their top picks (by each search's
    proxy) counted as the distinct chosen not drawn."""
    choices = [m.get("trained", {}) for m in manifests]
    choice = {k: v for k, v in choices[0].items() if k not in ("drawn", "chosen", "top", "top_by")}
    choice["chosen"] = list(dict.fromkeys(name for c in choices for name in c.get("chosen", [])))
    choice["top"] = min(sum(c.get("top") or 0 for c in choices), len(choice["chosen"]))
    choice["top_by"] = ", ".join(dict.fromkeys(str(c["top_by"]) for c in choices if c.get("top") and c.get("top_by")))
    if all("drawn" in c for c in choices):
        choice["drawn"] = list(dict.fromkeys(name for c in choices for name in c["drawn"]))
        choice["top"] = len([name for name in choice["chosen"] if name not in choice["drawn"]])
    return choice


def _space(manifest: dict) -> str:
    space = manifest.get("space")
    return f"search {space.get('name') if isinstance(space, dict) else space!r}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def score(folders: list[Path], fmt: str = "md", out: Path | None = None) -> str:
    """The proxy scores of the searches in ``folders`` (pooled when several), rendered; also written as
    ``score.{md,csv,json}`` to ``out`` (default: the one folder, or ``score__A+B`` beside several)."""
    folders = [Path(f) for f in folders]
    manifest = load_pooled(folders)
    table = proxy_scores(manifest)
    table["n_difference"] = table["n_difference"].astype("Int64")  # a count (the reference's own row: none)
    out = out or (folders[0] if len(folders) == 1 else folders[0].parent / ("score__" + "+".join(f.name for f in folders)))
    texts = {"json": table.to_json(orient="records", indent=2, double_precision=15) + "\n", "csv": table.to_csv(index=False),
             "md": tabulate(table, headers="keys", tablefmt="github", showindex=False, floatfmt=".3g") + "\n"}
    for each, text in texts.items():
        write_text(Path(out) / f"score.{each}", text)
    figure = scatter_figure(manifest, table)
    if figure is not None:  # proxy value against trained accuracy, one panel per proxy
        with atomic_path(Path(out) / "score.svg") as tmp:
            figure.savefig(tmp, format="svg")
    trained = sum(1 for a in manifest["architectures"] if a.get("trained"))
    note = (f"{', '.join(str(f) for f in folders)} on {manifest['dataset']['key']}: {len(manifest['architectures'])} "
            f"architectures, {trained} trained. seconds_per_arch: each proxy's wall time per architecture; "
            f"cost_ratio: ÷ training seconds per architecture and seed on the proxy's device (cost_basis); written to "
            f"{out}/score.*\n")
    for line in undefined_lines(manifest):  # never left out of n without a word
        log.warning("%s", line)
        note += line + "\n"
    for line in manifest.get("pooled_notes", []):  # a proxy the searches computed differently: not pooled
        log.warning("%s", line)
        note += line + "\n"
    note += "".join(line + "\n" for line in [*manifest.get("trained_not_used", []), *selection_line(manifest)])
    return note + texts[fmt] if fmt == "md" else texts[fmt]


# -- the HTML report's section ---------------------------------------------------------------------------------------
REPORT_COLUMNS = {"proxy": "proxy", "kind": "kind", "n": "n", "undefined": "undefined", "spearman_rho": "ρ",
                  "spearman_p": "p (ρ)", "kendall_tau": "τ", "kendall_p": "p (τ)", "rho_ci_low": "ρ 95% CI low",
                  "rho_ci_high": "ρ 95% CI high",
                  "top10_precision": "top-10% precision", "regret": "regret", "seconds_per_arch": "s / architecture",
                  "device": "device", "cost_ratio": "cost ÷ training", "cost_basis": "training cost basis",
                  "reference": "reference", "reference_minus_rho": "ρ(reference) − ρ (both over the n of the difference)",
                  "difference_ci_low": "difference 95% CI low", "difference_ci_high": "difference 95% CI high",
                  "n_difference": "n of the difference",
                  "n_drawn": "n drawn", "spearman_rho_drawn": "ρ over the drawn"}


def report_sections(results_dir: Path, *, draw: bool = True, left_out: list | None = None,
                    strict: bool = False) -> list[dict]:
    """One section per search folder under ``results_dir/search`` for ``rwbench report``: the proxy scores as table
    cells (``text``, ``sort``) and the proxy-vs-trained scatter (an SVG data URI; None when nothing is trained or
    ``draw`` is off). A search that cannot be read is appended to ``left_out`` as (path, problem) (``strict``: an
    error)."""
    out = []
    for path in sorted(Path(results_dir).glob("search/*/search.json")):
        try:
            manifest = load_manifest(path.parent)
        except (RwbenchError, KeyError, TypeError, ValueError) as err:
            if strict:
                raise RwbenchError(f"{path}: the search cannot be read: {err}") from err
            log.warning("report: the search in %s is left out: %s", path.parent, err)
            (left_out if left_out is not None else []).append((str(path), f"the search cannot be read: {err}"))
            continue
        table = proxy_scores(manifest)
        rows = [[{"text": _cell(row[c]), "sort": _sort(row[c])}
                 for c in REPORT_COLUMNS] for _, row in table.iterrows()]
        figure = scatter_figure(manifest, table) if draw else None
        if figure is not None:
            from .figures import data_uri

            figure = data_uri(figure)
        trained = sum(1 for a in manifest["architectures"] if a.get("trained"))
        out.append({"title": f"search {path.parent.name}: proxies against trained accuracy",
                    "anchor": "search-" + safe(path.parent.name),
                    "note": (f"{len(manifest['architectures'])} architectures of space {manifest['space']['name']!r} "
                             f"on {manifest['dataset']['key']}, {trained} trained; ρ's p exact for n ≤ {SPEARMAN_EXACT_N}, "
                             f"intervals from n ≥ {MIN_BOOTSTRAP_N} (rwbench search score)"),
                    "columns": list(REPORT_COLUMNS.values()), "rows": rows, "plot": figure, "warning": "",
                    "lines": undefined_lines(manifest) + manifest.get("trained_not_used", []) + selection_line(manifest),
                    "caption": "<strong>Each proxy against trained accuracy</strong>, one point per trained "
                               "architecture.",
                    "alt": "proxy value against trained accuracy"})
    return out


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def _sort(value):
    """What the report's column sorts by: the number, '' (a blank, last) for NaN, None (the text) otherwise."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "" if math.isnan(value) else float(value)
    return None
