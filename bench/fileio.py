"""Files written so that no reader ever sees half of one: atomic replace, JSON objects, OS locks, content keys.

Every writer in rwbench goes through :func:`atomic_path` (a unique temporary name beside the target, renamed over it
when the block succeeds), so a killed process never leaves a truncated file behind. :func:`exclusive` is an OS file
lock, freed by the kernel when its holder dies.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shlex
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .errors import RwbenchError

log = logging.getLogger(__name__)


def content_key(description: dict[str, Any]) -> str:
    blob = json.dumps(description, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets the mode any other file would
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask, read without changing it: from ``/proc/self/status`` (Linux ≥ 4.7). Elsewhere it must be
    set to read it, process-wide, so a thread creating a file meanwhile would get mode 0o666: it is set to itself
    (``os.umask(os.umask(0o777))`` with the most restrictive mask in between), under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # 0o777 in the window: a file created meanwhile is too private, never world-writable
        mask = os.umask(0o777)
        os.umask(mask)
    return mask


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """``text`` to ``path`` as UTF-8, atomically: an interrupted write (a full disk) keeps the file that was there."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: Path) -> dict[str, Any]:

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RwbenchError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise RwbenchError(f"cannot read {path}: expected a JSON object, found {type(data).__name__}")
    return data


REMIND_SECONDS = 180.0  # a process waiting on a lock says again whom it waits for this often


@contextmanager
def exclusive(lock_file: Path, what: str) -> Iterator[None]:
    """Hold an OS file lock on ``lock_file`` (freed by the kernel if this process is killed), with a note of who holds
    it beside it (``<lock_file>.holder``, removed on release; one left by a killed holder is overwritten by the next,
    and never blocks). A process that has to wait says at WARNING whom it waits for, every :data:`REMIND_SECONDS`."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_file, mode=0o666 & ~_umask())
    note = lock_file.with_name(lock_file.name + ".holder")
    for timeout in itertools.chain([0.0], itertools.repeat(REMIND_SECONDS)):
        try:
            lock.acquire(timeout=timeout)
            break
        except Timeout:
            log.warning("waiting for another rwbench process that is computing %s: %s (lock %s)", what, holder(note),
                        lock_file)
    try:
        try:
            write_json(note, {"pid": os.getpid(), "host": socket.gethostname(), "command": shlex.join(sys.argv),
                              "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        except OSError as err:
            log.debug("no holder note %s: %s", note, err)
        yield
    finally:
        note.unlink(missing_ok=True)
        lock.release()


def holder(note: Path) -> str:
    """Who holds a lock, as its note (:func:`exclusive`) says: pid, host, since when, command line."""
    try:
        who = json.loads(note.read_text())
        named = f"process {who['pid']} on {who['host']}, holding it since {who['since']}, command `{who['command']}`"
    except (OSError, ValueError, KeyError, TypeError):  # not written yet, or a holder of an older rwbench
        return "it has left no note of who it is"
    if who["host"] == socket.gethostname() and not _alive(who["pid"]):
        named += ", no longer running (a child process of it may still hold the lock)"
    return named


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        pass
    return True
