"""The class-folder layout (one subfolder per class) shared by the text and audio loaders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from chainrule.errors import DataNotFoundError, FormatError

__all__ = ["list_class_folder"]


def list_class_folder(
    path: str | os.PathLike[str],
    extensions: tuple[str, ...],
    kind: str,
    example: tuple[str, str],
    max_files: int,
) -> tuple[list[Path], np.ndarray, list[str]]:
    """The files of ``path/<class>/**`` with one of ``extensions``, their labels (int64, classes
    in sorted folder order) and the class names; hidden files and folders are skipped.

    ``kind`` ("text folder") and ``example`` (two class names) only word the errors: a missing
    folder, a file instead of a folder, fewer than two classes, an empty class or more than
    ``max_files`` files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for cls in ("no", "yes"):
    ...     (root / cls).mkdir()
    ...     _ = (root / cls / "1.txt").write_text("x")
    >>> files, labels, names = list_class_folder(root, (".txt",), "folder", ("no", "yes"), 10)
    >>> [f.name for f in files], labels.tolist(), names
    (['1.txt', '1.txt'], [0, 1], ['no', 'yes'])
    """
    root = Path(path)
    if not root.exists():
        raise DataNotFoundError(f"{kind} {str(root)!r} does not exist")
    if not root.is_dir():
        raise FormatError(f"{root} is a file; expected a folder with one subfolder per class")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise FormatError(
            f"{root}: found {len(classes)} class subfolder(s) {classes}; expected at least 2 "
            f"(one subfolder per class, e.g. {example[0]}/ and {example[1]}/, each holding "
            f"{'/'.join(extensions)} files)"
        )
    files: list[Path] = []
    labels: list[int] = []
    for k, name in enumerate(classes):
        found = sorted(
            f for f in (root / name).rglob("*")
            if f.is_file() and f.suffix.lower() in extensions and not f.name.startswith(".")
        )  # fmt: skip
        if not found:
            raise FormatError(f"{root / name}: no {'/'.join(extensions)} files in this class")
        if len(files) + len(found) > max_files:
            raise FormatError(f"{root}: more than max_files={max_files} files")
        files.extend(found)
        labels.extend([k] * len(found))
    return files, np.array(labels, dtype=np.int64), classes
