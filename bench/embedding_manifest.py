"""The typed record of one embedding cache entry (``manifest.json``), schema-versioned.

Written last when an entry is finished; read before its arrays are used. ``description`` is the dict
whose hash is the entry's key (front-end, width, weights, seed, preprocessing, dataset fingerprint, code
version): it stays a plain mapping because it is exactly what is hashed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from .errors import RwbenchError

ADDED_LATER = ("threads", "compile_seconds")  # fields whose absence is no fault (their defaults: unknown, none)
# 3: typed, with the arrays' checksums. 4: written under the 2026-12-05 fixes (fusion leaves parametrised or hooked
# convs and batch norms alone; a GRU's, ConvTranspose's, 3-d conv's and parametrised weights are drawn from the seed;
# a silent first crop is refused): an entry finished before them may hold values or rows they changed, under the same
# key. Entries of an earlier schema are computed again.
MANIFEST_SCHEMA = 4


@dataclass(frozen=True)
class EmbeddingManifest:
    key: str
    description: dict
    n_clips: int
    n_rows: int  # one row per clip, or per window when segmented
    clip_ids: tuple[str, ...]
    dim: int
    layers: dict[str, tuple[int, int]]  # feature layer -> [start, stop) columns
    weights: dict  # WeightSource.describe(): tag, seed, file, sha256
    params: int
    device: str  # a resumed entry computed on several: ``mixed (cpu ×2, cuda ×8)``, one count per chunk
    batch_size: int | tuple[int, ...] | None  # one per chunk when a resume changed it; None: not recorded
    embed_seconds: float
    skipped: tuple[dict, ...]  # {"clip", "reason"} per clip left out (one NaN row each)
    created: str
    rwbench_version: str
    files: dict[str, dict] = field(default_factory=dict)  # array file -> {"bytes", "sha256"}
    threads: int | None = None  # torch threads of the process(es) that embedded it; None: unknown or mixed
    compile_seconds: float = 0.0  # --compile: compiling, before the timed clips (embed_seconds leaves it out)
    schema_version: int = MANIFEST_SCHEMA

    @property
    def seconds_per_clip(self) -> float:
        return self.embed_seconds / max(self.n_clips, 1)

    @property
    def dataset_fingerprint(self) -> str:
        return self.description["dataset_fingerprint"]

    def with_files(self, files: dict[str, dict]) -> EmbeddingManifest:
        return replace(self, files=files)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object, where: str = "manifest") -> EmbeddingManifest:
        """The manifest in ``data``, or an error naming what is wrong (an older schema, a missing field)."""
        if not isinstance(data, dict):
            raise RwbenchError(f"{where}: expected a JSON object")
        if data.get("schema_version") != MANIFEST_SCHEMA:
            raise RwbenchError(f"{where}: schema_version {data.get('schema_version')!r}, this rwbench writes "
                               f"{MANIFEST_SCHEMA} (an older entry: it is computed again)")
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data) - set(ADDED_LATER))  # an older entry without them stays valid
        if missing:
            raise RwbenchError(f"{where}: missing field(s) {missing}")
        try:
            return cls(**{**{k: data[k] for k in names if k in data}, "clip_ids": tuple(data["clip_ids"]),
                          "skipped": tuple(data["skipped"]),
                          "batch_size": (tuple(data["batch_size"]) if isinstance(data["batch_size"], list)
                                         else data["batch_size"]),
                          "layers": {k: tuple(v) for k, v in data["layers"].items()}})
        except (TypeError, AttributeError) as err:
            raise RwbenchError(f"{where}: malformed ({err})") from err
