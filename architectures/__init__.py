"""Built-in front-ends: importing this package registers every module below with ``FRONTENDS``."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
