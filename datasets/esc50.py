"""ESC-50: 2000 environmental sound clips of 5 s, 50 classes, 5 official folds.

Layout ``audio/{fold}-{src_file}-{take}-{target}.wav`` and ``meta/esc50.csv`` (columns filename,
fold, target, category, esc10, src_file, take). Protocol ``esc50/official-5-folds``: each official
fold is the test fold once; the inner CV leaves out one training fold; folds are never re-drawn
(takes of one source file share a fold; the group is ``src_file``). :func:`load_esc` also serves
``esc10`` (the rows with ``esc10`` True).

Length policy: 5 s (every clip's length), zero-pad (the clips are already silence-padded to 5 s).
"""

from __future__ import annotations

from pathlib import Path

from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.errors import DataError
from rwbench.guards import file_dataset, locate, read_table, repeated_entries, to_int
from rwbench.protocol import PredefinedFolds

CLASSES = (  # index = target
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds", "water_drops", "wind", "pouring_water",
    "toilet_flush", "thunderstorm",
    "crying_baby", "sneezing", "clapping", "breathing", "coughing", "footsteps", "laughing", "brushing_teeth",
    "snoring", "drinking_sipping",
    "door_wood_knock", "mouse_click", "keyboard_typing", "door_wood_creaks", "can_opening", "washing_machine",
    "vacuum_cleaner", "clock_alarm", "clock_tick", "glass_breaking",
    "helicopter", "chainsaw", "siren", "car_horn", "engine", "train", "church_bells", "airplane", "fireworks",
    "hand_saw",
)
ESC10_TARGETS = (0, 1, 10, 11, 12, 20, 21, 38, 40, 41)
FOLDS = (1, 2, 3, 4, 5)
METADATA = "meta/esc50.csv"
CLIPS = {"esc50": 2000, "esc10": 400}  # the release's clips: fewer listed is a cut-down copy (--partial)
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file")
ROOTS = ("", "ESC-50-master", "ESC-50")


def row_clip(root: Path, row: dict, where: str, classes: tuple[str, ...]) -> Clip:
    """One metadata row as a clip, checked against the file name and the class list."""
    name = row["filename"]
    fold = to_int(row["fold"], what="fold", where=where)
    target = to_int(row["target"], what="target", where=where)
    if fold not in FOLDS or name.split("-")[0] != str(fold):
        raise DataError(f"{where}: {name} has fold {fold}, but ESC folds are 1-5 and the name starts with its fold")
    if not 0 <= target < len(CLASSES) or CLASSES[target] != row["category"] or row["category"] not in classes:
        raise DataError(f"{where}: {name} has unknown label {row['category']!r} (target {target}); "
                        f"the classes here are {list(classes)}")
    named = Path(name).stem.split("-")[-1]  # {fold}-{src_file}-{take}-{target}.wav
    if named != str(target):
        raise DataError(f"{where}: {name} is labelled {row['category']!r} (target {target}), but its name says target "
                        f"{named}; the metadata row and the file disagree. Fix the row")
    return Clip(name, row["category"], root / "audio" / name, fold=fold, group=row["src_file"])


def load_esc(root: Path, *, name: str, task: str | None, esc10_only: bool, **options) -> Dataset:
    """ESC-50 (or its ESC-10 rows) from ``root`` (the folder holding ``audio/`` and ``meta/``)."""
    data = locate(Path(root), ROOTS, lambda p: (p / METADATA).is_file(), dataset=name,
                  expect=f"audio/*.wav and {METADATA}")
    table = read_table(data / METADATA, COLUMNS, dataset=name)
    repeated = repeated_entries(list(table["filename"]), name, data / METADATA)  # named before ESC-10's rows are kept
    if repeated:
        raise DataError(repeated)
    if esc10_only:
        table = table[table["esc10"].str.strip().str.lower() == "true"]
    classes = tuple(CLASSES[t] for t in ESC10_TARGETS) if esc10_only else CLASSES
    rows = table.to_dict("records")
    clips = [row_clip(data, row, f"{data / METADATA} ({row['filename']})", classes) for row in rows]
    if not clips:
        raise DataError(f"{name}: {data / METADATA} has no {'esc10 ' if esc10_only else ''}rows")
    folds = PredefinedFolds(f"{name}/official-5-folds", ids_spell_assignment=True)  # ids: 3-…wav
    return file_dataset(name, task, clips, folds, root=data, seconds=5.0,
                        expected_clips=CLIPS[name],
                        pad="zero", official_folds=FOLDS, classes=classes, **options)


@register_dataset(
    name="esc50",
    description="ESC-50 environmental sounds, 2000 clips of 5 s, 50 classes",
    protocol="the 5 official folds (never re-drawn); inner CV leaves one training fold out; group = src_file",
    source="Piczak 2015 (karolpiczak/ESC-50)",
    needs_root=True,
)
def load_esc50(root: Path, *, task: str | None = None, **options) -> Dataset:
    """ESC-50 from ``root`` (the folder holding ``audio/`` and ``meta/esc50.csv``)."""
    return load_esc(root, name="esc50", task=task, esc10_only=False, **options)
