"""Primitives with several outputs: each output a tensor in the graph, gradients checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import REGISTRY, Primitive
from chainrule.errors import GradientError


@pytest.fixture
def prod_exp() -> Iterator[type[Primitive]]:
    """A two-output primitive ``(x * y, exp(x))``, defined here and unregistered afterwards."""

    class ProdExp(Primitive):
        name = "test_prod_exp"
        n_outputs = 2

        def forward(self, x: Any, y: Any) -> tuple[Any, Any]:
            self.x, self.y, self.e = x, y, np.exp(x)
            return x * y, self.e

        def backward(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
            self.seen = grads
            ga, gb = grads
            gx = np.zeros_like(self.x)
            if ga is not None:
                gx = gx + ga * self.y
            if gb is not None:
                gx = gx + gb * self.e
            gy = None if ga is None else ga * self.x
            return gx, gy

    yield ProdExp
    REGISTRY.pop("test_prod_exp", None)


rng = np.random.default_rng(7)


def inputs() -> list[cr.Tensor]:
    return [
        cr.tensor(rng.uniform(-1, 1, (3, 4)), requires_grad=True),
        cr.tensor(rng.uniform(-1, 1, (4,)), requires_grad=True),  # broadcast over rows
    ]


def test_apply_returns_a_tuple_of_tensors_in_the_graph(prod_exp: type[Primitive]) -> None:
    x, y = inputs()
    a, b = prod_exp.apply(x, y)
    assert isinstance(a, cr.Tensor) and isinstance(b, cr.Tensor)
    np.testing.assert_allclose(a.data, x.data * y.data)
    np.testing.assert_allclose(b.data, np.exp(x.data))
    assert a.requires_grad and b.requires_grad and not a.is_leaf


def test_both_outputs_used_gradcheck(prod_exp: type[Primitive]) -> None:
    def fn(x: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
        a, b = prod_exp.apply(x, y)
        return (a * b.tanh()).sum() + (b * 2.0).mean()

    assert cr.gradcheck(fn, inputs())


def test_only_first_output_used_gradcheck(prod_exp: type[Primitive]) -> None:
    assert cr.gradcheck(lambda x, y: prod_exp.apply(x, y)[0], inputs())


def test_only_second_output_used_gradcheck(prod_exp: type[Primitive]) -> None:
    x, y = inputs()
    assert cr.gradcheck(lambda x, y: prod_exp.apply(x, y)[1] * y, [x, y])


def test_one_output_used_twice_gradcheck(prod_exp: type[Primitive]) -> None:
    def fn(x: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
        a, _ = prod_exp.apply(x, y)
        return a * a + a.sigmoid()

    assert cr.gradcheck(fn, inputs())


def test_backward_runs_once_with_none_for_an_unused_output(prod_exp: type[Primitive]) -> None:
    x, y = inputs()
    a, b = prod_exp.apply(x, y)
    op = b._op.inputs[0]._op  # the selection's input is the op's hidden node
    calls = []
    original = op.backward

    def spy(grads: tuple[Any, ...]) -> tuple[Any, ...]:
        calls.append(tuple(g is None for g in grads))
        return original(grads)

    op.backward = spy
    (b * 3.0 + b).sum().backward()
    assert calls == [(True, False)]  # once, after both uses of b, and a's slot is None
    np.testing.assert_allclose(x.grad, 4.0 * np.exp(x.data))
    assert y.grad is None  # the op gave no gradient for y when only b was used


def test_gradient_of_each_output_arrives_whole(prod_exp: type[Primitive]) -> None:
    x, y = inputs()
    a, b = prod_exp.apply(x, y)
    (a.sum() * 2.0 + (b * b).sum()).backward()
    np.testing.assert_allclose(x.grad, 2.0 * y.data + 2.0 * np.exp(x.data) ** 2)
    np.testing.assert_allclose(y.grad, 2.0 * x.data.sum(axis=0))


def test_no_graph_under_no_grad(prod_exp: type[Primitive]) -> None:
    x, y = inputs()
    with cr.no_grad():
        a, b = prod_exp.apply(x, y)
    assert not a.requires_grad and not b.requires_grad and a.is_leaf


def test_graph_is_freed_after_backward(prod_exp: type[Primitive]) -> None:
    x, y = inputs()
    a, b = prod_exp.apply(x, y)
    a.sum().backward()
    with pytest.raises(GradientError, match="freed"):
        b.sum().backward()


def test_integer_outputs_carry_no_gradient() -> None:
    class MaxArg(Primitive):
        n_outputs = 2  # no name: not registered, so it needs no samples

        def forward(self, x: Any) -> tuple[Any, Any]:
            self.arg, self.shape = x.argmax(axis=1), x.shape
            return x.max(axis=1), self.arg

        def backward(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
            g = np.zeros(self.shape)
            g[np.arange(self.shape[0]), self.arg] = grads[0]
            return (g,)

    x = cr.tensor(np.array([[1.0, 3.0], [4.0, 2.0]]), requires_grad=True)
    values, where = MaxArg.apply(x)
    assert values.requires_grad and not where.requires_grad
    np.testing.assert_array_equal(where.data, [1, 0])
    assert cr.gradcheck(lambda t: MaxArg.apply(t)[0], [x])


def test_forward_returning_the_wrong_count_is_refused() -> None:
    class Bad(Primitive):
        n_outputs = 3

        def forward(self, x: Any) -> tuple[Any, Any]:
            return x, x

    with pytest.raises(GradientError, match=r"returned a tuple of 2; expected a tuple of n_outp"):
        Bad.apply(cr.tensor([1.0]))


def test_single_output_apply_is_untouched() -> None:
    class Single(Primitive):
        pass

    class Multi(Primitive):
        n_outputs = 2

    assert Single.apply.__func__ is Primitive.apply.__func__  # type: ignore[attr-defined]
    assert Multi.apply.__func__ is not Primitive.apply.__func__  # type: ignore[attr-defined]


def test_hooks_see_every_output_and_the_params(prod_exp: type[Primitive]) -> None:
    from chainrule.autodiff.hooks import op_hooks

    seen: list[Any] = []
    x, y = inputs()
    with op_hooks(lambda op, ins, outs: seen.append((op.name, op.params, ins, outs))):
        a, b = prod_exp.apply(x, y, **{})
    assert seen == [("test_prod_exp", {}, (x, y), (a, b))]
    assert cr.gradcheck(lambda x, y: prod_exp.apply(x, y)[0], [x, y])  # graph intact when hooked
