"""The embed stage and its cache: keys, reuse, resume after an interruption, atomic entries."""

import json

import numpy as np
import pytest
import torch
from toy import DEVICES, TINY, TinyNet, tone_dataset

from rwbench import device as device_policy
from rwbench import embed as embed_module
from rwbench.embed import embed
from rwbench.embed_job import EmbedJob
from rwbench.errors import DataError, RwbenchError
from rwbench.frontend import Embedder


@pytest.mark.parametrize("device", DEVICES)
def test_embeddings_match_a_direct_forward_pass(tmp_path, device):
    ds = tone_dataset()
    out = embed(EmbedJob(ds, TINY, seed=3), tmp_path, device=device, workers=0)
    assert out.features.shape == (len(ds.clips), TINY.dim("small")) and out.features.dtype == np.float32
    model = Embedder(TINY, seed=3)
    wave = torch.from_numpy(ds.load_audio(ds.clips[5], 8000))[None]
    np.testing.assert_allclose(out.features[5], model(wave)[0].numpy(), rtol=1e-4, atol=1e-5)
    assert out.manifest.dim == TINY.dim("small") and out.manifest.n_clips == len(ds.clips)
    assert out.manifest.device == device  # batch: the CPU default; on CUDA chosen from free memory (an H200: more)
    assert out.manifest.batch_size == 16 if device == "cpu" else out.manifest.batch_size >= 16


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_is_close_to_fp32_and_cached_apart(tmp_path, device, precision):
    ds = tone_dataset()
    full = embed(EmbedJob(ds, TINY), tmp_path, device=device, workers=0)
    half_job = EmbedJob(ds, TINY, precision=precision)
    half = embed(half_job, tmp_path, device=device, workers=0)
    assert half_job.key != EmbedJob(ds, TINY).key and half_job.description["precision"] == precision
    assert "precision" not in EmbedJob(ds, TINY).description  # fp32 keys are those made before the option
    assert half.features.dtype == np.float32 and np.isfinite(half.features).all()
    error = np.abs(half.features - full.features).max() / np.abs(full.features).max()
    assert 0 < error < (2**-7 if precision == "bf16" else 2**-9) * 8  # a few units of the format's last place


def test_the_batch_size_on_cuda_is_chosen_from_free_memory(monkeypatch):
    job = EmbedJob(tone_dataset(), TINY)
    assert device_policy.choose_batch_size(job, "cpu") == 16
    per_clip = sum(TINY.memory_needed("small", job.input_samples()[1], 1).values())
    monkeypatch.setattr(device_policy, "resolve_device", lambda name: torch.device("cuda"))
    for free, expected in [(2 * 16.5 * per_clip, 16), (2 * 1000 * per_clip, device_policy.MAX_AUTO_BATCH),
                           (0, 1)]:
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device, free=free: (int(free), 2**40))
        assert device_policy.choose_batch_size(job, "cuda") == expected


def test_the_batch_size_on_cpu_fits_the_machines_memory(monkeypatch):
    """It was 16 whatever the memory: vgg at paper width on 60-s clips needed 24.7 GiB of a 23.5 GiB machine and
    the run was refused, telling the user to lower a --batch-size they never set."""
    job = EmbedJob(tone_dataset(), TINY)
    per_clip = sum(TINY.memory_needed("small", job.input_samples()[1], 1).values())
    for memory, expected in [(2**40, device_policy.CPU_AUTO_BATCH), (4.5 * per_clip / 0.9, 4), (0, 1)]:
        monkeypatch.setattr(device_policy, "memory_available", lambda device, memory=memory: int(memory))
        batch = device_policy.choose_batch_size(job, "cpu")
        assert batch == expected
        if memory:
            device_policy.check_fits(job, batch, "cpu")  # what it chose is never refused


def test_segment_windows_are_counted_per_batch_in_flight_in_host_memory(monkeypatch):
    """The DataLoader holds 2 prefetched batches per worker beside the one embedded and its joined (and, for a GPU,
    pinned) copy: measured 3, 5 and 9 batches of cut clips with 1, 2 and 4 workers. The windows and their embeddings
    live in host memory whatever the device: a 16-GiB GPU beside 512 GiB of RAM was refused ("cuda memory is 16.0
    GiB") and a GPU larger than the RAM let a run through that the host could not hold."""
    job = EmbedJob(tone_dataset(), TINY, segment=0.1, hop=0.05)  # 36 clips of 0.25 s: 4 windows of 800 samples each
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert [device_policy.batches_in_flight(cpu, w) for w in (0, 1, 2, 4)] == [2, 4, 6, 10]
    assert device_policy.batches_in_flight(cuda, 1) == 5
    assert device_policy.window_memory(job, 16, "cpu", workers=2) == {"windows": 6 * 4 * 16 * 4 * 800,
                                                                     "embeddings": 4 * 36 * 4 * TINY.dim("small")}
    need = sum(device_policy.window_memory(job, 16, "cpu", workers=2).values())
    need += sum(TINY.memory_needed("small", 800, 16).values())  # on the CPU the network's too
    host = {"cpu": int(need / 0.9) + 1}
    monkeypatch.setattr(device_policy, "memory_available", lambda device: host[device.type])
    device_policy.check_fits(job, 16, "cpu", workers=2)
    host["cpu"] -= 2
    with pytest.raises(RwbenchError, match=r"of host memory to embed tones in windows of 0\.1 s .*6 batches at once "
                                           r"with 2 decoding worker\(s\), and 144 windows' embeddings"):
        device_policy.check_fits(job, 16, "cpu", workers=2)
    monkeypatch.setattr(device_policy, "resolve_device", lambda name: cuda)  # a GPU of 1 KiB, 512 GiB of RAM
    host.update(cuda=2**40, cpu=2**39)
    device_policy.check_window_memory(job, 16, "cuda", workers=1)
    host["cpu"] = 1024  # the RAM, not the GPU, holds the windows
    with pytest.raises(RwbenchError, match="the machine's memory is 0.0 GiB"):
        device_policy.check_window_memory(job, 16, "cuda", workers=1)


def test_the_run_checks_the_windows_of_every_dataset_not_only_the_first(tmp_path, monkeypatch):
    """The run marked a (front-end, window length) as checked after its first dataset: a second dataset of longer
    clips (600 s instead of 0.25 s: 11,999 windows each) went on where the dry run refused it."""
    from rwbench.pipeline import RunOptions, prepare_embedding

    short = tone_dataset()
    long = type(short)(name="tones_long", task=None, clips=short.clips, protocol=short.protocol, seconds=600.0)
    monkeypatch.setattr(device_policy, "memory_available", lambda device: 2**30)
    opts = RunOptions(results_dir=tmp_path / "r", device="cpu", segment=0.1, hop=0.05, workers=0)
    prepare_embedding([short], [TINY], opts)
    with pytest.raises(RwbenchError, match="of host memory to embed tones_long in windows of 0.1 s"):
        prepare_embedding([short, long], [TINY], opts)


def test_second_call_reads_the_cache_without_decoding(tmp_path):
    ds = tone_dataset()
    first = embed(EmbedJob(ds, TINY), tmp_path, device="cpu", workers=0)
    ds.decoded.clear()
    second = embed(EmbedJob(ds, TINY), tmp_path, device="cpu", workers=0)
    assert ds.decoded == []
    np.testing.assert_array_equal(first.features, second.features)


def test_key_changes_with_everything_that_changes_the_embeddings():
    ds = tone_dataset()
    base = EmbedJob(ds, TINY, width="small", seed=0)
    variants = [EmbedJob(ds, TINY, width="paper", seed=0), EmbedJob(ds, TINY, seed=1),
                EmbedJob(ds, TINY, seed=0, pooling="max"), EmbedJob(tone_dataset(n_per_class=13), TINY)]
    keys = {base.key} | {v.key for v in variants}
    assert len(keys) == 1 + len(variants)
    assert EmbedJob(ds, TINY, seed=0).key == base.key


def test_half_precision_keys_changed_with_strideds_float32_compression_and_float32_keys_did_not():
    """strided_*'s float16 output changed (its compression overflowed) while its float32 output did not: half
    precision keys carry their rules' version, so a float16 result made before is not reused, and float32 keys, those
    of every committed study, stay as they were."""
    from rwbench.fileio import content_key
    from rwbench.frontend import FRONTENDS

    ds = tone_dataset()
    half = EmbedJob(ds, FRONTENDS.get("strided_512_256"), weights="dsp", precision="fp16")
    before = {k: v for k, v in half.description.items() if k != "half_precision_rules"}
    assert half.description["half_precision_rules"] == 2 and half.key != content_key(before)
    full = EmbedJob(ds, FRONTENDS.get("strided_512_256"), weights="dsp").description
    assert "precision" not in full and "half_precision_rules" not in full


def test_interrupted_run_resumes_without_recomputing_finished_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(embed_module, "CHUNK_CLIPS", 8)
    ds = tone_dataset(n_per_class=12)  # 36 clips = 5 chunks
    ds.fail_on = {ds.clips[20].id: KeyboardInterrupt()}  # dies inside the third chunk
    job = EmbedJob(ds, TINY)
    with pytest.raises(KeyboardInterrupt):
        embed(job, tmp_path, device="cpu", batch_size=4, workers=0)
    entry = job.entry(tmp_path)
    parts = [entry.has_part(i, range(8 * i, min(8 * i + 8, 36))) for i in range(5)]
    assert not entry.is_complete() and parts == [True, True, False, False, False]
    assert not list(entry.folder.rglob("*.tmp")), "no temporary file may survive an interruption"
    ds.fail_on, ds.decoded = {}, []
    resumed = embed(job, tmp_path, device="cpu", batch_size=2, workers=0)
    assert ds.decoded == [c.id for c in ds.clips[16:]], "only the unfinished chunks are decoded again"
    assert resumed.manifest.batch_size == (4, 4, 2, 2, 2), "each chunk keeps the batch size that computed it"
    assert resumed.manifest.device == "cpu"
    fresh = embed(job, tmp_path / "fresh", device="cpu", batch_size=4, workers=0)
    np.testing.assert_array_equal(resumed.features, fresh.features)
    assert not entry.parts.exists()


@pytest.mark.parametrize("schema", [None, "older"])
def test_a_chunk_saved_under_other_rules_is_computed_again(tmp_path, monkeypatch, schema):
    """Saved chunks carried no schema: a run interrupted under an older rwbench (before silent crops were refused)
    was finished by the new one from its old chunks, into an entry marked with today's manifest schema."""
    from rwbench.embedding_manifest import MANIFEST_SCHEMA

    monkeypatch.setattr(embed_module, "CHUNK_CLIPS", 8)
    ds = tone_dataset(n_per_class=12)
    ds.fail_on = {ds.clips[20].id: KeyboardInterrupt()}
    job = EmbedJob(ds, TINY)
    with pytest.raises(KeyboardInterrupt):
        embed(job, tmp_path, device="cpu", batch_size=4, workers=0)
    entry = job.entry(tmp_path)
    old = dict(entry.load_part(0))
    if schema is None:
        del old["schema"]
    else:
        old["schema"] = np.array(MANIFEST_SCHEMA - 1)
    np.savez(entry.part_path(0), **old)
    assert entry.part_problem(0, range(8)) and entry.part_problem(1, range(8, 16)) is None
    ds.fail_on, ds.decoded = {}, []
    embed(job, tmp_path, device="cpu", batch_size=4, workers=0)
    assert ds.decoded == [c.id for c in ds.clips[:8] + ds.clips[16:]], "chunk 0 again, chunk 1 kept"


def test_an_entry_resumed_on_another_device_says_so(tmp_path):
    from rwbench.cache import CacheEntry

    entry = CacheEntry(tmp_path / "entry")
    entry.parts.mkdir(parents=True)
    for index, device in enumerate(["cpu", "cuda:0", "cuda:0"]):
        entry.save_chunk(index, [index], [np.zeros((1, 3), np.float32)], {}, dim=3, clip_ids=["a", "b", "c"],
                         seconds=1.0, device=device, batch_size=8, threads=2)
    summary = entry.chunk_summary(3)
    assert summary["device"] == "mixed (cpu ×1, cuda ×2)" and summary["batch_size"] == 8 and summary["threads"] == 2
    with open(entry.part_path(0), "wb") as handle:  # a part of an rwbench that kept none of these (then resumed)
        np.savez(handle, rows=np.array([0]), features=np.zeros((1, 3), np.float32), seconds=np.array(1.0),
                 failed=np.array([], dtype=str))
    summary = entry.chunk_summary(3)
    assert (summary["device"], summary["batch_size"], summary["threads"]) == ("cuda:0", 8, None)


class TwiceTheRows(TinyNet):
    """Each input cut in two halves along the batch axis: (B, C, T) → (2B, C, T/2)."""

    def forward(self, x):
        return [a[..., :a.shape[-1] // 2 * 2].reshape(2 * len(a), a.shape[1], -1) for a in super().forward(x)]


class OneRow(TinyNet):
    """A mean over the batch: one row whatever the inputs."""

    def forward(self, x):
        return [a.mean(0, keepdim=True) for a in super().forward(x)]


@pytest.mark.parametrize("net, rows", [(TwiceTheRows, 8), (OneRow, 1)])
def test_a_network_returning_another_number_of_rows_than_its_inputs_is_refused(tmp_path, net, rows):
    """Rows are handed to the clips by position: 2 rows per clip gave each clip another's embedding, unsaid; 1 row
    per batch failed in the cache's code with an IndexError."""
    from dataclasses import replace

    job = EmbedJob(tone_dataset(n_per_class=4), replace(TINY, name="rows", build=net))
    with pytest.raises(RwbenchError, match=f"front-end 'rows' returned {rows} rows for 4 inputs"):
        embed(job, tmp_path, device="cpu", batch_size=4, workers=0)
    assert not job.entry(tmp_path).exists()


def test_a_dataset_of_no_clips_is_a_clear_error(tmp_path):
    ds = tone_dataset()
    ds.clips = []
    with pytest.raises(DataError, match="tones.* has no clips"):
        embed(EmbedJob(ds, TINY), tmp_path, device="cpu", workers=0)


def test_batch_size_does_not_change_embeddings(tmp_path):
    ds = tone_dataset()
    a = embed(EmbedJob(ds, TINY), tmp_path / "a", device="cpu", batch_size=1, workers=0)
    b = embed(EmbedJob(ds, TINY), tmp_path / "b", device="cpu", batch_size=16, workers=0)
    np.testing.assert_allclose(a.features, b.features, rtol=1e-5, atol=1e-6)


def test_dataloader_workers_give_the_same_embeddings(tmp_path):
    ds = tone_dataset(n_per_class=4)
    a = embed(EmbedJob(ds, TINY), tmp_path / "a", device="cpu", workers=0)
    b = embed(EmbedJob(ds, TINY), tmp_path / "b", device="cpu", workers=2)
    np.testing.assert_array_equal(a.features, b.features)


def test_unreadable_clip_fails_with_its_name_and_keeps_finished_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(embed_module, "CHUNK_CLIPS", 8)
    ds = tone_dataset()
    bad = ds.clips[10].id
    ds.fail_on = {bad: DataError(f"cannot decode {bad}: not audio")}
    job = EmbedJob(ds, TINY)
    with pytest.raises(DataError, match=f"cannot decode {bad}.*--skip-bad-audio"):
        embed(job, tmp_path, device="cpu", workers=0)
    assert job.entry(tmp_path).has_part(0, range(8))


def test_skip_bad_audio_records_the_clip_and_leaves_a_nan_row(tmp_path):
    ds = tone_dataset()
    bad = ds.clips[10].id
    ds.fail_on = {bad: DataError(f"cannot decode {bad}: not audio")}
    out = embed(EmbedJob(ds, TINY), tmp_path, device="cpu", workers=0, skip_bad_audio=True)
    assert list(out.manifest.skipped) == [{"clip": bad, "reason": f"cannot decode {bad}: not audio"}]
    assert np.isnan(out.features[10]).all() and out.valid.sum() == len(ds.clips) - 1
    assert json.loads(job_manifest(tmp_path).read_text())["skipped"][0]["clip"] == bad


def test_an_entry_a_skip_bad_audio_run_began_is_refused_when_finished_without_the_flag(tmp_path, monkeypatch):
    """`rwbench embed --skip-bad-audio` killed, then `rwbench embed` without it: it finished the entry from the
    chunks, the bad clip left out, and exited 0 (the same command then refused it)."""
    from rwbench.embed import ensure_embedded

    monkeypatch.setattr(embed_module, "CHUNK_CLIPS", 8)
    ds = tone_dataset()
    bad = ds.clips[3].id
    ds.fail_on = {bad: DataError(f"cannot decode {bad}: not audio"), ds.clips[20].id: KeyboardInterrupt()}
    job = EmbedJob(ds, TINY)
    with pytest.raises(KeyboardInterrupt):
        ensure_embedded(job, tmp_path, device="cpu", workers=0, skip_bad_audio=True)
    del ds.fail_on[ds.clips[20].id]
    for _ in range(2):  # as it finishes the entry, and from the cache after
        with pytest.raises(DataError, match=rf"cannot decode {bad}: not audio \(1 clip\(s\) left out of the cached"):
            ensure_embedded(job, tmp_path, device="cpu", workers=0)


def job_manifest(root):
    return next(root.rglob("manifest.json"))


def test_clip_shorter_than_the_network_minimum_is_padded_by_the_declared_rule():
    ds = tone_dataset()
    job = EmbedJob(ds, TINY.__class__(**{**TINY.__dict__, "min_input": 4000}))
    assert job.input_samples() == (2000, 4000)
    strict = EmbedJob(ds, TINY.__class__(**{**TINY.__dict__, "min_input": 4000, "pad_to_min": None}))
    with pytest.raises(DataError, match="needs clips of at least 0.50 s"):
        strict.input_samples()


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(Exception, match="no CUDA device"):
        device_policy.resolve_device("cuda")


KILLED_CHILD = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from toy import DEVICES, TINY, TinyNet, tone_dataset
from rwbench import embed as embed_module
from rwbench.embed_job import EmbedJob
from rwbench.embed import embed

embed_module.CHUNK_CLIPS = 8
ds = tone_dataset()


original = ds.load_audio
def load_audio(clip, rate):
    if clip.id == ds.clips[20].id:
        os.kill(os.getpid(), signal.SIGKILL)  # no handler, no cleanup: as `kill -9`
    return original(clip, rate)
ds.load_audio = load_audio
embed(EmbedJob(ds, TINY), {root!r}, device="cpu", batch_size=4, workers=0)
"""


def test_a_killed_process_leaves_finished_chunks_and_no_corrupt_entry(tmp_path, monkeypatch):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    code = KILLED_CHILD.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-1000:]
    monkeypatch.setattr(embed_module, "CHUNK_CLIPS", 8)
    ds = tone_dataset()
    job = EmbedJob(ds, TINY)
    entry = job.entry(tmp_path)
    assert not entry.is_complete() and entry.has_part(0, range(8)) and entry.has_part(1, range(8, 16))
    assert not entry.has_part(2, range(16, 24))
    resumed = embed(job, tmp_path, device="cpu", batch_size=4, workers=0)
    assert ds.decoded == [c.id for c in ds.clips[16:]]
    np.testing.assert_array_equal(resumed.features, embed(job, tmp_path / "fresh", device="cpu", workers=0).features)


def test_the_python_embedder_computes_float32_on_cuda_and_restores_the_callers_settings():
    """``rwbench.embedder`` and the HEAR model ran cuDNN's TF32 default (a 10-bit mantissa) where `rwbench embed`
    computes float32; inside someone else's process, their settings come back after each call."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        with device_policy.float32_within(torch.device("cuda")):
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        with device_policy.float32_within(torch.device("cpu")):
            assert torch.backends.cudnn.allow_tf32  # nothing to change on the CPU
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
