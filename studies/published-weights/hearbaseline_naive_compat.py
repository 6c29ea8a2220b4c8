"""``hearbaseline.naive`` (2021.1.1) on librosa ≥ 0.10: its ``load_model`` calls ``librosa.filters.mel(sr, ...)``
with the rate positional, which librosa 0.10 made keyword-only. This module re-exports the HEAR API of
``hearbaseline.naive`` with ``load_model`` run under a ``librosa.filters.mel`` that also takes ``sr`` positionally.
Nothing else changes: same mel filters, same seed-0 random projection, same embeddings.

    PYTHONPATH=studies/hear-import rwbench run --frontends hear:hearbaseline_naive_compat ...
"""

from unittest import mock

import librosa
from hearbaseline import naive
from hearbaseline.naive import get_scene_embeddings, get_timestamp_embeddings  # noqa: F401  (the HEAR API)

_mel = librosa.filters.mel


def _mel_positional(*args, **kwargs):
    if args:
        kwargs["sr"], args = args[0], args[1:]
    return _mel(*args, **kwargs)


def load_model(model_file_path: str = ""):
    with mock.patch.object(naive.librosa.filters, "mel", _mel_positional):
        return naive.load_model(model_file_path)


__version__ = "hearbaseline " + __import__("importlib.metadata").metadata.version("hearbaseline")
