"""ONNX converters of the feed-forward layers: Linear, activations, Dropout, BatchNorm1d,
Flatten, Identity, Sequential and Embedding (one small function per layer class)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.nn.layers.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from chainrule.nn.layers.batchnorm import BatchNorm1d
from chainrule.nn.layers.container import Flatten, Identity, Sequential
from chainrule.nn.layers.dropout import Dropout
from chainrule.nn.layers.embedding import Embedding
from chainrule.nn.layers.linear import Linear
from chainrule.onnx.graph import Graph, Shape, Value, register_converter

__all__ = ["float_input", "linear_nodes", "batchnorm_nodes", "identity"]


def float_input(graph: Graph, module: Any, x: Any) -> Value:
    """``x`` checked to be one tensor of floats (not ids, not a tuple of outputs)."""
    if not isinstance(x, Value):
        raise graph.fail(
            module,
            f"it receives {type(x).__name__} (several outputs of the layer before it); "
            "only a single tensor can feed it",
        )
    if x.dtype.kind != "f":
        raise graph.fail(module, f"it receives {x.dtype} values; it computes on floats")
    return x


def _known(dim: Any) -> bool:
    return isinstance(dim, int)


def linear_nodes(graph: Graph, module: Linear, x: Value) -> Value:
    """``x @ weight.T + bias``: one Gemm for 2-d inputs, MatMul (+ Add) for more axes."""
    if x.rank == 0 or (_known(x.shape[-1]) and x.shape[-1] != module.in_features):
        raise graph.fail(
            module,
            f"it takes inputs (..., {module.in_features}), got shape {x.shape} (a Flatten() "
            "in front turns images into vectors)",
        )
    dtype = module.weight.dtype
    shape = (*x.shape[:-1], module.out_features)
    bias = None if module.bias is None else graph.constant(module.bias.data, "bias", dtype)
    if x.rank == 2:
        weight = graph.constant(module.weight.data, "weight", dtype)
        return graph.op("Gemm", [x, weight, bias], shape, transB=1)  # type: ignore[no-any-return]
    weight_t = graph.constant(module.weight.data.T, "weight_T", dtype)
    y = graph.op("MatMul", [x, weight_t], shape)
    return y if bias is None else graph.op("Add", [y, bias], shape)  # type: ignore[no-any-return]


@register_converter(Linear)
def _linear(graph: Graph, module: Linear, x: Any) -> Value:
    return linear_nodes(graph, module, float_input(graph, module, x))


# -- activations ---------------------------------------------------------------------------------
_ELEMENTWISE = {ReLU: "Relu", Sigmoid: "Sigmoid", Tanh: "Tanh"}


@register_converter(*_ELEMENTWISE)
def _elementwise(graph: Graph, module: Any, x: Any) -> Value:
    x = float_input(graph, module, x)
    return graph.op(_ELEMENTWISE[type(module)], [x], x.shape)  # type: ignore[no-any-return]


@register_converter(LeakyReLU)
def _leaky_relu(graph: Graph, module: LeakyReLU, x: Any) -> Value:
    x = float_input(graph, module, x)
    return graph.op("LeakyRelu", [x], x.shape, alpha=module.negative_slope)  # type: ignore[no-any-return]


@register_converter(ELU)
def _elu(graph: Graph, module: ELU, x: Any) -> Value:
    x = float_input(graph, module, x)
    return graph.op("Elu", [x], x.shape, alpha=module.alpha)  # type: ignore[no-any-return]


@register_converter(GELU)
def _gelu(graph: Graph, module: GELU, x: Any) -> Value:
    """``0.5 x (1 + erf(x / sqrt 2))`` or the tanh form, composed (ONNX's Gelu needs opset 20)."""
    x = float_input(graph, module, x)
    dt, s = x.dtype, x.shape
    if module.approximate == "none":
        inner = graph.op("Mul", [x, graph.scalar(1.0 / math.sqrt(2.0), "rsqrt2", dt)], s)
        squash = graph.op("Erf", [inner], s)
    else:
        cube = graph.op("Mul", [graph.op("Mul", [x, x], s), x], s)
        cubic = graph.op("Add", [x, graph.op("Mul", [cube, graph.scalar(0.044715, "c", dt)], s)], s)
        inner = graph.op("Mul", [cubic, graph.scalar(math.sqrt(2.0 / math.pi), "k", dt)], s)
        squash = graph.op("Tanh", [inner], s)
    one_plus = graph.op("Add", [squash, graph.scalar(1.0, "one", dt)], s)
    half_x = graph.op("Mul", [x, graph.scalar(0.5, "half", dt)], s)
    return graph.op("Mul", [half_x, one_plus], s)  # type: ignore[no-any-return]


@register_converter(Softmax, LogSoftmax)
def _softmax(graph: Graph, module: Any, x: Any) -> Value:
    x = float_input(graph, module, x)
    if not -x.rank <= module.axis < x.rank:
        raise graph.fail(module, f"axis {module.axis} does not exist in inputs of shape {x.shape}")
    return graph.op(type(module).__name__, [x], x.shape, axis=module.axis)  # type: ignore[no-any-return]


# -- structure -----------------------------------------------------------------------------------
@register_converter(Dropout, Identity)
def identity(graph: Graph, module: Any, x: Any) -> Any:
    """Dropout is the identity at inference (eval mode): no node at all."""
    return x


@register_converter(Sequential)
def _sequential(graph: Graph, module: Sequential, x: Any) -> Any:
    for name, child in module.named_children():
        x = graph.convert(child, x, name)
    return x


@register_converter(Flatten)
def _flatten(graph: Graph, module: Flatten, x: Any) -> Value:
    """A Reshape: the axes before ``start_dim`` copied (0), the merged one inferred (-1)."""
    x = float_input(graph, module, x)
    nd = x.rank
    start, end = module.start_dim % max(nd, 1), module.end_dim % max(nd, 1)
    if not (-nd <= module.start_dim < nd and -nd <= module.end_dim < nd) or start > end:
        raise graph.fail(
            module, f"axes {module.start_dim} to {module.end_dim} do not fit {x.shape}"
        )
    after = x.shape[end + 1 :]
    if not all(_known(d) for d in after):
        raise graph.fail(module, f"the axes after end_dim must have fixed sizes, got {x.shape}")
    merged_dims = x.shape[start : end + 1]
    merged = math.prod(merged_dims) if all(_known(d) for d in merged_dims) else None  # type: ignore[arg-type]
    target = graph.ints([0] * start + [-1] + [int(d) for d in after], "shape")  # type: ignore[arg-type]
    shape: Shape = (*x.shape[:start], merged, *after)
    return graph.op("Reshape", [x, target], shape)  # type: ignore[no-any-return]


# -- normalisation and lookup --------------------------------------------------------------------
def batchnorm_nodes(graph: Graph, module: Any, x: Any, ranks: tuple[int, ...] = (2, 3)) -> Value:
    """ONNX BatchNormalization in inference form, with the running statistics."""
    x = float_input(graph, module, x)
    c = module.num_features
    if x.rank not in ranks or (_known(x.shape[1]) and x.shape[1] != c):
        shapes = " or ".join(f"(N, {c}{', ...' * (r - 2)})" for r in ranks)
        raise graph.fail(module, f"it takes {shapes} (features on axis 1), got shape {x.shape}")
    dtype = module.running_mean.dtype
    weight = np.ones(c) if module.weight is None else module.weight.data
    bias = np.zeros(c) if module.bias is None else module.bias.data
    inputs = [
        x,
        graph.constant(weight, "weight", dtype),
        graph.constant(bias, "bias", dtype),
        graph.constant(module.running_mean.data, "running_mean", dtype),
        graph.constant(module.running_var.data, "running_var", dtype),
    ]
    return graph.op("BatchNormalization", inputs, x.shape, epsilon=module.eps)  # type: ignore[no-any-return]


@register_converter(BatchNorm1d)
def _batchnorm(graph: Graph, module: BatchNorm1d, x: Any) -> Value:
    return batchnorm_nodes(graph, module, x, ranks=tuple(getattr(module, "ranks", (2, 3))))


@register_converter(Embedding)
def _embedding(graph: Graph, module: Embedding, x: Any) -> Value:
    """A Gather of the table's rows (ids given as floats are cast to int64 first)."""
    if not isinstance(x, Value):
        raise graph.fail(module, "it takes one tensor of token ids")
    ids = graph.cast(x, np.int64)
    table = graph.constant(module.weight.data, "weight", module.weight.dtype)
    shape = (*ids.shape, module.embedding_dim)
    return graph.op("Gather", [table, ids], shape, module.weight.dtype, axis=0)  # type: ignore[no-any-return]
