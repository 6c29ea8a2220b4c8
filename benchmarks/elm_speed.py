"""Time one ELM fit + predict: hpelm (ELMClassifier) against torch (TorchELMClassifier), in one run.

    python benchmarks/elm_speed.py [--clips 8000] [--dims 3585] [--hidden 2500] [--device cpu|cuda]

Both draw the same seeded hidden layer; prints the seconds of each, their ratio, how many test
predictions agree, and each one's accuracy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from rwbench.elm import ELMClassifier, TorchELMClassifier


def timed(model, X_train, y_train, X_test) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    predicted = model.fit(X_train, y_train).predict(X_test)
    return time.perf_counter() - start, predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=8000, help="training clips")
    parser.add_argument("--dims", type=int, default=3585, help="feature dimension")
    parser.add_argument("--hidden", type=int, default=2500, help="hidden units")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    X, y = make_classification(n_samples=args.clips + 2000, n_features=args.dims, n_informative=64,
                               n_classes=args.classes, class_sep=3.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    X_train, y_train, X_test, y_test = X[:args.clips], y[:args.clips], X[args.clips:], y[args.clips:]
    print(f"ELM fit + predict: {args.clips} training clips × {args.dims} dims, {args.hidden} hidden units, "
          f"alpha 1, relu; {torch.get_num_threads()} CPU threads")
    hpelm_s, hpelm_pred = timed(ELMClassifier(n_hidden=args.hidden, random_state=0), X_train, y_train, X_test)
    torch_s, torch_pred = timed(TorchELMClassifier(n_hidden=args.hidden, random_state=0, device=args.device),
                                X_train, y_train, X_test)
    print(f"| estimator | seconds | test accuracy |\n|---|---|---|\n"
          f"| hpelm (float64, numpy) | {hpelm_s:.2f} | {np.mean(hpelm_pred == y_test):.4f} |\n"
          f"| torch ({args.device}, float32 H, float64 solve) | {torch_s:.2f} | {np.mean(torch_pred == y_test):.4f} |")
    print(f"torch is {hpelm_s / torch_s:.1f}× faster; predictions agree on "
          f"{np.mean(hpelm_pred == torch_pred):.4f} of {len(y_test)} test clips")


if __name__ == "__main__":
    main()
