"""Where and how much: the torch device a run asks for, whether one batch fits its memory, the automatic batch size and
the DataLoader's worker count. Shared by embedding, training, pre-training, profiling and the dry run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import RwbenchError

if TYPE_CHECKING:
    from .embed_job import EmbedJob
    from .frontend import FrontendSpec


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RwbenchError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise RwbenchError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def exact_float32(device: torch.device) -> None:
    """On CUDA, float32 computes in float32: cuDNN convolutions otherwise run in TF32 (a 10-bit mantissa; torch's
    default, ``torch.backends.cudnn.allow_tf32``), while the embeddings and results say fp32. A no-op on CPU."""
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False


def embedding_settings(device: torch.device, precision: str) -> None:
    """The CUDA settings the embed stage runs under, for whatever times it (the dry run's timing too): cuDNN
    autotuning on (one input shape per job: the fastest kernels are chosen once), and fp32 computed in float32."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        if precision == "fp32":
            exact_float32(device)


@contextmanager
def float32_within(device: torch.device) -> Iterator[None]:
    """:func:`exact_float32` for the duration of a block only, the caller's settings restored after (for
    ``rwbench.embedder`` and the HEAR model, which run inside someone else's process)."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    exact_float32(device)
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def memory_available(device: torch.device) -> int:
    """Bytes of memory the device has in all (CUDA: the GPU's; CPU: the machine's physical memory)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1]
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(job: EmbedJob, batch_size: int, device: str = "auto", *, training: bool = False,
               windows: np.ndarray | None = None) -> None:
    """:func:`check_memory` for the job's front-end instance and input length; with --segment also for the windows
    a batch of clips is cut into (``windows``: :meth:`EmbedJob.windows_per_clip`, read here when not given)."""
    if not job.segment:
        check_memory(job.frontend, job.width, job.input_samples()[1], batch_size, device, training=training)
        return
    windows = job.windows_per_clip() if windows is None else windows
    batch = (f"a batch of {batch_size} clips cut into up to {int(_longest(windows, batch_size).sum())} windows of "
             f"{job.input_samples()[0] / job.frontend.sample_rate:.3g} s (--segment {job.segment:g} --hop "
             f"{job.hop or job.segment:g})")
    check_memory(job.frontend, job.width, job.input_samples()[1], batch_size, device, training=training,
                 extra=window_memory(job, batch_size, windows), batch=batch)


def window_memory(job: EmbedJob, batch_size: int, windows: np.ndarray | None = None) -> dict[str, int]:
    """Bytes a --segment run holds beyond the network's: a batch's windows (the clips of most windows), once cut
    from their clips and once joined into the network's input; and every window's embedding, which the backends
    read whole."""
    windows = job.windows_per_clip() if windows is None else windows
    return {"windows": 2 * 4 * int(_longest(windows, batch_size).sum()) * job.input_samples()[1],
            "embeddings": 4 * int(windows.sum()) * job.frontend.dim(job.width, job.pooling)}


def _longest(windows: np.ndarray, batch_size: int) -> np.ndarray:
    """The window counts of the ``batch_size`` clips cut into the most windows."""
    return np.sort(windows)[-batch_size:]


def check_memory(spec: FrontendSpec, width: str | int, samples: int, batch_size: int, device: str = "auto", *,
                 training: bool = False, extra: dict[str, int] | None = None, batch: str | None = None) -> None:
    """Refuse, before anything is allocated, a front-end whose weights and activations for one batch of clips of
    ``samples`` cannot fit in the device's memory (a --width or --batch-size far too large). ``training``: the
    weights count four times (gradients and Adam's two moments) and the activations twice (kept for backward).
    ``extra``: other named bytes the run holds (:func:`window_memory`); ``batch``: the batch in words, where its clips
    are cut into windows."""
    need = spec.memory_needed(width, samples, batch_size)
    if training:
        need = {"weights": 4 * need["weights"], "activations": 2 * need["activations"]}
    need.update(extra or {})
    torch_device = resolve_device(device)
    have = memory_available(torch_device)
    if sum(need.values()) > 0.9 * have:
        gib = lambda n: f"{n / 2**30:.1f} GiB"  # noqa: E731
        remedy = "a longer --hop or --segment, or a smaller --batch-size" if extra and max(need, key=need.get) in extra \
            else "a smaller --width or --batch-size"
        batch = batch or f"a batch of {batch_size} clips of {samples / spec.sample_rate:.3g} s"
        raise RwbenchError(
            f"{spec.name} at --width {width} needs about {gib(sum(need.values()))} to "
            f"{'train on' if training else 'embed'} {batch}"
            f" ({', '.join(f'{name} {gib(n)}' for name, n in need.items())}); {torch_device.type} memory is "
            f"{gib(have)}. Use {remedy}")


MAX_AUTO_BATCH = 256


CPU_AUTO_BATCH = 16  # larger batches gain nothing on a CPU


def choose_batch_size(job: EmbedJob, device: str = "auto") -> int:
    """The batch size when none is given: the largest power of two up to 16 on CPU (larger batches gain nothing
    there), up to ``MAX_AUTO_BATCH`` on CUDA, whose estimated memory fits: in half the free GPU memory, or in the
    share of the machine's memory :func:`check_memory` allows."""
    torch_device = resolve_device(device)
    if torch_device.type == "cuda":
        batch, room = MAX_AUTO_BATCH, torch.cuda.mem_get_info(torch_device)[0] / 2
    else:
        batch, room = CPU_AUTO_BATCH, 0.9 * memory_available(torch_device)
    while batch > 1 and sum(job.frontend.memory_needed(job.width, job.input_samples()[1], batch).values()) > room:
        batch //= 2
    return batch


def default_workers() -> int:
    return min(4, max((os.cpu_count() or 1) - 1, 0))
