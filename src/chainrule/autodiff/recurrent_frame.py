"""The frame every whole-sequence recurrent primitive shares: checks, lengths, the big products.

A layer direction runs as one primitive: the input projections of all steps are one matrix
product before the scan, the scan writes into preallocated arrays, backpropagation through
time runs inside ``backward``, and the weight gradients are one product over all steps after
it. Subclasses supply the scan and its reverse (``_scan``, ``_scan_back``); one that starts
from something else than the input projections (the LSTM's stacked ``[h; x; 1]``) overrides
``_project`` and ``_products`` too.

Two layouts. Row-major (``transposed = False``): the state is ``(N, H)`` and a step's gates
``(N, G*H)``. Transposed (``transposed = True``): the state is ``(H, N)`` and a step's gates
``(G*H, N)``, stored ``(T, G*H, N)``, so every gate block is one contiguous array (NumPy's
elementwise passes run several times quicker on contiguous blocks than on column slices of a
wider row; measured here 1.6 vs 10 us on a (64, 128) block) and each step is still one
matrix product.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.primitive import Primitive
from chainrule.autodiff.threads import copy_parts
from chainrule.errors import ShapeError

__all__ = ["check_lengths", "reversal", "Sequence", "Scratch", "SCRATCH"]


class Scratch:
    """Large work arrays kept between calls, so each batch does not fault fresh pages in.

    A fresh 6 MB array is ~1,600 page faults the first time it is written, and the C library
    gives freed memory back to the system between batches (measured here: ~2,300 faults per
    LSTM training batch, ~12 % of its CPU time). ``take`` hands out a view of a kept flat
    buffer of the exact size when there is one; ``give`` returns what ``take`` handed out
    (anything else is ignored) once nothing else refers to it. At most ``limit`` bytes are
    kept, the oldest dropped first. NumPy arrays only; other array types are allocated.
    """

    def __init__(self, limit: int = 256 << 20) -> None:
        self.limit, self._bytes = limit, 0
        self._kept: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, xp: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        """An uninitialised array of this shape and dtype."""
        if xp is not np:
            return xp.empty(shape, dtype=dtype)
        size, dtype = int(np.prod(shape)), np.dtype(dtype)
        with self._lock:
            for k, buf in enumerate(self._kept):
                if buf.size == size and buf.dtype == dtype:
                    del self._kept[k]
                    self._bytes -= buf.nbytes
                    return buf.reshape(shape)
        return np.empty(size, dtype=dtype).reshape(shape)

    def give(self, *arrays: Any) -> None:
        """Keep the buffers behind arrays ``take`` handed out, for the next ``take``."""
        with self._lock:
            for a in arrays:
                buf = getattr(a, "base", None)
                if type(buf) is not np.ndarray or buf.base is not None or buf.ndim != 1:
                    continue
                if any(b is buf for b in self._kept) or buf.nbytes > self.limit:
                    continue
                self._kept.append(buf)
                self._bytes += buf.nbytes
                while self._bytes > self.limit:
                    self._bytes -= self._kept.pop(0).nbytes

    def clear(self) -> None:
        """Drop every kept buffer."""
        with self._lock:
            self._kept.clear()
            self._bytes = 0


#: The recurrent primitives' shared scratch.
SCRATCH = Scratch()


def check_lengths(lengths: Any, steps: int, batch: int) -> Any:
    """``lengths`` as an int64 array of shape (batch,) with values in [0, steps], or None."""
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    if lengths.shape != (batch,) or lengths.dtype.kind not in "iu":
        raise ShapeError(
            f"recurrent layer: lengths must be integers of shape ({batch},) (one per sequence), "
            f"got {lengths.dtype} of shape {lengths.shape}"
        )
    if batch and (lengths.min() < 0 or lengths.max() > steps):
        raise ShapeError(
            f"recurrent layer: lengths must lie in [0, {steps}] (the padded length), got "
            f"values from {lengths.min()} to {lengths.max()}"
        )
    return lengths.astype(np.int64)


def reversal(lengths: Any, steps: int, batch: int) -> Any:
    """Time indices (T, N) that reverse each sequence within its length (an involution)."""
    t = np.arange(steps)[:, None]
    return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)


class Sequence(Primitive):
    """Shared frame: checks, the all-steps input product, masks, reversal, final products."""

    gates = 1
    has_cell = False
    transposed = False
    h_prev: Any  # the states before each step (T, N, H), for the default ``_products``
    #: Attributes the scan saves for backward that came from ``SCRATCH`` (given back on release).
    scratch: tuple[str, ...] = ()

    def forward(self, x: Any, *arrays: Any, lengths: Any = None, reverse: bool = False,
                nonlinearity: str = "tanh") -> Any:  # fmt: skip
        xp = namespace(x)
        n_state = 2 if self.has_cell else 1
        states, (w_ih, w_hh, *biases) = arrays[:n_state], arrays[n_state:]
        self._check(x, states, w_ih, w_hh, biases)
        steps, batch, _ = x.shape
        lengths = check_lengths(lengths, steps, batch)
        self.perm = None
        if reverse:
            if lengths is None:
                x = x[::-1]
            else:
                self.perm = reversal(lengths, steps, batch)
                x = x[self.perm, np.arange(batch)]
        self.mask = None if lengths is None else (np.arange(steps)[:, None] < lengths)[..., None]
        self.x, self.w_ih, self.w_hh, self.reverse = x, w_ih, w_hh, reverse
        self.nonlinearity, self.has_bias, self.biases = nonlinearity, bool(biases), biases
        outputs = self._scan(self._project(x, states, w_ih, biases, xp), states, xp)
        seq = outputs[0]
        if self.mask is not None:
            seq = seq * self.mask
        if reverse:
            seq = seq[::-1] if self.perm is None else seq[self.perm, np.arange(batch)]
            seq = np.ascontiguousarray(seq)
        if self.needs_grad is None:  # no graph recorded: nothing will run backward
            self.release()
        return (seq, *outputs[1:])

    def _project(self, x: Any, states: Any, w_ih: Any, biases: Any, xp: Any) -> Any:
        """What the scan starts from: here the input projections of all steps, bias included.

        Row-major ``(T, N, G*H)``, transposed ``(T, G*H, N)`` (a ``SCRATCH`` array).
        """
        steps, batch, features = x.shape
        w_in = self._input_weight(w_ih)
        rows = w_in.shape[0]
        if not self.transposed:
            xw = SCRATCH.take(xp, (steps, batch, rows), x.dtype)
            xp.matmul(x.reshape(steps * batch, -1), w_in.T, out=xw.reshape(steps * batch, rows))
            if biases:
                xw += self._input_bias(*biases)
            return xw
        xw = SCRATCH.take(xp, (steps, rows, batch), x.dtype)  # one product per step
        if biases:  # the bias as one more input column of ones: no pass over the gates
            xa = xp.empty((steps, features + 1, batch), dtype=x.dtype)
            xa[:, :features] = x.transpose(0, 2, 1)
            xa[:, features] = 1
            w_bias = self._input_bias(*biases)[:, None].astype(w_in.dtype, copy=False)
            xp.matmul(xp.concatenate([w_in, w_bias], axis=1), xa, out=xw)
        else:
            xp.matmul(w_in, x.transpose(0, 2, 1), out=xw)
        return xw

    def _check(self, x: Any, states: Any, w_ih: Any, w_hh: Any, biases: Any) -> None:
        hidden = w_hh.shape[-1]
        rows = self.gates * hidden
        if x.ndim != 3:
            raise ShapeError(f"{self.name}: input must be (T, N, I), got shape {x.shape}")
        if w_ih.shape != (rows, x.shape[2]) or w_hh.shape != (rows, hidden):
            raise ShapeError(
                f"{self.name}: weights {w_ih.shape} and {w_hh.shape} do not fit input "
                f"{x.shape}; expected ({rows}, {x.shape[2]}) and ({rows}, {hidden})"
            )
        for s in states:
            if s.shape != (x.shape[1], hidden):
                raise ShapeError(
                    f"{self.name}: initial state of shape {s.shape}; expected "
                    f"({x.shape[1]}, {hidden}) (batch, hidden_size)"
                )
        if biases and (len(biases) != 2 or any(b.shape != (rows,) for b in biases)):
            raise ShapeError(f"{self.name}: expected two biases of shape ({rows},)")

    def _input_weight(self, w_ih: Any) -> Any:
        """The input weight as the scan runs it."""
        return w_ih

    def _back_weight(self, w: Any) -> Any:
        """A weight as backpropagation runs it (gradients of the real pre-activations)."""
        return w

    def _input_bias(self, b_ih: Any, b_hh: Any) -> Any:
        return b_ih + b_hh

    def _unorder(self, g: Any) -> Any:
        """A gradient in the scan's row order back in PyTorch's."""
        return g

    def _scan(self, xw: Any, states: Any, xp: Any) -> tuple[Any, ...]:  # pragma: no cover
        raise NotImplementedError

    def _scan_back(self, dseq: Any, dstates: Any, xp: Any) -> tuple[Any, ...]:  # pragma: no cover
        raise NotImplementedError

    # -- the transposed layout's conversions (LSTM, GRU) -----------------------------------------
    def _column_mask(self) -> Any:
        """The real-step mask as (T, 1, N), broadcasting over a transposed state, or None."""
        return None if self.mask is None else self.mask[:, :, 0][:, None, :]

    def _column_state(self, state: Any, shape: tuple[int, int], dtype: Any, xp: Any) -> Any:
        """A state or its gradient given (N, H) as a fresh (H, N) array; zeros for None."""
        return xp.zeros(shape, dtype=dtype) if state is None else state.T.copy()

    def _rows(self, hs: Any, xp: Any) -> Any:
        """The transposed states ``hs (T + 1, H, N)`` as (T + 1, N, H); sets ``h_prev``."""
        seq = xp.empty((hs.shape[0], hs.shape[2], hs.shape[1]), dtype=hs.dtype)
        copy_parts(seq, hs.transpose(0, 2, 1))
        self.h_prev = seq[:-1]
        return seq

    def _keep(self, t: int, new: Any, old: Any) -> None:
        """Padded rows of step ``t`` keep the previous state (gradient: pass it through)."""
        if self.mask is not None:
            np.copyto(new, old, where=~self.mask[t])

    def release(self) -> None:
        SCRATCH.give(*(self.__dict__.get(name) for name in self.scratch))
        super().release()

    def backward(self, grads: Any) -> tuple[Any, ...]:
        xp = namespace(self.x)
        dseq, *dstates = grads
        steps, batch, _ = self.x.shape
        if dseq is not None:
            if self.reverse:
                dseq = dseq[::-1] if self.perm is None else dseq[self.perm, np.arange(batch)]
            if self.mask is not None:
                dseq = dseq * self.mask
        # dxw: gradient of the all-steps input projection; dhw: of the recurrent products
        # (the same array where both enter the gates alike); dstate0: of the initial states.
        # Row-major they are (T, N, G*H), transposed (T, G*H, N).
        dxw, dhw, dstate0 = self._scan_back(dseq, dstates, xp)
        needs = self.needs_grad or ()
        n_state = len(dstate0)
        gx = None
        shared, temps = dhw is dxw, [dxw, dhw]
        if self.transposed:  # (T, G*H, N) -> (G*H, T*N) once, so each product below is one
            flats = []
            for d in (dxw,) if shared else (dxw, dhw):
                flat = SCRATCH.take(xp, (d.shape[1], steps, batch), d.dtype)
                copy_parts(flat, d.transpose(1, 0, 2))
                flats.append(flat.reshape(d.shape[1], -1).T)
            SCRATCH.give(*temps)
            temps = flats
            dxw, dhw = flats[0], flats[-1]
        else:
            dxw, dhw = dxw.reshape(steps * batch, -1), dhw.reshape(steps * batch, -1)
        if needs[0]:
            gx = (dxw @ self._back_weight(self.w_ih)).reshape(self.x.shape)
            if self.reverse:
                gx = gx[::-1] if self.perm is None else gx[self.perm, np.arange(batch)]
        grads_w = self._products(dxw, dhw, needs[n_state + 1 :])
        SCRATCH.give(*temps)
        return (gx, *dstate0, *grads_w)

    def _products(self, dxw: Any, dhw: Any, needs: Any) -> tuple[Any, ...]:
        """The weight gradients ``(gw_ih, gw_hh[, gb_ih, gb_hh])``, each one product over all
        steps; ``dxw``/``dhw`` are ``(T*N, G*H)`` and ``needs`` says which are wanted."""
        steps, batch, _ = self.x.shape
        gw_ih = gw_hh = gb_ih = gb_hh = None
        if needs[0]:
            gw_ih = self._unorder(dxw.T @ self.x.reshape(steps * batch, -1))
        if needs[1]:
            gw_hh = self._unorder(dhw.T @ self.h_prev.reshape(steps * batch, -1))
        if not self.has_bias:
            return gw_ih, gw_hh
        if needs[2] or needs[3]:
            gb_ih = self._unorder(dxw.sum(axis=0))
            gb_hh = gb_ih.copy() if dhw is dxw else self._unorder(dhw.sum(axis=0))
        return gw_ih, gw_hh, gb_ih, gb_hh
