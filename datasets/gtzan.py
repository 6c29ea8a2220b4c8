"""GTZAN music genre (10 genres × 100 clips of ~30 s).

Tasks (the key in results is ``gtzan/<task>``):

* ``filtered`` (default; protocol ``gtzan/fault-filtered``): the artist-filtered lists of
  Kereliuk, Sturm & Larsen 2015 (443 train / 197 valid / 290 test; 70 clips excluded), shipped in
  ``splits/gtzan/``. Hyperparameters are chosen on valid, the model is refit on train
  (``refit="train+valid"`` by option) and scored on test.
* ``stratified`` (protocol ``gtzan/stratified-lists-NOT-artist-filtered``): the plain 50/25/25
  per-genre lists of all 1000 clips from dnn-mgr; artists leak between the parts. A contrast only.
* ``stratified_10fold`` (protocol ``gtzan/stratified-<k>fold-NOT-artist-filtered``): seeded
  stratified k-fold (``k=10``, ``seed=0``) over all 1000 clips; leaks artists too.

Length policy: the study's 350000 samples at 12 kHz (29.17 s), cropped from the start; the few shorter clips
are zero-padded; one length (29.17 s) for every input kind: the study's 12-kHz log-mel front-ends read 1 +
350000 // 256 = 1368 frames, where its spectrogram inputs were 1376 frames (352000 samples: 0.6 % more audio;
its VGG maps 344×48 / 86×16, here 342×48 / 85×16); front-ends at other rates read the same 29.17 s. ``.wav``
(the lists' names) or the original ``.au`` files are read.
A partial copy (say ``gtzan_mini``) needs ``partial=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.guards import DEFAULT_K, file_dataset, locate, refuse_unused, stratified_folds
from rwbench.protocol import FixedSplit, Protocol, Refit

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
PARTS = ("train", "valid", "test")
MUSIC_SECONDS = 350000 / 12000  # the study's waveform input: 350000 samples at 12 kHz
ROOTS = ("genres", "", "genres_original", "Data/genres_original", "gtzan_genre/genres")
EXTENSIONS = (".wav", ".au")
LISTS = {"filtered": "filtered", "stratified": "stratified", "stratified_10fold": "stratified"}
PROTOCOLS: dict[str, Callable[[dict[str, Any]], Protocol]] = {
    "filtered": lambda o: FixedSplit("gtzan/fault-filtered", refit=o["refit"]),
    "stratified": lambda o: FixedSplit("gtzan/stratified-lists-NOT-artist-filtered", refit=o["refit"]),
    "stratified_10fold": lambda o: stratified_folds(  # named by its k (the task's name is its default, 10)
        "gtzan", o["k"], o["seed"], protocol_id=f"gtzan/stratified-{o['k'] or DEFAULT_K}fold-NOT-artist-filtered"),
}


def split_list(kind: str, part: str) -> list[str]:
    """The shipped list ``{part}_{kind}.txt``: paths relative to ``genres/``."""
    text = (resources.files("rwbench.datasets") / "splits" / "gtzan" / f"{part}_{kind}.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def resolve(genres: Path, entry: str) -> Path:
    """The file for a list entry: its ``.wav`` name, else the same stem with another extension."""
    listed = genres / entry
    for ext in EXTENSIONS:
        candidate = listed.with_suffix(ext)
        if candidate.is_file():
            return candidate
    return listed


def listed_clips(genres: Path, kind: str, *, with_split: bool) -> list[Clip]:
    clips = []
    for part in PARTS:
        for entry in split_list(kind, part):
            clips.append(Clip(entry, entry.split("/")[0], resolve(genres, entry), split=part if with_split else None))
    return clips


@register_dataset(
    name="gtzan",
    description="GTZAN music genre, 10 genres x 100 clips of 30 s",
    protocol="fault-filtered train/valid/test lists (Kereliuk et al. 2015): select on valid, refit on train, "
             "report test; tasks 'stratified' and 'stratified_10fold' are NOT artist-filtered contrasts",
    tasks=tuple(PROTOCOLS),
    default_tasks=("filtered",),
    source="Tzanetakis & Cook 2002; filtered lists from jongpillee/music_dataset_split (MIT)",
    needs_root=True,
)
def load_gtzan(root: Path, *, task: str | None = None, refit: Refit | None = None, k: int | None = None,
               seed: int | None = None, **options) -> Dataset:
    """GTZAN from ``root`` (the folder holding ``genres/``, or ``genres/`` itself)."""
    task = task or "filtered"
    if task == "stratified_10fold":
        refuse_unused("gtzan/stratified_10fold", "refit applies to the tasks of a train/valid/test split", refit=refit)
    else:
        refuse_unused(f"gtzan/{task}", "k and seed apply to task stratified_10fold", k=k, seed=seed)
    genres = locate(Path(root), ROOTS, lambda p: any((p / g).is_dir() for g in GENRES), dataset="gtzan",
                    expect="genres/<genre>/<genre>.000NN.wav (or the genres folder itself)")
    clips = listed_clips(genres, LISTS[task], with_split=task != "stratified_10fold")
    protocol = PROTOCOLS[task]({"refit": refit or "train", "k": k, "seed": seed})
    return file_dataset("gtzan", task, clips, protocol, root=genres, seconds=MUSIC_SECONDS, pad="zero",
                        classes=GENRES, **options)
