"""RNN, LSTM, GRU layers: variable lengths as running alone, gradchecks, shapes, names, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, ShapeError

KINDS = ["RNN", "LSTM", "GRU"]
RNG = np.random.default_rng(7)


def _layer(kind: str, n_in: int = 3, hidden: int = 4, **kw: object) -> nn.Module:
    return getattr(nn, kind)(n_in, hidden, rng=0, **kw).astype(np.float64)


def _final(kind: str, fin: object) -> list[cr.Tensor]:
    return list(fin) if kind == "LSTM" else [fin]  # type: ignore[call-overload]


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_match_each_sequence_run_alone(kind: str) -> None:
    layer = _layer(kind, num_layers=2, bidirectional=True)
    x = RNG.normal(size=(6, 3, 3))
    lengths = np.array([6, 2, 4])
    xt = cr.tensor(x, requires_grad=True)
    out, fin = layer(xt, lengths=lengths)
    cot = RNG.normal(size=out.shape)
    loss = (out * cot).sum()
    for f in _final(kind, fin):
        loss = loss + (f * f).sum()
    loss.backward()
    batch_grads = {name: p.grad.copy() for name, p in layer.named_parameters()}
    assert np.all(out.data[2:, 1] == 0) and np.all(out.data[4:, 2] == 0)  # padding outputs
    summed = {name: 0.0 for name in batch_grads}
    for n, length in enumerate(lengths):
        layer.zero_grad()
        alone = cr.tensor(x[:length, n : n + 1], requires_grad=True)
        out_n, fin_n = layer(alone)
        np.testing.assert_allclose(out_n.data[:, 0], out.data[:length, n], atol=1e-12)
        loss_n = (out_n * cot[:length, n : n + 1]).sum()
        for f_all, f_n in zip(_final(kind, fin), _final(kind, fin_n)):
            np.testing.assert_allclose(f_n.data[:, 0], f_all.data[:, n], atol=1e-12)
            loss_n = loss_n + (f_n * f_n).sum()
        loss_n.backward()
        np.testing.assert_allclose(alone.grad[:, 0], xt.grad[:length, n], atol=1e-12)
        assert np.all(xt.grad[length:, n] == 0)
        for name, p in layer.named_parameters():
            summed[name] = summed[name] + p.grad
    for name, g in batch_grads.items():
        np.testing.assert_allclose(g, summed[name], atol=1e-11, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_layer_gradcheck_two_layers_bidirectional_batch_first(kind: str) -> None:
    layer = _layer(kind, 2, 2, num_layers=2, bidirectional=True, batch_first=True)
    x = cr.tensor(RNG.normal(size=(2, 3, 2)), requires_grad=True)
    h0 = cr.tensor(RNG.normal(size=(4, 2, 2)), requires_grad=True)
    params = layer.parameters()

    def fn(x: cr.Tensor, h0: cr.Tensor, *ps: cr.Tensor) -> cr.Tensor:
        state = (h0, h0 * 0.5) if kind == "LSTM" else h0
        out, fin = layer(x, state, lengths=[3, 2])
        return (out * out).sum() + sum((f * 2.0).sum() for f in _final(kind, fin))

    assert cr.gradcheck(fn, [x, h0, *params])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n_in", "hidden"), [(1, 1), (1, 3), (3, 1)])
def test_one_wide_inputs_and_states_keep_their_gradient_shapes(
    kind: str, n_in: int, hidden: int
) -> None:
    # The LSTM slices all its weight gradients out of one product: a one-column slice must
    # stay a (4H, 1) matrix, never collapse into the bias's vector.
    layer = _layer(kind, n_in, hidden)
    x = cr.tensor(RNG.normal(size=(4, 2, n_in)), requires_grad=True)

    def fn(x: cr.Tensor, *ps: cr.Tensor) -> cr.Tensor:
        out, _ = layer(x)
        return (out * out).sum()

    fn(x).backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    assert cr.gradcheck(fn, [x, *layer.parameters()])


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_names_and_pytorch_initialization(kind: str) -> None:
    layer = getattr(nn, kind)(5, 8, num_layers=2, bidirectional=True, rng=0)
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    shapes = dict((n, p.shape) for n, p in layer.named_parameters())
    assert list(shapes)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert shapes["weight_ih_l0"] == (gates * 8, 5)
    assert shapes["weight_ih_l1_reverse"] == (gates * 8, 16)  # both directions feed layer 1
    assert len(shapes) == 16
    assert layer.num_parameters() == type(layer).spec_size(layer.get_config())
    bound = 1 / np.sqrt(8)
    values = np.concatenate([p.data.ravel() for p in layer.parameters()])
    assert values.dtype == np.float32 and abs(values).max() <= bound and abs(values).max() > 0.3
    out, fin = layer(np.zeros((7, 2, 5)))
    assert out.shape == (7, 2, 16)
    for f in _final(kind, fin):
        assert f.shape == (4, 2, 8)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_first_unbatched_and_mask_agree_with_time_major(kind: str) -> None:
    x = RNG.normal(size=(5, 2, 3))
    ref, fin_ref = _layer(kind)(x, lengths=[5, 3])
    out, fin = _layer(kind, batch_first=True)(
        x.transpose(1, 0, 2), mask=[[1] * 5, [1] * 3 + [0] * 2]
    )
    np.testing.assert_allclose(out.data.transpose(1, 0, 2), ref.data)
    for a, b in zip(_final(kind, fin), _final(kind, fin_ref)):
        np.testing.assert_allclose(a.data, b.data)
    single, fin1 = _layer(kind)(x[:, 0])
    np.testing.assert_allclose(single.data, ref.data[:, 0])
    assert _final(kind, fin1)[0].shape == (1, 4)


@pytest.mark.parametrize(("kind", "cell"), [("RNN", "RNNCell"), ("LSTM", "LSTMCell"),
                                            ("GRU", "GRUCell")])  # fmt: skip
def test_cell_steps_reproduce_the_layer(kind: str, cell: str) -> None:
    layer = _layer(kind)
    step = getattr(nn, cell)(3, 4, rng=1).astype(np.float64)
    step.load_state_dict({k[: -len("_l0")]: v for k, v in layer.state_dict().items()})
    x = RNG.normal(size=(4, 2, 3))
    out, _ = layer(x)
    state = None
    for t in range(4):
        state = step(x[t], state)
        h = state[0] if kind == "LSTM" else state
        np.testing.assert_allclose(h.data, out.data[t], atol=1e-12)
    xs = cr.tensor(RNG.normal(size=(2, 3)), requires_grad=True)
    h0 = cr.tensor(RNG.normal(size=(2, 4)), requires_grad=True)

    def fn(xs: cr.Tensor, h0: cr.Tensor, *weights: cr.Tensor) -> cr.Tensor:
        if kind == "LSTM":
            h, c = step(xs, (h0, h0 * 2.0))
            return (h * h).sum() + (c * 3.0).sum()
        h = step(xs, h0)
        return (h * h).sum()

    assert cr.gradcheck(fn, [xs, h0, *step.parameters()])
    unbatched = step(np.zeros(3))
    assert (unbatched[0] if kind == "LSTM" else unbatched).shape == (4,)


def test_rnn_relu_and_no_bias() -> None:
    layer = nn.RNN(2, 3, nonlinearity="relu", bias=False, rng=0)
    assert [n for n, _ in layer.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    out, _ = layer(np.abs(RNG.normal(size=(4, 2, 2))))
    assert out.data.min() >= 0
    assert layer.get_config()["nonlinearity"] == "relu"


def test_dropout_between_layers_only_in_training() -> None:
    layer = nn.LSTM(3, 4, num_layers=2, dropout=0.5, rng=0)
    x = RNG.normal(size=(5, 2, 3))
    a, _ = layer(x)
    b, _ = layer(x)
    assert not np.allclose(a.data, b.data)
    layer.eval()
    c, _ = layer(x)
    d, _ = layer(x)
    np.testing.assert_array_equal(c.data, d.data)


def test_lstm_learns_to_remember_the_first_token() -> None:
    # The label is the first of 12 random tokens: the signal must survive 11 steps of BPTT.
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, size=(256, 12))
    labels = ids[:, 0] % 2
    emb, lstm, head = nn.Embedding(4, 8, rng=0), nn.LSTM(8, 16, rng=1), nn.Linear(16, 2, rng=2)
    params = emb.parameters() + lstm.parameters() + head.parameters()
    opt = cr.optim.Adam(params, lr=0.02)
    for _ in range(60):
        _, (h_n, _c) = lstm(emb(ids.T))
        loss = nn.functional.cross_entropy(head(h_n[0]), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with cr.no_grad():
        _, (h_n, _c) = lstm(emb(ids.T))
        accuracy = (head(h_n[0]).data.argmax(axis=1) == labels).mean()
    assert accuracy > 0.95


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: nn.LSTM(0, 4), "input_size must be a positive integer"),
        (lambda: nn.GRU(3, 4, dropout=1.0), "dropout must be a number in"),
        (lambda: nn.RNN(3, 4, nonlinearity="gelu"), "nonlinearity must be"),
        (lambda: nn.LSTM(3, 4, bidirectional="yes"), "bidirectional must be True or False"),
    ],
)
def test_bad_configs_are_refused(build: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()  # type: ignore[operator]


def test_bad_inputs_say_what_was_expected() -> None:
    lstm = nn.LSTM(3, 4, rng=0)
    with pytest.raises(ShapeError, match=r"expected \(steps, batch, 3\)"):
        lstm(np.zeros((5, 2, 7)))
    with pytest.raises(ShapeError, match=r"lengths must lie in \[0, 5\]"):
        lstm(np.zeros((5, 2, 3)), lengths=[6, 1])
    with pytest.raises(ShapeError, match=r"one per sequence"):
        lstm(np.zeros((5, 2, 3)), lengths=[5])
    with pytest.raises(ShapeError, match=r"initial state of shape \(2, 4\); expected \(1, 2, 4\)"):
        lstm(np.zeros((5, 2, 3)), (np.zeros((2, 4)), np.zeros((2, 4))))
    with pytest.raises(ConfigError, match="pair"):
        lstm(np.zeros((5, 2, 3)), np.zeros((1, 2, 4)))
    with pytest.raises(ShapeError, match="prefix mask"):
        lstm(np.zeros((3, 1, 3)), mask=[[0], [1], [1]])
    with pytest.raises(ConfigError, match="not both"):
        lstm(np.zeros((3, 1, 3)), lengths=[3], mask=[[1], [1], [1]])
