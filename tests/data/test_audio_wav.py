"""WAV reading: every PCM/float width, channels mixed down, and clear errors for bad files."""

from __future__ import annotations

import os
import struct
import wave

import numpy as np
import pytest

from chainrule.data.audio import read_wav, wav_info, write_wav
from chainrule.errors import DataNotFoundError, FormatError


def _sine(n: int = 800, rate: int = 8000, freq: float = 440.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)


def _header(tag: int, channels: int, rate: int, bits: int, data: bytes, extensible: bool = False,
            block: int | None = None, byte_rate: int | None = None,
            riff_extra: int = 0, data_size: int | None = None) -> bytes:  # fmt: skip
    """A hand-written RIFF/WAVE file; the keyword overrides make headers that lie."""
    block = channels * bits // 8 if block is None else block
    byte_rate = rate * block if byte_rate is None else byte_rate
    if extensible:
        guid = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, byte_rate, block, bits, 22, bits, 0)
        fmt += guid
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 4) + b"INFO"  # an extra chunk to skip
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body) + riff_extra) + body


def test_16bit_pcm_written_by_stdlib_wave(tmp_path):
    x = _sine()
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.round(x * 32767).astype("<i2").tobytes())
    y, rate = read_wav(path)
    assert rate == 8000 and y.dtype == np.float32 and y.shape == (800,)
    np.testing.assert_allclose(y, x * 32767 / 32768, atol=1 / 32768)


def test_8bit_unsigned_stereo_mixed_down(tmp_path):
    left, right = _sine(freq=300), _sine(freq=700)
    frames = np.stack([left, right], axis=1)
    path = tmp_path / "b.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(1)
        w.setframerate(11025)
        w.writeframes(np.round(frames * 127 + 128).astype(np.uint8).tobytes())
    y, rate = read_wav(path)
    assert rate == 11025
    np.testing.assert_allclose(y, (left + right) / 2 * 127 / 128, atol=1.5 / 128)
    both, _ = read_wav(path, mono=False)
    assert both.shape == (800, 2)
    np.testing.assert_allclose(both[:, 1], right * 127 / 128, atol=1 / 128)


@pytest.mark.parametrize("extensible", [False, True])
def test_24bit_and_32bit_pcm(tmp_path, extensible):
    x = _sine(rate=44100)
    for bits, scale in ((24, 2**23 - 1), (32, 2**31 - 1)):
        ints = np.round(x * scale).astype(np.int64)
        if bits == 24:
            v = ints.astype("<i4")
            data = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], 1).astype(np.uint8)
            raw = data.tobytes()
        else:
            raw = ints.astype("<i4").tobytes()
        path = tmp_path / f"c{bits}.wav"
        path.write_bytes(_header(1, 1, 44100, bits, raw, extensible=extensible))
        y, rate = read_wav(path)
        assert rate == 44100
        np.testing.assert_allclose(y, x, atol=1e-6)
        assert wav_info(path)["bits"] == bits


@pytest.mark.parametrize("bits", [32, 64])
def test_float_wav(tmp_path, bits):
    x = np.stack([_sine(rate=48000), -_sine(rate=48000)], axis=1) * 1.5  # floats may exceed 1
    raw = x.astype("<f4" if bits == 32 else "<f8").tobytes()
    path = tmp_path / "f.wav"
    path.write_bytes(_header(3, 2, 48000, bits, raw))
    y, rate = read_wav(path, mono=False)
    assert rate == 48000 and y.shape == (800, 2)
    np.testing.assert_allclose(y, x, atol=1e-7)
    np.testing.assert_allclose(read_wav(path)[0], 0.0, atol=1e-7)  # the channels cancel


def test_write_wav_round_trips_16_24_and_float(tmp_path):
    x = _sine(rate=16000)
    for bits, tol in ((16, 1e-4), (24, 1e-6), (32, 1e-7)):
        write_wav(tmp_path / "w.wav", x, 16000, bits=bits)
        y, rate = read_wav(tmp_path / "w.wav")
        assert rate == 16000
        np.testing.assert_allclose(y, x, atol=tol)
    # the stdlib reads what we write
    write_wav(tmp_path / "w16.wav", x, 16000)
    with wave.open(str(tmp_path / "w16.wav"), "rb") as r:
        assert (r.getframerate(), r.getnframes(), r.getsampwidth()) == (16000, 800, 2)


def test_compressed_wav_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "alaw.wav"
    path.write_bytes(_header(6, 1, 8000, 8, b"\x55" * 100))
    with pytest.raises(FormatError, match=r"compressed WAV \(A-law\).*ffmpeg"):
        read_wav(path)
    path.write_bytes(_header(0x55, 1, 8000, 16, b"\x00" * 100, extensible=True))
    with pytest.raises(FormatError, match="MP3"):
        read_wav(path)


def test_truncated_file(tmp_path):
    whole = _header(1, 1, 8000, 16, b"\x01\x00" * 400)
    path = tmp_path / "t.wav"
    path.write_bytes(whole[:-100])
    with pytest.raises(FormatError, match="truncated"):
        read_wav(path)
    path.write_bytes(whole[:10])
    with pytest.raises(FormatError, match="too short"):
        read_wav(path)


def test_headers_that_lie(tmp_path):
    path = tmp_path / "lie.wav"
    # The data chunk claims 1 GB in a file of a few hundred bytes: refused before reading.
    path.write_bytes(_header(1, 1, 8000, 16, b"\x00" * 200, data_size=10**9))
    with pytest.raises(FormatError, match="claims 1000000000 bytes"):
        read_wav(path)
    path.write_bytes(_header(1, 1, 8000, 16, b"\x00" * 200, riff_extra=5000))
    with pytest.raises(FormatError, match="RIFF header says"):
        read_wav(path)
    path.write_bytes(_header(1, 2, 8000, 16, b"\x00" * 200, block=2))
    with pytest.raises(FormatError, match="inconsistent header"):
        read_wav(path)
    path.write_bytes(_header(1, 1, 8000, 16, b"\x00" * 201))
    with pytest.raises(FormatError, match="whole number of 2-byte frames"):
        read_wav(path)
    path.write_bytes(_header(1, 1, 8000, 12, b"\x00" * 200))
    with pytest.raises(FormatError, match="12-bit PCM"):
        read_wav(path)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4) + b"WAVE")
    with pytest.raises(FormatError, match="no 'fmt ' chunk"):
        read_wav(path)
    path.write_bytes(b"OggS" + b"\x00" * 40)
    with pytest.raises(FormatError, match="not a WAV file"):
        read_wav(path)


def test_not_a_regular_file_and_size_bound(tmp_path):
    with pytest.raises(FormatError, match="is a folder"):
        read_wav(tmp_path)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_wav(tmp_path / "missing.wav")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.wav"
        os.mkfifo(fifo)
        with pytest.raises(FormatError, match="not a regular file"):
            read_wav(fifo)
    write_wav(tmp_path / "big.wav", np.zeros(8000), 8000)
    with pytest.raises(FormatError, match="exceed max_bytes"):
        read_wav(tmp_path / "big.wav", max_bytes=1000)
