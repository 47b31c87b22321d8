"""The multilayer perceptron of the seed text, built from the library's layers in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.errors import ConfigError
from chainrule.nn.layers import BatchNorm1d, Dropout, Linear, Sequential
from chainrule.nn.module import Module
from chainrule.nn.registry import ACTIVATIONS
from chainrule.rng import as_generator

__all__ = ["mlp", "ACTIVATIONS"]

# He initialisation suits the ReLU family; Glorot suits saturating and linear units.
_GLOROT = {"tanh", "sigmoid", "logistic", "identity"}


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    rng: Any = None,
    init: str | None = None,
) -> Sequential:
    """``[Linear -> (BatchNorm1d) -> activation -> (Dropout)]`` per hidden layer, then ``Linear``.

    Hidden ``Linear`` layers use He initialisation for the ReLU family and Glorot for tanh,
    sigmoid and identity, or ``init`` (any name ``Linear`` accepts) for all of them, e.g.
    ``"glorot"`` as scikit-learn's MLP does; the output layer uses Glorot. One generator
    (``rng``: a ``numpy.random.Generator`` or a seed) feeds every initialisation and dropout
    mask in order.

    Examples
    --------
    >>> from chainrule import nn
    >>> nn.mlp(784, [256], 10, dropout=0.2, rng=0)
    Sequential(
      (0): Linear(784 -> 256, bias=True)
      (1): ReLU()
      (2): Dropout(p=0.2)
      (3): Linear(256 -> 10, bias=True)
    )
    """
    if activation not in ACTIVATIONS:
        raise ConfigError(
            f"mlp: activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}"
        )
    generator = as_generator(rng)
    if init is None:
        init = "glorot" if activation in _GLOROT else "he"
    layers: list[Module] = []
    width = in_features
    for size in hidden:
        layers.append(Linear(width, size, init=init, rng=generator))
        if batch_norm:
            layers.append(BatchNorm1d(size))
        layers.append(ACTIVATIONS[activation]())
        if dropout:
            layers.append(Dropout(dropout, rng=generator))
        width = size
    layers.append(Linear(width, out_features, init="glorot", rng=generator))
    return Sequential(*layers)
