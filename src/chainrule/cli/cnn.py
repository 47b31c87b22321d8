"""``chainrule train --arch cnn``: a small convolutional network for image data.

Images keep their shape: the preprocessing stored in the model file records ``input_shape``
``[1, H, W]``, so ``train``, ``evaluate`` and ``predict`` normalise the pixels as for the MLP
and then reshape every row to ``(1, H, W)`` the same way. The network is one block per
``--conv`` channel count (``Conv2d`` with ``padding="same"`` -> ``BatchNorm2d`` when
``--batch-norm`` -> activation -> ``MaxPool2d(--pool)``), then ``Flatten`` and a dense head
(``Linear(--hidden)`` -> activation -> ``Dropout``) and the class scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError

__all__ = [
    "CNN_DEFAULT_HIDDEN", "build_cnn", "check_cnn_settings", "cnn_preprocessing",
    "image_layer_shapes",
]  # fmt: skip

#: The dense head's width when neither ``--hidden`` nor the config file says otherwise.
CNN_DEFAULT_HIDDEN = [128]


def check_cnn_settings(config: Any) -> None:
    """--arch cnn: image data only (a data set or an IDX folder), sizes in range."""
    other = (
        "--audio-dir" if config.audio_dir is not None
        else "--csv" if config.csv is not None
        else None
    )  # fmt: skip
    if other is not None:
        raise ConfigError(
            f"arch: --arch {config.arch} is a convolutional network for images (--dataset or "
            f"an IDX --data-dir); {other} is not image data (audio takes gru, lstm or dense, "
            "CSV rows the --hidden MLP)"
        )
    conv = config.conv
    if (
        not isinstance(conv, list)
        or not conv
        or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in conv)
    ):
        raise ConfigError(f"conv: expected one or more positive channel counts, got {conv!r}")
    if len(conv) > 8:
        raise ConfigError(f"conv: at most 8 conv blocks, got {len(conv)}")
    if not 1 <= config.kernel <= 15:
        raise ConfigError(f"kernel: expected a kernel size in 1..15, got {config.kernel}")
    if not 1 <= config.pool <= 8:
        raise ConfigError(f"pool: expected a pooling size in 1..8, got {config.pool}")


def _spatial(image_shape: tuple[int, ...], config: Any) -> list[tuple[int, int]]:
    """(H, W) after each conv block; ConfigError when an image shrinks to nothing."""
    if len(image_shape) != 2:
        raise ConfigError(
            f"--arch cnn trains on 2-d images; this data has samples of shape {image_shape}"
        )
    h, w = image_shape
    sizes = []
    for i in range(len(config.conv)):
        h, w = h // config.pool, w // config.pool
        if h < 1 or w < 1:
            raise ConfigError(
                f"--conv {' '.join(map(str, config.conv))} --pool {config.pool}: images of "
                f"{image_shape[0]}x{image_shape[1]} shrink to nothing after block {i + 1} "
                f"(each block pools by {config.pool}); use fewer --conv blocks or a smaller --pool"
            )
        sizes.append((h, w))
    return sizes


def build_cnn(config: Any, data: Any) -> Any:
    """The CNN a run's settings describe, for images of ``data.image_shape``."""
    from chainrule import nn
    from chainrule.rng import as_generator

    if data.image_shape is None:
        raise ConfigError("--arch cnn trains on images (a data set or an IDX folder), not CSV rows")
    sizes = _spatial(tuple(data.image_shape), config)
    act = config.activation
    generator = as_generator(config.seed)
    layers: list[Any] = _augmentation(config.augment, tuple(data.image_shape), generator)
    channels = 1
    for out in config.conv:
        layers.append(nn.Conv2d(channels, out, config.kernel, padding="same", rng=generator))
        if config.batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(_activation(act))
        layers.append(nn.MaxPool2d(config.pool))
        channels = out
    layers.append(nn.Flatten())
    h, w = sizes[-1]
    width = channels * h * w
    for size in config.hidden:
        layers.append(nn.Linear(width, size, rng=generator))
        layers.append(_activation(act))
        if config.dropout:
            layers.append(nn.Dropout(config.dropout, rng=generator))
        width = size
    layers.append(nn.Linear(width, data.n_classes, init="glorot", rng=generator))
    return nn.Sequential(*layers)


def shift_pixels(image_shape: tuple[int, ...]) -> int:
    """How far ``--augment shift`` moves an image: 2 pixels, 1 on images under 24 pixels."""
    return 2 if min(image_shape) >= 24 else 1


def _augmentation(names: list[str], image_shape: tuple[int, ...], generator: Any) -> list[Any]:
    """The augmentation layers ``--augment`` asks for, in a fixed order (flip, then shift)."""
    from chainrule import nn

    layers: list[Any] = []
    if "flip" in names:
        layers.append(nn.RandomFlip("horizontal", rng=generator))
    if "shift" in names:
        layers.append(nn.RandomShift(shift_pixels(image_shape), rng=generator))
    return layers


def _activation(name: str) -> Any:
    from chainrule.nn.registry import ACTIVATIONS

    return ACTIVATIONS[name]()


def cnn_preprocessing(preprocessing: dict[str, Any]) -> dict[str, Any]:
    """The image preprocessing with the network's input shape ``[1, H, W]`` recorded."""
    shape = preprocessing.get("image_shape")
    if not shape or len(shape) != 2:
        raise ConfigError("--arch cnn trains on 2-d images (a data set or an IDX folder)")
    return {**preprocessing, "input_shape": [1, *shape]}


def as_input_shape(x: np.ndarray, preprocessing: dict[str, Any] | None) -> np.ndarray:
    """Rows reshaped to ``(N, *input_shape)`` when the model takes images as images."""
    shape = (preprocessing or {}).get("input_shape")
    if not shape:
        return x
    if not (isinstance(shape, list) and all(isinstance(d, int) and d > 0 for d in shape)):
        from chainrule.errors import FormatError

        raise FormatError("the model file's preprocessing['input_shape'] is malformed")
    size = int(np.prod(shape))
    if x.ndim != 2 or x.shape[1] != size:
        raise ShapeError(
            f"the model takes images of {'x'.join(map(str, shape))} ({size} values each), "
            f"got rows of shape {x.shape}"
        )
    return x.reshape(len(x), *shape)


def image_layer_shapes(model: Any, input_shape: list[int]) -> list[tuple[str, str]]:
    """(layer, output shape) after each layer of a Sequential, for a batch of N images."""
    from chainrule.autodiff.mode import no_grad
    from chainrule.autodiff.tensor import Tensor

    def shape(a: Any) -> str:
        return "(" + ", ".join(["N", *map(str, a.shape[1:])]) + ")"

    dtype = next((p.dtype for _, p in model.named_parameters()), np.float32)
    x: Any = Tensor(np.zeros((2, *input_shape), dtype=dtype))
    rows = [("input", shape(x))]
    training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            for name, layer in model.named_children():
                x = layer(x)
                rows.append((f"{name} {type(layer).__name__}", shape(x)))
    finally:
        for m, mode in training:
            m.training = mode
    return rows


def conv_report_images(model: Any, x_test: Any, plots: Any) -> dict[str, str]:
    """The report's CNN figures: the first layer's filters, and the feature maps of the first
    test image (``x_test``: the preprocessed test images, ``(N, 1, H, W)``) after each conv
    block. Caption -> PNG path."""
    from chainrule.report.conv_plots import (
        feature_maps,
        first_conv_filters,
        plot_conv_filters,
        plot_feature_maps,
    )

    images = {
        "What the first conv layer looks for (its filters)": str(
            plot_conv_filters(first_conv_filters(model), plots / "conv_filters.png")
        )
    }
    if x_test is not None and len(x_test):
        image = np.asarray(x_test[0])
        images["Feature maps of the first test image after each conv block"] = str(
            plot_feature_maps(feature_maps(model, image), plots / "feature_maps.png", image=image)
        )
    return images
