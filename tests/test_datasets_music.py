"""GTZAN, Ballroom and Extended Ballroom loaders on fixture trees in their exact layouts."""

from __future__ import annotations

import logging
import shutil
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from conftest import write_audio

from rwbench.datamodel import DATASETS
from rwbench.datasets import ballroom, extended_ballroom, gtzan
from rwbench.errors import DataError
from rwbench.guards import write_folds


@pytest.fixture(autouse=True)
def small_releases(monkeypatch):
    """The fake layouts hold a few clips: the release-size check is off here, and tested on its own."""
    monkeypatch.setattr(ballroom, "CLIPS", None)
    monkeypatch.setattr(extended_ballroom, "CLIPS", None)


def test_a_ballroom_copy_missing_files_needs_partial(ballroom_root, monkeypatch):
    monkeypatch.setattr(ballroom, "CLIPS", 698)
    n = len(load("ballroom", ballroom_root, k=3, partial=True).clips)
    with pytest.raises(DataError, match=rf"ballroom: {n} of its 698 clips are listed under .*--partial"):
        load("ballroom", ballroom_root, k=3)
    assert load("ballroom", ballroom_root, k=3, partial=True).info["partial"] == {"listed": 698, "present": n}


def load(name, root, **options):
    return DATASETS.get(name).build(root, **options)


# -- GTZAN -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gtzan_root(tmp_path_factory):
    """A full GTZAN tree (1000 tiny clips): ``<root>/genres/<genre>/<genre>.000NN.wav``."""
    root = tmp_path_factory.mktemp("gtzan")
    for genre in gtzan.GENRES:
        for n in range(100):
            write_audio(root / "genres" / genre / f"{genre}.{n:05d}.wav", seconds=0.15)
    return root


def test_gtzan_filtered_lists(gtzan_root):
    ds = load("gtzan", gtzan_root)
    assert ds.key == "gtzan/filtered" and ds.protocol.id == "gtzan/fault-filtered"
    assert Counter(c.split for c in ds.clips) == {"train": 443, "valid": 197, "test": 290}
    assert ds.classes == sorted(gtzan.GENRES)
    listed = {e for part in gtzan.PARTS for e in gtzan.split_list("filtered", part)}
    assert {c.id for c in ds.clips} == listed and len(listed) == 930
    assert "disco/disco.00050.wav" not in listed  # one of the 70 excluded clips
    assert ds.seconds == pytest.approx(350000 / 12000) and ds.pad == "zero"


def test_gtzan_selects_on_valid_and_refits_by_option(gtzan_root):
    (split,) = load("gtzan", gtzan_root).splits()
    (fit, valid), = split.inner
    assert (len(fit), len(valid), len(split.train), len(split.test)) == (443, 197, 443, 290)
    (refit,) = load("gtzan", gtzan_root, refit="train+valid", check_duplicates=False).splits()
    assert len(refit.train) == 640
    with pytest.raises(DataError, match="refit"):
        load("gtzan", gtzan_root, refit="all")


def test_gtzan_default_task_is_filtered_and_root_may_be_genres(gtzan_root):
    (ds,) = DATASETS.get("gtzan").load(gtzan_root)
    assert ds.task == "filtered"
    assert len(load("gtzan", gtzan_root / "genres", check_duplicates=False).clips) == 930


def test_gtzan_stratified_variants_are_named_as_such(gtzan_root):
    lists = load("gtzan", gtzan_root, task="stratified", check_duplicates=False)
    assert "NOT-artist-filtered" in lists.protocol.id and lists.key == "gtzan/stratified"
    assert Counter(c.split for c in lists.clips) == {"train": 500, "valid": 250, "test": 250}
    folds = load("gtzan", gtzan_root, task="stratified_10fold", check_duplicates=False)
    assert folds.protocol.id == "gtzan/stratified-10fold-NOT-artist-filtered"  # the id results have always carried
    five = load("gtzan", gtzan_root, task="stratified_10fold", k=5, check_duplicates=False)
    assert five.protocol.id == "gtzan/stratified-5fold-NOT-artist-filtered"  # was "10fold": its results misnamed
    per_fold = Counter(zip(folds.protocol.folds(folds.clips), (c.label for c in folds.clips)))
    assert set(per_fold.values()) == {10} and len(per_fold) == 100  # 10 per genre in each of 10 folds
    with pytest.raises(DataError, match=r"gtzan/filtered: --dataset-option k has no effect: k and seed apply to task "
                                        r"stratified_10fold"):
        load("gtzan", gtzan_root, k=5)
    with pytest.raises(DataError, match=r"gtzan/stratified_10fold: --dataset-option refit has no effect"):
        load("gtzan", gtzan_root, task="stratified_10fold", refit="train+valid")


def test_gtzan_wrong_root_says_what_was_expected(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(DataError, match=r"expected genres/<genre>/<genre>\.000NN\.wav.*found something/"):
        load("gtzan", tmp_path)


@pytest.fixture
def gtzan_partial(tmp_path):
    """Seven listed clips (3 train, 2 valid, 2 test; one as .au) and an excluded one that must be ignored."""
    for entry in ["blues/blues.00029.wav", "rock/rock.00062.wav", "jazz/jazz.00020.wav",  # train
                  "blues/blues.00000.wav", "blues/blues.00005.wav",  # valid
                  "blues/blues.00012.wav", "disco/disco.00050.wav"]:  # test; excluded
        write_audio(tmp_path / "genres" / entry, seconds=0.15)
    write_audio(tmp_path / "genres/pop/pop.00000.au", seconds=0.15, format="AU")  # in test_filtered
    return tmp_path


def test_gtzan_missing_listed_files_are_an_error(gtzan_partial):
    with pytest.raises(DataError, match=r"923 of 930 listed files are missing .*partial=True"):
        load("gtzan", gtzan_partial)


def test_gtzan_partial_copy_runs_with_warning(gtzan_partial, caplog):
    with caplog.at_level(logging.WARNING):
        ds = load("gtzan", gtzan_partial, partial=True)
    assert "923 of 930 listed files are missing" in caplog.text
    assert ds.info["partial"]["present"] == 7 and ds.info["partial"]["missing"] == 923
    assert {c.id: c.split for c in ds.clips}["pop/pop.00000.wav"] == "test"
    assert {c.id: c.path.suffix for c in ds.clips}["pop/pop.00000.wav"] == ".au"
    assert "disco/disco.00050.wav" not in {c.id for c in ds.clips}
    assert ds.describe()["protocol"]["counts"] == {"train": 3, "valid": 2, "test": 2}


# -- Ballroom ----------------------------------------------------------------------------------------

BALLROOM_FOLDERS = {"ChaChaCha": 6, "Jive": 6, "Quickstep": 6, "Rumba-American": 2, "Rumba-International": 2,
                    "Rumba-Misc": 2, "Samba": 6, "Tango": 6, "VienneseWaltz": 6, "Waltz": 6}


@pytest.fixture(scope="module")
def ballroom_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ballroom")
    for folder, n in BALLROOM_FOLDERS.items():
        for i in range(n):
            write_audio(root / "BallroomData" / folder / f"Albums-{folder}-{i:02d}.wav", seconds=0.15)
    (root / "BallroomData" / "allBallroomFiles").write_text("list\n")
    return root


def test_ballroom_merges_rumba_folders(ballroom_root):
    ds = load("ballroom", ballroom_root, k=3)
    assert len(ds.classes) == 8 and "Rumba" in ds.classes
    assert Counter(c.label for c in ds.clips)["Rumba"] == 6
    assert any(c.id.startswith("Rumba-Misc/") and c.label == "Rumba" for c in ds.clips)
    assert load("ballroom", ballroom_root / "BallroomData", k=3).clips == ds.clips


def test_ballroom_folds_fixed_by_seed_balanced_and_described(ballroom_root):
    a, b = load("ballroom", ballroom_root, k=3, seed=1), load("ballroom", ballroom_root, k=3, seed=1)
    assignment = a.describe()["protocol"]["assignment"]
    assert assignment == b.describe()["protocol"]["assignment"] and set(assignment) == {c.id for c in a.clips}
    assert assignment != load("ballroom", ballroom_root, k=3, seed=2).describe()["protocol"]["assignment"]
    per_fold = Counter(zip(a.protocol.folds(a.clips), (c.label for c in a.clips)))
    assert set(per_fold.values()) == {2} and a.protocol.id == "ballroom/stratified-3fold"


def test_ballroom_replica_pairs_share_a_fold(tmp_path):
    from rwbench.datasets.ballroom import REPLICAS

    for folder, n in BALLROOM_FOLDERS.items():
        for i in range(n):
            write_audio(tmp_path / folder / f"Media-{folder}-{i:02d}.wav", seconds=0.15)
    for (first, second), folders in zip(REPLICAS[:3], [("Quickstep", "Quickstep"), ("ChaChaCha", "Samba"),
                                                        ("ChaChaCha", "ChaChaCha")]):
        for name, folder in zip((first, second), folders):  # Albums-Fire-08/09: one recording, two styles
            write_audio(tmp_path / folder / f"{name}.wav", seconds=0.15)
    for seed in range(5):
        ds = load("ballroom", tmp_path, k=3, seed=seed, check_duplicates=False)
        fold = dict(zip((c.id.split("/")[1][:-4] for c in ds.clips), ds.protocol.folds(ds.clips)))
        assert all(fold[first] == fold[second] for first, second in REPLICAS[:3])
        assert len({c.group for c in ds.clips}) == len(ds.clips) - 3


def test_ballroom_folds_file_round_trip(ballroom_root, tmp_path):
    ds = load("ballroom", ballroom_root, k=3, seed=5, check_duplicates=False)
    path = write_folds(ds, tmp_path / "ballroom_folds.csv")
    again = load("ballroom", ballroom_root, folds_file=str(path), check_duplicates=False)
    assert again.protocol.id == "ballroom/folds-file:ballroom_folds.csv"
    assert again.protocol.folds(again.clips).tolist() == ds.protocol.folds(ds.clips).tolist()
    path.write_text(path.read_text().replace("Jive/", "Jive-old/"))
    with pytest.raises(DataError, match=r"6 clip\(s\) are not in the folds file"):
        load("ballroom", ballroom_root, folds_file=str(path))


def test_rwbench_folds_writes_folds_that_a_missing_clip_does_not_reshuffle(ballroom_root, tmp_path, capsys,
                                                                           monkeypatch):
    """Seeded stratified folds are drawn over the clips present: one clip fewer moves others. `rwbench folds` writes
    them once; with folds_file every remaining clip keeps its fold."""
    from rwbench.cli import main

    root = tmp_path / "copy"
    shutil.copytree(ballroom_root, root)
    path = tmp_path / "folds.csv"
    assert main(["folds", "--dataset", "ballroom", "--data-root", str(root), "--dataset-option", "k=3",
                 "--dataset-option", "check_duplicates=False", "-o", str(path)]) == 0
    written = dict(pd.read_csv(path)[["id", "fold"]].itertuples(index=False))
    (root / "BallroomData" / "Jive" / "Albums-Jive-00.wav").unlink()  # a clip lost from the copy
    redrawn = load("ballroom", root, k=3, check_duplicates=False)
    moved = [c.id for c, f in zip(redrawn.clips, redrawn.protocol.folds(redrawn.clips)) if written[c.id] != f]
    assert moved, "the redrawn folds moved other clips"
    fixed = load("ballroom", root, folds_file=str(path), check_duplicates=False, partial=True)  # it lists the lost one
    assert all(written[c.id] == f for c, f in zip(fixed.clips, fixed.protocol.folds(fixed.clips)))
    monkeypatch.setattr(ballroom, "CLIPS", len(written))  # the release-size check on, as on a real copy
    fixed = load("ballroom", root, folds_file=str(path), check_duplicates=False, partial=True)
    partial = fixed.info["partial"]  # which clip is missing, as the folds file knows it (was overwritten by counts)
    assert partial["missing"] == 1 and partial["missing_examples"] == ["Jive/Albums-Jive-00.wav"], partial
    monkeypatch.setattr(ballroom, "CLIPS", None)
    assert main(["folds", "--dataset", "ballroom", "--data-root", str(root), "-o", str(tmp_path / "f.csv")]) == 2
    assert "8 class(es) have fewer clips" in capsys.readouterr().err  # the default k=10 on 5–6 clips a class


def test_ballroom_unknown_class_folder_is_an_error(tmp_path):
    write_audio(tmp_path / "BallroomData/Jive/a.wav")
    write_audio(tmp_path / "BallroomData/Foxtrot/b.wav")
    with pytest.raises(DataError, match="'Foxtrot' is not a known class folder"):
        load("ballroom", tmp_path, k=2)


# -- Extended Ballroom ------------------------------------------------------------------------------------

def test_extended_ballroom_reads_mp3_class_folders(tmp_path):
    from rwbench.datasets.extended_ballroom import CLASSES

    for label in CLASSES:
        for i in range(3):
            write_audio(tmp_path / label / f"{100 + i}.mp3", seconds=0.3)
    ds = load("extended_ballroom", tmp_path, k=3)
    assert ds.classes == sorted(CLASSES) and len(ds.clips) == 39
    assert ds.protocol.id == "extended_ballroom/stratified-3fold" and ds.protocol.k == 3
    clip = ds.clips[0]
    assert abs(len(ds.load_audio(clip, 12000)) - 3600) < 2000
    assert np.isfinite(ds.load_audio(clip, 12000)).all()
    write_audio(tmp_path / "Chacha" / "200.flac", seconds=0.3)  # another format beside the mp3s: read, not dropped
    assert "Chacha/200.flac" in {c.id for c in load("extended_ballroom", tmp_path, k=3).clips}
