"""Large elementwise passes split over threads: same bits as one thread, errors, modes, fork."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import denormals, threads
from chainrule.autodiff.ops.activation import ReLU
from chainrule.autodiff.ops.conv import Conv2d
from chainrule.autodiff.ops.conv_pool import Conv2dMaxPool2d
from chainrule.autodiff.ops.pool import MaxPool2d
from chainrule.errors import ConfigError

BIG = threads.MIN_SIZE * 2  # elements: above the size where passes are split


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = cr.get_num_threads()
    cr.set_num_threads(2)
    yield
    cr.set_num_threads(before)


def _with_threads(n: int, fn):  # type: ignore[no-untyped-def]
    before = cr.get_num_threads()
    cr.set_num_threads(n)
    try:
        return fn()
    finally:
        cr.set_num_threads(before)


def test_parallel_for_covers_the_range_once_and_uses_another_thread(two_threads: None) -> None:
    seen: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def fn(part: slice) -> None:
        with lock:
            seen.append((part.start, part.stop, threading.get_ident()))

    threads.parallel_for(fn, 7, BIG)
    covered = sorted(i for start, stop, _ in seen for i in range(start, stop))
    assert covered == list(range(7))
    assert len({ident for *_, ident in seen}) == 2


def test_small_passes_and_one_thread_run_on_the_caller(two_threads: None) -> None:
    idents: list[int] = []

    def fn(part: slice) -> None:
        idents.append(threading.get_ident())

    threads.parallel_for(fn, 8, 10)
    _with_threads(1, lambda: threads.parallel_for(fn, 8, BIG))
    assert idents == [threading.get_ident()] * 2


def test_an_error_in_a_worker_part_is_raised_after_every_part_finished(two_threads: None) -> None:
    done: list[int] = []

    def fn(part: slice) -> None:
        if part.start > 0:
            raise ValueError("bad part")
        done.append(part.start)

    with pytest.raises(ValueError, match="bad part"):
        threads.parallel_for(fn, 4, BIG)
    assert done == [0]


def test_a_nested_split_inside_a_part_runs_serially(two_threads: None) -> None:
    inner: list[int] = []

    def fn(part: slice) -> None:
        threads.parallel_for(lambda p: inner.append(p.stop - p.start), 10, BIG)

    threads.parallel_for(fn, 2, BIG)  # would wait on itself with one worker if it split again
    assert sorted(inner) == [5, 5, 10]  # the caller's part split, the worker's part did not


@pytest.mark.skipif(not denormals.supported(), reason="flush-to-zero is x86-64 Linux only")
def test_workers_take_the_callers_flush_to_zero_mode(two_threads: None) -> None:
    modes: dict[int, bool] = {}

    def fn(part: slice) -> None:
        modes[threading.get_ident()] = denormals.is_flush_denormal()

    for wanted in (True, False, True):
        with cr.flush_denormals(wanted):
            modes.clear()
            threads.parallel_for(fn, 2, BIG)
            assert len(modes) == 2 and set(modes.values()) == {wanted}


def test_relu_pool_conv_and_fused_conv_pool_give_the_same_bits_on_one_and_two_threads() -> None:
    rng = np.random.default_rng(0)
    # batch-last memory seen as NCHW, as conv outputs are; ReLU zeros make pooling ties
    x = rng.standard_normal((8, 64, 64, 16)).astype(np.float32).transpose(3, 0, 1, 2)
    assert x.size >= BIG
    g_pool = rng.standard_normal((16, 8, 32, 32)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)

    def run() -> list[np.ndarray]:
        relu = ReLU()
        relu.needs_grad = (True,)
        y = relu.forward(x)
        (dy,) = relu.backward(-x)
        pool = MaxPool2d()
        pool.needs_grad = (True,)
        p = pool.forward(y)
        (dp,) = pool.backward(g_pool)
        conv = Conv2d()
        conv.needs_grad = (True, True, True)
        c = conv.forward(y, w, b, padding=((1, 1), (1, 1)))
        grads = conv.backward(np.ones_like(c))
        fused = Conv2dMaxPool2d()
        fused.needs_grad = (True, True, True)
        f = fused.forward(y, w, b, padding=((1, 1), (1, 1)), relu=True)
        fused_grads = fused.backward(g_pool)
        return [y, dy, p, dp, c, *grads, f, *fused_grads]

    one, two = _with_threads(1, run), _with_threads(2, run)
    for a, b2 in zip(one, two):
        assert a.dtype == b2.dtype and a.shape == b2.shape
        assert np.array_equal(a, b2, equal_nan=True)
    assert np.array_equal(one[1], -x * (x > 0))  # the ReLU gradient is g * (y > 0)


def test_lstm_gives_the_same_bits_on_one_and_two_threads() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 64, 8)).astype(np.float32)  # gates (40, 512, 64): split

    def run() -> list[np.ndarray]:
        lstm = cr.nn.LSTM(8, 128, rng=0)
        inp = cr.tensor(x, requires_grad=True)
        out, _ = lstm(inp)
        (out * out).sum().backward()
        return [out.data, inp.grad, *(p.grad for p in lstm.parameters())]

    for a, b in zip(_with_threads(1, run), _with_threads(2, run)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses_what_is_not_a_positive_integer(bad: object) -> None:
    with pytest.raises(ConfigError, match="positive integer"):
        cr.set_num_threads(bad)  # type: ignore[arg-type]


def _child(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    for var in ("CHAINRULE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if var not in env:
            full.pop(var, None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, timeout=120)  # fmt: skip


def test_the_thread_count_follows_the_environment() -> None:
    code = "import chainrule as cr; print(cr.get_num_threads())"
    assert _child(code, CHAINRULE_NUM_THREADS="3", OMP_NUM_THREADS="1").stdout.strip() == "3"
    assert _child(code, OMP_NUM_THREADS="1").stdout.strip() == "1"
    assert _child(code, OPENBLAS_NUM_THREADS="2").stdout.strip() == "2"
    bad = _child(code, CHAINRULE_NUM_THREADS="many")
    assert bad.returncode != 0 and "CHAINRULE_NUM_THREADS must be a positive integer" in bad.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_splits_passes_without_hanging() -> None:
    code = (
        "import os, numpy as np, chainrule as cr\n"
        "from chainrule.autodiff import threads\n"
        "cr.set_num_threads(2)\n"
        "threads.parallel_for(lambda p: None, 4, threads.MIN_SIZE * 2)\n"  # workers started
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    out = []\n"
        "    threads.parallel_for(lambda p: out.append(p), 4, threads.MIN_SIZE * 2)\n"
        "    os._exit(0 if len(out) == 2 else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    result = _child(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
