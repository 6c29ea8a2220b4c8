"""Why a trained head sits below its random twin: the training recipe's loop on the first outer split's inner pair,
end to end at a constant learning rate, or with the random network frozen (the head alone trained).

    python below_twin.py logmel:e521027d const3e-3   # end to end, Adam 3e-3, no plateau schedule
    python below_twin.py logmel:e521027d headonly    # the seed-0 random network frozen, the head alone (Adam 1e-2)
    python below_twin.py logmel:e521027d const1e-2   # end to end at the head-only run's rate
    python below_twin.py logmel:e521027d headonly3e-3  # the head alone at the end-to-end run's rate

One thread; per epoch: training loss, fit-part and validation accuracy (eval mode), learning rate, the head's weight
norm (Frobenius; old result files lack it); early stopping
after 10 epochs without a better validation loss, at most 100. Writes results/below_twin/<front-end>__<variant>.json.
The recipe's own run (plateau schedule) is the result's ``<fold>.select.json`` under results/weights/trained/.
"""

import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from rwbench.api import load_dataset
from rwbench.embed_job import EmbedJob
from rwbench.fitting import decode_clips, training_batches
from rwbench.frontend import FRONTENDS
from rwbench.train import Classifier, predict_logits

# variant: (Adam learning rate, random network frozen)
VARIANTS = {"const3e-3": (3e-3, False), "headonly": (1e-2, True), "const1e-2": (1e-2, False),
            "headonly3e-3": (3e-3, True)}


def main(name: str, variant: str, data: str = "../../../shared/data/esc10") -> None:
    torch.set_num_threads(1)
    dataset = load_dataset("esc10", data)[0]
    spec = FRONTENDS.select(name)[0]
    waves, _ = decode_clips(EmbedJob(dataset, spec, "small"), workers=0, skip_bad_audio=False)
    waves, labels = torch.from_numpy(waves), torch.from_numpy(dataset.labels)
    fit_idx, val_idx = dataset.splits()[0].inner[0]
    model = Classifier(spec, "small", len(dataset.classes), seed=0, dropout=0.0)
    lr, frozen = VARIANTS[variant]
    if frozen:
        for p in model.embedder.parameters():
            p.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss_fn, cpu = nn.CrossEntropyLoss(), torch.device("cpu")
    best, bad, history = float("inf"), 0, []
    for epoch in range(100):
        start = time.time()
        model.train()
        if frozen:  # its batch norms keep the random network's statistics
            model.embedder.eval()
        order = fit_idx[torch.randperm(len(fit_idx), generator=torch.Generator().manual_seed(epoch)).numpy()]
        total = 0.0
        for batch in training_batches(order, 32):
            loss = loss_fn(model(waves[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        val = predict_logits(model, waves, val_idx, cpu, 32)
        val_loss = float(loss_fn(val, labels[val_idx]))
        fit = predict_logits(model, waves, fit_idx, cpu, 32)
        history.append({"epoch": epoch + 1, "train_loss": total / len(order),
                        "train_acc": float((fit.argmax(1) == labels[fit_idx]).float().mean()), "val_loss": val_loss,
                        "val_acc": float((val.argmax(1) == labels[val_idx]).float().mean()),
                        "lr": optimizer.param_groups[0]["lr"],
                        "head_norm": float(model.head.weight.detach().norm()), "s": time.time() - start})
        print(json.dumps(history[-1]), flush=True)
        best, bad = (val_loss, 0) if val_loss < best else (best, bad + 1)
        if bad >= 10:
            break
    out = Path("results/below_twin") / f"{name.replace(':', '-')}__{variant}.json"
    out.write_text(json.dumps({"frontend": name, "variant": variant, "fold": "fold1 inner pair",
                               "fit_clips": len(fit_idx), "validation_clips": len(val_idx), "history": history}, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
