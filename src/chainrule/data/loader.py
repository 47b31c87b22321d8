"""ArrayDataset and DataLoader: row-aligned arrays served in (shuffled) mini-batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.data.transforms import _same_length
from chainrule.errors import ConfigError
from chainrule.rng import as_generator

__all__ = ["ArrayDataset", "DataLoader"]


class ArrayDataset:
    """Arrays that share their first dimension; item ``i`` is the tuple of their ``i``-th rows.

    Parameters
    ----------
    *arrays : array_like
        For example images of shape (N, 28, 28) and labels of shape (N,).

    Raises
    ------
    ShapeError
        If the first dimensions differ (the message lists them).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.data import ArrayDataset
    >>> ds = ArrayDataset(np.zeros((3, 2)), np.array([0, 1, 2]))
    >>> len(ds), ds[1][1]
    (3, np.int64(1))
    """

    def __init__(self, *arrays: Any) -> None:
        self.arrays: tuple[np.ndarray, ...] = tuple(_same_length(arrays, "ArrayDataset"))

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        parts = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"ArrayDataset({parts})"


class DataLoader:
    """Iterate over row-aligned arrays in mini-batches, optionally shuffled.

    Each pass (``for batch in loader``) is one epoch and yields tuples with one array per
    input array. With ``shuffle=True`` every epoch draws a new permutation from the loader's
    own ``numpy.random.Generator``, so a given seed gives the same sequence of epochs every
    run, and no global random state is touched.

    Batches are gathered with ``np.take(..., out=buffer)`` into buffers allocated once per
    epoch and reused: **a yielded batch is only valid until the next one is requested**
    (the arrays are overwritten in place). Copy what you keep (``batch[0].copy()``), or pass
    ``copy=True`` to get fresh arrays each time.

    Parameters
    ----------
    dataset_or_arrays : ArrayDataset, ndarray, or tuple/list of arrays
        The data; arrays are row-aligned along their first axis.
    batch_size : int
        Rows per batch, >= 1. The last batch is smaller unless ``drop_last``.
    shuffle : bool
        Visit rows in a new random order each epoch.
    drop_last : bool
        Skip the final incomplete batch.
    seed : int, Generator or None
        Randomness of the shuffling (None: fresh entropy from the OS).
    copy : bool
        Yield newly allocated arrays instead of reused buffers.
    merge_single : bool
        When the last batch would hold a single row (and there is a batch before it), fold
        that row into the batch before, which then has ``batch_size + 1`` rows: batch
        normalisation cannot normalise one sample, and one sample makes a noisy step.
        ``Trainer.fit`` trains with it on (``merges_last`` says whether it applies).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.data import DataLoader
    >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> loader = DataLoader((x, y), batch_size=2, shuffle=True, seed=0)
    >>> len(loader), [yb.shape[0] for xb, yb in loader]
    (3, [2, 2, 1])
    >>> [yb.shape[0] for xb, yb in DataLoader((x, y), batch_size=2, merge_single=True)]
    [2, 3]
    """

    def __init__(
        self,
        dataset_or_arrays: Any,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | np.random.Generator | None = None,
        copy: bool = False,
        merge_single: bool = False,
    ) -> None:
        if isinstance(dataset_or_arrays, ArrayDataset):
            self.dataset = dataset_or_arrays
        elif isinstance(dataset_or_arrays, np.ndarray) or hasattr(dataset_or_arrays, "__array__"):
            self.dataset = ArrayDataset(np.asarray(dataset_or_arrays))  # a Tensor's data, shared
        elif isinstance(dataset_or_arrays, (tuple, list)):
            self.dataset = ArrayDataset(*dataset_or_arrays)
        else:
            raise ConfigError(
                "DataLoader: expected an ArrayDataset, a NumPy array or a tuple of arrays (or "
                "tensors), got "
                f"{type(dataset_or_arrays).__name__}. Hint: DataLoader((x, y), batch_size=32)"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ConfigError(f"DataLoader: batch_size must be an int >= 1, got {batch_size!r}")
        if batch_size < 1:
            raise ConfigError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.copy = bool(copy)
        self.merge_single = bool(merge_single)
        self._rng = as_generator(seed, "DataLoader", "seed")

    @property
    def merges_last(self) -> bool:
        """Whether a last batch of one row is folded into the batch before it."""
        n, b = len(self.dataset), self.batch_size
        return self.merge_single and not self.drop_last and n > b and n % b == 1

    def __len__(self) -> int:
        n, b = len(self.dataset), self.batch_size
        if self.drop_last:
            return n // b
        return -(-n // b) - (1 if self.merges_last else 0)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        arrays = self.dataset.arrays
        n, b = len(self.dataset), self.batch_size
        stop_at = (n // b) * b if self.drop_last else n
        # Draw the permutation now, not on the first next(), so epochs follow iter() calls.
        order = self._rng.permutation(n) if self.shuffle else None
        return self._batches(arrays, order, stop_at, self.merges_last)

    def _batches(
        self,
        arrays: tuple[np.ndarray, ...],
        order: np.ndarray | None,
        stop_at: int,
        merge: bool,
    ) -> Iterator[tuple[np.ndarray, ...]]:
        """Generate the batches of one epoch (``merge``: the last row joins the last batch)."""
        b = self.batch_size
        buffers = None
        if not self.copy:
            size = min(b + merge, stop_at)
            buffers = [np.empty((size, *a.shape[1:]), dtype=a.dtype) for a in arrays]
        for start in range(0, stop_at - merge, b):
            end = min(start + b, stop_at)
            if merge and end == stop_at - 1:
                end = stop_at
            if buffers is None:
                if order is None:
                    yield tuple(a[start:end].copy() for a in arrays)
                else:
                    yield tuple(np.take(a, order[start:end], axis=0) for a in arrays)
                continue
            views = [buf[: end - start] for buf in buffers]
            for a, view in zip(arrays, views):
                if order is None:
                    np.copyto(view, a[start:end])
                else:
                    # mode="clip" skips the index check that would force a temporary buffer.
                    np.take(a, order[start:end], axis=0, out=view, mode="clip")
            yield tuple(views)

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, copy={self.copy})"
        )
