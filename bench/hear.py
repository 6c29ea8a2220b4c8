"""Any rwbench front-end instance behind the HEAR 2021 model API (the hear-eval-kit convention).

``rwbench.hear.load_model("vgg:random:seed=0:rate=16000")`` (hear-validator: ``hear-validator rwbench.hear --model
...``; hear-eval-kit's runner wants an existing file: ``--model rw.toml``, below) loads the instance that
``model_file_path`` names:

``NAME[:WEIGHTS][:key=value]...`` — a registered front-end (``rwbench list frontends``), its weight tag
(``random`` by default; ``mtt``, ``dsp``, ``pretrained:/path/to/file.safetensors``, ...), then any of

=========== ========================================================================================
``seed``    the seed that draws random weights (0)
``width``   ``small``, ``paper`` or a filter count (``small``)
``pooling`` ``mean``, ``mean_std`` or ``max`` over each layer's time (× frequency) axes (``mean``)
``layers``  one layer set: ``default``, ``all`` or layers joined by ``+`` (``pool1+pool5``) (``default``)
``rate``    the rate the caller's audio comes at, Hz; resampled inside to the front-end's rate (soxr HQ,
            as rwbench decodes a dataset). Default: the front-end's own rate, no resampling
``hop``     milliseconds between timestamp embeddings (50)
``window``  seconds of audio each timestamp embedding sees (1, raised to the network's minimum input)
=========== ========================================================================================

e.g. ``vgg:random:seed=0:width=paper:pooling=mean:layers=pool1+pool2``; the empty string (HEAR's default)
is :data:`DEFAULT`. ``model_file_path`` may instead be a ``.toml`` or ``.json`` file holding the same keys
(``frontend``, ``weights``, ``seed``, ...); keyword arguments of :func:`load_model` override either.

Scene embedding (``get_scene_embeddings``): rwbench's clip embedding of the whole sound — the selected layers,
each pooled over the clip, concatenated: the same numbers ``rwbench embed`` stores for a clip fed at the same
length. A sound shorter than the network's minimum input is lengthened as rwbench does (the front-end's
``pad_to_min`` rule).

Timestamp embeddings (``get_timestamp_embeddings``): the same clip embedding of windows of ``window`` seconds,
one every ``hop`` ms. Timestamp ``k`` is ``k · hop`` ms, ``k = 0 … ⌊duration / hop⌋``, and its window is centred
on it (its centre is sample ``round(k · hop / 1000 · R)`` at the front-end's rate ``R``, computed from ``k``, so
nothing drifts over long audio); the window's audio
is the embedding's whole receptive field, and the part of it before the start or after the end of the sound is
zeros. So a timestamp is exactly the centre of what its embedding saw. Windows, not a layer's frames: rwbench's
front-ends include DSP baselines whose layers are already pooled and networks whose layers run at different
hops with different padding; a window gives every one of them the same exact rule. The cost is one network
pass per window — and a window is never shorter than the network's minimum input (vgg: 27.3 s, musicnn: 3 s), so
prefer front-ends with short minimum inputs, or a larger ``hop``, for timestamp tasks.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .audio import resample
from .errors import RwbenchError, UnknownNameError
from .frontend import FRONTENDS, POOLINGS, FrozenEmbedder, Pooling, layer_sets, refuse_insane_waveforms

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULT", "HearConfig", "RwbenchHearModel", "get_scene_embeddings", "get_timestamp_embeddings",
           "load_model", "parse_model_path"]

DEFAULT = "timbral_temporal:random:seed=0:width=small:rate=16000"
WINDOW_BATCH = 256  # windows through the network at once at most (fewer where their memory does not fit)


@dataclass(frozen=True)
class HearConfig:
    """One front-end instance as the HEAR API serves it (the keys of ``model_file_path``)."""

    frontend: str = "timbral_temporal"
    weights: str = "random"
    seed: int = 0
    width: str = "small"
    pooling: Pooling = "mean"  # checked in __post_init__ (a config file may hold any string)
    layers: str = "default"
    rate: int | None = None  # the caller's sample rate; None: the front-end's own
    hop: float = 50.0  # ms between timestamps
    window: float = 1.0  # s of audio per timestamp embedding (raised to the network's minimum)

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise RwbenchError(f"HEAR model: pooling {self.pooling!r} is not one of {list(POOLINGS)}")
        if not (math.isfinite(self.hop) and self.hop > 0 and math.isfinite(self.window) and self.window > 0):
            raise RwbenchError(f"HEAR model: hop ({self.hop} ms) and window ({self.window} s) must be positive")
        if self.rate is not None and self.rate <= 0:
            raise RwbenchError(f"HEAR model: rate {self.rate} must be a positive number of Hz")

    @classmethod
    def from_mapping(cls, values: dict, where: str) -> HearConfig:
        """Checked keys (``name`` is read as ``frontend``); numbers given as text are converted."""
        values = {("frontend" if k == "name" else k): v for k, v in values.items()}
        known = {f.name: f for f in fields(cls)}
        for key in values:
            if key not in known:
                raise UnknownNameError(f"key of {where}", key, list(known))
        if isinstance(values.get("layers"), (list, tuple)):  # a config file's list: the string form's a+b
            values["layers"] = "+".join(map(str, values["layers"]))
        kinds: dict[str, Callable[[Any], Any]] = {"seed": _integral, "rate": _integral, "hop": float, "window": float,
                                                     "width": str}
        try:
            typed = {k: (kinds[k](v) if k in kinds and v is not None else v) for k, v in values.items()}
        except (TypeError, ValueError) as err:
            raise RwbenchError(f"{where}: {err}") from None
        for key in ("frontend", "weights", "pooling", "layers"):
            if key in typed and not isinstance(typed[key], str):
                raise RwbenchError(f"{where}: {key} must be text, not {typed[key]!r}")
        return cls(**typed)


def _integral(value: object) -> int:
    """An integer given as a number or text; a fractional one (seed 1.9, rate 16000.9) is refused, never truncated."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    number = float(value)  # type: ignore[arg-type]
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


# a colon that starts one of the keys (a weight tag like pretrained:/a/b or pretrained:epoch=3-step=10.pt keeps its own)
_KEY = re.compile(r":(?=(?:" + "|".join(f.name for f in fields(HearConfig)) + ")=)")
_ANY_KEY = re.compile(r":(?=[a-z_]+=)")


def parse_model_path(text: str) -> HearConfig:
    """``NAME[:WEIGHTS][:key=value]...``, a ``.toml`` / ``.json`` file of the same keys, or ``""`` (:data:`DEFAULT`)."""
    text = text.strip() or DEFAULT
    path = Path(text)
    if path.suffix.lower() in (".toml", ".json"):
        if not path.is_file():
            raise RwbenchError(f"HEAR model config {text!r} does not exist")
        raw = path.read_text(encoding="utf-8")
        values: dict[str, Any] = tomllib.loads(raw) if path.suffix.lower() == ".toml" else json.loads(raw)
        return HearConfig.from_mapping(values, f"HEAR model config {path.name}")
    head, *pairs = _KEY.split(text)
    if not head.partition(":")[2].startswith("pretrained:"):  # outside a path, any key=value is a key (a typo named)
        head, *more = _ANY_KEY.split(head)
        pairs = more + pairs
    name, _, tag = head.partition(":")
    values = {"frontend": name, **({"weights": tag} if tag else {})}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key in values:
            raise RwbenchError(f"HEAR model {text!r}: {key} is given twice")
        values[key] = value
    return HearConfig.from_mapping(values, f"HEAR model {text!r}")


class RwbenchHearModel(nn.Module):
    """An rwbench front-end instance with the HEAR model attributes; see the module docstring for the rules."""

    columns: torch.Tensor  # a buffer (register_buffer): the embedding columns of the chosen layers

    def __init__(self, config: HearConfig) -> None:
        super().__init__()
        self.config = config
        self.spec = spec = FRONTENDS.get(config.frontend)
        sets = layer_sets(spec, config.layers)
        if len(sets) != 1:
            raise RwbenchError(f"HEAR model: layers {config.layers!r} names {len(sets)} layer sets; give one "
                               "(default, all, or layers joined by +)")
        self.layers = sets[0]
        self.embedder = FrozenEmbedder(spec, width=config.width, weights=config.weights, seed=config.seed,
                                       pooling=config.pooling)
        slices = self.embedder.layer_slices()
        self.register_buffer("columns", torch.cat([torch.arange(*slices[layer]) for layer in self.layers]),
                             persistent=False)
        self.sample_rate: int = config.rate or spec.sample_rate
        self.scene_embedding_size: int = len(self.columns)
        self.timestamp_embedding_size: int = self.scene_embedding_size
        self.timestamp_hop_ms: float = config.hop
        window = max(round(config.window * spec.sample_rate), spec.min_samples(), 1)
        self.window_samples: int = window + window % 2  # even: the window's centre falls on a sample

    def prepare(self, audio: torch.Tensor) -> torch.Tensor:
        """``(n_sounds, samples)`` at :attr:`sample_rate` → float32 at the front-end's rate, on the model's device."""
        if audio.dim() != 2:
            raise RwbenchError(f"HEAR API: audio must be (n_sounds, n_samples), got shape {tuple(audio.shape)}")
        if audio.shape[1] == 0:
            raise RwbenchError("HEAR API: the sounds have no samples (n_samples = 0): nothing to embed")
        if audio.shape[0] == 0:  # the resampler and the FFTs fail on it deep inside, naming nothing
            raise RwbenchError("HEAR API: the batch holds no sounds (n_sounds = 0): nothing to embed")
        if not audio.is_floating_point():  # int16 PCM would be embedded at 32767 times the scale
            raise RwbenchError(f"HEAR API: audio must be float in [-1, 1], got {audio.dtype}")
        refuse_insane_waveforms(audio, "HEAR API")  # before resampling spreads a NaN
        device = self.columns.device
        rate = self.spec.sample_rate
        if self.sample_rate != rate:
            array = audio.detach().to("cpu", torch.float32).numpy().T  # soxr: sounds as channels, resampled apart
            audio = torch.from_numpy(np.ascontiguousarray(resample(array, self.sample_rate, rate).T))
            if audio.shape[1] == 0:  # not a window of zeros scored as the sound
                raise RwbenchError(f"HEAR API: sounds of {array.shape[0]} sample(s) at {self.sample_rate} Hz resample to "
                                   f"none at {self.spec.name}'s {rate} Hz: nothing to embed")
        return audio.to(device, torch.float32)

    def fitting(self, samples: int, most: int) -> int:
        """How many inputs of ``samples`` go through the network at once: up to ``most``, as many as fit the
        device's memory (a paper-width network's 27-s minimum window is 0.5 GiB each)."""
        from .device import batch_that_fits

        return batch_that_fits(self.spec, self.config.width, max(samples, self.spec.min_samples()),
                               self.columns.device, most)

    def embed(self, waves: torch.Tensor) -> torch.Tensor:
        """Clip embeddings of ``(n, samples)`` at the front-end's rate → ``(n, scene_embedding_size)`` (shorter
        clips lengthened by the front-end's rule, by :class:`~rwbench.frontend.FrozenEmbedder`)."""
        return self.embedder(waves)[:, self.columns]


def load_model(model_file_path: str = "", **kwargs) -> RwbenchHearModel:
    """The front-end instance ``model_file_path`` names (module docstring); ``kwargs`` override its keys."""
    config = parse_model_path(model_file_path)
    if kwargs:
        config = HearConfig.from_mapping({**config.__dict__, **kwargs}, "load_model keywords")
    return RwbenchHearModel(config)


def get_scene_embeddings(audio: torch.Tensor, model: RwbenchHearModel) -> torch.Tensor:
    """``(n_sounds, samples)`` float32 mono at ``model.sample_rate`` → ``(n_sounds, scene_embedding_size)``
    float32: rwbench's clip embedding of each whole sound."""
    waves = model.prepare(audio)
    return torch.cat([model.embed(part) for part in torch.split(waves, model.fitting(waves.shape[1], len(waves)))])


def get_timestamp_embeddings(audio: torch.Tensor, model: RwbenchHearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n_sounds, samples)`` → embeddings ``(n_sounds, n_timestamps, timestamp_embedding_size)`` float32 and
    timestamps ``(n_sounds, n_timestamps)`` in ms: ``k · hop``, each the centre of its embedding's window."""
    n_sounds, n_in = audio.shape if audio.dim() == 2 else (0, 0)
    waves = model.prepare(audio)
    rate, hop, window = model.spec.sample_rate, model.timestamp_hop_ms, model.window_samples
    count = int(math.floor(1000.0 * n_in / model.sample_rate / hop + 1e-9)) + 1
    times = torch.arange(count, dtype=torch.float64) * hop  # ms, exact: no accumulated rounding
    centres = torch.round(times * rate / 1000.0).long()  # samples at the front-end's rate
    padded = torch.nn.functional.pad(waves, (window // 2, window // 2))
    index = (centres[:, None] + torch.arange(window)[None]).to(waves.device)  # window k: centre c_k, half each side
    out, per_pass = [], model.fitting(window, WINDOW_BATCH)
    for part in torch.split(index, max(1, per_pass // max(n_sounds, 1))):
        frames = padded[:, part]  # (n_sounds, k, window)
        out.append(model.embed(frames.reshape(-1, window)).reshape(n_sounds, len(part), -1))
    embeddings = torch.cat(out, dim=1) if out else waves.new_zeros(n_sounds, 0, model.timestamp_embedding_size)
    return embeddings, times.float().to(embeddings.device).expand(n_sounds, count).contiguous()
