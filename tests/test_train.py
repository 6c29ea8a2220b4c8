"""Fully trained baselines (``rwbench train``), the transfer row (``--weights trained``) and MST pre-training."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from conftest import result_dicts
from toy import TINY, tone_dataset

from rwbench.backends import BACKENDS
from rwbench.cli import main
from rwbench.errors import RwbenchError
from rwbench.fitting import TrainOptions
from rwbench.frontend import FRONTENDS
from rwbench.pipeline import RunOptions, run
from rwbench.pretrain import pretrain
from rwbench.results import check_fold_weights, fold_weights_folder, network_identity
from rwbench.train import train_all
from rwbench.weight_packs import sha256_of

FOLDS = ["fold1", "fold2", "fold3", "fold4"]


def _train(tmp_path, **kwargs):
    kwargs = {"epochs": 4, "patience": 4, "dropouts": (0.5,), **kwargs}  # one dropout: the search's test gives two
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, **kwargs)
    return train_all([tone_dataset()], [TINY], opts), opts


def _shas(results_dir, seed=0) -> dict[str, str]:
    folder = fold_weights_folder(results_dir, "trained", "tones", "tiny", "small", seed)
    return {f: sha256_of(folder / f"{f}.safetensors") for f in FOLDS}


def test_a_trained_row_is_an_ordinary_result_with_weights_per_fold(tmp_path):
    (path,), _ = _train(tmp_path)
    record = json.loads(path.read_text())
    assert (record["frontend"]["weights"], record["backend"]["name"], record["seed"]) == ("trained", "head", 0)
    assert [f["name"] for f in record["folds"]] == FOLDS
    assert record["frontend"]["weights_sha256"] == _shas(tmp_path)
    for fold in record["folds"]:
        assert fold["n_test"] == 9 and 1 <= fold["best_params"]["epoch"] <= fold["best_params"]["epochs_run"] <= 4
        assert sum(map(sum, fold["confusion"])) == 9
    assert record["summary"]["accuracy_mean"] == pytest.approx(np.mean([f["accuracy"] for f in record["folds"]]))
    folder = fold_weights_folder(tmp_path, "trained", "tones", "tiny", "small", 0)
    summary = json.loads((folder / "fold1.json").read_text())
    assert summary["validation_clips"] == 9 and len(summary["history"]) == summary["epochs_run"]
    assert summary["training"]["threads"] == torch.get_num_threads()
    assert not list(tmp_path.rglob("*.ckpt"))  # finished folds leave no checkpoint behind


def test_a_long_training_logs_each_run_and_each_fold_as_it_finishes(tmp_path, caplog):
    """Hours of training are not silent in a log file: one line per early-stopped run, per refit, per fold."""
    with caplog.at_level("INFO", logger="rwbench"):
        (path,), _ = _train(tmp_path, lrs=(1e-3, 3e-3))
    lines = [r.getMessage() for r in caplog.records]
    stopped = [line for line in lines if ": stopped at epoch " in line]
    refits = [line for line in lines if ": refit done, " in line]
    tested = [line for line in lines if ": test accuracy " in line]
    assert len(stopped) == 2 + 3 and len(refits) == len(tested) == 4  # 2 settings on fold 1, 1 run on each other
    assert all("best epoch" in line and "validation loss" in line and line.endswith(" s") for line in stopped)
    folds = json.loads(path.read_text())["folds"]
    for fold, line in zip(folds, tested):
        assert line.startswith(f"train tiny on tones {fold['name']} seed 0: test accuracy {fold['accuracy']:.3f}")


def test_training_is_deterministic_for_a_seed_and_differs_across_seeds(tmp_path):
    _train(tmp_path / "a", seeds=[0, 1])
    _train(tmp_path / "b", seeds=[0])
    assert _shas(tmp_path / "a") == _shas(tmp_path / "b")
    assert not set(_shas(tmp_path / "a", 0).values()) & set(_shas(tmp_path / "a", 1).values())


def test_a_rerun_reuses_finished_folds(tmp_path):
    _, opts = _train(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")}
    train_all([tone_dataset()], [TINY], opts)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")} == before


def test_a_damaged_fold_record_is_named_and_trained_again(tmp_path, caplog):
    """A truncated ``<fold>.select.json`` or ``<fold>.json`` (a full disk, an edit) stopped the training with "cannot
    read", to be found and deleted by hand: it is named, and what it recorded trained again, to the same weights."""
    from rwbench.train_plan import plan_training

    (path,), opts = _train(tmp_path, lrs=(1e-3, 3e-3))
    before, shas = json.loads(path.read_text()), _shas(tmp_path)
    path.unlink()
    folder = next((tmp_path / "weights").rglob("fold1.select.json")).parent
    for name in ("fold1.select.json", "fold2.json"):
        (folder / name).write_text((folder / name).read_text()[:40])
    assert "tiny" in plan_training([tone_dataset()], [TINY], opts)  # the dry run plans what the run recovers from
    with caplog.at_level("WARNING", logger="rwbench"):
        (path,), _ = _train(tmp_path, lrs=(1e-3, 3e-3))
    assert f"cannot read {folder / 'fold1.select.json'}" in caplog.text and "its inner runs are trained again" in caplog.text
    assert f"cannot read {folder / 'fold2.json'}" in caplog.text and "the fold is trained again" in caplog.text
    assert _shas(tmp_path) == shas
    assert [f["accuracy"] for f in json.loads(path.read_text())["folds"]] == [f["accuracy"] for f in before["folds"]]


def test_a_scored_result_stands_without_its_weights_folder(tmp_path, caplog):
    """A new machine has the committed result files but not the weights folder: nothing is trained again, unless the
    result misses a fold, was made under other settings, or --force asks."""
    import shutil

    (path,), opts = _train(tmp_path, folds=("fold3",))
    shutil.rmtree(tmp_path / "weights")
    (path,), _ = _train(tmp_path)  # the fold3-only result does not stand for all four folds
    assert [f["name"] for f in json.loads(path.read_text())["folds"]] == FOLDS
    shutil.rmtree(tmp_path / "weights")
    before = path.read_bytes()
    with caplog.at_level("INFO", logger="rwbench.train"):
        _train(tmp_path)
    assert path.read_bytes() == before and not (tmp_path / "weights").exists()
    assert "tones tiny trained seed 0: up to date" in caplog.text
    record = json.loads(before)  # a stored score its outputs contradict: not up to date (the leaderboard refuses it)
    record["folds"][0]["accuracy"] = 0.5 * record["folds"][0]["accuracy"] + 0.25
    path.write_text(json.dumps(record))
    with caplog.at_level("WARNING", logger="rwbench.results"):
        _train(tmp_path)
    assert json.loads(path.read_text())["folds"][0]["accuracy"] == json.loads(before)["folds"][0]["accuracy"]
    assert "not a valid result (folds[0] (fold1) has accuracy" in caplog.text
    shutil.rmtree(tmp_path / "weights")  # (it trained again: the fold records had gone with the weights)
    before = path.read_bytes()
    with pytest.raises(RwbenchError, match=r"tones tiny seed 0: trained under other settings, code or data "
                                           r"\(.*tiny__small__trained__seed0__head\.json\)\. Nothing was trained\. "
                                           r"Pass --force"):
        _train(tmp_path, epochs=3)  # another recipe would replace the finished training: refused, nothing lost
    assert path.read_bytes() == before
    _train(tmp_path, epochs=3, force=True)
    assert json.loads(path.read_text())["training"]["recipe"]["epoch_cap"] == 3 and set(_shas(tmp_path)) == set(FOLDS)


PLUGIN = textwrap.dedent('''
    import sys
    sys.path.insert(0, {tests!r})
    from toy import TINY, tone_dataset
    from rwbench.datamodel import register_dataset
    from rwbench.frontend import FRONTENDS

    FRONTENDS.add(TINY)
    register_dataset(name="tones", description="tones", protocol="4 folds", needs_root=False)(
        lambda root, task=None, **options: tone_dataset())
''')


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_weights(tmp_path):
    """kill -9 in fold 1's second search run (dropout 0.5 after dropout 0), rerun, kill -9 in fold 2's refit, rerun:
    the result equals an uninterrupted run's, bit for bit."""
    plugin = tmp_path / "tones_plugin.py"
    plugin.write_text(PLUGIN.format(tests=str(os.path.dirname(__file__))))
    argv = [sys.executable, "-m", "rwbench.cli", "train", "--plugin", str(plugin), "--dataset", "tones",
            "--frontends", "tiny", "--epochs", "20", "--patience", "20", "--lrs", "1e-3", "--dropouts", "0,0.5",
            "--batch-size", "8",
            "--workers", "0", "--device", "cpu", "-q"]
    folder = fold_weights_folder(tmp_path / "killed", "trained", "tones", "tiny", "small", 0)

    def kill_when(path):
        proc = subprocess.Popen([*argv, "--results", str(tmp_path / "killed")], stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while not path.is_file() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, f"training finished before {path.name} appeared"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    kill_when(folder / "fold1.lr0.001_dropout0.5.ckpt")
    assert (folder / "fold1.lr0.001_dropout0.ckpt").is_file() and not (folder / "fold1.safetensors").exists()
    kill_when(folder / "fold2.ckpt")  # fold 2's refit
    assert (folder / "fold1.safetensors").is_file() and not (folder / "fold2.safetensors").exists()
    assert not list(folder.glob("fold1*.ckpt"))
    for results in ("killed", "whole"):
        done = subprocess.run([*argv, "--results", str(tmp_path / results)], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
    assert _shas(tmp_path / "killed") == _shas(tmp_path / "whole")
    # the cost counts the epochs run before each kill too: a fold's seconds cover its selected run's epochs
    result = next(r for r in result_dicts(tmp_path / "killed") if r["backend"]["name"] == "head")
    for fold in result["folds"]:
        history = json.loads((folder / f"{fold['name']}.json").read_text())["history"]
        assert all(h["seconds"] > 0 for h in history)
        assert fold["fit_seconds"] >= sum(h["seconds"] for h in history)


def test_two_trainings_of_the_same_network_at_once_give_one_run_s_weights(tmp_path):
    """Two processes train the same (front-end, dataset, seed) into one results folder at once: each waits for the
    training lock (and says so), they then run one after the other, the second reusing the first's folds; the weights
    are those of a training run alone. The test holds the lock until both wait, so they overlap however slow the
    machine."""
    from rwbench.fileio import exclusive

    plugin = tmp_path / "tones_plugin.py"
    plugin.write_text(PLUGIN.format(tests=str(os.path.dirname(__file__))))
    argv = [sys.executable, "-m", "rwbench.cli", "train", "--plugin", str(plugin), "--dataset", "tones",
            "--frontends", "tiny", "--epochs", "6", "--patience", "6", "--lrs", "1e-3,3e-3", "--batch-size", "8",
            "--workers", "0", "--device", "cpu"]
    folder = fold_weights_folder(tmp_path / "both", "trained", "tones", "tiny", "small", 0)
    logs = [tmp_path / f"log{i}.txt" for i in range(2)]
    waiting = "waiting for another rwbench process that is computing the training of tiny"
    with exclusive(folder / ".train.lock", "the test"):
        both = [subprocess.Popen([*argv, "--results", str(tmp_path / "both")], stderr=log.open("w"), text=True)
                for log in logs]
        deadline = time.time() + 120
        while not all(waiting in log.read_text() for log in logs) and time.time() < deadline:
            assert all(proc.poll() is None for proc in both), [log.read_text() for log in logs]
            time.sleep(0.01)
    texts = [log.read_text() for log in logs]
    assert all(waiting in text for text in texts), texts
    assert [proc.wait(timeout=600) for proc in both] == [0, 0], [log.read_text() for log in logs]
    alone = subprocess.run([*argv, "--results", str(tmp_path / "alone")], capture_output=True, text=True, timeout=600)
    assert alone.returncode == 0, alone.stderr
    assert _shas(tmp_path / "both") == _shas(tmp_path / "alone")


def test_the_transfer_row_embeds_each_fold_with_its_own_weights(tmp_path):
    _train(tmp_path)
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["trained", "random"], seeds=[0])
    log = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert (log.embedded, log.evaluated) == (len(FOLDS) + 1, 2)
    transfer = next(r for r in result_dicts(tmp_path) if r["frontend"]["weights"] == "trained"
                    and r["backend"]["name"] == "logreg")
    assert set(transfer["frontend"]["embedding_key"]) == set(FOLDS)
    assert len(set(transfer["frontend"]["embedding_key"].values())) == len(FOLDS)
    assert transfer["frontend"]["weights_sha256"] == _shas(tmp_path)
    assert [f["name"] for f in transfer["folds"]] == FOLDS
    head = next(r for r in result_dicts(tmp_path) if r["backend"]["name"] == "head")
    assert {f: t["train_key"] for f, t in transfer["frontend"]["training"].items()} == {f: head["run_key"] for f in FOLDS}
    assert {f: t["not_converged"] for f, t in transfer["frontend"]["training"].items()} == \
        {f: t["not_converged"] for f, t in head["training"]["folds"].items()}


def test_a_row_on_trained_features_carries_the_not_converged_flag_and_one_training(tmp_path):
    """Features of networks whose validation still improved at the cap are flagged on the transfer row as on the
    head's; folds whose weights come from two trainings (one fold trained again under other settings) are refused."""
    from rwbench.analysis.leaderboard import load

    _train(tmp_path, epochs=1, patience=1, lrs=(1e-3,))  # every fold's best epoch is the cap
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["trained"], seeds=[0])
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert load(tmp_path).set_index("backend")["not_converged"].to_dict() == {"head": "4/4", "logreg": "4/4"}
    _train(tmp_path, epochs=2, patience=2, lrs=(1e-3,), folds=("fold1",), force=True)
    with pytest.raises(RwbenchError, match=r"tiny: its per-fold weights come from 2 different trainings \(fold1: .*"
                                           r"finish every fold under one recipe \(`rwbench train` with the settings"):
        run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], dataclasses.replace(opts, force=True))


def test_weights_trained_under_another_fold_assignment_are_refused(tmp_path):
    """Weights were found by dataset key and fold name alone: with the folds drawn again (another seed, a folds file)
    fold k's weights embedded a fold k test side holding clips they were trained on, and the row looked whole."""
    _train(tmp_path)
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["trained"], seeds=[0])
    shifted = tone_dataset()
    shifted.clips = [dataclasses.replace(c, fold=c.fold % 4 + 1) for c in shifted.clips]  # same clips, other folds
    with pytest.raises(RwbenchError, match=r"fold1\.safetensors was trained on other outer splits of tones than "
                                           r"this run's: its fold1 test clips here may be clips it was trained on"):
        run([shifted], [TINY], [BACKENDS.get("logreg")], opts)
    folder = fold_weights_folder(tmp_path, "trained", "tones", "tiny", "small", 0)
    for fold in FOLDS:  # a record written before it named its data: the training's head result says
        record = json.loads((folder / f"{fold}.json").read_text())
        del record["data"]
        (folder / f"{fold}.json").write_text(json.dumps(record))
    # (it names clips and protocol: 11 clips a class hold other clips, and other folds by the assignment's digest)
    with pytest.raises(RwbenchError, match=r"trained on other clips (and outer splits )?of tones"):
        run([tone_dataset(n_per_class=11)], [TINY], [BACKENDS.get("logreg")], opts)
    assert run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts).evaluated == 1  # its own folds: as before


def test_transfer_rows_stand_without_the_weights_folder_and_new_work_names_it(tmp_path):
    """Result files committed, weights not (a new machine): the transfer row is up to date through the sha256 the
    training recorded; an embedding still to compute names the missing file instead of failing on a bare path."""
    import shutil

    _train(tmp_path)
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["trained"], seeds=[0])
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    shutil.rmtree(tmp_path / "weights")
    log = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert (log.embedded, log.evaluated, log.reused) == (0, 0, 1)
    log = run([tone_dataset()], [TINY], [BACKENDS.get("svm")], opts)  # a new backend on the cached embeddings
    assert (log.embedded, log.evaluated) == (0, 1)
    shutil.rmtree(tmp_path / "embeddings")
    with pytest.raises(RwbenchError, match=r"'trained' weights .*fold1.safetensors \(sha256 [0-9a-f]{12}…, as their "
                                           r"training recorded\) are not on this machine.*`rwbench train`"):
        run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], dataclasses.replace(opts, force=True))


def test_rows_of_an_older_training_are_named_until_rerun(tmp_path, caplog):
    import html

    from rwbench.analysis.leaderboard import load, to_markdown
    from rwbench.analysis.report import render

    _train(tmp_path)
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["trained"], seeds=[0])
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert load(tmp_path).attrs["mixed_trainings"] == []
    _train(tmp_path, epochs=3, force=True)  # new weights: the logreg row was computed from the old ones
    with caplog.at_level("WARNING", logger="rwbench.analysis.leaderboard"):
        (line,) = load(tmp_path).attrs["mixed_trainings"]
    old = json.loads(next(tmp_path.rglob("*__logreg.json")).read_text())["frontend"]["weights_sha256"]["fold1"]
    assert line == (f"tones tiny (trained, width small, seed 0): head from weights fold1 {_shas(tmp_path)['fold1'][:12]}…; "
                    f"logreg from weights fold1 {old[:12]}…")
    assert "rerun `rwbench run --weights trained`" in caplog.text
    assert f"Stale trained rows: these networks' rows were computed from different trainings' weights; rerun " \
           f"`rwbench run --weights trained` for them:\n- {line}\n" in to_markdown(load(tmp_path))
    page = render(tmp_path, draw=False)
    assert '<div class="warning" id="mixed-trainings">' in page and html.escape(line) in page
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)  # the rerun recomputes the row: consistent again
    assert load(tmp_path).attrs["mixed_trainings"] == [] and 'id="mixed-trainings"' not in render(tmp_path, draw=False)


def test_trained_weights_that_do_not_exist_name_the_command(tmp_path):
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["trained"])
    with pytest.raises(RwbenchError, match=r"no 'trained' weights at .*fold1.safetensors .*`rwbench train`"):
        run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)


def test_mst_pretraining_learns_the_log_mel_and_embeds(tmp_path):
    spec = FRONTENDS.get("mst")
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, epochs=25, patience=25, batch_size=8, lr=3e-3)
    paths = pretrain("mst", [tone_dataset()], [spec], opts)
    assert [p.stem for p in paths] == FOLDS
    summaries = [json.loads(p.read_text()) for p in paths]
    for s in summaries:  # the fit improved, and the test side's prediction follows the target where the start did not
        # patience 25 = the cap: early stopping never ends a run, the cap ends every one (flagged, whatever its best)
        assert s["not_converged"] and s["epoch_cap"] == 25
        assert s["best_val_loss"] < 0.9 * s["history"][0]["val_loss"], s["history"]
        assert s["test_pearson_r"] > 0.3 and abs(s["random_init_test_pearson_r"]) < 0.1, s
        # where it ran, as a trained fold names it (the pretraining's record named no device, precision or threads)
        assert (s["device"], s["precision"], s["threads"]) == ("cpu", "float32", torch.get_num_threads())
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["mst", "random"])
    run([tone_dataset()], [spec], [BACKENDS.get("logreg")], opts)
    assert {r["frontend"]["weights"] for r in result_dicts(tmp_path)} == {"mst", "random"}
    # a copy of the results and embeddings without the weights files recomputes nothing (their records vouch)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(tmp_path, elsewhere, ignore=shutil.ignore_patterns("elsewhere", "*.safetensors"))
    moved = dataclasses.replace(opts, results_dir=elsewhere, weights=["mst"])
    assert run([tone_dataset()], [spec], [BACKENDS.get("logreg")], moved).evaluated == 0
    # its records vouch for its weights as training's do, and a refusal names the command that makes them
    folder = paths[0].parent
    assert summaries[0]["network"] == network_identity(spec) and "data" in summaries[0]
    with pytest.raises(RwbenchError, match=r"trained for another version of mst's network .*rwbench pretrain mst --force"):
        check_fold_weights(folder, "fold1", tone_dataset(), dataclasses.replace(spec, version=spec.version + 1), tag="mst")
    shutil.copy(folder / "fold1.safetensors", folder / "fold2.safetensors")
    with pytest.raises(RwbenchError, match=r"fold2.safetensors is not the file its fold2.json records .*rerun "
                                           r"`rwbench pretrain mst` for it"):
        run([tone_dataset()], [spec], [BACKENDS.get("logreg")], dataclasses.replace(opts, weights=["mst"], force=True))


def test_mst_weights_are_saved_with_the_batch_norm_statistics_of_the_trained_network(tmp_path):
    """Two epochs of a few steps left the running statistics near their start (momentum 0.1): the network saved and
    embedded in eval mode was not the trained one (an SVM on its mst layer at chance on a 24-clip ESC-10 subset, 0.625
    with the statistics recomputed). Each batch norm's saved variance is now its input's over the fit clips."""
    from safetensors.torch import load_file

    from rwbench.embed_job import EmbedJob
    from rwbench.fitting import decode_clips
    from rwbench.frontend import Embedder

    spec, dataset = FRONTENDS.get("mst"), tone_dataset()
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, epochs=2, patience=2, batch_size=8, lr=3e-3)
    (path, *_) = pretrain("mst", [dataset], [spec], opts)
    assert "recomputed over the fit clips" in json.loads(path.read_text())["batch_norm"]
    net = Embedder(spec, width="small", weights="random", seed=0).net
    net.load_state_dict(load_file(path.with_suffix(".safetensors")))
    waves, _ = decode_clips(EmbedJob(dataset, spec, "small"), workers=0, skip_bad_audio=False)
    fit_idx = dataset.splits()[0].inner[0][0]
    saved = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    assert saved
    parts = np.array_split(fit_idx, -(-len(fit_idx) // opts.batch_size))  # training-size batches of the fit clips
    torch.optim.swa_utils.update_bn([torch.from_numpy(waves[p]).unsqueeze(1) for p in parts], net)  # torch's own
    for name, value in saved.items():
        torch.testing.assert_close(value, net.state_dict()[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("argv", "match"), [
    (["train", "--epochs", "0"], "--epochs takes a positive int"),
    (["train", "--lr", "nan"], "--lr takes a positive float"),
    (["train", "--dropout", "1.5"], "--dropout takes a number in [0, 1), got '1.5'"),
    (["train", "--lrs", "1e-3,0"], "--lrs takes distinct positive learning rates"),
    (["train", "--lr", "1e-3", "--lrs", "1e-3,3e-3"], "give --lr (one value) or --lrs (a search), not both"),
    (["train", "--dropouts", "0,1"], "--dropouts takes distinct numbers in [0, 1) (0,0.5), got '0,1'"),
    (["train", "--dropouts", "0.5,0.5"], "--dropouts takes distinct numbers in [0, 1)"),
    (["train", "--dropout", "0", "--dropouts", "0,0.5"], "give --dropout (one value) or --dropouts (a search), not both"),
    (["train", "--select-on", "all"], "invalid choice: 'all'"),
    (["train", "--refit", "half"], "invalid choice: 'half'"),
    (["train", "--window-hop", "0"], "--window-hop takes a fraction of the window in (0, 1]"),
    (["train", "--window-hop", "0.3"], "--window-hop sets the windows of --crop-seconds; without crops"),
    (["train", "--silence-dbfs", "-40"], "--silence-dbfs sets the windows of --crop-seconds; without crops"),
    (["pretrain", "mst", "--crop-seconds", "1"], "unrecognized arguments: --crop-seconds 1"),
    (["pretrain", "mst", "--dropout", "0.3"], "unrecognized arguments: --dropout 0.3"),
    (["train", "--frontends", "mfcc"], "none of the selected front-ends has weights to train"),
    (["pretrain", "mst", "--frontends", "vgg"], "pretrain mst trains ['mst'], not ['vgg']"),
    (["pretrain", "bert"], "invalid choice: 'bert'"),
    (["run", "--frontends", "vgg", "--weights", "mst"], "no selected front-end offers weights ['mst']"),
])
def test_bad_training_input_gives_one_clear_line(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rwbench: error:") and match in err, err


def test_finished_folds_whose_weights_were_replaced_are_trained_again(tmp_path):
    """A fold record whose weights file is not the one it names (another training wrote it, then crashed before its
    record): never reused as this training's fold."""
    (path,), _ = _train(tmp_path)
    folder = fold_weights_folder(tmp_path, "trained", "tones", "tiny", "small", 0)
    before = _shas(tmp_path)
    (folder / "fold2.safetensors").write_bytes((folder / "fold1.safetensors").read_bytes())
    path.unlink()
    (path,), _ = _train(tmp_path)
    assert _shas(tmp_path) == before  # fold 2 trained again (deterministic): its own weights back
    assert json.loads(path.read_text())["frontend"]["weights_sha256"] == before


def test_a_fold_weights_file_its_record_does_not_vouch_for_is_never_embedded(tmp_path):
    """fold1's weights copied over fold2's (or written by a training killed before fold2's record): `run --weights
    trained` embedded fold2's test clips with weights trained on them, and dropped fold2's training record unsaid."""
    _train(tmp_path)
    folder = fold_weights_folder(tmp_path, "trained", "tones", "tiny", "small", 0)
    (folder / "fold2.safetensors").write_bytes((folder / "fold1.safetensors").read_bytes())
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["trained"], seeds=[0])
    with pytest.raises(RwbenchError, match=r"fold2\.safetensors is not the file its fold2\.json records \(sha256 "
                                           r"\w{12}…\): replaced, or written by a training stopped before its record"):
        run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert not list((tmp_path / "runs").rglob("*logreg*.json"))


def test_weights_trained_for_another_network_are_refused_and_a_plugin_edit_trains_again(tmp_path):
    """An edited plugin network (relu → tanh) kept its training "up to date" (the training key had no code), and
    `run --weights trained` loaded the old network's weights into the new one without a word."""
    from rwbench.train import training_key

    _train(tmp_path)
    dataset, opts = tone_dataset(), TrainOptions(results_dir=tmp_path)
    protocol = dataset.describe()["protocol"]
    edited = dataclasses.replace(TINY, code="0" * 64)  # as registered from an edited plugin file
    assert training_key(dataset, TINY, 0, opts, protocol, {}) != training_key(dataset, edited, 0, opts, protocol, {})
    run_opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["trained"], seeds=[0])
    with pytest.raises(RwbenchError, match=r"fold1\.safetensors was trained for another version of tiny's network "
                                           r"\(version \d+, code \w{12}; here version \d+, code 0{12}\): an edited "
                                           r"plugin"):
        run([dataset], [edited], [BACKENDS.get("logreg")], run_opts)


@pytest.mark.parametrize("seeds", [(0,), (0, 1)])
def test_an_interrupted_force_retrain_resumes_on_a_plain_rerun(tmp_path, monkeypatch, seeds):
    """`--force` under new settings, stopped after fold 1 of seed 0: the rerun without --force refused ("trained under
    other settings": the old result and folds 2-4 were still there, and seed 1's, whose turn --force had not reached),
    and the --force it advised started over, losing fold 1."""
    import rwbench.train as train

    _train(tmp_path, lrs=(1e-3,), seeds=seeds)
    original = train._train_fold

    def stopped_at_fold2(spec, dataset, split, *args, **kwargs):
        if split.name == "fold2":
            raise KeyboardInterrupt
        return original(spec, dataset, split, *args, **kwargs)

    monkeypatch.setattr(train, "_train_fold", stopped_at_fold2)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, lrs=(3e-3,), seeds=seeds, force=True)
    monkeypatch.undo()
    folders = [fold_weights_folder(tmp_path, "trained", "tones", "tiny", "small", seed) for seed in seeds]
    fold1 = sha256_of(folders[0] / "fold1.safetensors")
    # the folds it replaces, every seed's, are gone with the old results, not left to refuse
    assert not (folders[0] / "fold2.json").exists() and not any((f / "fold1.json").exists() for f in folders[1:])
    paths, _ = _train(tmp_path, lrs=(3e-3,), seeds=seeds)
    assert sha256_of(folders[0] / "fold1.safetensors") == fold1  # resumed: fold 1 kept
    assert [{f["best_params"]["lr"] for f in json.loads(p.read_text())["folds"]} for p in paths] == [{0.003}] * len(seeds)


def test_the_dry_run_names_a_training_the_run_refuses_without_force(tmp_path):
    from rwbench.train_plan import plan_training

    _train(tmp_path, lrs=(1e-3,))
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=4, patience=4,
                        dropouts=(0.5,), lrs=(3e-3,))
    text = plan_training([tone_dataset()], [TINY], opts)
    assert "tones tiny seed 0: trained under other settings, code or data (" in text
    assert "the run refuses to replace it without --force" in text
    assert "refuses" not in plan_training([tone_dataset()], [TINY], dataclasses.replace(opts, force=True))


def test_a_crop_that_covers_the_clip_is_refused_not_recorded(tmp_path):
    with pytest.raises(RwbenchError, match=r"--crop-seconds 30: \d+ samples cover tiny's whole tones clips"):
        _train(tmp_path, crop_seconds=30.0)


def test_training_on_random_crops_is_recorded_and_deterministic(tmp_path):
    (path,), _ = _train(tmp_path / "a", crop_seconds=0.1)
    _train(tmp_path / "b", crop_seconds=0.1)
    _train(tmp_path / "whole")
    assert json.loads(path.read_text())["backend"]["grid"]["crop_seconds"] == 0.1
    assert _shas(tmp_path / "a") == _shas(tmp_path / "b") != _shas(tmp_path / "whole")


@pytest.mark.parametrize("name", [n for n in FRONTENDS.names() if FRONTENDS.get(n).is_learnable()])
def test_every_frontend_trains_on_silence_without_nan(name):
    """Zero-padded clips give exact zeros inside the network: every gradient must stay finite there
    (an L2 pooling through sqrt once gave NaN)."""
    from rwbench.train import Classifier

    spec = FRONTENDS.get(name)
    model = Classifier(spec, "small", 3, seed=0, dropout=0.0).train()
    wave = torch.zeros(2, max(spec.min_samples(), 4000))
    wave[1, : wave.shape[1] // 2] = 0.1 * torch.randn(wave.shape[1] // 2, generator=torch.Generator().manual_seed(0))
    loss = torch.nn.functional.cross_entropy(model(wave), torch.tensor([0, 1]))
    loss.backward()
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert torch.isfinite(loss) and not bad, bad


@pytest.mark.parametrize(("n", "sizes"), [(8, [8]), (9, [9]), (10, [8, 2]), (17, [8, 9]), (24, [8, 8, 8])])
def test_no_training_batch_holds_a_single_clip(n, sizes):
    from rwbench.fitting import training_batches

    batches = training_batches(np.arange(n), 8)
    assert [len(b) for b in batches] == sizes and torch.cat(batches).tolist() == list(range(n))


def _fold_record(results_dir, fold="fold1") -> dict:
    folder = fold_weights_folder(results_dir, "trained", "tones", "tiny", "small", 0)
    return json.loads((folder / f"{fold}.json").read_text())["training"]


@pytest.mark.parametrize("refit", ["full", "fit-part"])
def test_the_scored_model_is_refit_on_the_whole_training_side(tmp_path, monkeypatch, refit):
    """--refit full: after the inner run (18 fit clips, early-stopped on 9 validation clips) the scored model is
    trained from its seeded init on all 27 training clips for the selected epoch count; fit-part: no refit."""
    import rwbench.fitting as fitting

    seen, batches = [], fitting.training_batches
    monkeypatch.setattr(fitting, "training_batches", lambda order, size: seen.append(np.sort(order)) or batches(order, size))
    (path,), _ = _train(tmp_path, lrs=(1e-3,), folds=("fold2",), refit=refit)
    split = tone_dataset().splits()[1]
    record, fold = json.loads(path.read_text()), _fold_record(tmp_path, "fold2")
    inner = [s for s in seen if len(s) == len(split.inner[0][0])]
    assert len(inner) == fold["epochs_run"] and all((s == np.sort(split.inner[0][0])).all() for s in inner)
    refits = seen[len(inner):]
    if refit == "full":
        assert len(refits) == fold["best_epoch"] == fold["refit_epochs"]
        assert all((s == np.sort(split.train)).all() for s in refits) and len(split.train) == 27
        assert record["folds"][0]["n_train"] == fold["train_clips"] == 27
    else:
        assert not refits and record["folds"][0]["n_train"] == fold["train_clips"] == 18
    assert record["training"]["recipe"]["refit"] == refit and record["backend"]["grid"]["refit"] == refit
    assert record["device"] == "cpu" and record["training"]["recipe"]["precision"] == "float32"


def test_window_averaged_prediction_is_the_mean_of_the_loud_windows_logits():
    from rwbench.train import Classifier, make_windows, predict_logits

    torch.manual_seed(0)
    waves = 0.1 * torch.randn(3, 2000)
    waves[1, :1300] = 0  # its first windows are digital silence: left out of the average
    waves[2] = 0  # silent throughout: every window counts
    model = Classifier(TINY, "small", 3, seed=0, dropout=0.5).eval()
    model.standardise.running_var.fill_(2.0)
    windows = make_windows(waves, 800, 8000)
    assert windows.starts.tolist() == [0, 400, 800, 1200] and windows.hop == 400
    assert windows.loud.tolist() == [[True] * 4, [False, False, True, True], [True] * 4]
    got = predict_logits(model, waves, np.arange(3), torch.device("cpu"), batch_size=2, windows=windows)
    with torch.no_grad():
        manual = [torch.stack([model(waves[i:i + 1, s:s + 800])[0] for s in starts]).mean(0)
                  for i, starts in enumerate([[0, 400, 800, 1200], [800, 1200], [0, 400, 800, 1200]])]
    torch.testing.assert_close(got, torch.stack(manual), rtol=1e-5, atol=1e-6)
    assert make_windows(waves, 2000, 8000) is None  # a window as long as the clip: whole clips
    # a hop of one sample: 1201 windows a clip, cut chunk by chunk (all at once took batch × windows × length)
    dense = make_windows(waves, 800, 8000, hop_fraction=1 / 800)
    assert len(dense.starts) == 1201
    got = predict_logits(model, waves[:1], np.arange(1), torch.device("cpu"), batch_size=64, windows=dense)
    with torch.no_grad():
        manual = model(waves[0].unfold(0, 800, 1)).mean(0)
    torch.testing.assert_close(got[0], manual, rtol=1e-5, atol=1e-6)


def test_silent_crops_are_not_drawn():
    from rwbench.train import make_windows, random_crops

    waves = torch.zeros(3, 8000)
    waves[0, 3000:3500] = 0.5  # a short sound in digital silence
    waves[1] = 5e-4 * torch.randn(8000, generator=torch.Generator().manual_seed(0))  # below −60 dBFS throughout
    waves[1, 6000:6400] = 0.5
    windows = make_windows(waves, 800, 8000)
    assert windows.silent_clips == 1 and windows.silent_crop_fraction > 0.5
    torch.manual_seed(0)
    allowed = [windows.crop_starts[windows.crop_loud[i]] for i in range(3)]
    assert 0 < len(allowed[0]) < len(windows.crop_starts) and len(allowed[2]) == len(windows.crop_starts) == 91
    for _ in range(200):
        rms = random_crops(waves, 800, allowed).square().mean(1).sqrt()
        assert (rms[:2] >= 1e-3).all(), rms


def test_a_clip_quiet_throughout_never_trains_or_predicts_on_its_digital_silence():
    """A clip below the floor everywhere kept every window, its zero padding too: a quarter of its training crops
    were pure zeros under its label, and its prediction averaged all-zero windows in."""
    from rwbench.train import make_windows, random_crops

    rate = 8000
    waves = torch.zeros(2, 5 * rate)
    t = torch.arange(3 * rate) / rate
    waves[0, :3 * rate] = 7e-4 * torch.sin(2 * torch.pi * 440 * t)  # −66 dBFS RMS for 3 s, then 2 s of zeros
    waves[1] = 0.3 * torch.sin(2 * torch.pi * 440 * torch.arange(5 * rate) / rate)
    windows = make_windows(waves, rate, rate)
    assert windows.silent_clips == 1
    quiet_starts = windows.crop_starts[windows.crop_loud[0]]
    assert 0 < len(quiet_starts) < len(windows.crop_starts) and quiet_starts.max() <= 3 * rate - 1
    assert not (windows.starts[windows.loud[0]] >= 3 * rate).any()  # no all-zero window is averaged in
    torch.manual_seed(0)
    for _ in range(100):
        assert (random_crops(waves, rate, [quiet_starts, windows.crop_starts]).abs().amax(1) > 0).all()
    assert make_windows(torch.zeros(1, 5 * rate), rate, rate).crop_loud.all()  # all zeros: nothing to prefer


def test_a_clip_quiet_throughout_is_keyed_and_the_dry_run_knows_it(tmp_path):
    """The rule for such clips is in the key only where a clip is quiet throughout (other trainings keep theirs), and
    the dry run reads it from the finished result, finding it up to date."""
    from rwbench.train import planned_key, training_key
    from rwbench.train_plan import plan_training

    dataset = tone_dataset()
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=2, patience=2,
                        lrs=(1e-3,), dropouts=(0.0,), crop_seconds=0.1, folds=None)
    protocol = dataset.describe()["protocol"]
    assert training_key(dataset, TINY, 0, opts, protocol, {}) != training_key(dataset, TINY, 0, opts, protocol, {},
                                                                                quiet=True)
    (path,) = train_all([dataset], [TINY], opts)
    assert json.loads(path.read_text())["run_key"] == planned_key(dataset, TINY, 0, opts, protocol)  # tones: loud
    record = json.loads(path.read_text())
    record["training"]["recipe"]["clips_silent_throughout"] = 1
    path.write_text(json.dumps(record))
    assert planned_key(dataset, TINY, 0, opts, protocol) == training_key(dataset, TINY, 0, opts, protocol, {}, quiet=True)
    assert "up to date" not in plan_training([dataset], [TINY], opts)  # the key it was made under is another


def test_clips_skipped_as_unreadable_are_not_counted_as_silent(tmp_path):
    """A clip that fails to decode is zeros in the training tensor (and out of every split): the record's silence
    figures describe the clips trained and scored, not those zeros."""
    from rwbench.errors import DataError

    dataset = tone_dataset(fail_on={"low/000": DataError("low/000: unreadable"), "mid/005": DataError("unreadable")})
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=2, patience=2,
                        lrs=(1e-3,), dropouts=(0.0,), crop_seconds=0.1, skip_bad_audio=True, folds=("fold1",))
    (path,) = train_all([dataset], [TINY], opts)
    record = json.loads(path.read_text())
    assert len(record["dataset"]["skipped"]) == 2
    recipe = record["training"]["recipe"]  # every tone is loud from start to end
    assert (recipe["clips_silent_throughout"], recipe["silent_crop_fraction"]) == (0, 0.0)


def test_force_keeps_the_finished_training_when_a_clip_cannot_be_decoded(tmp_path):
    """`--force` removed the result and its folds' weights before decoding the audio: an unreadable clip then stopped
    the run with nothing trained in their place."""
    from rwbench.errors import DataError

    (path,), opts = _train(tmp_path, folds=("fold1",))
    weights = fold_weights_folder(tmp_path, "trained", "tones", "tiny", "small", 0) / "fold1.safetensors"
    before, sha = path.read_bytes(), sha256_of(weights)
    broken = tone_dataset(fail_on={"low/000": DataError("low/000.wav: unreadable")})
    with pytest.raises(DataError, match="low/000.wav: unreadable"):
        train_all([broken], [TINY], dataclasses.replace(opts, force=True))
    assert path.read_bytes() == before
    assert sha256_of(weights) == sha


def test_a_best_epoch_at_the_cap_is_flagged_not_converged(tmp_path, caplog):
    from rwbench.train import not_converged

    assert not_converged(90, 100) and not_converged(100, 100) and not not_converged(89, 100)
    assert not_converged(27, 30) and not not_converged(26, 30)
    # the cap, not early stopping, ended the run: best epoch 25 of 30 with patience 10 never ran out of patience
    assert not_converged(25, 30, patience=10) and not not_converged(20, 30, patience=10)
    assert not_converged(2, 3, patience=2) and not not_converged(89, 100, patience=10)  # the study's 100/10: as before
    with caplog.at_level("WARNING", logger="rwbench.train"):
        (path,), _ = _train(tmp_path, epochs=1, patience=1, lrs=(1e-3,))  # the only epoch is the best one
    training = json.loads(path.read_text())["training"]
    assert training["not_converged_folds"] == 4
    assert all(f["not_converged"] and f["best_epoch"] == f["epoch_cap"] == 1 for f in training["folds"].values())
    assert sum("not converged" in r.getMessage() for r in caplog.records) == 4


@pytest.mark.parametrize("select_on", ["first-fold", "every-fold"])
def test_the_chosen_learning_rate_and_dropout_are_recorded(tmp_path, select_on):
    lrs, dropouts = (1e-4, 3e-3), (0.0, 0.5)
    (path,), opts = _train(tmp_path, lrs=lrs, dropouts=dropouts, select_on=select_on)
    record = json.loads(path.read_text())
    training = record["training"]
    assert (training["recipe"]["lrs"], training["recipe"]["dropouts"]) == (list(lrs), list(dropouts))
    assert training["recipe"]["select_on"] == select_on and record["backend"]["grid_size"] == 4
    assert record["backend"]["grid"]["dropouts"] == list(dropouts) and "dropout" not in record["backend"]["grid"]
    grid = {f"lr{lr:g}_dropout{d:g}": (lr, d) for lr in lrs for d in dropouts}
    for name, fold in training["folds"].items():
        source = "fold1" if select_on == "first-fold" else name
        searched = _fold_record(tmp_path, source)["selection"] if source != name else fold["selection"]
        assert {k: (v["lr"], v["dropout"]) for k, v in searched.items()} == grid  # every pair ran
        best = min(grid, key=lambda k: searched[k]["best_val_loss"])
        chosen = {"lr": grid[best][0], "dropout": grid[best][1]}
        assert {k: fold[k] for k in chosen} == training["chosen"][name] == chosen and fold["chosen_on"] == source
        params = next(f for f in record["folds"] if f["name"] == name)["best_params"]
        assert {k: params[k] for k in chosen} == chosen
        if select_on == "first-fold" and name != "fold1":
            assert set(fold["selection"]) == {best}  # only the chosen setting's inner run, for its epoch count


def test_the_searched_dropout_is_the_one_trained(tmp_path):
    """Each inner run's model has its own setting's dropout; the refit has the chosen one."""
    import rwbench.train as train_module

    built = []
    original = train_module.Classifier.__init__

    def spy(self, *args, dropout, **kwargs):
        built.append(dropout)
        original(self, *args, dropout=dropout, **kwargs)

    train_module.Classifier.__init__ = spy
    try:
        (path,), _ = _train(tmp_path, lrs=(1e-3,), dropouts=(0.0, 0.3), folds=("fold1",))
    finally:
        train_module.Classifier.__init__ = original
    chosen = json.loads(path.read_text())["training"]["chosen"]["fold1"]["dropout"]
    assert built == [0.0, 0.3, chosen]  # the two inner runs, then the refit


def test_a_refit_checkpoint_made_at_another_setting_is_not_resumed(tmp_path, monkeypatch):
    """A run killed in its refit leaves the refit's checkpoint; `--force` searches again, and where the search now
    picks another setting (a CUDA search need not repeat itself; a run moved between devices) the refit starts afresh
    instead of resuming weights trained at the other setting's learning rates for its epoch count."""
    import rwbench.train as train_module

    class Killed(Exception):
        pass

    fit = train_module.fit

    def killed_in_refit(*args, schedule=None, **kwargs):
        if schedule is not None:  # three refit epochs, each checkpointed, then the kill
            fit(*args, schedule=schedule[:3], **kwargs)
            raise Killed
        return fit(*args, schedule=schedule, **kwargs)

    recipe = dict(lrs=(1e-4, 3e-3), dropouts=(0.0,), epochs=6, patience=6, folds=("fold1",))
    with monkeypatch.context() as m:
        m.setattr(train_module, "choose", lambda runs, settings: settings[0])  # the killed run chose lr 1e-4
        m.setattr(train_module, "fit", killed_in_refit)
        with pytest.raises(Killed):
            _train(tmp_path / "killed", **recipe)
    (killed,), _ = _train(tmp_path / "killed", force=True, **recipe)
    (whole,), _ = _train(tmp_path / "whole", **recipe)
    assert json.loads(whole.read_text())["training"]["chosen"]["fold1"]["lr"] == 3e-3  # not the killed run's choice
    assert json.loads(killed.read_text())["frontend"]["weights_sha256"] == \
        json.loads(whole.read_text())["frontend"]["weights_sha256"]


def test_a_learning_rate_at_an_end_of_the_grid_is_warned_about_and_flagged(tmp_path, monkeypatch, caplog):
    """The head's learning rate chosen at the top of --lrs in most folds: the best rate may lie above the grid, which
    the training log and the leaderboard's grid-edge column say (dropout is not read: two values, a floor at 0)."""
    import rwbench.train as train_module
    from rwbench.analysis import leaderboard

    monkeypatch.setattr(train_module, "choose", lambda runs, settings: settings[-1])
    with caplog.at_level("WARNING", logger="rwbench"):
        _train(tmp_path, lrs=(1e-4, 1e-3, 3e-3), dropouts=(0.0, 0.5), epochs=2, patience=2)
    assert "1 of 1 results chose a setting at the edge of its grid" in caplog.text and "lr high 4/4" in caplog.text
    assert leaderboard.load(tmp_path)["grid_edge"].tolist() == ["lr high 4/4"]


def test_settings_that_would_share_one_run_name_are_refused():
    """Two learning rates equal to 6 significant digits name one inner run: the second would read the first's."""
    from rwbench.train import setting_grid

    with pytest.raises(RwbenchError, match=r"give settings of one name \(lr0.001_dropout0\)"):
        setting_grid(TrainOptions(lrs=(1e-3, 1.0000001e-3), dropouts=(0.0,)))
    assert len(setting_grid(TrainOptions(lrs=(1e-3, 1.1e-3), dropouts=(0.0, 0.5)))) == 4


def test_folds_limits_the_outer_folds_and_marks_the_result_partial(tmp_path):
    (path,), _ = _train(tmp_path, lrs=(1e-3, 3e-3), folds=("fold3",))
    record = json.loads(path.read_text())
    assert [f["name"] for f in record["folds"]] == ["fold3"]
    assert record["training"]["partial"] and record["training"]["folds_run"] == ["fold3"]
    assert record["training"]["folds"]["fold3"]["chosen_on"] == "fold1"  # the setting is chosen on the first split
    (path,), _ = _train(tmp_path, lrs=(1e-3, 3e-3), folds=("fold1",))  # another fold: added, never narrowed to it
    record = json.loads(path.read_text())
    assert [f["name"] for f in record["folds"]] == ["fold1", "fold3"] and record["training"]["partial"]
    with pytest.raises(RwbenchError, match="--folds: tones has no outer fold fold9"):
        _train(tmp_path, folds=("fold9",))


def test_force_on_some_folds_searches_the_settings_again_where_they_are_chosen(tmp_path, caplog):
    """`--force --folds fold3` retrains fold 3 from scratch: its setting is chosen on fold 1's inner runs, so those run
    again too (not read back from fold 1's search record)."""
    def runs(**kwargs) -> int:
        caplog.clear()
        with caplog.at_level("INFO", logger="rwbench"):
            _train(tmp_path, lrs=(1e-3, 3e-3), folds=("fold3",), **kwargs)
        return sum(": stopped at epoch " in r.getMessage() for r in caplog.records)

    assert runs() == 3  # fold 1's two settings, then fold 3's inner run of the chosen one
    assert runs() == 0  # up to date
    assert runs(force=True) == 3


def test_a_partial_training_is_left_out_of_tables_by_name(tmp_path, caplog):
    """`rwbench train --folds fold3` writes a result marked partial: no leaderboard ranks one fold's accuracy beside
    results on every fold; the file is listed as left out, with its folds."""
    from rwbench.analysis import leaderboard

    (path,), _ = _train(tmp_path, folds=("fold3",))
    with caplog.at_level("WARNING", logger="rwbench"):
        table = leaderboard.load(tmp_path)
    assert table.empty
    assert table.attrs["invalid"] == [(str(path), "a partial run (outer folds fold3 only; `rwbench train` without "
                                                  "--folds scores every fold)")]
    assert f"leaving out {path}" in caplog.text
    (path,), _ = _train(tmp_path)  # every fold: an ordinary row
    table = leaderboard.load(tmp_path)
    assert len(table) == 1 and table.attrs["invalid"] == [] and table["n_folds"].tolist() == [4]


def test_the_result_names_the_device_its_folds_ran_on(tmp_path, monkeypatch):
    """Finished folds are reused as they are: a result written by a process on another device (a CUDA machine here,
    where no fold trains) says where the folds were trained and timed, not where the record was written."""
    import rwbench.train as train_module

    (path,), _ = _train(tmp_path, lrs=(1e-3,), epochs=2, patience=2)
    path.unlink()
    monkeypatch.setattr(train_module, "resolve_device", lambda name: torch.device("cuda"))
    (path,), _ = _train(tmp_path, lrs=(1e-3,), epochs=2, patience=2)
    record = json.loads(path.read_text())
    assert {f["device"] for f in record["training"]["folds"].values()} == {"cpu"}
    assert record["device"] == "cpu"


def test_the_precision_a_cuda_result_records_is_what_runs_under_the_trainers_autocast():
    """CPU bfloat16 autocast stands in for CUDA's (autocast nests alike on both): the embedder turns autocast off for
    its network, so the front-end runs in float32 and only what is outside it (the linear head) in bfloat16. The
    record says so (it said "bfloat16 autocast" for the whole network before)."""
    from rwbench.fitting import CUDA_PRECISION, precision
    from rwbench.train import Classifier

    model = Classifier(FRONTENDS.get("sample_level"), "small", 3, seed=0, dropout=0.0).train()
    dtypes: dict[str, torch.dtype] = {}
    convs = [m for m in model.embedder.net.modules() if isinstance(m, torch.nn.Conv1d)]
    for i, conv in enumerate(convs):
        conv.register_forward_hook(lambda m, args, out, i=i: dtypes.update({f"conv{i}": out.dtype}))
    model.head.register_forward_hook(lambda m, args, out: dtypes.update(head=out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(torch.randn(2, 60000))
    assert dtypes.pop("head") == torch.bfloat16
    assert set(dtypes.values()) == {torch.float32} and len(dtypes) == len(convs)
    saved = torch.backends.cudnn.allow_tf32
    try:
        for tf32, said in ((True, "TF32"), (False, "float32")):
            torch.backends.cudnn.allow_tf32 = tf32
            assert precision(torch.device("cuda")) == f"{CUDA_PRECISION}; cuDNN convolutions in {said}"
    finally:
        torch.backends.cudnn.allow_tf32 = saved
    assert "float32 front-end network" in CUDA_PRECISION
    assert precision(torch.device("cpu")) == "float32"


def test_a_folds_cost_leaves_out_the_search_on_the_split_it_reuses(tmp_path, monkeypatch):
    """`--folds fold3` chooses fold 3's setting on fold 1's inner runs: that search is fold 1's cost (counted when
    fold 1 trains, from its search record), not fold 3's, or a full run after it counts the search twice."""
    import types

    import rwbench.fitting as fitting
    import rwbench.train as training

    batches, clock = fitting.training_batches, [0.0]

    def slow(order, size):  # the clock moves one second a training batch, and only then: no wall time is read
        out = batches(order, size)
        clock[0] += len(out)
        return out

    monkeypatch.setattr(fitting, "training_batches", slow)
    for module in (fitting, training):
        monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    recipe = dict(lrs=(1e-3, 3e-3), dropouts=(0.0, 0.5))
    _train(tmp_path, folds=("fold3",), **recipe)
    (path,), _ = _train(tmp_path, **recipe)
    folder = fold_weights_folder(tmp_path, "trained", "tones", "tiny", "small", 0)
    search = json.loads((folder / "fold1.select.json").read_text())["runs"]
    searched = sum(h["seconds"] for run in search.values() for h in run["history"])
    cost = {f["name"]: f["fit_seconds"] for f in json.loads(path.read_text())["folds"]}
    own = sum(h["seconds"] for h in json.loads((folder / "fold3.json").read_text())["history"])
    # one clock second per training batch: exact sums. Fold 3 costs what the alike fold 2 costs (its own epochs and
    # refit); fold 1 the same plus the search that ran there, less the run of its own that the search holds
    assert searched > own > 0 and cost["fold3"] == cost["fold2"], (cost, searched, own)
    assert cost["fold1"] == cost["fold2"] + searched - own, (cost, searched, own)


def test_a_folds_cost_is_its_epochs_seconds_across_processes_or_the_wall_time():
    from rwbench.train import fold_seconds

    epochs = [{"seconds": 30.0}, {"seconds": 40.0}]  # 30 s ran in a process that was killed
    assert fold_seconds(epochs, wall=45.0, test=2.0) == 72.0
    assert fold_seconds(epochs, wall=90.0, test=2.0) == 90.0  # set-up and decoding make a whole run's wall longer
    assert fold_seconds([{"seconds": 30.0}, {}], wall=45.0, test=2.0) == 45.0  # an epoch of an older rwbench


def test_a_change_to_the_fit_loop_retrains_trained_heads_too():
    """Heads are trained by fit(), but their key carries TRAIN_CODE_VERSION, not FIT_LOOP_VERSION."""
    from rwbench.fitting import FIT_LOOP_VERSION, HEAD_FIT_LOOP

    assert FIT_LOOP_VERSION == HEAD_FIT_LOOP, ("fit() changed (FIT_LOOP_VERSION bumped): bump TRAIN_CODE_VERSION so "
                                               "that trained heads are retrained, then set HEAD_FIT_LOOP to match")


def test_few_optimiser_steps_leave_batch_norm_statistics_computed_exactly(tmp_path):
    """4 epochs of 4 batches are 16 steps: momentum-0.1 running statistics would still hold 0.9**16 = 19 % of their
    start (mean 0, variance 1), far from the pooled features'. The scored model's are their exact mean and variance
    over its training clips, recorded per fold."""
    from rwbench.train import Classifier, recalibrate_batch_norm

    (path,), _ = _train(tmp_path, lrs=(1e-3,), folds=("fold2",))
    assert _fold_record(tmp_path, "fold2")["batch_norm_recalibrated"] == {"refit": 4 * _fold_record(
        tmp_path, "fold2")["refit_epochs"]}
    ds = tone_dataset()
    waves = torch.stack([torch.as_tensor(ds.load_audio(c, TINY.sample_rate)) for c in ds.clips])
    net = Classifier(TINY, "small", len(ds.classes), seed=0, dropout=0.5)
    net.eval()
    recalibrate_batch_norm(net, waves, np.arange(len(waves)), torch.device("cpu"), batch_size=8)
    with torch.no_grad():
        pooled = torch.cat([net.embedder.pooled_layers(waves)[i] for i in net.keep], dim=1)
    torch.testing.assert_close(net.standardise.running_mean, pooled.mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(net.standardise.running_var, pooled.var(0), rtol=1e-3, atol=1e-5)
    assert net.standardise.momentum == 0.1 and not net.training


def test_precise_bn_validates_and_scores_with_the_statistics_of_the_weights(tmp_path, monkeypatch):
    """--precise-bn: the batch norms' statistics are recomputed over the fit part before each validation and over the
    whole training side after the refit, and nothing else changes: the training losses are the plain recipe's epoch
    for epoch (the plateau schedule cannot differ before epoch 5), the validation losses are not, and the scored model
    standardises with the exact statistics of its training clips (the plain recipe, recomputing nothing here
    (MIN_NORM_UPDATES 0), with running averages)."""
    import copy

    import rwbench.train as train

    split = tone_dataset().splits()[1]
    monkeypatch.setattr(train, "MIN_NORM_UPDATES", 0)
    calibrated, scored = [], {}
    recalibrate, predict = train.recalibrate_batch_norm, train.predict_logits
    monkeypatch.setattr(train, "recalibrate_batch_norm",
                        lambda model, waves, idx, *a: calibrated.append(np.sort(idx)) or recalibrate(model, waves, idx, *a))

    def spy(model, waves, idx, *args, **kwargs):
        if np.array_equal(np.sort(idx), np.sort(split.test)):
            scored["model"] = copy.deepcopy(model)
        return predict(model, waves, idx, *args, **kwargs)

    monkeypatch.setattr(train, "predict_logits", spy)
    ds = tone_dataset()
    waves = torch.stack([torch.as_tensor(ds.load_audio(c, TINY.sample_rate)) for c in ds.clips])
    folds, standardised = {}, {}
    for precise in (False, True):
        calibrated.clear()
        (path,), _ = _train(tmp_path / str(precise), lrs=(1e-3,), folds=("fold2",), epochs=6, patience=6,
                            precise_bn=precise)
        folds[precise] = json.loads((fold_weights_folder(tmp_path / str(precise), "trained", "tones", "tiny", "small",
                                                         0) / "fold2.json").read_text())
        net = scored["model"]
        with torch.no_grad():
            pooled = torch.cat([net.embedder.pooled_layers(waves[split.train])[i] for i in net.keep], dim=1)
        standardised[precise] = (torch.allclose(net.standardise.running_mean, pooled.mean(0), rtol=1e-4, atol=1e-5)
                                 and torch.allclose(net.standardise.running_var, pooled.var(0), rtol=1e-3, atol=1e-5))
        recipe = json.loads(path.read_text())["training"]["recipe"]
        # absent when off: a search pools rows trained before the option with those trained after it as one recipe
        assert recipe.get("precise_bn", False) is precise and ("precise_bn" in recipe) is precise
        assert ("precise BN" in recipe["validation_rule"]) is precise
    assert standardised == {False: False, True: True}
    assert len(calibrated) == folds[True]["epochs_run"] + 1  # before each validation, then after the refit
    assert all(np.array_equal(c, np.sort(split.inner[0][0])) for c in calibrated[:-1])
    assert np.array_equal(calibrated[-1], np.sort(split.train))
    plain, precise = folds[False]["history"], folds[True]["history"]
    assert [h["train_loss"] for h in precise[:4]] == [h["train_loss"] for h in plain[:4]]
    assert [h["val_loss"] for h in precise] != [h["val_loss"] for h in plain]
    assert "batch_norm_recalibrated" not in folds[True]["training"]


def test_precise_bn_and_the_constant_schedule_change_the_training_key_only_when_asked_for():
    """Heads trained before the options keep their key (precise BN absent when off, the plateau schedule spelled as
    before); asked for, each makes another training."""
    plain = TrainOptions().head_settings()
    assert "precise_bn" not in plain and plain["schedule"] == "reduce_on_plateau(0.5, 2)"
    assert TrainOptions(precise_bn=True).head_settings() == {**plain, "precise_bn": True}
    assert TrainOptions(lr_schedule="constant").head_settings() == {**plain, "schedule": "constant"}
    with pytest.raises(RwbenchError, match="lr_schedule 'cosine' is not one of"):
        TrainOptions(lr_schedule="cosine")


def test_a_constant_schedule_holds_the_learning_rate_and_the_refit_replays_it(tmp_path, monkeypatch):
    """--lr-schedule constant: no epoch of the selection run or of the refit changes the rate, where the plateau
    schedule (validation loss held flat here) halves it after 3 epochs without improvement."""
    import rwbench.train as train

    monkeypatch.setattr(train, "classification", _flat_validation(train.classification))
    rates = {}
    for schedule in ("plateau", "constant"):
        (path,), _ = _train(tmp_path / schedule, lrs=(1e-3,), folds=("fold2",), epochs=8, patience=8,
                            lr_schedule=schedule)
        fold = json.loads((fold_weights_folder(tmp_path / schedule, "trained", "tones", "tiny", "small", 0)
                           / "fold2.json").read_text())
        rates[schedule] = [h["train_lr"] for h in fold["history"]]
        assert json.loads(path.read_text())["training"]["recipe"]["schedule"].startswith(
            {"plateau": "reduce_on_plateau", "constant": "constant"}[schedule])
    assert rates["constant"] == [1e-3] * len(rates["constant"])
    assert rates["plateau"][:4] == [1e-3] * 4 and rates["plateau"][4] == 5e-4


def _flat_validation(classification):
    """``classification`` whose validation loss is 1.0 at every epoch (the plateau schedule then decays the rate)."""

    def flat(*args, **kwargs):
        objective = classification(*args, **kwargs)
        objective.validate = lambda model, idx: (1.0, 0.5)
        return objective

    return flat


def test_a_pretraining_that_waited_for_one_under_other_settings_refuses_to_replace_it(tmp_path, monkeypatch):
    """Two `rwbench pretrain` under different settings started at once: the refusal looked before the lock, found
    nothing finished, and the second retrained every fold the first had just trained, both exiting 0."""
    import rwbench.pretrain as pretraining

    spec = FRONTENDS.get("mst")
    first = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, epochs=1, patience=1, batch_size=8)
    lock, waited = pretraining.pretraining_lock, {}

    def after_the_other_run(*args):  # the other process takes the lock first and finishes while this one waits
        if not waited:
            waited["other"] = None
            waited["other"] = pretrain("mst", [tone_dataset()], [spec], first)
        return lock(*args)

    monkeypatch.setattr(pretraining, "pretraining_lock", after_the_other_run)
    with pytest.raises(RwbenchError, match=r"fold1\.json, .*fold4\.json: pre-trained under other settings, code or "
                                           r"data by another run while this one waited.*pass --force"):
        pretrain("mst", [tone_dataset()], [spec], dataclasses.replace(first, epochs=2, patience=2))
    assert [json.loads(fold.read_text())["epochs_run"] for fold in waited["other"]] == [1] * 4  # the first run's stand


def test_a_pretraining_is_not_replaced_by_one_under_other_settings_without_force(tmp_path, monkeypatch):
    """`rwbench pretrain` retrained every fold under a changed option without a word (train refuses); an interrupted
    --force of two seeds now resumes on a plain rerun, as train's does."""
    import rwbench.pretrain as pretraining

    spec = FRONTENDS.get("mst")
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, epochs=1, patience=1, batch_size=8, seeds=(0, 1))
    pretrain("mst", [tone_dataset()], [spec], opts)
    before = {p: p.read_bytes() for p in tmp_path.rglob("fold*.json")}
    other = dataclasses.replace(opts, epochs=2, patience=2)
    first = tone_dataset()  # another task first: it trained before the refusal met the second ("nothing was trained")
    first.name = "chimes"
    with pytest.raises(RwbenchError, match=r"pretrain mst would replace what was pre-trained under "
                                           r"other settings.*fold1\.json.*nothing was trained: pass --force"):
        pretrain("mst", [first, tone_dataset()], [spec], other)
    assert {p: p.read_bytes() for p in tmp_path.rglob("fold*.json")} == before
    original = pretraining.PRETRAINERS["mst"]

    def stopped_at_fold2(spec, split, *args, **kwargs):
        if split.name == "fold2":
            raise KeyboardInterrupt
        return original.train_fold(spec, split, *args, **kwargs)

    monkeypatch.setitem(pretraining.PRETRAINERS, "mst", dataclasses.replace(original, train_fold=stopped_at_fold2))
    with pytest.raises(KeyboardInterrupt):
        pretrain("mst", [tone_dataset()], [spec], dataclasses.replace(other, force=True))
    monkeypatch.undo()
    seed0 = fold_weights_folder(tmp_path, "mst", "tones", "mst", "small", 0)
    fold1 = sha256_of(seed0 / "fold1.safetensors")
    assert not (fold_weights_folder(tmp_path, "mst", "tones", "mst", "small", 1) / "fold1.json").exists()
    paths = pretrain("mst", [tone_dataset()], [spec], other)  # resumes: seed 1's old folds went with --force
    assert sha256_of(seed0 / "fold1.safetensors") == fold1
    assert {json.loads(p.read_text())["epoch_cap"] for p in paths} == {2}


def test_a_pretraining_that_cannot_fit_is_refused_before_decoding(tmp_path):
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, width=100000)
    dataset = tone_dataset()
    with pytest.raises(RwbenchError, match=r"mst at --width 100000 needs about .* to train"):
        pretrain("mst", [dataset], [FRONTENDS.get("mst")], opts)
    assert dataset.decoded == []


def test_pretrained_fold_weights_are_not_reused_under_other_folds(tmp_path, monkeypatch):
    """The same clips in another fold assignment (a csv's k or seed): each fold's weights were trained on clips that
    are now that fold's test side, so the pre-training key holds the folds and they are trained again."""
    from dataclasses import replace

    from rwbench.protocol import StratifiedFolds

    class Keyed(Exception):
        pass

    keys = []

    def stop(description):  # the key is all this test needs: no training
        keys.append(description)
        raise Keyed

    monkeypatch.setattr("rwbench.pretrain.content_key", stop)
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, epochs=1, patience=1, batch_size=8)
    for seed in (0, 0, 1):
        dataset = replace(tone_dataset(), protocol=StratifiedFolds("tones/stratified-3fold", k=3, seed=seed))
        dataset.decoded, dataset.fail_on = [], {}  # the toy's own fields, which replace() does not carry
        with pytest.raises(Keyed):
            pretrain("mst", [dataset], [FRONTENDS.get("mst")], opts)
    assert keys[0]["fingerprint"] == keys[2]["fingerprint"]  # the clips are the same: only the folds differ
    assert keys[0]["protocol"] == keys[1]["protocol"] != keys[2]["protocol"]


def test_a_training_resumed_with_another_thread_count_says_its_weights_agree_to_rounding_only(tmp_path, caplog):
    """CPU float32 sums run in an order set by the thread count: a resume with another count is not bit for bit
    (the docs said it always was); the fold records the count."""
    from rwbench.fitting import Objective, fit

    x, y = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 2
    objective = Objective(lambda m, idx: torch.nn.functional.cross_entropy(m(x[idx]), y[idx]),
                          lambda m, idx: (float(torch.nn.functional.cross_entropy(m(x[idx]), y[idx])), 0.0))
    threads = torch.get_num_threads()
    common = dict(seed=0, fold="fold1", lr=1e-2, checkpoint=tmp_path / "f.ckpt", key="k", desc="toy")
    try:
        torch.set_num_threads(1)
        fit(torch.nn.Linear(3, 2), objective, np.arange(12), np.arange(12, 16), opts=TrainOptions(epochs=1), **common)
        torch.set_num_threads(2)
        with caplog.at_level("WARNING", logger="rwbench.fitting"):
            fit(torch.nn.Linear(3, 2), objective, np.arange(12), np.arange(12, 16), opts=TrainOptions(epochs=2),
                **common)
    finally:
        torch.set_num_threads(threads)
    assert "resumed with 2 torch threads, its checkpoint written with 1" in caplog.text


@pytest.mark.parametrize("content", [b"hello world, not a checkpoint\n", bytes(range(256)) * 3])
def test_a_checkpoint_of_damaged_bytes_is_named_and_the_fold_starts_again(tmp_path, caplog, content):
    """Bytes that are not a zip reach torch's legacy unpickler, which raised a bare ``KeyError: 101``."""
    from rwbench.fitting import Objective, fit

    x, y = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 2
    objective = Objective(lambda m, idx: torch.nn.functional.cross_entropy(m(x[idx]), y[idx]),
                          lambda m, idx: (float(torch.nn.functional.cross_entropy(m(x[idx]), y[idx])), 0.0))
    (tmp_path / "f.ckpt").write_bytes(content)
    with caplog.at_level("WARNING", logger="rwbench.fitting"):
        done = fit(torch.nn.Linear(3, 2), objective, np.arange(12), np.arange(12, 16), opts=TrainOptions(epochs=2),
                   seed=0, fold="fold1", lr=1e-2, checkpoint=tmp_path / "f.ckpt", key="k", desc="toy")
    assert done["epochs_run"] == 2 and f"{tmp_path / 'f.ckpt'} is unreadable (" in caplog.text


def test_a_finished_folds_damaged_weights_file_is_named_when_the_fold_trains_again(tmp_path, caplog):
    (path,), opts = _train(tmp_path, epochs=2, patience=2, lrs=(1e-3,))
    folder = fold_weights_folder(tmp_path, "trained", "tones", "tiny", "small", 0)
    weights = folder / "fold1.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    path.unlink()
    with caplog.at_level("WARNING", logger="rwbench.fitting"):
        _train(tmp_path, epochs=2, patience=2, lrs=(1e-3,))
    assert f"{weights} is not the weights file {folder / 'fold1.json'} records" in caplog.text


def test_a_training_side_that_is_the_fit_part_is_not_trained_twice(tmp_path, monkeypatch):
    """A fixed split refit on train alone (GTZAN's default): the refit replayed the selected run on the same clips
    (twice the compute). Its model is scored instead — the very weights the refit makes, checked by refitting."""
    import rwbench.train as train

    ds = tone_dataset(n_per_class=15)
    clips = [dataclasses.replace(c, fold=None, split=("train", "train", "valid", "test", "train")[i % 5])
             for i, c in enumerate(ds.clips)]
    from rwbench.protocol import FixedSplit

    ds = dataclasses.replace(ds, clips=clips, protocol=FixedSplit(id="tones-fixed", refit="train"))
    ds.decoded, ds.fail_on = [], {}
    opts = TrainOptions(device="cpu", workers=0, batch_size=8, epochs=3, patience=3, lrs=(1e-3,), dropouts=(0.5,))
    (skipped,) = train_all([ds], [TINY], dataclasses.replace(opts, results_dir=tmp_path / "skipped"))
    monkeypatch.setattr(train, "refit_repeats_selection", lambda split: False)
    (refit,) = train_all([ds], [TINY], dataclasses.replace(opts, results_dir=tmp_path / "refit"))
    one, other = json.loads(skipped.read_text()), json.loads(refit.read_text())
    assert one["training"]["folds"]["test"]["refit_repeats_selection"] is True
    assert "refit_repeats_selection" not in other["training"]["folds"]["test"]
    assert one["frontend"]["weights_sha256"] == other["frontend"]["weights_sha256"]
    assert one["folds"][0]["predicted"] == other["folds"][0]["predicted"] and one["folds"][0]["n_train"] == 27


@pytest.mark.parametrize("field, value, problem", [
    ("dropouts", (1.0,), "dropouts (1.0,): at least one, each in [0, 1)"),  # trained to a head below chance
    ("dropouts", (), "dropouts (): at least one"),
    ("lrs", (), "lrs (): at least one learning rate"),  # a bare "min() arg is an empty sequence"
    ("lrs", (math.nan,), "lrs (nan,): at least one learning rate, each finite and above 0"),
    ("lrs", (-1e-3,), "lrs (-0.001,)"),
    ("epochs", 0, "epochs 0 must be an integer of at least 1"),  # an IndexError in the inner runs
    ("patience", 0, "patience 0 must be an integer of at least 1"),
    ("batch_size", 1, "batch_size 1 must be an integer of at least 2"),
    ("window_hop", 3.0, "window_hop 3.0 must be a fraction of the window in (0, 1]"),
    ("silence_dbfs", math.nan, "silence_dbfs nan must be a finite level below 0 dBFS"),
    ("dropout", 1.0, "dropout 1.0 must be in [0, 1)"),
])
def test_the_training_recipe_is_checked_from_python_as_from_the_cli(field, value, problem):
    with pytest.raises(RwbenchError, match=re.escape(problem)):
        TrainOptions(**{field: value})


def test_a_refusal_stops_the_run_before_any_front_end_trains(tmp_path):
    """A training under other settings was refused only when its turn came, after every front-end listed before it
    had trained; the suggested --force then retrained those too. It is refused before anything trains, and names
    the front-ends to pass with --force."""
    common = dict(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, patience=3, lrs=(1e-3,), dropouts=(0.0,))
    tiny2 = dataclasses.replace(TINY, name="tiny2")
    train_all([tone_dataset()], [TINY], TrainOptions(epochs=3, **common))
    with pytest.raises(RwbenchError, match=r"1 training\(s\) would replace one made under other settings, code or "
                                           r"data: tones tiny seed 0: .*Nothing was trained\. Pass --force .*"
                                           r"--frontends tiny to leave"):
        train_all([tone_dataset()], [tiny2, TINY], TrainOptions(epochs=4, **common))
    assert not list((tmp_path / "runs" / "tones").glob("tiny2*"))  # tiny2 waited, untrained


def test_the_dry_run_of_a_training_that_skipped_a_clip_finds_it_up_to_date(tmp_path):
    """With --skip-bad-audio the dry run keyed the training as if every clip were readable: a finished training
    was priced again and said to be refused ("trained under other settings"), though the run found it up to date."""
    from rwbench.errors import DataError
    from rwbench.train_plan import plan_training

    def dataset():
        return tone_dataset(fail_on={"low/005": DataError("low/005.wav: unreadable")})

    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=3, patience=3,
                        lrs=(1e-3,), dropouts=(0.0,), skip_bad_audio=True)
    (path,) = train_all([dataset()], [TINY], opts)
    assert [s["clip"] for s in json.loads(path.read_text())["dataset"]["skipped"]] == ["low/005"]
    plan = plan_training([dataset()], [TINY], opts)
    assert "tones tiny: up to date, seed(s) 0" in plan and "0 seed(s) each still to train" in plan, plan
    assert "the run refuses to replace it" not in plan, plan
    train_all([dataset()], [TINY], opts)  # and the run agrees: up to date, no refusal


def test_a_fold_finished_in_another_process_names_where_each_of_its_epochs_ran(tmp_path, caplog):
    """Fold 1's setting search ran at 1 torch thread (a `--folds fold2` run needs it), its refit later at 2: the fold
    recorded 2 threads, the finishing process's, and its times under one label. Each epoch now records where it
    ran, and the fold names every thread count (devices alike: a CUDA search finished on CPU is "mixed")."""
    common = dict(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=3, patience=3,
                  lrs=(1e-3, 3e-3), dropouts=(0.0,))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train_all([tone_dataset()], [TINY], TrainOptions(folds=("fold2",), **common))
        torch.set_num_threads(2)
        with caplog.at_level("WARNING", logger="rwbench"):
            (path,) = train_all([tone_dataset()], [TINY], TrainOptions(**common))
    finally:
        torch.set_num_threads(threads)
    folds = json.loads(path.read_text())["training"]["folds"]
    assert folds["fold1"]["threads"] == [1, 2] and folds["fold1"]["device"] == "cpu"
    assert folds["fold3"]["threads"] == 2 and folds["fold2"]["threads"] == 1
    assert "a fold's epochs ran on cpu with 1, 2 torch threads" in caplog.text


def test_a_clip_quiet_on_the_prediction_grid_alone_counts_as_quiet():
    """A 1-s event just above the floor, off the hop grid: a loud crop but no loud prediction window. It was
    predicted under the quiet rule while counted as loud (0 clips silent throughout), so its key did not say so."""
    from rwbench.train import make_windows

    rate = 8000
    waves = torch.zeros(1, 4 * rate)
    t = torch.arange(rate) / rate
    waves[0, 2000:2000 + rate] = 1.1e-3 * np.sqrt(2) * torch.sin(2 * torch.pi * 440 * t)  # RMS 1.1 × the −60 dBFS floor
    windows = make_windows(waves, rate, rate)
    assert windows.crop_loud[0].any() and windows.silent_clips == 1  # hop-grid windows hold 3/4 of it: below


def test_an_interrupted_training_resumes_past_the_checks_made_before_training(tmp_path):
    """Fold records of an interrupted run (no result file yet) hold the real key, which may name skipped clips: the
    checks made before any training took them for another training's and refused, advising --force."""
    from rwbench.train import conflicts, training_key

    dataset = tone_dataset()
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=2, patience=2,
                        lrs=(1e-3,), dropouts=(0.0,), skip_bad_audio=True)
    protocol, splits = dataset.describe()["protocol"], dataset.splits()
    from rwbench.results import fold_weights_folder

    folder = fold_weights_folder(tmp_path, "trained", dataset.key, TINY.name, "small", 0)
    folder.mkdir(parents=True)
    key = training_key(dataset, TINY, 0, opts, protocol, {3: "cannot decode"})
    (folder / "fold1.json").write_text(json.dumps({"train_key": key}))
    assert conflicts(dataset, TINY, opts, splits, protocol) == []  # its own turn checks it, with the real key


def test_a_dataset_rebuilt_with_other_clips_is_checked_again():
    from rwbench.guards import checked

    dataset = checked(tone_dataset(n_per_class=6))
    assert dataset.checked and not dataclasses.replace(dataset, clips=dataset.clips[:-1]).checked
