"""The settings of a training run: defaults, a TOML/JSON config file, then command-line flags."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainrule.cli.config_file import read_settings_file
from chainrule.errors import ConfigError
from chainrule.nn.registry import activation_names
from chainrule.optim import OPTIMIZERS as OPTIMIZER_CLASSES

DATASETS = ("digits", "mnist", "fashion-mnist")
ACTIVATIONS = activation_names()  # from the layer registry (@register_layer(activation=...))
OPTIMIZERS = tuple(OPTIMIZER_CLASSES)  # every optimizer class of chainrule.optim
SCHEDULES = ("constant", "step", "exponential", "cosine", "plateau")
#: ``--arch``: the network families beyond the default MLP, one tuple for every data kind. Text
#: (``--text-dir``, ``--text-csv``, ``--tagged``) takes the recurrent ones; audio
#: (``--audio-dir``) takes gru, lstm, dense (pooled frame statistics) or conv1d; images cnn.
ARCHS = ("lstm", "gru", "rnn", "dense", "conv1d", "cnn")
ARCHITECTURES = ARCHS
#: The recurrent archs (text models: Embedding -> RNN/LSTM/GRU -> Linear).
RECURRENT_ARCHS = ("lstm", "gru", "rnn")
#: What image data (a data set or an IDX folder) trains besides the default MLP.
IMAGE_ARCHS = ("cnn",)
#: What --augment can do to each training image (chainrule.cli.cnn builds the layers).
AUGMENTATIONS = ("flip", "shift")
#: Recurrent units (or conv channels) of an --audio-dir network when ``hidden`` is not given
#: (256, the MLP default, is slow over frames).
AUDIO_HIDDEN = (64,)
#: What --audio-dir trains (nn.AudioClassifier).
AUDIO_ARCHS = ("gru", "lstm", "dense", "conv1d")
TOKENS = ("word", "char")
POOLINGS = ("max", "mean", "last")
#: What a text run trains with when neither the config file nor a flag says otherwise:
#: Adam, and gradient clipping by norm (1.0), the documented default for recurrent models.
TEXT_DEFAULTS: dict[str, Any] = {
    "hidden": [128], "optimizer": "adam", "clip_grad": 1.0, "epochs": 10, "arch": "lstm",
}  # fmt: skip
#: The learning rate of a text run when neither --lr nor --optimizer is given.
TEXT_LR = 2e-3


#: The learning rate each optimizer trains with when --lr is not given (as Keras and PyTorch
#: users expect for the adaptive ones; SGD with momentum 0.9 takes a larger step).
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}
#: The momentum of the optimizers that have one, when --momentum is not given.
DEFAULT_MOMENTUM = {"sgd": 0.9, "rmsprop": 0.0}

# The type every setting must have in a config file (flags are typed by argparse already).
_INT = (
    "batch_size", "epochs", "warmup_epochs", "early_stopping", "seed", "embedding_dim",
    "layers", "max_length", "sample_rate", "n_mels", "kernel", "pool",
)  # fmt: skip
_FLOAT = (
    "dropout", "lr", "momentum", "weight_decay", "l1", "l2", "max_norm", "clip_grad",
    "validation_split", "duration",
)  # fmt: skip
_BOOL = ("batch_norm", "nesterov", "bidirectional")
_TEXT = (
    "dataset", "data_dir", "csv", "activation", "optimizer", "schedule", "text_dir",
    "text_csv", "text_column", "label_column", "tagged", "arch", "tokens", "pooling",
    "audio_dir",
)  # fmt: skip


@dataclass
class TrainConfig:
    """Every setting of ``chainrule train``; the defaults train the seed's digit classifier.

    ``dataset`` None means the bundled digits unless ``data_dir`` or ``csv`` names the data;
    ``lr`` and ``momentum`` None mean the optimizer's own default (:data:`DEFAULT_LR`,
    :data:`DEFAULT_MOMENTUM`), filled in by :meth:`validate`.
    """

    dataset: str | None = None
    data_dir: str | None = None
    csv: str | None = None
    hidden: list[int] = field(default_factory=lambda: [256])
    activation: str = "relu"
    dropout: float = 0.2
    batch_norm: bool = False
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float | None = None
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
    # text data and recurrent models (chainrule.cli.text)
    text_dir: str | None = None
    text_csv: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    tagged: str | None = None
    arch: str | None = None
    embedding_dim: int = 64
    layers: int = 1
    bidirectional: bool | None = None
    tokens: str | None = None
    max_length: int | None = None
    pooling: str = "max"

    @property
    def text_source(self) -> str | None:
        """ "text_dir", "text_csv" or "tagged": where a text run's data comes from (None: not
        a text run)."""
        given = [k for k in ("text_dir", "text_csv", "tagged") if getattr(self, k) is not None]
        return given[0] if given else None

    # audio (--audio-dir): a folder of class subfolders of .wav files
    audio_dir: str | None = None
    sample_rate: int = 16000
    n_mels: int = 40
    duration: float | None = None
    # convolutional networks (--arch cnn, image data): chainrule.cli.cnn
    conv: list[int] = field(default_factory=lambda: [32, 64])
    kernel: int = 3
    pool: int = 2
    #: Random changes to each training image (nn.RandomFlip / nn.RandomShift layers in front).
    augment: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-safe dict."""
        return dataclasses.asdict(self)

    @property
    def learning_rate(self) -> float:
        """The learning rate, the optimizer's default filled in (by :meth:`validate`)."""
        return float(DEFAULT_LR[self.optimizer] if self.lr is None else self.lr)

    @classmethod
    def names(cls) -> list[str]:
        """Every setting's name."""
        return [f.name for f in dataclasses.fields(cls)]

    def validate(self) -> TrainConfig:
        """Check types and ranges (ConfigError naming the first bad setting), fill in the
        optimizer's defaults; return self."""
        if self.bidirectional is None:  # a tagger reads both directions unless told otherwise
            self.bidirectional = self.tagged is not None
        _check_types(self)
        _check_text(self)
        if self.dataset is not None:
            _choice("dataset", self.dataset, DATASETS)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        if self.arch is not None:
            _choice("arch", self.arch, ARCHITECTURES)
            if self.arch in IMAGE_ARCHS:
                from chainrule.cli.cnn import check_cnn_settings

                check_cnn_settings(self)
            elif self.audio_dir is None and self.text_source is None:
                raise ConfigError(
                    f"arch: --arch {self.arch} chooses the network over a sequence; it applies "
                    "to --audio-dir, --text-dir, --text-csv and --tagged (images and CSV rows "
                    "train the --hidden MLP)"
                )
        if self.augment and self.arch not in IMAGE_ARCHS:
            raise ConfigError(
                f"augment: --augment {' '.join(map(str, self.augment))} changes the images a "
                "convolutional network sees; it applies to --arch cnn (an MLP takes each image "
                "as one flat row)"
            )
        if self.audio_dir is not None:
            if self.dataset or self.data_dir or self.csv or self.text_source:
                raise ConfigError("give --audio-dir alone: it is a data set of its own")
            if self.arch is not None and self.arch not in AUDIO_ARCHS:
                raise ConfigError(
                    f"arch: --audio-dir trains one of {', '.join(AUDIO_ARCHS)}, got {self.arch!r}"
                )
            if not 1000 <= self.sample_rate <= 384000:
                raise ConfigError(f"sample_rate: expected 1000..384000 Hz, got {self.sample_rate}")
            if self.n_mels < 1:
                raise ConfigError(f"n_mels: expected a positive whole number, got {self.n_mels}")
            if self.duration is not None:
                _range("duration", self.duration, 0.0, 3600.0, low_open=True)
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        if self.optimizer in DEFAULT_MOMENTUM:
            if self.momentum is None:
                self.momentum = DEFAULT_MOMENTUM[self.optimizer]
        elif self.momentum is not None:
            raise ConfigError(
                f"momentum: {self.optimizer} has no momentum setting (got {self.momentum}); "
                "it applies to --optimizer sgd or rmsprop"
            )
        _range("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _range("lr", self.lr, 0.0, math.inf, low_open=True)
        if self.momentum is not None:
            _range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        for name in ("weight_decay", "l1", "l2"):
            _range(name, getattr(self, name), 0.0, math.inf)
        for name in ("max_norm", "clip_grad"):
            if getattr(self, name) is not None:
                _range(name, getattr(self, name), 0.0, math.inf, low_open=True)
        for name in ("batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"{name}: expected a positive integer, got {getattr(self, name)!r}"
                )
        if self.seed < 0:
            raise ConfigError(f"seed: expected a non-negative integer, got {self.seed}")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ConfigError(f"early_stopping: patience must be >= 1, got {self.early_stopping}")
        if self.warmup_epochs and self.schedule != "cosine":
            raise ConfigError(
                f"warmup_epochs: only the cosine schedule warms up (got --schedule "
                f"{self.schedule}); add --schedule cosine or drop --warmup-epochs"
            )
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs:
            raise ConfigError(
                f"warmup_epochs: expected 0 <= warmup_epochs < epochs ({self.epochs}), "
                f"got {self.warmup_epochs}"
            )
        _range("validation_split", self.validation_split, 0.0, 1.0, high_open=True)
        if self.early_stopping is not None and self.validation_split == 0:
            raise ConfigError("early_stopping needs a validation set: set --validation-split > 0")
        if self.nesterov and (self.optimizer != "sgd" or not self.momentum):
            raise ConfigError("nesterov: needs --optimizer sgd with --momentum > 0")
        return self


def _check_text(config: TrainConfig) -> None:
    """The text settings: one text source, not mixed with image/CSV data, sizes in range."""
    sources = [k for k in ("text_dir", "text_csv", "tagged") if getattr(config, k) is not None]
    flag = {"text_dir": "--text-dir", "text_csv": "--text-csv", "tagged": "--tagged"}
    if len(sources) > 1:
        raise ConfigError(
            f"give one of {', '.join(flag[k] for k in sources)}: they are different data sets"
        )
    others = [n for n in ("dataset", "data_dir", "csv") if getattr(config, n) is not None]
    if sources and others:
        raise ConfigError(
            f"give {flag[sources[0]]} or --{others[0].replace('_', '-')}, not both: text data "
            "trains a recurrent network, the others an MLP"
        )
    if config.arch is not None:
        _choice("arch", config.arch, ARCHS)
        if sources and config.arch in IMAGE_ARCHS:
            raise ConfigError(
                f"arch: --arch {config.arch} is a convolutional network for images (--dataset "
                f"or an IDX --data-dir); text trains one of {', '.join(RECURRENT_ARCHS)}"
            )
        if sources and config.arch not in RECURRENT_ARCHS:
            raise ConfigError(
                f"arch: text trains one of {', '.join(RECURRENT_ARCHS)}, got {config.arch!r}"
            )
    if config.tokens is not None:
        _choice("tokens", config.tokens, TOKENS)
    _choice("pooling", config.pooling, POOLINGS)
    for name in ("embedding_dim", "layers", "max_length"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ConfigError(f"{name}: expected a positive integer, got {value!r}")
    if not sources:
        return
    if config.text_source != "text_csv" and (config.text_column or config.label_column):
        raise ConfigError("--text-column and --label-column name the columns of --text-csv")
    if config.tagged is not None and (config.tokens is not None or config.max_length):
        raise ConfigError(
            "--tagged: the tokens are the file's words (one tag each); --tokens and "
            "--max-length apply to --text-dir and --text-csv"
        )
    if config.arch in RECURRENT_ARCHS and len(config.hidden) != 1:
        raise ConfigError(
            f"hidden: a recurrent network has one state size (--hidden N), got "
            f"{config.hidden}; stack layers with --layers"
        )


def _type_name(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_types(config: TrainConfig) -> None:
    """ConfigError for a setting of the wrong type (a config file can hold anything)."""
    for name in _INT:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{name}: expected a whole number, got {_type_name(value)}")
    for name in _FLOAT:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{name}: expected a number, got {_type_name(value)}")
    for name in _BOOL:
        value = getattr(config, name)
        if not isinstance(value, bool):
            raise ConfigError(
                f"{name}: expected true or false, got {_type_name(value)}"
                + ('; a text like "no" is not false' if isinstance(value, str) else "")
            )
    for name in _TEXT:
        value = getattr(config, name)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{name}: expected a text, got {_type_name(value)}")
    hidden = config.hidden
    if (
        not isinstance(hidden, list)
        or not hidden
        or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden)
    ):
        raise ConfigError(
            f"hidden: expected one or more positive whole layer sizes, got {hidden!r}"
        )
    augment = config.augment
    if not isinstance(augment, list) or any(a not in AUGMENTATIONS for a in augment):
        raise ConfigError(
            f"augment: expected a list of {', '.join(AUGMENTATIONS)}, got {augment!r}"
        )


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
        if math.isinf(high):
            wanted = f"a finite number {'>' if low_open else '>='} {low:g}"
        else:
            lo = ("(" if low_open else "[") + f"{low:g}"
            hi = f"{high:g}" + (")" if high_open else "]")
            wanted = f"a number in {lo}, {hi}"
        raise ConfigError(f"{name}: expected {wanted}, got {value!r}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a run's settings from a TOML or JSON file (see ``config_file``)."""
    return read_settings_file(path, TrainConfig.names())


def build_config(file_settings: dict[str, Any], flag_settings: dict[str, Any]) -> TrainConfig:
    """Defaults, overridden by the config file, overridden by flags given on the command line."""
    merged = {**file_settings, **{k: v for k, v in flag_settings.items() if v is not None}}
    if any(merged.get(k) is not None for k in ("text_dir", "text_csv", "tagged")):
        if "lr" not in merged and "optimizer" not in merged:
            merged["lr"] = TEXT_LR
        for key, value in TEXT_DEFAULTS.items():
            merged.setdefault(key, value)
    if merged.get("audio_dir") is not None and "hidden" not in merged:
        merged["hidden"] = list(AUDIO_HIDDEN)
    if merged.get("arch") in IMAGE_ARCHS and "hidden" not in merged:
        merged["hidden"] = [128]  # the CNN's dense head (chainrule.cli.cnn.CNN_DEFAULT_HIDDEN)
    if isinstance(merged.get("conv"), int):
        merged["conv"] = [merged["conv"]]
    if isinstance(merged.get("hidden"), int):
        merged["hidden"] = [merged["hidden"]]
    try:
        config = TrainConfig(**merged)
    except TypeError as err:
        raise ConfigError(f"bad settings: {err}") from None
    return config.validate()
