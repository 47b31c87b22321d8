"""Python and NumPy warnings shown to a command-line user: once each, in words, one line."""

from __future__ import annotations

import contextlib
import re
import sys
import warnings
from collections.abc import Iterator
from typing import TextIO

import numpy as np

__all__ = ["warnings_in_words", "in_words"]

_PATTERN = r"(overflow|invalid value|divide by zero|underflow) encountered in (\w+)"
_NUMPY = {
    "overflow": "a value overflowed float32 (beyond about 3.4e38)",
    "invalid value": "a computation gave NaN (invalid value)",
    "divide by zero": "a division by zero gave an infinite value",
    "underflow": "a value underflowed to zero",
}


def in_words(message: Warning | str, category: type[Warning]) -> str:
    """One line for a warning: NumPy floating-point warnings explained, others as written."""
    text = " ".join(str(message).split())
    if issubclass(category, RuntimeWarning):
        match = re.match(_PATTERN, text)
        if match:
            what = _NUMPY[match.group(1)]
            return (
                f"{what} in {match.group(2)}; the inputs or the training are numerically out "
                "of range (a diverging loss: try a lower --lr or --clip-grad)"
            )
    return text


@contextlib.contextmanager
def warnings_in_words(command: str) -> Iterator[None]:
    """Within: every warning printed once as ``chainrule COMMAND: warning: ...`` through the
    progress display (``tqdm.write``), never with a source line; NumPy's floating-point
    errors become such warnings."""
    from tqdm import tqdm

    seen: set[str] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = in_words(message, category)
        if text not in seen:
            seen.add(text)
            tqdm.write(f"chainrule {command}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings(), np.errstate(all="warn", under="ignore"):
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield
