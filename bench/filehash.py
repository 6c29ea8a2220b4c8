"""Content digests of audio files, remembered by their stat so an unchanged file is read once.

A file's sha1 is stored in a small SQLite table keyed by its real path, size, mtime, ctime and inode.
Any write to a file changes its ctime (which no user tool can set back), so a replaced or edited
file is hashed again, while a rerun over unchanged files only stats them; a file written in the last
:data:`RACY_SECONDS` is not remembered (on a filesystem with 1-second timestamps a second write within
that second leaves the stat as it was: git's "racily clean" case). The table lives in
``rwbench_home()`` (``$RWBENCH_HOME``, else ``$XDG_CACHE_HOME/rwbench``, default ``~/.cache/rwbench``);
where it cannot be written every file is hashed on every use, which is slower and as correct; a damaged one is moved
aside (``*.corrupt``) and a new one started.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import sqlite3
import threading
import time
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

RACY_SECONDS = 2.0  # a file changed this recently is hashed again next time, not remembered


def rwbench_home() -> Path:
    if os.environ.get("RWBENCH_HOME"):
        return Path(os.environ["RWBENCH_HOME"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "rwbench"


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes, read in blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def sha1_of(path: Path) -> str:
    return file_digest(path, "sha1")


def sha256_of(path: Path) -> str:
    return file_digest(path, "sha256")


def code_sha256(obj) -> str | None:
    """The sha256 of the source file that defines ``obj`` (a function, class or ``functools.partial`` of one) when it
    is not rwbench's own code: a plugin's network or estimator edited in place then gets new cache and result keys
    (rwbench's own bump their ``version`` by hand). None for rwbench's code; where no file can be read (a notebook
    cell, ``python -c``), the sha256 of ``obj`` pickled by value (:func:`value_sha256`)."""
    import functools
    import inspect

    while isinstance(obj, functools.partial):
        obj = obj.func
    module = inspect.getmodule(obj)
    if module is not None and module.__name__.split(".")[0] == "rwbench":
        return None
    try:
        return sha256_of(Path(inspect.getsourcefile(obj) or ""))
    except (OSError, TypeError):  # a notebook cell, `python -c`, stdin: no file to hash, so its value
        return value_sha256(obj)


def with_sources(code: str, files: Sequence[Path]) -> str:
    """``code`` (a plugin file's sha256) joined with the sha256 of each of ``files`` (modules its network is built
    from): editing any of them gives new keys. ``code`` itself where ``files`` is empty; else ``net:`` and the
    sha256 of them all (taken once: a spec copied with ``dataclasses.replace`` keeps it)."""
    if not files:
        return code
    joined = json.dumps([code, *sorted(sha256_of(f) for f in files)])  # by content: the same in any checkout
    return "net:" + hashlib.sha256(joined.encode()).hexdigest()


def registering_code(build, depth: int = 1) -> str | None:
    """:func:`code_sha256` of a registered ``build``; where that is rwbench's own code (``functools.partial`` of one of
    its networks or estimators with other arguments, say) registered from a file outside rwbench, the sha256 of that
    file (the caller ``depth`` frames up), so that editing the plugin's arguments gives new keys; from a notebook
    cell or ``python -c``, ``build`` pickled by value. None for rwbench's own registrations."""
    import sys

    code = code_sha256(build)
    if code is not None:
        return code
    caller = sys._getframe(depth + 1).f_globals
    if str(caller.get("__name__", "")).split(".")[0] == "rwbench":
        return None
    try:
        return sha256_of(Path(caller["__file__"]))
    except (KeyError, OSError, TypeError):
        return value_sha256(build)


def files_digest(files: Sequence[Path], root: Path) -> str:
    """One sha256 of ``files`` (sorted), their paths relative to ``root`` and their contents (sha1s remembered by
    stat, :func:`file_digests`): a folder's, or a set's, identity."""
    files = sorted(files)
    listing = [[Path(f).relative_to(root).as_posix(), digest] for f, digest in zip(files, file_digests(files))]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


_BY_NAME = threading.Lock()


_NOW: dict[tuple, str] = {}


def code_now(code: str | None, build) -> str | None:
    """A registered ``code`` as ``build`` is now. A build hashed by value (a notebook's: the classes and functions it
    names are globals of ``__main__``) is hashed again when a global it reaches has been rebound since — a class
    redefined after registering, a helper its ``forward`` calls, a constant its ``__init__`` reads: another network,
    not the old one's cache and results — and only then: a mutable global it uses (a list it appends to) does not
    change the key mid-run. Where it cannot be pickled now, the registered code stands. Other codes (a file's
    sha256) are returned as they are."""
    if code is None or not code.startswith("value:"):
        return code
    import functools

    function = build
    while isinstance(function, functools.partial):
        function = function.func
    identity = (id(function), code, globals_reached(function))
    if identity not in _NOW:
        now = value_sha256(build)
        _NOW[identity] = now if now.startswith("value:") else code
    return _NOW[identity]


def globals_reached(function) -> tuple[tuple[str, int], ...]:
    """``(name, id)`` of every global of ``function``'s module that it names, and that the functions and classes of
    that module it reaches name in turn (methods, nested functions, lambdas), and of those classes' attributes
    (``Class.name``): rebinding any of them changes the ids."""
    scope = getattr(function, "__globals__", {})
    module = scope.get("__name__")
    seen: dict[str, int] = {}
    todo, visited = [function], set()
    while todo:
        obj = todo.pop()
        if id(obj) in visited:
            continue
        visited.add(id(obj))
        if inspect.isclass(obj):  # an attribute or method set on the class (`Net.KERNEL = 64`): another network
            seen.update((f"{obj.__qualname__}.{attr}", id(value)) for attr, value in vars(obj).items())
        for name in (n for code in _codes(obj) for n in code.co_names if n in scope and n not in seen):
            seen[name] = id(value := scope[name])
            if getattr(value, "__module__", None) == module and (inspect.isfunction(value) or inspect.isclass(value)):
                todo.append(value)
    return tuple(sorted(seen.items()))


def _codes(obj) -> Iterator[types.CodeType]:
    """The code objects of a function (with those nested in it) or of a class's methods and properties."""
    if inspect.isclass(obj):
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)  # staticmethod, classmethod
            parts = [member.fget, member.fset, member.fdel] if isinstance(member, property) else [member]
            for part in (p for p in parts if inspect.isfunction(p)):
                yield from _codes(part)
        return
    stack = [obj.__code__] if inspect.isfunction(obj) else []
    while stack:
        code = stack.pop()
        yield code
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]


def value_sha256(obj) -> str:
    """The sha256 of ``obj`` pickled by value (cloudpickle: the function with the code and classes it uses), or a
    key of this process alone where it cannot be pickled: an edited network is never keyed as the old one."""
    try:
        import cloudpickle
        from cloudpickle import cloudpickle as pickler

        with _BY_NAME:  # a class defined in __main__ is tracked by a random id per process: by its name here, so
            tracker = pickler._get_or_create_tracker_id  # the same definition hashes alike in every process
            pickler._get_or_create_tracker_id = lambda cls: f"{cls.__module__}.{cls.__qualname__}"
            try:
                data = cloudpickle.dumps(obj)
            finally:
                pickler._get_or_create_tracker_id = tracker
        return "value:" + hashlib.sha256(data).hexdigest()
    except Exception as err:  # not importable, or not picklable: never reused by another process
        import uuid

        log.warning("%s has no source file and cannot be pickled (%s): its cache entries and results are not "
                    "reused by another process", getattr(obj, "__qualname__", obj), err)
        return "process:" + uuid.uuid4().hex


def _memo_path() -> Path:
    return rwbench_home() / "file-hashes.sqlite3"


def _memo() -> sqlite3.Connection | None:
    try:
        _memo_path().parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(_memo_path(), timeout=60)
    except (OSError, sqlite3.Error) as err:
        log.debug("no file-hash memo (%s): hashing every file", err)
        return None
    try:
        db.execute("CREATE TABLE IF NOT EXISTS digest (path TEXT PRIMARY KEY, stat TEXT NOT NULL, sha1 TEXT NOT NULL)")
        return db
    except sqlite3.Error as err:
        _give_up(db, err)
        return None


def _give_up(db: sqlite3.Connection, err: sqlite3.Error) -> None:
    """Close a memo that failed (the files are then hashed without it); a damaged one, not a locked or read-only one,
    is moved aside, so that the next use starts a new one."""
    db.close()
    if isinstance(err, sqlite3.OperationalError):
        log.debug("file-hash memo not used: %s", err)
        return
    path = _memo_path()
    try:
        os.replace(path, path.with_name(path.name + ".corrupt"))
        done = f"moved aside to {path.name}.corrupt, a new one is started"
    except OSError as move_err:
        done = f"delete it (it cannot be moved aside: {move_err})"
    log.warning("the file-hash memo %s is damaged (%s): %s; files are hashed without it", path, err, done)


def content_stat(st: os.stat_result) -> tuple[int, int, int]:
    """What a rewrite (size, modification time) or a replacement (inode) of a file changes, and a chmod or a new
    hard link (the change time) does not."""
    return st.st_size, st.st_mtime_ns, st.st_ino


def file_digests(paths: Sequence[Path], stats: dict[str, tuple[int, int, int]] | None = None) -> list[str]:
    """The sha1 of each file's bytes (an OSError, e.g. a missing file, propagates); ``stats``: filled with each
    path's :func:`content_stat` as it was before its bytes were read (a later rewrite then differs from it)."""
    db = _memo()
    out, fresh = [], []
    for path in paths:
        real = os.path.realpath(path)
        st = os.stat(real)
        if stats is not None:
            stats[str(path)] = content_stat(st)
        stat = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        row = None
        if db is not None:
            try:
                row = db.execute("SELECT stat, sha1 FROM digest WHERE path = ?", (real,)).fetchone()
            except sqlite3.Error as err:
                _give_up(db, err)
                db = None
        if row and row[0] == stat:
            out.append(row[1])
            continue
        digest = sha1_of(Path(real))
        out.append(digest)
        if time.time() - max(st.st_mtime, st.st_ctime) > RACY_SECONDS:  # else a rewrite this second keeps the stat
            fresh.append((real, stat, digest))
    if db is not None:
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO digest VALUES (?, ?, ?)", fresh)
            db.close()
        except sqlite3.Error as err:
            _give_up(db, err)
    return out
