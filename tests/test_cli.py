"""The command line: one clear line and exit 2 on bad input; list, leaderboard and run work end to end."""

import json
import subprocess
import sys

import pytest
import torch

from rwbench.cli import main
from rwbench.cli_args import seed_list


@pytest.mark.parametrize("argv, match", [
    (["run", "--frontends", "nosuch"], "unknown front-end 'nosuch'"),
    (["run", "--frontends", "vgx"], "did you mean 'vgg'"),
    (["run", "--backends", "smv"], "did you mean 'svm'"),
    (["run", "--dataset", "gtzn"], "did you mean 'gtzan'"),
    (["run", "--dataset", "esc10", "--data-root", "/nonexistent"], "data root '/nonexistent' for dataset 'esc10' does not exist"),
    (["run", "--dataset", "esc10"], "needs --data-root"),
    (["run", "--data-root", "/nonexistent"], "dataset 'synthetic' is generated and takes no --data-root"),
    (["run", "--width", "huge"], "has no width 'huge'; use one of ['paper', 'small'] or a filter count"),
    (["run", "--width", "1e9"], "--width takes small, paper (or a front-end's own width name) or a filter count"),
    (["run", "--seeds", "two"], "--seeds takes a count"),
    (["run", "--aggregate", "majority"], "--hop and --aggregate need --segment SECONDS"),
    (["run", "--segment", "-1"], "--segment takes a positive float below 86400, got '-1'"),
    (["run", "--frontends", "vgg", "--weights", "dsp"], "no selected front-end offers weights ['dsp'] (vgg offers ['random'])"),
        (["run", "--frontends", "vgg,deepfourier", "--weights", "dsp"], "front-end 'vgg' offers none of the weights ['dsp']"),
        (["run", "--weights", "random,random"], "--weights takes distinct comma-separated tags"),
        (["run", "--frontends", "musicnn", "--layers", "penultimat"], "did you mean 'penultimate'"),
        (["run", "--frontends", "musicnn", "--weights", "pretrained:/nonexistent.safetensors"],
         "pretrained weights file '/nonexistent.safetensors' does not exist"),
        (["weights", "fetch", "musicn"], "did you mean 'musicnn'"),
        (["weights", "fetch", "musicnn", "--from", "/nonexistent.whl"], "/nonexistent.whl does not exist"),
    (["run", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["run", "--plugin", "/nonexistent/plugin.py"], "plugin file '/nonexistent/plugin.py' does not exist"),
    (["leaderboard", "--results", "/nonexistent"], "does not exist; run `rwbench run` first"),
    (["list", "things"], "invalid choice: 'things'"),
    (["check-plugin", "nosuch"], "unknown front-end 'nosuch'"),
    pytest.param(["check-plugin", "mfcc", "--device", "cuda"], "--device cuda was asked for but torch sees no CUDA",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_bad_input_gives_one_clear_line(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rwbench: error:"), err
    assert match in err, err


def test_list_shows_every_registry(capsys):
    for kind, expected in [("frontends", "timbral_temporal"), ("datasets", "synthetic"), ("backends", "elm")]:
        assert main(["list", kind]) == 0
        assert expected in capsys.readouterr().out
    assert main(["list", "frontends", "vertical_*"]) == 0
    out = capsys.readouterr().out
    assert "vertical_7x86" in out and "vgg" not in out
    # options between the kind and the pattern (argparse matches an optional positional early): still the pattern
    assert main(["list", "frontends", "-q", "vertical_*"]) == 0
    out = capsys.readouterr().out
    assert "vertical_7x86" in out and "vgg" not in out
    for argv, extra in ((["list", "frontends", "-q", "vertical_*", "x"], "vertical_* x"),
                        (["list", "frontends", "-q", "--bogus"], "--bogus")):
        assert main(argv) == 2
        assert capsys.readouterr().err.strip().endswith(f"unrecognized arguments: {extra}")


@pytest.mark.slow
def test_run_embed_evaluate_leaderboard_on_small_synthetic_data(tmp_path, capsys, monkeypatch):
    common = ["--results", str(tmp_path), "--frontends", "temporal,mfcc", "--device", "cpu", "--quiet",
              "--dataset-option", "n_per_class=8", "--tasks", "rhythm"]
    assert main(["embed", *common]) == 0
    assert main(["evaluate", *common, "--backends", "logreg"]) == 0
    assert main(["run", *common, "--backends", "logreg,knn"]) == 0
    out = capsys.readouterr().out
    assert "### synthetic/rhythm" in out and out.count("| temporal") == 2 and out.count("| mfcc") == 2
    out_file = tmp_path / "board.json"
    argv = ["leaderboard", "--results", str(tmp_path), "--format", "json", "-o", str(out_file)]
    # the recorded command is rebuilt from sys.argv: the one a real `rwbench leaderboard ...` process has, not the
    # test runner's (an xdist worker's sys.argv is ["-c"])
    monkeypatch.setattr(sys, "argv", ["rwbench", *argv])
    assert main(argv) == 0
    board = json.loads(out_file.read_text())
    rows = board["rows"]
    assert board["metadata"]["rwbench_version"] and board["metadata"]["command"].startswith("rwbench leaderboard ")
    assert isinstance(rows[0]["fold_accuracies"], list) and isinstance(rows[0]["fold_scores_by_seed"], list)
    assert {(r["frontend"], r["backend"]) for r in rows} == {(f, b) for f in ("temporal", "mfcc") for b in ("logreg", "knn")}


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "rwbench.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("rwbench ")


@pytest.mark.parametrize("text, seeds", [("3", [0, 1, 2]), ("1", [0]), ("0,5,7", [0, 5, 7]), ("5,", [5]), ("0,", [0])])
def test_seeds_are_a_count_or_a_list_and_a_trailing_comma_makes_one_seed_a_list(text, seeds):
    assert seed_list(text) == seeds
