"""Text data: tokenizers, a Vocabulary, padding and batching by length, and loaders.

Everything here works on Python strings and NumPy arrays, without the network.
"""

from __future__ import annotations

from chainrule.data.text.batching import encode_texts, length_batches, pad_sequences
from chainrule.data.text.loaders import load_tagged, load_text_csv, load_text_folder
from chainrule.data.text.tokenizers import TOKENIZERS, Tokenizer, tokenize_chars, tokenize_words
from chainrule.data.text.vocabulary import PAD, UNK, Vocabulary

__all__ = [
    "Tokenizer", "tokenize_words", "tokenize_chars", "TOKENIZERS",
    "Vocabulary", "PAD", "UNK",
    "pad_sequences", "length_batches", "encode_texts",
    "load_text_folder", "load_text_csv", "load_tagged",
]  # fmt: skip
