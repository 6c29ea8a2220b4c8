"""Name → spec registries for front-ends, datasets and backends.

Built-ins register with a decorator when their module is imported; third-party packages advertise
a module under an entry-point group (``rwbench.frontends``, ``rwbench.datasets``,
``rwbench.backends``) and a local file can be loaded with :func:`load_plugin_file`. A plugin that
fails to import is reported by name and does not take the others down.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import importlib.util
import logging
import re
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


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]*")  # a spec's name: it names files and comma-separated options


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a registered spec (None when it can): spaces, '/', ',' or wildcards would break file
    paths and option lists, and '__' separates the parts of a result file's name."""
    if isinstance(name, str) and NAME.fullmatch(name) and "__" not in name:
        return None
    return (f"name {name!r}: letters, digits and _ . : + - only, starting with a letter or digit, no '__' (it names "
            "files and comma-separated options)")


def _origin(spec: object) -> str:
    """Where a spec was defined: its builder's module and name (a plugin file, a notebook's ``__main__``), and the
    module's file where it has one."""
    build = getattr(spec, "build", None)
    module = getattr(build, "__module__", "?")
    where = getattr(sys.modules.get(module), "__file__", None)
    return f"{module}.{getattr(build, '__qualname__', '?')}" + (f" ({where})" if where else "")


class Registry(Generic[S]):
    """A named collection of frozen specs of one kind.

    ``builtins`` is the module whose import registers the built-in entries; ``group`` is the
    entry-point group third-party packages use. Both are loaded lazily on first lookup.
    """

    def __init__(self, kind: str, *, builtins: str, group: str, resolve: Callable[[str], S | None] | None = None,
                 check_selection: Callable[[list[S]], None] | None = None) -> None:
        self.kind = kind
        self._check_selection = check_selection  # refuses a selection :meth:`select` would return (e.g. repeats)
        self.group = group
        self._builtins = builtins
        self._resolve = resolve  # makes a spec from a name no one registered (e.g. SPACE:ID), or returns None
        self._specs: dict[str, S] = {}
        self._loaded = False
        self._loading = False  # the built-ins are being imported (they register themselves)
        self.plugin_errors: dict[str, str] = {}

    def add(self, spec: S) -> S:
        """Register ``spec``; built-ins are loaded first, so that a plugin taking one of their names is refused (not
        the built-in, half loaded). The same definition registered again (a notebook cell run twice) replaces it."""
        if not self._loading:
            self._ensure_loaded()
        name = spec.name
        old = self._specs.get(name)
        if old is not None and old is not spec:
            if _origin(old) != _origin(spec):
                raise PluginError(f"{self.kind} {name!r} of {_origin(spec)} is already registered by {_origin(old)}: "
                                  "choose another name")
            log.info("%s %r registered again by %s: the new definition replaces the old", self.kind, name, _origin(spec))
        self._specs[name] = spec
        return spec

    # -- lookup ---------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            importlib.import_module(self._builtins)
        finally:
            self._loading = False
        self._loaded = True
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
            known = self._specs.get(made.name)  # made before under its canonical name: the same, unless changed since
            if known is not None and getattr(known, "version", None) == getattr(made, "version", None):
                return known
            return self.add(made)
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names(), list(self.plugin_errors.values())) from None

    def select(self, patterns: str | list[str]) -> list[S]:
        """Specs matching comma-separated names or shell wildcards, in the order asked, no repeats."""
        if isinstance(patterns, str):
            patterns = [p.strip() for p in patterns.split(",") if p.strip()]
        if not patterns:  # an unset shell variable must not become a run of nothing that exits 0
            raise RwbenchError(f"no {self.kind} named: give at least one name or wildcard (see `rwbench list`)")
        names = self.names()
        chosen: list[str] = []
        for pattern in patterns:
            # a registered name is itself, brackets and all; hear:MODULE?options is a name
            if pattern not in names and any(ch in pattern for ch in "*?[") and not pattern.startswith("hear:"):
                hits = fnmatch.filter(names, pattern)
                if not hits:
                    raise UnknownNameError(self.kind, pattern, names, list(self.plugin_errors.values()))
            else:
                hits = [self.get(pattern).name]
            chosen += [h for h in hits if h not in chosen]
        specs = [self._specs[n] for n in chosen]
        if self._check_selection is not None:
            self._check_selection(specs)
        return specs



def plugin_module_name(path: Path) -> str:
    """The module a plugin file is imported as: its stem and a digest of its real path (``a/net.py`` and
    ``b/net.py`` are two modules, not one replacing the other's registrations as a notebook cell run again)."""
    return f"rwbench_plugin_{path.stem}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"


def load_plugin_file(path: str | Path) -> None:
    """Import a local ``.py`` file whose decorators register front-ends, datasets or backends."""
    path = Path(path)
    if path.is_dir():
        raise PluginError(f"plugin file {str(path)!r} is a folder: give the .py file(s) in it, one --plugin each")
    if not path.is_file():
        raise PluginError(f"plugin file {str(path)!r} does not exist")
    module_name = plugin_module_name(path)
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
