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
  ``_silence_``: the background recordings cut into 1 s windows, each assigned to a split by the sha1 of
  ``file#window`` (10 % validation, 10 % testing), as many per split as ``_unknown_``, each scaled by a volume in
  [0, 1) from the same hash. The official 12-class test archive (``speech_commands_test_set_v0.02``, 4,890 clips)
  is a different, fixed draw: rwbench does not read it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rwbench import audio
from rwbench.dataset import Clip, Dataset, register_dataset
from rwbench.errors import DataError
from rwbench.guards import file_dataset, locate
from rwbench.protocol import FixedSplit

WORDS = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go", "happy",
         "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six",
         "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
NOISE = "_background_noise_"
LISTS = {"valid": "validation_list.txt", "test": "testing_list.txt"}
ROOTS = ("", "speech_commands_v0.02", "SpeechCommands/speech_commands_v0.02")
SECONDS = 1.0


def _hash(text: str) -> float:
    """A stable number in [0, 1) from ``text`` (sha1)."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) / 16**12


def read_list(path: Path) -> set[str]:
    if not path.is_file():
        raise DataError(f"speech_commands: {path} not found (it ships with the v0.02 archive)")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


@dataclass
class SpeechCommands(Dataset):
    """Speech Commands; ``_silence_`` clips are windows of the background recordings (``windows``)."""

    windows: dict[str, tuple[Path, int, float]] = field(default_factory=dict)  # id → (file, start second, volume)

    def load_audio(self, clip: Clip, sample_rate: int) -> np.ndarray:
        if clip.id not in self.windows:
            return super().load_audio(clip, sample_rate)
        path, start, volume = self.windows[clip.id]
        return audio.load(path, sample_rate)[start * sample_rate:(start + 1) * sample_rate] * np.float32(volume)


def silence_windows(noise: Path, per_split: dict[str, int]) -> dict[str, tuple[Clip, tuple[Path, int, float]]]:
    """``_silence_`` clips: 1 s windows of every background recording, split and scaled by their hash."""
    candidates: dict[str, list[tuple[float, str, Path, int]]] = {part: [] for part in per_split}
    for path in sorted(noise.glob("*.wav")):
        for window in range(int(audio.probe(path).seconds)):
            key = f"{path.name}#{window}"
            h = _hash(key)
            part = "valid" if h < 0.1 else "test" if h < 0.2 else "train"
            candidates[part].append((_hash("rank:" + key), key, path, window))
    out = {}
    for part, rows in candidates.items():
        for _, key, path, start in sorted(rows)[:per_split[part]]:
            clip_id = f"{NOISE}/{key}"
            out[clip_id] = (Clip(clip_id, SILENCE, path, split=part, group=f"noise:{path.stem}"),
                            (path, start, _hash("volume:" + key)))
    return out


@register_dataset(
    name="speech_commands",
    description="Speech Commands v0.02 keyword spotting, 1 s clips: 35 words, or the v1-style 12 classes",
    protocol="the shipped validation_list.txt / testing_list.txt (speakers kept apart); select on valid, report test",
    tasks=("words35", "v1_12"),
    default_tasks=("words35",),
    source="Warden 2018, arXiv:1804.03209 (download.tensorflow.org/data/speech_commands_v0.02.tar.gz)",
    needs_root=True,
)
def load_speech_commands(root: Path, *, task: str | None = None, refit: str = "train", **options) -> Dataset:
    """Speech Commands v0.02 from ``root`` (the folder holding the word folders and the two lists)."""
    task = task or "words35"
    data = locate(Path(root), ROOTS, lambda p: (p / LISTS["test"]).is_file(), dataset="speech_commands",
                  expect="the word folders (yes/, no/, ...) and testing_list.txt")
    split_of = {entry: part for part, name in LISTS.items() for entry in read_list(data / name)}
    clips = []
    for word in WORDS:
        for path in sorted((data / word).glob("*.wav")):
            entry = f"{word}/{path.name}"
            clips.append(Clip(entry, word, path, split=split_of.get(entry, "train"),
                              group=path.name.split("_nohash_")[0]))
    if not clips:
        raise DataError(f"speech_commands: no word folders with .wav files under {data}")
    windows = {}
    if task == "v1_12":
        keep = [c for c in clips if c.label in KEYWORDS]
        per_split = {part: math.ceil(0.1 * sum(c.split == part for c in keep)) for part in ("train", "valid", "test")}
        others = sorted((c for c in clips if c.label not in KEYWORDS), key=lambda c: _hash(c.id))
        for part, n in per_split.items():
            keep += [Clip(c.id, UNKNOWN, c.path, split=part, group=c.group) for c in others if c.split == part][:n]
        silence = silence_windows(data / NOISE, per_split)
        windows = {clip_id: window for clip_id, (_, window) in silence.items()}
        clips = keep
    dataset = file_dataset("speech_commands", task, clips, FixedSplit("speech_commands/v0.02-lists", refit=refit),
                           root=data, seconds=SECONDS, pad="zero", **options)
    fields = {f: getattr(dataset, f) for f in Dataset.__dataclass_fields__}
    if windows:  # windows of one recording share its file: added after the duplicate-file checks
        fields["clips"] = sorted([*dataset.clips, *(clip for clip, _ in silence.values())], key=lambda c: c.id)
        fields["info"] = {**dataset.info, "silence_windows": len(windows)}
    return SpeechCommands(**fields, windows=windows)
