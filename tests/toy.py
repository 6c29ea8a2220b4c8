"""A tiny front-end and dataset for the stage tests: fast, deterministic, not registered globally."""

from __future__ import annotations

import os
import zlib

import numpy as np
import torch
from torch import nn

from rwbench.datamodel import Clip, Dataset
from rwbench.frontend import FrontendSpec
from rwbench.protocol import PredefinedFolds

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]  # tests that take the device as a parameter


class TinyNet(nn.Module):
    """Waveform → two conv layers; features = their time-means (2·filters)."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, filters, 64, stride=32)
        self.conv2 = nn.Conv1d(filters, filters, 3, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        a = torch.relu(self.conv1(x))
        return [a, torch.relu(self.conv2(a))]


TINY = FrontendSpec(
    name="tiny", build=TinyNet, input_kind="waveform", sample_rate=8000, widths={"small": 4, "paper": 16},
    feature_dim=lambda nf: 2 * nf, feature_layers=("conv1", "conv2"), source="test", min_input=64,
)


class ToneDataset(Dataset):
    """Classes = tone frequencies; counts every decode so tests can see what was recomputed."""

    decoded: list[str]

    def load_audio(self, clip: Clip, sample_rate: int) -> np.ndarray:
        self.decoded.append(clip.id)
        marker = getattr(self, "die_once", None)  # a file path: the first process to decode creates it and dies
        if marker and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        if self.fail_on and clip.id in self.fail_on:
            raise self.fail_on[clip.id]
        rng = np.random.default_rng(zlib.crc32(clip.id.encode()))
        freq = {"low": 300.0, "mid": 900.0, "high": 2000.0}[clip.label]
        t = np.arange(int(0.25 * sample_rate)) / sample_rate
        return (np.sin(2 * np.pi * freq * t) + 0.3 * rng.standard_normal(len(t))).astype(np.float32)

    def fingerprint_parts(self) -> dict:
        return {"name": self.name, "ids": [c.id for c in self.clips]}


def tone_dataset(n_per_class: int = 12, folds: int = 4, fail_on: dict | None = None) -> ToneDataset:
    clips = [Clip(id=f"{label}/{i:03d}", label=label, fold=i % folds + 1)
             for label in ("low", "mid", "high") for i in range(n_per_class)]
    ds = ToneDataset(name="tones", task=None, clips=clips, protocol=PredefinedFolds(id="tones-folds"), seconds=0.25)
    ds.decoded, ds.fail_on = [], fail_on or {}
    return ds


TONES = {"low": 300.0, "mid": 900.0, "high": 2000.0}


class ChordDataset(Dataset):
    """Multilabel: each clip sums the tones of its tags (1–3 of low / mid / high) plus noise."""

    def load_audio(self, clip: Clip, sample_rate: int) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(clip.id.encode()))
        t = np.arange(int(0.25 * sample_rate)) / sample_rate
        wave = sum(np.sin(2 * np.pi * TONES[tag] * t) for tag in clip.tags)
        return (wave + 0.3 * rng.standard_normal(len(t))).astype(np.float32)

    def fingerprint_parts(self) -> dict:
        return {"name": self.name, "ids": [c.id for c in self.clips], "tags": [c.tags for c in self.clips]}


def chord_dataset(n: int = 48, folds: int = 4) -> ChordDataset:
    """``n`` clips whose tag sets cycle through every non-empty subset of the three tones, in ``folds`` folds."""
    from itertools import combinations

    from rwbench.datamodel import tagged_clip

    subsets = [s for k in (1, 2, 3) for s in combinations(TONES, k)]
    clips = [tagged_clip(f"chord/{i:03d}", subsets[i % len(subsets)], fold=i % folds + 1) for i in range(n)]
    return ChordDataset(name="chords", task=None, clips=clips, protocol=PredefinedFolds(id="chords-folds"),
                        seconds=0.25, task_type="multilabel")
