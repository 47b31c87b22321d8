"""IDX reading and writing: round trips for every type code, and every kind of broken file."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

from chainrule.data import read_idx, write_idx
from chainrule.errors import DtypeError, FormatError, ShapeError

DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.int16,
    0x0C: np.int32,
    0x0D: np.float32,
    0x0E: np.float64,
}


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    """An IDX header written out by hand: 00 00 code ndim, then big-endian uint32 dims."""
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _sample(dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """Values that use the sign and the extremes of the dtype."""
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        a.flat[0], a.flat[-1] = info.min, info.max
        return a
    return rng.normal(0, 1e3, size=shape).astype(dtype)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("code", sorted(DTYPES))
def test_round_trip_each_type_code(tmp_path, code, compressed):
    dtype = DTYPES[code]
    a = _sample(dtype, (3, 4, 5))
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    write_idx(path, a)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") is compressed
    body = gzip.decompress(raw) if compressed else raw
    # Header and payload exactly as the format says: big-endian, type code byte, dims.
    assert body[:16] == _header(code, (3, 4, 5))
    assert body[16:] == a.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    b = read_idx(path)
    assert b.dtype == dtype and b.dtype.isnative and b.shape == (3, 4, 5)
    np.testing.assert_array_equal(a, b)


def test_round_trip_1d_and_empty(tmp_path):
    write_idx(tmp_path / "l.idx", np.array([7, 0, 9], dtype=np.uint8))
    assert read_idx(tmp_path / "l.idx").tolist() == [7, 0, 9]
    write_idx(tmp_path / "e.idx.gz", np.zeros((0, 28, 28), dtype=np.uint8))
    assert read_idx(tmp_path / "e.idx.gz").shape == (0, 28, 28)


def test_result_is_writable(tmp_path):
    write_idx(tmp_path / "a", np.arange(4, dtype=np.uint8))
    a = read_idx(tmp_path / "a")
    a[0] = 9
    assert a.tolist() == [9, 1, 2, 3]


def test_compression_detected_by_magic_not_name(tmp_path):
    a = np.arange(6, dtype=np.int16).reshape(2, 3)
    raw_named_gz = tmp_path / "raw.gz"
    raw_named_gz.write_bytes(_header(0x0B, (2, 3)) + a.astype(">i2").tobytes())
    gz_named_raw = tmp_path / "gz.idx"
    gz_named_raw.write_bytes(gzip.compress(raw_named_gz.read_bytes()))
    np.testing.assert_array_equal(read_idx(raw_named_gz), a)
    np.testing.assert_array_equal(read_idx(gz_named_raw), a)


def test_gzip_output_is_deterministic(tmp_path):
    a = np.arange(100, dtype=np.float32)
    write_idx(tmp_path / "1.gz", a)
    write_idx(tmp_path / "2.gz", a)
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.idx"
    write_idx(path, np.array([1, 2], dtype=np.uint8))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.array([3, 4, 5], dtype=np.uint8))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.idx"]


def test_written_file_gets_normal_permissions(tmp_path):
    path = tmp_path / "p.idx"
    write_idx(path, np.zeros(2, dtype=np.uint8))
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize(
    ("array", "error", "match"),
    [
        (np.zeros(3, dtype=np.int64), DtypeError, "cannot store dtype int64"),
        (np.zeros(3, dtype=bool), DtypeError, "cannot store dtype bool"),
        (np.zeros(3, dtype=np.float16), DtypeError, "astype"),
        (np.zeros(3, dtype=np.uint16), DtypeError, "uint16"),
        (np.array(5, dtype=np.uint8), ShapeError, r"1 to 32 dimensions, got shape \(\)"),
    ],
)
def test_write_rejects_unstorable_arrays(tmp_path, array, error, match):
    with pytest.raises(error, match=match):
        write_idx(tmp_path / "x", array)
    assert list(tmp_path.iterdir()) == []


# ---- corrupt files: each gets a FormatError that names the file and the problem ----------


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_empty_file(tmp_path):
    path = _write(tmp_path, "empty-idx1-ubyte", b"")
    with pytest.raises(FormatError, match=r"empty-idx1-ubyte: the file is empty"):
        read_idx(path)


def test_file_shorter_than_magic(tmp_path):
    path = _write(tmp_path, "tiny", b"\x00\x00")
    with pytest.raises(FormatError, match=r"tiny: the file holds only 2 bytes"):
        read_idx(path)


def test_bad_magic(tmp_path):
    path = _write(tmp_path, "pk.idx", b"PK\x03\x04" + bytes(20))
    with pytest.raises(
        FormatError, match=r"pk\.idx: does not start with the IDX magic 00 00 \(got 50 4b\)"
    ):
        read_idx(path)


def test_bad_type_code(tmp_path):
    path = _write(tmp_path, "t.idx", _header(0x07, (2,)) + b"\x01\x02")
    with pytest.raises(
        FormatError, match=r"t\.idx: unknown IDX type code 0x07; expected one of 0x08"
    ):
        read_idx(path)


@pytest.mark.parametrize("ndim", [0, 33, 255])
def test_bad_dimension_count(tmp_path, ndim):
    path = _write(tmp_path, "d.idx", bytes([0, 0, 8, ndim]) + bytes(4 * ndim + 8))
    with pytest.raises(FormatError, match=rf"d\.idx: the header declares {ndim} dimensions"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = _write(tmp_path, "h.idx", bytes([0, 0, 8, 3]) + struct.pack(">I", 10))
    with pytest.raises(
        FormatError, match=r"h\.idx: .*ends after 8 bytes, before the 16-byte header"
    ):
        read_idx(path)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_truncated_payload(tmp_path, compressed):
    data = _header(0x08, (10000, 28, 28)) + bytes(1000)
    name = "t10k-images-idx3-ubyte" + (".gz" if compressed else "")
    path = _write(tmp_path, name, gzip.compress(data) if compressed else data)
    with pytest.raises(FormatError) as info:
        read_idx(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ": ")
    assert (
        "payload has 1000 bytes, the header promises 7840000 (10000x28x28 ubyte); "
        "the file is truncated" in msg
    )


def test_truncated_payload_multibyte_type(tmp_path):
    path = _write(tmp_path, "f.idx", _header(0x0D, (4,)) + bytes(15))
    with pytest.raises(
        FormatError, match=r"payload has 15 bytes, the header promises 16 \(4 float\)"
    ):
        read_idx(path)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_extra_bytes(tmp_path, compressed):
    data = _header(0x08, (2, 2)) + bytes(4 + 3)
    path = _write(tmp_path, "x.idx", gzip.compress(data) if compressed else data)
    expected = "data continues after the 4 bytes of payload" if compressed else (
        r"payload has 7 bytes, the header promises 4 .*3 unexpected extra"
    )  # fmt: skip
    with pytest.raises(FormatError, match=expected):
        read_idx(path)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_absurd_dims_refused_before_allocating(tmp_path, compressed):
    # 2**32-1 cubed doubles: ~6e29 bytes. A reader that trusted the header would die here.
    data = _header(0x0E, (0xFFFFFFFF,) * 3) + bytes(64)
    path = _write(tmp_path, "hostile.idx", gzip.compress(data) if compressed else data)
    with pytest.raises(
        FormatError, match=r"hostile\.idx: the header promises \d+ bytes .* corrupt or hostile"
    ):
        read_idx(path)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_large_but_allowed_dims_with_short_payload(tmp_path, compressed):
    # 3 GB promised (under the 4 GiB cap) but 10 bytes present: must say truncated, quickly.
    data = _header(0x08, (60000, 50000)) + bytes(10)
    path = _write(tmp_path, "big.idx", gzip.compress(data) if compressed else data)
    with pytest.raises(FormatError, match=r"payload has 10 bytes, the header promises 3000000000"):
        read_idx(path)


def test_max_bytes_is_adjustable(tmp_path):
    path = _write(tmp_path, "m.idx", _header(0x08, (100,)) + bytes(100))
    assert read_idx(path).shape == (100,)
    with pytest.raises(
        FormatError, match=r"100 bytes of payload \(100 ubyte\), more than max_bytes=99"
    ):
        read_idx(path, max_bytes=99)


def test_named_gz_but_not_gzip(tmp_path):
    path = _write(tmp_path, "train-labels-idx1-ubyte.gz", b"this is plain text, not gzip\n")
    with pytest.raises(
        FormatError, match=r"the name ends in \.gz but the file is not gzip-compressed"
    ):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    full = gzip.compress(_header(0x08, (1000,)) + bytes(range(256)) * 4)
    path = _write(tmp_path, "cut.gz", full[: len(full) // 2])
    with pytest.raises(FormatError, match=r"cut\.gz: the gzip stream is corrupt or truncated"):
        read_idx(path)


def test_gzip_with_bad_crc(tmp_path):
    full = bytearray(gzip.compress(_header(0x08, (4,)) + b"\x01\x02\x03\x04"))
    full[-8] ^= 0xFF  # the CRC32 of the trailer
    path = _write(tmp_path, "crc.gz", bytes(full))
    with pytest.raises(
        FormatError, match=r"crc\.gz: the gzip stream is corrupt or truncated \(CRC"
    ):
        read_idx(path)


def test_gzip_garbage_after_magic(tmp_path):
    path = _write(tmp_path, "junk.gz", b"\x1f\x8b" + bytes(range(50)))
    with pytest.raises(FormatError, match=r"junk\.gz: the gzip stream is corrupt or truncated"):
        read_idx(path)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(FormatError, match="is a folder"):
        read_idx(tmp_path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")
