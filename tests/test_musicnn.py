"""The musicnn port against musicnn's original TensorFlow graph (shared/reference/musicnn, made by its
make_reference.py): every layer of the 4 published models on 3 GTZAN clips, the input pipeline from audio, the tags.

Measured on this port (float32, CPU): max |error| 4.5e-4 (max_pool of MTT_musicnn, values up to ~10), every other
layer ≤ 3.5e-4, logits ≤ 3.3e-5; input log-mel from audio ≤ 2.3e-6.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared

from rwbench import audio
from rwbench.architectures.musicnn import MODELS, PATCH, patch_starts, to_patches
from rwbench.frontend import FRONTENDS, Embedder

pytestmark = pytest.mark.shared_data

CLIPS = ("jazz.00000", "classical.00000", "metal.00000")
LAYER_TOLERANCE = 1e-3  # max |port − TensorFlow| for every layer (the bound)
# float32 STFT in torch vs TensorFlow's: the sums run in another order, so a mel power x differs by about ε32·Σ|terms|;
# musicnn's log10(1 + 10⁴x) multiplies an error of x by 10⁴/(ln 10 · (1 + 10⁴x)) — up to ~4,300× in a quiet band.
# Measured: ≤ 1e-5 on these 3 clips, 1.5e-5 on a held-out GTZAN clip (a quiet high band); the bound is 3× that,
# still 20× below LAYER_TOLERANCE.
INPUT_TOLERANCE = 5e-5


def reference(model: str, clip: str) -> dict[str, np.ndarray]:
    with np.load(shared(f"reference/musicnn/{model}/{clip}.npz")) as npz:
        return dict(npz)


def labels(model: str) -> list[str]:
    return json.loads(shared("reference/musicnn/manifest.json").read_text())["models"][model]["labels"]


@pytest.fixture(scope="module")
def nets(musicnn_home):
    """The 4 published models, loaded through rwbench's own weights resolution (RWBENCH_WEIGHTS)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RWBENCH_WEIGHTS", str(musicnn_home))
        return {model: Embedder(FRONTENDS.get(frontend), weights=tag) for model, (frontend, tag, _) in MODELS.items()}


def as_reference_layout(name: str, value: torch.Tensor) -> np.ndarray:
    """Port outputs in the reference's layout: per-frame maps of patch 0 as (time, channels[, 1]) or
    (time, mel, channels); per-patch vectors as they are."""
    v = value.numpy()
    if name in ("timbral", "temporal"):
        return v[0].T
    if name.startswith("cnn"):
        return v[0].T[:, :, None]
    if name.startswith("pool"):
        return v[0].transpose(1, 2, 0)
    return v


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("model", list(MODELS))
def test_every_layer_matches_the_tensorflow_graph(nets, model, clip):
    ref = reference(model, clip)
    with torch.no_grad():
        out = nets[model].net.layers(torch.from_numpy(ref["input"]))
    compared = [name for name in ref if name not in ("input", "taggram")]
    assert set(compared) <= set(out) and "logits" in compared
    errors = {name: float(np.abs(as_reference_layout(name, out[name]) - ref[name]).max()) for name in compared}
    assert max(errors.values()) <= LAYER_TOLERANCE, errors
    sigmoid = torch.sigmoid(out["logits"]).numpy()
    assert np.abs(sigmoid - ref["taggram"]).max() <= LAYER_TOLERANCE


@pytest.mark.parametrize("clip", CLIPS)
def test_input_from_audio_matches_the_reference_patches(nets, clip):
    genre = clip.split(".")[0]
    wave = audio.load(shared(f"data/gtzan_mini/genres/{genre}/{clip}.wav"), 16000)
    ref = reference("MTT_musicnn", clip)["input"]
    with torch.no_grad():
        patches = to_patches(nets["MTT_musicnn"].input(torch.from_numpy(wave)[None, None]))
    assert len(patches) == len(ref) + 1  # the reference drops the 6-frame tail; rwbench adds an end-aligned patch
    assert float(np.abs(patches[:len(ref)].numpy() - ref).max()) <= INPUT_TOLERANCE


@pytest.mark.parametrize("model", list(MODELS))
def test_top3_tags_from_audio_are_the_references(nets, model):
    """musicnn's tagger averages the taggram over the clip's patches and ranks the tags."""
    names = labels(model)
    top = lambda scores: [names[i] for i in np.argsort(-scores)[:3]]  # noqa: E731
    ours, theirs = {}, {}
    for clip in CLIPS:
        wave = audio.load(shared(f"data/gtzan_mini/genres/{clip.split('.')[0]}/{clip}.wav"), 16000)
        ref = reference(model, clip)
        with torch.no_grad():
            patches = to_patches(nets[model].input(torch.from_numpy(wave)[None, None]))[:len(ref["input"])]
            ours[clip] = top(torch.sigmoid(nets[model].net.layers(patches)["logits"]).mean(dim=0).numpy())
        theirs[clip] = top(ref["taggram"].mean(axis=0))
    assert ours == theirs
    if model == "MSD_musicnn":  # the reference README's example
        assert ours["metal.00000"] == ["metal", "heavy metal", "rock"]


def test_clip_embedding_pools_the_layers_over_every_patch(nets):
    embedder = nets["MTT_musicnn"]
    wave = torch.from_numpy(audio.load(shared("data/gtzan_mini/genres/metal/metal.00000.wav"), 16000))[:16000 * 8]
    with torch.no_grad():
        embedding = embedder(wave[None])[0]
        out = embedder.net.layers(to_patches(embedder.input(wave[None, None])))
    slices = embedder.layer_slices()
    assert len(to_patches(embedder.input(wave[None, None]))) == 3  # 501 frames → patches at 0, 187, 314
    for name in ("mean_pool", "max_pool", "penultimate"):
        torch.testing.assert_close(embedding[slice(*slices[name])], out[name].mean(dim=0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(embedding[slice(*slices["timbral"])], out["timbral"].mean(dim=(0, 2)), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize(("frames", "starts"), [(187, [0]), (374, [0, 187]), (400, [0, 187, 213]), (200, [0, 13])])
def test_patches_cover_every_frame(frames, starts):
    assert patch_starts(frames) == starts
    covered = np.zeros(frames, bool)
    for s in starts:
        covered[s:s + PATCH] = True
    assert covered.all() and starts[-1] + PATCH == frames
