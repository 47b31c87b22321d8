"""Model files against the faults of issue 12: the same bytes in every process, FIFOs refused
without hanging, a huge sparse weights file refused unread, a text file not echoed as a number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.errors import FormatError
from chainrule.io import AtomicGroup, load, read_safetensors_header, save
from chainrule.nn.layers import Linear

ENCODE = r"""
import sys, numpy as np
from chainrule.io.safetensors_file import encode_safetensors
arrays = {name: np.arange(6, dtype=np.float32).reshape(2, 3) for name in "zyxwvuts"}
metadata = {key: key.upper() for key in "hgfedcba"}
sys.stdout.buffer.write(encode_safetensors(arrays, metadata))
"""


def test_the_safetensors_bytes_are_the_same_in_every_process() -> None:
    # The safetensors library orders __metadata__ by a per-process random hash seed: with 8
    # keys, two processes agreeing by chance is a 1 in 40,320 event.
    blobs = {
        subprocess.run(
            [sys.executable, "-c", ENCODE], capture_output=True, check=True, timeout=120
        ).stdout
        for _ in range(2)
    }
    assert len(blobs) == 1
    header_length = int.from_bytes(next(iter(blobs))[:8], "little")
    header = json.loads(next(iter(blobs))[8 : 8 + header_length])
    assert list(header["__metadata__"]) == sorted("hgfedcba")


def finishes(call: Any, limit: float = 20) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised (it must not hang)."""
    raised: list[BaseException | None] = [None]

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            raised[0] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), "hung"
    return raised[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("name", ["m.json", "m.safetensors"])
def test_a_fifo_in_place_of_a_model_file_is_refused_without_hanging(
    tmp_path: Path, name: str
) -> None:
    save(Linear(3, 2, rng=0), tmp_path / "m")
    (tmp_path / name).unlink()
    os.mkfifo(tmp_path / name)
    error = finishes(lambda: load(tmp_path / "m"))
    assert isinstance(error, FormatError)
    assert "is a FIFO (named pipe)" in str(error) and name in str(error)


def sparse_weights(path: Path, json_path: Path, record_size: bool) -> None:
    """A 2 GiB sparse weights file whose header is valid (one float32 tensor of 2 GiB)."""
    count = 2**29
    header = {"weight": {"dtype": "F32", "shape": [2, count // 2], "data_offsets": [0, count * 4]}}
    text = json.dumps(header).encode()
    with open(path, "wb") as handle:
        handle.write(len(text).to_bytes(8, "little") + text)
        handle.truncate(8 + len(text) + count * 4)
    if record_size:  # the JSON's record edited to agree
        doc = json.loads(json_path.read_text())
        doc["weights"]["bytes"] = path.stat().st_size
        json_path.write_text(json.dumps(doc))


@pytest.mark.parametrize("record_size", [False, True])
def test_a_huge_sparse_weights_file_is_refused_before_it_is_read(
    tmp_path: Path, record_size: bool
) -> None:
    json_path = save(Linear(3, 2, rng=0), tmp_path / "m")
    sparse_weights(tmp_path / "m.safetensors", json_path, record_size)
    assert read_safetensors_header(tmp_path / "m.safetensors")["weight"]["shape"][0] == 2
    start = time.perf_counter()
    with pytest.raises(FormatError) as caught:
        load(json_path)
    assert time.perf_counter() - start < 2.0  # reading 2 GiB took 4.6 s
    expected = "holds 536,870,912" if record_size else "2,147,483,"
    assert expected in str(caught.value)


def test_a_symlink_to_a_text_file_is_not_read_as_a_number(tmp_path: Path) -> None:
    save(Linear(3, 2, rng=0), tmp_path / "m")
    (tmp_path / "notes.txt").write_text("Remember to buy milk, eggs and bread.\n")
    (tmp_path / "m.safetensors").unlink()
    (tmp_path / "m.safetensors").symlink_to(tmp_path / "notes.txt")
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["weights"]["bytes"] = (tmp_path / "notes.txt").stat().st_size  # reach the header
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="not a safetensors file") as caught:
        load(tmp_path / "m")
    first8 = int.from_bytes(b"Remember", "little")
    assert str(first8) not in str(caught.value) and f"{first8:,}" not in str(caught.value)


def test_atomic_group_adopts_a_written_file(tmp_path: Path) -> None:
    staged = tmp_path / "staged.bin"
    staged.write_bytes(b"new")
    (tmp_path / "final.bin").write_bytes(b"old")
    with AtomicGroup() as group:
        group.adopt(staged, tmp_path / "final.bin")
        assert (tmp_path / "final.bin").read_bytes() == b"old"
    assert (tmp_path / "final.bin").read_bytes() == b"new" and not staged.exists()
    np.testing.assert_equal(sorted(os.listdir(tmp_path)), ["final.bin"])
