"""ONNX converters of convolution, pooling, BatchNorm2d, Dropout2d and the augmentation layers
(ONNX Conv, MaxPool, AveragePool, BatchNormalization; the identity for the training-only ones).

The functions read the layers' attributes (PyTorch's: ``kernel_size``, ``stride``,
``padding``, ``dilation``, ``groups``, ``weight`` ``(out, in / groups, *kernel)``, ``bias``),
so they serve Conv1d and Conv2d, the 1-d and 2-d pools alike; ``register_conv_layers``
attaches them to the library's classes where those exist.
"""

from __future__ import annotations

import importlib
from typing import Any

from chainrule.onnx.graph import Graph, Shape, Value, register_converter
from chainrule.onnx.layers import batchnorm_nodes, float_input, identity

__all__ = [
    "conv_nodes",
    "max_pool_nodes",
    "avg_pool_nodes",
    "adaptive_avg_pool_nodes",
    "onnx_pads",
    "register_conv_layers",
]


def onnx_pads(module: Any) -> list[int]:
    """ONNX ``pads`` ``[begin of each axis..., end of each axis...]`` of a layer's padding:
    ints (both sides), ``"valid"`` (none) or ``"same"`` (``d * (k - 1)`` in all, the odd one
    after, as PyTorch)."""
    kernel = tuple(module.kernel_size)
    dilation = tuple(getattr(module, "dilation", (1,) * len(kernel)))
    padding = module.padding
    if padding == "valid":
        pairs = [(0, 0)] * len(kernel)
    elif padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        pairs = [(t // 2, t - t // 2) for t in totals]
    else:
        pads = (padding,) * len(kernel) if isinstance(padding, int) else tuple(padding)
        pairs = [(int(p), int(p)) for p in pads]
    return [b for b, _ in pairs] + [a for _, a in pairs]


def _spatial(x: Value, module: Any, pads: list[int], dilation: tuple[int, ...]) -> Shape:
    """Output sizes of the spatial axes (floor mode); None where the input's is not fixed."""
    n = len(module.kernel_size)
    sizes: list[int | str | None] = []
    for axis, (size, k, s, d) in enumerate(
        zip(x.shape[2:], module.kernel_size, module.stride, dilation)
    ):
        if not isinstance(size, int):
            sizes.append(None)
            continue
        span = size + pads[axis] + pads[axis + n] - d * (k - 1) - 1
        sizes.append(span // s + 1)
    return tuple(sizes)


def _image_input(graph: Graph, module: Any, x: Any, what: str) -> Value:
    x = float_input(graph, module, x)
    dims = len(module.kernel_size) if hasattr(module, "kernel_size") else len(module.output_size)
    if x.rank != dims + 2:
        axes = "L" if dims == 1 else "H, W"
        raise graph.fail(
            module, f"it takes {what} (N, C, {axes}), got shape {x.shape} (exported batched)"
        )
    return x


def conv_nodes(graph: Graph, module: Any, x: Any) -> Value:
    """One ONNX Conv: weight ``(out, in / groups, *kernel)``, pads, strides, dilations."""
    x = _image_input(graph, module, x, "inputs")
    channels = x.shape[1]
    if isinstance(channels, int) and channels != module.in_channels:
        raise graph.fail(module, f"it takes {module.in_channels} channels, got {x.shape}")
    dtype = module.weight.dtype
    pads = onnx_pads(module)
    dilation = tuple(module.dilation)
    weight = graph.constant(module.weight.data, "weight", dtype)
    bias = None if module.bias is None else graph.constant(module.bias.data, "bias", dtype)
    shape = (x.shape[0], module.out_channels, *_spatial(x, module, pads, dilation))
    return graph.op(  # type: ignore[no-any-return]
        "Conv",
        [x, weight, bias],
        shape,
        kernel_shape=list(module.kernel_size),
        strides=list(module.stride),
        pads=pads,
        dilations=list(dilation),
        group=module.groups,
    )


def max_pool_nodes(graph: Graph, module: Any, x: Any) -> Value:
    """ONNX MaxPool (padding never wins: it counts as -inf, as in PyTorch)."""
    x = _image_input(graph, module, x, "inputs")
    pads = onnx_pads(module)
    dilation = tuple(getattr(module, "dilation", (1,) * len(module.kernel_size)))
    attrs: dict[str, Any] = {"kernel_shape": list(module.kernel_size),
                             "strides": list(module.stride), "pads": pads}  # fmt: skip
    if any(d != 1 for d in dilation):
        attrs["dilations"] = list(dilation)
    shape = (x.shape[0], x.shape[1], *_spatial(x, module, pads, dilation))
    return graph.op("MaxPool", [x], shape, **attrs)  # type: ignore[no-any-return]


def avg_pool_nodes(graph: Graph, module: Any, x: Any) -> Value:
    """ONNX AveragePool; ``count_include_pad`` as the layer's."""
    x = _image_input(graph, module, x, "inputs")
    pads = onnx_pads(module)
    shape = (x.shape[0], x.shape[1], *_spatial(x, module, pads, (1,) * len(module.kernel_size)))
    return graph.op(  # type: ignore[no-any-return]
        "AveragePool",
        [x],
        shape,
        kernel_shape=list(module.kernel_size),
        strides=list(module.stride),
        pads=pads,
        count_include_pad=int(bool(getattr(module, "count_include_pad", True))),
    )


def adaptive_avg_pool_nodes(graph: Graph, module: Any, x: Any) -> Value:
    """Windows ``[floor(i*s/o), ceil((i+1)*s/o))`` per axis: GlobalAveragePool for size 1,
    else one ReduceMean per window (the mean over a box is the mean over each axis in turn)."""
    x = _image_input(graph, module, x, "inputs")
    sizes = tuple(module.output_size)
    if all(o == 1 for o in sizes):
        return graph.op("GlobalAveragePool", [x], (*x.shape[:2], *sizes))  # type: ignore[no-any-return]
    if not all(isinstance(s, int) for s in x.shape[2:]):
        raise graph.fail(module, f"the spatial sizes must be fixed, got {x.shape}")
    for i, (size, out) in enumerate(zip(x.shape[2:], sizes)):
        axis = 2 + i
        n = int(size)  # type: ignore[arg-type]  # fixed: checked above
        windows = [(j * n // out, -(-(j + 1) * n // out)) for j in range(out)]
        parts = []
        shape = list(x.shape)
        shape[axis] = 1
        for lo, hi in windows:
            piece = graph.op("Slice", [x, graph.ints([lo], "start"), graph.ints([hi], "end"),
                                       graph.ints([axis], "axes")], x.shape)  # fmt: skip
            parts.append(graph.reduce("ReduceMean", piece, axis, tuple(shape), keepdims=True))
        shape[axis] = out
        x = parts[0] if len(parts) == 1 else graph.op("Concat", parts, tuple(shape), axis=axis)
    return x


def _batchnorm2d(graph: Graph, module: Any, x: Any) -> Value:
    return batchnorm_nodes(graph, module, x, ranks=tuple(getattr(module, "ranks", (4,))))


#: The library's layer classes (by module and name) and the converter of each.
_LIBRARY = {
    ("chainrule.nn.layers.conv", "Conv1d"): conv_nodes,
    ("chainrule.nn.layers.conv", "Conv2d"): conv_nodes,
    ("chainrule.nn.layers.pooling", "MaxPool1d"): max_pool_nodes,
    ("chainrule.nn.layers.pooling", "MaxPool2d"): max_pool_nodes,
    ("chainrule.nn.layers.pooling", "AvgPool1d"): avg_pool_nodes,
    ("chainrule.nn.layers.pooling", "AvgPool2d"): avg_pool_nodes,
    ("chainrule.nn.layers.pooling", "AdaptiveAvgPool1d"): adaptive_avg_pool_nodes,
    ("chainrule.nn.layers.pooling", "AdaptiveAvgPool2d"): adaptive_avg_pool_nodes,
    ("chainrule.nn.layers.batchnorm", "BatchNorm2d"): _batchnorm2d,
    ("chainrule.nn.layers.dropout", "Dropout2d"): identity,  # eval mode: the identity
    ("chainrule.nn.layers.augment", "RandomFlip"): identity,  # training-time only
    ("chainrule.nn.layers.augment", "RandomShift"): identity,
}


def register_conv_layers() -> list[str]:
    """Attach the converters to the convolution and pooling layers this chainrule has (the
    names registered); layers it lacks are skipped."""
    done = []
    for (module_name, name), fn in _LIBRARY.items():
        try:
            cls = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue
        register_converter(cls)(fn)
        done.append(name)
    return done


register_conv_layers()
