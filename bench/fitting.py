"""The training loop every objective shares (trained heads, pre-training), the clips it trains on, and its options.

:func:`fit` trains with Adam and early stopping on a validation loss, resumable from a per-epoch checkpoint, and
deterministic for a seed on CPU: the shuffling and the dropout of epoch *e* are drawn from generators seeded with
(seed, fold, e), so a run killed and resumed ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, TypeGuard

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .clips import ClipAudio, collate_as_list
from .device import default_workers
from .embed_job import EmbedJob
from .errors import DataError, RwbenchError
from .filehash import sha256_of
from .fileio import atomic_path, read_json
from .options import Execution, Networks, Storage, check_seconds
from .protocol import OuterSplit, keep_rows
from .results import NOT_CONVERGED, devices_label

log = logging.getLogger(__name__)

TRAIN_CODE_VERSION = 4  # bump when the head recipe changes: finished folds with an older key are retrained
FIT_LOOP_VERSION = 2  # the shared loop's version in settings() (pre-training keys): bump when fit() itself changes
HEAD_FIT_LOOP = 2  # the FIT_LOOP_VERSION that TRAIN_CODE_VERSION last followed: heads train with fit() too, so a
# FIT_LOOP_VERSION bump needs a TRAIN_CODE_VERSION bump (a test holds the two equal)
LRS = (3e-4, 1e-3, 3e-3)  # the default learning-rate search
DROPOUTS = (0.0, 0.5)  # the default dropout search (with every learning rate)
REFITS = ("full", "fit-part")
SELECT_ON = ("first-fold", "every-fold")
LR_SCHEDULES = {"plateau": "reduce_on_plateau(0.5, 2)",  # halve the rate after 3 epochs without a better validation loss
                "constant": "constant"}  # the rate held; early stopping alone ends the run
SILENCE_DBFS = -60.0  # crops / windows whose RMS is below this (1e-3 of full scale) are silence
WINDOW_HOP = 0.5  # prediction windows advance by this fraction of a window
CROP_GRID_SECONDS = 0.01  # training crops start on a 10-ms grid (the positions whose window is not silent)


def _number(value: object) -> TypeGuard[float]:
    """A finite real number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(kw_only=True)
class TrainOptions(Networks, Execution, Storage):
    """Options of ``rwbench train`` and ``pretrain``: the shared groups of :mod:`rwbench.options` (which networks,
    how the job runs, where its files go) plus the training recipe."""

    epochs: int = 100
    patience: int = 10
    lr: float = 1e-3  # pre-training's learning rate (trained heads search ``lrs``)
    batch_size: int = 32  # the training minibatch (part of the recipe, unlike the embedding batch)
    dropout: float = 0.5  # pre-training's dropout (trained heads search ``dropouts``)
    crop_seconds: float | None = None  # train on random windows of this length, predict by window averaging
    lrs: tuple[float, ...] = LRS  # the learning rates tried on the inner validation part (trained heads)
    dropouts: tuple[float, ...] = DROPOUTS  # the dropouts tried, each with every learning rate (trained heads)
    select_on: str = "first-fold"  # choose the setting on the first outer split and reuse it, or on every split
    refit: str = "full"  # full: refit on the whole training side for the selected epochs; fit-part: score the fit
    silence_dbfs: float = SILENCE_DBFS
    window_hop: float = WINDOW_HOP
    folds: tuple[str, ...] | None = None  # train only these outer folds (a partial result, recorded as such)
    replace: bool = False  # replace a training made under other settings, resuming what these settings finished
    lr_schedule: str = "plateau"  # a key of LR_SCHEDULES
    precise_bn: bool = False  # trained heads: batch-norm statistics recomputed before each validation and after a refit

    def __post_init__(self) -> None:
        for name, allowed in (("select_on", SELECT_ON), ("refit", REFITS), ("lr_schedule", tuple(LR_SCHEDULES))):
            if getattr(self, name) not in allowed:
                raise RwbenchError(f"{name} {getattr(self, name)!r} is not one of {list(allowed)}")
        check_seconds(crop_seconds=self.crop_seconds)
        # the recipe, as the CLI checks it (a dropout of 1 zeroes the head's input: below chance without a word)
        def rate(v: object) -> bool:
            return _number(v) and v > 0

        def keep(v: object) -> bool:
            return _number(v) and 0 <= v < 1

        def count(least: int) -> Callable[[object], bool]:
            return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= least

        checks = {"lrs": (bool(self.lrs) and all(map(rate, self.lrs)), ": at least one learning rate, each finite and "
                                                                         "above 0"),
                  "dropouts": (bool(self.dropouts) and all(map(keep, self.dropouts)), ": at least one, each in [0, 1)"),
                  "lr": (rate(self.lr), " must be finite and above 0"),
                  "dropout": (keep(self.dropout), " must be in [0, 1)"),
                  "window_hop": (_number(self.window_hop) and 0 < self.window_hop <= 1,
                                 " must be a fraction of the window in (0, 1]"),
                  "silence_dbfs": (_number(self.silence_dbfs) and self.silence_dbfs < 0,
                                   " must be a finite level below 0 dBFS"),
                  **{name: (count(least)(getattr(self, name)), f" must be an integer of at least {least}")
                     for name, least in (("epochs", 1), ("patience", 1), ("batch_size", 2))}}
        problems = [f"{name} {getattr(self, name)!r}{want}" for name, (ok, want) in checks.items() if not ok]
        if problems:
            raise RwbenchError("training recipe: " + "; ".join(problems))
        super().__post_init__()

    def settings(self) -> dict[str, Any]:
        """What determines weights trained by :func:`fit` alone (pre-training) besides the data, the front-end and
        the seed."""
        return {"epochs": self.epochs, "patience": self.patience, "lr": self.lr, "batch_size": self.batch_size,
                "dropout": self.dropout, "crop_seconds": self.crop_seconds, "optimizer": "adam",
                "schedule": LR_SCHEDULES[self.lr_schedule], "train_code": FIT_LOOP_VERSION}

    def head_settings(self) -> dict[str, Any]:
        """What determines a trained head's weights and scores besides the data, the front-end and the seed (part of
        its training key; ``folds`` is not: a fold's result does not depend on which other folds run)."""
        settings = {k: v for k, v in self.settings().items() if k not in ("lr", "dropout")}
        settings.update(lrs=[float(lr) for lr in self.lrs], dropouts=[float(d) for d in self.dropouts],
                        select_on=self.select_on, refit=self.refit,
                        train_code=TRAIN_CODE_VERSION)
        if self.precise_bn:  # absent when off: the keys of heads trained before the option stand
            settings.update(precise_bn=True)
        if self.crop_seconds:
            settings.update(silence_dbfs=self.silence_dbfs, window_hop=self.window_hop,
                            crop_grid_seconds=CROP_GRID_SECONDS)
        return settings


# -- data --------------------------------------------------------------------------------------
def decode_clips(job: EmbedJob, *, workers: int | None, skip_bad_audio: bool) -> tuple[np.ndarray, dict[int, str]]:
    """Every clip of ``job.dataset`` at the front-end's rate, cropped/padded as the embed stage does:
    ``(n_clips, samples)`` float32 (a failed clip is zeros) and ``{clip index: error}``."""
    source = ClipAudio(job)
    waves = np.zeros((len(source), source.network_samples), np.float32)
    failed: dict[int, str] = {}
    loader = DataLoader(source, batch_size=64, collate_fn=collate_as_list,
                        num_workers=default_workers() if workers is None else workers)
    for batch in loader:
        for index, windows, error in batch:
            if error is not None:
                failed[index] = error
            else:
                waves[index] = windows[0].numpy()
    if failed and not skip_bad_audio:
        raise DataError(next(iter(failed.values())) + " (rerun with --skip-bad-audio to leave such files out)")
    return waves, failed


def without_failed(splits: list[OuterSplit], failed: dict[int, str], n_clips: int) -> list[OuterSplit]:
    """The splits without the clips that failed to decode."""
    keep = np.ones(n_clips, bool)
    keep[list(failed)] = False
    return [keep_rows(s, keep) for s in splits]


def read_record(path: Path, consequence: str) -> dict[str, Any] | None:
    """A training record rwbench wrote (a fold's summary, its inner runs), or None with a warning naming the file
    where it cannot be read (truncated by a full disk, edited): what it recorded is computed again."""
    try:
        return read_json(path)
    except RwbenchError as err:
        log.warning("%s; %s", err, consequence)
        return None


def other_trainings(folder: Path, splits: list[OuterSplit], key: str, result: Path | None = None) -> list[str]:
    """The fold records in ``folder`` (and the ``result`` file) of this front-end, dataset, width and seed made
    under another key (another recipe, code version, data or protocol) that a training under ``key`` would
    replace."""
    out = []
    for file, field in [*([(result, "run_key")] if result else []), *((folder / f"{s.name}.json", "train_key") for s in splits)]:
        try:
            if file.is_file() and read_json(file).get(field) != key:
                out.append(str(file))
        except RwbenchError:  # unreadable: nothing finished to keep
            continue
    return out


def finished_fold(folder: Path, fold: str, key: str, force: bool) -> dict[str, Any] | None:
    """The summary of a fold already trained under ``key`` whose weights file is the one it names (its sha256), or
    None: weights replaced by another training (a crash between the two writes) are never reported as this one's."""
    summary, weights = folder / f"{fold}.json", folder / f"{fold}.safetensors"
    if force or not summary.is_file() or not weights.is_file():
        return None
    done = read_record(summary, "the fold is trained again")
    if done is None or done.get("train_key") != key:
        return None
    if done.get("weights_sha256") != sha256_of(weights):
        log.warning("%s is not the weights file %s records (its sha256 differs: damaged or replaced); the fold is "
                    "trained again", weights, summary)
        return None
    return done


def not_converged_rule(patience: int | None = None) -> str:
    """:func:`not_converged` in words (each trained result's recipe states it)."""
    return (f"best epoch within {round(100 * NOT_CONVERGED)} % of the epoch cap"
            + (f", or within the patience ({patience}) of it: the cap ended the run" if patience is not None else ""))


def warn_not_converged(desc: str, best_epoch: int, cap: int, patience: int | None = None) -> None:
    """The one warning of a run flagged :func:`not_converged` (trained heads and pre-training alike)."""
    log.warning("%s: not converged: the best validation epoch %d, of a %d-epoch cap, is %s (flagged not_converged; "
                "raise --epochs)", desc, best_epoch, cap, not_converged_rule(patience).replace("best epoch ", "", 1))


# -- the loop shared by every training objective -------------------------------------------------
@dataclass
class Objective:
    """What a training run minimises and reports: ``loss(model, batch_indices) -> tensor`` and
    ``validate(model, indices) -> (loss, score)`` (score: higher is better, for the log only); with ``calibrate(model,
    indices)``, the batch norms' statistics are recomputed over the training clips before each validation and at the
    end of a refit ("precise BN"), so that validation and the scored model read the statistics of their own weights."""

    loss: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    validate: Callable[[nn.Module, np.ndarray], tuple[float, float]]
    calibrate: Callable[[nn.Module, np.ndarray], None] | None = None


class FitState(TypedDict):
    """Where :func:`fit` stands after an epoch; a plain dict in the checkpoint (read back with ``weights_only``)."""

    epoch: int  # epochs done
    best_loss: float
    best_epoch: int  # -1 before the first validation
    best: dict[str, torch.Tensor] | None  # the best-validation weights (None in a refit)
    bad: int  # epochs since the validation loss last improved
    history: list[dict[str, Any]]  # one entry per epoch


def seeded(*parts: object) -> int:
    """A 32-bit seed from ``parts`` (e.g. ("shuffle", seed, fold, epoch)), the same in every process."""
    return zlib.crc32(repr(parts).encode())


def fit(model: nn.Module, objective: Objective, fit_idx: np.ndarray, val_idx: np.ndarray | None, *, seed: int,
        fold: str, opts: TrainOptions, lr: float, checkpoint: Path, key: str, desc: str,
        schedule: list[float] | None = None) -> dict[str, Any]:
    """Train ``model`` in place with Adam and early stopping on the validation loss; resumable from
    ``checkpoint`` (written after every epoch, atomically; one made under another ``key`` is discarded). Leaves
    the best-validation weights in ``model`` and returns the history.

    With ``schedule`` (the learning rate of each epoch) and no ``val_idx``: a refit, exactly ``len(schedule)``
    epochs at those rates, no validation, the last weights kept."""
    refit = schedule is not None
    if len(fit_idx) < 2:  # batch norm cannot train on one clip
        raise RwbenchError(f"{desc}: the fold's training part holds {len(fit_idx)} clip(s); training needs at least 2")
    if schedule is not None:  # refit
        lr = schedule[0] if schedule else lr
    cap, patience = (len(schedule), len(schedule) + 1) if schedule is not None else (opts.epochs, opts.patience)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2)
    state: FitState = {"epoch": 0, "best_loss": float("inf"), "best_epoch": -1, "best": None, "bad": 0, "history": []}
    saved = _load_checkpoint(checkpoint, desc)
    if saved is not None and saved.get("key") != key:
        log.warning("%s: discarding %s, made with other settings or data", desc, checkpoint)
        saved = None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        log.info("%s: resuming after epoch %d", desc, state["epoch"])
        here = ran_on(model)["device"]
        if saved.get("device", here) != here:  # recorded per epoch: the fold names every device its epochs ran on
            log.warning("%s: resumed on %s, its checkpoint written on %s: its epochs ran on both (times and precision "
                        "of each recorded with it)", desc, here, saved["device"])
        elif saved.get("threads", torch.get_num_threads()) != torch.get_num_threads() and model_on_cpu(model):
            log.warning("%s: resumed with %d torch threads, its checkpoint written with %d: float32 sums run in another "
                        "order, so its weights agree with an uninterrupted run's to rounding, not bit for bit", desc,
                        torch.get_num_threads(), saved["threads"])
    start, resumed_at = time.perf_counter(), state["epoch"]
    bar = tqdm(total=cap, initial=state["epoch"], desc=desc, unit="epoch", disable=not opts.progress, leave=False)
    while state["epoch"] < cap and state["bad"] < patience:
        epoch, epoch_start = state["epoch"], time.perf_counter()
        if schedule is not None:  # refit
            for group in optimizer.param_groups:
                group["lr"] = schedule[epoch]
        train_lr = optimizer.param_groups[0]["lr"]
        model.train()
        torch.manual_seed(seeded("dropout", seed, fold, epoch))
        order = fit_idx[torch.randperm(len(fit_idx), generator=torch.Generator().manual_seed(
            seeded("shuffle", seed, fold, epoch))).numpy()]
        total = 0.0
        for batch in training_batches(order, opts.batch_size):
            loss = objective.loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        model.eval()
        val_loss: float | None = None
        val_score: float | None = None
        if refit:
            if not np.isfinite(total):
                raise RwbenchError(f"{desc}: the training loss became {total} at epoch {epoch + 1}; lower --lr")
            state["epoch"], state["best_epoch"], state["best"] = epoch + 1, epoch + 1, None
        else:
            if val_idx is None:
                raise RwbenchError(f"{desc}: training with early stopping needs validation clips")
            if objective.calibrate is not None:  # changes no weight: the training that follows is the same
                objective.calibrate(model, fit_idx)
            val_loss, val_score = objective.validate(model, val_idx)
            if not np.isfinite(val_loss):
                raise RwbenchError(f"{desc}: the validation loss became {val_loss} at epoch {epoch + 1}; lower --lr")
            if opts.lr_schedule == "plateau":
                scheduler.step(val_loss)
            improved = val_loss < state["best_loss"]
            state["epoch"], state["bad"] = epoch + 1, 0 if improved else state["bad"] + 1
            if improved:
                state["best_loss"], state["best_epoch"] = val_loss, epoch + 1
                state["best"] = copy.deepcopy(model.state_dict())
        state["history"].append({"epoch": epoch + 1, "train_loss": total / len(order), "val_loss": val_loss,
                                 "val_score": val_score, "lr": optimizer.param_groups[0]["lr"],
                                 "train_lr": train_lr, "train_clips": len(order),
                                 "seconds": time.perf_counter() - epoch_start,  # kept across a resume, with where
                                 **ran_on(model)})  # it ran: a fold finished elsewhere names both
        with atomic_path(checkpoint) as tmp:
            torch.save({"key": key, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "state": state, "threads": torch.get_num_threads(),
                        "device": ran_on(model)["device"]}, tmp)
        bar.update(1)
        if not refit:
            bar.set_postfix(val_loss=f"{val_loss:.3f}", val=f"{val_score:.3f}")
    bar.close()
    if refit and objective.calibrate is not None:  # the scored model: statistics of its last weights
        objective.calibrate(model, fit_idx)
    ran = f"{state['epoch'] - resumed_at} epoch(s) in {time.perf_counter() - start:.0f} s" + (
        f" after resuming at epoch {resumed_at}" if resumed_at else "")
    if refit:
        log.info("%s: refit done, %s", desc, ran)
    elif state["best_epoch"] > 0:
        best = state["history"][state["best_epoch"] - 1]
        log.info("%s: stopped at epoch %d, best epoch %d (validation loss %.4f, score %.3f); %s", desc,
                 state["epoch"], state["best_epoch"], state["best_loss"], best["val_score"], ran)
    if state["best"] is not None:  # a refit keeps its last weights (in ``model`` already)
        model.load_state_dict(state["best"])
    return {"epochs_run": state["epoch"], "best_epoch": state["best_epoch"], "best_val_loss": state["best_loss"],
            "history": state["history"]}


@torch.no_grad()
def recompute_batch_norms(model: nn.Module, forward: Callable[[], object]) -> None:
    """``model``'s batch norms' running statistics recomputed as the average over the batches ``forward`` runs
    (momentum None, as ``torch.optim.swa_utils.update_bn``; the rest of the model in eval mode): after few optimiser
    steps, running statistics with momentum 0.1 still sit near their start, and the network scored and saved in eval
    mode is not the one that was trained."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in norms]
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    try:
        forward()
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.eval()


def model_on_cpu(model: nn.Module) -> bool:
    return all(t.device.type == "cpu" for t in model.parameters())


def _load_checkpoint(path: Path, desc: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        saved: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        return saved
    except Exception as err:  # noqa: BLE001 — damaged bytes raise anything from torch's unpickler (KeyError: 101)
        log.warning("%s: %s is unreadable (%s: %s); starting the fold again", desc, path, type(err).__name__, err)
        return None


def training_batches(order: np.ndarray, size: int) -> list[torch.Tensor]:
    """``order`` in batches of ``size``; a last batch of one joins the one before (batch norm cannot train on a
    single example)."""
    cuts = list(range(size, len(order), size))
    if cuts and len(order) - cuts[-1] == 1:
        cuts.pop()
    return [torch.from_numpy(part) for part in np.split(order, cuts)]


def batches(indices: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(indices), size):
        yield indices[start:start + size]


def autocast(device: torch.device) -> torch.autocast:
    """bfloat16 autocast on CUDA; a no-op context on CPU (float32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


CUDA_PRECISION = ("float32 front-end network (the embedder's float32 precision turns autocast off inside it); "
                  "bfloat16 autocast around it: the input transform's matrix product (the log-mel projection) and "
                  "the linear head; float32 weights")


def ran_on(model: nn.Module) -> dict[str, Any]:
    """Where an epoch of ``model`` runs: device, precision and torch threads (a CPU's float32 sums follow them)."""
    device = next(model.parameters()).device
    return {"device": str(device), "precision": precision(device), "threads": torch.get_num_threads()}


def where_it_ran(epochs: list[dict[str, Any]], device: torch.device) -> dict[str, Any]:
    """A fold's ``device``, ``precision`` and ``threads`` from its epochs (search, selected run, refit), which may have
    run in several processes: one value each, or every one named (``mixed (cpu ×1, cuda ×1)``; threads a list) —
    its times are never labelled with one device they did not all run on. Epochs recorded before this: this process's."""
    # this process predicts the test clips (its time is the fold's ms/clip): its device is among them, run or not
    devices = [*(str(h.get("device", device)) for h in epochs), str(device)]
    precisions = sorted({*(str(h.get("precision", precision(device))) for h in epochs), precision(device)})
    threads = sorted({*(int(h.get("threads", torch.get_num_threads())) for h in epochs), torch.get_num_threads()})
    if len(set(devices)) > 1 or len(threads) > 1:
        log.warning("a fold's epochs ran on %s with %s torch threads: its record names each",
                    ", ".join(sorted(set(devices))), ", ".join(map(str, threads)))
    return {"device": devices[0] if len(set(devices)) == 1 else devices_label(devices),
            "precision": " / ".join(precisions), "threads": threads[0] if len(threads) == 1 else threads}


def precision(device: torch.device) -> str:
    """What a :class:`~rwbench.train.Classifier` computes in under :func:`autocast` on ``device``, as a result records
    it (results before 2026-12-05 say "bfloat16 autocast (float32 weights)" for the same computation), with whether
    cuDNN ran the float32 convolutions in TF32 (torch's default; training keeps it, as it ran on the H200)."""
    if device.type != "cuda":
        return "float32"
    return f"{CUDA_PRECISION}; cuDNN convolutions in {'TF32' if torch.backends.cudnn.allow_tf32 else 'float32'}"
