"""Clips as a network sees them: decoded at the front-end's rate, cropped or padded to the job's length (or cut into
windows), in DataLoader workers; a clip that fails to decode yields its error instead of stopping the loader."""

from __future__ import annotations

import os

import numpy as np
import torch

from .audio import MAX_PEAK, fix_length, segments
from .datamodel import Clip, Dataset
from .embed_job import EmbedJob
from .errors import DataError
from .filehash import content_stat, file_digests

SILENT_CROP = 1e-4  # a crop peaking this far below its clip's peak (−80 dB) holds no signal: a bad clip


def mono_float(audio: np.ndarray, dataset: Dataset, clip: Clip) -> np.ndarray:
    """What a dataset's ``load_audio`` returned, checked: mono float samples, not empty (float64 read as float32). A
    plugin's loader returning ``(channels, samples)``, integers or nothing is named, never padded into a matrix or
    scaled by a guess."""
    audio = np.asarray(audio)
    where = f"{clip.path or clip.id}: {type(dataset).__name__}.load_audio returned"
    if audio.ndim != 1 or audio.size == 0 or audio.dtype.kind != "f":
        raise DataError(f"{where} {audio.dtype} audio of shape {audio.shape}; a dataset's load_audio returns mono "
                        "float audio in [-1, 1], shape (samples,), not empty")
    peak = float(np.abs(audio).max())  # NaN and ±Inf carry into the peak: one pass checks all three
    if not np.isfinite(peak):
        raise DataError(f"{where} {int((~np.isfinite(audio)).sum())} non-finite sample(s) (NaN or ±Inf)")
    if peak > MAX_PEAK:  # the files' rule (audio.load): e.g. int16 counts returned as floats, never scored as audio
        raise DataError(f"{where} audio peaking at {peak:.3g}: not audio on any sane scale (full scale is 1.0; rwbench "
                        f"refuses > {MAX_PEAK:g}); a dataset's load_audio returns mono float audio in [-1, 1]")
    return audio.astype(np.float32, copy=False)


def changed_since_fingerprint(dataset: Dataset, clip: Clip) -> str | None:
    """Why ``clip``'s file is not the one the dataset's fingerprint hashed (rewritten or replaced since: its
    embedding or training would be stored under the old content's key), or None. The stat is compared first; where it
    differs (another inode or mtime: a node's own copy of the data, read by a Dask worker), the file's sha1."""
    recorded = dataset.__dict__.get("_file_stats", {}).get(str(clip.path)) if clip.path is not None else None
    if recorded is None or clip.path is None:
        return None
    stat, sha1 = recorded
    try:
        now = content_stat(os.stat(os.path.realpath(clip.path)))
        if now == stat or (now[0] == stat[0] and file_digests([clip.path]) == [sha1]):
            return None
    except OSError as err:
        return f"{clip.path}: {err.strerror} (it was there when the run began)"
    return (f"{clip.path}: changed on disk during the run (its bytes differ from those the dataset's fingerprint "
            "hashed), or a Dask worker's copy that differs from the client's: its numbers would be stored under the "
            "old content's key; rerun once the files stay as they are, the same on every worker")


class ClipAudio(torch.utils.data.Dataset):
    """Decoded, length-fixed clips; a clip that fails to decode yields its error instead."""

    def __init__(self, job: EmbedJob) -> None:
        self.dataset, self.rate = job.dataset, job.frontend.sample_rate
        self.clip_samples, self.network_samples = job.input_samples()
        self.min_pad = job.frontend.pad_to_min or "zero"
        self.hop = job.hop_samples()

    def __len__(self) -> int:
        return len(self.dataset.clips)

    def __getitem__(self, index: int):
        clip = self.dataset.clips[index]
        try:
            audio = mono_float(self.dataset.load_audio(clip, self.rate), self.dataset, clip)
        except DataError as err:
            return index, None, str(err)
        if changed := changed_since_fingerprint(self.dataset, clip):
            return index, None, changed
        # the file has sound (audio.load checks), but perhaps not in a crop or window: silence there is the
        # resampler's ringing at most, far below the clip's peak
        floor = SILENT_CROP * np.abs(audio).max()  # finite: mono_float refused the rest
        if self.hop:  # windows over the whole clip; those of digital silence are not embedded
            windows = segments(audio, self.clip_samples, self.hop, pad=self.dataset.pad)
            sound = np.maximum(windows.max(axis=1), -windows.min(axis=1)) > floor  # no temporary of the windows' size
            if not sound.any():  # all zeros: a loader of its own (a file of none is refused as it is read)
                return index, None, (f"{clip.path or clip.id}: every {self.clip_samples / self.rate:g}-s window is "
                                     "digital silence; scored, it would be a clip of no signal under a real label")
            if not sound.all():
                windows = windows[sound]
        else:
            windows = fix_length(audio, self.clip_samples, self.dataset.pad)[None]
            if not np.abs(windows).max() > floor:
                return index, None, (f"{clip.path or clip.id}: its first {self.clip_samples / self.rate:g} s (the "
                                     "dataset's length) are digital silence (80 dB below the clip's peak or more); "
                                     "scored, it would be a clip of no signal under a real label")
        if self.network_samples > self.clip_samples:
            windows = np.stack([fix_length(w, self.network_samples, self.min_pad) for w in windows])
        return index, torch.from_numpy(windows), None  # (n_windows, samples)


def clip_audio(job: EmbedJob, index: int) -> torch.Tensor:
    """Clip ``index`` of ``job.dataset`` as the network sees it, ``(samples,)`` (the first window when segmented)."""
    _, windows, error = ClipAudio(job)[index]
    if error is not None:
        raise DataError(error)
    return windows[0]


def collate_as_list(items: list) -> list:
    """A DataLoader collate that keeps a batch as the list of its items (clips differ in windows and errors)."""
    return items
