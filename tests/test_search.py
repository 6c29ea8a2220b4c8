"""Search spaces (TOML files → SPACE:ID front-ends), `rwbench search` (sampling, cached proxies, training, tables)
and `rwbench search score` (ρ, τ, exact p, interval, top-10 % precision, regret, cost)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import secondary_metrics
from scipy import stats
from toy import TINY, tone_dataset

from rwbench.analysis.ranking import spearman_exact_p
from rwbench.analysis.search_score import proxy_scores, regret, selection_line, top_precision
from rwbench.check import check_frontend
from rwbench.cli import main
from rwbench.errors import DataError, RwbenchError
from rwbench.fitting import TrainOptions
from rwbench.frontend import FRONTENDS
from rwbench.results import SCHEMA_VERSION
from rwbench.search import SearchOptions, candidates, plan_search, search
from rwbench.search_space import arch_id, load_space, packaged_spaces, read_space

TOY_SPACE = """
name = "toy"
version = 1
max_input_seconds = 1.0
[widths]
small = 4
paper = 8
[fixed]
input = "waveform"
sample_rate = 8000
kernel = 3
max_growth = 2
pool = "max"
nonlinearity = "relu"
batch_norm = false
[axes]
first_kernel = [16, 64]
first_stride = [8, 16]
depth = [1, 2]
growth = [1, 2]
pool_size = [2, 4]
"""


@pytest.fixture
def toy_space(tmp_path) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(TOY_SPACE)
    return path


def test_packaged_spaces_cover_the_design_axes():
    assert {"logmel", "waveform"} <= set(packaged_spaces())
    logmel, waveform = load_space("logmel"), load_space("waveform")
    shapes = {("vertical" if f > t else "horizontal" if t > f else "square") for t, f in logmel.axes["first_kernel"]}
    assert shapes == {"vertical", "horizontal", "square"}
    for space in (logmel, waveform):
        assert {"depth", "growth", "pool", "pool_size", "nonlinearity", "batch_norm"} <= set(space.axes)
        assert set(space.widths) == {"small", "paper"}
        assert len(space.by_id) == len(space.configs)  # ids are unique within the space
    assert {"first_kernel", "first_stride", "sample_rate"} <= set(waveform.axes)


def test_sampling_is_seeded_and_ids_rebuild_the_same_network():
    space = load_space("logmel")
    first, again = space.sample(6, seed=3), space.sample(6, seed=3)
    assert first == again and space.sample(4, seed=3) == first[:4] and space.sample(6, seed=4) != first
    config = first[0]
    name = f"logmel:{arch_id(config)}"
    spec = FRONTENDS.get(name)
    assert spec.name == name and FRONTENDS.get(name[:len("logmel:") + 5]) is spec  # a unique prefix resolves
    assert FRONTENDS.get(f"search:{arch_id(config)}") is spec  # search:ID: whichever packaged space holds it
    stored = json.loads(spec.source.split("config ", 1)[1])  # the full configuration travels in every result
    assert stored == config and arch_id(stored) == arch_id(config)


def test_space_errors_name_the_file_and_the_key(tmp_path):
    cases = {
        "axes.dept": TOY_SPACE.replace("depth = [1, 2]", "dept = [1, 2]"),
        "pool_size = [2, 4]": TOY_SPACE.replace("pool_size = [2, 4]", "pool_size = [[2, 4]]"),
        "not valid TOML": TOY_SPACE + "\n[axes\n",
        "both in [fixed] and [axes]": TOY_SPACE.replace('pool = "max"', 'pool = "max"\ndepth = 2'),
        # a value no member can take is refused, never dropped from the space without a word
        "axes.depth value 0: depth = 0: want a positive integer": TOY_SPACE.replace("depth = [1, 2]", "depth = [0, 2]"),
        "axes.depth value 2.0": TOY_SPACE.replace("depth = [1, 2]", "depth = [1, 2.0]"),
        "axes.growth value 0.5": TOY_SPACE.replace("growth = [1, 2]", "growth = [1, 0.5]"),
        "axes.pool_size value [2, 2]": TOY_SPACE.replace("pool_size = [2, 4]", "pool_size = [2, [2, 2]]"),
        "fixed.nonlinearity value 'relu6'": TOY_SPACE.replace('nonlinearity = "relu"', 'nonlinearity = "relu6"'),
        "axes.batch_norm value 'true'": TOY_SPACE.replace("batch_norm = false\n", "").replace(
            "[axes]\n", '[axes]\nbatch_norm = [false, "true"]\n'),
        "axes.kernel value 4: kernel = 4: want odd sizes": TOY_SPACE.replace("kernel = 3\n", "").replace(
            "[axes]\n", "[axes]\nkernel = [3, 4]\n"),
        "axes.n_mels value 96: key 'n_mels' does not apply to input 'waveform'": TOY_SPACE.replace(
            "[axes]\n", "[axes]\nn_mels = [96]\n"),
        # an axis's list put in [fixed] was a bare TypeError (unhashable list)
        "fixed.pool value ['max', 'avg']": TOY_SPACE.replace('pool = "max"', 'pool = ["max", "avg"]'),
        "fixed.nonlinearity value ['relu']": TOY_SPACE.replace('nonlinearity = "relu"', 'nonlinearity = ["relu"]'),
        # a valid value that every combination excludes was silently absent, while search.json listed it
        "no architecture of the space has axes.first_stride = 128: every combination is invalid, e.g. the first: "
        "first_stride 128 is longer than first_kernel 16": TOY_SPACE.replace("first_stride = [8, 16]",
                                                                             "first_stride = [8, 128]"),
        "no architecture of the space has axes.depth = 12: its shortest input": TOY_SPACE.replace(
            "depth = [1, 2]", "depth = [1, 2, 12]"),
        "no architecture of the space has axes.input = 'logmel'": TOY_SPACE.replace('input = "waveform"\n', "").replace(
            "[axes]\n", '[axes]\ninput = ["waveform", "logmel"]\n'),
    }
    for expected, text in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(RwbenchError) as err:
            read_space(path)
        assert str(path) in str(err.value) and expected in str(err.value), err.value
    with pytest.raises(RwbenchError, match="did you mean 'logmel'"):
        FRONTENDS.get("logmell:1234abcd")
    with pytest.raises(RwbenchError, match="has no architecture"):
        FRONTENDS.get("logmel:ffffffff0")


@pytest.mark.parametrize("space", ["logmel", "waveform", "toy"])
def test_sampled_architectures_pass_check_plugin(space, toy_space):
    space = load_space(toy_space if space == "toy" else space)
    config = min(space.sample(8, seed=0), key=lambda c: c["depth"] * (1 + c.get("batch_norm", 0)))
    spec = FRONTENDS.get(f"{toy_space if space.name == 'toy' else space.name}:{arch_id(config)}")
    results = check_frontend(spec, 4, seconds=0.5)
    assert all(r.passed for r in results), [r for r in results if not r.passed]


def test_search_samples_caches_trains_and_ranks(toy_space, tmp_path):
    dataset = tone_dataset(n_per_class=6)
    fold = dataset.splits()[0].name
    opts = SearchOptions(space=str(toy_space), n=3, proxies="synflow,params,rw_elm", minibatch=6, folds=(fold,),
                         grid="study", results_dir=tmp_path, train_top=1, device="cpu", n_jobs=1)
    train = TrainOptions(width="small", epochs=1, patience=1, lrs=(1e-3,), results_dir=tmp_path, device="cpu")
    lines: list[str] = []
    folder = search(dataset, opts, train, on_done=lines.append)
    manifest = json.loads((folder / "search.json").read_text())
    archs = manifest["architectures"]
    assert len(archs) == 3 and manifest["rank_by"] == "rw_elm" and manifest["random_weight"]["outer_folds"] == [fold]
    assert all(set(a["proxies"]) == {"synflow", "params", "rw_elm"} for a in archs)
    assert all(a["proxies"]["rw_elm"]["seconds"] > 0 for a in archs)
    assert sum(a["trained"] is not None for a in archs) == 1
    assert {a["proxies"][p]["device"] for a in archs for p in a["proxies"]} == {"cpu"}  # where each time was taken
    assert [set(a["trained"]["seconds_by_device"]) for a in archs if a["trained"]] == [{"cpu"}]
    rw_result = json.loads(Path(archs[0]["proxies"]["rw_elm"]["detail"]["result_files"][0]).read_text())
    assert rw_result["dataset"]["protocol"]["outer_folds_scored"] == [fold] and len(rw_result["folds"]) == 1
    assert archs[0]["proxies"]["rw_elm"]["detail"]["outer_folds"] == [fold], "the subset of folds is recorded"
    assert {"table.md", "table.csv", "table.json"} <= {p.name for p in folder.iterdir()}
    lines.clear()
    search(dataset, opts, None, on_done=lines.append)  # a rerun reuses every proxy
    assert lines and all(line.endswith("(cached)") for line in lines)
    from rwbench.search import plan_search

    planned = plan_search(dataset, opts, train)  # the dry run knows it, and what the training has left
    assert "synflow: all 3 cached in" in planned and "3 of 3 cached" in planned  # read, not timed
    assert "; 1 of the 3 already trained under these settings (reused if chosen)" in planned
    assert planned.rstrip().splitlines()[-1].startswith("total: ≈ ")
    assert main(["search", "score", str(folder), "--format", "json"]) == 0
    scores = json.loads((folder / "score.json").read_text())
    assert [row["proxy"] for row in scores] == ["synflow", "params", "rw_elm"]
    assert all(row["device"] == "cpu" and row["cost_basis"].startswith("1 architecture(s) trained on cpu, ") for row in scores)
    from rwbench.analysis.report import render

    html = render(tmp_path, draw=False)  # the HTML report gains the search's section
    assert f"search {folder.name}: proxies against trained accuracy" in html and "top-10% precision" in html


def test_proxy_scores_against_hand_computed_figures():
    proxy = [0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.4, 0.6, 0.05, 0.15]
    trained = [0.80, 0.30, 0.55, 0.60, 0.40, 0.20, 0.85, 0.50, 0.70, 0.10, 0.35]
    archs = [{"name": f"a{i}", "proxies": {"p": {"value": v, "seconds": 2.0, "kind": "zero-cost"}},
              "trained": {"value": t, "seconds_per_seed": 100.0}} for i, (v, t) in enumerate(zip(proxy, trained))]
    row = proxy_scores({"architectures": archs, "proxies": ["p"]}).iloc[0]
    rho, tau = stats.spearmanr(proxy, trained).statistic, stats.kendalltau(proxy, trained).statistic
    assert row["n"] == 11 and row["spearman_rho"] == pytest.approx(rho) and row["kendall_tau"] == pytest.approx(tau)
    assert row["spearman_p_method"] == row["kendall_p_method"] == "exact" and row["rho_ci_low"] <= rho <= row["rho_ci_high"]
    assert row["spearman_p"] == pytest.approx(spearman_exact_p(np.array(proxy), np.array(trained)))
    # top 10 % of 11 = the 2 best: proxy picks a0 (0.9) and a6 (0.8); trained best are a6 (0.85) and a0 (0.80)
    assert row["top10_precision"] == 1.0
    assert row["regret"] == pytest.approx(0.85 - 0.80)  # the proxy's pick a0 against the best, a6
    assert row["seconds_per_arch"] == 2.0 and row["cost_ratio"] == pytest.approx(0.02)
    small = proxy_scores({"architectures": archs[:5], "proxies": ["p"]}).iloc[0]
    assert small["spearman_p_method"] == "exact" and math.isfinite(small["spearman_p"])
    assert math.isnan(small["rho_ci_low"]), "5 architectures: too few for a bootstrap interval"
    assert top_precision(np.array([3.0, 2, 1]), np.array([1.0, 2, 3])) == 0.0
    assert regret(np.array([3.0, 2, 1]), np.array([1.0, 2, 3])) == 2.0


def test_a_trained_set_picked_by_a_proxy_gets_rho_over_its_random_draw_alone():
    """--train-top K --train-random M: ρ over the K + M trained is over a sample the proxy selected (range
    restriction); the M drawn at random are an unselected sample, scored apart."""
    proxy = [0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.4, 0.6, 0.05, 0.15, 0.95]
    trained = [0.80, 0.30, 0.55, 0.60, 0.40, 0.20, 0.85, 0.50, 0.70, 0.10, 0.35, None]
    archs = [{"name": f"a{i}", "proxies": {"p": {"value": v, "seconds": 2.0, "kind": "zero-cost"}},
              **({"trained": {"value": t, "seconds_per_seed": 100.0}} if t is not None else {})}
             for i, (v, t) in enumerate(zip(proxy, trained))]
    drawn = ["a1", "a2", "a4", "a5", "a9"]
    manifest = {"architectures": archs, "proxies": ["p"],
                "trained": {"top": 6, "top_by": "p", "drawn": drawn, "chosen": []}}
    row = proxy_scores(manifest).iloc[0]
    pick = [int(n[1:]) for n in drawn]
    expected = stats.spearmanr([proxy[i] for i in pick], [trained[i] for i in pick]).statistic
    assert row["n_drawn"] == 5 and row["spearman_rho_drawn"] == pytest.approx(expected)
    assert "range restriction" in selection_line(manifest)[0]
    archs[-1]["trained"] = {"value": 0.9, "seconds_per_seed": 100.0}  # every architecture trained: no selection
    assert math.isnan(proxy_scores(manifest).iloc[0]["spearman_rho_drawn"]) and selection_line(manifest) == []


def test_ties_count_at_their_expected_value_not_by_the_samples_order():
    trained = np.linspace(0.1, 1.0, 10)
    constant = np.zeros(10)  # a constant proxy picks at random: top-1 of 10 hits with p = 0.1
    assert top_precision(constant, trained) == pytest.approx(0.1)
    assert top_precision(constant, trained[::-1]) == pytest.approx(0.1)
    assert regret(constant, trained) == pytest.approx(1.0 - trained.mean())
    tied_top = np.array([1.0, 1.0, 0.0])  # a tie at the top between trained 0.5 and 0.9: the pick is worth 0.7
    assert regret(tied_top, np.array([0.5, 0.9, 0.2])) == pytest.approx(0.9 - 0.7)
    assert regret(tied_top[[1, 0, 2]], np.array([0.9, 0.5, 0.2])) == pytest.approx(0.2)
    # 20 architectures, top 2: the proxy ties three at its second place, the trained top is a0 and a1
    proxy = np.array([5.0, 4, 4, 4] + [0.0] * 16)
    trained = np.array([1.0, 0.9] + list(np.linspace(0.1, 0.5, 18)))
    assert top_precision(proxy, trained) == pytest.approx((1 + 1 / 3) / 2)


def test_an_architecture_the_proxy_does_not_score_is_never_the_best_it_could_have_picked():
    """Regret and top-10 % are over every trained architecture: the best one left without a value (undefined, or not
    computed under --halving) is a miss, not left out of the comparison."""
    trained = [0.95, 0.90, 0.70, 0.60, 0.50]
    archs = [{"name": f"a{i}", "trained": {"value": t, "seconds_per_seed": 10.0},
              "proxies": {"snip": {"value": [0.2, 0.9, 0.5, 0.4, 0.1][i], "seconds": 1.0, "kind": "zero-cost"},
                          "naswot": {"value": [math.nan, 0.9, 0.5, 0.4, 0.1][i], "seconds": 1.0, "kind": "zero-cost"},
                          **({"rw_elm": {"value": [0, 0.9, 0.5, 0.4, 0.1][i], "seconds": 1.0, "kind": "random-weight"}}
                             if i else {})}}
             for i, t in enumerate(trained)]
    table = proxy_scores({"architectures": archs, "proxies": ["snip", "naswot", "rw_elm"]}).set_index("proxy")
    for name in ("snip", "naswot", "rw_elm"):  # all three pick a1 (0.90) while a0 (0.95) is the best trained
        assert table.loc[name, "regret"] == pytest.approx(0.05), name
        assert table.loc[name, "top10_precision"] == 0.0, name
    assert table.loc["naswot", "n"] == table.loc["rw_elm", "n"] == 4
    assert table.loc["naswot", "undefined"] == table.loc["rw_elm", "undefined"] == 1
    from rwbench.analysis.search_score import undefined_reasons

    reasons = undefined_reasons({"architectures": archs, "proxies": ["snip", "naswot", "rw_elm"]})
    assert set(reasons) == {"naswot", "rw_elm"} and "not computed" in next(iter(reasons["rw_elm"]))


def test_undefined_proxy_values_are_counted_and_named_not_dropped(tmp_path, caplog, monkeypatch):
    from rwbench.analysis import search_score

    why = "naswot: the network calls no nonlinearity to read activation codes from"
    trained = {"seconds_per_seed": 10.0, "metric": "accuracy_mean"}
    archs = [{"name": f"a{i}", "config": {}, "trained": {**trained, "value": 0.5 + i / 20},
              "proxies": {"naswot": {"value": math.nan if i < 2 else float(i), "seconds": 1.0, "kind": "zero-cost",
                                     "detail": {"undefined": {"0": why}} if i < 2 else {}},
                          "params": {"value": math.nan if i == 5 else float(i), "seconds": 0.0, "kind": "baseline"}}}
             for i in range(6)]
    manifest = {"search_code": 1, "space": {"name": "toy"}, "dataset": {"key": "toy", "task_type": "multiclass"},
                "proxies": ["naswot", "params"], "architectures": archs}
    monkeypatch.setattr(search_score, "load_manifest", lambda folder: manifest)  # trained rows as given here
    table = proxy_scores(manifest).set_index("proxy")
    assert (table.loc["naswot", "n"], table.loc["naswot", "undefined"]) == (4, 2)
    assert (table.loc["params", "n"], table.loc["params", "undefined"]) == (5, 1)
    with caplog.at_level(logging.WARNING, logger="rwbench"):
        text = search_score.score([tmp_path / "s"])
    assert f"naswot is undefined on 2 trained architecture(s): {why} (a0, a1) (left out of its n; ranked last" in text
    assert "params is undefined on 1 trained architecture(s): no reason recorded (a5)" in text
    assert sum("is undefined on" in r.getMessage() for r in caplog.records) == 2  # json/csv output says it too
    assert search_score.undefined_lines(manifest) == [line for line in text.splitlines() if "is undefined on" in line]


def test_search_scores_registered_frontends_too(tmp_path, caplog):
    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space="registry", frontends="sample_level,mfcc", proxies="synflow,dim", minibatch=6,
                         results_dir=tmp_path, width="4", device="cpu")
    manifest = json.loads((search(dataset, opts) / "search.json").read_text())
    assert manifest["space"] == {"name": "registry", "frontends": "sample_level,mfcc"}
    assert [a["name"] for a in manifest["architectures"]] == ["sample_level"]  # mfcc has no weights to score
    assert "mfcc: no weights, so no architecture to rank: not scored" in caplog.text  # said, not dropped silently
    with pytest.raises(RwbenchError, match=r"--frontends mfcc,logmel_stats: none of them has weights"):
        search(dataset, SearchOptions(**{**opts.__dict__, "frontends": "mfcc,logmel_stats"}))
    lines: list[str] = []
    search(dataset, SearchOptions(**{**opts.__dict__, "force": True}), on_done=lines.append)
    assert len(lines) == 2 and not any(line.endswith("(cached)") for line in lines), "force computes them again"
    with pytest.raises(RwbenchError, match="--frontends"):
        search(dataset, SearchOptions(space="registry", results_dir=tmp_path))
    # a results folder holding searches and no leaderboard rows yet (a search study before any training) reports
    from rwbench.analysis.report import render

    assert not (tmp_path / "runs").exists()
    html = render(tmp_path, draw=False)
    assert "search registry__" in html and "synflow" in html and "No results yet" not in html


def test_halving_runs_the_random_weight_proxy_on_the_best_half(toy_space, tmp_path):
    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=4, proxies="params,rw_elm", minibatch=6, halving=True, grid="study",
                         folds=(dataset.splits()[0].name,), results_dir=tmp_path, device="cpu", n_jobs=1)
    manifest = json.loads((search(dataset, opts) / "search.json").read_text())
    archs = sorted(manifest["architectures"], key=lambda a: -a["proxies"]["params"]["value"])
    assert [("rw_elm" in a["proxies"]) for a in archs] == [True, True, False, False]
    assert manifest["rank_by"] == "rw_elm"


def test_folds_in_another_order_are_the_same_search(toy_space, tmp_path, capsys):
    """`--folds fold2,fold1` after `--folds fold1,fold2` (or `fold1,fold1` after `fold1`) scored the same splits under
    another results folder and proxy key: every backend fit again, and one fold recorded as two."""
    dataset = tone_dataset(n_per_class=4)
    first, second = (s.name for s in dataset.splits()[:2])
    common = dict(space=str(toy_space), n=1, proxies="rw_elm", minibatch=6, grid="study", results_dir=tmp_path,
                  device="cpu", n_jobs=1)
    folder = search(dataset, SearchOptions(**common, folds=(second, first)))
    lines: list[str] = []
    search(dataset, SearchOptions(**common, folds=(first, second)), on_done=lines.append)
    assert lines and all(line.endswith("(cached)") for line in lines)
    assert [p.name for p in (folder / "random_weight").iterdir()] == [f"folds-{first}-{second}"]
    manifest = json.loads((folder / "search.json").read_text())
    result = json.loads(Path(manifest["architectures"][0]["proxies"]["rw_elm"]["detail"]["result_files"][0]).read_text())
    assert result["dataset"]["protocol"]["outer_folds_scored"] == [first, second]
    for command in ("search", "train"):  # a fold named twice is refused wherever --folds is read
        assert main([command, *([str(toy_space)] if command == "search" else []), "--tasks", "timbre", "--folds",
                     "fold1,fold1", "--dry-run", "-q"]) == 2
        assert "--folds names fold1 twice (fold1,fold1): each fold is scored once" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--folds", "fold1"], ["--grid", "study"], ["--random-weight-results", "afile"]])
def test_random_weight_options_without_a_random_weight_proxy_are_refused(option, toy_space, tmp_path, capsys):
    """`--proxies params --folds fold1 --grid study` ran, applied neither, and search.json recorded a random-weight
    setup that never ran."""
    (tmp_path / "afile").write_text("")
    argv = ["search", str(toy_space), "--tasks", "timbre", "--n", "2", "--proxies", "params", "--dry-run", "-q"]
    assert main([*argv, *[str(tmp_path / o) if o == "afile" else o for o in option]]) == 2
    assert (f"{option[0]} sets the random-weight proxies, and this search computes none: add rw_svm/rw_elm to "
            "--proxies (or leave it out)") in capsys.readouterr().err
    if option[0] == "--grid":  # a search that computes none records none
        opts = SearchOptions(space=str(toy_space), n=1, proxies="params", results_dir=tmp_path, device="cpu")
        manifest = json.loads((search(tone_dataset(n_per_class=4), opts) / "search.json").read_text())
        assert "random_weight" not in manifest and manifest["proxies"] == ["params"]


def test_cli_dry_run_lists_the_sample_and_its_cost(toy_space, capsys):
    assert main(["search", str(toy_space), "--tasks", "timbre", "--n", "2", "--proxies", "params,synflow", "--batch",
                 "4", "--train-top", "1", "--epochs", "5", "--patience", "2", "--device", "cpu", "--dry-run", "-q"]) == 0
    out = capsys.readouterr().out
    assert "2 sampled with seed 0" in out.replace("scoring 2 sampled", "2 sampled") and "synflow: ≈" in out
    assert "training: 1 of them × 1 seed(s)" in out and "every run at the epoch cap" in out
    assert out.rstrip().splitlines()[-1].startswith("total: ≈ ")  # proxies and training together
    assert main(["search", "score"]) == 2  # no folder: one-line error
    # a fold the dataset has not is refused as the search itself refuses it
    assert main(["search", str(toy_space), "--tasks", "timbre", "--n", "2", "--proxies", "rw_elm", "--folds", "fold9",
                 "--dry-run", "-q"]) == 2
    assert "--folds fold9: synthetic/timbre has outer folds fold1" in capsys.readouterr().err


def test_dry_run_times_each_network_once_for_both_random_weight_proxies(toy_space, capsys, caplog):
    caplog.set_level(logging.INFO, logger="rwbench.plan")
    assert main(["search", str(toy_space), "--tasks", "timbre", "--n", "2", "--proxies", "rw_elm,rw_svm",
                 "--device", "cpu", "--dry-run", "-q"]) == 0
    out = capsys.readouterr().out
    timed = [r.getMessage().split()[1] for r in caplog.records if "the run's batches hold" in r.getMessage()]
    assert len(timed) == len(set(timed)) == 2  # each sampled network once, not once per backend
    assert "random-weight embedding, computed once for rw_elm, rw_svm: ≈" in out
    assert "rw_elm: ≈" in out and "rw_svm: ≈" in out and "s per architecture of backend fits (outer folds" in out


def test_the_dry_run_prices_each_architecture_by_its_macs_and_halving_by_both_halves(toy_space, capsys):
    """Every architecture's zero-cost proxies were priced at the first one's time (a sample spanning 333× in MACs
    was 1.85× low), and --halving priced the first half in sample order, not the half the cheap proxy keeps."""
    from rwbench.search import by_macs

    assert by_macs(150, [(100, 1.0), (200, 3.0)]) == pytest.approx(2.0)  # on the line through the two timings
    assert by_macs(50, [(100, 1.0), (200, 3.0)]) == 1.0  # never below the least time measured
    assert by_macs(7, [(100, 2.0)]) == 2.0  # one network timed: its time
    assert main(["search", str(toy_space), "--tasks", "timbre", "--n", "4", "--proxies", "params,synflow,rw_elm",
                 "--halving", "--batch", "4", "--device", "cpu", "--dry-run", "-q"]) == 0
    out = capsys.readouterr().out
    synflow = out.split("synflow: ≈")[1].splitlines()[0]
    assert "the fewest and most MACs; the others by their MACs" in synflow and synflow.count("toy:") == 2
    assert "--halving: the random-weight proxies on 2 of the 4, priced from the 2 cheapest for them to the 2 dearest" in out


@pytest.mark.parametrize("field, value, problem", [
    ("n", 0, "n 0 must be at least 1"),
    ("minibatch", 1, "--batch 1: the zero-cost proxies need a minibatch of at least 2 clips"),
    ("train_top", -1, "train_top, train_random and sample_seed at least 0"),
    ("seeds", [2, 2], "seeds [2, 2] must be distinct"),  # the shared groups check their own fields
    ("device", "tpu", "device 'tpu' is not one of"),
    ("workers", -1, "workers -1 must be 0 or more"),
])
def test_search_options_refuse_what_they_cannot_run(field, value, problem):
    with pytest.raises(RwbenchError, match=re.escape(problem)):
        SearchOptions(space="logmel", **{field: value})


def test_random_weight_proxies_reuse_a_studys_random_rows(toy_space, tmp_path, monkeypatch):
    """--random-weight-results: the proxy reads a results folder's random rows (same run key) instead of embedding
    and fitting again, and its cost is what those files recorded, not the moment it took to read them."""
    import rwbench.pipeline

    dataset, study = tone_dataset(n_per_class=6), tmp_path / "study"
    common = dict(space=str(toy_space), n=2, proxies="rw_elm", grid="study", results_dir=tmp_path, device="cpu",
                  n_jobs=1, seeds=(0, 1), random_weight_results=study)
    first = json.loads((search(dataset, SearchOptions(**common, out=tmp_path / "s1")) / "search.json").read_text())
    rows = sorted((study / "runs").rglob("*__random__seed*__elm.json"))
    assert len(rows) == 4 and first["random_weight"]["results"] == str(study)  # 2 architectures × 2 seeds, written there
    assert not any(a["proxies"]["rw_elm"]["detail"]["reused"] for a in first["architectures"])
    for arch in first["architectures"]:  # made here or read, the cost is the files' embedding + fits
        record = arch["proxies"]["rw_elm"]
        files = [json.loads(Path(f).read_text())["timings"] for f in record["detail"]["result_files"]]
        assert all(t["embed_seconds"] > 0 for t in files)
        assert record["seconds"] == pytest.approx(sum(t["embed_seconds"] + t["fit_seconds"] for t in files))

    plan = plan_search(dataset, SearchOptions(**common, out=tmp_path / "s2"))  # the dry run prices nothing to redo
    assert f"4 of 4 result files already in {study}, reused" in plan
    monkeypatch.setattr(rwbench.pipeline, "embed_all", lambda *a, **k: pytest.fail("reused rows need no embedding"))
    timed_on_gpu = json.loads(rows[0].read_text())  # one seed of one architecture was embedded on a GPU
    rows[0].write_text(json.dumps({**timed_on_gpu, "device": "cuda:0"}))
    second = json.loads((search(dataset, SearchOptions(**common, out=tmp_path / "s2")) / "search.json").read_text())
    for before, after in zip(first["architectures"], second["architectures"]):
        record = after["proxies"]["rw_elm"]
        assert record["detail"]["reused"] and record["seconds_source"] == "recorded in the result files (embedding + fits)"
        assert record["value"] == before["proxies"]["rw_elm"]["value"]
        files = [json.loads(Path(f).read_text())["timings"] for f in record["detail"]["result_files"]]
        assert record["seconds"] > 0
        assert record["seconds"] == pytest.approx(sum(t["embed_seconds"] + t["fit_seconds"] for t in files))
    devices = sorted(a["proxies"]["rw_elm"]["device"] for a in second["architectures"])
    assert devices == ["cpu", "mixed (cpu ×1, cuda ×1)"]  # the reused files' devices, never one of them silently
    with pytest.raises(RwbenchError, match="cannot be combined with --folds"):
        SearchOptions(**common, folds=(dataset.splits()[0].name,))


def test_rwbench_train_runs_the_training_train_top_would():
    """The same head settings (the run key's recipe part), seeds and width: architectures trained in parallel as
    `rwbench train --frontends SPACE:ID` processes (the search study's JOBS) are reused by `search --train-top`."""
    from rwbench import search_cli
    from rwbench.cli import _train_options, build_parser

    parser = build_parser()
    train = _train_options(parser.parse_args(["train", "--dataset", "synthetic", "--frontends", "logmel:x", "--seeds",
                                              "0,", "--dry-run"]))
    top = search_cli._train_options(parser.parse_args(["search", "logmel", "--dataset", "synthetic", "--train-top",
                                                       "20", "--train-seeds", "0,"]))
    assert train.head_settings() == top.head_settings()
    assert (train.seeds, str(train.width)) == (top.seeds, str(top.width)) == ([0], "small")
    precise = [_train_options(parser.parse_args(["train", "--frontends", "logmel:x", "--precise-bn", "--dry-run"])),
               search_cli._train_options(parser.parse_args(["search", "logmel", "--train-top", "1", "--precise-bn"]))]
    assert precise[0].head_settings() == precise[1].head_settings() == {**train.head_settings(), "precise_bn": True}
    with pytest.raises(SystemExit):  # pre-training recomputes its statistics at the end; it has no such option
        parser.parse_args(["pretrain", "mst", "--precise-bn"])
    # how it runs is the search's too: --workers 0 decoded the training's clips with up to 4 workers
    assert search_cli._train_options(parser.parse_args(["search", "logmel", "--train-top", "1", "--workers", "0"])
                                     ).workers == 0


def test_each_proxy_is_compared_with_the_random_weight_one_by_a_paired_bootstrap():
    from rwbench.analysis import ranking
    from rwbench.analysis.search_score import difference, reference_proxy

    rng = np.random.default_rng(5)
    trained = rng.uniform(0.4, 0.9, 14)
    rw, cheap = trained + rng.normal(0, 0.03, 14), trained + rng.normal(0, 0.2, 14)
    archs = [{"name": f"a{i}", "trained": {"value": t, "seconds_per_seed": 1.0},
              "proxies": {"rw_svm": {"value": r, "seconds": 1.0, "kind": "random-weight"},
                          "snip": {"value": c if i else math.nan, "seconds": 1.0, "kind": "zero-cost"}}}
             for i, (t, r, c) in enumerate(zip(trained, rw, cheap))]
    manifest = {"architectures": archs, "proxies": ["snip", "rw_svm"], "rank_by": "snip"}
    assert reference_proxy(manifest) == "rw_svm"  # the study's probe, though the table was ranked by snip
    point, low, high, n = difference(manifest, "rw_svm", "snip")
    assert n == 13
    both = slice(1, None)  # a0's snip is undefined: the comparison is on the 13 with both
    spearman = [stats.spearmanr(x[both], trained[both]).statistic for x in (rw, cheap)]
    assert point == pytest.approx(spearman[0] - spearman[1])
    picks = np.random.default_rng(ranking.BOOTSTRAP_SEED).integers(0, 13, size=(ranking.BOOTSTRAP_DRAWS, 13))
    diffs = np.array([stats.spearmanr(rw[both][p], trained[both][p]).statistic
                      - stats.spearmanr(cheap[both][p], trained[both][p]).statistic for p in picks])
    assert (low, high) == tuple(pytest.approx(v) for v in np.percentile(diffs[np.isfinite(diffs)], [2.5, 97.5]))
    table = proxy_scores(manifest).set_index("proxy")
    assert table.loc["snip", "reference"] == "rw_svm" and table.loc["snip", "reference_minus_rho"] == pytest.approx(point)
    # the difference's n is shown: rw_svm's own ρ in the table is over 14, the difference over the 13 both scored
    assert table.loc["snip", "n_difference"] == 13 and table.loc["rw_svm", "n"] == 14
    assert math.isnan(table.loc["rw_svm", "reference_minus_rho"])  # not compared with itself


def test_the_cost_ratio_divides_by_trainings_on_the_proxys_device():
    """A CPU proxy against GPU trainings is no cost ratio: only the trainings on the proxy's device count, and with
    no such training, or a proxy whose device is not recorded beside trainings on several, it is left blank."""
    from rwbench.analysis import search_score

    def cost_ratio(seconds, device, archs):
        by_arch = {a["name"]: seconds for a in archs}
        return search_score.cost_ratio(by_arch, device, search_score.training_seconds_by_device(archs))

    def arch(name, **by_device):
        return {"name": name, "trained": {"value": 0.5, "seconds_by_device": by_device}}

    archs = [arch("a", cpu=1000.0), arch("b", cpu=3000.0), arch("c", cuda=100.0), arch("d", cpu=2000.0, cuda=50.0),
             {"name": "e", "trained": None}]  # not trained: no cost
    assert cost_ratio(20.0, "cpu", archs) == {"device": "cpu", "cost_ratio": pytest.approx(0.01),
                                              "cost_basis": "3 architecture(s) trained on cpu, 2000 s per seed on "
                                                            "average (the proxy's 20 s on the same)"}
    assert cost_ratio(15.0, "cuda", archs)["cost_ratio"] == pytest.approx(0.2)
    blank = cost_ratio(20.0, "mps", archs)
    assert math.isnan(blank["cost_ratio"]) and blank["cost_basis"] == "none: no training ran on mps (trainings: cpu 3, cuda 2)"
    unknown = cost_ratio(20.0, None, archs)
    assert math.isnan(unknown["cost_ratio"]) and "proxy's device is not recorded" in unknown["cost_basis"]
    one_device = cost_ratio(20.0, None, archs[:2])  # not recorded, but every training ran on one kind: no mix
    assert one_device["cost_ratio"] == pytest.approx(0.01)
    legacy = [{"name": "a", "trained": {"value": 0.5, "seconds_per_seed": 100.0}}]  # from before devices were recorded
    assert cost_ratio(2.0, "cpu", legacy)["cost_ratio"] == pytest.approx(0.02)
    unrecorded_beside = search_score.cost_ratio({"a": 10.0, "b": 10.0}, "cuda", {"cuda": {"a": 100.0}, "": {"b": 1000.0}})
    assert unrecorded_beside["cost_ratio"] == pytest.approx(0.1)  # the unrecorded one is not assumed to be a GPU's


def test_the_cost_ratio_is_over_the_architectures_both_sides_measured():
    """The proxy's mean over every architecture was divided by the mean training of the trained ones: a proxy slow on
    untrained architectures got a ratio 15 times the one on the same architectures."""
    from rwbench.analysis import search_score

    trainings = {"cpu": {"a": 100.0, "b": 300.0}}
    ratio = search_score.cost_ratio({"a": 1.0, "b": 3.0, "c": 1000.0}, "cpu", trainings)
    assert ratio["cost_ratio"] == pytest.approx(2.0 / 200.0)


def test_naming_the_default_grid_keeps_the_random_weight_proxies_key():
    """`--grid wide` is the default grid: the same computation, so the same cache key as no --grid (a study that
    starts naming its grid must not recompute hours of proxies); another grid is another key."""
    from rwbench.proxies import PROXIES
    from rwbench.search import Architecture, proxy_settings

    config = load_space("logmel").sample(1, seed=0)[0]
    arch = Architecture(FRONTENDS.get(f"logmel:{arch_id(config)}"), config)
    dataset = tone_dataset(n_per_class=2)
    keys = {grid: proxy_settings(PROXIES.get("rw_svm"), arch, SearchOptions(space="logmel", grid=grid), dataset)
            for grid in (None, "wide", "wide-linear32")}
    assert keys[None] == keys["wide"] != keys["wide-linear32"]


def test_searches_pool_only_when_their_proxies_are_one_computation():
    from rwbench.analysis.search_score import pooled

    def manifest(space: str, **changes) -> dict:
        base = {"space": {"name": space}, "dataset": {"key": "esc10", "fingerprint": "f"}, "width": "small",
                "proxy_seeds": [0, 1, 2], "minibatch": {"size": 32, "clips": ["a", "b"]}, "proxies": ["snip", "dim"],
                "random_weight": {"outer_folds": ["fold1"], "grid": "wide"},
                "architectures": [{"name": f"{space}:1", "proxies": {}}]}
        return {**base, **changes}

    both = pooled([manifest("logmel"), manifest("waveform", proxies=["dim", "snip", "naswot"])])
    assert both["space"] == ["logmel", "waveform"] and both["proxies"] == ["snip", "dim"]
    assert [a["name"] for a in both["architectures"]] == ["logmel:1", "waveform:1"]
    for change, what in [({"width": "paper"}, "width"), ({"proxy_seeds": [0]}, "proxy seeds"),
                         ({"minibatch": {"size": 8, "clips": ["a"]}}, "minibatch"),
                         ({"random_weight": {"outer_folds": ["fold1"], "grid": "study"}}, "random-weight folds and grid"),
                         ({"dataset": {"key": "esc10", "fingerprint": "g"}}, "dataset fingerprint")]:
        with pytest.raises(RwbenchError, match=f"must share their {what}: search 'logmel' has .*, search 'waveform'"):
            pooled([manifest("logmel"), manifest("waveform", **change)])
    # a search of cheap proxies only records no random-weight setup: nothing of it to differ (it pools with one that
    # has one), while two that record theirs must agree
    cheap = {k: v for k, v in manifest("waveform", proxies=["dim", "snip"]).items() if k != "random_weight"}
    assert pooled([manifest("logmel"), cheap])["space"] == ["logmel", "waveform"]
    assert pooled([cheap, manifest("logmel")])["space"] == ["waveform", "logmel"]
    with pytest.raises(RwbenchError, match="must share their random-weight folds and grid: search 'logmel' has .*, "
                                           "search 'mel2'"):
        pooled([manifest("logmel"), cheap, manifest("mel2", random_weight={"outer_folds": None, "grid": "wide"})])
    # a user's space beside `logmel` holding one of its networks (ids hash the configuration): pooled, the network
    # counted twice in n, ρ's p and its intervals
    config = {"input": "logmel", "depth": 2}
    one = [{"name": "logmel:5f65a9bd", "config": config, "params": 100, "proxies": {}}]
    other = [{"name": "lm2:5f65a9bd", "config": config, "params": 100, "proxies": {}}]
    with pytest.raises(RwbenchError, match="logmel:5f65a9bd and lm2:5f65a9bd are one network"):
        pooled([manifest("logmel", architectures=one), manifest("lm2", architectures=other)])
    # spelt otherwise: max_growth is idle at growth 1 (two spaces' [fixed] tables differ there)
    logmel = load_space("logmel")
    first = next(c for c in logmel.configs if c["growth"] == 1 and c["depth"] > 1)
    spelt = [{"name": "logmel:1", "config": first, "params": 100, "proxies": {}}]
    again = [{"name": "lm2:1", "config": {**first, "max_growth": 2}, "params": 100, "proxies": {}}]
    with pytest.raises(RwbenchError, match="logmel:1 and lm2:1 are one network"):
        pooled([manifest("logmel", architectures=spelt), manifest("lm2", architectures=again)])
    # a space member scored by `search registry` records only its name: read as its configuration
    member = logmel.frontend(logmel.configs[3])
    registered = [{"name": member.name, "config": {"registered": member.name, "input": "logmel"}, "params": 100,
                   "proxies": {}}]
    copy = [{"name": "lm2:" + member.name.split(":")[1], "config": logmel.configs[3], "params": 100, "proxies": {}}]
    with pytest.raises(RwbenchError, match=f"{member.name} and lm2:.* are one network"):
        pooled([manifest("registry", architectures=registered), manifest("lm2", architectures=copy)])
    wider = [{**other[0], "params": 400}]  # the same configuration at another [widths]: another network
    assert len(pooled([manifest("logmel", architectures=one), manifest("lm2", architectures=wider)])["architectures"]) == 2


def test_searches_pool_a_proxy_only_when_one_code_computed_it(toy_space, tmp_path):
    """One space's search rerun after a proxy's change (a version, a plugin's code), pooled with the other's not rerun:
    both computations went into one ρ under one name, without a word."""
    from rwbench.analysis.search_score import score

    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=2, proxies="params,dim", minibatch=4, results_dir=tmp_path,
                         device="cpu")
    a = search(dataset, SearchOptions(**{**opts.__dict__, "out": tmp_path / "a"}))
    others = ",".join(f"toy:{arch_id(c)}" for c in load_space(toy_space).sample(4, seed=0)[2:])  # not in a's sample
    b = search(dataset, SearchOptions(**{**opts.__dict__, "frontends": others, "out": tmp_path / "b"}))
    identity = json.loads((a / "search.json").read_text())["proxy_identity"]
    assert identity == json.loads((b / "search.json").read_text())["proxy_identity"]  # other architectures, one code
    assert identity["params"]["proxy_version"] >= 1 and "frontend" not in identity["params"]
    assert "left out" not in score([a, b], out=tmp_path / "ab")
    assert list(pd.read_csv(tmp_path / "ab" / "score.csv")["proxy"]) == ["params", "dim"]
    manifest = json.loads((b / "search.json").read_text())  # as the older code of `params` wrote it
    manifest["proxy_identity"]["params"] = {**identity["params"], "proxy_code": "sha256 of the plugin before its edit"}
    (b / "search.json").write_text(json.dumps(manifest))
    text = score([a, b], out=tmp_path / "ab")
    assert ("params left out: search 'toy' and search 'toy' computed it differently (proxy_code None vs 'sha256 of "
            "the plugin before its edit'); run the older search again") in text
    assert list(pd.read_csv(tmp_path / "ab" / "score.csv")["proxy"]) == ["dim"]
    del manifest["proxy_identity"]  # a search.json before the field: said, not checked
    (b / "search.json").write_text(json.dumps(manifest))
    assert "what computed the proxies is not recorded for search 'toy'" in score([a, b], out=tmp_path / "ab")


def test_a_proxys_key_changes_with_everything_its_value_depends_on(tmp_path):
    """The space's filter counts (a [widths] edit keeps every id), the clip length and padding and the outer splits
    (the minibatch is drawn from the first one's training side) are in the key: a changed one is computed again, never
    read from a record of the other computation."""
    import soundfile as sf

    from rwbench.api import load_dataset
    from rwbench.proxies import PROXIES
    from rwbench.search import Architecture, proxy_settings

    text = (Path(packaged_spaces()["logmel"])).read_text()
    wider = tmp_path / "logmel.toml"
    wider.write_text(text.replace("small = 24", "small = 48"))
    config = load_space("logmel").sample(1, seed=0)[0]
    narrow_arch = Architecture(load_space("logmel").frontend(config), config)
    wide_arch = Architecture(read_space(wider).frontend(config), config)
    assert narrow_arch.name == wide_arch.name
    for label in ("a", "b"):
        (tmp_path / "clips" / label).mkdir(parents=True)
        for i in range(6):
            sf.write(tmp_path / "clips" / label / f"{i}.wav", np.full(800, 0.1 * (i + 1)), 8000)

    def key(proxy: str, arch=narrow_arch, **options) -> str:
        dataset = load_dataset("folder", tmp_path / "clips", **{"k": 3, "check_duplicates": False, **options})[0]
        return json.dumps(proxy_settings(PROXIES.get(proxy), arch, SearchOptions(space="logmel"), dataset),
                          sort_keys=True, default=str)

    assert key("params") != key("params", arch=wide_arch)
    from rwbench.train import training_key

    dataset = load_dataset("folder", tmp_path / "clips", k=3, check_duplicates=False)[0]
    trained = {arch.spec.filters("small"): training_key(dataset, arch.spec, 0, TrainOptions(),
                                                        dataset.describe()["protocol"], {})
               for arch in (narrow_arch, wide_arch)}
    assert len(set(trained.values())) == 2  # and so is the training `--train-top` would reuse
    import rwbench.pipeline

    rw = key("rw_svm")
    rwbench.pipeline.EVALUATE_CODE_VERSION += 1  # the evaluate stage would recompute: so must the proxy
    try:
        assert key("rw_svm") != rw
    finally:
        rwbench.pipeline.EVALUATE_CODE_VERSION -= 1
    for proxy in ("snip", "rw_elm"):
        assert key(proxy) == key(proxy)
        assert key(proxy) != key(proxy, seconds=0.05) != key(proxy, pad="repeat")
        assert key(proxy) != key(proxy, seed=5)
    # a plugin's edited network and the embedding code (decoding, log-mel, init): a zero-cost proxy's record of the
    # old code was read as the new one's
    import dataclasses

    import rwbench.search

    plugin = Architecture(dataclasses.replace(narrow_arch.spec, code="sha-of-an-edited-plugin"), config)
    for proxy in ("params", "snip", "rw_elm"):
        assert key(proxy) != key(proxy, arch=plugin)
    snip = key("snip")
    rwbench.search.EMBED_CODE_VERSION += 1
    try:
        assert key("snip") != snip
    finally:
        rwbench.search.EMBED_CODE_VERSION -= 1
    task = type(dataset.kind)
    task.code_version += 1  # rwbench's own task types version their scoring, not the loss the gradients follow
    try:
        assert key("snip") == snip
    finally:
        task.code_version -= 1
    assert key("snip") == snip  # and the records written before these were keyed keep their keys


def test_a_search_finds_its_trained_rows_from_any_directory_and_names_a_missing_folder(tmp_path, monkeypatch):
    from rwbench.analysis.search_score import load_manifest

    folder, results = tmp_path / "study" / "results" / "search" / "s", tmp_path / "study" / "trained"
    folder.mkdir(parents=True)
    (results / "runs" / "toy").mkdir(parents=True)
    (results / "runs" / "toy" / "a__small__trained__seed0__head.json").write_text(json.dumps(_trained_record("a", 0.75)))
    manifest = {"dataset": {"key": "toy", "task_type": "multiclass"}, "width": "small", "proxies": [],
                "architectures": [{"name": "a", "proxies": {}}],
                "trained": {"results": "trained", "results_from_folder": "../../../trained"}}
    (folder / "search.json").write_text(json.dumps(manifest))
    monkeypatch.chdir(tmp_path)  # not where the search ran (study/)
    assert load_manifest(folder)["architectures"][0]["trained"]["value"] == 0.75
    del manifest["trained"]["results_from_folder"]  # a search.json from before: relative to where it ran
    (folder / "search.json").write_text(json.dumps(manifest))
    with pytest.raises(RwbenchError, match="trained results folder trained is not there .*relative to the directory"):
        load_manifest(folder)
    monkeypatch.chdir(tmp_path / "study")
    assert load_manifest(folder)["architectures"][0]["trained"]["value"] == 0.75


def _network_fingerprints(space) -> list[str]:
    """Each configuration's network at the space's widths, built with seed 0 and run on one fixed input: what it is,
    found without the space's own network key."""
    import torch

    from rwbench.search_space import SearchedNet

    prints = []
    for config in space.configs:
        parts = []
        for filters in space.widths.values():
            torch.manual_seed(0)
            net = SearchedNet(config, filters)
            x = torch.linspace(-1, 1, 2 * 8000).reshape(2, 1, 8000)
            with torch.no_grad():
                parts += [repr(list(y.shape)) + f"{y.double().sum().item():.10g}" for y in net(x)]
            parts += [repr(list(p.shape)) for p in net.parameters()]
        prints.append("|".join(parts))
    return prints


def test_one_network_is_one_architecture_however_many_configurations_spell_it(toy_space):
    space = load_space(toy_space)
    prints = _network_fingerprints(space)
    # the toy space's 32 configurations: at depth 1 the growth changes nothing, so 8 of them repeat a network
    assert (len(space.configs), len(set(prints)), space.size) == (32, 24, 24)
    everything = space.sample(space.size, seed=5)
    assert len({prints[space.configs.index(c)] for c in everything}) == space.size  # each network once
    with pytest.raises(RwbenchError, match="holds 24 distinct architectures"):
        space.sample(space.size + 1)
    twin = next(c for c in space.configs if c["depth"] == 1 and c["growth"] == 2)
    assert FRONTENDS.get(f"toy:{arch_id(twin)}").name == f"toy:{arch_id(twin)}"  # still a name of its network
    logmel = load_space("logmel")
    assert (len(logmel.configs), logmel.size) == (3552, 3120)
    # the draw: a seeded permutation read in order, the first spelling of each network kept, so every network is
    # equally likely and a larger n extends a smaller one's sample
    assert logmel.sample(20, seed=0)[:7] == logmel.sample(7, seed=0)
    assert all(logmel.distinct[logmel.configs.index(c)] for c in logmel.sample(40, seed=1))


def test_an_id_names_one_network(tmp_path, toy_space):
    collide = tmp_path / "collide.toml"  # two sample rates whose configurations hash to one 8-digit id
    collide.write_text(TOY_SPACE.replace('name = "toy"', 'name = "collide"').replace("max_input_seconds = 1.0\n", "")
                       .replace("sample_rate = 8000\n", "").replace("first_kernel = [16, 64]", "first_kernel = [16]")
                       .replace("first_stride = [8, 16]", "first_stride = [8]").replace("depth = [1, 2]", "depth = [1]")
                       .replace("growth = [1, 2]", "growth = [1]").replace("pool_size = [2, 4]", "pool_size = [2]")
                       .replace("max_growth = 2", "max_growth = 1") + "sample_rate = [99596, 127470]\n")
    with pytest.raises(RwbenchError, match="two configurations share the id"):  # said as the file is read
        load_space(collide)
    renamed = tmp_path / "mylogmel.toml"  # a packaged space's name on another file would rebuild the other network
    renamed.write_text((Path(packaged_spaces()["logmel"])).read_text().replace("small = 24", "small = 48"))
    with pytest.raises(RwbenchError, match="its name 'logmel' is a packaged space's"):
        load_space(renamed)
    for reserved in ("search", "hear"):  # search:ID ran the packaged logmel network in any other process
        named = tmp_path / f"{reserved}.toml"
        named.write_text(TOY_SPACE.replace('name = "toy"', f'name = "{reserved}"'))
        with pytest.raises(RwbenchError, match=f"its name '{reserved}' is taken by front-end names {reserved}:"):
            load_space(named)
    idle = tmp_path / "idle.toml"  # growth 2 under max_growth = 1 changes no network: never drawn, without a word
    idle.write_text(TOY_SPACE.replace('name = "toy"', 'name = "idle"').replace("max_growth = 2", "max_growth = 1"))
    with pytest.raises(RwbenchError, match=r"axes\.growth = 2 changes no network"):
        load_space(idle)
    endless = tmp_path / "endless.toml"  # growth = inf passed the check and crashed in an OverflowError
    endless.write_text(TOY_SPACE.replace('name = "toy"', 'name = "endless"').replace("growth = [1, 2]", "growth = [1, inf]"))
    with pytest.raises(RwbenchError, match="growth.*a finite number ≥ 1"):
        load_space(endless)
    other = tmp_path / "other" / "toy.toml"
    other.parent.mkdir()
    other.write_text(TOY_SPACE.replace("small = 4", "small = 6"))
    load_space(toy_space)
    with pytest.raises(RwbenchError, match=f"its name 'toy' is taken in this process by {toy_space}"):
        load_space(other)


def test_a_search_scores_the_members_it_is_given(toy_space, tmp_path, capsys):
    dataset = tone_dataset(n_per_class=4)
    space = load_space(toy_space)
    chosen = [f"toy:{arch_id(c)}" for c in space.sample(3, seed=9)]
    opts = SearchOptions(space=str(toy_space), frontends=",".join([chosen[2], chosen[0][4:]]), proxies="params",
                         minibatch=4, results_dir=tmp_path, device="cpu")
    manifest = json.loads((search(dataset, opts) / "search.json").read_text())
    assert [a["name"] for a in manifest["architectures"]] == [chosen[2], chosen[0]] and manifest["n"] == 2
    assert manifest["space"]["frontends"] == [chosen[2], chosen[0]] and "sampled" not in manifest["space"]
    twin = next(c for c in space.configs if c["depth"] == 1 and c["growth"] == 2)
    first = next(c for c in space.configs if {**c, "growth": 2} == twin)
    with pytest.raises(RwbenchError, match="builds the same network as"):
        search(dataset, SearchOptions(**{**opts.__dict__, "frontends": f"{arch_id(first)},{arch_id(twin)}"}))
    with pytest.raises(RwbenchError, match="not a member of the space 'toy'"):
        search(dataset, SearchOptions(**{**opts.__dict__, "frontends": "logmel:5f65a9bd"}))
    assert main(["search", str(toy_space), "--tasks", "timbre", "--n", "2", "--frontends", chosen[0], "--dry-run"]) != 0
    assert "--n samples architectures and --frontends lists them: give one" in capsys.readouterr().err


def test_trained_rows_of_other_clips_or_another_network_are_named_not_scored(toy_space, tmp_path):
    from rwbench.analysis.search_score import load_manifest

    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=2, proxies="params", minibatch=4, results_dir=tmp_path, device="cpu",
                         train_top=2, n_jobs=1)
    train = TrainOptions(width="small", epochs=1, patience=1, lrs=(1e-3,), dropouts=(0.0,), results_dir=tmp_path,
                         device="cpu")
    folder = search(dataset, opts, train)
    assert all(a["trained"] for a in load_manifest(folder)["architectures"])
    rows = sorted((tmp_path / "runs").glob("*/*__head.json"))
    record = json.loads(rows[0].read_text())
    record["dataset"]["fingerprint"] = "0123456789abcdef"  # trained on another copy of the data
    rows[0].write_text(json.dumps(record))
    record = json.loads(rows[1].read_text())
    record["frontend"]["params"] += 1  # the space file's widths changed under the same id
    rows[1].write_text(json.dumps(record))
    manifest = load_manifest(folder)
    assert not any(a["trained"] for a in manifest["architectures"])
    assert [line.split(": ", 1)[1].split(":")[0] for line in manifest["trained_not_used"]][:2] == [rows[0].name,
                                                                                                 rows[1].name]
    assert manifest["trained_not_used"][2].startswith("chosen for training but no usable trained row")
    assert "clips 0123456789abcdef (the search's " in manifest["trained_not_used"][0]
    assert "parameters" in manifest["trained_not_used"][1]
    assert main(["search", "score", str(folder)]) == 0


def test_halving_cuts_by_the_first_cheap_proxy_asked_and_records_it(toy_space, tmp_path):
    from rwbench.search import select_proxies

    assert [p.name for p in select_proxies("zero-cost")] == ["synflow", "naswot", "jacob_cov", "grad_norm", "snip",
                                                             "grasp", "fisher"]
    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=4, proxies="zero-cost,rw_elm", minibatch=6, halving=True, grid="study",
                         folds=(dataset.splits()[0].name,), results_dir=tmp_path, device="cpu", n_jobs=1)
    manifest = json.loads((search(dataset, opts) / "search.json").read_text())
    assert manifest["halving_by"] == "synflow" and manifest["rank_by"] == "rw_elm"
    best = sorted(manifest["architectures"], key=lambda a: -a["proxies"]["synflow"]["value"])[:2]
    assert {a["name"] for a in manifest["architectures"] if "rw_elm" in a["proxies"]} == {a["name"] for a in best}


def test_a_trained_mean_of_seeds_is_settled_so_equal_accuracies_tie(tmp_path):
    """Seeds 0.5, 0.5, 0.65 average to 0.5499999999999999 in floating point: settled, they tie with a row at 0.55 in
    every rank and top-10 % (unsettled, the second row won the trained top-1 alone)."""
    from rwbench.analysis.search_score import trained_results

    folder = tmp_path / "runs" / "toy"
    folder.mkdir(parents=True)
    for seed, accuracy in enumerate((0.5, 0.5, 0.65)):
        (folder / f"a__small__trained__seed{seed}__head.json").write_text(json.dumps(
            _trained_record("a", accuracy, seed=seed, fit_seconds=1.0)))
    assert np.mean([0.5, 0.5, 0.65]) != 0.55
    found = trained_results(tmp_path, "toy", "multiclass", "a", "small", fingerprint=None, params=None, skipped=[])
    assert found is not None and found["value"] == 0.55


def test_the_table_orders_a_non_finite_value_last_as_train_top_does():
    from rwbench.search import search_table

    archs = [{"name": name, "config": {"input": "logmel"}, "description": "", "trained": None,
              "proxies": {"synflow": {"value": value}}}
             for name, value in (("a0", math.inf), ("a1", 3.0), ("a2", math.nan), ("a3", 1.0))]
    table = search_table({"architectures": archs, "rank_by": "synflow"})
    assert table["frontend"].tolist() == ["a1", "a3", "a0", "a2"]  # ranked(): finite values first, then sample order
    # random-weight means equal in exact arithmetic tie and keep sample order, as --train-top takes them: the table
    # ranked 0.34 above 0.33999999999999997 and showed b first where a was trained
    low = float(np.mean([.5, .2, .2, .4, .4]))
    tied = [{"name": name, "config": {"input": "logmel"}, "description": "", "trained": None,
             "proxies": {"rw_elm": {"value": value, "kind": "random-weight"}}}
            for name, value in (("a", low), ("b", 0.34), ("c", 0.5))]
    assert low != 0.34 and search_table({"architectures": tied, "rank_by": "rw_elm"})["frontend"].tolist() == ["c", "a", "b"]


def test_halving_and_rank_by_are_checked_before_anything_runs(toy_space, tmp_path):
    """--halving without a random-weight proxy halved nothing and was recorded as done; --rank-by outside --proxies
    passed the dry run and failed the run."""
    dataset = tone_dataset(n_per_class=4)
    base = dict(space=str(toy_space), n=2, minibatch=4, results_dir=tmp_path, device="cpu")
    for options, problem in (({"proxies": "synflow,params", "halving": True}, "add rw_elm or rw_svm to --proxies"),
                             ({"proxies": "rw_elm", "halving": True}, "add a zero-cost or baseline proxy"),
                             ({"proxies": "params", "rank_by": "nonsense"}, "--rank-by 'nonsense' is not among")):
        for run in (search, plan_search):
            with pytest.raises(RwbenchError, match=re.escape(problem)):
                run(dataset, SearchOptions(**base, **options))


def test_train_top_takes_only_architectures_the_proxy_scored(caplog):
    from rwbench.search import Architecture, to_train

    archs = [Architecture(TINY, {"id": i}, proxies={"rw_elm": {"value": v}} if v is not None else {})
             for i, v in enumerate((math.nan, 0.5, None, math.inf, 0.7))]
    with caplog.at_level("WARNING", logger="rwbench"):
        chosen, _ = to_train(archs, "rw_elm", 3, 0, seed=0)
    assert [a.config["id"] for a in chosen] == [1, 4]  # 0.7 and 0.5: never the NaN, the infinite or the unscored
    assert "--train-top 3: only 2 architecture(s) have a finite rw_elm (3 of 5 not scored by it" in caplog.text


def test_train_top_says_which_architectures_tie_across_its_cut_and_a_draw_cut_short(caplog):
    from rwbench.search import Architecture, tied_at_cut, to_train

    archs = [Architecture(dataclasses.replace(TINY, name=f"net{i}"), {"id": i}, proxies={"rw_elm": {"value": v}})
             for i, v in enumerate((0.6, 0.8, 0.7, 0.7))]
    names = [a.name for a in archs]
    with caplog.at_level("WARNING", logger="rwbench"):
        chosen, drawn = to_train(archs, "rw_elm", 2, 5, seed=0)
    assert tied_at_cut(archs, "rw_elm", 2) == [archs[2], archs[3]]  # 0.7 twice: one in the top 2, one not
    assert f"--train-top 2: {names[2]}, {names[3]} tie on rw_elm across the cut; the first 1 in sample order" in caplog.text
    assert "--train-random 5: only 2 architecture(s) are left to draw from" in caplog.text and len(drawn) == 2
    assert tied_at_cut(archs, "rw_elm", 1) == [] and tied_at_cut(archs, "rw_elm", 3) == []  # the cut between values
    assert tied_at_cut(archs, "rw_elm", 4) == []  # everything trained: no cut


def test_search_score_refuses_the_options_of_a_search(tmp_path, capsys):
    assert main(["search", "score", str(tmp_path), "--proxies", "synflow", "--train-top", "3"]) == 2
    assert "--proxies, --train-top are options of a search" in capsys.readouterr().err


def test_a_trained_row_of_another_version_of_the_network_is_named_not_scored(tmp_path):
    """A plugin's activation edited (relu → tanh, the same parameters): the proxies were recomputed on the new network
    and scored against the old network's training (synflow's rho 0.8 → -0.4), without a word."""
    from rwbench.analysis.search_score import look_up_trained

    folder = tmp_path / "runs" / "toy"
    folder.mkdir(parents=True)
    old, new = {"name": "a", "version": 1, "code": "sha256:aaaa"}, {"name": "a", "version": 1, "code": "sha256:bbbb"}
    for name, network in (("a", old), ("b", new), ("c", None)):  # c: a row from before results recorded it
        record = _trained_record(name, 0.5)
        record["frontend"].update(**({"network": network} if network else {}))
        (folder / f"{name}__small__trained__seed0__head.json").write_text(json.dumps(record))
    manifest = {"dataset": {"key": "toy", "task_type": "multiclass"}, "width": "small",
                "architectures": [{"name": n, "network": new} for n in "abc"]}
    (line,) = look_up_trained(manifest, tmp_path)
    assert line == ("trained row not used: a__small__trained__seed0__head.json: trained on another version of the "
                    "network (version 1, code sha256:aaaa; the search's version 1, code sha256:bbbb)")
    assert [bool(a["trained"]) for a in manifest["architectures"]] == [False, True, True]


def test_trained_rows_of_another_protocol_or_recipe_are_named_not_scored(tmp_path):
    """A network trained under another protocol (FSDD refit=train beside train+valid: same clips, same key) or by
    another recipe than the others' (epochs, learning rates) is left out by name, and different seed sets are said."""
    from rwbench.analysis.search_score import look_up_trained

    folder = tmp_path / "runs" / "toy"
    folder.mkdir(parents=True)
    protocol = {"id": "toy/folds", "refit": "train+valid"}

    def row(name, seed, *, epochs=100, refit="train+valid", rule="best epoch within 10 % of the epoch cap"):
        record = _trained_record(name, 0.5 + 0.1 * seed, {**protocol, "refit": refit}, seed=seed, fit_seconds=1.0,
                                 recipe={"epoch_cap": epochs, "lrs": [0.001], "precision": "float32",
                                         "not_converged_rule": rule, **({"validation_rule": "…"} if seed else {})})
        (folder / f"{name}__small__trained__seed{seed}__head.json").write_text(json.dumps(record))

    # a's seed 1 states its rules in later words (FSDD's second seeds, the search study's later rows did): the same
    # training, whose choices are the other fields
    row("a", 0), row("a", 1, rule="best epoch within 10 % of the epoch cap, or within the patience (10) of it")
    row("b", 0), row("c", 0, epochs=8), row("d", 0, refit="train")
    manifest = {"dataset": {"key": "toy", "task_type": "multiclass", "protocol": protocol}, "width": "small",
                "architectures": [{"name": n} for n in "abcd"]}
    lines = look_up_trained(manifest, tmp_path)
    assert [bool(a["trained"]) for a in manifest["architectures"]] == [True, True, False, False]
    assert lines[0] == ("trained row not used: c__small__trained__seed0__head.json: trained on another recipe: "
                        "epoch_cap 8 (the others' 100)")
    assert lines[1].startswith("trained row not used: d__small__trained__seed0__head.json: trained on protocol "
                               "toy/folds #") and "(the search's toy/folds #" in lines[1]
    assert lines[2] == "trained seeds differ between architectures: 1 architecture(s) with seeds 0, 1; " \
                       "1 architecture(s) with seeds 0"


def test_another_search_into_the_same_folder_is_refused(toy_space, tmp_path):
    """Another --seed draws other architectures into the default folder: its search.json would replace the first
    search's, whose trained architectures `search score` then loses."""
    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=2, proxies="params", minibatch=4, results_dir=tmp_path, device="cpu")
    folder = search(dataset, opts)
    first = json.loads((folder / "search.json").read_text())
    assert search(dataset, SearchOptions(**{**opts.__dict__, "proxies": "params,dim"})) == folder  # grown: the same
    grown = json.loads((folder / "search.json").read_text())  # its cost: every record's, not this run's alone
    assert grown["seconds"] >= first["seconds"] > 0 and grown["seconds"] == pytest.approx(
        sum(r["seconds"] for a in grown["architectures"] for r in a["proxies"].values()))
    other = SearchOptions(**{**opts.__dict__, "sample_seed": 7})
    with pytest.raises(RwbenchError, match=r"holds another search \(2 of its 2 architectures are not in this one, "
                                           r"e\.g\. .*--out FOLDER, or --force"):
        search(dataset, other)
    assert search(dataset, SearchOptions(**{**other.__dict__, "out": tmp_path / "seed7"})) == tmp_path / "seed7"
    # --out names no dataset: the same sample on another dataset took the first search's search.json as its own
    chords = tone_dataset(n_per_class=4)
    chords.name = "chords"
    assert chords.key != dataset.key
    with pytest.raises(RwbenchError, match=rf"holds another search \(dataset {dataset.key}, not {chords.key}\)"):
        search(chords, SearchOptions(**{**other.__dict__, "out": tmp_path / "seed7"}))
    # other clips under the same key (a --dataset-option): replaced the trained search without a word
    with pytest.raises(RwbenchError, match=r"holds another search \(other clips: fingerprint "):
        search(tone_dataset(n_per_class=5), opts)


def _search_choosing_two(toy_space, tmp_path):
    """A 3-architecture search whose search.json records a choice for training (a top 1 and b drawn):
    (dataset, options, folder, the three names)."""
    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=3, proxies="params", minibatch=4, results_dir=tmp_path, device="cpu")
    folder = search(dataset, opts)
    manifest = json.loads((folder / "search.json").read_text())
    a, b, c = (arch["name"] for arch in manifest["architectures"])
    manifest["trained"].update(chosen=[a, b], drawn=[b], top=1, random=1, top_by="params", tied_at_cut=[])
    (folder / "search.json").write_text(json.dumps(manifest))
    return dataset, opts, folder, (a, b, c)


def test_a_search_grown_keeps_what_its_earlier_runs_chose_for_training(toy_space, tmp_path):
    """A proxy added without --train-* wrote an empty choice over the recorded one: `search score` dropped the
    range-restriction caveat and ρ over the random draw; a larger --n recorded only its own draws."""
    from rwbench.search import merged_training

    dataset, opts, folder, (a, b, c) = _search_choosing_two(toy_space, tmp_path)
    search(dataset, SearchOptions(**{**opts.__dict__, "proxies": "params,dim"}))
    kept = json.loads((folder / "search.json").read_text())["trained"]
    assert (kept["chosen"], kept["drawn"], kept["top"], kept["top_by"]) == ([a, b], [b], 1, "params")
    now = {"chosen": [c, a], "drawn": [c], "top": 1, "random": 1, "top_by": "dim", "tied_at_cut": [], "results": "r",
           "results_from_folder": "r"}
    grown = merged_training(kept, now)
    assert (grown["chosen"], grown["drawn"], grown["top"], grown["random"], grown["top_by"]) == (
        [a, b, c], [b, c], 1, 2, "params, dim")


def test_force_on_the_same_search_keeps_what_its_earlier_runs_chose_for_training(toy_space, tmp_path):
    """--force (compute every proxy again) on the same search wrote this run's empty choice over the recorded one:
    `search score` dropped the range-restriction caveat and ρ over the random draw."""
    dataset, opts, folder, (a, b, _) = _search_choosing_two(toy_space, tmp_path)
    search(dataset, SearchOptions(**{**opts.__dict__, "force": True}))
    kept = json.loads((folder / "search.json").read_text())["trained"]
    assert (kept["chosen"], kept["drawn"], kept["top"], kept["random"]) == ([a, b], [b], 1, 1)


@pytest.mark.parametrize("field", ["params", "network"])
def test_another_network_under_the_same_names_is_another_search(toy_space, tmp_path, field):
    """A space file's [widths] (or a plugin) edited under the same names: the rerun replaced the trained search's
    search.json without a word, its trained rows then "not used" (trained on another parameter count)."""
    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=2, proxies="params", minibatch=4, results_dir=tmp_path, device="cpu")
    folder = search(dataset, opts)
    manifest = json.loads((folder / "search.json").read_text())
    a, b = (arch["name"] for arch in manifest["architectures"])
    manifest["trained"].update(chosen=[a], drawn=[], top=1, random=0, top_by="params", tied_at_cut=[])
    arch = manifest["architectures"][1]  # as an earlier network of that name recorded it
    arch[field] = arch["params"] + 8 if field == "params" else {**arch["network"], "version": 99}
    (folder / "search.json").write_text(json.dumps(manifest))
    with pytest.raises(RwbenchError, match=rf"holds another search \(another network under the same names: {b} "
                                           r"(had \d+ parameters, now \d+|was .*'version': 99.*)\).*--out FOLDER, or --force"):
        search(dataset, opts)
    search(dataset, SearchOptions(**{**opts.__dict__, "force": True}))  # --force replaces it, its choice with it
    assert json.loads((folder / "search.json").read_text())["trained"]["chosen"] == []


def test_a_larger_n_grows_a_search_a_smaller_one_is_refused_and_the_dry_run_says_so(toy_space, tmp_path, capsys):
    """A larger --n extends a smaller one's sample: nothing of the first search is lost, so it grows in place (it was
    refused as "2 other architectures, e.g. ?"). A smaller --n would drop one: refused, by the dry run too (which
    priced it as if it would run)."""
    common = [str(toy_space), "--tasks", "timbre", "--proxies", "params", "--batch", "4", "--device", "cpu",
              "--out", str(tmp_path / "s"), "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "-q"]
    assert main(["search", *common, "--n", "2"]) == 0
    assert main(["search", *common, "--n", "3"]) == 0
    assert len(json.loads((tmp_path / "s" / "search.json").read_text())["architectures"]) == 3
    capsys.readouterr()
    for dry in (["--dry-run"], []):
        assert main(["search", *common, "--n", "2", *dry]) == 2
        assert "holds another search (1 of its 3 architectures are not in this one, e.g. toy:" in capsys.readouterr().err


def test_a_minibatch_smaller_than_the_class_count_draws_its_classes():
    from rwbench.search import minibatch_indices

    dataset = tone_dataset(n_per_class=4)
    labels = dataset.labels
    drawn = {tuple(sorted(labels[minibatch_indices(dataset, 2, seed)])) for seed in range(20)}
    assert len(drawn) > 1, "two clips of three classes: not always the first two"


def test_a_dry_run_after_a_search_says_what_it_would_read(toy_space, tmp_path, capsys, monkeypatch):
    """Its proxies cached and its random-weight results written (on one outer fold): the dry run predicted them all
    again (the results' protocol, with the folds scored, was not the one it looked them up by)."""
    argv = ["search", str(toy_space), "--tasks", "timbre", "--n", "2", "--proxies", "params,synflow,rw_elm",
            "--batch", "4", "--folds", "fold1", "--device", "cpu", "--out", str(tmp_path / "s"),
            "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "-q"]
    assert main(argv) == 0
    capsys.readouterr()
    import dataclasses

    import rwbench.search

    chosen = rwbench.search.select_proxies

    def untimed(text):  # every cheap proxy cached: the dry run reads them, it neither computes nor times one
        def compute(ctx):
            raise AssertionError("a cached proxy computed by the dry run")
        return [dataclasses.replace(p, compute=compute) if p.kind != "random-weight" else p for p in chosen(text)]

    monkeypatch.setattr(rwbench.search, "select_proxies", untimed)
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"synflow: all 2 cached in {tmp_path / 's'}, read" in out and "params: all 2 cached in" in out
    monkeypatch.setattr(rwbench.search, "select_proxies", chosen)
    rw = out.split("rw_elm: ≈")[1].splitlines()[0]
    assert "2 of 2 result files already in" in rw and "2 of 2 cached in" in rw
    # the result files gone, the proxy records kept: the search reads every value and computes nothing, but the dry
    # run priced the whole random-weight stage
    shutil.rmtree(tmp_path / "r")
    import rwbench.plan

    real = rwbench.plan.plan

    def dear(*args, **kwargs):  # every fit and embedding priced at 100 s: what the dry run adds shows
        rows = real(*args, **kwargs)
        for row in rows:
            row.fit_seconds, row.startup_seconds = 100.0, 100.0
        return rows

    monkeypatch.setattr(rwbench.plan, "plan", dear)
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 cached in" in out.split("rw_elm: ≈")[1].splitlines()[0]
    assert "total: ≈ 0 s … 0 s on this device" in out


def test_random_weight_proxy_means_equal_in_exact_arithmetic_tie():
    """Folds (.5, .2, .2, .4, .4) and (.1, .4, .4, .2, .6) both average 1.7 / 5, stored as 0.33999999999999997 and
    0.34: ranked as a strict order, ρ, τ, top-10 % and regret were wrong and the tie at the --train-top cut unsaid."""
    from rwbench.analysis.search_score import proxy_scores
    from rwbench.search import Architecture, tied_at_cut

    low, high = float(np.mean([.5, .2, .2, .4, .4])), float(np.mean([.1, .4, .4, .2, .6]))
    assert low != high  # the rounding noise under test
    values = (0.9, high, low, 0.1)
    archs = [Architecture(dataclasses.replace(TINY, name=f"net{i}"), {"id": i},
                          proxies={"rw_elm": {"value": v, "kind": "random-weight"}}) for i, v in enumerate(values)]
    assert tied_at_cut(archs, "rw_elm", 2) == [archs[1], archs[2]]
    trained = (0.8, 0.5, 0.6, 0.2)
    manifest = {"proxies": ["rw_elm"], "architectures": [
        {"name": f"net{i}", "proxies": {"rw_elm": {"value": v, "kind": "random-weight", "seconds": 1.0,
                                                   "device": "cpu"}},
         "trained": {"value": t, "seconds": 10.0, "device": "cpu"}} for i, (v, t) in enumerate(zip(values, trained))]}
    row = proxy_scores(manifest).set_index("proxy").loc["rw_elm"]
    expected = stats.spearmanr([0.9, 0.34, 0.34, 0.1], trained)[0]
    assert row["spearman_rho"] == pytest.approx(expected) and expected != pytest.approx(stats.spearmanr(values, trained)[0])


def test_a_search_that_another_wrote_beside_while_it_ran_is_refused_at_the_end(toy_space, tmp_path):
    """Two searches started together into one folder both passed the check made at their start, and the last to
    finish replaced the other's search.json without a word; the check is made again, under a lock, before writing."""
    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=2, proxies="params,dim", minibatch=4, results_dir=tmp_path, device="cpu")
    other = SearchOptions(**{**opts.__dict__, "sample_seed": 7})
    started = []

    def meanwhile(_what):  # while this search computes its proxies, another one finishes into the same folder
        if not started:
            started.append(search(dataset, other))

    with pytest.raises(RwbenchError, match=r"holds another search \(2 of its 2 architectures are not"):
        search(dataset, opts, on_done=meanwhile)
    kept = json.loads((started[0] / "search.json").read_text())["architectures"]
    assert {a["name"] for a in kept} == {a.name for a in candidates(other)[0]}  # the other's, not replaced


def test_halving_keeps_every_architecture_tied_at_its_cut():
    """dim 120, 48, 24, 48: the best half (2) took the first 48 in sample order and left its twin out of rw_elm."""
    from rwbench.search import Architecture, halved

    archs = [Architecture(dataclasses.replace(TINY, name=f"net{i}"), {"id": i}, proxies={"dim": {"value": v}})
             for i, v in enumerate((120, 48, 24, 48))]
    assert halved(archs, "dim") == [archs[0], archs[1], archs[3]]
    assert halved(archs[:3], "dim") == [archs[0], archs[1]]  # no tie at the cut: ceil(3 / 2)


def test_halving_keeps_every_architecture_the_cheap_proxy_could_not_score(caplog):
    """naswot (nan, nan, 2.0, nan): the best half was c and then a, the first undefined in the sample's order; b and d
    never got the random-weight proxy, without a word."""
    from rwbench.search import Architecture, halved

    archs = [Architecture(dataclasses.replace(TINY, name=name), {"id": i}, proxies={"naswot": {"value": v}})
             for i, (name, v) in enumerate(zip("abcd", (math.nan, math.nan, 2.0, math.nan)))]
    with caplog.at_level(logging.WARNING, logger="rwbench"):
        assert halved(archs, "naswot") == [archs[2], archs[0], archs[1], archs[3]]
    assert "naswot has no value for 3 architecture(s) (a, b, d)" in caplog.text
    defined = [Architecture(dataclasses.replace(TINY, name=n), {"id": i}, proxies={"naswot": {"value": v}})
               for i, (n, v) in enumerate(zip("efgh", (1.0, math.nan, 2.0, 3.0)))]
    assert halved(defined, "naswot") == [defined[3], defined[2]]  # enough values: the undefined one is cut


def test_top_precision_and_regret_stand_over_the_trained_however_few_the_proxy_scored():
    """Three trained, synflow defined on two: top-10 % and regret (over every trained architecture, the unscored one
    last) were left blank with ρ and τ, which do need three scored."""
    from rwbench.analysis.search_score import proxy_scores

    values, trained = (2.0, 1.0, None), (0.8, 0.5, 0.6)
    manifest = {"proxies": ["synflow"], "architectures": [
        {"name": f"net{i}", "proxies": {"synflow": {"value": v, "kind": "zero-cost", "seconds": 1.0, "device": "cpu"}}
         if v is not None else {}, "trained": {"value": t, "seconds": 10.0, "device": "cpu"}}
        for i, (v, t) in enumerate(zip(values, trained))]}
    row = proxy_scores(manifest).set_index("proxy").loc["synflow"]
    assert math.isnan(row["spearman_rho"]) and row["top10_precision"] == 1.0 and row["regret"] == 0.0


def _trained_record(name: str, accuracy: float, protocol: dict | None = None, *, epochs: int = 100,
                    partial: bool = False, seed: int = 0, recipe: dict | None = None, fit_seconds: float = 10.0) -> dict:
    """A valid trained result file of one fold scoring ``accuracy`` (a fraction of at most 1000 clips, or NaN), its
    per-clip predictions agreeing."""
    n = next(n for n in range(20, 1001) if math.isnan(accuracy) or round(accuracy * n) / n == accuracy)
    right = 0 if math.isnan(accuracy) else round(accuracy * n)
    truth = [c % 4 for c in range(n)]
    predicted = [t if c < right else (t + 1) % 4 for c, t in enumerate(truth)]
    fold = {"name": "fold1", "accuracy": accuracy,
            **({"balanced_accuracy": accuracy, "macro_f1": accuracy} if math.isnan(accuracy) else
               secondary_metrics(truth, predicted)),
            "test_clips": list(range(n)), "truth": truth, "predicted": predicted}
    return {"schema_version": SCHEMA_VERSION, "seed": seed, "rwbench_version": "test", "git_sha": None, "created": "",
            "environment": {}, "run_key": "k", "device": "cpu", "summary": {"accuracy_mean": accuracy},
            "dataset": {"key": "toy", "skipped": [], **({"protocol": protocol} if protocol is not None else {})},
            "frontend": {"name": name, "input_kind": "waveform", "width": "small", "weights": "trained",
                         "pooling": "mean", "feature_dim": 8, "params": 10, "layers": ["a"], "default_layers": True},
            "backend": {"name": "head"}, "folds": [fold],
            "timings": {"fit_seconds": fit_seconds, "embed_seconds_per_clip": 0.01},
            "training": {"recipe": recipe or {"epoch_cap": epochs}, "partial": partial}}


def _scored_search(root: Path, space: str, rows: dict[str, dict | None], *, chosen=(), top=0, top_by=None,
                   drawn=None, protocol=None) -> Path:
    """A search folder of ``space`` on dataset toy whose architectures are ``rows``' keys (proxy value = trained
    accuracy order, by name), with trained result files under ``root/trained`` (``None``: no file)."""
    folder, runs = root / "search" / f"{space}__toy", root / "trained" / "runs" / "toy"
    folder.mkdir(parents=True)
    runs.mkdir(parents=True, exist_ok=True)
    protocol = protocol or {"id": "toy/folds"}
    for name, row in rows.items():
        if row is not None:
            (runs / f"{name}__small__trained__seed0__head.json").write_text(json.dumps(_trained_record(
                name, row.get("accuracy", 0.5), protocol, epochs=row.get("epochs", 100), partial=row.get("partial", False))))
    trained = {"chosen": list(chosen), "top": top, "top_by": top_by, "results_from_folder": "../../trained",
               **({"drawn": drawn} if drawn is not None else {})}
    manifest = {"space": {"name": space}, "dataset": {"key": "toy", "task_type": "multiclass", "protocol": protocol},
                "width": "small", "proxies": ["p"], "trained": trained,
                "architectures": [{"name": name, "proxies": {"p": {"value": float(i), "seconds": 1.0, "kind": "zero-cost"}}}
                                  for i, name in enumerate(rows)]}
    (folder / "search.json").write_text(json.dumps(manifest))
    return folder


def test_a_search_retrains_under_changed_settings_only_when_asked(toy_space, tmp_path, capsys):
    """`rwbench search --force` recomputed every proxy, then refused the training again with "Pass --force"; training
    under other settings is `--retrain`, named by the refusal."""
    from rwbench.cli import build_parser
    from rwbench.search_cli import _train_options

    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=1, proxies="params", minibatch=4, results_dir=tmp_path, device="cpu",
                         train_top=1, n_jobs=1)
    train = TrainOptions(width="small", epochs=1, patience=1, lrs=(1e-3,), dropouts=(0.0,), results_dir=tmp_path,
                         device="cpu")
    search(dataset, opts, train)
    with pytest.raises(RwbenchError, match=r"trained under other settings.*nothing was computed. Pass --retrain to "
                                           r"train them again"):  # every candidate trained: before the proxies
        search(dataset, opts, dataclasses.replace(train, epochs=2))
    search(dataset, opts, dataclasses.replace(train, epochs=2, replace=True))
    (head,) = (tmp_path / "runs").glob("*/*__head.json")
    assert json.loads(head.read_text())["training"]["recipe"]["epoch_cap"] == 2
    written = head.stat().st_mtime_ns
    search(dataset, opts, dataclasses.replace(train, epochs=2, replace=True))  # up to date: reused, not retrained
    assert head.stat().st_mtime_ns == written
    parser = build_parser()
    retrain = _train_options(parser.parse_args(["search", "logmel", "--train-top", "1", "--retrain"]))
    assert retrain.replace and not retrain.force
    assert not _train_options(parser.parse_args(["search", "logmel", "--train-top", "1"])).replace
    assert main(["search", "logmel", "--n", "1", "--retrain", "--dry-run"]) == 2
    assert "--retrain sets the training of what --train-top/--train-random choose" in capsys.readouterr().err


def test_candidates_trained_under_other_settings_are_said_before_the_proxies(toy_space, tmp_path, caplog):
    """The dry run priced trainings the run would refuse, and the run refused them only after computing every proxy
    (hours of rw_elm/rw_svm on a real dataset, the night's training never started)."""
    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=2, proxies="params,dim", minibatch=4, results_dir=tmp_path,
                         device="cpu", train_top=1, n_jobs=1)
    train = TrainOptions(width="small", epochs=1, patience=1, lrs=(1e-3,), dropouts=(0.0,), results_dir=tmp_path,
                         device="cpu")
    folder = search(dataset, opts, train)
    (trained,) = json.loads((folder / "search.json").read_text())["trained"]["chosen"]
    longer = dataclasses.replace(train, epochs=2)
    plan = plan_search(dataset, opts, longer)
    assert (f"1 trained under other settings, code or data ({trained}): a run choosing one stops after the proxies, "
            "before training (--retrain trains them again)") in plan
    said = []
    with caplog.at_level(logging.WARNING, logger="rwbench.search"), pytest.raises(RwbenchError, match="Nothing was trained"):
        search(dataset, SearchOptions(**{**opts.__dict__, "force": True}), longer,
               on_done=lambda _line: said.append(caplog.text))
    assert f"1 of the 2 candidates were trained under other settings, code or data ({trained}): if --train-top" in said[0]
    every = SearchOptions(**{**opts.__dict__, "train_random": 1, "force": True})  # both chosen: refused before any proxy
    for run in (lambda: plan_search(dataset, every, longer), lambda: search(dataset, every, longer, on_done=said.append)):
        with pytest.raises(RwbenchError, match=rf"{re.escape(trained)} seed 0: trained under other settings.*Every "
                                               r"candidate is to be trained .*nothing was computed"):
            run()
    assert len(said) == 4  # the forced run's 2 × 2 proxies, none after


def test_a_proxy_another_process_is_computing_is_waited_for_and_read(toy_space, tmp_path, caplog):
    """Two searches at once into one folder both computed every zero-cost proxy; the second now waits for the
    first's lock and reads its record (here: one this test writes while holding the lock)."""
    import threading

    from rwbench.fileio import exclusive

    dataset = tone_dataset(n_per_class=4)
    opts = SearchOptions(space=str(toy_space), n=1, proxies="params", minibatch=4, results_dir=tmp_path, device="cpu")
    folder = search(dataset, opts)
    (record_path,) = (folder / "proxies").glob("*/params.json")
    record = json.loads(record_path.read_text())
    record_path.unlink()
    waiting = "waiting for another rwbench process that is computing the params proxy of"
    with caplog.at_level("INFO", logger="rwbench"):
        with exclusive(record_path.parent / ".locks" / "params.json.lock", "the test"):
            second = threading.Thread(target=search, args=(dataset, opts))
            second.start()
            deadline = time.time() + 120
            while waiting not in caplog.text and time.time() < deadline:
                time.sleep(0.01)
            assert waiting in caplog.text
            record_path.write_text(json.dumps({**record, "value": 123.0}))  # the other process's record
        second.join(timeout=120)
    manifest = json.loads((folder / "search.json").read_text())
    assert manifest["architectures"][0]["proxies"]["params"]["value"] == 123.0


def test_a_damaged_or_contradicted_trained_row_is_named_not_scored(tmp_path):
    """A head file whose summary and folds were raised to 1.0 (its per-clip outputs say otherwise) moved ρ from 0.5
    to 1.0 without a word, the leaderboard refusing the same file; a truncated one stopped the search's scoring."""
    from rwbench.analysis.search_score import score

    folder = _scored_search(tmp_path, "s", {f"a{i}": {"accuracy": 0.5 + i / 20} for i in range(5)})
    runs = tmp_path / "trained" / "runs" / "toy"
    contradicted = json.loads((runs / "a0__small__trained__seed0__head.json").read_text())
    contradicted["folds"][0]["accuracy"] = contradicted["summary"]["accuracy_mean"] = 1.0
    (runs / "a0__small__trained__seed0__head.json").write_text(json.dumps(contradicted))
    summary_only = json.loads((runs / "a1__small__trained__seed0__head.json").read_text())
    summary_only["summary"]["accuracy_mean"] = 0.95
    (runs / "a1__small__trained__seed0__head.json").write_text(json.dumps(summary_only))
    damaged = runs / "a2__small__trained__seed0__head.json"
    damaged.write_text(damaged.read_text()[:200])
    text = score([folder])
    assert "5 architectures, 2 trained" in text
    assert "trained row not used: a0__small__trained__seed0__head.json: folds[0] (fold1) has" in text
    assert ("trained row not used: a1__small__trained__seed0__head.json: its summary accuracy_mean 0.95 is not the "
            "mean of its folds (0.55)") in text
    assert "trained row not used: a2__small__trained__seed0__head.json: cannot read" in text
    assert pd.read_csv(folder / "score.csv").iloc[0]["n"] == 2


def test_pooled_searches_are_held_to_one_recipe_and_one_protocol(tmp_path):
    """Each search's own majority recipe let a 5-epoch search and a 100-epoch one into one ρ without a word; another
    protocol pooled silently too."""
    from rwbench.analysis.search_score import score

    a = _scored_search(tmp_path, "a", {f"a{i}": {"accuracy": 0.5 + i / 20, "epochs": 100} for i in range(4)})
    b = _scored_search(tmp_path, "b", {f"b{i}": {"accuracy": 0.5 + i / 20, "epochs": 5} for i in range(3)})
    text = score([a, b])
    assert "7 architectures, 4 trained" in text
    assert sum("trained row not used: b" in line and "epoch_cap 5 (the others' 100)" in line
               for line in text.splitlines()) == 3
    c = _scored_search(tmp_path / "c", "c", {"c0": {}}, protocol={"id": "toy/other-folds"})
    with pytest.raises(RwbenchError, match="must share their protocol"):
        score([a, c])


def test_chosen_architectures_without_a_usable_row_are_named(tmp_path):
    """An architecture chosen for training with no row, one with only a partial row and one whose accuracy is NaN
    were left out in silence (n fell from 5 to 3; the NaN made every top-10 % precision 0)."""
    from rwbench.analysis.search_score import score

    rows = {"a0": {"accuracy": 0.5}, "a1": {"accuracy": 0.6}, "a2": {"accuracy": 0.7}, "a3": None,
            "a4": {"accuracy": 0.9, "partial": True}, "a5": {"accuracy": math.nan}}
    folder = _scored_search(tmp_path, "s", rows, chosen=list(rows))
    text = score([folder])
    assert "6 architectures, 3 trained" in text
    assert "trained row not used: a4__small__trained__seed0__head.json: a partial training" in text
    assert "trained row not used: a5__small__trained__seed0__head.json: folds[0].accuracy is nan" in text
    assert ("chosen for training but no usable trained row (not trained yet, failed, or left out above): "
            "3 architecture(s): a3, a4, a5") in text
    row = pd.read_csv(folder / "score.csv").iloc[0]
    assert row["n"] == 3 and row["top10_precision"] == 1.0


def test_overlapping_searches_state_each_choice_once(tmp_path):
    """Two --out searches of one space sharing architectures (or one folder given twice) doubled the selection line's
    counts: "top 4 ... plus 4 drawn" for 2 top picks and 3 distinct draws."""
    from rwbench.analysis.search_score import score

    rows = {**{f"a{i}": {"accuracy": 0.5 + i / 20} for i in range(5)}, "a5": None}  # a5: not chosen, not trained
    x = _scored_search(tmp_path / "x", "s", rows, chosen=["a0", "a1", "a2", "a3"], top=2, top_by="p", drawn=["a2", "a3"])
    y = _scored_search(tmp_path / "y", "s", rows, chosen=["a0", "a1", "a2", "a4"], top=2, top_by="p", drawn=["a2", "a4"])
    text = score([x, y], out=tmp_path / "xy")
    assert "6 architectures, 5 trained" in text
    assert "The trained architectures are the top 2 by p plus 3 drawn at random" in text
    with pytest.raises(RwbenchError, match=f"{re.escape(str(x))} is given twice: .*give each search folder once"):
        score([x, Path(str(x) + "/")], out=tmp_path / "xx")


def test_a_pooled_selection_is_read_the_same_in_either_order(tmp_path):
    """--train-top in one search and a random draw in the other: the range-restriction line and ρ over the drawn
    depended on which folder came first (the first search's `top` was taken for all)."""
    from rwbench.analysis.search_score import score

    a = _scored_search(tmp_path, "a", {f"a{i}": {"accuracy": 0.5 + i / 20} for i in range(4)},
                       chosen=[f"a{i}" for i in range(4)], drawn=[f"a{i}" for i in range(4)])
    rows = {f"b{i}": ({"accuracy": 0.4 + i / 30} if i >= 2 else None) for i in range(6)}
    b = _scored_search(tmp_path, "b", rows, chosen=["b2", "b3", "b4", "b5"], top=3, top_by="p", drawn=["b2"])
    outputs = [score([a, b], fmt="json", out=tmp_path / "ab"), score([b, a], fmt="json", out=tmp_path / "ba")]
    first, second = (pd.read_json(io.StringIO(text)).iloc[0] for text in outputs)
    assert first["n_drawn"] == second["n_drawn"] == 5
    assert first["spearman_rho_drawn"] == pytest.approx(second["spearman_rho_drawn"])


def test_the_reports_search_table_has_the_columns_its_note_names():
    from rwbench.analysis.search_score import REPORT_COLUMNS

    line = selection_line({"trained": {"top": 1, "top_by": "p", "drawn": ["a"]}, "architectures": [{"name": "b"}]})
    assert "spearman_rho_drawn" in line[0] and "n_drawn" in line[0]
    assert {"n_drawn", "spearman_rho_drawn"} <= set(REPORT_COLUMNS)


def test_a_proxy_that_scored_fewer_than_its_top_gets_no_top_precision_or_regret():
    """synflow undefined on all ten trained architectures: every value tied at -inf gave top-10 % precision 0.1 and
    the mean regret, a random ranking's figures, for a proxy that ranked nothing. Ten trained: its top 10 % is one
    architecture, so one scored is enough."""
    from rwbench.analysis.search_score import proxy_scores

    trained = [0.5 + i / 20 for i in range(10)]
    scored = {"synflow": [math.nan] * 10, "one": [math.nan] * 9 + [1.0], "all": list(range(10))}
    manifest = {"proxies": list(scored), "architectures": [
        {"name": f"net{i}", "trained": {"value": t, "seconds": 10.0, "device": "cpu"},
         "proxies": {name: {"value": values[i], "kind": "zero-cost", "seconds": 1.0, "device": "cpu"}
                     for name, values in scored.items()}} for i, t in enumerate(trained)]}
    table = proxy_scores(manifest).set_index("proxy")
    assert table.loc["synflow", "n"] == 0
    assert math.isnan(table.loc["synflow", "top10_precision"]) and math.isnan(table.loc["synflow", "regret"])
    assert table.loc["one", "top10_precision"] == 1.0 and table.loc["one", "regret"] == 0.0  # its one pick is the best
    assert table.loc["all", "top10_precision"] == 1.0 and table.loc["all", "spearman_rho"] == pytest.approx(1.0)


def test_score_json_keeps_tiny_p_values(tmp_path):
    """pandas' default 10 decimal places wrote an exact p of 2/14! (2.3e-11) as 0.0 in score.json, while score.csv
    and score.md gave it."""
    from rwbench.analysis.search_score import score

    folder = _scored_search(tmp_path, "s", {f"a{i}": {"accuracy": (12 + i) / 40} for i in range(14)})
    score([folder])
    rows = {r["proxy"]: r for r in json.loads((folder / "score.json").read_text())}
    csv = pd.read_csv(folder / "score.csv").set_index("proxy")
    perfect = [name for name, r in rows.items() if r["spearman_rho"] == pytest.approx(1.0)]
    assert perfect, "the toy search should rank perfectly by some proxy"
    for name in perfect:
        assert rows[name]["spearman_p"] > 0
        assert rows[name]["spearman_p"] == pytest.approx(csv.loc[name, "spearman_p"], rel=1e-9)


def test_a_plugin_proxys_edited_code_is_another_key(tmp_path):
    """A plugin proxy had only its version in its records' key: its edited function read the old one's records."""
    import dataclasses

    from rwbench.proxies import PROXIES
    from rwbench.registry import load_plugin_file
    from rwbench.search import Architecture, proxy_settings

    plugin = tmp_path / "my_proxy.py"
    plugin.write_text("from rwbench.proxies import ProxyValue, register_proxy\n\n\n"
                      "@register_proxy(name='test_constant_proxy', kind='zero-cost', source='a test', "
                      "description='a constant')\ndef constant(ctx):\n    return ProxyValue(1.0)\n")
    load_plugin_file(plugin)
    spec = PROXIES.get("test_constant_proxy")
    assert spec.code is not None and PROXIES.get("snip").code is None  # the plugin file's sha256; rwbench's own: none
    config = load_space("logmel").sample(1, seed=0)[0]
    arch = Architecture(load_space("logmel").frontend(config), config)
    keys = [proxy_settings(s, arch, SearchOptions(space="logmel"), tone_dataset(n_per_class=4))
            for s in (spec, dataclasses.replace(spec, code="the sha256 of the edited file"))]
    assert keys[0]["proxy_code"] == spec.code and keys[0] != keys[1]


def test_an_unreadable_minibatch_clip_is_replaced_under_skip_bad_audio(toy_space, tmp_path):
    """--skip-bad-audio skipped a bad clip in the random-weight stage but not in the zero-cost minibatch: one
    unreadable clip there stopped the search."""
    from rwbench.search import minibatch_indices

    clean = tone_dataset(n_per_class=4)
    bad_id = clean.clips[int(minibatch_indices(clean, 4, 0)[0])].id
    dataset = tone_dataset(n_per_class=4, fail_on={bad_id: DataError(f"{bad_id}: cannot decode")})
    opts = SearchOptions(space=str(toy_space), n=1, proxies="synflow", minibatch=4, results_dir=tmp_path, device="cpu")
    with pytest.raises(DataError, match=f"{bad_id}: cannot decode .*--skip-bad-audio draws another in its place"):
        search(dataset, opts)
    folder = search(dataset, SearchOptions(**{**opts.__dict__, "skip_bad_audio": True, "out": tmp_path / "s"}))
    minibatch = json.loads((folder / "search.json").read_text())["minibatch"]
    assert minibatch["skipped"] == {bad_id: f"{bad_id}: cannot decode"}
    assert len(minibatch["clips"]) == 4 and bad_id not in minibatch["clips"]


def _picky_tones():
    """Tones whose first minibatch clip (size 4, seed 0) reads at 8 kHz only."""
    from rwbench.search import minibatch_indices

    class Picky(type(tone_dataset())):
        def load_audio(self, clip, sample_rate):
            if sample_rate != 8000 and clip.id == self.picky:
                raise DataError(f"{clip.id}: no decoder at {sample_rate} Hz")
            return super().load_audio(clip, sample_rate)

    tones = tone_dataset(n_per_class=4)
    dataset = Picky(tones.name, None, tones.clips, tones.protocol, tones.seconds)
    dataset.decoded, dataset.fail_on = [], {}
    dataset.picky = dataset.clips[int(minibatch_indices(dataset, 4, 0)[0])].id
    return dataset


def test_a_minibatch_clip_unreadable_at_a_later_input_length_is_not_replaced_for_it_alone():
    """A clip read at one sample rate and unreadable at another: the minibatch was drawn again for the later
    front-ends only, so one proxy column mixed two minibatches while search.json named one."""
    from rwbench.search import Minibatches

    dataset = _picky_tones()
    batches = Minibatches(dataset, 4, 0, "small", skip_bad_audio=True)
    batches(TINY)()  # 8 kHz: every clip read
    with pytest.raises(DataError, match=r"other front-ends' input lengths read, so it cannot be replaced"):
        batches(dataclasses.replace(TINY, name="tiny16", sample_rate=16000))()


def test_a_zero_cost_record_of_a_replaced_minibatch_is_keyed_by_the_clips_left_out():
    """Under --skip-bad-audio the minibatch a front-end reads depends on which input lengths the search read first
    (a clip unreadable at 16 kHz is replaced when a 16 kHz front-end comes first): the zero-cost key named no
    replaced clip, so a record of the drawn minibatch was read back for a search that scored the replaced one."""
    from rwbench.proxies import PROXIES
    from rwbench.search import Architecture, Minibatches, proxy_key_settings

    dataset = _picky_tones()
    opts = SearchOptions(space="logmel", minibatch=4, skip_bad_audio=True)
    arch, protocol = Architecture(TINY, {}), dataset.describe()["protocol"]
    synflow, baseline = PROXIES.get("synflow"), PROXIES.get("params")

    drawn = Minibatches(dataset, 4, 0, "small", skip_bad_audio=True)  # 8 kHz first: the minibatch as drawn
    assert drawn.replaced(TINY) == [] and "batch_replaced" not in proxy_key_settings(
        synflow, arch, opts, dataset, protocol, drawn)
    replaced = Minibatches(dataset, 4, 0, "small", skip_bad_audio=True)
    replaced(dataclasses.replace(TINY, name="tiny16", sample_rate=16000))()  # 16 kHz first: the picky clip replaced
    key = proxy_key_settings(synflow, arch, opts, dataset, protocol, replaced)
    assert key["batch_replaced"] == [dataset.picky]
    assert key != proxy_key_settings(synflow, arch, opts, dataset, protocol, drawn)
    assert proxy_key_settings(baseline, arch, opts, dataset, protocol, replaced) == proxy_key_settings(
        baseline, arch, opts, dataset, protocol, drawn)  # a baseline reads no minibatch
    assert Minibatches(dataset, 4, 0, "small").replaced(TINY) == []  # without the option: nothing decoded here


@pytest.mark.parametrize("extra, named", [
    (["--epochs", "5"], "--epochs sets the training"),
    (["--lrs", "0.01", "--train-seeds", "2"], "--train-seeds, --lrs set the training"),
    (["--retrain"], "--retrain sets the training"),
])
def test_training_options_of_a_search_that_trains_nothing_are_refused(toy_space, tmp_path, extra, named, capsys):
    """Without --train-top/--train-random, --epochs, --lrs, --train-seeds ... were taken and ignored without a word."""
    argv = ["search", str(toy_space), "--tasks", "timbre", "--n", "1", "--proxies", "params", "--dry-run", *extra]
    assert main(argv) == 2
    assert named in capsys.readouterr().err


def test_a_search_folder_that_is_a_file_is_refused_before_any_work(toy_space, tmp_path, capsys):
    """`--out FILE` failed after the first architecture was embedded, with a message about free space."""
    (tmp_path / "taken").write_text("")
    for flag in ("--out", "--random-weight-results"):
        argv = ["search", str(toy_space), "--tasks", "timbre", "--n", "1", "--proxies", "rw_elm", flag,
                str(tmp_path / "taken"), "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c")]
        assert main(argv) == 2
        assert re.search(f"{flag} '.*taken' is a file, not a folder", capsys.readouterr().err)
    assert not (tmp_path / "c").exists()  # nothing embedded


def test_run_refuses_two_names_of_one_network(tmp_path, capsys):
    """`rwbench run --frontends logmel:96e3ab17,logmel:75e6b3fe` (depth 1: growth 1 and 2 build one network) made two
    rows, two embeddings, two entries in Friedman/Nemenyi; `search --frontends` already refused it."""
    assert main(["run", "--frontends", "logmel:96e3ab17,logmel:75e6b3fe", "--backends", "logreg", "--dry-run",
                 "--results", str(tmp_path / "r")]) == 2
    assert "logmel:75e6b3fe builds the same network as logmel:96e3ab17; give one" in capsys.readouterr().err
    assert main(["run", "--frontends", "logmel:96e3ab17,logmel:5f65a9bd", "--backends", "logreg", "--dry-run",
                 "--results", str(tmp_path / "r")]) == 0


DEEP_SPACE = """name = "deep"
[widths]
small = 4
[fixed]
input = "logmel"
sample_rate = 12000
n_fft = 512
hop_length = 256
n_mels = 96
kernel = [3, 3]
max_growth = 1
growth = 1
nonlinearity = "relu"
batch_norm = false
pool_size = [2, 1]
pool = "max"
first_kernel = [3, 3]
[axes]
depth = [30]
"""


@pytest.mark.parametrize("extra", [["--proxies", "synflow"], ["--proxies", "params", "--train-top", "1", "--dry-run"]])
def test_a_network_too_large_for_the_minibatch_is_said_before_decoding(tmp_path, capsys, extra):
    """30 pooling layers want 2^30 frames: the zero-cost proxies' minibatch (and the dry run's training estimate)
    tried to allocate 1 TiB and died in a numpy traceback, where rw_elm, run and train say what it needs."""
    space = tmp_path / "deep.toml"
    space.write_text(DEEP_SPACE)
    argv = ["search", str(space), "--tasks", "timbre", "--n", "1", *extra, "--results", str(tmp_path / "r"),
            "--cache", str(tmp_path / "c")]
    assert main(argv) == 2
    assert "deep:73ac1081 at --width small needs about" in capsys.readouterr().err
