"""Recurrent primitives: a whole RNN, LSTM or GRU layer direction over a sequence, BPTT inside.

One primitive per layer direction instead of one graph node per time step; the frame they
share (checks, the all-steps input product, the weight gradients as one product each, the
scratch buffers) is ``chainrule.autodiff.recurrent_frame``.

The LSTM (``chainrule.autodiff.ops.lstm``, re-exported here) runs in a transposed layout,
state ``(H, N)``, with one product per step over the stacked ``[h; x; 1]``. The GRU runs
transposed too (state ``(H, N)``, a step's gates ``(3H, N)``, rows ``r, z, n``, the two sigmoid
blocks' weights halved so that one ``tanh`` and an affine pass make both sigmoids): its
benchmark step measured 0.67-1.05 (median ~0.85) x the row-major version, whose gate blocks
were column slices. The RNN keeps the row-major layout (state ``(N, H)``).

Weights and gate order are PyTorch's: LSTM rows ``i, f, g, o``; GRU rows ``r, z, n`` with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``. Time-major inputs ``(T, N, I)``.
Optional ``lengths`` (N,) give each sequence's real length: padded steps keep the state
(the final state is each sequence's own last step), their outputs are zero and they pass no
gradient, and ``reverse=True`` runs each sequence backwards over its real steps only.
"""

from __future__ import annotations

from typing import Any

from chainrule.autodiff.ops.lstm import LSTMSequence
from chainrule.autodiff.recurrent_frame import SCRATCH, Sequence, check_lengths
from chainrule.errors import ConfigError

__all__ = ["RNNSequence", "LSTMSequence", "GRUSequence", "check_lengths"]


class RNNSequence(Sequence):
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
        SCRATCH.give(xw)
        self.hs, self.h_prev = hs, hs[:-1]
        return hs[1:], hs[steps].copy()

    def _scan_back(self, dseq: Any, dstates: Any, xp: Any) -> tuple[Any, ...]:
        hs, w_hh = self.hs, self.w_hh
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dh = xp.zeros((batch, hidden), dtype=hs.dtype) if dstates[0] is None else dstates[0].copy()
        dpre = SCRATCH.take(xp, (steps, batch, hidden), hs.dtype)
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


class GRUSequence(Sequence):
    """GRU (PyTorch's equations and gate order ``r, z, n``).

    ``r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})``,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.
    Inputs ``x, h0, w_ih (3H, I), w_hh (3H, H)[, b_ih, b_hh]``; outputs ``(output, h_n)``.

    Transposed layout, as the LSTM: state ``(H, N)``, a step's gates ``(3H, N)`` with each of
    ``r, z, n`` one contiguous block, and the ``r, z`` rows of the weights halved so that one
    ``tanh`` and an affine pass make both sigmoids.
    """

    name = "gru_sequence"
    n_outputs = 2
    gates = 3
    transposed = True
    scratch = ("acts", "hn", "hs")

    def _halve(self, a: Any) -> Any:
        """The ``r, z`` rows halved: ``sigmoid(x) = 0.5 * tanh(x / 2) + 0.5``."""
        out = a.copy()
        out[: 2 * (a.shape[0] // 3)] *= 0.5
        return out

    def _input_weight(self, w_ih: Any) -> Any:
        return self._halve(w_ih)

    def _input_bias(self, b_ih: Any, b_hh: Any) -> Any:
        hidden = b_ih.shape[0] // 3
        bias = b_ih.copy()
        bias[: 2 * hidden] += b_hh[: 2 * hidden]  # b_hn stays inside r * (...)
        return self._halve(bias)

    def _scan(self, xw: Any, states: Any, xp: Any) -> tuple[Any, ...]:
        steps, rows, batch = xw.shape
        hidden, dtype = rows // 3, xw.dtype
        hs = SCRATCH.take(xp, (steps + 1, hidden, batch), dtype)  # states, transposed
        hn = SCRATCH.take(xp, (steps, hidden, batch), dtype)  # W_hn h + b_hn
        hs[0] = states[0].T
        w_hh = self._halve(self.w_hh)
        b_hn = self.biases[1][2 * hidden :] if self.biases else xp.zeros(hidden, dtype=dtype)
        b_hn = b_hn[:, None]
        acts = xw  # the gate activations r, z, n overwrite the input projections
        hw = xp.empty((rows, batch), dtype=dtype)
        tmp = xp.empty((hidden, batch), dtype=dtype)
        mask = self._column_mask()
        keep = None if mask is None else ~mask
        for t in range(steps):
            a = acts[t]
            xp.matmul(w_hh, hs[t], out=hw)
            rz = a[: 2 * hidden]
            rz += hw[: 2 * hidden]
            xp.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            xp.add(hw[2 * hidden :], b_hn, out=hn[t])
            n = a[2 * hidden :]
            xp.multiply(a[:hidden], hn[t], out=tmp)
            n += tmp
            xp.tanh(n, out=n)
            h = hs[t + 1]
            xp.subtract(hs[t], n, out=h)  # h' = n + z * (h - n)
            h *= a[hidden : 2 * hidden]
            h += n
            if keep is not None:  # padded steps keep the previous state
                xp.copyto(h, hs[t], where=keep[t])
        self.acts, self.hs, self.hn = acts, hs, hn
        seq = self._rows(hs, xp)
        return seq[1:], seq[steps].copy()

    def _scan_back(self, dseq: Any, dstates: Any, xp: Any) -> tuple[Any, ...]:
        acts, hs, hn = self.acts, self.hs, self.hn
        steps, rows, batch = acts.shape
        hidden, dtype = rows // 3, acts.dtype
        dh = self._column_state(dstates[0], (hidden, batch), dtype, xp)
        dxw = SCRATCH.take(xp, (steps, rows, batch), dtype)  # of the input projections
        dhw = SCRATCH.take(xp, (steps, rows, batch), dtype)  # of the recurrent products
        tmp, direct = xp.empty((hidden, batch), dtype=dtype), xp.empty((hidden, batch), dtype=dtype)
        dh_new = xp.empty((hidden, batch), dtype=dtype)
        w_back = xp.ascontiguousarray(self.w_hh.T)  # (H, 3H)
        mask = self._column_mask()
        for t in range(steps - 1, -1, -1):
            if dseq is not None:  # (N, H) read transposed: no copy of the whole sequence
                dh += dseq[t].T
            a, dx, dw = acts[t], dxw[t], dhw[t]
            r, z, n = (a[k * hidden : (k + 1) * hidden] for k in range(3))
            dr, dz, dn = (dx[k * hidden : (k + 1) * hidden] for k in range(3))
            # dn_pre = dh * (1 - z) * (1 - n^2)
            xp.multiply(n, n, out=tmp)
            xp.subtract(1, tmp, out=tmp)
            xp.multiply(dh, z, out=direct)  # what reaches h_{t-1} past the gates
            xp.subtract(dh, direct, out=dn)
            dn *= tmp
            # dz_pre = dh * (h - n) * z (1 - z)
            xp.subtract(hs[t], n, out=dz)
            dz *= dh
            xp.multiply(z, z, out=tmp)
            xp.subtract(z, tmp, out=tmp)
            dz *= tmp
            # dr_pre = dn_pre * hn * r (1 - r)
            xp.multiply(dn, hn[t], out=dr)
            xp.multiply(r, r, out=tmp)
            xp.subtract(r, tmp, out=tmp)
            dr *= tmp
            if mask is not None:  # padded steps: no gradient in, the state's passes through
                dx *= mask[t]
            dw[: 2 * hidden] = dx[: 2 * hidden]
            xp.multiply(dn, r, out=dw[2 * hidden :])
            xp.matmul(w_back, dw, out=dh_new)
            dh_new += direct
            if mask is not None:
                xp.copyto(dh_new, dh, where=~mask[t])
            dh, dh_new = dh_new, dh
        return dxw, dhw, (dh.T.copy(),)
