"""ONNX export: ``chainrule.onnx.export(model, "model.onnx", example_input)``.

Needs the optional extra (``pip install "chainrule[onnx]"``: the ``onnx`` package builds and
checks the graph, ``onnxruntime`` runs it); chainrule's core never imports them. Each layer
class has one converter function (``CONVERTERS``, filled with ``register_converter``) that
writes its eval-mode computation as ONNX nodes; a layer without one cannot be exported and
``ExportError`` names it.
"""

from chainrule.onnx import audio, conv, layers, recurrent  # noqa: F401  (converters register)
from chainrule.onnx.export import MIN_OPSET, export, run_onnxruntime
from chainrule.onnx.graph import CONVERTERS, INPUT_AXES, Graph, Value, register_converter

__all__ = [
    "export",
    "run_onnxruntime",
    "register_converter",
    "CONVERTERS",
    "INPUT_AXES",
    "Graph",
    "Value",
    "MIN_OPSET",
]
