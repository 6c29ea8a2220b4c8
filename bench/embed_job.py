"""What an embedding is: the job (one front-end instance × one dataset task), its cache key, and the reader of a
finished entry. Everything that determines the embeddings enters :attr:`EmbedJob.description`, whose hash names the
cache entry."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import soundfile

from .audio import n_segments
from .cache import CacheEntry
from .datamodel import Dataset
from .embedding_manifest import EmbeddingManifest
from .errors import DataError
from .fileio import content_key
from .frontend import (
    PRETRAINED_PREFIX,
    FrontendSpec,
    Pooling,
    Precision,
    WeightSource,
    check_weights_fit,
    layer_pooling,
    network_precision,
    resolve_weights,
)

EMBED_CODE_VERSION = 2  # bump when the embedding computation changes: it invalidates the cache


@dataclass(frozen=True)
class EmbedJob:
    """One front-end instance (name, width, weights tag, seed, pooling) applied to one dataset task."""

    dataset: Dataset
    frontend: FrontendSpec
    width: str | int = "small"
    weights: str = "random"
    seed: int = 0
    pooling: Pooling = "mean"
    segment: float | None = None  # window length (s) for segment-and-aggregate; None = crop/pad the clip
    hop: float | None = None  # window hop (s); None = the window length (no overlap)
    fold: str | None = None  # the outer split whose weights these are (per-fold weights: trained, mst)
    checkpoint: Path | None = None  # that fold's weights file
    precision: Precision = "fp32"  # bf16 / fp16: the network under autocast (embeddings stored float32)
    recorded_sha256: str | None = None  # its sha256 as its training recorded it (stands in where the file is gone)
    init: str | None = None  # random weights: the distribution drawn from (None: the front-end's own)

    @cached_property
    def resolved(self) -> WeightSource:
        """The weights this job runs with (a pretrained file is located, its sha256 taken and its shapes checked
        against the network at the job's width, once)."""
        source = resolve_weights(self.frontend, self.weights, self.seed, self.checkpoint, self.recorded_sha256, self.init)
        check_weights_fit(self.frontend, self.width, source)
        if self.weights.startswith(PRETRAINED_PREFIX) and source.file is not None:
            from .results import refuse_own_fold_weights

            refuse_own_fold_weights(Path(source.file.path), self.dataset)
        return source

    @property
    def default_init(self) -> bool:
        """Whether its weights are the front-end's own kind: anything but random weights drawn from another init."""
        return self.weights_kind != "random" or self.init in (None, self.frontend.init)

    @property
    def weights_kind(self) -> str:
        return self.resolved.tag

    @property
    def weights_seed(self) -> int | None:
        """The seed that draws the weights; None when nothing random is drawn."""
        return self.resolved.seed

    def hop_samples(self) -> int | None:
        """Samples between window starts with --segment (None: one crop per clip)."""
        return int(round((self.hop or self.segment) * self.frontend.sample_rate)) if self.segment else None

    def windows_per_clip(self) -> np.ndarray:
        """Rows per clip as the run cuts them: 1, or with --segment the windows over each file's length as its header
        gives it (at most: windows of digital silence are not embedded). The dataset's clip length where a clip is not
        a whole file: no file, a loader of its own (Speech Commands' silence clips are 1-s cuts of long recordings;
        mixtures), or a header that cannot be read."""
        n_clips = len(self.dataset.clips)
        if not self.segment:
            return np.ones(n_clips, dtype=int)
        window, hop, rate = self.input_samples()[0], self.hop_samples(), self.frontend.sample_rate
        whole_files = type(self.dataset).load_audio is Dataset.load_audio
        counts = np.empty(n_clips, dtype=int)
        for i, clip in enumerate(self.dataset.clips):
            seconds = self.dataset.seconds
            if clip.path is not None and whole_files:
                try:
                    info = soundfile.info(str(clip.path))
                    seconds = info.frames / info.samplerate
                except (RuntimeError, OSError):  # its decoder is not libsndfile (mp3 with an old one): the nominal length
                    pass
            counts[i] = n_segments(int(round(seconds * rate)), window, hop)
        return counts

    def input_samples(self) -> tuple[int, int]:
        """(samples of a clip or window, samples fed to the network) at the front-end's rate."""
        spec = self.frontend
        clip = int(round((self.segment or self.dataset.seconds) * spec.sample_rate))
        minimum = spec.min_samples()
        if not self.segment and clip < 1:  # a length that rounds to no sample: nothing to feed, padded or not
            raise DataError(f"dataset {self.dataset.key!r} clips of {self.dataset.seconds:g} s hold no sample at "
                            f"{spec.sample_rate} Hz (front-end {spec.name!r}); give at least "
                            f"{1 / spec.sample_rate:.2g} s")
        if self.segment and clip < max(minimum, 1):  # a window padded to the minimum (or empty) scores at chance
            raise DataError(f"segment windows of {self.segment:g} s are shorter than front-end {spec.name!r}'s "
                            f"shortest input (windows are not padded to it): it needs at least {max(minimum, 1)} "
                            f"sample(s) at {spec.sample_rate} Hz")
        if clip >= minimum:
            return clip, clip
        if spec.pad_to_min is None:
            raise DataError(
                f"front-end {spec.name!r} needs clips of at least {minimum / spec.sample_rate:.2f} s "
                f"({spec.input_length}); dataset {self.dataset.key!r} gives {clip / spec.sample_rate:g} s"
            )
        return clip, minimum

    @property
    def label(self) -> str:
        """The instance in words, for messages: its front-end, weights, seed, width and what differs from the
        defaults."""
        parts = [f"{self.weights} weights", f"seed {self.seed}", f"width {self.width}"]
        parts += [f"pooling {self.pooling}"] if self.pooling != "mean" else []
        parts += [f"init {self.init}"] if self.init else []
        parts += [self.precision] if self.precision != "fp32" else []
        parts += [f"segment {self.segment:g} s" + (f" hop {self.hop:g} s" if self.hop else "")] if self.segment else []
        parts += [self.fold] if self.fold else []
        return f"{self.frontend.name} ({', '.join(parts)})"

    @cached_property
    def description(self) -> dict:
        """Everything that determines the embeddings; its hash is the cache key (computed once)."""
        spec = self.frontend
        precision = network_precision(spec, self.precision)  # fp32 keys predate the option: no field
        clip, network = self.input_samples()
        return {
            "embed_code": EMBED_CODE_VERSION,
            "frontend": spec.name,
            "frontend_version": spec.version,
            # a plugin's source files; its networks' embeddings (and the results read from them) under the
            # 2026-12-05 rules: seeded GRU/ConvTranspose/parametrised weights, no fusion of parametrised layers
            **({"frontend_code": code, "plugin_rules": 2} if (code := spec.code_now) else {}),
            "filters": spec.filters(self.width),
            "weights": self.weights_kind,
            "seed": self.weights_seed,
            "weights_sha256": self.resolved.file.sha256 if self.resolved.file else None,
            **({"fold": self.fold} if self.fold else {}),  # per-fold weights
            "init": (self.init or spec.init) if self.weights_kind == "random" else None,
            "pooling": layer_pooling(self.frontend, self.pooling),  # a DSP baseline's vectors: mean whatever asked
            # half-precision rules 2 (2026-12-07): strided_* compress in float32 (float16 overflowed to inf)
            **({"precision": precision, "half_precision_rules": 2} if precision != "fp32" else {}),
            "input": {"kind": spec.input_kind, "sample_rate": spec.sample_rate, "clip_samples": clip,
                      "network_samples": network, "clip_pad": self.dataset.pad, "min_pad": spec.pad_to_min,
                      "logmel": asdict(spec.logmel) if spec.logmel else None,
                      "segment": {"seconds": self.segment, "hop": self.hop or self.segment,
                                  "last_window": "ends at the clip's end", "silent_windows": "dropped"}
                      if self.segment else None},
            "dataset": self.dataset.key,
            "dataset_fingerprint": self.dataset.fingerprint(),
        }

    @cached_property
    def key(self) -> str:
        return content_key(self.description)

    def entry(self, cache_root: Path) -> CacheEntry:
        folder = cache_root / self.dataset.key.replace("/", "__") / self.frontend.name / self.key
        return CacheEntry(folder, self.layer_widths())

    def layer_widths(self) -> dict[str, int | None]:
        """Each feature layer's columns in this job's embedding, in order: its declared width (``layer_dims``, doubled
        under mean_std for a learnable front-end), None where the front-end declares none."""
        spec = self.frontend
        if spec.layer_dims is None:
            return dict.fromkeys(spec.feature_layers)
        factor = 2 if self.pooling == "mean_std" and spec.is_learnable() else 1
        dims = spec.layer_dims(spec.filters(self.width))
        return {layer: dims[layer] * factor for layer in spec.feature_layers}


@dataclass
class Embeddings:
    features: np.ndarray  # (n_rows, dim), memory-mapped: one row per clip, or per window when segmented
    clip_index: np.ndarray  # (n_rows,) the clip of each row, ascending; a skipped clip has one NaN row
    manifest: EmbeddingManifest

    @classmethod
    def read(cls, entry: CacheEntry) -> Embeddings:
        """The entry's arrays, whose NaN rows are those of the clips its manifest records as skipped: any other is
        damage (never a clip quietly left out of every split)."""
        embeddings = cls(entry.features(), entry.clip_index(), entry.manifest())
        recorded = {skipped["clip"] for skipped in embeddings.manifest.skipped}
        ids = embeddings.manifest.clip_ids
        if unrecorded := [ids[i] for i in np.unique(embeddings.clip_index[~embeddings.valid]) if ids[i] not in recorded]:
            raise DataError(f"{entry.folder}: {len(unrecorded)} clip(s) have NaN features that its manifest does not "
                            f"record as skipped (e.g. {unrecorded[0]}): the entry was altered on disk; delete the "
                            "folder, and the next run computes it again")
        return embeddings

    @property
    def valid(self) -> np.ndarray:
        """Rows without NaN (read in blocks: the features may be larger than memory)."""
        step = 1 << 14
        return np.concatenate([~np.isnan(self.features[i:i + step]).any(axis=1)
                               for i in range(0, len(self.features), step)] or [np.ones(0, bool)])

    @property
    def segmented(self) -> bool:
        return len(self.clip_index) != len(np.unique(self.clip_index))

    def columns(self, layers: tuple[str, ...]) -> np.ndarray:
        """The feature columns of ``layers``, in the order given."""
        slices = self.manifest.layers
        return np.concatenate([np.arange(*slices[layer]) for layer in layers])
