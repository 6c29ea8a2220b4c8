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

    widths = [w for w in ("small", "paper") if w in spec.widths]
    # a front-end of its own width names (tiny, big): each named, never the dims of one filter
    named = not widths and bool(spec.widths)
    widths = widths or list(spec.widths)

    def each(value) -> str:
        return " / ".join(f"{w} {value(w)}" if named else str(value(w)) for w in widths)

    first = widths[0] if widths else 1
    return {
        "name": spec.name,
        "input": spec.input_kind,
        "sr": spec.sample_rate,
        "dim small/paper": each(lambda w: spec.dim(w, layers=spec.defaults)) if widths else str(spec.dim(1)),
        "params small/paper": each(lambda w: _millions(spec.param_count(w))) if widths else "0",
        "MMAC/s small": (f"{first} " if named else "") + f"{count_macs(spec, first) / 1e6:.1f}",
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

    # the tasks run when --tasks names none are starred (all of them where the loader names no defaults)
    rows = [{"name": s.name, "tasks": ",".join(t + ("*" if s.default_tasks is not None and t in s.default_tasks else "")
                                              for t in s.tasks) or "-", "task type": s.task_type,
             "needs root": "yes" if s.needs_root else "no", "protocol": s.protocol, "description": s.description}
            for s in DATASETS if fnmatch.fnmatch(s.name, pattern)]
    table = tabulate(rows, headers="keys", tablefmt="simple")
    starred = any(s.default_tasks is not None for s in DATASETS if fnmatch.fnmatch(s.name, pattern))
    return (table + ("\n* run when --tasks names none (the others only when named)" if starred else "")
            if rows else f"no dataset matches {pattern!r}")


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
