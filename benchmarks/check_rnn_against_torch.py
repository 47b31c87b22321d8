"""Check chainrule's RNN, LSTM, GRU and cells against PyTorch with the same weights (float64).

Not a test (PyTorch is no dependency): run it with the reference environment,

    PYTHONPATH=src /work/torchvenv/bin/python benchmarks/check_rnn_against_torch.py

It copies PyTorch's initial weights into chainrule's layer by name, runs the same batch
(optionally of variable lengths, through ``pack_padded_sequence`` on the PyTorch side),
backpropagates the same random cotangents and prints the largest absolute difference of the
outputs, final states and every gradient. Exits 1 when one exceeds 1e-10.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import chainrule as cr
import chainrule.nn as nn

TOLERANCE = 1e-10


def _copy_weights(ours: nn.Module, theirs: torch.nn.Module) -> None:
    state = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    ours.astype(np.float64)
    ours.load_state_dict(state)


def check_layer(kind: str, layers: int, bidirectional: bool, lengths: bool, batch_first: bool,
                nonlinearity: str = "tanh") -> float:  # fmt: skip
    """Max abs difference for one configuration."""
    rng = np.random.default_rng(0)
    steps, batch, n_in, hidden = 6, 4, 3, 5
    kwargs = {"num_layers": layers, "bidirectional": bidirectional, "batch_first": batch_first}
    if kind == "RNN":
        kwargs["nonlinearity"] = nonlinearity
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(n_in, hidden, **kwargs).double()
    ours = getattr(nn, kind)(n_in, hidden, **kwargs, rng=0)
    _copy_weights(ours, theirs)
    shape = (batch, steps, n_in) if batch_first else (steps, batch, n_in)
    x = rng.normal(size=shape)
    lens = np.array([6, 2, 5, 1]) if lengths else None
    directions = 2 if bidirectional else 1
    h0 = rng.normal(size=(layers * directions, batch, hidden))
    c0 = rng.normal(size=h0.shape)
    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    state_t = (h0t, c0t) if kind == "LSTM" else h0t
    if lens is not None:
        packed = pack_padded_sequence(xt, torch.tensor(lens), batch_first=batch_first,
                                      enforce_sorted=False)  # fmt: skip
        out_p, fin_t = theirs(packed, state_t)
        out_t, _ = pad_packed_sequence(out_p, batch_first=batch_first, total_length=steps)
    else:
        out_t, fin_t = theirs(xt, state_t)
    xc = cr.tensor(x, requires_grad=True)
    h0c, c0c = cr.tensor(h0, requires_grad=True), cr.tensor(c0, requires_grad=True)
    out_c, fin_c = ours(xc, (h0c, c0c) if kind == "LSTM" else h0c, lengths=lens)
    fins_t = list(fin_t) if kind == "LSTM" else [fin_t]
    fins_c = list(fin_c) if kind == "LSTM" else [fin_c]
    diffs = [np.abs(out_c.data - out_t.detach().numpy()).max()]
    diffs += [np.abs(a.data - b.detach().numpy()).max() for a, b in zip(fins_c, fins_t)]
    cot = [rng.normal(size=out_c.shape)] + [rng.normal(size=f.shape) for f in fins_c]
    loss_t = (out_t * torch.tensor(cot[0])).sum()
    loss_c = (out_c * cot[0]).sum()
    for f_t, f_c, g in zip(fins_t, fins_c, cot[1:]):
        loss_t = loss_t + (f_t * torch.tensor(g)).sum()
        loss_c = loss_c + (f_c * g).sum()
    loss_t.backward()
    loss_c.backward()
    diffs.append(np.abs(xc.grad - xt.grad.numpy()).max())
    diffs.append(np.abs(h0c.grad - h0t.grad.numpy()).max())
    if kind == "LSTM":
        diffs.append(np.abs(c0c.grad - c0t.grad.numpy()).max())
    params_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        diffs.append(np.abs(p.grad - params_t[name].grad.numpy()).max())
    return float(max(diffs))


def check_cell(kind: str) -> float:
    """Max abs difference of one cell step and its gradients."""
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    theirs = getattr(torch.nn, kind)(3, 4).double()
    ours = getattr(nn, kind)(3, 4, rng=0)
    _copy_weights(ours, theirs)
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    xc, hc, cc = (cr.tensor(a, requires_grad=True) for a in (x, h, c))
    if kind == "LSTMCell":
        out_t = torch.cat(theirs(xt, (ht, ct)), 1)
        out_c = cr.concatenate(list(ours(xc, (hc, cc))), axis=1)
    else:
        out_t, out_c = theirs(xt, ht), ours(xc, hc)
    g = rng.normal(size=out_c.shape)
    (out_t * torch.tensor(g)).sum().backward()
    (out_c * g).sum().backward()
    diffs = [np.abs(out_c.data - out_t.detach().numpy()).max()]
    diffs += [np.abs(a.grad - b.grad.numpy()).max() for a, b in ((xc, xt), (hc, ht))]
    params_t = dict(theirs.named_parameters())
    diffs += [np.abs(p.grad - params_t[n].grad.numpy()).max() for n, p in ours.named_parameters()]
    return float(max(diffs))


def main() -> int:
    worst = 0.0
    print(f"{'layer':<10} {'layers':>6} {'bidir':>6} {'lengths':>8} {'batch1st':>8}  max |diff|")
    for kind, layers, bidir, lengths, bf in itertools.product(
        ["RNN", "RNN-relu", "LSTM", "GRU"], [1, 2], [False, True], [False, True], [False, True]
    ):
        name, nl = ("RNN", "relu") if kind == "RNN-relu" else (kind, "tanh")
        d = check_layer(name, layers, bidir, lengths, bf, nl)
        worst = max(worst, d)
        print(f"{kind:<10} {layers:>6} {bidir!s:>6} {lengths!s:>8} {bf!s:>8}  {d:.2e}")
    for kind in ["RNNCell", "LSTMCell", "GRUCell"]:
        d = check_cell(kind)
        worst = max(worst, d)
        print(f"{kind:<10} {'':>6} {'':>6} {'':>8} {'':>8}  {d:.2e}")
    print(f"worst max |diff| = {worst:.2e} (tolerance {TOLERANCE:.0e})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
