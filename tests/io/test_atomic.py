"""Atomic writes: complete files or none, previous content kept on failure, no leftovers."""

from __future__ import annotations

import json
import os
import sys

import pytest

from chainrule.io import atomic
from chainrule.io.atomic import (
    AtomicGroup,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_bytes_and_text(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01\x02")
    atomic_write_text(tmp_path / "b.txt", "héllo")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01\x02"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo"
    assert names(tmp_path) == ["a.bin", "b.txt"]


def test_atomic_write_replaces_existing_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with atomic_write(target, "w") as handle:
        handle.write("new")
        assert target.read_text() == "old"  # not visible until the block ends
    assert target.read_text() == "new"
    assert names(tmp_path) == ["f.txt"]


def test_atomic_write_failure_keeps_previous_content(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target, "w") as handle:
        handle.write("half of the new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert names(tmp_path) == ["f.txt"]


def test_atomic_write_failed_rename_leaves_no_temp(tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(tmp_path / "x", b"data")
    assert names(tmp_path) == []


def test_atomic_write_rejects_other_modes(tmp_path):
    with (
        pytest.raises(ValueError, match="mode 'wb' or 'w', got 'a'"),
        atomic_write(tmp_path / "x", "a"),
    ):
        pass


def test_atomic_write_json_is_strict(tmp_path):
    atomic_write_json(tmp_path / "d.json", {"a": [1, 2.5], "b": "ü"})
    assert json.loads((tmp_path / "d.json").read_text(encoding="utf-8")) == {
        "a": [1, 2.5],
        "b": "ü",
    }
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        atomic_write_json(tmp_path / "e.json", {"a": float("nan")})
    assert names(tmp_path) == ["d.json"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the umask from /proc")
def test_new_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640


def test_group_commits_all_files_in_order(tmp_path, monkeypatch):
    calls = []
    real = os.replace

    def record(src, dst):
        calls.append(os.path.basename(dst))
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", record)
    with AtomicGroup() as group:
        group.write_bytes(tmp_path / "w.bin", b"123")
        group.write_text(tmp_path / "t.txt", "text")
        group.write_json(tmp_path / "m.json", {"n": 1})
        assert names(tmp_path) != ["m.json", "t.txt", "w.bin"]  # only temps so far
    assert calls == ["w.bin", "t.txt", "m.json"]
    assert names(tmp_path) == ["m.json", "t.txt", "w.bin"]
    assert json.loads((tmp_path / "m.json").read_text()) == {"n": 1}


def test_group_exception_in_block_replaces_nothing(tmp_path):
    (tmp_path / "a").write_bytes(b"old a")
    with pytest.raises(KeyError), AtomicGroup() as group:
        group.write_bytes(tmp_path / "a", b"new a")
        group.write_bytes(tmp_path / "b", b"new b")
        raise KeyError("interrupted")
    assert (tmp_path / "a").read_bytes() == b"old a"
    assert names(tmp_path) == ["a"]


def test_group_failed_second_rename_rolls_back_the_first(tmp_path, monkeypatch):
    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "b").write_bytes(b"old b")
    real = os.replace
    count = {"n": 0}

    def second_fails(src, dst):
        count["n"] += 1
        if count["n"] == 2:
            raise OSError("no space left")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", second_fails)
    with pytest.raises(OSError, match="no space left"), AtomicGroup() as group:
        group.write_bytes(tmp_path / "a", b"new a")
        group.write_bytes(tmp_path / "b", b"new b")
    assert (tmp_path / "a").read_bytes() == b"old a"
    assert (tmp_path / "b").read_bytes() == b"old b"
    assert names(tmp_path) == ["a", "b"]  # no temps, no backups


def test_group_rollback_removes_files_that_did_not_exist(tmp_path, monkeypatch):
    real = os.replace
    count = {"n": 0}

    def second_fails(src, dst):
        count["n"] += 1
        if count["n"] == 2:
            raise OSError("no space left")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", second_fails)
    with pytest.raises(OSError), AtomicGroup() as group:
        group.write_bytes(tmp_path / "new1", b"1")
        group.write_bytes(tmp_path / "new2", b"2")
    assert names(tmp_path) == []


def test_group_failure_while_staging_keeps_everything(tmp_path):
    (tmp_path / "a").write_bytes(b"old a")
    with pytest.raises(TypeError, match="not JSON serializable"), AtomicGroup() as group:
        group.write_bytes(tmp_path / "a", b"new a")
        group.write_json(tmp_path / "m.json", {"bad": object()})
    assert (tmp_path / "a").read_bytes() == b"old a"
    assert names(tmp_path) == ["a"]


def test_group_refuses_the_same_file_twice(tmp_path):
    with pytest.raises(ValueError, match="already part of this atomic group"), AtomicGroup() as g:
        g.write_bytes(tmp_path / "a", b"1")
        g.write_bytes(tmp_path / "a", b"2")
    assert names(tmp_path) == []


def test_group_backup_falls_back_to_copy_without_hard_links(tmp_path, monkeypatch):
    (tmp_path / "a").write_bytes(b"old a")
    real = os.replace
    count = {"n": 0}

    def no_links(src, dst):
        raise OSError("hard links not supported")

    def second_fails(src, dst):
        count["n"] += 1
        if count["n"] == 2:
            raise OSError("no space left")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "link", no_links)
    monkeypatch.setattr(atomic.os, "replace", second_fails)
    with pytest.raises(OSError, match="no space left"), AtomicGroup() as group:
        group.write_bytes(tmp_path / "a", b"new a")
        group.write_bytes(tmp_path / "b", b"new b")
    assert (tmp_path / "a").read_bytes() == b"old a"  # restored from the copied backup
    assert names(tmp_path) == ["a"]
