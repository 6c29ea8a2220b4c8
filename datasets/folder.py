"""Any dataset laid out one subfolder per class: ``<root>/<class>/**/<file>.<audio ext>``. Every folder is read
(``__other__`` is a class) but hidden ones and ``__MACOSX`` (a Mac zip's resource forks), at any depth.

Protocol ``folder/stratified-<k>fold``: seeded stratified k-fold (``k=10``, ``seed=0``) over the
clips sorted by id (their path relative to the root); the assignment is written into the result.
``folds_file`` (from :func:`rwbench.guards.write_folds`) reuses fixed folds instead.
The result key is ``folder/<name>`` (``name`` option, default the root folder's name) so two folder
datasets never share results. ``classes`` restricts and checks the class folders.

Length policy: ``seconds`` (default 10) cropped from the start, ``pad`` "zero" (default) or
"repeat" for shorter clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rwbench.audio import PadMode
from rwbench.datamodel import Clip, Dataset, register_dataset
from rwbench.guards import class_folder_files, file_dataset, stratified_or_file


@register_dataset(
    name="folder",
    description="any folder with one subfolder of audio files per class",
    protocol="seeded stratified k-fold (k=10) over the sorted file list; fold assignment in the result; clips cropped "
             "from the start or padded to 10 s (seconds=, pad=)",
    source="",
    needs_root=True,
)
def load_folder(root: Path, *, task: str | None = None, k: int | None = None, seed: int | None = None,
                folds_file: str | None = None, seconds: float = 10.0,
                pad: PadMode = "zero", classes: Sequence[str] | None = None, name: str | None = None,
                **options) -> Dataset:
    """A class-per-subfolder dataset under ``root``."""
    root = Path(root)
    known = set(classes) if classes is not None else None
    found = class_folder_files(root, lambda f: f if known is None or f in known else None, dataset="folder")
    clips = [Clip(path.relative_to(root).as_posix(), label, path) for path, label in found]
    clips, protocol, info = stratified_or_file("folder", clips, k=k, seed=seed, folds_file=folds_file,
                                               options=options)
    return file_dataset("folder", task or name or root.resolve().name, clips, protocol, root=root, seconds=seconds,
                        pad=pad, classes=tuple(classes) if classes is not None else None, clip_chosen=True,
                        info=info, **options)
