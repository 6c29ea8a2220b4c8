"""Task types as objects: no stage branches on which type it has, so a third type plugs in as a subclass.

The regression type below implements :class:`rwbench.tasks.TaskType` and runs through the nested CV, the fold record
and the clip bootstrap unchanged; the two shipped types answer each question the stages ask by value.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GridSearchCV, KFold

from rwbench.analysis.significance import ClipFold, hierarchical_interval
from rwbench.backends import BackendSpec
from rwbench.evaluate import evaluate_split
from rwbench.folds import FoldResult
from rwbench.protocol import OuterSplit
from rwbench.tasks import TASK_TYPES, FoldRecord, Outputs, TaskType, task_type


class Regression(TaskType):
    """A float target per clip, scored by mean absolute error (negated: higher is better, as rwbench ranks)."""

    name = "regression"
    metrics = ("neg_mae", "r2")
    scoring = "neg_mean_absolute_error"
    description = "a number per clip; negated mean absolute error (R²)"
    paired_clip_test = "correctness"
    metric_bounds = (-np.inf, 1.0)  # R² ≤ 1, −MAE ≤ 0
    clip_fields = ("test_clips", "truth", "scores")

    def classes(self, clips):
        return []

    def targets(self, clips, classes):
        return np.array([float(c.label) for c in clips])

    def check_dataset(self, dataset):
        pass

    def outputs(self, model, X):
        return Outputs(scores=model.predict(X)[:, None], score_kind="prediction")

    def fold_record(self, truth, outputs, n_classes, *, threshold=None, untrained=None):
        predicted = outputs.scores[:, 0]
        return FoldRecord({"neg_mae": -mean_absolute_error(truth, predicted), "r2": r2_score(truth, predicted)},
                          [float(t) for t in truth])

    def head_loss(self):
        from torch import nn

        return nn.MSELoss()

    def head_outputs(self, logits):
        return Outputs(scores=logits, score_kind="prediction")

    def head_score(self, logits, truth):
        return -float(np.abs(logits[:, 0] - truth).mean())

    def clip_output(self, fold):
        truth = np.asarray(fold["truth"], float)
        return truth, -np.abs(np.asarray(fold["scores"], float)[:, 0] - truth)

    def clip_score(self, truth, outputs, picks):
        return outputs.mean(axis=0)[picks].mean(axis=-1)


def _split(n: int) -> OuterSplit:
    train, test = np.arange(0, n - 20), np.arange(n - 20, n)
    inner = tuple((train[f], train[v]) for f, v in KFold(3).split(train))
    return OuterSplit("fold1", train, test, inner)


def test_a_third_task_type_runs_through_the_nested_cv_without_any_stage_knowing_it():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 0.0]) + rng.normal(0, 0.1, 80)
    ridge = BackendSpec("ridge", lambda seed: Ridge(), [{"alpha": [0.01, 1.0, 100.0]}], "ridge regression")
    split = _split(80)
    fold = evaluate_split(X, y, split, ridge, seed=0, n_classes=0, task=Regression())

    search = GridSearchCV(Ridge(), {"alpha": [0.01, 1.0, 100.0]}, cv=[(f, v) for f, v in split.inner],
                          scoring="neg_mean_absolute_error").fit(X, y)
    expected = search.best_estimator_.fit(X[split.train], y[split.train]).predict(X[split.test])
    assert fold.best_params == {"alpha": search.best_params_["alpha"]}
    assert fold.neg_mae == pytest.approx(-mean_absolute_error(y[split.test], expected), rel=1e-5)
    assert fold.r2 == pytest.approx(r2_score(y[split.test], expected), rel=1e-5)
    assert fold.confusion is None and fold.predicted is None and fold.grid_edge == {"alpha": "low"}

    stored = fold.to_dict()
    assert FoldResult.from_dict(stored).to_dict() == stored
    clip = ClipFold(Regression(), np.asarray(stored["test_clips"]), *Regression().clip_output(stored))
    clip = ClipFold(clip.task, clip.clips, clip.truth, clip.outputs[None])
    low, high = hierarchical_interval({"fold1": clip})
    assert low <= fold.neg_mae <= high < 0


def test_a_task_type_that_leaves_a_question_unanswered_cannot_be_made():
    class Incomplete(TaskType):
        name = "incomplete"

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


@pytest.mark.parametrize("name, extra, per_fit", [("multiclass", 0, 1), ("multilabel", 3, 4)])
def test_each_shipped_type_says_what_it_adds_to_a_nested_cv(name, extra, per_fit):
    assert task_type(name).fits(n_inner=3, n_classes=4, native=False) == (extra, per_fit)
    assert task_type(name).fits(n_inner=3, n_classes=4, native=True)[1] == 1


def test_the_shipped_types_answer_by_value():
    multiclass, multilabel = TASK_TYPES["multiclass"], TASK_TYPES["multilabel"]
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.5, 3.0]])
    out = multiclass.head_outputs(logits)
    assert out.predicted.tolist() == [0, 2] and out.score_kind == "softmax"
    assert out.scores == pytest.approx(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    assert multiclass.head_score(logits, np.array([0, 1])) == 0.5
    tags = multilabel.head_outputs(logits)
    assert tags.predicted is None and tags.scores == pytest.approx(1 / (1 + np.exp(-logits)))
    assert type(multiclass.head_loss()).__name__ == "CrossEntropyLoss"
    assert type(multilabel.head_loss()).__name__ == "BCEWithLogitsLoss"
    assert multilabel.untrained(np.array([[1, 0, 0], [1, 0, 1]])).tolist() == [1]
    assert multiclass.untrained(np.array([0, 0])).tolist() == []
    assert (multiclass.votes, multilabel.votes) == (True, False)
    assert (multiclass.thresholded, multilabel.thresholded) == (False, True)
    assert multiclass.threshold(np.zeros(3), np.zeros(3)) is None

    record = multiclass.fold_record(np.array([0, 0, 1, 2]), Outputs(np.array([0, 1, 1, 1])), 3)
    assert record.confusion == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]  # rows: true class, columns: predicted
    assert record.metrics["accuracy"] == 0.5 and record.metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert record.metrics["macro_f1"] == pytest.approx(np.mean([2 / 3, 0.5, 0.0]))


def test_a_plugin_types_results_print_in_the_leaderboard_and_rank_on_its_own_primary(tmp_path):
    """The default Markdown view and the run summary raised KeyError 'neg_mae' (the metric labels knew accuracy and
    ROC-AUC only); a plugin type recording ``accuracy`` beside its primary was ranked on accuracy."""
    import zlib

    from toy import TINY, ToneDataset

    from rwbench.analysis import leaderboard
    from rwbench.datamodel import Clip
    from rwbench.pipeline import RunOptions, run
    from rwbench.protocol import PredefinedFolds
    from rwbench.tasks import TASK_TYPES, primary_metric, register_task_type

    class Pitch(ToneDataset):
        def load_audio(self, clip, sample_rate):
            rng = np.random.default_rng(zlib.crc32(clip.id.encode()))
            t = np.arange(int(0.25 * sample_rate)) / sample_rate
            return (np.sin(2 * np.pi * float(clip.label) * t) + 0.3 * rng.standard_normal(len(t))).astype(np.float32)

    register_task_type(Regression())
    try:
        clips = [Clip(id=f"c{i:03d}", label=str(200.0 + 50 * (i % 7)), fold=i % 5 + 1) for i in range(35)]
        dataset = Pitch(name="pitch", task=None, clips=clips, protocol=PredefinedFolds(id="pitch-folds"), seconds=0.25,
                        task_type="regression")
        dataset.decoded, dataset.fail_on = [], {}
        ridge = BackendSpec("ridge", lambda seed: Ridge(), [{"alpha": [0.01, 1.0, 100.0]}], "ridge regression")
        run([dataset], [TINY], [ridge], RunOptions(results_dir=tmp_path, device="cpu", workers=0))
        table = leaderboard.load(tmp_path)
        assert primary_metric(table) == "neg_mae" and "neg mae" in leaderboard.to_summary(table)

        class WithAccuracy(Regression):
            name = "regression"  # in its place
            metrics = ("neg_mae", "accuracy")

        TASK_TYPES["regression"] = WithAccuracy()
        assert primary_metric(["accuracy_mean", "neg_mae_mean"]) == "neg_mae"
    finally:
        TASK_TYPES.pop("regression", None)


def test_a_type_whose_metric_reads_as_an_error_is_refused():
    """rwbench ranks every metric higher-is-better: a type scoring ``mae`` had its worst front-end ranked "best"."""
    from rwbench.errors import RwbenchError
    from rwbench.tasks import register_task_type

    class Errors(Regression):
        name = "errors"
        metrics = ("mae", "r2")

    with pytest.raises(RwbenchError, match=r"\['mae'\] read as lower-is-better, .*\(neg_mae\)"):
        register_task_type(Errors())
