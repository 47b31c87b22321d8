"""Reading and writing WAV files with NumPy: PCM 8/16/24/32-bit and IEEE float 32/64-bit.

The RIFF chunks are parsed by hand (the stdlib ``wave`` module reads neither float nor
``WAVE_FORMAT_EXTENSIBLE`` files on every supported Python). Every size in the header is
checked against the file's real size before anything is read, so a truncated file or a header
that lies fails with a :class:`~chainrule.errors.FormatError` naming the file, and memory stays
bounded by ``max_bytes``.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from chainrule.errors import ConfigError, DataNotFoundError, FormatError

__all__ = ["read_wav", "write_wav", "wav_info", "MAX_WAV_BYTES"]

#: Largest file read by default (about 3 hours of 16-bit stereo at 48 kHz).
MAX_WAV_BYTES = 2 << 30

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
#: Format tags of compressed encodings, so the error can say what the file holds.
_COMPRESSED = {
    0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MP3", 0x0161: "WMA", 0x1610: "AAC",
}  # fmt: skip
_HINT = (
    "convert it to PCM first, e.g. `ffmpeg -i IN -c:a pcm_s16le OUT.wav` or "
    "`sox IN -e signed -b 16 OUT.wav`"
)


def _open_regular(path: str | os.PathLike[str]) -> tuple[Path, int]:
    p = Path(path)
    try:
        info = os.stat(p)
    except FileNotFoundError:
        raise DataNotFoundError(f"WAV file {str(p)!r} does not exist") from None
    if stat.S_ISDIR(info.st_mode):
        raise FormatError(f"{p} is a folder, not a WAV file")
    if not stat.S_ISREG(info.st_mode):
        raise FormatError(f"{p} is not a regular file (a pipe, device or socket); give a .wav file")
    return p, int(info.st_size)


def _chunks(f: BinaryIO, p: Path, size: int) -> dict[bytes, tuple[int, int]]:
    """Offsets and sizes of the chunks after the RIFF/WAVE header, each checked to fit."""
    head = f.read(12)
    if len(head) < 12:
        raise FormatError(f"{p}: {size} bytes, too short to be a WAV file (truncated?)")
    riff, riff_size, wave = struct.unpack("<4sI4s", head)
    if riff in (b"RIFX", b"RF64"):
        raise FormatError(f"{p}: {riff.decode()} WAV files are not read; {_HINT}")
    if riff != b"RIFF" or wave != b"WAVE":
        raise FormatError(f"{p}: not a WAV file (starts with {head[:4]!r}, expected b'RIFF')")
    if riff_size + 8 > size:
        raise FormatError(
            f"{p}: the RIFF header says {riff_size + 8} bytes but the file has {size} "
            "(truncated, or the header lies about its size)"
        )
    chunks: dict[bytes, tuple[int, int]] = {}
    offset, end = 12, riff_size + 8
    while offset + 8 <= end:
        f.seek(offset)
        cid, csize = struct.unpack("<4sI", f.read(8))
        if offset + 8 + csize > end:
            raise FormatError(
                f"{p}: chunk {cid!r} at byte {offset} claims {csize} bytes, past the end of the "
                f"file's {end} bytes (truncated, or the header lies about its size)"
            )
        chunks.setdefault(cid, (offset + 8, csize))
        offset += 8 + csize + (csize & 1)  # chunks are padded to an even size
    return chunks


def _format(f: BinaryIO, p: Path, chunks: dict[bytes, tuple[int, int]]) -> dict[str, int]:
    if b"fmt " not in chunks:
        raise FormatError(f"{p}: no 'fmt ' chunk; the file is not a complete WAV file")
    offset, csize = chunks[b"fmt "]
    if csize < 16:
        raise FormatError(f"{p}: 'fmt ' chunk of {csize} bytes, expected at least 16")
    f.seek(offset)
    raw = f.read(min(csize, 40))
    tag, channels, rate, byte_rate, block, bits = struct.unpack("<HHIIHH", raw[:16])
    if tag == _EXTENSIBLE:
        if len(raw) < 26:
            raise FormatError(f"{p}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short ({csize} bytes)")
        tag = struct.unpack("<H", raw[24:26])[0]  # the first two bytes of the sub-format GUID
    if tag in _COMPRESSED or tag not in (_PCM, _FLOAT):
        name = _COMPRESSED.get(tag, f"format tag 0x{tag:04x}")
        raise FormatError(f"{p}: compressed WAV ({name}); only PCM and float are read; {_HINT}")
    allowed = (8, 16, 24, 32) if tag == _PCM else (32, 64)
    kind = "PCM" if tag == _PCM else "float"
    if bits not in allowed:
        raise FormatError(
            f"{p}: {bits}-bit {kind} samples; {kind} WAV files are read with "
            f"{'/'.join(map(str, allowed))} bits"
        )
    if channels < 1 or rate < 1:
        raise FormatError(f"{p}: header says {channels} channels at {rate} Hz")
    if block != channels * bits // 8 or byte_rate != rate * block:
        raise FormatError(
            f"{p}: inconsistent header: {channels} channel(s) of {bits} bits need "
            f"{channels * bits // 8} bytes per frame and {rate * channels * bits // 8} bytes per "
            f"second, the header says {block} and {byte_rate}"
        )
    return {"tag": tag, "channels": channels, "rate": rate, "bits": bits, "block": block}


def wav_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Sample rate, channels, bits, encoding and frame count of a WAV file, without its samples.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
    >>> write_wav(f, np.zeros(800, np.float32), 8000)
    >>> wav_info(f)
    {'sample_rate': 8000, 'channels': 1, 'bits': 16, 'encoding': 'pcm', 'frames': 800}
    """
    p, size = _open_regular(path)
    with open(p, "rb") as f:
        chunks = _chunks(f, p, size)
        fmt = _format(f, p, chunks)
    if b"data" not in chunks:
        raise FormatError(f"{p}: no 'data' chunk (the file holds no samples)")
    data_size = chunks[b"data"][1]
    if data_size % fmt["block"]:
        raise FormatError(
            f"{p}: 'data' chunk of {data_size} bytes is not a whole number of "
            f"{fmt['block']}-byte frames (truncated, or the header lies)"
        )
    return {
        "sample_rate": fmt["rate"],
        "channels": fmt["channels"],
        "bits": fmt["bits"],
        "encoding": "pcm" if fmt["tag"] == _PCM else "float",
        "frames": data_size // fmt["block"],
    }


def read_wav(
    path: str | os.PathLike[str], mono: bool = True, max_bytes: int = MAX_WAV_BYTES
) -> tuple[np.ndarray, int]:
    """Samples (float32 in [-1, 1]) and sample rate of a WAV file.

    Reads PCM with 8 (unsigned), 16, 24 or 32 bits and IEEE float with 32 or 64 bits, plain or
    ``WAVE_FORMAT_EXTENSIBLE``, any sample rate and channel count. ``mono=True`` (default)
    mixes the channels down to their mean, shape ``(frames,)``; ``mono=False`` keeps
    ``(frames, channels)``. Integers are scaled by ``2**(bits-1)`` (so int16 -32768 is -1.0).

    Raises FormatError for compressed WAV (A-law, ADPCM, MP3...), truncated files, sizes in
    the header that do not fit the file, a file larger than ``max_bytes``, and anything that
    is not a regular file.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
    >>> write_wav(f, 0.5 * np.sin(np.arange(8000) * 0.1), 8000)
    >>> x, rate = read_wav(f)
    >>> x.shape, x.dtype, rate, round(float(x.max()), 3)
    ((8000,), dtype('float32'), 8000, 0.5)
    """
    p, size = _open_regular(path)
    if size > max_bytes:
        raise FormatError(
            f"{p}: {size:,} bytes exceed max_bytes={max_bytes:,}; pass a larger max_bytes if "
            "the file is really meant to be read whole"
        )
    with open(p, "rb") as f:
        chunks = _chunks(f, p, size)
        fmt = _format(f, p, chunks)
        if b"data" not in chunks:
            raise FormatError(f"{p}: no 'data' chunk (the file holds no samples)")
        offset, data_size = chunks[b"data"]
        if data_size % fmt["block"]:
            raise FormatError(
                f"{p}: 'data' chunk of {data_size} bytes is not a whole number of "
                f"{fmt['block']}-byte frames (truncated, or the header lies)"
            )
        f.seek(offset)
        raw = f.read(data_size)
    if len(raw) != data_size:  # the file shrank while being read
        raise FormatError(f"{p}: expected {data_size} bytes of samples, read {len(raw)}")
    samples = _decode(raw, fmt).reshape(-1, fmt["channels"])
    if mono:
        out = samples[:, 0] if fmt["channels"] == 1 else samples.mean(axis=1, dtype=np.float64)
        return np.ascontiguousarray(out, dtype=np.float32), fmt["rate"]
    return samples.astype(np.float32, copy=False), fmt["rate"]


def _decode(raw: bytes, fmt: dict[str, int]) -> np.ndarray:
    bits = fmt["bits"]
    if fmt["tag"] == _FLOAT:
        return np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8")
    if bits == 8:  # 8-bit WAV is unsigned, centred on 128
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        return value.astype(np.float32) / float(1 << 23)
    dtype = "<i2" if bits == 16 else "<i4"
    return np.frombuffer(raw, dtype=dtype).astype(np.float32) / float(1 << (bits - 1))


def write_wav(path: str | os.PathLike[str], samples: Any, sample_rate: int, bits: int = 16) -> None:
    """Write samples in [-1, 1] (``(frames,)`` or ``(frames, channels)``) as a PCM WAV file.

    ``bits`` 16 or 24 writes PCM (values clipped to [-1, 1]), 32 writes IEEE float.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise ConfigError(
            f"write_wav: samples must be (frames,) or (frames, channels), got {x.shape}"
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise ConfigError(f"write_wav: sample_rate must be a positive int, got {sample_rate!r}")
    if bits == 16:
        data = np.round(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    elif bits == 24:
        v = np.round(np.clip(x, -1, 1) * 8388607).astype("<i4").ravel()
        triples = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], axis=1)
        data = triples.astype(np.uint8).tobytes()
    elif bits == 32:
        data = x.astype("<f4").tobytes()
    else:
        raise ConfigError(f"write_wav: bits must be 16, 24 or 32 (float), got {bits!r}")
    channels, block = x.shape[1], x.shape[1] * bits // 8
    tag = _FLOAT if bits == 32 else _PCM
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data) + (len(data) & 1), b"WAVE", b"fmt ", 16,
        tag, channels, sample_rate, sample_rate * block, block, bits, b"data", len(data),
    )  # fmt: skip
    from chainrule.io.atomic import atomic_write_bytes

    atomic_write_bytes(Path(path), header + data + b"\0" * (len(data) & 1))
