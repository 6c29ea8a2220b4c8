"""Fully trained baselines (``rwbench train``), the transfer row (``--weights trained``) and MST pre-training."""

from __future__ import annotations

import json
import os
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
from rwbench.frontend import FRONTENDS
from rwbench.pipeline import RunOptions, run
from rwbench.pretrain import pretrain
from rwbench.results import fold_weights_folder
from rwbench.train import TrainOptions, train_all
from rwbench.weights import sha256_of

FOLDS = ["fold1", "fold2", "fold3", "fold4"]


def _train(tmp_path, **kwargs):
    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, epochs=4, patience=4, batch_size=8, **kwargs)
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
    assert not list(tmp_path.rglob("*.ckpt"))  # finished folds leave no checkpoint behind


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


PLUGIN = textwrap.dedent('''
    import sys
    sys.path.insert(0, {tests!r})
    from toy import TINY, tone_dataset
    from rwbench.dataset import register_dataset
    from rwbench.frontend import FRONTENDS

    FRONTENDS.add(TINY)
    register_dataset(name="tones", description="tones", protocol="4 folds", needs_root=False)(
        lambda root, task=None, **options: tone_dataset())
''')


def test_killed_training_resumes_to_the_same_weights(tmp_path):
    """kill -9 in the middle of fold 2, rerun: the result equals an uninterrupted run's, bit for bit."""
    plugin = tmp_path / "tones_plugin.py"
    plugin.write_text(PLUGIN.format(tests=str(os.path.dirname(__file__))))
    argv = [sys.executable, "-m", "rwbench.cli", "train", "--plugin", str(plugin), "--dataset", "tones",
            "--frontends", "tiny", "--epochs", "150", "--patience", "150", "--batch-size", "8", "--workers", "0",
            "--device", "cpu", "-q"]
    folder = fold_weights_folder(tmp_path / "killed", "trained", "tones", "tiny", "small", 0)
    proc = subprocess.Popen([*argv, "--results", str(tmp_path / "killed")], stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (folder / "fold2.ckpt").is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (folder / "fold1.safetensors").is_file() and not (folder / "fold2.safetensors").exists()
    for results in ("killed", "whole"):
        done = subprocess.run([*argv, "--results", str(tmp_path / results)], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
    assert _shas(tmp_path / "killed") == _shas(tmp_path / "whole")


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
        assert s["best_val_loss"] < 0.9 * s["history"][0]["val_loss"], s["history"]
        assert s["test_pearson_r"] > 0.3 and abs(s["random_init_test_pearson_r"]) < 0.1, s
    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, weights=["mst", "random"])
    run([tone_dataset()], [spec], [BACKENDS.get("logreg")], opts)
    assert {r["frontend"]["weights"] for r in result_dicts(tmp_path)} == {"mst", "random"}


@pytest.mark.parametrize(("argv", "match"), [
    (["train", "--epochs", "0"], "--epochs takes a positive int"),
    (["train", "--lr", "nan"], "--lr takes a positive float"),
    (["train", "--dropout", "1.5"], "--dropout takes a number in [0, 1), got '1.5'"),
    (["train", "--frontends", "mfcc"], "none of the selected front-ends has weights to train"),
    (["pretrain", "mst", "--frontends", "vgg"], "pretrain mst trains ['mst'], not ['vgg']"),
    (["pretrain", "bert"], "invalid choice: 'bert'"),
    (["run", "--frontends", "vgg", "--weights", "mst"], "no selected front-end offers weights ['mst']"),
])
def test_bad_training_input_gives_one_clear_line(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rwbench: error:") and match in err, err


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
    from rwbench.train import training_batches

    batches = training_batches(np.arange(n), 8)
    assert [len(b) for b in batches] == sizes and torch.cat(batches).tolist() == list(range(n))
