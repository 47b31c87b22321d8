"""Recurrent primitives: a whole RNN, LSTM or GRU layer direction over a sequence, BPTT inside.

One primitive per layer direction instead of one graph node per time step (the frame, with the
all-steps input product and the weight gradients as one product each, is in
``recurrent_frame``; the LSTM, in its transposed layout, in ``recurrent_lstm``).

Weights and gate order are PyTorch's: LSTM rows ``i, f, g, o``; GRU rows ``r, z, n`` with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``. Time-major inputs ``(T, N, I)``.
Optional ``lengths`` (N,) give each sequence's real length: padded steps keep the state
(the final state is each sequence's own last step), their outputs are zero and they pass no
gradient, and ``reverse=True`` runs each sequence backwards over its real steps only.
"""

from __future__ import annotations

from typing import Any

from chainrule.autodiff.ops.recurrent_frame import SCRATCH, Sequence, check_lengths
from chainrule.autodiff.ops.recurrent_lstm import LSTMSequence
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
    """

    name = "gru_sequence"
    n_outputs = 2
    gates = 3
    scratch = ("acts", "hn")

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
        hn = SCRATCH.take(xp, (steps, batch, hidden), dtype)
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
        dxw = SCRATCH.take(xp, (steps, batch, rows), dtype)
        dhw = SCRATCH.take(xp, (steps, batch, rows), dtype)
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
