"""Built-in dataset loaders: importing this package registers every module below with ``DATASETS``."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
