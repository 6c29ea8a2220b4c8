"""Speech Commands v0.02: a copy missing listed files is refused unless --partial, as every loader
refuses a partial copy; ``_silence_`` gets its 10 % share in every split from seeded, overlapping 1 s crops of the
background recordings, the rule recorded in the dataset's info. Fixture trees in the archive's layout."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import pytest
from conftest import write_audio

from rwbench.cli import main
from rwbench.datamodel import DATASETS
from rwbench.datasets import speech_commands as sc
from rwbench.errors import DataError

WORDS = ("yes", "no", "up", "cat")


def build(root: Path, *, train_speakers: int = 2, takes: int = 2, noise_seconds: float = 12.0) -> Path:
    """Word folders (short clips: the loader pads to 1 s), speaker ``v`` validates and ``t`` tests, two background
    recordings of ``noise_seconds``."""
    valid, test = [], []
    speakers = [f"{i:08x}" for i in range(train_speakers)] + ["0000000v", "0000000t"]
    for word in WORDS:
        for speaker in speakers:
            for n in range(takes):
                name = f"{speaker}_nohash_{n}.wav"
                write_audio(root / word / name, seconds=0.05, rate=16000)
                {"0000000v": valid, "0000000t": test}.get(speaker, []).append(f"{word}/{name}")
    (root / "validation_list.txt").write_text("\n".join(valid) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    for noise in ("white_noise.wav", "pink_noise.wav"):
        write_audio(root / "_background_noise_" / noise, seconds=noise_seconds, rate=16000)
    return root


def load(root: Path, **options):
    (dataset,) = DATASETS.get("speech_commands").load(root, **options)
    return dataset


def test_a_copy_missing_listed_files_is_refused_through_the_cli(tmp_path, capsys):
    root = build(tmp_path / "sc")
    (root / "yes" / "0000000t_nohash_0.wav").unlink()  # listed in testing_list.txt
    (root / "no" / "0000000v_nohash_1.wav").unlink()  # listed in validation_list.txt
    code = main(["run", "--dataset", "speech_commands", "--data-root", str(root), "--frontends", "mfcc",
                 "--backends", "svm", "--results", str(tmp_path / "results"), "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"rwbench: error: speech_commands: {root} is not the whole v0.02 archive (30 .wav files "
                             "in the word folders of 105829; validation_list.txt lists 8 of 9981; testing_list.txt "
                             "lists 8 of 11005)") and "--partial" in err[0]


def test_a_cut_down_copy_is_refused_and_with_partial_recorded_against_the_archive(tmp_path):
    root = build(tmp_path / "sc")  # nothing the lists name is missing, but it is 32 files of 105,829
    with pytest.raises(DataError, match="is not the whole v0.02 archive"):
        load(root)
    ds = load(root, partial=True)
    assert ds.info["partial"] == {"listed": 105_829, "present": 32,
                                  "lists": {"validation_list.txt": 8, "testing_list.txt": 8}}


def test_a_list_with_a_bom_and_crlf_reads_as_shipped(tmp_path):
    root = build(tmp_path / "sc")
    clean = {c.id: c.split for c in load(root, partial=True).clips}
    for name in ("validation_list.txt", "testing_list.txt"):
        lines = (root / name).read_text().splitlines()
        (root / name).write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    assert {c.id: c.split for c in load(root, partial=True).clips} == clean
    assert sum(split == "test" for split in clean.values()) == 8


@pytest.mark.parametrize("entry", ["yes\\0000000t_nohash_0.wav", "Yes/0000000t_nohash_0.wav", "yes/0000000t_nohash_0"])
def test_a_list_line_of_no_v002_word_is_named_not_trained_on(tmp_path, entry):
    # ignored, the line's clip would train while the shipped list puts it in the test side
    root = build(tmp_path / "sc")
    lines = (root / "testing_list.txt").read_text().splitlines()
    (root / "testing_list.txt").write_text("\n".join([*lines[:3], entry, *lines[4:]]) + "\n")
    with pytest.raises(DataError, match=rf"testing_list.txt:4: {re.escape(repr(entry))} is not '<word>/<file>.wav'"):
        load(root, partial=True)


def test_a_speaker_on_two_sides_of_the_lists_is_refused(tmp_path):
    root = build(tmp_path / "sc")
    lines = (root / "testing_list.txt").read_text().splitlines()
    (root / "testing_list.txt").write_text("\n".join(lines[1:]) + "\n")  # one clip of speaker t falls to training
    with pytest.raises(DataError, match=r"1 speaker\(s\) have clips on several sides of the shipped lists \(e.g. "
                                        r"0000000t: test, train\)"):
        load(root, partial=True)


def test_partial_runs_on_what_is_present_and_records_it(tmp_path, caplog):
    root = build(tmp_path / "sc")
    (root / "yes" / "0000000t_nohash_0.wav").unlink()
    with caplog.at_level(logging.WARNING):
        ds = load(root, partial=True)
    assert ds.info["partial"]["missing"] == 1 and ds.info["partial"]["missing_examples"] == ["yes/0000000t_nohash_0.wav"]
    assert "yes/0000000t_nohash_0.wav" not in {c.id for c in ds.clips}
    assert ds.info["files"] == {"word_files": len(ds.clips), "archive_files": 105_829, "listed_missing": 1}
    assert "partial copy" in caplog.text and "105829" in caplog.text  # and the unlisted training part is counted


def test_silence_gets_its_ten_percent_in_every_split_from_overlapping_crops(tmp_path):
    # 3 keywords × 8 training speakers × 8 takes = 192 training clips → 20 silence crops, from two recordings whose
    # training parts (80 % of 12 s) hold 2 × 9 = 18 whole seconds; 24 valid clips → 3 crops from 2 × 1.2 s
    root = build(tmp_path / "sc", train_speakers=8, takes=8, noise_seconds=12.0)
    ds = load(root, tasks=["v1_12"], partial=True)  # 3 of the 10 keywords
    keywords = [c for c in ds.clips if c.label in ("yes", "no", "up")]
    for part, lo_hi in sc.SILENCE_PARTS.items():
        share = math.ceil(0.1 * sum(c.split == part for c in keywords))
        crops = [c for c in ds.clips if c.label == "_silence_" and c.split == part]
        assert len(crops) == share and ds.info["silence"]["clips"][part] == share
        for clip in crops:  # each crop lies in its split's part of its recording: splits never share audio
            path, start, volume = ds.windows[clip.id]
            assert 12.0 * lo_hi[0] - 1e-9 <= start and start + 1.0 <= 12.0 * lo_hi[1] + 1e-9 and 0 <= volume < 1
    # more crops than the parts hold whole non-overlapping seconds: the crops overlap, as TensorFlow's do
    assert ds.info["silence"]["clips"]["train"] == 20 > 18 and ds.info["silence"]["clips"]["valid"] == 3 > 2
    assert "seeded" in ds.info["silence"]["rule"] and ds.info["silence"]["recordings"] == 2
    wave = ds.load_audio(next(c for c in ds.clips if c.label == "_silence_"), 16000)
    assert wave.shape == (16000,)
    again = load(root, tasks=["v1_12"], partial=True)  # deterministic: the same crops, the same fingerprint
    assert again.windows == ds.windows and again.fingerprint() == ds.fingerprint()


def test_silence_needs_a_recording_long_enough_for_each_split(tmp_path):
    root = build(tmp_path / "sc", noise_seconds=5.0)  # 10 % of 5 s is 0.5 s: no 1 s crop for valid / test
    with pytest.raises(DataError, match="long enough to draw valid silence"):
        load(root, tasks=["v1_12"], partial=True)


def test_a_file_in_both_shipped_lists_is_refused(tmp_path):
    root = build(tmp_path / "sc")
    first_test = (root / "testing_list.txt").read_text().split()[0]
    with open(root / "validation_list.txt", "a") as f:
        f.write(first_test + "\n")
    with pytest.raises(DataError, match=rf"1 file\(s\) are in both validation_list.txt and testing_list.txt \(first: "
                                        rf"{re.escape(first_test)}\)"):
        load(root, partial=True)


def test_swapped_lists_of_equal_size_are_another_split(tmp_path):
    """The lists swapped (speaker t validates, v tests: the same counts on each side) kept the split's key, so a rerun
    read the results scored on the other test clips as up to date; the assignment is now in the key (as a digest:
    105,829 clips)."""
    from rwbench.results import splits_key

    root = build(tmp_path / "sc")
    before = load(root, partial=True).describe()["protocol"]
    valid, test = (root / "validation_list.txt").read_text(), (root / "testing_list.txt").read_text()
    (root / "validation_list.txt").write_text(test)
    (root / "testing_list.txt").write_text(valid)
    after = load(root, partial=True).describe()["protocol"]
    assert before["counts"] == after["counts"] and splits_key(before) != splits_key(after)
    assert "assignment" not in after and len(after["assignment_sha256"]) == 64
