"""A corpus of hostile inputs, as a new user meets them: each ends in one named error line (exit 2) or in a
recorded, visible skip or warning, never in a traceback or a normal-looking wrong number.

Each case builds its input under a fresh folder and runs the real command line (``rwbench.cli.main``).
The cache and result-file cases of the same standard are in ``test_cache_safety.py`` and
``test_leaderboard.py``; the per-option errors of ``run`` in ``test_cli.py``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_audio

from rwbench.cli import main

FAST = ["--frontends", "mfcc", "--backends", "logreg", "--device", "cpu", "--workers", "0", "-q"]


def pets(root: Path, n: int = 6) -> Path:
    """A folder dataset: 3 classes × ``n`` clips of 0.15 s at 8 kHz."""
    for label in ("cat", "dog", "owl"):
        for i in range(n):
            write_audio(root / "pets" / label / f"{label}{i}.wav", seconds=0.15)
    return root / "pets"


def folder_run(tmp: Path, data: Path, *extra: str) -> list[str]:
    return ["run", "--dataset", "folder", "--data-root", str(data), "--dataset-option", "k=3",
            "--dataset-option", "seconds=0.15", "--results", str(tmp / "results"), *FAST, *extra]


def float_wav(path: Path, values: np.ndarray, rate: int = 8000) -> None:
    sf.write(path, values.astype(np.float32), rate, subtype="FLOAT")


def with_bad_samples(tmp: Path, value: float) -> list[str]:
    data = pets(tmp)
    samples = 0.1 * np.random.default_rng(0).standard_normal(1200)
    samples[300] = value
    float_wav(data / "cat" / "cat0.wav", samples)
    return folder_run(tmp, data)


def manifest(tmp: Path, rows: list[str], header: str = "path,label") -> list[str]:
    data = pets(tmp)
    (data / "manifest.csv").write_text("\n".join([header, *rows]) + "\n")
    return ["run", "--dataset", "csv", "--data-root", str(data), "--dataset-option", "k=2",
            "--dataset-option", "seconds=0.15", "--results", str(tmp / "results"), *FAST]


def replace_file(tmp: Path, make) -> list[str]:
    data = pets(tmp)
    target = data / "dog" / "dog2.wav"
    target.unlink()
    make(target)
    return folder_run(tmp, data)


def corrupt_middle(tmp: Path, suffix: str, *, n: int = 2000, seed: int = 1, **kwargs) -> list[str]:
    data = pets(tmp)
    path = write_audio(data / "owl" / f"owl9{suffix}", seconds=3.0, **kwargs)
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + n] = np.random.default_rng(seed).bytes(n)
    path.write_bytes(bytes(raw))
    return folder_run(tmp, data)


def unwritable() -> str:
    return "/proc/rwbench-cannot-write-here/results"


def file_at(tmp: Path) -> str:
    (tmp / "a_file").write_text("x")
    return str(tmp / "a_file")


def search_json(tmp: Path) -> Path:
    """A search folder whose search.json lacks its ``trained`` part (written by another version, or edited)."""
    folder = tmp / "search" / "logmel__synthetic"
    folder.mkdir(parents=True)
    (folder / "search.json").write_text(json.dumps({"architectures": [], "proxies": [], "dataset": {}}))
    return folder


# id → (argv builder(tmp), the one error line's fragment)
WIDTH_RULE = "--width takes small, paper (or a front-end's own width name) or a filter count from 1 to 1048576"
ERRORS = {
    # command-line options
    "--seeds 0": (lambda t: ["run", "--seeds", "0"],
                  "--seeds count must be at least 1, got '0' (a lone number is a count; seed 0 alone is written 0,)"),
    "--seeds=-1,2": (lambda t: ["run", "--seeds=-1,2"], "distinct non-negative seeds"),
    # not "seed -1 alone is written -1,", which is refused in turn
    "--seeds=-1": (lambda t: ["run", "--seeds=-1"], "--seeds takes a count (3) or non-negative seeds (0,5,7), got '-1'"),
    "--seeds 1,1": (lambda t: ["run", "--seeds", "1,1"], "distinct non-negative seeds"),
    "--seeds ,": (lambda t: ["run", "--seeds", ","], "distinct non-negative seeds"),
    "--tasks twice": (lambda t: ["run", "--tasks", "rhythm,rhythm"],
                      "--tasks names a task twice (rhythm,rhythm): each runs once"),
    "--tasks of a one-task dataset": (lambda t: folder_run(t, pets(t), "--tasks", "x"),
                                      "dataset 'folder' has one task and takes no --tasks (got 'x')"),
    "--lrs of one run name": (lambda t: ["train", "--lrs", "1e-3,1.0000001e-3"],
                              "--lrs 1e-3,1.0000001e-3: values equal to 6 significant digits (0.001) name one run; "
                              "give values that differ there"),
    "--width 0": (lambda t: ["run", "--width", "0"], WIDTH_RULE),
    "--width -3": (lambda t: ["run", "--width", "-3"], WIDTH_RULE),
    "--width 1e9": (lambda t: ["run", "--width", "1e9"], WIDTH_RULE),
    "--width too large for memory": (lambda t: ["run", "--frontends", "vgg", "--width", "20000", "--results",
                                                str(t / "r")], "Use a smaller --width or --batch-size"),
    "--width too large for memory, dry run": (lambda t: ["run", "--frontends", "piczak", "--width", "1000000",
                                                         "--dry-run"], "Use a smaller --width or --batch-size"),
    "--width past torch's sizes": (lambda t: ["run", "--frontends", "vgg", "--width", "3000000000", "--dry-run"],
                                   WIDTH_RULE),
    "--seeds past 32 bits": (lambda t: ["run", "--seeds", "4294967296,"], "--seeds: seeds must be below 2^31"),
    "--batch-size 0": (lambda t: ["run", "--batch-size", "0"], "--batch-size takes a positive int"),
    "--batch-size -4": (lambda t: ["run", "--batch-size", "-4"], "--batch-size takes a positive int"),
    "--batch-size too large for memory": (lambda t: ["run", "--frontends", "sample_level", "--width", "paper",
                                                     "--batch-size", "100000", "--results", str(t / "r")],
                                          "needs about"),
    "--segment 0": (lambda t: ["run", "--segment", "0"], "--segment takes a positive float"),
    "--segment nan": (lambda t: ["run", "--segment", "nan"], "--segment takes a positive float"),
    "--segment inf": (lambda t: ["run", "--segment", "inf"], "--segment takes a positive float"),
    "--hop -1": (lambda t: ["run", "--segment", "2", "--hop", "-1"], "--hop takes a positive float"),
    "--hop nan": (lambda t: ["run", "--segment", "2", "--hop", "nan"], "--hop takes a positive float"),
    "--hop without --segment": (lambda t: ["run", "--hop", "1"], "--hop and --aggregate need --segment"),
    "--hop past --segment": (lambda t: ["run", "--frontends", "mfcc", "--segment", "1", "--hop", "1.5"],
                             "hop 1.5 s is longer than segment 1 s: the audio between windows would never be seen"),
    "--results empty": (lambda t: ["run", "--results", ""], "--results takes a folder, got '' (an unset variable?)"),
    "--cache empty": (lambda t: ["embed", "--cache", " "], "--cache takes a folder, got ' '"),
    "--weights misspelt, weight-free front-end": (lambda t: ["run", "--frontends", "mfcc", "--weights", "randm",
                                                             "--results", str(t / "r")],
                                                  "unknown weights tag(s) ['randm']: the tags are "),
    "--weights pretrained:PATH missing, weight-free front-end": (
        lambda t: ["run", "--frontends", "mfcc", "--weights", f"pretrained:{t / 'gone.safetensors'}",
                   "--results", str(t / "r")], "gone.safetensors' does not exist"),
    "search score of a search.json without its trained part": (lambda t: ["search", "score", str(search_json(t))],
                                                                "search.json lacks trained (or holds another kind"),
    "--workers -1": (lambda t: ["run", "--workers", "-1"], "--workers takes a non-negative integer"),
    "--workers two": (lambda t: ["run", "--workers", "two"], "--workers takes a non-negative integer"),
    "--jobs 0": (lambda t: ["run", "--jobs", "0"], "--jobs takes a positive count or -1"),
    "--jobs -2": (lambda t: ["run", "--jobs", "-2"], "--jobs takes a positive count or -1"),
    "--results is a file": (lambda t: ["run", "--results", file_at(t)], "is a file, not a folder"),
    "--results cannot be written": (lambda t: ["run", "--results", unwritable()], "is not a writable folder"),
    "--cache is a file": (lambda t: ["run", "--results", str(t / "r"), "--cache", file_at(t)], "is a file, not a folder"),
    "--cache cannot be written": (lambda t: ["embed", "--cache", unwritable()], "is not a writable folder"),
    "train --epochs 0": (lambda t: ["train", "--epochs", "0"], "--epochs takes a positive int"),
    "train --lr nan": (lambda t: ["train", "--lr", "nan"], "--lr takes a positive float"),
    "train --crop-seconds -1": (lambda t: ["train", "--crop-seconds", "-1"], "--crop-seconds takes a positive float"),
    "train --dropout 1": (lambda t: ["train", "--dropout", "1"], "--dropout takes a number in [0, 1)"),
    "train --width too large for memory": (lambda t: ["train", "--frontends", "vgg", "--width", "20000", "--results",
                                                      str(t / "r")], "Use a smaller --width or --batch-size"),
    "train --results is a file": (lambda t: ["train", "--results", file_at(t)], "is a file, not a folder"),
    "leaderboard --results is a file": (lambda t: ["leaderboard", "--results", file_at(t)], "is a file, not a folder"),
    # length policy
    "seconds=0": (lambda t: folder_run(t, pets(t), "--dataset-option", "seconds=0"),
                  "seconds must be a positive finite number of seconds, not 0"),
    "seconds=-2": (lambda t: folder_run(t, pets(t), "--dataset-option", "seconds=-2"), "seconds must be a positive"),
    "seconds=nan": (lambda t: folder_run(t, pets(t), "--dataset-option", "seconds=nan"), "not nan"),
    "seconds=inf": (lambda t: folder_run(t, pets(t), "--dataset-option", "seconds=inf"), "not inf"),
    "min_seconds=-1": (lambda t: folder_run(t, pets(t), "--dataset-option", "min_seconds=-1"),
                       "min_seconds must be a non-negative finite number"),
    # labels and classes
    "manifest row with an empty label": (lambda t: manifest(t, ["cat/cat0.wav,cat", "dog/dog0.wav,", "owl/owl0.wav,owl"]),
                                         "1 clip(s) have an empty label"),
    "manifest with headers only": (lambda t: manifest(t, []), "no clips are listed"),
    "manifest listing one file twice": (lambda t: manifest(t, ["cat/cat0.wav,cat", "cat/cat0.wav,cat"]),
                                        "1 file(s) are listed more than once"),
    "a single class": (lambda t: manifest(t, [f"cat/cat{i}.wav,cat" for i in range(6)]),
                       "all 6 clips have the label 'cat'; a classification task needs at least two classes"),
    "a class with fewer clips than folds": (lambda t: folder_run(t, pets(t), "--dataset-option", "k=8"),
                                            "puts each class in all 8 folds, but 3 class(es) have fewer clips"),
    "manifest path is a folder named x.wav": (lambda t: manifest(t, ["cat/cat0.wav,cat", "cat/cat1.wav,cat",
                                                                     "x.wav,dog", "dog/dog0.wav,dog"])
                                              if (t / "pets" / "x.wav").mkdir(parents=True) is None else None,
                                              "x.wav is a folder, not an audio file"),
    # audio content: named at the embed stage
    "a NaN sample": (lambda t: with_bad_samples(t, np.nan), "cat0.wav holds 1 non-finite sample(s)"),
    "a +Inf sample": (lambda t: with_bad_samples(t, np.inf), "cat0.wav holds 1 non-finite sample(s)"),
    "a -Inf sample": (lambda t: with_bad_samples(t, -np.inf), "non-finite sample(s) (NaN or ±Inf; first at 0.037 s)"),
    "an absurd magnitude (1e6)": (lambda t: with_bad_samples(t, 1e6), "peak magnitude of 1e+06"),
    "all samples zero": (lambda t: replace_file(t, lambda p: float_wav(p, np.zeros(1200))),
                         "dog2.wav holds only digital silence: all 1200 samples are 0"),
    # silence with an offset (int16 −1 throughout): its peak is not 0, and it was scored as audio
    "one constant value": (lambda t: replace_file(t, lambda p: float_wav(p, np.full(1200, -1 / 32768))),
                           "dog2.wav holds one constant value (-3.05e-05) in all 1200 samples"),
    # sound after the dataset's 0.15 s: the network would see zeros under the label "dog"
    "silence throughout the crop": (lambda t: replace_file(t, lambda p: float_wav(p, np.r_[np.zeros(2400), 0.1 * np.ones(800)])),
                                    "dog2.wav: its first 0.15 s (the dataset's length) are digital silence"),
    # broken files: named at load time
    "a zero-byte file": (lambda t: replace_file(t, lambda p: p.write_bytes(b"")), "dog2.wav is empty (0 bytes)"),
    "a text file named .wav": (lambda t: replace_file(t, lambda p: p.write_text("hello\n")), "is not readable audio"),
    "a truncated WAV": (lambda t: replace_file(t, lambda p: p.write_bytes(
        write_audio(p.with_suffix(".tmpwav"), seconds=0.5, format="WAV").read_bytes()[:2000])
        if p.with_suffix(".tmpwav").unlink(missing_ok=True) is None else None), "is truncated"),
    "a WAV header with no samples": (lambda t: replace_file(t, lambda p: float_wav(p, np.zeros(0))),
                                     "holds no audio samples"),
    # 100 samples "at 1 Hz" passed every guard and were resampled into a 100-s infrasonic clip
    "a header rate of 1 Hz": (lambda t: replace_file(t, lambda p: sf.write(p, 0.1 * np.sin(np.arange(100.0)), 1,
                                                                           subtype="PCM_16")),
                              "dog2.wav: its header gives a sample rate of 1 Hz"),
    "a 5 ms file": (lambda t: replace_file(t, lambda p: write_audio(p, seconds=0.005)), "is too short: 0.005 s"),
    "a folder named x.wav among the clips": (lambda t: replace_file(t, lambda p: p.mkdir()), "is a folder, not an audio file"),
    "a broken symbolic link among the clips": (lambda t: replace_file(t, lambda p: p.symlink_to(t / "gone.wav")),
                                               "broken symbolic link(s) in the class folders of"),
    "a FLAC corrupted in the middle": (lambda t: corrupt_middle(t, ".flac"), "owl9.flac: Error : flac decoder lost sync"),
    "an OGG corrupted in the middle": (lambda t: corrupt_middle(t, ".ogg", subtype="VORBIS"),
                                       "owl9.ogg is truncated: no Ogg page starts at byte"),
    "an MP3 corrupted in the middle": (lambda t: corrupt_middle(t, ".mp3", subtype="MPEG_LAYER_III"),
                                       "owl9.mp3 is truncated or corrupt: the decoder fails near"),
    # 500 bytes at the middle: soundfile's own "ValueError: negative dimensions are not allowed" before
    "an MP3 damaged in the middle (a seek past its end)": (
        lambda t: corrupt_middle(t, ".mp3", n=500, seed=4, subtype="MPEG_LAYER_III"),
        "owl9.mp3 is truncated or corrupt: "),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_hostile_input_is_one_named_error_line(tmp_path, capsys, case):
    build, fragment = ERRORS[case]
    argv = build(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("rwbench: error:"), err
    assert fragment in err[-1], err[-1]
    assert not any(line.startswith("Traceback") for line in err)


SKIPPABLE = ["a NaN sample", "an absurd magnitude (1e6)", "all samples zero", "silence throughout the crop",
             "a zero-byte file", "a text file named .wav", "a truncated WAV", "a header rate of 1 Hz",
             "a folder named x.wav among the clips", "a FLAC corrupted in the middle", "an OGG corrupted in the middle",
             "an MP3 corrupted in the middle", "an MP3 damaged in the middle (a seek past its end)"]


# left out by the header screen, before the dataset (n_clips) is made; the others fail while embedding
SCREENED = {"a zero-byte file", "a text file named .wav", "a truncated WAV", "a header rate of 1 Hz",
            "a folder named x.wav among the clips",
            "an OGG corrupted in the middle", "an MP3 corrupted in the middle",
            "an MP3 damaged in the middle (a seek past its end)"}


@pytest.mark.parametrize("case", SKIPPABLE)
def test_skip_bad_audio_records_the_clip_and_the_leaderboard_names_it(tmp_path, capsys, case):
    build, fragment = ERRORS[case]
    assert main([*build(tmp_path), "--skip-bad-audio"]) == 0
    out = capsys.readouterr().out
    assert "Left out (--skip-bad-audio: unreadable or non-finite), 1 clip(s)" in out and fragment.split()[0] in out
    record = json.loads(next((tmp_path / "results" / "runs").rglob("*.json")).read_text())
    assert len(record["dataset"]["skipped"]) == 1
    tested = sum(fold["n_test"] for fold in record["folds"])  # k-fold: every clip scored once
    assert record["dataset"]["n_scored"] == tested == record["dataset"]["n_clips"] - (case not in SCREENED)


@pytest.mark.parametrize("case", ["a NaN sample", "a FLAC corrupted in the middle"])
def test_a_clip_left_out_of_cached_embeddings_is_an_error_unless_asked(tmp_path, capsys, case):
    """A clip that fails while embedding is cached as left out by a --skip-bad-audio run; the same command without
    the flag then fails as it does on a cold cache, instead of passing because of what the cache holds."""
    import shutil

    build, fragment = ERRORS[case]
    argv = build(tmp_path)
    assert main([*argv, "--skip-bad-audio"]) == 0
    shutil.rmtree(tmp_path / "results" / "runs")  # the results, not the cache beside them
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert fragment in err[-1] and "left out of the cached embeddings" in err[-1] and "--skip-bad-audio" in err[-1]
    assert main([*argv, "--skip-bad-audio"]) == 0


def test_results_and_embeddings_of_a_skip_bad_audio_run_fail_a_run_without_the_flag(tmp_path, capsys):
    """With the results kept, the same command without --skip-bad-audio passed (the table's "Left out" the only
    trace), and `rwbench embed` said "1 from cache": each now fails as on a cold cache — in a new process."""
    import subprocess
    import sys

    build, fragment = ERRORS["a NaN sample"]
    argv = build(tmp_path)
    assert main([*argv, "--skip-bad-audio"]) == 0
    at = argv.index("--backends")
    for command in (argv, ["embed", *argv[1:at], *argv[at + 2:]]):
        done = subprocess.run([sys.executable, "-m", "rwbench.cli", *command], capture_output=True, text=True, timeout=600)
        last = done.stderr.strip().splitlines()[-1]
        assert done.returncode == 2 and fragment in last and "--skip-bad-audio" in last, (command[0], done.stderr)
    assert main([*argv, "--skip-bad-audio"]) == 0


def test_labels_spelt_two_ways_are_said_and_recorded(tmp_path, caplog):
    """`Dog` beside `dog` made two classes, each with part of the clips, without a word."""
    from rwbench.api import load_dataset

    data = pets(tmp_path)
    rows = [f"cat/cat{i}.wav,cat" for i in range(6)] + [f"dog/dog{i}.wav,{'Dog' if i < 3 else 'dog'}" for i in range(6)]
    (data / "manifest.csv").write_text("\n".join(["path,label", *rows]) + "\n")
    with caplog.at_level(logging.WARNING, logger="rwbench"):
        (dataset,) = load_dataset("csv", data, k=3, seconds=0.15)
    assert dataset.info["label_spellings"] == {"dog": ["Dog", "dog"]}
    assert any("1 label(s) are spelt more than one way (Dog / dog)" in r.getMessage() for r in caplog.records)


def test_short_clips_of_a_dataset_follow_its_length_policy(tmp_path, capsys):
    """UrbanSound8K ships slices of 0.05 s: they run by default, lengthened by the dataset's pad rule."""
    data = pets(tmp_path)
    (data / "dog" / "dog2.wav").unlink()
    write_audio(data / "dog" / "dog2.wav", seconds=0.05)
    assert main(folder_run(tmp_path, data)) == 0
    record = json.loads(next((tmp_path / "results" / "runs").rglob("*.json")).read_text())
    assert record["dataset"]["skipped"] == [] and record["dataset"]["n_clips"] == 18


def test_the_same_audio_under_two_labels_is_warned_about_and_recorded(tmp_path, caplog):
    data = pets(tmp_path)
    shutil.copy(data / "cat" / "cat0.wav", data / "dog" / "dog9.wav")
    assert main(folder_run(tmp_path, data)) == 0
    assert "appear under more than one label (e.g. cat/cat0.wav as 'cat' and dog/dog9.wav as 'dog')" in caplog.text
    record = json.loads(next((tmp_path / "results" / "runs").rglob("*.json")).read_text())
    conflict = record["dataset"]["info"]["conflicting_labels"]
    assert [sorted(c["clips"].values()) for c in conflict] == [["cat/cat0.wav", "dog/dog9.wav"]]


def _computed(caplog) -> int:
    """Embeddings computed by the last run, from its log line."""
    text = caplog.text
    caplog.clear()
    return int(text.split("embed stage: ")[-1].split(" computed")[0])


def test_a_file_whose_content_changed_is_embedded_again(tmp_path, caplog, capsys):
    """Same name, same size, same mtime: only the content differs; the cache key follows the content. The result
    made on the old content is not replaced without --force (it was, with a warning line)."""
    caplog.set_level(logging.INFO)
    data = pets(tmp_path)
    argv = [a for a in folder_run(tmp_path, data) if a != "-q"]
    assert main(argv) == 0 and _computed(caplog) == 1
    target, other = data / "dog" / "dog2.wav", data / "owl" / "owl3.wav"
    stat = target.stat()
    target.write_bytes(other.read_bytes())  # same length: the same size
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old mtime
    assert target.stat().st_size == stat.st_size
    assert main(argv) == 2
    assert "were made on other data or outer splits under the same dataset key" in capsys.readouterr().err  # refused, by name
    caplog.clear()
    assert main([*argv, "--force"]) == 0
    assert _computed(caplog) == 1, "the changed file is embedded again"
    os.utime(target)  # touched, content unchanged: nothing to recompute
    assert main(argv) == 0 and _computed(caplog) == 0


def test_dsp_baseline_with_several_seeds_is_one_embedding_and_one_result(tmp_path, capsys):
    data = pets(tmp_path)
    assert main([*folder_run(tmp_path, data), "--seeds", "3"]) == 0
    assert len(list((tmp_path / "results" / "runs").rglob("*.json"))) == 1
    assert len(list((tmp_path / "results" / "embeddings").rglob("manifest.json"))) == 1
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["n_seeds"] == 1 and row["accuracy_ci95"] is None, "one number is never reported as 3 seeds"


@pytest.mark.parametrize("content", ["{broken", json.dumps({"model": "x", "score": 0.9})])
def test_a_foreign_or_broken_json_in_the_results_never_aborts_a_run(tmp_path, capsys, content, caplog):
    data = pets(tmp_path)
    stray = tmp_path / "results" / "runs" / "notes.json"
    stray.parent.mkdir(parents=True)
    stray.write_text(content)
    assert main(folder_run(tmp_path, data)) == 0
    assert "| mfcc" in capsys.readouterr().out and f"skipping {stray}" in caplog.text


def test_a_file_the_os_will_not_read_is_named_and_skippable(tmp_path, capsys, monkeypatch):
    """Permission denied (simulated: the tests may run as root, who reads everything)."""
    import rwbench.audio

    data = pets(tmp_path)
    locked = data / "owl" / "owl4.wav"
    real_access = os.access
    monkeypatch.setattr(rwbench.audio.os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    assert main(folder_run(tmp_path, data)) == 2
    assert f"{locked} cannot be read: Permission denied" in capsys.readouterr().err
    assert main([*folder_run(tmp_path, data), "--skip-bad-audio"]) == 0
    assert "owl/owl4.wav" in capsys.readouterr().out


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; the simulated case above runs")
def test_a_file_without_read_permission_is_named(tmp_path, capsys):
    data = pets(tmp_path)
    locked = data / "owl" / "owl4.wav"
    locked.chmod(0)
    assert main(folder_run(tmp_path, data)) == 2
    assert "owl4.wav cannot be read" in capsys.readouterr().err


def test_a_full_disk_while_the_cache_is_assembled_is_one_line(tmp_path, capsys, monkeypatch):
    """The features file is memory-mapped: a full disk under it killed the process with SIGBUS and no word; its
    space is now taken first (an OSError), said in one line, the finished chunks kept."""
    import errno

    import rwbench.cache

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rwbench.cache.os, "posix_fallocate", full)
    assert main(folder_run(tmp_path, pets(tmp_path))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("rwbench: error: No space left on device; finished chunks and results are kept: free space "
                       "or fix permissions and rerun to resume"), err
    assert list((tmp_path / "results" / "embeddings").rglob("parts/*.npz")), "the finished chunks are kept"
    monkeypatch.undo()
    assert main(folder_run(tmp_path, pets(tmp_path))) == 0


def test_a_damaged_dataset_record_beside_the_cache_is_written_again(tmp_path, capsys):
    argv = folder_run(tmp_path, pets(tmp_path))
    assert main(argv) == 0
    (record,) = (tmp_path / "results" / "embeddings").rglob("dataset-*.json")
    record.write_text(record.read_text()[:100])  # a crash mid-write of another tool, a full disk
    assert main(argv) == 0
    json.loads(record.read_text())


def test_clips_skipped_while_embedding_cannot_leave_a_class_untrained_in_a_fold(tmp_path, capsys):
    """Five of the six cats are digital silence, skipped at the embed stage (after the load-time checks): the fold
    that tests the last cat has none on its training side. It was scored, that cat counted wrong, with no word."""
    data = pets(tmp_path)
    for i in range(1, 6):
        float_wav(data / "cat" / f"cat{i}.wav", np.zeros(1200))
    assert main([*folder_run(tmp_path, data), "--skip-bad-audio"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("rwbench: error: once the clips left out while embedding are removed (--skip-bad-audio): ")
    assert "tests 1 clip(s) of 1 class(es) that no clip of its training side has ('cat')" in err


def test_the_study_protocol_also_refuses_a_class_left_untrained_by_clips_skipped_while_embedding(tmp_path):
    """The reference study's protocol (`rwbench reproduce --protocol both`) scored that last cat as a wrong answer
    (accuracy lowered, no word) where the nested CV refuses it."""
    from rwbench.backends import BACKENDS
    from rwbench.datamodel import DATASETS
    from rwbench.errors import DataError
    from rwbench.frontend import FRONTENDS
    from rwbench.pipeline import RunOptions
    from rwbench.published_protocol import evaluate_published

    data = pets(tmp_path)
    for i in range(1, 6):
        float_wav(data / "cat" / f"cat{i}.wav", np.zeros(1200))
    assert main(folder_run(tmp_path, data, "--skip-bad-audio")) == 2  # refused; its embeddings (5 cats left out) stay
    datasets = DATASETS.get("folder").load(data, k=3, seconds=0.15)
    opts = RunOptions(results_dir=tmp_path / "results", device="cpu", workers=0, skip_bad_audio=True, progress=False)
    with pytest.raises(DataError, match=r"once the clips left out while embedding are removed .*tests 1 clip\(s\) "
                                        r"of 1 class\(es\) that no clip of its training side has \('cat'\)"):
        evaluate_published(datasets, [FRONTENDS.get("mfcc")], [BACKENDS.get("logreg")], opts)
    assert not list((tmp_path / "results").rglob("published/**/*.json"))


def test_clips_skipped_while_embedding_cannot_empty_a_side_of_a_split(tmp_path, capsys):
    from rwbench.datamodel import DATASETS

    data = pets(tmp_path)
    dataset = DATASETS.get("folder").load(data, k=3, seconds=0.15)[0]
    for clip, fold in zip(dataset.clips, dataset.protocol.folds(dataset.clips)):
        if fold == 3:  # a whole fold of digital silence
            float_wav(clip.path, np.zeros(1200))
    assert main([*folder_run(tmp_path, data), "--skip-bad-audio"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert " holds no clip once the clips left out while embedding are removed (--skip-bad-audio)" in err, err


def test_a_result_scored_on_other_outer_splits_is_not_replaced_unsaid(tmp_path, capsys):
    """The same clips under other folds (--dataset-option seed=1: the fingerprint covers the clips alone) were
    scored again into the same file, the first run's result replaced without a word."""
    data = pets(tmp_path)
    argv = folder_run(tmp_path, data)
    assert main(argv) == 0
    path = next((tmp_path / "results" / "runs").rglob("*.json"))
    made = json.loads(path.read_text())
    capsys.readouterr()
    assert main([*argv, "--dataset-option", "seed=1"]) == 2
    err = capsys.readouterr().err
    assert "were made on other data or outer splits under the same dataset key" in err
    assert "its outer splits differ in assignment, seed" in err
    assert json.loads(path.read_text()) == made  # kept
    assert main([*argv, "--dataset-option", "seed=1", "--force"]) == 0
    assert json.loads(path.read_text())["dataset"]["protocol"]["seed"] == 1
