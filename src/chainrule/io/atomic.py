"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace`` (one or many)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "encode_json",
    "AtomicGroup",
]

PathLike = str | os.PathLike[str]


def _file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file (0o666 less the umask)."""
    # mkstemp creates 0600 files; reading the umask from /proc avoids os.umask(), which would
    # briefly change process-wide state under other threads.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable by syncing its folder (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _naming(dest: Path) -> Iterator[None]:
    """Report an operating-system error under the destination's name: ``fsync`` errors carry
    no file name, and a temp file's name means nothing to the user."""
    try:
        yield
    except OSError as err:
        if err.errno is None or type(err).__module__.startswith("chainrule"):
            raise
        raise OSError(err.errno, err.strerror, str(dest)) from None


def _remove_quietly(path: str | Path) -> None:
    """Delete a leftover temp or backup file, ignoring it being gone already."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def _open_temp(dest: Path, mode: str, encoding: str | None) -> tuple[IO[Any], str]:
    """Create an open temp file next to ``dest`` (same folder, so ``os.replace`` is a rename)."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _file_mode())
        handle = os.fdopen(fd, mode, encoding=encoding)
    except BaseException:
        os.close(fd)
        _remove_quietly(tmp)
        raise
    return handle, tmp


def _finish(handle: IO[Any]) -> None:
    """Flush Python's and the OS's buffers so the bytes are on disk before the rename."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


@contextlib.contextmanager
def atomic_write(
    path: PathLike, mode: str = "wb", *, encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Open a file for writing that appears at ``path`` only once it is complete.

    The data goes to a temp file in the same folder; on a clean exit it is flushed, fsynced and
    renamed over ``path`` with ``os.replace``. If the block raises, the temp file is removed and
    ``path`` keeps its previous content.

    Parameters
    ----------
    path : str or PathLike
        The destination file.
    mode : {"wb", "w"}
        Binary or text.
    encoding : str, optional
        Text encoding (defaults to UTF-8 in text mode).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(target, "w") as f:
    ...     _ = f.write("all or nothing")
    >>> target.read_text()
    'all or nothing'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write supports mode 'wb' or 'w', got {mode!r}")
    dest = Path(path)
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with _naming(dest):
        handle, tmp = _open_temp(dest, mode, encoding)
    try:
        yield handle
        with _naming(dest):
            _finish(handle)
            os.replace(tmp, dest)
    except BaseException:
        handle.close()
        _remove_quietly(tmp)
        raise
    _fsync_folder(dest.parent)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_write``)."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see ``atomic_write``)."""
    with atomic_write(path, "w", encoding=encoding) as handle:
        handle.write(text)


def encode_json(obj: Any) -> str:
    """Strict JSON text (no NaN or infinity: other readers reject them), indented, with newline."""
    return json.dumps(obj, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def atomic_write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as strict, indented UTF-8 JSON to ``path`` atomically."""
    atomic_write_text(path, encode_json(obj))


def _backup(dest: Path) -> Path:
    """Keep the current content of ``dest`` under a fresh name, for rollback."""
    backup = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.bak")
    try:
        os.link(dest, backup)  # cheap: the old inode survives the rename without a copy
    except OSError:
        shutil.copy2(dest, backup)  # file systems without hard links
    return backup


class AtomicGroup:
    """Write several files so that they change together, in order, or not at all.

    Each ``write_*`` call stages a complete, fsynced temp file next to its destination. When the
    ``with`` block ends cleanly, the temp files are renamed over their destinations in the order
    they were written; if a rename fails, the files already replaced get their previous content
    back. If the block raises, nothing is replaced. Write the file that makes the others valid
    (the manifest with their hashes) last: a process killed between two renames then leaves a
    manifest that detects the mismatch instead of one that vouches for the wrong data, and the
    previous content of each replaced file is still there under ``.NAME.<12 hex>.bak`` until
    the commit ends, for ``io.recovery`` to find (loaders fall back to it; opening a run
    folder puts it back and removes the leftovers).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with AtomicGroup() as group:
    ...     group.write_bytes(folder / "data.bin", b"\\x00\\x01")
    ...     group.write_json(folder / "data.json", {"size": 2})
    >>> sorted(p.name for p in folder.iterdir())
    ['data.bin', 'data.json']
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []

    def __enter__(self) -> AtomicGroup:
        return self

    def _stage(self, path: PathLike, payload: bytes) -> None:
        dest = Path(path)
        if any(dest == staged for _, staged in self._staged):
            raise ValueError(f"{dest} is already part of this atomic group")
        with _naming(dest):
            handle, tmp = _open_temp(dest, "wb", None)
        try:
            with _naming(dest):
                handle.write(payload)
                _finish(handle)
        except BaseException:
            handle.close()
            _remove_quietly(tmp)
            raise
        self._staged.append((tmp, dest))

    def write_bytes(self, path: PathLike, data: bytes) -> None:
        """Stage ``data`` for ``path``."""
        self._stage(path, data)

    def write_text(self, path: PathLike, text: str, encoding: str = "utf-8") -> None:
        """Stage ``text`` for ``path``."""
        self._stage(path, text.encode(encoding))

    def write_json(self, path: PathLike, obj: Any) -> None:
        """Stage ``obj`` as strict, indented UTF-8 JSON for ``path``."""
        self._stage(path, encode_json(obj).encode("utf-8"))

    def adopt(self, staged: PathLike, path: PathLike) -> None:
        """Stage an already written file ``staged`` (same file system) for ``path``; it is
        fsynced now and renamed at the commit (removed if the group is discarded)."""
        dest = Path(path)
        if any(dest == known for _, known in self._staged):
            raise ValueError(f"{dest} is already part of this atomic group")
        with _naming(dest):
            fd = os.open(staged, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._staged.append((str(staged), dest))

    def _discard(self) -> None:
        for tmp, _ in self._staged:
            _remove_quietly(tmp)
        self._staged = []

    def _commit(self) -> None:
        done: list[tuple[Path, Path | None]] = []  # (destination, backup of its old content)
        try:
            for tmp, dest in self._staged:
                with _naming(dest):
                    backup = _backup(dest) if dest.exists() else None
                try:
                    with _naming(dest):
                        os.replace(tmp, dest)
                except BaseException:
                    if backup is not None:
                        _remove_quietly(backup)
                    raise
                done.append((dest, backup))
        except BaseException:
            for dest, backup in reversed(done):  # undo, newest first
                with contextlib.suppress(OSError):
                    if backup is None:
                        os.unlink(dest)
                    else:
                        os.replace(backup, dest)
            self._discard()
            raise
        for folder in {dest.parent for _, dest in self._staged}:
            _fsync_folder(folder)  # the new names are durable before the old content goes
        for _, backup in done:
            if backup is not None:
                _remove_quietly(backup)
        self._staged = []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard()
            return
        self._commit()
