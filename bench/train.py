"""Fully trained baselines: a registered front-end plus a classifier head, trained end to end per outer split.

For each outer split of the dataset's protocol — the same folds, clips and crop/pad policy as the random-weight
rows — the front-end starts from its seeded random weights (the random twin), gets a head (the default feature layers
pooled over time as in the embed stage → standardised → dropout → linear), and is trained on the split's first inner *fit* part
with early stopping on that pair's *validation* part, both drawn from the training side only (predefined folds:
one training fold left out, so groups never straddle; a fixed split: train / valid). The best-validation epoch is
scored once on the outer test side. The test side never touches a choice. The loss is cross-entropy, or for a
multilabel task binary cross-entropy per tag (validation score: macro ROC-AUC; micro F1 at the threshold that is
best on the validation part).

With ``--crop-seconds S`` each training step sees a random S-second window of every clip (raised to the
front-end's minimum input; a cheaper epoch and a time-shift augmentation, as SampleCNN and Tax et al. train on
segments); validation and test always read the whole clip, pooled over time as the random rows are.

Optimisation: Adam (``--lr``, default 1e-3), the learning rate halved when the validation loss has not improved for
2 epochs (``ReduceLROnPlateau``), at most ``--epochs`` epochs, stopped after ``--patience`` epochs without a better
validation loss. bfloat16 autocast on CUDA; float32 and deterministic for a seed on CPU: the shuffling and the dropout
of epoch *e* are drawn from generators seeded with (seed, fold, e), so a run killed and resumed from its per-epoch
checkpoint ends with the same weights as one that never stopped.

Files, under ``<results>/weights/trained/<dataset>/<front-end>__<width>__seed<k>/``: ``<fold>.safetensors`` (the
front-end's trained weights, sha256 in the result), ``<fold>.json`` (history, best epoch, test scores),
``<fold>.ckpt`` while a fold is unfinished. The result is an ordinary result file with ``weights = trained`` and
``backend = head``; ``--weights trained`` embeds with each fold's weights (a transfer row).
"""

from __future__ import annotations

import copy
import logging
import pickle
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .cache import atomic_path, content_key, read_json, write_json
from .dataset import Dataset
from .embed import EmbedJob, _ClipAudio, _collate, check_fits, default_workers, resolve_device
from .errors import DataError, RwbenchError
from .evaluate import FoldResult, fold_dicts, keep_rows, summarise
from .frontend import Embedder, FrontendSpec
from .protocol import OuterSplit
from .results import ResultRecord, fold_weights_folder, provenance, result_path, write_result
from .tasks import choose_threshold, per_tag_roc_auc, task_type
from .weights import write_safetensors

log = logging.getLogger(__name__)

TRAIN_CODE_VERSION = 2  # bump when training changes: finished folds with an older key are retrained


@dataclass
class TrainOptions:
    width: str = "small"
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int = 30
    patience: int = 6
    lr: float = 1e-3
    batch_size: int = 32
    dropout: float = 0.5
    crop_seconds: float | None = None  # train on random windows of this length (None: whole clips); test: whole
    device: str = "auto"
    workers: int | None = None
    skip_bad_audio: bool = False
    results_dir: Path = Path("results")
    force: bool = False
    progress: bool = False

    def settings(self) -> dict:
        """What determines the trained weights besides the data, the front-end and the seed."""
        return {"epochs": self.epochs, "patience": self.patience, "lr": self.lr, "batch_size": self.batch_size,
                "dropout": self.dropout, "crop_seconds": self.crop_seconds, "optimizer": "adam",
                "schedule": "reduce_on_plateau(0.5, 2)", "train_code": TRAIN_CODE_VERSION}


# -- data --------------------------------------------------------------------------------------
def decode_clips(job: EmbedJob, *, workers: int | None, skip_bad_audio: bool) -> tuple[np.ndarray, dict[int, str]]:
    """Every clip of ``job.dataset`` at the front-end's rate, cropped/padded as the embed stage does:
    ``(n_clips, samples)`` float32 (a failed clip is zeros) and ``{clip index: error}``."""
    source = _ClipAudio(job)
    waves = np.zeros((len(source), source.network_samples), np.float32)
    failed: dict[int, str] = {}
    loader = DataLoader(source, batch_size=64, collate_fn=_collate,
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


def finished_fold(folder: Path, fold: str, key: str, force: bool) -> dict | None:
    """The summary of a fold already trained under ``key`` (its weights file present), or None."""
    summary = folder / f"{fold}.json"
    if force or not summary.is_file() or not (folder / f"{fold}.safetensors").is_file():
        return None
    done = read_json(summary)
    return done if done.get("train_key") == key else None


# -- the loop shared by every training objective -------------------------------------------------
@dataclass
class Objective:
    """What a training run minimises and reports: ``loss(model, batch_indices) -> tensor`` and
    ``validate(model, indices) -> (loss, score)`` (score: higher is better, for the log only)."""

    loss: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    validate: Callable[[nn.Module, np.ndarray], tuple[float, float]]


def _seeded(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def fit(model: nn.Module, objective: Objective, fit_idx: np.ndarray, val_idx: np.ndarray, *, seed: int, fold: str,
        opts: TrainOptions, lr: float, checkpoint: Path, key: str, desc: str) -> dict:
    """Train ``model`` in place with Adam and early stopping on the validation loss; resumable from
    ``checkpoint`` (written after every epoch, atomically; one made under another ``key`` is discarded). Leaves
    the best-validation weights in ``model`` and returns the history."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2)
    state = {"epoch": 0, "best_loss": float("inf"), "best_epoch": -1, "best": None, "bad": 0, "history": []}
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
    bar = tqdm(total=opts.epochs, initial=state["epoch"], desc=desc, unit="epoch", disable=not opts.progress,
               leave=False)
    while state["epoch"] < opts.epochs and state["bad"] < opts.patience:
        epoch = state["epoch"]
        model.train()
        torch.manual_seed(_seeded("dropout", seed, fold, epoch))
        order = fit_idx[torch.randperm(len(fit_idx), generator=torch.Generator().manual_seed(
            _seeded("shuffle", seed, fold, epoch))).numpy()]
        total = 0.0
        for batch in training_batches(order, opts.batch_size):
            loss = objective.loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        model.eval()
        val_loss, val_score = objective.validate(model, val_idx)
        if not np.isfinite(val_loss):
            raise RwbenchError(f"{desc}: the validation loss became {val_loss} at epoch {epoch + 1}; lower --lr")
        scheduler.step(val_loss)
        improved = val_loss < state["best_loss"]
        state.update(epoch=epoch + 1, bad=0 if improved else state["bad"] + 1)
        if improved:
            state.update(best_loss=val_loss, best_epoch=epoch + 1, best=copy.deepcopy(model.state_dict()))
        state["history"].append({"epoch": epoch + 1, "train_loss": total / len(order), "val_loss": val_loss,
                                 "val_score": val_score, "lr": optimizer.param_groups[0]["lr"]})
        with atomic_path(checkpoint) as tmp:
            torch.save({"key": key, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "state": state}, tmp)
        bar.update(1)
        bar.set_postfix(val_loss=f"{val_loss:.3f}", val=f"{val_score:.3f}")
    bar.close()
    model.load_state_dict(state["best"])
    return {"epochs_run": state["epoch"], "best_epoch": state["best_epoch"], "best_val_loss": state["best_loss"],
            "history": state["history"]}


def _load_checkpoint(path: Path, desc: str) -> dict | None:
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as err:
        log.warning("%s: %s is unreadable (%s); starting the fold again", desc, path, err)
        return None


def training_batches(order: np.ndarray, size: int) -> list[torch.Tensor]:
    """``order`` in batches of ``size``; a last batch of one joins the one before (batch norm cannot train on a
    single example)."""
    cuts = list(range(size, len(order), size))
    if cuts and len(order) - cuts[-1] == 1:
        cuts.pop()
    return [torch.from_numpy(part) for part in np.split(order, cuts)]


def batches(indices: np.ndarray, size: int):
    for start in range(0, len(indices), size):
        yield indices[start:start + size]


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA; a no-op context on CPU (float32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


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
        generator = torch.Generator().manual_seed(_seeded("head", seed))
        with torch.no_grad():
            nn.init.xavier_uniform_(self.head.weight, generator=generator)
            self.head.bias.zero_()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        pooled = self.embedder.pooled_layers(wave)
        return self.head(self.dropout(self.standardise(torch.cat([pooled[i] for i in self.keep], dim=1))))


def random_crops(waves: torch.Tensor, crop: int | None) -> torch.Tensor:
    """A random window of ``crop`` samples from each row (the global generator, seeded per epoch by :func:`fit`)."""
    if crop is None or crop >= waves.shape[1]:
        return waves
    starts = torch.randint(0, waves.shape[1] - crop + 1, (len(waves),))
    return torch.stack([w[s:s + crop] for w, s in zip(waves, starts.tolist())])


def classification(model: Classifier, waves: torch.Tensor, labels: torch.Tensor, device: torch.device,
                   batch_size: int, crop: int | None = None, *, multilabel: bool = False) -> Objective:
    """Cross-entropy on (optionally cropped) training clips, or per-tag binary cross-entropy on a multilabel task's
    indicator targets; validation on whole clips (score: accuracy, or macro ROC-AUC)."""
    loss_fn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    targets = labels.float() if multilabel else labels

    def loss(m: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        with autocast(device):
            logits = m(random_crops(waves[idx], crop).to(device, non_blocking=True))
        return loss_fn(logits.float(), targets[idx].to(device))

    def validate(m: nn.Module, idx: np.ndarray) -> tuple[float, float]:
        logits = predict_logits(m, waves, idx, device, batch_size)
        truth = targets[idx]
        if multilabel:
            auc = per_tag_roc_auc(truth.numpy(), logits.numpy())
            return float(loss_fn(logits, truth)), float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan")
        return float(loss_fn(logits, truth)), float((logits.argmax(1) == truth).float().mean())

    return Objective(loss, validate)


@torch.no_grad()
def predict_logits(model: nn.Module, waves: torch.Tensor, idx: np.ndarray, device: torch.device,
                   batch_size: int) -> torch.Tensor:
    model.eval()
    out = []
    for part in batches(np.asarray(idx), batch_size):
        with autocast(device):
            out.append(model(waves[torch.from_numpy(part)].to(device)).float().cpu())
    return torch.cat(out)


def _train_fold(spec: FrontendSpec, dataset: Dataset, split: OuterSplit, waves: torch.Tensor, labels: torch.Tensor,
                seed: int, folder: Path, key: str, opts: TrainOptions, device: torch.device) -> FoldResult:
    done = finished_fold(folder, split.name, key, opts.force)
    if done is not None:
        return FoldResult.from_dict(done["result"])
    start = time.perf_counter()
    fit_idx, val_idx = split.inner[0]
    model = Classifier(spec, opts.width, len(dataset.classes), seed=seed, dropout=opts.dropout).to(device)
    crop = None
    if opts.crop_seconds:
        crop = max(round(opts.crop_seconds * spec.sample_rate), spec.min_samples())
    task = task_type(dataset.task_type)
    objective = classification(model, waves, labels, device, opts.batch_size, crop, multilabel=task.multilabel)
    history = fit(model, objective, fit_idx, val_idx, seed=seed, fold=split.name, opts=opts, lr=opts.lr,
                  checkpoint=folder / f"{split.name}.ckpt", key=key,
                  desc=f"train {spec.name} on {dataset.key} {split.name} seed {seed}")
    test_start = time.perf_counter()
    logits = predict_logits(model, waves, split.test, device, opts.batch_size).numpy()
    test_seconds = time.perf_counter() - test_start
    truth, n_classes = labels[split.test].numpy(), len(dataset.classes)
    common = dict(name=split.name, n_train=len(fit_idx), n_test=len(split.test),
                  best_params={"epoch": history["best_epoch"], "epochs_run": history["epochs_run"]},
                  selection_score=history["history"][history["best_epoch"] - 1]["val_score"],
                  test_clips=[int(c) for c in split.test])
    if task.multilabel:  # micro F1 at the threshold that is best on the validation part, as the backends do
        threshold = choose_threshold(labels[val_idx].numpy(),
                                     predict_logits(model, waves, val_idx, device, opts.batch_size).numpy())
        scored = task.scores(truth, None, logits, n_classes, threshold)
        result = FoldResult(**common, metrics={m: scored.pop(m) for m in task.metrics}, details=scored,
                            fit_seconds=time.perf_counter() - start)
    else:
        predicted = logits.argmax(1)
        result = FoldResult(**common, metrics=task.scores(truth, predicted, None, n_classes),
                            fit_seconds=time.perf_counter() - start,
                            confusion=confusion_matrix(truth, predicted, labels=np.arange(n_classes)).tolist(),
                            truth=[int(t) for t in truth], predicted=[int(p) for p in predicted])
    weights_path = folder / f"{split.name}.safetensors"
    sha256 = write_safetensors(weights_path, model.embedder.net.state_dict(),
                               {"frontend": spec.name, "tag": "trained", "fold": split.name, "seed": seed, "key": key})
    write_json(folder / f"{split.name}.json", {"train_key": key, "result": result.to_dict(), "weights": weights_path.name,
                              "weights_sha256": sha256, "validation_clips": len(val_idx),
                              "test_seconds_per_clip": test_seconds / max(len(split.test), 1), **history})
    (folder / f"{split.name}.ckpt").unlink(missing_ok=True)
    return result


def train_one(dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions, waves: np.ndarray,
              failed: dict[int, str], splits: list[OuterSplit], described: dict) -> Path:
    """Train and score ``spec`` on every outer split of ``dataset`` for one seed; write its result file."""
    if not spec.is_learnable():
        raise RwbenchError(f"front-end {spec.name!r} has no weights to train (input kind 'none')")
    device = resolve_device(opts.device)
    folder = fold_weights_folder(opts.results_dir, "trained", dataset.key, spec.name, opts.width, seed)
    kept = without_failed(splits, failed, len(dataset.clips))
    fingerprint = dataset.fingerprint()
    key = content_key({"frontend": spec.name, "frontend_version": spec.version, "width": str(opts.width),
                       "seed": seed, "dataset": dataset.key, "fingerprint": fingerprint,
                       "protocol": described["protocol"], "settings": opts.settings(), "skipped": sorted(failed)})
    tensor, labels = torch.from_numpy(waves), torch.from_numpy(dataset.labels)
    folds = [_train_fold(spec, dataset, s, tensor, labels, seed, folder, key, opts, device) for s in kept]
    summaries = {s.name: read_json(folder / f"{s.name}.json") for s in kept}
    filters = spec.filters(opts.width)
    record = ResultRecord(
        **provenance(),
        run_key=key,
        dataset={**described, "fingerprint": fingerprint,
                 "skipped": described["skipped"] + [{"clip": dataset.clips[i].id, "reason": r} for i, r in failed.items()]},
        frontend={"name": spec.name, "input_kind": spec.input_kind, "width": str(opts.width), "filters": filters,
                  "weights": "trained", "seed": seed, "init": spec.init, "pooling": "mean",
                  "layers": list(spec.defaults), "default_layers": True,
                  "feature_dim": spec.dim(opts.width, layers=spec.defaults), "params": spec.param_count(opts.width),
                  "source": spec.source, "weights_files": {n: str(folder / s["weights"]) for n, s in summaries.items()},
                  "weights_sha256": {n: s["weights_sha256"] for n, s in summaries.items()}, "segment": None},
        backend={"name": "head", "grid": opts.settings(), "grid_size": 1, "version": TRAIN_CODE_VERSION},
        seed=seed,
        device=str(device),
        folds=tuple(fold_dicts(folds)),
        summary=summarise(folds),
        training={n: {k: s[k] for k in ("epochs_run", "best_epoch", "best_val_loss", "validation_clips")}
                  for n, s in summaries.items()},
        timings={"embed_seconds_per_clip": float(np.mean([s["test_seconds_per_clip"] for s in summaries.values()])),
                 "fit_seconds": sum(f.fit_seconds for f in folds)},
    )
    path = result_path(opts.results_dir, dataset=dataset.key, frontend=spec.name, width=str(opts.width),
                       weights="trained", seed=seed, backend="head")
    write_result(path, record)
    metric = task_type(dataset.task_type).primary
    log.info("%s %s trained seed %d: %s %.3f", dataset.key, spec.name, seed, metric, record.summary[f"{metric}_mean"])
    return path


def train_all(datasets: list[Dataset], frontends: list[FrontendSpec], opts: TrainOptions) -> list[Path]:
    """Train every learnable front-end on every dataset for every seed (audio decoded once per sample rate)."""
    learnable = [spec for spec in frontends if spec.is_learnable()]
    for spec in frontends:
        if not spec.is_learnable():
            log.warning("%s has no weights to train (input kind 'none'); skipped", spec.name)
    if not learnable:
        raise RwbenchError("none of the selected front-ends has weights to train")
    for dataset in datasets:  # a width or batch that cannot fit fails before any decoding or training
        for spec in learnable:
            check_fits(EmbedJob(dataset, spec, opts.width), opts.batch_size, opts.device, training=True)
    paths = []
    for dataset in datasets:
        splits, described = dataset.splits(), dataset.describe()
        decoded: dict[tuple, tuple[np.ndarray, dict]] = {}
        for spec in learnable:
            job = EmbedJob(dataset, spec, opts.width)
            shape = (spec.sample_rate, *job.input_samples(), spec.pad_to_min)
            if shape not in decoded:
                decoded[shape] = decode_clips(job, workers=opts.workers, skip_bad_audio=opts.skip_bad_audio)
            for seed in opts.seeds:
                paths.append(train_one(dataset, spec, seed, opts, *decoded[shape], splits, described))
    return paths
