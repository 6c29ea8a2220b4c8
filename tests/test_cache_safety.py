"""The cache under concurrency and damage, with real processes: every chunk computed once, no stale
file left, a damaged file named and computed again."""

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from toy import TINY, tone_dataset

from rwbench import embed as embed_module
from rwbench.cache import CacheEntry
from rwbench.embed import embed
from rwbench.embed_job import EmbedJob
from rwbench.errors import RwbenchError
from rwbench.pipeline import RunOptions, load_embeddings

TESTS = str(Path(__file__).parent)

# One process of the concurrency tests: waits for the `go` file, embeds the toy job, logs every decode as
# "<pid> <clip id>", and prints the sha256 of the features it ends with. KILL_AT=<clip id> makes it kill -9 itself.
CHILD = """
import hashlib, logging, os, signal, sys, time
from pathlib import Path
logging.basicConfig(level=logging.INFO)
sys.path.insert(0, {tests!r})
import numpy as np
from toy import TINY, tone_dataset
from rwbench import embed as embed_module
from rwbench.embed_job import EmbedJob
from rwbench.embed import embed

embed_module.CHUNK_CLIPS = 8
ds = tone_dataset()
original, log = ds.load_audio, open({log!r}, "a")
def load_audio(clip, rate):
    log.write(f"{{os.getpid()}} {{clip.id}}\\n")
    log.flush()
    if os.environ.get("KILL_AT") == clip.id:  # die here once the test says so (a file appears)
        while not Path(os.environ["RELEASE"]).exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.01)
    return original(clip, rate)
ds.load_audio = load_audio
Path({ready!r}, str(os.getpid())).touch()
while not Path({go!r}).exists():
    time.sleep(0.005)
out = embed(EmbedJob(ds, TINY), {root!r}, device="cpu", batch_size=4, workers=0)
print(hashlib.sha256(np.ascontiguousarray(out.features).tobytes()).hexdigest())
"""


def start_children(tmp_path: Path, n: int, env: list[dict] | None = None,
                   ready_dir: str = "ready") -> tuple[list[subprocess.Popen], Path]:
    """``n`` child processes, returned once each has imported everything and waits for ``tmp_path/go``."""
    ready, log = tmp_path / ready_dir, tmp_path / "decodes.log"
    ready.mkdir()
    code = CHILD.format(tests=TESTS, log=str(log), ready=str(ready), go=str(tmp_path / "go"), root=str(tmp_path / "cache"))
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, **(env[i] if env else {})}) for i in range(n)]
    deadline = time.time() + 120
    while len(list(ready.iterdir())) < n:
        assert time.time() < deadline, "children did not start"
        assert all(c.poll() is None for c in children), [c.communicate()[1][-2000:] for c in children if c.poll()]
        time.sleep(0.05)
    return children, log


def decodes(log: Path) -> list[tuple[int, str]]:
    return [(int(pid), clip) for pid, clip in (line.split() for line in log.read_text().splitlines())]


def stale_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name == "parts" or p.suffix == ".npz"]


@pytest.mark.parametrize("n", [2, 4])
def test_processes_started_together_all_finish_and_compute_each_clip_once(tmp_path, n):
    children, log = start_children(tmp_path, n)
    (tmp_path / "go").touch()
    outputs = [c.communicate(timeout=300) for c in children]
    assert [c.returncode for c in children] == [0] * n, [err[-2000:] for _, err in outputs]
    clips = [clip for _, clip in decodes(log)]
    ds = tone_dataset()
    assert sorted(clips) == sorted(c.id for c in ds.clips), "every clip decoded exactly once over all processes"
    assert len({pid for pid, _ in decodes(log)}) == 1, "one process computed, the others waited and read"
    assert len({out.strip() for out, _ in outputs}) == 1, "every process ends with the same features"
    assert stale_files(tmp_path / "cache") == []
    fresh = embed(EmbedJob(ds, TINY), tmp_path / "fresh", device="cpu", workers=0)
    read = embed(EmbedJob(ds, TINY), tmp_path / "cache", device="cpu", workers=0)
    np.testing.assert_array_equal(read.features, fresh.features)


def test_a_killed_process_frees_the_entry_and_the_waiting_one_resumes_its_chunks(tmp_path):
    ds = tone_dataset()
    killer = ds.clips[20].id  # inside the third chunk of 8 clips
    release = tmp_path / "release"
    (first,), log = start_children(tmp_path, 1, env=[{"KILL_AT": killer, "RELEASE": str(release)}])
    (tmp_path / "go").touch()
    deadline = time.time() + 300
    while not (log.exists() and decodes(log)):  # decoding: the first child holds the entry's lock
        assert time.time() < deadline and first.poll() is None, first.communicate()[1][-2000:]
        time.sleep(0.01)
    (second,), _ = start_children(tmp_path, 1, ready_dir="ready2")  # asks for the lock while the first holds it
    time.sleep(3)
    release.touch()  # the first dies at clip 20, while the second waits for the lock
    out, err = second.communicate(timeout=300)
    assert "waiting for another rwbench process" in err
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    assert second.returncode == 0, err[-2000:]
    by_second = [clip for pid, clip in decodes(log) if pid == second.pid]
    assert by_second == [c.id for c in ds.clips[16:]], "the finished chunks of the killed process are kept"
    assert stale_files(tmp_path / "cache") == []
    fresh = embed(EmbedJob(ds, TINY), tmp_path / "fresh", device="cpu", workers=0)
    np.testing.assert_array_equal(embed(EmbedJob(ds, TINY), tmp_path / "cache", workers=0).features, fresh.features)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def _wrong_shape(path: Path) -> None:
    np.save(path, np.zeros((3, 5), np.float32) if path.name == "features.npy" else np.arange(3))


def _flip_a_value(path: Path) -> None:
    array = np.load(path)
    array.flat[7] += 1
    np.save(path, array)


def _edit_manifest(path: Path, **fields) -> None:
    """A hand edit the arrays' sha256 cannot see: the manifest says how to read them."""
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


DAMAGE = {
    "features truncated": ("features.npy", _truncate, "bytes"),
    "features empty": ("features.npy", lambda p: p.write_bytes(b""), "bytes"),
    "features garbage of the same size": ("features.npy", _garbage, "sha256"),
    "features of the wrong shape": ("features.npy", _wrong_shape, "bytes"),
    "features with one value changed": ("features.npy", _flip_a_value, "sha256"),
    "features deleted": ("features.npy", lambda p: p.unlink(), "missing"),
    "clip index truncated": ("clip_index.npy", _truncate, "bytes"),
    "clip index of the wrong shape": ("clip_index.npy", _wrong_shape, "bytes"),
    "manifest garbage": ("manifest.json", lambda p: p.write_text("{not json"), "cannot read"),
    "manifest not an object": ("manifest.json", lambda p: p.write_text("[1, 2]"), "JSON object"),
    "manifest of an older schema": ("manifest.json", lambda p: _edit_manifest(p, schema_version=2),
                                    "schema_version 2"),
    "manifest of schema 3 (before the 2026-12-05 fixes)": ("manifest.json",
                                                           lambda p: _edit_manifest(p, schema_version=3),
                                                           "schema_version 3"),
    "manifest edited: fewer columns": ("manifest.json", lambda p: _edit_manifest(p, dim=3, layers={"x": [0, 3]}),
                                       "features are"),
    "manifest edited: a layer span": ("manifest.json", lambda p: _edit_manifest(p, layers={
        k: [lo, hi - 1] for k, (lo, hi) in json.loads(p.read_text())["layers"].items()}), "do not cover"),
    "manifest edited: a clip fewer": ("manifest.json", lambda p: _edit_manifest(p, clip_ids=json.loads(
        p.read_text())["clip_ids"][1:]), "clip ids for n_clips"),
    "manifest without file checksums": ("manifest.json",
                                        lambda p: p.write_text(json.dumps({k: v for k, v in json.loads(
                                            p.read_text()).items() if k != "files"})), "missing field(s) ['files']"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_cache_file_is_named_and_computed_again(tmp_path, case, caplog):
    caplog.set_level(logging.INFO)
    name, damage, said = DAMAGE[case]
    ds = tone_dataset()
    job = EmbedJob(ds, TINY)
    good = np.array(embed(job, tmp_path, device="cpu", workers=0).features)
    damage(job.entry(tmp_path).folder / name)
    opts = RunOptions(results_dir=tmp_path / "results", cache_dir=tmp_path)
    with pytest.raises(RwbenchError, match=f"{re.escape(said)}.*computes them again"):
        load_embeddings(job, opts)  # the evaluate stage alone names the damage
    ds.decoded.clear()
    again = embed(EmbedJob(ds, TINY), tmp_path, device="cpu", workers=0)
    assert f"{job.entry(tmp_path).folder}" in caplog.text and "computing it again" in caplog.text
    upgrade = "schema" in case  # not damage: said so quietly
    assert ("written by another rwbench version" in caplog.text) == upgrade and ("is damaged:" in caplog.text) != upgrade
    assert len(ds.decoded) == len(ds.clips), "the whole entry is computed again"
    np.testing.assert_array_equal(again.features, good)
    assert CacheEntry(job.entry(tmp_path).folder).is_complete()


def _interrupted_at_clip_20(tmp_path, monkeypatch):
    """(dataset, job) of an entry of 8-clip chunks interrupted at clip 20: parts 0 and 1 written."""
    monkeypatch.setattr(embed_module, "CHUNK_CLIPS", 8)
    ds = tone_dataset()
    ds.fail_on = {ds.clips[20].id: KeyboardInterrupt()}
    job = EmbedJob(ds, TINY)
    with pytest.raises(KeyboardInterrupt):
        embed(job, tmp_path, device="cpu", batch_size=4, workers=0)
    return ds, job


def test_an_unreadable_chunk_is_computed_again(tmp_path, monkeypatch, caplog):
    ds, job = _interrupted_at_clip_20(tmp_path, monkeypatch)
    _truncate(job.entry(tmp_path).part_path(1))
    ds.fail_on, ds.decoded = {}, []
    resumed = embed(job, tmp_path, device="cpu", batch_size=4, workers=0)
    assert "unreadable" in caplog.text and ds.decoded == [c.id for c in ds.clips[8:]]
    np.testing.assert_array_equal(resumed.features, embed(job, tmp_path / "fresh", workers=0).features)


def test_a_part_holding_another_chunks_clips_is_computed_again(tmp_path, monkeypatch, caplog):
    """Parts are named by their chunk's number alone: one holding other clips (a hand copy; an entry resumed after
    the chunk size changed) was assembled as it came, and the finished entry held clips 0-7 twice and 8-15 never."""
    ds, job = _interrupted_at_clip_20(tmp_path, monkeypatch)
    entry = job.entry(tmp_path)
    shutil.copy(entry.part_path(0), entry.part_path(1))
    ds.fail_on, ds.decoded = {}, []
    resumed = embed(job, tmp_path, device="cpu", batch_size=4, workers=0)
    assert "are not its chunk's clips" in caplog.text and ds.decoded == [c.id for c in ds.clips[8:]]
    np.testing.assert_array_equal(resumed.clip_index, np.arange(len(ds.clips)))
    np.testing.assert_array_equal(resumed.features, embed(job, tmp_path / "fresh", workers=0).features)


def _keep_rows(entry: CacheEntry, rows: list[int]) -> None:
    """The entry's arrays cut to ``rows`` (in that order), its manifest made to match them (sizes, sha256, n_rows):
    only what the rows say about the clips is wrong."""
    import hashlib

    for path in (entry.features_path, entry.clip_index_path):
        np.save(path, np.load(path)[rows])
    manifest = json.loads(entry.manifest_path.read_text())
    manifest["n_rows"] = len(rows)
    manifest["files"] = {p.name: {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                         for p in (entry.features_path, entry.clip_index_path)}
    entry.manifest_path.write_text(json.dumps(manifest))


CLIP_ROWS = {
    "clips 8-11 missing, 4-7 twice": [*range(8), *range(4, 8), *range(12, 36)],
    "a clip twice, unsegmented": [0, *range(36)],
    "rows out of order": [1, 0, *range(2, 36)],
}


@pytest.mark.parametrize("case", list(CLIP_ROWS))
def test_a_finished_entry_whose_rows_are_not_each_clip_once_is_computed_again(tmp_path, case):
    """Checksummed arrays whose clip_index held clips 4-7 twice and 8-11 never were read as segmented: clips 8-11
    were scored with clips 4-7's embeddings, unsaid."""
    job = EmbedJob(tone_dataset(), TINY)
    good = np.array(embed(job, tmp_path, device="cpu", workers=0).features)
    _keep_rows(job.entry(tmp_path), CLIP_ROWS[case])
    with pytest.raises(RwbenchError, match="clip_index does not hold each of the 36 clips once, in order"):
        load_embeddings(job, RunOptions(results_dir=tmp_path / "results", cache_dir=tmp_path))
    np.testing.assert_array_equal(embed(job, tmp_path, device="cpu", workers=0).features, good)
    segmented = EmbedJob(tone_dataset(), TINY, segment=0.1, hop=0.05)  # several rows a clip: as it should be
    assert len(embed(segmented, tmp_path, device="cpu", workers=0).clip_index) > 36
    assert segmented.entry(tmp_path).problem() is None


KILLED_AFTER_THE_MANIFEST = """
import os, shutil, signal, sys
sys.path.insert(0, {tests!r})
from toy import TINY, tone_dataset
from rwbench.embed import embed
from rwbench.embed_job import EmbedJob
shutil.rmtree = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)  # killed as the parts are removed
embed(EmbedJob(tone_dataset(), TINY), {root!r}, device="cpu", workers=0)
"""


def test_the_parts_a_process_killed_after_the_manifest_left_are_removed_by_the_next(tmp_path):
    """The parts were removed only on a cache miss: those of a finished entry stayed for good (a second copy of its
    embeddings)."""
    code = KILLED_AFTER_THE_MANIFEST.format(tests=TESTS, root=str(tmp_path))
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    ds = tone_dataset()
    entry = EmbedJob(ds, TINY).entry(tmp_path)
    assert entry.is_complete() and list(entry.parts.iterdir())
    embed(EmbedJob(ds, TINY), tmp_path, device="cpu", workers=0)
    assert ds.decoded == [] and stale_files(tmp_path) == []


def test_finish_is_idempotent_and_a_finished_entry_loses_leftover_parts(tmp_path):
    ds = tone_dataset()
    job = EmbedJob(ds, TINY)
    embed(job, tmp_path, device="cpu", workers=0)
    entry = job.entry(tmp_path)
    manifest, stat = entry.manifest_path.read_text(), entry.features_path.stat()
    entry.finish(1, 8, entry.manifest())  # nothing to assemble and nothing changes
    assert entry.manifest_path.read_text() == manifest and entry.features_path.stat().st_mtime_ns == stat.st_mtime_ns
    entry.parts.mkdir()  # what a kill between the manifest and the removal of the parts leaves
    (entry.parts / "00000.npz").write_bytes(b"x")
    (entry.folder / ".features.npy.abc.tmp").write_bytes(b"x")
    entry.features_path.unlink()  # force the locked path: damaged → recomputed, and tidied
    embed(job, tmp_path, device="cpu", workers=0)
    assert stale_files(tmp_path) == []


def test_a_clip_whose_audio_is_not_finite_is_named_never_dropped_silently(tmp_path):
    """A loader's samples overflowing to ±Inf: named as the loader's output (a network's non-finite output on finite
    audio: tests/test_registry.py), left out and named only under skip_bad_audio."""
    ds = tone_dataset()
    loud = ds.clips[4]
    original = ds.load_audio
    ds.load_audio = lambda clip, rate: original(clip, rate) * (3e38 if clip.id == loud.id else 1)
    job = EmbedJob(ds, TINY)
    with pytest.raises(Exception, match=f"{loud.id}: ToneDataset.load_audio returned \\d+ non-finite sample.*skip-bad-audio"):
        embed(job, tmp_path, device="cpu", workers=0)
    out = embed(job, tmp_path, device="cpu", workers=0, skip_bad_audio=True)
    assert [s["clip"] for s in out.manifest.skipped] == [loud.id]
    assert "non-finite sample" in out.manifest.skipped[0]["reason"]
    assert out.valid.sum() == len(ds.clips) - 1 and np.isnan(out.features[4]).all()


@pytest.mark.slow
def test_two_identical_cli_runs_started_together_both_finish_and_share_the_work(tmp_path):
    argv = [sys.executable, "-m", "rwbench.cli", "run", "--results", str(tmp_path), "--frontends", "temporal,mfcc",
            "--device", "cpu", "--workers", "0", "--dataset-option", "n_per_class=8", "--tasks", "rhythm",
            "--backends", "logreg"]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=600) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    assert outputs[0][0] == outputs[1][0] and "| temporal" in outputs[0][0], "both print the same leaderboard"
    logs = [err for _, err in outputs]
    computed = sum(int(e.split("embed stage: ")[1].split(" computed")[0]) for e in logs)
    evaluated = sum(int(e.split("evaluate: ")[1].split(" new results")[0]) for e in logs)
    assert computed == 2 and evaluated == 2, "each embedding and each result computed by one run only"
    assert stale_files(tmp_path) == [] and not list(tmp_path.rglob("*.tmp"))


UMASKS = (0o022, 0o077)


@pytest.fixture(scope="module")
def umask_runs(tmp_path_factory) -> Path:
    """One child process runs the pipeline once per umask of :data:`UMASKS`, each in its own folder (data, results and
    ``RWBENCH_HOME`` under ``<base>/<umask in octal>``): one interpreter start instead of one per umask."""
    base = tmp_path_factory.mktemp("umask")
    code = f"""
import os, sys
from pathlib import Path
sys.path.insert(0, {TESTS!r})
from conftest import write_audio
from toy import TINY
from rwbench.backends import BACKENDS
from rwbench.datamodel import DATASETS
from rwbench.pipeline import RunOptions, run
for umask in {UMASKS!r}:
    os.umask(umask)
    root = Path({str(base)!r}) / oct(umask)
    os.environ["RWBENCH_HOME"] = str(root / "home")
    for label in ("cat", "dog", "owl"):
        for i in range(3):
            write_audio(root / "data" / label / f"{{label}}{{i}}.wav", seconds=0.3)
    dataset = DATASETS.get("folder").load(root / "data", k=3, seconds=0.3)
    run(dataset, [TINY], [BACKENDS.get("logreg")], RunOptions(results_dir=root / "results", device="cpu", workers=0))
"""
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr[-2000:]
    return base


@pytest.mark.parametrize("umask", UMASKS)
def test_every_file_follows_the_users_umask(umask_runs, umask):
    root = umask_runs / oct(umask)
    files = [p for p in root.rglob("*") if p.is_file() and "data" not in p.parts]
    assert {p.suffix or p.name for p in files} >= {".json", ".npy", ".lock", ".sqlite3"}
    assert any("home" in p.relative_to(root).parts for p in files), "the rwbench home of this umask's run is used"
    wrong = {str(p.relative_to(root)): oct(p.stat().st_mode & 0o777) for p in files
             if p.stat().st_mode & 0o777 != 0o666 & ~umask}
    assert wrong == {}, f"files not made with mode 0o666 & ~umask ({oct(0o666 & ~umask)})"


def test_a_file_changed_within_the_last_seconds_is_hashed_again_not_remembered(tmp_path, monkeypatch):
    """On a filesystem with 1-second timestamps, a same-size rewrite within the second of hashing keeps size, mtime,
    ctime and inode: a remembered digest would then be stale (git's racily clean case). Recent files are not kept."""
    import sqlite3
    import time

    from rwbench import filehash

    monkeypatch.setenv("RWBENCH_HOME", str(tmp_path / "home"))
    path = tmp_path / "clip.wav"
    path.write_bytes(b"ab" * 100)

    def remembered() -> int:
        with sqlite3.connect(tmp_path / "home" / "file-hashes.sqlite3") as db:
            return db.execute("SELECT COUNT(*) FROM digest").fetchone()[0]

    filehash.file_digests([path])
    assert remembered() == 0  # written just now
    later = time.time() + 10
    monkeypatch.setattr(filehash.time, "time", lambda: later)
    filehash.file_digests([path])
    assert remembered() == 1


def test_a_damaged_file_hash_memo_is_moved_aside_and_the_files_hashed_without_it(tmp_path, monkeypatch, caplog):
    """A memo whose pages after the first are garbage (a crash on an NFS home) failed every command with
    sqlite3.DatabaseError until deleted by hand."""
    import hashlib
    import sqlite3

    from rwbench import filehash

    monkeypatch.setenv("RWBENCH_HOME", str(tmp_path / "home"))
    later = time.time() + 10  # every file old enough to be remembered
    monkeypatch.setattr(filehash.time, "time", lambda: later)
    files = [tmp_path / f"clip{i:02d}.wav" for i in range(40)]
    for i, path in enumerate(files):
        path.write_bytes(bytes([i]) * 100)
    digests = [hashlib.sha1(path.read_bytes()).hexdigest() for path in files]
    assert filehash.file_digests(files) == digests
    memo = tmp_path / "home" / "file-hashes.sqlite3"
    data = memo.read_bytes()
    assert len(data) > 4096, "a memo of several pages"
    memo.write_bytes(data[:4096] + np.random.default_rng(1).bytes(len(data) - 4096))
    assert filehash.file_digests(files) == digests
    assert caplog.text.count("is damaged") == 1 and memo.with_name(memo.name + ".corrupt").is_file()
    assert filehash.file_digests(files) == digests  # into a new memo
    with sqlite3.connect(memo) as db:
        assert db.execute("SELECT COUNT(*) FROM digest").fetchone()[0] == len(files)
    assert caplog.text.count("is damaged") == 1


def test_a_manifest_whose_layer_columns_move_is_computed_again(tmp_path, caplog):
    """A layer boundary moved by hand (conv1 3 columns, conv2 5, where each is 4 wide) still covers the columns: a
    front-end declaring its layers' widths finds it (per-layer results would slice the wrong columns); so do
    layers renamed or reordered, for any front-end."""
    from dataclasses import replace

    declared = replace(TINY, name="tiny_declared", layer_dims=lambda nf: {"conv1": nf, "conv2": nf})
    ds = tone_dataset()
    for spec, layers, said in ((declared, {"conv1": [0, 3], "conv2": [3, 8]}, "{'conv1': 4, 'conv2': 4} do"),
                               (TINY, {"conv2": [0, 4], "conv1": [4, 8]}, "{'conv1': None, 'conv2': None} do")):
        job = EmbedJob(ds, spec)
        good = np.array(embed(job, tmp_path, device="cpu", workers=0).features)
        _edit_manifest(job.entry(tmp_path).manifest_path, layers=layers)
        problem = job.entry(tmp_path).problem()
        assert problem is not None and problem.endswith(f"as the front-end's layers {said} (edited by hand?)")
        np.testing.assert_array_equal(embed(job, tmp_path, device="cpu", workers=0).features, good)
        assert job.entry(tmp_path).manifest().layers == {"conv1": (0, 4), "conv2": (4, 8)}


def test_a_spec_whose_layer_dims_its_network_does_not_make_fails_as_it_embeds(tmp_path):
    """Declared widths the network does not make (conv1 3 and conv2 5 where each is 4) fail the embedding, naming the
    spec, instead of a stored entry refused as damaged by every later run (embedded again each time, never used)."""
    from dataclasses import replace

    wrong = replace(TINY, name="tiny_wrong", layer_dims=lambda nf: {"conv1": nf - 1, "conv2": nf + 1})
    with pytest.raises(RwbenchError, match=r"'tiny_wrong' at width small made layers \{'conv1': 4, 'conv2': 4\} wide; "
                                           r"its layer_dims declare \{'conv1': 3, 'conv2': 5\}"):
        embed(EmbedJob(tone_dataset(), wrong), tmp_path, device="cpu", workers=0)
    assert not EmbedJob(tone_dataset(), wrong).entry(tmp_path).exists()


def test_an_array_written_in_place_with_its_mtime_restored_is_found_in_the_same_process(tmp_path):
    """The arrays' stat was remembered as (size, mtime, inode) once their sha256 matched: NaN written in place (a
    notebook's np.load(mmap_mode="r+"), bit rot) with the mtime put back passed, and the NaN rows left three clips out
    of every split unsaid. Any write changes the ctime."""
    job = EmbedJob(tone_dataset(), TINY)
    embed(job, tmp_path, device="cpu", workers=0)
    entry = job.entry(tmp_path)
    assert entry.problem() is None
    path, before = entry.features_path, entry.features_path.stat()
    time.sleep(0.01)
    features = np.load(path, mmap_mode="r+")
    features[0:3, 0] = np.nan
    features.flush()
    del features
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size
    assert "does not match the sha256 in its manifest (altered on disk)" in (entry.problem() or "")


def test_nan_rows_the_manifest_does_not_record_as_skipped_are_refused(tmp_path):
    """Features with NaN rows whose manifest was made to match them (its sha256 and sizes) are not clips left out by
    --skip-bad-audio: named, never dropped from the splits."""
    import hashlib

    job = EmbedJob(tone_dataset(), TINY)
    embed(job, tmp_path, device="cpu", workers=0)
    entry = job.entry(tmp_path)
    features = np.load(entry.features_path)
    features[4] = np.nan
    np.save(entry.features_path, features)
    manifest = json.loads(entry.manifest_path.read_text())
    manifest["files"]["features.npy"]["sha256"] = hashlib.sha256(entry.features_path.read_bytes()).hexdigest()
    entry.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(RwbenchError, match=rf"1 clip\(s\) have NaN features that its manifest does not record as "
                                           rf"skipped \(e\.g\. {re.escape(job.dataset.clips[4].id)}\)"):
        load_embeddings(job, RunOptions(results_dir=tmp_path / "results", cache_dir=tmp_path))


def test_a_file_rewritten_during_a_run_is_refused_not_stored_under_its_old_key(tmp_path):
    """The fingerprint hashes every file when the dataset loads; the clips are decoded later (minutes later for a
    run's second front-end). A file replaced in between was embedded and stored under the old content's key, and a
    rerun after restoring it read the wrong embedding as up to date (0.861 where the data gives 0.944). A clip whose
    file is not the one hashed is now refused when decoded. A real process: the first decode rewrites another
    clip's file, as a concurrent writer would."""
    code = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import write_audio
from toy import TINY
from rwbench import audio
from rwbench.backends import BACKENDS
from rwbench.datamodel import DATASETS
from rwbench.errors import DataError
from rwbench.pipeline import RunOptions, run
root = Path({str(tmp_path)!r})
for label in ("cat", "dog", "owl"):
    for i in range(3):
        write_audio(root / "data" / label / f"{{label}}{{i}}.wav", seconds=0.3)
dataset = DATASETS.get("folder").load(root / "data", k=3, seconds=0.3)
dataset[0].fingerprint()
real_load = audio.load
def load(path, rate):
    victim = root / "data" / "owl" / "owl2.wav"
    if victim.read_bytes() != (root / "data" / "cat" / "cat0.wav").read_bytes():
        victim.write_bytes((root / "data" / "cat" / "cat0.wav").read_bytes())  # a cat under the owl label
    return real_load(path, rate)
audio.load = load
try:
    run(dataset, [TINY], [BACKENDS.get("logreg")], RunOptions(results_dir=root / "results", cache_dir=root / "cache",
        device="cpu", workers=0))
except DataError as err:
    print("REFUSED", err)
"""
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr[-2000:]
    assert "REFUSED" in child.stdout and "owl2.wav: changed on disk during the run" in child.stdout
    assert not list((tmp_path / "results").rglob("*.json"))  # nothing scored


def test_a_chmod_or_a_hard_link_mid_run_is_no_change_but_a_rewrite_is(tmp_path):
    """The changed-file check compared the change time too: a chmod or a new hard link of an unchanged file stopped
    a valid run as "changed on disk". Size, modification time and inode are compared, as taken before hashing."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import write_audio

    from rwbench.clips import changed_since_fingerprint
    from rwbench.datamodel import DATASETS

    for label in ("cat", "dog", "owl"):
        for i in range(3):
            write_audio(tmp_path / "data" / label / f"{label}{i}.wav", seconds=0.3)
    (dataset,) = DATASETS.get("folder").load(tmp_path / "data", k=3, seconds=0.3)
    dataset.fingerprint()
    clip = dataset.clips[0]
    os.chmod(clip.path, 0o600)
    os.link(clip.path, tmp_path / "another_name.wav")
    assert changed_since_fingerprint(dataset, clip) is None
    clip.path.write_bytes(dataset.clips[-1].path.read_bytes())
    assert "changed on disk during the run" in changed_since_fingerprint(dataset, clip)


def test_a_workers_byte_identical_copy_of_the_data_is_accepted_and_changed_bytes_are_not(tmp_path):
    """A Dask worker on a node whose copy of the data holds the same bytes at the same path (other inodes, other
    mtimes) refused every clip as "changed on disk during the run": only the stat was compared. Where the stat
    differs, the file's sha1 is compared with the fingerprint's; changed bytes (of the same size) are refused.
    Checked in a process of its own given the pickled dataset, as a worker gets it."""
    import pickle

    from conftest import write_audio

    from rwbench.datamodel import DATASETS

    for label in ("cat", "dog", "owl"):
        for i in range(3):
            write_audio(tmp_path / "data" / label / f"{label}{i}.wav", seconds=0.3)
    (dataset,) = DATASETS.get("folder").load(tmp_path / "data", k=3, seconds=0.3)
    dataset.fingerprint()
    (tmp_path / "dataset.pkl").write_bytes(pickle.dumps(dataset))
    time.sleep(0.01)  # another mtime
    for clip in dataset.clips:  # the node's copy: same bytes, new file (inode), new mtime
        copy = clip.path.with_suffix(".copy")
        copy.write_bytes(clip.path.read_bytes())
        os.replace(copy, clip.path)
    changed = dataset.clips[0].path
    noise = bytearray(changed.read_bytes())
    noise[-1] ^= 0xFF  # one sample's byte: same size, other bytes
    changed.write_bytes(bytes(noise))
    code = f"""
import pickle, sys
sys.path.insert(0, {TESTS!r})
from rwbench.clips import changed_since_fingerprint
dataset = pickle.loads(open({str(tmp_path / "dataset.pkl")!r}, "rb").read())
for clip in dataset.clips:
    print(clip.path.name, changed_since_fingerprint(dataset, clip))
"""
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=TESTS)
    assert child.returncode == 0, child.stderr[-2000:]
    verdicts = dict(line.split(" ", 1) for line in child.stdout.splitlines())
    assert len(verdicts) == 9 and "changed on disk during the run" in verdicts.pop(changed.name)
    assert set(verdicts.values()) == {"None"}


LOCK_HOLDER = """
import logging, sys, time
from pathlib import Path
from rwbench import fileio
logging.basicConfig(level=logging.WARNING)  # what -q shows
fileio.REMIND_SECONDS = 0.5
folder = Path(sys.argv[1])
with fileio.exclusive(folder / ".lock", "the test's entry"):
    print("held", flush=True)
    while sys.argv[2] == "hold" and not (folder / "release").exists():
        time.sleep(0.05)
"""


def test_a_process_waiting_on_a_lock_names_its_holder_under_quiet_and_a_killed_holders_note_never_blocks(tmp_path):
    """A process waiting on a lock logged one INFO line (hidden by -q) and never said which process held it. The
    holder writes pid, host, start and command beside the lock; the waiter names it at WARNING, again and again while
    it waits. A note left by a holder killed with -9 neither blocks the next process nor outlives its lock."""
    note = tmp_path / ".lock.holder"
    holding = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path), "hold"], stdout=subprocess.PIPE,
                               text=True)
    assert holding.stdout.readline() == "held\n"
    waiting = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path), "go"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    (tmp_path / "release").touch()
    out, err = waiting.communicate(timeout=60)
    holding.wait(timeout=60)
    named = f"waiting for another rwbench process that is computing the test's entry: process {holding.pid} on "
    assert out == "held\n" and err.count(named) >= 2, err
    assert f"{tmp_path} hold`" in err and not note.exists()  # its command line

    (tmp_path / "release").unlink()
    holding = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path), "hold"], stdout=subprocess.PIPE,
                               text=True)
    assert holding.stdout.readline() == "held\n" and str(holding.pid) in note.read_text()
    holding.send_signal(signal.SIGKILL)
    holding.wait(timeout=60)
    assert note.exists()  # stale: the lock itself is free
    free = subprocess.run([sys.executable, "-c", LOCK_HOLDER, str(tmp_path), "go"], capture_output=True, text=True,
                          timeout=60)
    assert free.stdout == "held\n" and "waiting" not in free.stderr and not note.exists()
