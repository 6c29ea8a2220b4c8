"""Layout and audio guards shared by the dataset loaders.

Every problem names the file and the fix. Bad audio (empty, truncated, not audio, too short) is
an error unless ``skip_bad_audio=True``, which leaves the file out and records it in
``Dataset.skipped``. Files listed by a split list or metadata file but absent from disk are an
error unless ``partial=True``, which runs on what is present, warns, and records the missing count
in ``Dataset.info["partial"]`` (the folds or split counts used are in the protocol description).
Exact-duplicate audio across train and test of an outer split is reported, not removed.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import itertools
import logging
import math
import os
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import audio
from .audio import PadMode
from .datamodel import Clip, Dataset
from .errors import DataError
from .filehash import file_digests, sha1_of
from .fileio import atomic_path
from .protocol import PredefinedFolds, Protocol, StratifiedFolds

log = logging.getLogger(__name__)

BAD_AUDIO_FIX = ("re-download or replace the file, or pass skip_bad_audio=True (--skip-bad-audio) to leave it out; "
                 "skipped files are recorded in the result")
COMMON_OPTIONS = ("skip_bad_audio", "min_seconds", "check_duplicates", "partial")
# Shorter files cannot be a real recording (one period of 100 Hz). A dataset's own short clips (UrbanSound8K has
# slices of 0.05 s) are lengthened by its length policy, not refused.
MIN_SECONDS = 0.01
# the strings pandas.read_csv reads as missing by default (its documentation's list, less the empty string, which is
# refused on its own): a label spelt so was a missing value in the tool that wrote the file (R writes NA), not a class
MISSING_LABELS = frozenset({"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                            "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
DEFAULT_K, DEFAULT_SEED = 10, 0  # seeded stratified folds where a dataset has no official ones
UNSET_DEFAULTS = {"k": DEFAULT_K, "seed": DEFAULT_SEED}  # what an option left None stands for, where one value does


# -- loader options ------------------------------------------------------------------------------

# the options every file dataset takes (through a loader's **options), as annotations
COMMON_OPTION_TYPES = {"skip_bad_audio": "bool", "min_seconds": "float", "check_duplicates": "bool", "partial": "bool"}
_KINDS = {"int": "an integer", "float": "a number", "bool": "True or False", "str": "a string", "Path": "a path",
          "None": "None"}


def literal(text: str) -> object:
    """``text`` as the Python literal it reads as (8, 0.5, True), else the string itself (a --dataset-option value)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def typed_option(dataset: str, build: Callable, key: str, value: object, text: str) -> object:
    """A loader option (``--dataset-option key=text``, ``value`` the text read as a Python literal) checked against
    the loader's annotation of ``key`` (int, float, bool, str, Path, None or a union of them; any other annotation
    and unknown keys are left to the loader): the value to pass, or a :class:`DataError` naming the option and the
    type it takes."""
    try:
        param = inspect.signature(build).parameters.get(key)
    except (TypeError, ValueError):
        return value
    if param is not None and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
        annotation, default = param.annotation, param.default
    elif key in COMMON_OPTION_TYPES:
        annotation, default = COMMON_OPTION_TYPES[key], inspect.Parameter.empty
    else:
        return value
    names = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    kinds = [n.strip() for n in str(names).split("|")]
    if "Sequence[str]" in kinds:  # classes=dog,cat or classes=['dog','cat']: names, never a string's characters
        if value is None and "None" in kinds:
            return None
        items = value if isinstance(value, (list, tuple)) else text.split(",")
        names_given = tuple(str(v).strip() for v in items if str(v).strip())
        if not names_given:
            raise DataError(f"dataset {dataset!r}: --dataset-option {key} takes comma-separated names (dog,cat), "
                            f"got {text!r}")
        return names_given
    if not kinds or any(k not in _KINDS for k in kinds):
        return value
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ("int" in kinds and isinstance(value, int) and not isinstance(value, bool)) or ("float" in kinds and is_number) \
            or ("bool" in kinds and isinstance(value, bool)) or ("None" in kinds and value is None):
        return value
    if "float" in kinds and isinstance(value, str):
        try:
            return float(text)  # nan, inf: refused by the option's own range check, which names them
        except ValueError:
            pass
    if "str" in kinds or "Path" in kinds:  # 2019, True: the text as typed
        return text
    if default is None and len(kinds) > 1:  # None: "not given" (the protocol's own default applies), not a value to type
        kinds = [k for k in kinds if k != "None"]
        default = UNSET_DEFAULTS.get(key)
    expected = " or ".join(_KINDS[k] for k in kinds)
    example = f" (default {key}={default!r})" if default is not inspect.Parameter.empty and default is not None else ""
    raise DataError(f"dataset {dataset!r}: --dataset-option {key} takes {expected}{example}, got {text!r}")


# -- layout ------------------------------------------------------------------------------------

def listing(folder: Path, n: int = 8) -> str:
    """The first ``n`` entries of ``folder``, for error messages."""
    if not folder.is_dir():
        return "(not a folder)"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return ", ".join(names[:n]) + (f", ... ({len(names)} entries)" if len(names) > n else "") or "(empty)"


def locate(root: Path, candidates: Sequence[str], is_match: Callable[[Path], bool], *, dataset: str,
           expect: str) -> Path:
    """The first ``root/candidate`` (``""`` = root itself) that ``is_match``; otherwise a
    :class:`DataError` saying what was expected under ``root`` and what is there."""
    for candidate in candidates:
        path = root / candidate if candidate else root
        if path.is_dir() and is_match(path):
            return path
    raise DataError(f"{dataset}: {root} does not look like the dataset's root: expected {expect}; "
                    f"found {listing(root)}. Point --data-root at the folder that holds it")


def read_lines(path: Path, **read_csv) -> pd.DataFrame:
    """``path`` read by :func:`pandas.read_csv` as strings, indexed by the file's line numbers (a quoted field over
    several lines shifts those after it); blank rows are dropped after numbering (pandas' own skipping of blank
    lines would shift the numbers). Raises pandas' errors."""
    with path.open("rb") as file:  # blank lines before the header: pandas keeping blank lines reads none as one
        head = sum(1 for _ in itertools.takewhile(lambda line: not line.strip(), file))
    table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, skiprows=head, **read_csv)
    table.index = table.index + head + 2  # after the header line
    maybe = table[table.iloc[:, 0].str.strip() == ""]  # a row is blank only if its first field is (fast on wide files)
    return table.drop(maybe.index[(maybe.apply(lambda column: column.str.strip()) == "").all(axis=1)])


def read_table(path: Path, required: Sequence[str], *, dataset: str) -> pd.DataFrame:
    """A CSV as strings, indexed by line number (:func:`read_lines`), with its ``required`` columns checked."""
    if not path.is_file():
        raise DataError(f"{dataset}: metadata file {path} not found; found {listing(path.parent)} in {path.parent}")
    try:
        table = read_lines(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{dataset}: cannot read {path} as CSV: {err}") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{dataset}: {path} lacks column(s) {missing}; it has {list(table.columns)}")
    return table


def to_int(value: str, *, what: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(f"{where}: {what} {value!r} is not an integer") from None


def check_labels(clips: Iterable[Clip], classes: Iterable[str], *, dataset: str) -> None:
    """Every label must be one of the dataset's ``classes``."""
    known = set(classes)
    for clip in clips:
        for label in clip.tags or (clip.label,):
            if label not in known:
                raise DataError(f"{dataset}: {clip.path or clip.id} has unknown label {label!r}; "
                                f"{dataset} classes are {sorted(known)}. Fix the metadata or move the file out")


def class_folder_files(root: Path, class_of: Callable[[str], str | None], *, dataset: str,
                       extensions: Sequence[str] = audio.AUDIO_EXTENSIONS) -> list[tuple[Path, str]]:
    """``(file, label)`` for every audio file under ``root/<class folder>/`` (recursively), sorted.

    ``class_of`` maps a folder name to its label, or None for a folder that is not a known class:
    such a folder holding audio is an error, and so is audio directly in ``root``, outside every class folder
    (hidden folders and ``__MACOSX``, at any depth, are ignored).
    """
    loose = sorted(f.name for f in root.iterdir() if f.is_file() and f.suffix.lower() in extensions
                   and not f.name.startswith("."))
    if loose:
        raise DataError(f"{dataset}: {len(loose)} audio file(s) lie directly in {root}, outside every class folder "
                        f"(first: {loose[0]}); the label is the class folder's name: move them into one, or out of "
                        f"{root}")
    out: list[tuple[Path, str]] = []
    unread: list[Path] = []
    empty: list[str] = []
    broken: list[Path] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not ignored_folder(p.name)):
        entries = [f for f in entries_below(folder) if not f.name.startswith(".")]
        broken += [f for f in entries if f.is_symlink() and not f.exists()]
        entries = [f for f in entries if f.exists()]
        files = sorted(f for f in entries if f.suffix.lower() in extensions)
        label = class_of(folder.name)
        if label is None and files:
            raise DataError(f"{dataset}: {folder} holds audio but {folder.name!r} is not a known class folder; "
                            f"move it out of {root}")
        out += [(f, label) for f in files if label is not None]  # None: no files (or raised above)
        empty += [folder.name] if label is not None and not files else []
        unread += [f for f in entries if f.suffix.lower() not in extensions and not f.is_dir()] if label is not None else []
    if broken:  # not a "missing listed file": nothing lists a class folder's files
        raise DataError(f"{dataset}: {len(broken)} broken symbolic link(s) in the class folders of {root} (first: "
                        f"{broken[0]} → {os.readlink(broken[0])}, which does not exist): restore their targets or "
                        "remove the links")
    if unread:  # a format left out is said, never dropped unsaid (a .caf or .w64 take is audio to its owner)
        kinds = sorted({f.suffix.lower() or "(none)" for f in unread})
        log.warning("%s: %d file(s) in the class folders of %s are not read as clips (extension(s) %s; first: %s): "
                    "rwbench reads %s; convert them (e.g. to FLAC) or move them out", dataset, len(unread), root,
                    ", ".join(kinds), unread[0], " ".join(extensions))
    if empty and out:  # a class copied halfway (or not yet): its folder is no class, and a task of fewer classes
        log.warning("%s: %d class folder(s) of %s hold no audio file, so they are no class of this dataset: %s",
                    dataset, len(empty), root, ", ".join(empty))
    if not out:
        raise DataError(f"{dataset}: no audio files ({', '.join(extensions)}) in the class folders of {root}; "
                        f"found {listing(root)}")
    return out


def ignored_folder(name: str) -> bool:
    """A folder no dataset reads: hidden, the ``__MACOSX`` of a zip made on a Mac, Python's ``__pycache__``. Any
    other (``__other__`` too) is read: a class folder is a class, whatever its name."""
    return name.startswith(".") or name in ("__MACOSX", "__pycache__")


def entries_below(folder: Path) -> list[Path]:
    """Every file and folder under ``folder``, through linked folders too (``Path.rglob`` does not follow them before Python
    3.13: their audio would be left out unsaid); :func:`ignored_folder` ones are skipped, and a link back to a folder
    above it is an error, not a loop."""
    out: list[Path] = []
    above: dict[Path, tuple[str, ...]] = {folder: (os.path.realpath(folder),)}
    for top, dirs, names in os.walk(folder, followlinks=True):
        chain = above[Path(top)]
        dirs[:] = sorted(d for d in dirs if not ignored_folder(d))
        for d in dirs:
            real = os.path.realpath(os.path.join(top, d))
            if real in chain:
                raise DataError(f"{Path(top) / d} links back to {real}, a folder above it: remove the link")
            above[Path(top) / d] = (*chain, real)
        out += [Path(top) / name for name in (*dirs, *names)]  # a folder named x.wav is then named as bad audio
    return out


# -- presence, audio checks ----------------------------------------------------------------------

def label_spellings(clips: list[Clip], field: str = "label") -> dict[str, list[str]]:
    """Labels (or another ``field``: ``group``) that differ only in case or Unicode form (``Dog`` and ``dog``,
    ``café`` composed and decomposed): the folded value → its spellings, where there are several."""
    spelt: dict[str, set[str]] = {}
    for value in (getattr(clip, field) for clip in clips):
        if isinstance(value, str):
            spelt.setdefault(unicodedata.normalize("NFKC", value).casefold(), set()).add(value)
    return {folded: sorted(values) for folded, values in sorted(spelt.items()) if len(values) > 1}


def present(clips: list[Clip], *, partial: bool, dataset: str, root: Path | None) -> tuple[list[Clip], dict]:
    """The listed clips whose file exists; missing ones are an error unless ``partial``."""
    missing = [c for c in clips if c.path is not None and not c.path.exists()]
    if not missing:
        return clips, {}
    gone = {c.id for c in missing}
    kept = [c for c in clips if c.id not in gone]
    info = {"listed": len(clips), "present": len(kept), "missing": len(missing),
            "missing_examples": [c.id for c in missing[:10]]}
    if not kept:
        raise DataError(f"{dataset}: none of the {len(clips)} listed files is under {root} "
                        f"(first expected: {missing[0].path}). Check --data-root")
    if not partial:
        raise DataError(f"{dataset}: {len(missing)} of {len(clips)} listed files are missing under {root} "
                        f"(first: {missing[0].path}). Restore them, or pass partial=True (--partial) to run on "
                        f"the {len(kept)} present, with a warning and the folds/splits used recorded in the result")
    log.warning("%s: partial copy: %d of %d listed files are missing under %s (first: %s); running on the %d present",
                dataset, len(missing), len(clips), root, missing[0].id, len(kept))
    return kept, info


def audio_problem(clip: Clip, *, min_seconds: float) -> str | None:
    """Why the clip's file cannot be used (cheap header checks), or None."""
    try:
        info = audio.probe(clip.file)
    except DataError as err:
        return str(err)
    if info.seconds < min_seconds:
        return f"{clip.path} is too short: {info.seconds:.3f} s < min_seconds={min_seconds:g}"
    return None


def screen(clips: list[Clip], *, skip_bad_audio: bool, min_seconds: float,
           dataset: str) -> tuple[list[Clip], list[dict]]:
    """Check every file's header; bad ones are an error, or left out and returned when skipping."""
    bad = {c.id: r for c in clips if c.path is not None and (r := audio_problem(c, min_seconds=min_seconds))}
    if bad and not skip_bad_audio:
        first = next(iter(bad.values()))
        more = f" (and {len(bad) - 1} more bad file(s): {', '.join(list(bad)[1:6])})" if len(bad) > 1 else ""
        raise DataError(f"{dataset}: bad audio: {first}{more}. Fix: {BAD_AUDIO_FIX}")
    skipped = [{"clip": c.id, "path": str(c.path), "reason": bad[c.id]} for c in clips if c.id in bad]
    for row in skipped:
        log.warning("%s: skipping %s: %s", dataset, row["clip"], row["reason"])
    return [c for c in clips if c.id not in bad], skipped


# -- groups and duplicates -----------------------------------------------------------------------

def group_straddles(clips: Sequence[Clip], part: Literal["fold", "split"] = "fold") -> dict[str, list]:
    """Groups (source recordings, speakers) whose clips sit in more than one predefined fold (or ``part="split"``:
    more than one of a fixed split's train / valid / test)."""
    parts: dict[str, set] = defaultdict(set)
    for c in clips:
        if c.group is not None and getattr(c, part) is not None:
            parts[c.group].add(getattr(c, part))
    return {g: sorted(p) for g, p in sorted(parts.items()) if len(p) > 1}


def content_hash(clip: Clip, *, by: Literal["bytes", "samples"] = "bytes") -> str:
    """sha1 of the file's bytes, or of its decoded samples (catches re-encoded headers too)."""
    if by == "samples":
        data, rate = audio.read(clip.file)
        return hashlib.sha1(data.tobytes() + str(rate).encode()).hexdigest()
    return sha1_of(clip.file)


def content_hashes(dataset: Dataset, by: Literal["bytes", "samples"] = "bytes") -> list[str | None]:
    """Each clip's content hash (None for generated clips)."""
    if by == "bytes":
        digests = iter(file_digests([c.path for c in dataset.clips if c.path is not None]))
        return [next(digests) if c.path is not None else None for c in dataset.clips]
    return [content_hash(c, by=by) if c.path is not None else None for c in dataset.clips]


def inner_duplicates(dataset: Dataset, hashes: list[str | None]) -> list[dict]:
    """Exact-duplicate audio shared by the fit and validation parts of an inner split (each pair once, with the
    first outer split it is found in), with a warning: selection then scores clips it was fit on."""
    rows, seen = [], set()
    for split in dataset.splits():
        for fit, validation in split.inner:
            in_validation = defaultdict(list)
            for i in validation:
                if hashes[i] is not None:
                    in_validation[hashes[i]].append(i)
            for i in fit:
                for j in in_validation.get(hashes[i], ()):
                    if (i, j) not in seen:
                        seen.add((i, j))
                        rows.append({"split": split.name, "fit": dataset.clips[i].id,
                                     "validation": dataset.clips[j].id, "sha1": hashes[i]})
    if rows:
        log.warning("%s: %d exact-duplicate audio pair(s) straddle an inner fit and validation part (e.g. %s == %s in "
                    "%s); they inflate the selection scores; listed in the result under dataset info "
                    "'inner_duplicates'", dataset.key, len(rows), rows[0]["fit"], rows[0]["validation"], rows[0]["split"])
    return rows


def find_duplicates(dataset: Dataset, *, by: Literal["bytes", "samples"] = "bytes",
                    hashes: list[str | None] | None = None) -> list[dict]:
    """Exact-duplicate audio shared by the training and test side of any outer split, with a warning.

    Returns one row per (split, train clip, test clip) pair with the same content hash.
    """
    hashes = content_hashes(dataset, by) if hashes is None else hashes
    rows = []
    for split in dataset.splits():
        in_test = defaultdict(list)
        for i in split.test:
            if hashes[i] is not None:
                in_test[hashes[i]].append(dataset.clips[i].id)
        for i in split.train:
            for other in in_test.get(hashes[i], ()):
                rows.append({"split": split.name, "train": dataset.clips[i].id, "test": other, "sha1": hashes[i]})
    if rows:
        log.warning("%s: %d exact-duplicate audio pair(s) straddle train and test (e.g. %s == %s in %s); they inflate "
                    "test scores; listed in the result under dataset info 'duplicates'", dataset.key, len(rows),
                    rows[0]["train"], rows[0]["test"], rows[0]["split"])
    return rows


# -- fold files ------------------------------------------------------------------------------------------

def write_folds(dataset: Dataset, path: str | Path) -> Path:
    """Write the fold of every clip (``id,label,fold``) so the folds can be reused with ``folds_file``."""
    path = Path(path)
    if not isinstance(dataset.protocol, PredefinedFolds):
        raise DataError(f"{dataset.key}: protocol {dataset.protocol.id} is a fixed split; it has no folds to write")
    folds = dataset.protocol.folds(dataset.clips)
    table = {"id": [c.id for c in dataset.clips], "label": [c.label for c in dataset.clips], "fold": folds}
    with atomic_path(path) as tmp:
        pd.DataFrame(table).to_csv(tmp, index=False)
    return path


def folds_from_file(clips: list[Clip], path: str | Path, *, dataset: str, partial: bool = False,
                    skip_bad_audio: bool = False, min_seconds: float = MIN_SECONDS) -> tuple[list[Clip], dict]:
    """The clips with the folds of a file written by :func:`write_folds` (every clip must be in it, once, except a
    bad file left out under ``skip_bad_audio``, as it was when the file was written), and ``{"partial": ...}`` when it
    lists clips that are not here: an error unless ``partial``, a cut-down copy."""
    path = Path(path)
    table = read_table(path, ("id", "fold"), dataset=dataset)
    repeated = repeated_entries(list(table["id"]), dataset, path, lines=list(table.index))
    if repeated:  # the later row would silently win
        raise DataError(repeated)
    fold_of = {row["id"]: to_int(row["fold"], what="fold", where=f"{path}:{line}")
               for line, row in zip(table.index, table.to_dict("records"))}
    absent = [c for c in clips if c.id not in fold_of]
    bad = {c.id for c in absent if c.path is not None and audio_problem(c, min_seconds=min_seconds)}
    if unlisted := [c.id for c in absent if not (skip_bad_audio and c.id in bad)]:
        hint = (" (bad audio, as when the file was written with --skip-bad-audio: pass it again)"
                if unlisted[0] in bad else "")
        raise DataError(f"{dataset}: {len(unlisted)} clip(s) are not in the folds file {path} (first: {unlisted[0]}"
                        f"{hint}); write it again with `rwbench folds` (write_folds in Python) without folds_file, "
                        f"which draws every clip's fold anew, or drop folds_file")
    here = {c.id for c in clips}
    gone = [(line, key) for line, key in zip(table.index, table["id"]) if key not in here]
    # a bad file not in the file keeps no fold: screen() leaves it out (the same check) and records it
    clips = [replace(c, fold=fold_of.get(c.id)) for c in clips]
    if not gone:
        return clips, {}
    if not partial:
        raise DataError(f"{dataset}: {len(gone)} of the {len(fold_of)} clips in the folds file {path} are not on disk "
                        f"(first: {gone[0][1]!r} at line {gone[0][0]}): its folds are of another copy. Restore them, "
                        f"or pass partial=True (--partial) to run on the {len(clips)} present (recorded in the result)")
    log.warning("%s: partial copy: %d of the %d clips in the folds file %s are not on disk (first: %s); running on "
                "the %d present", dataset, len(gone), len(fold_of), path, gone[0][1], len(clips))
    info = {"listed": len(fold_of), "present": len(clips), "missing": len(gone),
            "missing_examples": [key for _, key in gone[:10]]}
    return clips, {"partial": info}


def refuse_unused(dataset: str, why: str, **given: object) -> None:
    """Loader options the chosen protocol does not read (``given``: the value, None where not given) are an error
    naming them, never a silent no-op (``k=5`` beside a folds file ran 10 folds' worth of the file's folds)."""
    if named := [key for key, value in given.items() if value is not None]:
        raise DataError(f"{dataset}: --dataset-option {', '.join(named)} has no effect: {why}; drop "
                        f"{'it' if len(named) == 1 else 'them'}")


def stratified_folds(name: str, k: int | None, seed: int | None, protocol_id: str | None = None) -> StratifiedFolds:
    """Seeded stratified k-fold (defaults k = 10, seed 0), named ``protocol_id`` or ``<name>/stratified-<k>fold``."""
    k = DEFAULT_K if k is None else k
    return StratifiedFolds(protocol_id or f"{name}/stratified-{k}fold", k=k, seed=DEFAULT_SEED if seed is None else seed)


def stratified_or_file(name: str, clips: list[Clip], *, k: int | None, seed: int | None,
                       folds_file: str | Path | None,
                       options: dict[str, Any] | None = None) -> tuple[list[Clip], Protocol, dict]:
    """Seeded stratified k-fold, or the folds written in ``folds_file`` (protocol ``<name>/folds-file``; ``k`` and
    ``seed`` given beside it are an error), and the dataset info to record (a folds file listing clips not here, with
    ``partial``: see :func:`folds_from_file`). ``options``: the loader's common options (``partial``,
    ``skip_bad_audio``, ``min_seconds``)."""
    if folds_file is None:
        return clips, stratified_folds(name, k, seed), {}
    refuse_unused(name, "folds_file fixes every clip's fold", k=k, seed=seed)
    protocol = PredefinedFolds(f"{name}/folds-file:{Path(folds_file).name}", keyed_assignment=True)
    options = options or {}
    clips, info = folds_from_file(clips, folds_file, dataset=name, partial=options.get("partial", False),
                                  skip_bad_audio=options.get("skip_bad_audio", False),
                                  min_seconds=options.get("min_seconds", MIN_SECONDS))
    return clips, protocol, info


# -- assembling a file dataset ---------------------------------------------------------------------

def checked(dataset: Dataset, *, partial: bool = False) -> Dataset:
    """``dataset``, its classes and protocol checked (:func:`check_classes`, :func:`check_protocol`) once, however it
    was made: a file loader's, a plugin's own, or one built in Python and passed to :func:`rwbench.api.run`."""
    if not dataset.checked:
        check_classes(dataset)
        check_protocol(dataset, partial=partial)
        dataset.checked = True
    return dataset


def check_protocol(dataset: Dataset, *, partial: bool = False) -> None:
    """Build the outer splits once now, so a protocol that cannot run fails at load time (and one the task type
    cannot score fairly: refused, or for a ``partial`` copy warned about and recorded)."""
    try:
        splits = dataset.splits()
    except ValueError as err:  # scikit-learn: too few clips per class for k folds, ...
        raise DataError(f"{dataset.key}: protocol {dataset.protocol.id} cannot split these "
                        f"{len(dataset.clips)} clips: {err}") from err
    dataset.kind.check_splits(dataset, splits, partial=partial)


def coverage(clips: Sequence[Clip], *, dataset: str, official_folds: Sequence[int] | None,
             classes: Sequence[str] | None, partial: bool = False) -> dict:
    """Folds and classes actually present. An official fold or a class with no clips makes another protocol or task
    than the dataset's (UrbanSound8K's name on 3 of its 10 folds; ESC-50's on ESC-10's 10 classes): an error unless
    ``partial``, then a warning and ``folds_absent`` / ``classes_absent`` recorded (a reproduction judges no
    agreement on them)."""
    info: dict = {}
    if official_folds is not None:
        used = sorted({c.fold for c in clips if c.fold is not None})
        info["folds_used"] = used
        absent = sorted(set(official_folds) - set(used))
        if absent and not partial:
            raise DataError(f"{dataset}: official folds {absent} have no clips here (folds present: {used}): its "
                            f"protocol is {len(official_folds)} folds, and a score on fewer is not {dataset}'s. "
                            f"Restore them, or pass --partial (partial=True) to run on the folds present (recorded)")
        if absent:
            info["folds_absent"] = absent
            log.warning("%s: official folds %s are absent; running on folds %s only", dataset, absent, used)
    if classes is not None:
        no_clips = sorted(set(classes) - {label for c in clips for label in (c.tags or (c.label,))})
        if no_clips and not partial:
            raise DataError(f"{dataset}: {len(no_clips)} of the {len(classes)} classes have no clips here "
                            f"({', '.join(no_clips[:5])}{', ...' if len(no_clips) > 5 else ''}): this is not the whole "
                            f"dataset, and its scores would not be {dataset}'s. Restore them, or pass --partial "
                            f"(partial=True) to run on the classes present (recorded in the result)")
        if no_clips:
            info["classes_absent"] = no_clips
            log.warning("%s: %d of the %d classes have no clips here (%s)", dataset, len(no_clips), len(classes),
                        ", ".join(no_clips[:5]) + (", ..." if len(no_clips) > 5 else ""))
    return info


def file_dataset(name: str, task: str | None, clips: list[Clip], protocol: Protocol, *, root: Path | None,
                 seconds: float, pad: PadMode, info: dict | None = None, official_folds: Sequence[int] | None = None,
                 classes: Sequence[str] | None = None, skip_bad_audio: bool = False,
                 min_seconds: float = MIN_SECONDS, check_duplicates: bool = True, partial: bool = False,
                 task_type: str = "multiclass", listed_in: Path | None = None, clip_chosen: bool = False,
                 expected_clips: int | None = None, official_straddles: Sequence[str] = (), **unknown) -> Dataset:
    """Run the guards over listed clips and build the :class:`Dataset`.

    ``partial``: run on the listed files that are present (else missing ones are an error);
    ``skip_bad_audio``: leave out bad files and record them; ``min_seconds``: shorter files are bad (default
    10 ms: no real recording is shorter; short clips of a dataset follow its ``seconds``/``pad`` policy);
    ``check_duplicates``: hash every file and report train/test duplicates in ``info``.
    ``official_folds`` / ``classes`` (given by the loader): absent ones are warned about and recorded.
    ``task_type`` "multilabel": every clip carries at least one tag (``Clip.tags``), ``classes`` are the tags.
    ``listed_in``: the CSV that lists ``clips``, one row each in its order (read by :func:`read_table`), for naming lines.
    ``clip_chosen``: ``seconds`` and ``pad`` are the user's options of the loader (see :attr:`Dataset.clip_chosen`).
    ``expected_clips`` (given by the loader of a dataset of known size): fewer listed is a cut-down copy, an error
    unless ``partial`` (then recorded as one: a folds file or metadata CSV missing rows is caught here).
    ``official_straddles``: groups the official metadata itself puts in several folds (recorded, not warned about).
    """
    if unknown:
        import difflib

        known = ("seconds", "pad", *COMMON_OPTIONS)
        close = [hit for key in sorted(unknown) for hit in difflib.get_close_matches(key, known, n=1)]
        raise DataError(f"dataset {name!r}: unknown option(s) {sorted(unknown)}"
                        + (f" (did you mean {', '.join(map(repr, close))}?)" if close else "")
                        + f"; options every file dataset takes: {', '.join(known)} (and its loader's own)")
    label = f"{name}/{task}" if task else name
    if not clips:
        raise DataError(f"{label}: no clips are listed{f' under {root}' if root else ''}")
    if pad not in ("zero", "repeat"):
        raise DataError(f"{label}: pad must be 'zero' or 'repeat', not {pad!r}")
    check_length_policy(label, seconds=seconds, min_seconds=min_seconds)
    repeated = repeated_entries([c.id for c in clips], label, listed_in)
    if repeated:
        raise DataError(repeated)
    from .tasks import task_type as kind_of  # scikit-learn: imported when a dataset is built, not for listing

    kind_of(task_type).check_clips(clips, label)
    unlabelled = [c for c in clips if not str(c.label).strip()]
    if unlabelled:
        first = unlabelled[0].path or unlabelled[0].id
        raise DataError(f"{label}: {len(unlabelled)} clip(s) have an empty label (first: {first}); "
                        "label every clip or remove the row")
    if classes is not None:
        check_labels(clips, classes, dataset=label)
    if groups := label_spellings(clips, "group"):  # a speaker named two ways: a group of its own, on both sides
        raise DataError(f"{label}: {len(groups)} group(s) (speaker, recording, ...) are spelt more than one way ("
                        + "; ".join(" / ".join(v) for v in list(groups.values())[:3]) + "): each spelling would be a "
                        "group of its own, and one speaker's clips would sit on both sides of a split (a one-clip fold "
                        "tested against the rest of its speaker); rename the files or rows so each is spelt one way")
    if spellings := label_spellings(clips):  # "Dog" beside "dog": two classes, each with part of the clips
        log.warning("%s: %d label(s) are spelt more than one way (%s): each spelling is a class of its own; make them "
                    "one if they are one class", label, len(spellings), "; ".join(" / ".join(v) for v in
                                                                                 list(spellings.values())[:3]))
        info = {**(info or {}), "label_spellings": spellings}
    short = expected_clips - len(clips) if expected_clips is not None and len(clips) < expected_clips else 0
    if short and not partial:
        source = f" in {listed_in}" if listed_in else f" under {root}" if root else ""
        raise DataError(f"{label}: {len(clips)} of its {expected_clips} clips are listed{source}: this is not the whole "
                        f"dataset, and its scores would not be {name}'s. Restore them, or pass --partial "
                        "(partial=True) to run on what is listed (recorded in the result)")
    if short:
        log.warning("%s: partial copy: %d of its %d clips are listed", label, len(clips), expected_clips)
    clips, missing = present(clips, partial=partial, dataset=label, root=root)
    clips, skipped = screen(clips, skip_bad_audio=skip_bad_audio, min_seconds=min_seconds, dataset=label)
    if not clips:
        raise DataError(f"{label}: all {len(skipped)} clips were unreadable and skipped (--skip-bad-audio); nothing is "
                        f"left to run on. First: {skipped[0]['reason']}")
    info = {**(info or {}), **coverage(clips, dataset=label, official_folds=official_folds, classes=classes,
                                          partial=partial)}
    if missing or short:  # against the dataset's known size where the loader knows it, else the listed files
        info["partial"] = {**info.get("partial", {}), **missing,  # the loader's own record (a folds file's) kept
                           "listed": expected_clips if short else missing["listed"], "present": len(clips)}
    straddles = group_straddles(clips)
    if official := {g: folds for g, folds in straddles.items() if g in official_straddles}:
        info["official_straddles"] = official  # the release's own: its protocol as published
    if straddles := {g: folds for g, folds in straddles.items() if g not in official_straddles}:
        info["group_straddles"] = straddles
        log.warning("%s: %d group(s) sit in more than one fold (e.g. %s in folds %s): their clips are on both sides "
                    "of a split%s", label, len(straddles), *next(iter(straddles.items())),
                    ", which the official metadata does not do" if official_straddles else "")
    dataset = Dataset(name, task, sorted(clips, key=lambda c: c.id), protocol, seconds, pad, root, skipped, info,
                      task_type, clip_chosen)
    checked(dataset, partial=partial)
    if check_duplicates:
        hashes = content_hashes(dataset)
        dataset.info["duplicates"] = find_duplicates(dataset, hashes=hashes)
        if inner := inner_duplicates(dataset, hashes):
            dataset.info["inner_duplicates"] = inner
        dataset.info["conflicting_labels"] = conflicting_labels(dataset)
    return dataset


def repeated_entries(keys: Sequence[str], label: str, listed_in: Path | None = None, *,
                     what: str = "clip id(s) are", lines: Sequence[int] | None = None) -> str | None:
    """The error for entries listed more than once (``keys[i]`` is on line ``lines[i]`` of ``listed_in``, by default
    the line of its ``i``-th row as :func:`read_table` reads it, or else entry ``i + 1``), naming the first repeats
    and where they are; None when all are distinct."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        where[key].append(i)
    repeated = {k: at for k, at in where.items() if len(at) > 1}
    if not repeated:
        return None
    if listed_in is not None and lines is None:
        lines = table_lines(listed_in, len(keys))
    at = (lambda n: f"line {lines[n]}") if lines is not None else (lambda n: f"entry {n + 1}")
    shown = "; ".join(f"{key!r} at {' and '.join(at(n) for n in rows[:3])}{' …' if len(rows) > 3 else ''}"
                      for key, rows in list(repeated.items())[:3])
    source = f" in {listed_in}" if listed_in else ""
    return (f"{label}: {len(repeated)} {what} listed more than once{source} ({shown}"
            f"{' …' if len(repeated) > 3 else ''}); remove the duplicate row(s)")


def table_lines(path: Path, rows: int) -> list[int] | None:
    """The line numbers of the rows :func:`read_table` reads from ``path``, or None unless they are ``rows``."""
    try:
        lines = list(read_table(path, (), dataset=str(path)).index)
    except DataError:
        return None
    return lines if len(lines) == rows else None


def check_length_policy(label: str, *, seconds: object, min_seconds: object) -> None:
    """``seconds`` (the clip length fed to the networks) must be a finite positive number of seconds."""
    for name, value, least in (("seconds", seconds, 0.0), ("min_seconds", min_seconds, None)):
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number) or (number <= least if least is not None else number < 0):
            kind = "a positive" if least is not None else "a non-negative"
            raise DataError(f"{label}: {name} must be {kind} finite number of seconds, not {value!r}")


def check_classes(dataset: Dataset) -> None:
    """The dataset's classes and protocol fit its task type (e.g. multiclass: at least two classes, and for a k-fold
    protocol at least k clips of each; multilabel: two tags and predefined folds)."""
    dataset.kind.check_dataset(dataset)


def conflicting_labels(dataset: Dataset) -> list[dict[str, Any]]:
    """The same audio (identical bytes) listed under more than one label, with a warning."""
    files = [c for c in dataset.clips if c.path is not None]
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    for clip, digest in zip(files, file_digests([c.path for c in files if c.path is not None])):
        labels[digest].setdefault(clip.label, clip.id)
    rows: list[dict[str, Any]] = [{"sha1": d, "clips": by_label} for d, by_label in labels.items() if len(by_label) > 1]
    if rows:
        example = rows[0]["clips"]
        log.warning("%s: %d audio file(s) appear under more than one label (e.g. %s); the labels contradict "
                    "each other; listed in the result under dataset info 'conflicting_labels'", dataset.key, len(rows),
                    " and ".join(f"{clip} as {label!r}" for label, clip in example.items()))
    return rows
