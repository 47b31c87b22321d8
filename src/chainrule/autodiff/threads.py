"""Large elementwise passes split over threads: NumPy's ufuncs run on one core, BLAS on all.

A ReLU, a max-pooling maximum or an im2col copy over a batch of feature maps is one ufunc
call that NumPy runs on the calling thread only, while PyTorch splits the same pass over its
intra-op threads. NumPy releases the GIL inside a ufunc's inner loop, so the pass can be cut
into contiguous chunks along one axis and the chunks run on a few Python threads at once.
Measured here (AMD EPYC, 2 vCPU) on the benchmark CNN's first feature maps, 128 x 32 x 26 x 26
float32: ``maximum(x, 0)`` 1.41 -> 0.94 ms and the ReLU gradient 2.70 -> 1.75 ms on two
threads, with BLAS idle. Right after a matrix product OpenBLAS's threads spin-wait on the
other core for a while, and there the split gains little: end to end the benchmark CNN's loop
measured only 3-9 % quicker, within the noise of a shared machine. Below ``MIN_SIZE`` elements
the hand-off costs more than it saves, and the pass runs on the calling thread as before.

The results are bitwise those of one thread: each element is computed by the same ufunc
either way. A worker takes the flush-to-zero mode of the thread that called it (see
``chainrule.autodiff.denormals``), so ``Trainer.fit``'s denormal flushing holds in its chunks
too.

The number of threads is, in this order: ``set_num_threads(n)``, the environment variable
``CHAINRULE_NUM_THREADS``, then ``OMP_NUM_THREADS`` or ``OPENBLAS_NUM_THREADS`` (so one setting
pins BLAS and these passes alike, e.g. one per MPI rank), else the CPUs this process may run on,
at most ``MAX_DEFAULT``. The workers start on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from chainrule.autodiff import denormals
from chainrule.errors import ConfigError

__all__ = [
    "parallel_for", "map_parts", "copy_parts", "set_num_threads", "get_num_threads", "MIN_SIZE",
]  # fmt: skip

#: Below this many elements a pass runs on the calling thread (a hand-off costs ~20-50 us).
MIN_SIZE = 1 << 18
#: The default never exceeds this: memory-bound passes gain little from more cores.
MAX_DEFAULT = 4

_lock = threading.Lock()
_threads: int | None = None
_executor: ThreadPoolExecutor | None = None
_workers = 0
_local = threading.local()


def _default_threads() -> int:
    for var in ("CHAINRULE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        text = os.environ.get(var, "").strip()
        if text:
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(f"{var} must be a positive integer, got {text!r}") from None
            if value < 1:
                raise ConfigError(f"{var} must be a positive integer, got {text!r}")
            return value
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT))


def get_num_threads() -> int:
    """How many threads a large elementwise pass is split over (1: not split)."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
    return _threads


def set_num_threads(n: int) -> None:
    """Split large elementwise passes over ``n`` threads from now on (1 turns splitting off).

    BLAS keeps its own threads (``OPENBLAS_NUM_THREADS``); this sets only chainrule's.

    Examples
    --------
    >>> import chainrule as cr
    >>> before = cr.get_num_threads()
    >>> cr.set_num_threads(1)
    >>> cr.get_num_threads()
    1
    >>> cr.set_num_threads(before)
    """
    global _threads, _executor
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"set_num_threads: expected a positive integer, got {n!r}")
    with _lock:
        _threads = n
        if _executor is not None and _workers < n - 1:  # too few workers: start afresh
            _executor.shutdown(wait=True)
            _executor = None


def _forget_workers() -> None:
    """In a forked child the workers are gone: start new ones on next use."""
    global _executor, _lock, _workers
    _executor, _lock, _workers = None, threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def _pool(workers: int) -> ThreadPoolExecutor:
    global _executor, _workers
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(workers, thread_name_prefix="chainrule")
            _workers = workers
        return _executor


def _run(fn: Callable[[slice], Any], part: slice, flush: bool) -> None:
    _local.worker = True  # a part that splits again runs serially (no waiting on itself)
    if getattr(_local, "flush", None) is not flush:
        denormals.set_flush_denormal(flush)
        _local.flush = flush
    fn(part)


def parallel_for(fn: Callable[[slice], Any], length: int, size: int) -> None:
    """Call ``fn(part)`` for contiguous slices ``part`` that together cover ``range(length)``.

    ``size`` is the number of elements the whole pass touches: under ``MIN_SIZE``, or with one
    thread, this is just ``fn(slice(0, length))``. Otherwise the slices run at once, one on the
    calling thread; each call must write only its own part of the output. The first error
    raised in any part is raised here, after every part has finished.
    """
    threads = min(get_num_threads(), length)
    if threads < 2 or size < MIN_SIZE or getattr(_local, "worker", False):
        fn(slice(0, length))
        return
    bounds = [length * k // threads for k in range(threads + 1)]
    parts = [slice(bounds[k], bounds[k + 1]) for k in range(threads)]
    flush = denormals.is_flush_denormal()
    pool = _pool(threads - 1)
    futures: list[Future[None]] = [pool.submit(_run, fn, part, flush) for part in parts[1:]]
    try:
        fn(parts[0])
    finally:
        errors = []
        for future in futures:
            try:
                future.result()
            except BaseException as err:  # noqa: BLE001 - re-raised below, after all parts
                errors.append(err)
    if errors:
        raise errors[0]


def map_parts(fn: Callable[..., Any], out: Any, *inputs: Any) -> None:
    """``fn(out, *inputs)``, split along ``out``'s outermost axis in memory when it is large.

    Every input of ``out``'s shape is cut like ``out``; anything else is passed whole, so it
    must be a scalar or broadcast the same against every part (never an array that varies
    along the cut axis). ``fn`` writes its part of ``out`` from the same part of the inputs.
    """
    ndim = getattr(out, "ndim", 0)
    if type(out) is not np.ndarray or ndim == 0 or out.size < MIN_SIZE or get_num_threads() < 2:
        fn(out, *inputs)
        return
    axis = max(range(ndim), key=lambda k: abs(out.strides[k]) if out.shape[k] > 1 else -1)
    cut = [type(a) is np.ndarray and a.shape == out.shape for a in inputs]

    def part(s: slice) -> None:
        index = (slice(None),) * axis + (s,)
        fn(out[index], *(a[index] if c else a for a, c in zip(inputs, cut)))

    parallel_for(part, out.shape[axis], out.size)


def _copy(out: Any, src: Any) -> None:
    np.copyto(out, src)


def copy_parts(out: Any, src: Any) -> None:
    """``out[...] = src`` for arrays of one shape, in parts on several threads when large."""
    if type(out) is np.ndarray and type(src) is np.ndarray and out.shape == src.shape:
        map_parts(_copy, out, src)
    else:
        out[...] = src
