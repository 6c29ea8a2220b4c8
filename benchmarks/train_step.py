"""Time one training step of `rwbench train`'s classifier with and without the training rewrite, in one run.

    python benchmarks/train_step.py [--frontends musicnn] [--clips 8] [--seconds 5] [--repeats 3]

``rwbench.fusion.NormalisedInput`` applies a one-channel input batch norm after the convolutions that read it, so
autograd skips their input gradient. Per front-end, three classifiers from the same seed take turns (best of
``--repeats`` steps each, so load falls on all alike): ``as written`` (the rewrite switched off), ``rewrite`` (as
shipped), and ``frozen`` (the input batch norm's affine not trained: no input gradient at all, the bound the rewrite
can reach). One thread; a step is forward, backward and Adam on ``--clips`` noise clips of ``--seconds`` s.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from rwbench.frontend import FRONTENDS
from rwbench.fusion import NormalisedInput
from rwbench.train import Classifier

APPLIES = NormalisedInput.applies
VARIANTS = ("as written", "rewrite", "frozen")


def training_step(name: str, variant: str, clips: torch.Tensor) -> Callable[[], None]:
    model = Classifier(FRONTENDS.get(name), "small", 10, seed=0, dropout=0.0).train()
    if variant == "frozen":
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.num_features == 1:
                module.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)

    def step() -> None:
        NormalisedInput.applies = staticmethod(APPLIES if variant == "rewrite" else lambda bn, x: False)
        loss = model(clips).logsumexp(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frontends", default="musicnn")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{args.clips} clips × {args.seconds:g} s, 1 thread, best of {args.repeats}; torch {torch.__version__}\n")
    print("| front-end | as written s | rewrite s | frozen s | as written ÷ rewrite | as written ÷ frozen |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.frontends.split(","):
        spec = FRONTENDS.get(name)
        clips = 0.1 * torch.randn(args.clips, max(spec.min_samples(), round(args.seconds * spec.sample_rate)),
                                  generator=torch.Generator().manual_seed(0))
        steps = {variant: training_step(name, variant, clips) for variant in VARIANTS}
        best = dict.fromkeys(VARIANTS, float("inf"))
        for step in steps.values():  # warm-up
            step()
        for _ in range(args.repeats):
            for variant, step in steps.items():
                start = time.perf_counter()
                step()
                best[variant] = min(best[variant], time.perf_counter() - start)
        NormalisedInput.applies = staticmethod(APPLIES)
        written, rewrite, frozen = (best[v] for v in VARIANTS)
        print(f"| {name} | {written:.2f} | {rewrite:.2f} | {frozen:.2f} | ×{written / rewrite:.2f} | "
              f"×{written / frozen:.2f} |")


if __name__ == "__main__":
    main()
