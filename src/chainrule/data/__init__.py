"""Data: IDX files, ready-made data sets (MNIST, Fashion-MNIST, bundled digits, CSV), loaders,
text (``chainrule.data.text``: tokenizers, Vocabulary, text and tagged-token loaders) and
audio (``chainrule.data.audio``: WAV files, log-mel features, class folders of recordings).

Everything here works on NumPy arrays and needs nothing from the engine.
"""

from __future__ import annotations

from chainrule.data import audio, text
from chainrule.data.csv import load_csv
from chainrule.data.datasets import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    SYSTEM_DATA_DIRS,
    find_dataset,
    load_digits,
    load_fashion_mnist,
    load_idx_folder,
    load_mnist,
    search_paths,
)
from chainrule.data.download import CHECKSUMS, MIRRORS, cache_dir, download_dataset, download_file
from chainrule.data.idx import read_idx, write_idx
from chainrule.data.loader import ArrayDataset, DataLoader
from chainrule.data.text import (
    Tokenizer,
    Vocabulary,
    load_tagged,
    load_text_csv,
    load_text_folder,
)
from chainrule.data.transforms import one_hot, standardize, train_val_split

__all__ = [
    "read_idx", "write_idx",
    "load_mnist", "load_fashion_mnist", "load_digits", "load_csv", "load_idx_folder",
    "search_paths", "find_dataset", "cache_dir", "SYSTEM_DATA_DIRS",
    "MNIST_CLASSES", "FASHION_MNIST_CLASSES",
    "MIRRORS", "CHECKSUMS", "download_file", "download_dataset",
    "ArrayDataset", "DataLoader",
    "train_val_split", "standardize", "one_hot",
    "audio", "text", "Tokenizer", "Vocabulary", "load_text_folder", "load_text_csv", "load_tagged",
]  # fmt: skip
