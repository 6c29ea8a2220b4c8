"""Speech Commands v0.02 (Warden 2018): 1 s utterances of 35 words by 2,618 speakers, keyword spotting.

Layout, as shipped: ``<word>/<speaker>_nohash_<n>.wav`` (16 kHz), ``validation_list.txt`` and ``testing_list.txt``
(one ``word/file.wav`` per line) and ``_background_noise_/`` (six long noise recordings). Clips in neither list
train. Protocol ``speech_commands/v0.02-lists``: select on the validation list, refit on training
(``refit="train+valid"`` by option), report the testing list; the speaker (the file name before ``_nohash_``) is
each clip's group — the lists keep speakers apart. 1 s, zero-padded.

Tasks:

* ``words35`` (default): the 35 words as classes.
* ``v1_12``: the v1-style 12 classes — ``yes, no, up, down, left, right, on, off, stop, go``, ``_unknown_`` and
  ``_silence_``. TensorFlow's ``input_data.py`` draws these at random (10 % each, seed 59185) and makes silence by
  mixing noise into a zeroed clip; rwbench builds them deterministically instead. ``_unknown_``: per split, the
  other words' clips with the smallest sha1 of their path, as many as 10 % of the split's ten-word clips.
  ``_silence_``: as many per split as ``_unknown_`` (10 % of the split's ten-word clips), each a 1 s crop of a
  ``_background_noise_`` recording scaled by a volume in [0, 1) — TensorFlow's recipe, drawn from a seeded
  generator (:data:`SILENCE_SEED`) instead of at random. The six recordings hold only 398 non-overlapping 1 s
  windows, far fewer than the ~3,856 the 10 % rule asks for, so crops overlap, as TensorFlow's random offsets do.
  To keep the splits apart, each recording's timeline is cut in three: its first 80 % feeds training crops, the
  next 10 % validation, the last 10 % testing (a crop never crosses a boundary; a recording whose part is
  shorter than 1 s gives that split none). The rule and the counts drawn are in ``Dataset.info["silence"]``.
  The official 12-class test archive (``speech_commands_test_set_v0.02``, 4,890 clips) is a different, fixed
  draw: rwbench does not read it.

A copy that is not the whole archive — files the lists name are missing, the word folders hold fewer than its 105,829
files, or the lists are shorter than the shipped 9,981 / 11,005 lines — is refused unless ``partial``
(``--partial``), as every loader refuses a partial copy, and recorded as partial in ``info``. A list line of no
v0.02 word, or a speaker on two sides of the lists, is an error: the shipped lists never hold either.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rwbench import audio
from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.errors import DataError
from rwbench.guards import file_dataset, group_straddles, locate
from rwbench.protocol import FixedSplit, Refit

WORDS = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go", "happy",
         "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six",
         "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
NOISE = "_background_noise_"
LISTS = {"valid": "validation_list.txt", "test": "testing_list.txt"}
ROOTS = ("", "speech_commands_v0.02", "SpeechCommands/speech_commands_v0.02")
SECONDS = 1.0
ARCHIVE_FILES = 105_829  # utterances in speech_commands_v0.02.tar.gz (Warden 2018, §6)
LISTED = {"valid": 9_981, "test": 11_005}  # lines of the shipped validation_list.txt / testing_list.txt
SILENCE_SEED = 59185  # TensorFlow's input_data.py random seed, reused for the seeded silence draw
SILENCE_PARTS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}  # each recording's share per split

log = logging.getLogger(__name__)


def _hash(text: str) -> float:
    """A stable number in [0, 1) from ``text`` (sha1)."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) / 16**12


def read_list(path: Path) -> set[str]:
    """The ``word/file.wav`` entries of a shipped list. An entry of no v0.02 word (a typo, a Windows ``\\``) is an
    error naming its line: ignored, its clip would train while the list puts it in the test side."""
    if not path.is_file():
        raise DataError(f"speech_commands: {path} not found (it ships with the v0.02 archive)")
    entries = set()
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not (entry := line.strip()):
            continue
        word, _, name = entry.partition("/")
        if word not in WORDS or not name.endswith(".wav") or "/" in name or "\\" in entry:
            raise DataError(f"speech_commands: {path}:{number}: {entry!r} is not '<word>/<file>.wav' of a v0.02 word; "
                            "restore the shipped list")
        entries.add(entry)
    return entries


@dataclass
class SpeechCommands(Dataset):
    """Speech Commands; ``_silence_`` clips are windows of the background recordings (``windows``)."""

    windows: dict[str, tuple[Path, float, float]] = field(default_factory=dict)  # id → (file, start s, volume)

    def load_audio(self, clip: Clip, sample_rate: int) -> np.ndarray:
        if clip.id not in self.windows:
            return super().load_audio(clip, sample_rate)
        path, start, volume = self.windows[clip.id]
        begin = round(start * sample_rate)
        return _recording(path, sample_rate)[begin:begin + round(SECONDS * sample_rate)] * np.float32(volume)

    def fingerprint_parts(self) -> dict:
        parts = super().fingerprint_parts()
        if self.windows:  # a silence clip is its recording cut at a place and scaled: both identify its audio
            parts["silence_windows"] = {key: [path.name, start, volume]
                                        for key, (path, start, volume) in sorted(self.windows.items())}
        return parts


@functools.lru_cache(maxsize=8)  # the six recordings, decoded once per process rather than once per crop
def _recording(path: Path, sample_rate: int) -> np.ndarray:
    return audio.load(path, sample_rate)


def silence_windows(noise: Path, per_split: dict[str, int]) -> dict[str, tuple[Clip, tuple[Path, float, float]]]:
    """``_silence_`` clips: ``per_split[part]`` 1 s crops per split, each of a recording drawn uniformly among those
    whose part of the timeline for that split (:data:`SILENCE_PARTS`) holds 1 s, at a uniform offset within that
    part (on the recording's sample grid), with a uniform volume in [0, 1); from a generator seeded with
    :data:`SILENCE_SEED` and the split, so the draw is the same on every machine."""
    recordings = []
    for path in sorted(noise.glob("*.wav")):
        info = audio.probe(path)
        recordings.append((path, info.seconds, info.samplerate))
    out = {}
    for index, (part, n) in enumerate(per_split.items()):
        lo, hi = SILENCE_PARTS[part]
        usable = [(path, seconds * lo, seconds * hi, rate) for path, seconds, rate in recordings
                  if seconds * (hi - lo) >= SECONDS]
        if n and not usable:
            raise DataError(f"speech_commands/v1_12: no recording in {noise} is long enough to draw {part} silence "
                            f"from (each needs {SECONDS:g} s within its {hi - lo:.0%} share of its length)")
        rng = np.random.default_rng([SILENCE_SEED, index])
        for i in range(n):
            path, begin, end, rate = usable[int(rng.integers(len(usable)))]
            first, last = math.ceil(begin * rate), math.floor((end - SECONDS) * rate)
            start = int(rng.integers(first, last + 1)) / rate
            volume = float(rng.random())
            clip_id = f"{NOISE}/{part}-{i:05d}"
            out[clip_id] = (Clip(clip_id, SILENCE, path, split=part, group=f"noise:{path.stem}"),
                            (path, start, volume))
    return out


def silence_info(noise: Path, silence: dict) -> dict:
    """What ``Dataset.info["silence"]`` records: the rule and the crops drawn per split and recording."""
    drawn: dict[str, dict[str, int]] = {}
    for clip, _ in silence.values():
        per = drawn.setdefault(clip.split, {})
        per[clip.path.name] = per.get(clip.path.name, 0) + 1
    return {"rule": f"per split, 10 % of its ten-word clips: 1 s crops of the {NOISE} recordings (uniform recording, "
                    f"offset and volume in [0, 1), seeded {SILENCE_SEED}); crops overlap within a split; each "
                    f"recording's first 80 % feeds train, the next 10 % valid, the last 10 % test",
            "recordings": len(list(noise.glob("*.wav"))),
            "clips": {part: sum(per.values()) for part, per in drawn.items()}, "per_recording": drawn}


@register_dataset(
    name="speech_commands",
    description="Speech Commands v0.02 keyword spotting, 1 s clips: 35 words, or the v1-style 12 classes",
    protocol="the shipped validation_list.txt / testing_list.txt (speakers kept apart); select on valid, report test",
    tasks=("words35", "v1_12"),
    default_tasks=("words35",),
    source="Warden 2018, arXiv:1804.03209 (download.tensorflow.org/data/speech_commands_v0.02.tar.gz)",
    needs_root=True,
)
def load_speech_commands(root: Path, *, task: str | None = None, refit: Refit = "train", **options) -> Dataset:
    """Speech Commands v0.02 from ``root`` (the folder holding the word folders and the two lists)."""
    task = task or "words35"
    data = locate(Path(root), ROOTS, lambda p: (p / LISTS["test"]).is_file(), dataset="speech_commands",
                  expect="the word folders (yes/, no/, ...) and testing_list.txt")
    listed = {part: read_list(data / name) for part, name in LISTS.items()}
    both = sorted(set.intersection(*listed.values()))
    if both:  # the shipped lists are disjoint: a file in both would be scored as a test clip it was selected on
        raise DataError(f"speech_commands: {len(both)} file(s) are in both {' and '.join(LISTS.values())} (first: "
                        f"{both[0]}); the shipped lists are disjoint: restore them")
    split_of = {entry: part for part, entries in listed.items() for entry in entries}
    clips = []
    for word in WORDS:
        for path in sorted((data / word).glob("*.wav")):
            entry = f"{word}/{path.name}"
            clips.append(Clip(entry, word, path, split=split_of.get(entry, "train"),
                              group=path.name.split("_nohash_")[0]))
    if not clips:
        raise DataError(f"speech_commands: no word folders with .wav files under {data}")
    found = {c.id for c in clips}
    # listed files that are not there: kept as clips so that file_dataset refuses them (or, with partial, drops and
    # records them), as every loader does with a partial copy
    absent = [Clip(entry, entry.split("/")[0], data / entry, split=part, group=entry.split("/")[-1].split("_nohash_")[0])
              for entry, part in sorted(split_of.items()) if entry not in found and entry.split("/")[0] in WORDS]
    if straddles := group_straddles(clips, part="split"):  # the shipped lists keep every speaker on one side
        speaker, parts = next(iter(straddles.items()))
        raise DataError(f"speech_commands: {len(straddles)} speaker(s) have clips on several sides of the shipped "
                        f"lists (e.g. {speaker}: {', '.join(parts)}), which the lists never do: restore them")
    on_disk = len(clips)
    short = {part: len(entries) for part, entries in listed.items() if len(entries) < LISTED[part]}
    if short or on_disk + len(absent) < ARCHIVE_FILES:  # a cut-down copy: its scores are not Speech Commands'
        where = (f"{on_disk} .wav files in the word folders of {ARCHIVE_FILES}" + "".join(
            f"; {LISTS[part]} lists {n} of {LISTED[part]}" for part, n in short.items()))
        if not options.get("partial"):
            raise DataError(f"speech_commands: {data} is not the whole v0.02 archive ({where}); restore it, or pass "
                            "--partial (partial=True) to run on what is there (recorded in the result)")
        log.warning("speech_commands: partial copy: %s", where)
    elif on_disk + len(absent) > ARCHIVE_FILES:
        log.warning("speech_commands: the word folders under %s hold %d .wav files, more than the v0.02 archive's %d",
                    data, on_disk, ARCHIVE_FILES)
    windows, silence = {}, {}
    if task == "v1_12":
        keep = [c for c in clips if c.label in KEYWORDS]
        per_split = {part: math.ceil(0.1 * sum(c.split == part for c in keep)) for part in ("train", "valid", "test")}
        others = sorted((c for c in clips if c.label not in KEYWORDS), key=lambda c: _hash(c.id))
        for part, n in per_split.items():
            keep += [Clip(c.id, UNKNOWN, c.path, split=part, group=c.group) for c in others if c.split == part][:n]
        silence = silence_windows(data / NOISE, per_split)
        windows = {clip_id: window for clip_id, (_, window) in silence.items()}
        clips = keep
        absent = [replace(c, label=c.label if c.label in KEYWORDS else UNKNOWN) for c in absent]
    classes = WORDS if task == "words35" else (*KEYWORDS, UNKNOWN)  # v1_12's silence windows join below
    dataset = file_dataset("speech_commands", task, [*clips, *absent],
                           FixedSplit("speech_commands/v0.02-lists", refit=refit),
                           root=data, seconds=SECONDS, pad="zero", classes=classes, **options)
    fields = {f.name: getattr(dataset, f.name) for f in dataclasses.fields(Dataset) if f.init}
    fields["info"] = {**dataset.info, "files": {"word_files": on_disk, "archive_files": ARCHIVE_FILES,
                                                "listed_missing": len(absent)}}
    if short or on_disk + len(absent) < ARCHIVE_FILES:  # against the archive's size, not only the listed files
        fields["info"]["partial"] = {**dataset.info.get("partial", {}), "listed": ARCHIVE_FILES, "present": on_disk,
                                     "lists": {LISTS[part]: len(entries) for part, entries in listed.items()}}
    if windows:  # windows of one recording share its file: added after the duplicate-file checks
        fields["clips"] = sorted([*dataset.clips, *(clip for clip, _ in silence.values())], key=lambda c: c.id)
        fields["info"]["silence"] = silence_info(data / NOISE, silence)
    return SpeechCommands(**fields, windows=windows)
