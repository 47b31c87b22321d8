"""Array transforms for preparing data: stratified splits, standardization, one-hot labels."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DtypeError, FormatError, ShapeError
from chainrule.rng import as_generator

__all__ = ["train_val_split", "standardize", "one_hot"]


def _same_length(arrays: tuple[Any, ...], who: str) -> list[np.ndarray]:
    """Convert to arrays and check they share the first dimension (one row per sample)."""
    if not arrays:
        raise ConfigError(f"{who}: pass at least one array")
    out = [np.asarray(a) for a in arrays]
    for i, a in enumerate(out):
        if a.ndim == 0:
            raise ShapeError(
                f"{who}: array {i} is 0-d (a scalar); each array needs one row per sample"
            )
    lengths = [a.shape[0] for a in out]
    if len(set(lengths)) > 1:
        raise ShapeError(
            f"{who}: the arrays have different first dimensions {lengths}; every array needs "
            "one row per sample (e.g. x of shape (N, ...) with y of shape (N,))"
        )
    return out


def _stratified_counts(class_sizes: np.ndarray, n_val: int) -> np.ndarray:
    """Validation samples per class: proportional, rounded by largest remainder to sum to n_val."""
    ideal = class_sizes * (n_val / class_sizes.sum())
    counts = np.floor(ideal).astype(np.int64)
    short = n_val - int(counts.sum())
    # Ties broken by class order (stable sort), so the split depends only on the seed.
    order = np.argsort(-(ideal - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def train_val_split(
    *arrays: Any,
    val_fraction: float = 0.1,
    stratify: Any = None,
    seed: int | np.random.Generator | None = 0,
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Split arrays (row-aligned) into a shuffled training part and a validation part.

    The validation part has ``N * val_fraction`` rows, rounded half up (at least 1, at
    most N - 1).
    With ``stratify`` (a label array), each class contributes its proportional share,
    rounded by largest remainder, so class proportions stay (nearly) equal in both parts.

    Parameters
    ----------
    *arrays : array_like
        Arrays with the same first dimension N, e.g. ``x, y``.
    val_fraction : float
        Fraction in (0, 1) that goes to validation.
    stratify : array_like of shape (N,), optional
        Class labels to keep proportions of (any dtype ``np.unique`` sorts).
    seed : int, Generator or None
        Randomness of the split; an int gives the same split every time.

    Returns
    -------
    (train, val)
        Two tuples with one array per input, in the input order.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.data import train_val_split
    >>> x, y = np.arange(20).reshape(10, 2), np.array([0] * 5 + [1] * 5)
    >>> (x_tr, y_tr), (x_va, y_va) = train_val_split(x, y, val_fraction=0.2, stratify=y)
    >>> x_tr.shape, np.bincount(y_va).tolist()
    ((8, 2), [1, 1])
    """
    arrs = _same_length(arrays, "train_val_split")
    if isinstance(val_fraction, bool) or not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(
            f"train_val_split: val_fraction must be in (0, 1), got {val_fraction!r}; "
            "for example 0.1 keeps a tenth for validation"
        )
    rng = as_generator(seed, "train_val_split", "seed")
    n = arrs[0].shape[0]
    n_val = int(np.floor(n * float(val_fraction) + 0.5))  # half up, not Python's half-even
    if not 1 <= n_val <= n - 1:
        raise ConfigError(
            f"train_val_split: val_fraction={val_fraction} of {n} samples gives {n_val} "
            "validation samples; both parts need at least one. Use more data or another fraction"
        )
    if stratify is None:
        perm = rng.permutation(n)
        val_idx, train_idx = perm[:n_val], perm[n_val:]
    else:
        labels = np.asarray(stratify)
        if labels.shape != (n,):
            raise ShapeError(
                f"train_val_split: stratify must be a label array of shape ({n},), got "
                f"shape {labels.shape}"
            )
        if labels.dtype.kind == "f" and np.isnan(labels).any():
            raise FormatError(
                "train_val_split: stratify labels contain NaN; clean the labels first"
            )
        classes, inverse = np.unique(labels, return_inverse=True)
        counts = _stratified_counts(np.bincount(inverse, minlength=len(classes)), n_val)
        val_parts, train_parts = [], []
        for c, k in enumerate(counts):
            members = rng.permutation(np.flatnonzero(inverse == c))
            val_parts.append(members[:k])
            train_parts.append(members[k:])
        # Shuffle across classes so neither part comes out grouped by label.
        val_idx = rng.permutation(np.concatenate(val_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
    train = tuple(a[train_idx] for a in arrs)
    val = tuple(a[val_idx] for a in arrs)
    return train, val


def standardize(
    x: Any, mean: Any = None, std: Any = None, eps: float = 1e-8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature standardization: ``(x - mean) / (std + eps)``.

    ``mean`` and ``std`` are computed over the first (sample) axis when not given, with
    ``std`` the population standard deviation; compute them on the training data and pass
    them back in for validation and test data. Statistics are accumulated in float64 and
    returned in the output dtype: float32 and float64 inputs keep their dtype, anything else
    becomes float32.

    Parameters
    ----------
    x : array_like of shape (N, ...)
        Samples along the first axis.
    mean, std : array_like, optional
        Statistics broadcastable to ``x.shape[1:]``; ``std`` must be non-negative.
    eps : float
        Added to ``std`` so constant features do not divide by zero.

    Returns
    -------
    (x_std, mean, std)

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.data import standardize
    >>> z, m, s = standardize(np.array([[1.0, 10.0], [3.0, 10.0]], dtype=np.float32))
    >>> z.tolist(), m.tolist(), s.tolist()
    ([[-1.0, 0.0], [1.0, 0.0]], [2.0, 10.0], [1.0, 0.0])
    """
    arr = np.asarray(x)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ShapeError(
            f"standardize: x needs samples along its first axis, got shape {arr.shape}"
        )
    if arr.dtype.kind not in "biuf":
        raise DtypeError(f"standardize: x must be numeric, got dtype {arr.dtype}")
    out_dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    if not np.isfinite(arr).all():
        raise FormatError(
            "standardize: x contains NaN or infinity; remove or impute those values first"
        )
    if eps < 0:
        raise ConfigError(f"standardize: eps must be >= 0, got {eps}")
    feat = arr.shape[1:]
    stats = []
    for label, given, compute in (
        ("mean", mean, lambda: arr.mean(axis=0, dtype=np.float64)),
        ("std", std, lambda: arr.std(axis=0, dtype=np.float64)),
    ):
        value = compute() if given is None else np.asarray(given, dtype=np.float64)
        try:
            fits = np.broadcast_shapes(value.shape, feat) == feat
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(
                f"standardize: {label} of shape {value.shape} does not fit features of shape "
                f"{feat} (x has shape {arr.shape}); pass the statistics computed on data with "
                "the same features"
            )
        if not np.isfinite(value).all():
            raise FormatError(f"standardize: {label} contains NaN or infinity")
        stats.append(value)
    if (stats[1] < 0).any():
        raise ConfigError("standardize: std must be non-negative")
    # The arithmetic runs in the output dtype: no float64 copy of a large float32 data set.
    mu, sigma = (s.astype(out_dtype) for s in stats)
    z = arr.astype(out_dtype, copy=True)
    z -= mu
    z /= sigma + out_dtype.type(eps)
    return z, mu, sigma


def one_hot(labels: Any, num_classes: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """One-hot encode integer labels: shape ``labels.shape + (num_classes,)``.

    Parameters
    ----------
    labels : array_like of non-negative ints
    num_classes : int, optional
        Defaults to ``labels.max() + 1``.
    dtype : dtype
        Of the result (float32 by default).

    Examples
    --------
    >>> from chainrule.data import one_hot
    >>> one_hot([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise DtypeError(
            f"one_hot: labels must be integers, got dtype {lab.dtype}. Hint: map class names "
            "to 0..K-1 first, or use labels.astype(np.int64) for whole-number floats"
        )
    if lab.size and int(lab.min()) < 0:
        raise ConfigError(f"one_hot: labels must be non-negative, found {int(lab.min())}")
    if num_classes is None:
        if lab.size == 0:
            raise ConfigError("one_hot: cannot infer num_classes from empty labels; pass it")
        k = int(lab.max()) + 1
    else:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise ConfigError(f"one_hot: num_classes must be an int, got {num_classes!r}")
        k = int(num_classes)
        if k < 1:
            raise ConfigError(f"one_hot: num_classes must be >= 1, got {k}")
        if lab.size and int(lab.max()) >= k:
            raise ConfigError(
                f"one_hot: label {int(lab.max())} does not fit num_classes={k} "
                f"(labels must be in 0..{k - 1})"
            )
    flat = lab.reshape(-1)
    out = np.zeros((flat.size, k), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(*lab.shape, k)
