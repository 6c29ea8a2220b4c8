"""The figures of a results folder, drawn from the leaderboard and the result files only (never a rerun).

Each ``*_figure`` function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed); :func:`data_uri` inlines one in the HTML report, ``Figure.savefig`` writes PNG or SVG. The data
behind a figure comes from a plain function beside it (:func:`bar_data`, :func:`fold_scores`, ...), so tests
check the numbers drawn against the leaderboard's.

A panel belongs to one dataset/task and one backend: rows compete within a backend, as on the leaderboard. Fully
trained rows (weights ``trained``, backend ``head``) have no other backend, so they join every backend's bar chart
as the group ``trained (head)``.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import RwbenchError
from ..results import ResultRecord, task_of
from ..tasks import metric_label, primary_metric
from .ranking import HEAD, TRAINED, describe, labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure
else:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - the [report] extra is absent
        Figure = None

BASELINE = "mfcc"  # drawn as a line across the bars, as in the study's figures
WEIGHT_ORDER = ("random", "dsp", "mst", TRAINED, f"{TRAINED} ({HEAD})", "none")  # others (mtt, msd, ...) after dsp
PALETTE = {"random": "#4477aa", "dsp": "#228833", "mst": "#aa3377", TRAINED: "#ee6677", f"{TRAINED} ({HEAD})": "#cc3311",
           "none": "#777777"}
OTHER_COLOURS = ("#ccbb44", "#66ccee", "#bbbbbb", "#994455", "#004488", "#997700", "#ee99aa", "#117733")
LABEL_OFFSETS = ((4, 3), (-4, 3), (4, -10), (-4, -10))  # points of a scatter label, tried in turn
MAX_ANNOTATED_CLASSES = 20  # a confusion matrix prints its cells' values up to this many classes
# Figure widths and text: the report shows a figure at most ~600 CSS px wide and, on a phone, ~370 px. A 5.6-inch
# figure (538 px at 1:1) with 10-pt text keeps its smallest text at about 9 px there (7-inch figures with
# 7–8 pt text shrank to 5–8 px on a 390-px screen).
WIDTH = 5.6  # inches, the bars, spread and CD figures
TEXT = 10  # points: tick labels, axis labels, legends, value labels
TITLE = 11
BAR_ZOOM = 0.3  # bars start their axis near the data when the lowest bar end is above this share of the highest


def require_matplotlib() -> None:
    if Figure is None:
        raise RwbenchError("figures need matplotlib: pip install 'rwbench[report]'")


def plain(text: object) -> str:
    """``text`` from data (a class, dataset or front-end name) as drawn: a '$' is a dollar sign, not mathtext
    ('tip $5^$ jar' stopped the report; '50$ and 100$' was drawn as italic math)."""
    return str(text).replace("$", r"\$")


def new_figure(width: float, height: float) -> Figure:
    require_matplotlib()
    return Figure(figsize=(width, height), layout="constrained")


def legible(ax) -> None:
    """Tick and axis labels at :data:`TEXT` points."""
    ax.tick_params(labelsize=TEXT)
    ax.xaxis.label.set_size(TEXT)
    ax.yaxis.label.set_size(TEXT)


def wrap(text: str, width: int = 62) -> str:
    """``text`` on lines of about ``width`` characters, broken only after its ``; `` or ``, `` separators (a
    statistic such as ``n = 8`` stays on one line), so a long subtitle does not widen — and shrink — its figure."""
    pieces = [p for p in text.replace(", ", ",\0").replace("; ", ";\0").split("\0")]
    lines = [""]
    for piece in pieces:
        if lines[-1] and len(lines[-1]) + 1 + len(piece) > width:
            lines.append(piece)
        else:
            lines[-1] = f"{lines[-1]} {piece}" if lines[-1] else piece
    return "\n".join(lines)


def data_uri(figure: Figure, fmt: str = "svg") -> str:
    """``figure`` as a ``data:`` URI (SVG keeps text as text: small, sharp at any width), cropped to what is drawn
    with a margin, so that no label (a CD diagram's, placed outside its axes) touches the image's edge."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None, bbox_inches="tight",
                   pad_inches=0.15)
    mime = "image/svg+xml" if fmt == "svg" else f"image/{fmt}"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _group_key(group: str) -> tuple:
    return (WEIGHT_ORDER.index(group) if group in WEIGHT_ORDER else 1.5, group)


def colour(group: str, others: list[str]) -> str:
    """The colour of a weights group: fixed for the known tags, the rest in order of appearance."""
    if group in PALETTE:
        return PALETTE[group]
    if group not in others:
        return "#000000"
    i = others.index(group)
    if i < len(OTHER_COLOURS):
        return OTHER_COLOURS[i]
    from matplotlib import colormaps, colors  # more groups: tab20's, never a colour of another group

    return colors.to_hex(colormaps["tab20"](i - len(OTHER_COLOURS)))


def row_label(row: pd.Series | dict, widths: int = 1) -> str:
    """A leaderboard row's name in figures: the front-end (with its width when the table mixes widths)."""
    return f"{row['frontend']} · {row['width']}" if widths > 1 else str(row["frontend"])


# -- accuracy bars ------------------------------------------------------------------------------------
def panel_backends(rows: pd.DataFrame) -> list[str]:
    """The backends one dataset's figures are drawn for: every backend but ``head``, which joins them (or
    ``head`` alone when it is the only one)."""
    backends = sorted(set(rows["backend"]) - {HEAD})
    return backends or sorted(set(rows["backend"]))


def bar_data(rows: pd.DataFrame, backend: str) -> pd.DataFrame:
    """The bars of one dataset's ``backend`` panel: columns ``label, group, mean, std`` (front-ends best first,
    groups in :data:`WEIGHT_ORDER`); the :data:`BASELINE` front-end is left out (it is the line)."""
    shown = rows[(rows["backend"] == backend) | ((rows["backend"] == HEAD) & (rows["weights"] == TRAINED))]
    shown = shown[shown["frontend"] != BASELINE]
    widths = rows["width"].nunique()
    p = primary_metric(rows)
    out = pd.DataFrame({
        "label": [row_label(r, widths) for _, r in shown.iterrows()],
        "group": [f"{w} ({HEAD})" if b == HEAD and backend != HEAD else w for w, b in zip(shown["weights"], shown["backend"])],
        "mean": shown[f"{p}_mean"].to_numpy(float), "std": shown[f"{p}_std"].to_numpy(float)})
    best = out.groupby("label")["mean"].max().sort_values(ascending=False, kind="stable")
    out["order"] = out["label"].map({label: i for i, label in enumerate(best.index)})
    out["group_order"] = [_group_key(g) for g in out["group"]]
    return out.sort_values(["order", "group_order"]).drop(columns=["order", "group_order"]).reset_index(drop=True)


def baseline_score(rows: pd.DataFrame, backend: str) -> float | None:
    line = rows[(rows["frontend"] == BASELINE) & (rows["backend"] == backend)]
    return float(line[f"{primary_metric(rows)}_mean"].iloc[0]) if len(line) else None


def score_bars_figure(bars: pd.DataFrame, baseline: float | None, title: str, metric: str = "accuracy") -> Figure:
    """Horizontal bars of the mean primary metric per front-end and weights group, error bars ± std over folds × seeds,
    a dashed line at the MFCC baseline; one :class:`~matplotlib.container.BarContainer` per group, labelled.
    A front-end's bars sit together (no gap for a group it lacks), best front-end on top."""
    from matplotlib.ticker import MaxNLocator

    labels = list(dict.fromkeys(bars["label"]))
    groups = sorted(set(bars["group"]), key=_group_key)
    others = [g for g in groups if g not in PALETTE]
    per_label = bars.groupby("label", sort=False).size()
    height = 0.8 / max(per_label.max(), 1) if len(bars) else 0.8
    slot = bars.groupby("label", sort=False).cumcount().to_numpy()
    y = np.array([labels.index(label) for label in bars["label"]], float)
    y += (slot - (per_label[bars["label"]].to_numpy() - 1) / 2) * height
    fig = new_figure(WIDTH, 1.8 + 0.32 * len(labels) * max(per_label.max() if len(bars) else 1, 1) ** 0.6)
    ax = fig.add_subplot()
    for group in groups:
        mine = (bars["group"] == group).to_numpy()
        ax.barh(y[mine], bars["mean"][mine], height=height, xerr=bars["std"][mine], color=colour(group, others),
                label=plain(group), error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"})
    if baseline is not None:
        ax.axvline(baseline, color="#000000", linestyle="--", linewidth=1, label=f"{BASELINE} {baseline:.3f}")
    ax.set_yticks(range(len(labels)), [plain(label) for label in labels])
    ax.invert_yaxis()  # best on top
    reach = float(np.nanmax([*(bars["mean"] + bars["std"].fillna(0)), *([baseline] if baseline is not None else [])])
                  ) if len(bars) else 1.0  # the baseline's line in view where it beats every bar
    start = bar_axis_start(bars, baseline)
    ax.xaxis.set_major_locator(MaxNLocator(7))  # a cut axis would otherwise crowd its ticks
    top = min(1.0, reach) * 1.05 if not start else min(1.0, reach) + 0.05 * (min(1.0, reach) - start)
    ax.set_xlim(start, max(top, start + 0.05))  # every bar at 0: still an axis
    label = f"{metric_label(metric)} (mean ± std over outer folds × seeds)"
    if start:  # the bars are cut: say so on the axis and mark the break at its left end
        label += f"\naxis starts at {start:.2f}, not 0: bar lengths are not proportional"
        for dx in (0.0, 0.012):
            ax.plot([-0.012 + dx, 0.004 + dx], [-0.025, 0.025], transform=ax.transAxes, color="#000000",
                    linewidth=1, clip_on=False)
    ax.set_xlabel(label)
    ax.set_title(plain(title), fontsize=TITLE)
    legible(ax)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(len(groups) + (baseline is not None), 3), fontsize=TEXT - 1,
               frameon=False)
    return fig


def bar_axis_start(bars: pd.DataFrame, baseline: float | None) -> float:
    """Where a bar chart's score axis starts: 0, or — when every bar ends above :data:`BAR_ZOOM` of the highest
    (a 0.80–0.90 spread would be squashed into the right tenth) — a round value (0.05 steps) a little below the
    lowest bar end, error bar or baseline."""
    if not len(bars):
        return 0.0
    ends = bars["mean"] - bars["std"].fillna(0)
    low = float(np.nanmin([*ends, *([baseline] if baseline is not None else [])]))
    high = float(np.nanmax([*(bars["mean"] + bars["std"].fillna(0)), *([baseline] if baseline is not None else [])]))
    if not np.isfinite(low) or low <= BAR_ZOOM * high:
        return 0.0
    return max(0.0, float(np.floor((low - 0.1 * (high - low)) * 20) / 20))


# -- random vs trained ----------------------------------------------------------------------------
def scatter_figure(pairs: pd.DataFrame, correlation: pd.Series | dict, title: str, metric: str = "accuracy") -> Figure:
    """Each front-end with both sides: random-weight score (x) vs trained score (y), named, the diagonal
    dashed; ρ and τ (:func:`rwbench.analysis.ranking.describe`) under the title."""
    fig = new_figure(5.0, 4.6)
    ax = fig.add_subplot()
    x, y = pairs[f"random_{metric}"].to_numpy(float), pairs[f"trained_{metric}"].to_numpy(float)
    ax.scatter(x, y, color=PALETTE["random"], zorder=3)
    span = max(np.ptp(x) if len(x) else 0, np.ptp(y) if len(y) else 0, 0.05)
    for i, (name, xi, yi) in enumerate(zip(labels(pairs), x, y)):  # `vgg (small)`, `vgg (large)` where both
        crowd = int(np.sum((np.abs(x[:i] - xi) < 0.12 * span) & (np.abs(y[:i] - yi) < 0.04 * span)))
        dx, dy = LABEL_OFFSETS[crowd % len(LABEL_OFFSETS)]  # a neighbour's label is already there: try another side
        ax.annotate(plain(name), (xi, yi), xytext=(dx, dy), textcoords="offset points", fontsize=TEXT - 1,
                    ha="left" if dx > 0 else "right")
    low, high = (min(x.min(), y.min()), max(x.max(), y.max())) if len(x) else (0, 1)
    pad = 0.05 * max(high - low, 0.1)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="#999999", linestyle="--", linewidth=1)
    ax.set_xlabel(f"random-weight {metric_label(metric)}")
    ax.set_ylabel(f"trained {metric_label(metric)}")
    ax.set_title(f"{plain(title)}\n{wrap(describe(correlation))}", fontsize=TEXT - 1)
    legible(ax)
    ax.grid(alpha=0.3)
    return fig


# -- spread over folds × seeds --------------------------------------------------------------------------
def fold_scores(records: list[ResultRecord]) -> list[float]:
    """Every outer fold's primary metric, of every seed of one leaderboard row."""
    return [float(fold[task_of(record).primary]) for record in records for fold in record.folds]


def spread_figure(rows: dict[str, list[float]], title: str, metric: str = "accuracy") -> Figure:
    """One strip per row (best mean on top): each fold × seed score a dot, the mean a vertical tick."""
    labels = sorted(rows, key=lambda label: -float(np.mean(rows[label])))
    fig = new_figure(WIDTH, 1.4 + 0.32 * len(labels))
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # jitter only: the same figure on every run
    for i, label in enumerate(labels):
        values = np.asarray(rows[label])
        ax.scatter(values, i + rng.uniform(-0.18, 0.18, len(values)), s=12, color=PALETTE["random"], alpha=0.7,
                   label=plain(label))
        ax.plot([values.mean()] * 2, [i - 0.3, i + 0.3], color="#000000", linewidth=2)
    ax.set_yticks(range(len(labels)), [plain(label) for label in labels])
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric_label(metric)} of each outer fold × seed (tick: mean)")
    ax.set_title(plain(title), fontsize=TITLE)
    legible(ax)
    ax.grid(axis="x", alpha=0.3)
    return fig


# -- confusion matrix -----------------------------------------------------------------------------------
def confusion_counts(records: list[ResultRecord]) -> np.ndarray:
    """The folds' confusion matrices (rows: true class, columns: predicted) summed over folds and seeds."""
    matrices = [np.asarray(fold["confusion"], dtype=np.int64) for record in records for fold in record.folds
                if fold.get("confusion") is not None]
    if not matrices or len({m.shape for m in matrices}) != 1:
        raise RwbenchError("these results carry no confusion matrices of one shape")
    return np.sum(matrices, axis=0)


def confusion_figure(counts: np.ndarray, classes: list[str], title: str) -> Figure:
    """Row-normalised confusion (each true class sums to 1), its counts printed in the cells."""
    n = len(classes)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = min(2.6 + 0.26 * n, 9)  # 10 classes: 5.2 in, legible on a phone; the colour bar goes below, not beside
    text = TEXT if n <= 12 else 8 if n <= 25 else 6  # 50 classes (ESC-50) are legible on a wide screen only
    fig = new_figure(size, size + 0.9)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), [plain(c) for c in classes], rotation=60, ha="right", fontsize=text)
    ax.set_yticks(range(n), [plain(c) for c in classes], fontsize=text)
    ax.set_xlabel("predicted", fontsize=TEXT)
    ax.set_ylabel("true", fontsize=TEXT)
    if n <= MAX_ANNOTATED_CLASSES:
        for (i, j), value in np.ndenumerate(counts):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=text - 1,
                        color="white" if share[i, j] > 0.5 else "black")
    bar = fig.colorbar(image, ax=ax, shrink=0.7, orientation="horizontal", location="bottom", aspect=30)
    bar.set_label("share of the true class", fontsize=TEXT - 1)
    bar.ax.tick_params(labelsize=TEXT - 1)
    ax.set_title(plain(title), fontsize=TITLE)
    return fig


# -- critical difference ----------------------------------------------------------------------------------
def critical_difference_figure(scores: pd.DataFrame, ranks: pd.Series, title: str) -> Figure:
    """Demšar's diagram: average ranks (1 = best) on an axis; rows joined by a bar when the Nemenyi test
    (scikit-posthocs, on the same blocks as the leaderboard's Friedman test) cannot tell them apart at α = 0.05.
    ``scores``: rows × blocks accuracies (:func:`rwbench.analysis.significance.block_scores`), indexed like ``ranks``."""
    import scikit_posthocs

    p_values = scikit_posthocs.posthoc_nemenyi_friedman(scores.T.reset_index(drop=True))
    fig = new_figure(WIDTH, 1.8 + 0.3 * len(ranks))
    ax = fig.add_subplot()
    ranks, p_values = ranks.rename(index=plain), p_values.rename(index=plain, columns=plain)
    scikit_posthocs.critical_difference_diagram(ranks, p_values, ax=ax, label_props={"fontsize": TEXT - 1},
                                                label_fmt_left="{label} ({rank:.2f})",
                                                label_fmt_right="({rank:.2f}) {label}")
    ax.tick_params(labelsize=TEXT)
    ax.set_title(plain(title), fontsize=TITLE, pad=14)  # clear of the rank axis' tick labels above the line
    return fig
