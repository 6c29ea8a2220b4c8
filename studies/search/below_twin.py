"""Why a trained head sits below its random twin: the training recipe's loop on the first outer split's inner pair,
end to end at a constant learning rate, or with the random network frozen (the head alone trained).

    python below_twin.py logmel:e521027d const3e-3   # end to end, Adam 3e-3, no plateau schedule
    python below_twin.py logmel:e521027d headonly    # the seed-0 random network frozen, the head alone (Adam 1e-2)
    python below_twin.py logmel:e521027d const1e-2   # end to end at the head-only run's rate
    python below_twin.py logmel:e521027d headonly3e-3  # the head alone at the end-to-end run's rate
    python below_twin.py logmel:e521027d split       # end to end, the head at 1e-2, the front-end at 3e-4
    python below_twin.py logmel:e521027d precise3e-3  # const3e-3, early-stopped on the recomputed statistics' loss

The recipe's batch order and dropout seeds (seed 0), so that ``const3e-3`` is the recipe's run without its plateau
schedule. One thread; per epoch: training loss, fit-part and validation accuracy (eval mode), the head's learning rate,
its weight norm (Frobenius) and, end to end, both accuracies again with the batch norms' statistics recomputed over the
fit part; early stopping after 10 epochs without a better validation loss, at most 100. Writes
results/below_twin/<front-end>__<variant>.json after every epoch (``finished`` false until the run ends).
The recipe's own run (plateau schedule) is the result's ``<fold>.select.json`` under results/weights/trained/.
"""

import copy
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from rwbench.api import load_dataset
from rwbench.embed_job import EmbedJob
from rwbench.fileio import write_json
from rwbench.fitting import decode_clips, recompute_batch_norms, seeded, training_batches
from rwbench.frontend import FRONTENDS
from rwbench.train import Classifier, predict_logits

# variant: (Adam learning rate of the head, of the front-end: None = frozen)
VARIANTS = {"const3e-3": (3e-3, 3e-3), "headonly": (1e-2, None), "const1e-2": (1e-2, 1e-2),
            "headonly3e-3": (3e-3, None), "split": (1e-2, 3e-4), "precise3e-3": (3e-3, 3e-3)}
PRECISE = {"precise3e-3"}  # early stopping watches the validation loss with the batch norms' statistics recomputed


def main(name: str, variant: str, data: str = "../../../shared/data/esc10") -> None:
    torch.set_num_threads(1)
    dataset = load_dataset("esc10", data)[0]
    spec = FRONTENDS.select(name)[0]
    waves, _ = decode_clips(EmbedJob(dataset, spec, "small"), workers=0, skip_bad_audio=False)
    waves, labels = torch.from_numpy(waves), torch.from_numpy(dataset.labels)
    split = dataset.splits()[0]
    fit_idx, val_idx = split.inner[0]
    model = Classifier(spec, "small", len(dataset.classes), seed=0, dropout=0.0)
    lr, frontend_lr = VARIANTS[variant]
    frozen = frontend_lr is None
    if frozen:
        for p in model.embedder.parameters():
            p.requires_grad_(False)
    groups = [{"params": [p for n, p in model.named_parameters() if not n.startswith("embedder.")], "lr": lr}]
    if not frozen:
        groups.append({"params": list(model.embedder.parameters()), "lr": frontend_lr})
    optimizer = torch.optim.Adam(groups)
    loss_fn, cpu = nn.CrossEntropyLoss(), torch.device("cpu")
    best, bad, history = float("inf"), 0, []
    for epoch in range(100):
        start = time.time()
        model.train()
        if frozen:  # its batch norms keep the random network's statistics
            model.embedder.eval()
        torch.manual_seed(seeded("dropout", 0, split.name, epoch))  # the recipe's batch order (rwbench.fitting.fit)
        order = fit_idx[torch.randperm(len(fit_idx), generator=torch.Generator().manual_seed(
            seeded("shuffle", 0, split.name, epoch))).numpy()]
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
                        "head_norm": float(model.head.weight.detach().norm())}
                       | ({} if frozen else precise_bn_scores(model, waves, labels, fit_idx, val_idx))
                       | {"s": time.time() - start})
        print(json.dumps(history[-1]), flush=True)
        watched = history[-1]["val_loss_precise_bn"] if variant in PRECISE else val_loss
        best, bad = (watched, 0) if watched < best else (best, bad + 1)
        finished = bad >= 10 or epoch == 99
        out = Path("results/below_twin") / f"{name.replace(':', '-')}__{variant}.json"
        write_json(out, {"frontend": name, "variant": variant, "fold": "fold1 inner pair",  # each epoch: a kill keeps
                         "batch_order": "the recipe's (seed 0)", "finished": finished,  # the epochs run so far
                         "fit_clips": len(fit_idx), "validation_clips": len(val_idx), "history": history})
        if finished:
            break


def precise_bn_scores(model: Classifier, waves: torch.Tensor, labels: torch.Tensor, fit_idx, val_idx) -> dict:
    """Fit-part and validation accuracy of a copy of ``model`` whose batch norms' running statistics are recomputed
    over the fit part (the running averages lag a network whose weights move): what eval mode would score with
    statistics of the network as it now is."""
    fresh = copy.deepcopy(model)
    with torch.no_grad():
        recompute_batch_norms(fresh, lambda: [fresh(waves[batch]) for batch in training_batches(fit_idx, 32)])
    cpu = torch.device("cpu")
    fit, val = (predict_logits(fresh, waves, idx, cpu, 32) for idx in (fit_idx, val_idx))
    return {"train_acc_precise_bn": float((fit.argmax(1) == labels[fit_idx]).float().mean()),
            "val_acc_precise_bn": float((val.argmax(1) == labels[val_idx]).float().mean()),
            "val_loss_precise_bn": float(nn.functional.cross_entropy(val, labels[val_idx]))}


if __name__ == "__main__":
    main(*sys.argv[1:])
