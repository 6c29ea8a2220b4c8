"""Fully trained baselines: a registered front-end plus a classifier head, trained end to end per outer split.

For each outer split of the dataset's protocol — the same folds, clips and crop/pad policy as the random-weight
rows — the front-end starts from its seeded random weights (the random twin) and gets a head (the default feature
layers pooled over time as in the embed stage → standardised by a batch norm without affine terms → dropout →
linear). The recipe, every choice recorded in the result's ``training`` section:

1. **Selection on the inner validation part.** On the split's first inner pair — a *fit* part and a *validation*
   part, both from the training side only (predefined folds: one training fold left out, so groups never straddle;
   a fixed split: train / valid) — one run per setting of ``--lrs`` (default 3e-4, 1e-3, 3e-3) × ``--dropouts``
   (default 0, 0.5) trains from the seeded initialisation with early stopping on the validation loss. The setting
   with the lowest best-epoch validation loss wins; its best epoch is the epoch count. ``--select-on first-fold``
   (default) chooses on the first outer split of the protocol and reuses its setting on the others (each still
   early-stops its own run for its epoch count); ``every-fold`` chooses on each split. ``--lr X`` is ``--lrs X``,
   ``--dropout P`` is ``--dropouts P``. Dropout is searched because a fixed 0.5 held small heads back: on ESC-10,
   ``temporal``'s head scored 0.635 with it and 0.670 without, while logistic regression on the same trained
   features reached 0.668 (``studies/random-vs-trained-24/README.md``).
2. **Refit on the whole training side** (``--refit full``, default): a fresh model from the same seeded
   initialisation trains on all the outer training clips for the selected epoch count, at the selected run's
   per-epoch learning rates (its plateau schedule replayed), and that model is scored once on the outer test side —
   as the random rows' backends are refit on the whole training side. ``--refit fit-part`` scores the selected run's
   best-validation-epoch model instead (fit part only; rwbench's recipe before 2026-12). A scored model trained for
   fewer than 50 optimiser steps has its batch norms' running statistics recomputed over its training clips (at
   momentum 0.1 they still hold 0.9ⁿ of their start; recorded per fold as ``batch_norm_recalibrated``).
3. **Convergence is checked, never assumed.** At most ``--epochs`` epochs (default 100), stopped after
   ``--patience`` epochs (10) without a better validation loss; a selected run whose best epoch lies within 10 % of
   the cap is flagged ``not_converged`` in its fold record (counted in the result's ``training`` section) and
   logged as a warning.

An outer split's test side never touches that split's choices; with ``--select-on first-fold`` (the default) the
setting chosen on the first split's inner validation part (one training fold of it) is reused on the other splits,
where that fold is a test side once (``studies/random-vs-trained-24`` measures it against ``every-fold``). The loss
is cross-entropy, or for a multilabel task binary cross-entropy per tag (validation score: macro ROC-AUC; micro F1 at
the threshold that is best on the validation part, chosen with the selected fit-part model, since the refit model has
seen the validation part).

Input length. Without ``--crop-seconds`` every step, validation and test read whole clips. With ``--crop-seconds S``
training, validation and test all see S-second windows (raised to the front-end's minimum input), so pooled
statistics and the head's batch norm are fitted on the length they are applied to: each training step sees one
random window per clip (a time-shift augmentation; windows start on a 10-ms grid), and a clip is predicted by the
mean of its windows' logits (windows every ``--window-hop`` × S, default half a window, the last aligned to the
clip's end), as Piczak (2015) and Tax et al. (2017) do. Windows whose RMS is below ``--silence-dbfs`` (default
−60 dBFS, i.e. 1e-3 of full scale; digital silence included) are neither drawn for training nor averaged at
prediction; a clip with no window above the floor keeps all of them.

Optimisation: Adam, the learning rate halved at the third epoch in a row whose validation loss is not a new best by
more than 1e-4 relative (``ReduceLROnPlateau(factor=0.5, patience=2)``; early stopping counts any new best). On CUDA
the head runs under bfloat16 autocast and the front-end network in float32 (``fitting.CUDA_PRECISION``); on CPU all is
float32 and deterministic for a seed and a thread count: the shuffling, the crops and the dropout of epoch *e* are drawn
from generators seeded with (seed, fold, e), so a run killed and resumed from its per-epoch checkpoint ends with the same
weights as one that never stopped; resumed with another ``torch.get_num_threads()`` (recorded per fold as ``threads``),
its sums run in another order and the weights agree to rounding only (warned).

Files, under ``<results>/weights/trained/<dataset>/<front-end>__<width>__seed<k>/``: ``<fold>.safetensors`` (the
front-end's trained weights, sha256 in the result), ``<fold>.json`` (the selected run's history, best epoch, the
fold's training record, test scores), ``<fold>.select.json`` (every learning rate's inner run), and while a fold is
unfinished ``<fold>.lr<rate>.ckpt`` (inner runs) and ``<fold>.ckpt`` (the refit). ``--folds`` trains only the named
outer folds (for measuring; the result is marked ``partial``). The result is an ordinary result file with
``weights = trained`` and ``backend = head``; ``--weights trained`` embeds with each fold's weights (a transfer row).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .backends import warn_grid_edges
from .clips import SILENT_CROP
from .datamodel import Dataset
from .device import check_fits, resolve_device
from .embed_job import EmbedJob
from .errors import RwbenchError
from .fileio import content_key, exclusive, read_json, write_json
from .fitting import (
    CROP_GRID_SECONDS,
    LR_SCHEDULES,
    SILENCE_DBFS,
    TRAIN_CODE_VERSION,
    WINDOW_HOP,
    Objective,
    TrainOptions,
    autocast,
    batches,
    decode_clips,
    finished_fold,
    fit,
    not_converged_rule,
    other_trainings,
    precision,
    read_record,
    recompute_batch_norms,
    seeded,
    warn_not_converged,
    where_it_ran,
    without_failed,
)
from .folds import FoldResult, fold_result
from .frontend import Embedder, FrontendSpec
from .protocol import OuterSplit
from .results import (
    build_record,
    devices_label,
    fold_weights_data,
    fold_weights_folder,
    network_identity,
    not_converged,
    result_path,
    reusable,
    write_result,
)
from .tasks import TASK_TYPES, TaskType
from .weight_packs import write_safetensors

log = logging.getLogger(__name__)



# -- classification ------------------------------------------------------------------------------
class Classifier(nn.Module):
    """The front-end (seeded random init) → its default feature layers pooled over time → standardised (batch norm
    without affine terms: the head's counterpart of the backends' StandardScaler, since front-ends' pooled features
    differ in scale by orders of magnitude, e.g. dB log-mel inputs) → dropout → linear."""

    def __init__(self, spec: FrontendSpec, width: str | int, n_classes: int, *, seed: int, dropout: float) -> None:
        super().__init__()
        self.embedder = Embedder(spec, width=width, weights="random", seed=seed)
        self.keep = [spec.feature_layers.index(layer) for layer in spec.defaults]
        dim = spec.dim(width, layers=spec.defaults)
        self.standardise = nn.BatchNorm1d(dim, affine=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, n_classes)
        generator = torch.Generator().manual_seed(seeded("head", seed))
        with torch.no_grad():
            nn.init.xavier_uniform_(self.head.weight, generator=generator)
            self.head.bias.zero_()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        pooled = self.embedder.pooled_layers(wave)
        return self.head(self.dropout(self.standardise(torch.cat([pooled[i] for i in self.keep], dim=1))))


@dataclass(frozen=True)
class Windows:
    """Fixed-length windows of every clip (all rows of ``waves`` have one length): training crops start at one of
    ``crop_starts`` (a 10-ms grid, the last aligned to the clip's end) where ``crop_loud`` holds; a clip is predicted
    from the windows at ``starts`` (hop ``hop`` samples, the last aligned to the end) where ``loud`` holds, their
    logits averaged. A window is loud when its RMS is at least ``floor`` (full scale 1); a clip with no loud window
    keeps them all."""

    length: int
    hop: int
    floor: float
    crop_starts: np.ndarray  # (P,)
    crop_loud: np.ndarray  # (n_clips, P) bool
    starts: np.ndarray  # (W,)
    loud: np.ndarray  # (n_clips, W) bool
    silent_crop_fraction: float  # of the grid's crops over all clips, before a silent clip's fallback
    silent_clips: int  # clips with no loud crop or no loud prediction window (QUIET_RULE chooses their windows)

    def describe(self, sample_rate: int) -> dict:
        return {"window_samples": self.length, "window_seconds": self.length / sample_rate, "hop_samples": self.hop,
                "hop_seconds": self.hop / sample_rate, "windows_per_clip": len(self.starts),
                "silence_floor_rms": self.floor, "silent_crop_fraction": self.silent_crop_fraction,
                "clips_silent_throughout": self.silent_clips}


def window_starts(n: int, window: int, hop: int) -> np.ndarray:
    """``0, hop, 2·hop, …`` while the window fits, plus one window aligned to the end if the grid misses it."""
    starts = np.arange(0, n - window + 1, max(hop, 1))
    return starts if starts[-1] == n - window else np.append(starts, n - window)


def loud_windows(waves: torch.Tensor, starts: np.ndarray, window: int, floor: float | np.ndarray,
                 chunk: int = 64) -> np.ndarray:
    """``(n_clips, len(starts))``: whether each window's RMS is ≥ ``floor`` (one for all clips, or one per clip)."""
    out = np.empty((len(waves), len(starts)), bool)
    floors = np.broadcast_to(np.asarray(floor, float), (len(waves),))[:, None]
    for i in range(0, len(waves), chunk):
        x = waves[i:i + chunk].double().numpy()
        energy = np.concatenate([np.zeros((len(x), 1)), np.cumsum(x * x, axis=1)], axis=1)
        out[i:i + chunk] = energy[:, starts + window] - energy[:, starts] >= floors[i:i + chunk] ** 2 * window
    return out


def make_windows(waves: torch.Tensor, window: int | None, sample_rate: int, *, hop_fraction: float = WINDOW_HOP,
                 silence_dbfs: float = SILENCE_DBFS, skipped: Collection[int] = ()) -> Windows | None:
    """The windows of ``window`` samples over clips ``waves`` (None when there is no window or it covers the clip);
    the rows ``skipped`` (clips that failed to decode: zeros) are left out of the silence figures."""
    if window is None or window >= waves.shape[1]:
        return None
    floor = 10 ** (silence_dbfs / 20)
    hop = max(1, round(hop_fraction * window))
    crop_starts = window_starts(waves.shape[1], window, max(1, round(CROP_GRID_SECONDS * sample_rate)))
    starts = window_starts(waves.shape[1], window, hop)
    crop_loud, loud = loud_windows(waves, crop_starts, window, floor), loud_windows(waves, starts, window, floor)
    counted = np.ones(len(waves), bool)
    counted[list(skipped)] = False
    # quiet: no loud crop, or no loud prediction window (grids differ): its windows follow QUIET_RULE below
    silent = (~crop_loud.any(1) | ~loud.any(1)) & counted
    fraction = 1 - float(crop_loud[counted].mean()) if counted.any() else 0.0
    for allowed, at in ((crop_loud, crop_starts), (loud, starts)):  # a clip quiet throughout: its windows with sound,
        quiet = ~allowed.any(1)  # never its digital silence (zero padding, dropouts), for training and prediction
        if quiet.any():
            rows = waves[torch.from_numpy(quiet)]
            allowed[quiet] = loud_windows(rows, at, window, SILENT_CROP * rows.abs().amax(1).double().numpy())
            allowed[~allowed.any(1)] = True  # all zeros (a clip that failed to decode): nothing to prefer
    return Windows(window, hop, floor, crop_starts, crop_loud, starts, loud, fraction, int(silent.sum()))


def random_crops(waves: torch.Tensor, crop: int | None, allowed: list[np.ndarray] | None = None) -> torch.Tensor:
    """A random window of ``crop`` samples from each row (the global generator, seeded per epoch by :func:`fit`):
    anywhere, or starting at one of the row's ``allowed`` sample offsets."""
    if crop is None or crop >= waves.shape[1]:
        return waves
    if allowed is None:
        starts = torch.randint(0, waves.shape[1] - crop + 1, (len(waves),)).tolist()
    else:
        counts = torch.tensor([len(a) for a in allowed], dtype=torch.float64)
        picks = torch.minimum((torch.rand(len(allowed), dtype=torch.float64) * counts).long(), counts.long() - 1)
        starts = [int(a[k]) for a, k in zip(allowed, picks.tolist())]
    return torch.stack([w[s:s + crop] for w, s in zip(waves, starts)])


def classification(model: Classifier, waves: torch.Tensor, labels: torch.Tensor, device: torch.device,
                   batch_size: int, crop: int | None = None, *, task: TaskType = TASK_TYPES["multiclass"],
                   windows: Windows | None = None, precise_bn: bool = False) -> Objective:
    """The task type's head loss (cross-entropy; multilabel: binary cross-entropy per tag) on (optionally cropped)
    training clips; validation on whole clips, or with ``windows`` on the mean logits of a clip's loud windows
    (score: the type's :meth:`~rwbench.tasks.TaskType.head_score`). With ``windows``, training crops are its loud
    crops. ``precise_bn``: the batch norms' statistics recomputed (:func:`recalibrate_batch_norm`) before each
    validation and at the end of a refit."""
    loss_fn = task.head_loss()
    targets = task.head_targets(labels)
    if windows is not None:
        crop = windows.length

    def loss(m: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        allowed = None if windows is None else [windows.crop_starts[windows.crop_loud[i]] for i in idx.tolist()]
        with autocast(device):
            logits = m(random_crops(waves[idx], crop, allowed).to(device, non_blocking=True))
        return loss_fn(logits.float(), targets[idx].to(device))

    def validate(m: nn.Module, idx: np.ndarray) -> tuple[float, float]:
        logits = predict_logits(m, waves, idx, device, batch_size, windows)
        truth = targets[idx]
        return float(loss_fn(logits, truth)), task.head_score(logits.numpy(), truth.numpy())

    def calibrate(m: nn.Module, idx: np.ndarray) -> None:
        assert isinstance(m, Classifier)
        recalibrate_batch_norm(m, waves, idx, device, batch_size, windows)

    return Objective(loss, validate, calibrate if precise_bn else None)


PRECISE_BN_RULE = ("precise BN: before each epoch's validation, the batch norms' statistics are recomputed over the fit "
                   "part for that epoch's weights (the front-end's averaged over batches, the head's standardisation "
                   "exact), as the refit model's are over the whole training side after its last epoch; early stopping "
                   "and the plateau schedule read validation losses of the network as it will be scored")
QUIET_RULE = "windows with sound (RMS above 80 dB below the clip's peak), never digital silence"
MIN_NORM_UPDATES = 50  # below it a batch norm's running statistics (momentum 0.1) still hold 0.9**n of their start


@torch.no_grad()
def recalibrate_batch_norm(model: Classifier, waves: torch.Tensor, idx: np.ndarray, device: torch.device,
                           batch_size: int, windows: Windows | None = None) -> None:
    """The batch norms' running statistics recomputed over clips ``idx``, read as they are scored (whole clips, or
    their loud windows): after few optimiser steps they still sit near their start (mean 0, variance 1) while pooled
    log-mel features sit near 36 ± 4, and a head scored with them predicts one class. The front-end's norms take the
    average over batches of near-equal size (as ``torch.optim.swa_utils.update_bn``); the head's standardisation then
    takes the exact mean and variance of its input over the clips."""
    recompute_batch_norms(model, lambda: predict_logits(model, waves, idx, device, batch_size, windows, calibrate=True))
    seen: list[torch.Tensor] = []
    hook = model.standardise.register_forward_pre_hook(lambda module, args: seen.append(args[0].double()))
    try:
        predict_logits(model, waves, idx, device, batch_size, windows)
    finally:
        hook.remove()
    features, head = torch.cat(seen), model.standardise
    assert head.running_mean is not None and head.running_var is not None  # track_running_stats, the default
    head.running_mean.copy_(features.mean(0))
    head.running_var.copy_(features.var(0))


@torch.no_grad()
def predict_logits(model: nn.Module, waves: torch.Tensor, idx: np.ndarray, device: torch.device,
                   batch_size: int, windows: Windows | None = None, *, calibrate: bool = False) -> torch.Tensor:
    """Logits of clips ``idx``: of the whole clip, or with ``windows`` the mean over the clip's loud windows.
    ``calibrate``: batch norms in training mode (they accumulate their statistics), everything else in eval mode."""
    model.eval()
    if calibrate:
        for norm in (m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
            norm.train()
    out = []
    parts = (np.array_split(np.asarray(idx), -(-len(idx) // batch_size)) if calibrate else  # near-equal sizes, none of 1
             batches(np.asarray(idx), batch_size))
    for part in parts:
        clips = waves[torch.from_numpy(part)]
        if windows is None:
            with autocast(device):
                out.append(model(clips.to(device)).float().cpu())
            continue
        loud = torch.from_numpy(windows.loud[part])  # (clips, W)
        rows, cols = loud.nonzero(as_tuple=True)
        starts = torch.from_numpy(windows.starts)[cols]
        # each chunk's windows cut as it runs (all of a batch's at once took batch × windows × length: 86 GB at a
        # hop of a few samples); calibrating: chunks of near-equal size, none of one window alone
        chunks: list[torch.Tensor] = []
        for chunk in (np.array_split(np.arange(len(rows)), -(-len(rows) // batch_size)) if calibrate else
                      batches(np.arange(len(rows)), batch_size)):
            offsets = starts[chunk, None] + torch.arange(windows.length)
            with autocast(device):
                chunks.append(model(clips[rows[chunk, None], offsets].to(device)).float().cpu())
        logits = torch.cat(chunks)
        summed = torch.zeros(len(part), logits.shape[1]).index_add_(0, rows, logits)
        out.append(summed / loud.sum(1, keepdim=True))
    model.eval()
    return torch.cat(out)


@dataclass(frozen=True)
class Setting:
    """One point of the head recipe's grid: a learning rate and the dropout before the linear head."""

    lr: float
    dropout: float

    @property
    def name(self) -> str:
        return f"lr{self.lr:g}_dropout{self.dropout:g}"

    def __str__(self) -> str:
        return f"lr {self.lr:g} dropout {self.dropout:g}"


def setting_grid(opts: TrainOptions) -> tuple[Setting, ...]:
    """Every (learning rate, dropout) pair of ``--lrs`` × ``--dropouts``, in that order."""
    grid = tuple(Setting(lr, dropout) for lr in opts.lrs for dropout in opts.dropouts)
    names = [setting.name for setting in grid]
    if len(set(names)) != len(names):  # one name, one inner run: a second setting would reuse the first's
        raise RwbenchError(f"learning rates {list(opts.lrs)} × dropouts {list(opts.dropouts)} give settings of one "
                           f"name ({', '.join(sorted({n for n in names if names.count(n) > 1}))}): give values that "
                           "differ within 6 significant digits")
    return grid


def _inner_runs(spec: FrontendSpec, dataset: Dataset, split: OuterSplit, waves: torch.Tensor, labels: torch.Tensor,
                seed: int, folder: Path, key: str, opts: TrainOptions, device: torch.device, windows: Windows | None,
                settings: tuple[Setting, ...]) -> dict[str, dict]:
    """One early-stopped run per setting on ``split``'s first inner pair (fit part; validation part), from the
    seeded initialisation; each resumable from ``<fold>.<setting>.ckpt`` (kept until the fold finishes), their
    histories kept in ``<fold>.select.json``."""
    path = folder / f"{split.name}.select.json"
    saved = (read_record(path, "its inner runs are trained again") if path.is_file() else None) or {}
    runs = saved.get("runs", {}) if saved.get("train_key") == key else {}
    fit_idx, val_idx = split.inner[0]
    for setting in settings:
        if setting.name in runs:
            continue
        model = Classifier(spec, opts.width, len(dataset.classes), seed=seed, dropout=setting.dropout).to(device)
        objective = classification(model, waves, labels, device, opts.batch_size, task=dataset.kind,
                                   windows=windows, precise_bn=opts.precise_bn)
        history = fit(model, objective, fit_idx, val_idx, seed=seed, fold=split.name, opts=opts, lr=setting.lr,
                      checkpoint=folder / f"{split.name}.{setting.name}.ckpt", key=key,
                      desc=f"train {spec.name} on {dataset.key} {split.name} seed {seed} {setting}")
        best = history["best_epoch"]
        runs[setting.name] = {"lr": setting.lr, "dropout": setting.dropout, **history,
                              "best_val_score": history["history"][best - 1]["val_score"],
                              "not_converged": not_converged(best, opts.epochs, opts.patience)}
        write_json(path, {"train_key": key, "fold": split.name, "runs": runs})
    return runs


def fold_seconds(epochs: list[dict], wall: float, test: float) -> float:
    """A fold's training cost: the seconds of every epoch it trained (its inner runs on this split and the refit, each
    timed when it ran, so a fold resumed in a later process still counts the epochs of the earlier one) plus the test
    prediction; this process's ``wall`` time where an epoch predates epoch timing (a checkpoint of an older rwbench),
    or when it is longer (decoding, set-up)."""
    if any("seconds" not in h for h in epochs):
        return wall
    return max(sum(h["seconds"] for h in epochs) + test, wall)


def choose(runs: dict[str, dict], settings: tuple[Setting, ...]) -> Setting:
    """The setting whose run reached the lowest validation loss (the first of ``settings`` on a tie)."""
    return min(settings, key=lambda setting: runs[setting.name]["best_val_loss"])


def refit_repeats_selection(split: OuterSplit) -> bool:
    """Whether the training side is the first inner fit part (a fixed split refit on train alone, GTZAN's default):
    a refit would replay the selected run — the same clips in the same order, seeds and rates — to the same weights,
    so that run's model is scored (tests/test_train.py trains both ways)."""
    return bool(np.array_equal(split.train, split.inner[0][0]))


def _train_fold(spec: FrontendSpec, dataset: Dataset, split: OuterSplit, waves: torch.Tensor, labels: torch.Tensor,
                seed: int, folder: Path, key: str, opts: TrainOptions, device: torch.device,
                windows: Windows | None = None,
                setting_for: Callable[[OuterSplit], tuple[Setting, str]] | None = None) -> FoldResult:
    done = finished_fold(folder, split.name, key, opts.force)
    if done is not None:
        return FoldResult.from_dict(done["result"])
    start = time.perf_counter()
    fit_idx, val_idx = split.inner[0]
    task = dataset.kind
    desc = f"train {spec.name} on {dataset.key} {split.name} seed {seed}"
    if setting_for is None:
        grid = setting_grid(opts)
        searched = _inner_runs(spec, dataset, split, waves, labels, seed, folder, key, opts, device, windows, grid)
        setting, chosen_on = choose(searched, grid), split.name
    else:
        (setting, chosen_on), searched = setting_for(split), {}
        if chosen_on != split.name:  # another split's search (perhaps run just now) is that split's cost, not this one's
            start = time.perf_counter()
    runs = _inner_runs(spec, dataset, split, waves, labels, seed, folder, key, opts, device, windows, (setting,))
    selected = runs[setting.name]
    history = {k: selected[k] for k in ("epochs_run", "best_epoch", "best_val_loss", "history")}
    if selected["not_converged"]:
        warn_not_converged(desc, selected["best_epoch"], opts.epochs, opts.patience)

    epochs = [h for run in {**searched, **runs}.values() for h in run["history"]]  # this split's inner runs
    recalibrated: dict[str, int] = {}  # model → its optimiser steps, where its batch norms were computed exactly

    def trained_model(train: np.ndarray, holdout: np.ndarray | None, schedule: list[float] | None,
                      checkpoint: Path, what: str) -> Classifier:
        net = Classifier(spec, opts.width, len(dataset.classes), seed=seed, dropout=setting.dropout).to(device)
        objective = classification(net, waves, labels, device, opts.batch_size, task=task, windows=windows,
                                   precise_bn=opts.precise_bn)
        # a refit's checkpoint is bound to the setting and schedule it replays: one left by a run that chose otherwise
        # (a --force search that did not repeat itself) is discarded, never resumed under this setting's name
        run_key = key if schedule is None else content_key({"train_key": key, "setting": setting.name,
                                                            "schedule": schedule})
        fitted = fit(net, objective, train, holdout, seed=seed, fold=split.name, opts=opts, lr=setting.lr,
                     checkpoint=checkpoint, key=run_key, desc=f"{desc} {what}", schedule=schedule)
        if schedule is not None:
            epochs.extend(fitted["history"])
        updates = (len(schedule) if schedule is not None else selected["best_epoch"]) * -(-len(train) // opts.batch_size)
        # the scored model's batch norms still near their start (precise BN computed them already): computed exactly
        if updates < MIN_NORM_UPDATES and not opts.precise_bn:
            recalibrate_batch_norm(net, waves, train, device, opts.batch_size, windows)
            recalibrated[what] = updates
            log.warning("%s %s: %d optimiser steps leave its batch norms' running statistics near their start; "
                        "they are computed exactly over its %d training clips", desc, what, updates, len(train))
        return net

    # the fit-part model (chosen setting, best validation epoch): resumed from its finished checkpoint
    fit_model = lambda: trained_model(fit_idx, val_idx, None,  # noqa: E731
                                      folder / f"{split.name}.{setting.name}.ckpt", str(setting))
    repeats = opts.refit == "full" and refit_repeats_selection(split)
    if opts.refit == "full" and not repeats:  # from the seeded init on the whole training side, its epochs and rates
        schedule = [h["train_lr"] for h in selected["history"][:selected["best_epoch"]]]
        model = trained_model(split.train, None, schedule, folder / f"{split.name}.ckpt", "refit")
        train_idx = split.train
    else:
        model, train_idx = fit_model(), fit_idx
    training = {"lr": setting.lr, "dropout": setting.dropout, "chosen_on": chosen_on,
                "selection": {name: {k: r[k] for k in ("lr", "dropout", "best_epoch", "epochs_run", "best_val_loss",
                                                   "best_val_score", "not_converged")} for name, r in runs.items()},
                "best_epoch": selected["best_epoch"], "epochs_run": selected["epochs_run"], "epoch_cap": opts.epochs,
                "best_val_loss": selected["best_val_loss"], "best_val_score": selected["best_val_score"],
                "not_converged": selected["not_converged"], "refit": opts.refit,
                "refit_epochs": selected["best_epoch"] if opts.refit == "full" else None,
                **({"refit_repeats_selection": True} if repeats else {}),
                "train_clips": len(train_idx), "fit_clips": len(fit_idx), "validation_clips": len(val_idx),
                **where_it_ran(epochs, device)}
    test_start = time.perf_counter()
    logits = predict_logits(model, waves, split.test, device, opts.batch_size, windows).numpy()
    test_seconds = time.perf_counter() - test_start
    truth, n_classes = labels[split.test].numpy(), len(dataset.classes)
    common = dict(name=split.name, n_train=len(train_idx), clips=split.test, truth=truth, n_classes=n_classes,
                  best_params={"epoch": history["best_epoch"], "epochs_run": history["epochs_run"], "lr": setting.lr,
                               "dropout": setting.dropout},
                  selection_score=history["history"][history["best_epoch"] - 1]["val_score"])
    threshold = None
    if task.thresholded:  # chosen on the validation part, as the backends do; the refit model has seen that part
        chooser = model if opts.refit == "fit-part" else fit_model()
        val_logits = predict_logits(chooser, waves, val_idx, device, opts.batch_size, windows).numpy()
        val_scores = task.head_outputs(val_logits).scores
        if val_scores is None:
            raise RwbenchError(f"task type {task.name}: its trained head gives no scores to choose a threshold on")
        unseen = np.zeros(val_scores.shape, bool)
        unseen[:, task.untrained(labels[fit_idx].numpy())] = True
        threshold = task.threshold(labels[val_idx].numpy(), val_scores, unseen)
    result = fold_result(task, **common, outputs=task.head_outputs(logits), threshold=threshold,
                         fit_seconds=fold_seconds(epochs, time.perf_counter() - start, test_seconds),
                         train_truth=labels[train_idx].numpy())
    log.info("%s: test %s %.3f (%s, %s epoch(s) on %d clips; this fold %.0f s)", desc, task.primary,
             result.metrics[task.primary], setting, training["refit_epochs"] or history["best_epoch"], len(train_idx),
             result.fit_seconds)
    if recalibrated:
        training["batch_norm_recalibrated"] = recalibrated
    weights_path = folder / f"{split.name}.safetensors"
    sha256 = write_safetensors(weights_path, model.embedder.net.state_dict(),
                               {"frontend": spec.name, "tag": "trained", "fold": split.name, "seed": seed, "key": key})
    write_json(folder / f"{split.name}.json", {"train_key": key, "result": result.to_dict(), "weights": weights_path.name,
                              "weights_sha256": sha256, "data": fold_weights_data(dataset),
                              "network": network_identity(spec), "validation_clips": len(val_idx),
                              "test_seconds_per_clip": test_seconds / max(len(split.test), 1), **history,
                              "training": training})
    for checkpoint in folder.glob(f"{split.name}.*ckpt"):  # the refit's and every setting's
        checkpoint.unlink(missing_ok=True)
    return result


def select_folds(splits: list[OuterSplit], names: tuple[str, ...] | None, dataset: str) -> list[OuterSplit]:
    """The outer splits named in ``names`` (all when None), in protocol order."""
    if names is None:
        return splits
    unknown = sorted(set(names) - {s.name for s in splits})
    if unknown:
        raise RwbenchError(f"--folds: {dataset} has no outer fold {', '.join(unknown)} "
                           f"(its folds: {', '.join(s.name for s in splits)})")
    return [s for s in splits if s.name in names]


def training_section(opts: TrainOptions, spec: FrontendSpec, task: TaskType, windows: Windows | None,
                     summaries: dict[str, dict], *, partial: bool, device: torch.device) -> dict:
    """The result's ``training`` section: every choice of the recipe, and per fold what was selected."""
    folds = {name: s.get("training", {}) for name, s in summaries.items()}
    if windows is None:
        data: dict[str, Any] = {"input": "whole clips (training, validation and test)", "augmentation": "none"}
    else:
        data = {"input": f"{windows.length / spec.sample_rate:g}-s windows: training on one random window per clip "
                         "and epoch, validation and test on the mean logits of the clip's windows",
                "augmentation": "random crop (time shift) among the non-silent windows on a 10-ms grid",
                "crop_seconds": opts.crop_seconds, "silence_dbfs": opts.silence_dbfs,
                "silence_rule": f"a window whose RMS is below {opts.silence_dbfs:g} dBFS (full scale 1) is neither "
                                "drawn for training nor averaged at prediction; a clip silent throughout keeps those "
                                "of its windows above 80 dB below its peak (never its digital silence)",
                "window_hop": opts.window_hop, **windows.describe(spec.sample_rate)}
    return {
        "recipe": {
            "refit": opts.refit,
            "refit_rule": ("from the seeded initialisation on the whole outer training side, for the selected run's "
                           "best epoch count at its per-epoch learning rates; scored as is (where the training "
                           "side is the fit part, that run's model: the refit would repeat it; "
                           "refit_repeats_selection)"
                           if opts.refit == "full" else
                           "the inner fit part's best-validation-epoch model is scored (no refit)"),
            "lrs": [float(lr) for lr in opts.lrs], "dropouts": [float(d) for d in opts.dropouts],
            "select_on": opts.select_on,
            "selection_rule": "every learning rate × dropout; the lowest best-epoch validation loss on the inner "
                           "validation part" + (" of the first outer split, reused on the others"
                                                if opts.select_on == "first-fold" else " of each outer split"),
            "epoch_cap": opts.epochs, "patience": opts.patience, "optimizer": "adam",
            "schedule": (f"{LR_SCHEDULES['plateau']} on the validation loss" if opts.lr_schedule == "plateau" else
                         LR_SCHEDULES[opts.lr_schedule]),
            "batch_size": opts.batch_size,
            "loss": type(task.head_loss()).__name__,
            # per fold: a training resumed on another device can mix them (a fold before this field: this run's)
            "precision": " + ".join(sorted({f.get("precision") or precision(device) for f in folds.values()})),
            "head_standardisation": "batch norm without affine terms, fitted on the training input length, "
                                    "which is the length it is applied to",
            "not_converged_rule": not_converged_rule(opts.patience),
            **({"precise_bn": True} if opts.precise_bn else {}),  # absent when off, as in the key and earlier rows
            "validation_rule": (PRECISE_BN_RULE if opts.precise_bn else
                                "each epoch's validation loss with the batch norms' running statistics as they stand "
                                f"(momentum 0.1): in the first {MIN_NORM_UPDATES} optimiser steps they lag the "
                                "weights, so an epoch that early reads worse than it is; a scored model trained that "
                                "briefly has them recomputed over its training clips (batch_norm_recalibrated)"),
            **data,
        },
        "folds": folds,
        "chosen": {name: {"lr": f.get("lr"), "dropout": f.get("dropout")} for name, f in folds.items()},
        "epochs_selected": {name: f.get("best_epoch") for name, f in folds.items()},
        "not_converged_folds": sum(bool(f.get("not_converged")) for f in folds.values()),
        "partial": partial,
        "folds_run": list(summaries),
    }


def crop_samples(spec: FrontendSpec, opts: TrainOptions) -> int | None:
    """Samples of a training crop (``--crop-seconds`` at the front-end's rate, at least its minimum input), or None
    when training reads whole clips."""
    return max(round(opts.crop_seconds * spec.sample_rate), spec.min_samples()) if opts.crop_seconds else None


def refuse_whole_clip_crop(spec: FrontendSpec, dataset: Dataset, opts: TrainOptions, crop: int, clip: int) -> None:
    """A ``--crop-seconds`` window as long as the clips (``clip`` samples) would be recorded as crops and trained on
    whole clips: refused (by the training and by its ``--dry-run`` alike)."""
    if crop >= clip:
        raise RwbenchError(f"--crop-seconds {opts.crop_seconds:g}: {crop} samples cover {spec.name}'s whole "
                           f"{dataset.key} clips ({clip} samples at {spec.sample_rate} Hz); leave it out to train on "
                           "whole clips, or give a shorter window")


def learnable(frontends: list[FrontendSpec]) -> list[FrontendSpec]:
    """The front-ends with weights to train (a warning names each left out); an error when none has."""
    kept = [spec for spec in frontends if spec.is_learnable()]
    for spec in frontends:
        if not spec.is_learnable():
            log.warning("%s has no weights to train (input kind 'none'); skipped", spec.name)
    if not kept:
        raise RwbenchError("none of the selected front-ends has weights to train")
    return kept


def training_key(dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions, protocol: dict,
                 failed: dict[int, str], quiet: bool = False) -> str:
    """Everything that determines a training's result: a result or finished fold under another key is redone. A
    search space's architecture names its filter counts too (its ``[widths]`` may be edited under the same id).
    ``quiet``: some clip has no window above the silence floor; its windows are then chosen by :data:`QUIET_RULE`
    (keyed only then: the keys of trainings on data without such clips stand)."""
    return content_key({"frontend": spec.name, "frontend_version": spec.version, "width": str(opts.width),
                        **({"frontend_code": code} if (code := spec.code_now) else {}),  # a plugin's edited network
                        **({"filters": spec.filters(opts.width)} if spec.widths_from_data else {}),
                        "seed": seed, "dataset": dataset.key, "fingerprint": dataset.fingerprint(),
                        "protocol": protocol, "settings": opts.head_settings(), "skipped": sorted(failed),
                        **({"quiet_clips": QUIET_RULE} if quiet else {}), **dataset.kind.code_key()})


def finished_record(dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions) -> dict | None:
    """The training's result file as written, None where there is none (or it cannot be read)."""
    path = trained_path(dataset, spec, seed, opts)
    try:
        return read_json(path) if path.is_file() else None
    except RwbenchError:
        return None


def planned_key(dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions, protocol: dict,
                record: dict | None = None) -> str:
    """The training key as it can be known before decoding: with ``skip_bad_audio``, the clips a finished training of
    it left out as unreadable (its result file's, ``record`` when read already) are taken as failing again (the dry
    run and the checks made before any training; the run itself keys the clips that fail now)."""
    record = record or finished_record(dataset, spec, seed, opts) or {}
    failed: dict[int, str] = {}
    if opts.skip_bad_audio:
        index = {clip.id: i for i, clip in enumerate(dataset.clips)}
        failed = {index[s["clip"]]: s.get("reason", "") for s in record.get("dataset", {}).get("skipped", [])
                  if isinstance(s, dict) and s.get("clip") in index}
    quiet = bool(((record.get("training") or {}).get("recipe") or {}).get("clips_silent_throughout"))
    return training_key(dataset, spec, seed, opts, protocol, failed, quiet)


def conflicts(dataset: Dataset, spec: FrontendSpec, opts: TrainOptions, splits: list[OuterSplit],
              protocol: dict) -> list[str]:
    """Why training ``spec`` on ``dataset`` would be refused, one line per seed: a result or fold records of another
    key that it would replace (unless ``force`` or ``replace``). Found before any training, by the run and its dry run."""
    if opts.force or opts.replace:
        return []
    chosen, out = select_folds(splits, opts.folds, dataset.key), []
    for seed in opts.seeds:
        record = finished_record(dataset, spec, seed, opts)
        # only a finished result's key is known before decoding (fold records of an interrupted run may hold
        # skipped or quiet clips: its own turn checks them); one made with --skip-bad-audio, rerun without the flag,
        # fails on decoding with that advice, not with --force's
        if record is None or (record.get("dataset", {}).get("skipped") and not opts.skip_bad_audio):
            continue
        key, path = planned_key(dataset, spec, seed, opts, protocol, record), trained_path(dataset, spec, seed, opts)
        folder = fold_weights_folder(opts.results_dir, "trained", dataset.key, spec.name, opts.width, seed)
        if not scored(path, key, chosen) and (others := other_trainings(folder, chosen, key, path)):
            out.append(f"{dataset.key} {spec.name} seed {seed}: trained under other settings, code or data "
                       f"({', '.join(others)})")
    return out


def trained_path(dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions) -> Path:
    """The result file of the trained head."""
    return result_path(opts.results_dir, dataset=dataset.key, frontend=spec.name, width=str(opts.width),
                       weights="trained", seed=seed, backend="head")


def scored(path: Path, key: str, folds: list[OuterSplit]) -> bool:
    """Whether ``path`` is a result of this training (the same run key) that scored every fold of ``folds``: it stands
    without the weights folder, which another machine, or a cleaned one, may lack."""
    try:
        record = read_json(path) if path.is_file() else {}
    except RwbenchError:
        return False
    done = {fold.get("name") for fold in record.get("folds", []) if isinstance(fold, dict)}
    return record.get("run_key") == key and {split.name for split in folds} <= done and reusable(path, record)


def trained_on(summaries: dict[str, dict], device: torch.device) -> str:
    """The device the folds were trained and timed on, as their records say (a fold reused from an earlier process
    may have run elsewhere; a fold before the field: this run's), ``mixed (…)`` when they differ: the result's
    ``device`` labels its times, which are never averaged across devices."""
    devices = [s.get("training", {}).get("device") or str(device) for s in summaries.values()]
    return devices[0] if len(set(devices)) == 1 else devices_label(devices)


def train_one(dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions, waves: np.ndarray,
              failed: dict[int, str], splits: list[OuterSplit], described: dict) -> Path:
    """Train and score ``spec`` on every outer split of ``dataset`` for one seed; write its result file."""
    if not spec.is_learnable():
        raise RwbenchError(f"front-end {spec.name!r} has no weights to train (input kind 'none')")
    device = resolve_device(opts.device)
    folder = fold_weights_folder(opts.results_dir, "trained", dataset.key, spec.name, opts.width, seed)
    kept = without_failed(splits, failed, len(dataset.clips))
    fingerprint = dataset.fingerprint()
    tensor, labels = torch.from_numpy(waves), torch.from_numpy(dataset.labels)
    crop = crop_samples(spec, opts)
    windows = make_windows(tensor, crop, spec.sample_rate, hop_fraction=opts.window_hop,
                           silence_dbfs=opts.silence_dbfs, skipped=list(failed))
    key = training_key(dataset, spec, seed, opts, described["protocol"], failed,
                       quiet=windows is not None and windows.silent_clips > 0)
    chosen = select_folds(kept, opts.folds, dataset.key)
    path = trained_path(dataset, spec, seed, opts)
    if not opts.force and scored(path, key, chosen):
        log.info("%s %s trained seed %d: up to date (%s); --force trains it again", dataset.key, spec.name, seed, path)
        return path
    if crop is not None and windows is None:  # recorded as crops, trained on whole clips: refused
        refuse_whole_clip_crop(spec, dataset, opts, crop, tensor.shape[1])
    grid = setting_grid(opts)

    def setting_for(split: OuterSplit) -> tuple[Setting, str]:
        source = kept[0] if opts.select_on == "first-fold" and len(grid) > 1 else split
        runs = _inner_runs(spec, dataset, source, tensor, labels, seed, folder, key, opts, device, windows, grid)
        return choose(runs, grid), source.name

    with training_lock(folder, spec, dataset, seed):
        # (with ``replace``, files of another key are simply not reused: each is rewritten as its fold finishes)
        if not (opts.force or opts.replace) and (others := other_trainings(folder, chosen, key, path)):
            raise RwbenchError(f"{spec.name} on {dataset.key} (seed {seed}) was trained under other settings, code "
                               f"or data ({', '.join(others)}); this training would replace it. Pass --force "
                               "to train again (`rwbench search`: --retrain), or another --results")
        for split in chosen:
            _train_fold(spec, dataset, split, tensor, labels, seed, folder, key, opts, device, windows, setting_for)
        # every fold finished under this key, not only those asked for now (--folds): a result is never narrowed;
        # the folds just trained or checked are read, the others checked
        names = {split.name for split in chosen}
        summaries = {s.name: done for s in kept if (done := read_json(folder / f"{s.name}.json") if s.name in names
                                                    else finished_fold(folder, s.name, key, False)) is not None}
    folds = [FoldResult.from_dict(summary["result"]) for summary in summaries.values()]
    filters = spec.filters(opts.width)
    record = build_record(
        run_key=key,
        dataset={**described, "fingerprint": fingerprint,
                 "skipped": described["skipped"] + [{"clip": dataset.clips[i].id, "reason": r} for i, r in failed.items()]},
        frontend={"name": spec.name, "input_kind": spec.input_kind, "width": str(opts.width), "filters": filters,
                  "weights": "trained", "seed": seed, "init": spec.init, "pooling": "mean",
                  "layers": list(spec.defaults), "default_layers": True,
                  "feature_dim": spec.dim(opts.width, layers=spec.defaults), "params": spec.param_count(opts.width),
                  "network": network_identity(spec),
                  "source": spec.source, "weights_file": {n: str(folder / s["weights"]) for n, s in summaries.items()},
                  "weights_sha256": {n: s["weights_sha256"] for n, s in summaries.items()}, "segment": None},
        backend={"name": "head", "grid": opts.head_settings(), "grid_size": len(grid), "version": TRAIN_CODE_VERSION},
        seed=seed,
        device=trained_on(summaries, device),
        folds=folds,
        training=training_section(opts, spec, dataset.kind, windows, summaries, partial=len(summaries) < len(kept),
                                  device=device),
        timings={"embed_seconds_per_clip": float(np.mean([s["test_seconds_per_clip"] for s in summaries.values()]))},
    )
    write_result(path, record)
    metric = dataset.kind.primary
    log.info("%s %s trained seed %d: %s %.3f", dataset.key, spec.name, seed, metric, record.summary[f"{metric}_mean"])
    return path


def training_lock(folder: Path, spec: FrontendSpec, dataset: Dataset, seed: int):
    """One process trains a (front-end, dataset, width, seed) at a time: a second waits, then reuses the finished
    folds."""
    return exclusive(folder / ".train.lock", f"the training of {spec.name} on {dataset.key} (seed {seed})")


def forget_training(dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions, splits: list[OuterSplit]) -> None:
    """``--force``: remove the result and the chosen folds' files (weights, records, inner runs, checkpoints; the
    first fold's inner runs too where the others reuse its choice) that this training replaces — every seed's before
    any trains, so that a rerun without --force after an interruption resumes it (finding another seed's old files,
    it refused them, and --force started over)."""
    folder = fold_weights_folder(opts.results_dir, "trained", dataset.key, spec.name, opts.width, seed)
    chosen = select_folds(splits, opts.folds, dataset.key)
    sources = splits[:1] if opts.select_on == "first-fold" and len(setting_grid(opts)) > 1 else []
    with training_lock(folder, spec, dataset, seed):
        replaced = [trained_path(dataset, spec, seed, opts),
                    *(folder / f"{split.name}{ext}" for split in chosen for ext in (".json", ".safetensors"))]
        for name in {split.name for split in [*chosen, *sources]}:
            replaced += [folder / f"{name}.select.json", *folder.glob(f"{name}.*ckpt")]
        for stale in replaced:
            stale.unlink(missing_ok=True)


def train_all(datasets: list[Dataset], frontends: list[FrontendSpec], opts: TrainOptions) -> list[Path]:
    """Train every learnable front-end on every dataset for every seed (audio decoded once per sample rate)."""
    trainable = learnable(frontends)
    splits_of = {dataset.key: dataset.splits() for dataset in datasets}
    refused = []
    for dataset in datasets:  # what would stop a front-end stops the run before any decoding or training
        splits, protocol = splits_of[dataset.key], dataset.describe()["protocol"]
        select_folds(splits, opts.folds, dataset.key)  # a --folds name a task lacks: before any task trains
        for spec in trainable:
            job = EmbedJob(dataset, spec, opts.width)
            check_fits(job, opts.batch_size, opts.device, training=True)
            if (crop := crop_samples(spec, opts)) is not None:
                refuse_whole_clip_crop(spec, dataset, opts, crop, job.input_samples()[1])
            refused += conflicts(dataset, spec, opts, splits, protocol)
    if refused:
        names = ",".join(dict.fromkeys(line.split()[1] for line in refused))
        raise RwbenchError(f"{len(refused)} training(s) would replace one made under other settings, code or data: "
                           f"{'; '.join(refused)}. Nothing was trained. Pass --force to train them again (with "
                           f"--frontends {names} to leave the others as they are; `rwbench search`: --retrain), or "
                           "another --results")
    # every task's audio decoded (once per sample rate and length) before --force removes anything: an unreadable
    # clip met after the removals left the old results deleted and nothing trained in their place
    decoded: dict[tuple, tuple[np.ndarray, dict]] = {}
    for dataset in datasets:
        for spec in trainable:
            job = EmbedJob(dataset, spec, opts.width)
            if (shape := (dataset.key, spec.sample_rate, *job.input_samples(), spec.pad_to_min)) not in decoded:
                decoded[shape] = decode_clips(job, workers=opts.workers, skip_bad_audio=opts.skip_bad_audio)
    if opts.force:
        for dataset in datasets:
            for spec in trainable:
                for seed in opts.seeds:
                    forget_training(dataset, spec, seed, opts, splits_of[dataset.key])
    paths = []
    for dataset in datasets:
        splits, described = splits_of[dataset.key], dataset.describe()
        for spec in trainable:
            shape = (dataset.key, spec.sample_rate, *EmbedJob(dataset, spec, opts.width).input_samples(), spec.pad_to_min)
            for seed in opts.seeds:
                paths.append(train_one(dataset, spec, seed, opts, *decoded[shape], splits, described))
    warn_grid_edges(paths)  # a learning rate at an end of --lrs in most folds: the best may lie outside them
    return paths
