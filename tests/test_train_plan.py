"""``rwbench train --dry-run``: the recipe's run counts, the cost range's arithmetic, and a plan that writes nothing."""

from __future__ import annotations

import dataclasses

import pytest
from toy import TINY, tone_dataset

from rwbench.cli import main
from rwbench.fitting import TrainOptions
from rwbench.protocol import FixedSplit
from rwbench.train_plan import TrainingCost, render, run_counts, training_cost


@pytest.mark.parametrize("splits, settings, select_on, refit, expected", [
    (5, 3, "first-fold", "full", (3 + 4, 5)),  # 3 runs on the first split (one of them its selected run), 1 on each other
    (5, 3, "every-fold", "full", (15, 5)),
    (5, 1, "every-fold", "full", (5, 5)),  # one rate: nothing to search anywhere
    (6, 3, "first-fold", "fit-part", (3 + 5, 0)),  # the fit-part model is scored: no refit
])
def test_run_counts_follow_the_recipe(splits, settings, select_on, refit, expected):
    opts = TrainOptions(select_on=select_on, refit=refit)
    assert run_counts(splits, settings, opts) == expected


@pytest.mark.parametrize("select_on, settings, expected", [
    ("first-fold", 4, 4 + 2),  # --folds fold2,fold3: the first split's search, then one run on each chosen split
    ("every-fold", 4, 2 * 4),
    ("first-fold", 1, 2),
])
def test_folds_without_the_first_split_still_count_its_search(select_on, settings, expected):
    opts = TrainOptions(select_on=select_on)
    assert run_counts(2, settings, opts, first_included=False) == (expected, 2)


def test_selection_runs_the_first_split_already_holds_are_not_counted_again():
    opts = TrainOptions(select_on="first-fold")
    assert run_counts(3, 4, opts, first_included=True, first_stored=1) == (3 + 2, 3)  # killed after one of 4 runs
    # a split whose training side is its fit part (a fixed split refit on train) has no refit: it would repeat the run
    assert run_counts(1, 4, opts, repeated=1) == (4, 0)
    assert run_counts(2, 4, opts, first_included=False, first_stored=4) == (2, 2)  # fold 1 done: one run per split


def test_the_planned_runs_are_the_runs_a_training_of_some_folds_makes(tmp_path, caplog):
    """The dry run's count for `--folds fold3` equals the early-stopped runs `rwbench train --folds fold3` logs."""
    from rwbench.train import train_all

    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=3, patience=3,
                        lrs=(1e-3, 3e-3), dropouts=(0.5,), folds=("fold3",))
    with caplog.at_level("INFO", logger="rwbench"):
        train_all([tone_dataset()], [TINY], opts)
    ran = sum(": stopped at epoch " in r.getMessage() for r in caplog.records)
    assert training_cost(tone_dataset(), TINY, opts).selection_runs == ran == 3


def test_the_cost_range_spans_earliest_stops_to_the_epoch_cap():
    cost = TrainingCost("x", "d", fit_epoch=2.0, refit_epoch=3.0, selection_runs=7, refits=5, min_epochs=11, cap=100)
    assert cost.bounds == (7 * 11 * 2.0 + 5 * 1 * 3.0, (7 * 2.0 + 5 * 3.0) * 100)
    text = render([cost, cost], seeds=2)
    assert "7 early-stopped run(s) of 11–100 epochs and 5 refit(s) of 1–100 epochs per seed" in text
    assert f"total: {2 * 2 * cost.bounds[0] / 60:.0f} min … {2 * 2 * cost.bounds[1] / 3600:.1f} h" in text


def test_the_plan_times_an_epoch_of_the_dataset_s_split():
    dataset = tone_dataset()
    opts = TrainOptions(epochs=20, patience=4, lrs=(1e-3, 3e-3), device="cpu", batch_size=8)  # × dropouts 0, 0.5
    cost = training_cost(dataset, TINY, opts)
    fit, val = dataset.splits()[0].inner[0]
    assert (cost.selection_runs, cost.refits, cost.min_epochs, cost.cap) == (2 * 2 + 3, 4, 5, 20)
    assert 0 < cost.fit_epoch and 0 < cost.refit_epoch
    # both scale from per-clip times: the refit epoch (27 training clips) costs more than fit-part training alone
    assert cost.refit_epoch > cost.fit_epoch * len(fit) / (len(fit) + len(val)) * 0.5


def test_the_command_line_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["train", "--dataset", "synthetic", "--tasks", "timbre", "--frontends", "strided_1024_1024,mfcc",
                 "--epochs", "10", "--patience", "3", "--device", "cpu", "--results", str(results), "--dry-run",
                 "-q"]) == 0
    out = capsys.readouterr().out
    assert "synthetic/timbre strided_1024_1024:" in out and "mfcc" not in out  # mfcc has no weights to train
    assert "early-stopped run(s) of 4–10 epochs" in out and out.rstrip().splitlines()[-1].startswith("total:")
    assert not results.exists()


def test_trained_seeds_are_up_to_date_and_only_the_others_are_costed(tmp_path):
    from rwbench.train import train_all
    from rwbench.train_plan import plan_training

    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=3, patience=3,
                        dropouts=(0.5,), seeds=[0])
    train_all([tone_dataset()], [TINY], opts)
    text = plan_training([tone_dataset()], [TINY], opts)
    assert "tones tiny: up to date, seed(s) 0" in text and "per fit-part epoch" not in text
    assert text.rstrip().endswith("total: 0 s … 0 s on this device, one training at a time")
    more = TrainOptions(**{**opts.__dict__, "seeds": [0, 1]})
    text = plan_training([tone_dataset()], [TINY], more)
    assert "(1 seed(s) each still to train" in text and "tones tiny: up to date, seed(s) 0" in text
    assert "tones tiny: " in text.split("\n")[1] and "per fit-part epoch" in text.split("\n")[1]
    forced = plan_training([tone_dataset()], [TINY], TrainOptions(**{**opts.__dict__, "force": True}))
    assert "up to date" not in forced


def test_a_resumed_training_is_planned_for_the_folds_it_has_left(tmp_path, caplog):
    """Folds finished under the same settings are reused by `rwbench train`, and so is the first split's stored
    search: the plan counts the runs the resumed training makes, no more."""
    import dataclasses

    from rwbench.train import train_all
    from rwbench.train_plan import plan_training

    opts = TrainOptions(results_dir=tmp_path, device="cpu", workers=0, batch_size=8, epochs=3, patience=3,
                        lrs=(1e-3, 3e-3), dropouts=(0.5,), folds=("fold1", "fold2"))
    train_all([tone_dataset()], [TINY], opts)
    rest = dataclasses.replace(opts, folds=None)  # fold3, fold4 left
    text = plan_training([tone_dataset()], [TINY], rest)
    assert "2 early-stopped run(s) of 3–3 epochs and 2 refit(s) of 1–3 epochs per seed; 2 scored split(s)" in text
    with caplog.at_level("INFO", logger="rwbench"):
        train_all([tone_dataset()], [TINY], rest)
    assert sum(": stopped at epoch " in r.getMessage() for r in caplog.records) == 2  # as planned


def test_each_scored_split_pays_its_test_and_batch_norm_passes(monkeypatch):
    # 27 training clips in batches of 8: 4 optimiser steps an epoch, so a refit of fewer than 13 epochs has its batch
    # norms recomputed (two passes over its 27 training clips) beside the test pass over its 9 test clips
    from rwbench import train_plan

    opts = TrainOptions(epochs=20, patience=4, lrs=(1e-3,), dropouts=(0.5,), device="cpu", batch_size=8)
    cost = training_cost(tone_dataset(), TINY, opts)
    fewest, most = cost.split_extra
    assert fewest == most > 0 and cost.scored_splits == 4  # the upper bound keeps what a short refit could need
    assert cost.bounds[0] == pytest.approx(cost.selection_runs * cost.min_epochs * cost.fit_epoch
                                           + cost.refits * cost.refit_epoch + 4 * fewest)
    monkeypatch.setattr(train_plan, "MIN_NORM_UPDATES", 0)  # no recalibration: the test pass alone
    assert training_cost(tone_dataset(), TINY, opts).split_extra[0] < fewest / 2


def test_precise_bn_prices_two_passes_a_validation_and_after_each_refit(monkeypatch):
    """18 fit clips, 9 validation, 27 training, 1 s a clip to train and 0.1 s a clip forward (timings replaced): the
    statistics' two passes over the fit part join each selection epoch, two over the training side each refit."""
    from dataclasses import replace

    from rwbench import train_plan

    monkeypatch.setattr(train_plan, "train_step_seconds", lambda model, clips, *args: 1.0 * len(clips))
    monkeypatch.setattr(train_plan, "forward_seconds", lambda model, clips, device: 0.1 * len(clips))
    monkeypatch.setattr(train_plan, "MIN_NORM_UPDATES", 0)  # the plain recipe recomputes nothing
    opts = TrainOptions(epochs=20, patience=4, lrs=(1e-3,), dropouts=(0.5,), device="cpu", batch_size=8)
    plain = training_cost(tone_dataset(), TINY, opts)
    precise = training_cost(tone_dataset(), TINY, replace(opts, precise_bn=True))
    assert plain.fit_epoch == pytest.approx(18 * 1.0 + 9 * 0.1)
    assert precise.fit_epoch == pytest.approx(plain.fit_epoch + 2 * 18 * 0.1)
    assert precise.refit_epoch == plain.refit_epoch
    assert precise.split_extra == pytest.approx(tuple(x + 2 * 27 * 0.1 for x in plain.split_extra))
    # a fixed split refit on train alone scores its selected run's model (calibrated at its best epoch): no refit pass
    ds = tone_dataset(n_per_class=15)
    ds = dataclasses.replace(ds, clips=[dataclasses.replace(c, fold=None, split=("train", "train", "valid", "test",
                                                                                 "train")[i % 5])
                                        for i, c in enumerate(ds.clips)], protocol=FixedSplit(id="tones-fixed", refit="train"))
    fixed = {p: training_cost(ds, TINY, replace(opts, precise_bn=p)) for p in (False, True)}
    assert fixed[True].refits == 0 and fixed[True].split_extra == pytest.approx(fixed[False].split_extra)


def test_a_crop_as_long_as_the_clips_is_refused_by_the_dry_run_as_by_the_training():
    """The dry run priced a --crop-seconds 100 run that the training refused after decoding every clip."""
    from rwbench.errors import RwbenchError

    opts = TrainOptions(device="cpu", workers=0, crop_seconds=100.0)
    with pytest.raises(RwbenchError, match=r"--crop-seconds 100: \d+ samples cover tiny's whole tones clips"):
        training_cost(tone_dataset(), TINY, opts)
    assert training_cost(tone_dataset(), TINY, TrainOptions(device="cpu", workers=0, crop_seconds=0.1)).fit_epoch > 0
