"""Free Spoken Digit Dataset: spoken digits 0-9, 8 kHz, ``recordings/{digit}_{speaker}_{index}.wav``.

Tasks (result key ``fsdd/<task>``):

* ``standard`` (default; protocol ``fsdd/standard-index0-4-test``): the dataset's own split,
  repetitions 0-4 of every speaker and digit = test (300 of 3000), 5-49 = train. FSDD has no
  validation split, so selection uses one carved the same way: repetitions 5-9 = valid,
  10-49 = fit; the chosen model is refit on 5-49 (``refit="train+valid"``, the official training
  set; ``refit="train"`` by option). As in the official split, speakers appear on both sides.
* ``speakers`` (protocol ``fsdd/leave-one-speaker-out``): one fold per speaker (speakers sorted by
  name → folds 1..n, the mapping in ``info["fold_speakers"]``); the inner CV leaves out one
  training speaker, so no speaker is ever on both sides of any split.

Length policy: 1 s, zero-pad (clips last 0.14-2.3 s; repeating a digit would utter it twice).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rwbench.audio import AUDIO_EXTENSIONS
from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.errors import DataError
from rwbench.guards import file_dataset, locate, refuse_unused
from rwbench.protocol import FixedSplit, PredefinedFolds, Protocol, Refit

DIGITS = tuple(str(d) for d in range(10))
NAME = re.compile(r"^(?P<digit>\d+)_(?P<speaker>[A-Za-z0-9]+)_(?P<index>\d+)\.wav$")
ROOTS = ("recordings", "", "free-spoken-digit-dataset/recordings", "free-spoken-digit-dataset-master/recordings")
TEST_INDICES, VALID_INDICES = range(0, 5), range(5, 10)
CLIPS = 3000  # 6 speakers x 10 digits x 50 repetitions (release 1.0.10): fewer is a cut-down copy


def part_of(index: int) -> str:
    return "test" if index in TEST_INDICES else "valid" if index in VALID_INDICES else "train"


def recordings(folder: Path) -> list[tuple[Path, re.Match]]:
    """Every audio file with its parsed name; an unexpected name (another extension included: ``.WAV``, ``.flac``)
    is an error naming the file, never a file silently left out."""
    out = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()):
        match = NAME.match(path.name)
        if match is None:
            raise DataError(f"fsdd: unexpected file name {path}; FSDD names are {{digit}}_{{speaker}}_{{index}}.wav. "
                            f"Rename or move it out")
        out.append((path, match))
    return out


def standard(found: list[tuple[Path, re.Match]], refit: Refit) -> tuple[list[Clip], FixedSplit, dict]:
    clips = [Clip(p.name, m["digit"], p, split=part_of(int(m["index"])), group=m["speaker"]) for p, m in found]
    split = FixedSplit("fsdd/standard-index0-4-test", refit=refit, ids_spell_assignment=True)  # ids: 7_george_3.wav
    return clips, split, {"valid": "repetitions 5-9 carved from train"}


def speakers(found: list[tuple[Path, re.Match]], refit: Refit) -> tuple[list[Clip], PredefinedFolds, dict]:
    fold_of = {s: i for i, s in enumerate(sorted({m["speaker"] for _, m in found}), start=1)}
    clips = [Clip(p.name, m["digit"], p, fold=fold_of[m["speaker"]], group=m["speaker"]) for p, m in found]
    folds = PredefinedFolds("fsdd/leave-one-speaker-out", ids_spell_assignment=True)  # the speakers, sorted
    return clips, folds, {"fold_speakers": {f: s for s, f in fold_of.items()}}


TASKS: dict[str, Callable[[list[tuple[Path, re.Match]], Refit], tuple[list[Clip], Protocol, dict[str, Any]]]] = {
    "standard": standard, "speakers": speakers}


@register_dataset(
    name="fsdd",
    description="Free Spoken Digit Dataset, 3000 recordings of digits 0-9 by 6 speakers, 8 kHz",
    protocol="official split: repetitions 0-4 = test (valid = repetitions 5-9 carved from train); "
             "task 'speakers': leave one speaker out",
    tasks=tuple(TASKS),
    default_tasks=("standard",),
    source="Jakobovski et al., github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0)",
    needs_root=True,
)
def load_fsdd(root: Path, *, task: str | None = None, refit: Refit | None = None, **options) -> Dataset:
    """FSDD from ``root`` (the folder holding ``recordings/``, or ``recordings/`` itself)."""
    task = task or "standard"
    if task == "speakers":
        refuse_unused("fsdd/speakers", "its folds are the speakers, every model is fit on the training speakers",
                      refit=refit)
    folder = locate(Path(root), ROOTS, lambda p: any(NAME.match(f.name) for f in p.glob("*.wav")), dataset="fsdd",
                    expect="recordings/{digit}_{speaker}_{index}.wav")
    clips, protocol, info = TASKS[task](recordings(folder), refit or "train+valid")
    return file_dataset("fsdd", task, clips, protocol, root=folder, seconds=1.0, pad="zero", classes=DIGITS,
                        info=info, expected_clips=CLIPS, **options)
