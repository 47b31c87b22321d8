"""Text for the command line: reading it, the held-out split, encoding, the recurrent models.

A text run's data is a folder with one subfolder per class (``--text-dir``), a CSV/TSV with a
text and a label column (``--text-csv``), or a tagged file (``--tagged``, one ``word/TAG`` per
token) for a tagger. What turns a string into token ids (the tokenizer, the ``Vocabulary``,
the length cut; for a tagger the unknown-word signatures) is a :class:`TextEncoder`, stored
as the model file's ``preprocessing``, so ``evaluate`` and ``predict`` encode exactly as
training did.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, FormatError

__all__ = [
    "TextData", "TextEncoder", "load_text_data", "text_split", "build_text_model",
    "is_text_model", "evaluate_text_model", "layer_shapes", "word_signature",
]  # fmt: skip

#: Held-out share of the data (texts: stratified by class; tagged files: of the sentences).
TEST_FRACTION = {"text_dir": 0.2, "text_csv": 0.2, "tagged": 0.1}
#: Words seen fewer times than this in training are not in the vocabulary (``<unk>``, or for
#: a tagger the word's signature, learns from them); at most this many tokens are kept.
MIN_FREQ = 2
MAX_TOKENS = 30_000
#: Tokens a text keeps when --max-length is not given.
DEFAULT_MAX_LENGTH = {"word": 200, "char": 1000}
_SUFFIXES = ("ing", "ed", "ly", "ies", "s", "ion", "er", "est", "al", "ive", "able", "ous",
             "ful", "ness", "ment", "y", "ic")  # fmt: skip
_FLAGS = {"text_dir": "--text-dir", "text_csv": "--text-csv", "tagged": "--tagged"}


def word_signature(word: str) -> str:
    """The class of an unknown word a tagger falls back to: shape and suffix.

    Examples
    --------
    >>> word_signature("Zanzibar"), word_signature("glorping"), word_signature("1,984")
    ('<unk-cap>', '<unk-ing>', '<unk-num>')
    """
    if any(c.isdigit() for c in word):
        return "<unk-num>"
    if "-" in word:
        return "<unk-hyphen>"
    if not any(c.isalpha() for c in word):
        return "<unk-symbol>"
    lower = word.lower()
    suffix = next((s for s in _SUFFIXES if lower.endswith(s) and len(lower) > len(s) + 2), "")
    shape = "cap" if word[0].isupper() else ""
    return "<unk-" + "-".join(p for p in (shape, suffix) if p) + ">" if shape or suffix else "<unk>"


@dataclass
class TextEncoder:
    """Strings (or a tagger's word lists) -> padded token ids; stored in the model file."""

    kind: str  # "text" (a classifier) or "tagged" (a tagger)
    vocabulary: Any
    tokenizer: Any = None
    max_length: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: the model file's ``preprocessing``."""
        out: dict[str, Any] = {"kind": self.kind, "vocabulary": self.vocabulary.to_dict()}
        if self.kind == "text":
            out["tokenizer"] = self.tokenizer.to_dict()
            out["max_length"] = self.max_length
        else:
            out["unknown_words"] = "signatures"
        return out

    @classmethod
    def from_dict(cls, pre: Any) -> TextEncoder:
        from chainrule.data.text import Tokenizer, Vocabulary

        if not isinstance(pre, dict) or pre.get("kind") not in ("text", "tagged"):
            raise FormatError("the model file's preprocessing is not that of a text model")
        vocab = Vocabulary.from_dict(pre.get("vocabulary"))
        if pre["kind"] == "tagged":
            return cls("tagged", vocab)
        length = pre.get("max_length")
        if length is not None and (not isinstance(length, int) or length < 1):
            raise FormatError(f"the model file's max_length must be a positive integer: {length!r}")
        return cls("text", vocab, Tokenizer.from_dict(pre.get("tokenizer")), length)

    def tokens(self, text: str) -> list[str]:
        """The tokens of one string (a tagger splits words, keeping their case)."""
        from chainrule.data.text import tokenize_words

        if self.kind == "tagged":
            return tokenize_words(text, lowercase=False)
        tokens = list(self.tokenizer(text))
        return tokens[: self.max_length] if self.max_length else tokens

    def word_ids(self, words: list[str]) -> np.ndarray:
        """A tagger's ids: the word, else its signature, else ``<unk>``."""
        vocab = self.vocabulary
        unk = vocab.unk_index
        return np.array(
            [
                vocab.index(w) if w in vocab else vocab._index.get(word_signature(w), unk)
                for w in words
            ],
            dtype=np.int64,
        )

    def encode(self, items: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Padded ids ``(N, T)`` and lengths of texts (str, or lists of their tokens)."""
        from chainrule.data.text import pad_sequences

        lists = [item if isinstance(item, list) else self.tokens(item) for item in items]
        if self.kind == "tagged":
            ids = [self.word_ids(tokens) for tokens in lists]
        else:
            ids = [self.vocabulary.encode(tokens[: self.max_length]) for tokens in lists]
        return pad_sequences(ids, pad_value=self.vocabulary.pad_index or 0)

    def describe(self) -> str:
        """One line for ``inspect``."""
        n = len(self.vocabulary)
        if self.kind == "tagged":
            return (
                f"words as written (case kept), vocabulary of {n:,} tokens; unknown words map "
                "to their shape/suffix signature (<unk-cap>, <unk-ing>, ...)"
            )
        return (
            f"{self.tokenizer.kind} tokens (lowercase {self.tokenizer.lowercase}), the first "
            f"{self.max_length} of each text, vocabulary of {n:,} tokens (<pad>, <unk> ...)"
        )


@dataclass
class TextData:
    """A text data set as read: items (texts, or a tagger's word lists), their labels."""

    name: str
    source: dict[str, Any]
    items: list[Any]
    labels: Any  # class ids (N,) for texts; tag lists for a tagger
    class_names: list[str]
    where: list[str] = field(default_factory=list)  # what each item is called in messages

    @property
    def tagged(self) -> bool:
        return self.source.get("kind") == "tagged"

    @property
    def run_name(self) -> str:
        stem = Path(self.source["path"]).stem or "text"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:40]
        return f"{self.source['kind'].replace('_', '-')}-{safe}"


def _folder_files(root: Path, classes: list[str]) -> list[str]:
    """The files ``load_text_folder`` reads, in its order (for messages naming a file)."""
    names: list[str] = []
    for name in classes:
        files = sorted(
            f for f in (root / name).rglob("*")
            if f.is_file() and f.suffix.lower() == ".txt" and not f.name.startswith(".")
        )  # fmt: skip
        names.extend(str(f) for f in files)
    return names


def load_text_data(
    kind: str, path: str, text_column: str | None = None, label_column: str | None = None
) -> TextData:
    """Read ``--text-dir``, ``--text-csv`` or ``--tagged`` data (FormatError/ConfigError for
    a folder without two classes, a missing column, an empty text...)."""
    from chainrule.data.text import load_tagged, load_text_csv, load_text_folder

    source: dict[str, Any] = {"kind": kind, "path": str(Path(path).resolve())}
    if kind == "tagged":
        words, tags = load_tagged(path)
        names = sorted({t for s in tags for t in s})
        return TextData(Path(path).name, source, words, tags, names)
    if kind == "text_dir":
        texts, labels, names = load_text_folder(path)
        where = _folder_files(Path(path), names)
    else:
        columns = (text_column or "text", label_column or "label")
        source.update(text_column=columns[0], label_column=columns[1])
        texts, labels, names = load_text_csv(path, *columns)
        where = [f"{path}, data row {i + 1}" for i in range(len(texts))]
    present = np.unique(labels)  # whole-number labels 1..5 are 5 classes, not 6
    labels, names = np.searchsorted(present, labels), [names[int(k)] for k in present]
    if len(present) < 2:
        only = names[0] if names else "none"
        raise ConfigError(
            f"{_FLAGS[kind]} {path}: every text has the same label ({only!r}); a classifier "
            "needs at least two classes"
        )
    return TextData(Path(path).name, source, texts, labels, names, where)


def check_not_empty(data: TextData, encoder: TextEncoder, ids_lengths: np.ndarray) -> None:
    """ConfigError naming the first text without a single token."""
    empty = np.flatnonzero(ids_lengths == 0)
    if empty.size:
        first = int(empty[0])
        where = data.where[first] if first < len(data.where) else f"item {first + 1}"
        raise ConfigError(
            f"{where}: the text is empty (no {getattr(encoder.tokenizer, 'kind', 'word')} "
            f"tokens; {empty.size} such text(s) in all); remove or fill them"
        )


def text_split(data: TextData, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: the held-out part is TEST_FRACTION of the items, with a fixed seed
    (stratified by class for texts), so ``evaluate`` can rebuild the same split."""
    from chainrule.data import train_val_split

    fraction = TEST_FRACTION[data.source["kind"]]
    index = np.arange(len(data.items))
    if len(index) < 2:
        raise ConfigError(f"{data.name}: {len(index)} item(s); need at least 2 to hold some out")
    if data.tagged:
        order = np.random.default_rng(seed).permutation(len(index))
        cut = len(index) - max(1, int(round(len(index) * fraction)))
        return np.sort(order[:cut]), np.sort(order[cut:])
    (train,), (test,) = train_val_split(
        index, val_fraction=fraction, stratify=data.labels, seed=seed
    )
    return train, test


def build_encoder(data: TextData, rows: np.ndarray, tokens: str | None,
                  max_length: int | None) -> TextEncoder:  # fmt: skip
    """The encoder learnt from the training rows (their vocabulary)."""
    from chainrule.data.text import Tokenizer, Vocabulary

    if data.tagged:
        counts = Counter(w for i in rows for w in data.items[i])
        mapped = (
            [w if counts[w] >= MIN_FREQ else word_signature(w) for w in data.items[i]] for i in rows
        )
        return TextEncoder("tagged", Vocabulary.build(mapped, max_size=MAX_TOKENS))
    tokenizer = Tokenizer(tokens or "word")
    length = max_length or DEFAULT_MAX_LENGTH[tokenizer.kind]
    vocab = Vocabulary.build(
        (tokenizer(data.items[i])[:length] for i in rows), min_freq=MIN_FREQ, max_size=MAX_TOKENS
    )
    return TextEncoder("text", vocab, tokenizer, length)


def encode_data(
    data: TextData, encoder: TextEncoder, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, targets) of ``rows`` (all items by default): targets are class ids, or for a
    tagger tag ids ``(N, T)`` with -100 on the padding (ignored by the loss)."""
    from chainrule.data.text import pad_sequences

    rows = np.arange(len(data.items)) if rows is None else rows
    items = [data.items[i] for i in rows]
    ids, lengths = encoder.encode(items)
    if data.tagged:
        tag_index = {t: k for k, t in enumerate(data.class_names)}
        tags, _ = pad_sequences(
            [[tag_index.get(t, -100) for t in data.labels[i]] for i in rows], pad_value=-100
        )
        return ids, tags
    check_not_empty(
        TextData(data.name, data.source, items, None, [], [data.where[i] for i in rows]),
        encoder,
        lengths,
    )
    return ids, np.asarray(data.labels)[rows]


def build_text_model(config: Any, vocab_size: int, n_classes: int, tagged: bool) -> Any:
    """The recurrent classifier (or tagger) a run's settings describe."""
    from chainrule import nn

    arch, hidden = config.arch or "lstm", config.hidden[0]
    if tagged:
        return nn.tagger(
            vocab_size, n_classes, config.embedding_dim, hidden, arch=arch, layers=config.layers,
            bidirectional=config.bidirectional, dropout=config.dropout, rng=config.seed,
        )  # fmt: skip
    return nn.text_classifier(
        vocab_size, config.embedding_dim, hidden, arch=arch, layers=config.layers,
        bidirectional=config.bidirectional, num_classes=n_classes, dropout=config.dropout,
        pooling=config.pooling, rng=config.seed,
    )  # fmt: skip


def is_text_model(loaded: Any) -> bool:
    """Whether a loaded model reads text (its preprocessing is a TextEncoder's)."""
    return (loaded.preprocessing or {}).get("kind") in ("text", "tagged")


def token_accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Share of real tokens (target != -100) whose best-scoring tag is right (a metric)."""
    real = y_true >= 0
    hits = (np.asarray(scores).argmax(axis=-1) == y_true) & real
    return float(hits.sum() / max(int(real.sum()), 1))


def predict_scores(model: Any, ids: np.ndarray, batch: int = 256) -> np.ndarray:
    """Softmax outputs of a text model, batch by batch (eval mode, no graph)."""
    from chainrule.autodiff.mode import no_grad

    model.eval()
    with no_grad():
        outs = [model(ids[i : i + batch]).softmax(axis=-1).data for i in range(0, len(ids), batch)]
    return np.concatenate(outs) if outs else np.zeros((0,))


def evaluate_text_model(
    model: Any, ids: np.ndarray, y: np.ndarray, n_classes: int
) -> dict[str, Any]:
    """``evaluate_model``'s scores for a classifier; for a tagger over its real tokens."""
    from chainrule import metrics
    from chainrule.cli.commands.outputs import check_scores, evaluate_model

    if y.ndim == 1:
        return evaluate_model(model, ids, y, n_classes)
    scores = predict_scores(model, ids)
    real = y >= 0
    flat_scores = scores[real]
    check_scores(flat_scores)
    predicted, truth = flat_scores.argmax(axis=1), y[real]
    scores_pr = metrics.precision_recall_f1(truth, predicted, num_classes=n_classes)
    return {
        "accuracy": float(metrics.accuracy(truth, predicted)),
        "confusion_matrix": metrics.confusion_matrix(
            truth, predicted, num_classes=n_classes
        ).tolist(),
        "precision": scores_pr.precision.tolist(),
        "recall": scores_pr.recall.tolist(),
        "f1": scores_pr.f1.tolist(),
        "support": scores_pr.support.tolist(),
        "predicted": predicted,
        "tokens": int(real.sum()),
    }


def layer_shapes(model: Any, steps: int = 7) -> list[tuple[str, str]]:
    """(layer, output shape) after each layer of a sequence model, for a batch of N ids of T
    steps (shapes written with N and T)."""
    from chainrule.autodiff.mode import no_grad
    from chainrule.nn.sequence_models import SequenceTagger

    n = 3
    ids = np.ones((n, steps), dtype=np.int64)

    def shape(a: Any, *names: str) -> str:
        """The shape with the batch and step axes named (``names[i]`` "" keeps the size)."""
        return "(" + ", ".join(nm or str(d) for nm, d in zip(names, a.shape)) + ")"

    rows = [("input: token ids", "(N, T)")]
    rnn = model.rnn
    with no_grad():
        embedded = model.embedding(ids)
        rows.append(("embedding Embedding", shape(embedded, "N", "T", "")))
        out, final = rnn(embedded, lengths=np.full(n, steps))
        rows.append((f"rnn {type(rnn).__name__} outputs", shape(out, "N", "T", "")))
        h_n = final[0] if isinstance(final, tuple) else final
        rows.append(("rnn final state h_n", shape(h_n, "", "N", "")))
        if isinstance(model, SequenceTagger):
            rows.append(("head Linear (tag scores per token)", shape(model(ids), "N", "T", "")))
        else:
            pooled = f"(N, {model.head.in_features})"
            rows.append((f"pooling ({model.pooling} over the steps)", pooled))
            rows.append(("head Linear (class scores)", shape(model(ids), "N", "")))
    return rows
