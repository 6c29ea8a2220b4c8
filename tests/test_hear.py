"""rwbench.hear: the HEAR 2021 model API over rwbench front-ends. The first test repeats hearvalidator's checks
(hearvalidator itself needs TensorFlow); the others pin the documented rules."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from rwbench import hear
from rwbench.api import load_dataset
from rwbench.audio import resample
from rwbench.cache import CacheEntry
from rwbench.cli import main
from rwbench.clips import clip_audio
from rwbench.embed_job import Embeddings, EmbedJob
from rwbench.errors import RwbenchError
from rwbench.frontend import FRONTENDS

HEAR_RATES = (16000, 22050, 44100, 48000)  # hearvalidator's ACCEPTABLE_SAMPLE_RATE
MODELS = ["", "strided_256_256:random:seed=3", "mfcc:rate=16000:hop=250"]  # log-mel net, waveform net, DSP


def noise(n_sounds: int, seconds: float, rate: int, seed: int = 0) -> torch.Tensor:
    """hearvalidator's input: uniform white noise in [-1, 1)."""
    return torch.rand(n_sounds, int(seconds * rate), generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("path", MODELS)
def test_hearvalidator_checks(path):
    model = hear.load_model(path)
    assert isinstance(model, torch.nn.Module) and model.sample_rate in HEAR_RATES
    assert isinstance(model.scene_embedding_size, int) and isinstance(model.timestamp_embedding_size, int)
    for seconds in (1.07, 1.98):
        embeddings, timestamps = hear.get_timestamp_embeddings(noise(2, seconds, model.sample_rate), model)
        assert embeddings.dtype == torch.float32 and embeddings.ndim == 3 and timestamps.ndim == 2
        assert embeddings.shape[0] == 2 and embeddings.shape[:2] == timestamps.shape
        assert embeddings.shape[2] == model.timestamp_embedding_size and torch.isfinite(embeddings).all()
        diff = np.diff(timestamps.numpy())
        assert (diff > 0).all() and np.abs(diff - diff.mean()).max() <= 1  # regular, as the validator demands
        last, first = timestamps.max().item(), timestamps.min().item()
        assert first <= diff.mean() and 1000 * seconds - 2 * diff.mean() <= last <= 1000 * seconds
    scene = hear.get_scene_embeddings(noise(4, 2.74, model.sample_rate), model)
    assert scene.dtype == torch.float32 and scene.shape == (4, model.scene_embedding_size)


def test_batch_independence_and_determinism():
    audio = noise(3, 1.2, 16000, seed=1)
    model = hear.load_model("")
    scene = hear.get_scene_embeddings(audio, model)
    alone = torch.cat([hear.get_scene_embeddings(audio[i:i + 1], model) for i in range(3)])
    torch.testing.assert_close(scene, alone, rtol=1e-4, atol=1e-5)
    again = hear.get_scene_embeddings(audio, hear.load_model(""))  # a second load: the same seeded weights
    assert torch.equal(scene, again)
    stamped, _ = hear.get_timestamp_embeddings(audio, model)
    torch.testing.assert_close(stamped[1:2], hear.get_timestamp_embeddings(audio[1:2], model)[0], rtol=1e-4, atol=1e-5)


def test_windows_and_sounds_go_through_the_network_in_passes_that_fit_the_memory(monkeypatch):
    """Up to 256 windows went through the network at once whatever their size: vgg at paper width reads windows of
    its 27-s minimum, about 0.5 GiB each (256: about 118 GiB). Passes now fit the device's memory, same values."""
    from rwbench import device

    model = hear.load_model("strided_256_256:random:hop=50:window=0.5")
    audio = noise(2, 3.0, 16000, seed=4)
    whole = hear.get_timestamp_embeddings(audio, model)[0], hear.get_scene_embeddings(audio, model)
    assert model.fitting(model.window_samples, hear.WINDOW_BATCH) == hear.WINDOW_BATCH
    four_windows = sum(model.spec.memory_needed("small", model.window_samples, 4).values())
    monkeypatch.setattr(device, "memory_available", lambda _: int(four_windows / 0.9) + 1)  # room for 4 windows
    assert model.fitting(model.window_samples, hear.WINDOW_BATCH) == 4
    assert model.fitting(audio.shape[1], 2) == 1  # a 3-s sound holds more than 4 windows' memory: one at a time
    torch.testing.assert_close(hear.get_timestamp_embeddings(audio, model)[0], whole[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(hear.get_scene_embeddings(audio, model), whole[1], rtol=1e-4, atol=1e-5)


def test_timestamp_embedding_is_the_clip_embedding_of_the_window_centred_on_it():
    model = hear.load_model("strided_256_256:random:hop=25:window=0.5")
    audio = noise(1, 2.0, 16000, seed=2)
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert timestamps[0, :3].tolist() == [0.0, 25.0, 50.0] and timestamps[0, -1].item() == 2000.0
    k, half = 40, model.window_samples // 2  # 1000 ms: a window wholly inside the sound
    centre = round(timestamps[0, k].item() * 16000 / 1000)
    window = audio[:, centre - half:centre + half]
    torch.testing.assert_close(embeddings[:, k], hear.get_scene_embeddings(window, model), rtol=1e-4, atol=1e-5)
    padded = torch.nn.functional.pad(audio[:, :half], (half, 0))  # timestamp 0: zeros before the start
    torch.testing.assert_close(embeddings[:, 0], hear.get_scene_embeddings(padded, model), rtol=1e-4, atol=1e-5)


def test_rate_option_resamples_inside_as_rwbench_decodes():
    native = hear.load_model("timbral:random:seed=1")
    resampling = hear.load_model("timbral:random:seed=1:rate=16000")
    assert native.sample_rate == 12000 and resampling.sample_rate == 16000
    audio = noise(2, 1.0, 16000, seed=3)
    at_12k = torch.from_numpy(np.ascontiguousarray(resample(audio.numpy().T, 16000, 12000).T))
    torch.testing.assert_close(hear.get_scene_embeddings(audio, resampling), hear.get_scene_embeddings(at_12k, native))


def test_model_file_path_syntax_config_files_and_keywords(tmp_path):
    config = hear.parse_model_path("vgg:pretrained:/a/b.safetensors:seed=2:width=8:pooling=max:layers=pool1+pool5")
    assert (config.frontend, config.weights, config.seed, config.width, config.pooling, config.layers) == \
        ("vgg", "pretrained:/a/b.safetensors", 2, "8", "max", "pool1+pool5")
    assert hear.parse_model_path("") == hear.parse_model_path(hear.DEFAULT)
    (tmp_path / "m.toml").write_text('frontend = "strided_256_256"\nseed = 4\nlayers = "pooled"\nhop = 20\n')
    (tmp_path / "m.json").write_text(json.dumps({"name": "strided_256_256", "seed": 4, "layers": "pooled", "hop": 20}))
    assert hear.parse_model_path(str(tmp_path / "m.toml")) == hear.parse_model_path(str(tmp_path / "m.json")) == \
        hear.parse_model_path("strided_256_256:seed=4:layers=pooled:hop=20")
    model = hear.load_model(str(tmp_path / "m.toml"), seed=5, hop=10.0)
    assert model.config.seed == 5 and model.timestamp_hop_ms == 10.0 and model.config.frontend == "strided_256_256"
    with pytest.raises(RwbenchError, match="did you mean 'seed'"):
        hear.parse_model_path("vgg:sede=1")
    with pytest.raises(RwbenchError, match="one"):
        hear.load_model("timbral_temporal:layers=each")
    with pytest.raises(RwbenchError, match="unknown front-end 'vggg'"):
        hear.load_model("vggg")


def test_scene_embedding_equals_what_rwbench_embed_stores(tmp_path):
    options = ["--dataset-option", "n_per_class=5", "--dataset-option", "seconds=1.0", "--tasks", "timbre"]
    assert main(["embed", "--frontends", "timbral_temporal", "--results", str(tmp_path), "--device", "cpu",
                 "--quiet", "--workers", "0", *options]) == 0
    (folder,) = {p.parent for p in (tmp_path / "embeddings").rglob("manifest.json")}
    stored = Embeddings.read(CacheEntry(folder))
    (dataset,) = load_dataset("synthetic", tasks=["timbre"], n_per_class=5, seconds=1.0)
    job = EmbedJob(dataset, FRONTENDS.get("timbral_temporal"))
    assert stored.manifest.key == job.key  # the entry of this very front-end instance
    model = hear.load_model("timbral_temporal:random:seed=0:width=small:pooling=mean")  # its native 12 kHz
    audio = torch.stack([clip_audio(job, i) for i in range(len(dataset.clips))])
    columns = stored.columns(FRONTENDS.get("timbral_temporal").defaults)
    np.testing.assert_allclose(hear.get_scene_embeddings(audio, model).numpy(), stored.features[:, columns],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="CUDA is not available"))])
def test_runs_where_the_caller_moved_the_model(device):
    """hearvalidator moves a torch model with ``.to(device)`` and passes audio on that device."""
    model = hear.load_model("strided_256_256:random:seed=3").to(device)
    audio = noise(2, 0.5, 16000).to(device)
    scene = hear.get_scene_embeddings(audio, model)
    stamped, times = hear.get_timestamp_embeddings(audio, model)
    assert scene.device.type == stamped.device.type == device and times.shape == stamped.shape[:2]
    reference = hear.get_scene_embeddings(audio.cpu(), hear.load_model("strided_256_256:random:seed=3"))
    torch.testing.assert_close(scene.cpu(), reference, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("audio, error", [(torch.zeros(2, 0), "no samples"), (torch.zeros(0, 16000), "no sounds"),
                                          (torch.zeros(2, 16000, dtype=torch.int16), "must be float"),
                                          (torch.full((2, 16000), 0.5).index_fill_(1, torch.tensor([7]), float("inf")),
                                           "sound 0 of the batch holds non-finite samples.*2 of 2 sounds do"),
                                          (torch.full((2, 16000), 32767.0), "HEAR API: sound 0 .* a peak of 3.28e"
                                                                             r"\+04")])
def test_empty_or_integer_audio_is_refused_by_both_calls(audio, error):
    """An empty batch gave the timestamp call one window of padding (a silent window's embedding); int16 PCM was
    embedded at 32767 times the scale."""
    model = hear.load_model("strided_256_256:random:seed=3:rate=16000:hop=25")
    for call in (hear.get_scene_embeddings, hear.get_timestamp_embeddings):
        with pytest.raises(RwbenchError, match=error):
            call(audio, model)


def test_a_sound_that_resamples_to_nothing_is_refused_by_both_calls():
    """One sample at 48 kHz is none at the front-end's 16 kHz: the scene call named a shape the caller never passed,
    the timestamp call scored one window of zeros."""
    model = hear.load_model("strided_256_256:random:seed=3:rate=48000")
    for call in (hear.get_scene_embeddings, hear.get_timestamp_embeddings):
        with pytest.raises(RwbenchError, match=r"sounds of 1 sample\(s\) at 48000 Hz resample to none"):
            call(torch.full((2, 1), 0.5), model)


def test_model_spec_values_are_read_as_given_or_refused():
    """A Lightning-style `pretrained:epoch=3-step=10.pt` was split at `epoch=` (an unknown key); a config file's
    `layers = ["pool1", "pool5"]` ended in an AttributeError; seed 1.9 and rate 16000.9 were truncated unsaid."""
    from rwbench.hear import HearConfig, parse_model_path

    config = parse_model_path("timbral_temporal:pretrained:epoch=3-step=10.pt:seed=2")
    assert (config.weights, config.seed) == ("pretrained:epoch=3-step=10.pt", 2)
    assert HearConfig.from_mapping({"layers": ["pool1", "pool5"]}, "f").layers == "pool1+pool5"
    assert HearConfig.from_mapping({"seed": 2.0, "rate": "16000"}, "f").seed == 2
    for values, problem in (({"seed": 1.9}, "1.9 is not a whole number"), ({"rate": 16000.9}, "16000.9 is not"),
                            ({"seed": True}, "True is not a number"), ({"pooling": 3}, "pooling must be text")):
        with pytest.raises(RwbenchError, match=re.escape(problem)):
            HearConfig.from_mapping(values, "f")


@pytest.mark.parametrize("path", ["mst:mst", "strided_256_256:trained"])
def test_a_per_fold_weight_tag_outside_a_run_names_the_way_that_works(path):
    """The error said the weights were "at None" and to run `rwbench pretrain` / `train`, which a user who had done so
    was told again; a fold's file as pretrained:PATH is what serves one set of weights."""
    with pytest.raises(RwbenchError, match=r"one file per outer fold .*give one fold's file as pretrained:PATH") as err:
        hear.load_model(path)
    assert "None" not in str(err.value)
