"""Read TensorFlow tensor-bundle checkpoints (``<prefix>.index`` + ``<prefix>.data-0000N-of-0000M``) without TensorFlow.

The ``.index`` file is a LevelDB-format sorted table: data blocks of prefix-compressed ``key → value`` entries, an
index block pointing at them, and a 48-byte footer. Its empty key holds a ``BundleHeaderProto``; every other key is a
variable name whose value is a ``BundleEntryProto`` (dtype, shape, shard, offset, size, masked CRC-32C) locating the
tensor's little-endian bytes in a data shard. References: tensorflow/core/util/tensor_bundle/tensor_bundle.proto,
tensorflow/core/lib/io/format.cc (table layout), leveldb ``doc/table_format.md``.

Every block and every tensor is checked against its stored CRC-32C, so a damaged file fails with a named error
instead of loading wrong numbers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crc32c
import numpy as np

from .errors import RwbenchError

TABLE_MAGIC = 0xDB4775248B80FB57
BIG_ENDIAN = 1  # BundleHeaderProto.Endianness.BIG
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5  # compression type (1 byte) + masked CRC-32C (4 bytes)
# TensorFlow DataType enum → numpy dtype (little-endian); strings and resources are not tensors we load.
DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 17: "<u2", 19: "<f2",
          22: "<u4", 23: "<u8"}


class CheckpointError(RwbenchError):
    """A checkpoint file that is missing, damaged, or not a tensor bundle."""


def _unmask(masked: int) -> int:
    """LevelDB/TensorFlow store ``rotate_right(crc, 15) + 0xa282ead8``; this inverts it."""
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Protobuf wire format → ``(field number, value)``: varints as int, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    value: int | bytes
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        out.append((number, value))
    return out


def _message(value: int | bytes) -> bytes:
    """A length-delimited field's bytes (a nested message)."""
    if not isinstance(value, bytes):
        raise CheckpointError(f"expected a nested protobuf message, found the number {value}")
    return value


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives (``BundleEntryProto``)."""

    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc: int | None

    @classmethod
    def parse(cls, raw: bytes) -> BundleEntry:
        f: dict[str, Any] = dict(dtype=0, shape=(), shard=0, offset=0, size=0, crc=None)
        for number, value in _fields(raw):
            if number == 1:
                f["dtype"] = value
            elif number == 2:  # TensorShapeProto: repeated Dim (field 2) {size: field 1}
                dims = [dict(_fields(_message(dim))).get(1, 0) for n, dim in _fields(_message(value)) if n == 2]
                f["shape"] = tuple(dims)
            elif number in (3, 4, 5):
                f[{3: "shard", 4: "offset", 5: "size"}[number]] = value
            elif number == 6:
                f["crc"] = value
            elif number == 7:
                raise CheckpointError("sliced (partitioned) variables are not supported")
        return cls(**f)


def _block(data: bytes, handle: bytes, path: Path) -> bytes:
    """The contents of the block a ``BlockHandle`` (offset, size varints) points at, CRC-checked."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    end = offset + size
    if end + BLOCK_TRAILER_BYTES > len(data):
        raise CheckpointError(f"{path}: block at byte {offset} runs past the end of the file (truncated?)")
    contents, kind = data[offset:end], data[end]
    (stored,) = struct.unpack_from("<I", data, end + 1)
    if crc32c.crc32c(data[offset:end + 1]) != _unmask(stored):
        raise CheckpointError(f"{path}: block at byte {offset} fails its CRC-32C check (damaged file)")
    if kind != 0:
        raise CheckpointError(f"{path}: compressed table blocks (type {kind}) are not supported")
    return contents


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Prefix-compressed ``(key, value)`` entries of a table block (restart array at the end)."""
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * n_restarts
    out, pos, key = [], 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + length]))
        pos += length
    return out


def read_index(prefix: str | Path) -> dict[str, BundleEntry]:
    """Variable name → :class:`BundleEntry` from ``<prefix>.index``; a bundle written big-endian is refused (its
    CRCs are of the stored bytes: read as little-endian it would pass them with every value wrong)."""
    path = Path(f"{prefix}.index")
    if not path.is_file():
        raise CheckpointError(f"checkpoint index {path} not found")
    data = path.read_bytes()
    if len(data) < FOOTER_BYTES or struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise CheckpointError(f"{path} is not a TensorFlow checkpoint index (bad table footer)")
    footer = data[-FOOTER_BYTES:]
    _, pos = _varint(footer, 0)  # metaindex handle: offset
    _, pos = _varint(footer, pos)  # metaindex handle: size
    index = _block(data, footer[pos:], path)
    entries: dict[str, BundleEntry] = {}
    for _, handle in _entries(index):
        for key, value in _entries(_block(data, handle, path)):
            if key:
                entries[key.decode()] = BundleEntry.parse(value)
            elif dict(_fields(value)).get(2, 0) == BIG_ENDIAN:  # the empty key: BundleHeaderProto, field 2 endianness
                raise CheckpointError(f"{path}: the checkpoint was written big-endian; this reader reads "
                                      f"little-endian bundles (load and save it again with TensorFlow on this machine)")
    return entries


def _shards(prefix: str | Path, needed: int) -> list[Path]:
    """The data files ``{prefix}.data-KKKKK-of-NNNNN``, K = 0 … N−1, by name (a stray file beside them, another
    save's shard, is not taken for one of them); one complete set of at least ``needed``."""
    header = Path(f"{prefix}.index")
    stem = header.name[:-len(".index")]
    found = sorted(header.parent.glob(f"{stem}.data-*-of-*"))
    counts = {int(n) for p in found if (n := p.name.rpartition("-of-")[2]).isdigit()}
    named = [[header.parent / f"{stem}.data-{k:05d}-of-{n:05d}" for k in range(n)] for n in sorted(counts) if n >= needed]
    sets = [paths for paths in named if all(p.is_file() for p in paths)]
    if len(sets) != 1:
        raise CheckpointError(f"checkpoint {prefix}: {needed} data shard(s) expected beside {prefix}.index "
                              f"({stem}.data-00000-of-N …), found {[p.name for p in found] or 'none'}"
                              + (": several complete sets" if sets else ""))
    return sets[0]


def load_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every numeric variable of the checkpoint at ``prefix`` (e.g. ``folder/model.ckpt``, or ``folder/`` for a
    checkpoint saved with an empty file name), as numpy arrays with their TensorFlow shapes."""
    entries = read_index(prefix)
    shards = _shards(prefix, max((e.shard for e in entries.values()), default=0) + 1)
    blobs = [s.read_bytes() for s in shards]
    out = {}
    for name, e in entries.items():
        if e.dtype not in DTYPES:
            continue  # strings / resources: not parameters
        raw = blobs[e.shard][e.offset:e.offset + e.size]
        if len(raw) != e.size:
            raise CheckpointError(f"checkpoint {prefix}: variable {name!r} runs past the end of {shards[e.shard]} "
                                  "(truncated data file)")
        if e.crc is not None and crc32c.crc32c(raw) != _unmask(e.crc):
            raise CheckpointError(f"checkpoint {prefix}: variable {name!r} fails its CRC-32C check (damaged data file)")
        array = np.frombuffer(raw, dtype=DTYPES[e.dtype])
        if array.size != int(np.prod(e.shape)):
            raise CheckpointError(f"checkpoint {prefix}: variable {name!r} holds {array.size} values, shape {e.shape}")
        out[name] = array.reshape(e.shape).copy()
    return out
