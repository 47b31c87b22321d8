"""The backward engine: accumulation, graph freeing, hooks, no_grad, anomaly mode, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import GradcheckPrecisionWarning
from chainrule.autodiff.ops.elementwise import Exp
from chainrule.autodiff.primitive import Primitive
from chainrule.errors import AnomalyError, DtypeError, GradientError, ShapeError


def test_value_used_twice_sums_both_paths() -> None:
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad == pytest.approx(7.0)


def test_diamond_graph() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    a = x.exp()
    b = a * 2.0
    c = a * 3.0
    (b + c).sum().backward()
    np.testing.assert_allclose(x.grad, 5 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_gradients_accumulate_across_backward_calls_until_zero_grad() -> None:
    w = cr.tensor([1.0, -2.0], requires_grad=True)
    for _ in range(3):
        (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, 3 * 2 * w.data)
    w.zero_grad()
    assert w.grad is None


def test_leaf_grads_are_not_shared_arrays() -> None:
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 10  # an in-place change of one gradient must not leak into the other
    np.testing.assert_allclose(b.grad, [1.0, 1.0])


def test_no_grad_records_nothing_and_is_per_thread() -> None:
    w = cr.tensor([1.0], requires_grad=True)
    seen: dict[str, bool] = {}

    def other_thread() -> None:
        seen["other"] = (w * 2).requires_grad

    with cr.no_grad():
        y = w * 2
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert not y.requires_grad and y._op is None
    assert seen["other"] is True
    assert (w * 2).requires_grad


def test_no_grad_as_decorator() -> None:
    @cr.no_grad()
    def f(t: cr.Tensor) -> cr.Tensor:
        return t * 3

    assert not f(cr.tensor([1.0], requires_grad=True)).requires_grad
    assert cr.is_grad_enabled()


def test_chain_of_100000_operations() -> None:
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad == pytest.approx(1.0)


def test_graph_is_freed_after_backward() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * 2).sum()
    loss.backward()
    with pytest.raises(GradientError, match="freed by an earlier backward"):
        loss.backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * x.data)


def test_backward_on_non_scalar_needs_grad() -> None:
    x = cr.tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(GradientError, match=r"non-scalar tensor of shape \(1, 2\) needs `grad`"):
        (x * 2).backward()
    (x * 2).backward(np.array([[1.0, 0.5]]))
    np.testing.assert_allclose(x.grad, [[2.0, 1.0]])


def test_backward_grad_shape_must_match() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ShapeError, match=r"grad has shape \(3,\) but the tensor has shape \(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_requires_grad() -> None:
    with pytest.raises(GradientError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_retain_grad_and_hooks_show_the_error_signal() -> None:
    x = cr.tensor([1.0, -1.0], requires_grad=True)
    h = (x * 3).retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)
    np.testing.assert_allclose(seen[0], 2 * h.data)
    np.testing.assert_allclose(x.grad, 3 * 2 * h.data)


def test_hook_may_replace_the_gradient_and_be_removed() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    remove = y.register_hook(lambda g: g * 0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.0])
    remove()
    x.zero_grad()
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_hook_returning_wrong_shape() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: np.ones(3))
    with pytest.raises(ShapeError, match=r"hook returned shape \(3,\), expected"):
        y.sum().backward()


def test_detect_anomaly_names_the_forward_operation_and_user_line() -> None:
    x = cr.tensor([-1.0, 1.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(AnomalyError, match=r"forward of 'log' produced NaN"):
        x.log()  # the line the message must point to
    with cr.detect_anomaly(), pytest.raises(AnomalyError, match=r"test_engine.py:\d+"):
        x.log()


def test_detect_anomaly_catches_backward_nan() -> None:
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with cr.detect_anomaly():
        y = x.sqrt().sum()  # d sqrt / dx at 0 is infinite
        with pytest.raises(AnomalyError, match=r"backward of 'sqrt' produced inf"):
            y.backward()
    assert not cr.is_anomaly_enabled()


def test_without_anomaly_mode_nan_flows_silently() -> None:
    x = cr.tensor([-1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().data).all()


def test_matmul_shape_error_names_both_shapes() -> None:
    a = cr.tensor(np.zeros((128, 784), dtype=np.float32))
    b = cr.tensor(np.zeros((256, 10), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"matmul: \(128, 784\) @ \(256, 10\): inner dimensions "
                       r"784 and 256 differ"):  # fmt: skip
        a @ b


def test_broadcast_error_names_operation_and_shapes() -> None:
    with pytest.raises(ShapeError, match=r"add: shapes \(3, 4\) and \(3,\) cannot broadcast"):
        cr.tensor(np.zeros((3, 4))) + cr.tensor(np.zeros(3))


def test_other_shape_errors() -> None:
    x = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"cannot reshape a tensor of shape \(2, 3\)"):
        x.reshape(4, 2)
    with pytest.raises(ShapeError, match="axis 2 is out of range"):
        x.sum(axis=2)
    with pytest.raises(ShapeError, match="must match except along axis 0"):
        cr.concatenate([x, cr.tensor(np.zeros((1, 2)))])
    with pytest.raises(ShapeError, match="stack: all tensors need the same shape"):
        cr.stack([x, cr.tensor(np.zeros((3, 2)))])
    with pytest.raises(ShapeError, match=r"cannot broadcast shape \(2, 3\) to \(3, 3\)"):
        cr.broadcast_to(x, (3, 3))


def test_dtype_rules() -> None:
    assert cr.tensor(1.5).dtype == np.float32
    assert cr.tensor([[1.0, 2.0]]).dtype == np.float32
    assert cr.tensor(np.array([1.0])).dtype == np.float64
    assert cr.tensor([1, 2]).dtype == np.int64
    x32 = cr.tensor([1.0, 2.0])
    assert (x32 * np.array([2.0, 3.0])).dtype == np.float32  # NumPy operand takes tensor dtype
    assert (2.0 * x32 + 1).dtype == np.float32


def test_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(DtypeError, match="only floating tensors can require gradients, got int64"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(DtypeError, match="dtype <U1"):
        cr.tensor(["a"])


def test_integer_tensor_in_graph_gets_no_gradient() -> None:
    w = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    labels = cr.tensor([1, 0])
    picked = w[np.arange(2), labels]
    picked.sum().backward()
    np.testing.assert_allclose(w.grad, [[0.0, 1.0], [1.0, 0.0]])
    assert labels.grad is None


def test_repeated_indices_accumulate() -> None:
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_allclose(w.grad, [3.0, 0.0, 1.0])


def test_numpy_on_the_left_defers_to_tensor() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(y, cr.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


def test_detach_and_item() -> None:
    x = cr.tensor([2.0], requires_grad=True)
    d = (x * 3).detach()
    assert not d.requires_grad and d.is_leaf
    assert d.item() == pytest.approx(6.0)
    with pytest.raises(ShapeError, match="one element"):
        cr.tensor([1.0, 2.0]).item()


class _WrongExp(Primitive):
    """A deliberately wrong gradient rule, to show gradcheck catches it."""

    name = ""  # not registered

    def forward(self, a):  # type: ignore[no-untyped-def]
        self.out = np.exp(a)
        return self.out

    def backward(self, g):  # type: ignore[no-untyped-def]
        return (g * self.out * 1.01,)


def test_gradcheck_reports_the_worst_element() -> None:
    x = cr.tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True)
    with pytest.raises(GradientError, match=r"wrong gradient for input 0 at element \(\d,\): "
                       r"analytic [-\d.]+, numeric [-\d.]+"):  # fmt: skip
        cr.gradcheck(lambda t: _WrongExp.apply(t), [x])
    assert cr.gradcheck(lambda t: Exp.apply(t), [x])


def test_gradcheck_fast_mode_and_precision_warning() -> None:
    x = cr.tensor(np.random.default_rng(0).normal(size=(50, 40)), requires_grad=True)
    assert cr.gradcheck(lambda t: (t.tanh() @ t.T).sum(axis=1), [x], fast_mode=True)
    with pytest.raises(GradientError, match="directional derivative"):
        cr.gradcheck(lambda t: _WrongExp.apply(t), [x], fast_mode=True)
    x32 = cr.tensor([0.5, 1.0], requires_grad=True)
    with pytest.warns(GradcheckPrecisionWarning, match="not float64"):
        cr.gradcheck(lambda t: t * 2, [x32], atol=1e-2)


def test_xor_learned_by_a_2_2_1_sigmoid_network() -> None:
    rng = np.random.default_rng(3)
    x = cr.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = cr.tensor([[0], [1], [1], [0]], dtype="float32")
    w1 = cr.tensor(rng.normal(0, 1, (2, 2)), dtype="float32", requires_grad=True)
    b1 = cr.tensor(np.zeros(2), dtype="float32", requires_grad=True)
    w2 = cr.tensor(rng.normal(0, 1, (2, 1)), dtype="float32", requires_grad=True)
    b2 = cr.tensor(np.zeros(1), dtype="float32", requires_grad=True)
    for _ in range(5000):
        out = ((x @ w1 + b1).sigmoid() @ w2 + b2).sigmoid()
        loss = ((out - y) ** 2).mean()
        loss.backward()
        with cr.no_grad():
            for p in (w1, b1, w2, b2):
                p.data -= 2.0 * p.grad
                p.zero_grad()
    predictions = out.data.ravel() > 0.5
    assert predictions.tolist() == [False, True, True, False], out.data.ravel()


def test_python_numbers_with_float64_tensor_keep_float64_precision() -> None:
    x = cr.tensor(np.array([1.0]))
    assert (x * 0.1).data[0] == 0.1
    assert cr.tensor(0.1, dtype=np.float64).item() == 0.1
