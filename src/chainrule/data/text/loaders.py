"""Loading text from disk: a folder per class, a CSV/TSV with text and label, tagged tokens."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.class_folders import list_class_folder
from chainrule.data.csv import _labels_to_ints
from chainrule.errors import ConfigError, DataNotFoundError, FormatError

__all__ = ["load_text_folder", "load_text_csv", "load_tagged", "MAX_FILE_BYTES", "MAX_FILES"]

#: Bounds on what is read, so a wrong path (a whole disk) or a hostile file fails early.
MAX_FILE_BYTES = 1 << 30
MAX_FILES = 1_000_000


def _existing(path: Any, kind: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"{kind} {str(p)!r} does not exist")
    return p


def _read(path: Path, encoding: str, max_bytes: int) -> str:
    size = path.stat().st_size
    if size > max_bytes:
        raise FormatError(
            f"{path}: {size} bytes exceed max_bytes={max_bytes}; pass a larger max_bytes if "
            "the file is really meant to be read"
        )
    return path.read_bytes().decode(encoding, errors="replace")


def load_text_folder(
    path: str | os.PathLike[str],
    extensions: tuple[str, ...] = (".txt",),
    encoding: str = "utf-8",
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_FILE_BYTES,
) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts from a folder with one subfolder per class (scikit-learn's ``load_files`` layout).

    ``path/spam/0001.txt``, ``path/ham/a.txt``, ... give texts, labels (int64, classes in
    sorted folder order) and the class names. Files are read in sorted order; undecodable
    bytes become U+FFFD. Hidden files and other extensions are skipped.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for cls, text in [("neg", "bad"), ("pos", "good")]:
    ...     (root / cls).mkdir()
    ...     _ = (root / cls / "1.txt").write_text(text)
    >>> texts, labels, names = load_text_folder(root)
    >>> texts, labels.tolist(), names
    (['bad', 'good'], [0, 1], ['neg', 'pos'])
    """
    files, labels, classes = list_class_folder(
        path, extensions, "text folder", ("ham", "spam"), max_files
    )
    return [_read(f, encoding, max_bytes) for f in files], labels, classes


def _column(header: list[str], column: str | int, what: str, name: str) -> int:
    if isinstance(column, int) and not isinstance(column, bool):
        if not -len(header) <= column < len(header):
            raise ConfigError(f"{name}: {what} {column} is outside the {len(header)} columns")
        return column % len(header)
    if column not in header:
        raise ConfigError(f"{name}: no {what} {column!r}; the header has {header}")
    return header.index(column)


def load_text_csv(
    path: str | os.PathLike[str],
    text_column: str | int = "text",
    label_column: str | int = "label",
    delimiter: str | None = None,
    encoding: str = "utf-8-sig",
    max_bytes: int = MAX_FILE_BYTES,
) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts and labels from a CSV (or TSV: ``.tsv``/``.tab`` files, or ``delimiter="\\t"``).

    The first row is the header; columns are chosen by name or position. Integer labels are
    kept (classes ``0..K-1``), names are mapped to ids in sorted order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "reviews.csv"
    >>> _ = f.write_text('text,label\\n"good, really",pos\\nawful,neg\\n')
    >>> texts, labels, names = load_text_csv(f)
    >>> texts, labels.tolist(), names
    (['good, really', 'awful'], [1, 0], ['neg', 'pos'])
    """
    p = _existing(path, "CSV file")
    name = str(p)
    if delimiter is None:
        delimiter = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
    text = _read(p, encoding, max_bytes)
    csv.field_size_limit(max(max_bytes, 1 << 20))
    try:
        rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    except csv.Error as err:
        raise FormatError(f"{name}: not a valid CSV ({err})") from None
    if len(rows) < 2:
        raise FormatError(f"{name}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    ti = _column(header, text_column, "text column", name)
    li = _column(header, label_column, "label column", name)
    texts, labels, lines = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise FormatError(
                f"{name}, line {line}: {len(row)} fields, expected {len(header)} as in the "
                "header (quote texts that contain the delimiter)"
            )
        texts.append(row[ti])
        labels.append(row[li].strip())
        lines.append(line)
    y, classes = _labels_to_ints(name, labels, lines)
    return texts, y, classes


def _token(item: str, name: str, line: int) -> tuple[str, str]:
    if "\t" in item:
        word, _, tag = item.rpartition("\t")
    else:
        word, _, tag = item.rpartition("/")
    word, tag = word.strip(), tag.strip()
    if not word or not tag:
        raise FormatError(f"{name}, line {line}: {item!r:.80} is not 'word/TAG' or 'word<TAB>TAG'")
    return word, tag


def load_tagged(
    path: str | os.PathLike[str],
    layout: str = "auto",
    encoding: str = "utf-8",
    max_bytes: int = MAX_FILE_BYTES,
) -> tuple[list[list[str]], list[list[str]]]:
    """Sentences and their tags for sequence labelling (part-of-speech tagging).

    ``layout="token"``: one ``word/TAG`` or ``word<TAB>TAG`` per line, sentences separated by
    blank lines. ``layout="sentence"``: one sentence per line of space-separated ``word/TAG``
    (the Brown corpus files). ``"auto"`` picks ``sentence`` when the first non-blank line
    holds several space-separated ``word/TAG`` items, else ``token``. ``word/TAG`` splits at
    the last slash, so ``1/2/CD`` is the word ``1/2``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "tags.txt"
    >>> _ = f.write_text("The/DET\\ncat/NOUN\\n\\nHi\\tINTJ\\n")
    >>> load_tagged(f)
    ([['The', 'cat'], ['Hi']], [['DET', 'NOUN'], ['INTJ']])
    """
    if layout not in ("auto", "token", "sentence"):
        raise ConfigError(
            f"load_tagged: layout must be 'auto', 'token' or 'sentence', got {layout!r}"
        )
    p = _existing(path, "tagged file")
    name = str(p)
    lines = _read(p, encoding, max_bytes).splitlines()
    if layout == "auto":
        first = next((s for s in lines if s.strip()), "")
        layout = "sentence" if "\t" not in first.strip() and len(first.split()) > 1 else "token"
    words: list[list[str]] = []
    tags: list[list[str]] = []
    current: list[tuple[str, str]] = []

    def close() -> None:
        if current:
            words.append([w for w, _ in current])
            tags.append([t for _, t in current])
            current.clear()

    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            close()
        elif layout == "sentence":
            current.extend(_token(item, name, number) for item in line.split())
            close()
        else:
            current.append(_token(line, name, number))
    close()
    if not words:
        raise FormatError(f"{name}: no tagged tokens found")
    return words, tags
