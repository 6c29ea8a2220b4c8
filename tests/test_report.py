"""``rwbench report`` and its figures: the numbers drawn are the leaderboard's, the page is escaped and
self-contained, and it works in a real browser (headless Chromium, when installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import secondary_metrics

pytest.importorskip("matplotlib", reason="the figures need the [report] extra: pip install 'rwbench[report]'")

from matplotlib.container import BarContainer  # noqa: E402

from rwbench.analysis import figures, leaderboard, report  # noqa: E402
from rwbench.errors import RwbenchError  # noqa: E402
from rwbench.results import SCHEMA_VERSION  # noqa: E402

CLASSES = ["a", "b", "c"]
FOLDS = 5  # k-fold: five or more folds get the rank tests and the CD diagram
CLIPS_PER_FOLD = 12
HOSTILE = "<script>alert(1)</script>"
# (front-end, weights, backend, per-seed mean accuracy): random rows with 2 seeds, trained rows with 2 seeds,
# mfcc (one run) on both backends; the hostile name proves escaping
ROWS = [
    ("alpha", "random", "svm", 0.80), ("beta", "random", "svm", 0.60), ("gamma", "random", "svm", 0.45),
    (HOSTILE, "random", "svm", 0.35), ("alpha", "random", "elm", 0.75), ("beta", "random", "elm", 0.55),
    ("gamma", "random", "elm", 0.50), ("alpha", "trained", "head", 0.85), ("beta", "trained", "head", 0.70),
    ("gamma", "trained", "head", 0.40), ("mfcc", "none", "svm", 0.65), ("mfcc", "none", "elm", 0.62),
]


def fake_result(frontend: str, weights: str, backend: str, seed: int, accuracy: float, dataset: str = "toy") -> dict:
    """A valid result file whose folds score about ``accuracy`` (per fold ±1 clip, varying with the seed), with
    per-clip truth / predictions and confusion matrices that agree with the scores."""
    rng = np.random.default_rng(zlib.crc32(f"{frontend}|{weights}|{backend}|{seed}".encode()))
    folds = []
    for k in range(FOLDS):
        clips = np.arange(k * CLIPS_PER_FOLD, (k + 1) * CLIPS_PER_FOLD)
        truth = clips % len(CLASSES)
        correct = int(np.clip(round(accuracy * CLIPS_PER_FOLD) + rng.integers(-1, 2), 0, CLIPS_PER_FOLD))
        predicted = truth.copy()
        predicted[correct:] = (truth[correct:] + 1) % len(CLASSES)
        confusion = np.zeros((len(CLASSES), len(CLASSES)), int)
        np.add.at(confusion, (truth, predicted), 1)
        score = correct / CLIPS_PER_FOLD
        folds.append({"name": f"fold{k + 1}", "n_train": 36, "n_test": CLIPS_PER_FOLD, "accuracy": score,
                      **secondary_metrics(truth, predicted), "best_params": {}, "selection_score": 0.5,
                      "fit_seconds": 0.1, "confusion": confusion.tolist(), "test_clips": clips.tolist(),
                      "truth": truth.tolist(), "predicted": predicted.tolist()})
    return {
        "schema_version": SCHEMA_VERSION, "rwbench_version": "0.1.0", "git_sha": "0123456789abcdef",
        "created": "2026-12-01T10:00:00+0000", "environment": {}, "run_key": f"{frontend}{weights}{backend}{seed}",
        "dataset": {"name": dataset, "task": None, "key": dataset, "n_clips": FOLDS * CLIPS_PER_FOLD,
                    "classes": CLASSES, "protocol": {"id": f"{dataset}/4-folds"},
                    "skipped": [{"clip": "bad/007", "reason": "cannot decode: truncated"}]},
        "frontend": {"name": frontend, "input_kind": "none" if weights == "none" else "waveform", "width": "small",
                     "weights": weights, "pooling": "mean", "feature_dim": 8, "params": 0 if weights == "none" else 100},
        "backend": {"name": backend}, "seed": seed, "device": "cpu", "folds": folds, "summary": {},
        "timings": {"embed_seconds_per_clip": 0.002},
    }


def write_results(root: Path, rows=ROWS, dataset: str = "toy") -> Path:
    for frontend, weights, backend, accuracy in rows:
        for seed in ([0] if weights == "none" else [0, 1]):
            path = root / "runs" / dataset / f"{zlib.crc32(f'{frontend}|{weights}|{backend}'.encode())}__seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(fake_result(frontend, weights, backend, seed, accuracy, dataset)))
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def table(results) -> pd.DataFrame:
    return leaderboard.load(results)


@pytest.fixture(scope="module")
def page(results, tmp_path_factory) -> Path:
    (results / "runs" / "toy" / "broken.json").write_text("{ not json")
    try:
        return report.write_report(results, tmp_path_factory.mktemp("page") / "report.html")
    finally:
        (results / "runs" / "toy" / "broken.json").unlink()


def test_bar_lengths_are_the_leaderboard_means_and_the_line_is_mfcc(table):
    for backend in ("svm", "elm"):
        bars = figures.bar_data(table, backend)
        fig = figures.score_bars_figure(bars, figures.baseline_score(table, backend), "t")
        ax = fig.axes[0]
        names = [t.get_text() for t in ax.get_yticklabels()]
        containers = [c for c in ax.containers if isinstance(c, BarContainer)]
        drawn = {(c.get_label(), names[round(bar.get_y() + bar.get_height() / 2)]): bar.get_width()
                 for c in containers for bar in c}
        expected = {}
        for _, row in table[(table["frontend"] != "mfcc")].iterrows():
            if row["backend"] == backend:
                expected[(row["weights"], row["frontend"])] = row["accuracy_mean"]
            elif row["backend"] == "head":
                expected[("trained (head)", row["frontend"])] = row["accuracy_mean"]
        assert drawn == pytest.approx(expected, abs=1e-9) and len(drawn) == (7 if backend == "svm" else 6)
        mfcc = table[(table["frontend"] == "mfcc") & (table["backend"] == backend)]["accuracy_mean"].item()
        assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"] == [pytest.approx(mfcc)]
        segments = np.concatenate([c.errorbar.lines[2][0].get_segments() for c in containers])
        assert np.sort(segments[:, 1, 0] - segments[:, 0, 0]) == pytest.approx(np.sort(2 * bars["std"]))  # ± std


def test_a_narrow_spread_of_bars_starts_the_axis_near_the_data_and_says_so():
    bars = pd.DataFrame({"label": ["a", "b", "c"], "group": ["random"] * 3, "mean": [0.90, 0.85, 0.80],
                         "std": [0.01, 0.02, 0.01]})
    ax = figures.score_bars_figure(bars, 0.82, "t").axes[0]
    low, high = ax.get_xlim()
    assert 0.6 < low <= 0.79 and high > 0.91  # the 0.80–0.90 spread fills the axis instead of its right tenth
    assert f"axis starts at {low:.2f}, not 0" in ax.get_xlabel()
    assert [b.get_width() for c in ax.containers if isinstance(c, BarContainer) for b in c] == [0.90, 0.85, 0.80]
    wide = pd.DataFrame({"label": ["a", "b"], "group": ["random"] * 2, "mean": [0.9, 0.2], "std": [0.0, 0.0]})
    assert figures.score_bars_figure(wide, None, "t").axes[0].get_xlim()[0] == 0  # a wide spread starts at 0


def test_figure_text_stays_legible_on_a_phone():
    """At most ~5.6 inches wide with text of 9 pt or more (a 390-px screen shows ≥ 9 px), confusion labels too."""
    fig = figures.confusion_figure(np.eye(10, dtype=int) * 5, [f"class{i}" for i in range(10)], "t")
    ax = fig.axes[0]
    assert fig.get_size_inches()[0] <= 5.6
    assert min(t.get_fontsize() for t in [*ax.get_xticklabels(), *ax.get_yticklabels(), *ax.texts]) >= 9


def test_bars_put_the_best_front_end_on_top(table):
    bars = figures.bar_data(table, "svm")
    assert list(dict.fromkeys(bars["label"]))[:3] == ["alpha", "beta", "gamma"]


def test_spread_dots_are_every_fold_of_every_seed(results, table):
    groups = leaderboard.rows_of_records(leaderboard.read_results(results)[0])
    key = ("toy", "alpha", "small", "random", "svm")
    values = figures.fold_scores(groups[key])
    fig = figures.spread_figure({"alpha": values, "beta": [0.5] * 8}, "t")
    dots = fig.axes[0].collections[0].get_offsets()[:, 0]
    assert len(values) == 2 * FOLDS and list(dots) == pytest.approx(values)
    row = table[(table["frontend"] == "alpha") & (table["backend"] == "svm")].iloc[0]
    assert np.mean(values) == pytest.approx(row["accuracy_mean"], abs=1e-4)


def test_confusion_sums_every_fold_and_seed(results):
    groups = leaderboard.rows_of_records(leaderboard.read_results(results)[0])
    records = groups[("toy", "alpha", "small", "random", "svm")]
    counts = figures.confusion_counts(records)
    assert counts.sum() == 2 * FOLDS * CLIPS_PER_FOLD
    correct = sum(f["accuracy"] * f["n_test"] for r in records for f in r.folds)
    assert np.trace(counts) == pytest.approx(correct)
    image = figures.confusion_figure(counts, CLASSES, "t").axes[0].images[0].get_array()
    assert np.asarray(image).sum(axis=1) == pytest.approx(np.ones(3))


def test_scatter_shows_the_paired_accuracies_and_rho(table):
    from rwbench.analysis.ranking import paired, rank_correlation

    pairs = paired(table)
    correlation = rank_correlation(table).set_index("backend").loc["svm"]
    shown = pairs[pairs["backend"] == "svm"]
    fig = figures.scatter_figure(shown, {**correlation.to_dict(), "backend": "svm"}, "t")
    points = fig.axes[0].collections[0].get_offsets()
    assert points.tolist() == shown[["random_accuracy", "trained_accuracy"]].to_numpy().tolist()
    assert "ρ = 1.00" in fig.axes[0].get_title() and "n = 3" in fig.axes[0].get_title()


def test_critical_difference_diagram_labels_every_row_by_its_average_rank(results, table):
    from rwbench.analysis.significance import average_ranks, block_scores

    groups = leaderboard.rows_of_records(leaderboard.read_results(results)[0])
    svm = {k: v for k, v in groups.items() if k[4] == "svm"}
    scores = block_scores(svm)
    scores.index = [k[1] for k in scores.index]
    ranks = average_ranks(scores)
    fig = figures.critical_difference_figure(scores, ranks, "t")
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for name, rank in ranks.items():
        assert f"{name} ({rank:.2f})" in texts or f"({rank:.2f}) {name}" in texts
    ours = table[table["backend"] == "svm"].set_index("frontend")["avg_rank"]
    assert ranks.to_dict() == pytest.approx(ours.to_dict(), abs=1e-4)  # the leaderboard's own average ranks


def test_the_page_escapes_names_and_lists_what_it_left_out(page):
    html = page.read_text()
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert len(re.findall(r"<script>", html)) == 1  # the sorter, nothing else
    assert "broken.json" in html and "1 file(s) left out" in html
    assert "bad/007" in html and "cannot decode: truncated" in html
    assert "toy/4-folds" in html and "rwbench 0.1.0 · 0123456 · cpu · 2026-12-01" in html


def test_the_page_is_self_contained(page):
    html = page.read_text()
    sources = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html


def test_the_page_has_each_figure(page):
    html = page.read_text()
    for title in ("accuracy per front-end, svm", "accuracy per front-end, elm", "random (svm) vs trained (head)",
                  "spread over folds × seeds, head", "confusion of the best row", "critical difference, svm"):
        assert f"toy: {title}" in html, title


def test_strict_refuses_a_malformed_file(tmp_path):
    write_results(tmp_path, ROWS[:3])
    (tmp_path / "runs" / "toy" / "broken.json").write_text("[]")
    with pytest.raises(RwbenchError, match="broken.json is not a valid rwbench result"):
        report.render(tmp_path, strict=True)


def test_unreadable_reproduce_and_search_records_are_listed_as_left_out(tmp_path):
    """They were dropped from the page with a log line only; a record missing a key stopped the report."""
    write_results(tmp_path, ROWS[:3])
    (tmp_path / "reproduce").mkdir()
    (tmp_path / "reproduce" / "a.json").write_text('{"paper": "x", "title": "t", "citation": "c", "protocol": "p"}')
    (tmp_path / "reproduce" / "b.json").write_text('{"cells": [{"a": 1}], "paper": "p"}')
    (tmp_path / "search" / "s1").mkdir(parents=True)
    (tmp_path / "search" / "s1" / "search.json").write_text('{"truncated')
    html = report.render(tmp_path, draw=False)
    assert "3 file(s) left out" in html
    for name in ("reproduce/a.json", "reproduce/b.json", "search/s1/search.json"):
        assert name in html, name
    with pytest.raises(RwbenchError, match="a.json: not a reproduce record"):
        report.render(tmp_path, strict=True, draw=False)


def test_dollar_signs_in_names_are_drawn_as_they_are(tmp_path):
    """matplotlib read `$…$` as mathtext: 'tip $5^$ jar' stopped the report, '50$ and 100$' lost its dollars. Data
    text is escaped where it is drawn; the axes' own mathtext (log-scale ticks, 10^2) is left as it is."""
    import io

    figure = figures.confusion_figure(np.eye(3, dtype=int), ["tip $5^$ jar", "50$ and 100$", "c"], "t $x$")
    figure.savefig(io.BytesIO(), format="svg")  # drawn: no mathtext error
    texts = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert r"tip \$5^\$ jar" in texts and figure.axes[0].get_title() == r"t \$x\$"
    logs = figures.new_figure(3, 3)
    ax = logs.add_subplot()
    ax.set_xscale("log")
    ax.plot([1, 1000], [1, 2])
    logs.savefig(io.BytesIO(), format="svg")
    assert any(t.get_text().startswith("$\\mathdefault{10^") for t in ax.get_xticklabels())


def test_scatter_names_a_front_end_at_two_widths_by_its_width(table):
    from rwbench.analysis.ranking import paired

    shown = paired(table)
    shown = shown[shown["backend"] == "svm"]
    both = pd.concat([shown.assign(width="small"), shown.assign(width="large")])
    fig = figures.scatter_figure(both, {"backend": "svm", "n": 1}, "t")
    names = sorted(t.get_text() for t in fig.axes[0].texts)
    assert len(set(names)) == len(both) and all(n.endswith(("(small)", "(large)")) for n in names)


def test_reproduce_cells_sort_by_their_leading_number():
    from rwbench.analysis.reproduce_report import _leading_number

    assert [_leading_number(t) for t in ("100.0 [98.0, 100.0]", "9.5 [1, 2]", "-3.1", "no data")] == \
        [100.0, 9.5, -3.1, None]


def test_dataset_sections_have_distinct_anchors():
    assert report._anchor("folder/my_sounds") != report._anchor("folder/my-sounds")
    assert report._anchor("esc10") == "ds-esc10"


def test_an_empty_results_folder_says_so(tmp_path):
    (tmp_path / "runs").mkdir()
    assert "No results yet" in report.render(tmp_path)


def run_cli(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "rwbench.cli", *argv], capture_output=True, text=True, cwd=cwd)


def test_report_cli_writes_the_page_and_names_bad_input(results, tmp_path):
    out = run_cli("report", "--results", str(results), "-o", str(tmp_path / "sub" / "r.html"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "sub" / "r.html").read_text().startswith("<!DOCTYPE html>")
    missing = run_cli("report", "--results", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "results folder" in missing.stderr and "does not exist" in missing.stderr
    folder = run_cli("report", "--results", str(results), "-o", str(tmp_path))
    assert folder.returncode == 2 and "is a folder; give the file to write" in folder.stderr
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind


def test_report_says_nothing_of_matplotlibs_font_cache(results, tmp_path):
    """A fresh matplotlib config folder rebuilds the font cache, which logs "generated new fontManager" at INFO:
    rwbench keeps matplotlib's loggers at WARNING, so the report prints only what it wrote."""
    import os

    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "report", "--results", str(results), "-o",
                           str(tmp_path / "r.html")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "matplotlib" not in done.stderr and "fontManager" not in done.stderr, done.stderr
    assert done.stdout.strip() == f"wrote {tmp_path / 'r.html'}"


# -- in a real browser -------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def browser_missing(chromium: str | None, chromedriver: str | None) -> str | None:
    """Why the browser test cannot run, naming each missing part (it said "Chromium is not installed"
    when only chromedriver was missing), or None."""
    missing = [f"{name} (Debian package {package})" for name, package, found in
               (("the chromium browser", "chromium", chromium), ("chromedriver", "chromium-driver", chromedriver))
               if not found]
    if not missing:
        return None
    return (f"the browser test needs {' and '.join(missing)}: not found on PATH (apt-get install "
            f"{' '.join(m.split('package ')[1].rstrip(')') for m in missing)}; .ci/run installs them)")


def test_the_browser_skip_names_what_is_missing():
    assert browser_missing("/usr/bin/chromium", "/usr/bin/chromedriver") is None
    only_driver = browser_missing("/usr/bin/chromium", None)
    assert "chromedriver" in only_driver and "chromium browser" not in only_driver
    assert "apt-get install chromium-driver;" in only_driver
    both = browser_missing(None, None)
    assert "the chromium browser" in both and "chromedriver" in both and "install chromium chromium-driver;" in both


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium ([test] extra)")
    why = browser_missing(CHROMIUM, CHROMEDRIVER)
    if why:
        pytest.skip(why)
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def show(driver, page: Path, width: int) -> None:
    """Load ``page`` in a viewport ``width`` CSS pixels wide (CDP emulation: a headless window is at least 500)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.get(page.as_uri())


@pytest.mark.parametrize("width", [1280, 390])
def test_in_chromium_the_page_loads_clean_and_fits(browser, page, width, tmp_path):
    show(browser, page, width)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    images = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth, i.alt])")
    assert len(images) >= 10 and all(done and w > 0 for done, w, _ in images), images
    sizes = browser.execute_script(
        "const d = document.documentElement; return [d.scrollWidth, d.clientWidth, "
        "parseFloat(getComputedStyle(document.body).fontSize), "
        "Math.max(...[...document.images].map(i => i.getBoundingClientRect().right))]")
    assert sizes[1] == width and sizes[0] <= width, f"the page scrolls sideways at {width} px: {sizes}"
    assert sizes[2] >= 13 and sizes[3] <= width
    shot = tmp_path / f"report-{width}.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_in_chromium_a_header_click_sorts_the_table(browser, page):
    show(browser, page, 1280)
    headers = browser.find_elements("css selector", "table.sortable th")
    column = {h.text: i for i, h in enumerate(headers)}

    def cells(name):
        return browser.execute_script(
            "return [...document.querySelector('table.sortable').tBodies[0].rows]"
            ".map(r => r.cells[arguments[0]].getAttribute('data-sort'))", column[name])

    accuracy = headers[column["accuracy"]]
    accuracy.click()
    ascending = [float(v) for v in cells("accuracy")]
    assert ascending == sorted(ascending) and accuracy.get_attribute("aria-sort") == "ascending"
    accuracy.click()
    assert [float(v) for v in cells("accuracy")] == sorted(ascending, reverse=True)
    headers[column["front-end"]].click()
    names = cells("front-end")
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    headers[column["± 95% CI (seeds only)"]].click()  # mfcc rows (one seed) have no CI: blanks stay last
    ci = cells("± 95% CI (seeds only)")
    blanks = [v == "" for v in ci]
    assert any(blanks) and blanks == sorted(blanks)



def test_a_report_of_the_studys_protocol_says_its_numbers_are_selection_scores(tmp_path):
    """`rwbench report --results RESULTS/published` showed the study's best_score_ rows under "never a selection
    score", the protocol line without the evaluation."""
    rows = [("a", "random", "svm", 0.8), ("b", "random", "svm", 0.6), ("c", "random", "svm", 0.5)]
    for path in write_results(tmp_path / "published", rows).rglob("*.json"):
        data = json.loads(path.read_text())
        data["dataset"]["protocol"].update(evaluation="published:pons2019", evaluation_version=1)
        path.write_text(json.dumps(data))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", report.render(tmp_path / "published", draw=False)))
    assert "(never a selection score), except in the sections marked as the reference study's protocol" in text
    assert "evaluation: published:pons2019" in text and "The reference study's protocol (published:pons2019)" in text
    honest = re.sub(r"<[^>]+>", " ", report.render(write_results(tmp_path / "honest", rows), draw=False))
    assert "except in the sections" not in honest and "The reference study's protocol" not in honest


def test_the_baseline_line_stays_on_the_axis_when_it_beats_every_bar():
    for means, std in (([0.42, 0.40, 0.38], 0.02), ([0.30, 0.10], 0.0)):
        bars = pd.DataFrame({"label": list("abc")[:len(means)], "group": ["random"] * len(means), "mean": means,
                             "std": [std] * len(means)})
        ax = figures.score_bars_figure(bars, 0.60, "t").axes[0]
        (line,) = [line for line in ax.lines if line.get_linestyle() == "--"]
        low, high = ax.get_xlim()
        assert low <= line.get_xdata()[0] < high  # was cut away: xlim (0.35, 0.444), the caption still naming it


def test_every_weights_group_gets_its_own_colour():
    others = [f"tag{i}" for i in range(12)]  # mtt, msd, mir1k, crepe, icassp2022 ...: the fifth reused the first's
    colours = [figures.colour(g, others) for g in others] + list(figures.PALETTE.values())
    assert len(set(colours)) == len(colours)


def test_the_cd_caption_says_friedman_is_undefined_and_names_copies_and_columns(tmp_path):
    """Rows tied in every fold printed "Friedman p = nan"; the page's columns now hold what its notes name
    (selected elsewhere, copy of) and the dataset-wide rank is labelled as such."""
    rows = [("a", "random", "svm", 0.75), ("b", "random", "svm", 0.75), ("c", "random", "svm", 0.75)]
    for path in write_results(tmp_path, rows).rglob("*.json"):  # every fold scores the same for every row
        data = json.loads(path.read_text())
        for fold in data["folds"]:
            fold["accuracy"] = 0.75
            fold.update(secondary_metrics(fold["truth"], fold["truth"][:9] + [(t + 1) % 3 for t in fold["truth"][9:]]))
            fold["predicted"] = fold["truth"][:9] + [(t + 1) % 3 for t in fold["truth"][9:]]
            confusion = np.zeros((3, 3), int)
            np.add.at(confusion, (fold["truth"], fold["predicted"]), 1)
            fold["confusion"] = confusion.tolist()
        path.write_text(json.dumps(data))
    (section,) = report.sections(leaderboard.load(tmp_path), leaderboard.rows_of_records(
        leaderboard.read_results(tmp_path)[0]))
    (cd,) = [p for p in section.plots if "critical difference" in p.title]
    assert "Friedman undefined: every row ties in every fold." in cd.caption and "nan" not in cd.caption
    assert section.columns[0] == "rank (all backends)"
    assert {"avg rank (backend)", "vs best (backend)", "selected elsewhere", "copy of"} <= set(section.columns)


def test_rows_on_a_partial_copy_are_marked_in_the_page_and_the_compact_table(tmp_path, page):
    """Full-data rows and one row on a partial copy (other clips under the same fold names): the page and the compact
    Markdown name that row in a data column, and its critical-difference diagram leaves it out and says why."""
    root = write_results(tmp_path, [("alpha", "random", "svm", 0.80), ("beta", "random", "svm", 0.60),
                                    ("gamma", "random", "svm", 0.45)])
    record = fake_result("delta", "random", "svm", 0, 0.90)
    record["dataset"] |= {"fingerprint": "f" * 16, "info": {"partial": {"present": 58, "listed": 60}}}
    (root / "runs" / "toy" / "delta.json").write_text(json.dumps(record))
    table = leaderboard.load(root)
    digest = table.set_index("frontend").loc["delta", "data"]
    mark = f"partial copy; other data {digest}"
    summary = {line.split("|")[2].strip(): line.split("|")[6].strip()
               for line in leaderboard.to_summary(table).splitlines() if line.startswith("| ") and "---" not in line}
    assert summary == {"frontend": "data", "delta": mark, "alpha": "", "beta": "", "gamma": ""}
    html = report.render(root)
    assert '<th scope="col" tabindex="0">data</th>' in html and html.count(f">{mark}<") == 1
    assert "Not in it: delta · random (scored on other clips or another protocol)." in html
    assert '<th scope="col" tabindex="0">data</th>' not in page.read_text()  # whole data everywhere: no column
