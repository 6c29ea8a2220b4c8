"""The official loaders of the new tasks, on fixture trees in each dataset's shipped layout: MagnaTagATune,
DCASE 2017 task 4, Speech Commands v0.02; and the ESC-10 mixtures on real audio."""

from __future__ import annotations

import csv
import functools
import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import shared_data, write_audio

from rwbench import audio
from rwbench.datamodel import DATASETS
from rwbench.datasets import magnatagatune as mtat
from rwbench.datasets.magnatagatune import TOP50
from rwbench.errors import DataError


def load(name, root, **options):
    (dataset,) = DATASETS.get(name).load(root, **options)
    assert dataset.task_type == DATASETS.get(name).task_type  # as `rwbench list datasets` declares it
    return dataset


# -- MagnaTagATune ---------------------------------------------------------------------------------------------
MTT_ROWS = [  # clip_id, tags, mp3_path
    ("2", ["classical", "strings"], "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3"),
    ("6", ["guitar", "slow"], "0/artist_a-album-01-song-0-29.mp3"),
    ("10", ["techno", "beat", "fast"], "b/artist_b-album-02-song-0-29.mp3"),
    ("14", ["singer"], "5/artist_c-album-03-song-0-29.mp3"),  # no top-50 tag ("singer" is not one): removed
    ("35644", ["rock"], "6/norine_braun-now_and_zen-08-gently-117-146.mp3"),  # known bad: removed by id
    ("21", ["piano", "no vocals"], "c/artist_d-album-04-song-0-29.mp3"),
    ("25", ["rock", "male vocal"], "d/artist_e-album-05-song-0-29.mp3"),
    ("29", ["guitar", "rock"], "e/artist_f-album-06-song-0-29.mp3"),
]


def build_mtt(root: Path, rows=MTT_ROWS, *, under_mp3: bool = False) -> Path:
    """``annotations_final.csv`` as shipped: tab-separated, every field quoted, clip_id, tags …, mp3_path."""
    write_annotations(root, rows, ["no voice", "singer", "duet", *TOP50])
    for _, _, path in rows:
        if not path.startswith("6/"):  # the known-bad clip has no file, as in the original
            write_audio((root / "mp3" if under_mp3 else root) / path, seconds=0.3, rate=16000)
    return root


@pytest.mark.parametrize("under_mp3", [False, True])
def test_mtt_folders_task_splits_by_folder_and_removes_untagged_clips(tmp_path, under_mp3):
    ds = load("magnatagatune", build_mtt(tmp_path / "mtt", under_mp3=under_mp3), tasks=["folders"],
              partial=True)  # 11 of the 50 tags
    assert ds.task_type == "multilabel" and ds.protocol.id == "magnatagatune/top50-split-0b-c-df"
    split = {c.id.split("/")[0]: c.split for c in ds.clips}
    assert split == {"0": "train", "b": "train", "c": "valid", "d": "test", "e": "test", "f": "test"}
    assert ds.info["untagged_removed"] == 1 and "35644" in ds.info["known_bad_removed"]
    assert ds.classes == sorted({"classical", "strings", "guitar", "slow", "techno", "beat", "fast", "piano",
                                 "no vocals", "rock", "male vocal"})
    first = next(c for c in ds.clips if c.id.startswith("f/"))
    assert first.tags == ("classical", "strings")
    row = ds.labels[ds.clips.index(first)]
    assert [ds.classes[i] for i in np.flatnonzero(row)] == ["classical", "strings"]
    assert ds.load_audio(first, 16000).shape == (4800,)  # the mp3 decodes
    outer = ds.splits()
    assert len(outer) == 1 and len(outer[0].test) == 3 and len(outer[0].inner[0][1]) == 1


def test_mtt_read_as_commas_is_named(tmp_path):
    root = build_mtt(tmp_path / "mtt")
    text = (root / "annotations_final.csv").read_text().replace("\t", ",")
    (root / "annotations_final.csv").write_text(text)
    with pytest.raises(DataError, match="lacks column.*is it the shipped annotations_final.csv"):
        load("magnatagatune", root)


def test_mtt_a_missing_mp3_needs_partial(tmp_path, monkeypatch):
    monkeypatch.setattr(mtat, "ROWS", len(MTT_ROWS))  # the fixture's annotations are whole
    root = build_mtt(tmp_path / "mtt")
    (root / MTT_ROWS[1][2]).unlink()
    with pytest.raises(DataError, match="1 of 6 listed files are missing"):
        load("magnatagatune", root, tasks=["folders"])
    assert len(load("magnatagatune", root, tasks=["folders"], partial=True).clips) == 5


# MagnaTagATune as published (Lee et al. 2017 lists, Won et al. 2020): the shipped lists, the 29.1-s rule, the counts
def shipped_list(part: str) -> list[str]:
    return (Path(mtat.__file__).parent / "splits" / "magnatagatune" / f"{part}.txt").read_text().splitlines()


def test_mtt_published_counts_are_the_shipped_lists():
    lists = {part: shipped_list(part) for part in mtat.PARTS}
    assert {part: len(entries) for part, entries in lists.items()} == mtat.PUBLISHED_COUNTS \
        == {"train": 15244, "valid": 1529, "test": 4332}
    assert all(len(set(entries)) == len(entries) and all(e.endswith(".mp3") for e in entries)
               for entries in lists.values())
    assert not (set(lists["train"]) & set(lists["valid"]) or set(lists["train"]) & set(lists["test"])
                or set(lists["valid"]) & set(lists["test"]))
    folders = {part: {e.split("/")[0] for e in entries} for part, entries in lists.items()}
    assert folders == {"train": set("0123456789ab"), "valid": {"c"}, "test": set("def")}
    assert {part: mtat.split_list(part) for part in mtat.PARTS} == lists  # what the loader reads (package data)
    camel = (Path(mtat.__file__).parent / "splits" / "magnatagatune" / "top50_tags.txt").read_text().split()
    spaced = {"".join(f" {ch.lower()}" if ch.isupper() else ch for ch in tag) for tag in camel}
    assert spaced == set(TOP50)  # Lee et al.'s top 50 are musicnn's (another order)


def id3v2(text: str, padding: int = 1024) -> bytes:
    """An ID3v2.3 tag with one TIT2 frame and padding, as MTAT's excerpts start."""
    body = b"\x00" + text.encode()
    frame = b"TIT2" + len(body).to_bytes(4, "big") + b"\x00\x00" + body
    size = len(frame) + padding
    syncsafe = bytes((size >> s) & 0x7F for s in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + frame + b"\x00" * padding


@functools.lru_cache(maxsize=None)
def cbr_stream(seconds: float) -> bytes:
    """A constant-bitrate MP3 stream at 16 kHz with no Xing/Info header (as MTAT's): libsndfile only estimates its
    length from the file size."""
    noise = (0.05 * np.random.default_rng(7).standard_normal(int(seconds * 16000))).astype(np.float32)
    out = io.BytesIO()
    sf.write(out, noise, 16000, format="MP3", bitrate_mode="CONSTANT", compression_level=0.9)
    data = out.getvalue()
    assert b"Xing" not in data[:400] and b"Info" not in data[:400]
    return data


def write_mtat_mp3(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(id3v2(path.name) + cbr_stream(seconds))  # the tag makes every file's bytes distinct
    return path


TRAIN, VALID, TEST = (shipped_list(p) for p in mtat.PARTS)
PUBLISHED_FILES = {TRAIN[0]: 29.3, TRAIN[-1]: 29.3, VALID[0]: 29.3, TEST[0]: 29.3, TEST[-1]: 29.3,
                   TRAIN[1]: 28.9}  # the last one is listed but shorter than 29.1 s: dropped
UNLISTED = {"6/norine_braun-now_and_zen-08-gently-117-146.mp3": ["rock"], "5/artist_c-album-03-song-0-29.mp3": []}


def build_published(root: Path, files=PUBLISHED_FILES, tags_of=None) -> Path:
    """``annotations_final.csv`` with every listed clip (tagged: ``tags_of[path]``, else a few tags) and two
    unlisted ones; mp3s for ``files`` only."""
    tags_of = tags_of or {}
    rows = [(str(i), tags_of.get(path, ["guitar", "rock"] if i % 2 else ["piano"]), path)
            for i, path in enumerate(TRAIN + VALID + TEST)]
    rows += [(str(100000 + i), tags, path) for i, (path, tags) in enumerate(UNLISTED.items())]
    write_annotations(root, rows)
    for path, seconds in files.items():
        write_mtat_mp3(root / "mp3" / path, seconds)
    return root


def write_annotations(root: Path, rows, tags=("no voice", "singer", *TOP50)) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "annotations_final.csv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(["clip_id", *tags, "mp3_path"])
        for clip_id, on, path in rows:
            writer.writerow([clip_id, *("1" if t in on else "0" for t in tags), path])


def test_mtt_published_split_follows_the_lists_drops_short_clips_and_checks_counts(tmp_path, caplog):
    root = build_published(tmp_path / "mtt")
    short = root / "mp3" / TRAIN[1]
    assert sf.info(str(short)).duration > 29.1  # its header over-reports (ID3 bytes counted): not to be trusted
    ds = load("magnatagatune", root, partial=True)  # the default task; a fixture lacks most listed files
    assert ds.task == "published" and ds.protocol.id == "magnatagatune/top50-lee2017-published-lists"
    assert {c.id: c.split for c in ds.clips} == {TRAIN[0]: "train", TRAIN[-1]: "train", VALID[0]: "valid",
                                                 TEST[0]: "test", TEST[-1]: "test"}
    dropped = ds.info["short_dropped"]
    assert dropped["count"] == 1 and [d["clip"] for d in dropped["clips"]] == [TRAIN[1]]
    assert dropped["clips"][0]["measured_by"] == "mpeg-frames" and 28.9 <= dropped["clips"][0]["seconds"] < 29.1
    assert ds.info["min_seconds"] == 29.1 and ds.info["duration_measured_by"] == {"mpeg-frames": 6}
    assert ds.info["partial"]["missing"] == 15244 + 1529 + 4332 - 6
    assert ds.info["not_listed"] == 2 and ds.info["not_listed_with_top50_tag"] == 1
    assert ds.info["counts"] == {"train": {"kept": 2, "published": 15244}, "valid": {"kept": 1, "published": 1529},
                                 "test": {"kept": 2, "published": 4332}, "match": False}
    assert "differ from the published counts" in caplog.text
    assert "short_dropped" in ds.describe()["info"]  # so it is in every result file
    clip = next(c for c in ds.clips if c.id == VALID[0])
    assert clip.tags == ("piano",) or clip.tags == ("guitar", "rock")
    assert len(ds.load_audio(clip, 16000)) / 16000 == mtat.clip_seconds(clip.path)[0]  # what rwbench decodes


def test_mtt_published_refuses_a_copy_missing_listed_files(tmp_path):
    root = build_published(tmp_path / "mtt", files={TRAIN[0]: 29.3})
    with pytest.raises(DataError, match=f"{15244 + 1529 + 4332 - 1} of {15244 + 1529 + 4332} listed files are "
                                        "missing.*--partial"):
        load("magnatagatune", root)


def test_mtt_published_complete_copy_runs_without_partial_and_counts_match(tmp_path, monkeypatch):
    lists = {"train": [TRAIN[0], TRAIN[1]], "valid": [VALID[0]], "test": [TEST[0]]}
    monkeypatch.setattr(mtat, "split_list", lambda part: lists[part])
    monkeypatch.setattr(mtat, "PUBLISHED_COUNTS", {part: len(entries) for part, entries in lists.items()})
    listed = [p for entries in lists.values() for p in entries]
    every_tag = {path: list(TOP50[k::len(listed)]) for k, path in enumerate(listed)}  # all 50 tags present
    root = build_published(tmp_path / "mtt", files={p: 29.3 for p in listed}, tags_of=every_tag)
    ds = load("magnatagatune", root)
    assert ds.info["counts"]["match"] is True and "partial" not in ds.info and ds.info["short_dropped"]["count"] == 0
    (root / "mp3" / TRAIN[1]).unlink()
    with pytest.raises(DataError, match=f"1 of 4 listed files are missing under .*{TRAIN[1].split('/')[1]}"):
        load("magnatagatune", root)
    counts = load("magnatagatune", root, partial=True).info["counts"]
    assert counts["train"] == {"kept": 1, "published": 2} and counts["match"] is False


def test_mtt_mpeg_frame_walk_is_the_decoded_length(tmp_path):
    path = write_mtat_mp3(tmp_path / "a.mp3", 3.0)
    seconds, how = mtat.clip_seconds(path)
    assert how == "mpeg-frames" and seconds == len(sf.read(str(path))[0]) / 16000
    data = path.read_bytes()
    assert audio.mpeg_seconds(data + b"TAG" + b"\x00" * 125) == seconds  # an ID3v1 tag at the end is allowed
    assert audio.mpeg_seconds(data[:5000] + b"junk" * 50 + data[5000:]) is None  # lost sync: decode instead
    wav = write_audio(tmp_path / "b.wav", seconds=0.5, rate=16000)
    assert mtat.clip_seconds(wav) == (0.5, "header")



def test_mtt_folders_cut_down_annotations_need_partial_and_are_recorded(tmp_path):
    """A copy whose annotations_final.csv lacks rows of the release's 25,863 is not the folders protocol's data."""
    from rwbench.reproduce import partial_reason

    root = build_mtt(tmp_path / "mtt")
    with pytest.raises(DataError, match=r"annotations_final\.csv holds 8 of the release's 25,863 clips: .*--partial"):
        load("magnatagatune", root, tasks=["folders"])
    ds = load("magnatagatune", root, tasks=["folders"], partial=True)
    assert len(ds.clips) == 6 and ds.info["partial"] == {"listed": 6 + 25863 - 8, "present": 6}
    assert partial_reason(ds).startswith(f"6 of {6 + 25863 - 8:,} listed clips")


@pytest.mark.parametrize("task", ["published", "folders"])
def test_mtt_an_mp3_path_on_two_rows_is_refused_naming_its_lines(tmp_path, task):
    """The published task read the tags into a dict (the later row won): both tasks refuse it, naming the lines."""
    if task == "published":
        root = build_published(tmp_path / "mtt")
        first, last, duplicate = 2, len(TRAIN + VALID + TEST) + len(UNLISTED) + 2, TRAIN[0]  # line 1: the header
    else:
        root = build_mtt(tmp_path / "mtt")
        first, last, duplicate = 3, len(MTT_ROWS) + 2, MTT_ROWS[1][2]
    annotations = root / "annotations_final.csv"
    header = [name.strip('"') for name in annotations.read_text().splitlines()[0].split("\t")]
    row = {"clip_id": "99999", "rock": "1", "mp3_path": duplicate}  # the same clip again, tagged otherwise
    with annotations.open("a", newline="") as f:
        f.write("\t".join(f'"{row.get(name, "0")}"' for name in header) + "\r\n")
    with pytest.raises(DataError, match=rf"1 mp3_path\(s\) are listed more than once in .*annotations_final\.csv "
                                        rf"\('{re.escape(duplicate)}' at line {first} and line {last}\)"):
        load("magnatagatune", root, tasks=[task], partial=True)


# -- DCASE 2017 task 4 -------------------------------------------------------------------------------------
DCASE = {  # list → (file name without Y, labels)
    "training": [("--4gqARaEJE_0.000_10.000.wav", ["Car", "Car passing by"]), ("-0CamVQdP_Y_0.000_4.000.wav", ["Bus"]),
                 ("0Ab1c2D3e4F_30.000_40.000.wav", ["Train horn"]), ("1Xy2Z3w4V5u_10.000_20.000.wav", ["Screaming"])],
    "testing": [("2Bc3D4e5F6g_0.000_10.000.wav", ["Air horn, truck horn", "Truck"]),
                ("3Cd4E5f6G7h_5.000_15.000.wav", ["Car"])],
    "evaluation": [("4De5F6g7H8i_0.000_10.000.wav", ["Ambulance (siren)", "Car"]),
                   ("5Ef6G7h8I9j_20.000_30.000.wav", ["Bicycle"])],
}


def build_dcase(root: Path, *, line_end: str = "\n") -> Path:
    """``groundtruth_release/groundtruth_weak_label_<set>_set.csv`` (file, start, end, label; one line per label)
    and ``audio/Y<file>``."""
    lists = root / "groundtruth_release"
    lists.mkdir(parents=True)
    for name, rows in DCASE.items():
        lines = [f"{file}\t{file.rsplit('_', 2)[1]}\t{file.rsplit('_', 1)[1][:-4]}\t{label}"
                 for file, labels in rows for label in labels]
        (lists / f"groundtruth_weak_label_{name}_set.csv").write_text(
            "".join(line + (line_end if name != "evaluation" else "\r\n") for line in lines))
        for file, _ in rows:
            write_audio(root / "audio" / f"Y{file}", seconds=0.5, rate=44100)
    return root


def test_dcase_official_lists_become_train_valid_test(tmp_path):
    ds = load("dcase2017_task4", build_dcase(tmp_path / "dcase"), partial=True)  # 9 of the 17 classes
    assert ds.task_type == "multilabel" and ds.protocol.id == "dcase2017_task4/train-test-eval"
    parts = {c.id: c.split for c in ds.clips}
    assert [parts[f] for f, _ in DCASE["training"]] == ["train"] * 4
    assert [parts[f] for f, _ in DCASE["testing"]] == ["valid"] * 2
    assert [parts[f] for f, _ in DCASE["evaluation"]] == ["test"] * 2  # CRLF lines read as well
    assert len(ds.describe()["protocol"]["assignment_sha256"]) == 64  # edited lists of equal counts: another split
    car = next(c for c in ds.clips if c.id.startswith("--4gq"))
    assert car.tags == ("Car", "Car passing by") and car.path.name == "Y--4gqARaEJE_0.000_10.000.wav"
    assert "Air horn, truck horn" in ds.classes and len(ds.classes) == 9
    assert ds.labels.sum() == sum(len(labels) for rows in DCASE.values() for _, labels in rows)


def test_dcase_a_file_found_twice_under_the_root_is_refused_naming_both(tmp_path):
    """The loader read whichever copy the directory walk listed last (an old copy beside audio/, chosen by the
    filesystem), unsaid."""
    root = build_dcase(tmp_path / "dcase")
    name = f"Y{DCASE['training'][0][0]}"
    write_audio(root / "zz_old" / name, seconds=0.5, rate=44100)
    with pytest.raises(DataError, match=rf"{re.escape(name)} is found twice under .*audio/{re.escape(name)} and "
                                        rf".*zz_old/{re.escape(name)}; keep one copy"):
        load("dcase2017_task4", root, partial=True)


def test_dcase_unknown_label_and_missing_lists_are_named(tmp_path):
    root = build_dcase(tmp_path / "dcase")
    path = root / "groundtruth_release" / "groundtruth_weak_label_testing_set.csv"
    path.write_text(path.read_text().replace("Truck", "Lorry"))
    with pytest.raises(DataError, match=r"testing_set.csv:2: unknown label 'Lorry'"):
        load("dcase2017_task4", root)
    path.unlink()
    with pytest.raises(DataError, match="lacks the weak-label lists"):
        load("dcase2017_task4", root)



def test_dcase_a_byte_order_mark_is_read_and_a_non_printable_name_is_named(tmp_path):
    """A BOM made the first name '\\ufeff…': 'missing', or with --partial the clip silently lost one of its labels."""
    root = build_dcase(tmp_path / "dcase")
    training = root / "groundtruth_release" / "groundtruth_weak_label_training_set.csv"
    training.write_bytes(b"\xef\xbb\xbf" + training.read_bytes())  # "--4gq…" Car, then "--4gq…" Car passing by
    ds = load("dcase2017_task4", root, partial=True)
    car = next(c for c in ds.clips if c.id.startswith("--4gq"))
    assert car.tags == ("Car", "Car passing by") and len(ds.clips) == 8
    testing = root / "groundtruth_release" / "groundtruth_weak_label_testing_set.csv"
    lines = testing.read_text().splitlines(keepends=True)
    testing.write_text("".join([*lines[:2], "\u200b" + lines[2], *lines[3:]]))  # a zero-width space, line 3
    with pytest.raises(DataError, match=r"testing_set\.csv:3: the file name '\\u200b3Cd4E5f6G7h_5.000_15.000.wav' "
                                        "holds a non-printable character"):
        load("dcase2017_task4", root, partial=True)


def test_dcase_cut_down_lists_need_partial_and_are_recorded(tmp_path):
    """The official lists hold 51,172 + 488 + 1,103 clips: fewer is not the protocol's data."""
    from rwbench.datasets import dcase2017_task4 as dcase
    from rwbench.reproduce import partial_reason

    root = build_dcase(tmp_path / "dcase")
    official = 51172 + 488 + 1103
    with pytest.raises(DataError, match=rf"dcase2017_task4: 8 of its {official} clips are listed under .*--partial"):
        load("dcase2017_task4", root)
    ds = load("dcase2017_task4", root, partial=True)
    assert ds.info["partial"] == {"listed": official, "present": 8}
    assert partial_reason(ds) == f"8 of {official:,} listed clips; 8 classes absent"
    assert dcase.CLIPS == {"train": 51172, "valid": 488, "test": 1103}


# -- Speech Commands v0.02 ---------------------------------------------------------------------------------
SPEAKERS = ("0a7c2a8d", "1b2c3d4e", "2c3d4e5f", "3d4e5f6a")


def build_speech(root: Path, words=("yes", "no", "up", "cat", "dog", "marvin")) -> Path:
    """Word folders of ``<speaker>_nohash_<n>.wav``, the two lists (speaker 2 validates, speaker 3 tests) and
    ``_background_noise_/`` with two 5 s recordings."""
    valid, test = [], []
    for word in words:
        for speaker in SPEAKERS:
            for n in range(2):
                name = f"{speaker}_nohash_{n}.wav"
                write_audio(root / word / name, seconds=1.0, rate=16000)
                (valid if speaker == SPEAKERS[2] else test if speaker == SPEAKERS[3] else []).append(f"{word}/{name}")
    (root / "validation_list.txt").write_text("\n".join(valid) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    for noise in ("white_noise.wav", "running_tap.wav"):
        write_audio(root / "_background_noise_" / noise, seconds=40.0, rate=16000)
    (root / "_background_noise_" / "README.md").write_text("noise\n")
    return root


def test_speech_commands_lists_split_and_speakers_group(tmp_path):
    ds = load("speech_commands", build_speech(tmp_path / "sc"), partial=True)  # 6 of the 35 words
    assert ds.key == "speech_commands/words35" and ds.classes == ["cat", "dog", "marvin", "no", "up", "yes"]
    for clip in ds.clips:
        speaker = clip.id.split("/")[1].split("_nohash_")[0]
        assert clip.group == speaker
        assert clip.split == {SPEAKERS[2]: "valid", SPEAKERS[3]: "test"}.get(speaker, "train")
    assert ds.seconds == 1.0 and ds.protocol.id == "speech_commands/v0.02-lists"


def test_speech_commands_v1_12_builds_unknown_and_silence_deterministically(tmp_path):
    root = build_speech(tmp_path / "sc")
    ds = load("speech_commands", root, tasks=["v1_12"], partial=True)
    assert ds.classes == ["_silence_", "_unknown_", "no", "up", "yes"]
    keywords = [c for c in ds.clips if c.label in ("yes", "no", "up")]
    for part in ("train", "valid", "test"):
        n_words = sum(c.split == part for c in keywords)
        expected = int(np.ceil(0.1 * n_words))
        assert sum(c.split == part and c.label == "_unknown_" for c in ds.clips) == expected
        assert sum(c.split == part and c.label == "_silence_" for c in ds.clips) == expected
    unknown = [c for c in ds.clips if c.label == "_unknown_"]
    assert {c.id.split("/")[0] for c in unknown} <= {"cat", "dog", "marvin"}
    silence = [c for c in ds.clips if c.label == "_silence_"]
    wave = ds.load_audio(silence[0], 16000)
    path, start, volume = ds.windows[silence[0].id]
    assert wave.shape == (16000,) and 0 <= volume < 1
    from rwbench import audio

    begin = round(start * 16000)  # seconds, on the recording's sample grid (crops overlap)
    np.testing.assert_allclose(wave, audio.load(path, 16000)[begin:begin + 16000] * volume, rtol=1e-6)
    again = load("speech_commands", root, tasks=["v1_12"], partial=True)
    assert [c.id for c in again.clips] == [c.id for c in ds.clips] and again.fingerprint() == ds.fingerprint()


def test_speech_commands_without_lists_is_named(tmp_path):
    root = build_speech(tmp_path / "sc")
    (root / "testing_list.txt").unlink()
    with pytest.raises(DataError, match="expected the word folders .* and testing_list.txt"):
        load("speech_commands", root)


# -- ESC-10 mixtures on the real audio --------------------------------------------------------------------
@pytest.mark.shared_data
def test_esc10_mix_sources_stay_in_their_fold_and_tags_are_their_classes():
    root = shared_data("esc10")
    ds = load("esc10_mix", root, mixtures=20)
    (esc10,) = DATASETS.get("esc10").load(root)
    fold_of = {c.id: c.fold for c in esc10.clips}
    label_of = {c.id: c.label for c in esc10.clips}
    assert len(ds.clips) == 100 and ds.task_type == "multilabel" and len(ds.classes) == 10
    for clip in ds.clips:
        sources = ds.info["mixing"]["recipe"][clip.id]
        assert 2 <= len(sources) <= 3 and {fold_of[s] for s in sources} == {clip.fold}
        assert clip.tags == tuple(sorted(label_of[s] for s in sources)) and len(set(clip.tags)) == len(sources)
    wave = ds.load_audio(ds.clips[0], 16000)
    assert wave.shape == (80000,) and np.abs(wave).max() <= 1.0 and np.sqrt(np.mean(wave ** 2)) > 0.05
    again = load("esc10_mix", root, mixtures=20)
    assert again.fingerprint() == ds.fingerprint() and again.info == ds.info
    assert load("esc10_mix", root, mixtures=20, seed=1).fingerprint() != ds.fingerprint()
    for outer in ds.splits():  # no mixture of a test fold shares a source with a training mixture
        train = {s for i in outer.train for s in ds.info["mixing"]["recipe"][ds.clips[i].id]}
        test = {s for i in outer.test for s in ds.info["mixing"]["recipe"][ds.clips[i].id]}
        assert not train & test


@pytest.mark.parametrize(("options", "message"), [
    ({"mixtures": 0}, "mixtures must be a positive integer"),
    ({"min_sources": 3, "max_sources": 2}, "need 2 <= min_sources <= max_sources"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_esc10_mix_bad_options_are_named(tmp_path, options, message):
    with pytest.raises(DataError, match=message):
        load("esc10_mix", tmp_path, **options)
