"""``--compile``: a front-end's network under ``torch.compile`` (inductor; its C++ backend on CPU), with a fallback.

The first call compiles (tens of seconds per network on a 2-core CPU; a new input shape compiles again). When the
compiler is missing or fails, one info line says so and the network runs as it is: the numbers are the same
either way, within float rounding (``benchmarks/README.md`` has the measured differences and speeds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)


def compile_net(net: nn.Module, name: str) -> CompiledForward:
    """Make ``net``'s ``forward`` the compiled one, in place (its parameters and state dict keys are unchanged), and
    return it: its ``failed`` turns true when compiling failed and ``net`` fell back to its eager ``forward``."""
    net.forward = CompiledForward(net.forward, name)
    return net.forward


class CompiledForward:
    """``torch.compile(eager)``, or ``eager`` for good from the first failure to compile."""

    def __init__(self, eager: Callable, name: str) -> None:
        self.eager, self.name, self.failed = eager, name, False
        try:
            self.compiled = torch.compile(eager)
        except Exception as err:  # torch built without dynamo, an unsupported Python
            self._fall_back(err)

    def __call__(self, *args, **kwargs):
        if not self.failed:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as err:  # no C++ compiler, an operation inductor cannot lower, or the input's own fault
                out = self.eager(*args, **kwargs)  # the input's fault raises here, and compiling stays on
                self._fall_back(err)
                return out
        return self.eager(*args, **kwargs)

    def _fall_back(self, err: Exception) -> None:
        self.failed = True
        first = (str(err).strip().splitlines() or [""])[0]
        log.info("--compile: torch.compile failed for %s (%s: %s); it runs without compiling", self.name,
                 type(err).__name__, first[:200])
