"""MagnaTagATune (MTT): 25,863 clips of ~29 s, auto-tagging with the 50 most frequent tags (multilabel).

Layout, as shipped: ``annotations_final.csv`` (tab-separated, every field in double quotes: ``clip_id``, the 188
tags as 0/1 columns, ``mp3_path``) beside the mp3 folders ``0/`` … ``f/`` (the three ``mp3.zip.00x`` parts joined
and unzipped; the folders may also sit under ``mp3/``). Tags: the top 50 in musicnn's order (:data:`TOP50`),
read from ``annotations_final.csv``.

Tasks (the key in results is ``magnatagatune/<task>``):

* ``published`` (default; protocol ``magnatagatune/top50-lee2017-published-lists``): the split of Lee et al. 2017
  that Won et al. 2020 (``sota-music-tagging-models``) use, shipped in ``splits/magnatagatune/`` as text lists
  (15,244 train / 1,529 valid / 4,332 test ``mp3_path`` entries; source, commit and transformation in
  ``splits/magnatagatune/SOURCE.md``: jongpillee/music_dataset_split ``MTAT_split/*_list_pub.cP``, MIT). The lists
  assign every clip; clips not listed are left out (Lee et al.: no top-50 tag, or 29.1 s of audio or less).
  **Rule**: a listed clip shorter than :data:`PUBLISHED_MIN_SECONDS` (29.1 s), measured on the file itself, is
  dropped (none should be, on a complete copy) and named in ``info["short_dropped"]`` with its length and how it
  was measured. The length is the decoded length: from the header where the header states it (WAV, FLAC, an MP3
  with a Xing/Info/VBRI header); for an MP3 without one (MTAT's: an ID3v2 tag, then constant-bitrate frames, for
  which libsndfile only estimates the length from the file size) by walking the MPEG frame headers (no
  decoding: frames x samples per frame, equal to what libsndfile decodes); where that walk cannot finish (not
  a clean Layer III stream) the file is decoded in full (slow, counted in ``info["duration_measured_by"]``);
  a file that cannot be read at all is kept for the audio screen (an error, or skipped with
  ``--skip-bad-audio``) and named in ``info["duration_unread"]``. **Count check**: the counts kept per part
  are reported against the published ones (:data:`PUBLISHED_COUNTS`) in ``info["counts"]``, with a warning
  when they differ; a copy that lacks listed files is refused unless ``partial=True`` (``--partial``).
* ``folders`` (protocol ``magnatagatune/top50-split-0b-c-df``, the former default; Dieleman & Schrauwen 2014,
  musicnn): folders ``0``–``b`` train, ``c`` validation, ``d``–``f`` test. Clips without any top-50 tag are
  removed as Won et al. 2020 do (the count is recorded; musicnn keeps them: 1,825 / 5,329 valid / test); the three
  clips musicnn found missing or corrupted (:data:`KNOWN_BAD`) are left out by id; clips shorter than 29 s are
  zero-padded, not dropped. A contrast to ``published``, not the published protocol. An ``annotations_final.csv``
  with fewer than its 25,863 rows (:data:`ROWS`) is a cut-down copy: refused unless ``partial=True`` (``--partial``).

Both: an ``mp3_path`` on two rows of ``annotations_final.csv`` is refused (which row's tags would count?).

Hyperparameters and the micro-F1 threshold are chosen on validation, the model refit on train
(``refit="train+valid"`` by option) and scored on test. Length policy: 29 s cropped from the start.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from importlib import resources
from pathlib import Path

import pandas as pd
import soundfile as sf

from rwbench import audio
from rwbench.datamodel import Clip, Dataset, register_dataset, tagged_clip
from rwbench.errors import DataError
from rwbench.guards import file_dataset, locate, present, read_lines, repeated_entries
from rwbench.protocol import FixedSplit, Refit

log = logging.getLogger(__name__)

TOP50 = (  # musicnn-training/data/index/mtt/output_labels_mtt.txt
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano", "ambient",
    "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals", "no vocals",
    "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello",
    "no voice", "weird", "country", "metal", "female voice", "choral",
)
SPLIT_OF_FOLDER = {**dict.fromkeys("0123456789ab", "train"), "c": "valid", **dict.fromkeys("def", "test")}
KNOWN_BAD = ("35644", "55753", "57881")  # musicnn-training aux/mtt/partition_gt.py: no file / corrupted
ANNOTATIONS = "annotations_final.csv"
ROOTS = ("", "magnatagatune", "MagnaTagATune", "mtt")
SECONDS = 29.0
PARTS = ("train", "valid", "test")
PUBLISHED_COUNTS = {"train": 15244, "valid": 1529, "test": 4332}  # Won et al. 2020; the shipped lists' lengths
ROWS = 25863  # clips in annotations_final.csv: fewer is a cut-down copy (task folders: --partial)
PUBLISHED_MIN_SECONDS = 29.1  # Lee et al.: "only songs with more than 29.1 seconds of audio were left"
PROTOCOL_IDS = {"published": "magnatagatune/top50-lee2017-published-lists",
                "folders": "magnatagatune/top50-split-0b-c-df"}


def read_annotations(path: Path) -> pd.DataFrame:
    """``annotations_final.csv`` as shipped (tab-separated, quoted), with ``clip_id``, ``mp3_path`` and the top 50."""
    try:
        table = read_lines(path, sep="\t", quoting=csv.QUOTE_MINIMAL)  # indexed by line number
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"magnatagatune: cannot read {path} as tab-separated values: {err}") from err
    missing = [c for c in ("clip_id", "mp3_path", *TOP50) if c not in table.columns]
    if missing:
        raise DataError(f"magnatagatune: {path} lacks column(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
                        f"is it the shipped annotations_final.csv (tab-separated)? It has {list(table.columns)[:5]} ...")
    bad = table[~table[list(TOP50)].isin(["0", "1"]).all(axis=1)]
    if len(bad):
        raise DataError(f"magnatagatune: {path}: clip {bad['clip_id'].iloc[0]} has tag values other than 0/1")
    listed = table[table["mp3_path"] != ""]
    repeated = repeated_entries(list(listed["mp3_path"]), "magnatagatune", path, what="mp3_path(s) are",
                                lines=list(listed.index))
    if repeated:  # one clip's two rows: which tags would count?
        raise DataError(repeated)
    return table


def split_list(part: str) -> list[str]:
    """The shipped published list ``splits/magnatagatune/{part}.txt``: ``mp3_path`` entries (``c/….mp3``)."""
    text = (resources.files("rwbench.datasets") / "splits" / "magnatagatune" / f"{part}.txt").read_text()
    entries = [line.strip() for line in text.splitlines() if line.strip()]
    if len(entries) != PUBLISHED_COUNTS[part]:
        raise DataError(f"magnatagatune: the shipped list splits/magnatagatune/{part}.txt holds {len(entries)} "
                        f"entries, not the published {PUBLISHED_COUNTS[part]}: the installed rwbench is damaged")
    return entries


def clip_seconds(path: Path) -> tuple[float | None, str]:
    """``path``'s decoded length in seconds and how it was measured: "header" (the header states it),
    "mpeg-frames" (an MP3 without a length header: its frame headers walked), "decoded" (decoded in full), or
    (None, why) when the file cannot be read."""
    try:
        if path.suffix.lower() == ".mp3" and not audio.declares_length(path):
            walked = audio.mpeg_seconds(path.read_bytes())
            if walked is not None:
                return walked, "mpeg-frames"
            data, rate = audio.read(path)
            return len(data) / rate, "decoded"
        if audio.soundfile_reads(path):
            info = sf.info(str(path))
            return info.frames / info.samplerate, "header"
        return audio.probe(path).seconds, "header"
    except (OSError, DataError, sf.LibsndfileError, RuntimeError, ValueError) as err:
        return None, f"{type(err).__name__}: {err}"


def drop_short(clips: list[Clip], *, label: str, min_seconds: float = PUBLISHED_MIN_SECONDS) -> tuple[list[Clip], dict]:
    """The clips at least ``min_seconds`` long (measured by :func:`clip_seconds`), and what was measured: the
    dropped clips with their lengths, the count per measuring method, and the files that could not be read
    (kept, for the audio screen to judge)."""
    kept, short, unread, methods = [], [], [], Counter[str]()
    for clip in clips:
        seconds, how = clip_seconds(clip.file)
        if seconds is None:
            unread.append({"clip": clip.id, "reason": how})
            kept.append(clip)
            continue
        methods[how] += 1
        if seconds < min_seconds:
            short.append({"clip": clip.id, "split": clip.split, "seconds": round(seconds, 4), "measured_by": how})
        else:
            kept.append(clip)
    if short:
        log.warning("%s: %d listed clip(s) are shorter than %g s and dropped (first: %s, %.3f s)", label, len(short),
                    min_seconds, short[0]["clip"], short[0]["seconds"])
    if unread:
        log.warning("%s: the length of %d file(s) could not be read (first: %s: %s); they are left to the audio "
                    "check", label, len(unread), unread[0]["clip"], unread[0]["reason"])
    info = {"min_seconds": min_seconds, "short_dropped": {"count": len(short), "clips": short},
            "duration_measured_by": dict(sorted(methods.items()))}
    if unread:
        info["duration_unread"] = unread
    return kept, info


def tags_by_path(table: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """``mp3_path`` -> its top-50 tags, for every annotated clip."""
    tags = table[list(TOP50)].to_numpy() == "1"
    return {path: tuple(t for t, on in zip(TOP50, row) if on) for path, row in zip(table["mp3_path"], tags)}


def published_clips(table: pd.DataFrame, audio_root: Path) -> tuple[list[Clip], dict]:
    """The clips of the shipped published lists, tagged from ``annotations_final.csv``."""
    tags = tags_by_path(table)
    clips, unknown, untagged = [], [], []
    for part in PARTS:
        for entry in split_list(part):
            if entry not in tags:
                unknown.append(entry)
            elif not tags[entry]:
                untagged.append(entry)
            else:
                clips.append(tagged_clip(entry, tags[entry], path=audio_root / entry, split=part))
    for problem, entries in (("are not in", unknown), ("have no top-50 tag in", untagged)):
        if entries:
            raise DataError(f"magnatagatune: {len(entries)} clip(s) of the published lists {problem} {ANNOTATIONS} "
                            f"(first: {entries[0]}); is it the shipped annotations_final.csv?")
    listed = {c.id for c in clips}
    not_listed = [p for p in tags if p not in listed]
    return clips, {"lists": "splits/magnatagatune/{train,valid,test}.txt (jongpillee/music_dataset_split "
                            "MTAT_split, Lee et al. 2017)",
                   "not_listed": len(not_listed), "not_listed_with_top50_tag": sum(bool(tags[p]) for p in not_listed)}


def count_check(dataset: Dataset, label: str) -> dict:
    """The clips kept per part against :data:`PUBLISHED_COUNTS` (a warning when they differ)."""
    kept = Counter(c.split for c in dataset.clips)
    counts = {part: {"kept": kept.get(part, 0), "published": PUBLISHED_COUNTS[part]} for part in PARTS}
    differ = {p: c for p, c in counts.items() if c["kept"] != c["published"]}
    if differ:
        shown = ", ".join(f"{p} {c['kept']} of {c['published']}" for p, c in differ.items())
        log.warning("%s: the clips kept differ from the published counts (%s): see partial, short_dropped and "
                    "skipped in the result's dataset info", label, shown)
    return {**counts, "match": not differ}


@register_dataset(
    name="magnatagatune",
    description="MagnaTagATune auto-tagging, 25,863 clips of 29 s, top-50 tags (multilabel)",
    protocol="published lists of Lee et al. 2017 (Won et al. 2020): 15,244 train / 1,529 valid / 4,332 test, "
             "clips shorter than 29.1 s dropped, counts checked; select and threshold on valid, report test; task "
             "'folders': folders 0-b train, c valid, d-f test (musicnn), a contrast",
    tasks=tuple(PROTOCOL_IDS),
    default_tasks=("published",),
    source="Law et al. 2009 (mirg.city.ac.uk/codeapps/the-magnatagatune-dataset); lists from "
           "jongpillee/music_dataset_split (MIT); top-50 order of musicnn",
    needs_root=True,
    task_type="multilabel",
)
def load_magnatagatune(root: Path, *, task: str | None = None, refit: Refit = "train", seconds: float = SECONDS,
                       partial: bool = False, **options) -> Dataset:
    """MTT from ``root`` (the folder holding ``annotations_final.csv`` and the mp3 folders)."""
    task = task or "published"
    if task not in PROTOCOL_IDS:
        raise DataError(f"magnatagatune: task must be one of {list(PROTOCOL_IDS)}, not {task!r}")
    label = f"magnatagatune/{task}"
    data = locate(Path(root), ROOTS, lambda p: (p / ANNOTATIONS).is_file(), dataset="magnatagatune",
                  expect=f"{ANNOTATIONS} and the mp3 folders 0/ … f/")
    audio_root = data / "mp3" if (data / "mp3" / "0").is_dir() else data
    table = read_annotations(data / ANNOTATIONS)
    # the standard task's side is the id's folder (0-b, c, d-f); the published task's, the shipped lists'
    protocol = FixedSplit(PROTOCOL_IDS[task], refit=refit, ids_spell_assignment=task != "published")
    if task == "published":
        clips, info = published_clips(table[table["mp3_path"] != ""], audio_root)
        clips, missing = present(clips, partial=partial, dataset=label, root=audio_root)  # refused before measuring
        clips, measured = drop_short(clips, label=label)
        info = {**info, **measured, **({"partial": missing} if missing else {})}
        dataset = file_dataset("magnatagatune", task, clips, protocol, root=audio_root, seconds=seconds, pad="zero",
                               info=info, classes=TOP50, task_type="multilabel", partial=partial, clip_chosen=True,
                               **options)
        dataset.info["counts"] = count_check(dataset, label)
        return dataset
    lacking = ROWS - len(table) if ROWS and len(table) < ROWS else 0
    if lacking and not partial:
        raise DataError(f"{label}: {data / ANNOTATIONS} holds {len(table):,} of the release's {ROWS:,} clips: this "
                        f"is not the whole dataset, and its scores would not be magnatagatune's. Restore it, or pass "
                        "--partial (partial=True) to run on what is listed (recorded in the result)")
    table = table[~table["clip_id"].isin(KNOWN_BAD) & (table["mp3_path"] != "")]
    tags = table[list(TOP50)].to_numpy() == "1"
    untagged = int((~tags.any(axis=1)).sum())
    clips = []
    for (_, row), mine in zip(table.iterrows(), tags):
        folder = row["mp3_path"].split("/")[0]
        if folder not in SPLIT_OF_FOLDER:
            raise DataError(f"magnatagatune: clip {row['clip_id']} has mp3_path {row['mp3_path']!r}, not under a "
                            "folder 0 … f")
        if mine.any():
            clips.append(tagged_clip(row["mp3_path"], [t for t, on in zip(TOP50, mine) if on],
                                     path=audio_root / row["mp3_path"], split=SPLIT_OF_FOLDER[folder]))
    info = {"untagged_removed": untagged, "known_bad_removed": list(KNOWN_BAD)}
    # a row lacking counts as a clip lacking: file_dataset records the copy as partial
    return file_dataset("magnatagatune", task, clips, protocol, root=audio_root, seconds=seconds, pad="zero",
                        info=info, classes=TOP50, task_type="multilabel", partial=partial, clip_chosen=True,
                        expected_clips=len(clips) + lacking if lacking else None, **options)
