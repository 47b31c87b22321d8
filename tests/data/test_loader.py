"""ArrayDataset, DataLoader and the array transforms (split, standardize, one-hot)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import (
    ArrayDataset,
    DataLoader,
    one_hot,
    standardize,
    train_val_split,
)
from chainrule.errors import ConfigError, DtypeError, FormatError, ShapeError


def data(n: int = 10):
    """x row i is [i, i + 0.5] (so rows identify themselves), y = i."""
    x = np.stack([np.arange(n), np.arange(n) + 0.5], axis=1).astype(np.float32)
    return x, np.arange(n, dtype=np.int64)


# ---- ArrayDataset --------------------------------------------------------------------------


def test_array_dataset_len_and_getitem():
    x, y = data(5)
    ds = ArrayDataset(x, y)
    assert len(ds) == 5
    xi, yi = ds[3]
    assert xi.tolist() == [3.0, 3.5] and yi == 3
    xs, ys = ds[1:3]
    assert ys.tolist() == [1, 2]
    assert repr(ds) == "ArrayDataset(float32[5, 2], int64[5])"


def test_array_dataset_length_mismatch():
    with pytest.raises(ShapeError, match=r"different first dimensions \[5, 4\]"):
        ArrayDataset(np.zeros((5, 2)), np.zeros(4))


def test_array_dataset_needs_arrays():
    with pytest.raises(ConfigError, match="at least one array"):
        ArrayDataset()
    with pytest.raises(ShapeError, match=r"array 1 is 0-d"):
        ArrayDataset(np.zeros(3), np.float32(1))


# ---- DataLoader ----------------------------------------------------------------------------


def collect(loader):
    """Copy every batch (batches are reused buffers) and return the list of y batches."""
    return [tuple(a.copy() for a in batch) for batch in loader]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("n", "bs"), [(10, 3), (10, 5), (10, 1), (3, 8)])
def test_every_sample_once_per_epoch(n, bs, shuffle):
    x, y = data(n)
    loader = DataLoader((x, y), batch_size=bs, shuffle=shuffle, seed=0)
    batches = collect(loader)
    assert len(batches) == len(loader) == -(-n // bs)
    sizes = [len(yb) for _, yb in batches]
    assert sizes == [bs] * (n // bs) + ([n % bs] if n % bs else [])
    ys = np.concatenate([yb for _, yb in batches])
    assert sorted(ys.tolist()) == list(range(n))
    xs = np.concatenate([xb for xb, _ in batches])
    np.testing.assert_array_equal(xs, x[ys])  # rows stay aligned
    if not shuffle:
        assert ys.tolist() == list(range(n))


def test_drop_last():
    x, y = data(10)
    loader = DataLoader((x, y), batch_size=3, drop_last=True, shuffle=True, seed=1)
    batches = collect(loader)
    assert len(loader) == len(batches) == 3
    assert all(len(yb) == 3 for _, yb in batches)
    assert len(set(np.concatenate([yb for _, yb in batches]).tolist())) == 9
    assert len(DataLoader((x, y), batch_size=11, drop_last=True)) == 0
    assert collect(DataLoader((x, y), batch_size=11, drop_last=True)) == []


def test_shuffle_is_reproducible_and_changes_each_epoch():
    x, y = data(50)
    a = DataLoader((x, y), batch_size=7, shuffle=True, seed=42)
    b = DataLoader((x, y), batch_size=7, shuffle=True, seed=42)
    epochs_a = [np.concatenate([yb for _, yb in collect(a)]) for _ in range(3)]
    epochs_b = [np.concatenate([yb for _, yb in collect(b)]) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    assert not np.array_equal(epochs_a[1], epochs_a[2])
    assert not np.array_equal(epochs_a[0], np.arange(50))
    c = DataLoader((x, y), batch_size=7, shuffle=True, seed=43)
    assert not np.array_equal(np.concatenate([yb for _, yb in collect(c)]), epochs_a[0])


def test_generator_seed_is_used_as_is():
    x, y = data(20)
    loader = DataLoader((x, y), batch_size=20, shuffle=True, seed=np.random.default_rng(7))
    ((_, yb),) = collect(loader)
    np.testing.assert_array_equal(yb, np.random.default_rng(7).permutation(20))


def test_batches_reuse_buffers_until_next():
    x, y = data(9)
    loader = DataLoader((x, y), batch_size=3, shuffle=True, seed=0)
    it = iter(loader)
    xb1, yb1 = next(it)
    first = yb1.copy()
    xb2, yb2 = next(it)
    assert np.shares_memory(yb1, yb2) and np.shares_memory(xb1, xb2)
    np.testing.assert_array_equal(yb1, yb2)  # the first batch was overwritten in place
    assert not np.array_equal(first, yb2)
    assert not np.shares_memory(yb2, y)  # the data itself is never handed out


def test_unshuffled_batches_also_use_buffers():
    x, y = data(6)
    batches = list(DataLoader((x, y), batch_size=3))
    assert np.shares_memory(batches[0][1], batches[1][1])
    assert batches[0][1].tolist() == [3, 4, 5]
    batches[0][1][:] = -1
    assert y.tolist() == list(range(6))


@pytest.mark.parametrize("shuffle", [False, True])
def test_copy_true_gives_independent_batches(shuffle):
    x, y = data(9)
    batches = list(DataLoader((x, y), batch_size=4, shuffle=shuffle, seed=0, copy=True))
    assert not np.shares_memory(batches[0][1], batches[1][1])
    ys = np.concatenate([yb for _, yb in batches])
    assert sorted(ys.tolist()) == list(range(9))
    batches[0][0][:] = -1
    assert x.min() >= 0


def test_nested_iteration_has_separate_buffers():
    x, y = data(4)
    loader = DataLoader((x, y), batch_size=2)
    pairs = [(a[1].copy(), b[1].copy()) for a, b in zip(loader, loader)]
    assert [p[0].tolist() for p in pairs] == [[0, 1], [2, 3]]
    assert [p[1].tolist() for p in pairs] == [[0, 1], [2, 3]]


def test_accepts_single_array_and_dataset():
    x, y = data(4)
    (xb,), _ = list(DataLoader(x, batch_size=2))
    assert xb.shape == (2, 2)
    assert len(list(DataLoader(ArrayDataset(x, y), batch_size=3))) == 2
    assert len(list(DataLoader([x, y], batch_size=4))) == 1


def test_preserves_dtypes_and_trailing_shapes():
    imgs = np.zeros((5, 3, 4, 4), dtype=np.float64)
    labels = np.zeros(5, dtype=np.uint8)
    xb, yb = next(iter(DataLoader((imgs, labels), batch_size=2, shuffle=True, seed=0)))
    assert xb.shape == (2, 3, 4, 4) and xb.dtype == np.float64 and yb.dtype == np.uint8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, r"batch_size must be >= 1, got 0"),
        ({"batch_size": -3}, r"batch_size must be >= 1, got -3"),
        ({"batch_size": 2.5}, r"batch_size must be an int >= 1, got 2\.5"),
        ({"batch_size": True}, r"batch_size must be an int >= 1, got True"),
        (
            {"seed": "abc"},
            r"seed must be a numpy\.random\.Generator, a non-negative int",
        ),
    ],
)
def test_loader_bad_options(kwargs, match):
    x, y = data(4)
    with pytest.raises(ConfigError, match=match):
        DataLoader((x, y), **kwargs)


def test_loader_bad_data():
    with pytest.raises(ConfigError, match=r"expected an ArrayDataset, a NumPy array or a tuple"):
        DataLoader({"x": np.zeros(3)})
    with pytest.raises(ShapeError, match=r"different first dimensions \[3, 2\]"):
        DataLoader((np.zeros(3), np.zeros(2)))


# ---- train_val_split -----------------------------------------------------------------------


def test_split_sizes_alignment_and_disjointness():
    x, y = data(50)
    (x_tr, y_tr), (x_va, y_va) = train_val_split(x, y, val_fraction=0.2, seed=0)
    assert len(y_va) == 10 and len(y_tr) == 40
    np.testing.assert_array_equal(x_tr[:, 0], y_tr)
    np.testing.assert_array_equal(x_va[:, 0], y_va)
    assert sorted(np.concatenate([y_tr, y_va]).tolist()) == list(range(50))


def test_split_reproducible():
    x, y = data(30)
    a = train_val_split(x, y, seed=5)
    b = train_val_split(x, y, seed=5)
    c = train_val_split(x, y, seed=6)
    np.testing.assert_array_equal(a[1][1], b[1][1])
    assert not np.array_equal(a[1][1], c[1][1])


def test_stratified_split_keeps_proportions():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    idx = np.arange(100)
    (tr_i, tr_y), (va_i, va_y) = train_val_split(idx, labels, val_fraction=0.3, stratify=labels)
    # 30% of each class exactly: 18, 9, 3 held out.
    assert np.bincount(va_y).tolist() == [18, 9, 3]
    assert np.bincount(tr_y).tolist() == [42, 21, 7]
    np.testing.assert_array_equal(labels[va_i], va_y)
    # Shuffled across classes rather than grouped by label.
    assert not np.array_equal(np.sort(va_y), va_y)


def test_stratified_rounding_sums_to_total():
    labels = np.array(["a"] * 7 + ["b"] * 7 + ["c"] * 7)  # string labels work too
    (_, _), (_, va) = train_val_split(np.zeros(21), labels, val_fraction=0.5, stratify=labels)
    counts = [int((va == c).sum()) for c in "abc"]
    assert sum(counts) == 11 and sorted(counts) == [3, 4, 4]  # 10.5 rounds half up


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, 1.5, True])
def test_split_bad_fraction(bad):
    x, y = data(10)
    with pytest.raises(ConfigError, match=r"val_fraction must be in \(0, 1\)"):
        train_val_split(x, y, val_fraction=bad)


def test_split_too_few_samples():
    x, y = data(4)
    with pytest.raises(ConfigError, match=r"val_fraction=0\.01 of 4 samples gives 0 validation"):
        train_val_split(x, y, val_fraction=0.01)


def test_split_bad_arrays():
    with pytest.raises(ShapeError, match=r"different first dimensions \[10, 9\]"):
        train_val_split(np.zeros(10), np.zeros(9))
    with pytest.raises(ShapeError, match=r"stratify must be a label array of shape \(10,\)"):
        train_val_split(np.zeros(10), stratify=np.zeros(9))
    with pytest.raises(FormatError, match="stratify labels contain NaN"):
        train_val_split(np.zeros(4), stratify=np.array([0.0, 1.0, np.nan, 1.0]), val_fraction=0.5)


# ---- standardize ---------------------------------------------------------------------------


def test_standardize_formula_and_dtype():
    x = np.array([[1.0, 10.0, 0.0], [3.0, 10.0, 4.0], [5.0, 10.0, 8.0]], dtype=np.float32)
    z, mean, std = standardize(x)
    assert z.dtype == mean.dtype == std.dtype == np.float32
    np.testing.assert_allclose(mean, [3.0, 10.0, 4.0])
    np.testing.assert_allclose(std, [np.sqrt(8 / 3), 0.0, np.sqrt(32 / 3)], rtol=1e-6)
    expected = (x - [3.0, 10.0, 4.0]) / (np.array([np.sqrt(8 / 3), 0.0, np.sqrt(32 / 3)]) + 1e-8)
    np.testing.assert_allclose(z, expected, rtol=1e-6)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-6)


def test_standardize_reuses_statistics_and_keeps_float64():
    train = np.array([[0.0], [2.0]])
    _, m, s = standardize(train)
    z, m2, s2 = standardize(np.array([[4.0]]), m, s)
    assert z.dtype == np.float64 and z.tolist() == [[(4.0 - 1.0) / (1.0 + 1e-8)]]
    assert m2.tolist() == [1.0] and s2.tolist() == [1.0]


def test_standardize_images_and_integers():
    imgs = np.arange(24, dtype=np.uint8).reshape(3, 2, 4)
    z, m, s = standardize(imgs)
    assert z.dtype == np.float32 and m.shape == s.shape == (2, 4)
    np.testing.assert_allclose(m, imgs[1])
    np.testing.assert_allclose(s, np.full((2, 4), np.sqrt(128 / 3)), rtol=1e-6)


def test_standardize_errors():
    with pytest.raises(FormatError, match="contains NaN or infinity"):
        standardize(np.array([[1.0], [np.nan]]))
    with pytest.raises(
        ShapeError, match=r"mean of shape \(3,\) does not fit features of shape \(2,\)"
    ):
        standardize(np.zeros((4, 2)), mean=np.zeros(3))
    with pytest.raises(ShapeError, match=r"std of shape \(5, 2\) does not fit"):
        standardize(np.zeros((4, 2)), std=np.ones((5, 2)))
    with pytest.raises(ConfigError, match="std must be non-negative"):
        standardize(np.zeros((4, 2)), std=np.array([1.0, -1.0]))
    with pytest.raises(ShapeError, match="needs samples along its first axis"):
        standardize(np.zeros((0, 3)))
    with pytest.raises(DtypeError, match="must be numeric"):
        standardize(np.array([["a"], ["b"]]))


# ---- one_hot -------------------------------------------------------------------------------


def test_one_hot_values_and_shapes():
    out = one_hot(np.array([2, 0, 1]))
    assert out.dtype == np.float32
    assert out.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    grid = one_hot(np.array([[0, 3]]), num_classes=5, dtype=np.int64)
    assert grid.shape == (1, 2, 5) and grid.dtype == np.int64
    assert grid[0, 1].tolist() == [0, 0, 0, 1, 0]
    assert one_hot(np.zeros(0, dtype=np.int64), num_classes=3).shape == (0, 3)


@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "match"),
    [
        ([0.0, 1.0], {}, DtypeError, r"labels must be integers, got dtype float64"),
        ([True, False], {}, DtypeError, r"got dtype bool"),
        ([0, -1], {}, ConfigError, r"labels must be non-negative, found -1"),
        ([0, 3], {"num_classes": 3}, ConfigError, r"label 3 does not fit num_classes=3"),
        ([0], {"num_classes": 0}, ConfigError, r"num_classes must be >= 1"),
        ([0], {"num_classes": 2.0}, ConfigError, r"num_classes must be an int"),
        (np.zeros(0, dtype=int), {}, ConfigError, r"cannot infer num_classes from empty"),
    ],
)
def test_one_hot_errors(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        one_hot(labels, **kwargs)


# ---- a last batch of one -------------------------------------------------------------------


@pytest.mark.parametrize("copy", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_merge_single_folds_a_last_row_into_the_batch_before(copy, shuffle):
    x, y = data(9)
    loader = DataLoader((x, y), batch_size=4, shuffle=shuffle, seed=0, copy=copy, merge_single=True)
    assert loader.merges_last and len(loader) == 2
    batches = [(xb.copy(), yb.copy()) for xb, yb in loader]
    assert [len(yb) for _, yb in batches] == [4, 5]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(9))  # every row, once
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_merge_single_changes_nothing_when_the_last_batch_is_not_one_row():
    x, y = data(10)
    for n, size in ((10, 4), (8, 4), (1, 4), (5, 5)):
        loader = DataLoader((x[:n], y[:n]), batch_size=size, merge_single=True)
        plain = DataLoader((x[:n], y[:n]), batch_size=size)
        assert not loader.merges_last and len(loader) == len(plain)
        assert [len(b[1]) for b in loader] == [len(b[1]) for b in plain]
    drop = DataLoader((x[:9], y[:9]), batch_size=4, merge_single=True, drop_last=True)
    assert not drop.merges_last and [len(b[1]) for b in drop] == [4, 4]
