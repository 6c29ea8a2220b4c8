"""Extended Ballroom (Marchand & Peeters 2016): 4180 clips of ~30 s (mp3), 13 dance styles.

Layout: one folder per class (Chacha, Foxtrot, Jive, Pasodoble, Quickstep, Rumba, Salsa, Samba,
Slowwaltz, Tango, Viennesewaltz, Waltz, Wcswing), mp3 or wav; class sizes are very unequal.
No official split: protocol ``extended_ballroom/stratified-<k>fold`` is a seeded stratified k-fold
(``k=10``, ``seed=0`` by option) over the clips sorted by id; the fold assignment is written into
the result (elmarc's unshuffled folds depended on file order and reported the grid's best score);
``folds_file`` (written by :func:`rwbench.guards.write_folds`) reuses fixed folds instead.

Length policy: 350000 samples at 12 kHz (29.17 s), cropped from the start; shorter clips zero-padded; one
length (29.17 s) for every input kind: the study's 12-kHz log-mel front-ends read 1 + 350000 // 256 = 1368
frames, where its spectrogram inputs were 1376 frames (352000 samples: 0.6 % more audio; its VGG maps 344×48 /
86×16, here 342×48 / 85×16); front-ends at other rates read the same 29.17 s. MP3 is decoded by libsndfile (>=
1.1) or audioread with ffmpeg.
"""

from __future__ import annotations

from pathlib import Path

from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.guards import class_folder_files, file_dataset, locate, stratified_or_file

CLASSES = ("Chacha", "Foxtrot", "Jive", "Pasodoble", "Quickstep", "Rumba", "Salsa", "Samba", "Slowwaltz", "Tango",
           "Viennesewaltz", "Waltz", "Wcswing")
MUSIC_SECONDS = 350000 / 12000
ROOTS = ("", "extended_ballroom", "ExtendedBallroom", "extendedballroom_v1.1")
CLIPS = 4180  # the release's excerpts: fewer on disk is a cut-down copy (--partial)
_BY_LOWER = {c.lower(): c for c in CLASSES}


def class_of(folder: str) -> str | None:
    return _BY_LOWER.get(folder.lower())


@register_dataset(
    name="extended_ballroom",
    description="Extended Ballroom dance styles, 4180 clips of 30 s, 13 classes",
    protocol="no official split: seeded stratified 10-fold CV over the sorted file list (fold file in the result)",
    source="Marchand & Peeters, ISMIR 2016 late-breaking demo",
    needs_root=True,
)
def load_extended_ballroom(root: Path, *, task: str | None = None, k: int | None = None, seed: int | None = None,
                           folds_file: str | None = None, **options) -> Dataset:
    """Extended Ballroom from ``root`` (the folder holding the 13 class folders, or its parent)."""
    data = locate(Path(root), ROOTS, lambda p: any(class_of(d.name) for d in p.iterdir() if d.is_dir()),
                  dataset="extended_ballroom", expect="<Class>/<name>.mp3 folders (Chacha, Foxtrot, ..., Wcswing)")
    clips = [Clip(path.relative_to(data).as_posix(), label, path)
             for path, label in class_folder_files(data, class_of, dataset="extended_ballroom")]
    clips, protocol, info = stratified_or_file("extended_ballroom", clips, k=k, seed=seed, folds_file=folds_file,
                                               options=options)
    return file_dataset("extended_ballroom", task, clips, protocol, root=data, seconds=MUSIC_SECONDS, pad="zero",
                        classes=CLASSES, expected_clips=CLIPS, info=info, **options)
