"""Ballroom (ISMIR 2004 tempo contest data): 698 clips of ~30 s, 8 dance styles.

Layout ``BallroomData/<Class>/<name>.wav``; the three ``Rumba-*`` folders (American,
International, Misc) are merged into ``Rumba``, giving the usual 8 classes. There is no official
split: protocol ``ballroom/stratified-<k>fold`` is a seeded stratified k-fold (``k=10``,
``seed=0`` by option) over the clips sorted by id (``<folder>/<file>``); the fold of every clip is
written into the result by the protocol's description. The set holds 4 exact and 9 recording replicas (Sturm 2014,
listed in the README of CPJKU/BallroomAnnotations; one exact pair is filed under two styles): each pair is one
group, so its two clips always share a fold (every other clip is a group of its own).
``folds_file`` (written by :func:`rwbench.guards.write_folds`) reuses fixed folds instead
(protocol ``ballroom/folds-file:<name>``).

Length policy: 350000 samples at 12 kHz (29.17 s) as in the study, cropped from the start; shorter clips are
zero-padded; one length (29.17 s) for every input kind: the study's 12-kHz log-mel front-ends read 1 + 350000
// 256 = 1368 frames, where its spectrogram inputs were 1376 frames (352000 samples: 0.6 % more audio; its VGG
maps 344×48 / 86×16, here 342×48 / 85×16); front-ends at other rates read the same 29.17 s. Sample rates are
read from each file.
"""

from __future__ import annotations

from pathlib import Path

from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.guards import class_folder_files, file_dataset, locate, stratified_or_file

REPLICAS = (  # Sturm 2014, as listed in CPJKU/BallroomAnnotations' README: 4 exact, then 9 recording replicas
    ("Albums-AnaBelen_Veneo-11", "Albums-Chrisanne2-12"), ("Albums-Fire-08", "Albums-Fire-09"),
    ("Albums-Latin_Jam2-05", "Albums-Latin_Jam2-13"), ("Albums-Secret_Garden-01", "Media-104705"),
    ("Albums-AnaBelen_Veneo-03", "Albums-AnaBelen_Veneo-15"), ("Albums-Ballroom_Magic-03", "Albums-Ballroom_Magic-18"),
    ("Albums-Latin_Jam-04", "Albums-Latin_Jam-13"), ("Albums-Latin_Jam-08", "Albums-Latin_Jam-14"),
    ("Albums-Latin_Jam-06", "Albums-Latin_Jam-15"), ("Albums-Latin_Jam2-02", "Albums-Latin_Jam2-14"),
    ("Albums-Latin_Jam2-07", "Albums-Latin_Jam2-15"), ("Albums-Latin_Jam3-02", "Media-103414"),
    ("Media-103402", "Media-103415"))
_GROUP = {name: first for first, second in REPLICAS for name in (first, second)}
CLASSES = ("ChaChaCha", "Jive", "Quickstep", "Rumba", "Samba", "Tango", "VienneseWaltz", "Waltz")
MUSIC_SECONDS = 350000 / 12000
ROOTS = ("BallroomData", "", "audio", "B_1.0/audio")
CLIPS = 698  # the release's excerpts: fewer on disk is a cut-down copy (--partial)
_BY_LOWER = {c.lower(): c for c in CLASSES}


def class_of(folder: str) -> str | None:
    """``Rumba-American`` → ``Rumba``; other folders are their class (case-insensitive)."""
    return _BY_LOWER.get(folder.split("-")[0].lower() if folder.lower().startswith("rumba") else folder.lower())


@register_dataset(
    name="ballroom",
    description="Ballroom dance styles, 698 clips of 30 s, 8 classes (Rumba-* folders merged)",
    protocol="no official split: seeded stratified 10-fold CV over the sorted file list, Sturm's 13 replica pairs "
             "each kept in one fold (fold file in the result)",
    source="Gouyon et al. 2006 (ISMIR 2004 contest); ballroomdancers.com",
    needs_root=True,
)
def load_ballroom(root: Path, *, task: str | None = None, k: int | None = None, seed: int | None = None,
                  folds_file: str | None = None, **options) -> Dataset:
    """Ballroom from ``root`` (the folder holding ``BallroomData/``, or ``BallroomData/`` itself)."""
    data = locate(Path(root), ROOTS, lambda p: any(class_of(d.name) for d in p.iterdir() if d.is_dir()),
                  dataset="ballroom", expect="BallroomData/<Class>/<name>.wav (ChaChaCha, Jive, ..., Rumba-*)")
    clips = [Clip(path.relative_to(data).as_posix(), label, path, group=_GROUP.get(path.stem, path.stem))
             for path, label in class_folder_files(data, class_of, dataset="ballroom")]
    clips, protocol, info = stratified_or_file("ballroom", clips, k=k, seed=seed, folds_file=folds_file,
                                               options=options)
    return file_dataset("ballroom", task, clips, protocol, root=data, seconds=MUSIC_SECONDS, pad="zero",
                        classes=CLASSES, expected_clips=CLIPS, info=info, **options)
