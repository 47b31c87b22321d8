"""``export``: a chainrule model as an ONNX file, checked by ``onnx.checker`` (and optionally
run by ONNX Runtime against chainrule's own output)."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autodiff.mode import no_grad
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ExportError
from chainrule.io.atomic import atomic_write_bytes
from chainrule.nn.layers.container import Sequential
from chainrule.nn.module import Module
from chainrule.onnx.graph import INPUT_AXES, Graph, Shape, Value
from chainrule.onnx.preprocessing import PIXEL_MAX, describe_input, preprocessing_nodes

__all__ = ["export", "require", "run_onnxruntime", "MIN_OPSET"]

#: The oldest opset written: Softmax over one axis, Squeeze/Unsqueeze/ReduceSum axes as inputs.
MIN_OPSET = 13


def require(package: str) -> Any:
    """Import ``package`` (onnx, onnxruntime), or ConfigError with the install hint."""
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError:
        raise ConfigError(
            f'ONNX export needs the {package} package: pip install "chainrule[onnx]"'
        ) from None


def _first_layer(model: Module) -> Module:
    while isinstance(model, Sequential) and len(model):
        model = model[0]
    return model


def _dynamic_axes(model: Module, example: np.ndarray) -> dict[int, str]:
    """Axes left free in the graph's input: the batch, and the steps of sequences."""
    if example.dtype.kind in "iub":  # token ids (batch, steps)
        return {i: ("batch", "steps")[i] if i < 2 else f"dim{i}" for i in range(example.ndim)}
    first = _first_layer(model)
    axes = INPUT_AXES.get(type(first))
    if axes is not None:
        return axes(first, example.ndim)
    return {0: "batch"} if example.ndim >= 2 else {}  # a 1-d input is one unbatched sample


def _outputs(out: Any, graph: Graph, model: Module) -> list[Value]:
    """The converter's output structure flattened (an RNN gives (output, h_n), ...)."""
    if isinstance(out, Value):
        return [out]
    if isinstance(out, (tuple, list)):
        return [v for item in out for v in _outputs(item, graph, model)]
    raise graph.fail(model, f"its converter returned {type(out).__name__}, not graph values")


def _arrays(out: Any) -> list[np.ndarray]:
    """chainrule's output structure flattened the same way, as arrays."""
    if isinstance(out, Tensor):
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [a for item in out for a in _arrays(item)]
    return [np.asarray(out)]


def model_input(example: np.ndarray, pre: dict[str, Any] | None, dtype: Any) -> np.ndarray:
    """What the chainrule model itself gets for the graph's raw ``example`` (NumPy, float64
    arithmetic as ``chainrule predict`` does)."""
    if not pre or "mean" not in pre:
        return example
    x = example.astype(np.float64)
    if pre.get("kind") == "image":
        x = x / PIXEL_MAX
    x = (x - np.asarray(pre["mean"], np.float64)) / np.asarray(pre["std"], np.float64)
    return x.astype(dtype)


def _check_shapes(values: list[Value], arrays: list[np.ndarray], model: Module) -> None:
    """The shapes the converters worked out must be those chainrule produced (fixed axes)."""
    for value, array in zip(values, arrays):
        known = [(d, a) for d, a in zip(value.shape, array.shape) if isinstance(d, int)]
        if len(value.shape) != array.ndim or any(d != a for d, a in known):
            raise ExportError(
                f"cannot export {type(model).__name__}: the graph computes shape {value.shape} "
                f"where chainrule gives {array.shape} (a converter bug; please report it)"
            )


def run_onnxruntime(model: str | os.PathLike[str] | bytes, x: np.ndarray) -> list[np.ndarray]:
    """Run an exported model (a file, or its bytes) with ONNX Runtime on the CPU; its
    outputs in order."""
    ort = require("onnxruntime")
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [np.asarray(a) for a in session.run(None, {name: x})]


def export(
    model: Module | Any,
    path: str | os.PathLike[str],
    example_input: Any,
    opset: int = 17,
    *,
    preprocessing: dict[str, Any] | None = None,
    class_names: list[str] | None = None,
    probabilities: bool = False,
    dynamic_axes: dict[int, str] | None = None,
    verify: bool = False,
    atol: float = 1e-5,
) -> Path:
    """Write ``model`` (in eval mode) as an ONNX file and return its path.

    Each layer is written by the converter of its class (``chainrule.onnx.CONVERTERS``); a
    layer without one raises ``ExportError`` naming it and where it sits. The graph is checked
    with ``onnx.checker.check_model`` (full check, shape inference included) before the file
    is written, atomically.

    Parameters
    ----------
    model : Module or LoadedModel
        A ``LoadedModel`` (``chainrule.load``) brings its preprocessing and class names.
    path : str or PathLike
        The ``.onnx`` file to write.
    example_input : array_like
        One input as the graph takes it (its shape and dtype fix the graph's input; the
        dynamic axes are freed). With ``preprocessing`` these are raw values.
    opset : int
        The ONNX operator set (13 or newer).
    preprocessing : dict, optional
        What a model file stores (``LoadedModel.preprocessing``): its normalisation becomes
        the graph's first nodes, so the graph takes raw inputs (pixel values 0-255 for
        images) as ``chainrule predict`` does.
    class_names : list of str, optional
        Stored in the file's metadata (``class_names``, JSON).
    probabilities : bool
        Add a second output, ``probabilities``: the softmax of the last axis.
    dynamic_axes : dict, optional
        Input axes left free, by index and name; default: the batch (and, for token ids and
        recurrent layers, the steps).
    verify : bool
        Run the file with ONNX Runtime on ``example_input`` and raise ExportError when an
        output differs from chainrule's by more than ``atol``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 3, rng=1))
    >>> cr.onnx.export(model, "model.onnx", np.zeros((1, 4), np.float32))  # doctest: +SKIP
    PosixPath('model.onnx')
    """
    onnx = require("onnx")
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise ConfigError(f"export: opset must be an int, got {opset!r}")
    newest = int(onnx.defs.onnx_opset_version())
    if not MIN_OPSET <= opset <= newest:
        raise ConfigError(f"export: opset must be in [{MIN_OPSET}, {newest}], got {opset}")
    loaded = model if isinstance(getattr(model, "model", None), Module) else None
    if loaded is not None:  # a LoadedModel: its preprocessing and class names come along
        model = loaded.model
        preprocessing = preprocessing if preprocessing is not None else loaded.preprocessing
        class_names = class_names if class_names is not None else loaded.class_names
    if not isinstance(model, Module):
        raise ConfigError(f"export: model must be a chainrule Module, got {type(model).__name__}")
    example = np.asarray(example_input.data if isinstance(example_input, Tensor) else example_input)
    params = [p for p in model.parameters()]
    dtype = params[0].dtype if params else np.dtype(np.float32)
    if example.dtype.kind == "f" and example.dtype != dtype:
        example = example.astype(dtype)
    elif example.dtype.kind in "iub":
        example = example.astype(np.int64)
    dynamic = _dynamic_axes(model, example) if dynamic_axes is None else dict(dynamic_axes)

    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        graph = Graph(opset)
        shape: Shape = tuple(dynamic.get(i, int(d)) for i, d in enumerate(example.shape))
        x = Value(graph.reserve("input"), shape, example.dtype)
        outputs = _outputs(graph.convert(model, preprocessing_nodes(graph, x, preprocessing)),
                           graph, model)  # fmt: skip
        with no_grad():  # after converting: an unexportable layer is named before anything runs
            expected = _arrays(model(Tensor(model_input(example, preprocessing, dtype))))
    finally:
        for module, mode in modes:
            module.training = mode
    _check_shapes(outputs, expected, model)
    names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    outputs = [graph.rename(v, n) for v, n in zip(outputs, names)]
    if probabilities:
        if len(outputs) != 1:
            raise ExportError("export: probabilities=True needs a model with a single output")
        soft = graph.op("Softmax", [outputs[0]], outputs[0].shape, axis=-1)
        outputs.append(graph.rename(soft, "probabilities"))
        expected.append(_softmax(expected[0]))
    proto = _model_proto(onnx, graph, x, outputs, preprocessing, class_names)
    data = proto.SerializeToString()
    path = Path(path)
    if verify:  # before writing: a file that does not compute what the model does is not kept
        _verify(data, path, example, expected, atol)
    atomic_write_bytes(path, data)
    return path


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def _model_proto(
    onnx: Any,
    graph: Graph,
    x: Value,
    outputs: list[Value],
    pre: dict[str, Any] | None,
    class_names: list[str] | None,
) -> Any:
    """The ModelProto, checked: opset, the oldest IR version that has it, metadata."""
    from chainrule import __version__

    helper = onnx.helper
    described = describe_input(pre, x)
    body = helper.make_graph(
        graph.nodes,
        "chainrule",
        [graph.value_info(x)],
        [graph.value_info(v) for v in outputs],
        graph.initializers,
        doc_string=described,
    )
    opsets = [helper.make_opsetid("", graph.opset)]
    proto = helper.make_model(
        body,
        opset_imports=opsets,
        producer_name="chainrule",
        producer_version=__version__,
        ir_version=helper.find_min_ir_version_for(opsets),
        doc_string=described,
    )
    props = {"input": described}
    if class_names is not None:
        props["class_names"] = json.dumps(list(class_names))
    if pre:
        props["preprocessing"] = json.dumps(pre)
    helper.set_model_props(proto, props)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        raise ExportError(f"the exported graph fails onnx.checker: {err}") from None
    return proto


def _verify(
    data: bytes, path: Path, example: np.ndarray, expected: list[np.ndarray], atol: float
) -> None:
    """ExportError when ONNX Runtime's outputs differ from chainrule's by more than ``atol``."""
    got = run_onnxruntime(data, example)
    for i, (a, b) in enumerate(zip(got, expected)):
        if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=atol):
            diff = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
            raise ExportError(
                f"{path}: ONNX Runtime's output {i} differs from chainrule's (shapes "
                f"{a.shape} and {b.shape}, largest difference {diff:.3g} > atol {atol:g})"
            )
