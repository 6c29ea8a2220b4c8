"""Time rwbench's log-mel (``rwbench.dsp.LogMel``) against librosa and against |z|² taken as ``abs()²``, in one run.

    python benchmarks/logmel.py [--clips 32] [--seconds 1] [--threads 1] [--repeats 20]

One row per distinct log-mel configuration of the registry's front-ends: a batch of ``--clips`` noise clips of
``--seconds`` s, float32. ``rwbench``: ``LogMel`` as shipped (power as re² + im²); ``abs()²``: the same module
with the power computed as the complex magnitude squared (rwbench before 2026-12-04); ``librosa``:
``librosa.power_to_db(librosa.feature.melspectrogram(...))`` clip by clip (float32 numpy, the reference the module
is tested against). Each variant's best of ``--repeats`` calls, the variants taking turns so that load falls on all
three alike; the largest difference of the two torch variants in dB is printed beside them.
"""

from __future__ import annotations

import argparse
import time

import librosa
import numpy as np
import torch

from rwbench.dsp import COMPRESSIONS, LogMel
from rwbench.frontend import FRONTENDS


def abs_squared_logmel(module: LogMel, wave: torch.Tensor) -> torch.Tensor:
    """``module``'s output with the power spectrum taken as ``spec.abs().pow(2)``."""
    c = module.config
    spec = torch.stft(wave.squeeze(1), n_fft=c.n_fft, hop_length=c.hop_length, window=module.window32, center=True,
                      pad_mode="constant", return_complex=True)
    mel = spec.abs().pow(c.power).transpose(1, 2) @ module.mel_basis32
    return COMPRESSIONS[c.compression](mel, c).unsqueeze(1)


def librosa_logmel(module: LogMel, wave: torch.Tensor) -> np.ndarray:
    c = module.config
    out = []
    for clip in wave.squeeze(1).numpy():
        mel = librosa.feature.melspectrogram(y=clip, sr=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length,
                                             n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax, power=c.power,
                                             center=True, pad_mode="constant")
        out.append(librosa.power_to_db(mel, top_db=c.top_db))
    return np.stack(out)


VARIANTS = {"rwbench": LogMel.__call__, "abs": abs_squared_logmel, "librosa": librosa_logmel}


def best_ms(module: LogMel, wave: torch.Tensor, repeats: int) -> dict[str, float]:
    best = {name: float("inf") for name in VARIANTS}
    for variant in VARIANTS.values():  # warm-up (numba compiles librosa's code on its first call)
        variant(module, wave)
    for _ in range(repeats):
        for name, variant in VARIANTS.items():
            start = time.perf_counter()
            variant(module, wave)
            best[name] = min(best[name], (time.perf_counter() - start) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    configs: dict = {}
    for name in FRONTENDS.names():
        spec = FRONTENDS.get(name)
        if spec.logmel is not None:
            configs.setdefault(spec.logmel, []).append(name)
    generator = torch.Generator().manual_seed(0)
    print(f"{args.clips} clips × {args.seconds:g} s, float32, {args.threads} thread(s), best of {args.repeats}; "
          f"torch {torch.__version__}, librosa {librosa.__version__}\n")
    print("| log-mel (front-ends) | rwbench ms | abs()² ms | librosa ms | abs()² ÷ rwbench | librosa ÷ rwbench "
          "| max |Δ| dB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for config, names in configs.items():
        module = LogMel(config)
        wave = 0.1 * torch.randn(args.clips, 1, round(args.seconds * config.sample_rate), generator=generator)
        with torch.no_grad():
            ms = best_ms(module, wave, args.repeats)
            delta = (module(wave) - abs_squared_logmel(module, wave)).abs().max().item()
        label = (f"{config.sample_rate} Hz, n_fft {config.n_fft}, hop {config.hop_length}, {config.n_mels} mels, "
                 f"{config.compression} ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})")
        print(f"| {label} | {ms['rwbench']:.2f} | {ms['abs']:.2f} | {ms['librosa']:.2f} | "
              f"×{ms['abs'] / ms['rwbench']:.2f} | ×{ms['librosa'] / ms['rwbench']:.2f} | {delta:.1e} |")


if __name__ == "__main__":
    main()
