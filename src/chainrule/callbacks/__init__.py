"""Callbacks: hooks into the training loop (early stopping, checkpoints, schedules, progress)."""

from chainrule.callbacks.base import Callback, CallbackList
from chainrule.callbacks.checkpoint import ModelCheckpoint, save_weights
from chainrule.callbacks.csv_logger import CSVLogger
from chainrule.callbacks.early_stopping import EarlyStopping
from chainrule.callbacks.nan import TerminateOnNaN
from chainrule.callbacks.progress import ProgressBar
from chainrule.callbacks.schedule import LearningRateScheduler, ReduceLROnPlateau
from chainrule.callbacks.tensorboard import TensorBoard

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "ModelCheckpoint",
    "save_weights",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "ProgressBar",
    "CSVLogger",
    "TensorBoard",
]
