"""Figures that read a front-end's weights: first-layer filter spectra, and MST's learned vs target log-mel.

**Filter spectra** (``rwbench plot filters``; the figure of Dieleman & Schrauwen 2014, Lee et al. 2017 and the
DeepFourier comparison): the first-layer kernels of a waveform front-end — every ``Conv1d`` that reads the
one-channel waveform — each zero-padded to :data:`SPECTRUM_POINTS` samples, its magnitude spectrum in dB relative to
its own peak, the filters sorted by their dominant frequency. A front-end that reads a log-mel has no waveform
filters and is refused by name.

**MST learned vs target** (``rwbench plot mel-target``; Tax et al. 2017, fig. 1): for one test clip of an outer fold,
the normalised 60-band log-mel the ``mst`` layer was trained to regress, the layer's output with that fold's
``mst`` weights, and the output of the random twin it started from (same seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from .analysis.figures import Figure, new_figure, plain
from .clips import clip_audio
from .datamodel import Dataset
from .embed_job import EmbedJob
from .errors import RwbenchError
from .fileio import read_json
from .frontend import Embedder, FrontendSpec, resolve_weights
from .pretrain import MST_TARGET, predict_mst, scale_target, target_logmel
from .results import FOLD_TAGS, check_fold_weights, check_fold_weights_file, fold_weights_folder

SPECTRUM_POINTS = 2048  # FFT length: kernels are zero-padded to it (finer frequency grid than short kernels give)
FLOOR_DB = -40.0  # the colour scale's floor, relative to each filter's peak


def fold_checkpoint(results_dir: Path, tag: str, spec: FrontendSpec, width: str | int, seed: int,
                    dataset: str | None = None, fold: str | None = None) -> tuple[Path, str, str]:
    """(weights file, dataset key, fold) of per-fold weights ``tag`` (``trained``, ``mst``): the dataset may be
    left out when one dataset has them, the fold when any will do (the first by name)."""
    root = Path(results_dir) / "weights" / tag
    found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if dataset is None:
        if len(found) != 1:
            where = f"datasets with {tag!r} weights: {', '.join(found)}" if found else f"none under {root}"
            raise RwbenchError(f"name the dataset whose {tag!r} weights to read (--dataset; {where})")
        dataset = found[0].replace("__", "/")
    folder = fold_weights_folder(results_dir, tag, dataset, spec.name, width, seed)
    folds = sorted(p.stem for p in folder.glob("*.safetensors"))
    if not folds:
        command = "rwbench train" if tag == "trained" else f"rwbench pretrain {tag}"
        raise RwbenchError(f"no {tag!r} weights of {spec.name} (width {width}, seed {seed}) for {dataset} under "
                           f"{folder}; make them with `{command}` first")
    if fold is None:
        fold = folds[0]
    elif fold not in folds:
        raise RwbenchError(f"no {tag!r} weights for fold {fold!r} in {folder}; folds present: {', '.join(folds)}")
    return folder / f"{fold}.safetensors", dataset, fold


# -- first-layer filter spectra ---------------------------------------------------------------------------
def waveform_kernels(spec: FrontendSpec, net: nn.Module) -> list[np.ndarray]:
    """The kernels of the modules the spec names as its waveform filters (``waveform_filters``), else of every
    ``Conv1d`` with one input channel, in module order; a ``(k, 1)`` Conv2d kernel (CREPE's) is ``k`` taps; a
    dilated kernel's taps are spread to its dilation."""
    if spec.input_kind != "waveform":
        reads = "a log-mel spectrogram" if spec.input_kind == "logmel" else "no learnable filters"
        raise RwbenchError(f"front-end {spec.name!r} reads {reads}: it has no first-layer waveform filters to plot")
    if spec.waveform_filters == ():
        raise RwbenchError(f"front-end {spec.name!r} convolves a fixed transform of the waveform (its spec declares "
                           "no waveform filters): its first layer's kernels are not filters of the audio")
    modules = ([net.get_submodule(name) for name in spec.waveform_filters] if spec.waveform_filters is not None else
               [m for m in net.modules() if isinstance(m, nn.Conv1d) and m.in_channels == 1])
    kernels = [spread(row.detach().double().reshape(-1).numpy(), int(getattr(module, "dilation", (1,))[0]))
               for module in modules for row in cast(torch.Tensor, module.weight)[:, 0]]
    if not kernels:
        raise RwbenchError(f"front-end {spec.name!r} has no Conv1d over the waveform (one input channel)")
    return kernels


def spread(taps: np.ndarray, dilation: int) -> np.ndarray:
    """A dilated kernel's impulse response: its taps ``dilation`` samples apart (a 1-kHz cosine over taps two samples
    apart passes 500 Hz at 8 kHz)."""
    if dilation == 1:
        return taps
    out = np.zeros((len(taps) - 1) * dilation + 1)
    out[::dilation] = taps
    return out


def filter_spectra(kernels: list[np.ndarray], sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies in Hz, dB spectra relative to each filter's peak ``(filters, frequencies)`` sorted by dominant
    frequency, those dominant frequencies)."""
    points = max(SPECTRUM_POINTS, *(len(k) for k in kernels))
    magnitude = np.stack([np.abs(np.fft.rfft(k, n=points)) for k in kernels])
    freqs = np.fft.rfftfreq(points, 1 / sample_rate)
    peak = magnitude.argmax(axis=1)
    order = np.argsort(peak, kind="stable")
    peaks = magnitude.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero kernel (a sine at 0 Hz) is -inf throughout
        db = np.where(peaks > 0, 20 * np.log10(magnitude / np.where(peaks > 0, peaks, 1)), -np.inf)
    return freqs, db[order], freqs[peak[order]]


@dataclass(frozen=True)
class FilterPanel:
    frontend: FrontendSpec
    weights: str  # the weights tag shown
    net: nn.Module
    note: str = ""  # where per-fold weights came from


def filter_panel(spec: FrontendSpec, tag: str, *, width: str | int, seed: int, results_dir: Path,
                 dataset: str | None, fold: str | None) -> FilterPanel:
    """One front-end with one weights tag, ready to plot (per-fold tags read ``results_dir``)."""
    checkpoint, note = None, f"seed {seed}, width {width}"
    if tag in FOLD_TAGS:
        checkpoint, dataset, fold = fold_checkpoint(results_dir, tag, spec, width, seed, dataset, fold)
        check_fold_weights_file(checkpoint.parent, fold, spec, tag)  # the file its record names, for this network
        note = f"{dataset}, {fold}, {note}"
    weights = resolve_weights(spec, tag, seed, checkpoint)
    # titled with the resolved tag (pretrained:STEM@SHA8, as in the tables), not the path as typed
    return FilterPanel(spec, weights.tag, Embedder(spec, width=width, weights=weights, seed=seed).net, note)


def filters_figure(panels: list[FilterPanel]) -> Figure:
    """One image per panel: filters (sorted by dominant frequency) across, frequency up, dB re each filter's peak."""
    fig = new_figure(3.4 * len(panels) + 0.8, 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]  # at least one panel: subplots refuses none
    for ax, panel in zip(axes, panels):
        kernels = waveform_kernels(panel.frontend, panel.net)
        freqs, db, _ = filter_spectra(kernels, panel.frontend.sample_rate)
        image = ax.imshow(db.T, origin="lower", aspect="auto", cmap="magma", vmin=FLOOR_DB, vmax=0,
                          extent=(0, len(kernels), 0, freqs[-1] / 1000), interpolation="nearest")
        lengths = sorted({len(k) for k in kernels})
        title = f"{panel.frontend.name} · {panel.weights}" + (f"\n({panel.note})" if panel.note else "")
        ax.set_title(plain(title), fontsize=9)
        ax.set_xlabel(f"{len(kernels)} filters of {'/'.join(map(str, lengths))} samples,\nsorted by dominant frequency",
                      fontsize=8)
        ax.set_ylabel("frequency (kHz)")
    fig.colorbar(image, ax=list(axes), shrink=0.9, label="dB re each filter's peak")
    return fig


# -- MST: learned vs target log-mel ------------------------------------------------------------------------
@dataclass(frozen=True)
class MelTarget:
    target: np.ndarray  # (60, frames) scaled to [−1, 1] as in training
    learned: np.ndarray  # the mst layer with the fold's weights
    random: np.ndarray  # the random twin (same seed)
    clip: str
    fold: str
    dataset: str
    seed: int
    width: str


def mel_target(spec: FrontendSpec, dataset: Dataset, results_dir: Path, *, width: str | int, seed: int,
               fold: str | None = None, clip: int | None = None) -> MelTarget:
    """What :func:`mel_target_figure` draws, for clip ``clip`` (default: the fold's first test clip)."""
    checkpoint, key, fold = fold_checkpoint(results_dir, "mst", spec, width, seed, dataset.key, fold)
    split = next((s for s in dataset.splits() if s.name == fold), None)
    if split is None:
        raise RwbenchError(f"dataset {dataset.key} has no outer split {fold!r}: these weights were trained under "
                           "other splits, and no clip of it is known to be held out from them")
    check_fold_weights(checkpoint.parent, fold, dataset, spec, tag="mst")  # trained on these clips and splits
    scaling = read_json(checkpoint.with_suffix(".json"))["target"]
    if clip is None:
        clip = int(split.test[0])
    if not 0 <= clip < len(dataset.clips):
        raise RwbenchError(f"--clip {clip} is not a clip of {dataset.key} (0 … {len(dataset.clips) - 1})")
    if clip not in set(split.test.tolist()):  # its error would read as held-out while the weights learnt it
        raise RwbenchError(f"--clip {clip} ({dataset.clips[clip].id}) is on {fold}'s training side: pick one of its "
                           f"{len(split.test)} test clips (e.g. {', '.join(map(str, split.test[:5]))})")
    wave = clip_audio(EmbedJob(dataset, spec, width), clip)[None]
    target = scale_target(target_logmel(wave), scaling)[0]
    outputs = {}
    for name, weights in (("learned", resolve_weights(spec, "mst", seed, checkpoint)), ("random", "random")):
        net = Embedder(spec, width=width, weights=weights, seed=seed).net
        with torch.no_grad():
            outputs[name] = predict_mst(net, wave, target.shape[1])[0].numpy()
    frames = min(target.shape[1], outputs["learned"].shape[1])
    return MelTarget(target[:, :frames].numpy(), outputs["learned"][:, :frames], outputs["random"][:, :frames],
                     dataset.clips[clip].id, fold, dataset.key, seed, str(width))


def mel_target_figure(data: MelTarget) -> Figure:
    panels = (("target log-mel (scaled)", data.target), ("mst layer, mst weights", data.learned),
              ("mst layer, random init", data.random))
    fig = new_figure(11.0, 3.6)
    axes = fig.subplots(1, 3, sharey=True)
    seconds = data.target.shape[1] * MST_TARGET.hop_length / MST_TARGET.sample_rate
    for ax, (title, values) in zip(axes, panels):
        image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis", vmin=-1, vmax=1,
                          extent=(0, seconds, 0, values.shape[0]))
        error = "" if values is data.target else f"\nMSE {np.mean((values - data.target) ** 2):.4f}"
        ax.set_title(plain(title + error), fontsize=9)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel(f"mel band (of {MST_TARGET.n_mels})")
    fig.colorbar(image, ax=list(axes), shrink=0.9)
    fig.suptitle(f"{data.dataset}, {data.fold}, test clip {data.clip} · seed {data.seed} (the random twin's too), "
                 f"width {data.width}", fontsize=10)
    return fig
