"""The loaders on the real audio in ../shared/data (or $RWBENCH_SHARED_DATA); skipped when absent."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest
from conftest import shared_data

from rwbench.datamodel import DATASETS
from rwbench.errors import DataError
from rwbench.guards import group_straddles

pytestmark = pytest.mark.shared_data


def decode_some(ds, rate: int, n: int = 3) -> list[np.ndarray]:
    out = [ds.load_audio(clip, rate) for clip in ds.clips[:: len(ds.clips) // n][:n]]
    assert all(a.dtype == np.float32 and a.ndim == 1 and np.isfinite(a).all() and np.abs(a).max() > 0 for a in out)
    return out


def test_fsdd_standard_and_speakers():
    root = shared_data("fsdd")
    ds = DATASETS.get("fsdd").build(root)
    assert len(ds.clips) == 3000 and Counter(c.split for c in ds.clips)["test"] == 300
    assert ds.classes == [str(d) for d in range(10)] and not ds.skipped and ds.info["duplicates"] == []
    by_speaker = DATASETS.get("fsdd").build(root, task="speakers", check_duplicates=False)
    assert sorted(Counter(c.fold for c in by_speaker.clips).values()) == [500] * 6
    assert len(by_speaker.splits()) == 6
    for clip, audio in zip(ds.clips[::1000], decode_some(ds, 16000)):
        assert len(audio) == pytest.approx(2 * len(ds.load_audio(clip, 8000)), abs=2)


def test_esc10_official_folds():
    ds = DATASETS.get("esc10").build(shared_data("esc10"))
    assert len(ds.clips) == 400 and len(ds.classes) == 10
    assert Counter(c.fold for c in ds.clips) == {f: 80 for f in range(1, 6)}
    assert set(Counter((c.fold, c.label) for c in ds.clips).values()) == {8}
    assert not group_straddles(ds.clips) and len(ds.splits()) == 5
    assert all(len(a) == 5 * 12000 for a in decode_some(ds, 12000))


def gtzan_mini_metadata(root) -> dict[str, str]:
    with open(root / "metadata.csv") as f:
        return {row["filename"].removeprefix("genres/"): row["split"] for row in csv.DictReader(f)}


def test_gtzan_mini_is_a_partial_copy():
    root = shared_data("gtzan_mini")
    with pytest.raises(DataError, match="886 of 930 listed files are missing"):
        DATASETS.get("gtzan").build(root)
    ds = DATASETS.get("gtzan").build(root, partial=True)
    assert (len(ds.clips), ds.info["partial"]["missing"]) == (44, 886)
    assert Counter(c.split for c in ds.clips) == {"train": 18, "valid": 22, "test": 4}
    expected = {k: v for k, v in gtzan_mini_metadata(root).items() if v != "excluded"}
    assert {c.id: c.split for c in ds.clips} == expected
    (split,) = ds.splits()  # the copy's 18 training clips lack some of the genres its 4 test clips hold
    label = [c.label for c in ds.clips]
    unseen = {label[i] for i in split.test} - {label[i] for i in split.train}
    assert ds.info["untrained_test_clips"] == {split.name: {"clips": sum(label[i] in unseen for i in split.test),
                                                            "classes": sorted(unseen)}} and unseen
    stratified = DATASETS.get("gtzan").build(root, task="stratified", partial=True, check_duplicates=False)
    assert len(stratified.clips) == 50
    assert all(abs(len(a) - 30 * 12000) < 12000 for a in decode_some(ds, 12000, n=2))
