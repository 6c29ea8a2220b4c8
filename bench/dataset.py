"""Deprecated name of :mod:`rwbench.datamodel` (renamed so that it no longer reads like :mod:`rwbench.datasets`, the
loaders). Importing it still works, with a ``DeprecationWarning``; it will be removed in a later minor release."""

import warnings

from .datamodel import *  # noqa: F403

warnings.warn("rwbench.dataset is now rwbench.datamodel (or import from rwbench: rwbench.register_dataset, "
              "rwbench.Dataset, rwbench.Clip); the old name will be removed", DeprecationWarning, stacklevel=2)
