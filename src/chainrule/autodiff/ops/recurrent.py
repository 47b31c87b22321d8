"""Recurrent primitives: a whole RNN, LSTM or GRU layer direction over a sequence, BPTT inside.

One primitive per layer direction instead of one graph node per time step: the input
projections of all steps are one matrix product, the scan writes into preallocated arrays,
and backpropagation through time runs inside ``backward`` (one ``(N, G*H) @ (G*H, H)``
product per step, the weight gradients as one product over all steps at the end).

Weights and gate order are PyTorch's: LSTM rows ``i, f, g, o``; GRU rows ``r, z, n`` with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``. Time-major inputs ``(T, N, I)``.
Optional ``lengths`` (N,) give each sequence's real length: padded steps keep the state
(the final state is each sequence's own last step), their outputs are zero and they pass no
gradient, and ``reverse=True`` runs each sequence backwards over its real steps only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.primitive import Primitive
from chainrule.errors import ConfigError, ShapeError

__all__ = ["RNNSequence", "LSTMSequence", "GRUSequence", "check_lengths"]

# LSTM rows are stored i, f, g, o (PyTorch); inside, they run as i, f, o, g so that the three
# sigmoid gates are one contiguous block.
_LSTM_ORDER = (0, 1, 3, 2)


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


def _reversal(lengths: Any, steps: int, batch: int) -> Any:
    """Time indices (T, N) that reverse each sequence within its length (an involution)."""
    t = np.arange(steps)[:, None]
    return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)


def _sigmoid_rows(gates: int, hidden: int, n_sigmoid: int, dtype: Any) -> Any:
    """Row scales: 0.5 on sigmoid rows, since sigmoid(x) = 0.5 * tanh(x / 2) + 0.5."""
    scale = np.ones(gates * hidden, dtype=dtype)
    scale[: n_sigmoid * hidden] = 0.5
    return scale


class _Sequence(Primitive):
    """Shared frame: checks, the all-steps input product, masks, reversal, final products."""

    gates = 1
    has_cell = False
    h_prev: Any  # the state before each step (T, N, H), set by the scan

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
                self.perm = _reversal(lengths, steps, batch)
                x = x[self.perm, np.arange(batch)]
        self.mask = None if lengths is None else (np.arange(steps)[:, None] < lengths)[..., None]
        self.x, self.w_ih, self.w_hh, self.reverse = x, w_ih, w_hh, reverse
        self.nonlinearity, self.has_bias, self.biases = nonlinearity, bool(biases), biases
        xw = x.reshape(steps * batch, -1) @ self._input_weight(w_ih).T
        if biases:
            xw += self._input_bias(*biases)
        outputs = self._scan(xw.reshape(steps, batch, -1), states, xp)
        seq = outputs[0]
        if self.mask is not None:
            seq = seq * self.mask
        if reverse:
            seq = seq[::-1] if self.perm is None else seq[self.perm, np.arange(batch)]
        return (np.ascontiguousarray(seq), *outputs[1:])

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

    def _scan(self, xw: Any, states: Any, xp: Any) -> tuple[Any, ...]:  # pragma: no cover
        raise NotImplementedError

    def _scan_back(self, dseq: Any, dstates: Any, xp: Any) -> tuple[Any, ...]:  # pragma: no cover
        raise NotImplementedError

    def _keep(self, t: int, new: Any, old: Any) -> None:
        """Padded rows of step ``t`` keep the previous state (gradient: pass it through)."""
        if self.mask is not None:
            np.copyto(new, old, where=~self.mask[t])

    def backward(self, grads: Any) -> tuple[Any, ...]:
        xp = namespace(self.x)
        dseq, *dstates = grads
        steps, batch, _ = self.x.shape
        if dseq is not None:
            if self.reverse:
                dseq = dseq[::-1] if self.perm is None else dseq[self.perm, np.arange(batch)]
            if self.mask is not None:
                dseq = dseq * self.mask
        # dxw: gradient of the all-steps input projection; dhw: of the recurrent products;
        # dstate0: of the initial states.
        dxw, dhw, dstate0 = self._scan_back(dseq, dstates, xp)
        needs = self.needs_grad or ()
        x2 = self.x.reshape(steps * batch, -1)
        dxw2 = dxw.reshape(steps * batch, -1)
        dhw2 = dhw.reshape(steps * batch, -1)
        n_state = len(dstate0)
        gx = gw_ih = gw_hh = gb_ih = gb_hh = None
        if needs[0]:
            gx = (dxw2 @ self._back_weight(self.w_ih)).reshape(self.x.shape)
            if self.reverse:
                gx = gx[::-1] if self.perm is None else gx[self.perm, np.arange(batch)]
        if needs[n_state + 1]:
            gw_ih = self._unorder(dxw2.T @ x2)
        if needs[n_state + 2]:
            gw_hh = self._unorder(dhw2.T @ self.h_prev.reshape(steps * batch, -1))
        if self.has_bias:
            ones = xp.ones(steps * batch, dtype=dxw2.dtype)
            gb_ih = self._unorder(ones @ dxw2) if needs[n_state + 3] else None
            gb_hh = self._unorder(ones @ dhw2) if needs[n_state + 4] else None
        out = (gx, *dstate0, gw_ih, gw_hh)
        return (*out, gb_ih, gb_hh) if self.has_bias else out

    def _unorder(self, g: Any) -> Any:
        return g


class RNNSequence(_Sequence):
    """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, act tanh or relu.

    Inputs ``x (T, N, I), h0 (N, H), w_ih (H, I), w_hh (H, H)[, b_ih, b_hh]``; outputs
    ``(output (T, N, H), h_n (N, H))``; params ``lengths``, ``reverse``, ``nonlinearity``.
    """

    name = "rnn_sequence"
    n_outputs = 2

    def _scan(self, xw: Any, states: Any, xp: Any) -> tuple[Any, ...]:
        if self.nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"RNN: nonlinearity must be 'tanh' or 'relu', got "
                              f"{self.nonlinearity!r}")  # fmt: skip
        steps, batch, hidden = xw.shape
        hs = xp.empty((steps + 1, batch, hidden), dtype=xw.dtype)
        hs[0] = states[0]
        w_t = xp.ascontiguousarray(self.w_hh.T)  # measured: quicker than the transposed view
        relu = self.nonlinearity == "relu"
        for t in range(steps):
            h = hs[t + 1]
            xp.matmul(hs[t], w_t, out=h)
            h += xw[t]
            if relu:
                xp.maximum(h, 0, out=h)
            else:
                xp.tanh(h, out=h)
            self._keep(t, h, hs[t])
        self.hs, self.h_prev = hs, hs[:-1]
        return hs[1:], hs[steps].copy()

    def _scan_back(self, dseq: Any, dstates: Any, xp: Any) -> tuple[Any, ...]:
        hs, w_hh = self.hs, self.w_hh
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dh = xp.zeros((batch, hidden), dtype=hs.dtype) if dstates[0] is None else dstates[0].copy()
        dpre = xp.empty((steps, batch, hidden), dtype=hs.dtype)
        relu = self.nonlinearity == "relu"
        for t in range(steps - 1, -1, -1):
            if dseq is not None:
                dh += dseq[t]
            h, d = hs[t + 1], dpre[t]
            if relu:
                xp.multiply(dh, h > 0, out=d)
            else:
                xp.multiply(h, h, out=d)
                xp.subtract(1, d, out=d)
                d *= dh
            if self.mask is not None:
                d *= self.mask[t]
            new = d @ w_hh
            self._keep(t, new, dh)
            dh = new
        return dpre, dpre, (dh,)


class LSTMSequence(_Sequence):
    """LSTM (PyTorch's equations and gate order ``i, f, g, o``).

    Inputs ``x, h0, c0, w_ih (4H, I), w_hh (4H, H)[, b_ih, b_hh]``; outputs
    ``(output (T, N, H), h_n, c_n)``; params ``lengths``, ``reverse``.
    """

    name = "lstm_sequence"
    n_outputs = 3
    gates = 4
    has_cell = True

    def _order(self, a: Any, halve: bool = True) -> Any:
        """Rows i, f, g, o -> i, f, o, g, the sigmoid rows halved (one tanh for all gates)."""
        hidden = a.shape[0] // 4
        out = np.concatenate([a[k * hidden : (k + 1) * hidden] for k in _LSTM_ORDER])
        if halve:
            out[: 3 * hidden] *= 0.5
        return out

    def _unorder(self, g: Any) -> Any:
        hidden = g.shape[0] // 4
        i, f, o, gg = (g[k * hidden : (k + 1) * hidden] for k in range(4))
        return np.concatenate([i, f, gg, o])

    def _input_weight(self, w_ih: Any) -> Any:
        return self._order(w_ih)

    def _back_weight(self, w: Any) -> Any:
        return self._order(w, halve=False)

    def _input_bias(self, b_ih: Any, b_hh: Any) -> Any:
        return self._order(b_ih + b_hh)

    def _scan(self, xw: Any, states: Any, xp: Any) -> tuple[Any, ...]:
        steps, batch, rows = xw.shape
        hidden = rows // 4
        dtype = xw.dtype
        hs = xp.empty((steps + 1, batch, hidden), dtype=dtype)
        cs = xp.empty((steps + 1, batch, hidden), dtype=dtype)
        tc = xp.empty((steps, batch, hidden), dtype=dtype)
        hs[0], cs[0] = states
        w_t = xp.ascontiguousarray(self._order(self.w_hh).T)
        acts = xw  # the gate activations overwrite the input projections, step by step
        tmp = xp.empty((batch, hidden), dtype=dtype)
        hw = xp.empty((batch, rows), dtype=dtype)
        for t in range(steps):
            a = acts[t]
            xp.matmul(hs[t], w_t, out=hw)
            a += hw
            xp.tanh(a, out=a)
            sig = a[:, : 3 * hidden]
            sig *= 0.5
            sig += 0.5
            c = cs[t + 1]
            xp.multiply(a[:, hidden : 2 * hidden], cs[t], out=c)
            xp.multiply(a[:, :hidden], a[:, 3 * hidden :], out=tmp)
            c += tmp
            xp.tanh(c, out=tc[t])
            xp.multiply(a[:, 2 * hidden : 3 * hidden], tc[t], out=hs[t + 1])
            self._keep(t, c, cs[t])
            self._keep(t, hs[t + 1], hs[t])
        self.acts, self.hs, self.cs, self.tc, self.h_prev = acts, hs, cs, tc, hs[:-1]
        return hs[1:], hs[steps].copy(), cs[steps].copy()

    def _scan_back(self, dseq: Any, dstates: Any, xp: Any) -> tuple[Any, ...]:
        acts, cs, tc = self.acts, self.cs, self.tc
        steps, batch, rows = acts.shape
        hidden = rows // 4
        dtype = acts.dtype
        dh_n, dc_n = dstates
        dh = xp.zeros((batch, hidden), dtype=dtype) if dh_n is None else dh_n.copy()
        dc = xp.zeros((batch, hidden), dtype=dtype) if dc_n is None else dc_n.copy()
        w_hh = self._order(self.w_hh, halve=False)
        dg = xp.empty((steps, batch, rows), dtype=dtype)
        dct = xp.empty((batch, hidden), dtype=dtype)
        tmp = xp.empty((batch, hidden), dtype=dtype)
        for t in range(steps - 1, -1, -1):
            if dseq is not None:
                dh += dseq[t]
            a, d = acts[t], dg[t]
            i, f, o, g = (a[:, k * hidden : (k + 1) * hidden] for k in range(4))
            di, df, do, dgg = (d[:, k * hidden : (k + 1) * hidden] for k in range(4))
            # dct = dc + dh * o * (1 - tanh(c)^2)
            xp.multiply(tc[t], tc[t], out=tmp)
            xp.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            xp.add(dc, tmp, out=dct)
            xp.multiply(dh, tc[t], out=do)
            xp.multiply(dct, g, out=di)
            xp.multiply(dct, i, out=dgg)
            xp.multiply(dct, cs[t], out=df)
            # sigmoid rows: * s (1 - s); the tanh row: * (1 - g^2)
            s = a[:, : 3 * hidden]
            ds = d[:, : 3 * hidden]
            ds *= s
            ds -= ds * s
            xp.multiply(g, g, out=tmp)
            xp.subtract(1, tmp, out=tmp)
            dgg *= tmp
            new_dc = dct * f
            if self.mask is not None:
                d *= self.mask[t]
            new_dh = d @ w_hh
            self._keep(t, new_dh, dh)
            self._keep(t, new_dc, dc)
            dh, dc = new_dh, new_dc
        return dg, dg, (dh, dc)


class GRUSequence(_Sequence):
    """GRU (PyTorch's equations and gate order ``r, z, n``).

    ``r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})``,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.
    Inputs ``x, h0, w_ih (3H, I), w_hh (3H, H)[, b_ih, b_hh]``; outputs ``(output, h_n)``.
    """

    name = "gru_sequence"
    n_outputs = 2
    gates = 3

    def _input_bias(self, b_ih: Any, b_hh: Any) -> Any:
        hidden = b_ih.shape[0] // 3
        bias = b_ih.copy()
        bias[: 2 * hidden] += b_hh[: 2 * hidden]  # b_hn stays inside r * (...)
        return bias

    def _scan(self, xw: Any, states: Any, xp: Any) -> tuple[Any, ...]:
        steps, batch, rows = xw.shape
        hidden = rows // 3
        dtype = xw.dtype
        hs = xp.empty((steps + 1, batch, hidden), dtype=dtype)
        hs[0] = states[0]
        hn = xp.empty((steps, batch, hidden), dtype=dtype)
        w_t = xp.ascontiguousarray(self.w_hh.T)  # measured: quicker than the transposed view
        b_hn = self.biases[1][2 * hidden :] if self.biases else xp.zeros(hidden, dtype=dtype)
        acts = xw
        hw = xp.empty((batch, rows), dtype=dtype)
        for t in range(steps):
            a = acts[t]
            xp.matmul(hs[t], w_t, out=hw)
            rz = a[:, : 2 * hidden]
            rz += hw[:, : 2 * hidden]
            rz *= 0.5
            xp.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            xp.add(hw[:, 2 * hidden :], b_hn, out=hn[t])
            n = a[:, 2 * hidden :]
            n += a[:, :hidden] * hn[t]
            xp.tanh(n, out=n)
            h = hs[t + 1]
            xp.subtract(hs[t], n, out=h)  # h' = n + z * (h - n)
            h *= a[:, hidden : 2 * hidden]
            h += n
            self._keep(t, h, hs[t])
        self.acts, self.hs, self.hn, self.h_prev = acts, hs, hn, hs[:-1]
        return hs[1:], hs[steps].copy()

    def _scan_back(self, dseq: Any, dstates: Any, xp: Any) -> tuple[Any, ...]:
        acts, hs, hn = self.acts, self.hs, self.hn
        steps, batch, rows = acts.shape
        hidden = rows // 3
        dtype = acts.dtype
        dh = xp.zeros((batch, hidden), dtype=dtype) if dstates[0] is None else dstates[0].copy()
        dxw = xp.empty((steps, batch, rows), dtype=dtype)
        dhw = xp.empty((steps, batch, rows), dtype=dtype)
        tmp = xp.empty((batch, hidden), dtype=dtype)
        w_hh = self.w_hh
        for t in range(steps - 1, -1, -1):
            if dseq is not None:
                dh += dseq[t]
            a, dx, dw = acts[t], dxw[t], dhw[t]
            r, z, n = (a[:, k * hidden : (k + 1) * hidden] for k in range(3))
            dr, dz, dn = (dx[:, k * hidden : (k + 1) * hidden] for k in range(3))
            # dn_pre = dh * (1 - z) * (1 - n^2)
            xp.multiply(n, n, out=tmp)
            xp.subtract(1, tmp, out=tmp)
            xp.subtract(dh, dh * z, out=dn)
            dn *= tmp
            # dz_pre = dh * (h - n) * z (1 - z)
            xp.subtract(hs[t], n, out=dz)
            dz *= dh
            xp.subtract(z, z * z, out=tmp)
            dz *= tmp
            # dr_pre = dn_pre * hn * r (1 - r)
            xp.multiply(dn, hn[t], out=dr)
            xp.subtract(r, r * r, out=tmp)
            dr *= tmp
            dw[:, : 2 * hidden] = dx[:, : 2 * hidden]
            xp.multiply(dn, r, out=dw[:, 2 * hidden :])
            direct = dh * z
            if self.mask is not None:
                dx *= self.mask[t]
                dw *= self.mask[t]
            new = dw @ w_hh
            new += direct
            self._keep(t, new, dh)
            dh = new
        return dxw, dhw, (dh,)
