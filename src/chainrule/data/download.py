"""Downloading data set files from their published mirrors: checksummed, atomic, with fallback."""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from chainrule.errors import DataNotFoundError, FormatError
from chainrule.io.atomic import atomic_write

__all__ = [
    "MIRRORS",
    "CHECKSUMS",
    "DEFAULT_TIMEOUT",
    "cache_dir",
    "download_file",
    "download_dataset",
]

#: Base URLs of each data set's published mirrors, tried in order.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ],
}

#: Published MD5 checksums of the gzip files (torchvision's mnist.py; the Fashion-MNIST README).
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

#: Seconds to wait for a server to answer (per connection and per read), not for the whole file.
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16


def cache_dir(dataset: str | None = None) -> Path:
    """The user cache folder, ``$XDG_CACHE_HOME/chainrule`` or ``~/.cache/chainrule``, + dataset."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    base = root / "chainrule"
    return base / dataset if dataset else base


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` atomically, checking its MD5 when one is given.

    The bytes go to a temporary file in ``dest``'s folder, which replaces ``dest`` only
    when the download is complete (the announced length arrived) and the checksum matches;
    on any failure nothing is left behind.

    Parameters
    ----------
    url : str
        http(s) or file URL.
    dest : str or PathLike
        Destination file; its folder is created if needed.
    md5 : str, optional
        Expected hex MD5 of the file.
    timeout : float
        Seconds to wait for the connection and for each read.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    FormatError
        The checksum does not match (the file is discarded).
    OSError
        The server is unreachable, answers with an error, or the transfer breaks off
        (``urllib.error.URLError``, ``TimeoutError``, ``ConnectionError``, ...).

    Examples
    --------
    >>> from chainrule.data.download import download_file
    >>> download_file("https://example.org/x.gz", "/tmp/x.gz", md5=None)  # doctest: +SKIP
    """
    # Imported here so that `import chainrule.data` stays fast for the command line.
    import urllib.request

    from tqdm.auto import tqdm

    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5(usedforsecurity=False)
    with (
        urllib.request.urlopen(url, timeout=timeout) as response,
        atomic_write(target, "wb") as out,
    ):
        length_header = response.headers.get("Content-Length")
        total = int(length_header) if length_header and length_header.isdigit() else None
        received = 0
        with tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
            disable=not progress, leave=False,
        ) as bar:  # fmt: skip
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        # http.client does not raise when the server closes early on a sized read.
        if total is not None and received != total:
            raise ConnectionError(f"{url}: the connection closed after {received} of {total} bytes")
        if md5 is not None and digest.hexdigest() != md5.lower():
            raise FormatError(
                f"{url}: MD5 checksum is {digest.hexdigest()}, expected {md5.lower()}; the "
                "download is corrupt or the mirror serves a different file. It was discarded"
            )
    return target


def download_dataset(
    dataset: str,
    files: Sequence[str],
    dest_dir: str | os.PathLike[str],
    *,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> Path:
    """Download each missing file of ``dataset`` into ``dest_dir``, trying mirrors in order.

    Parameters
    ----------
    dataset : str
        Key of :data:`MIRRORS` and :data:`CHECKSUMS` (``"mnist"``, ``"fashion-mnist"``).
    files : sequence of str
        File names to fetch (appended to each mirror's base URL).
    dest_dir : str or PathLike
        Folder to put them in.
    mirrors, checksums : optional
        Override the module tables (base URLs; file name -> MD5). A file absent from
        ``checksums`` is not checked.
    timeout : float
        Seconds to wait for each connection and read.
    progress : bool
        Show a progress bar per file.

    Returns
    -------
    pathlib.Path
        ``dest_dir``.

    Raises
    ------
    FormatError
        A file could not be fetched intact and at least one mirror served a wrong checksum.
    DataNotFoundError
        Every mirror failed for a file (offline, or not found); the message lists each
        URL tried and why it failed.

    Examples
    --------
    >>> from chainrule.data.download import download_dataset
    >>> download_dataset("mnist", ["t10k-labels-idx1-ubyte.gz"], "/tmp/mnist")  # doctest: +SKIP
    """
    bases = list(MIRRORS.get(dataset, []) if mirrors is None else mirrors)
    sums = dict(CHECKSUMS.get(dataset, {}) if checksums is None else checksums)
    if not bases:
        raise DataNotFoundError(f"{dataset}: no download mirrors are known for this data set")
    folder = Path(dest_dir)
    for name in files:
        if (folder / name).is_file():
            continue
        failures: list[str] = []
        corrupt = False
        for base in bases:
            url = base if base.endswith("/") else base + "/"
            url += name
            try:
                download_file(url, folder / name, md5=sums.get(name), timeout=timeout,
                              progress=progress)  # fmt: skip
                break
            except FormatError as exc:
                corrupt = True
                failures.append(f"  {url}: {exc}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"  {url}: {type(exc).__name__}: {exc}")
                # An HTTPError holds the open response; close it now rather than at GC.
                close = getattr(exc, "close", None)
                if callable(close):
                    close()
        else:
            tried = "\n".join(failures)
            if corrupt:
                raise FormatError(f"{dataset}: could not download {name} intact:\n{tried}")
            raise DataNotFoundError(f"{dataset}: every mirror failed for {name}:\n{tried}")
    return folder
