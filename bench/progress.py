"""One progress display over a whole run: every embed job and every result file counts one step.

In a terminal it is a single tqdm bar (steps, elapsed, ETA; the embed job in progress shows its clips in the
bar's postfix) with log lines written above it; elsewhere (a log file, CI) it logs one plain line per finished
step — ``[12 of 36, 0:40, ETA 1:20] …`` — instead of redrawing. ``--quiet`` turns both off.

The ETA is the mean time of the steps that did work so far (a cached embedding or an up-to-date result takes none:
counted in, it made the ETA of a half-cached run 6× too short) times the steps left, less those known to need no work
when the run starts (``known_done``: counted as work, they made a resumed study's ETA too long by the share already
written); "?" before the first. Embed and evaluate steps differ in cost, so it is a guide, not a promise.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack

log = logging.getLogger("rwbench.progress")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """``total`` steps, of which ``known_done`` are known to need no work (they are stepped too, with ``worked=False``);
    ``bar``: a redrawn tqdm bar (a terminal), else a logged line per step. A context manager."""

    def __init__(self, total: int, *, bar: bool, desc: str = "run", enabled: bool = True, known_done: int = 0) -> None:
        self.total, self.done, self.desc, self.enabled = total, 0, desc, enabled
        self.free = known_done  # those not stepped yet
        self.start = self.last = time.perf_counter()
        self.worked, self.work_seconds = 0, 0.0  # steps that did work, and their time
        self._bar = None
        self._stack = ExitStack()
        if enabled and bar:
            from tqdm.auto import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            # tqdm's own ETA counts cached steps: ours is the postfix (tqdm writes ", " before it)
            self._bar = tqdm(total=total, desc=desc, unit="job", dynamic_ncols=True, postfix="ETA ?",
                             bar_format="{desc}: {n_fmt}/{total_fmt} jobs |{bar}| {elapsed}{postfix}")
            self._stack.enter_context(logging_redirect_tqdm())  # log lines above the bar, not through it

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._stack.close()
            self._bar.close()
            self._bar = None

    def clips(self, label: str, done: int, total: int) -> None:
        """The embed job in progress: ``done`` of ``total`` clips (the bar's postfix; nothing in plain mode)."""
        if self._bar is not None:
            self._bar.set_postfix_str(f"ETA {self.eta()} ({label}: {done}/{total} clips)", refresh=True)

    def eta(self) -> str:
        """The time left: the steps left, less those known to need no work, at the mean time of those that did
        work, or "?" before one has."""
        if not self.worked:
            return "?"
        return _clock(self.work_seconds / self.worked * max(0, self.total - self.done - self.free))

    def step(self, message: str, *, worked: bool = True, failed: bool = False) -> None:
        """One step finished; ``message`` says what (a result line, an embed job computed or cached); ``worked``:
        False for a step that found its work done (a cached embedding, an up-to-date result); ``failed``: a step
        that failed (neither work to time nor one of those known to need none)."""
        now = time.perf_counter()
        self.done += 1
        if worked and not failed:
            self.worked += 1
            self.work_seconds += now - self.last
        elif not failed:
            self.free = max(0, self.free - 1)
        self.last = now
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(f"ETA {self.eta()}", refresh=False)
            self._bar.update(1)
            if message:
                log.info("%s", message)
            return
        log.info("[%d of %d, %s, ETA %s] %s", self.done, self.total, _clock(now - self.start), self.eta(), message)
