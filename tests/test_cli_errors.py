"""Former crashes and silent results of the command line: each ends in exit 2 and one named
``rwbench: error:`` line, or in a recorded outcome. Every case runs the real command line (``rwbench.cli.main``, or
the installed console script in a subprocess where the process itself is the point)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import write_audio
from safetensors.torch import save_file

from rwbench.cli import build_parser, main

FAST = ["--frontends", "mfcc", "--backends", "logreg", "--device", "cpu", "--workers", "0", "-q"]


def one_error_line(capsys, fragment: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("rwbench: error:"), err
    assert fragment in err[-1], err[-1]
    assert not any(line.startswith("Traceback") for line in err), err
    return err[-1]


def pets(root: Path, n: int = 6, seconds: float = 0.15) -> Path:
    for label in ("cat", "dog", "owl"):
        for i in range(n):
            write_audio(root / "pets" / label / f"{label}{i}.wav", seconds=seconds)
    return root / "pets"


def folder_run(tmp: Path, data: Path, *extra: str) -> list[str]:
    return ["run", "--dataset", "folder", "--data-root", str(data), "--dataset-option", "k=3",
            "--dataset-option", "seconds=0.15", "--results", str(tmp / "results"), *FAST, *extra]


# -- 1. help ---------------------------------------------------------------------------------------

def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _command_paths(sub, (*prefix, name))


def test_every_help_page_prints_and_exits_0(capsys):
    paths = list(_command_paths(build_parser()))
    assert ("profile",) in paths and ("plot", "filters") in paths and ("weights", "fetch") in paths
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert out.startswith(f"usage: rwbench {' '.join(path)}".rstrip()), (path, out[:200])


def test_top_level_help_through_the_console_script():
    """The installed ``rwbench`` entry point itself, as a newcomer types it."""
    env = {**os.environ, "COLUMNS": "400"}  # one line per command
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "--help"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert "commands:" in done.stdout and "leaderboard" in done.stdout
    assert "GFLOP/s, % of this device's matmul peak" in done.stdout


@pytest.mark.parametrize(("argv", "listed", "needs"), [
    ([], ["run", "leaderboard", "check-plugin"], "rwbench needs a command (one of: run, embed,"),
    (["plot"], ["filters", "mel-target"], "rwbench plot needs a figure (one of: filters, mel-target)"),
    (["weights"], ["list", "fetch"], "rwbench weights needs an action (one of: list, fetch)"),
])
def test_a_missing_command_lists_the_commands_and_exits_2(capsys, argv, listed, needs):
    """As git does: usage and the list of commands, then the error line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rwbench") and all(f"    {name}" in err for name in listed), err
    last = err.strip().splitlines()[-1]
    assert last.startswith("rwbench: error:") and needs in last, last


@pytest.mark.parametrize("option", ["--frontends", "--backends"])
@pytest.mark.parametrize("value", ["", " , "])
def test_an_empty_name_list_is_refused_not_a_run_of_nothing(tmp_path, capsys, option, value):
    """``--frontends "$FE"`` with ``FE`` unset ran nothing, printed "No results yet." and exited 0."""
    argv = ["run", "--dataset", "synthetic", "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), *FAST]
    argv[argv.index(option) + 1] = value
    assert main(argv) == 2
    one_error_line(capsys, "give at least one name or wildcard")
    assert not (tmp_path / "r").exists()


# -- 2. --dataset-option types -----------------------------------------------------------------------

@pytest.mark.parametrize("option", ["classes=cat,dog,owl", "classes=['cat','dog','owl']", "classes=cat, dog, owl"])
def test_a_list_of_class_names_is_read_as_names_not_characters(tmp_path, capsys, option):
    """``--dataset-option classes=cat,dog,owl`` names three classes (it was read as the string's characters, and
    the error then blamed the data: "'cat' is not a known class folder")."""
    assert main([*folder_run(tmp_path, pets(tmp_path)), "--dataset-option", option, "--dry-run"]) == 0
    assert main([*folder_run(tmp_path, pets(tmp_path)), "--dataset-option", "classes=cat,dog"]) == 2
    one_error_line(capsys, "'owl' is not a known class folder")


@pytest.mark.parametrize("root", ["", "  "])
def test_an_empty_data_root_is_refused_not_read_as_the_current_folder(tmp_path, capsys, monkeypatch, root):
    monkeypatch.chdir(pets(tmp_path))  # the current folder holds a folder dataset: it must not be run on
    assert main(["run", "--dataset", "folder", "--data-root", root, "--dataset-option", "k=3",
                 "--results", str(tmp_path / "results"), *FAST]) == 2
    one_error_line(capsys, f"--data-root takes the folder that holds the dataset, got {root!r}")
    assert not (tmp_path / "results" / "runs").exists()


@pytest.mark.parametrize(("option", "fragment"), [
    ("k=abc", "dataset 'folder': --dataset-option k takes an integer (default k=10), got 'abc'"),
    ("k=1.5", "--dataset-option k takes an integer (default k=10), got '1.5'"),
    ("seed=x", "--dataset-option seed takes an integer (default seed=0), got 'x'"),
    ("seconds=abc", "--dataset-option seconds takes a number (default seconds=10.0), got 'abc'"),
    ("partial=3", "--dataset-option partial takes True or False, got '3'"),
    ("task=x", "dataset option task is not a loader option; use --tasks (tasks=)"),
])
def test_a_dataset_option_of_the_wrong_type_is_named_with_its_type(tmp_path, capsys, option, fragment):
    assert main([*folder_run(tmp_path, pets(tmp_path)), "--dataset-option", option]) == 2
    one_error_line(capsys, fragment)


def test_a_dataset_option_the_loader_fixes_itself_is_named(tmp_path, capsys):
    root = tmp_path / "esc"
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    (root / "meta" / "esc50.csv").write_text("filename,fold,target,category,esc10,src_file,take\n"
                                             "1-100-A-0.wav,1,0,dog,True,100,A\n")
    assert main(["run", "--dataset", "esc10", "--data-root", str(root), "--dataset-option", "seconds=3", *FAST]) == 2
    one_error_line(capsys, "dataset 'esc10' fixes seconds itself (part of its protocol); drop --dataset-option seconds")
    import rwbench
    from rwbench.errors import RwbenchError

    with pytest.raises(RwbenchError, match=r"dataset 'esc10' fixes seconds itself"):  # the Python API: a TypeError
        rwbench.load_dataset("esc10", root, seconds=3.0)


def test_the_python_api_reads_a_text_list_of_classes_as_the_cli_does(tmp_path):
    """`load_dataset("folder", root, classes="cat,dog,owl")` took the classes to be the string's characters."""
    import rwbench

    (ds,) = rwbench.load_dataset("folder", pets(tmp_path), k=3, classes="cat,dog,owl", check_duplicates=False)
    assert ds.classes == ["cat", "dog", "owl"] and len(ds.clips) == 18


def test_a_string_option_keeps_the_text_as_typed(tmp_path, capsys):
    """``name=2019`` reads as the int 2019; the loader's ``name: str`` gets the text."""
    assert main([*folder_run(tmp_path, pets(tmp_path)), "--dataset-option", "name=2019"]) == 0
    assert "### folder/2019" in capsys.readouterr().out


# -- 4. --segment shorter than the front-end can compute ----------------------------------------------

@pytest.mark.parametrize(("argv", "fragment"), [
    (["run", "--segment", "0.00001"], "--segment 1e-05 s is shorter than front-end 'sample_level''s shortest input "
                                      "(windows are not padded to it, as whole clips are): it needs windows of at least "
                                      "0.183 s (2187 sample(s) at 12000 Hz); give --segment 0.183"),
    (["embed", "--frontends", "timbral", "--segment", "0.00001"], "front-end 'timbral''s shortest input (windows are "
                                                                  "not padded to it, as whole clips are): it needs "
                                                                  "windows of at least 0.001 s (1 sample(s) at 12000 Hz)"),
    (["run", "--frontends", "vgg", "--segment", "5"], "it needs windows of at least 27.286 s"),
    (["run", "--frontends", "mfcc", "--segment", "1", "--hop", "0.00001"], "--hop 1e-05 s is shorter than one sample"),
])
def test_a_window_shorter_than_the_frontend_minimum_is_refused(tmp_path, capsys, argv, fragment):
    assert main([*argv, "--results", str(tmp_path / "r"), "-q"]) == 2
    one_error_line(capsys, fragment)
    assert not (tmp_path / "r" / "runs").exists()


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_a_hop_that_cuts_more_windows_than_memory_holds_is_refused_before_any_decoding(tmp_path, capsys, monkeypatch,
                                                                                        dry_run):
    """--hop 0.0001 at 12 kHz: a hop of 1 sample, 60,001 windows of 1 s per 6-s clip. The memory check counted one
    window per clip; the run (and its dry run, timing a clip's decoding) died in numpy's MemoryError inside a
    DataLoader worker. Now one line, with what holds the memory, before a clip is decoded."""
    from rwbench import clips, device, plan

    def no_decoding(*args):
        raise AssertionError("a clip was decoded before the memory check")

    monkeypatch.setattr(clips.ClipAudio, "__getitem__", no_decoding)  # the run's decoding (and a worker's)
    monkeypatch.setattr(plan, "decode_ms", no_decoding)  # the dry run's timing of it in this process
    monkeypatch.setattr(device, "memory_available", lambda torch_device: 32 * 2**30)  # any machine: the same answer
    argv = ["run", "--frontends", "timbral", "--backends", "logreg", "--segment", "1", "--hop", "0.0001", "--workers",
            "0", *dry_run]
    assert main([*argv, "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "-q"]) == 2
    line = one_error_line(capsys, "timbral at --width small needs about 91.5 GiB of host memory to embed ")
    assert ("in windows of 1 s (--segment 1 --hop 0.0001): batches of 16 clips cut into up to 960,016 windows, 2 "
            "batches at once with 0 decoding worker(s), and 9,000,150 windows' embeddings") in line
    assert "windows 85.8 GiB, embeddings 5.6 GiB); the machine's memory is 32.0 GiB" in line
    assert line.endswith("Use a longer --hop or --segment, or a smaller --batch-size or --workers")


# -- 5. --executor dask without Dask -----------------------------------------------------------------

BLOCK_DASK = textwrap.dedent("""
    import sys

    class NoDask:  # the [dask] extra is not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("distributed", "dask"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, NoDask())
    from rwbench.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_executor_dask_without_the_extra_says_what_to_install(tmp_path):
    done = subprocess.run([sys.executable, "-c", BLOCK_DASK, "run", "--executor", "dask", "--results",
                           str(tmp_path / "r"), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rwbench: error: --executor dask needs Dask's distributed "), lines
    assert lines[0].endswith('pip install "rwbench[dask]"') and "No module named 'distributed'" in lines[0]


# -- 6. a training batch of one clip ----------------------------------------------------------------

def split_manifest(root: Path, n_train: int) -> Path:
    rows = ["path,label,split"]
    for label in ("cat", "dog", "owl"):
        for i in range(n_train // 3 + 2):
            path = write_audio(root / "clips" / f"{label}{i}.wav", seconds=0.15)
            part = "train" if i < n_train // 3 else ("valid" if i == n_train // 3 else "test")
            rows.append(f"{path.relative_to(root)},{label},{part}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


TRAIN = ["--frontends", "timbral", "--epochs", "1", "--patience", "1", "--device", "cpu", "--workers", "0", "-q"]


def test_training_on_a_fit_part_that_leaves_a_batch_of_one_runs(tmp_path, capsys):
    """9 training clips in batches of 8: the ninth joins the batch before (batch norm cannot train on one clip)."""
    root = split_manifest(tmp_path / "data", 9)
    argv = ["train", "--dataset", "csv", "--data-root", str(root), "--dataset-option", "seconds=0.15",
            "--results", str(tmp_path / "r"), "--batch-size", "8", *TRAIN]
    assert main(argv) == 0, capsys.readouterr().err
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "r" / "runs").rglob("*.json")]
    assert record["backend"]["name"] == "head" and len(record["folds"]) == 1


def test_training_with_a_batch_size_of_one_is_refused(tmp_path, capsys):
    assert main(["train", "--batch-size", "1", "--results", str(tmp_path / "r"), *TRAIN]) == 2
    one_error_line(capsys, "--batch-size 1: training normalises each batch (batch norm) and needs at least 2 clips")


# -- 7. non-finite weights; every clip skipped --------------------------------------------------------

def test_a_weights_file_with_nan_is_blamed_not_the_clips(tmp_path, capsys):
    from rwbench.frontend import FRONTENDS, Embedder

    state = {k: v.clone() for k, v in Embedder(FRONTENDS.get("timbral")).net.state_dict().items()}
    name = next(k for k, v in state.items() if v.is_floating_point() and v.dim() > 1)
    state[name][0] = float("nan")
    weights = tmp_path / "diverged.safetensors"
    save_file(state, str(weights))
    argv = [*folder_run(tmp_path, pets(tmp_path)), "--frontends", "timbral", "--weights", f"pretrained:{weights}"]
    for extra in ([], ["--skip-bad-audio"]):
        assert main([*argv, *extra]) == 2
        line = one_error_line(capsys, f"weights file {weights} holds non-finite values (NaN or ±Inf) in 1 tensor(s): "
                                      f"{name} (")
        assert "clip" not in line


def test_every_clip_unreadable_is_said_so(tmp_path, capsys):
    data = pets(tmp_path, n=3)
    for wav in data.rglob("*.wav"):
        wav.write_text("not audio")
    assert main([*folder_run(tmp_path, data), "--skip-bad-audio"]) == 2
    one_error_line(capsys, "folder/pets: all 9 clips were unreadable and skipped (--skip-bad-audio); nothing is left")


def test_every_clip_failing_at_the_embed_stage_is_said_so(tmp_path, capsys):
    """Headers fine, samples NaN: each clip fails when decoded; with --skip-bad-audio all are skipped."""
    import soundfile as sf

    data = pets(tmp_path, n=3)
    for wav in data.rglob("*.wav"):
        samples = np.full(1200, np.nan, np.float32)
        sf.write(wav, samples, 8000, subtype="FLOAT")
    assert main([*folder_run(tmp_path, data), "--skip-bad-audio"]) == 2
    one_error_line(capsys, "folder/pets: all 9 clips were unreadable or gave a non-finite embedding with mfcc and "
                           "were skipped (--skip-bad-audio); nothing is left to evaluate")


# -- 9. a folder as pretrained:PATH; duplicate CSV rows -----------------------------------------------

def test_a_folder_given_as_weights_file_is_named_a_folder(tmp_path, capsys):
    assert main(["run", "--frontends", "timbral", "--weights", f"pretrained:{tmp_path}", "--results",
                 str(tmp_path / "r"), "-q"]) == 2
    one_error_line(capsys, f"pretrained weights {str(tmp_path)!r} is a folder; pretrained:PATH takes a weights file")


def test_duplicate_manifest_rows_are_named_with_their_lines(tmp_path, capsys):
    data = pets(tmp_path)
    rows = ["path,label", "cat/cat0.wav,cat", "dog/dog0.wav,dog", "cat/cat0.wav,cat", "owl/owl0.wav,owl"]
    (data / "manifest.csv").write_text("\n".join(rows) + "\n")
    assert main(["run", "--dataset", "csv", "--data-root", str(data), "--dataset-option", "k=2", *FAST]) == 2
    one_error_line(capsys, f"csv: 1 file(s) are listed more than once in {data / 'manifest.csv'} "
                           f"('{(data / 'cat/cat0.wav').resolve()}' at line 2 and line 4); remove the duplicate row(s)")
    rows[3] = "./cat//cat0.wav,cat"  # another spelling of the same file: it would sit on both sides of a split
    (data / "manifest.csv").write_text("\n".join(rows) + "\n")
    assert main(["run", "--dataset", "csv", "--data-root", str(data), "--dataset-option", "k=2", *FAST]) == 2
    one_error_line(capsys, "at line 2 and line 4); remove the duplicate row(s)")


# -- 10. the umask is read without changing it ---------------------------------------------------------

def test_reading_the_umask_never_opens_a_window_for_another_thread(tmp_path):
    from rwbench import fileio

    old = os.umask(0o022)
    try:
        stop, modes = threading.Event(), []

        def create():
            i = 0
            while not stop.is_set():
                path = tmp_path / f"f{i}"
                with open(path, "w"):
                    pass
                modes.append(path.stat().st_mode & 0o777)
                path.unlink()
                i += 1

        worker = threading.Thread(target=create)
        worker.start()
        try:
            masks = {fileio._umask() for _ in range(2000)}
        finally:
            stop.set()
            worker.join()
    finally:
        os.umask(old)
    assert masks == {0o022} and modes and set(modes) == {0o644}, (masks, sorted(set(modes)))


def test_atomic_files_get_the_mode_the_umask_gives(tmp_path):
    from rwbench.fileio import atomic_path

    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o640


# -- 11. a read-only home and numba's cache ----------------------------------------------------------------

NUMBA_SCRIPT = textwrap.dedent("""
    import os, sys
    if sys.argv[1] == "rwbench":
        import rwbench  # noqa: F401  (first, as the console script does)
    from numba.core import caching
    # a read-only site-packages: numba cannot cache beside the sources
    caching.InTreeCacheLocator.from_function = classmethod(lambda cls, f, p: None)
    import cached
    print(cached.plus(1), os.environ.get("NUMBA_CACHE_DIR"))
""")


def test_a_read_only_home_gets_numba_a_writable_cache(tmp_path):
    """numba's fallback, ``~/.cache/numba``, cannot be made under a home that is a file (unwritable even for root);
    with librosa's sources read-only too, a ``cache=True`` function raises at definition. rwbench points
    NUMBA_CACHE_DIR under $RWBENCH_HOME first."""
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "cached.py").write_text("import numba\n\n@numba.jit(cache=True)\ndef plus(x):\n    return x + 1\n")
    home = tmp_path / "home"
    home.write_text("")  # not a folder: nothing can be created under it
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), RWBENCH_HOME=str(tmp_path / "rwhome"), PYTHONPATH=str(tmp_path / "mod"))
    without = subprocess.run([sys.executable, "-c", NUMBA_SCRIPT, "plain"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert without.returncode != 0 and "no locator available" in without.stderr, "the simulation reproduces the fault"
    done = subprocess.run([sys.executable, "-c", NUMBA_SCRIPT, "rwbench"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", str(tmp_path / "rwhome" / "numba")]
    assert any((tmp_path / "rwhome" / "numba").rglob("*.nbi")), "the function was cached there"


# -- 8. a skipped clip's record is structured ----------------------------------------------------------

def test_a_skipped_clip_with_a_tab_in_its_name_is_recorded_whole(tmp_path):
    from rwbench.cache import CacheEntry, failed_clip

    entry = CacheEntry(tmp_path / "entry")
    entry.parts.mkdir(parents=True)
    entry.save_chunk(0, [0], [np.zeros((1, 3), np.float32)], {1: "cannot decode\tit"}, dim=3,
                     clip_ids=["a.wav", "odd\tname.wav"], seconds=0.1, device="cpu", batch_size=2, threads=1)
    assert entry.chunk_summary(1)["skipped"] == [{"clip": "odd\tname.wav", "reason": "cannot decode\tit"}]
    assert failed_clip("old.wav\tcannot decode: x") == {"clip": "old.wav", "reason": "cannot decode: x"}  # old parts


def test_skipped_clip_reaches_the_result_with_its_name(tmp_path, capsys):
    import soundfile as sf

    data = pets(tmp_path)
    odd = data / "owl" / "owl\tnine.wav"
    sf.write(odd, np.full(1200, np.nan, np.float32), 8000, subtype="FLOAT")
    assert main([*folder_run(tmp_path, data), "--skip-bad-audio"]) == 0
    record = json.loads(next((tmp_path / "results" / "runs").rglob("*.json")).read_text())
    assert [s["clip"] for s in record["dataset"]["skipped"]] == ["owl/owl\tnine.wav"]
    assert record["dataset"]["skipped"][0]["reason"].startswith(f"{odd} holds 1200 non-finite sample(s)")


# -- option values at their edges (a CLI review's findings) ------------------------------------------
@pytest.mark.parametrize(("argv", "fragment"), [
    (["run", "--seed", "3"], "unrecognized arguments: --seed 3"),  # was read as --seeds 3: three seeds
    (["run", "--result", "r"], "unrecognized arguments: --result r"),
    (["run", "--tasks", ","], "--tasks names no task"),
    (["run", "--tasks", "timbre, timbre"], "--tasks names a task twice"),
    (["run", "--seeds", "10000000000"], "more than 1000 seeds"),
    (["run", "--segment", "1e300"], "--segment takes a positive float below 86400"),
    (["train", "--crop-seconds", "1e300"], "--crop-seconds takes a positive float below 86400"),
    (["run", "--workers", "100000"], "more decoding processes than 4 per core"),
    (["leaderboard", "-o", "."], "-o '.' is a folder; give the file to write"),
    (["run", "--dataset-option", "seconds=1e-9", "--frontends", "mfcc", "--dry-run"],
     "seconds=1e-09 is shorter than two samples"),
    # a dry run of these synthesised the whole list (2 GB in 60 s) or day-long clips to time them
    (["run", "--dataset-option", "n_per_class=10000000", "--frontends", "mfcc", "--dry-run"],
     "n_per_class must be an integer from 5 (a clip of each class in every fold) to 100000, got 10000000"),
    (["run", "--dataset-option", "seconds=86400", "--frontends", "mfcc", "--dry-run"],
     "seconds must be a positive number of seconds up to 600"),
])
def test_an_option_value_at_its_edge_is_one_named_error(tmp_path, capsys, argv, fragment):
    assert main([*argv, "--results", str(tmp_path / "r")]) == 2
    one_error_line(capsys, fragment)


def test_an_output_under_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["profile", "--frontends", "mfcc", "-o", str(tmp_path / "afile" / "p.md")]) == 2
    one_error_line(capsys, "afile is a file, not a folder")


def test_a_width_has_one_spelling_per_filter_count(tmp_path):
    """``--width 08`` beside ``--width 8`` wrote two result files, two identical rows in every test's family."""
    from rwbench.cli_args import width

    assert width("08") == width("8") == "8" and width("small") == "small"


def test_columns_repeated_show_once_and_empty_is_an_error(tmp_path, capsys):
    assert main(["run", "--frontends", "mfcc", "--backends", "logreg", "--tasks", "timbre", "--results",
                 str(tmp_path / "r"), "--device", "cpu", "--workers", "0", "-q"]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--format", "csv", "--columns", "frontend,frontend"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "dataset,frontend"
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--columns", ""]) == 2
    one_error_line(capsys, "--columns '' names no column")


def test_a_profile_with_a_failed_front_end_exits_2_and_keeps_the_table(tmp_path, capsys, monkeypatch):
    import rwbench.profile as profiling

    monkeypatch.setattr(profiling, "profile", lambda specs, opts: ([], ["failed: mfcc (RuntimeError: out of memory)"]))
    out = tmp_path / "p.md"
    assert main(["profile", "--frontends", "mfcc", "-o", str(out)]) == 2
    one_error_line(capsys, "1 of 1 front-end(s) could not be profiled (mfcc (RuntimeError: out of memory))")
    assert "failed: mfcc" in out.read_text()


def test_more_jobs_than_cores_run_on_the_cores():
    from rwbench.cli import _n_jobs
    from rwbench.evaluate import available_cores

    assert _n_jobs(argparse.Namespace(jobs=100_000)) == available_cores()
    assert _n_jobs(argparse.Namespace(jobs=1)) == 1
    # a task on --scheduler's cluster fits on another machine: this machine's cores do not cap it; a LocalCluster's do
    assert _n_jobs(argparse.Namespace(jobs=100_000, executor="dask", scheduler="tcp://h:8786")) == 100_000
    assert _n_jobs(argparse.Namespace(jobs=100_000, executor="dask", scheduler=None)) == available_cores()
    assert _n_jobs(argparse.Namespace(jobs=None, executor="dask")) is None


def test_an_unknown_loader_option_lists_the_loaders_own_and_a_short_class_names_k(tmp_path, capsys):
    data = pets(tmp_path)
    assert main(["folds", "--dataset", "folder", "--data-root", str(data), "--dataset-option", "kk=3",
                 "-o", str(tmp_path / "f.csv")]) == 2
    assert "unknown option(s) ['kk']" in (err := capsys.readouterr().err) and "folder's own: k, seed, folds_file" in err
    assert main(["folds", "--dataset", "folder", "--data-root", str(data), "--dataset-option", "k=50",
                 "-o", str(tmp_path / "f.csv")]) == 2
    assert "lower k (--dataset-option k=6" in capsys.readouterr().err


def test_fp16_on_the_cpu_is_warned_of_even_under_quiet(tmp_path, caplog):
    """``--precision fp16`` ran on the CPU without a word (pesto 13× slower than float32; profile refuses it)."""
    args = ["run", "--dry-run", "--dataset", "synthetic", "--tasks", "timbre", "--frontends", "mfcc", "--backends",
            "logreg", "--results", str(tmp_path / "r"), "--device", "cpu", "-q"]
    assert main([*args, "--precision", "fp16"]) == 0
    assert "--precision fp16 on the CPU" in caplog.text and "bf16 is the CPU's reduced precision" in caplog.text
    caplog.clear()
    assert main([*args, "--precision", "bf16"]) == 0
    assert "--precision fp16" not in caplog.text


def test_the_dry_run_refuses_what_the_run_refuses(tmp_path, capsys):
    """Cached embeddings and results a --skip-bad-audio run made, and an unwritable --results, passed the dry run
    (exit 0, "1 of 2 to compute") while the run refused them at once."""
    import soundfile as sf

    data = pets(tmp_path, n=4)
    sf.write(data / "owl" / "owl0.wav", np.full(1200, np.nan, np.float32), 8000, subtype="FLOAT")
    argv = folder_run(tmp_path, data, "--frontends", "mfcc", "--backends", "knn", "--workers", "0")
    assert main([*argv, "--skip-bad-audio"]) == 0
    capsys.readouterr()
    for extra in (["--backends", "knn,logreg"], []):
        assert main([*argv, *extra, "--dry-run"]) == 2
        assert "made with --skip-bad-audio; rerun with --skip-bad-audio" in capsys.readouterr().err
    unwritable = tmp_path / "ro"
    unwritable.mkdir()
    unwritable.chmod(0o500)
    try:
        if os.access(unwritable, os.W_OK) and os.geteuid() == 0:
            target = "/proc/rwbench-results"  # root writes anywhere a mode allows: /proc refuses even root
        else:
            target = str(unwritable / "results")
        assert main(["run", "--frontends", "mfcc", "--backends", "knn", "--results", target, "--dry-run"]) == 2
        assert f"--results '{target}' is not a writable folder" in capsys.readouterr().err
    finally:
        unwritable.chmod(0o700)


def test_options_a_command_would_ignore_are_refused_or_said(tmp_path, capsys, caplog):
    with caplog.at_level("WARNING", logger="rwbench"):  # the last wins, as on any command line: said, not silent
        assert main(["folds", "--dataset", "synthetic", "--tasks", "rhythm", "--dataset-option", "n_per_class=5",
                     "--dataset-option", "n_per_class=10", "-o", str(tmp_path / "f.csv")]) == 0
    assert "--dataset-option n_per_class given twice (5, then 10): 10 is used" in caplog.text
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 1 + 10 * 5  # 10 per class, 5 classes
    assert main(["compare", "a", "b", "--results", str(tmp_path), "--backend", "svm", "--transfer"]) == 2
    assert "--backend, --transfer: for the random-vs-trained table" in capsys.readouterr().err
    with caplog.at_level("WARNING", logger="rwbench"):
        main(["evaluate", "--frontends", "mfcc", "--backends", "knn", "--results", str(tmp_path), "--workers", "0"])
    assert "--workers: evaluate embeds nothing (it reads the cached embeddings), so it has no effect here" in caplog.text
    assert main(["run", "--dataset", "ESC10", "--dry-run"]) == 2
    assert "did you mean 'esc10'" in capsys.readouterr().err  # the case alone differs
    assert main(["check-plugin", "mfcc", "--width", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "front-end 'mfcc' has no width 'bogus'" in err and "failed" not in err  # the option's error, not the plugin's
    assert main(["check-plugin", "mfcc", "--seconds", "50000"]) == 2
    assert "--seconds takes a positive float below 600" in capsys.readouterr().err


def test_list_names_a_front_ends_own_widths_and_stars_default_tasks(tmp_path, capsys):
    plugin = tmp_path / "named.py"
    plugin.write_text(textwrap.dedent("""
        from torch import nn
        from rwbench.frontend import register_frontend

        class Net(nn.Module):
            def __init__(self, filters):
                super().__init__()
                self.conv = nn.Conv1d(1, filters, 16, stride=8)

            def forward(self, x):
                return [self.conv(x).relu()]

        register_frontend(name="test_named_widths", input_kind="waveform", sample_rate=8000,
                          widths={"tiny": 2, "big": 8}, feature_dim=lambda nf: nf, feature_layers=("conv",),
                          min_input=16, source="test")(Net)
    """))
    assert main(["list", "frontends", "test_named_widths", "--plugin", str(plugin)]) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert "tiny 2 / big 8" in row and "tiny 34 / big 136" in row  # its own widths, not dim(1) and params 0
    assert main(["list", "datasets", "gtzan"]) == 0
    out = capsys.readouterr().out
    assert "filtered*,stratified,stratified_10fold" in out and "* run when --tasks names none" in out
