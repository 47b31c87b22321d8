"""The IDX file format of MNIST and Fashion-MNIST: validated reading and atomic writing."""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import zlib
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from chainrule.errors import DtypeError, FormatError, ShapeError
from chainrule.io.atomic import atomic_write

__all__ = [
    "read_idx",
    "read_idx_header",
    "check_idx_pair",
    "write_idx",
    "IDX_TYPES",
    "DEFAULT_MAX_BYTES",
]

#: Type code byte -> (big-endian NumPy dtype, name used in messages).
IDX_TYPES: dict[int, tuple[np.dtype[Any], str]] = {
    0x08: (np.dtype(">u1"), "ubyte"),
    0x09: (np.dtype(">i1"), "byte"),
    0x0B: (np.dtype(">i2"), "short"),
    0x0C: (np.dtype(">i4"), "int"),
    0x0D: (np.dtype(">f4"), "float"),
    0x0E: (np.dtype(">f8"), "double"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, (dt, _) in IDX_TYPES.items()}

#: A header that promises more payload than this is refused before anything is allocated.
DEFAULT_MAX_BYTES = 1 << 32
_MAX_NDIM = 32
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22


class _Readable(Protocol):
    """A binary stream (a raw file or a GzipFile)."""

    def read(self, size: int = -1, /) -> bytes: ...


def _describe(dims: tuple[int, ...], type_name: str) -> str:
    """'10000x28x28 ubyte' for messages."""
    return "x".join(str(d) for d in dims) + f" {type_name}"


def _read_at_most(stream: _Readable, limit: int) -> bytearray:
    """Read up to ``limit`` bytes in chunks: memory follows the data, never the header's claim."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = stream.read(min(_CHUNK, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _parse_header(name: str, stream: _Readable, hint: str) -> tuple[int, tuple[int, ...]]:
    """Read and check the magic, type code and dimensions; return (type code, dims)."""
    head = stream.read(4)
    if len(head) == 0:
        raise FormatError(f"{name}: the file is empty{hint}; expected an IDX header (4+ bytes)")
    if len(head) < 4:
        raise FormatError(
            f"{name}: the file holds only {len(head)} bytes{hint}; an IDX header needs at least 4"
        )
    if head[0] != 0 or head[1] != 0:
        raise FormatError(
            f"{name}: does not start with the IDX magic 00 00 (got {head[:2].hex(' ')}){hint}; "
            "this is not an IDX file"
        )
    code, ndim = head[2], head[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} ({n})" for c, (_, n) in IDX_TYPES.items())
        raise FormatError(
            f"{name}: unknown IDX type code 0x{code:02X}; expected one of {known}. "
            "The file is corrupt or not an IDX file"
        )
    if not 1 <= ndim <= _MAX_NDIM:
        raise FormatError(
            f"{name}: the header declares {ndim} dimensions; an IDX file has 1 to {_MAX_NDIM}. "
            "The file is corrupt or not an IDX file"
        )
    raw_dims = stream.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise FormatError(
            f"{name}: the header declares {ndim} dimensions but the file ends after "
            f"{4 + len(raw_dims)} bytes, before the {4 + 4 * ndim}-byte header is complete; "
            "the file is truncated"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    return code, dims


def _read_stream(
    name: str, stream: _Readable, size_on_disk: int | None, max_bytes: int, hint: str
) -> np.ndarray:
    """Parse one (already decompressed) IDX stream into a native-endian array."""
    code, dims = _parse_header(name, stream, hint)
    dtype, type_name = IDX_TYPES[code]
    # Python ints: the product of hostile dims cannot overflow.
    expected = math.prod(dims) * dtype.itemsize
    what = _describe(dims, type_name)
    if expected > max_bytes:
        raise FormatError(
            f"{name}: the header promises {expected} bytes of payload ({what}), more than "
            f"max_bytes={max_bytes}; the header is corrupt or hostile (pass a larger max_bytes "
            "if the file really is that big)"
        )
    header_len = 4 + 4 * len(dims)
    if size_on_disk is not None and size_on_disk - header_len < expected:
        got = size_on_disk - header_len
        raise FormatError(
            f"{name}: payload has {got} bytes, the header promises {expected} ({what}); "
            "the file is truncated"
        )
    payload = _read_at_most(stream, expected + 1)
    if len(payload) < expected:
        raise FormatError(
            f"{name}: payload has {len(payload)} bytes, the header promises {expected} ({what}); "
            "the file is truncated"
        )
    if len(payload) > expected and size_on_disk is not None:
        extra = size_on_disk - header_len - expected
        raise FormatError(
            f"{name}: payload has {expected + extra} bytes, the header promises {expected} "
            f"({what}); {extra} unexpected extra byte(s) at the end: the header and data disagree"
        )
    if len(payload) > expected:
        # Not counted: gigabytes of gzipped trailing zeros would take seconds to count.
        raise FormatError(
            f"{name}: data continues after the {expected} bytes of payload the header promises "
            f"({what}); the header and data disagree"
        )
    data = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1)


def read_idx(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a native-endian NumPy array.

    Compression is detected from the gzip magic bytes, not from the name. The magic, type
    code, dimension count and payload length are all checked; the payload must hold exactly
    the product of the dimensions. A header that promises more than ``max_bytes`` is refused
    before any memory is allocated for it.

    Parameters
    ----------
    path : str or PathLike
        The file, e.g. ``train-images-idx3-ubyte.gz``.
    max_bytes : int
        Largest payload accepted (4 GiB by default), a guard against hostile headers.

    Returns
    -------
    numpy.ndarray
        uint8, int8, int16, int32, float32 or float64 as the type code says, with the
        header's shape.

    Raises
    ------
    FormatError
        For an empty, truncated, mislabelled or corrupt file; the message names the file.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from chainrule.data import read_idx, write_idx
    >>> p = os.path.join(tempfile.mkdtemp(), "x-idx2-ubyte.gz")
    >>> write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(p)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    name = os.fspath(path)
    with _opened(name) as (stream, size, hint):
        return _read_stream(name, stream, size, max_bytes, hint)


def read_idx_header(path: str | os.PathLike[str]) -> tuple[np.dtype[Any], tuple[int, ...]]:
    """The (native-endian dtype, dimensions) an IDX file's header declares; the payload is not
    read, so two files can be compared before either is loaded.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from chainrule.data import write_idx
    >>> p = os.path.join(tempfile.mkdtemp(), "x-idx2-ubyte.gz")
    >>> write_idx(p, np.zeros((4, 3), dtype=np.uint8))
    >>> read_idx_header(p)
    (dtype('uint8'), (4, 3))
    """
    name = os.fspath(path)
    with _opened(name) as (stream, _, hint):
        code, dims = _parse_header(name, stream, hint)
    return IDX_TYPES[code][0].newbyteorder("="), dims


def check_idx_pair(images: str | os.PathLike[str], labels: str | os.PathLike[str]) -> None:
    """Refuse, from the headers alone, an image file and a label file that disagree on the count."""
    _, image_dims = read_idx_header(images)
    _, label_dims = read_idx_header(labels)
    if image_dims[0] != label_dims[0]:
        raise FormatError(
            f"{os.fspath(labels)}: holds {label_dims[0]} labels but {os.fspath(images)} holds "
            f"{image_dims[0]} images; the files do not belong together"
        )


@contextlib.contextmanager
def _opened(name: str) -> Iterator[tuple[_Readable, int | None, str]]:
    """The decompressed stream of an IDX file, its size on disk (None when gzipped) and a hint
    for the messages; only regular files are opened (a FIFO would hang the reader)."""
    from chainrule.io.files import open_regular

    with open_regular(name, "an IDX file") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == _GZIP_MAGIC:
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    yield gz, None, " (after gunzip)"
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise FormatError(
                    f"{name}: the gzip stream is corrupt or truncated ({exc}); "
                    "download or copy the file again"
                ) from None
            return
        hint = " (the name ends in .gz but the file is not gzip-compressed)"
        yield raw, os.fstat(raw.fileno()).st_size, hint if name.endswith(".gz") else ""


def write_idx(path: str | os.PathLike[str], array: Any) -> None:
    """Write an array as an IDX file, gzip-compressed when the name ends in ``.gz``.

    The file is written to a temporary name in the same folder and moved into place with
    ``os.replace``, so a crash never leaves a half-written file. The gzip header carries no
    timestamp, so the same array always gives the same bytes.

    Parameters
    ----------
    path : str or PathLike
        Destination, e.g. ``labels-idx1-ubyte.gz``.
    array : array_like
        uint8, int8, int16, int32, float32 or float64, with 1 to 32 dimensions each below 2**32.

    Raises
    ------
    DtypeError
        For a dtype IDX cannot store (int64, bool, float16, ...).
    ShapeError
        For a 0-d array or a dimension too large for the header.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from chainrule.data import read_idx, write_idx
    >>> p = os.path.join(tempfile.mkdtemp(), "w-idx1-double")
    >>> write_idx(p, np.array([0.5, -1.0]))
    >>> read_idx(p).tolist()
    [0.5, -1.0]
    """
    arr = np.asarray(array)
    code = _CODE_OF_KIND.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None or arr.dtype.kind not in "uif":
        raise DtypeError(
            f"write_idx: IDX cannot store dtype {arr.dtype}; it holds uint8, int8, int16, int32, "
            "float32 or float64. Hint: convert first, e.g. array.astype(np.int32)"
        )
    if not 1 <= arr.ndim <= _MAX_NDIM:
        raise ShapeError(
            f"write_idx: IDX holds arrays with 1 to {_MAX_NDIM} dimensions, got shape {arr.shape}"
        )
    if any(d >= 1 << 32 for d in arr.shape):
        raise ShapeError(f"write_idx: every dimension must be below 2**32, got shape {arr.shape}")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(arr, dtype=IDX_TYPES[code][0]).tobytes()
    with atomic_write(path, "wb") as f:
        if os.fspath(path).endswith(".gz"):
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
                gz.write(header)
                gz.write(payload)
        else:
            f.write(header)
            f.write(payload)
