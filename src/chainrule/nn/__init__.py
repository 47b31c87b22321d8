"""Neural-network building blocks: modules, parameters, layers, initializers, functional forms.

The loss Modules (``CrossEntropyLoss``, ...) live in ``chainrule.losses`` and are available
here too; they load on first access, since ``chainrule.losses`` itself builds on this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from chainrule.nn import functional, init, registry
from chainrule.nn.audio_models import AudioClassifier, audio_classifier
from chainrule.nn.layers import (
    ELU,
    GELU,
    GRU,
    LSTM,
    RNN,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout,
    Dropout2d,
    Embedding,
    Flatten,
    GRUCell,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    LSTMCell,
    MaxPool1d,
    MaxPool2d,
    ModuleDict,
    ModuleList,
    RandomFlip,
    RandomShift,
    ReLU,
    RNNCell,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from chainrule.nn.mlp import mlp
from chainrule.nn.module import Module
from chainrule.nn.parameter import Buffer, Parameter
from chainrule.nn.registry import LAYERS, layer_from_spec, layer_to_spec, register_layer
from chainrule.nn.sequence_models import (
    SequenceTagger,
    TextClassifier,
    gradient_norms_through_time,
    nearest_neighbours,
    tagger,
    text_classifier,
)

if TYPE_CHECKING:
    from chainrule.losses import (  # noqa: F401  (re-exported lazily below)
        BCELoss,
        BCEWithLogitsLoss,
        CrossEntropyLoss,
        HuberLoss,
        L1Loss,
        MSELoss,
        NLLLoss,
    )

_LOSSES = (
    "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss",
    "HuberLoss",
)  # fmt: skip

__all__ = [
    "functional", "init", "registry", "Module", "Parameter", "Buffer",
    "Linear", "Sequential", "ModuleList", "ModuleDict", "Flatten", "Identity", "Dropout",
    "BatchNorm1d",
    "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d", "BatchNorm2d", "Dropout2d", "RandomFlip", "RandomShift",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "Softmax", "LogSoftmax",
    "Embedding", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "LAYERS", "register_layer", "layer_to_spec", "layer_from_spec", "mlp",
    "text_classifier", "tagger", "TextClassifier", "SequenceTagger",
    "gradient_norms_through_time", "nearest_neighbours",
    "AudioClassifier", "audio_classifier",
    *_LOSSES,
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _LOSSES:
        raise AttributeError(f"module 'chainrule.nn' has no attribute {name!r}")
    value = getattr(importlib.import_module("chainrule.losses"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
