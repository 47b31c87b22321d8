"""The layers: Linear, containers, dropout, batch normalization and activation layers."""

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
from chainrule.nn.layers.linear import Linear
from chainrule.nn.layers.modulelist import ModuleDict, ModuleList

__all__ = [
    "Linear", "Sequential", "ModuleList", "ModuleDict", "Flatten", "Identity", "Dropout",
    "BatchNorm1d",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "Softmax", "LogSoftmax",
]  # fmt: skip
