"""Vocabulary: tokens <-> integer ids, with <pad> and <unk>, storable as JSON in a model file."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, FormatError

__all__ = ["Vocabulary", "PAD", "UNK", "MAX_VOCABULARY"]

PAD, UNK = "<pad>", "<unk>"
#: The largest vocabulary read from a file (a hostile file must not exhaust memory).
MAX_VOCABULARY = 5_000_000
_MAX_TOKEN_CHARS = 1000


class Vocabulary:
    """An ordered list of tokens; a token's id is its position.

    With the default specials, ``<pad>`` is id 0 and ``<unk>`` id 1; unknown tokens encode as
    ``<unk>``. Without ``<unk>`` (a vocabulary of labels or tags), an unknown token is an error.

    Parameters
    ----------
    tokens : sequence of str
        The tokens in id order (specials included, first).
    specials : sequence of str
        Which of them are special (``<pad>``, ``<unk>``), kept by ``build`` whatever the counts.

    Examples
    --------
    >>> vocab = Vocabulary.build([["a", "b", "a"], ["a", "c"]], min_freq=2)
    >>> vocab.tokens
    ['<pad>', '<unk>', 'a']
    >>> vocab.encode(["a", "zebra"]).tolist()
    [2, 1]
    >>> Vocabulary.from_json(vocab.to_json()) == vocab
    True
    """

    def __init__(self, tokens: Sequence[str], specials: Sequence[str] = (PAD, UNK)) -> None:
        tokens = list(tokens)
        if not all(isinstance(t, str) for t in tokens):
            raise ConfigError("Vocabulary: every token must be a str")
        if len(set(tokens)) != len(tokens):
            dup = next(t for t, n in Counter(tokens).items() if n > 1)
            raise ConfigError(f"Vocabulary: token {dup!r} appears twice")
        missing = [s for s in specials if s not in tokens]
        if missing:
            raise ConfigError(f"Vocabulary: specials {missing} are not among the tokens")
        self.tokens = tokens
        self.specials = list(specials)
        self._index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(
        cls,
        corpus: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (PAD, UNK),
    ) -> Vocabulary:
        """Count the tokens of ``corpus`` (lists of tokens) and keep the frequent ones.

        Tokens seen fewer than ``min_freq`` times are dropped; ``max_size`` (specials included)
        keeps the most frequent. Ties are broken alphabetically, so the result is reproducible.
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ConfigError(f"Vocabulary: min_freq must be a positive integer, got {min_freq!r}")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < len(specials)
        ):
            raise ConfigError(
                f"Vocabulary: max_size must be an integer of at least {len(specials)} (the "
                f"specials), got {max_size!r}"
            )
        counts: Counter[str] = Counter()
        for tokens in corpus:
            counts.update(tokens)
        for s in specials:
            counts.pop(s, None)
        kept = sorted(
            (t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            kept = kept[: max_size - len(specials)]
        return cls([*specials, *kept], specials)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.tokens == other.tokens
            and self.specials == other.specials
        )

    def __hash__(self) -> int:
        return hash(tuple(self.tokens))

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, specials={self.specials})"

    @property
    def pad_index(self) -> int | None:
        """Id of ``<pad>`` (None without it)."""
        return self._index.get(PAD) if PAD in self.specials else None

    @property
    def unk_index(self) -> int | None:
        """Id of ``<unk>`` (None without it)."""
        return self._index.get(UNK) if UNK in self.specials else None

    def index(self, token: str) -> int:
        """The id of ``token`` (``<unk>``'s for an unknown token, if there is one)."""
        i = self._index.get(token)
        if i is not None:
            return i
        unk = self.unk_index
        if unk is None:
            known = self.tokens[:10]
            raise ConfigError(
                f"Vocabulary: unknown token {token!r:.100} and no <unk> to map it to; known "
                f"tokens include {known}"
            )
        return unk

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids (int64) of ``tokens``."""
        get, unk = self._index.get, self.unk_index
        if unk is None:
            return np.array([self.index(t) for t in tokens], dtype=np.int64)
        return np.array([get(t, unk) for t in tokens], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``."""
        out = []
        for i in ids:
            if not 0 <= int(i) < len(self.tokens):
                raise ConfigError(f"Vocabulary: id {i} outside [0, {len(self.tokens) - 1}]")
            out.append(self.tokens[int(i)])
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored inside a model file)."""
        return {"tokens": list(self.tokens), "specials": list(self.specials)}

    def to_json(self) -> str:
        """``to_dict`` as a JSON string."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> Vocabulary:
        """Rebuild from ``to_dict()``, refusing anything malformed or oversized (FormatError)."""
        if not isinstance(data, dict) or set(data) != {"tokens", "specials"}:
            raise FormatError("vocabulary: expected an object with 'tokens' and 'specials'")
        tokens, specials = data["tokens"], data["specials"]
        if not isinstance(tokens, list) or not isinstance(specials, list):
            raise FormatError("vocabulary: 'tokens' and 'specials' must be lists")
        if len(tokens) > MAX_VOCABULARY:
            raise FormatError(
                f"vocabulary: {len(tokens)} tokens exceed the limit of {MAX_VOCABULARY}"
            )
        bad = [
            t for t in [*tokens, *specials] if not isinstance(t, str) or len(t) > _MAX_TOKEN_CHARS
        ]
        if bad:
            raise FormatError(
                f"vocabulary: tokens must be strings of at most {_MAX_TOKEN_CHARS} characters, "
                f"got {bad[0]!r:.60}"
            )
        try:
            return cls(tokens, specials)
        except ConfigError as err:
            raise FormatError(f"vocabulary: {err}") from None

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        """Rebuild from ``to_json()``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise FormatError(f"vocabulary: not valid JSON ({err})") from None
        return cls.from_dict(data)
