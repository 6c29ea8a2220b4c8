"""Exceptions that the CLI turns into one clear line and a non-zero exit."""

from __future__ import annotations

import difflib


class RwbenchError(Exception):
    """Bad input or a failed stage: the message says what went wrong, where, and the fix."""


class UnknownNameError(RwbenchError, KeyError):
    def __init__(self, kind: str, name: str, choices: list[str], plugin_errors: list[str] | None = None) -> None:
        folded = {choice.casefold(): choice for choice in choices}  # ESC10, VGG: the case alone differs
        close = [folded[c] for c in difflib.get_close_matches(name.casefold(), list(folded), n=3, cutoff=0.5)]
        self.kind, self.close = kind, close
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        listing = f" (known: {', '.join(choices)})" if len(choices) <= 12 else f" ({len(choices)} known; see `rwbench list`)"
        # a plugin that failed to import may be the one that registers it
        failed = f"; {'; '.join(plugin_errors)}" if plugin_errors else ""
        super().__init__(f"unknown {kind} {name!r}{hint}{'' if close else listing}{failed}")

    def __str__(self) -> str:  # KeyError would add quotes
        return str(self.args[0])


class PluginError(RwbenchError):
    """A plugin file or entry point that could not be loaded."""


class DataError(RwbenchError):
    """A dataset root, split list or audio file that cannot be used as it is."""
