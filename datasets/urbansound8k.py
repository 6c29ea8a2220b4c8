"""UrbanSound8K: 8732 slices of at most 4 s, 10 urban sound classes, 10 official folds.

Layout ``audio/fold1..fold10/<fsID>-<classID>-<occurrenceID>-<sliceID>.wav`` and
``metadata/UrbanSound8K.csv``. Protocol ``urbansound8k/official-10-folds``: each official fold is
the test fold once, the inner CV leaves out one training fold at a time; folds are never
reshuffled (slices of one Freesound recording share a fold; the group is ``fsID``).

Length policy: 4 s (the longest slice), repeat-pad as in the study (short slices are tiled until
4 s, then cropped). Each file keeps its upload's rate, depth and channels: decoding mixes to mono
and resamples. A copy with some folds, classes or slices missing (fewer than 8732 listed) needs
``partial=True``; the folds used are recorded in the result. Five recordings sit in two folds in the
official metadata itself (:data:`OFFICIAL_STRADDLES`): recorded as the release's, not warned about.
"""

from __future__ import annotations

from pathlib import Path

from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.errors import DataError
from rwbench.guards import file_dataset, locate, read_table, to_int
from rwbench.protocol import PredefinedFolds

CLASSES = ("air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling", "engine_idling", "gun_shot",
           "jackhammer", "siren", "street_music")  # index = classID
FOLDS = tuple(range(1, 11))
METADATA = "metadata/UrbanSound8K.csv"
CLIPS = 8732  # the release's slices: fewer listed is a cut-down copy (--partial)
# recordings the official metadata itself puts in two folds (fold 1 and 8, 1 and 4, 1 and 4, 1 and 9, 2 and 7)
OFFICIAL_STRADDLES = ("106905", "132016", "176638", "180937", "77751")
COLUMNS = ("slice_file_name", "fsID", "fold", "classID", "class")


def row_clip(root: Path, row: dict, where: str) -> Clip:
    """One metadata row as a clip; its fold and class must be official ones."""
    fold = to_int(row["fold"], what="fold", where=where)
    class_id = to_int(row["classID"], what="classID", where=where)
    if fold not in FOLDS:
        raise DataError(f"{where}: fold {fold} of {row['slice_file_name']} is not one of the official folds 1-10")
    if not 0 <= class_id < len(CLASSES) or CLASSES[class_id] != row["class"]:
        raise DataError(f"{where}: {row['slice_file_name']} has unknown label {row['class']!r} (classID {class_id}); "
                        f"urbansound8k classes by classID are {list(CLASSES)}")
    name = row["slice_file_name"]
    parts = Path(name).stem.split("-")  # {fsID}-{classID}-{occurrenceID}-{sliceID}.wav
    if len(parts) != 4 or parts[1] != str(class_id):
        raise DataError(f"{where}: {name} is labelled {row['class']!r} (classID {class_id}), but its name is not "
                        f"<fsID>-{class_id}-<occurrenceID>-<sliceID>.wav; the metadata row and the file disagree. "
                        f"Fix the row")
    return Clip(f"fold{fold}/{name}", row["class"], root / "audio" / f"fold{fold}" / name, fold=fold, group=row["fsID"])


@register_dataset(
    name="urbansound8k",
    description="UrbanSound8K, 8732 urban sound slices of <= 4 s, 10 classes",
    protocol="the 10 official folds (never reshuffled); inner CV leaves one training fold out; group = fsID",
    source="Salamon, Jacoby & Bello 2014",
    needs_root=True,
)
def load_urbansound8k(root: Path, *, task: str | None = None, **options) -> Dataset:
    """UrbanSound8K from ``root`` (the folder holding ``audio/`` and ``metadata/``, or its parent)."""
    data = locate(Path(root), ("", "UrbanSound8K"), lambda p: (p / METADATA).is_file() or (p / "audio").is_dir(),
                  dataset="urbansound8k", expect=f"audio/fold1..fold10/*.wav and {METADATA}")
    csv = data / METADATA
    table = read_table(csv, COLUMNS, dataset="urbansound8k")
    clips = [row_clip(data, row, f"{csv}:{line}") for line, row in zip(table.index, table.to_dict("records"))]
    folds = PredefinedFolds("urbansound8k/official-10-folds", ids_spell_assignment=True)  # ids: fold3/…
    return file_dataset("urbansound8k", task, clips, folds, root=data,
                        seconds=4.0, pad="repeat", official_folds=FOLDS, classes=CLASSES, listed_in=csv,
                        expected_clips=CLIPS, official_straddles=OFFICIAL_STRADDLES, **options)
