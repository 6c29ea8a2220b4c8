"""rwbench: rank audio CNN front-ends by their random-weight embeddings (Pons & Serra 2019)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rwbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def _writable_numba_cache() -> None:
    """librosa compiles numba functions with ``cache=True``; numba caches them beside librosa's sources or, where those
    are read-only (a cluster's shared install), under ``~/.cache/numba``. With that read-only too (a read-only home)
    every such function raises "cannot cache function …: no locator available" when librosa defines it. Where the
    user-wide folder cannot be written and ``NUMBA_CACHE_DIR`` is unset, point numba at ``<rwbench home>/numba``
    (``$RWBENCH_HOME``, default ``~/.cache/rwbench``), else at a folder in the temporary directory. Runs on import,
    before numba reads its configuration."""
    import os
    import tempfile

    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    user_wide = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "numba")
    existing = user_wide
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if os.path.isdir(existing) and os.access(existing, os.W_OK | os.X_OK):
        return
    from .filehash import rwbench_home

    for folder in (os.path.join(rwbench_home(), "numba"),
                   os.path.join(tempfile.gettempdir(), f"rwbench-numba-{os.getuid() if hasattr(os, 'getuid') else 0}")):
        try:
            os.makedirs(folder, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError:
            continue
        os.environ["NUMBA_CACHE_DIR"] = folder
        return


_writable_numba_cache()

# The public API (rwbench.api, and the registries' decorators), imported on first use: `import rwbench` stays light.
_API = {"run": "api", "load_results": "api", "compare": "api", "compare_rows": "api", "load_dataset": "api", "embedder": "api",
        "cross_validate": "api", "register_frontend": "frontend", "register_dataset": "datamodel",
        "Dataset": "datamodel", "Clip": "datamodel", "register_backend": "backends", "register_task_type": "tasks"}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'rwbench' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"rwbench.{_API[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
