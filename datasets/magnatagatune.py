"""MagnaTagATune (MTT): 25,863 clips of ~29 s, auto-tagging with the 50 most frequent tags (multilabel).

Layout, as shipped: ``annotations_final.csv`` (tab-separated, every field in double quotes: ``clip_id``, the 188
tags as 0/1 columns, ``mp3_path``) beside the mp3 folders ``0/`` … ``f/`` (the three ``mp3.zip.00x`` parts joined
and unzipped; the folders may also sit under ``mp3/``).

Protocol ``magnatagatune/top50-split-0b-c-df`` (Dieleman & Schrauwen 2014; musicnn; Lee et al. 2017; Won et al.
2020): folders ``0``–``b`` train, ``c`` validation, ``d``–``f`` test; hyperparameters and the micro-F1 threshold are
chosen on validation, the model refit on train (``refit="train+valid"`` by option) and scored on test. Tags: the
top 50 in musicnn's order (:data:`TOP50`). Clips without any of those tags are removed, as Won et al. 2020
(``sota-music-tagging-models``) do: their valid / test lists hold 1,529 / 4,332 clips (musicnn keeps them:
1,825 / 5,329); the count removed is recorded in the result. Three clips musicnn found missing or corrupted
(:data:`KNOWN_BAD`) are left out by id. Length policy: 29 s cropped from the start, zero-padded.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from rwbench.dataset import Dataset, register_dataset, tagged_clip
from rwbench.errors import DataError
from rwbench.guards import file_dataset, locate
from rwbench.protocol import FixedSplit

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


def read_annotations(path: Path) -> pd.DataFrame:
    """``annotations_final.csv`` as shipped (tab-separated, quoted), with ``clip_id``, ``mp3_path`` and the top 50."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"magnatagatune: cannot read {path} as tab-separated values: {err}") from err
    missing = [c for c in ("clip_id", "mp3_path", *TOP50) if c not in table.columns]
    if missing:
        raise DataError(f"magnatagatune: {path} lacks column(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
                        f"is it the shipped annotations_final.csv (tab-separated)? It has {list(table.columns)[:5]} ...")
    bad = table[~table[list(TOP50)].isin(["0", "1"]).all(axis=1)]
    if len(bad):
        raise DataError(f"magnatagatune: {path}: clip {bad['clip_id'].iloc[0]} has tag values other than 0/1")
    return table


@register_dataset(
    name="magnatagatune",
    description="MagnaTagATune auto-tagging, 25,863 clips of 29 s, top-50 tags (multilabel)",
    protocol="folders 0-b train, c valid, d-f test (Dieleman & Schrauwen 2014; musicnn); clips without a top-50 "
             "tag removed (Won et al. 2020); select and threshold on valid, report test",
    source="Law et al. 2009 (mirg.city.ac.uk/codeapps/the-magnatagatune-dataset); top-50 order of musicnn",
    needs_root=True,
    task_type="multilabel",
)
def load_magnatagatune(root: Path, *, task: str | None = None, refit: str = "train", seconds: float = SECONDS,
                       **options) -> Dataset:
    """MTT from ``root`` (the folder holding ``annotations_final.csv`` and the mp3 folders)."""
    data = locate(Path(root), ROOTS, lambda p: (p / ANNOTATIONS).is_file(), dataset="magnatagatune",
                  expect=f"{ANNOTATIONS} and the mp3 folders 0/ … f/")
    audio_root = data / "mp3" if (data / "mp3" / "0").is_dir() else data
    table = read_annotations(data / ANNOTATIONS)
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
    return file_dataset("magnatagatune", task, clips, FixedSplit("magnatagatune/top50-split-0b-c-df", refit=refit),
                        root=audio_root, seconds=seconds, pad="zero", info=info, classes=TOP50,
                        task_type="multilabel", **options)
