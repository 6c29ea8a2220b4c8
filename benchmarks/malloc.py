"""CPU training under glibc's default malloc and under rwbench's thresholds (``rwbench.allocator``), in one run.

    python benchmarks/malloc.py [--frontends logmel:5f65a9bd,waveform:0fc4a316] [--clips 240] [--seconds 5] [--repeats 2]

Per front-end, child processes take turns (``RWBENCH_MALLOC=system``, then ``tuned``, ``--repeats`` times): each
trains `rwbench train`'s classifier for one epoch (batches of 32, Adam, one thread) on ``--clips`` noise clips of
``--seconds`` s, then predicts them, and reports its CPU seconds (user, system), minor page faults, peak resident
set size and a digest of the trained weights and logits: the two allocators must give the same digest (the
arithmetic is the same).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys


def child(name: str, clips: int, seconds: float) -> dict:
    from rwbench.allocator import tune_malloc

    tuned = tune_malloc()  # before any tensor, as the command line does
    import torch

    from rwbench.frontend import FRONTENDS
    from rwbench.train import Classifier

    torch.set_num_threads(1)
    spec = FRONTENDS.get(name)
    waves = 0.1 * torch.randn(clips, max(spec.min_samples(), round(seconds * spec.sample_rate)),
                              generator=torch.Generator().manual_seed(0))
    labels = torch.arange(clips) % 10
    model = Classifier(spec, "small", 10, seed=0, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    start = resource.getrusage(resource.RUSAGE_SELF)
    model.train()
    for batch in torch.arange(clips).split(32):
        loss = torch.nn.functional.cross_entropy(model(waves[batch]), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(waves[batch]) for batch in torch.arange(clips).split(32)])
    end = resource.getrusage(resource.RUSAGE_SELF)
    digest = hashlib.sha256(b"".join(t.detach().contiguous().numpy().tobytes()
                                     for t in [*model.state_dict().values(), logits])).hexdigest()[:12]
    return {"tuned": tuned, "user": end.ru_utime - start.ru_utime, "sys": end.ru_stime - start.ru_stime,
            "faults": end.ru_minflt - start.ru_minflt, "peak_mib": end.ru_maxrss / 1024, "digest": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frontends", default="logmel:5f65a9bd,waveform:0fc4a316")
    parser.add_argument("--clips", type=int, default=240)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.clips, args.seconds)))
        return
    print(f"one epoch + prediction, {args.clips} noise clips × {args.seconds:g} s, batch 32, 1 thread; "
          f"best (least user + system CPU) of {args.repeats} per allocator, taking turns\n")
    print("| front-end | malloc | user s | system s | CPU s | minor faults | peak RSS MiB | digest | system ÷ tuned CPU |")
    print("|---|---|---:|---:|---:|---:|---:|---|---:|")
    # the children compare glibc's defaults with rwbench's thresholds: a malloc setting of the caller's is left out
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ("LD_PRELOAD",
                                                                                               "GLIBC_TUNABLES")}
    for name in args.frontends.split(","):
        runs: dict[str, list[dict]] = {"system": [], "tuned": []}
        for _ in range(args.repeats):
            for choice in runs:
                env = {**environ, "RWBENCH_MALLOC": choice, "OMP_NUM_THREADS": "1"}
                out = subprocess.run([sys.executable, __file__, "--child", name, "--clips", str(args.clips),
                                      "--seconds", str(args.seconds)], env=env, check=True, capture_output=True,
                                     text=True).stdout
                runs[choice].append(json.loads(out.splitlines()[-1]))
        best = {choice: min(r, key=lambda run: run["user"] + run["sys"]) for choice, r in runs.items()}
        if len({run["digest"] for r in runs.values() for run in r}) > 1:
            raise SystemExit(f"{name}: the allocators gave different weights or logits: {runs}")
        if not best["tuned"]["tuned"]:
            raise SystemExit("the thresholds could not be set here (not glibc?): nothing to compare")
        ratio = (best["system"]["user"] + best["system"]["sys"]) / (best["tuned"]["user"] + best["tuned"]["sys"])
        for choice, run in best.items():
            print(f"| {name} | {choice} | {run['user']:.2f} | {run['sys']:.2f} | {run['user'] + run['sys']:.2f} | "
                  f"{run['faults']:,} | {run['peak_mib']:.0f} | {run['digest']} | "
                  f"{f'{ratio:.2f}×' if choice == 'tuned' else ''} |")


if __name__ == "__main__":
    main()
