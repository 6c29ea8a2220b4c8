"""Multilabel evaluation speed: the SVM's tags on one kernel matrix vs one-vs-rest, and the ROC-AUC scorer
vectorised over tags vs scikit-learn's per tag — in one run, on the same data, with the same results.

    python benchmarks/multilabel_backends.py [--clips 400] [--dim 120] [--tags 10]

The data: ``clips`` × ``dim`` Gaussian features, each of ``tags`` tags shifting its own few dimensions; five
predefined folds as ESC-10 mixtures have. One outer split of the nested CV is timed per variant.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from sklearn.metrics import make_scorer, roc_auc_score

from rwbench.backends import BACKENDS
from rwbench.datamodel import Clip
from rwbench.evaluate import evaluate_split
from rwbench.protocol import PredefinedFolds
from rwbench.tasks import TASK_TYPES, macro, per_tag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--dim", type=int, default=120)
    parser.add_argument("--tags", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    Y = (rng.random((args.clips, args.tags)) < 0.25).astype(int)
    Y[Y.sum(axis=1) == 0, rng.integers(args.tags)] = 1
    X = rng.standard_normal((args.clips, args.dim))
    for t in range(args.tags):
        X[:, 3 * t:3 * t + 3] += 0.8 * Y[:, [t]]
    clips = [Clip(f"c{i}", "x", fold=i % 5 + 1) for i in range(args.clips)]
    split = PredefinedFolds("bench").splits(clips)[0]
    multilabel = TASK_TYPES["multilabel"]

    class SklearnAUC(type(multilabel)):  # the multilabel type, scored by sklearn per tag
        scoring = staticmethod(make_scorer(lambda y, s: macro(per_tag(roc_auc_score, y, s)),
                                           response_method=("decision_function", "predict_proba")))

    sklearn_scorer = SklearnAUC()
    svm = BACKENDS.get("svm")
    variants = [
        ("svm, tags on one kernel, vectorised AUC", svm, multilabel),
        ("svm, tags on one kernel, sklearn AUC per tag", svm, sklearn_scorer),
        ("svm, one-vs-rest, vectorised AUC", replace(svm, multilabel_native=False), multilabel),
        ("elm, one ridge solve, vectorised AUC", BACKENDS.get("elm"), multilabel),
        ("elm, one ridge solve, sklearn AUC per tag", BACKENDS.get("elm"), sklearn_scorer),
    ]
    print(f"{args.clips} clips × {args.dim} dims, {args.tags} tags; one outer split ({len(split.train)} train, "
          f"{len(split.test)} test), grid searched on {len(split.inner)} inner splits")
    times = {}
    for name, backend, task in variants:
        start = time.perf_counter()
        fold = evaluate_split(X, Y, split, backend, seed=0, n_classes=args.tags, task=task)
        times[name] = time.perf_counter() - start
        print(f"  {name:<46} {times[name]:6.1f} s   ROC-AUC {fold.roc_auc_macro:.4f}  PR-AUC {fold.pr_auc_macro:.4f}  "
              f"micro F1 {fold.micro_f1:.4f}  {fold.best_params}")
    names = [v[0] for v in variants]
    print(f"svm: one-vs-rest / one kernel ×{times[names[2]] / times[names[0]]:.1f}; "
          f"sklearn / vectorised AUC ×{times[names[1]] / times[names[0]]:.1f} (svm), "
          f"×{times[names[4]] / times[names[3]]:.1f} (elm)")


if __name__ == "__main__":
    main()
