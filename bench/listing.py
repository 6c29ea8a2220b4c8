"""Tables for ``rwbench list``: what is registered, with its declared metadata."""

from __future__ import annotations

import fnmatch

from tabulate import tabulate

from .backends import BACKENDS
from .check import count_macs
from .dataset import DATASETS
from .frontend import FRONTENDS, FrontendSpec


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 10_000 else str(n)


def _min_length(spec: FrontendSpec) -> str:
    samples = spec.min_samples()
    if samples <= 1:
        return "any"
    pad = f" ({spec.pad_to_min}-pad)" if spec.pad_to_min else ""
    return f"{samples / spec.sample_rate:.3g} s{pad}"


def _frontend_row(spec: FrontendSpec) -> dict:
    widths = {w: spec.filters(w) for w in ("small", "paper") if w in spec.widths}
    return {
        "name": spec.name,
        "input": spec.input_kind,
        "sr": spec.sample_rate,
        "dim small/paper": "/".join(str(spec.dim(w, layers=spec.defaults)) for w in widths) or str(spec.dim(1)),
        "params small/paper": "/".join(_millions(spec.param_count(w)) for w in widths) or "0",
        "MMAC/s small": f"{count_macs(spec, 'small' if 'small' in spec.widths else 1) / 1e6:.1f}",
        "min length": _min_length(spec),
        "weights": ",".join(spec.weights) if spec.is_learnable() else "none",
        "source": spec.source,
    }


def frontends(pattern: str = "*") -> str:
    rows = [_frontend_row(s) for s in FRONTENDS if fnmatch.fnmatch(s.name, pattern)]
    return tabulate(rows, headers="keys", tablefmt="simple") if rows else f"no front-end matches {pattern!r}"


def datasets(pattern: str = "*") -> str:
    rows = [{"name": s.name, "tasks": ",".join(s.tasks) or "-", "task type": s.task_type,
             "needs root": "yes" if s.needs_root else "no", "protocol": s.protocol, "description": s.description}
            for s in DATASETS if fnmatch.fnmatch(s.name, pattern)]
    return tabulate(rows, headers="keys", tablefmt="simple") if rows else f"no dataset matches {pattern!r}"


def backends(pattern: str = "*") -> str:
    rows = [{"name": s.name, "grid size": s.grid_size, "description": s.description}
            for s in BACKENDS if fnmatch.fnmatch(s.name, pattern)]
    return tabulate(rows, headers="keys", tablefmt="simple") if rows else f"no backend matches {pattern!r}"


LISTINGS = {"frontends": frontends, "datasets": datasets, "backends": backends}
