"""Operation hooks: what they see, how they are removed, and anomaly mode as one of them."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff.anomaly import AnomalyHook
from chainrule.autodiff.hooks import OpHook, installed_op_hooks, op_hooks, register_op_hook
from chainrule.errors import AnomalyError

Record = list[tuple[str, dict[str, Any], tuple[Any, ...], tuple[Any, ...]]]


def recorder(log: Record) -> Any:
    return lambda op, inputs, outputs: log.append((op.name, dict(op.params), inputs, outputs))


def test_hook_sees_name_params_inputs_and_outputs() -> None:
    log: Record = []
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    with op_hooks(recorder(log)):
        y = x.sum(axis=1, keepdims=True)
        z = x * y
    assert [entry[0] for entry in log] == ["sum", "mul"]
    name, params, ins, outs = log[0]
    assert params == {"axis": 1, "keepdims": True}
    assert ins == (x,) and outs == (y,)
    assert log[1][2] == (x, y) and log[1][3] == (z,)
    assert not installed_op_hooks()  # the block removed it


def test_hooked_results_match_and_backward_still_works() -> None:
    x = cr.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    with op_hooks(lambda op, inputs, outputs: None):
        loss = (x.relu() * x).sum()
    loss.backward()
    np.testing.assert_allclose(loss.data, 10.0)
    np.testing.assert_allclose(x.grad, [2.0, 0.0, 6.0])


def test_register_returns_a_remover() -> None:
    log: Record = []
    remove = register_op_hook(recorder(log))
    try:
        cr.tensor([1.0]).exp()
    finally:
        remove()
    cr.tensor([1.0]).exp()
    assert [entry[0] for entry in log] == ["exp"]
    remove()  # a second call is harmless


def test_before_step_runs_before_the_forward() -> None:
    events: list[str] = []

    class Around(OpHook):
        def before(self, op: Any, inputs: tuple[Any, ...]) -> None:
            events.append(f"before {op.name} outputs={hasattr(op, 'inputs')}")

        def __call__(self, op: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
            events.append(f"after {op.name} {outputs[0].shape}")

    with op_hooks(Around()):
        cr.tensor(np.zeros((2, 2)), requires_grad=True).tanh()
    assert events == ["before tanh outputs=False", "after tanh (2, 2)"]


def test_hooks_are_per_thread() -> None:
    log: Record = []
    with op_hooks(recorder(log)):
        worker = threading.Thread(target=lambda: cr.tensor([1.0]).exp())
        worker.start()
        worker.join()
        cr.tensor([1.0]).log()
    assert [entry[0] for entry in log] == ["log"]


def test_non_callable_hook_is_refused() -> None:
    with pytest.raises(TypeError, match="must be callable, got int"):
        register_op_hook(3)  # type: ignore[arg-type]


def test_anomaly_mode_is_an_operation_hook() -> None:
    assert not installed_op_hooks()
    with cr.detect_anomaly():
        hooks = installed_op_hooks()
        assert len(hooks) == 1 and isinstance(hooks[0], AnomalyHook)
        with cr.detect_anomaly():  # nested: still one check per op
            assert len(installed_op_hooks()) == 1
    assert not installed_op_hooks()


def test_anomaly_hook_alongside_a_user_hook_names_the_op() -> None:
    log: Record = []
    x = cr.tensor(np.array([-1.0]), requires_grad=True)
    expected = r"forward of 'sqrt' produced NaN.*test_hooks.py"
    with op_hooks(recorder(log)), cr.detect_anomaly(), pytest.raises(AnomalyError, match=expected):
        x.sqrt()
    assert [entry[0] for entry in log] == ["sqrt"]  # the user's hook ran before the check raised
