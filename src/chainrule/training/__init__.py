"""Training: the Trainer loop, its History, gradient-health diagnostics and the LR range test."""

from chainrule.training.diagnostics import GradientHealth, GradientHealthWarning
from chainrule.training.history import History
from chainrule.training.lr_finder import LRFinderResult, lr_find
from chainrule.training.trainer import Trainer

__all__ = [
    "Trainer",
    "History",
    "GradientHealth",
    "GradientHealthWarning",
    "lr_find",
    "LRFinderResult",
]
