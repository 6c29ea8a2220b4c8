"""musicnn and its VGG baseline (Pons & Serra, "musicnn: pre-trained convolutional neural networks for music audio
tagging", ISMIR LBD 2019; jordipons/musicnn 0.1.0 ``models.py``), ported to torch so the published MagnaTagATune
(``mtt``) and Million Song Dataset (``msd``) weights run beside their random twins.

Input: musicnn's log-mel — 16 kHz, n_fft 512, hop 256, 96 Slaney mel bands of the power spectrum, ``log10(1 +
10000·x)`` (:data:`MUSICNN_LOGMEL`) — cut into 187-frame patches (3 s). Patches start every 187 frames as in musicnn;
where frames remain after the last full patch, one more patch ending at the clip's last frame is added (it overlaps
the one before), so no audio is left out of the clip embedding. Each feature layer is computed per patch and the
patches are laid end to end on the time axis, so pooling over time pools over every frame of every patch (per-patch
vectors such as ``penultimate`` are pooled over patches).

``musicnn`` (the filter count is the mid-end width, 64 as published; front-end widths are fixed by the model):

- input batch norm; **timbral**: conv 7×38 and 7×67 (time × mel, 'valid' in frequency, time zero-padded by 3),
  204 filters each, ReLU, batch norm, max over frequency → 408 channels per frame;
- **temporal**: convs of 128, 64, 32 frames × 1 band ('same'), 51 filters each, ReLU, batch norm, max over frequency
  → 153 channels per frame;
- dense mid-end: three 1-D convs of 7 frames over the 561 front-end channels (64 filters each, ReLU, batch norm),
  the 2nd and 3rd with residual sums → **cnn1**, **cnn2**, **cnn3**;
- back-end: **mean_pool** and **max_pool** over the 187 frames of [front-end, cnn1, cnn2, cnn3] (753 each),
  interleaved (max, mean) into 1506, batch norm, dense 200 + ReLU + batch norm → **penultimate**, dense → 50 logits.

``musicnn_vgg`` (128 filters): input batch norm, then 5 × [conv 3×3 'same', ReLU, batch norm, max-pool] with pools
4×1/2×2 (stride 2), 2×2, 2×2, 2×2, 4×4 ('valid'): **pool1** … **pool5**; dense on the flattened pool5 → 50 logits.

Batch norm is TensorFlow's (ε = 0.001) with its moving statistics (inference mode); dropout is off. Random weights
are TF1's layer defaults, the networks' starting point before training: Glorot-uniform kernels, zero biases, identity
batch norm. Features by default: ``mean_pool`` + ``max_pool`` for musicnn — the 1506 values its own back-end reads,
and the layers the Jukemir/MARBLE probes use — and ``pool1`` … ``pool5`` for the VGG (Choi et al. 2017's
multi-layer convnet feature, as the study's ``vgg``). ``--layers`` picks others, or ``each`` for one row per layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rwbench.dsp import LogMelConfig
from rwbench.frontend import register_frontend
from rwbench.fusion import NormalisedInput, max_of_bn_relu
from rwbench.tf_checkpoint import CheckpointError
from rwbench.weight_packs import register_weight_pack, tf_checkpoint_reader

MUSICNN_LOGMEL = LogMelConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=96, top_db=None,
                              compression="log10(1+10000x)")
PATCH = 187  # frames per patch (3 s)
TIMBRAL = ((7, 38), (7, 67))  # (time, mel) kernels: int(0.4·96), int(0.7·96)
TEMPORAL = (128, 64, 32)
FRONT_TIMBRAL, FRONT_TEMPORAL = 204, 51  # int(1.6·128), int(1.6·32)
MUSICNN_LAYERS = ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool", "penultimate")
VGG_LAYERS = ("pool1", "pool2", "pool3", "pool4", "pool5")
VGG_POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))
N_TAGS = 50


# -- patches -----------------------------------------------------------------------------------
def patch_starts(frames: int, size: int = PATCH) -> list[int]:
    """Starts of the patches of a ``frames``-long log-mel: every ``size`` frames, plus one end-aligned patch when
    frames remain (none are dropped). Needs ``frames ≥ size``."""
    starts = list(range(0, frames - size + 1, size))
    if starts[-1] + size < frames:
        starts.append(frames - size)
    return starts


def to_patches(x: torch.Tensor, size: int = PATCH) -> torch.Tensor:
    """``(batch, 1, frames, mels)`` → ``(batch · patches, frames=size, mels)``, patches of a clip consecutive."""
    starts = patch_starts(x.shape[2], size)
    return torch.stack([x[:, 0, s:s + size] for s in starts], dim=1).flatten(0, 1)


def from_patches(y: torch.Tensor, batch: int) -> torch.Tensor:
    """``(batch · patches, C, *rest)`` → ``(batch, C, patches, *rest)``: a clip's patches on one time-like axis."""
    return y.unflatten(0, (batch, -1)).movedim(1, 2)


def _same_time(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Zero-pad the time axis (dim 2) of ``(N, C, T, ...)`` as TF 'same' for ``kernel``: (k−1)//2 before."""
    before = (kernel - 1) // 2
    pad = [0, 0] * (x.dim() - 3) + [before, kernel - 1 - before]
    return F.pad(x, pad)


def _freq_max(h: torch.Tensor) -> torch.Tensor:
    return h.amax(dim=3)  # (N, C, T, F') → (N, C, T): the front-end's max over frequency


def _bn(channels: int, dims: int) -> nn.Module:
    return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(channels, eps=1e-3)  # TF's epsilon


# -- musicnn -----------------------------------------------------------------------------------
class Musicnn(nn.Module):
    """Log-mel ``(batch, 1, frames ≥ 187, 96)`` → the :data:`MUSICNN_LAYERS` over all patches (see module doc)."""

    feature_layers = MUSICNN_LAYERS

    def __init__(self, midend: int = 64, n_tags: int = N_TAGS) -> None:
        super().__init__()
        self.input_bn = _bn(1, 2)
        self.timbral = nn.ModuleList(nn.Conv2d(1, FRONT_TIMBRAL, k) for k in TIMBRAL)
        self.timbral_bn = nn.ModuleList(_bn(FRONT_TIMBRAL, 2) for _ in TIMBRAL)
        self.temporal = nn.ModuleList(nn.Conv2d(1, FRONT_TEMPORAL, (k, 1)) for k in TEMPORAL)
        self.temporal_bn = nn.ModuleList(_bn(FRONT_TEMPORAL, 2) for _ in TEMPORAL)
        front = len(TIMBRAL) * FRONT_TIMBRAL + len(TEMPORAL) * FRONT_TEMPORAL  # 561
        self.midend = nn.ModuleList(nn.Conv1d(c, midend, 7) for c in (front, midend, midend))
        self.midend_bn = nn.ModuleList(_bn(midend, 1) for _ in range(3))
        pooled = front + 3 * midend  # 753
        self.pool_bn = _bn(2 * pooled, 1)
        self.dense = nn.Linear(2 * pooled, 200)
        self.dense_bn = _bn(200, 1)
        self.logits = nn.Linear(200, n_tags)

    def layers(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(N, 187, 96)`` patches → every named output: per-frame maps ``(N, C, 187)``, vectors ``(N, C)``."""
        x = NormalisedInput(self.input_bn, patches.unsqueeze(1))  # (N, 1, T, 96)
        timbral = [max_of_bn_relu(x.conv(conv, lambda t: F.pad(t, (0, 0, 3, 3))), bn, _freq_max)
                   for conv, bn in zip(self.timbral, self.timbral_bn)]
        temporal = [max_of_bn_relu(x.conv(conv, partial(_same_time, kernel=cast(nn.Conv2d, conv).kernel_size[0])),
                                   bn, _freq_max) for conv, bn in zip(self.temporal, self.temporal_bn)]
        front = torch.cat(timbral + temporal, dim=1)  # (N, 561, T)
        mid, h = [], front
        for i, (conv, bn) in enumerate(zip(self.midend, self.midend_bn)):
            h = bn(torch.relu(conv(F.pad(h, (3, 3))))) + (h if i else 0)  # residual from the 2nd conv on
            mid.append(h)
        features = torch.cat([front, *mid], dim=1)  # (N, 753, T)
        mean_pool, max_pool = features.mean(dim=2), features.amax(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF concat on a last axis, then flatten
        penultimate = self.dense_bn(torch.relu(self.dense(self.pool_bn(flat))))
        return {"timbral": torch.cat(timbral, dim=1), "temporal": torch.cat(temporal, dim=1), "cnn1": mid[0],
                "cnn2": mid[1], "cnn3": mid[2], "mean_pool": mean_pool, "max_pool": max_pool,
                "penultimate": penultimate, "logits": self.logits(penultimate)}

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.layers(to_patches(x))
        return [from_patches(out[name], len(x)) for name in self.feature_layers]


class MusicnnVGG(nn.Module):
    """Log-mel ``(batch, 1, frames ≥ 187, 96)`` → ``[pool1 … pool5]`` over all patches."""

    feature_layers = VGG_LAYERS

    def __init__(self, filters: int = 128, n_tags: int = N_TAGS) -> None:
        super().__init__()
        self.input_bn = _bn(1, 2)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1) for i in range(5))
        self.bns = nn.ModuleList(_bn(filters, 2) for _ in range(5))
        self.pools = nn.ModuleList(nn.MaxPool2d(size, stride) for size, stride in VGG_POOLS)
        t, f = PATCH, MUSICNN_LOGMEL.n_mels
        for (st, sf), (dt, df) in VGG_POOLS:
            t, f = (t - st) // dt + 1, (f - sf) // df + 1
        self.logits = nn.Linear(filters * t * f, n_tags)

    def layers(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(N, 187, 96)`` patches → ``pool1..pool5`` ``(N, C, time, mel)`` and ``logits``."""
        h = self.input_bn(patches.unsqueeze(1))  # not NormalisedInput: its 3×3 first conv trains faster as written
        out = {}
        for i, (conv, bn, pool) in enumerate(zip(self.convs, self.bns, self.pools), start=1):
            h = max_of_bn_relu(conv(h), bn, pool)
            out[f"pool{i}"] = h
        out["logits"] = self.logits(h.permute(0, 2, 3, 1).flatten(1))  # TF flattens (time, mel, channels)
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.layers(to_patches(x))
        return [from_patches(out[name], len(x)) for name in self.feature_layers]


# -- TensorFlow checkpoint → torch state dict --------------------------------------------------
def _conv2d(kernel: np.ndarray) -> np.ndarray:
    return kernel.transpose(3, 2, 0, 1)  # HWIO → OIHW


def _conv_over_channels(kernel: np.ndarray) -> np.ndarray:
    """A TF conv2d of kernel [k, C] over a (time, C, 1) map is a Conv1d over C channels: [k, C, 1, out] → (out, C, k)."""
    return kernel[:, :, 0, :].transpose(2, 1, 0)


TRANSFORMS = {"conv2d": _conv2d, "conv1d": _conv_over_channels, "dense": lambda k: k.T}


def _musicnn_layout() -> list[tuple[str, str, str]]:
    """(TF scope, torch prefix, kind) in the order musicnn's graph creates its variables."""
    out = [("batch_normalization", "input_bn", "bn")]
    for i in range(2):
        out += [(f"conv2d{'_' + str(i) if i else ''}", f"timbral.{i}", "conv2d"),
                (f"batch_normalization_{i + 1}", f"timbral_bn.{i}", "bn")]
    for i in range(3):
        out += [(f"conv2d_{i + 2}", f"temporal.{i}", "conv2d"), (f"batch_normalization_{i + 3}", f"temporal_bn.{i}", "bn")]
    for i in range(3):
        out += [(f"conv2d_{i + 5}", f"midend.{i}", "conv1d"), (f"batch_normalization_{i + 6}", f"midend_bn.{i}", "bn")]
    return out + [("batch_normalization_9", "pool_bn", "bn"), ("dense", "dense", "dense"),
                  ("batch_normalization_10", "dense_bn", "bn"), ("dense_1", "logits", "dense")]


def _vgg_layout() -> list[tuple[str, str, str]]:
    out = [("batch_normalization", "input_bn", "bn")]
    for i in range(5):
        out += [(f"{i + 1}CNN", f"convs.{i}", "conv2d"), (f"batch_normalization_{i + 1}", f"bns.{i}", "bn")]
    return out + [("dense", "logits", "dense")]


BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
OPTIMISER_STATE = re.compile(r"/Adam(_1)?$|^beta[12]_power$")  # Adam's state, in every published checkpoint


def convert(checkpoint: dict[str, np.ndarray], layout: list[tuple[str, str, str]], net: nn.Module) -> dict[str, np.ndarray]:
    """TF variables → the state dict of ``net`` (a freshly built module, for the expected shapes)."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    state, missing, misshaped = {}, [], []
    for scope, prefix, kind in layout:
        names = BN_NAMES if kind == "bn" else {"kernel": "weight", "bias": "bias"}
        for tf_name, torch_name in names.items():
            key, target = f"{scope}/{tf_name}", f"{prefix}.{torch_name}"
            if key not in checkpoint:
                missing.append(key)
                continue
            value = TRANSFORMS[kind](checkpoint[key]) if tf_name == "kernel" else checkpoint[key]
            if tuple(value.shape) != expected.get(target):
                misshaped.append(f"{key} {tuple(checkpoint[key].shape)} → {target} needs {expected.get(target)}")
                continue
            state[target] = np.ascontiguousarray(value, dtype=np.float32)
    unmapped = sorted(set(expected) - set(state))
    used = {f"{scope}/{tf}" for scope, _, kind in layout for tf in (BN_NAMES if kind == "bn" else ("kernel", "bias"))}
    extra = sorted(k for k in checkpoint if k not in used and not OPTIMISER_STATE.search(k))
    if missing or misshaped or unmapped or extra:  # an extra layer: another variant of musicnn, not this network
        raise CheckpointError("checkpoint does not fit the port: "
                              + "; ".join(f"{what}: {items}" for what, items in (("missing", missing),
                                          ("mis-shaped", misshaped), ("unset", unmapped),
                                          ("not in the port", extra)) if items))
    return state


MODELS = {  # checkpoint folder in the musicnn wheel → (front-end, weight tag, tag list in musicnn's configuration.py)
    "MTT_musicnn": ("musicnn", "mtt", "MTT_LABELS"),
    "MSD_musicnn": ("musicnn", "msd", "MSD_LABELS"),
    "MTT_vgg": ("musicnn_vgg", "mtt", "MTT_LABELS"),
    "MSD_vgg": ("musicnn_vgg", "msd", "MSD_LABELS"),
}
LAYOUTS: dict[str, tuple[Callable[[], list[tuple[str, str, str]]], Callable[[], nn.Module]]] = {
    "musicnn": (_musicnn_layout, lambda: Musicnn()), "musicnn_vgg": (_vgg_layout, lambda: MusicnnVGG())}


def _convert(checkpoint: dict[str, np.ndarray], frontend: str) -> dict[str, np.ndarray]:
    layout, build = LAYOUTS[frontend]
    return convert(checkpoint, layout(), build())


register_weight_pack(
    name="musicnn",
    requirement="musicnn==0.1.0",
    wheel="musicnn-0.1.0-py3-none-any.whl",
    sha256="f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa",
    licence="ISC (musicnn 0.1.0, Jordi Pons)",
    models={model: (frontend, tag) for model, (frontend, tag, _) in MODELS.items()},
    # the checkpoints were saved with an empty file name: their prefix is the folder
    read=tf_checkpoint_reader(lambda model: f"musicnn/{model}/",
                              lambda model, ckpt: _convert(ckpt, MODELS[model][0])),
    labels=lambda model: ("musicnn/configuration.py", MODELS[model][2]),
)


def _register(name: str, *, build, layers: tuple[str, ...], default_layers: tuple[str, ...], width: int,
              description: str, dims, channels_last: bool = False):
    return register_frontend(
        name=name,
        input_kind="logmel",
        sample_rate=16000,
        widths={"small": width, "paper": width},
        feature_dim=lambda nf: sum(dims(nf)[layer] for layer in layers),
        layer_dims=dims,
        feature_layers=layers,
        default_layers=default_layers,
        source="Pons & Serra 2019, musicnn: pre-trained CNNs for music audio tagging (ISMIR LBD; jordipons/musicnn "
               "0.1.0)",
        logmel=MUSICNN_LOGMEL,
        min_input=PATCH,
        pad_to_min="repeat",
        input_length=f"≥ {PATCH} frames (2.98 s at 16 kHz), cut into {PATCH}-frame patches; shorter clips are "
                     "repeat-padded",
        weights=("random", "mtt", "msd"),
        pretrained={"mtt": "musicnn", "msd": "musicnn"},
        init="xavier_uniform",
        description=description,
        channels_last=channels_last,
    )(build)


def _musicnn_dims(nf: int) -> dict[str, int]:
    front = 2 * FRONT_TIMBRAL + 3 * FRONT_TEMPORAL
    return {"timbral": 2 * FRONT_TIMBRAL, "temporal": 3 * FRONT_TEMPORAL, "cnn1": nf, "cnn2": nf, "cnn3": nf,
            "mean_pool": front + 3 * nf, "max_pool": front + 3 * nf, "penultimate": 200}


_register("musicnn", build=lambda nf: Musicnn(nf), layers=MUSICNN_LAYERS, default_layers=("mean_pool", "max_pool"),
          width=64, dims=_musicnn_dims,
          description="timbral 7×38/7×67 + temporal 128/64/32 filters, dense residual mid-end, mean+max pool, "
                      "dense 200; features mean_pool+max_pool")
_register("musicnn_vgg", build=lambda nf: MusicnnVGG(nf), layers=VGG_LAYERS, default_layers=VGG_LAYERS,
          width=128, dims=lambda nf: {layer: nf for layer in VGG_LAYERS}, channels_last=True,
          description="5 × [conv 3×3, ReLU, BN, max-pool 4×1/2×2/2×2/2×2/4×4]; features pool1..pool5")
