"""MNIST-style loading and its search order, the bundled digits, and CSV files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import (
    FASHION_MNIST_CLASSES,
    datasets,
    load_csv,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    search_paths,
    write_idx,
)
from chainrule.errors import ConfigError, DataNotFoundError, FormatError, ShapeError

STEMS = datasets.MNIST_FILES
REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, no real system folders, no $CHAINRULE_DATA."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", [tmp_path / "system"])


def make_set(
    folder: Path,
    tag: int,
    *,
    gz: bool = True,
    n_train: int = 4,
    n_test: int = 2,
    images=None,
    labels=None,
) -> np.ndarray:
    """Write a tiny MNIST-style set whose first training label is ``tag`` (to tell sets apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(tag)
    x_tr = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8) if images is None else images
    y_tr = np.full(n_train, tag, dtype=np.uint8) if labels is None else labels
    x_te = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_te = np.arange(n_test, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    for stem, a in zip(STEMS, (x_tr, y_tr, x_te, y_te)):
        write_idx(folder / (stem + suffix), a)
    return x_tr


def first_label(**kwargs) -> int:
    (_, y), _ = load_mnist(download=False, progress=False, **kwargs)
    return int(y[0])


# ---- MNIST-style sets ------------------------------------------------------------------


def test_values_shapes_and_dtypes(tmp_path):
    x_raw = make_set(tmp_path / "d", 3)
    (x, y), (xt, yt) = load_mnist(tmp_path / "d", download=False)
    assert x.shape == (4, 28, 28) and x.dtype == np.float32
    assert xt.shape == (2, 28, 28) and xt.dtype == np.float32
    assert y.dtype == np.int64 and yt.dtype == np.int64
    assert y.tolist() == [3, 3, 3, 3] and yt.tolist() == [0, 1]
    np.testing.assert_array_equal(x, x_raw.astype(np.float32) / np.float32(255))
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_search_order_explicit_env_cache_system(tmp_path, monkeypatch):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    cache = tmp_path / "cache" / "chainrule" / "mnist"
    system = tmp_path / "system" / "mnist"
    monkeypatch.setenv("CHAINRULE_DATA", str(env))
    for folder, tag in ((explicit, 1), (env, 2), (cache, 3), (system, 4)):
        make_set(folder, tag)
    assert first_label(data_dir=explicit) == 1
    assert first_label() == 2  # no data_dir: env comes first
    monkeypatch.delenv("CHAINRULE_DATA")
    assert first_label() == 3
    for p in cache.iterdir():
        p.unlink()
    assert first_label() == 4
    assert search_paths("mnist", explicit) == [
        explicit, explicit / "mnist", cache, system,
    ]  # fmt: skip


def test_env_folder_or_dataset_subfolder(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    make_set(tmp_path / "env" / "fashion-mnist", 5)
    make_set(tmp_path / "env" / "mnist", 6)
    (_, y), _ = load_fashion_mnist(download=False)
    assert y[0] == 5
    assert first_label() == 6
    make_set(tmp_path / "env", 7)  # files directly in $CHAINRULE_DATA come first
    assert first_label() == 7


def test_explicit_dir_with_dataset_subfolder(tmp_path):
    make_set(tmp_path / "root" / "mnist", 8)
    assert first_label(data_dir=tmp_path / "root") == 8


def test_uncompressed_names_and_mixed(tmp_path):
    make_set(tmp_path / "raw", 2, gz=False)
    assert first_label(data_dir=tmp_path / "raw") == 2
    # One file gzipped, the rest raw: still found.
    f = tmp_path / "raw" / STEMS[3]
    (tmp_path / "raw" / (STEMS[3] + ".gz")).write_bytes(gzip.compress(f.read_bytes()))
    f.unlink()
    assert first_label(data_dir=tmp_path / "raw") == 2


def test_xdg_unset_uses_home_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    make_set(tmp_path / "home" / ".cache" / "chainrule" / "mnist", 9)
    assert first_label() == 9


def test_not_found_lists_folders_and_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    (tmp_path / "env").mkdir()
    write_idx(tmp_path / "env" / (STEMS[0] + ".gz"), np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path / "mine", download=False)
    msg = str(info.value)
    assert msg.startswith("mnist: the data set files were not found")
    for line in (
        f"  {tmp_path / 'mine'}\n",
        f"  {tmp_path / 'mine' / 'mnist'}\n",
        f"  {tmp_path / 'env'} (has 1 of 4 files)\n",
        f"  {tmp_path / 'env' / 'mnist'}\n",
        f"  {tmp_path / 'cache' / 'chainrule' / 'mnist'}\n",
        f"  {tmp_path / 'system' / 'mnist'}\n",
        "  t10k-labels-idx1-ubyte.gz\n",
    ):
        assert line in msg
    assert "apt-get" not in msg
    assert isinstance(info.value, FileNotFoundError)


def test_not_found_names_the_command_line_flag(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path / "mine", download=False)
    msg = str(info.value)
    assert "--data-dir DIR" in msg and "data_dir=... in Python" in msg


def test_fashion_not_found_mentions_debian_package():
    with pytest.raises(DataNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(download=False)


def test_label_count_mismatch(tmp_path):
    make_set(tmp_path, 1, labels=np.zeros(3, dtype=np.uint8))
    with pytest.raises(FormatError, match=r"holds 3 labels but .*holds 4 images; the files do not"):
        load_mnist(tmp_path, download=False)


def test_wrong_image_shape(tmp_path):
    make_set(tmp_path, 1, images=np.zeros((4, 27, 28), dtype=np.uint8))
    with pytest.raises(
        FormatError, match=r"expected uint8 images of shape \(N, 28, 28\), got uint8 \(4, 27, 28\)"
    ):
        load_mnist(tmp_path, download=False)


def test_wrong_image_dtype(tmp_path):
    make_set(tmp_path, 1, images=np.zeros((4, 28, 28), dtype=np.int16))
    with pytest.raises(FormatError, match=r"got int16"):
        load_mnist(tmp_path, download=False)


def test_labels_out_of_range(tmp_path):
    make_set(tmp_path, 1, labels=np.array([1, 2, 12, 3], dtype=np.uint8))
    with pytest.raises(FormatError, match=r"label 12 at index 2 is outside 0\.\.9"):
        load_mnist(tmp_path, download=False)


def test_labels_and_images_swapped(tmp_path):
    make_set(tmp_path, 1)
    a, b = tmp_path / (STEMS[0] + ".gz"), tmp_path / (STEMS[1] + ".gz")
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    with pytest.raises(FormatError, match="not an MNIST-style image file"):
        load_mnist(tmp_path, download=False)


@pytest.mark.skipif(
    not all((REAL_FASHION / f"{s}.gz").is_file() for s in STEMS),
    reason="Fashion-MNIST is not installed in /usr/share/datasets/fashion-mnist "
    "(apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_from_system_folder(monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", [REAL_FASHION.parent])
    (x, y), (xt, yt) = load_fashion_mnist(download=False)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    assert np.bincount(y).tolist() == [6000] * 10
    assert np.bincount(yt).tolist() == [1000] * 10
    assert FASHION_MNIST_CLASSES[int(y[0])] == "Ankle boot"  # the data set's first image


# ---- bundled digits ----------------------------------------------------------------------

DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # per class, of 1797


def test_bundled_files_are_small():
    folder = Path(datasets.__file__).parent / "bundled"
    total = sum(p.stat().st_size for p in folder.glob("digits-*"))
    assert 0 < total < 100_000
    assert "CC BY 4.0" in (folder / "README.md").read_text()


def test_digits_shapes_range_and_split_sizes():
    (x, y), (xt, yt) = load_digits()
    assert x.shape == (1438, 8, 8) and xt.shape == (359, 8, 8)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    both = np.concatenate([x, xt])
    assert float(both.min()) == 0.0 and float(both.max()) == 1.0
    # Pixel counts 0..16 divided by 16: every value is a multiple of 1/16.
    np.testing.assert_array_equal(both * 16, np.round(both * 16))
    assert (np.bincount(y) + np.bincount(yt)).tolist() == DIGIT_COUNTS


def test_digits_split_is_stratified():
    (_, y), (_, yt) = load_digits(test_size=0.2)
    expected = np.array(DIGIT_COUNTS) * 359 / 1797
    assert np.abs(np.bincount(yt, minlength=10) - expected).max() < 1.0
    assert np.abs(np.bincount(y, minlength=10) - (np.array(DIGIT_COUNTS) - expected)).max() < 1.0


def test_digits_split_is_reproducible_and_disjoint():
    (x1, y1), (xt1, _) = load_digits(seed=3)
    (x2, y2), (xt2, _) = load_digits(seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    (x3, _), _ = load_digits(seed=4)
    assert not np.array_equal(x1, x3)
    # No image is in both parts (digits has a few duplicate images, so compare multisets).
    rows = [r.tobytes() for r in np.concatenate([x1, xt1])]
    (xa, _), (xb, _) = load_digits(test_size=0.5)
    assert sorted(rows) == sorted(r.tobytes() for r in np.concatenate([xa, xb]))


def test_digits_unstratified():
    (_, y), (_, yt) = load_digits(test_size=0.25, stratify=False)
    assert len(yt) == round(1797 * 0.25) and len(y) + len(yt) == 1797


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, True])
def test_digits_bad_test_size(bad):
    with pytest.raises(ConfigError, match=r"test_size must be a fraction in \(0, 1\)"):
        load_digits(test_size=bad)


# ---- CSV ---------------------------------------------------------------------------------


def write(tmp_path, text: str, name: str = "d.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_int_labels_no_header(tmp_path):
    x, y, names = load_csv(write(tmp_path, "3,0,1.5\n0,2,3\n\n1,4,5\n"))
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.tolist() == [[0, 1.5], [2, 3], [4, 5]] and y.tolist() == [3, 0, 1]
    assert names == ["0", "1", "2", "3"]


def test_csv_header_auto_and_string_labels(tmp_path):
    x, y, names = load_csv(write(tmp_path, "label,p1,p2\ncat,1,2\ndog,3,4\nant,5,6\ncat,7,8\n"))
    assert names == ["ant", "cat", "dog"]
    assert y.tolist() == [1, 2, 0, 1]
    assert x.shape == (4, 2)


def test_csv_label_by_name_and_negative_index(tmp_path):
    path = write(tmp_path, "a,b,target\n1,2,0\n3,4,1\n")
    x, y, _ = load_csv(path, label_column="target")
    assert x.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]
    x2, y2, _ = load_csv(path, label_column=-1)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_csv_explicit_header_flags(tmp_path):
    path = write(tmp_path, "9,8,7\n1,2,3\n")
    x, y, _ = load_csv(path, has_header=True)
    assert x.tolist() == [[2, 3]] and y.tolist() == [1]
    x, y, _ = load_csv(path, has_header=False)
    assert y.tolist() == [9, 1]


def test_csv_image_shape_gzip_bom_whitespace(tmp_path):
    rows = "\n".join(f"{k}, " + ",".join(str(k * 4 + i) for i in range(4)) for k in range(3))
    path = tmp_path / "img.csv.gz"
    path.write_bytes(gzip.compress(("\ufeff" + rows + "\n").encode()))
    x, y, _ = load_csv(path, image_shape=(2, 2))
    assert x.shape == (3, 2, 2) and x[2].tolist() == [[8, 9], [10, 11]]
    assert y.tolist() == [0, 1, 2]


def test_csv_whole_number_float_labels(tmp_path):
    _, y, _ = load_csv(write(tmp_path, "1.0,5\n0.0,6\n"))
    assert y.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("", {}, r"d\.csv: the file is empty"),
        ("\n\n", {}, r"d\.csv: the file is empty"),
        ("label,a,b\n", {}, r"d\.csv: the file has only a header row"),
        ("1,2,3\n4,5\n", {}, r"d\.csv, line 2: 2 columns, but line 1 has 3"),
        ("1,2,3\n4,5,6,7\n", {}, r"d\.csv, line 2: 4 columns, but line 1 has 3"),
        ("l,a,b\n1,2,3\n4,x,6\n", {}, r"d\.csv, line 3, column 2 \('a'\): 'x' is not a number"),
        ("1,2,3\n4,5,\n", {}, r"d\.csv, line 2, column 3: '' is not a number"),
        ("1,2,nan\n", {}, r"d\.csv, line 1, column 3: value 'nan' is NaN or infinite"),
        ("1,2,3\n,5,6\n", {}, r"d\.csv, line 2, column 1: the label is empty"),
        (
            "a,b,c\n1,2,3\n",
            {"label_column": "y"},
            r"line 1: no column named 'y'; the header has 'a', 'b', 'c'",
        ),
        ("1,2,3\n", {"label_column": 3}, r"line 1: label column 3 does not exist; the rows have 3"),
        ("1,2,3\n", {"label_column": -4}, r"label column -4 does not exist"),
        ("7\n8\n", {}, r"line 1: only 1 column; expected a label column and pixel columns"),
        ("1.5,2\n", {}, r"line 1: label '1.5' is not a whole number"),
        ("-1,2\n1,3\n", {}, r"line 1: label '-1' is negative"),
        (
            "1,2,3\n",
            {"image_shape": (3, 3)},
            r"image_shape=\(3, 3\) holds 9 pixels but .* has 2 pixel",
        ),
        ("1,2\n", {"has_header": "yes"}, r"has_header must be True, False or 'auto'"),
        ("1,2\n", {"has_header": False, "label_column": "y"}, r"needs a header row"),
        ("1,2\n", {"label_column": 1.0}, r"label_column must be an int index or a header name"),
    ],
)
def test_csv_bad_files(tmp_path, text, kwargs, match):
    error = (
        ShapeError if "image_shape" in kwargs
        else ConfigError if "has_header" in kwargs or kwargs.get("label_column") == 1.0
        else FormatError
    )  # fmt: skip
    with pytest.raises(error, match=match):
        load_csv(write(tmp_path, text), **kwargs)


def test_csv_not_utf8(tmp_path):
    with pytest.raises(FormatError, match=r"cannot be read as a CSV text file"):
        load_csv(write(tmp_path, "1,2\n\xff\xfe,3\n", encoding="latin-1"))
