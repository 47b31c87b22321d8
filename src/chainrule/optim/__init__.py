"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) and learning-rate schedules."""

from chainrule.optim import lr_scheduler
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.factory import OPTIMIZERS, create, optimizer_classes
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.param_groups import weight_decay_groups
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.schedules import (
    CosineLR,
    ExponentialLR,
    MultiStepLR,
    ReduceLROnPlateau,
    Schedule,
    StepLR,
    cosine_lr,
    exponential_lr,
    multi_step_lr,
    schedule_from_config,
    step_lr,
)
from chainrule.optim.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Schedule",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineLR",
    "step_lr",
    "multi_step_lr",
    "exponential_lr",
    "cosine_lr",
    "schedule_from_config",
    "ReduceLROnPlateau",
    "create",
    "OPTIMIZERS",
    "optimizer_classes",
    "weight_decay_groups",
    "lr_scheduler",
]
