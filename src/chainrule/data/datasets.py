"""Ready-made data sets: MNIST and Fashion-MNIST (found or downloaded), bundled digits, CSV."""

from __future__ import annotations

import contextlib
import os
from importlib import resources
from pathlib import Path

import numpy as np

from chainrule.data import download as _download
from chainrule.data.idx import check_idx_pair, read_idx
from chainrule.data.transforms import train_val_split
from chainrule.errors import ConfigError, DataNotFoundError, FormatError

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "load_digits",
    "search_paths",
    "find_dataset",
    "SYSTEM_DATA_DIRS",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
]

#: System-wide roots; a data set lives in ``<root>/<dataset>/`` (Debian's dataset-fashion-mnist
#: installs /usr/share/datasets/fashion-mnist/).
SYSTEM_DATA_DIRS: list[Path] = [Path("/usr/share/datasets"), Path("/usr/local/share/datasets")]

#: The IDX files of an MNIST-style data set, in the order (train x, train y, test x, test y).
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

Split = tuple[np.ndarray, np.ndarray]


def search_paths(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for ``dataset``, in order (duplicates removed).

    1. ``data_dir`` and ``data_dir/<dataset>`` when given;
    2. ``$CHAINRULE_DATA`` and ``$CHAINRULE_DATA/<dataset>`` when set;
    3. the user cache, ``$XDG_CACHE_HOME/chainrule/<dataset>`` or ``~/.cache/chainrule/<dataset>``;
    4. ``<root>/<dataset>`` for each root of :data:`SYSTEM_DATA_DIRS`.

    Examples
    --------
    >>> from chainrule.data import search_paths
    >>> search_paths("mnist", "/data")[:2]
    [PosixPath('/data'), PosixPath('/data/mnist')]
    """
    folders: list[Path] = []
    if data_dir is not None:
        folders += [Path(data_dir), Path(data_dir) / dataset]
    env = os.environ.get("CHAINRULE_DATA")
    if env:
        folders += [Path(env), Path(env) / dataset]
    folders.append(_download.cache_dir(dataset))
    folders += [Path(root) / dataset for root in SYSTEM_DATA_DIRS]
    return list(dict.fromkeys(folders))


def _locate(folder: Path, stem: str) -> Path | None:
    """The uncompressed file if present (faster to read), else the .gz one, else None."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_dataset(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    files: tuple[str, ...] = MNIST_FILES,
) -> Path | None:
    """The first folder of :func:`search_paths` that holds all of ``files``, or None."""
    for folder in search_paths(dataset, data_dir):
        if all(_locate(folder, stem) for stem in files):
            return folder
    return None


def _not_found_message(dataset: str, folders: list[Path], files: tuple[str, ...]) -> str:
    """Every folder searched, the files expected and where to put them."""
    lines = [f"{dataset}: the data set files were not found. Folders searched, in order:"]
    for folder in folders:
        present = [s for s in files if _locate(folder, s)]
        note = f" (has {len(present)} of {len(files)} files)" if present else ""
        lines.append(f"  {folder}{note}")
    lines.append("Files expected (each may also be uncompressed, without .gz):")
    lines += [f"  {stem}.gz" for stem in files]
    lines.append(
        f"Put them in one of these folders (for example {_download.cache_dir(dataset)}), "
        "set $CHAINRULE_DATA to their folder, or give the folder (--data-dir DIR on the "
        "command line, data_dir=... in Python)"
    )
    if dataset == "fashion-mnist":
        lines.append(
            "On Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist` installs them "
            "into /usr/share/datasets/fashion-mnist/."
        )
    return "\n".join(lines)


def _check_pair(images: np.ndarray, labels: np.ndarray, img_path: Path, lbl_path: Path) -> None:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 in 0..9, with matching N."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise FormatError(
            f"{img_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} "
            f"{images.shape}; the file is not an MNIST-style image file"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise FormatError(
            f"{lbl_path}: expected uint8 labels of shape (N,), got {labels.dtype} "
            f"{labels.shape}; the file is not an MNIST-style label file"
        )
    if labels.shape[0] != images.shape[0]:
        raise FormatError(
            f"{lbl_path}: holds {labels.shape[0]} labels but {img_path} holds "
            f"{images.shape[0]} images; the files do not belong together"
        )
    if labels.size and int(labels.max()) > 9:
        bad = int(np.flatnonzero(labels > 9)[0])
        raise FormatError(
            f"{lbl_path}: label {int(labels[bad])} at index {bad} is outside 0..9; "
            "the file is corrupt or not a 10-class label file"
        )


def _to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 0..1 (correctly rounded division, no float64 temporary)."""
    out = images.astype(np.float32)
    out /= np.float32(255.0)
    return out


def _load_mnist_like(
    dataset: str,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    progress: bool,
    mirrors: list[str] | None,
    checksums: dict[str, str] | None,
    timeout: float,
) -> tuple[Split, Split]:
    """Find (or download) and read the four IDX files of an MNIST-style data set."""
    folder = find_dataset(dataset, data_dir, MNIST_FILES)
    if folder is None:
        searched = search_paths(dataset, data_dir)
        if not download:
            raise DataNotFoundError(
                _not_found_message(dataset, searched, MNIST_FILES)
                + "\n(download=False, so nothing was downloaded; download=True fetches them "
                "into the cache when online.)"
            )
        target = _download.cache_dir(dataset)
        existed = target.exists()
        try:
            _download.download_dataset(
                dataset, [f"{s}.gz" for s in MNIST_FILES], target,
                mirrors=mirrors, checksums=checksums, timeout=timeout, progress=progress,
            )  # fmt: skip
        except DataNotFoundError as exc:
            if not existed:  # leave no empty cache folder behind
                with contextlib.suppress(OSError):
                    target.rmdir()
            raise DataNotFoundError(
                _not_found_message(dataset, searched, MNIST_FILES)
                + f"\nDownloading into {target} failed too (offline?):\n{exc}"
            ) from None
        folder = target
    return load_idx_folder(folder, dataset)


def load_idx_folder(folder: str | os.PathLike[str], dataset: str = "IDX") -> tuple[Split, Split]:
    """Read the four IDX files of one folder in MNIST naming (``train-images-idx3-ubyte[.gz]``...).

    Only ``folder`` is looked in. Images become float32 in [0, 1], labels int64.

    Examples
    --------
    >>> from chainrule.data import load_idx_folder
    >>> (x_train, y_train), (x_test, y_test) = load_idx_folder("my-idx-files")  # doctest: +SKIP
    """
    folder = Path(folder)
    paths = [_locate(folder, stem) for stem in MNIST_FILES]
    if any(p is None for p in paths):
        raise DataNotFoundError(_not_found_message(dataset, [folder], MNIST_FILES))
    found = [p for p in paths if p is not None]
    check_idx_pair(found[0], found[1])  # counts compared before any payload is read
    check_idx_pair(found[2], found[3])
    arrays = [read_idx(p) for p in found]
    x_tr, y_tr, x_te, y_te = arrays
    img_tr, lbl_tr, img_te, lbl_te = (p for p in paths if p is not None)
    _check_pair(x_tr, y_tr, img_tr, lbl_tr)
    _check_pair(x_te, y_te, img_te, lbl_te)
    return (
        (_to_unit_float(x_tr), y_tr.astype(np.int64)),
        (_to_unit_float(x_te), y_te.astype(np.int64)),
    )


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
    *,
    mirrors: list[str] | None = None,
    checksums: dict[str, str] | None = None,
    timeout: float = _download.DEFAULT_TIMEOUT,
) -> tuple[Split, Split]:
    """Load MNIST handwritten digits: 60000 training and 10000 test images.

    The four IDX files (``train-images-idx3-ubyte.gz`` etc., gzipped or not) are looked for
    in the folders of :func:`search_paths`; if none has them and ``download`` is true, they
    are downloaded into the user cache from :data:`~chainrule.data.download.MIRRORS`,
    with MD5 checks.

    Parameters
    ----------
    data_dir : str or PathLike, optional
        Folder to look in first (the files directly in it, or in ``data_dir/mnist``).
    download : bool
        Download into the cache when the files are not found.
    progress : bool
        Show a download progress bar.
    mirrors, checksums, timeout : optional
        Override the download mirrors, MD5 table and per-read timeout (seconds).

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        Images as float32 in [0, 1] of shape (N, 28, 28) (flatten with
        ``x.reshape(len(x), -1)`` for a dense network); labels as int64 in 0..9.

    Raises
    ------
    DataNotFoundError
        The files are nowhere and cannot be downloaded; the message lists every folder searched.
    FormatError
        A file is corrupt, or a download fails its checksum.

    Examples
    --------
    >>> from chainrule.data import load_mnist
    >>> (x, y), (xt, yt) = load_mnist()  # doctest: +SKIP
    >>> x.shape, x.dtype, y.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('float32'), dtype('int64'))
    """
    return _load_mnist_like("mnist", data_dir, download, progress, mirrors, checksums, timeout)


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
    *,
    mirrors: list[str] | None = None,
    checksums: dict[str, str] | None = None,
    timeout: float = _download.DEFAULT_TIMEOUT,
) -> tuple[Split, Split]:
    """Load Fashion-MNIST (Zalando article images, 10 classes): 60000 train, 10000 test.

    Same file names, search order and return values as :func:`load_mnist`; the subfolder
    searched is ``fashion-mnist`` (as Debian's ``dataset-fashion-mnist`` package installs
    it, in /usr/share/datasets/fashion-mnist/). Class names are in
    :data:`FASHION_MNIST_CLASSES`.

    Examples
    --------
    >>> from chainrule.data import load_fashion_mnist, FASHION_MNIST_CLASSES
    >>> (x, y), (xt, yt) = load_fashion_mnist(download=False)  # doctest: +SKIP
    >>> FASHION_MNIST_CLASSES[int(y[0])]  # doctest: +SKIP
    'Ankle boot'
    """
    return _load_mnist_like(
        "fashion-mnist", data_dir, download, progress, mirrors, checksums, timeout
    )


def _bundled(name: str) -> Path:
    """Path of a file shipped in chainrule/data/bundled/."""
    return Path(str(resources.files("chainrule.data") / "bundled" / name))


def load_digits(
    test_size: float = 0.2, seed: int = 0, stratify: bool = True
) -> tuple[Split, Split]:
    """Load the bundled 8x8 handwritten digits (1797 images, UCI optical digits; no download).

    The images are those of scikit-learn's ``load_digits`` (the UCI "Optical Recognition of
    Handwritten Digits" test set, CC BY 4.0), shipped inside chainrule as a gzipped IDX pair.

    Parameters
    ----------
    test_size : float
        Fraction held out as the test split, in (0, 1).
    seed : int
        Seed of the split; the same seed always gives the same split.
    stratify : bool
        Keep each digit's share equal in both splits.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        Images as float32 in [0, 1] (pixel counts 0..16 divided by 16) of shape (N, 8, 8);
        labels as int64 in 0..9. With the defaults, 1438 train and 359 test images.

    Examples
    --------
    >>> from chainrule.data import load_digits
    >>> (x, y), (xt, yt) = load_digits()
    >>> x.shape, xt.shape, x.dtype, y.dtype
    ((1438, 8, 8), (359, 8, 8), dtype('float32'), dtype('int64'))
    """
    if isinstance(test_size, bool) or not 0.0 < float(test_size) < 1.0:
        raise ConfigError(
            f"load_digits: test_size must be a fraction in (0, 1), got {test_size!r}; "
            "for example 0.2 holds out a fifth"
        )
    images = read_idx(_bundled("digits-images-idx3-ubyte.gz"))
    labels = read_idx(_bundled("digits-labels-idx1-ubyte.gz"))
    x = images.astype(np.float32) / np.float32(16.0)
    y = labels.astype(np.int64)
    (x_tr, y_tr), (x_te, y_te) = train_val_split(
        x, y, val_fraction=test_size, stratify=y if stratify else None, seed=seed
    )
    return (x_tr, y_tr), (x_te, y_te)
