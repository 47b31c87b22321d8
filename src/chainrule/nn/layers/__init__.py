"""The layers: Linear, containers, dropout, batch normalization, activations, convolution and
pooling, data augmentation, embeddings and recurrent layers."""

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
from chainrule.nn.layers.augment import RandomFlip, RandomShift
from chainrule.nn.layers.batchnorm import BatchNorm1d, BatchNorm2d
from chainrule.nn.layers.container import Flatten, Identity, Sequential
from chainrule.nn.layers.conv import Conv1d, Conv2d
from chainrule.nn.layers.dropout import Dropout, Dropout2d
from chainrule.nn.layers.embedding import Embedding
from chainrule.nn.layers.linear import Linear
from chainrule.nn.layers.modulelist import ModuleDict, ModuleList
from chainrule.nn.layers.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from chainrule.nn.layers.recurrent import GRU, LSTM, RNN
from chainrule.nn.layers.recurrent_cells import GRUCell, LSTMCell, RNNCell

__all__ = [
    "Linear", "Sequential", "ModuleList", "ModuleDict", "Flatten", "Identity", "Dropout",
    "BatchNorm1d",
    "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d", "BatchNorm2d", "Dropout2d", "RandomFlip", "RandomShift",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "Softmax", "LogSoftmax",
    "Embedding", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
]  # fmt: skip
