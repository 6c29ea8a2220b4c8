"""The C heap under CPU work. glibc's malloc serves each tensor above its mmap threshold with a fresh mapping and
unmaps it when freed (or trims the freed top of the heap), so the next batch faults the same pages in again: about a
million minor page faults per epoch of a small log-mel network, a third of its CPU time (``benchmarks/malloc.py``).
rwbench raises glibc's thresholds once at start-up; the arithmetic is untouched (same bits), only the pages are kept.

``RWBENCH_MALLOC=system`` keeps glibc's defaults; so does an environment that tunes malloc itself (a ``MALLOC_*_``
variable, a ``glibc.malloc.*`` tunable in ``GLIBC_TUNABLES``, or jemalloc / tcmalloc / mimalloc in ``LD_PRELOAD``).
Elsewhere than glibc nothing changes. The heap then holds more between batches: a training's peak resident memory
stays within 3 %, an embedding's rises up to about a tenth (musicnn, 1.56 → 1.73 GB)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

from .errors import RwbenchError

MIB = 2**20
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # mallopt parameters (<malloc.h>)
# mmap only above 32 MiB (glibc's upper bound on 64-bit); the heap's free top kept up to 2 GiB before it is handed
# back, and grown 256 MiB at a time: a training's per-batch tensors are then reused, not faulted in again
TUNED = {M_MMAP_THRESHOLD: 32 * MIB, M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 256 * MIB}
CHOICES = ("tuned", "system")
OTHER_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None  # glibc only


def malloc_choice(environ=os.environ) -> str:
    """``tuned`` or ``system``: what :func:`tune_malloc` does under ``environ``."""
    choice = environ.get("RWBENCH_MALLOC", "tuned")
    if choice not in CHOICES:
        raise RwbenchError(f"RWBENCH_MALLOC={choice!r}: use {' or '.join(CHOICES)} (unset: tuned)")
    tuned_elsewhere = any(name.startswith("MALLOC_") for name in environ) \
        or "glibc.malloc." in environ.get("GLIBC_TUNABLES", "") \
        or any(name in environ.get("LD_PRELOAD", "") for name in OTHER_ALLOCATORS)
    return "system" if tuned_elsewhere else choice


def tune_malloc(environ=os.environ) -> bool:
    """Set :data:`TUNED` on glibc's malloc unless :func:`malloc_choice` says ``system``; whether it was set."""
    if malloc_choice(environ) == "system" or (libc := _libc()) is None:
        return False
    return all([libc.mallopt(parameter, value) == 1 for parameter, value in TUNED.items()])


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; elsewhere nothing), so that memory
    freed earlier and kept by the allocator does not hide a new peak from the resident set size."""
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)
