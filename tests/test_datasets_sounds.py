"""UrbanSound8K, ESC-50/ESC-10 and FSDD loaders on fixture trees in their exact layouts."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_audio

from rwbench.datamodel import DATASETS
from rwbench.datasets import esc50, urbansound8k
from rwbench.errors import DataError
from rwbench.guards import group_straddles


def load(name, root, **options):
    return DATASETS.get(name).build(root, **options)


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def assert_official_folds(ds, fold_of: dict[str, int]) -> None:
    """Folds are the metadata's; each is the test fold once; inner CV leaves one training fold out."""
    assert {c.id: c.fold for c in ds.clips} == fold_of
    folds = np.array([c.fold for c in ds.clips])
    for split in ds.splits():
        (test_fold,) = set(folds[split.test])
        assert split.name == f"fold{test_fold}" and set(folds[split.train]) == set(fold_of.values()) - {test_fold}
        assert [set(folds[valid]) for _, valid in split.inner] == [{f} for f in sorted(set(folds[split.train]))]
    assert not group_straddles(ds.clips)


# -- UrbanSound8K --------------------------------------------------------------------------------------

US8K_CLASSES = {0: "air_conditioner", 3: "dog_bark", 8: "siren"}


@pytest.fixture(autouse=True)
def small_releases(monkeypatch):
    """The fake layouts hold a few clips: the release-size check is off here, and tested on its own below."""
    monkeypatch.setattr(urbansound8k, "CLIPS", None)
    monkeypatch.setattr(esc50, "CLIPS", {"esc50": None, "esc10": None})


def test_a_copy_smaller_than_the_release_needs_partial(tmp_path, monkeypatch):
    """A metadata CSV cut to some rows (every fold and class still present) was run as the official dataset."""
    monkeypatch.setattr(urbansound8k, "CLIPS", 8732)
    root = build_us8k(tmp_path, us8k_rows())
    with pytest.raises(DataError, match=r"urbansound8k: 60 of its 8732 clips are listed in .*UrbanSound8K\.csv: this "
                                        r"is not the whole dataset.*--partial"):
        load("urbansound8k", root)
    ds = load("urbansound8k", root, partial=True)
    assert ds.info["partial"] == {"listed": 8732, "present": 60}


def us8k_rows():
    """Per fold, per class, one source recording (fsID) cut into two slices."""
    rows = []
    for fold in range(1, 11):
        for class_id, name in US8K_CLASSES.items():
            fs_id = str(1000 * fold + class_id)
            rows += [{"slice_file_name": f"{fs_id}-{class_id}-0-{s}.wav", "fsID": fs_id, "start": "0", "end": "1",
                      "salience": "1", "fold": str(fold), "classID": str(class_id), "class": name} for s in range(2)]
    return rows


def build_us8k(root: Path, rows: list[dict]) -> Path:
    for row in rows:
        write_audio(root / "UrbanSound8K/audio" / f"fold{row['fold']}" / row["slice_file_name"], seconds=0.15)
    write_csv(root / "UrbanSound8K/metadata/UrbanSound8K.csv", rows)
    return root


def test_us8k_keeps_official_folds_and_groups(tmp_path):
    ds = load("urbansound8k", build_us8k(tmp_path, us8k_rows()), partial=True)  # 3 of the 10 classes
    assert len(ds.clips) == 60 and ds.protocol.id == "urbansound8k/official-10-folds"
    assert_official_folds(ds, {f"fold{r['fold']}/{r['slice_file_name']}": int(r["fold"]) for r in us8k_rows()})
    assert all(c.group == c.id.split("/")[1].split("-")[0] for c in ds.clips)
    assert (ds.seconds, ds.pad) == (4.0, "repeat") and ds.info["folds_used"] == list(range(1, 11))


def test_us8k_unknown_label_and_wrong_root(tmp_path):
    rows = us8k_rows()
    rows[3]["class"] = "dog_barking"
    build_us8k(tmp_path, rows)
    with pytest.raises(DataError, match=r"unknown label 'dog_barking' \(classID 3\)"):
        load("urbansound8k", tmp_path)
    with pytest.raises(DataError, match=r"expected audio/fold1\.\.fold10/\*\.wav and metadata/UrbanSound8K\.csv"):
        load("urbansound8k", tmp_path / "UrbanSound8K" / "audio")


def test_us8k_missing_fold_needs_partial(tmp_path, caplog):
    build_us8k(tmp_path, us8k_rows())
    for f in (tmp_path / "UrbanSound8K/audio/fold10").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="6 of 60 listed files are missing"):
        load("urbansound8k", tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = load("urbansound8k", tmp_path, partial=True)
    assert ds.info["folds_used"] == list(range(1, 10)) and "official folds [10] are absent" in caplog.text
    assert ds.describe()["protocol"]["folds"] == list(range(1, 10)) and len(ds.splits()) == 9


def test_us8k_metadata_restricted_to_some_folds_needs_partial(tmp_path, caplog):
    build_us8k(tmp_path, [r for r in us8k_rows() if int(r["fold"]) <= 3])
    with pytest.raises(DataError, match=r"official folds \[4, 5, 6, 7, 8, 9, 10\] have no clips here \(folds present: "
                                        r"\[1, 2, 3\]\).*--partial"):
        load("urbansound8k", tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = load("urbansound8k", tmp_path, partial=True)
    assert ds.info["folds_used"] == [1, 2, 3] and "official folds [4, 5, 6, 7, 8, 9, 10] are absent" in caplog.text
    assert ds.info["folds_absent"] == [4, 5, 6, 7, 8, 9, 10]


def test_us8k_group_straddling_folds_is_recorded(tmp_path):
    rows = us8k_rows()
    rows[1]["fold"] = "2"  # slice 1 of fsID 1000 moved to fold 2: not the official metadata
    build_us8k(tmp_path, rows)
    ds = load("urbansound8k", tmp_path, partial=True)
    assert ds.info["group_straddles"] == {"1000": [1, 2]}


def test_us8k_recordings_the_official_metadata_puts_in_two_folds_are_not_a_fault(tmp_path, caplog):
    """fsID 77751 sits in folds 2 and 7 of the released UrbanSound8K.csv (and four others in two folds): recorded as
    the release's own, with no warning that would send users to "fix" the official folds."""
    rows = us8k_rows()
    for row in rows:
        if row["fsID"] == rows[1]["fsID"]:
            row["fsID"] = "77751"
    rows[1]["fold"] = "7"
    build_us8k(tmp_path, rows)
    with caplog.at_level(logging.WARNING):
        ds = load("urbansound8k", tmp_path, partial=True)
    assert ds.info["official_straddles"] == {"77751": [1, 7]} and "group_straddles" not in ds.info
    assert "sit in more than one fold" not in caplog.text


# -- ESC-50 / ESC-10 ---------------------------------------------------------------------------------------

ESC_CLASSES = {0: ("dog", True), 10: ("rain", True), 41: ("chainsaw", True), 2: ("pig", False)}


def esc_rows():
    rows = []
    for fold in range(1, 6):
        for target, (category, esc10) in ESC_CLASSES.items():
            src = str(100 * fold + target)
            rows += [{"filename": f"{fold}-{src}-{take}-{target}.wav", "fold": str(fold), "target": str(target),
                      "category": category, "esc10": str(esc10), "src_file": src, "take": take} for take in "AB"]
    return rows


def build_esc(root: Path, rows: list[dict]) -> Path:
    for row in rows:
        write_audio(root / "audio" / row["filename"], seconds=0.15)
    write_csv(root / "meta/esc50.csv", rows)
    return root


@pytest.mark.parametrize("name, n_classes", [("esc50", 4), ("esc10", 3)])
def test_esc_official_folds(tmp_path, name, n_classes):
    ds = load(name, build_esc(tmp_path, esc_rows()), partial=True)  # a few of the classes
    assert len(ds.classes) == n_classes and len(ds.clips) == 10 * n_classes
    rows = [r for r in esc_rows() if name == "esc50" or r["esc10"] == "True"]
    assert_official_folds(ds, {r["filename"]: int(r["fold"]) for r in rows})
    assert ds.protocol.id == f"{name}/official-5-folds" and (ds.seconds, ds.pad) == (5.0, "zero")
    assert {c.group for c in ds.clips} == {r["src_file"] for r in rows}


def test_esc_fold_must_match_file_name(tmp_path):
    rows = esc_rows()
    rows[0]["fold"] = "2"
    with pytest.raises(DataError, match=r"1-100-A-0\.wav has fold 2"):
        load("esc50", build_esc(tmp_path, rows))


def test_esc_unknown_category(tmp_path):
    rows = esc_rows()
    rows[3]["category"] = "cat"  # target 10 is rain
    with pytest.raises(DataError, match="unknown label 'cat'"):
        load("esc10", build_esc(tmp_path, rows))


def test_esc_and_us8k_label_must_match_file_name(tmp_path):
    """ESC-50 and UrbanSound8K file names carry the class (ESC ``...-{target}.wav``, UrbanSound8K
    ``{fsID}-{classID}-...``): a metadata row that labels the file as another class is an error, not a silent
    mislabelling."""
    rows = esc_rows()
    rows[0].update(target="10", category="rain")  # 1-100-A-0.wav (a dog) relabelled as rain
    build_esc(tmp_path / "esc", rows)
    with pytest.raises(DataError, match=r"1-100-A-0\.wav is labelled 'rain' \(target 10\), but its name says target 0"):
        load("esc50", tmp_path / "esc")
    rows = us8k_rows()
    rows[0].update(classID="3", **{"class": "dog_bark"})  # 1000-0-0-0.wav (air_conditioner) relabelled
    build_us8k(tmp_path / "us", rows)
    with pytest.raises(DataError, match=r"1000-0-0-0\.wav is labelled 'dog_bark' \(classID 3\), but its name is not"):
        load("urbansound8k", tmp_path / "us")


# -- FSDD -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fsdd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fsdd")
    for digit in range(3):
        for speaker in ("george", "jackson", "lucas"):
            for index in range(12):
                write_audio(root / "recordings" / f"{digit}_{speaker}_{index}.wav", seconds=0.15)
    return root


def test_fsdd_standard_split_by_repetition_index(fsdd_root):
    ds = load("fsdd", fsdd_root, partial=True)  # digits 0-2 of 0-9
    index = {c.id: int(c.id.split("_")[2].split(".")[0]) for c in ds.clips}
    assert {c.id for c in ds.clips if c.split == "test"} == {i for i, n in index.items() if n < 5}
    assert {c.id for c in ds.clips if c.split == "valid"} == {i for i, n in index.items() if 5 <= n < 10}
    (split,) = ds.splits()
    assert len(split.test) == 45 and len(split.train) == 63  # refit on train+valid = repetitions 5-11
    assert "group_straddles" not in ds.info  # every speaker on both sides is this protocol, not a metadata fault
    assert [len(v) for _, v in split.inner] == [45]
    assert ds.protocol.id == "fsdd/standard-index0-4-test" and (ds.seconds, ds.pad) == (1.0, "zero")
    assert len(load("fsdd", fsdd_root, refit="train", check_duplicates=False, partial=True).splits()[0].train) == 18


def test_fsdd_speaker_folds_never_share_a_speaker(fsdd_root):
    ds = load("fsdd", fsdd_root, task="speakers", partial=True)
    assert ds.info["fold_speakers"] == {1: "george", 2: "jackson", 3: "lucas"}
    groups = np.array([c.group for c in ds.clips])
    for split in ds.splits():
        assert not set(groups[split.train]) & set(groups[split.test])
        for fit, valid in split.inner:
            assert not set(groups[fit]) & set(groups[valid])
    assert Counter(ds.protocol.folds(ds.clips)) == {1: 36, 2: 36, 3: 36}


def test_fsdd_unexpected_name_and_root(tmp_path):
    write_audio(tmp_path / "recordings/0_george_0.wav")
    write_audio(tmp_path / "recordings/zero-george.wav")
    with pytest.raises(DataError, match=r"unexpected file name .*zero-george\.wav"):
        load("fsdd", tmp_path)
    with pytest.raises(DataError, match=r"expected recordings/\{digit\}_\{speaker\}_\{index\}\.wav"):
        load("fsdd", tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["0_george_1.WAV", "0_george_1.flac"])
def test_fsdd_audio_under_another_extension_is_named_not_left_out(tmp_path, name):
    write_audio(tmp_path / "recordings/0_george_0.wav")
    write_audio(tmp_path / "recordings" / name)
    with pytest.raises(DataError, match=rf"unexpected file name .*{name.replace('.', '[.]')}"):
        load("fsdd", tmp_path)


def test_a_copy_missing_whole_classes_needs_partial(tmp_path, caplog):
    """ESC-50's name on a copy that holds 4 of its 50 classes would score another task under ESC-50's name."""
    build_esc(tmp_path, esc_rows())
    with pytest.raises(DataError, match=r"esc50: 46 of the 50 classes have no clips here \(.*--partial"):
        load("esc50", tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = load("esc50", tmp_path, partial=True)
    assert len(ds.info["classes_absent"]) == 46 and "46 of the 50 classes have no clips" in caplog.text


@pytest.mark.parametrize("name", ["urbansound8k", "esc10"])
def test_a_repeated_metadata_row_is_named_by_its_csv_lines(tmp_path, name):
    """Line numbers of the metadata file itself: ESC-10's rows are counted before its classes are kept."""
    if name == "urbansound8k":
        rows, csv_file = us8k_rows(), tmp_path / "UrbanSound8K/metadata/UrbanSound8K.csv"
        repeat = 4
        build_us8k(tmp_path, rows + [rows[repeat]])
        key = f"fold1/{rows[repeat]['slice_file_name']}"
    else:
        rows, csv_file = esc_rows(), tmp_path / "meta/esc50.csv"
        repeat = next(i for i, r in enumerate(rows) if r["esc10"] == "True" and i > 0)
        build_esc(tmp_path, rows + [rows[repeat]])
        key = rows[repeat]["filename"]
    with pytest.raises(DataError, match=re.escape(f"1 clip id(s) are listed more than once in {csv_file} ({key!r} at "
                                                  f"line {repeat + 2} and line {len(rows) + 2})")):
        load(name, tmp_path, partial=True)


def test_a_bad_us8k_row_is_named_by_its_line_past_a_blank_one(tmp_path):
    rows = us8k_rows()
    build_us8k(tmp_path, rows)
    csv_file = tmp_path / "UrbanSound8K/metadata/UrbanSound8K.csv"
    lines = csv_file.read_text().splitlines()
    bad = lines[4].split(",")
    bad[list(rows[0]).index("fold")] = "x"  # the fold of the row on file line 6, after a blank line 3
    csv_file.write_text("\n".join([*lines[:2], "", *lines[2:4], ",".join(bad), *lines[5:]]) + "\n")
    with pytest.raises(DataError, match=re.escape(f"{csv_file}:6: fold 'x' is not an integer")):
        load("urbansound8k", tmp_path, partial=True)


def test_a_cut_down_fsdd_copy_needs_partial_and_is_recorded(fsdd_root):
    """Without a size to check against, a copy missing speakers ran as FSDD: 3 speaker folds scored under fsdd's key."""
    with pytest.raises(DataError, match=r"fsdd/speakers: 108 of its 3000 clips are listed under .*recordings: this is "
                                        r"not the whole dataset.*--partial"):
        load("fsdd", fsdd_root, task="speakers")
    assert load("fsdd", fsdd_root, task="speakers", partial=True).info["partial"]["listed"] == 3000


def test_refit_beside_fsdds_speaker_folds_is_refused(fsdd_root):
    with pytest.raises(DataError, match=r"fsdd/speakers: --dataset-option refit has no effect"):
        load("fsdd", fsdd_root, task="speakers", partial=True, refit="train")


def test_results_of_a_partial_copy_say_so_in_every_table(tmp_path, capsys):
    """ESC-10 cut to folds 1-3 and 3 of its classes, run with --partial: the leaderboard (Markdown, JSON) and the
    report showed the rows as esc10's official-5-folds results; what the copy lacked was in the result files alone."""
    import json

    from rwbench.cli import main

    root = build_esc(tmp_path / "esc", [r for r in esc_rows() if int(r["fold"]) <= 3])
    results = tmp_path / "results"
    fast = ["--frontends", "mfcc", "--backends", "logreg", "--device", "cpu", "--workers", "0", "-q"]
    assert main(["run", "--dataset", "esc10", "--data-root", str(root), "--partial", "--results", str(results),
                 *fast]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results)]) == 0
    markdown = capsys.readouterr().out
    assert re.search(r"Partial copy \(--partial\): official fold\(s\) 4, 5 absent; class\(es\) (\w+, ){6}\w+ absent\. "
                     r"These scores are not esc10's under its protocol", markdown), markdown
    assert main(["leaderboard", "--results", str(results), "--format", "json"]) == 0
    (line,) = json.loads(capsys.readouterr().out)["metadata"]["partial_copies"]["esc10"]
    assert line.startswith("official fold(s) 4, 5 absent; class(es) ")
    # the CSV has no notes: each row says it, and which data it was computed on
    assert main(["leaderboard", "--results", str(results), "--format", "csv", "--columns", "partial_copy,data"]) == 0
    (row,) = pd.read_csv(io.StringIO(capsys.readouterr().out)).to_dict("records")
    assert row["partial_copy"] == line and re.fullmatch(r"[0-9a-f]{12}", row["data"])
    page = tmp_path / "report.html"
    assert main(["report", "--results", str(results), "-o", str(page)]) == 0
    assert '<div class="warning">Partial copy (--partial): official fold(s) 4, 5 absent' in page.read_text()
