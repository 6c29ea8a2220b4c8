"""Pretrained weights: packs of published checkpoints, installed once as safetensors, and checkpoint files.

A **weight pack** is a published archive of trained checkpoints that rwbench knows how to get and convert — e.g.
``musicnn``: the ``musicnn==0.1.0`` wheel on PyPI ships four TensorFlow checkpoints. ``rwbench weights fetch NAME``
downloads the wheel with pip (``--no-deps``; or takes it from ``--from PATH`` on an offline machine), checks its
sha256, converts each checkpoint once to a torch state dict in safetensors, and writes ``pack.json`` last, listing
every file with its sha256. Installed packs live under :func:`weights_home`::

    <home>/<pack>/<model>.safetensors     one per checkpoint (metadata: source wheel and sha256, tags, front-end)
    <home>/<pack>/pack.json               written last: its presence marks the pack installed

A front-end declares which of its weight tags come from which pack (``FrontendSpec.pretrained``); any front-end
also takes ``pretrained:PATH``, a safetensors file or a torch state dict (loaded with ``weights_only=True``). Every
file's sha256 goes into the embedding cache key and the result.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save
from safetensors.torch import load_file
from torch import nn

from .errors import RwbenchError
from .filehash import rwbench_home, sha256_of
from .fileio import atomic_path, read_json, write_json
from .registry import Registry
from .tf_checkpoint import CheckpointError, load_checkpoint

log = logging.getLogger(__name__)

PACK_SCHEMA = 1


class WeightsError(RwbenchError):
    """Weights that are not installed, do not match their checksum, or do not fit the network."""


@dataclass(frozen=True)
class WeightPack:
    """A published wheel of trained checkpoints and how to turn each into a torch state dict."""

    name: str
    requirement: str  # what pip downloads, e.g. "musicnn==0.1.0"
    wheel: str  # its file name
    sha256: str  # of the wheel as published
    licence: str
    models: Mapping[str, tuple[str, str]]  # checkpoint name → (front-end, weight tag)
    read: Callable[[zipfile.ZipFile, str], dict[str, np.ndarray]]  # (wheel, checkpoint name) → torch state dict
    labels: Callable[[str], tuple[str, str]] | None = None  # name → (python file in the wheel, list variable)

    def model_for(self, frontend: str, tag: str) -> str:
        for model, (fe, t) in self.models.items():
            if (fe, t) == (frontend, tag):
                return model
        raise WeightsError(f"weight pack {self.name!r} has no {tag!r} weights for front-end {frontend!r}")

    def fetch_hint(self) -> str:
        return (f"install them with `rwbench weights fetch {self.name}` (downloads {self.requirement} with pip), or "
                f"offline `rwbench weights fetch {self.name} --from PATH/{self.wheel}`")


# the entry-point group keeps the module's earlier name: plugins declare it
WEIGHT_PACKS: Registry[WeightPack] = Registry("weight pack", builtins="rwbench.architectures", group="rwbench.weights")


def register_weight_pack(**fields) -> WeightPack:
    return WEIGHT_PACKS.add(WeightPack(**fields))


def weights_home() -> Path:
    """``$RWBENCH_WEIGHTS``, else ``<rwbench home>/weights`` (``$RWBENCH_HOME``, else ``$XDG_CACHE_HOME/rwbench``,
    default ``~/.cache/rwbench``)."""
    if os.environ.get("RWBENCH_WEIGHTS"):
        return Path(os.environ["RWBENCH_WEIGHTS"]).expanduser()
    return rwbench_home() / "weights"


def write_safetensors(path: Path, state: Mapping[str, np.ndarray | torch.Tensor], metadata: dict) -> str:
    """Write ``state`` atomically as safetensors and return the file's sha256. The metadata is one sorted-JSON
    entry (``rwbench``): safetensors keeps several entries in a hash map whose order varies between writes, and the
    same weights must give the same file and checksum."""
    arrays = {k: (v.detach().cpu().contiguous().numpy() if isinstance(v, torch.Tensor) else np.ascontiguousarray(v))
              for k, v in state.items()}
    with atomic_path(path) as tmp:
        tmp.write_bytes(save(arrays, metadata={"rwbench": json.dumps(metadata, sort_keys=True)}))
    return sha256_of(path)


# -- installing a pack -------------------------------------------------------------------------
def download_wheel(pack: WeightPack, folder: Path) -> Path:
    """``pip download --no-deps`` of the pack's wheel into ``folder`` (pip's own index settings apply)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-d", str(folder), pack.requirement]
    log.info("downloading %s with pip", pack.requirement)
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheel = folder / pack.wheel
    if done.returncode != 0 or not wheel.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise WeightsError(f"pip could not download {pack.requirement} ({last}); on an offline machine copy "
                           f"{pack.wheel} here and run `rwbench weights fetch {pack.name} --from PATH/{pack.wheel}`")
    return wheel


def _labels(archive: zipfile.ZipFile, source: tuple[str, str]) -> list[str]:
    """A list literal assigned to ``name`` in a Python file of the wheel, read without importing it."""
    path, name = source
    tree = ast.parse(archive.read(path).decode())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise WeightsError(f"{path} in the wheel defines no {name}")


def tf_checkpoint_reader(prefix: Callable[[str], str],
                         convert: Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]]):
    """A pack's ``read`` for TensorFlow checkpoints in the wheel: ``prefix(model)`` is the checkpoint's prefix inside
    the wheel, ``convert(model, variables)`` maps its TF variables to a torch state dict."""
    def read(archive: zipfile.ZipFile, model: str) -> dict[str, np.ndarray]:
        start = prefix(model)
        members = [m for m in archive.namelist() if m.startswith(start) and (m.endswith(".index") or ".data-" in m)]
        if not any(m.endswith(".index") for m in members):
            raise WeightsError(f"the wheel holds no checkpoint {start}*.index for {model}")
        with tempfile.TemporaryDirectory() as tmp:
            archive.extractall(tmp, members)
            return convert(model, load_checkpoint(f"{tmp}/{start}"))  # a str keeps a trailing "/"
    return read


def _convert_model(pack: WeightPack, archive: zipfile.ZipFile, model: str, out: Path, wheel_sha: str) -> str:
    state = pack.read(archive, model)
    frontend, tag = pack.models[model]
    metadata: dict[str, Any] = {"pack": pack.name, "model": model, "frontend": frontend, "tag": tag,
                                "source": pack.requirement,
                "source_sha256": wheel_sha, "licence": pack.licence}
    if pack.labels:
        metadata["labels"] = _labels(archive, pack.labels(model))
    return write_safetensors(out, state, metadata)


def fetch(name: str, source: Path | None = None, home: Path | None = None) -> Path:
    """Install weight pack ``name`` from PyPI (``source=None``) or a local wheel; returns its folder."""
    pack = WEIGHT_PACKS.get(name)
    folder = (home or weights_home()) / pack.name
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # removed again if nothing is installed
    try:
        folder.mkdir(parents=True, exist_ok=True)  # before a download (crepe's wheel is 72 MB) it could not keep
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
        return _fetch(pack, source, folder)
    except OSError as err:  # the weights home is a file, read-only or full
        raise WeightsError(f"cannot install {pack.name} in {folder}: {err.strerror or err} "
                           "(choose the folder with RWBENCH_WEIGHTS)") from err
    finally:
        if not (folder / "pack.json").is_file():
            for empty in made:  # deepest first: the folders this call made, where they stayed empty
                with contextlib.suppress(OSError):
                    empty.rmdir()


def _fetch(pack: WeightPack, source: Path | None, folder: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        if source is None:
            wheel = download_wheel(pack, Path(tmp))
        else:
            wheel = Path(source).expanduser()
            if wheel.is_dir():
                if not (wheel / pack.wheel).is_file():
                    raise WeightsError(f"{wheel} is a folder without {pack.wheel}; pass the wheel file")
                wheel = wheel / pack.wheel
            if not wheel.is_file():
                raise WeightsError(f"{wheel} does not exist; pass the path of {pack.wheel}")
        digest = sha256_of(wheel)
        if digest != pack.sha256:
            raise WeightsError(f"{wheel} has sha256 {digest}, but {pack.wheel} as published has {pack.sha256}; "
                               "it is another file or a damaged copy")
        files = {}
        (folder / "pack.json").unlink(missing_ok=True)  # not installed until every file is converted again
        try:
            with zipfile.ZipFile(wheel) as archive:
                for model, (frontend, tag) in pack.models.items():
                    out = folder / f"{model}.safetensors"
                    files[model] = {"file": out.name, "frontend": frontend, "tag": tag,
                                    "sha256": _convert_model(pack, archive, model, out, digest)}
                    log.info("converted %s → %s", model, out)
        except (zipfile.BadZipFile, KeyError, CheckpointError) as err:  # KeyError: a member missing from the wheel
            raise WeightsError(f"cannot convert {wheel}: {err}") from err
    write_json(folder / "pack.json", {"schema": PACK_SCHEMA, "pack": pack.name, "source": pack.requirement,
                                      "wheel": pack.wheel, "wheel_sha256": pack.sha256, "licence": pack.licence,
                                      "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": files})
    return folder


def installed(name: str, home: Path | None = None) -> dict | None:
    """The ``pack.json`` of an installed pack, or None; one that is not a pack's record (unreadable, or without a
    ``files`` mapping of ``{"file": ..., "sha256": ...}`` entries) is a :class:`WeightsError` saying to reinstall."""
    path = (home or weights_home()) / name / "pack.json"
    if not path.is_file():
        return None
    try:
        info = read_json(path)
    except RwbenchError as err:
        raise WeightsError(f"{err}; reinstall with `rwbench weights fetch {name}`") from None
    files = info.get("files")
    if not isinstance(files, dict) or not all(isinstance(e, dict) and isinstance(e.get("file"), str)
                                              and isinstance(e.get("sha256"), str) for e in files.values()):
        raise WeightsError(f"{path} is not a weights pack's record (its 'files' must map each model to its file and "
                           f"sha256); reinstall with `rwbench weights fetch {name}`")
    return info


def listing(home: Path | None = None) -> list[dict]:
    """One row per known checkpoint: pack, model, front-end, tag, installed path (checked as a run checks it: a
    file the run would refuse is shown so, not as installed), sha256, source and licence."""
    rows = []
    for pack in WEIGHT_PACKS:
        try:
            info, unreadable = installed(pack.name, home) or {"files": {}}, None
        except WeightsError as err:  # this pack is shown refused; the others are listed
            info, unreadable = {"files": {}}, f"refused: {err}"
        for model, (frontend, tag) in pack.models.items():
            entry = info["files"].get(model)
            path = (home or weights_home()) / pack.name / entry["file"] if entry else None
            try:
                state = unreadable or str(_checked(pack.name, frontend, tag, home or weights_home()).path)
            except WeightsError as err:
                state = "no" if path is None or not path.is_file() else f"refused: {err}"
            rows.append({"pack": pack.name, "model": model, "frontend": frontend, "weights": tag,
                         "installed": state,
                         "sha256": entry["sha256"][:16] if entry else "", "source": pack.requirement,
                         "licence": pack.licence})
    return rows


# -- resolving and loading -----------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsFile:
    path: Path
    sha256: str


def pack_file(pack_name: str, frontend: str, tag: str) -> WeightsFile:
    """The installed file of ``frontend``'s ``tag`` weights from ``pack_name``, checked against its sha256."""
    return _checked(pack_name, frontend, tag, weights_home())


def _checked(pack_name: str, frontend: str, tag: str, home: Path) -> WeightsFile:
    pack = WEIGHT_PACKS.get(pack_name)
    model = pack.model_for(frontend, tag)
    info = installed(pack.name, home)
    entry = (info or {}).get("files", {}).get(model)
    path = home / pack.name / (entry["file"] if entry else f"{model}.safetensors")
    if entry is None or not path.is_file():
        raise WeightsError(f"front-end {frontend!r}: the {tag!r} weights ({pack.name} {model}) are not installed in "
                           f"{home / pack.name}; {pack.fetch_hint()}")
    reinstall = f"reinstall with `rwbench weights fetch {pack.name}`"
    if info.get("schema") != PACK_SCHEMA or info.get("wheel_sha256") != pack.sha256:  # type: ignore[union-attr]
        raise WeightsError(f"{home / pack.name} was installed by another rwbench or from another wheel (pack.json: "
                           f"schema {info.get('schema')}, wheel sha256 {str(info.get('wheel_sha256'))[:12]}…; this "  # type: ignore[union-attr]
                           f"rwbench converts {pack.wheel}, {pack.sha256[:12]}…, schema {PACK_SCHEMA}); {reinstall}")
    digest = sha256_of(path)
    if digest != entry["sha256"]:
        raise WeightsError(f"{path} has sha256 {digest}, not the {entry['sha256']} it was installed with (changed "
                           f"or damaged); {reinstall}")
    said = file_metadata(path)
    claimed = {"pack": pack.name, "model": model, "frontend": frontend, "tag": tag, "source_sha256": pack.sha256}
    if wrong := {k: said.get(k) for k, v in claimed.items() if said.get(k) != v}:  # another model's file in its place
        raise WeightsError(f"{path} is not {pack.name}'s {model} ({frontend} {tag}): its own metadata says "
                           + ", ".join(f"{k} {v!r}" for k, v in wrong.items()) + f"; {reinstall}")
    return WeightsFile(path, digest)


def file_metadata(path: Path) -> dict:
    """The ``rwbench`` metadata a converted file carries (:func:`write_safetensors`); {} when it has none."""
    try:
        with safe_open(str(path), "np") as f:
            return json.loads((f.metadata() or {}).get("rwbench", "{}"))
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"cannot read {path}: {err}") from err


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor in a weights file (safetensors: from its header, nothing loaded)."""
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), "np") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        except (SafetensorError, OSError) as err:
            raise WeightsError(f"cannot read weights from {path}: {type(err).__name__}: {err}") from err
    return {k: tuple(v.shape) for k, v in read_state(path).items()}


def misfit(expected: Mapping[str, tuple[int, ...]], given: Mapping[str, tuple[int, ...]]) -> str:
    """What keeps weights of shapes ``given`` from a network of ``expected`` ("" when they fit): every missing,
    unexpected or mis-shaped key named (BatchNorm's step counters aside)."""
    expected = {k: tuple(v) for k, v in expected.items() if not k.endswith("num_batches_tracked")}
    given = {k: tuple(v) for k, v in given.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    misshaped = [f"{k} {given[k]} (needs {expected[k]})" for k in sorted(set(given) & set(expected))
                 if given[k] != expected[k]]
    return "; ".join(f"{what} ({len(keys)}): {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}"
                     for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
                     if keys)


def checkpoint_file(path: str | Path) -> WeightsFile:
    path = checked_checkpoint_path(path)
    return WeightsFile(path, sha256_of(path))


def checked_checkpoint_path(path: str | Path) -> Path:
    """``pretrained:PATH``'s file, absolute; an error naming it where it is a folder or does not exist."""
    path = Path(path).expanduser().absolute()  # recorded in results and read by Dask workers from elsewhere
    if path.is_dir():
        raise WeightsError(f"pretrained weights {str(path)!r} is a folder; pretrained:PATH takes a weights file "
                           f"(.safetensors or a torch state dict), e.g. pretrained:{path / 'model.safetensors'}")
    if not path.is_file():
        raise WeightsError(f"pretrained weights file {str(path)!r} does not exist")
    return path


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors, or from a torch file (``weights_only=True``; a ``{"state_dict": ...}`` wrapper
    is unwrapped)."""
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        damaged = "" if path.suffix == ".safetensors" else " (a truncated or damaged file, or not one torch.save wrote)"
        raise WeightsError(f"cannot read weights from {path}: {type(err).__name__}: {err}{damaged}") from err
    except Exception as err:  # torch's weights-only unpickler on other bytes: KeyError, IndexError, ...
        raise WeightsError(f"cannot read weights from {path}: not a torch state dict or safetensors file "
                           f"({type(err).__name__}: {err}); save `model.state_dict()` with torch.save, or give a "
                           "safetensors file the .safetensors suffix") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state dict (name → tensor)")
    return state


def load_into(net: nn.Module, path: Path) -> None:
    """Load the state dict at ``path`` into ``net``; every missing, unexpected or mis-shaped key is named."""
    state = read_state(path)
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    if problem := misfit({k: tuple(v.shape) for k, v in net.state_dict().items()},
                         {k: tuple(v.shape) for k, v in state.items()}):
        raise WeightsError(f"{path} does not fit the network: {problem}")
    expected = net.state_dict()  # integer counts where the network has real weights: cast by load_state_dict unsaid
    if retyped := [f"{k} {v.dtype} (needs {expected[k].dtype})" for k, v in given.items()
                   if v.is_floating_point() != expected[k].is_floating_point()]:
        raise WeightsError(f"{path} does not fit the network: {len(retyped)} tensor(s) of another kind of number: "
                           f"{', '.join(retyped[:5])}{' …' if len(retyped) > 5 else ''}; save the trained floats")
    bad = {k: int((~torch.isfinite(v)).sum()) for k, v in given.items()
           if v.is_floating_point() and not torch.isfinite(v).all()}
    if bad:  # every clip's embedding would be NaN: blame the file, not the clips
        shown = ", ".join(f"{k} ({n} of {given[k].numel()})" for k, n in list(bad.items())[:5])
        raise WeightsError(f"weights file {path} holds non-finite values (NaN or ±Inf) in {len(bad)} tensor(s): "
                           f"{shown}{' …' if len(bad) > 5 else ''}; the file is damaged or came from a diverged "
                           f"training: use another checkpoint")
    net.load_state_dict(given, strict=False)
