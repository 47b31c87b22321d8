"""TensorBoard: a run's curves, gradient health, weight and gradient histograms and first-layer
weights as images, written as TensorBoard event files by ``tensorboardX`` (optional extra)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.callbacks.base import Callback
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["TensorBoard", "weight_grid"]

#: Gradient-health figures (``GradientHealth.figures()``) and the tag group each goes to.
DIAGNOSTIC_TAGS = {
    "grad_norm": "gradient_norm",
    "update_ratio": "update_ratio",
    "dead_fraction": "dead_units",
}


def _summary_writer() -> Any:
    """tensorboardX's SummaryWriter class, or ConfigError with the install hint."""
    try:
        from tensorboardX import SummaryWriter
    except ModuleNotFoundError:
        raise ConfigError(
            'the TensorBoard callback needs tensorboardX: pip install "chainrule[tensorboard]"'
        ) from None
    return SummaryWriter


def scalar_tag(key: str) -> str:
    """Where an epoch figure goes: ``loss`` -> ``train/loss``, ``val_loss`` -> ``val/loss``,
    ``lr`` -> ``optim/lr``, ``seconds`` -> ``time/epoch_seconds``."""
    if key == "lr":
        return "optim/lr"
    if key == "seconds":
        return "time/epoch_seconds"
    if key.startswith("val_"):
        return "val/" + key[4:]
    return "train/" + key


def weight_grid(
    weight: np.ndarray, image_shape: tuple[int, int] | None = None, max_units: int = 64
) -> np.ndarray:
    """The units' incoming weights as one RGB image ``(3, H, W)`` in [0, 1]: a tile per unit.

    Each tile is scaled to its own largest ``|w|``: white is 0, red positive, blue negative.
    A dense layer's rows are reshaped to ``image_shape`` (else to a square when the inputs
    are a square number, else the whole matrix is one tile); a convolution's kernels
    ``(out, in, kh, kw)`` are shown per output channel, input channels stacked.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.callbacks.tensorboard import weight_grid
    >>> weight_grid(np.ones((10, 64)), (8, 8)).shape  # 10 tiles of 8x8 in a 3x4 grid
    (3, 26, 35)
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim == 4:
        tiles = w.reshape(w.shape[0], w.shape[1] * w.shape[2], w.shape[3])
    elif w.ndim == 2:
        side = math.isqrt(w.shape[1])
        shape = image_shape or ((side, side) if side * side == w.shape[1] else None)
        if shape is not None and math.prod(shape) == w.shape[1]:
            tiles = w.reshape(w.shape[0], *shape)
        else:
            tiles = w[None]
    else:
        tiles = w.reshape(1, 1, -1)
    tiles = tiles[:max_units]
    count, th, tw = tiles.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    shade = np.full((rows * (th + 1) - 1, cols * (tw + 1) - 1), np.nan)  # NaN: separators
    for i, tile in enumerate(tiles):
        limit = float(np.nanmax(np.abs(tile))) or 1.0
        r, c = divmod(i, cols)
        top, left = r * (th + 1), c * (tw + 1)
        shade[top : top + th, left : left + tw] = np.clip(tile / limit, -1.0, 1.0)
    value = np.nan_to_num(shade, nan=0.0)
    pos, neg = np.clip(value, 0, 1), np.clip(-value, 0, 1)
    rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos])  # red for +, blue for -, white at 0
    rgb[:, np.isnan(shade)] = 0.5  # mid-grey lines between the tiles
    return rgb.astype(np.float32)


class TensorBoard(Callback):
    """Write the run as TensorBoard event files under ``log_dir`` (``tensorboard --logdir``).

    After every epoch (step = the epoch number, from 1):

    - scalars: each figure of the epoch's logs (``train/loss``, ``train/accuracy``,
      ``val/loss``, ..., ``optim/lr``, ``time/epoch_seconds``);
    - gradient health per layer, when the trainer measures it (``diagnostics=True``):
      ``gradient_norm/LAYER``, ``update_ratio/LAYER``, ``dead_units/LAYER`` (see
      ``training.diagnostics.GradientHealth``);
    - histograms of every parameter (``weights/NAME``) and of its gradient from the epoch's
      last batch (``gradients/NAME``), every ``histogram_freq`` epochs;
    - the first layer's weights as an image (``first_layer_weights``), one tile per unit
      (see ``weight_grid``), at the same epochs.

    Needs ``tensorboardX`` (``pip install "chainrule[tensorboard]"``); nothing of TensorFlow
    or PyTorch.

    Parameters
    ----------
    log_dir : str or PathLike
        The folder of this run's event files (give each run its own).
    histogram_freq : int
        Write histograms and the weight image every this many epochs (0: never).
    image_shape : (int, int), optional
        Height and width of the input images, to show a dense first layer's units as images.

    Examples
    --------
    >>> from chainrule.callbacks import TensorBoard
    >>> board = TensorBoard("runs/tb/exp1")  # doctest: +SKIP
    >>> # cr.Trainer(model, loss, optimizer, callbacks=[board]).fit(x, y, epochs=10)
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        histogram_freq: int = 1,
        image_shape: tuple[int, int] | None = None,
    ) -> None:
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise ConfigError(f"TensorBoard: log_dir must be a folder path, got {log_dir!r}")
        if (
            isinstance(histogram_freq, bool)
            or not isinstance(histogram_freq, int)
            or (histogram_freq < 0)
        ):
            raise ConfigError(
                f"TensorBoard: histogram_freq must be an int >= 0, got {histogram_freq!r}"
            )
        self._writer_class = _summary_writer()  # fail now, not after the first epoch
        self.log_dir = Path(log_dir)
        self.histogram_freq = histogram_freq
        self.image_shape = None if image_shape is None else tuple(int(d) for d in image_shape)
        self.writer: Any = None

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.writer = self._writer_class(logdir=str(self.log_dir))

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.writer is None:  # pragma: no cover - on_train_begin always runs first
            return
        step = epoch + 1
        for key, value in logs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(scalar_tag(key), float(value), step)
        health = getattr(trainer, "health", None)
        if health is not None:
            for kind, per_layer in health.figures().items():
                group = DIAGNOSTIC_TAGS.get(kind, kind)
                for layer, value in per_layer.items():
                    if math.isfinite(value):
                        self.writer.add_scalar(f"{group}/{layer}", float(value), step)
        if self.histogram_freq and step % self.histogram_freq == 0:
            self._histograms(trainer, step)
        self.writer.flush()

    def _histograms(self, trainer: Trainer, step: int) -> None:
        """Weights and gradients per parameter, and the first weight layer as an image."""
        first = None
        for name, param in trainer.model.named_parameters():
            data = np.asarray(param.data)
            if np.isfinite(data).all():
                self.writer.add_histogram(f"weights/{name}", data, step)
            grad = param.grad
            if grad is not None and np.isfinite(grad).all():
                self.writer.add_histogram(f"gradients/{name}", np.asarray(grad), step)
            if first is None and name.endswith("weight") and data.ndim in (2, 4):
                first = data
        if first is not None:
            image = weight_grid(first, self.image_shape)  # type: ignore[arg-type]
            self.writer.add_image("first_layer_weights", image, step, dataformats="CHW")

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __repr__(self) -> str:
        return f"TensorBoard({str(self.log_dir)!r})"
