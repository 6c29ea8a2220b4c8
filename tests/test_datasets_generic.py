"""Folder and CSV loaders, bad-audio guards, duplicates and the registry entries of every loader."""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections import Counter

import pytest
from conftest import write_audio

from rwbench.datamodel import DATASETS
from rwbench.errors import DataError
from rwbench.guards import find_duplicates, read_table, repeated_entries

FILE_DATASETS = ("gtzan", "ballroom", "extended_ballroom", "urbansound8k", "esc50", "esc10", "fsdd", "folder", "csv")


def load(dataset, root, **options):
    return DATASETS.get(dataset).build(root, **options)


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_registered_with_root_and_protocol(name, tmp_path):
    spec = DATASETS.get(name)
    assert spec.needs_root and spec.protocol and spec.description
    with pytest.raises(DataError, match="needs --data-root"):
        spec.load(None)


def build_folder(root, n=6):
    for label in ("cat", "dog", "owl"):
        for i in range(n):
            write_audio(root / label / ("sub" if i % 2 else "") / f"{label}{i}.wav", seconds=0.15)
    return root


def test_folder_stratified_folds(tmp_path):
    ds = load("folder", build_folder(tmp_path / "pets"), k=3, seed=3)
    assert ds.key == "folder/pets" and ds.classes == ["cat", "dog", "owl"] and len(ds.clips) == 18
    assert "cat/sub/cat1.wav" in {c.id for c in ds.clips}
    assert set(Counter(zip(ds.protocol.folds(ds.clips), (c.label for c in ds.clips))).values()) == {2}
    assert ds.protocol.id == "folder/stratified-3fold" and (ds.seconds, ds.pad) == (10.0, "zero")


def test_the_same_dataset_object_fingerprints_its_files_again_after_a_rewrite(tmp_path):
    """The fingerprint was taken once per object: a notebook rerunning one loaded dataset after rewriting its audio
    reused the results of the old files, as nothing was decoded to notice. A touch keeps the fingerprint."""
    ds = load("folder", build_folder(tmp_path / "pets"), k=3)
    before = ds.fingerprint()
    first = tmp_path / "pets" / "cat" / "cat0.wav"
    os.utime(first, ns=(1, 1))
    assert ds.fingerprint() == before
    write_audio(first, seconds=0.3)
    assert ds.fingerprint() != before
    assert ds.fingerprint() == load("folder", tmp_path / "pets", k=3).fingerprint()


def test_folder_classes_option_rejects_other_folders(tmp_path):
    build_folder(tmp_path)
    with pytest.raises(DataError, match="'owl' is not a known class folder"):
        load("folder", tmp_path, k=3, classes=["cat", "dog"])


def write_manifest(root, header, rows):
    (root / "clips").mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(map(str, r)) for r in rows]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    for row in rows:
        if not (root / row[0]).exists():
            write_audio(root / row[0], seconds=0.15)


def test_csv_folds_split_and_stratified(tmp_path):
    parts = ("train", "valid", "test")
    rows = [(f"clips/{lab}{i}.wav", lab, i % 3 + 1, parts[i % 3]) for lab in "ab" for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "fold", "split"), rows)
    with pytest.raises(DataError, match="both 'fold' and 'split'"):
        load("csv", tmp_path)
    folds = load("csv", tmp_path, use="fold")
    assert {c.id: c.fold for c in folds.clips} == {r[0]: r[2] for r in rows} and len(folds.splits()) == 3
    split = load("csv", tmp_path, use="split", check_duplicates=False)
    assert split.protocol.id == "csv/split" and Counter(c.split for c in split.clips)["valid"] == 4
    write_manifest(tmp_path, ("filename", "label"), [r[:2] for r in rows])
    strat = load("csv", tmp_path, k=3, name="mine")
    assert strat.key == "csv/mine" and strat.protocol.id == "csv/stratified-3fold"


def test_what_a_user_chooses_under_one_name_is_in_every_key(tmp_path):
    """A folder's or manifest's clip length and padding, and a manifest's folds or split, are options or data the user
    may change under the same dataset name: the fingerprint names the clip policy and the protocol lists each clip's
    fold or split, so embeddings, results, trainings and proxies made under the old ones are never reused. Datasets
    whose loader fixes them (ESC-50's 5 s, official folds) keep keys without them."""
    from rwbench.fitting import TrainOptions
    from rwbench.frontend import FRONTENDS
    from rwbench.train import training_key

    root = build_folder(tmp_path / "pets")
    fingerprints = {load("folder", root, k=3, **o).fingerprint()
                    for o in ({}, {"seconds": 1.0}, {"pad": "repeat"}, {"seconds": 1.0, "pad": "repeat"})}
    assert len(fingerprints) == 4

    def key(dataset) -> str:
        return training_key(dataset, FRONTENDS.get("piczak"), 0, TrainOptions(), dataset.describe()["protocol"], {})

    assert key(load("folder", root, k=3)) != key(load("folder", root, k=3, seconds=2.0))
    rows = [(f"clips/{lab}{i}.wav", lab, i % 3 + 1, ("train", "valid", "test")[i % 3]) for lab in "ab" for i in range(6)]
    swapped = [(*r[:2], {1: 2, 2: 1}.get(r[2], r[2]) if r[0] in ("clips/a0.wav", "clips/a1.wav") else r[2],
                {"train": "valid", "valid": "train"}.get(r[3], r[3]) if r[0] in ("clips/a0.wav", "clips/a1.wav")
                else r[3]) for r in rows]  # two clips trade folds (and splits): same counts, same file name
    described = {}
    for name, table in (("before", rows), ("after", swapped)):
        write_manifest(tmp_path, ("path", "label", "fold", "split"), table)
        described[name] = [load("csv", tmp_path, use=use, check_duplicates=False).describe()["protocol"]
                           for use in ("fold", "split")]
    for before, after in zip(described["before"], described["after"]):
        assert before != after and before["assignment"]["clips/a2.wav"] == after["assignment"]["clips/a2.wav"]
    folds_file = tmp_path / "folds.csv"
    folds_file.write_text("id,fold\n" + "".join(f"{c.id},{i % 3 + 1}\n" for i, c in
                                                enumerate(load("folder", root, k=3).clips)))
    first = load("folder", root, folds_file=str(folds_file)).describe()["protocol"]
    header, one, two, *rest = folds_file.read_text().splitlines()  # the first two clips (folds 1 and 2) trade folds
    folds_file.write_text("\n".join([header, one[:-1] + two[-1], two[:-1] + one[-1], *rest]) + "\n")
    assert load("folder", root, folds_file=str(folds_file)).describe()["protocol"] != first


def test_csv_split_without_valid_and_unknown_label(tmp_path):
    rows = [(f"clips/{lab}{i}.wav", lab, ("train", "test")[i % 2]) for lab in "ab" for i in range(4)]
    write_manifest(tmp_path, ("path", "label", "split"), rows)
    with pytest.raises(DataError, match="the valid split is empty"):
        load("csv", tmp_path)
    with pytest.raises(DataError, match=r"clips/b0\.wav has unknown label 'b'"):
        load("csv", tmp_path, classes=["a"])


def test_unknown_option_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"unknown option\(s\) \['skip_bad'\] \(did you mean 'skip_bad_audio'\?\)"):
        load("folder", build_folder(tmp_path), k=3, skip_bad=True)
    with pytest.raises(DataError, match=r"\['secnds'\] \(did you mean 'seconds'\?\); options every file dataset takes: "
                                        r"seconds, pad, "):
        load("folder", tmp_path, secnds=2)



def test_folds_file_listing_a_clip_twice_is_refused_naming_the_lines(tmp_path):
    """The later row silently won: the clip's fold was whichever row came last."""
    root = build_folder(tmp_path / "pets")
    ids = [c.id for c in load("folder", root, k=3).clips]
    folds_file = tmp_path / "folds.csv"
    rows = [f"{key},{i % 3 + 1}" for i, key in enumerate(ids)]
    folds_file.write_text("\n".join(["id,fold", *rows[:3], "", rows[0][:-1] + "3", *rows[3:]]) + "\n")
    with pytest.raises(DataError, match=rf"1 clip id\(s\) are listed more than once in .*folds\.csv "
                                        rf"\('{re.escape(ids[0])}' at line 2 and line 6\)"):  # line 5 is blank
        load("folder", root, folds_file=str(folds_file))


def test_folds_file_listing_clips_not_on_disk_needs_partial_and_is_recorded(tmp_path):
    """A folds file of another (larger) copy: its folds are not the ones it was written with."""
    from rwbench.reproduce import partial_reason

    root = build_folder(tmp_path / "pets")
    folds_file = tmp_path / "folds.csv"
    folds_file.write_text("id,fold\n" + "".join(f"{c.id},{i % 3 + 1}\n" for i, c in
                                                enumerate(load("folder", root, k=3).clips)))
    (root / "cat" / "cat0.wav").unlink()
    with pytest.raises(DataError, match=r"1 of the 18 clips in the folds file .*folds\.csv are not on disk "
                                        r"\(first: 'cat/cat0\.wav' at line 2\).*--partial"):
        load("folder", root, folds_file=str(folds_file))
    ds = load("folder", root, folds_file=str(folds_file), partial=True)
    assert len(ds.clips) == 17 and ds.info["partial"]["listed"] == 18 and ds.info["partial"]["present"] == 17
    assert partial_reason(ds) == "17 of 18 listed clips"


def test_csv_errors_name_the_files_real_lines_past_blank_ones(tmp_path):
    """pandas skips blank lines: numbering rows from 2 drifted from the file's lines."""
    rows = [(f"clips/{lab}{i}.wav", lab, ("train", "valid", "test")[i % 3]) for lab in "ab" for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "split"), rows)
    manifest = tmp_path / "manifest.csv"
    header, *lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(["", header, lines[0], "", "", *lines[1:]]) + "\n")  # header on line 2
    assert len(load("csv", tmp_path, check_duplicates=False).clips) == 12  # blank lines are still skipped
    manifest.write_text("\n".join(["", header, lines[0], "", "", lines[1].replace("valid", "dev"), *lines[2:]]) + "\n")
    with pytest.raises(DataError, match=r"manifest\.csv:6: split 'dev' is not one of"):
        load("csv", tmp_path)
    manifest.write_text("\n".join(["", header, lines[0], "", "", lines[0], *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=r"1 file\(s\) are listed more than once in .*manifest\.csv "
                                        r"\('.*a0\.wav' at line 3 and line 6\)"):
        load("csv", tmp_path)
    manifest.write_text("\n".join([header, lines[0], "", *lines[1:], lines[0]]) + "\n")  # as ESC-50's metadata
    keys = list(read_table(manifest, ("path",), dataset="csv")["path"])
    assert "'clips/a0.wav' at line 2 and line 15" in repeated_entries(keys, "csv", manifest)


# -- bad audio -----------------------------------------------------------------------------------------------

@pytest.fixture
def broken_tree(tmp_path):
    """A folder dataset with a zero-byte file, a truncated WAV, a text file named .wav and a 5 ms clip."""
    build_folder(tmp_path)
    good = tmp_path / "cat" / "cat0.wav"
    (tmp_path / "cat" / "empty.wav").write_bytes(b"")
    (tmp_path / "dog" / "cut.wav").write_bytes(good.read_bytes()[:300])
    (tmp_path / "owl" / "notes.wav").write_text("not audio\n")
    write_audio(tmp_path / "owl" / "blip.wav", seconds=0.005)
    return tmp_path


BAD = {"cat/empty.wav": "is empty (0 bytes)", "dog/cut.wav": "is truncated", "owl/notes.wav": "is not readable audio",
       "owl/blip.wav": "is too short: 0.005 s < min_seconds=0.01"}


def test_bad_audio_is_an_error_naming_the_file_and_fix(broken_tree):
    with pytest.raises(DataError) as err:
        load("folder", broken_tree, k=3)
    message = str(err.value)
    assert re.search(r"bad audio: .*cat/empty\.wav is empty \(0 bytes\) \(and 3 more bad file\(s\)", message)
    assert "pass skip_bad_audio=True (--skip-bad-audio)" in message


def test_skip_bad_audio_records_every_file(broken_tree, caplog):
    with caplog.at_level(logging.WARNING):
        ds = load("folder", broken_tree, k=3, skip_bad_audio=True)
    assert {row["clip"]: row["reason"] for row in ds.skipped}.keys() == BAD.keys()
    for row in ds.skipped:
        assert BAD[row["clip"]] in row["reason"] and row["path"].endswith(row["clip"])
    assert len(ds.clips) == 18 and not set(BAD) & {c.id for c in ds.clips}
    assert caplog.text.count("skipping") == 4 and ds.describe()["skipped"] == ds.skipped


def test_min_seconds_option(broken_tree):
    ds = load("folder", broken_tree, k=3, skip_bad_audio=True, min_seconds=0.001)
    assert "owl/blip.wav" in {c.id for c in ds.clips}
    ds = load("folder", broken_tree, k=3, skip_bad_audio=True, min_seconds=0.0)
    assert "owl/blip.wav" in {c.id for c in ds.clips}


# -- duplicates --------------------------------------------------------------------------------------------------

def test_duplicates_across_train_and_test_are_reported(tmp_path, caplog):
    build_folder(tmp_path)
    ds = load("folder", tmp_path, k=3, seed=0)
    assert ds.info["duplicates"] == []
    fold = dict(zip((c.id for c in ds.clips), ds.protocol.folds(ds.clips)))
    a = next(i for i in fold if fold[i] == 1 and i.startswith("cat"))
    b = next(i for i in fold if fold[i] == 2 and i.startswith("cat"))
    shutil.copyfile(tmp_path / a, tmp_path / b)  # folds depend on ids and labels only
    with caplog.at_level(logging.WARNING):
        dup = load("folder", tmp_path, k=3, seed=0)
    pairs = {(d["split"], d["train"], d["test"]) for d in dup.info["duplicates"]}
    assert pairs == {("fold1", b, a), ("fold2", a, b)}
    assert "exact-duplicate audio pair(s) straddle train and test" in caplog.text
    assert {(d["split"], d["train"], d["test"]) for d in find_duplicates(dup, by="samples")} == pairs
    # fold 3's inner CV fits on one of folds 1, 2 and validates on the other: the pair inflates its selection too
    assert {(d["split"], d["fit"], d["validation"]) for d in dup.info["inner_duplicates"]} == {("fold3", a, b), ("fold3", b, a)}


def test_duplicates_across_fit_and_validation_of_a_fixed_split_are_reported(tmp_path, caplog):
    """A train clip copied over a valid clip of a fixed split: never a train/test pair, so only the inner check (fit
    against validation) finds it."""
    parts = ("train", "valid", "test")
    rows = [(f"clips/{lab}{i}.wav", lab, parts[i % 3]) for lab in "ab" for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "split"), rows)
    assert "inner_duplicates" not in load("csv", tmp_path).info
    shutil.copyfile(tmp_path / "clips/a0.wav", tmp_path / "clips/a1.wav")  # a0 train, a1 valid
    with caplog.at_level(logging.WARNING):
        ds = load("csv", tmp_path)
    assert ds.info["duplicates"] == []
    assert [(d["fit"], d["validation"]) for d in ds.info["inner_duplicates"]] == [("clips/a0.wav", "clips/a1.wav")]
    assert "straddle an inner fit and validation part" in caplog.text


def test_folder_audio_outside_the_class_folders_is_named_and_hidden_folders_are_ignored(tmp_path):
    """Audio lying in the root (no class folder, so no label) is an error, not silently left out; a hidden folder
    inside a class folder (``.ipynb_checkpoints``, ``.Trash``) is ignored like one at the top, not read as that
    class."""
    root = build_folder(tmp_path / "pets")
    write_audio(root / "cat" / ".ipynb_checkpoints" / "dog9.wav", seconds=0.15)
    assert not any(".ipynb" in c.id for c in load("folder", root, k=3, check_duplicates=False).clips)
    write_audio(root / "stray.wav", seconds=0.15)
    with pytest.raises(DataError, match=r"1 audio file\(s\) lie directly in .*pets, outside every class folder "
                                        r"\(first: stray\.wav\)"):
        load("folder", root, k=3)


def test_a_double_underscore_class_folder_is_a_class_and_only_macosx_is_skipped(tmp_path, caplog):
    """``__other__`` holding audio is a class of the task (it was dropped unsaid: a 2-class score of a 3-class
    dataset), and so is its audio below ``__pycache__``-like subfolders; ``__MACOSX`` (a Mac zip's resource forks)
    is skipped at any depth, and so is Python's ``__pycache__`` (its .pyc files are not audio left unread)."""
    root = build_folder(tmp_path / "pets")
    shutil.move(root / "owl", root / "__other__")
    write_audio(root / "cat" / "__takes__" / "cat9.wav", seconds=0.15)
    write_audio(root / "__MACOSX" / "cat" / "._cat0.wav", seconds=0.15)
    write_audio(root / "dog" / "__MACOSX" / "dog9.wav", seconds=0.15)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")  # Python's: skipped, not named as unread
    ds = load("folder", root, k=3, check_duplicates=False)
    assert ds.classes == ["__other__", "cat", "dog"] and len(ds.clips) == 19
    assert "cat/__takes__/cat9.wav" in {c.id for c in ds.clips}
    assert not any("MACOSX" in c.id for c in ds.clips)
    assert ".pyc" not in caplog.text and "hold no audio" not in caplog.text


def test_csv_paths_are_read_without_surrounding_spaces(tmp_path):
    """``clips/a0.wav `` is clips/a0.wav, not a missing file whose message suggests --partial (dropping it)."""
    rows = [(f"clips/{lab}{i}.wav", lab, i % 3 + 1) for lab in "ab" for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "fold"), rows)
    text = (tmp_path / "manifest.csv").read_text().replace("clips/a0.wav", "clips/a0.wav ")
    (tmp_path / "manifest.csv").write_text(text)
    ds = load("csv", tmp_path, check_duplicates=False)
    assert "clips/a0.wav" in {c.id for c in ds.clips} and len(ds.clips) == 12


@pytest.mark.parametrize("missing", ["NA", "NaN", "None", "#N/A", "null", "N/A "])
def test_a_label_spelling_a_missing_value_is_refused(tmp_path, missing):
    """R writes a missing label as NA, Excel as #N/A: read as a class, unlabelled clips were trained on and scored as
    one. The list is pandas' own (read_csv's default NA strings, less the empty one, refused apart)."""
    from pandas._libs.parsers import STR_NA_VALUES

    from rwbench.guards import MISSING_LABELS

    assert MISSING_LABELS == STR_NA_VALUES - {""}
    rows = [(f"clips/{lab}{i}.wav", lab, i % 3 + 1) for lab in "ab" for i in range(6)]
    rows[2] = (rows[2][0], missing, rows[2][2])
    write_manifest(tmp_path, ("path", "label", "fold"), rows)
    with pytest.raises(DataError, match=f"manifest.csv:4: the label '{re.escape(missing.strip())}' spells a missing "
                                        "value"):
        load("csv", tmp_path, check_duplicates=False)


@pytest.mark.parametrize("name", ["None", "NA", "null"])
def test_a_class_folder_named_like_a_missing_value_is_a_class(tmp_path, name):
    """Only a manifest's label cell can hold a tool's missing value; a folder is named by its owner."""
    root = build_folder(tmp_path / "pets")
    shutil.move(root / "owl", root / name)
    assert name in load("folder", root, k=3, check_duplicates=False).classes


def test_a_blank_manifest_path_is_refused_by_line(tmp_path):
    """A path of spaces, stripped, was the manifest's own folder ("is a folder, not an audio file")."""
    rows = [(f"clips/{lab}{i}.wav", lab, i % 3 + 1) for lab in "ab" for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "fold"), rows)
    text = (tmp_path / "manifest.csv").read_text().replace("clips/a0.wav", "   ")
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(DataError, match=r"manifest.csv:2: the 'path' cell is empty; list a file or remove the row"):
        load("csv", tmp_path, check_duplicates=False)


def test_csv_labels_are_read_without_surrounding_spaces(tmp_path):
    """``dog`` and ``dog `` (a stray space in a hand-edited manifest) are one class, not two."""
    rows = [(f"clips/{lab}{i}.wav", lab + (" " if i % 2 else ""), i % 3 + 1) for lab in "ab" for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "fold"), rows)
    ds = load("csv", tmp_path, check_duplicates=False)
    assert ds.classes == ["a", "b"] and Counter(c.label for c in ds.clips) == {"a": 6, "b": 6}


def test_csv_group_column_with_holes_is_an_error_not_silently_ungrouped(tmp_path):
    """A stratified k-fold over a manifest whose ``group`` column is blank in some rows must not quietly drop the
    grouping of every clip (which leaks a speaker or source recording across train and test)."""
    rows = [(f"clips/{lab}{g}_{i}.wav", lab, f"src{g}") for lab in "ab" for g in range(3) for i in range(2)]
    write_manifest(tmp_path, ("path", "label", "group"), rows)
    grouped = load("csv", tmp_path, k=3, check_duplicates=False)
    folds = dict(zip([c.id for c in grouped.clips], grouped.protocol.folds(grouped.clips)))
    for lab in "ab":
        for g in range(3):
            assert folds[f"clips/{lab}{g}_0.wav"] == folds[f"clips/{lab}{g}_1.wav"]  # a group stays in one fold
    write_manifest(tmp_path, ("path", "label", "group"), [(*rows[0][:2], ""), *rows[1:]])
    with pytest.raises(DataError, match=r"1 of the 12 rows of .*manifest\.csv have no group \(first: line 2, clips/a0_0\.wav\)"):
        load("csv", tmp_path, k=3, check_duplicates=False)


def test_a_group_spelt_two_ways_is_refused(tmp_path):
    """`3_Jackson_7.wav` beside jackson's 499 made a seventh, one-clip speaker in FSDD's leave-one-speaker-out folds:
    a clip tested against its own speaker's training clips, a fold weighed 1/7 of the mean (mfcc + knn 0.572 →
    0.634). Groups (speaker, source recording) spelt more than one way are refused, in every loader."""
    rows = [(f"clips/{lab}{g}_{i}.wav", lab, f"src{g}") for lab in "ab" for g in range(3) for i in range(2)]
    write_manifest(tmp_path, ("path", "label", "group"), [(*rows[0][:2], "SRC0"), *rows[1:]])
    with pytest.raises(DataError, match=r"1 group\(s\) \(speaker, recording, ...\) are spelt more than one way "
                                        r"\(SRC0 / src0\)"):
        load("csv", tmp_path, k=3, check_duplicates=False)


def test_csv_split_with_a_group_on_both_sides_is_recorded(tmp_path, caplog):
    """With a ``split`` column, a ``group`` (speaker, source recording) found in both train and test is warned about
    and recorded in the result, as a group straddling folds is."""
    parts = ("train", "valid", "test")
    rows = [(f"clips/{lab}{i}.wav", lab, parts[i % 3], f"{lab}{i // 3}") for lab in "ab" for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "split", "group"), rows)
    with caplog.at_level(logging.WARNING):
        ds = load("csv", tmp_path, check_duplicates=False)
    assert ds.info["group_straddles"]["a0"] == ["test", "train", "valid"] and len(ds.info["group_straddles"]) == 4
    assert "4 group(s) sit in more than one of train/valid/test (e.g. 'a0' in test and train and valid)" in caplog.text
    clean = [(*r[:3], f"{r[1]}-{r[2]}") for r in rows]
    write_manifest(tmp_path, ("path", "label", "split", "group"), clean)
    assert "group_straddles" not in load("csv", tmp_path, check_duplicates=False).info


@pytest.mark.parametrize("refit", ["Train", "trian", "valid"])
def test_a_mistyped_refit_is_refused_not_read_as_train_plus_valid(tmp_path, refit):
    """Any value but 'train' refit on train + valid, and the result recorded the typo as its refit."""
    rows = [(f"clips/{lab}{i}.wav", lab, ("train", "valid", "test")[i % 3]) for lab in "ab" for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "split"), rows)
    with pytest.raises(DataError, match=rf"refit must be 'train' or 'train\+valid', not '{refit}'"):
        load("csv", tmp_path, refit=refit, check_duplicates=False)
    assert len(load("csv", tmp_path, refit="train+valid", check_duplicates=False).splits()[0].train) == 8


def test_audio_in_a_linked_subfolder_of_a_class_is_loaded(tmp_path):
    """Path.rglob does not enter linked folders on Python 3.11: their clips were left out without a word."""
    root = build_folder(tmp_path / "pets", n=3)
    for i in range(3):
        write_audio(tmp_path / "elsewhere" / f"cat{i + 10}.wav", seconds=0.15)
    (root / "cat" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    clips = load("folder", root, k=3, check_duplicates=False).clips
    assert Counter(c.label for c in clips) == {"cat": 6, "dog": 3, "owl": 3} and "cat/more/cat10.wav" in {c.id for c in clips}
    (root / "dog" / "loop").symlink_to(root / "dog", target_is_directory=True)
    with pytest.raises(DataError, match=r"dog/loop links back to .*dog, a folder above it"):
        load("folder", root, k=3)


def test_a_folds_file_written_skipping_bad_audio_is_reused_skipping_it(tmp_path):
    """The bad clip was not in the written file, so reading it back demanded the file be written again, forever."""
    from rwbench.guards import write_folds

    root = build_folder(tmp_path / "pets")
    (root / "cat" / "zz.wav").write_bytes(b"")
    folds = write_folds(load("folder", root, k=3, skip_bad_audio=True, check_duplicates=False), tmp_path / "folds.csv")
    ds = load("folder", root, folds_file=str(folds), skip_bad_audio=True, check_duplicates=False)
    assert len(ds.clips) == 18 and [s["clip"] for s in ds.skipped] == ["cat/zz.wav"]
    with pytest.raises(DataError, match=r"not in the folds file .*\(first: cat/zz\.wav \(bad audio, as when the file was "
                                        r"written with --skip-bad-audio: pass it again\)\)"):
        load("folder", root, folds_file=str(folds), check_duplicates=False)
    write_audio(root / "cat" / "zz.wav", seconds=0.15)  # now readable: it needs a fold
    with pytest.raises(DataError, match=r"1 clip\(s\) are not in the folds file .*\(first: cat/zz\.wav\); write it"):
        load("folder", root, folds_file=str(folds), skip_bad_audio=True, check_duplicates=False)


def test_an_inner_fit_part_of_one_class_is_refused_at_load(tmp_path):
    """It embedded every clip, then every grid setting failed: 'The number of classes has to be greater than one'."""
    rows = [(f"clips/a{i}.wav", "a", i % 3 + 1) for i in range(6)] + [(f"clips/b{i}.wav", "b", 1 + 2 * (i % 2))
                                                                       for i in range(6)]
    write_manifest(tmp_path, ("path", "label", "fold"), rows)  # b only in folds 1 and 3
    with pytest.raises(DataError, match=r"fold\d's inner fit part \d holds 2 clip\(s\), all of class 'a': a classifier "
                                        r"needs two classes"):
        load("csv", tmp_path, check_duplicates=False).splits()



def test_an_option_the_protocol_does_not_read_is_refused(tmp_path):
    """k=5 beside a folds file or a manifest's fold column, refit beside folds: each ran without a word of it."""
    from rwbench.guards import write_folds

    root = build_folder(tmp_path / "pets")
    folds = write_folds(load("folder", root, k=3, check_duplicates=False), tmp_path / "folds.csv")
    with pytest.raises(DataError, match=r"folder: --dataset-option k has no effect: folds_file fixes every clip's "
                                        r"fold; drop it"):
        load("folder", root, folds_file=str(folds), k=5)
    assert load("folder", root, folds_file=str(folds), check_duplicates=False).protocol.id == "folder/folds-file:folds.csv"
    assert load("folder", root, k=3, check_duplicates=False).protocol.k == 3  # where it applies
    rows = [(f"clips/{lab}{i}.wav", lab, i % 3 + 1) for lab in "ab" for i in range(6)]
    write_manifest(tmp_path / "m", ("path", "label", "fold"), rows)
    with pytest.raises(DataError, match=r"csv: --dataset-option k, seed has no effect: the manifest's fold column fixes "
                                        r"the folds; drop them"):
        load("csv", tmp_path / "m", k=3, seed=1)
    with pytest.raises(DataError, match=r"refit has no effect: refit applies to a train/valid/test split"):
        load("csv", tmp_path / "m", refit="train+valid")


def test_files_in_class_folders_rwbench_does_not_read_are_said(tmp_path, caplog):
    """A .caf or .w64 take in a class folder was left out of the clips without a word (the count fell from 16 to
    12 unsaid); now a warning names the count, the extensions and the first file. .aifc and .wave are read."""
    import numpy as np
    import soundfile as sf

    root = build_folder(tmp_path / "pets")
    tone = np.sin(np.arange(1200) / 3.0) * 0.5
    sf.write(root / "cat" / "take.caf", tone, 8000, format="CAF")
    sf.write(root / "dog" / "take.aifc", tone, 8000, format="AIFF")
    (root / "owl" / ".DS_Store").write_bytes(b"\0")  # hidden: not a take
    with caplog.at_level(logging.WARNING):
        ds = load("folder", root, k=3, check_duplicates=False)
    assert len(ds.clips) == 19 and "dog/take.aifc" in {c.id for c in ds.clips}
    assert re.search(r"1 file\(s\) in the class folders of .*pets are not read as clips \(extension\(s\) \.caf; "
                     r"first: .*take\.caf\)", caplog.text), caplog.text


def test_a_class_folder_without_audio_is_said(tmp_path, caplog):
    """An empty (half-copied) class folder dropped its class without a word: a task of fewer classes scored as if
    it were the dataset."""
    root = build_folder(tmp_path / "pets")
    (root / "yak").mkdir()
    with caplog.at_level(logging.WARNING):
        ds = load("folder", root, k=3, check_duplicates=False)
    assert "yak" not in ds.classes
    assert re.search(r"1 class folder\(s\) of .*pets hold no audio file, so they are no class of this dataset: yak",
                     caplog.text), caplog.text


def test_a_clip_length_that_rounds_to_no_sample_is_named(tmp_path):
    """`seconds=0.00001` made a 0-sample crop and a raw 'zero-size array' traceback."""
    from rwbench.embed_job import EmbedJob
    from rwbench.frontend import FRONTENDS

    ds = load("folder", build_folder(tmp_path / "pets"), k=3, seconds=0.00001, check_duplicates=False)
    job = EmbedJob(ds, FRONTENDS.get("timbral"))
    with pytest.raises(DataError, match=r"clips of 1e-05 s hold no sample at 12000 Hz \(front-end 'timbral'\)"):
        job.input_samples()


@pytest.mark.parametrize("column, reads", [("Fold", "fold"), ("Group", "group"), (" split", "split"),
                                           ("folds", "fold"), ("groups", "group")])
def test_a_manifest_column_rwbench_would_ignore_is_refused(tmp_path, column, reads):
    """A ``Fold`` or ``Group`` column was not read: the manifest's folds or groups gave way to seeded stratified folds,
    which leak a source across train and test, with no word."""
    rows = [(f"clips/{lab}{g}_{i}.wav", lab, str(g + 1)) for lab in "ab" for g in range(3) for i in range(2)]
    write_manifest(tmp_path, ("path", "label", column), rows)
    with pytest.raises(DataError, match=rf"has a column '{column}', which rwbench would ignore: it reads '{reads}'"):
        load("csv", tmp_path, k=3, check_duplicates=False)
