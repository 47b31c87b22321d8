"""retain_freed_memory: large arrays allocated batch after batch stop faulting in fresh pages."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

import chainrule as cr
from chainrule.autodiff import heap

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

_CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    import chainrule as cr

    def faults_per_batch():
        for _ in range(3):
            np.ones(12_000_000, np.float32).sum()  # 48 MB: past glibc's largest adaptive threshold
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):
            a = np.ones(12_000_000, np.float32)
            b = a * 2.0
            del a, b
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / 10

    before = faults_per_batch()
    active = cr.retain_freed_memory()
    after = faults_per_batch()
    print(before, after, active, cr.retain_freed_memory())
    """
)


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds exist on glibc only")
def test_retained_memory_stops_page_faults_in_a_fresh_process():
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    before, after = float(out[0]), float(out[1])
    assert out[2:] == ["True", "True"]
    # 96 MB of fresh memory per batch: ~23,000 faults of 4 KiB pages (~1,000 where the kernel
    # gives transparent huge pages); reused heap memory faults (almost) none.
    assert before > 200, before
    assert after < before / 5, (before, after)


def test_not_glibc_reports_false(monkeypatch):
    monkeypatch.setattr(heap, "_state", {"done": False, "active": False})
    monkeypatch.setattr(heap, "_libc", lambda: None)
    assert heap.retain_freed_memory() is False
    assert heap.is_retaining() is False


def test_exported_and_idempotent():
    assert cr.retain_freed_memory is heap.retain_freed_memory
    first = cr.retain_freed_memory()
    assert cr.retain_freed_memory() == first == heap.is_retaining()
    assert first == GLIBC
