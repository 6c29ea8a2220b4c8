"""The batch-norm regime a random twin is scored in against the one training starts from: the seed-0 network's pooled
features with its batch norms at their initial statistics (eval mode, as every random row is embedded: identity,
mean 0 and variance 1) and with batch statistics (training mode, as end-to-end training computes them from its first
step; batches of 32 clips in a seeded order), each read by a standardised logistic regression under ESC-10's official
folds (C chosen by an inner stratified 4-fold search on each training side).

    python bn_regime.py logmel:e521027d logmel:4b9f995d    # → results/below_twin/bn_regime.json

One thread, about a minute per network beside the lanes.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rwbench.api import load_dataset
from rwbench.embed_job import EmbedJob
from rwbench.fitting import decode_clips, training_batches
from rwbench.frontend import FRONTENDS
from rwbench.train import Classifier

GRID = {"logisticregression__C": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]}


def features(model: Classifier, waves: torch.Tensor, batch_norm: str) -> np.ndarray:
    model.eval()
    if batch_norm == "batch statistics":
        for norm in (m for m in model.embedder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
            norm.train()
    out = np.zeros((len(waves), model.head.in_features))
    with torch.no_grad():
        for batch in training_batches(np.random.default_rng(0).permutation(len(waves)), 32):
            out[batch.numpy()] = torch.cat(model.embedder.pooled_layers(waves[batch]), dim=1).numpy()
    return out


def scores(x: np.ndarray, labels: np.ndarray, splits) -> list[float]:
    out = []
    for split in splits:
        search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)), GRID,
                              cv=StratifiedKFold(4, shuffle=True, random_state=0))
        search.fit(x[split.train], labels[split.train])
        out.append(float(search.score(x[split.test], labels[split.test])))
    return out


def main(names: list[str], data: str = "../../../shared/data/esc10") -> None:
    torch.set_num_threads(1)
    dataset = load_dataset("esc10", data)[0]
    splits = dataset.splits()
    rows = []
    for name in names:
        spec = FRONTENDS.select(name)[0]
        waves, _ = decode_clips(EmbedJob(dataset, spec, "small"), workers=0, skip_bad_audio=False)
        model = Classifier(spec, "small", len(dataset.classes), seed=0, dropout=0.0)
        for batch_norm in ("initial statistics", "batch statistics"):
            folds = scores(features(model, torch.from_numpy(waves), batch_norm), dataset.labels, splits)
            rows.append({"frontend": name, "batch_norm": batch_norm, "folds": folds, "mean": float(np.mean(folds))})
            print(json.dumps(rows[-1]), flush=True)
    Path("results/below_twin/bn_regime.json").write_text(json.dumps(
        {"reader": "StandardScaler + LogisticRegression, C in " + str(GRID["logisticregression__C"]) +
         " chosen by stratified 4-fold CV on each training side", "seed": 0, "rows": rows}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
