"""The layers: Linear, containers, dropout, batch normalization, activations, embeddings and
recurrent layers."""

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
from chainrule.nn.layers.modulelist import ModuleDict, ModuleList
from chainrule.nn.layers.recurrent import GRU, LSTM, RNN
from chainrule.nn.layers.recurrent_cells import GRUCell, LSTMCell, RNNCell

__all__ = [
    "Linear", "Sequential", "ModuleList", "ModuleDict", "Flatten", "Identity", "Dropout",
    "BatchNorm1d",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "Softmax", "LogSoftmax",
    "Embedding", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
]  # fmt: skip
