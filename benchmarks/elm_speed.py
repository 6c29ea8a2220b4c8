"""Time one ELM fit + predict: hpelm (ELMClassifier) against torch (TorchELMClassifier), in one run.

    python benchmarks/elm_speed.py [--clips 8000] [--dims 3585] [--hidden 2500] [--device cpu|cuda] [--repeats 3]

Both draw the same seeded hidden layer; prints the seconds of each (the best of --repeats fits, taken in
turn, so a busy machine slows both alike), their ratio, how many test predictions agree, and each one's
accuracy.
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


def best_of(repeats: int, makers: dict, X_train, y_train, X_test) -> dict[str, tuple[float, np.ndarray]]:
    """Per estimator, the fastest of ``repeats`` fits + predicts (the estimators take turns) and its predictions."""
    best: dict[str, tuple[float, np.ndarray]] = {}
    for _ in range(repeats):
        for name, make in makers.items():
            seconds, predicted = timed(make(), X_train, y_train, X_test)
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, predicted)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=8000, help="training clips")
    parser.add_argument("--dims", type=int, default=3585, help="feature dimension")
    parser.add_argument("--hidden", type=int, default=2500, help="hidden units")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3, help="fits per estimator; the fastest is reported")
    args = parser.parse_args()
    X, y = make_classification(n_samples=args.clips + 2000, n_features=args.dims, n_informative=64,
                               n_classes=args.classes, class_sep=3.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    X_train, y_train, X_test, y_test = X[:args.clips], y[:args.clips], X[args.clips:], y[args.clips:]
    print(f"ELM fit + predict: {args.clips} training clips × {args.dims} dims, {args.hidden} hidden units, "
          f"alpha 1, relu; {torch.get_num_threads()} CPU threads; best of {max(1, args.repeats)}")
    best = best_of(max(1, args.repeats), {
        "hpelm": lambda: ELMClassifier(n_hidden=args.hidden, random_state=0),
        "torch": lambda: TorchELMClassifier(n_hidden=args.hidden, random_state=0, device=args.device)},
        X_train, y_train, X_test)
    (hpelm_s, hpelm_pred), (torch_s, torch_pred) = best["hpelm"], best["torch"]
    print(f"| estimator | seconds | test accuracy |\n|---|---|---|\n"
          f"| hpelm (float64, numpy) | {hpelm_s:.2f} | {np.mean(hpelm_pred == y_test):.4f} |\n"
          f"| torch ({args.device}, float32 H, float64 HᵀH and solve) | {torch_s:.2f} | {np.mean(torch_pred == y_test):.4f} |")
    print(f"torch is {hpelm_s / torch_s:.1f}× faster; predictions agree on "
          f"{np.mean(hpelm_pred == torch_pred):.4f} of {len(y_test)} test clips")


if __name__ == "__main__":
    main()
