"""Users' own data: a CSV file with a label column and pixel (feature) columns."""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import zlib
from collections.abc import Iterator
from typing import IO

import numpy as np

from chainrule.errors import ConfigError, FormatError, ShapeError

__all__ = ["load_csv", "MAX_LINE_CHARS", "MAX_COLUMNS"]


#: Bounds on a CSV, checked as it is read (so memory stays bounded whatever the file holds):
#: characters in one line, and cells in one row.
MAX_LINE_CHARS = 4 * 2**20
MAX_COLUMNS = 100_000


def _open_text(name: str) -> IO[str]:
    """Open a CSV as text, through gzip when it starts with the gzip magic; BOM stripped.
    Only regular files (a FIFO would hang the reader)."""
    from chainrule.io.files import open_regular

    raw = open_regular(name, "a CSV file")
    try:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if gz:  # checked regular above; GzipFile would not close a file object it was given
            raw.close()
            return gzip.open(name, "rt", encoding="utf-8-sig", newline="")
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    except BaseException:
        raw.close()
        raise


def _bounded_lines(f: IO[str], name: str) -> Iterator[str]:
    """The lines of ``f``, refusing one longer than ``MAX_LINE_CHARS`` before reading it whole."""
    number = 0
    while True:
        line = f.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise FormatError(
                f"{name}, line {number}: longer than {MAX_LINE_CHARS:,} characters, the most a "
                "CSV line may hold here; the file is not a CSV of labels and pixel values"
            )
        yield line


def _is_number(cell: str) -> bool:
    """Whether ``float(cell)`` succeeds."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _labels_to_ints(name: str, labels: list[str], lines: list[int]) -> tuple[np.ndarray, list[str]]:
    """Whole-number labels are kept as they are; otherwise names are mapped to 0..K-1 sorted."""
    if all(_is_number(s) for s in labels):
        values = np.array([float(s) for s in labels])
        frac = np.flatnonzero((values != np.round(values)) | ~np.isfinite(values))
        if frac.size:
            i = int(frac[0])
            raise FormatError(
                f"{name}, line {lines[i]}: label {labels[i]!r} is not a whole number; class "
                "labels must be integers or names (regression targets are not supported)"
            )
        if (values < 0).any():
            i = int(np.flatnonzero(values < 0)[0])
            raise FormatError(
                f"{name}, line {lines[i]}: label {labels[i]!r} is negative; numeric class "
                "labels must be in 0..K-1"
            )
        y = values.astype(np.int64)
        return y, [str(k) for k in range(int(y.max()) + 1)]
    names = sorted(set(labels))
    index = {c: k for k, c in enumerate(names)}
    return np.array([index[s] for s in labels], dtype=np.int64), names


def load_csv(
    path: str | os.PathLike[str],
    label_column: int | str = 0,
    has_header: bool | str = "auto",
    image_shape: tuple[int, ...] | None = None,
    delimiter: str = ",",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load your own labelled data from a CSV file: one label column, the rest pixel values.

    Parameters
    ----------
    path : str or PathLike
        The CSV (UTF-8; gzip-compressed is detected). Blank lines are skipped.
    label_column : int or str
        Index of the label column (negative counts from the end) or its header name.
    has_header : bool or "auto"
        ``"auto"`` treats the first row as a header when one of its pixel cells is not a number.
    image_shape : tuple of int, optional
        Reshape each row's pixels, e.g. ``(28, 28)``.
    delimiter : str
        Cell separator.

    Returns
    -------
    (x, y, class_names)
        ``x`` float32 of shape (N, P) or (N, *image_shape); ``y`` int64. Whole-number labels
        are kept (``class_names`` = "0".."max"); text labels are mapped to 0..K-1 in sorted
        order and ``class_names`` lists them.

    Raises
    ------
    FormatError
        Empty file, missing label column, ragged rows, non-numeric or NaN pixels; the
        message names the file, line and column.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from chainrule.data import load_csv
    >>> p = Path(tempfile.mkdtemp()) / "pets.csv"
    >>> _ = p.write_text("kind,a,b\\ncat,0,1\\ndog,1,0\\ncat,1,1\\n")
    >>> x, y, names = load_csv(p, label_column="kind")
    >>> x.shape, y.tolist(), names
    ((3, 2), [0, 1, 0], ['cat', 'dog'])
    """
    name = os.fspath(path)
    if has_header not in (True, False, "auto"):
        raise ConfigError(f"load_csv: has_header must be True, False or 'auto', got {has_header!r}")
    if isinstance(label_column, str) and has_header is False:
        raise ConfigError(
            f"load_csv: label_column={label_column!r} is a name, which needs a header row; "
            "pass has_header=True or 'auto', or give the column's index"
        )
    header: list[str] | None = None
    label_idx = -1
    ncols = first_line = 0
    rows: list[np.ndarray] = []
    labels: list[str] = []
    lines: list[int] = []
    try:
        with _open_text(name) as f:
            reader = csv.reader(_bounded_lines(f, name), delimiter=delimiter)
            for row in reader:
                if len(row) > MAX_COLUMNS:
                    raise FormatError(
                        f"{name}, line {reader.line_num}: {len(row):,} columns, more than the "
                        f"{MAX_COLUMNS:,} a CSV may have here"
                    )
                cells = [c.strip() for c in row]
                if not any(cells):
                    continue
                line = reader.line_num
                if not ncols:  # the first non-blank row fixes the layout
                    ncols, first_line = len(cells), line
                    label_idx = _label_index(name, line, label_column, cells)
                    if ncols < 2:
                        raise FormatError(
                            f"{name}, line {line}: only {ncols} column; expected a label column "
                            f"and pixel columns separated by {delimiter!r}"
                        )
                    pixels = cells[:label_idx] + cells[label_idx + 1 :]
                    if (
                        has_header is True
                        or isinstance(label_column, str)
                        or (has_header == "auto" and not all(map(_is_number, pixels)))
                    ):
                        header = cells
                        continue
                if len(cells) != ncols:
                    raise FormatError(
                        f"{name}, line {line}: {len(cells)} columns, but line {first_line} has "
                        f"{ncols}; every row needs the same number of cells"
                    )
                pixels = cells[:label_idx] + cells[label_idx + 1 :]
                try:
                    values = np.array(pixels, dtype=np.float32)
                except ValueError:
                    bad = next(i for i, c in enumerate(pixels) if not _is_number(c))
                    raise FormatError(
                        f"{name}, line {line}, column {_col(bad, label_idx, header)}: "
                        f"{pixels[bad]!r} is not a number; pixel values must be numeric"
                    ) from None
                if not np.isfinite(values).all():
                    bad = int(np.flatnonzero(~np.isfinite(values))[0])
                    raise FormatError(
                        f"{name}, line {line}, column {_col(bad, label_idx, header)}: value "
                        f"{pixels[bad]!r} is NaN or infinite; fill in or drop missing values"
                    )
                if not cells[label_idx]:
                    raise FormatError(
                        f"{name}, line {line}, column {label_idx + 1}: the label is empty"
                    )
                rows.append(values)
                labels.append(cells[label_idx])
                lines.append(line)
    except (UnicodeDecodeError, csv.Error, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise FormatError(f"{name}: cannot be read as a CSV text file ({exc})") from None
    if not rows:
        what = "has only a header row" if header is not None else "is empty"
        raise FormatError(f"{name}: the file {what}; expected rows of a label and pixel values")
    x = np.stack(rows)
    y, class_names = _labels_to_ints(name, labels, lines)
    if image_shape is not None:
        shape = tuple(int(d) for d in image_shape)
        if math.prod(shape) != x.shape[1]:
            raise ShapeError(
                f"load_csv: image_shape={shape} holds {math.prod(shape)} pixels but {name} has "
                f"{x.shape[1]} pixel columns per row"
            )
        x = x.reshape(len(x), *shape)
    return x, y, class_names


def _label_index(name: str, line: int, label_column: int | str, first: list[str]) -> int:
    """Resolve ``label_column`` against the first row to a non-negative index."""
    if isinstance(label_column, str):
        if label_column not in first:
            raise FormatError(
                f"{name}, line {line}: no column named {label_column!r}; the header has "
                f"{', '.join(map(repr, first[:20]))}{' ...' if len(first) > 20 else ''}"
            )
        return first.index(label_column)
    if isinstance(label_column, bool) or not isinstance(label_column, (int, np.integer)):
        raise ConfigError(
            f"load_csv: label_column must be an int index or a header name, got {label_column!r}"
        )
    n = len(first)
    if not -n <= label_column < n:
        raise FormatError(
            f"{name}, line {line}: label column {label_column} does not exist; the rows have "
            f"{n} columns"
        )
    return int(label_column) % n


def _col(pixel_pos: int, label_idx: int, header: list[str] | None) -> str:
    """1-based column number (plus header name) of a pixel cell, for messages."""
    col = pixel_pos + (pixel_pos >= label_idx)
    return f"{col + 1}" + (f" ({header[col]!r})" if header else "")
