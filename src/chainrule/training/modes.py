"""Saving and restoring the train/eval mode of every module of a model."""

from __future__ import annotations

from chainrule.nn.module import Module

__all__ = ["module_modes", "restore_modes"]


def module_modes(model: Module) -> list[tuple[Module, bool]]:
    """Each module of ``model`` with its ``training`` flag, for ``restore_modes``."""
    return [(m, m.training) for m in model.modules()]


def restore_modes(modes: list[tuple[Module, bool]]) -> None:
    """Put every module back in the mode ``module_modes`` recorded."""
    for module, mode in modes:
        object.__setattr__(module, "training", mode)
