"""What several commands share: reading a data set, building the network, preprocessing inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError


@dataclass
class Dataset:
    """Train and test arrays (flattened to rows), with what is needed to treat new inputs alike."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...] | None
    class_names: list[str]

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def _rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)


def load_dataset(
    dataset: str | None, data_dir: str | None, csv: str | None, seed: int = 0
) -> Dataset:
    """The data a command works on: bundled digits, MNIST, Fashion-MNIST, an IDX folder or a CSV."""
    from chainrule import data

    if csv is not None:
        if data_dir is not None:
            raise ConfigError("give --csv or --data-dir, not both")
        x, y, names = data.load_csv(csv)
        (x_train, y_train), (x_test, y_test) = data.train_val_split(
            x, y, val_fraction=0.2, stratify=y, seed=seed
        )
        return Dataset(
            Path(csv).name, _rows(x_train), y_train, _rows(x_test), y_test, None, list(names)
        )
    if data_dir is not None and dataset in (None, "digits"):
        (x_train, y_train), (x_test, y_test) = data.load_idx_folder(data_dir)
        n = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
        return Dataset(
            Path(data_dir).name or "idx",
            _rows(x_train),
            y_train,
            _rows(x_test),
            y_test,
            tuple(x_train.shape[1:]),
            [str(i) for i in range(n)],
        )
    if dataset in (None, "digits"):
        (x_train, y_train), (x_test, y_test) = data.load_digits(seed=0)
        names = [str(i) for i in range(10)]
    elif dataset == "mnist":
        (x_train, y_train), (x_test, y_test) = data.load_mnist(data_dir=data_dir)
        names = list(data.MNIST_CLASSES)
    elif dataset == "fashion-mnist":
        (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(data_dir=data_dir)
        names = list(data.FASHION_MNIST_CLASSES)
    else:
        raise ConfigError(f"unknown dataset {dataset!r}; expected digits, mnist or fashion-mnist")
    return Dataset(
        dataset or "digits",
        _rows(x_train),
        y_train,
        _rows(x_test),
        y_test,
        tuple(x_train.shape[1:]),
        names,
    )


def build_model(config: Any, data: Dataset) -> Any:
    """The network a run's settings describe (``chainrule.nn.mlp``) for its data."""
    from chainrule import nn

    return nn.mlp(
        data.n_features,
        config.hidden,
        data.n_classes,
        config.activation,
        config.dropout,
        config.batch_norm,
        rng=config.seed,
    )


def standardizer(x_train: np.ndarray) -> dict[str, Any]:
    """Per-feature mean and standard deviation of the training rows (constant features: std 1)."""
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std = np.where(std < 1e-3, 1.0, std)
    return {"mean": mean.astype(np.float32).tolist(), "std": std.astype(np.float32).tolist()}


def preprocess(x: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    """Apply the saved standardization to raw rows (validated against the model's input size)."""
    mean = np.asarray(preprocessing["mean"], dtype=np.float32)
    std = np.asarray(preprocessing["std"], dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != mean.shape[0]:
        shape = preprocessing.get("image_shape")
        raise ShapeError(
            f"the model expects inputs of {mean.shape[0]} features"
            + (f" (images of {'x'.join(map(str, shape))})" if shape else "")
            + f", got shape {x.shape}"
        )
    return (x - mean) / std
