"""The graph converters write into: ONNX nodes, weights as initializers, values with shapes.

A ``Value`` is a named tensor of the graph with the shape the exporter knows for it (``None``
for a dimension fixed only at run time, such as the batch). ``Graph.op`` appends one node and
returns its output values; ``Graph.convert`` hands a module to its converter inside the
module's name scope, so nodes and weights carry the module's dotted name (``"0.weight"``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.errors import ExportError
from chainrule.nn.module import Module

__all__ = ["Value", "Graph", "CONVERTERS", "INPUT_AXES", "register_converter", "Converter"]

#: Dimensions: an int is fixed, a str is a named run-time dimension ("batch", "steps"),
#: None a run-time dimension without a name.
Shape = tuple[int | str | None, ...]


@dataclass(frozen=True)
class Value:
    """A tensor of the graph: its name, known shape (see ``Shape``) and NumPy dtype."""

    name: str
    shape: Shape
    dtype: np.dtype

    @property
    def rank(self) -> int:
        return len(self.shape)


#: ``converter(graph, module, x) -> output``: writes the nodes computing ``module(x)`` in
#: eval mode and returns the output Value (or a tuple of them, mirroring the forward's return).
Converter = Callable[["Graph", Any, Any], Any]

#: Converters by layer class (exact class: a subclass may compute something else).
CONVERTERS: dict[type, Converter] = {}

#: ``axes(module, rank) -> {axis: name}``: the graph input's free axes when a model starts
#: with this layer (default: the batch, axis 0, for inputs of rank 2 or more).
INPUT_AXES: dict[type, Callable[[Any, int], dict[int, str]]] = {}


def register_converter(
    *classes: type, input_axes: Callable[[Any, int], dict[int, str]] | None = None
) -> Callable[[Converter], Converter]:
    """Register ``fn`` as the ONNX converter of each of ``classes`` (a decorator).

    ``input_axes(module, rank)`` names the input axes left free when a model starts with such
    a layer (the steps of a sequence, say); by default only the batch (axis 0) is.

    Examples
    --------
    >>> from chainrule.nn import Module
    >>> from chainrule.onnx import CONVERTERS, register_converter
    >>> class Double(Module):
    ...     def forward(self, x):
    ...         return x * 2
    >>> @register_converter(Double)
    ... def _double(graph, module, x):
    ...     return graph.op("Mul", [x, graph.scalar(2.0, "two", x.dtype)], x.shape)
    >>> CONVERTERS.pop(Double).__name__
    '_double'
    """

    def decorate(fn: Converter) -> Converter:
        for cls in classes:
            CONVERTERS[cls] = fn
            if input_axes is not None:
                INPUT_AXES[cls] = input_axes
        return fn

    return decorate


def _np_to_onnx(dtype: Any) -> int:
    """The ONNX element type of a NumPy dtype."""
    from onnx import helper

    return int(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


class Graph:
    """Nodes and initializers under construction, with unique names and module scopes."""

    def __init__(self, opset: int) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._taken: set[str] = set()
        self._node_names: set[str] = set()
        self._scope: list[str] = []
        self.path: list[str] = []  # class names of the modules being converted (for errors)

    # -- names ----------------------------------------------------------------------------------
    def fresh(self, hint: str, node: bool = False) -> str:
        """A name not used yet: the scope's dotted prefix, ``hint``, and a counter if needed
        (values and nodes are named apart, as ONNX keeps them)."""
        taken = self._node_names if node else self._taken
        base = ".".join([*self._scope, hint]) if self._scope else hint
        name, count = base, 1
        while name in taken:
            count += 1
            name = f"{base}_{count}"
        taken.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim ``name`` exactly (graph inputs and outputs)."""
        if name in self._taken:
            raise ExportError(f"the name {name!r} is used twice in the graph")
        self._taken.add(name)
        return name

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Names made inside the block start with ``name.``."""
        if name:
            self._scope.append(name)
        try:
            yield
        finally:
            if name:
                self._scope.pop()

    # -- building -------------------------------------------------------------------------------
    def constant(self, array: Any, hint: str, dtype: Any = None) -> Value:
        """An initializer holding ``array`` (cast to ``dtype`` when given)."""
        data = np.asarray(array, dtype=dtype)
        name = self.fresh(hint)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(data), name))
        return Value(name, tuple(int(d) for d in data.shape), data.dtype)

    def scalar(self, number: float, hint: str, dtype: Any) -> Value:
        """A 0-d initializer of ``dtype`` (a float factor, a fill value)."""
        return self.constant(np.asarray(number, dtype=dtype), hint)

    def ints(self, values: Sequence[int], hint: str) -> Value:
        """A 1-d int64 initializer (axes, shapes, indices)."""
        return self.constant(np.asarray(list(values), dtype=np.int64), hint)

    def op(
        self,
        op_type: str,
        inputs: Sequence[Value | None],
        shape: Shape,
        dtype: Any = None,
        *,
        extra_outputs: Sequence[tuple[Shape, Any]] = (),
        **attrs: Any,
    ) -> Any:
        """Append an ``op_type`` node; return its output Value (a tuple with extra outputs).

        ``None`` in ``inputs`` is an omitted optional input; ``shape`` and ``dtype`` (default:
        the first input's) describe the first output, ``extra_outputs`` any further ones.
        """
        first = next(v for v in inputs if v is not None)
        dtype = np.dtype(first.dtype if dtype is None else dtype)
        outs = [Value(self.fresh(op_type), tuple(shape), dtype)]
        outs += [
            Value(self.fresh(f"{op_type}_out"), tuple(s), np.dtype(d)) for s, d in extra_outputs
        ]
        self.nodes.append(
            self.helper.make_node(
                op_type,
                ["" if v is None else v.name for v in inputs],
                [v.name for v in outs],
                name=self.fresh(op_type, node=True),
                **attrs,
            )
        )
        return outs[0] if not extra_outputs else tuple(outs)

    def reduce(self, op: str, x: Value, axis: int, shape: Shape, keepdims: bool = False) -> Value:
        """``op`` (ReduceSum, ReduceMean, ReduceMax) over one axis; the axes are an input from
        opset 18 (13 for ReduceSum), an attribute before."""
        keep = int(keepdims)
        if op == "ReduceSum" or self.opset >= 18:
            return self.op(op, [x, self.ints([axis], "axes")], shape, keepdims=keep)  # type: ignore[no-any-return]
        return self.op(op, [x], shape, axes=[axis], keepdims=keep)  # type: ignore[no-any-return]

    def cast(self, x: Value, dtype: Any) -> Value:
        """``x`` converted to ``dtype`` (a Cast node; none when it already is)."""
        if x.dtype == np.dtype(dtype):
            return x
        return self.op("Cast", [x], x.shape, dtype, to=_np_to_onnx(dtype))  # type: ignore[no-any-return]

    def rename(self, value: Value, name: str) -> Value:
        """``value`` under the exact ``name`` (an Identity node), for graph outputs."""
        out = Value(self.reserve(name), value.shape, value.dtype)
        self.nodes.append(
            self.helper.make_node("Identity", [value.name], [out.name], name=self.fresh(name, True))
        )
        return out

    def value_info(self, value: Value) -> Any:
        """The ValueInfoProto of a graph input or output (run-time dimensions by name)."""
        dims = list(value.shape)
        return self.helper.make_tensor_value_info(value.name, _np_to_onnx(value.dtype), dims)

    # -- converting modules ---------------------------------------------------------------------
    def convert(self, module: Module, x: Any, name: str = "") -> Any:
        """The nodes of ``module(x)`` (eval mode), written by the converter of its class."""
        cls = type(module)
        self.path.append(cls.__name__ + (f" ({name!r})" if name else ""))
        try:
            converter = CONVERTERS.get(cls)
            if converter is None:
                known = ", ".join(sorted(c.__name__ for c in CONVERTERS))
                raise self.fail(
                    module,
                    f"no ONNX converter for the layer {cls.__name__}; layers with one: {known}. "
                    "Register one for a custom layer with chainrule.onnx.register_converter",
                )
            with self.scope(name):
                return converter(self, module, x)
        finally:
            self.path.pop()

    def fail(self, module: Module, why: str) -> ExportError:
        """An ExportError naming ``module`` (and where it sits) and why it cannot be exported."""
        where = " inside ".join(reversed(self.path)) or type(module).__name__
        return ExportError(f"cannot export {where}: {why}")
