"""Daily friction, through the real command line: a start that imports nothing heavy, check-plugin's
count of skipped checks, third-party loggers kept quiet under -v, and the run summary naming repeat-padding."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rwbench import choices
from rwbench.cli import main


def python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


LIGHT = """
import json, sys
from rwbench.cli import main
code = main(sys.argv[1:])
heavy = [m for m in ("torch", "sklearn", "librosa", "scipy", "pandas", "matplotlib", "hpelm", "numba")
         if m in sys.modules]
print(json.dumps([code, heavy]), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["report", "--help"], ["list", "backends"],
                                  ["weights", "--help"], ["bogus"]])
def test_the_light_commands_import_no_numerical_library(argv):
    """`--help`, every parser and `list backends` import none of torch, scikit-learn, librosa, scipy, pandas (the
    time it saves is measured in benchmarks/startup.py, not here)."""
    done = python(LIGHT, *argv)
    code, heavy = json.loads(done.stderr.strip().splitlines()[-1])
    assert heavy == [], (argv, heavy)
    assert code == (2 if argv == ["bogus"] else 0)


def test_list_datasets_needs_neither_torch_nor_sklearn():
    code, heavy = json.loads(python(LIGHT, "list", "datasets").stderr.strip().splitlines()[-1])
    assert code == 0 and not {"torch", "sklearn", "librosa"} & set(heavy), heavy


def test_the_parser_choices_agree_with_the_modules_that_own_them():
    from rwbench import backends, evaluate, fitting, frontend, pretrain, tasks
    from rwbench.analysis import leaderboard, significance

    assert (choices.DEFAULT_GRID, choices.GRID_NAMES) == (backends.DEFAULT_GRID, backends.GRID_NAMES)
    assert choices.AGGREGATES == evaluate.AGGREGATES
    assert choices.POOLINGS == frontend.POOLINGS and choices.PRECISIONS == tuple(frontend.PRECISIONS)
    assert choices.INITS == tuple(sorted(frontend.INITS))
    assert choices.FORMATS == leaderboard.FORMATS and choices.REGIMES == significance.REGIMES
    assert choices.TASK_TYPES == tuple(tasks.TASK_TYPES)
    assert choices.PRIMARY_METRICS == tuple(t.primary for t in tasks.TASK_TYPES.values())
    assert (choices.SELECT_ON, choices.REFITS, choices.SILENCE_DBFS, choices.WINDOW_HOP, choices.LR_SCHEDULES) == (
        fitting.SELECT_ON, fitting.REFITS, fitting.SILENCE_DBFS, fitting.WINDOW_HOP, tuple(fitting.LR_SCHEDULES))
    assert (choices.MST_LR, choices.PRETRAINERS) == (pretrain.MST_LR, tuple(pretrain.PRETRAINERS))


def test_check_plugin_counts_a_skipped_check_as_skipped(capsys):
    assert main(["check-plugin", "mfcc"]) == 0  # no weights: other_seed is skipped; on CPU cpu_cuda too
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "passed all" not in last
    assert last.startswith("front-end 'mfcc' passed ") and " of 16 checks, " in last
    assert "skipped (other_process: rwbench's own network; other_seed: no weights" in last


VERBOSE = """
import logging, sys
import filelock
from rwbench.cli import main
main(sys.argv[1:-1])
logging.getLogger("rwbench").debug("rwbench debug line")
with filelock.FileLock(sys.argv[-1] + ".lock"):  # filelock logs "Attempting to acquire lock ..." at DEBUG
    pass
logging.getLogger("matplotlib.font_manager").info("generated new fontManager")
"""


def test_verbose_keeps_third_party_loggers_at_warning_unless_vv(tmp_path):
    one = python(VERBOSE, "list", "backends", "-v", str(tmp_path / "x"))
    assert "rwbench debug line" in one.stderr
    assert "filelock" not in one.stderr and "fontManager" not in one.stderr, one.stderr
    two = python(VERBOSE, "list", "backends", "-vv", str(tmp_path / "x"))
    assert "DEBUG filelock" in two.stderr and "rwbench debug line" in two.stderr
    plain = python(VERBOSE, "list", "backends", str(tmp_path / "x"))  # INFO by default: matplotlib's INFO too
    assert "fontManager" not in plain.stderr


def test_a_run_that_repeat_pads_says_so_with_the_cost(monkeypatch, tmp_path, capsys):
    from rwbench import plan

    monkeypatch.setattr(plan, "plan", lambda *args: None)  # the plan's quick timing is not what is tested here
    monkeypatch.setattr(plan, "render", lambda *args: "")
    assert main(["run", "--frontends", "vgg,mfcc", "--backends", "svm", "--results", str(tmp_path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"padding: vgg reads 27.3 s per input: synthetic/{task}'s 6 s clips are repeated 4.55× (4.55× the "
                     f"compute of an unpadded clip)" for task in ("rhythm", "timbre")]


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback():
    """`rwbench list frontends | head -1`: the reader goes away before rwbench writes; rwbench stops quietly."""
    code = "import sys, time; from rwbench.cli import main; time.sleep(1); sys.exit(main(['list', 'frontends']))"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # closed before the child writes a byte
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_a_list_option_given_twice_says_which_one_runs(tmp_path, capsys, caplog):
    """argparse keeps the last of two: `--frontends mfcc --frontends logmel_stats` ran logmel_stats alone, unsaid. The
    last still wins (a script's later flag overrides its defaults), said in a warning."""
    import logging

    from rwbench.cli import main

    with caplog.at_level(logging.WARNING, logger="rwbench"):
        assert main(["run", "--frontends", "mfcc", "--frontends", "logmel_stats", "--backends", "knn", "--dry-run",
                     "--results", str(tmp_path / "r")]) == 0
    said = caplog.text + capsys.readouterr().err
    assert "--frontends given twice: the last (logmel_stats) replaces mfcc; give one comma-separated list" in said


@pytest.mark.parametrize("argv, said", [
    (["run", "--seeds", "3", "--seeds", "1,"], "--seeds given twice: the last (1) replaces 0,1,2"),
    (["train", "--lrs", "0.001,0.01", "--lrs", "0.1"], "--lrs given twice"),
    (["search", "logmel", "--proxies", "synflow", "--proxies", "params"], "--proxies given twice"),
    (["reproduce", "pons2019", "--backends", "svm", "--backends", "elm"], "--backends given twice: the last (elm)"),
])
def test_every_list_option_given_twice_is_said(argv, said, caplog):
    """`--seeds 3 --seeds 1,` ran seed 1 alone without a word (so did --layers, --lrs, --dropouts, --proxies, the
    search's seed lists and reproduce's --backends): only --frontends, --weights, --tasks and run's --backends said it."""
    import logging

    from rwbench.cli import build_parser

    with caplog.at_level(logging.WARNING, logger="rwbench"):
        build_parser().parse_args(argv)
    assert said in caplog.text


def test_profile_threads_are_bounded_before_openmp_fails():
    """`rwbench profile --threads 30000` aborted in libgomp (100000: a segfault), no rwbench error line."""
    import argparse

    from rwbench import cli_args

    with pytest.raises(argparse.ArgumentTypeError, match="more than 4 threads per core"):
        cli_args.thread_count("30000")
    assert cli_args.thread_count("1") == 1


@pytest.fixture
def stub_tables(monkeypatch):
    """The table commands without results: each format's text names it (the compact Markdown table "summary")."""
    from rwbench.analysis import leaderboard

    monkeypatch.setattr(leaderboard, "load", lambda *args, **kwargs: leaderboard.pd.DataFrame())
    monkeypatch.setattr(leaderboard, "to_summary", lambda table: "summary\n")
    monkeypatch.setattr(leaderboard, "export", lambda table, fmt, columns=None: f"{fmt}\n")


@pytest.mark.parametrize("name, fmt, written", [("t.csv", None, "csv"), ("t.json", None, "json"), ("t.md", None, "summary"),
                                               ("t.txt", None, "summary"), ("t.CSV", "csv", "csv"), ("t", "json", "json")])
def test_leaderboard_takes_the_format_from_the_output_suffix(stub_tables, tmp_path, name, fmt, written):
    """`rwbench leaderboard -o board.csv` (no --format) wrote the Markdown table into the .csv."""
    output = tmp_path / name
    assert main(["leaderboard", "--results", str(tmp_path), "-o", str(output), *(["--format", fmt] if fmt else [])]) == 0
    assert output.read_text() == f"{written}\n"


@pytest.mark.parametrize("command", [["leaderboard"], ["compare"], ["profile", "--frontends", "mfcc"]])
def test_a_suffix_that_contradicts_format_is_refused(stub_tables, tmp_path, capsys, command):
    """`--format csv -o t2.json` wrote CSV into the .json, without a word."""
    assert main([*command, "--format", "csv", "-o", str(tmp_path / "t2.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"rwbench: error: --format csv and -o '{tmp_path / 't2.json'}' (a .json name) disagree: drop "
                   "--format, or give -o a .csv name")
    assert not (tmp_path / "t2.json").exists()


def test_a_run_ends_with_the_command_for_every_column(monkeypatch, tmp_path, caplog):
    """The run's closing hint named `--format md`, which prints the same compact table the run had just printed."""
    import logging
    import shlex
    from types import SimpleNamespace

    from rwbench import pipeline
    from rwbench.analysis import leaderboard
    from rwbench.cli import build_parser

    done = SimpleNamespace(embedded=0, cached=0, embed_seconds=0.0, evaluated=0, reused=0)
    monkeypatch.setattr(pipeline, "run", lambda *args: done)
    monkeypatch.setattr(leaderboard, "load", lambda *args, **kwargs: leaderboard.pd.DataFrame())
    monkeypatch.setattr(leaderboard, "to_summary", lambda table: "")
    results = tmp_path / "my results"
    with caplog.at_level(logging.INFO, logger="rwbench"):
        assert main(["run", "--frontends", "mfcc", "--backends", "svm", "--results", str(results)]) == 0
    (hint,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("every column: ")]
    command = hint.removeprefix("every column: ").split(" (or ")[0]
    assert command == f"rwbench leaderboard --results {shlex.quote(str(results))} --wide"
    args = build_parser().parse_args(shlex.split(command)[1:])  # it runs as printed, the space quoted
    assert args.wide and args.results == results


@pytest.mark.parametrize("argv, hinted", [
    (["evaluate", "--frontends", "no_such_layers", "--backends", "svm"], True),  # a plugin's embeddings, no --plugin
    (["check-plugin", "no_such_net"], True),  # (not my_net: a README test registers it in this process)
    (["run", "--dataset", "my_clips"], True),
    (["run", "--backends", "my_backend"], True),
    (["run", "--frontends", "vgx"], False),  # a typo: "did you mean 'vgg'?" is the fix
    (["run", "--width", "huge"], False),  # not an unknown name
])
def test_an_unknown_name_without_plugin_points_at_plugin(capsys, argv, hinted):
    """`rwbench evaluate` on a plugin's cached embeddings without --plugin said only "unknown front-end"."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rwbench: error: "), err
    assert err.endswith("; registered by a plugin? pass --plugin FILE") == hinted, err


def test_a_plugin_given_gets_no_plugin_hint(tmp_path, capsys):
    plugin = tmp_path / "empty_plugin.py"
    plugin.write_text("")
    assert main(["run", "--plugin", str(plugin), "--frontends", "no_such_net"]) == 2
    err = capsys.readouterr().err
    assert "unknown front-end 'no_such_net'" in err and "--plugin FILE" not in err


def test_a_clip_missing_from_a_folds_file_names_the_cli_command(tmp_path):
    """The fix named `write_folds`, a Python function, to a command-line user; rewriting redraws every fold."""
    from rwbench.datamodel import Clip
    from rwbench.errors import DataError
    from rwbench.guards import folds_from_file

    (tmp_path / "folds.csv").write_text("id,label,fold\ndog/a.wav,dog,1\n")
    clips = [Clip("dog/a.wav", "dog", None), Clip("dog/b.wav", "dog", None)]
    with pytest.raises(DataError, match=r"\(first: dog/b.wav\); write it again with `rwbench folds` \(write_folds in "
                                        r"Python\) without folds_file, which draws every clip's fold anew, or drop "
                                        r"folds_file$"):
        folds_from_file(clips, tmp_path / "folds.csv", dataset="folder")
