"""What several commands share: reading a data set, building the network, preprocessing inputs."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.preprocessing import (
    apply_preprocessing,
    feature_standardizer,
    image_normalizer,
)
from chainrule.errors import ConfigError, DataNotFoundError, FormatError

#: More classes than this is not a classification a CSV can teach (labels that are IDs).
MAX_CLASSES = 10_000
#: Mean pixel of MNIST (0.1307) and Fashion-MNIST (0.2860) training images: a folder whose
#: mean is on the other side of this is the other data set.
_DIGITS_VS_FASHION = 0.2


@dataclass
class Dataset:
    """Train and test arrays (flattened to rows), with what is needed to treat new inputs alike.

    ``source`` records where the data came from (``{"kind": "bundled" | "idx" | "csv",
    "dataset" | "path": ...}``); ``content`` what images show ("handwritten", "objects",
    "generic"), None for tabular rows.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...] | None
    class_names: list[str]
    source: dict[str, Any] = field(default_factory=dict)
    content: str | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def run_name(self) -> str:
        """A folder-name-safe name of the data: digits, mnist, idx-FOLDER, csv-STEM."""
        kind = self.source.get("kind")
        if kind in ("idx", "csv"):
            stem = Path(self.source["path"]).stem if kind == "csv" else Path(self.source["path"])
            label = stem if isinstance(stem, str) else stem.name
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:40]
            return f"{kind}-{safe or 'data'}"
        return self.name


def _rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)


def dense_labels(y: np.ndarray, names: list[str], where: str) -> tuple[np.ndarray, list[str]]:
    """Labels renumbered 0..K-1 over the classes present (0 and 100000 make 2 classes, not
    100,001); ConfigError for one class or for more classes than a classifier can mean."""
    present = np.unique(y)
    if len(present) < 2:
        only = names[int(present[0])] if len(present) else "none"
        raise ConfigError(
            f"{where}: every row has the same label ({only!r}); a classifier needs at least "
            "two classes"
        )
    if len(present) > MAX_CLASSES or len(present) > len(y) // 2:
        raise ConfigError(
            f"{where}: {len(present):,} different labels in {len(y):,} rows; that many classes "
            "looks like an ID column, not a class label (put the label in the first column)"
        )
    return np.searchsorted(present, y).astype(np.int64), [names[int(k)] for k in present]


def label_order(label: str) -> tuple[int, float, str]:
    """Sort key of class labels: whole numbers by value first, then names alphabetically."""
    try:
        return (0, float(int(label)), "")
    except ValueError:
        return (1, 0.0, label)


def read_csv_rows(csv: str) -> tuple[np.ndarray, list[str]]:
    """The rows of a CSV and each row's label as text (as the file spells it)."""
    from chainrule import data

    x, y, names = data.load_csv(csv)
    return _rows(x), [names[int(k)] for k in y]


def _content_of_idx(images: np.ndarray) -> str:
    """Sparse ink with an empty frame looks like handwriting (the MNIST recipe fits)."""
    sample = images[:2000]
    if sample.ndim != 3 or sample.size == 0:
        return "generic"
    frame = np.concatenate(
        [sample[:, :3].ravel(), sample[:, -3:].ravel(), sample[:, :, :3].ravel(),
         sample[:, :, -3:].ravel()]
    )  # fmt: skip
    mean = float(sample.mean(dtype=np.float64))
    return "handwritten" if mean < 0.2 and float(frame.mean()) < 0.01 else "generic"


def _read_idx_folder(folder: Path, dataset: str) -> tuple[Any, Any]:
    from chainrule import data

    (x_train, y_train), (x_test, y_test) = data.load_idx_folder(folder, dataset)
    for split, x in (("training", x_train), ("test", x_test)):
        if len(x) == 0:
            raise FormatError(
                f"{folder}: the {split} image file holds no images; expected MNIST-style files "
                "with at least one image each"
            )
    return (x_train, y_train), (x_test, y_test)


def _named_dataset_in(dataset: str, data_dir: str) -> tuple[Any, Any]:
    """``dataset`` read from ``data_dir`` only (no fallback to other copies), checked to be it."""
    from chainrule.data.datasets import MNIST_FILES, _locate

    folder = Path(data_dir)
    if not folder.is_dir():
        raise ConfigError(f"--data-dir {folder}: no such folder (given with --dataset {dataset})")
    holder = next(
        (f for f in (folder, folder / dataset) if all(_locate(f, s) for s in MNIST_FILES)), None
    )
    if holder is None:
        raise DataNotFoundError(
            f"--dataset {dataset} --data-dir {folder}: the {dataset} IDX files are not in "
            f"{folder} or {folder / dataset} (expected {', '.join(MNIST_FILES)}, each "
            "possibly .gz); drop --data-dir to use the copy chainrule finds itself"
        )
    (x_train, y_train), (x_test, y_test) = _read_idx_folder(holder, dataset)
    mean = float(x_train[:10000].mean(dtype=np.float64))
    looks = "mnist" if mean < _DIGITS_VS_FASHION else "fashion-mnist"
    if looks != dataset:
        shows = "handwritten digits" if looks == "mnist" else "clothing"
        raise ConfigError(
            f"--dataset {dataset} --data-dir {holder}: the images there look like {shows} "
            f"(mean pixel {mean:.3f}; MNIST's is 0.131, Fashion-MNIST's 0.286); point "
            f"--data-dir at the {dataset} files, or drop --dataset to train on these as they are"
        )
    return (x_train, y_train), (x_test, y_test)


def load_dataset(
    dataset: str | None, data_dir: str | None, csv: str | None, seed: int = 0
) -> Dataset:
    """The data a command works on: bundled digits, MNIST, Fashion-MNIST, an IDX folder or a CSV.

    The sources never mix: ``csv`` with ``data_dir`` or ``dataset``, or the bundled digits with
    ``data_dir``, is a ConfigError; ``dataset`` with ``data_dir`` reads that folder only.
    """
    from chainrule import data

    if csv is not None:
        if data_dir is not None or dataset is not None:
            other = "--data-dir" if data_dir is not None else f"--dataset {dataset}"
            raise ConfigError(f"give --csv or {other}, not both: they are two different data sets")
        x, labels = read_csv_rows(csv)
        names = sorted(set(labels), key=label_order)
        index = {name: k for k, name in enumerate(names)}
        y, names = dense_labels(np.array([index[s] for s in labels]), names, csv)
        (x_train, y_train), (x_test, y_test) = data.train_val_split(
            x, y, val_fraction=0.2, stratify=y, seed=seed
        )
        recorded = {"kind": "csv", "path": str(Path(csv).resolve())}
        return Dataset(
            Path(csv).name, x_train, y_train, x_test, y_test, None, names, recorded, None
        )
    if data_dir is not None and dataset in (None, "digits"):
        if dataset == "digits":
            raise ConfigError(
                "--dataset digits is the bundled data set and reads no folder; give "
                "--data-dir alone to train on the IDX files in it"
            )
        folder = Path(data_dir)
        if not folder.is_dir():
            raise ConfigError(f"--data-dir {folder}: no such folder")
        (x_train, y_train), (x_test, y_test) = _read_idx_folder(folder, "IDX")
        n = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
        return Dataset(
            folder.resolve().name or "idx",
            _rows(x_train),
            y_train,
            _rows(x_test),
            y_test,
            tuple(x_train.shape[1:]),
            [str(i) for i in range(n)],
            {"kind": "idx", "path": str(folder.resolve())},
            _content_of_idx(x_train),
        )
    if dataset in (None, "digits"):
        (x_train, y_train), (x_test, y_test) = data.load_digits(seed=0)
        names, content = [str(i) for i in range(10)], "handwritten"
    elif dataset in ("mnist", "fashion-mnist"):
        if data_dir is not None:
            (x_train, y_train), (x_test, y_test) = _named_dataset_in(dataset, data_dir)
        elif dataset == "mnist":
            (x_train, y_train), (x_test, y_test) = data.load_mnist()
        else:
            (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
        mnist = dataset == "mnist"
        names = list(data.MNIST_CLASSES if mnist else data.FASHION_MNIST_CLASSES)
        content = "handwritten" if mnist else "objects"
    else:
        raise ConfigError(f"unknown dataset {dataset!r}; expected digits, mnist or fashion-mnist")
    source: dict[str, Any] = {"kind": "bundled", "dataset": dataset or "digits"}
    if data_dir is not None:
        source["path"] = str(Path(data_dir).resolve())
    return Dataset(
        dataset or "digits",
        _rows(x_train),
        y_train,
        _rows(x_test),
        y_test,
        tuple(x_train.shape[1:]),
        names,
        source,
        content,
    )


def build_model(config: Any, data: Dataset) -> Any:
    """The network a run's settings describe (``chainrule.nn.mlp``, or the CNN of
    ``chainrule.cli.cnn`` for ``--arch cnn``) for its data."""
    from chainrule import nn

    if getattr(config, "arch", None) == "cnn":
        from chainrule.cli.cnn import build_cnn

        return build_cnn(config, data)

    return nn.mlp(
        data.n_features,
        config.hidden,
        data.n_classes,
        config.activation,
        config.dropout,
        config.batch_norm,
        rng=config.seed,
    )


def preprocessing_for(data: Dataset, x_train: np.ndarray, config: Any = None) -> dict[str, Any]:
    """What ``train`` stores: image normalisation for images (with the ``input_shape`` a CNN
    takes them in), per-feature for tabular rows."""
    if data.image_shape is not None:
        pre = image_normalizer(x_train, data.image_shape, data.content)
        if getattr(config, "arch", None) == "cnn":
            from chainrule.cli.cnn import cnn_preprocessing

            pre = cnn_preprocessing(pre)
        return pre
    return feature_standardizer(x_train)


def preprocess(x: np.ndarray, preprocessing: dict[str, Any] | None) -> np.ndarray:
    """Apply the saved preprocessing to raw rows (validated against the model's input size).
    Audio features are normalised when they are extracted: they pass as they are."""
    if (preprocessing or {}).get("kind") == "audio":
        return np.asarray(x, dtype=np.float32)
    rows = apply_preprocessing(x, preprocessing)
    if (preprocessing or {}).get("input_shape"):  # a CNN: images keep their shape
        from chainrule.cli.cnn import as_input_shape

        return as_input_shape(rows, preprocessing)
    return rows


def input_features(loaded: Any) -> int:
    """The number of input features a loaded model takes (from its first weight matrix)."""
    pre = loaded.preprocessing or {}
    if isinstance(pre.get("mean"), list):
        return len(pre["mean"])
    if pre.get("image_shape"):
        return int(np.prod(pre["image_shape"]))
    for _, p in loaded.model.named_parameters():
        if p.ndim == 2:
            return int(p.shape[1])
    raise FormatError("cannot tell how many input features this model takes")


def raw_input_note(command: str, loaded: Any) -> None:
    """Say once that a model without preprocessing metadata gets its inputs as they are."""
    if "mean" not in (loaded.preprocessing or {}):
        print(
            f"chainrule {command}: note: {loaded.path} stores no preprocessing (saved with "
            "chainrule.save without preprocessing=...); the inputs are used as given (raw)",
            file=sys.stderr,
        )


def check_memory(config: Any, data: Dataset) -> None:
    """Estimate what training the network needs and refuse (ConfigError) before allocating
    more than this machine's memory."""
    import os

    sizes = [data.n_features, *config.hidden, data.n_classes]
    params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    states = {"sgd": 1 if config.momentum else 0, "adam": 2, "adamw": 2, "adagrad": 1}
    state = states.get(config.optimizer, 1 + (1 if config.momentum else 0))
    # weights, gradients, optimizer state, the evaluation's copy; activations of the largest
    # batch (2048 rows at evaluation) a few times over (forward values and their gradients)
    needed = 4 * (params * (3 + state) + 4 * 2048 * sum(sizes))
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if needed > 0.8 * memory:
        layers = " ".join(map(str, config.hidden))
        raise ConfigError(
            f"--hidden {layers}: {params:,} parameters; training needs about "
            f"{needed / 2**30:,.1f} GiB (weights, gradients, optimizer state, activations), "
            f"more than this machine's {memory / 2**30:,.1f} GiB; use smaller layers"
        )


def check_seed(seed: int) -> None:
    """ConfigError for a negative ``--seed`` (NumPy seeds are non-negative integers)."""
    if seed < 0:
        raise ConfigError(f"--seed: expected a non-negative integer, got {seed}")
