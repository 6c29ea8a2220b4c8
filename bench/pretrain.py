"""Self-supervised pre-training of front-ends on the unlabelled audio of each outer split's training side.

``mst`` (Tax et al. 2017, "Utilizing domain knowledge in end-to-end audio processing"): the ``mst`` front-end's last
layer (60 channels, tanh) is trained to regress the log-mel spectrogram of its own input — 60 bands, n_fft 1024,
hop 512 at 22 050 Hz, power in dB (librosa ``power_to_db``, 80 dB floor), standardised with the mean and std of the
fitting clips and min–max scaled to [−1, 1] (the tanh range) with their extremes — under a mean-squared error, with
Adam (lr 3e-4 as the paper). The paper's other details are not copied: rwbench feeds the clips as the embed stage
does (the dataset's crop/pad policy, no peak normalisation, no augmentation), keeps silent clips, and the mst layer's
``ceil(n/512)`` frames are compared with the first as many target frames.

Per outer split the fit / validation parts are the split's first inner pair (training side only); the test side is
scored once for the record (MSE and Pearson r against the target) and touches nothing. Weights go to
``<results>/weights/mst/<dataset>/<front-end>__<width>__seed<k>/<fold>.safetensors``; ``--weights mst`` embeds with
them. Training shares :func:`rwbench.fitting.fit`: early stopping, per-epoch resumable checkpoints, determinism on CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .datamodel import Dataset
from .device import check_fits, resolve_device
from .dsp import LogMel, LogMelConfig
from .embed_job import EmbedJob
from .errors import RwbenchError
from .fileio import content_key, exclusive, write_json
from .fitting import (
    Objective,
    TrainOptions,
    autocast,
    batches,
    decode_clips,
    finished_fold,
    fit,
    other_trainings,
    recompute_batch_norms,
    warn_not_converged,
    where_it_ran,
    without_failed,
)
from .frontend import Embedder, FrontendSpec
from .protocol import OuterSplit
from .results import fold_weights_data, fold_weights_folder, network_identity, not_converged
from .weight_packs import write_safetensors

log = logging.getLogger(__name__)

MST_TARGET = LogMelConfig(sample_rate=22050, n_fft=1024, hop_length=512, n_mels=60, top_db=80.0)
MST_LR = 3e-4


@dataclass(frozen=True)
class Pretrainer:
    name: str
    frontends: tuple[str, ...]  # the front-ends it trains
    lr: float  # its default learning rate
    train_fold: Callable[..., dict]  # writes a fold's weights, returns its record (written by pretrain(), one file)
    description: str


def target_logmel(waves: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """dB log-mel ``(n, 60, frames)`` of every clip ``(n, samples)``."""
    logmel = LogMel(MST_TARGET)
    with torch.no_grad():
        return torch.cat([logmel(waves[i:i + batch_size].unsqueeze(1)).squeeze(1).transpose(1, 2)
                          for i in range(0, len(waves), batch_size)])


def _scaled(db: torch.Tensor, fit_idx: np.ndarray) -> tuple[torch.Tensor, dict]:
    """Standardise with the fitting clips' mean/std, then min–max scale their range to [−1, 1]."""
    mean, std = float(db[fit_idx].mean()), float(db[fit_idx].std())
    z = (db[fit_idx] - mean) / std
    scaling = {"mean_db": mean, "std_db": std, "z_min": float(z.min()), "z_max": float(z.max())}
    return scale_target(db, scaling), scaling


def scale_target(db: torch.Tensor, scaling: dict) -> torch.Tensor:
    """dB log-mel → the regression target, with the scaling a fold's fitting clips set (:func:`_scaled`)."""
    z = (db - scaling["mean_db"]) / scaling["std_db"]
    return 2 * (z - scaling["z_min"]) / (scaling["z_max"] - scaling["z_min"]) - 1


def predict_mst(net: nn.Module, wave: torch.Tensor, frames: int) -> torch.Tensor:
    """The "mst" layer's output for waveforms ``(batch, samples)``, its first ``frames`` frames ``(batch, 60, ·)``."""
    return net(wave.unsqueeze(1))[-1][..., :frames]


def _mst_fold(spec: FrontendSpec, split: OuterSplit, waves: torch.Tensor, db: torch.Tensor, seed: int,
              folder: Path, key: str, opts: TrainOptions, device: torch.device) -> dict:
    fit_idx, val_idx = split.inner[0]
    target, scaling = _scaled(db, fit_idx)
    net = Embedder(spec, width=opts.width, weights="random", seed=seed).net.to(device)  # the random twin
    with torch.no_grad():  # the mst layer's ceil(n/512) frames vs the centred STFT's 1 + n//512
        frames = predict_mst(net.eval(), waves[:1].to(device), target.shape[2]).shape[2]
    target = target[..., :frames]

    def loss(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        with autocast(device):
            predicted = predict_mst(model, waves[idx].to(device), frames)
        return torch.mean((predicted.float() - target[idx].to(device)) ** 2)

    def scores(model: nn.Module, idx: np.ndarray) -> tuple[float, float]:
        with torch.no_grad():
            model.eval()
            predicted = torch.cat([predict_mst(model, waves[torch.from_numpy(p)].to(device), frames).float().cpu()
                                   for p in batches(np.asarray(idx), opts.batch_size)])
        truth = target[idx]
        r = float(np.corrcoef(predicted.flatten().numpy(), truth.flatten().numpy())[0, 1])
        return float(torch.mean((predicted - truth) ** 2)), r

    history = fit(net, Objective(loss, scores), fit_idx, val_idx, seed=seed, fold=split.name, opts=opts, lr=opts.lr,
                  checkpoint=folder / f"{split.name}.ckpt", key=key,
                  desc=f"pretrain mst {spec.name} {split.name} seed {seed}")
    # the running statistics recomputed over the fit clips: at 8 steps an epoch (ESC-10), an early best epoch left
    # bn1's variance at 0.59 where its input's is 0.0009, the saved network's mst layer near constant (an SVM on it
    # at chance, 0.625 with the statistics recomputed)
    parts = np.array_split(np.asarray(fit_idx), -(-len(fit_idx) // opts.batch_size))  # near-equal sizes, none of one
    recompute_batch_norms(net, lambda: [predict_mst(net, waves[torch.from_numpy(p)].to(device), frames) for p in parts])
    test_mse, test_r = scores(net, split.test)
    random_mse, random_r = scores(Embedder(spec, width=opts.width, weights="random", seed=seed).net.to(device),
                                  split.test)
    weights = folder / f"{split.name}.safetensors"
    sha256 = write_safetensors(weights, net.state_dict(),
                               {"frontend": spec.name, "tag": "mst", "fold": split.name, "seed": seed, "key": key})
    summary = {"train_key": key, "weights": weights.name, "weights_sha256": sha256, "target": scaling,
               "frames": frames, "test_mse": test_mse, "test_pearson_r": test_r, "random_init_test_mse": random_mse,
               "random_init_test_pearson_r": random_r, **history, "epoch_cap": opts.epochs,
               "batch_norm": "running statistics recomputed over the fit clips (their average) before scoring and "
                             "saving; each epoch's validation used them as they stood (momentum 0.1)",
               "not_converged": not_converged(history["best_epoch"], opts.epochs, opts.patience),
               **where_it_ran(history["history"], device)}
    if summary["not_converged"]:
        warn_not_converged(f"pretrain mst {spec.name} {split.name} seed {seed}", history["best_epoch"], opts.epochs,
                           opts.patience)
    log.info("mst %s seed %d: test MSE %.4f (random init %.4f), r %.3f", split.name, seed, test_mse, random_mse, test_r)
    return summary


PRETRAINERS = {
    "mst": Pretrainer("mst", ("mst",), MST_LR, _mst_fold,
                      "regress the normalised 60-band log-mel from the waveform (Tax et al. 2017)"),
}


def pretrain(name: str, datasets: list[Dataset], frontends: list[FrontendSpec], opts: TrainOptions) -> list[Path]:
    """Pre-train every chosen front-end per outer split and seed; returns the per-fold summary files."""
    task = PRETRAINERS[name]
    wrong = [spec.name for spec in frontends if spec.name not in task.frontends]
    if wrong:
        raise RwbenchError(f"pretrain {name} trains {list(task.frontends)}, not {wrong}")
    for dataset in datasets:  # a width that cannot train stops the run before any decoding
        for spec in frontends:
            check_fits(EmbedJob(dataset, spec, opts.width), opts.batch_size, opts.device, training=True)
    # every task decoded and checked before any trains: a refusal (or --force's removals) met at the second task
    # left the first's new folds trained, and the advised --force threw them away
    prepared = []
    for dataset in datasets:
        splits = dataset.splits()
        for spec in frontends:
            decoded, failed = decode_clips(EmbedJob(dataset, spec, opts.width), workers=opts.workers,
                                           skip_bad_audio=opts.skip_bad_audio)
            folders = {seed: fold_weights_folder(opts.results_dir, name, dataset.key, spec.name, opts.width, seed)
                       for seed in opts.seeds}
            keys = {seed: pretraining_key(name, dataset, spec, seed, opts, failed) for seed in opts.seeds}
            prepared.append((dataset, spec, decoded, without_failed(splits, failed, len(dataset.clips)), folders, keys))
    if opts.force:  # every folder's folds go before any trains: a rerun without --force resumes an interruption
        for dataset, spec, _, kept, folders, _ in prepared:
            for seed, folder in folders.items():
                with pretraining_lock(folder, name, spec, dataset, seed):
                    for stale in (folder / f"{split.name}{ext}" for split in kept
                                  for ext in (".json", ".safetensors", ".ckpt")):
                        stale.unlink(missing_ok=True)
    elif others := [f for _, _, _, kept, folders, keys in prepared for seed in opts.seeds
                    for f in other_trainings(folders[seed], kept, keys[seed])]:
        raise RwbenchError(f"pretrain {name} would replace what was pre-trained under other settings, code or data "
                           f"({', '.join(others)}); nothing was trained: pass --force to train again, or another "
                           "--results")
    device, out = resolve_device(opts.device), []
    for dataset, spec, waves_np, kept, folders, keys in prepared:
        waves = torch.from_numpy(waves_np)
        db = target_logmel(waves, opts.batch_size)
        for seed, folder in folders.items():
            # one process trains a seed at a time: a second waits, then reuses the finished folds
            with pretraining_lock(folder, name, spec, dataset, seed):
                # again under the lock: a run under other settings started at once trained these folds meanwhile
                if not opts.force and (others := other_trainings(folder, kept, keys[seed])):
                    raise RwbenchError(f"pretrain {name}: {', '.join(others)}: pre-trained under other settings, "
                                       "code or data by another run while this one waited; nothing more was trained: "
                                       "pass --force to train again, or another --results")
                for split in kept:
                    if finished_fold(folder, split.name, keys[seed], False) is None:
                        start = time.perf_counter()
                        summary = task.train_fold(spec, split, waves, db, seed, folder, keys[seed], opts, device)
                        # what these weights may embed: this data alone, into this version of the network
                        write_json(folder / f"{split.name}.json", {**summary, "data": fold_weights_data(dataset),
                                                                   "network": network_identity(spec)})
                        (folder / f"{split.name}.ckpt").unlink(missing_ok=True)
                        log.info("%s %s seed %d in %.1f s", name, split.name, seed, time.perf_counter() - start)
                    out.append(folder / f"{split.name}.json")
    return out


def pretraining_key(name: str, dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions,
                    failed: dict[int, str]) -> str:
    """What a pre-training's folds depend on: a finished fold is reused, and a checkpoint resumed, under it alone."""
    return content_key({"task": name, "frontend": spec.name, "version": spec.version, "width": str(opts.width),
                        "seed": seed, "dataset": dataset.key, "fingerprint": dataset.fingerprint(),
                        "settings": opts.settings(),
                        # the folds: weights trained under another assignment have seen its test clips
                        "protocol": dataset.describe()["protocol"], "skipped": sorted(failed),
                        "batch_norm": "recomputed"})


def pretraining_lock(folder: Path, name: str, spec: FrontendSpec, dataset: Dataset, seed: int):
    return exclusive(folder / ".train.lock", f"the {name} pre-training of {spec.name} on {dataset.key} (seed {seed})")
