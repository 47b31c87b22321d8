"""The settings of a training run: defaults, a TOML/JSON config file, then command-line flags."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainrule.errors import ConfigError, FormatError
from chainrule.nn.registry import activation_names
from chainrule.optim import OPTIMIZERS as OPTIMIZER_CLASSES

DATASETS = ("digits", "mnist", "fashion-mnist")
ACTIVATIONS = activation_names()  # from the layer registry (@register_layer(activation=...))
OPTIMIZERS = tuple(OPTIMIZER_CLASSES)  # every optimizer class of chainrule.optim
SCHEDULES = ("constant", "step", "exponential", "cosine", "plateau")


@dataclass
class TrainConfig:
    """Every setting of ``chainrule train``; the defaults train the seed's digit classifier."""

    dataset: str = "digits"
    data_dir: str | None = None
    csv: str | None = None
    hidden: list[int] = field(default_factory=lambda: [256])
    activation: str = "relu"
    dropout: float = 0.2
    batch_norm: bool = False
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    max_norm: float | None = None
    clip_grad: float | None = None
    batch_size: int = 32
    epochs: int = 40
    schedule: str = "constant"
    warmup_epochs: int = 0
    early_stopping: int | None = None
    validation_split: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-safe dict."""
        return dataclasses.asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        """Every setting's name."""
        return [f.name for f in dataclasses.fields(cls)]

    def validate(self) -> TrainConfig:
        """Raise ConfigError naming the first setting that is out of range; return self."""
        _choice("dataset", self.dataset, DATASETS)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ConfigError(
                f"hidden: expected one or more positive layer sizes, got {self.hidden}"
            )
        _range("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _range("lr", self.lr, 0.0, math.inf, low_open=True)
        _range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        for name in ("weight_decay", "l1", "l2"):
            _range(name, getattr(self, name), 0.0, math.inf)
        for name in ("max_norm", "clip_grad"):
            if getattr(self, name) is not None:
                _range(name, getattr(self, name), 0.0, math.inf, low_open=True)
        for name in ("batch_size", "epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(
                    f"{name}: expected a positive integer, got {getattr(self, name)!r}"
                )
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ConfigError(f"early_stopping: patience must be >= 1, got {self.early_stopping}")
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs:
            raise ConfigError(
                f"warmup_epochs: expected 0 <= warmup_epochs < epochs ({self.epochs}), "
                f"got {self.warmup_epochs}"
            )
        _range("validation_split", self.validation_split, 0.0, 1.0, high_open=True)
        if self.early_stopping is not None and self.validation_split == 0:
            raise ConfigError("early_stopping needs a validation set: set --validation-split > 0")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError("nesterov: needs --optimizer sgd with --momentum > 0")
        return self


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")


def _range(
    name: str,
    value: Any,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        lo, hi = ("(" if low_open else "[") + f"{low:g}", f"{high:g}" + (")" if high_open else "]")
        raise ConfigError(f"{name}: expected a number in {lo}, {hi}, got {value!r}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read settings from a TOML or JSON file; keys may use dashes or underscores."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_bytes()
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text.decode("utf-8"))
        else:
            data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise FormatError(
            f"config file {path}: not valid {path.suffix[1:] or 'JSON'}: {err}"
        ) from None
    if not isinstance(data, dict):
        raise FormatError(f"config file {path}: expected a table of settings at the top level")
    settings = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(settings) - set(TrainConfig.names()))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown settings {unknown}; "
            f"known: {', '.join(TrainConfig.names())}"
        )
    return settings


def build_config(file_settings: dict[str, Any], flag_settings: dict[str, Any]) -> TrainConfig:
    """Defaults, overridden by the config file, overridden by flags given on the command line."""
    merged = {**file_settings, **{k: v for k, v in flag_settings.items() if v is not None}}
    if isinstance(merged.get("hidden"), int):
        merged["hidden"] = [merged["hidden"]]
    try:
        config = TrainConfig(**merged)
    except TypeError as err:
        raise ConfigError(f"bad settings: {err}") from None
    return config.validate()
