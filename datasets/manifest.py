"""Any dataset described by a CSV manifest: one row per clip with ``path`` and ``label``.

``path`` (or ``filename``/``file``) is relative to the manifest's folder (absolute paths work too).
Optional columns choose the protocol: ``fold`` (integers; protocol ``csv/folds``: each fold is the
test fold once, the inner CV leaves out one training fold) or ``split`` (train/valid/test;
protocol ``csv/split``: select on valid, refit on ``refit``, report test). With neither, a seeded
stratified k-fold (``k``, ``seed``; protocol ``csv/stratified-<k>fold``). With both, ``use="fold"``
or ``use="split"`` picks one. An optional ``group`` column (source recording, speaker) keeps each
group on one side of every split the loader draws (stratified k-fold); with ``fold`` or ``split`` the
manifest's own assignment is used, and a group on both sides of it is warned about and recorded.
``classes`` checks the labels.

The manifest is ``manifest`` (default ``manifest.csv``) in the root, or an absolute path; the
result key is ``csv/<name>`` (``name`` option, default the manifest's stem). Length policy:
``seconds`` (default 10) cropped from the start, ``pad`` "zero" (default) or "repeat".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from rwbench.audio import PadMode
from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.errors import DataError
from rwbench.guards import (
    MISSING_LABELS,
    file_dataset,
    group_straddles,
    read_table,
    refuse_unused,
    repeated_entries,
    stratified_folds,
    to_int,
)
from rwbench.protocol import FixedSplit, PredefinedFolds, Protocol, Refit

log = logging.getLogger(__name__)

PATH_COLUMNS = ("path", "filename", "file")
SPLITS = ("train", "valid", "test")


def path_column(table: pd.DataFrame, manifest: Path) -> str:
    for column in PATH_COLUMNS:
        if column in table.columns:
            return column
    raise DataError(f"csv: {manifest} needs a path column (one of {list(PATH_COLUMNS)}); it has {list(table.columns)}")


def refuse_misspelt(table: pd.DataFrame, manifest: Path) -> None:
    """A column that spells one rwbench reads otherwise (``Fold``, ``split ``, ``groups``) is an error: ignored, the
    manifest's folds or groups would give way to seeded stratified folds, which leak sources across a split."""
    read = ("fold", "split", "group")  # (a missing path or label column is an error of its own, naming the columns)
    for column in map(str, table.columns):
        spelt = column.strip().casefold()
        if (known := next((k for k in read if spelt in (k, k + "s")), None)) and column != known \
                and known not in table.columns:
            raise DataError(f"csv: {manifest} has a column {column!r}, which rwbench would ignore: it reads {known!r} "
                            "(lower case, singular); rename the column")


def choose(table: pd.DataFrame, use: str | None, manifest: Path) -> str | None:
    """Which column sets the protocol: "fold", "split" or None (stratified k-fold)."""
    present = [c for c in ("fold", "split") if c in table.columns]
    if use is not None and use not in present:
        raise DataError(f"csv: use={use!r} but {manifest} has no {use!r} column")
    if use is None and len(present) == 2:
        raise DataError(f"csv: {manifest} has both 'fold' and 'split' columns; pass use='fold' or use='split'")
    return use or (present[0] if present else None)


def row_clip(row: dict, base: Path, column: str, by: str | None, where: str) -> Clip:
    listed = row[column].strip()  # "a.wav " is a.wav, as a label's stray space is stripped
    if not listed:
        raise DataError(f"{where}: the {column!r} cell is empty; list a file or remove the row")
    path = Path(listed)
    fold = to_int(row["fold"], what="fold", where=where) if by == "fold" else None
    split = row["split"].strip().lower() if by == "split" else None
    if split is not None and split not in SPLITS:
        raise DataError(f"{where}: split {row['split']!r} is not one of {list(SPLITS)}")
    group = (row.get("group") or "").strip() or None
    label = row["label"].strip()  # "dog " is "dog": a stray space must not make a class of its own
    if label in MISSING_LABELS:  # R writes a missing label as NA, Excel as #N/A: not a class
        raise DataError(f"{where}: the label {label!r} spells a missing value (pandas reads it as one); label the "
                        "clip or remove the row; a class of that name needs another (e.g. 'no_event')")
    return Clip(listed, label, path if path.is_absolute() else base / path, fold, split, group)


@register_dataset(
    name="csv",
    description="any dataset listed in a CSV manifest (path, label, optional fold / split / group)",
    protocol="the manifest's folds or train/valid/test split; else seeded stratified k-fold",
    source="",
    needs_root=True,
)
def load_csv(root: Path, *, task: str | None = None, manifest: str = "manifest.csv", use: str | None = None,
             refit: Refit | None = None, k: int | None = None, seed: int | None = None, seconds: float = 10.0,
             pad: PadMode = "zero",
             classes: Sequence[str] | None = None, name: str | None = None, **options) -> Dataset:
    """The dataset listed by ``root/manifest``."""
    path = Path(manifest) if Path(manifest).is_absolute() else Path(root) / manifest
    table = read_table(path, ("label",), dataset="csv")
    refuse_misspelt(table, path)
    column, by = path_column(table, path), choose(table, use, path)
    lines = list(table.index)  # the file's line numbers (blank lines skipped)
    clips = [row_clip(row, path.parent, column, by, f"{path}:{line}") for line, row in zip(lines, table.to_dict("records"))]
    same_file = repeated_entries([str(c.path.resolve()) if c.path else c.id for c in clips], "csv", path,
                                 what="file(s) are", lines=lines)
    if same_file:  # one recording on both sides of a split would leak it
        raise DataError(same_file)
    holes = [i for i, c in enumerate(clips) if c.group is None]
    if by is None and 0 < len(holes) < len(clips):  # stratified k-fold groups all clips or none: never some
        raise DataError(f"csv: {len(holes)} of the {len(clips)} rows of {path} have no group (first: line "
                        f"{lines[holes[0]]}, {clips[holes[0]].id}) while the others have one; the folds would ignore "
                        f"every group and leak a source across train and test. Fill the group column, or drop it")
    info = split_straddles(clips, path) if by == "split" else {}
    if by is not None:
        refuse_unused("csv", f"the manifest's {by} column fixes the folds", k=k, seed=seed)
    if by != "split":
        refuse_unused("csv", "refit applies to a train/valid/test split (a split column)", refit=refit)
    protocols: dict[str | None, Callable[[], Protocol]] = {
        "fold": lambda: PredefinedFolds("csv/folds", keyed_assignment=True),
        "split": lambda: FixedSplit("csv/split", refit=refit or "train", keyed_assignment=True),
        None: lambda: stratified_folds("csv", k, seed)}
    return file_dataset("csv", task or name or path.stem, clips, protocols[by](), root=path.parent, seconds=seconds,
                        pad=pad, classes=tuple(classes) if classes is not None else None, listed_in=path,
                        clip_chosen=True, info=info, **options)


def split_straddles(clips: Sequence[Clip], path: Path) -> dict:
    """``{"group_straddles": {group: parts}}`` for the groups found in more than one of train / valid / test (warned:
    clips of one source on both sides leak into the test or selection score), or ``{}`` (folds are checked by
    :func:`rwbench.guards.file_dataset`)."""
    straddles = group_straddles(clips, part="split")
    if not straddles:
        return {}
    group, where = next(iter(straddles.items()))
    log.warning("csv: %s: %d group(s) sit in more than one of train/valid/test (e.g. %r in %s): clips of one source "
                "on both sides leak into the test (or selection) score; recorded in the result", path,
                len(straddles), group, " and ".join(where))
    return {"group_straddles": straddles}
