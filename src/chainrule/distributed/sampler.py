"""DistributedSampler: each rank's share of every global batch of a shuffled epoch.

Every rank draws the same permutation from the shared seed; global batch ``k`` is the slice
``order[k*B:(k+1)*B]`` a single process would train on, and rank ``r`` takes every
``world_size``-th row of it from row ``r`` on. The ranks' shares are disjoint, cover the
batch, differ in size by one row at most, and every rank runs the same number of steps, so the
averaged gradient is the single-process gradient of the same batch (PyTorch's
``DistributedSampler`` gives the same split when ``B`` is a multiple of the world size).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from chainrule.data.transforms import as_generator
from chainrule.errors import ConfigError

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """Iterate over this rank's rows of every global mini-batch of ``arrays``.

    Parameters
    ----------
    arrays : tuple of ndarray
        Row-aligned data (the same on every rank).
    batch_size : int
        The **global** batch: rows per step summed over the ranks, at least ``world_size``.
    rank, world_size : int
        This process and the number of processes.
    shuffle : bool
        A new permutation per epoch, drawn from ``seed`` (the same on every rank).
    seed : int or Generator
        Must be in the same state on every rank (``DataParallel.agree_seed`` sees to it).

    Notes
    -----
    A last global batch too small to give every rank two rows (batch normalisation needs two)
    joins the batch before it: with one rank this is ``DataLoader(merge_single=True)``, the
    rule ``Trainer.fit`` trains with. ``batch_rows`` is the size of the global batch the last
    yielded share belongs to (what the gradient average is weighted by).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.distributed import DistributedSampler
    >>> x = np.arange(10).reshape(10, 1)
    >>> shares = [DistributedSampler((x,), 4, rank=r, world_size=2, shuffle=False) for r in (0, 1)]
    >>> [[b[0].ravel().tolist() for b in s] for s in shares]
    [[[0, 2], [4, 6, 8]], [[1, 3], [5, 7, 9]]]
    """

    def __init__(
        self,
        arrays: tuple[np.ndarray, ...],
        batch_size: int,
        rank: int,
        world_size: int,
        shuffle: bool = True,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ConfigError(f"DistributedSampler: rank {rank} outside 0..{world_size - 1}")
        if batch_size < world_size:
            raise ConfigError(
                f"DistributedSampler: the global batch size ({batch_size}) must be at least the "
                f"number of ranks ({world_size}), so every rank gets rows; hint: --batch-size "
                f"{world_size * 32}"
            )
        self.arrays = tuple(arrays)
        self.n = int(self.arrays[0].shape[0])
        self.batch_size = int(batch_size)
        self.rank, self.world_size = int(rank), int(world_size)
        self.shuffle = bool(shuffle)
        self._rng = as_generator(seed, "DistributedSampler")
        self.batch_rows = 0
        if self.n < 2 * world_size:
            raise ConfigError(
                f"DistributedSampler: {self.n} samples cannot give {world_size} ranks two rows "
                "each; use fewer ranks or more data"
            )

    @property
    def merges_last(self) -> bool:
        """Whether the last global batch is too small to share and joins the one before."""
        n, b = self.n, self.batch_size
        return n > b and 0 < n % b < 2 * self.world_size

    def bounds(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of every global batch in the epoch's order."""
        n, b = self.n, self.batch_size
        edges = list(range(0, n, b)) + [n]
        if self.merges_last:
            edges.pop(-2)
        return list(zip(edges[:-1], edges[1:]))

    def __len__(self) -> int:
        return len(self.bounds())

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        # Drawn now, as DataLoader does, so the generator advances once per epoch on every rank.
        order = self._rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        return self._shares(order)

    def _shares(self, order: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
        for start, stop in self.bounds():
            rows = order[start + self.rank : stop : self.world_size]
            self.batch_rows = stop - start
            yield tuple(np.take(a, rows, axis=0) for a in self.arrays)

    def __repr__(self) -> str:
        return (
            f"DistributedSampler(n={self.n}, batch_size={self.batch_size}, rank={self.rank}, "
            f"world_size={self.world_size}, shuffle={self.shuffle})"
        )
