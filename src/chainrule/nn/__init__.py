"""Neural-network building blocks: modules, parameters, layers, initializers, functional forms."""

from chainrule.nn import functional
from chainrule.nn.module import Module
from chainrule.nn.parameter import Buffer, Parameter

__all__ = ["functional", "Module", "Parameter", "Buffer"]
