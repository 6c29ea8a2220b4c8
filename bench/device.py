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
               windows: np.ndarray | None = None, workers: int | None = None) -> None:
    """:func:`check_memory` for the job's front-end instance and input length; with --segment also
    :func:`check_window_memory` (``windows``: :meth:`EmbedJob.windows_per_clip`, read here when not given;
    ``workers``: the DataLoader's, :func:`default_workers` when None)."""
    check_memory(job.frontend, job.width, job.input_samples()[1], batch_size, device, training=training)
    if job.segment:
        check_window_memory(job, batch_size, device, windows, workers)


def memory_key(job: EmbedJob) -> tuple:
    """What a job's memory check depends on besides the run's width and batch size: its front-end and input length,
    and with --segment its dataset (each clip's length) and hop, which set the windows a batch is cut into."""
    return (job.frontend.name, job.input_samples(), *((job.dataset.key, job.hop_samples()) if job.segment else ()))


def batches_in_flight(device: torch.device, workers: int) -> int:
    """Batches of cut windows a --segment run holds at once in host memory: the one being embedded, again joined into
    the network's input (and pinned for the copy to a GPU), and the DataLoader's two prefetched per worker."""
    return 2 + (device.type == "cuda") + 2 * workers


def window_memory(job: EmbedJob, batch_size: int, device: str = "auto", windows: np.ndarray | None = None,
                  workers: int | None = None) -> dict[str, int]:
    """Host bytes a --segment run holds beyond the network's: the windows of the batches in flight (of the clips cut
    into the most windows), and every window's embedding, which the backends read whole."""
    windows = job.windows_per_clip() if windows is None else windows
    in_flight = batches_in_flight(resolve_device(device), default_workers() if workers is None else workers)
    return {"windows": in_flight * 4 * int(_longest(windows, batch_size).sum()) * job.input_samples()[1],
            "embeddings": 4 * int(windows.sum()) * job.frontend.dim(job.width, job.pooling)}


def _longest(windows: np.ndarray, batch_size: int) -> np.ndarray:
    """The window counts of the ``batch_size`` clips cut into the most windows."""
    return np.sort(windows)[-batch_size:]


def check_window_memory(job: EmbedJob, batch_size: int, device: str = "auto", windows: np.ndarray | None = None,
                        workers: int | None = None) -> None:
    """Refuse, before a clip is decoded, a --segment run whose windows cannot fit in the machine's memory (a --hop
    far below the window): :func:`window_memory`, with the network's own need where it runs on the CPU."""
    windows = job.windows_per_clip() if windows is None else windows
    workers = default_workers() if workers is None else workers
    torch_device = resolve_device(device)
    need = window_memory(job, batch_size, device, windows, workers)
    if torch_device.type == "cpu":
        need = {**job.frontend.memory_needed(job.width, job.input_samples()[1], batch_size), **need}
    _refuse_beyond(
        need, memory_available(torch.device("cpu")), who=f"{job.frontend.name} at --width {job.width}",
        doing=f" of host memory to embed {job.dataset.key} in windows of "
              f"{job.input_samples()[0] / job.frontend.sample_rate:.3g} s (--segment {job.segment:g} --hop "
              f"{job.hop or job.segment:g}): batches of {batch_size} clips cut into up to "
              f"{int(_longest(windows, batch_size).sum()):,} windows, {batches_in_flight(torch_device, workers)} "
              f"batches at once with {workers} decoding worker(s), and {int(windows.sum()):,} windows' embeddings",
        memory="the machine's memory", remedy="a longer --hop or --segment, or a smaller --batch-size or --workers")


def check_memory(spec: FrontendSpec, width: str | int, samples: int, batch_size: int, device: str = "auto", *,
                 training: bool = False) -> None:
    """Refuse, before anything is allocated, a front-end whose weights and activations for one batch of clips of
    ``samples`` cannot fit in the device's memory (a --width or --batch-size far too large). ``training``: the
    weights count four times (gradients and Adam's two moments) and the activations twice (kept for backward)."""
    need = spec.memory_needed(width, samples, batch_size)
    if training:
        need = {"weights": 4 * need["weights"], "activations": 2 * need["activations"]}
    torch_device = resolve_device(device)
    _refuse_beyond(need, memory_available(torch_device), who=f"{spec.name} at --width {width}",
                   doing=f" to {'train on' if training else 'embed'} a batch of {batch_size} clips of "
                         f"{samples / spec.sample_rate:.3g} s",
                   memory=f"{torch_device.type} memory", remedy="a smaller --width or --batch-size")


def _refuse_beyond(need: dict[str, int], have: int, *, who: str, doing: str, memory: str, remedy: str) -> None:
    """An error naming who needs what, part by part, where ``need`` exceeds the 90 % of ``have`` a run may fill."""
    if sum(need.values()) > 0.9 * have:
        gib = lambda n: f"{n / 2**30:.1f} GiB"  # noqa: E731
        raise RwbenchError(f"{who} needs about {gib(sum(need.values()))}{doing} "
                           f"({', '.join(f'{name} {gib(n)}' for name, n in need.items())}); {memory} is {gib(have)}. "
                           f"Use {remedy}")


MAX_AUTO_BATCH = 256


CPU_AUTO_BATCH = 16  # larger batches gain nothing on a CPU


def choose_batch_size(job: EmbedJob, device: str = "auto") -> int:
    """The batch size when none is given: :func:`batch_that_fits` the job's front-end instance and input length."""
    return batch_that_fits(job.frontend, job.width, job.input_samples()[1], resolve_device(device))


def batch_that_fits(spec: FrontendSpec, width: str | int, samples: int, device: torch.device,
                    most: int | None = None) -> int:
    """The largest power of two up to ``most`` (default 16 on CPU, where larger batches gain nothing, and
    ``MAX_AUTO_BATCH`` on CUDA) whose estimated memory for clips of ``samples`` fits: in half the free GPU memory,
    or in the share of the machine's memory :func:`check_memory` allows."""
    if device.type == "cuda":
        batch, room = most or MAX_AUTO_BATCH, torch.cuda.mem_get_info(device)[0] / 2
    else:
        batch, room = most or CPU_AUTO_BATCH, 0.9 * memory_available(device)
    while batch > 1 and sum(spec.memory_needed(width, samples, batch).values()) > room:
        batch //= 2
    return batch


def default_workers() -> int:
    return min(4, max((os.cpu_count() or 1) - 1, 0))
