"""The error types chainrule raises: one small hierarchy, so callers can catch by kind."""

from __future__ import annotations

__all__ = [
    "ChainruleError",
    "ShapeError",
    "TensorIndexError",
    "DtypeError",
    "GradientError",
    "AnomalyError",
    "ConfigError",
    "FormatError",
    "DataNotFoundError",
    "ExportError",
]


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Arrays whose shapes do not fit the operation or layer they were given to."""


class TensorIndexError(ShapeError, IndexError):
    """An index out of range for a tensor: an IndexError, so Python's idioms see it as one."""


class DtypeError(ChainruleError, TypeError):
    """An array of the wrong dtype (for example integers where gradients are needed)."""


class GradientError(ChainruleError, RuntimeError):
    """The backward pass cannot run, or a gradient check found a wrong gradient."""


class AnomalyError(GradientError):
    """A NaN or infinity appeared in the forward or backward pass under ``detect_anomaly``."""


class ConfigError(ChainruleError, ValueError):
    """An invalid hyperparameter, option or combination of options."""


class FormatError(ChainruleError, ValueError):
    """A file that is corrupt, truncated, of the wrong kind, or hostile."""


class DataNotFoundError(ChainruleError, FileNotFoundError):
    """A data set that is in none of the places looked in and cannot be downloaded."""


class ExportError(ConfigError):
    """A model (or one of its layers) that cannot be written in an exchange format (ONNX)."""
