"""The TensorFlow tensor-bundle reader (no TensorFlow) on the checkpoints of the musicnn wheel, intact and damaged."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rwbench.architectures.musicnn import LAYOUTS, convert
from rwbench.tf_checkpoint import CheckpointError, load_checkpoint, read_index


@pytest.fixture
def checkpoint(tmp_path, musicnn_wheel):
    """``MTT_vgg`` extracted from the wheel: returns its prefix (the checkpoint was saved with an empty name)."""
    with zipfile.ZipFile(musicnn_wheel) as wheel:
        members = [m for m in wheel.namelist() if m.startswith("musicnn/MTT_vgg/.")]
        wheel.extractall(tmp_path, members)
    return f"{tmp_path}/musicnn/MTT_vgg/"


def test_reads_every_variable_with_its_shape(checkpoint):
    entries = read_index(checkpoint)
    variables = load_checkpoint(checkpoint)
    assert entries["1CNN/kernel"].shape == (3, 3, 1, 128) and entries["dense/kernel"].shape == (256, 50)
    assert variables["2CNN/kernel"].shape == (3, 3, 128, 128) and variables["2CNN/kernel"].dtype == np.float32
    assert len(variables) == 86  # weights, batch-norm statistics, Adam slots and beta powers
    assert all(np.isfinite(v).all() for v in variables.values())
    moving_var = variables["batch_normalization_1/moving_variance"]
    assert (moving_var > 0).all() and not np.allclose(moving_var, 1)  # trained statistics, not defaults


def _flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_damaged_data_file_fails_its_checksum(checkpoint):
    data = next(p for p in Path(checkpoint).iterdir() if ".data-" in p.name)
    _flip(data, data.stat().st_size // 2)
    with pytest.raises(CheckpointError, match="fails its CRC-32C check"):
        load_checkpoint(checkpoint)


def test_a_damaged_index_block_fails_its_checksum(checkpoint):
    _flip(Path(checkpoint) / ".index", 10)
    with pytest.raises(CheckpointError, match="block at byte 0 fails its CRC-32C check"):
        read_index(checkpoint)


def test_a_truncated_data_file_is_named(checkpoint):
    data = next(p for p in Path(checkpoint).iterdir() if ".data-" in p.name)
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    with pytest.raises(CheckpointError, match="runs past the end of .*truncated data file"):
        load_checkpoint(checkpoint)


@pytest.mark.parametrize(("damage", "match"), [
    ("garbage_index", "is not a TensorFlow checkpoint index"),
    ("no_index", "checkpoint index .* not found"),
    ("no_data", "1 data shard\\(s\\) expected .* found none"),
])
def test_not_a_checkpoint_is_named(checkpoint, damage, match):
    folder = Path(checkpoint)
    if damage == "garbage_index":
        (folder / ".index").write_bytes(b"not a table" * 10)
    elif damage == "no_index":
        (folder / ".index").unlink()
    else:
        for p in folder.glob(".data-*"):
            p.unlink()
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(checkpoint)


def test_shards_are_taken_by_name_not_by_their_place_in_the_folder(checkpoint):
    """A stray file that sorts before the data shard (another save's ``.data-00000-of-00000``) was read as shard 0:
    an intact checkpoint reported as a damaged data file."""
    (Path(checkpoint) / ".data-00000-of-00000").write_bytes(b"x" * 1000)
    assert len(load_checkpoint(checkpoint)) == 86
    (Path(checkpoint) / ".data-00000-of-00001").unlink()
    with pytest.raises(CheckpointError, match=r"1 data shard\(s\) expected .*found \['.data-00000-of-00000'\]"):
        load_checkpoint(checkpoint)


def test_conversion_names_missing_and_misshaped_variables(checkpoint):
    layout, build = LAYOUTS["musicnn_vgg"]
    variables = load_checkpoint(checkpoint)
    assert set(convert(variables, layout(), build())) >= {"convs.0.weight", "bns.4.running_var", "logits.weight"}
    del variables["3CNN/bias"]
    variables["dense/kernel"] = variables["dense/kernel"][:100]
    with pytest.raises(CheckpointError, match=r"missing: \['3CNN/bias'\].*mis-shaped: \['dense/kernel \(100, 50\)"):
        convert(variables, layout(), build())


def test_reading_needs_no_tensorflow(checkpoint):
    load_checkpoint(checkpoint)
    assert "tensorflow" not in sys.modules


def test_a_big_endian_bundle_is_refused(checkpoint, monkeypatch):
    """Its header says BIG; the CRCs are of the stored bytes, so read as little-endian every check passed and the
    weights came out byte-swapped (35 of 64 musicnn tensors non-finite, the rest wrong)."""
    from rwbench import tf_checkpoint

    header = dict(tf_checkpoint._fields(next(v for k, v in _all_entries(checkpoint) if not k)))
    assert header.get(2, 0) == 0  # the wheel's own: little-endian, read as before
    original = tf_checkpoint._entries
    monkeypatch.setattr(tf_checkpoint, "_entries", lambda block: [(k, v if k else b"\x08\x01\x10\x01")
                                                                  for k, v in original(block)])
    with pytest.raises(CheckpointError, match="written big-endian"):
        read_index(checkpoint)


def _all_entries(prefix):
    from rwbench import tf_checkpoint

    data = (Path(prefix) / ".index").read_bytes()
    footer = data[-tf_checkpoint.FOOTER_BYTES:]
    _, pos = tf_checkpoint._varint(footer, 0)
    _, pos = tf_checkpoint._varint(footer, pos)
    index = tf_checkpoint._block(data, footer[pos:], Path(prefix))
    return [e for _, handle in tf_checkpoint._entries(index)
            for e in tf_checkpoint._entries(tf_checkpoint._block(data, handle, Path(prefix)))]
