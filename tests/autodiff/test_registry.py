"""The primitive registry: Tensor's operators find primitives by name, so names are guarded."""

from __future__ import annotations

from typing import Any

import pytest

import chainrule as cr
from chainrule.autodiff import REGISTRY, Primitive
from chainrule.errors import ConfigError


def test_a_second_primitive_cannot_take_a_builtin_name() -> None:
    with pytest.raises(ConfigError, match=r"a primitive named 'add' already exists \(chainrule"):

        class Hijack(Primitive):
            name = "add"

    assert REGISTRY["add"].__module__ == "chainrule.autodiff.ops.elementwise"
    assert (cr.tensor([1.0]) + 1.0).data[0] == 2.0  # the operator still adds


def test_the_same_class_defined_again_replaces_itself() -> None:
    def define() -> Any:
        class Twice(Primitive):
            name = "test_twice"

        return Twice

    try:
        first, second = define(), define()
        assert REGISTRY["test_twice"] is second and first is not second
    finally:
        REGISTRY.pop("test_twice", None)
