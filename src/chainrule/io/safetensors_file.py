"""Safetensors files: the header checked by us (bounds, offsets, dtypes) before tensors are read."""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from chainrule.autodiff.backend import to_numpy
from chainrule.errors import ConfigError, DataNotFoundError, FormatError
from chainrule.io.atomic import atomic_write_bytes

__all__ = [
    "DTYPES",
    "MAX_HEADER_BYTES",
    "read_safetensors_header",
    "read_safetensors",
    "decode_safetensors",
    "encode_safetensors",
    "write_safetensors",
    "sha256_hex",
    "loads_strict",
]

#: The safetensors dtypes chainrule reads and writes, and their NumPy equivalents. Others
#: (BF16, FP8, complex, unsigned 64-bit...) are refused: the engine has no use for them.
DTYPES: dict[str, np.dtype[Any]] = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
}

#: A header larger than this is refused before it is read (safetensors itself caps at 100 MB).
MAX_HEADER_BYTES = 100_000_000
_DTYPE_NAMES = {dtype.str: name for name, dtype in DTYPES.items()}
_MAX_NDIM = 64
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def loads_strict(raw: bytes) -> Any:
    """Parse UTF-8 JSON, refusing duplicate keys and the non-standard NaN / Infinity constants.

    Raises ``ValueError`` (``UnicodeDecodeError`` and ``json.JSONDecodeError`` included) or
    ``RecursionError`` for nesting too deep; callers turn these into a ``FormatError``.
    """
    return json.loads(
        raw.decode("utf-8"), object_pairs_hook=_strict_object, parse_constant=_no_constants
    )


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing duplicate keys (two readers could disagree on which wins)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_int(value: Any) -> bool:
    """A JSON integer (``true``/``false`` are bools in Python and do not count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entry(name: str, entry: Any, data_size: int, where: str) -> tuple[int, int]:
    """Validate one tensor's header entry; return its (begin, end) offsets."""
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise FormatError(
            f"{where}: tensor {name!r} must be described by exactly the keys "
            f"{sorted(_ENTRY_KEYS)}, got {got}"
        )
    dtype = entry["dtype"]
    if dtype not in DTYPES:
        raise FormatError(
            f"{where}: tensor {name!r} has dtype {dtype!r}, which chainrule does not read; "
            f"allowed dtypes are {sorted(DTYPES)}"
        )
    shape = entry["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_NDIM
        or not all(_is_int(d) and d >= 0 for d in shape)
    ):
        raise FormatError(
            f"{where}: tensor {name!r} has shape {shape!r}; expected a list of at most "
            f"{_MAX_NDIM} non-negative integers"
        )
    offsets = entry["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))):
        raise FormatError(
            f"{where}: tensor {name!r} has data_offsets {offsets!r}; expected [begin, end]"
        )
    begin, end = offsets
    if begin > end:
        raise FormatError(
            f"{where}: tensor {name!r} has data_offsets [{begin}, {end}] begin after they end; "
            "the file is corrupt"
        )
    if not 0 <= begin <= end <= data_size:
        raise FormatError(
            f"{where}: tensor {name!r} has data_offsets [{begin}, {end}] outside the data "
            f"section of {data_size} bytes; the file is truncated or corrupt"
        )
    # Python integers cannot overflow, so a hostile shape cannot wrap around to a small size.
    expected = math.prod(shape) * DTYPES[dtype].itemsize
    if end - begin != expected:
        raise FormatError(
            f"{where}: tensor {name!r} of shape {tuple(shape)} and dtype {dtype} needs "
            f"{expected} bytes, but its data_offsets [{begin}, {end}] hold {end - begin}"
        )
    return begin, end


def _parse_header(prefix: bytes, read_header: Any, file_size: int, where: str) -> dict[str, Any]:
    """Check the length field and the JSON header; ``read_header(n)`` returns its ``n`` bytes."""
    if file_size < 8 or len(prefix) < 8:
        raise FormatError(
            f"{where}: {file_size} bytes is too short for a safetensors file, which starts with "
            "an 8-byte header length; the file is truncated or not a safetensors file"
        )
    (length,) = struct.unpack("<Q", prefix[:8])
    # The length is not echoed: for a file of another kind its "value" is just the file's
    # first eight bytes (text, for a symlink to a text file), and means nothing.
    if length > MAX_HEADER_BYTES:
        raise FormatError(
            f"{where}: not a safetensors file: its first 8 bytes, read as the header length, "
            f"ask for more than the {MAX_HEADER_BYTES}-byte limit; the file is corrupt or of "
            "another kind"
        )
    if 8 + length > file_size:
        raise FormatError(
            f"{where}: not a safetensors file: its first 8 bytes, read as the header length, "
            f"ask for more than the {file_size - 8} bytes that follow them; the file is "
            "truncated, corrupt or of another kind"
        )
    raw = read_header(length)
    try:
        header = loads_strict(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"{where}: the header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise FormatError(f"{where}: the header must be a JSON object, got {type(header).__name__}")
    data_size = file_size - 8 - length
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError(f"{where}: __metadata__ must map strings to strings, got {metadata!r}")
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not name:
            raise FormatError(f"{where}: a tensor has an empty name")
        spans.append((*_check_entry(name, entry, data_size, where), name))
    # The tensors must tile the data section exactly: no overlap (two names aliasing the same
    # bytes) and no gap (unaccounted bytes could hide anything).
    position, previous = 0, None
    for begin, end, name in sorted(spans):
        if begin < position:
            raise FormatError(
                f"{where}: tensors {previous!r} and {name!r} overlap (bytes {begin}..{position}); "
                "the file is corrupt"
            )
        if begin > position:
            raise FormatError(
                f"{where}: bytes {position}..{begin} of the data section belong to no tensor; "
                "the file is corrupt"
            )
        position, previous = end, name
    if position != data_size:
        raise FormatError(
            f"{where}: the tensors cover {position} bytes but the data section has {data_size}; "
            "bytes at the end belong to no tensor and the file is corrupt"
        )
    return header


def _missing(path: Path) -> DataNotFoundError:
    return DataNotFoundError(
        f"{path}: no such file; expected a safetensors file written by chainrule"
    )


def read_safetensors_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate the JSON header of a safetensors file without reading the tensors.

    Parameters
    ----------
    path : str or PathLike
        A ``.safetensors`` file.

    Returns
    -------
    dict
        The header: tensor name -> ``{"dtype", "shape", "data_offsets"}``, plus
        ``"__metadata__"`` (strings) when the file has it. Offsets count from the end of the
        header.

    Raises
    ------
    FormatError
        A header that is truncated, too large, not JSON, or describes tensors whose dtype is not
        allowed, whose shape does not fit their bytes, or that do not tile the data exactly.
    DataNotFoundError
        The file does not exist.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> write_safetensors(f, {"w": np.zeros((2, 3), dtype=np.float32)})  # doctest: +ELLIPSIS
    '...'
    >>> read_safetensors_header(f)["w"]["shape"]
    [2, 3]
    """
    path = Path(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after fstat
    except FileNotFoundError:
        raise _missing(path) from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a folder, expected a safetensors file") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        prefix = handle.read(8)
        return _parse_header(prefix, handle.read, size, str(path))


def decode_safetensors(data: bytes, where: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Validate and decode safetensors bytes into (arrays, metadata); ``where`` names the file."""
    header = _parse_header(data[:8], lambda n: data[8 : 8 + n], len(data), where)
    try:
        arrays = safetensors.numpy.load(data)
    except safetensors.SafetensorError as exc:  # pragma: no cover - our checks come first
        raise FormatError(f"{where}: the safetensors reader refused the file ({exc})") from exc
    return arrays, dict(header.get("__metadata__", {}))


def read_safetensors(
    path: str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    """Read a safetensors file after validating its header; return (arrays, metadata, sha256).

    The file is read once, so the bytes that are hashed, checked and decoded are the same bytes.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> digest = write_safetensors(f, {"w": np.arange(3, dtype=np.int64)})
    >>> arrays, metadata, sha = read_safetensors(f)
    >>> arrays["w"].tolist(), sha == digest
    ([0, 1, 2], True)
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _missing(path) from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a folder, expected a safetensors file") from None
    arrays, metadata = decode_safetensors(data, str(path))
    return arrays, metadata, sha256_hex(data)


def encode_safetensors(
    arrays: Mapping[str, Any], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Serialize named arrays to safetensors bytes, refusing dtypes chainrule would not read."""
    prepared: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        array = np.asarray(to_numpy(value), order="C")  # (ascontiguousarray makes 0-d 1-d)
        little = array.dtype.newbyteorder("<")  # safetensors is little-endian
        if not any(little == allowed for allowed in DTYPES.values()):
            raise ConfigError(
                f"cannot save tensor {name!r} of dtype {array.dtype}; chainrule files hold "
                f"{', '.join(str(d) for d in DTYPES.values())}. Hint: convert with "
                "astype('float32')"
            )
        prepared[name] = array.astype(little, copy=False)
    return _serialize(prepared, dict(metadata) if metadata else {})


def _serialize(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """The safetensors bytes, laid out the same way every time: the same arrays and metadata
    give the same bytes in every process (the safetensors library orders ``__metadata__`` by a
    per-process hash seed). Header keys sorted, ``__metadata__`` first, tensors in name order,
    the header padded with spaces to a multiple of 8 bytes, as the format asks."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(metadata[k]) for k in sorted(metadata)}
    position = 0
    for name in sorted(arrays):
        array = arrays[name]
        header[name] = {
            "dtype": _DTYPE_NAMES[array.dtype.str],
            "shape": list(array.shape),
            "data_offsets": [position, position + array.nbytes],
        }
        position += array.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    text += b" " * (-len(text) % 8)
    parts = [struct.pack("<Q", len(text)), text]
    parts += [arrays[name].tobytes(order="C") for name in sorted(arrays)]
    return b"".join(parts)


def write_safetensors(
    path: str | os.PathLike[str],
    arrays: Mapping[str, Any],
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Write named arrays to a safetensors file atomically; return its SHA-256 hex digest."""
    data = encode_safetensors(arrays, metadata)
    atomic_write_bytes(path, data)
    return sha256_hex(data)
