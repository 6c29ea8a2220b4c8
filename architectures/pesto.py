"""PESTO (Riou, Lattner, Hadjeres & Peeters, "PESTO: pitch estimation with self-supervised transposition-equivariant
objective", ISMIR 2023; pesto-pitch 2.0.1), its CQT front-end and its small frame-wise network ported to torch, so
the published MIR-1K model (``mir-1k_g7``, the package's default) runs beside its seeded random twin.

Input: 16 kHz waveform → PESTO's variable-Q transform, reproduced operation by operation (the kernels as nnAudio's
``create_cqt_kernels`` builds them in pesto-pitch 2.0.1): 251 bins at 3 per semitone from 27.5 Hz (centred bins:
the first at 27.5 · 2^(−1/36) Hz), γ = 7, Hann-windowed complex kernels, each L1-normalised and centred in a
4096-sample filter; the clip is reflect-padded by 2048 samples at each end and filtered every :data:`HOP` samples
(``1 + samples // HOP`` frames), each bin scaled by √(kernel length); the magnitude in dB (floored at float32 ε),
times ln 10 / 10 as PESTO's forward leaves it (the natural log of the power), then cropped to the 219 bins
16 … 234 the network reads. :data:`HOP` is 1024 samples (64 ms), as for :mod:`~rwbench.architectures.crepe`;
PESTO's default step is 10 ms (160 samples), 6.4× the frames for a clip embedding that pools them all. The CQT
has no weights: random and published rows share it.

Network, per frame (the filter count ``nf`` is the width of the first three convs, 40 as published): layer norm
over the 219 bins; **conv1**: conv 39 ('same') to ``nf`` channels, leaky ReLU (slope 0.3); **prefilt1**,
**prefilt2**: two more such convs, each added to its input; **conv2** … **conv5**: 1×1 convs to 30, 30, 10 and 3
channels, leaky ReLU; a Toeplitz layer (one 1-D conv of 1040 taps, 383 zeros each side) from the 3 × 219 flattened
values to 384 outputs → **logits**, whose softmax is PESTO's activations (pitch bins of 1/3 semitone); both are
rolled by PESTO's calibrated shift (``round(3 · shift)`` bins; 0 for random weights). The feature layer is the
logits, not the activations: far from the pitch a trained model's softmax underflows to float32 denormals (down to
~1e-40), too small for the backends' standard scaling to divide by. Dropout is off; the package's voiced/unvoiced
classifier is not ported (it reads the CQT energy, not the network).

Random weights are He-uniform kernels (PyTorch's own default draws U(±1/√fan_in), which rwbench does not offer;
He-uniform is the same law, √6 times wider) with zero biases and identity layer norm. Every layer is a feature
layer, by default all: conv layers are pooled over frames × bins (their channels: 3·nf + 73 values), the
logits over frames (384).
"""

from __future__ import annotations

import functools
import io
import math
import pickle
import types
import zipfile
from typing import TypedDict

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import get_window
from torch import nn

from rwbench.frontend import register_frontend
from rwbench.weight_packs import WeightsError, register_weight_pack


class _CQTParams(TypedDict):
    fmin: float
    bins_per_semitone: int
    n_bins: int
    gamma: float


SAMPLE_RATE = 16000
HOP = 1024  # samples between frames (64 ms)
CQT: _CQTParams = {"fmin": 27.5, "bins_per_semitone": 3, "n_bins": 251, "gamma": 7}  # the mir-1k_g7 checkpoint's hcqt_params
CROP = (16, 251 - 16)  # PESTO's CropCQT(min_steps=-16, max_steps=16): bins [16, 235)
BINS = CROP[1] - CROP[0]  # 219
MIX = (30, 30, 10, 3)  # channels of the 1×1 convs
KERNEL, SLOPE, OUTPUTS = 39, 0.3, 384
LAYERS = ("conv1", "prefilt1", "prefilt2", "conv2", "conv3", "conv4", "conv5", "logits")


# -- the CQT ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def cqt_kernels(sr: int = SAMPLE_RATE, *, fmin: float = CQT["fmin"], bins_per_semitone: int = CQT["bins_per_semitone"],
                n_bins: int = CQT["n_bins"], gamma: float = CQT["gamma"]) -> tuple[np.ndarray, np.ndarray]:
    """Complex64 kernels ``(n_bins, width)`` and their lengths, in the float64 operations (and order) of
    pesto-pitch 2.0.1's ``create_cqt_kernels`` with ``center_bins=True``, so the float32 kernels are its bits.
    Cached: treat the arrays as read-only."""
    per_octave = 12 * bins_per_semitone
    fmin = fmin / 2 ** ((bins_per_semitone - 1) / (24 * bins_per_semitone))  # centre the bins on the semitones
    q = 1.0 / (2 ** (1 / per_octave) - 1)
    freqs = fmin * 2.0 ** (np.r_[0:n_bins] / np.double(per_octave))
    alpha = 2.0 ** (1.0 / per_octave) - 1.0
    lengths = np.ceil(q * sr / (freqs + gamma / alpha))
    width = int(2 ** np.ceil(np.log2(int(max(lengths)))))
    kernels = np.zeros((n_bins, width), dtype=np.complex64)
    for k, (freq, n) in enumerate(zip(freqs, lengths)):
        start = int(np.ceil(width / 2.0 - n / 2.0)) - (1 if n % 2 == 1 else 0)  # odd lengths: the extra zero right
        sig = get_window("hann", int(n), fftbins=True) * np.exp(np.r_[-n // 2: n // 2] * 1j * 2 * np.pi * freq / sr) / n
        kernels[k, start:start + int(n)] = sig / np.linalg.norm(sig, 1)
    return kernels, lengths


class PestoCQT(nn.Module):
    """Waveform ``(batch, 1, samples > 2048)`` → PESTO's network input ``(batch, frames, 219)`` (see module doc)."""

    kernels: torch.Tensor  # buffers (register_buffer)
    sqrt_lengths: torch.Tensor

    def __init__(self, hop: int = HOP, sr: int = SAMPLE_RATE) -> None:
        super().__init__()
        kernels, lengths = cqt_kernels(sr)
        self.hop, self.width, self.n_bins = hop, kernels.shape[1], len(kernels)
        weight = np.concatenate([kernels.real, -kernels.imag])[:, None, :]  # real and imaginary parts as channels
        self.register_buffer("kernels", torch.tensor(weight, dtype=torch.float32), persistent=False)
        self.register_buffer("sqrt_lengths", torch.tensor(lengths, dtype=torch.float32).sqrt()[:, None], persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = F.pad(wave, (self.width // 2, self.width // 2), mode="reflect")
        cqt = F.conv1d(x, self.kernels, stride=self.hop).view(len(wave), 2, self.n_bins, -1) * self.sqrt_lengths
        magnitude = torch.view_as_complex(cqt.permute(0, 3, 2, 1).contiguous()).abs()  # (batch, frames, bins)
        db = magnitude.clamp(min=torch.finfo(torch.float32).eps).log10().mul(20)
        return db.mul(math.log(10) / 10.0)[..., CROP[0]:CROP[1]]


# -- the network -----------------------------------------------------------------------------------
class Pesto(nn.Module):
    """Waveform ``(batch, 1, samples > 2048)`` → conv layers ``(batch, C, frames, 219)`` and rolled ``logits``
    ``(batch, 384, frames)``."""

    shift: torch.Tensor  # a buffer (register_buffer)

    feature_layers = LAYERS

    def __init__(self, filters: int = 40, hop: int = HOP) -> None:
        super().__init__()
        self.cqt = PestoCQT(hop)
        self.layernorm = nn.LayerNorm(BINS)  # PESTO's is over (1 channel, 219 bins): the same values, 1-D parameters
        self.conv1 = nn.Conv1d(1, filters, KERNEL, padding=KERNEL // 2)
        self.prefilt = nn.ModuleList(nn.Conv1d(filters, filters, KERNEL, padding=KERNEL // 2) for _ in range(2))
        self.mix = nn.ModuleList(nn.Conv1d(c_in, c_out, 1) for c_in, c_out in zip((filters, *MIX[:-1]), MIX))
        self.fc = nn.Conv1d(1, 1, BINS * MIX[-1] + OUTPUTS - 1, padding=OUTPUTS - 1, bias=False)  # PESTO's ToeplitzLinear
        self.register_buffer("shift", torch.zeros(1))  # semitones, calibrated after training (PESTO's is 0-d)

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """CQT frames ``(N, 1, 219)`` → conv maps ``(N, C, 219)``, the Toeplitz layer's ``raw`` output, and the rolled
        ``logits`` and ``activations`` ``(N, 384)``."""
        act = lambda h: F.leaky_relu(h, SLOPE)  # noqa: E731
        h = act(self.conv1(self.layernorm(x)))
        out = {"conv1": h}
        for i, conv in enumerate(self.prefilt, start=1):
            h = act(conv(h)) + h
            out[f"prefilt{i}"] = h
        for i, conv in enumerate(self.mix, start=2):
            h = act(conv(h))
            out[f"conv{i}"] = h
        out["raw"] = self.fc(h.flatten(1).unsqueeze(1)).squeeze(1)
        k = torch.round(self.shift.double() * CQT["bins_per_semitone"]).long()  # (1,): PESTO rolls the bins by −k
        index = (torch.arange(OUTPUTS, device=x.device) + k) % OUTPUTS
        out["logits"] = out["raw"][:, index]
        out["activations"] = torch.softmax(out["raw"], dim=-1)[:, index]  # PESTO's order: softmax, then roll
        return out

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        x = self.cqt(wave)
        out = self.layers(x.flatten(0, 1).unsqueeze(1))
        batch = len(wave)
        return [out[name].unflatten(0, (batch, -1)).movedim(1, 2) for name in LAYERS]


# -- the published model: pesto-pitch's wheel --------------------------------------------------------
class _Inert:
    """Stands in for the omegaconf containers pickled in the checkpoint's hyperparameters; keeps their state."""

    def __setstate__(self, state) -> None:
        self.state = state


PYTHON2_NAMES = {("__builtin__", n): ("builtins", "int" if n == "long" else n) for n in ("dict", "list", "int", "long", "float")}


class _CheckpointUnpickler(pickle.Unpickler):
    """Only tensors, plain containers and inert omegaconf stand-ins: no code from the file is run."""

    ALLOWED = {("collections", "OrderedDict"), ("collections", "defaultdict"), ("builtins", "dict"), ("builtins", "list"),
               ("builtins", "int"), ("builtins", "float"), ("torch._utils", "_rebuild_tensor_v2"),
               ("torch._utils", "_rebuild_parameter"), ("torch", "FloatStorage"), ("torch", "LongStorage")}

    def find_class(self, module: str, name: str):
        if module.split(".")[0] == "omegaconf" or (module, name) == ("typing", "Any"):
            return type(name, (_Inert,), {})
        module, name = PYTHON2_NAMES.get((module, name), (module, name))
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"the checkpoint refers to {module}.{name}, which a weights file has no need of")
        return super().find_class(module, name)


_PICKLE = types.SimpleNamespace(Unpickler=_CheckpointUnpickler, load=pickle.load, __name__="pesto_checkpoint")


def _plain(value):
    """An omegaconf stand-in as the list / dict / value it held."""
    state = getattr(value, "state", None)
    if isinstance(state, dict) and "_content" in state:
        content = state["_content"]
        return {k: _plain(v) for k, v in content.items()} if isinstance(content, dict) else [_plain(v) for v in content]
    if isinstance(state, dict) and "_val" in state:
        return state["_val"]
    return value


EXPECTED_ENCODER = {"n_chan_input": 1, "n_chan_layers": [40, *MIX], "n_prefilt_layers": 3, "prefilt_kernel_size": KERNEL,
                    "residual": True, "n_bins_in": BINS, "output_dim": OUTPUTS, "activation_fn": "leaky", "a_lrelu": SLOPE}
KEYS = {"encoder.layernorm.": "layernorm.", "encoder.conv1.0.": "conv1.", "encoder.prefilt_layers.0.0.": "prefilt.0.",
        "encoder.prefilt_layers.1.0.": "prefilt.1.", "encoder.fc.": "fc.", "shift": "shift",
        **{f"encoder.conv_layers.{3 * i}.": f"mix.{i}." for i in range(len(MIX))}}


def read_pesto(archive: zipfile.ZipFile, model: str) -> dict[str, np.ndarray]:
    """``pesto/weights/<model>.ckpt`` of the wheel (a Lightning checkpoint): its hyperparameters checked against the
    port, its encoder and shift renamed to the port's keys (the voiced/unvoiced classifier is left out)."""
    try:
        ckpt = torch.load(io.BytesIO(archive.read(f"pesto/weights/{model}.ckpt")), map_location="cpu",
                          weights_only=False, pickle_module=_PICKLE)
    except pickle.UnpicklingError as err:
        raise WeightsError(f"PESTO checkpoint {model}: {err}") from err
    encoder = {k: _plain(v) for k, v in ckpt["hparams"]["encoder"].items()}
    crop = _plain(ckpt["hparams"]["pitch_shift"])
    differ = [f"{k}={encoder.get(k)!r} (port: {v!r})" for k, v in EXPECTED_ENCODER.items() if encoder.get(k) != v]
    differ += [f"hcqt {k}={ckpt['hcqt_params'].get(k)!r} (port: {v!r})" for k, v in
               {**CQT, "harmonics": [1], "fmax": None, "center_bins": True}.items() if ckpt["hcqt_params"].get(k) != v]
    if crop != {"min_steps": -CROP[0], "max_steps": CROP[0]}:
        differ.append(f"pitch_shift={crop!r} (port: ±{CROP[0]})")
    if differ:
        raise WeightsError(f"PESTO checkpoint {model} is not the network the port builds: {'; '.join(differ)}")
    state = {}
    for key, value in ckpt["state_dict"].items():
        prefix = next((p for p in KEYS if key.startswith(p)), None)
        if prefix is not None:
            value = value.reshape(-1) if prefix in ("encoder.layernorm.", "shift") else value  # (1, 219) → (219,); () → (1,)
            state[KEYS[prefix] + key[len(prefix):]] = value.float().numpy()
        elif not key.startswith("confidence."):
            raise WeightsError(f"PESTO checkpoint {model} holds {key}, which the port does not know")
    return state


register_weight_pack(
    name="pesto",
    requirement="pesto-pitch==2.0.1",
    wheel="pesto_pitch-2.0.1-py3-none-any.whl",
    sha256="2eb1e5ac1c2f78f7563f4800cccd73daf04d52717ff0d95ea30257a56f3f9d37",
    licence="LGPL-3.0 (pesto-pitch 2.0.1, Sony CSL Paris: Riou, Lattner, Hadjeres & Peeters)",
    models={"mir-1k_g7": ("pesto", "mir1k")},
    read=read_pesto,
)


def _dims(nf: int) -> dict[str, int]:
    return {"conv1": nf, "prefilt1": nf, "prefilt2": nf, **{f"conv{i}": c for i, c in enumerate(MIX, start=2)},
            "logits": OUTPUTS}


@register_frontend(
    name="pesto",
    input_kind="waveform",
    sample_rate=SAMPLE_RATE,
    widths={"small": 40, "paper": 40},
    feature_dim=lambda nf: sum(_dims(nf).values()),
    layer_dims=_dims,
    feature_layers=LAYERS,
    source="Riou, Lattner, Hadjeres & Peeters 2023, PESTO: pitch estimation with self-supervised "
           "transposition-equivariant objective (ISMIR; pesto-pitch 2.0.1)",
    min_input=2049,
    pad_to_min="repeat",
    input_length=f"≥ 2049 samples (the CQT reflect-pads 2048 at each end); a frame every {HOP} samples "
                 f"({1000 * HOP // SAMPLE_RATE} ms)",
    weights=("random", "mir1k"),
    pretrained={"mir1k": "pesto"},
    init="he_uniform",
    waveform_filters=(),  # its convolutions run over CQT bins
    description="PESTO: variable-Q CQT (251 bins, 3/semitone) → per frame: layer norm, 3 × conv 39 (residual), "
                "4 × conv 1, Toeplitz → 384 pitch logits; features every conv + logits",
)
def pesto(filters: int) -> Pesto:
    return Pesto(filters)
