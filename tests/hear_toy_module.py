"""A tiny module that follows the HEAR 2021 API, for the import tests (``hear:hear_toy_module``): 16 kHz audio,
25 ms frames every 10 ms, a fixed random projection of each frame's log spectrum; scene = mean of the frames.
``load_model(path)`` reads the projection from a ``torch.save`` file when one is given."""

from __future__ import annotations

import torch
from torch import nn

__version__ = "0.0-test"
FRAME, HOP = 400, 160


class ToyModel(nn.Module):
    sample_rate = 16000
    scene_embedding_size = timestamp_embedding_size = 8

    def __init__(self) -> None:
        super().__init__()
        self.projection = nn.Linear(FRAME // 2 + 1, 8, bias=False)
        with torch.no_grad():
            self.projection.weight.copy_(torch.randn(8, FRAME // 2 + 1, generator=torch.Generator().manual_seed(0)))


def load_model(model_file_path: str = "") -> ToyModel:
    model = ToyModel()
    if model_file_path:
        model.load_state_dict(torch.load(model_file_path))
    return model


def get_timestamp_embeddings(audio: torch.Tensor, model: ToyModel) -> tuple[torch.Tensor, torch.Tensor]:
    audio = nn.functional.pad(audio, (FRAME // 2, FRAME // 2))
    frames = audio.unfold(1, FRAME, HOP)  # (n, t, FRAME)
    spectrum = torch.log1p(torch.fft.rfft(frames).abs())
    embeddings = model.projection(spectrum)
    times = torch.arange(frames.shape[1], dtype=torch.float32) * 1000.0 * HOP / model.sample_rate
    return embeddings, times.expand(audio.shape[0], -1)


def get_scene_embeddings(audio: torch.Tensor, model: ToyModel) -> torch.Tensor:
    return get_timestamp_embeddings(audio, model)[0].mean(dim=1)
