"""Downloads against a local HTTP server (127.0.0.1, random port): never the internet."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import datasets, download, load_fashion_mnist, load_mnist, write_idx
from chainrule.data.download import download_dataset, download_file
from chainrule.errors import DataNotFoundError, FormatError

FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


class _Server:
    """A tiny HTTP server: ``routes[path] = (status, body, announced_length, delay_s)``."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, int | None, float]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                server.requests.append(self.path)
                status, body, length, delay = server.routes.get(self.path, (404, b"", None, 0))
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def serve(self, path: str, body: bytes, *, status: int = 200, length=None, delay=0.0) -> None:
        self.routes[path] = (status, body, length, delay)


@pytest.fixture
def server():
    s = _Server()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    s.thread.join()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, no real system folders, no $CHAINRULE_DATA."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", [tmp_path / "system"])


def _closed_port_url() -> str:
    """A URL on a port nothing listens on: the connection is refused, as when offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _fake_mnist(tmp_path: Path) -> dict[str, bytes]:
    """Gzipped IDX files of a 5-train / 3-test MNIST look-alike, as a server would hold them."""
    rng = np.random.default_rng(0)
    arrays = {
        FILES[0]: rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        FILES[1]: np.array([0, 9, 3, 3, 1], dtype=np.uint8),
        FILES[2]: rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        FILES[3]: np.array([7, 2, 0], dtype=np.uint8),
    }
    src = tmp_path / "src"
    src.mkdir()
    out = {}
    for name, a in arrays.items():
        write_idx(src / name, a)
        out[name] = (src / name).read_bytes()
    return out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_file_success(server, tmp_path, capsys):
    body = bytes(range(256)) * 1000
    server.serve("/f.bin", body)
    dest = tmp_path / "out" / "f.bin"
    assert download_file(server.url + "/f.bin", dest, md5=_md5(body), progress=True) == dest
    assert dest.read_bytes() == body
    assert _leftovers(dest.parent) == ["f.bin"]
    assert "f.bin" in capsys.readouterr().err  # the progress bar's label


def test_progress_false_prints_nothing(server, tmp_path, capsys):
    server.serve("/f.bin", b"abc")
    download_file(server.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert capsys.readouterr().err == ""


def test_checksum_mismatch_discards_file(server, tmp_path):
    server.serve("/f.bin", b"tampered")
    dest = tmp_path / "f.bin"
    with pytest.raises(FormatError, match=r"/f\.bin: MD5 checksum is [0-9a-f]{32}, expected 0{32}"):
        download_file(server.url + "/f.bin", dest, md5="0" * 32, progress=False)
    assert _leftovers(tmp_path) == []


def test_partial_download_leaves_nothing(server, tmp_path):
    server.serve("/f.bin", b"x" * 100, length=1000)  # announces 1000 bytes, sends 100
    with pytest.raises(ConnectionError, match="closed after 100 of 1000 bytes"):
        download_file(server.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert _leftovers(tmp_path) == []


def test_partial_download_of_dataset_leaves_nothing(server, tmp_path):
    server.serve("/m/" + FILES[0], b"x" * 10, length=50)
    cache = tmp_path / "cache" / "chainrule" / "mnist"
    with pytest.raises(DataNotFoundError, match="closed after 10 of 50 bytes"):
        download_dataset("mnist", FILES[:1], cache, mirrors=[server.url + "/m/"], progress=False)
    assert _leftovers(cache) == []


def test_first_mirror_404_falls_back_to_second(server, tmp_path):
    server.serve("/b/data.gz", b"payload")
    dest = tmp_path / "d"
    mirrors = [server.url + "/a/", server.url + "/b"]  # with and without the trailing slash
    download_dataset(
        "mnist", ["data.gz"], dest, mirrors=mirrors, checksums={"data.gz": _md5(b"payload")},
        progress=False,
    )  # fmt: skip
    assert server.requests == ["/a/data.gz", "/b/data.gz"]
    assert (dest / "data.gz").read_bytes() == b"payload"
    assert _leftovers(dest) == ["data.gz"]


def test_checksum_mismatch_on_first_mirror_falls_back(server, tmp_path):
    server.serve("/a/data.gz", b"corrupt")
    server.serve("/b/data.gz", b"payload")
    sums = {"data.gz": _md5(b"payload")}
    mirrors = [server.url + "/a/", server.url + "/b/"]
    download_dataset("x", ["data.gz"], tmp_path, mirrors=mirrors, checksums=sums, progress=False)
    assert (tmp_path / "data.gz").read_bytes() == b"payload"


def test_checksum_mismatch_everywhere_is_format_error(server, tmp_path):
    server.serve("/a/data.gz", b"corrupt")
    with pytest.raises(FormatError, match=r"x: could not download data\.gz intact:\n.*MD5"):
        download_dataset(
            "x", ["data.gz"], tmp_path, mirrors=[server.url + "/a/", _closed_port_url()],
            checksums={"data.gz": "0" * 32}, progress=False,
        )  # fmt: skip
    assert _leftovers(tmp_path) == []


def test_existing_files_are_not_downloaded_again(server, tmp_path):
    (tmp_path / "data.gz").write_bytes(b"already here")
    download_dataset("x", ["data.gz"], tmp_path, mirrors=[server.url + "/"], progress=False)
    assert server.requests == []


def test_timeout_counts_as_a_failed_mirror(server, tmp_path):
    server.serve("/slow/data.gz", b"late", delay=1.0)
    server.serve("/fast/data.gz", b"payload")
    mirrors = [server.url + "/slow/", server.url + "/fast/"]
    download_dataset("x", ["data.gz"], tmp_path, mirrors=mirrors, timeout=0.2, progress=False)
    assert (tmp_path / "data.gz").read_bytes() == b"payload"


def test_no_mirrors_known():
    with pytest.raises(DataNotFoundError, match="no download mirrors are known"):
        download_dataset("unknown-set", ["a"], "/nonexistent", progress=False)


def test_load_mnist_downloads_into_cache(server, tmp_path):
    files = _fake_mnist(tmp_path)
    for name, body in files.items():
        server.serve("/mnist/" + name, body)
    sums = {name: _md5(body) for name, body in files.items()}
    (x, y), (xt, yt) = load_mnist(mirrors=[server.url + "/mnist/"], checksums=sums, progress=False)
    cache = tmp_path / "cache" / "chainrule" / "mnist"
    assert _leftovers(cache) == sorted(FILES)
    assert x.shape == (5, 28, 28) and xt.shape == (3, 28, 28)
    assert y.tolist() == [0, 9, 3, 3, 1] and yt.tolist() == [7, 2, 0]
    # A second load finds the cache and asks the server for nothing.
    n = len(server.requests)
    load_mnist(mirrors=[server.url + "/mnist/"], checksums=sums, progress=False)
    assert len(server.requests) == n == 4


def test_module_tables_are_used_by_default(server, tmp_path, monkeypatch):
    files = _fake_mnist(tmp_path)
    for name, body in files.items():
        server.serve("/fm/" + name, body)
    monkeypatch.setitem(
        download.MIRRORS, "fashion-mnist", [_closed_port_url(), server.url + "/fm/"]
    )
    monkeypatch.setitem(download.CHECKSUMS, "fashion-mnist", {n: _md5(b) for n, b in files.items()})
    (x, y), _ = load_fashion_mnist(progress=False)
    assert y.tolist() == [0, 9, 3, 3, 1]
    assert (tmp_path / "cache" / "chainrule" / "fashion-mnist" / FILES[0]).is_file()


def test_published_checksums_are_well_formed():
    for dataset in ("mnist", "fashion-mnist"):
        assert sorted(download.CHECKSUMS[dataset]) == sorted(FILES)
        for md5 in download.CHECKSUMS[dataset].values():
            assert len(md5) == 32 and int(md5, 16) >= 0
        assert len(download.MIRRORS[dataset]) == 2


def test_all_mirrors_down_lists_every_folder(server, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    mirrors = [server.url + "/missing/", _closed_port_url()]
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist(data_dir=tmp_path / "mine", mirrors=mirrors, progress=False)
    msg = str(info.value)
    for folder in [
        tmp_path / "mine",
        tmp_path / "mine" / "fashion-mnist",
        tmp_path / "env",
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "cache" / "chainrule" / "fashion-mnist",
        tmp_path / "system" / "fashion-mnist",
    ]:
        assert f"\n  {folder}\n" in msg
    for name in FILES:
        assert name in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "HTTP Error 404" in msg and "Connection refused" in msg
    assert "failed too (offline?)" in msg
    assert not (tmp_path / "cache" / "chainrule" / "fashion-mnist").exists()


def test_download_false_never_contacts_a_server(server, tmp_path):
    with pytest.raises(DataNotFoundError, match=r"download=False, so nothing was downloaded"):
        load_mnist(download=False, mirrors=[server.url + "/"], progress=False)
    assert server.requests == []
