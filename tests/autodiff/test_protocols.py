"""Python and NumPy idioms on Tensor: iteration, np.asarray, float/int, t[i] = v, IndexError."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff.primitive import Primitive
from chainrule.data import DataLoader
from chainrule.errors import GradientError, ShapeError


def test_iteration_gives_rows_in_the_graph() -> None:
    t = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    rows = list(t)
    assert [r.shape for r in rows] == [(3,), (3,)]
    (rows[0] * 2 + rows[1]).sum().backward()
    np.testing.assert_array_equal(t.grad, [[2, 2, 2], [1, 1, 1]])


def test_iterating_a_scalar_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="0-d tensor"):
        iter(cr.tensor(np.float64(1.0)))


def test_array_protocol_shares_the_data() -> None:
    t = cr.tensor(np.arange(4.0))
    assert np.asarray(t) is t.data or np.shares_memory(np.asarray(t), t.data)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(t) + 1, [1, 2, 3, 4])
    assert not np.shares_memory(np.array(t, copy=True), t.data)


def test_float_and_int_of_one_element() -> None:
    loss = (cr.tensor(np.array([1.5, 2.5])) * 2).mean()
    assert float(loss) == 4.0 and isinstance(float(loss), float)
    assert int(cr.tensor(np.array([[7]]))) == 7
    with pytest.raises(ShapeError, match=r"float\(\) needs a tensor with one element, got shape"):
        float(cr.tensor(np.zeros(3)))
    assert [10, 20, 30][cr.tensor(np.array(1))] == 20  # __index__ for integer tensors


def test_index_out_of_range_is_an_index_error() -> None:
    t = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(IndexError, match=r"index 5 is out of bounds for axis 0 with size 2"):
        t[5]
    with pytest.raises(ShapeError):  # still a ShapeError, for code that caught that
        t[0, 9]


def test_setitem_on_leaves_under_no_grad() -> None:
    w = cr.tensor(np.zeros((2, 2)), requires_grad=True)
    with pytest.raises(GradientError, match="requires grad would corrupt its gradient"):
        w[0, 0] = 1.0
    with cr.no_grad():
        w[0] = np.array([1.0, 2.0])
        w[cr.tensor(np.array([1]))] = cr.tensor(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(w.data, [[1, 2], [3, 4]])
    plain = cr.tensor(np.zeros(3))  # no gradient wanted: assignment needs no no_grad
    plain[1] = 5.0
    assert plain.data[1] == 5.0
    with pytest.raises(IndexError, match="setitem: index 7 is out of bounds"):
        plain[7] = 1.0


def test_setitem_on_an_operation_result_is_refused() -> None:
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = x * 2
    with cr.no_grad(), pytest.raises(GradientError, match="result of an operation"):
        y[0] = 0.0


def test_data_loader_takes_tensors() -> None:
    x = cr.tensor(np.arange(12.0).reshape(6, 2))
    y = cr.tensor(np.arange(6))
    batches = list(DataLoader((x, y), batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (2, 2)]
    np.testing.assert_array_equal(batches[1][1], [4, 5])
    assert [b[0].shape for b in DataLoader(x, batch_size=5)] == [(5, 2), (1, 2)]


def test_gradcheck_reports_true_derivatives_of_a_scalar_output() -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)

    class WrongSquareSum(Primitive):  # unnamed: stays out of the registry
        def forward(self, a: np.ndarray) -> np.ndarray:
            self.a = a
            return np.sum(a * a)

        def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
            return (g * 3 * self.a,)  # the true derivative is 2a

    with pytest.raises(GradientError, match=r"element \(1,\): analytic 6, numeric 4"):
        cr.gradcheck(lambda t: WrongSquareSum.apply(t), [x])
