"""Decoding, header checks, mono mix-down, resampling, length fixing and segmenting of clips.

Decoders: soundfile (libsndfile) reads WAV, FLAC, OGG/Opus, AU/AIFF and, from libsndfile 1.1 on,
MP3. Formats libsndfile cannot read (or MP3/AU on an older libsndfile) go through audioread, which
needs ffmpeg, GStreamer or Core Audio on the machine; :func:`decoders` says which one each
extension will use here, and a missing one is named in the error with the fix.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import soundfile as sf
import soxr

from .errors import DataError

PadMode = Literal["zero", "repeat"]

AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".au", ".snd", ".aif", ".aiff", ".aifc",
                    ".m4a", ".aac")
_SOUNDFILE_FORMATS = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".opus": "OGG",
                      ".mp3": "MP3", ".au": "AU", ".snd": "AU", ".aif": "AIFF", ".aiff": "AIFF", ".aifc": "AIFF"}
OGG_EXTENSIONS = (".ogg", ".oga", ".opus")
MAX_PEAK = 1e3  # 60 dB above full scale: float files beyond it are damaged or mis-scaled, not loud
_TAIL_FRAMES = 1024  # frames decoded at the end of a file to catch truncation cheaply
UNKNOWN_LENGTH_S = 1e7  # a header declaring more seconds than this (116 days) gives no length, not a recording's
# a header rate below this is damage: no dataset (FSDD, the lowest, is 8 kHz) nor front-end (12 kHz and up) comes near,
# and resampled it turns a few samples into a long infrasonic clip (100 frames at "1 Hz": 100 s)
MIN_NATIVE_RATE = 1000


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: enough to check it cheaply without decoding it."""

    samplerate: int
    channels: int
    frames: int
    decoder: str  # "soundfile" or "audioread"

    @property
    def seconds(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


# -- decoders ----------------------------------------------------------------------------------

def soundfile_reads(path: str | Path) -> bool:
    """Whether this machine's libsndfile can decode ``path`` (a file name or an extension like ``".mp3"``)."""
    ext = Path(path).suffix or str(path)  # Path(".mp3").suffix is "": a bare extension
    fmt = _SOUNDFILE_FORMATS.get(ext.lower())
    return fmt is not None and fmt in _soundfile_formats()


@lru_cache(maxsize=1)
def _soundfile_formats() -> frozenset[str]:
    return frozenset(sf.available_formats())


@lru_cache(maxsize=1)
def _audioread_backends() -> tuple:
    """audioread backends that can decode compressed audio (its stdlib raw reader cannot)."""
    try:
        import audioread
        from audioread import rawread
    except ImportError:
        return ()
    return tuple(b for b in audioread.available_backends() if b is not rawread.RawAudioFile)


def decoders(extensions: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3", ".au", ".m4a")) -> dict[str, str]:
    """The decoder each extension uses on this machine, or ``"none"`` with the fix."""
    out = {}
    for ext in extensions:
        if soundfile_reads(ext):
            out[ext] = f"soundfile (libsndfile {sf.__libsndfile_version__})"
        elif _audioread_backends():
            out[ext] = f"audioread ({', '.join(b.__name__ for b in _audioread_backends())})"
        else:
            out[ext] = "none (install ffmpeg)"
    return out


def _no_decoder(path: Path) -> DataError:
    kind = path.suffix.lstrip(".").upper() or "this format"
    return DataError(f"cannot decode {path}: no {kind} decoder (libsndfile {sf.__libsndfile_version__} cannot read "
                     f"it and audioread found no ffmpeg/GStreamer/Core Audio backend; install ffmpeg)")


def _read_audioread(path: Path) -> tuple[np.ndarray, int]:
    """Decode with audioread: ``(frames, channels)`` float32 and the native rate."""
    import audioread

    backends = _audioread_backends()
    if not backends:
        raise _no_decoder(path)
    try:
        with audioread.audio_open(str(path), backends=list(backends)) as f:
            rate, channels = f.samplerate, f.channels
            _check_rate(path, rate)
            pcm = np.frombuffer(b"".join(f), dtype="<i2")
    except DataError:
        raise
    except Exception as err:  # audioread raises many unrelated types for bad files
        raise DataError(f"cannot decode {path}: {type(err).__name__}: {err}") from err
    if channels < 1 or pcm.size % channels:
        raise DataError(f"cannot decode {path}: the decoder returned {pcm.size} samples for {channels} channel(s) "
                        f"(cut part-way through a frame: damaged)")
    return (pcm.astype(np.float32) / 32768.0).reshape(-1, channels), rate


def _check_rate(path: Path, rate: int) -> None:
    if rate < MIN_NATIVE_RATE:
        raise DataError(f"{path}: its header gives a sample rate of {rate} Hz, far below any recording's (rwbench "
                        f"refuses < {MIN_NATIVE_RATE} Hz): the header is damaged, and resampled, its samples would "
                        f"become a long infrasonic clip")


def unreadable(path: Path, err: OSError) -> DataError:
    """A file the operating system refuses to read (permission denied, I/O error, ...), named."""
    return DataError(f"{path} cannot be read: {err.strerror or err}")


def read(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` at its own rate: ``(frames, channels)`` float32 and the native rate."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise unreadable(path, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
    if not soundfile_reads(path):
        return _read_audioread(path)
    try:
        truncated = _header_damage(path, path.stat().st_size)
        with sf.SoundFile(path) as f:
            declared, rate = f.frames, f.samplerate
            _check_rate(path, rate)
            # GSM 6.10, G.72x, NMS-ADPCM: libsndfile cannot seek them, and soundfile then wants the count to read
            data = f.read(-1 if f.seekable() else f.frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:  # ValueError: soundfile on a garbled frame count
        raise DataError(f"cannot decode {path}: {str(err).strip().rstrip('.')} (the file is damaged part-way: "
                        f"re-download or replace it)") from err
    except OSError as err:
        raise unreadable(path, err) from err
    if truncated:
        raise DataError(f"cannot decode {path}: it {truncated}")
    if not declares_length(path):  # the header's frame count is an estimate: the MPEG frames say what decodes
        walked = mpeg_seconds(path.read_bytes())
        if walked is not None and round(walked * rate) - len(data) > MPEG_SLACK:
            raise DataError(f"cannot decode {path}: only {len(data)} of the {round(walked * rate)} samples its MPEG "
                            f"frames hold decode (a variable-bitrate MP3 without a Xing/Info header, which libsndfile "
                            f"cuts short): re-encode it with a Xing header (lame writes one unless -t) or as FLAC")
        return data, rate
    if declared - len(data) > max(2048, declared // 100):  # a decoder that stops early at damage says nothing
        raise DataError(f"cannot decode {path}: only {len(data)} of the {declared} frames its header declares "
                        f"decode (damaged part-way)")
    return data, rate


def load(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode ``path``, mix to mono and resample to ``sample_rate`` with soxr: ``(samples,)`` float32."""
    audio, native_rate = read(path)
    if audio.size == 0:
        raise DataError(f"{path} holds no audio samples")
    # the checks make no copy of the decoded audio (a 20-minute stereo file at 48 kHz is 460 MB of float32): a sum in
    # float64 is finite exactly when every sample is, and the peak is the larger of max and -min
    if not np.isfinite(audio.sum(dtype=np.float64)):
        bad = np.flatnonzero(~np.isfinite(audio).all(axis=1))
        raise DataError(f"{path} holds {len(bad)} non-finite sample(s) (NaN or ±Inf; first at {bad[0] / native_rate:.3f} s)")
    peak = _peak(audio)
    if peak == 0.0:
        raise DataError(f"{path} holds only digital silence: all {len(audio)} samples are 0 (a failed export or a "
                        f"placeholder, not a recording); scored, it would be a clip of no signal under a real label")
    if peak > MAX_PEAK:
        raise DataError(f"{path} has a peak magnitude of {peak:.3g}: not audio on any sane scale (full scale is 1.0; "
                        f"rwbench refuses > {MAX_PEAK:g}); the file is damaged or its samples are mis-scaled")
    channels = audio.shape[1]
    mono = audio[:, 0] if channels == 1 else audio.mean(axis=1)
    del audio  # the mix alone goes on to the resampler
    if (mixed := _peak(mono)) <= 1e-4 * peak:
        raise DataError(f"{path}: its {channels} channels cancel when mixed to mono (the mix peaks at {mixed:.3g} against "
                        f"{peak:.3g} per channel: out-of-phase stereo); scored, it would be a clip of no signal under "
                        f"a real label")
    if (low := float(mono.min())) == float(mono.max()):  # the peak is an offset: nothing varies
        raise DataError(f"{path} holds one constant value ({low:.3g}) in all {len(mono)} samples: digital silence with "
                        "a DC offset, not a recording; scored, it would be a clip of no signal under a real label")
    return resample(mono, native_rate, sample_rate)


def _peak(samples: np.ndarray) -> float:
    """The largest magnitude, without an array of magnitudes."""
    return max(float(samples.max()), -float(samples.min()))


# -- cheap header checks -------------------------------------------------------------------------

def _header_damage(path: Path, size: int) -> str | None:
    """What is wrong with ``path`` by its headers, as a predicate (``is truncated: …``) — WAV, AIFF, AU: the declared
    data size against the bytes there; Ogg: the page chain — or None. libsndfile reads such files as shorter, without
    an error."""
    reason = _declared_mismatch(path, size)
    if reason is None and _container(path) == "ogg":  # by content: libsndfile opens a misnamed file by its bytes
        reason = _ogg_damage(path)
    return reason


def _container(path: Path) -> str | None:
    """The container by the file's first bytes, as libsndfile finds it whatever the name: ``ogg``, ``mp3`` (an ID3v2
    tag or an MPEG frame sync), or None for any other."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


_SURPLUS_SLACK = 1024  # bytes after the last chunk that are not chunks (sector padding, a stray tag) and still pass


def _chunk_mismatch(f: BinaryIO, size: int, *, order: str, data_chunk: bytes) -> str | None:
    """Walk a RIFF (little-endian) or IFF (big-endian) chunk list from byte 12 by seeking from header to header (large
    metadata chunks before the audio, bext/iXML/artwork, are skipped, not read): a reason when the data chunk claims
    more bytes than the file holds, or fewer than follow it (bytes after it that are no chunk: a writer that never
    updated its header, whose audio libsndfile reads only in part)."""
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        header = f.read(8)
        chunk, length = header[:4], struct.unpack(order + "I", header[4:8])[0]
        if chunk == data_chunk:
            if length == 0xFFFFFFFF:  # streamed: size unknown, nothing to compare
                return None
            if length > size - (pos + 8):
                return _shortfall(length, size - (pos + 8))
            padded = _surplus(f, size, pos + 8 + length + (length & 1), length, order)
            # an odd data chunk whose writer left out the pad byte (common with 8-bit mono): its next chunk one earlier
            return padded if padded is None or not length & 1 else _surplus(f, size, pos + 8 + length, length, order)
        pos += 8 + length + (length & 1)
    return None


def _surplus(f: BinaryIO, size: int, pos: int, declared: int, order: str) -> str | None:
    """After the data chunk (ending at ``pos``): a reason when more than :data:`_SURPLUS_SLACK` bytes follow that are
    neither chunks (LIST, id3, cue …), an ID3 or APE tag, nor zeros."""
    while pos + 8 <= size:
        f.seek(pos)
        header = f.read(8)
        length = struct.unpack(order + "I", header[4:8])[0]
        if not all(32 <= b < 127 for b in header[:4]) or pos + 8 + length > size:
            break
        pos += 8 + length + (length & 1)
    rest = size - pos
    if rest <= _SURPLUS_SLACK:
        return None
    f.seek(pos)
    head = f.read(16)
    if head[:3] in (b"ID3", b"TAG") or head[:8] == b"APETAGEX":  # tags appended by taggers
        return None
    f.seek(pos)
    while block := f.read(1 << 20):  # zero padding (to a sector, a fixed file size), however long
        if any(block):
            break
    else:
        return None
    what = "declares no audio (data size 0)" if declared == 0 else f"declares {declared} bytes of audio data"
    return (f"has more audio than its header says: the header {what} but {rest} more bytes that are no chunk follow "
            "(a recorder or converter that never updated its header; libsndfile would read only the declared part): "
            "repair the header or export the file again")


def _declared_mismatch(path: Path, size: int) -> str | None:
    """For a WAV, AIFF or AU file: a reason when its header declares more audio bytes than the file holds (libsndfile
    counts such a file's frames from its size and reads the rest as nothing, without an error), or, for WAV and AIFF,
    fewer than it holds."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _chunk_mismatch(f, size, order="<", data_chunk=b"data")
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _chunk_mismatch(f, size, order=">", data_chunk=b"SSND")
        if head[:4] == b"RF64" and head[8:12] == b"WAVE":
            return _rf64_mismatch(f, size)
        if head[:4] == b"riff":  # Sony Wave64 (its chunk ids are GUIDs: "riff", "wave", "data" + 12 bytes)
            return _w64_mismatch(f, size)
        if head[:8] == b"NIST_1A\n":  # NIST SPHERE (TIMIT's .wav files)
            return _nist_mismatch(f, size)
    if head[:4] == b".snd" and len(head) >= 12:
        offset, length = struct.unpack(">II", head[4:12])
        if length == 0xFFFFFFFF:  # AU's "size unknown"
            return None
        return _shortfall(length, size - offset)
    return None


def _rf64_mismatch(f: BinaryIO, size: int) -> str | None:
    """RF64 (a WAV past 4 GiB, as broadcast recorders and ffmpeg write it): its data chunk's size is the ds64 chunk's
    64-bit ``dataSize``; libsndfile counts a cut file's frames from its size."""
    f.seek(12)
    ds64 = f.read(36)
    if ds64[:4] != b"ds64" or len(ds64) < 28:
        return None
    found = _data_chunk(f, size, start=12, header=8, size_format="<I", align=2, counts_header=False)
    return None if found is None else _shortfall(struct.unpack("<Q", ds64[16:24])[0], size - found[0])


def _w64_mismatch(f: BinaryIO, size: int) -> str | None:
    """Wave64: 16-byte chunk ids and 64-bit sizes (header included), each chunk aligned to 8 bytes, from byte 40."""
    found = _data_chunk(f, size, start=40, header=24, size_format="<Q", align=8, counts_header=True)
    return None if found is None else _shortfall(found[1], size - found[0])


def _data_chunk(f: BinaryIO, size: int, *, start: int, header: int, size_format: str, align: int,
                counts_header: bool) -> tuple[int, int] | None:
    """Walk chunks from byte ``start`` (an id, then its size in ``size_format`` at the end of a ``header``-byte
    header; ``counts_header``: the size includes the header) to the one whose id begins ``data``: (where its audio
    starts, the audio bytes it declares), or None."""
    pos = start
    while pos + header <= size:
        f.seek(pos)
        head = f.read(header)
        length = struct.unpack(size_format, head[header - struct.calcsize(size_format):])[0]
        if counts_header and length < header:  # not a chunk: nothing to compare
            return None
        if head[:4] == b"data":
            return pos + header, length - header if counts_header else length
        step = length if counts_header else header + length
        pos += step + (-step % align)
    return None


def _nist_mismatch(f: BinaryIO, size: int) -> str | None:
    """NIST SPHERE: an ASCII header (its byte count on line 2) naming ``sample_count``, ``channel_count`` and
    ``sample_n_bytes``; compressed (shorten) files are left to the decoder."""
    f.seek(0)
    text = f.read(1024).decode("ascii", "replace")
    lines = text.split("\n")
    fields = {parts[0]: parts[-1] for parts in (line.split() for line in lines[2:]) if len(parts) == 3}
    try:
        header = int(lines[1])
        declared = int(fields["sample_count"]) * int(fields.get("channel_count", 1)) * int(fields["sample_n_bytes"])
    except (IndexError, KeyError, ValueError):
        return None
    if any(packed in fields.get("sample_coding", "pcm") for packed in ("shorten", "wavpack", "shortpack")):
        return None  # compressed ("pcm,embedded-shorten-v2.00"): its size says nothing of its samples
    return _shortfall(declared, size - header)


def _shortfall(declared: int, have: int) -> str | None:
    return None if have >= declared else f"is truncated: header declares {declared} bytes of audio data but the file holds {have}"


def _ogg_damage(path: Path) -> str | None:
    """For an Ogg file: a reason when its pages do not follow one another to the end of the file. A Vorbis
    stream damaged part-way decodes, with libsndfile, to its first pages only and without an error."""
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        if data[pos:pos + 4] != b"OggS" or pos + 27 > len(data):
            return f"is truncated: no Ogg page starts at byte {pos} of {len(data)} (damaged or cut part-way)"
        n_segments = data[pos + 26]
        table = data[pos + 27:pos + 27 + n_segments]
        end = pos + 27 + n_segments + sum(table)
        if len(table) < n_segments or end > len(data):
            return f"is truncated: the Ogg page at byte {pos} runs past the end of the file (cut short)"
        pos = end
    return None


def _tail_ok(f: sf.SoundFile) -> bool:
    """Decode the last frames: compressed files cut short fail here (their headers still look fine)."""
    want = min(f.frames, _TAIL_FRAMES)
    if not f.seekable():  # (GSM 6.10, G.72x, NMS-ADPCM): decoded from the start instead
        return False
    try:
        f.seek(f.frames - want)
        return len(f.read(want)) >= want // 2
    except (sf.LibsndfileError, RuntimeError, ValueError):  # ValueError: a seek past the real end (negative count)
        return False


def _decoded_frames(f: sf.SoundFile) -> tuple[int, bool]:
    """Decode the whole file from the start: (frames decoded, whether the decoder reached the end without error)."""
    block = np.empty((4096, f.channels), dtype=np.float32)
    total = 0
    try:
        if f.seekable():  # else nothing was read yet: it is at the start
            f.seek(0)
        while (n := len(f.read(out=block))) == len(block):
            total += n
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return total, False
    return total + n, True


def _full_decode_problem(f: sf.SoundFile, path: Path) -> tuple[str | None, int]:
    """For a file whose last frames did not decode: decode it all, since only a file that does not decode is bad
    (a seek can fail where a decode from the start succeeds). (The reason it is bad or None, its frames.)"""
    decoded, ok = _decoded_frames(f)
    if not ok and f.frames / f.samplerate > UNKNOWN_LENGTH_S:  # FLAC's total_samples 0 ("unknown") reads as 2^59
        return (f"gives no usable length in its header ({f.frames} frames declared: a streaming encoder that never "
                f"wrote it) and libsndfile decodes {decoded} frames of it: decode and encode it again (e.g. "
                f"`flac -d` then `flac`)"), decoded
    if not ok:
        return (f"is truncated or corrupt: the decoder fails near {decoded / f.samplerate:.1f} s of the "
                f"{f.frames / f.samplerate:.1f} s its header declares"), decoded
    exact = declares_length(path)  # (reads the file's head: once)
    if exact and f.frames - decoded > max(2048, f.frames // 100):
        return (f"is truncated or corrupt: only {decoded} of the {f.frames} frames its header declares decode (cut "
                f"short or damaged part-way)"), decoded
    return None, f.frames if exact else decoded


def _syncsafe(data: bytes) -> int:
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def declares_length(path: Path) -> bool:
    """Whether the file's header states its exact length. False for an MP3 without a Xing/Info or VBRI header in
    its first frame (as LAME writes constant-bitrate files, e.g. MagnaTagATune's): libsndfile then estimates the
    frame count from the file size, ID3v2 tags included, and over- or under-reports it."""
    if _container(path) != "mp3":
        return True
    with open(path, "rb") as f:
        pos = 0
        while True:  # skip ID3v2 tags (there may be several)
            f.seek(pos)
            head = f.read(10)
            if len(head) < 10 or head[:3] != b"ID3":
                break
            pos += 10 + _syncsafe(head[6:10]) + (10 if head[5] & 0x10 else 0)
        f.seek(pos)
        data = f.read(8192)
    sync = next((i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0), None)
    if sync is None:
        return True  # not an MPEG stream we can read: leave the checks as they are
    first = data[sync:sync + 200]  # the Xing/Info tag sits after the side info; VBRI at byte 36
    return any(tag in first for tag in (b"Xing", b"Info", b"VBRI"))


# -- decoded length of an MP3 without a length header: walk its MPEG Layer III frame headers ----------------------
_L3_KBPS = {3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
            2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}  # MPEG-2 and MPEG-2.5
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _frame_table() -> list[tuple[int, int, int] | None]:
    """For header bytes 2 and 3 (``b1 << 8 | b2``): (frame bytes, samples, sample rate) of a Layer III frame, or None
    (not a frame sync, another layer, free-format or a reserved value)."""
    table: list[tuple[int, int, int] | None] = [None] * 65536
    for b1 in range(0xE0, 0x100):
        version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
        if version == 1 or layer != 1:
            continue
        kbps = _L3_KBPS[3] if version == 3 else _L3_KBPS[2]
        for b2 in range(256):
            index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
            if index in (0, 15) or rate_index == 3:
                continue
            rate = _RATES[version][rate_index]
            per_frame = 1152 if version == 3 else 576
            table[b1 << 8 | b2] = (per_frame // 8 * kbps[index] * 1000 // rate + padding, per_frame, rate)
    return table


_FRAMES = _frame_table()


def _audio_start(data: bytes) -> int:
    """The offset past the leading ID3v2 tag(s)."""
    pos = 0
    while data[pos:pos + 3] == b"ID3" and len(data) >= pos + 10:
        head = data[pos:pos + 10]
        pos += 10 + (head[6] << 21 | head[7] << 14 | head[8] << 7 | head[9]) + (10 if head[5] & 0x10 else 0)
    return pos


MPEG_SLACK = 2 * 1152  # samples: decoder delay and padding a frame walk does not see


def mpeg_seconds(data: bytes) -> float | None:
    """The decoded length of an MPEG Layer III stream (after any ID3v2 tags) from its frame headers: frames x samples
    per frame / rate, without decoding. None when the frames do not run cleanly to the end (a trailing ID3v1 or APE
    tag is allowed): the caller then decodes the file."""
    pos, samples, rate = _audio_start(data), 0, None
    end = len(data)
    while pos + 4 <= end:
        frame = _FRAMES[data[pos + 1] << 8 | data[pos + 2]] if data[pos] == 0xFF else None
        if frame is None or (rate is not None and frame[2] != rate):
            break
        if pos + frame[0] > end:  # a last frame cut short is not decoded
            pos = end
            break
        pos += frame[0]
        samples += frame[1]
        rate = frame[2]
    rest = data[pos:]
    if rate is None or not (len(rest) < 4 or rest[:3] == b"TAG" or rest[:8] == b"APETAGEX"):
        return None
    return samples / rate


def _probe_audioread(path: Path) -> AudioInfo:
    import audioread

    if not _audioread_backends():
        raise _no_decoder(path)
    try:
        with audioread.audio_open(str(path), backends=list(_audioread_backends())) as f:
            _check_rate(path, f.samplerate)
            return AudioInfo(f.samplerate, f.channels, int(f.duration * f.samplerate), "audioread")
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{path} is not readable audio ({type(err).__name__}: {err})") from err


def probe(path: str | Path) -> AudioInfo:
    """Check ``path`` cheaply (header, declared size, last frames) without decoding it all.

    Raises :class:`DataError` naming the file for a missing, empty (0-byte), non-audio, truncated
    or sample-less file, or one whose header rate is below :data:`MIN_NATIVE_RATE`; a full decode can still
    fail later (the embed stage records that).
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an audio file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if not os.access(path, os.R_OK):
        raise unreadable(path, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path} is empty (0 bytes)")
    if not soundfile_reads(path):
        return _probe_audioread(path)
    try:
        reason = _header_damage(path, size)
    except OSError as err:
        raise unreadable(path, err) from err
    if reason:
        raise DataError(f"{path} {reason}")
    try:
        with sf.SoundFile(path) as f:
            _check_rate(path, f.samplerate)
            info = AudioInfo(f.samplerate, f.channels, f.frames, "soundfile")
            problem = None
            if info.frames > 0 and not _tail_ok(f):  # decode it all: only a file that does not decode is bad
                problem, frames = _full_decode_problem(f, path)
                info = AudioInfo(f.samplerate, f.channels, frames, "soundfile")  # an estimate gives way to the truth
    except (sf.LibsndfileError, RuntimeError) as err:
        detail = getattr(err, "error_string", None) or str(err)
        raise DataError(f"{path} is not readable audio (soundfile: {detail.strip().rstrip('.')})") from err
    if problem:
        raise DataError(f"{path} {problem}")
    if info.frames <= 0:
        raise DataError(f"{path} holds no audio samples")
    return info


# -- length ----------------------------------------------------------------------------------------

def resample(audio: np.ndarray, native_rate: int, sample_rate: int) -> np.ndarray:
    if native_rate == sample_rate:
        return np.ascontiguousarray(audio, dtype=np.float32)
    return soxr.resample(audio, native_rate, sample_rate, quality="HQ").astype(np.float32, copy=False)


def fix_length(audio: np.ndarray, n_samples: int, pad: PadMode = "zero") -> np.ndarray:
    """Keep the first ``n_samples``; lengthen a shorter clip with zeros or by tiling it (repeat-pad)."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    if pad == "repeat" and len(audio) > 0:
        return np.tile(audio, -(-n_samples // len(audio)))[:n_samples]
    return np.pad(audio, (0, n_samples - len(audio)))


def n_segments(length: int, n_samples: int, hop: int | None = None) -> int:
    """How many windows :func:`segments` cuts from ``length`` samples (at least one)."""
    hop = hop or n_samples
    return 1 + max(0, -(-(length - n_samples) // hop))


def segments(audio: np.ndarray, n_samples: int, hop: int | None = None, *, pad: PadMode = "zero") -> np.ndarray:
    """Fixed windows over the whole clip, for segment-and-aggregate: ``(n_segments, n_samples)``.

    Windows start at 0, ``hop``, 2·``hop``, ... (``hop`` defaults to ``n_samples``: no overlap) until the clip is
    covered; the last one ends at the clip's end (overlapping the one before it more than the others do), so no
    sample is dropped and none is padded: a zero-padded tail is a window of partly no signal under the clip's label.
    Only a clip shorter than one window is lengthened, with :func:`fix_length` (``pad``), as a whole clip is.
    """
    if n_samples <= 0 or (hop is not None and hop <= 0):
        raise ValueError(f"segments: n_samples ({n_samples}) and hop ({hop}) must be positive")
    audio = np.asarray(audio)
    if len(audio) <= n_samples:
        return fix_length(audio, n_samples, pad)[None].copy()
    hop = hop or n_samples
    starts = np.minimum(np.arange(n_segments(len(audio), n_samples, hop)) * hop, len(audio) - n_samples)
    return np.lib.stride_tricks.sliding_window_view(audio, n_samples)[starts]  # indexed by an array: a copy
