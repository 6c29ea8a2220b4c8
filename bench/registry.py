"""Name → spec registries for front-ends, datasets and backends.

Built-ins register with a decorator when their module is imported; third-party packages advertise
a module under an entry-point group (``rwbench.frontends``, ``rwbench.datasets``,
``rwbench.backends``) and a local file can be loaded with :func:`load_plugin_file`. A plugin that
fails to import is reported by name and does not take the others down.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from .errors import PluginError, RwbenchError, UnknownNameError

log = logging.getLogger(__name__)


class Named(Protocol):
    """What a registry holds: a spec with a ``name``, its key."""

    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=Named)


class Registry(Generic[S]):
    """A named collection of frozen specs of one kind.

    ``builtins`` is the module whose import registers the built-in entries; ``group`` is the
    entry-point group third-party packages use. Both are loaded lazily on first lookup.
    """

    def __init__(self, kind: str, *, builtins: str, group: str, resolve: Callable[[str], S | None] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._builtins = builtins
        self._resolve = resolve  # makes a spec from a name no one registered (e.g. SPACE:ID), or returns None
        self._specs: dict[str, S] = {}
        self._loaded = False
        self.plugin_errors: dict[str, str] = {}

    def add(self, spec: S) -> S:
        name = spec.name
        if name in self._specs and self._specs[name] is not spec:
            raise PluginError(f"{self.kind} {name!r} is registered twice")
        self._specs[name] = spec
        return spec

    # -- lookup ---------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        importlib.import_module(self._builtins)
        for ep in metadata.entry_points(group=self.group):
            try:
                ep.load()
            except Exception as err:  # a broken plugin must not take the others down
                msg = f"{self.kind} plugin {ep.name!r} ({ep.value}) failed to load: {type(err).__name__}: {err}"
                self.plugin_errors[ep.name] = msg
                log.warning(msg)

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._specs

    def registered(self) -> list[S]:
        """Every spec in the order it was registered (built-ins first, in their modules' order; :meth:`names` sorts)."""
        self._ensure_loaded()
        return list(self._specs.values())

    def __iter__(self) -> Iterator[S]:
        return iter(self._specs[n] for n in self.names())

    def get(self, name: str) -> S:
        self._ensure_loaded()
        if name not in self._specs and self._resolve is not None and (made := self._resolve(name)) is not None:
            return self._specs.get(made.name) or self.add(made)
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def select(self, patterns: str | list[str]) -> list[S]:
        """Specs matching comma-separated names or shell wildcards, in the order asked, no repeats."""
        if isinstance(patterns, str):
            patterns = [p.strip() for p in patterns.split(",") if p.strip()]
        if not patterns:  # an unset shell variable must not become a run of nothing that exits 0
            raise RwbenchError(f"no {self.kind} named: give at least one name or wildcard (see `rwbench list`)")
        names = self.names()
        chosen: list[str] = []
        for pattern in patterns:
            if any(ch in pattern for ch in "*?[") and not pattern.startswith("hear:"):  # hear:MODULE?options: a name
                hits = fnmatch.filter(names, pattern)
                if not hits:
                    raise UnknownNameError(self.kind, pattern, names)
            else:
                hits = [self.get(pattern).name]
            chosen += [h for h in hits if h not in chosen]
        return [self._specs[n] for n in chosen]



def load_plugin_file(path: str | Path) -> None:
    """Import a local ``.py`` file whose decorators register front-ends, datasets or backends."""
    path = Path(path)
    if not path.is_file():
        raise PluginError(f"plugin file {str(path)!r} does not exist")
    module_name = f"rwbench_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {str(path)!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[module_name]
        raise PluginError(f"plugin file {str(path)!r} failed to load: {type(err).__name__}: {err}") from err
