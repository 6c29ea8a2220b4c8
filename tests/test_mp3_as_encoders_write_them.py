"""MP3s as real encoders write them: an ID3v2 tag in front (MagnaTagATune's carry a COMM frame) and, for
constant-bitrate files, no Xing/Info header, so libsndfile estimates the frame count from the file size, tag bytes
included, and over-reports it. The header checks must never refuse a file that decodes in full, and the length
reported must be what decodes. The files are built here (libsndfile's LAME encoder, then the tag and header surgery
done by hand); ``lame`` itself is used where installed."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rwbench import audio
from rwbench.cli import main
from rwbench.errors import DataError

BITRATES_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
BITRATES_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by MPEG version bits


def frame_length(header: bytes) -> int:
    """Bytes of the MPEG layer III frame whose 4-byte header this is."""
    version = (header[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    bitrate = (BITRATES_V1 if version == 3 else BITRATES_V2)[header[2] >> 4] * 1000
    rate = RATES[version][(header[2] >> 2) & 3]
    return (144 if version == 3 else 72) * bitrate // rate + ((header[2] >> 1) & 1)


def without_xing(data: bytes) -> bytes:
    """The stream without its first frame when that frame is a Xing/Info header (LAME writes one)."""
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0, "an MPEG frame first"
    first = frame_length(data[:4])
    return data[first:] if any(tag in data[:first] for tag in (b"Xing", b"Info")) else data


def id3v2(*frames: tuple[bytes, bytes], padding: int = 0) -> bytes:
    """An ID3v2.3 tag: ``ID3``, version 3.0, no flags, a syncsafe size, the frames, then zero padding."""
    body = b"".join(fid + struct.pack(">I", len(payload)) + b"\0\0" + payload for fid, payload in frames)
    size = len(body) + padding
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + body + b"\0" * padding


MTAT_TAG = id3v2((b"COMM", b"\x00eng\x00" + b"Magnatune.com: an excerpt of 29.1 s" * 8),
                 (b"TENC", b"\x00LAME 3.97"), (b"TIT2", b"\x00one track"), padding=1024)


SECONDS, RATE = 6.0, 16000
SLACK = 2 * 1152  # the encoder's delay and final padding: under two frames of samples


def encode(path: Path, seconds: float = SECONDS, *, cbr: bool = True) -> np.ndarray:
    """libsndfile's LAME: constant bitrate (as MTAT's clips, 32 kbit/s class) writes no Xing/Info header; variable
    bitrate writes one (as LAME does by default)."""
    samples = (0.1 * np.random.default_rng(7).standard_normal(int(seconds * RATE))).astype(np.float32)
    mode = dict(bitrate_mode="CONSTANT", compression_level=0.9) if cbr else {}
    with open(path, "wb") as handle:
        sf.write(handle, samples, RATE, format="MP3", subtype="MPEG_LAYER_III", **mode)
    return samples


@pytest.fixture
def mp3s(tmp_path) -> dict[str, Path]:
    out = {}
    for mode, cbr in (("cbr", True), ("vbr+xing", False)):
        plain = tmp_path / f"{mode}.mp3"
        encode(plain, cbr=cbr)
        (tmp_path / f"id3+{mode}.mp3").write_bytes(MTAT_TAG + plain.read_bytes())
        out[mode], out[f"id3+{mode}"] = plain, tmp_path / f"id3+{mode}.mp3"
    return out


def test_the_fixture_is_the_case_libsndfile_gets_wrong(mp3s):
    """A tagged constant-bitrate file without Xing header: libsndfile's count is over by the tag's bytes, so the
    old tail check seeked past the real end and refused a file that decodes in full."""
    path = mp3s["id3+cbr"]
    assert not any(tag in path.read_bytes()[:4096] for tag in (b"Xing", b"Info")), "no Xing/Info header"
    with sf.SoundFile(path) as f:
        assert f.frames > SECONDS * RATE + SLACK, f.frames
    assert not audio.declares_length(path) and audio.declares_length(mp3s["id3+vbr+xing"])


@pytest.mark.parametrize("kind", ["cbr", "id3+cbr", "vbr+xing", "id3+vbr+xing"])
def test_an_mp3_that_decodes_passes_and_reports_what_decodes(mp3s, kind):
    path = mp3s[kind]
    info = audio.probe(path)
    data, rate = audio.read(path)
    assert rate == RATE and abs(len(data) - SECONDS * RATE) <= SLACK, len(data)
    assert abs(info.frames - len(data)) <= SLACK, (info.frames, len(data))  # the length reported is what decodes


def test_a_tagged_mp3_without_xing_that_is_cut_short_still_decodes_what_it_holds(mp3s):
    """Without a Xing header nothing declares the length: a shorter stream is a shorter clip, not an error."""
    path = mp3s["id3+cbr"]
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    assert audio.probe(path).frames > 0 and len(audio.read(path)[0]) > 0


def test_a_variable_bitrate_mp3_without_xing_is_refused_not_cut_short(mp3s, tmp_path):
    """libsndfile stops a Xing-less VBR stream at its size-based estimate: the frame walk shows what the file holds."""
    path = tmp_path / "vbr-no-xing.mp3"
    path.write_bytes(MTAT_TAG + without_xing(mp3s["vbr+xing"].read_bytes()))
    assert not audio.declares_length(path)
    assert audio.mpeg_seconds(path.read_bytes()) * RATE == pytest.approx(SECONDS * RATE, abs=SLACK)
    with sf.SoundFile(path) as f:
        cut = len(f.read())
    if SECONDS * RATE - cut <= audio.MPEG_SLACK:
        pytest.skip(f"this libsndfile decodes the Xing-less VBR stream in full ({cut} samples)")
    with pytest.raises(DataError, match=r"samples its MPEG frames hold decode \(a variable-bitrate MP3 without a Xing"):
        audio.read(path)


def test_magnatagatune_like_clips_run_through_the_cli(tmp_path, capsys):
    """A folder of tagged, Xing-less CBR MP3s: nothing is refused or skipped."""
    for label in ("rock", "jazz"):
        for i in range(3):
            folder = tmp_path / "mtat" / label
            folder.mkdir(parents=True, exist_ok=True)
            plain = folder / f".{i}.mp3"
            encode(plain, seconds=1.0 + 0.5 * i + (label == "jazz"))  # constant bitrate: no Xing header
            (folder / f"{label}{i}.mp3").write_bytes(MTAT_TAG + without_xing(plain.read_bytes()))
            plain.unlink()
    argv = ["run", "--dataset", "folder", "--data-root", str(tmp_path / "mtat"), "--dataset-option", "k=3",
            "--dataset-option", "seconds=1.0", "--results", str(tmp_path / "r"), "--frontends", "mfcc",
            "--backends", "logreg", "--device", "cpu", "--workers", "0", "-q"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "Left out" not in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("lame") is None, reason="the lame encoder is not installed (apt-get install lame)")
@pytest.mark.parametrize("flags", [["--cbr", "-b", "32", "-t"], ["--cbr", "-b", "32"], ["-V", "4"]])
def test_files_lame_writes_pass(tmp_path, flags):
    """lame's own files: ``-t`` drops the Xing/LAME header (as in MTAT), ``--add-id3v2`` writes the ID3v2 tag."""
    wav = tmp_path / "in.wav"
    samples = (0.1 * np.random.default_rng(3).standard_normal(16000 * 5)).astype(np.float32)
    sf.write(wav, samples, 16000, subtype="PCM_16")
    out = tmp_path / "out.mp3"
    subprocess.run(["lame", "--quiet", *flags, "--add-id3v2", "--pad-id3v2-size", "1024", "--tc",
                    "Magnatune.com: a comment", str(wav), str(out)], check=True, timeout=60)
    assert out.read_bytes()[:3] == b"ID3"
    info = audio.probe(out)
    data, _ = audio.read(out)
    assert info.frames > 0 and abs(len(data) - len(samples)) < 4096, (info.frames, len(data), len(samples))
