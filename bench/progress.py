"""One progress display over a whole run: every embed job and every result file counts one step.

In a terminal it is a single tqdm bar (steps, elapsed, ETA; the embed job in progress shows its clips in the
bar's postfix) with log lines written above it; elsewhere (a log file, CI) it logs one plain line per finished
step — ``[12 of 36, 40 s, ETA 80 s] …`` — instead of redrawing. ``--quiet`` turns both off.
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
    """``total`` steps; ``bar``: a redrawn tqdm bar (a terminal), else a logged line per step. A context manager."""

    def __init__(self, total: int, *, bar: bool, desc: str = "run", enabled: bool = True) -> None:
        self.total, self.done, self.desc, self.enabled = total, 0, desc, enabled
        self.start = time.perf_counter()
        self._bar = None
        self._stack = ExitStack()
        if enabled and bar:
            from tqdm.auto import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._bar = tqdm(total=total, desc=desc, unit="job", dynamic_ncols=True,
                             bar_format="{desc}: {n_fmt}/{total_fmt} jobs |{bar}| {elapsed}<{remaining}{postfix}")
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
            self._bar.set_postfix_str(f"{label}: {done}/{total} clips", refresh=True)

    def step(self, message: str) -> None:
        """One step finished; ``message`` says what (a result line, an embed job computed or cached)."""
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str("", refresh=False)
            self._bar.update(1)
            if message:
                log.info("%s", message)
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        log.info("[%d of %d, %s, ETA %s] %s", self.done, self.total, _clock(elapsed), _clock(eta), message)
