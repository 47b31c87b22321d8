"""Reading files we did not write: regular files only, sizes checked first, hashed as read."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from chainrule.errors import DataNotFoundError, FormatError

__all__ = ["open_regular", "read_verified", "backups_of", "BACKUP_NAME"]

#: The name ``AtomicGroup`` keeps a replaced file's previous content under until its commit ends.
BACKUP_NAME = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.bak")
_CHUNK = 16 * 2**20

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike[str], what: str) -> BinaryIO:
    """Open ``path`` for binary reading, refusing anything that is not a regular file.

    The file is opened without blocking (a FIFO would otherwise wait forever for a writer)
    and checked with ``fstat`` on the open descriptor, so a file swapped in between cannot
    slip through. ``what`` says what was expected, for the messages.

    Raises
    ------
    DataNotFoundError
        Nothing at ``path``.
    FormatError
        A folder, FIFO, socket or device: names the kind and what was expected.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DataNotFoundError(f"{path}: no such file; expected {what}") from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a folder, expected {what}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FormatError(f"{path}: is {_kind(mode)}, expected {what} (a regular file)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def backups_of(path: Path) -> list[Path]:
    """The previous contents of ``path`` an interrupted ``AtomicGroup`` commit left behind."""
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        match = BACKUP_NAME.fullmatch(name)
        if match and match["name"] == path.name:
            found.append(path.parent / name)
    return found


def _hashed(handle: Any, size: int, where: Path) -> tuple[bytes, str]:
    """Read exactly ``size`` bytes, hashing each chunk as it arrives."""
    data = bytearray(size)
    view = memoryview(data)
    digest = hashlib.sha256()
    position = 0
    while position < size:
        count = handle.readinto(view[position : position + _CHUNK])
        if not count:
            raise FormatError(f"{where}: the file shrank while it was read")
        digest.update(view[position : position + count])
        position += count
    if handle.read(1):
        raise FormatError(f"{where}: the file grew while it was read")
    return bytes(data), digest.hexdigest()


def read_verified(
    path: Path,
    digest: str,
    size: int | None,
    record: str,
    check: Callable[[Path], Any] | None = None,
) -> bytes:
    """The bytes of ``path`` whose SHA-256 is ``digest`` (and size ``size``, when recorded).

    The size is compared before anything is read; ``check(candidate)`` (e.g. a header check)
    runs before the body is read; the hash is computed while the file streams in. When
    ``path`` does not match but a backup an interrupted save left (``.NAME.<hex>.bak``) does,
    that backup is read instead: the JSON ``record`` still describes the previous save, whose
    weights the backup holds.

    Raises
    ------
    DataNotFoundError
        ``path`` is missing.
    FormatError
        Not a regular file, or neither it nor a backup matches ``record``.
    """
    with open_regular(path, "a safetensors file") as handle:
        found = os.fstat(handle.fileno()).st_size
        if size is None or found == size:
            if check is not None:
                check(path)
            data, sha = _hashed(handle, found, path)
            if sha == digest:
                return data
    for backup in backups_of(path):
        try:
            with open_regular(backup, "a backup") as handle:
                length = os.fstat(handle.fileno()).st_size
                if size is not None and length != size:
                    continue
                if check is not None:
                    check(backup)
                data, sha = _hashed(handle, length, backup)
        except (OSError, FormatError, DataNotFoundError):
            continue
        if sha == digest:
            return data
    if size is not None and found != size:
        raise FormatError(
            f"{path}: {found:,} bytes, but {record} records {size:,}; the two files are not "
            "from the same save (or one is corrupt or was cut short). Hint: copy or save "
            "both files together"
        )
    raise FormatError(
        f"{path}: its SHA-256 does not match the one recorded in {record}; the files are not "
        "from the same save (or one is corrupt). Hint: copy or save both files together"
    )
