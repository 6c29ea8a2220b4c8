"""Protocols pinned by value: the exact outer folds and inner (fit, validate) index sets on fixed datasets, against
index sets written out by hand or scikit-learn's splitters called directly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from rwbench.datamodel import Clip
from rwbench.errors import DataError
from rwbench.protocol import FixedSplit, OuterSplit, PredefinedFolds, StratifiedFolds

FOLDS = [2, 1, 3, 1, 2, 3, 3, 1]  # clip i is in fold FOLDS[i]: fold 1 = {1, 3, 7}, fold 2 = {0, 4}, fold 3 = {2, 5, 6}


def as_lists(split: OuterSplit) -> tuple:
    return (split.name, split.train.tolist(), split.test.tolist(),
            [(fit.tolist(), validate.tolist()) for fit, validate in split.inner])


def test_predefined_folds_outer_and_inner_index_sets():
    clips = [Clip(f"c{i}", "ab"[i % 2], fold=f) for i, f in enumerate(FOLDS)]
    splits = PredefinedFolds("p").splits(clips)
    assert [as_lists(s) for s in splits] == [
        # test fold 1: train on folds 2+3; inner: leave out fold 2 (fit on 3), then fold 3 (fit on 2)
        ("fold1", [0, 2, 4, 5, 6], [1, 3, 7], [([2, 5, 6], [0, 4]), ([0, 4], [2, 5, 6])]),
        ("fold2", [1, 2, 3, 5, 6, 7], [0, 4], [([2, 5, 6], [1, 3, 7]), ([1, 3, 7], [2, 5, 6])]),
        ("fold3", [0, 1, 3, 4, 7], [2, 5, 6], [([0, 4], [1, 3, 7]), ([1, 3, 7], [0, 4])]),
    ]
    assert splits[0].search.tolist() == [0, 2, 4, 5, 6]  # every inner index, all on the training side
    assert PredefinedFolds("p", ids_spell_assignment=True).describe(clips) == {
        "id": "p", "kind": "predefined_folds", "folds": [1, 2, 3]}


@pytest.mark.parametrize("protocol, side", [(PredefinedFolds("p"), "fold"), (FixedSplit("f"), "split")])
def test_clips_moved_between_folds_under_the_same_name_are_another_protocol(protocol, side):
    """A plugin copying ESC-50's loader reads its folds from a metadata file: edited, the same folds (the same split
    counts) with other clips in them kept the results of the old assignment as up to date."""
    values = FOLDS if side == "fold" else ["train", "valid", "test", "train", "valid", "test", "train", "test"]
    clips = [Clip(f"c{i}", "ab"[i % 2], **{side: v}) for i, v in enumerate(values)]
    # c0 and c1 swap sides: the same folds and counts
    moved = [Clip(c.id, c.label, **{side: v}) for c, v in zip(clips, [values[1], values[0], *values[2:]])]
    assert protocol.describe(clips) != protocol.describe(moved)
    assert set(protocol.describe(clips)) - set(protocol.describe(moved)) == set()  # a digest, not a listing
    assert "assignment_sha256" in protocol.describe(clips)
    listed = dataclasses.replace(protocol, keyed_assignment=True)
    assert listed.describe(moved)["assignment"] == {c.id: getattr(c, side) for c in moved}
    spelled = dataclasses.replace(protocol, ids_spell_assignment=True)  # ESC-50's 3-…wav: the ids key it already
    assert spelled.describe(clips) == spelled.describe(moved)


def test_predefined_folds_need_three_folds_and_a_fold_per_clip():
    with pytest.raises(DataError, match="at least 3 folds"):
        PredefinedFolds("p").splits([Clip(f"c{i}", "a", fold=1 + i % 2) for i in range(4)])
    assert len(PredefinedFolds("p").splits([Clip(f"c{i}", "a", fold=1 + i % 3) for i in range(6)])) == 3
    with pytest.raises(DataError, match="no fold"):
        PredefinedFolds("p").folds([Clip("a", "x", fold=1), Clip("b", "x")])


def shuffled_clips(groups: bool) -> list[Clip]:
    """24 clips of 3 unbalanced classes (12/8/4), listed out of id order; with ``groups``, pairs of clips share a
    source recording."""
    rng = np.random.default_rng(7)
    labels = ["a"] * 12 + ["b"] * 8 + ["c"] * 4
    clips = [Clip(f"id{i:02d}", label, group=f"g{i // 2}" if groups else None) for i, label in enumerate(labels)]
    return [clips[i] for i in rng.permutation(len(clips))]


def expected_folds(clips: list[Clip], cv, grouped: bool) -> list[int]:
    """The fold (1-based, in split order) of each clip, from scikit-learn run on the clips sorted by id."""
    order = sorted(range(len(clips)), key=lambda i: clips[i].id)
    labels = [clips[i].label for i in order]
    parts = cv.split(order, labels, [clips[i].group for i in order]) if grouped else cv.split(order, labels)
    folds = [0] * len(clips)
    for fold, (_, test) in enumerate(parts, start=1):
        for t in test:
            folds[order[t]] = fold
    return folds


@pytest.mark.parametrize("grouped", [False, True])
def test_stratified_folds_match_scikit_learn(grouped):
    clips = shuffled_clips(grouped)
    splitter = StratifiedGroupKFold if grouped else StratifiedKFold
    expected = expected_folds(clips, splitter(4, shuffle=True, random_state=3), grouped)
    protocol = StratifiedFolds("s", k=4, seed=3)
    assert protocol.folds(clips).tolist() == expected
    assert sorted(set(expected)) == [1, 2, 3, 4]
    if grouped:  # a source recording never straddles two folds
        for group in {c.group for c in clips}:
            assert len({f for c, f in zip(clips, expected) if c.group == group}) == 1
    described = protocol.describe(clips)
    assert described["assignment"] == {c.id: f for c, f in zip(clips, expected)}
    assert (described["k"], described["seed"], described["folds"]) == (4, 3, [1, 2, 3, 4])
    # the nested splits are the predefined-fold splits of that assignment
    splits = protocol.splits(clips)
    folds = np.array(expected)
    for split, test_fold in zip(splits, [1, 2, 3, 4]):
        assert split.name == f"fold{test_fold}"
        assert split.test.tolist() == np.flatnonzero(folds == test_fold).tolist()
        assert [v.tolist() for _, v in split.inner] == [np.flatnonzero(folds == f).tolist() for f in (1, 2, 3, 4)
                                                        if f != test_fold]


def test_stratified_folds_defaults_are_ten_folds_seed_zero():
    clips = [Clip(f"id{i:02d}", "ab"[i % 2]) for i in range(40)]
    assert StratifiedFolds("s").folds(clips).tolist() == expected_folds(
        clips, StratifiedKFold(10, shuffle=True, random_state=0), grouped=False)


def test_fixed_split_index_sets():
    names = ["test", "train", "valid", "train", "test", "valid", "train"]
    clips = [Clip(f"c{i}", "a", split=s) for i, s in enumerate(names)]
    (split,) = FixedSplit("f").splits(clips)
    assert as_lists(split) == ("test", [1, 3, 6], [0, 4], [([1, 3, 6], [2, 5])])
    (refit,) = FixedSplit("f", refit="train+valid").splits(clips)
    assert as_lists(refit) == ("test", [1, 2, 3, 5, 6], [0, 4], [([1, 3, 6], [2, 5])])
    assert FixedSplit("f").describe(clips)["counts"] == {"train": 3, "valid": 2, "test": 2}
    with pytest.raises(DataError, match="valid split is empty"):
        FixedSplit("f").splits([c for c in clips if c.split != "valid"])


def test_clips_with_only_some_groups_are_folded_without_groups():
    clips = shuffled_clips(groups=True)
    clips = [Clip(c.id, c.label, group=None if i % 3 == 0 else c.group) for i, c in enumerate(clips)]
    assert StratifiedFolds("s", k=4, seed=3).folds(clips).tolist() == expected_folds(
        clips, StratifiedKFold(4, shuffle=True, random_state=3), grouped=False)


def test_the_search_indices_are_every_inner_index_once():
    split = OuterSplit("f", np.array([0, 1, 2, 5]), np.array([3]),
                       ((np.array([5, 0]), np.array([2])), (np.array([1]), np.array([0, 2, 5]))))
    assert split.search.tolist() == [0, 1, 2, 5]


def test_a_clip_of_no_known_split_is_refused_not_left_out():
    """A split of "val" (or none) put a clip on no side: embedded, never scored, and the result's clip count kept it."""
    names = ["train", "valid", "test", "val", None, "train", "valid", "test"]
    clips = [Clip(f"c{i}", "a", split=s) for i, s in enumerate(names)]
    with pytest.raises(DataError, match=r"2 clip\(s\) have a split that is not train, valid or test, e\.g\. c3 \('val'\)"):
        FixedSplit("f").splits(clips)


def test_the_lower_k_advice_never_repeats_the_k_that_failed():
    """A class of 2 clips under 3 folds was told "lower k (--dataset-option k=3)", the k that had just failed."""
    from rwbench.datamodel import Dataset

    clips = [Clip(f"a{i}", "a") for i in range(6)] + [Clip(f"b{i}", "b") for i in range(2)]
    dataset = Dataset("toy", None, clips, StratifiedFolds("s", k=3), 1.0)
    with pytest.raises(DataError, match=r"'b' \(2\); add clips, \(k cannot go below 3: nested cross-validation needs "
                                        r"3 folds or more, so each class 3 clips\) or drop the class") as err:
        dataset.kind.check_dataset(dataset)
    assert "k=3" not in str(err.value)
