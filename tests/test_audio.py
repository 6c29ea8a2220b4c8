"""Decoding, header checks, length fixing and segmenting (rwbench.audio)."""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_audio

from rwbench import audio
from rwbench.errors import DataError


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3", ".au"])
def test_load_mixes_to_mono_and_resamples(tmp_path, audio_file, ext):
    path = audio_file(tmp_path / f"clip{ext}", seconds=0.5, rate=16000, channels=2)
    out = audio.load(path, 8000)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 4000) <= 600  # MP3 adds encoder delay/padding
    assert audio.probe(path).channels == 2


@pytest.mark.parametrize("ext", [".wav", ".flac", ".au"])
def test_lossless_load_is_channel_mean(tmp_path, audio_file, ext):
    path = audio_file(tmp_path / f"clip{ext}", rate=8000, channels=2)
    stereo, _ = sf.read(path, dtype="float32")
    np.testing.assert_allclose(audio.load(path, 8000), stereo.mean(axis=1), atol=1e-6)


def test_fix_length_zero_and_repeat():
    x = np.arange(1, 4, dtype=np.float32)
    np.testing.assert_array_equal(audio.fix_length(x, 7, "zero"), [1, 2, 3, 0, 0, 0, 0])
    np.testing.assert_array_equal(audio.fix_length(x, 7, "repeat"), [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(audio.fix_length(x, 2), [1, 2])


def test_segments_cover_whole_clip_and_the_last_ends_at_its_end():
    """The last window used to be zero-padded ([8, 9, 0, 0]): half a window of no signal under the clip's label."""
    x = np.arange(10, dtype=np.float32)
    seg = audio.segments(x, 4)
    assert seg.shape == (3, 4)
    np.testing.assert_array_equal(seg, [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]])
    np.testing.assert_array_equal(audio.segments(x[:8], 4), [[0, 1, 2, 3], [4, 5, 6, 7]])  # exact: as before


def test_segments_with_hop_and_short_clip():
    x = np.arange(10, dtype=np.float32)
    seg = audio.segments(x, 4, hop=2)
    assert seg.shape == (audio.n_segments(10, 4, 2), 4) == (4, 4)
    np.testing.assert_array_equal(seg[1], [2, 3, 4, 5])
    np.testing.assert_array_equal(seg[-1], [6, 7, 8, 9])
    short = audio.segments(x[:3], 4, pad="repeat")
    np.testing.assert_array_equal(short, [[0, 1, 2, 0]])
    with pytest.raises(ValueError):
        audio.segments(x, 0)


def broken_files(folder, audio_file):
    """A zero-byte, a truncated and a text file, each named .wav; a truncated FLAC; a sample-less WAV."""
    good = audio_file(folder / "good.wav", seconds=0.5)
    (folder / "zero.wav").write_bytes(b"")
    (folder / "truncated.wav").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "text.wav").write_text("this is not audio\n")
    flac = audio_file(folder / "full.flac", seconds=0.5)
    (folder / "truncated.flac").write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    for ext in ("au", "aiff"):  # GTZAN ships .au: libsndfile counts their frames from the file's size
        whole = audio_file(folder / f"full.{ext}", seconds=0.5, subtype="PCM_16")
        (folder / f"truncated.{ext}").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    sf.write(folder / "header.wav", np.zeros((0, 1), np.float32), 8000)


@pytest.mark.parametrize("name, message", [
    ("zero.wav", "is empty (0 bytes)"),
    ("truncated.wav", "is truncated: header declares 8000 bytes of audio data but the file holds"),
    ("text.wav", "is not readable audio"),
    ("truncated.flac", "is truncated or corrupt"),
    ("truncated.au", "is truncated: header declares 8000 bytes of audio data but the file holds"),
    ("truncated.aiff", "is truncated: header declares 8008 bytes of audio data but the file holds"),
    ("header.wav", "holds no audio samples"),
    ("absent.wav", "file not found"),
])
def test_probe_names_the_file_and_the_problem(tmp_path, audio_file, name, message):
    broken_files(tmp_path, audio_file)
    with pytest.raises(DataError, match=re.escape(message)) as err:
        audio.probe(tmp_path / name)
    assert name in str(err.value)


def test_a_header_rate_below_any_recordings_is_refused_by_probe_and_load(tmp_path):
    """100 samples declared at 1 Hz were a "100-s" clip, resampled into infrasound, and scored."""
    path = tmp_path / "rate1.wav"
    sf.write(path, 0.1 * np.sin(np.arange(100.0)), 1, subtype="PCM_16")
    for check in (audio.probe, lambda p: audio.load(p, 12000)):
        with pytest.raises(DataError, match=r"rate1\.wav: its header gives a sample rate of 1 Hz"):
            check(path)
    sf.write(path, 0.1 * np.sin(np.arange(800.0)), audio.MIN_NATIVE_RATE, subtype="PCM_16")
    assert audio.probe(path).samplerate == audio.MIN_NATIVE_RATE


@pytest.mark.parametrize("ext", ["wav", "au", "aiff"])
def test_load_refuses_a_truncated_file_probe_would_refuse(tmp_path, audio_file, ext):
    whole = audio_file(tmp_path / f"whole.{ext}", seconds=0.5, subtype="PCM_16")
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert len(audio.load(whole, 8000)) == 4000
    with pytest.raises(DataError, match=r"cut\.%s: it is truncated: header declares" % ext):
        audio.load(cut, 8000)


@pytest.mark.parametrize("fmt, message", [
    ("RF64", "is truncated: header declares"), ("W64", "is truncated: header declares"),
    ("NIST", "is truncated: header declares"),  # TIMIT's .wav files
    ("OGG", "is truncated: the Ogg page at byte"),
    ("MP3", "frames its header declares decode"),
])
def test_a_truncated_file_is_refused_whatever_its_name_says(tmp_path, fmt, message):
    """libsndfile opens a file by its bytes, but the checks went by its name: an Ogg or MP3 cut in half and named
    .wav, and a cut RF64, Wave64 or NIST SPHERE .wav (their frame counts read from the file size) were scored at
    half their length, zero-padded."""
    noise = (np.random.default_rng(0).standard_normal(48000) * 0.1).astype(np.float32)
    whole = tmp_path / f"whole_{fmt}.wav"
    sf.write(whole, noise, 8000 if fmt != "MP3" else 16000, format=fmt)
    assert audio.probe(whole).frames == 48000
    cut = tmp_path / f"cut_{fmt}.wav"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DataError, match=re.escape(message)):
        audio.probe(cut)
    with pytest.raises(DataError):
        audio.load(cut, 8000)


def _with_data_size(wav: Path, out: Path, size: int | None = None, tail: bytes = b"") -> Path:
    """``wav`` (PCM, a canonical 44-byte header) with its data chunk's size set to ``size`` and ``tail`` appended."""
    data = bytearray(wav.read_bytes())
    assert data[36:40] == b"data"
    if size is not None:
        data[40:44] = size.to_bytes(4, "little")
    out.write_bytes(bytes(data) + tail)
    return out


def test_a_header_that_under_states_the_audio_is_refused(tmp_path):
    """A data chunk declared as a quarter of the audio after it was read as 0.25 s and zero-padded to the clip
    length, a valid-looking row; a data size of 0 (a recorder that never updated it) said "no audio samples"."""
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "whole.wav", rng.uniform(-0.5, 0.5, 16000).astype(np.float32), 16000, subtype="PCM_16")
    whole = tmp_path / "whole.wav"
    quarter = _with_data_size(whole, tmp_path / "quarter.wav", 8000)
    for call in (audio.probe, lambda p: audio.load(p, 16000)):
        with pytest.raises(DataError, match=r"quarter\.wav:? (it )?has more audio than its header says: the header "
                                            r"declares 8000 bytes of audio data but 24000 more bytes"):
            call(quarter)
    with pytest.raises(DataError, match=r"the header declares no audio \(data size 0\) but 32000 more bytes"):
        audio.probe(_with_data_size(whole, tmp_path / "streamed.wav", 0))
    # what may follow the audio: a chunk (LIST metadata), an ID3 tag, zero padding to a sector, a few stray bytes
    info = b"LIST" + (12).to_bytes(4, "little") + b"INFOISFT" + (0).to_bytes(4, "little")
    for name, tail in [("list", info), ("id3", b"ID3\x03\x00\x00" + bytes(3000)), ("pad", bytes(4096)),
                       ("stray", b"\x01" * 100), ("ape", b"APETAGEX" + bytes(3000)), ("zeros", bytes(3 << 20))]:
        assert audio.probe(_with_data_size(whole, tmp_path / f"{name}.wav", tail=tail)).frames == 16000, name
    assert len(audio.load(tmp_path / "list.wav", 16000)) == 16000
    # 8-bit mono of an odd length, its writer leaving out the pad byte before a LIST chunk: valid, read in full
    sf.write(tmp_path / "odd.wav", rng.uniform(-0.5, 0.5, 8001).astype(np.float32), 8000, subtype="PCM_U8")
    odd = bytearray((tmp_path / "odd.wav").read_bytes())
    odd_data = odd[:44 + 8001]  # the canonical header and the samples, without the pad byte libsndfile wrote
    listing = b"LIST" + (3000).to_bytes(4, "little") + b"INFO" + bytes(2996)
    (tmp_path / "odd_nopad.wav").write_bytes(bytes(odd_data) + listing)
    assert audio.probe(tmp_path / "odd_nopad.wav").frames == 8001


def test_load_refuses_stereo_whose_channels_cancel(tmp_path):
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    sf.write(tmp_path / "cancel.wav", np.stack([x, -x], axis=1), 8000, subtype="PCM_16")
    sf.write(tmp_path / "stereo.wav", np.stack([x, 0.5 * x], axis=1), 8000, subtype="PCM_16")
    with pytest.raises(DataError, match=r"cancel\.wav: its 2 channels cancel when mixed to mono"):
        audio.load(tmp_path / "cancel.wav", 12000)
    assert np.abs(audio.load(tmp_path / "stereo.wav", 8000)).max() > 0.1


def test_probe_accepts_good_file(tmp_path, audio_file):
    info = audio.probe(audio_file(tmp_path / "ok.wav", seconds=0.5))
    assert (info.samplerate, info.frames, info.decoder) == (8000, 4000, "soundfile")
    assert info.seconds == pytest.approx(0.5)


def test_missing_decoder_is_named_with_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "_audioread_backends", lambda: ())
    clip = tmp_path / "song.m4a"
    clip.write_bytes(b"\0" * 64)
    with pytest.raises(DataError, match=r"cannot decode .*song\.m4a: no M4A decoder .*install ffmpeg"):
        audio.load(clip, 8000)
    assert audio.decoders((".m4a",)) == {".m4a": "none (install ffmpeg)"}


def test_mp3_falls_back_to_audioread_when_libsndfile_lacks_it(tmp_path, audio_file, monkeypatch):
    path = audio_file(tmp_path / "clip.mp3")
    monkeypatch.setattr(audio, "soundfile_reads", lambda p: False)
    monkeypatch.setattr(audio, "_audioread_backends", lambda: ())
    with pytest.raises(DataError, match=r"no MP3 decoder .*install ffmpeg"):
        audio.probe(path)


def test_decoders_report_this_machine():
    found = audio.decoders((".wav", ".flac"))
    assert all(v.startswith("soundfile") for v in found.values())


def test_a_decode_that_stops_short_of_the_declared_frames_is_an_error(tmp_path, monkeypatch):
    """A decoder that gives up part-way without an error (libsndfile's Vorbis does): named, never padded."""
    import soundfile as sf

    from rwbench import audio

    path = write_audio(tmp_path / "a.flac", seconds=1.0)
    real = sf.SoundFile

    class Short(real):
        def read(self, *args, **kwargs):
            return super().read(*args, **kwargs)[: self.frames // 2]

    monkeypatch.setattr(audio.sf, "SoundFile", Short)
    with pytest.raises(DataError, match=r"only 4000 of the 8000 frames its header declares decode"):
        audio.read(path)


def test_an_intact_ogg_passes_the_page_walk(tmp_path):
    from rwbench import audio

    path = write_audio(tmp_path / "a.ogg", seconds=2.0, subtype="VORBIS")
    assert audio.probe(path).frames == 16000
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="runs past the end of the file"):
        audio.probe(path)


def test_audioread_samples_that_do_not_fill_a_frame_are_named(tmp_path, monkeypatch):
    """A damaged file through ffmpeg can end part-way through a stereo frame: named, not a raw reshape error."""
    import types

    class Half:
        samplerate, channels = 8000, 2

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __iter__(self):
            return iter([np.zeros(5, "<i2").tobytes()])  # 5 samples for 2 channels

    monkeypatch.setattr(audio, "_audioread_backends", lambda: ("ffmpeg",))
    monkeypatch.setitem(sys.modules, "audioread", types.SimpleNamespace(audio_open=lambda *a, **k: Half()))
    with pytest.raises(DataError, match=r"clip\.m4a: the decoder returned 5 samples for 2 channel\(s\)"):
        audio._read_audioread(tmp_path / "clip.m4a")


def test_a_truncated_wav_with_large_chunks_before_its_audio_is_refused(tmp_path, audio_file):
    """The chunk walk read only the first 64 KiB: a 70 kB metadata chunk (bext, iXML, artwork) before `data` hid the
    cut, and half a clip was zero-padded into a normal row."""
    whole = audio_file(tmp_path / "whole.wav", seconds=1.0, subtype="PCM_16").read_bytes()
    fmt_end = 12 + 8 + struct.unpack("<I", whole[16:20])[0]  # RIFF header, then the fmt chunk
    junk = b"JUNK" + struct.pack("<I", 70_000) + bytes(70_000)
    padded = whole[:fmt_end] + junk + whole[fmt_end:]
    padded = padded[:4] + struct.pack("<I", len(padded) - 8) + padded[8:]
    (tmp_path / "junk.wav").write_bytes(padded)
    assert len(audio.load(tmp_path / "junk.wav", 8000)) == 8000  # whole: read through the large chunk
    (tmp_path / "cut.wav").write_bytes(padded[: len(padded) - 4000])
    for check in (audio.probe, lambda p: audio.load(p, 8000)):
        with pytest.raises(DataError, match=r"cut\.wav.* truncated: header declares 16000 bytes of audio data but "
                                            r"the file holds 12000"):
            check(tmp_path / "cut.wav")


def test_load_refuses_a_cut_ogg_as_probe_does(tmp_path):
    """audio.load (every plugin dataset's default load_audio) decoded a Vorbis file cut to 30 % of its bytes to its
    first pages, without a word; probe refused it."""
    path = write_audio(tmp_path / "a.ogg", seconds=5.0, subtype="VORBIS")
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.3)])
    with pytest.raises(DataError, match=r"a\.ogg: it is truncated: the Ogg page at byte \d+ runs past the end"):
        audio.load(path, 8000)


@pytest.mark.parametrize("ext", ["aifc", "wave"])
def test_aifc_and_wave_files_are_audio(tmp_path, ext):
    kind = {"aifc": "AIFF", "wave": "WAV"}[ext]
    path = tmp_path / f"a.{ext}"
    sf.write(path, np.sin(np.arange(8000) / 5.0) * 0.5, 8000, format=kind, subtype="PCM_16")
    assert f".{ext}" in audio.AUDIO_EXTENSIONS and audio.soundfile_reads(path)
    assert len(audio.load(path, 8000)) == 8000


def test_a_flac_without_a_length_in_its_header_is_named_as_such(tmp_path):
    """STREAMINFO's total_samples 0 ("unknown", as streaming encoders write it) read as "truncated or corrupt near
    0.0 s of the 576460752303423.5 s its header declares"."""
    path = tmp_path / "streamed.flac"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32), 16000, format="FLAC")
    data = bytearray(path.read_bytes())
    info = data.index(b"fLaC") + 8  # STREAMINFO's data: total samples are its bits 108–143
    data[info + 13] &= 0xF0
    data[info + 14:info + 18] = bytes(4)
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"streamed\.flac gives no usable length in its header .*a streaming encoder"):
        audio.probe(path)


@pytest.mark.parametrize("fmt, subtype, ext", [("WAV", "GSM610", "wav"), ("WAV", "G721_32", "wav"),
                                               ("WAV", "NMS_ADPCM_16", "wav"), ("AU", "G723_24", "au")])
def test_a_codec_libsndfile_cannot_seek_decodes_whole(tmp_path, fmt, subtype, ext):
    """GSM 6.10, G.72x and NMS-ADPCM files decode in full with soundfile.read, but were refused as "truncated or
    corrupt" (the tail check seeks; read() gave no frame count, which soundfile requires of a file it cannot seek)."""
    noise = (np.random.default_rng(0).standard_normal(48000) * 0.1).astype(np.float32)
    path = tmp_path / f"telephone.{ext}"
    sf.write(path, noise, 8000, format=fmt, subtype=subtype)
    assert audio.probe(path).frames == 48000
    data, rate = audio.read(path)
    assert data.shape == (48000, 1) and rate == 8000


def test_a_shorten_compressed_nist_file_is_left_to_the_decoder(tmp_path):
    """Its size says nothing of its samples: a compressed NIST SPHERE file read as "truncated"."""
    def sphere(coding: str) -> Path:
        header = (f"NIST_1A\n   1024\nsample_count -i 48000\nchannel_count -i 1\nsample_n_bytes -i 2\n"
                  f"sample_coding -s{len(coding)} {coding}\nend_head\n").encode().ljust(1024, b" ")
        path = tmp_path / f"{coding.split(',')[-1]}.wav"
        path.write_bytes(header + bytes(30000))
        return path

    assert audio._header_damage(sphere("pcm,embedded-shorten-v2.00"), 31024) is None
    assert "is truncated: header declares 96000 bytes" in audio._header_damage(sphere("pcm"), 31024)


def test_an_mp3_with_an_id3_tag_named_wav_decodes(tmp_path):
    """A whole constant-bitrate MP3 behind an ID3v2 tag (MagnaTagATune's files), named .wav: its header's frame count is
    an estimate, as for .mp3, and it was refused as "truncated or corrupt"."""
    noise = (np.random.default_rng(0).standard_normal(48000) * 0.1).astype(np.float32)
    plain = tmp_path / "plain.mp3"
    sf.write(plain, noise, 16000, format="MP3")
    tagged = tmp_path / "tagged.wav"
    tagged.write_bytes(b"ID3\x03\x00\x00\x00\x00\x07\x76" + bytes(1014) + plain.read_bytes())  # a 1014-byte tag
    assert audio._container(tagged) == "mp3"
    data, rate = audio.read(tagged)
    assert rate == 16000 and abs(len(data) - 48000) <= 2048
