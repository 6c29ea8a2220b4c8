"""Evaluation protocols: which clips train, select and test in each outer split.

Every protocol yields :class:`OuterSplit` objects with absolute clip indices. Hyperparameters are
chosen on ``inner`` (pairs of fit/validate indices drawn from the outer training side only), the
chosen model is refit on ``train`` and scored once on ``test``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from .errors import DataError

if TYPE_CHECKING:
    from .datamodel import Clip


@dataclass(frozen=True)
class OuterSplit:
    name: str
    train: np.ndarray  # refit on these
    test: np.ndarray  # scored once
    inner: tuple[tuple[np.ndarray, np.ndarray], ...]  # (fit, validate) pairs, all inside the training side

    @property
    def search(self) -> np.ndarray:
        """Every index the hyperparameter search may look at."""
        return np.unique(np.concatenate([np.concatenate(pair) for pair in self.inner]))


FIXED_SPLIT_TEST = "test"  # a fixed split's one outer split


def fold_name(fold: int) -> str:
    """The name of the outer split that tests fold ``fold``."""
    return f"fold{fold}"


def outer_split_names(described: dict) -> list[str] | None:
    """The outer splits a protocol's :meth:`describe` output has, by name (None: a description that does not say, as
    a foreign or older one)."""
    if described.get("kind") == "fixed_split":
        return [FIXED_SPLIT_TEST]
    if described.get("kind") in ("predefined_folds", "stratified_folds") and isinstance(described.get("folds"), list):
        return [fold_name(fold) for fold in described["folds"]]
    return None


@dataclass(frozen=True)
class PredefinedFolds:
    """Official folds (``clip.fold``): each fold is the test set once; the inner CV leaves out one
    *training* fold at a time, so clips of one source recording never straddle an inner split.
    :meth:`describe` (part of every result's key) carries which clip is in which fold, so that folds edited under the
    same name (a corrected metadata file) are other data: a digest of the assignment, or, with ``keyed_assignment``
    (the user's folds: a folds file, a manifest's column), the assignment itself, to say which clips moved; nothing
    with ``ids_spell_assignment``, where a loader's fixed rule reads each fold from the clip id (ESC-50's ``3-…``
    prefix, UrbanSound8K's ``fold3/``), which the fingerprint keys already."""

    id: str
    keyed_assignment: bool = False
    ids_spell_assignment: bool = False

    def folds(self, clips: Sequence[Clip]) -> np.ndarray:
        folds = np.array([c.fold for c in clips])
        if any(f is None for f in folds):
            raise DataError(f"protocol {self.id}: some clips have no fold")
        return folds.astype(int)

    def splits(self, clips: Sequence[Clip]) -> list[OuterSplit]:
        folds = self.folds(clips)
        present = np.unique(folds)
        if len(present) < 3:
            raise DataError(f"protocol {self.id}: nested CV needs at least 3 folds, found {present.tolist()}")
        out = []
        for test_fold in present:
            train = np.flatnonzero(folds != test_fold)
            inner = tuple(
                (np.flatnonzero((folds != test_fold) & (folds != f)), np.flatnonzero(folds == f))
                for f in present if f != test_fold
            )
            out.append(OuterSplit(fold_name(test_fold), train, np.flatnonzero(folds == test_fold), inner))
        return out

    def describe(self, clips: Sequence[Clip]) -> dict:
        folds = self.folds(clips).tolist()
        return {"id": self.id, "kind": "predefined_folds", "folds": sorted(set(folds)),
                **assignment_key(dict(zip([c.id for c in clips], folds)), self)}


@dataclass(frozen=True)
class StratifiedFolds(PredefinedFolds):
    """Seeded stratified k-fold over the clips sorted by id (grouped when clips carry a group)."""

    k: int = 10
    seed: int = 0

    def folds(self, clips: Sequence[Clip]) -> np.ndarray:
        from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold  # here: `rwbench list` stays light

        order = sorted(range(len(clips)), key=lambda i: clips[i].id)
        labels = [clips[i].label for i in order]
        groups = [clips[i].group for i in order]
        if all(g is not None for g in groups):
            cv = StratifiedGroupKFold(self.k, shuffle=True, random_state=self.seed)
            parts = cv.split(order, labels, groups)
        else:
            parts = StratifiedKFold(self.k, shuffle=True, random_state=self.seed).split(order, labels)
        folds = np.zeros(len(clips), dtype=int)
        for fold, (_, test) in enumerate(parts, start=1):
            folds[np.asarray(order)[test]] = fold
        return folds

    def describe(self, clips: Sequence[Clip]) -> dict:
        folds = self.folds(clips).tolist()
        return {"id": self.id, "kind": "stratified_folds", "folds": sorted(set(folds)), "k": self.k, "seed": self.seed,
                "assignment": dict(zip([c.id for c in clips], folds))}



Refit = Literal["train", "train+valid"]  # what a fixed split's chosen model is refit on


@dataclass(frozen=True)
class FixedSplit:
    """One train/valid/test split (``clip.split``): select on valid, refit on train (or
    train+valid), report test."""

    id: str
    refit: Refit = "train"
    keyed_assignment: bool = False  # as PredefinedFolds': the split is the user's, describe() lists each clip's
    ids_spell_assignment: bool = False  # as PredefinedFolds': the clip ids say each clip's side (else a digest)

    def __post_init__(self) -> None:
        if self.refit not in get_args(Refit):  # a dataset option: any other value would refit on train+valid unsaid
            raise DataError(f"protocol {self.id}: refit must be 'train' or 'train+valid', not {self.refit!r}")

    def splits(self, clips: Sequence[Clip]) -> list[OuterSplit]:
        split = np.array([c.split for c in clips])
        if stray := [c for c in clips if c.split not in ("train", "valid", "test")]:  # on no side: never scored
            raise DataError(f"protocol {self.id}: {len(stray)} clip(s) have a split that is not train, valid or test, "
                            f"e.g. {stray[0].id} ({stray[0].split!r}); every clip needs one of the three")
        idx = {name: np.flatnonzero(split == name) for name in ("train", "valid", "test")}
        for name, members in idx.items():
            if len(members) == 0:
                raise DataError(f"protocol {self.id}: the {name} split is empty")
        train = idx["train"] if self.refit == "train" else np.concatenate([idx["train"], idx["valid"]])
        return [OuterSplit(FIXED_SPLIT_TEST, np.sort(train), idx["test"], ((idx["train"], idx["valid"]),))]

    def describe(self, clips: Sequence[Clip]) -> dict:
        counts = {s: sum(c.split == s for c in clips) for s in ("train", "valid", "test")}
        # the same counts with other clips on each side (edited list files) are another split
        return {"id": self.id, "kind": "fixed_split", "refit": self.refit, "counts": counts,
                **assignment_key({c.id: c.split for c in clips}, self)}


def assignment_key(assignment: dict[str, Any], protocol: PredefinedFolds | FixedSplit) -> dict[str, Any]:
    """What a protocol's :meth:`describe` says of which clip is on which side (``assignment``: clip id → fold or
    split): the assignment, its sha256, or nothing where the clip ids spell it."""
    if protocol.keyed_assignment:
        return {"assignment": assignment}
    if protocol.ids_spell_assignment:
        return {}
    return {"assignment_sha256": hashlib.sha256(json.dumps(assignment, sort_keys=True).encode()).hexdigest()}


Protocol = PredefinedFolds | FixedSplit


def rows_of(split: OuterSplit, clip_index: np.ndarray) -> OuterSplit:
    """The split over window rows: every window goes where its clip goes."""
    def rows(clips: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(clip_index, clips))

    return OuterSplit(split.name, rows(split.train), rows(split.test),
                      tuple((rows(fit), rows(val)) for fit, val in split.inner))


def keep_rows(split: OuterSplit, keep: np.ndarray) -> OuterSplit:
    """The split without the rows where ``keep`` is False (clips skipped as unreadable)."""
    def kept(indices: np.ndarray) -> np.ndarray:
        return indices[keep[indices]]

    return OuterSplit(split.name, kept(split.train), kept(split.test),
                      tuple((kept(fit), kept(val)) for fit, val in split.inner))
