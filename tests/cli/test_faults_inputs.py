"""Hostile and huge inputs (issue 12, items 10-17): refused with one line and exit 2, without
hanging, without reading what a header only claims, with bounded memory."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import load_csv, load_idx_folder, write_idx
from chainrule.data.csv import MAX_COLUMNS, MAX_LINE_CHARS
from chainrule.errors import FormatError

from .conftest import run_cli

FIFO = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if "error:" in line]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("model") / "run"
    result = run_cli("train", "--hidden", "8", "--epochs", "1", "--quiet", "--no-plots",
                     "--out", str(run))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run


# -- item 10: FIFOs -------------------------------------------------------------------------------
@FIFO
@pytest.mark.parametrize("name", ["model.json", "model.safetensors"])
def test_a_fifo_as_a_model_file_is_refused_by_evaluate_at_once(
    model: Path, tmp_path: Path, name: str
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for part in ("model.json", "model.safetensors"):
        (copy / part).write_bytes((model / part).read_bytes())
    (copy / name).unlink()
    os.mkfifo(copy / name)
    result = run_cli("evaluate", str(copy / "model"), timeout=60)
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "is a FIFO (named pipe)" in line and name in line


# -- items 14, 15: predict's images and arrays ----------------------------------------------------
def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height 8-bit gray pixels (its data is a token)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def fake_gif() -> bytes:
    """About a hundred bytes that declare a 65535x65535 GIF."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
    image = b"," + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00;"
    return screen + image + b"\0" * (106 - len(screen) - len(image))


def huge_npy() -> bytes:
    """A .npy whose header claims 10**12 float32 values, followed by 16 bytes."""
    from numpy.lib import format as npy

    buffer = io.BytesIO()
    npy.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    return buffer.getvalue() + b"\0" * 16


def test_predict_refuses_bombs_huge_arrays_and_fifos_each_in_one_line(
    model: Path, tmp_path: Path
) -> None:
    inputs = {
        "30000.png": png_header(30000, 30000),  # Pillow's DecompressionBombError
        "13000.png": png_header(13000, 13000),  # under Pillow's limit, 1.5 GiB decoded
        "fake.gif": fake_gif(),
        "huge.npy": huge_npy(),
    }
    for name, blob in inputs.items():
        (tmp_path / name).write_bytes(blob)
    paths = [str(tmp_path / name) for name in inputs]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.png")
        paths.append(str(tmp_path / "fifo.png"))
    result = run_cli("predict", str(model / "model"), *paths, timeout=120)
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == len(paths)
    text = "\n".join(lines)
    assert "30000x30000 pixels, more than the 25,000,000" in text or "declares more pixels" in text
    assert "13000x13000 pixels, more than the 25,000,000 pixels" in text
    assert "fake.gif" in text and "huge.npy: the .npy header describes 4,000,000,000,000" in text
    if hasattr(os, "mkfifo"):
        assert "fifo.png: is a FIFO" in text


# -- item 15: CSV bounds ------------------------------------------------------------------------
def test_a_csv_line_too_long_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.csv.gz"
    line = b"0," * (MAX_LINE_CHARS // 2 + 10) + b"0\n"
    path.write_bytes(gzip.compress(b"label,a\n" + line, compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=r"line 2: longer than 4,194,304 characters"):
            load_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 60 * 2**20  # the line as cells would be hundreds of megabytes


def test_a_csv_with_too_many_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("1," + ",".join(["0"] * MAX_COLUMNS) + "\n")
    with pytest.raises(FormatError, match=r"line 1: 100,001 columns, more than the 100,000"):
        load_csv(path)


# -- item 13: IDX ---------------------------------------------------------------------------------
def test_idx_counts_are_compared_from_the_headers_before_reading(tmp_path: Path) -> None:
    count = 20_000  # images the header claims, really there (gzipped zeros)
    header = struct.pack(">BBBBIII", 0, 0, 8, 3, count, 28, 28)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(header + bytes(count * 784), compresslevel=1)
    )
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(10, dtype=np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, dtype=np.uint8))
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="holds 10 labels but .* holds 20000 images"):
            load_idx_folder(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # the images alone are 15.7 MB


def test_gzipped_idx_trailing_data_is_refused_without_counting_it(tmp_path: Path) -> None:
    path = tmp_path / "x-idx3-ubyte.gz"
    body = struct.pack(">BBBBIII", 0, 0, 8, 3, 10, 28, 28) + bytes(10 * 784)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(body)
        for _ in range(64):
            handle.write(bytes(2**22))  # 256 MiB of trailing zeros
    from chainrule.data import read_idx

    with pytest.raises(FormatError, match="data continues after the 7840 bytes"):
        read_idx(path)


def test_an_idx_folder_with_no_items_is_one_line(tmp_path: Path) -> None:
    for split in ("train", "t10k"):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", np.zeros((0, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.zeros(0, dtype=np.uint8))
    result = run_cli("train", "--data-dir", str(tmp_path), "--quiet")
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1


# -- item 16: deep nesting ----------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_a_config_nested_100000_levels_is_one_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"deep{suffix}"
    depth = 100_000
    text = "[" * depth + "]" * depth if suffix == ".json" else "a = " + "[" * depth + "]" * depth
    path.write_text(text + "\n")
    result = run_cli("train", "--config", str(path), "--quiet")
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "nested" in line and "deep" in line


def test_a_run_folders_config_json_nested_deeply_is_one_line(model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for name in os.listdir(model):
        if not name.startswith("."):
            (run / name).write_bytes((model / name).read_bytes())
    (run / "config.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    result = run_cli("train", "--resume", str(run), "--epochs", "3")
    assert result.returncode == 2
    assert "nested" in error_lines(result.stderr)[0]


# -- item 17: small ones ------------------------------------------------------------------------
def test_lr_inf_names_the_allowed_range(tmp_path: Path) -> None:
    result = run_cli("train", "--lr", "inf", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "lr: expected a finite number > 0, got inf" in error_lines(result.stderr)[0]


def test_a_3e38_feature_in_the_test_split_is_refused_before_training_starts(tmp_path: Path) -> None:
    from chainrule.cli.common import load_dataset

    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    x = rng.normal(size=(300, 4)) + y[:, None]
    path = tmp_path / "rows.csv"

    def write() -> None:
        path.write_text("".join(f"{k}," + ",".join(f"{v:.9g}" for v in row) + "\n"
                                for k, row in zip(y, x)))  # fmt: skip

    write()
    first_test = load_dataset(None, None, str(path), 0).x_test[0]
    row = int(np.flatnonzero(np.isclose(x, first_test, rtol=1e-6).all(axis=1))[0])
    x[row, 2] = 3e38  # the split depends on the labels and the seed only
    write()
    result = run_cli("train", "--csv", str(path), "--quiet", "--no-plots", "--out",
                     str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "sample 0, feature 2: value 3e+38 lies" in line and "standard deviations" in line
    assert "RuntimeWarning" not in result.stderr
    assert not (tmp_path / "run" / "checkpoint.json").exists()  # refused before any epoch
