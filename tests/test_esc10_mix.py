"""ESC-10 mixtures inherit what the ESC-10 loader finds about their sources: a partial copy (absent folds) is
recorded as partial, never as the official 5 folds, and duplicate source audio is checked and recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import shared_data

from rwbench.datamodel import DATASETS
from rwbench.reproduce import partial_reason

pytestmark = pytest.mark.shared_data


def linked_copy(root: Path, keep=lambda row: True, duplicate: tuple[str, str] | None = None) -> Path:
    """An ESC-50-layout copy of the shared ESC-10 whose audio links to the real files: the rows ``keep`` accepts,
    and (``duplicate``) one file replaced by a copy of another."""
    real = shared_data("esc10")
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    lines = (real / "meta" / "esc50.csv").read_text().splitlines()
    rows = [line for line in lines[1:] if keep(line.split(","))]
    (root / "meta" / "esc50.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    for row in rows:
        name = row.split(",")[0]
        (root / "audio" / name).symlink_to(real / "audio" / name)
    if duplicate:
        (root / "audio" / duplicate[1]).unlink()
        shutil.copyfile(real / "audio" / duplicate[0], root / "audio" / duplicate[1])
    return root


def load(root: Path, **options):
    (dataset,) = DATASETS.get("esc10_mix").load(root, mixtures=4, **options)
    return dataset


def test_a_mixture_of_a_partial_copy_is_recorded_as_partial(tmp_path):
    root = linked_copy(tmp_path / "esc", keep=lambda row: row[1] != "5")  # fold 5 absent
    mix = load(root, partial=True)
    assert mix.info["folds_absent"] == [5] and mix.info["partial"]["listed"] == 400
    assert partial_reason(mix) == partial_reason(DATASETS.get("esc10").load(root, partial=True)[0])
    assert "official folds [5] absent" in partial_reason(mix)


def test_duplicate_source_audio_is_checked_and_recorded(tmp_path):
    root = linked_copy(tmp_path / "esc", duplicate=("1-100032-A-0.wav", "2-114280-A-0.wav"))
    mix = load(root)
    # the two sources straddle train and test when fold 1 (or 2) is tested: so do mixtures built from them
    pairs = {(d["split"], d["train"], d["test"]) for d in mix.info["duplicates"]}
    assert pairs == {("fold1", "2-114280-A-0.wav", "1-100032-A-0.wav"), ("fold2", "1-100032-A-0.wav", "2-114280-A-0.wav")}


def test_source_clips_untrained_in_a_fold_are_not_the_mixtures_note(tmp_path):
    """A partial copy whose dogs are all in fold 1: the ESC-10 loader records fold 1's dog clips as untrained test
    clips ("always counted wrong"). The mixtures inherited that line, though a multilabel fold scores without a tag
    its training side lacks (and says so): it is kept under its own name, out of the leaderboard's note."""
    from rwbench.analysis.leaderboard import partial_line

    root = linked_copy(tmp_path / "esc", keep=lambda row: row[3] != "dog" or row[1] == "1")
    (base,) = DATASETS.get("esc10").load(root, partial=True)
    base.splits()
    assert "untrained_test_clips" in base.info
    mix = load(root, partial=True)
    assert "untrained_test_clips" not in mix.info and "always counted wrong" not in partial_line(mix.info)
    assert mix.info["sources_untrained_test_clips"] == base.info["untrained_test_clips"]
    assert partial_line(mix.info) == "368 of 400 listed clips present"
