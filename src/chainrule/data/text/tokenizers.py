"""Tokenizers: characters, or words with lowercasing and simple punctuation splitting."""

from __future__ import annotations

import re
from typing import Any

from chainrule.errors import ConfigError, FormatError

__all__ = ["Tokenizer", "tokenize_words", "tokenize_chars", "TOKENIZERS"]

# A word is letters/digits with inner apostrophes or hyphens ("don't", "e-mail"); every other
# visible character is a token of its own, so "Hello, world!" -> hello , world !
_WORD = re.compile(r"\w+(?:['\u2019\-]\w+)*|[^\w\s]")

TOKENIZERS = ("word", "char")


def tokenize_words(text: str, lowercase: bool = True) -> list[str]:
    """Words and punctuation marks of ``text``.

    Examples
    --------
    >>> tokenize_words("Don't panic, it's 42!")
    ["don't", 'panic', ',', "it's", '42', '!']
    """
    return _WORD.findall(text.lower() if lowercase else text)


def tokenize_chars(text: str, lowercase: bool = False) -> list[str]:
    """The characters of ``text`` (runs of whitespace become one space).

    Examples
    --------
    >>> tokenize_chars("Hi  there")
    ['H', 'i', ' ', 't', 'h', 'e', 'r', 'e']
    """
    text = " ".join(text.split())
    return list(text.lower() if lowercase else text)


class Tokenizer:
    """A tokenizer that can be stored (``to_dict``) and rebuilt exactly (``from_dict``).

    Parameters
    ----------
    kind : {"word", "char"}
    lowercase : bool, optional
        Default True for words, False for characters.

    Examples
    --------
    >>> tok = Tokenizer("word")
    >>> tok("The cat sat.")
    ['the', 'cat', 'sat', '.']
    >>> Tokenizer.from_dict(tok.to_dict())("Hi!")
    ['hi', '!']
    """

    def __init__(self, kind: str = "word", lowercase: bool | None = None) -> None:
        if kind not in TOKENIZERS:
            raise ConfigError(f"Tokenizer: kind must be one of {TOKENIZERS}, got {kind!r}")
        if lowercase is not None and not isinstance(lowercase, bool):
            raise ConfigError(f"Tokenizer: lowercase must be True or False, got {lowercase!r}")
        self.kind = kind
        self.lowercase = (kind == "word") if lowercase is None else lowercase

    def __call__(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise ConfigError(f"Tokenizer: expected a str, got {type(text).__name__}")
        if self.kind == "word":
            return tokenize_words(text, self.lowercase)
        return tokenize_chars(text, self.lowercase)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description."""
        return {"kind": self.kind, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: Any) -> Tokenizer:
        """Rebuild from ``to_dict()``; FormatError for anything else."""
        if not isinstance(data, dict) or set(data) != {"kind", "lowercase"}:
            raise FormatError(f"tokenizer: expected {{'kind', 'lowercase'}}, got {data!r:.200}")
        try:
            return cls(data["kind"], data["lowercase"])
        except ConfigError as err:
            raise FormatError(f"tokenizer: {err}") from None

    def __repr__(self) -> str:
        return f"Tokenizer({self.kind!r}, lowercase={self.lowercase})"
