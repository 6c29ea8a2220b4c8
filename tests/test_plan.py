"""``rwbench run --dry-run``: its counts are those of the real run, and it computes and writes nothing."""

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from toy import TINY, tone_dataset

from rwbench.backends import BackendSpec
from rwbench.pipeline import RunOptions, run
from rwbench.plan import plan, render

FITS = []


class CountingLogReg(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        FITS.append(len(X))
        return super().fit(X, y, sample_weight)


COUNTING = BackendSpec(name="counting", build=lambda seed: CountingLogReg(max_iter=200),
                       grid=[{"C": [0.1, 1.0, 10.0]}], description="logistic regression that counts its fits")


@pytest.fixture
def opts(tmp_path):
    return RunOptions(results_dir=tmp_path / "results", device="cpu", workers=0, seeds=[0, 1])


def test_the_plan_predicts_the_runs_jobs_fits_and_cache_size(opts):
    ds = tone_dataset()
    (before,) = plan([ds], [TINY], [COUNTING], opts)
    assert (before.embed_jobs, before.cached, before.results, before.up_to_date) == (2, 0, 2, 0)
    assert before.rows_to_embed == 2 * len(ds.clips) and before.embed_seconds > 0
    assert not opts.results_dir.exists()  # nothing written
    FITS.clear()
    log = run([ds], [TINY], [COUNTING], opts)
    assert before.fits == len(FITS) == 2 * 4 * (3 * 3 + 1)  # 2 seeds × 4 outer folds × (3 inner × 3 C + refit)
    features = sum(f.stat().st_size for f in (opts.results_dir / "embeddings").rglob("features.npy"))
    assert abs(features - before.cache_bytes_new) <= 2 * 128  # the .npy headers
    (after,) = plan([ds], [TINY], [COUNTING], opts)
    assert (after.cached, after.up_to_date, after.fits, after.rows_to_embed) == (2, 2, 0, 0)
    assert after.cache_bytes_now >= features and after.embed_seconds == 0 and log.evaluated == 2
    shutil.rmtree(opts.cache_root)  # the result files without the cache: the run would embed nothing
    (moved,) = plan([ds], [TINY], [COUNTING], opts)
    assert (moved.cached, moved.unneeded, moved.up_to_date, moved.rows_to_embed) == (0, 2, 2, 0)
    text = render([moved], opts)
    assert "embed: 0 of 2 jobs to compute, 0 clip rows" in text
    assert "; 2 job(s) not cached and not needed: every result they feed is up to date" in text


def test_the_chunks_an_interrupted_embedding_saved_are_not_predicted_again(opts, monkeypatch):
    """The run resumes after the chunks an interrupted one saved in parts/; the dry run counted every clip of the
    entry as to embed and decode and its whole size as new cache."""
    from rwbench.cache import CacheEntry
    from rwbench.embed import CHUNK_CLIPS, embed
    from rwbench.embed_job import EmbedJob

    ds, one = tone_dataset(n_per_class=100), RunOptions(**{**opts.__dict__, "seeds": [0]})  # 300 clips: 3 chunks
    save = CacheEntry.save_chunk

    def killed_after_two(entry, index, *args, **kwargs):
        save(entry, index, *args, **kwargs)
        if index == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(CacheEntry, "save_chunk", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        embed(EmbedJob(ds, TINY), one.cache_root, device="cpu", workers=0)
    monkeypatch.undo()
    (row,) = plan([ds], [TINY], [COUNTING], one)
    left = len(ds.clips) - 2 * CHUNK_CLIPS
    assert (row.rows_to_embed, row.clips_to_decode, row.chunks_done, row.chunks) == (left, left, 2, 3)
    assert row.cache_bytes_new == 4 * left * TINY.dim("small")
    assert "300 clip rows" not in render([row], one) and f"{left} clip rows (resuming: 2 of 3 chunks done)" in \
        render([row], one)


def test_a_changed_result_is_counted_as_work(opts):
    ds = tone_dataset()
    run([ds], [TINY], [COUNTING], opts)
    (forced,) = plan([ds], [TINY], [COUNTING], RunOptions(**{**opts.__dict__, "force": True}))
    assert (forced.cached, forced.up_to_date, forced.fits) == (2, 0, 2 * 4 * 10)
    (more_seeds,) = plan([ds], [TINY], [COUNTING], RunOptions(**{**opts.__dict__, "seeds": [0, 1, 2]}))
    assert (more_seeds.embed_jobs, more_seeds.cached, more_seeds.up_to_date, more_seeds.fits) == (3, 2, 2, 4 * 10)


def test_render_states_totals_and_what_is_not_predicted(opts):
    rows = plan([tone_dataset()], [TINY], [COUNTING], opts)
    text = render(rows, opts)
    assert text.startswith("dry run: nothing computed or written")
    assert "2 of 2 jobs to compute" in text and "80 backend fits" in text and "3 clips timed per sample rate" in text
    # what it does not check: a clip the run cannot use stops the run the dry run priced in full
    assert text.rstrip().endswith("a crop of digital silence) stops it there unless --skip-bad-audio")
    # the fits are a lower bound for every iterative solver, not only libsvm's at large C: logreg's read 3.7× low
    assert "A lower bound for iterative solvers (logreg's lbfgs, the SVMs' libsvm)" in text
    assert np.isfinite(rows[0].ms_per_row) and rows[0].decode_ms_per_clip > 0 and rows[0].clips_to_decode == 72


def test_embed_time_is_start_up_plus_clips_with_decoding_in_line_or_beside_the_network():
    from rwbench.plan import PlanRow

    row = PlanRow("d", "f", rows_to_embed=100, clips_to_decode=100, ms_per_row=10.0, decode_ms_per_clip=30.0,
                  startup_seconds=0.5, decode_workers=0, cores=2, torch_threads=2)
    assert (row.network_seconds, row.decode_seconds, row.embed_seconds) == (1.0, 3.0, 4.5)  # main process: the sum
    row.decode_workers = 1  # one worker beside a 2-thread network on 2 cores: the CPU work shared out, (2·1 + 3) / 2
    assert row.decode_seconds == 3.0 and row.embed_seconds == 0.5 + 3.0
    row.decode_workers, row.cores = 4, 8  # plenty of cores: the slower of network and decoding
    assert row.decode_seconds == 0.75 and row.embed_seconds == 0.5 + 1.0
    row.handover_ms_per_row = 2.0  # the main process takes each clip from a worker: network + hand-over
    assert row.handover_seconds == 0.2 and row.embed_seconds == pytest.approx(0.5 + 1.2)
    row.decode_workers = 0  # no workers, no hand-over
    assert row.handover_seconds == 0 and row.embed_seconds == pytest.approx(0.5 + 1.0 + 3.0)


def test_the_hand_over_from_a_worker_and_the_workers_decoding_are_timed():
    from rwbench.embed_job import EmbedJob
    from rwbench.plan import _spread, handover_ns_per_sample, worker_decode_ms

    assert handover_ns_per_sample(0) == 0 and handover_ns_per_sample(1, batch=2, batches=1) > 0
    assert worker_decode_ms(EmbedJob(tone_dataset(), TINY)) > 0
    assert _spread(36, 4) == [0, 11, 23, 35] and _spread(3, 4) == [0, 1, 2]  # over the dataset, not its first clips


def test_a_fit_timing_serves_nearby_feature_sizes_and_each_result_counts_its_splits():
    from rwbench.plan import FitTiming, _dim_timing, result_seconds

    timed = FitTiming(2.0, 0.01, 0.3, 1.5)
    timings = {("fit", "d", "svm", "wide", 160): timed}
    assert _dim_timing(timings, ("fit", "d", "svm", "wide"), 170) == timed
    assert _dim_timing(timings, ("fit", "d", "svm", "wide"), 120) is None  # beyond 1.25×
    assert _dim_timing(timings, ("fit", "d", "elm", "wide"), 160) is None
    ds = tone_dataset()
    inner = [len(s.inner) for s in ds.splits()]
    # per outer split: inner folds × the search + the rest of a split's evaluation as timed (first use: per run)
    assert result_seconds(ds, COUNTING, timed) == pytest.approx(sum(2.0 * n + 0.3 for n in inner))
    # the rest not timed: a refit at the mean fit
    assert result_seconds(ds, COUNTING, FitTiming(2.0, 0.01)) == pytest.approx(sum(2.0 * n + 0.01 for n in inner))


def test_a_multilabel_result_adds_the_threshold_refits_the_timed_split_did_not_make():
    from toy import chord_dataset

    from rwbench.plan import FitTiming, result_seconds

    ds = chord_dataset()  # one-vs-rest: a threshold refit per inner fold; the timed split refit one
    inner = [len(s.inner) for s in ds.splits()]
    assert result_seconds(ds, COUNTING, FitTiming(2.0, 0.01, 0.3)) == pytest.approx(
        sum(2.0 * n + 0.3 + (n - 1) * 0.01 for n in inner))
    assert result_seconds(ds, COUNTING, FitTiming(2.0, 0.01)) == pytest.approx(sum(2.0 * n + (1 + n) * 0.01
                                                                                   for n in inner))


def test_the_fit_timing_measures_the_search_the_rest_of_a_split_and_the_first_use():
    from rwbench.plan import _mid_setting, _tiny_split, fit_timing

    ds = tone_dataset()
    timed = fit_timing(ds, COUNTING, 8, 1)
    assert timed.search_s > 0 and timed.fit_s == pytest.approx(timed.search_s / 3)
    assert timed.split_rest_s >= 0 and timed.first_use_s >= 0
    assert _mid_setting(COUNTING).grid == [{"C": [1.0]}] and _mid_setting(COUNTING).name == "counting"
    split = ds.splits()[0]
    tiny = _tiny_split(split)
    (fit, validate), = tiny.inner
    assert set(tiny.train) <= set(split.inner[0][0]) and set(validate) <= set(split.inner[0][1])
    assert set(tiny.test) <= set(split.test) and len(np.unique(ds.labels[fit])) > 1  # spread over the classes


class HoldsGram(LogisticRegression):
    """Holds an n × n float64 matrix for a moment while it fits, as a kernel SVM holds its Gram matrix."""

    def fit(self, X, y, sample_weight=None):
        import time

        gram = np.ones((len(X), len(X)))
        time.sleep(0.05)  # longer than the sampling interval
        del gram
        return super().fit(X, y, sample_weight)


def test_the_fit_memory_is_measured_on_the_refit_of_a_whole_training_side(opts):
    """1800 clips in 4 folds: the refit holds a 1350² float64 matrix (13.9 MiB), the search 900²; the dry run shows
    the largest fit's memory per row and in its memory line."""
    from rwbench.plan import fit_timing

    ds = tone_dataset(n_per_class=600)
    holds = BackendSpec(name="holds", build=lambda seed: HoldsGram(max_iter=50), grid=[{"C": [1.0]}],
                        description="holds a Gram-sized matrix")
    gram_mib = 1350**2 * 8 / 2**20
    timed = fit_timing(ds, holds, 8, 1)
    assert 0.9 * gram_mib <= timed.peak_mib <= 3 * gram_mib + 16
    (row,) = plan([ds], [TINY], [holds], RunOptions(**{**opts.__dict__, "seeds": [0]}))
    assert 0.9 * gram_mib <= row.fit_mib <= 3 * gram_mib + 16 and row.embed_bytes > 0
    text = render([row], opts)
    assert "embed MiB" in text and "fit MiB" in text
    assert re.search(r"memory: embedding up to \d+ MiB of cpu memory .*; fits up to \d+ MiB of resident memory", text)


def test_first_use_is_counted_once_per_backend_and_front_end(opts):
    from rwbench.plan import FitTiming

    ds = tone_dataset()
    other = BackendSpec(name="other", build=COUNTING.build, grid=COUNTING.grid, description="the same, named apart")
    timings = {("fit", ds.key, b.name, None, TINY.dim(opts.width, opts.pooling)): FitTiming(1.0, 0.1, 0.0, 0.0)
               for b in (COUNTING, other)}
    timings[("macs", TINY.name, str(opts.width))] = 5.0  # already counted in this process: not again
    (row,) = plan([ds], [TINY], [COUNTING, other], opts, timings=timings)
    assert row.first_use_seconds == 0 and row.fit_seconds == pytest.approx(4 * sum(len(s.inner) for s in ds.splits()))
    del timings[("macs", TINY.name, str(opts.width))]
    (row,) = plan([ds], [TINY], [COUNTING, other], opts, timings=timings)
    assert row.first_use_seconds == timings[("macs", TINY.name, str(opts.width))] > 0  # the MAC count, once


def test_the_runs_memory_check_is_timed_once_and_the_network_on_a_batch_of_the_run(opts):
    timings = {}
    (row,) = plan([tone_dataset(n_per_class=4)], [TINY], [COUNTING], opts, timings=timings)
    checks = [v for k, v in timings.items() if k[0] == "check"]
    assert len(checks) == 1 and row.startup_seconds >= checks[0] > 0  # 2 seeds, one front-end and input: one check
    (network,) = [k for k in timings if k[0] == TINY.name]
    assert network[3] == 12  # the run's batch of 16 holds the 12 clips: timed on 12, not on fewer


def test_choosing_the_batch_size_counts_in_the_memory_check_it_starts(opts, monkeypatch):
    # the first memory model pays imports (torch._dynamo: seconds) whichever call makes it: the run pays them in its
    # memory check, so the plan counts the batch-size choice that made them, not only the check timed after it
    import time

    from rwbench import plan as planning

    def slow_choice(job, device):
        time.sleep(0.3)
        return 16
    monkeypatch.setattr(planning, "choose_batch_size", slow_choice)
    timings = {}
    (row,) = plan([tone_dataset(n_per_class=4)], [TINY], [COUNTING], opts, timings=timings)
    (check,) = [v for k, v in timings.items() if k[0] == "check"]
    assert check >= 0.3 and row.startup_seconds >= check


def test_the_network_timing_has_a_start_up_and_a_steady_part():
    from rwbench.embed_job import EmbedJob
    from rwbench.plan import time_network

    timed = time_network(EmbedJob(tone_dataset(), TINY), 4, "cpu")
    assert timed.build_s > 0 and timed.first_extra_s >= 0 and timed.ms_per_row > 0


def test_dry_run_in_a_real_process_writes_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "run", "--dry-run", "--frontends", "mfcc,temporal",
                           "--backends", "logreg", "--results", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == [] and "4 of 4 result files to compute" in done.stdout
    assert re.search(r"\| synthetic/timbre +\| mfcc +\| +1 \| +0 \|", done.stdout)


def test_the_plan_counts_multilabel_fits_per_tag_and_the_thresholds_refits(opts):
    from toy import chord_dataset

    ds = chord_dataset()
    (before,) = plan([ds], [TINY], [COUNTING], opts)
    FITS.clear()
    run([ds], [TINY], [COUNTING], opts)
    # 2 seeds × 4 outer folds × (3 inner × 3 C + refit + 3 threshold refits) × 3 tags (one-vs-rest)
    assert before.fits == len(FITS) == 2 * 4 * (3 * 3 + 1 + 3) * 3


def test_with_windows_voted_the_plan_counts_each_files_windows_and_times_fits_on_them(tmp_path, opts):
    """Files of 0.1–0.5 s, 0.1 s windows voted per clip: the dry run reads each file's length (not the loader's
    nominal one) and times the fits on window rows, as the run fits them (a clip row each was ~10× too cheap)."""
    from conftest import write_audio

    from rwbench.datasets.folder import load_folder

    for label in ("a", "b", "c"):
        for i in range(12):
            write_audio(tmp_path / "data" / label / f"{label}{i}.wav", seconds=0.1 * (1 + i % 5))
    ds = load_folder(tmp_path / "data", k=3, seconds=0.3)
    voting = RunOptions(**{**opts.__dict__, "seeds": [0], "segment": 0.1, "aggregate": "majority"})
    FITS.clear()
    (row,) = plan([ds], [TINY], [COUNTING], voting)
    timed = list(FITS)
    FITS.clear()
    run([ds], [TINY], [COUNTING], voting)
    (index,) = (opts.results_dir / "embeddings").rglob("clip_index.npy")
    assert row.rows_to_embed == len(np.load(index)) == 3 * (2 * (1 + 2 + 3 + 4 + 5) + 1 + 2)  # windows per class
    first_split = FITS[:3 * 3 + 1]  # 3 inner folds × 3 settings, then the refit on the training side's windows
    assert max(timed) == max(first_split) > len(ds.clips)


def test_clips_a_loader_cuts_from_longer_files_are_counted_at_the_datasets_length(tmp_path):
    """Speech Commands' silence clips name a 60-s recording and load 1 s of it: read from the header, each counted as
    60 windows (the dry run predicted 432 rows for a run of 72)."""
    from conftest import write_audio

    from rwbench.datamodel import Dataset
    from rwbench.datasets.folder import load_folder
    from rwbench.embed_job import EmbedJob

    for name in ("a/a1", "a/a2", "a/a3", "b/b1", "b/b2", "b/b3"):
        write_audio(tmp_path / "data" / f"{name}.wav", seconds=2.0)
    ds = load_folder(tmp_path / "data", k=3, seconds=0.5)
    job = EmbedJob(ds, TINY, segment=0.5)
    assert job.windows_per_clip().tolist() == [4] * 6  # whole files: their length

    class Cuts(Dataset):
        def load_audio(self, clip, sample_rate):
            return super().load_audio(clip, sample_rate)[:sample_rate // 2]

    cuts = Cuts(name=ds.name, task=ds.task, clips=ds.clips, protocol=ds.protocol, seconds=0.5)
    assert EmbedJob(cuts, TINY, segment=0.5).windows_per_clip().tolist() == [1] * 6


def test_a_heavy_network_is_timed_on_fewer_clips_down_to_one(monkeypatch):
    """VGG at paper width is 84 GMAC a 29-s GTZAN clip: timed on 16 of them (twice), it held `reproduce --dry-run`
    for minutes per network on this CPU; the timed call is now sized by its multiply-accumulates too."""
    from rwbench import plan as plan_module

    monkeypatch.setattr(plan_module, "count_macs", lambda spec, width: 84e9 / 29.17)  # per second of audio
    assert plan_module.cpu_timed_clips(TINY, "paper", 29.17, 16) == 1
    monkeypatch.setattr(plan_module, "count_macs", lambda spec, width: 1e9 / 29.17)  # light: the audio rule (≥ 4)
    assert plan_module.cpu_timed_clips(TINY, "small", 29.17, 16) == 16
    assert plan_module.cpu_timed_clips(TINY, "small", 200.0, 16) == 4
