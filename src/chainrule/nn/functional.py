"""Functional forms of activations (and, later, losses and layers), composed from primitives."""

from __future__ import annotations

from chainrule.autodiff import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu"]
