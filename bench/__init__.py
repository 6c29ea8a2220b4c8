"""rwbench: rank audio CNN front-ends by their random-weight embeddings (Pons & Serra 2019)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rwbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
