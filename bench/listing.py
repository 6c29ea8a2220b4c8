"""Tables for ``rwbench list``: what is registered, with its declared metadata.

Each listing imports its registry when called: ``list backends`` and ``list datasets`` need neither torch nor
librosa; ``list frontends`` imports torch (it counts each network's parameters and MACs by building it)."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from tabulate import tabulate

if TYPE_CHECKING:
    from .frontend import FrontendSpec


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 10_000 else str(n)


def _min_length(spec: FrontendSpec) -> str:
    samples = spec.min_samples()
    if samples <= 1:
        return "any"
    pad = f" ({spec.pad_to_min}-pad)" if spec.pad_to_min else ""
    return f"{samples / spec.sample_rate:.3g} s{pad}"


def _listed(spec: FrontendSpec) -> dict:
    """A front-end's row, or its name and why it cannot be built (a plugin's network failing at one width must not
    take the whole listing down)."""
    try:
        return _frontend_row(spec)
    except Exception as err:
        return {"name": spec.name, "input": spec.input_kind, "sr": spec.sample_rate,
                "source": f"error: cannot be built to be listed: {type(err).__name__}: {err}"}


def _frontend_row(spec: FrontendSpec) -> dict:
    from .macs import count_macs

    widths = {w: spec.filters(w) for w in ("small", "paper") if w in spec.widths}
    return {
        "name": spec.name,
        "input": spec.input_kind,
        "sr": spec.sample_rate,
        "dim small/paper": "/".join(str(spec.dim(w, layers=spec.defaults)) for w in widths) or str(spec.dim(1)),
        "params small/paper": "/".join(_millions(spec.param_count(w)) for w in widths) or "0",
        "MMAC/s small": f"{count_macs(spec, 'small' if 'small' in spec.widths else min(spec.widths.values())) / 1e6:.1f}",
        "min length": _min_length(spec),
        "weights": ",".join(spec.weights) if spec.is_learnable() else "none",
        "random init": spec.init if "random" in spec.weights and spec.is_learnable() else "—",
        "source": spec.source,
    }


def frontends(pattern: str = "*") -> str:
    from .frontend import FRONTENDS

    rows = [_listed(s) for s in FRONTENDS if fnmatch.fnmatch(s.name, pattern)]
    return tabulate(rows, headers="keys", tablefmt="simple") if rows else f"no front-end matches {pattern!r}"


def datasets(pattern: str = "*") -> str:
    from .datamodel import DATASETS

    rows = [{"name": s.name, "tasks": ",".join(s.tasks) or "-", "task type": s.task_type,
             "needs root": "yes" if s.needs_root else "no", "protocol": s.protocol, "description": s.description}
            for s in DATASETS if fnmatch.fnmatch(s.name, pattern)]
    return tabulate(rows, headers="keys", tablefmt="simple") if rows else f"no dataset matches {pattern!r}"


def backends(pattern: str = "*") -> str:
    from .backends import BACKENDS

    rows = [{"name": s.name, "grid size": ", ".join(f"{size} ({name})" if name else str(size)
                                                    for name, size in s.grid_sizes.items()), "description": s.description}
            for s in BACKENDS if fnmatch.fnmatch(s.name, pattern)]
    return tabulate(rows, headers="keys", tablefmt="simple") if rows else f"no backend matches {pattern!r}"


def proxies(pattern: str = "*") -> str:
    from .proxies import PROXIES

    rows = [{"name": s.name, "kind": s.kind, "what": s.description, "source": s.source}
            for s in PROXIES if fnmatch.fnmatch(s.name, pattern)]
    return tabulate(rows, headers="keys", tablefmt="simple") if rows else f"no proxy matches {pattern!r}"


def spaces(pattern: str = "*") -> str:
    from .search_space import load_space, packaged_spaces

    rows = []
    for name in sorted(packaged_spaces()):
        if fnmatch.fnmatch(name, pattern):
            space = load_space(name)
            rows.append({"name": name, "architectures": space.size, "configurations": len(space.configs),
                         "axes": ", ".join(space.axes),
                         "description": space.description})
    return tabulate(rows, headers="keys", tablefmt="simple") if rows else f"no search space matches {pattern!r}"


LISTINGS = {"frontends": frontends, "datasets": datasets, "backends": backends, "proxies": proxies, "spaces": spaces}
