"""Multilabel tasks end to end: metrics, backends (one-vs-rest and the ELM's one solve), results, leaderboards."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from toy import TINY, chord_dataset, tone_dataset

from rwbench import tasks
from rwbench.analysis import leaderboard
from rwbench.backends import BACKENDS
from rwbench.cli import main
from rwbench.elm import ELMClassifier, TorchELMClassifier
from rwbench.errors import RwbenchError
from rwbench.evaluate import nested_cv
from rwbench.fitting import TrainOptions
from rwbench.folds import FoldResult
from rwbench.pipeline import RunOptions, run
from rwbench.results import result_problem
from rwbench.train import train_all

MULTILABEL = tasks.TASK_TYPES["multilabel"]


def test_macro_aucs_skip_tags_without_both_classes_and_say_so():
    rng = np.random.default_rng(0)
    truth = (rng.random((40, 4)) < 0.4).astype(int)
    truth[:, 3] = 0  # no positive: no AUC exists for this tag
    scores = truth + rng.normal(0, 0.8, truth.shape)
    record = MULTILABEL.fold_record(truth, tasks.Outputs(scores=scores), 4, threshold=0.5)
    figures = {**record.metrics, **record.details}
    expected = [roc_auc_score(truth[:, t], scores[:, t]) for t in range(3)]
    assert figures["roc_auc_macro"] == pytest.approx(np.mean(expected))
    assert figures["pr_auc_macro"] == pytest.approx(np.mean([average_precision_score(truth[:, t], scores[:, t])
                                                             for t in range(3)]))
    assert figures["per_tag_roc_auc"][:3] == pytest.approx(expected) and figures["per_tag_roc_auc"][3] is None
    assert figures["tags_scored"] == 3
    assert figures["micro_f1"] == pytest.approx(f1_score(truth, scores >= 0.5, average="micro"))
    with pytest.raises(RwbenchError, match="no tag has both positive and negative test clips"):
        MULTILABEL.fold_record(np.zeros((5, 2), int), tasks.Outputs(scores=np.zeros((5, 2))), 2, threshold=0.0)


def test_a_tag_without_a_positive_training_clip_is_left_out_of_the_macro_and_recorded(caplog):
    """Such a tag scored AUC ≈ 0.5 (the model never learned it) and was averaged in without a word."""
    rng = np.random.default_rng(0)
    Y = (rng.random((96, 3)) < 0.5).astype(int)
    Y[Y.sum(axis=1) == 0, 0] = 1
    X = np.c_[Y * 3.0, np.zeros((96, 2))] + rng.normal(0, 0.5, (96, 5))
    split = chord_dataset(96).splits()[0]
    Y[split.train, 2] = 0  # tag 2 never positive on this fold's training side, positive on some test clips
    assert 0 < Y[split.test, 2].sum() < len(split.test)
    (fold,) = nested_cv(X, Y, [split], BACKENDS.get("logreg"), seed=0, n_classes=3, task=MULTILABEL)
    stored = fold.to_dict()
    assert stored["tags_untrained"] == [2] and stored["per_tag_roc_auc"][2] is None and stored["tags_scored"] == 2
    truth, scores = np.asarray(stored["truth"]), np.asarray(stored["scores"])
    assert stored["roc_auc_macro"] == pytest.approx(np.mean([roc_auc_score(truth[:, t], scores[:, t]) for t in (0, 1)]))
    assert "no positive training clip" in caplog.text


def test_the_threshold_is_the_best_micro_f1_on_the_clips_given():
    truth = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 5)
    scores = truth * 2.0 + np.linspace(-0.4, 0.4, truth.size).reshape(truth.shape)  # positives ≥ 1.6, negatives ≤ 0.4
    threshold = tasks.choose_threshold(truth, scores)
    assert 0.4 < threshold <= 1.6 + 1e-9
    assert f1_score(truth, scores >= threshold, average="micro") == 1.0


def test_a_test_score_equal_to_the_threshold_counts_at_it_after_rounding():
    """k-NN's scores are fractions: a threshold of exactly 1/3 against test scores stored as 0.333333 counted each
    of them negative (micro F1 0.42 where the model's own at that threshold is 0.65)."""
    from rwbench.folds import fold_result

    truth = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    scores = np.array([[1 / 3, 0.0], [0.0, 1 / 3], [1 / 3, 2 / 3], [0.0, 0.0]])
    fold = fold_result(MULTILABEL, name="fold1", n_train=8, clips=np.arange(4), truth=truth, n_classes=2,
                       outputs=tasks.Outputs(scores=scores), best_params={}, selection_score=1.0, fit_seconds=0.0,
                       threshold=1 / 3, train_truth=np.ones((8, 2), int))
    assert fold.metrics["micro_f1"] == 1.0 == f1_score(truth, scores >= 1 / 3, average="micro")
    assert fold.details["threshold"] == 0.333333  # as the scores are stored: recomputable from the file


def test_the_elm_solves_every_tag_in_one_ridge_system():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((120, 6)), (rng.random((120, 4)) < 0.5).astype(int)
    for n_hidden in (40, 400):  # primal (hpelm) and dual solves
        elm = ELMClassifier(n_hidden=n_hidden, alpha=1.0, random_state=0).fit(X, Y)
        H = np.maximum(X @ elm.hidden_weights_ + elm.hidden_biases_, 0)
        beta = np.linalg.solve(H.T @ H + np.eye(n_hidden), H.T @ Y)
        np.testing.assert_allclose(elm.output_weights_, beta, atol=1e-8)
        torch_elm = TorchELMClassifier(n_hidden=n_hidden, alpha=1.0, random_state=0).fit(X, Y)
        np.testing.assert_allclose(torch_elm.decision_function(X), elm.decision_function(X), atol=1e-3)  # float32 H
        assert elm.decision_function(X).shape == (120, 4) and set(np.unique(elm.predict(X))) <= {0, 1}


@pytest.mark.parametrize("name", sorted(BACKENDS.names()))
def test_every_backend_tags_a_separable_problem_under_nested_cv(name):
    """One-vs-rest wrapping (svm, logreg, knn) or the native multi-output ELMs: all learn three tags."""
    rng = np.random.default_rng(0)
    Y = (rng.random((96, 3)) < 0.5).astype(int)
    Y[Y.sum(axis=1) == 0, 0] = 1
    X = np.c_[Y * 3.0, np.zeros((96, 2))] + rng.normal(0, 0.5, (96, 5))
    splits = chord_dataset(96).splits()
    folds = nested_cv(X, Y, splits, BACKENDS.get(name), seed=0, n_classes=3, task=MULTILABEL)
    assert np.mean([f.roc_auc_macro for f in folds]) > 0.95
    for fold in folds:
        stored = fold.to_dict()
        assert {"roc_auc_macro", "pr_auc_macro", "micro_f1", "threshold", "per_tag_roc_auc"} <= set(stored)
        assert "accuracy" not in stored and "confusion" not in stored and len(stored["test_clips"]) == fold.n_test
        assert not any(k.startswith(("estimator__", "clf__")) for k in stored["best_params"])
        assert FoldResult.from_dict(stored).to_dict() == stored


@pytest.mark.parametrize("name", sorted(BACKENDS.names()))
def test_every_backend_scores_a_fold_whose_first_tag_has_no_positive_training_clip(name):
    """One-vs-rest asked its first tag's fitted model whether it has a ``decision_function``: a constant predictor
    (that tag had no positive) said yes for knn, whose call then failed ("every grid setting failed")."""
    rng = np.random.default_rng(0)
    Y = (rng.random((96, 3)) < 0.5).astype(int)
    X = np.c_[Y * 3.0, np.zeros((96, 2))] + rng.normal(0, 0.5, (96, 5))
    split = chord_dataset(96).splits()[0]
    Y[split.train, 0] = 0
    Y[Y.sum(axis=1) == 0, 1] = 1
    (fold,) = nested_cv(X, Y, [split], BACKENDS.get(name), seed=0, n_classes=3, task=MULTILABEL)
    stored = fold.to_dict()
    assert stored["tags_untrained"] == [0] and stored["tags_scored"] == 2 and stored["roc_auc_macro"] > 0.8


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilabel")
    opts = RunOptions(results_dir=root, device="cpu", workers=0, seeds=[0, 1])
    run([chord_dataset()], [TINY], [BACKENDS.get("logreg"), BACKENDS.get("elm")], opts)
    return root


def test_a_multilabel_run_writes_results_named_after_its_metrics(results):
    table = leaderboard.load(results)
    assert list(table.columns) == leaderboard.columns_for(MULTILABEL)
    assert {"roc_auc_macro_mean", "pr_auc_macro_mean", "micro_f1_mean", "fold_roc_auc_macro"} <= set(table.columns)
    assert not any(c.startswith(("accuracy", "balanced_accuracy")) for c in table.columns)
    record = json.loads(next((results / "runs").rglob("*.json")).read_text())
    assert record["dataset"]["task_type"] == "multilabel" and record["dataset"]["classes"] == ["high", "low", "mid"]
    means = [np.mean([f["roc_auc_macro"] for f in r["folds"]]) for r in
             (json.loads(p.read_text()) for p in (results / "runs").rglob("*logreg*.json"))]
    row = table[table["backend"] == "logreg"].iloc[0]
    assert row["roc_auc_macro_mean"] == pytest.approx(np.mean(means), abs=1e-4) and row["n_seeds"] == 2
    markdown = leaderboard.export(table, "md")
    assert "roc_auc_macro_mean" in markdown and "accuracy_mean" not in markdown
    summary = leaderboard.to_summary(table)  # both headline metrics of the spec, ROC-AUC and PR-AUC (macro)
    assert "macro ROC-AUC" in summary and "macro PR-AUC" in summary
    assert f"{row['pr_auc_macro_mean']:.3f}" in summary


def test_a_table_refuses_to_mix_task_types(results, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    for path in (results / "runs").rglob("*.json"):
        target = mixed / path.relative_to(results)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], RunOptions(results_dir=mixed, device="cpu", workers=0))
    with pytest.raises(RwbenchError, match=r"mix task types \(multiclass: tones; multilabel: chords\).*--task-type"):
        leaderboard.load(mixed)
    assert main(["leaderboard", "--results", str(mixed)]) == 2
    assert "a table ranks one metric" in capsys.readouterr().err
    assert main(["leaderboard", "--results", str(mixed), "--task-type", "multilabel", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "roc_auc_macro_mean" in out and "tones" not in out
    assert set(leaderboard.load(mixed, task="multiclass")["dataset"]) == {"tones"}
    from rwbench.analysis.report import render

    html = render(mixed)  # the report shows both, one table per task type
    assert "task type: multilabel" in html and "task type: multiclass" in html and "macro ROC-AUC" in html
    assert "macro PR-AUC" in html


def test_result_files_are_checked_against_their_task_type(results):
    record = json.loads(next((results / "runs").rglob("*.json")).read_text())
    assert result_problem(record) is None
    del record["folds"][0]["pr_auc_macro"]  # a secondary metric is optional (one added later is absent from old files)
    assert result_problem(record) is None
    record["folds"][1]["micro_f1"] = 1.5  # but checked when present
    assert result_problem(record) == "folds[1].micro_f1 is 1.5, not a score in [0, 1]"
    record["folds"][1]["micro_f1"] = 0.5
    del record["folds"][0]["roc_auc_macro"]  # the primary metric is required
    assert result_problem(record) == "folds[0].roc_auc_macro is missing"
    record["dataset"]["task_type"] = "regression"
    assert "unknown task type 'regression'" in result_problem(record)
    record["dataset"]["task_type"] = "multiclass"
    assert result_problem(record) == "folds[0].accuracy is missing"


def test_voting_refuses_a_multilabel_task(tmp_path):
    with pytest.raises(RwbenchError, match="--aggregate majority votes for one class per clip; chords is multilabel"):
        run([chord_dataset()], [TINY], [BACKENDS.get("logreg")],
            RunOptions(results_dir=tmp_path, device="cpu", workers=0, segment=0.1, aggregate="majority"))
    assert not (tmp_path / "embeddings").exists()  # refused before any work


def test_a_trained_multilabel_baseline_learns_the_tags_and_joins_the_table(tmp_path):
    """`rwbench train` on tags: binary cross-entropy per tag, validation by macro ROC-AUC, micro-F1 threshold from the
    validation part; the row is an ordinary multilabel result (weights trained, backend head)."""
    (path,) = train_all([chord_dataset()], [TINY], TrainOptions(results_dir=tmp_path, device="cpu", workers=0,
                                                               epochs=15, patience=15, lr=1e-2, batch_size=8))
    record = json.loads(path.read_text())
    assert (record["frontend"]["weights"], record["backend"]["name"]) == ("trained", "head")
    assert result_problem(record) is None and record["dataset"]["task_type"] == "multilabel"
    for fold in record["folds"]:
        assert {"roc_auc_macro", "pr_auc_macro", "micro_f1", "threshold", "per_tag_roc_auc"} <= set(fold)
        assert "confusion" not in fold and 0 <= fold["selection_score"] <= 1
    assert record["summary"]["roc_auc_macro_mean"] > 0.8, record["summary"]
    run([chord_dataset()], [TINY], [BACKENDS.get("logreg")],
        RunOptions(results_dir=tmp_path, device="cpu", workers=0))
    table = leaderboard.load(tmp_path)
    assert set(zip(table["weights"], table["backend"])) == {("trained", "head"), ("random", "logreg")}


def test_window_means_work_for_a_multilabel_task(tmp_path):
    run([chord_dataset()], [TINY], [BACKENDS.get("logreg")],
        RunOptions(results_dir=tmp_path, device="cpu", workers=0, segment=0.125, aggregate="mean"))
    assert leaderboard.load(tmp_path)["roc_auc_macro_mean"].iloc[0] > 0.8


def test_evaluate_from_the_cache_keeps_the_tags(tmp_path):
    """The embed stage stores the dataset; evaluate reads it back, tags included."""
    from rwbench.datamodel import dataset_from_record, dataset_record

    ds = chord_dataset()
    stored = dataset_from_record(json.loads(json.dumps(dataset_record(ds))))
    assert stored.task_type == "multilabel" and [c.tags for c in stored.clips] == [c.tags for c in ds.clips]
    np.testing.assert_array_equal(stored.labels, ds.labels)


def test_kernel_svc_fits_each_tag_on_one_kernel_as_one_vs_rest_would():
    from sklearn.multiclass import OneVsRestClassifier

    from rwbench.kernel_svm import KernelSVC

    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((80, 5)), (rng.random((80, 4)) < 0.4).astype(int)
    Y[:, 3] = 1  # a tag every training clip has: predicted as that constant
    ours = KernelSVC(C=2.0, gamma="scale", random_state=0).fit(X, Y)
    theirs = OneVsRestClassifier(KernelSVC(C=2.0, gamma="scale", random_state=0)).fit(X, Y)
    np.testing.assert_allclose(ours.decision_function(X)[:, :3], theirs.decision_function(X)[:, :3], atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert (ours.decision_function(X)[:, 3] > 0).all()


def test_the_vectorised_roc_auc_equals_scikit_learns_with_ties_and_missing_classes():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n, k = int(rng.integers(5, 120)), int(rng.integers(1, 6))
        truth = (rng.random((n, k)) < rng.random()).astype(int)
        scores = np.round(rng.normal(size=(n, k)), 1)  # ties
        ours = tasks.per_tag_roc_auc(truth, scores)
        for t in range(k):
            if 0 < truth[:, t].sum() < n:
                assert ours[t] == pytest.approx(roc_auc_score(truth[:, t], scores[:, t]), abs=1e-12)
            else:
                assert np.isnan(ours[t])


@pytest.mark.parametrize("metric", ["pr_auc_macro", "micro_f1"])
def test_an_edited_secondary_metric_is_refused_as_the_primary_is(results, metric):
    """A macro PR-AUC or micro F1 raised by hand was shown as a headline number (and the file counted up to date):
    every stored metric is recomputed from the fold's scores, threshold and untrained tags."""
    record = json.loads(next((results / "runs").rglob("*.json")).read_text())
    fold = record["folds"][1]
    fold[metric] = 0.99 if fold[metric] < 0.98 else 0.01
    assert result_problem(record).startswith(f"folds[1] ({fold['name']}) has {metric} ")


def test_results_scored_by_the_earlier_micro_f1_rule_are_computed_again(tmp_path, monkeypatch):
    """The untrained-tag rule changed multilabel scores under the same key: results of the earlier rule stayed "up to
    date" beside new ones. The type's code version is in the key; multiclass keys are as they were (no version)."""
    from rwbench.pipeline import evaluation_jobs
    from rwbench.tasks import task_type

    opts = RunOptions(results_dir=tmp_path, device="cpu", workers=0, seeds=[0])
    ds = chord_dataset()
    (job,) = evaluation_jobs([ds], [TINY], [BACKENDS.get("logreg")], opts)
    protocol = ds.describe()["protocol"]
    key = job.run_key(opts, protocol)
    assert task_type("multiclass").code_key() == {} and task_type("multilabel").code_key() == {"task_code": 3}
    monkeypatch.setattr(type(ds.kind), "code_version", 1)
    assert job.run_key(opts, protocol) != key


def test_a_tag_a_fold_cannot_score_is_named_under_the_table_and_on_the_page(tmp_path, caplog):
    """A tag without a positive test clip in a fold has no AUC there: that fold's macro averages run over fewer tags.
    It was recorded only as a null inside the result file; the run's log, the leaderboard and the report name it."""
    from itertools import combinations

    from toy import TONES

    from rwbench.analysis.report import render
    from rwbench.datamodel import tagged_clip

    ds = chord_dataset(48)
    without_mid = [s for k in (1, 2) for s in combinations([t for t in TONES if t != "mid"], k)]
    ds.clips = [tagged_clip(c.id, without_mid[i % len(without_mid)], fold=1) if c.fold == 1 else c
                for i, c in enumerate(ds.clips)]  # fold 1's clips: never `mid`
    run([ds], [TINY], [BACKENDS.get("logreg")], RunOptions(results_dir=tmp_path, device="cpu", workers=0))
    assert "fold1: 1 tag(s) have no positive or no negative test clip" in caplog.text
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("*.json")]
    fold1 = next(f for f in record["folds"] if f["name"] == "fold1")
    assert fold1["tags_untested"] == [record["dataset"]["classes"].index("mid")] and fold1["tags_scored"] == 2
    table = leaderboard.load(tmp_path)
    assert table.attrs["tags_left_out"] == {"chords": {"mid": ["fold1"]}}
    note = ("leave out 1 tag(s) that fold cannot score (no positive or no negative test clip, or no positive training "
            "clip): `mid` (fold1)")
    assert note in leaderboard.export(table, "md")
    assert json.loads(leaderboard.export(table, "json"))["metadata"]["tags_left_out"] == {"chords": {"mid": ["fold1"]}}
    assert note.replace("`", "") in render(tmp_path)  # the page shows the name without Markdown's code marks
