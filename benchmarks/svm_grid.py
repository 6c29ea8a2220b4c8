"""Time the SVM grid of one inner split: libsvm's own kernels (SVC) against KernelSVC, in one run.

    python benchmarks/svm_grid.py [--clips 2000] [--dims 3585] [--classes 10]

Prints the seconds of the study's 32-point grid (RBF γ × C and linear C) for each estimator, their
ratio, and whether every grid point predicted the same labels.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import ParameterGrid
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from rwbench.backends import BACKENDS
from rwbench.kernel_svm import KernelSVC


def grid_points() -> list[dict]:
    grid = [{k.removeprefix("clf__"): v for k, v in part.items()} for part in BACKENDS.get("svm").grid]
    return list(ParameterGrid(grid))


def time_grid(make, X_train, y_train, X_test) -> tuple[float, list[np.ndarray]]:
    start, predictions = time.perf_counter(), []
    for params in grid_points():
        predictions.append(make(**params).fit(X_train, y_train).predict(X_test))
    return time.perf_counter() - start, predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--dims", type=int, default=3585)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    X, y = make_classification(n_samples=args.clips, n_features=args.dims, n_informative=50,
                               n_classes=args.classes, random_state=0)
    X = StandardScaler().fit_transform(X)
    split = int(0.8 * len(X))
    libsvm_s, libsvm_pred = time_grid(SVC, X[:split], y[:split], X[split:])
    ours_s, ours_pred = time_grid(KernelSVC, X[:split], y[:split], X[split:])
    same = sum(np.array_equal(a, b) for a, b in zip(libsvm_pred, ours_pred))
    print(f"{args.clips} clips × {args.dims} dims, {len(grid_points())} grid points, torch threads "
          f"{torch.get_num_threads()}")
    print(f"SVC (libsvm kernels):   {libsvm_s:8.1f} s")
    print(f"KernelSVC (torch Gram): {ours_s:8.1f} s   speed-up ×{libsvm_s / ours_s:.1f}")
    print(f"identical predictions at {same} of {len(grid_points())} grid points")


if __name__ == "__main__":
    main()
