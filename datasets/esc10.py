"""ESC-10: the 10-class, 400-clip subset of ESC-50 (rows with ``esc10`` True), same layout.

Protocol ``esc10/official-5-folds``: ESC-50's 5 official folds restricted to ESC-10 (80 clips per
fold); group = ``src_file``. Length policy: 5 s, zero-pad (see :mod:`rwbench.datasets.esc50`).
"""

from __future__ import annotations

from pathlib import Path

from rwbench.datamodel import Dataset, register_dataset

from .esc50 import load_esc


@register_dataset(
    name="esc10",
    description="ESC-10 environmental sounds, 400 clips of 5 s, 10 classes (subset of ESC-50)",
    protocol="ESC-50's 5 official folds restricted to the esc10 rows; inner CV leaves one training fold out",
    source="Piczak 2015 (karolpiczak/ESC-50)",
    needs_root=True,
)
def load_esc10(root: Path, *, task: str | None = None, **options) -> Dataset:
    """ESC-10 from ``root`` (an ESC-50 copy, or ESC-10 alone in the ESC-50 layout)."""
    return load_esc(root, name="esc10", task=task, esc10_only=True, **options)
