"""``rwbench train --dry-run``: what training would cost, before any of it runs.

Per front-end and dataset, one optimisation step (forward, backward, Adam) and one validation forward are timed on a
batch of noise clips of the length the trainer feeds (whole clips, or ``--crop-seconds`` crops), on the run's device,
and scaled to an epoch of the first outer split's inner fit part (with its validation pass) and of its whole training
side (a refit epoch). The recipe fixes how many runs there are — the selection's early-stopped runs (learning rates ×
dropouts) on the first split's fit part (or on every split's with ``--select-on every-fold``), one run per other split
at the chosen setting, and a refit per split — but not how many epochs each lasts: early stopping decides. So the
cost is a range:
every selection run stopped as early as patience allows (``patience + 1`` epochs) and refit for one epoch, up to
every run at the epoch cap. Beside the epochs, each scored split pays a test pass (and, for a thresholded task
type, a validation pass), a scored model of fewer than 50 optimiser steps two passes over its training clips
(its batch norms recomputed), and the dataset's audio is decoded once per sample rate and input length. Folds
already trained under the same settings (a resumed study) and a first split whose selection runs are stored are
not counted again. Measured epochs of finished folds narrow the range (``studies/*/README.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from .datamodel import Dataset
from .device import check_fits, resolve_device
from .embed_job import EmbedJob
from .fitting import TrainOptions, autocast, finished_fold, read_record
from .frontend import FrontendSpec
from .plan import decode_ms
from .profile import best_seconds
from .protocol import OuterSplit
from .results import fold_weights_folder
from .tasks import TaskType
from .train import (
    MIN_NORM_UPDATES,
    Classifier,
    conflicts,
    crop_samples,
    learnable,
    planned_key,
    refit_repeats_selection,
    refuse_whole_clip_crop,
    scored,
    select_folds,
    setting_grid,
    trained_path,
    window_starts,
)


@dataclass(frozen=True)
class TrainingCost:
    """One front-end on one dataset, per training seed: seconds per epoch (timed) and the recipe's run counts."""

    frontend: str
    dataset: str
    fit_epoch: float  # seconds: one epoch on the fit part, its validation pass included
    refit_epoch: float  # seconds: one epoch on the whole training side, no validation
    selection_runs: int  # early-stopped runs on inner fit parts (the selection's included)
    refits: int  # refits on the whole training side (one per outer split with --refit full)
    min_epochs: int  # a selection run's fewest epochs: patience + 1 (no better epoch after the first), ≤ the cap
    cap: int
    scored_splits: int = 0  # outer splits scored (a test pass each)
    split_extra: tuple[float, float] = (0.0, 0.0)  # seconds per scored split beyond its epochs: (fewest, most)
    decode: float = 0.0  # seconds decoding the dataset's audio, once for all the seeds
    seeds: int = 1  # the training seeds the run counts cover

    @property
    def bounds(self) -> tuple[float, float]:
        """(fewest, most) seconds: every selection run stopped at ``min_epochs`` and refit for one epoch, or every
        run at the cap; each scored split's passes beside its epochs, and the decoding."""
        low = (self.selection_runs * self.min_epochs * self.fit_epoch + self.refits * self.refit_epoch
               + self.scored_splits * self.split_extra[0] + self.decode)
        high = ((self.selection_runs * self.fit_epoch + self.refits * self.refit_epoch) * self.cap
                + self.scored_splits * self.split_extra[1] + self.decode)
        return low, high


def run_counts(n_splits: int, n_settings: int, opts: TrainOptions, first_included: bool = True,
               first_stored: int = 0, repeated: int = 0) -> tuple[int, int]:
    """(selection runs, refits) for one seed over ``n_splits`` outer splits still to train, as
    :func:`rwbench.train.train_one` runs them: choosing on the first fold, ``n_settings`` runs (learning rates ×
    dropouts) on the first split (one of them is its selected run) and one run per other split; choosing on every
    fold, ``n_settings`` runs on each. ``first_included`` False (``--folds`` without the first split, or the first
    split trained already): the first split's ``n_settings`` runs come on top, less the ``first_stored`` runs its
    search already holds (a resumed study). ``repeated``: splits whose training side is their fit part (no refit: it
    would repeat the selected run)."""
    refits = n_splits - repeated if opts.refit == "full" else 0
    if opts.select_on == "every-fold" or n_settings == 1:  # each split's own runs
        return n_splits * n_settings, refits
    search = n_settings - first_stored
    return search + n_splits - first_included, refits


def train_step_seconds(model: Classifier, clips: torch.Tensor, targets: torch.Tensor, task: TaskType,
                       device: torch.device) -> float:
    """Seconds of one training step (forward, the task type's head loss, backward, Adam) on ``clips``, best of 2
    after a warm-up. The weights change as they would in training, which does not change the time."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = task.head_loss()

    def step() -> None:
        with autocast(device):
            logits = model(clips)
        loss = loss_fn(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    return best_seconds(step, device, repeats=2, warmup=1)


@torch.no_grad()
def forward_seconds(model: Classifier, clips: torch.Tensor, device: torch.device) -> float:
    """Seconds of one validation forward (eval mode) on ``clips``, best of 2 after a warm-up."""

    def forward() -> None:
        with autocast(device):
            model(clips)

    model.eval()
    return best_seconds(forward, device, repeats=2, warmup=1)


def training_cost(dataset: Dataset, spec: FrontendSpec, opts: TrainOptions) -> TrainingCost:
    """The training cost of ``spec`` on ``dataset`` per seed (see the module docstring)."""
    every = dataset.splits()
    splits = select_folds(every, opts.folds, dataset.key)
    fit_idx, val_idx = splits[0].inner[0]
    device = resolve_device(opts.device)
    clip = EmbedJob(dataset, spec, opts.width).input_samples()[1]
    crop = crop_samples(spec, opts)
    if crop is None:
        crop = clip
    else:
        refuse_whole_clip_crop(spec, dataset, opts, crop, clip)  # as the training would, before pricing it
    batch = fit_idx[:opts.batch_size]  # the dataset's own labels, as the task type's loss takes them
    targets = dataset.kind.head_targets(torch.from_numpy(dataset.labels[batch])).to(device)
    noise = torch.randn(len(batch), clip, generator=torch.Generator().manual_seed(0)).to(device)
    model = Classifier(spec, opts.width, len(dataset.classes), seed=0, dropout=max(opts.dropouts)).to(device)
    per_clip_train = train_step_seconds(model, noise[:, :crop], targets, dataset.kind, device) / len(batch)
    # validation: the whole clip, or with crops the mean logits of its windows (that many forwards of a crop)
    windows = len(window_starts(clip, crop, max(1, round(opts.window_hop * crop)))) if crop < clip else 1
    per_clip_forward = windows * forward_seconds(model, noise[:, :crop], device) / len(batch)
    # an epoch on the fit part and its validation pass (with --precise-bn, the two passes that recompute the statistics)
    fit_epoch = (len(fit_idx) * per_clip_train + len(val_idx) * per_clip_forward
                 + (2 * len(fit_idx) * per_clip_forward if opts.precise_bn else 0.0))
    refit_epoch = len(splits[0].train) * per_clip_train
    selection, refits = run_counts(len(splits), len(setting_grid(opts)), opts, every[0].name in {s.name for s in splits},
                                   repeated=sum(map(refit_repeats_selection, splits)))
    min_epochs = min(opts.patience + 1, opts.epochs)
    # the scored model: the refit on the whole training side (1 … cap epochs), or the fit part's best epoch
    scored_clips = len(splits[0].train) if opts.refit == "full" else len(fit_idx)

    def recalibration(epochs: int, clips: int, refit: bool) -> float:  # two passes when its batch norms saw few steps
        if opts.precise_bn:  # at each validation (in fit_epoch) and after a refit
            return 2 * clips * per_clip_forward if refit else 0.0
        return 2 * clips * per_clip_forward if epochs * -(-clips // opts.batch_size) < MIN_NORM_UPDATES else 0.0

    def extra(epochs: int) -> float:
        refit = opts.refit == "full" and not refit_repeats_selection(splits[0])  # else the selected run's model
        seconds = len(splits[0].test) * per_clip_forward + recalibration(epochs, scored_clips, refit)
        if dataset.kind.thresholded:  # the threshold is chosen on the fit-part model's validation outputs
            seconds += len(val_idx) * per_clip_forward + (recalibration(epochs, len(fit_idx), False)
                                                         if opts.refit == "full" else 0.0)
        return seconds

    return TrainingCost(spec.name, dataset.key, fit_epoch, refit_epoch, selection, refits, min_epochs, opts.epochs,
                        scored_splits=len(splits), split_extra=(extra(1), max(extra(1), extra(opts.epochs))))


def decode_seconds(dataset: Dataset, spec: FrontendSpec, opts: TrainOptions) -> float:
    """Seconds to decode and resample every clip of ``dataset`` for ``spec`` (timed on a few clips)."""
    return len(dataset.clips) * decode_ms(dataset, spec.sample_rate) / 1e3 / (opts.workers or 1)


def left_to_train(dataset: Dataset, spec: FrontendSpec, seed: int, opts: TrainOptions, every: list[OuterSplit],
                  chosen: list[OuterSplit], key: str) -> tuple[int, int, int]:
    """(selection runs, refits, splits) one seed still needs: folds finished under ``key`` are reused by
    ``rwbench train`` (a resumed study), and so are the first split's stored selection runs."""
    folder = fold_weights_folder(opts.results_dir, "trained", dataset.key, spec.name, opts.width, seed)
    left = [s for s in chosen if finished_fold(folder, s.name, key, opts.force) is None]
    search = folder / f"{every[0].name}.select.json"  # the first split's selection runs, as _inner_runs keeps them
    stored = (read_record(search, "its inner runs would be trained again") if search.is_file() and not opts.force
              else None) or {}
    runs = set(stored.get("runs", {})) if stored.get("train_key") == key else set()
    selection, refits = run_counts(len(left), len(setting_grid(opts)), opts, every[0] in left,
                                   len(runs & {s.name for s in setting_grid(opts)}),
                                   repeated=sum(map(refit_repeats_selection, left)))
    return selection, refits, len(left)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else \
        f"{seconds:.0f} s"


def render(costs: list[TrainingCost], seeds: int | dict[tuple[str, str], int],
           done: Sequence[tuple[str, str, list[int]]] = (), refused: Sequence[str] = ()) -> str:
    """The dry run's table: per front-end and dataset, seconds per epoch and the range for ``seeds`` seeds (per
    (dataset, front-end) where some are already trained), then the ``done`` ones: (dataset, front-end, seeds), and
    the trainings the real run refuses without --force (``refused``: one line each)."""
    pending = seeds if isinstance(seeds, dict) else {(c.dataset, c.frontend): seeds for c in costs}
    counts = sorted({pending[(c.dataset, c.frontend)] * c.seeds for c in costs})
    lines = [f"training plan ({', '.join(map(str, counts)) or 0} seed(s) each still to train; epochs are decided "
             "by early stopping, so each cost is a range: every run stopped as early as patience allows … every run "
             "at the epoch cap):"]
    total = np.zeros(2)
    for cost in costs:
        low, high = (pending[(cost.dataset, cost.frontend)] * b for b in cost.bounds)
        total += (low, high)
        per = "per seed" if cost.seeds == 1 else f"for its {cost.seeds} seeds"
        extra = (f"; {cost.scored_splits} scored split(s) at {cost.split_extra[0]:.1f}–{cost.split_extra[1]:.1f} s of "
                 f"test and batch-norm passes, {cost.decode:.0f} s decoding" if cost.scored_splits else "")
        lines.append(f"  {cost.dataset} {cost.frontend}: {cost.fit_epoch:.1f} s per fit-part epoch (validation "
                     f"included), {cost.refit_epoch:.1f} s per refit epoch; {cost.selection_runs} early-stopped "
                     f"run(s) of {cost.min_epochs}–{cost.cap} epochs and {cost.refits} refit(s) of 1–{cost.cap} epochs "
                     f"{per}{extra} → {hours(low)} … {hours(high)}")
    for dataset, frontend, trained in done:
        lines.append(f"  {dataset} {frontend}: up to date, seed(s) {', '.join(map(str, trained))} (result files "
                     "written under these settings; --force trains them again)")
    lines += [f"  {line}" for line in refused]
    lines.append(f"total: {hours(total[0])} … {hours(total[1])} on this device, one training at a time")
    return "\n".join(lines) + "\n"


def trained_seeds(dataset: Dataset, spec: FrontendSpec, opts: TrainOptions, keys: dict[int, str],
                  splits: list[OuterSplit]) -> list[int]:
    """The seeds of ``keys`` (seed → training key) whose result file is written under these settings: up to date,
    as :func:`rwbench.train.train_one` finds them (none with ``force``)."""
    return [seed for seed, key in keys.items()
            if not opts.force and scored(trained_path(dataset, spec, seed, opts), key, splits)]


def plan_training(datasets: list[Dataset], frontends: list[FrontendSpec], opts: TrainOptions) -> str:
    """``rwbench train --dry-run``: the cost of every training still to do (a seed whose result file is written
    under the same settings is up to date, as :func:`rwbench.train.train_one` finds it; the dry run decodes no
    audio, so it takes every clip as readable)."""
    costs, pending, done, refused = [], {}, [], []
    for dataset in datasets:  # the run's memory check first: pricing a training that cannot fit would try it
        for spec in learnable(frontends):
            check_fits(EmbedJob(dataset, spec, opts.width), opts.batch_size, opts.device, training=True)
    for dataset in datasets:
        splits, protocol = dataset.splits(), dataset.describe()["protocol"]
        decoded: set[tuple] = set()  # ``rwbench train`` decodes once per sample rate and input length
        for spec in learnable(frontends):
            chosen = select_folds(splits, opts.folds, dataset.key)
            keys = {seed: planned_key(dataset, spec, seed, opts, protocol) for seed in opts.seeds}
            trained = trained_seeds(dataset, spec, opts, keys, chosen)
            if trained:
                done.append((dataset.key, spec.name, trained))
            todo = [seed for seed in opts.seeds if seed not in trained]
            refused += [f"{line}; the run refuses to replace it without --force"  # as rwbench.train.train_all does
                        for line in conflicts(dataset, spec, opts, splits, protocol)]
            if todo:
                cost = training_cost(dataset, spec, opts)
                left = np.sum([left_to_train(dataset, spec, seed, opts, splits, chosen, keys[seed]) for seed in todo],
                              axis=0)
                job = EmbedJob(dataset, spec, opts.width)
                shape = (spec.sample_rate, *job.input_samples(), spec.pad_to_min)
                decode = 0.0 if shape in decoded else decode_seconds(dataset, spec, opts)
                decoded.add(shape)
                costs.append(replace(cost, selection_runs=int(left[0]), refits=int(left[1]),
                                     scored_splits=int(left[2]), decode=decode, seeds=len(todo)))
                pending[(dataset.key, spec.name)] = 1  # the counts cover every seed still to train
    return render(costs, pending, done, refused)
