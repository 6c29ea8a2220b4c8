"""Deprecated name of :mod:`rwbench.weight_packs` (renamed so that "weights" names one thing, a weight tag, as on
the command line and in result records). Importing it still works, with a ``DeprecationWarning``; it will be removed in
a later minor release. The plugin entry-point group stays ``rwbench.weights``."""

import warnings

from .weight_packs import *  # noqa: F403

warnings.warn("rwbench.weights is now rwbench.weight_packs; the old name will be removed", DeprecationWarning,
              stacklevel=2)
