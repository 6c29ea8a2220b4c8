"""DCASE 2017 task 4: weakly labelled sound events for smart cars, 17 classes (multilabel audio tagging, subtask A).

Layout: the weak-label lists as released (``groundtruth_release/`` of the task's repository, or beside the audio):
``groundtruth_weak_label_training_set.csv`` (51,172 clips), ``groundtruth_weak_label_testing_set.csv`` (488) and
``groundtruth_weak_label_evaluation_set.csv`` (1,103); tab-separated, no header, one line per clip and label:
``<YouTube id>_<start>_<end>.wav <TAB> start <TAB> end <TAB> label`` (CRLF or LF line ends). The audio files are
named ``Y<YouTube id>_<start>_<end>.wav`` (the ``Y`` guards ids that start with ``-``) and are found anywhere under
the root (``audio/`` as dcase_util lays them out, or the folders the download scripts write).

Protocol ``dcase2017_task4/train-test-eval``: the official training set is fitted, the official (development)
testing set selects the hyperparameters and the micro-F1 threshold, and the evaluation set is scored once
(``refit="train+valid"`` refits on training + testing by option). Length policy: 10 s, zero-padded (a few clips
are shorter). Lists holding fewer clips than these (:data:`CLIPS`) are a cut-down copy: refused unless
``partial=True`` (``--partial``), then recorded.
"""

from __future__ import annotations

from pathlib import Path

from rwbench.audio import AUDIO_EXTENSIONS
from rwbench.datamodel import Dataset, register_dataset, tagged_clip
from rwbench.errors import DataError
from rwbench.guards import file_dataset, listing
from rwbench.protocol import FixedSplit, Refit

CLASSES = (  # sound_event_list_17_classes.txt
    "Train horn", "Air horn, truck horn", "Car alarm", "Reversing beeps", "Bicycle", "Skateboard",
    "Ambulance (siren)", "Fire engine, fire truck (siren)", "Civil defense siren", "Police car (siren)", "Screaming",
    "Car", "Car passing by", "Bus", "Truck", "Motorcycle", "Train",
)
LISTS = {"train": "groundtruth_weak_label_training_set.csv", "valid": "groundtruth_weak_label_testing_set.csv",
         "test": "groundtruth_weak_label_evaluation_set.csv"}
CLIPS = {"train": 51172, "valid": 488, "test": 1103}  # clips per list: fewer is a cut-down copy (--partial)
SECONDS = 10.0


def find_lists(root: Path) -> dict[str, Path]:
    """The three weak-label lists, under ``root`` or one level of its folders (``groundtruth_release/``)."""
    for folder in (root, root / "groundtruth_release", *sorted(p for p in root.iterdir() if p.is_dir())):
        if all((folder / name).is_file() for name in LISTS.values()):
            return {part: folder / name for part, name in LISTS.items()}
    raise DataError(f"dcase2017_task4: {root} lacks the weak-label lists {', '.join(LISTS.values())} (in it or in "
                    f"groundtruth_release/); found {listing(root)}")


def read_weak_labels(path: Path) -> dict[str, set[str]]:
    """File name (without the ``Y``) → its labels, from one weak-label list."""
    labels: dict[str, set[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):  # -sig: a BOM
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 4 or not fields[0].endswith(".wav"):
            raise DataError(f"dcase2017_task4: {path}:{number}: expected 'file.wav<TAB>start<TAB>end<TAB>label', "
                            f"got {line[:80]!r}")
        if not fields[0].isprintable():  # a stray BOM or control character: a name no file has
            raise DataError(f"dcase2017_task4: {path}:{number}: the file name {fields[0]!r} holds a non-printable "
                            "character; remove it")
        if fields[3] not in CLASSES:
            raise DataError(f"dcase2017_task4: {path}:{number}: unknown label {fields[3]!r}; the 17 classes are "
                            f"{list(CLASSES)}")
        labels.setdefault(fields[0], set()).add(fields[3])
    return labels


@register_dataset(
    name="dcase2017_task4",
    description="DCASE 2017 task 4 weakly labelled sound events (smart cars), 17 classes, 10 s clips (multilabel)",
    protocol="official lists: fit training, select and threshold on testing (development), report evaluation",
    source="Mesaros et al. 2017 (DCASE 2017 challenge task 4; AudioSet subset)",
    needs_root=True,
    task_type="multilabel",
)
def load_dcase2017_task4(root: Path, *, task: str | None = None, refit: Refit = "train", **options) -> Dataset:
    """DCASE 2017 task 4 from ``root`` (the lists and the ``Y*.wav`` files anywhere below it)."""
    root = Path(root)
    lists = find_lists(root)
    audio: dict[str, Path] = {}
    for path in sorted(root.rglob("Y*")):
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            if path.name in audio:  # which copy rglob lists last would be scored: the filesystem's choice
                raise DataError(f"dcase2017_task4: {path.name} is found twice under {root}: {audio[path.name]} and "
                                f"{path}; keep one copy under it")
            audio[path.name] = path
    clips = []
    seen: dict[str, str] = {}
    for part, path in lists.items():
        for name, labels in read_weak_labels(path).items():
            if name in seen:
                raise DataError(f"dcase2017_task4: {name} is listed in both {seen[name]} and {path.name}")
            seen[name] = path.name
            file = audio.get(f"Y{name}", root / "audio" / f"Y{name}")
            clips.append(tagged_clip(name, labels, path=file, split=part))
    split = FixedSplit("dcase2017_task4/train-test-eval", refit=refit)  # from its list files
    return file_dataset("dcase2017_task4", task, clips, split,
                        root=root, seconds=SECONDS, pad="zero", classes=CLASSES, task_type="multilabel",
                        expected_clips=sum(CLIPS.values()), **options)
