"""Any installed HEAR-API module as an rwbench front-end: ``--frontends 'hear:MODULE[?key=value&...]'``.

``MODULE`` is imported and ``MODULE.load_model(model)`` called once; each clip (at ``model.sample_rate``, cropped
or padded as the dataset says) becomes ``MODULE.get_scene_embeddings`` of it, or with ``embedding=timestamps``
the mean over time of ``MODULE.get_timestamp_embeddings``. Options:

============= ==============================================================================================
``embedding`` ``scene`` (default) or ``timestamps`` (mean-pooled over the timestamps)
``model``     the ``model_file_path`` given to ``load_model`` (default ``""``: the module's own default)
============= ==============================================================================================

The front-end has no rwbench weights (input kind ``none``, weights ``none``); it is embedded once and cached like
any other. What identifies it — module, its distribution and version (``importlib.metadata``), the digest of its
package's files, the code it uses beside it (:func:`dependencies`), the model file and its sha256 — is hashed into
the spec's ``version`` (so a new release, an edited helper or a changed model file is embedded again) and recorded
in each result as ``frontend.hear`` (:func:`provenance`). A model file given by a path
is named in the front-end's name by its file name and the first 8 hex digits of its sha256.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import re
import sys
import types
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import unquote

import torch
from torch import nn

from .errors import PluginError, RwbenchError, UnknownNameError
from .filehash import code_sha256, files_digest, sha256_of
from .frontend import FrontendSpec

log = logging.getLogger(__name__)

PREFIX = "hear:"
ADAPTER_VERSION = 1  # bump when the way a HEAR module is called changes: it is part of the cache key
Embedding = Literal["scene", "timestamps"]
API = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")


@dataclass(frozen=True)
class HearRef:
    """A parsed ``hear:MODULE?embedding=...&model=...`` name."""

    module: str
    embedding: Embedding = "scene"
    model: str = ""

    @classmethod
    def parse(cls, name: str) -> HearRef:
        module, _, query = name.removeprefix(PREFIX).partition("?")
        if not module or not all(part.isidentifier() for part in module.split(".")):
            raise RwbenchError(f"front-end {name!r}: give an importable module, hear:MODULE[?embedding=scene|timestamps"
                               "&model=PATH]")
        options = {}
        for part in query.split("&") if query else []:  # not parse_qsl: it reads '+' in a path as a space
            key, equals, value = part.partition("=")
            if not equals:
                raise RwbenchError(f"front-end {name!r}: {part!r} is not key=value")
            options[unquote(key)] = unquote(value)
        for key in options:
            if key not in ("embedding", "model"):
                raise UnknownNameError(f"option of {name!r}", key, ["embedding", "model"])
        embedding = options.get("embedding", "scene")
        if embedding not in get_args(Embedding):
            raise RwbenchError(f"front-end {name!r}: embedding={embedding} is not one of {list(get_args(Embedding))}")
        return cls(module, embedding, options.get("model", ""))  # type: ignore[arg-type]


class HearNet(nn.Module):
    """Waveform ``(batch, 1, samples)`` → ``[(batch, dim)]`` through a loaded HEAR model (a registered submodule,
    so ``.to(device)`` moves it). On the meta device (memory estimates) it returns an empty tensor of the shape."""

    def __init__(self, module, model: nn.Module, embedding: Embedding, dim: int) -> None:
        super().__init__()
        self.module, self.model, self.embedding, self.dim = module, model, embedding, dim

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        if wave.is_meta:
            return [torch.empty(wave.shape[0], self.dim, device="meta")]
        audio = wave[:, 0, :].float()
        if self.embedding == "scene":
            out = torch.as_tensor(self.module.get_scene_embeddings(audio, self.model))
            expected = f"({len(audio)}, {self.dim})"
        else:
            out = torch.as_tensor(self.module.get_timestamp_embeddings(audio, self.model)[0])
            expected = f"({len(audio)}, timestamps, {self.dim})"
            if out.dim() == 3 and out.shape[0] == len(audio):
                out = out.mean(dim=1)
        if tuple(out.shape) != (len(audio), self.dim):  # rows handed out by position: a wrong count is clips swapped
            raise PluginError(f"{self.module.__name__}.get_{self.embedding.removesuffix('s')}_embeddings returned "
                              f"shape {tuple(out.shape)} for {len(audio)} sounds; the HEAR API asks for {expected}")
        return [out.float().to(wave.device)]


_MADE: dict[str, FrontendSpec] = {}
_PROVENANCE: dict[str, dict] = {}
_MODEL_STAT: dict[str, list | None] = {}  # name -> the model file's stat when it was loaded


def hear_frontend(name: str) -> FrontendSpec | None:
    """The front-end ``hear:MODULE[?options]`` names (made, and its model loaded, once per process); None for any
    other name."""
    if not name.startswith(PREFIX):
        return None
    made = _MADE.get(name)
    ref = HearRef.parse(name)
    if made is None or _stat(ref.model) != _MODEL_STAT[name]:  # made, or its model file replaced since
        _MADE[name], _MODEL_STAT[name] = _make(ref, name), _stat(ref.model)
    return _MADE[name]


def _stat(model: str) -> list | None:
    """What changes when the model file (or any file of a model folder) is replaced or edited."""
    path = Path(model) if model else None
    if path is None or not path.exists():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [[str(f), f.stat().st_size, f.stat().st_mtime_ns, f.stat().st_ctime_ns] for f in files]


def _model_sha256(path: Path | None) -> str | None:
    """The sha256 of a model file, or a digest of a model folder's files (their relative paths and contents)."""
    if path is None or not path.exists():
        return None
    if path.is_file():
        return sha256_of(path)
    return files_digest([p for p in path.rglob("*") if p.is_file()], path)


def _code_sha256(module) -> str | None:
    """A digest of ``module``'s top-level package (every file under it but compiled bytecode: its code and the data
    files it reads, a config or a vocabulary), or its file's sha256: an edited install (``pip install -e``, same
    version) is embedded again."""
    top = importlib.import_module(module.__name__.split(".")[0])
    folders = [Path(p) for p in getattr(top, "__path__", [])]
    if not folders:
        return code_sha256(module)
    return hashlib.sha256("".join(files_digest([f for f in folder.rglob("*") if f.is_file() and "__pycache__" not in
                                                f.parts], folder) for folder in folders).encode()).hexdigest()


def _platform() -> set[str]:
    """The distributions rwbench itself requires (torch, numpy, ...): like rwbench's own front-ends, a HEAR module is
    not embedded again when they are upgraded."""
    names = {"rwbench"}
    for requirement in metadata.requires("rwbench") or []:
        names.add(_normal(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]))
    return names


def _normal(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _referenced(module: types.ModuleType) -> set[str]:
    """The modules that ``module``'s namespace names: imported modules, and the modules of its functions and classes."""
    names = set()
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and name != module.__name__:
            names.add(name)
    return names


def dependencies(module: types.ModuleType, model: nn.Module | None = None) -> dict[str, str]:
    """What else the code of ``module`` runs: each distribution it uses, transitively through loose modules (its
    own helpers, a wrapped package's shim) and through its own package's submodules (a package whose ``__init__``
    re-exports the API of ``.api``), by version — an editable install also by the sha256 of its code — and each
    loose module by the sha256 of its code; the walk also starts from the modules of ``model``'s classes (a network
    class that ``load_model`` imports inside the function). So upgrading the package a shim wraps, or editing a
    helper beside the module, embeds it again. Standard library and rwbench's platform (:func:`_platform`) are left
    out; the module's own package is keyed by :func:`_code_sha256`."""
    own, platform, distributions = module.__name__.split(".")[0], _platform(), metadata.packages_distributions()
    found: dict[str, str] = {}
    todo, seen = [module.__name__, *(type(layer).__module__ for layer in (model.modules() if model else ()))], set()
    while todo:
        name = todo.pop()
        top = name.split(".")[0]
        if name in seen or top in sys.stdlib_module_names or top == "builtins":
            continue
        seen.add(name)
        loaded = sys.modules.get(name)
        if top != own:  # the own package's code is keyed by module_sha256; what its modules import is walked
            if dists := distributions.get(top):  # a distribution: keyed by its release, not walked
                if _normal(dists[0]) not in platform:
                    found[f"distribution {dists[0]}"] = _release(dists[0], top)
                continue
            if not isinstance(loaded := loaded or sys.modules.get(top), types.ModuleType):
                continue
            found[f"module {loaded.__name__}"] = _code_sha256(loaded) or ""
        if isinstance(loaded, types.ModuleType):
            todo += sorted(_referenced(loaded))
    return dict(sorted(found.items()))


def _release(distribution: str, top: str) -> str:
    """A distribution's version; for an editable install (``pip install -e``: edits keep the version) also the
    sha256 of its code."""
    version = metadata.version(distribution)
    try:
        editable = json.loads(metadata.distribution(distribution).read_text("direct_url.json") or "{}").get(
            "dir_info", {}).get("editable", False)
    except (ValueError, AttributeError):
        editable = False
    if editable and isinstance(installed := sys.modules.get(top), types.ModuleType):
        return f"{version} (editable, sha256 {_code_sha256(installed)})"
    return version


def _state_sha256(model: nn.Module) -> str:
    """A digest of what ``model`` computes with: every parameter and buffer, by name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{key}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def provenance(name: str) -> dict | None:
    """What a ``hear:`` front-end is made of (recorded in results as ``frontend.hear``); None for other names."""
    return _PROVENANCE.get(name)


def _import(ref: HearRef, name: str):
    try:
        module = importlib.import_module(ref.module)
    except Exception as err:  # a broken third-party module: say which, not a traceback
        raise PluginError(f"front-end {name!r}: cannot import {ref.module}: {type(err).__name__}: {err}") from err
    missing = [fn for fn in API if not callable(getattr(module, fn, None))]
    if missing:
        raise PluginError(f"front-end {name!r}: {ref.module} lacks the HEAR API function(s) {missing}")
    return module


def _distribution(module_name: str) -> tuple[str | None, str | None]:
    """(distribution, version) that installs ``module_name``; (None, ``__version__`` or None) for a loose module."""
    top = module_name.split(".")[0]
    dists = metadata.packages_distributions().get(top, [])
    if dists:
        return dists[0], metadata.version(dists[0])
    module = importlib.import_module(top)
    return None, getattr(module, "__version__", None)


def _make(ref: HearRef, name: str) -> FrontendSpec:
    module = _import(ref, name)
    path = Path(ref.model) if ref.model else None
    sha = _model_sha256(path)
    try:
        model = module.load_model(ref.model) if ref.model else module.load_model()
    except Exception as err:
        raise PluginError(f"front-end {name!r}: {ref.module}.load_model({ref.model!r}) failed: "
                          f"{type(err).__name__}: {err}") from err
    if not isinstance(model, nn.Module):
        raise PluginError(f"front-end {name!r}: {ref.module}.load_model returned {type(model).__name__}; rwbench runs "
                          "PyTorch HEAR models (torch.nn.Module)")
    model.eval()
    api: Any = model  # the HEAR API's attributes (sample_rate, *_embedding_size), unknown to nn.Module
    lacking = [a for a in ("sample_rate", "scene_embedding_size", "timestamp_embedding_size") if not hasattr(api, a)]
    if lacking:
        raise PluginError(f"front-end {name!r}: the model {ref.module}.load_model returned lacks the HEAR API "
                          f"attribute(s) {lacking}")
    dim = int(api.scene_embedding_size if ref.embedding == "scene" else api.timestamp_embedding_size)
    dist, version = _distribution(ref.module)
    record = {"module": ref.module, "distribution": dist, "version": version, "embedding": ref.embedding,
              "model_file": str(path.resolve()) if path is not None and path.exists() else ref.model or None,
              "model_sha256": sha, "sample_rate": int(api.sample_rate), "embedding_size": dim,
              "adapter_version": ADAPTER_VERSION,
              "module_sha256": _code_sha256(module),  # a release's version does not change with an edited install
              "dependencies": dependencies(module, model),
              "state_sha256": _state_sha256(model)}  # weights the module loads itself (its own data files, a path
    # inside a model spec): another state is another network, whatever file names say
    identity = {k: v for k, v in record.items() if k != "model_file" or sha is None}  # a moved file is the same model
    canonical = _canonical(ref, path, sha)
    _PROVENANCE[canonical] = _PROVENANCE[name] = record
    net = HearNet(module, model, ref.embedding, dim)
    release = f"{dist} {version}" if dist else f"version {version}" if version else "not installed as a package"
    weights = f"; load_model({ref.model!r})" + (f", sha256 {sha[:12]}" if sha else "") if ref.model else ""
    return FrontendSpec(
        name=canonical, build=lambda _filters: net, input_kind="none", sample_rate=int(api.sample_rate),
        widths={"small": 1, "paper": 1}, feature_dim=lambda _filters: dim, feature_layers=(ref.embedding,),
        source=f"HEAR API module {ref.module} ({release}){weights}",
        min_input=1, pad_to_min="repeat", input_length="any length (the HEAR module's own rule)",
        description=f"{ref.embedding} embeddings of {ref.module} through the HEAR API: {dim}-d",
        version=int(hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12], 16))


def _canonical(ref: HearRef, path: Path | None, sha: str | None) -> str:
    """The front-end's name: the options that differ from the defaults, in a fixed order; a model path shows as
    its file name and sha256[:8] (a name is also a cache folder name, so it holds no '/')."""
    options = []
    if ref.embedding != "scene":
        options.append(f"embedding={ref.embedding}")
    if ref.model:
        if sha:  # a file or folder: its name and content
            options.append(f"model={path.name if path is not None else ref.model}@{sha[:8]}")
        else:  # a name the module resolves (a hub id such as alice/base): all of it, told apart from bob/base
            shown = ref.model.replace("/", "_")
            options.append(f"model={shown}" + (f"@{hashlib.sha1(ref.model.encode()).hexdigest()[:8]}"
                                               if shown != ref.model else ""))
    return PREFIX + ref.module + ("?" + "&".join(options) if options else "")
