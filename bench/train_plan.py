"""``rwbench train --dry-run``: what training would cost, before any of it runs.

Per front-end and dataset, one optimisation step (forward, backward, Adam) and one validation forward are timed on a
batch of noise clips of the length the trainer feeds (whole clips, or ``--crop-seconds`` crops), on the run's device,
and scaled to an epoch of the first outer split's inner fit part (with its validation pass) and of its whole training
side (a refit epoch). The recipe fixes how many runs there are — the selection's early-stopped runs (learning rates ×
dropouts) on the first split's fit part (or on every split's with ``--select-on every-fold``), one run per other split
at the chosen setting, and a refit per split — but not how many epochs each lasts: early stopping decides. So the
cost is a range:
every selection run stopped as early as patience allows (``patience + 1`` epochs) and refit for one epoch, up to
every run at the epoch cap. Measured epochs of finished folds narrow it (``studies/*/README.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .datamodel import Dataset
from .device import resolve_device
from .embed_job import EmbedJob
from .fitting import TrainOptions, autocast
from .frontend import FrontendSpec
from .profile import best_seconds
from .tasks import TaskType
from .train import (
    Classifier,
    crop_samples,
    learnable,
    scored,
    select_folds,
    setting_grid,
    trained_path,
    training_key,
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

    @property
    def bounds(self) -> tuple[float, float]:
        """(fewest, most) seconds: every selection run stopped at ``min_epochs`` and refit for one epoch, or every
        run at the cap."""
        low = self.selection_runs * self.min_epochs * self.fit_epoch + self.refits * self.refit_epoch
        high = (self.selection_runs * self.fit_epoch + self.refits * self.refit_epoch) * self.cap
        return low, high


def run_counts(n_splits: int, n_settings: int, opts: TrainOptions, first_included: bool = True) -> tuple[int, int]:
    """(selection runs, refits) for one seed over ``n_splits`` outer splits, as :func:`rwbench.train.train_one`
    runs them: choosing on the first fold, ``n_settings`` runs (learning rates × dropouts) on the first split (one
    of them is its selected run) and one run per other split; choosing on every fold, ``n_settings`` runs on each.
    ``first_included`` False (``--folds`` without the first split): its ``n_settings`` runs come on top."""
    per_first = n_settings
    per_other = n_settings if opts.select_on == "every-fold" and n_settings > 1 else 1
    searched = per_first + (n_splits - 1) * per_other
    if not first_included and per_other != per_first:  # the first split's search as well as each chosen split's run
        searched += per_other
    return searched, n_splits if opts.refit == "full" else 0


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
    crop = min(crop_samples(spec, opts) or clip, clip)
    batch = fit_idx[:opts.batch_size]  # the dataset's own labels, as the task type's loss takes them
    targets = dataset.kind.head_targets(torch.from_numpy(dataset.labels[batch])).to(device)
    noise = torch.randn(len(batch), clip, generator=torch.Generator().manual_seed(0)).to(device)
    model = Classifier(spec, opts.width, len(dataset.classes), seed=0, dropout=max(opts.dropouts)).to(device)
    per_clip_train = train_step_seconds(model, noise[:, :crop], targets, dataset.kind, device) / len(batch)
    # validation: the whole clip, or with crops the mean logits of its windows (that many forwards of a crop)
    windows = len(window_starts(clip, crop, max(1, round(opts.window_hop * crop)))) if crop < clip else 1
    per_clip_forward = windows * forward_seconds(model, noise[:, :crop], device) / len(batch)
    fit_epoch = len(fit_idx) * per_clip_train + len(val_idx) * per_clip_forward
    refit_epoch = len(splits[0].train) * per_clip_train
    selection, refits = run_counts(len(splits), len(setting_grid(opts)), opts, every[0].name in {s.name for s in splits})
    return TrainingCost(spec.name, dataset.key, fit_epoch, refit_epoch, selection, refits,
                        min(opts.patience + 1, opts.epochs), opts.epochs)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else \
        f"{seconds:.0f} s"


def render(costs: list[TrainingCost], seeds: int | dict[tuple[str, str], int],
           done: Sequence[tuple[str, str, list[int]]] = ()) -> str:
    """The dry run's table: per front-end and dataset, seconds per epoch and the range for ``seeds`` seeds (per
    (dataset, front-end) where some are already trained), then the ``done`` ones: (dataset, front-end, seeds)."""
    pending = seeds if isinstance(seeds, dict) else {(c.dataset, c.frontend): seeds for c in costs}
    counts = sorted(set(pending.values()))
    lines = [f"training plan ({', '.join(map(str, counts)) or 0} seed(s) each still to train; epochs are decided "
             "by early stopping, so each cost is a range: every run stopped as early as patience allows … every run "
             "at the epoch cap):"]
    total = np.zeros(2)
    for cost in costs:
        low, high = (pending[(cost.dataset, cost.frontend)] * b for b in cost.bounds)
        total += (low, high)
        lines.append(f"  {cost.dataset} {cost.frontend}: {cost.fit_epoch:.1f} s per fit-part epoch (validation "
                     f"included), {cost.refit_epoch:.1f} s per refit epoch; {cost.selection_runs} early-stopped "
                     f"run(s) of {cost.min_epochs}–{cost.cap} epochs and {cost.refits} refit(s) of 1–{cost.cap} epochs "
                     f"per seed → {hours(low)} … {hours(high)}")
    for dataset, frontend, trained in done:
        lines.append(f"  {dataset} {frontend}: up to date, seed(s) {', '.join(map(str, trained))} (result files "
                     "written under these settings; --force trains them again)")
    lines.append(f"total: {hours(total[0])} … {hours(total[1])} on this device, one training at a time")
    return "\n".join(lines) + "\n"


def plan_training(datasets: list[Dataset], frontends: list[FrontendSpec], opts: TrainOptions) -> str:
    """``rwbench train --dry-run``: the cost of every training still to do (a seed whose result file is written
    under the same settings is up to date, as :func:`rwbench.train.train_one` finds it; the dry run decodes no
    audio, so it takes every clip as readable)."""
    costs, pending, done = [], {}, []
    for dataset in datasets:
        splits, protocol = dataset.splits(), dataset.describe()["protocol"]
        for spec in learnable(frontends):
            chosen = select_folds(splits, opts.folds, dataset.key)
            trained = [seed for seed in opts.seeds if not opts.force and scored(
                trained_path(dataset, spec, seed, opts), training_key(dataset, spec, seed, opts, protocol, {}), chosen)]
            if trained:
                done.append((dataset.key, spec.name, trained))
            if len(trained) < len(opts.seeds):
                costs.append(training_cost(dataset, spec, opts))
                pending[(dataset.key, spec.name)] = len(opts.seeds) - len(trained)
    return render(costs, pending, done)
