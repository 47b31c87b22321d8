"""CNN plots: first-layer filters and feature maps after each conv block, as PNG."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ConfigError, ShapeError
from chainrule.report.conv_plots import feature_maps, first_conv_filters

PNG = b"\x89PNG\r\n\x1a\n"


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1, rng=0), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout2d(0.5), nn.Conv2d(6, 4, 3, rng=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 2 * 2, 3, rng=2),
    )  # fmt: skip


def test_filters_and_feature_maps_come_from_the_model() -> None:
    model = cnn()
    np.testing.assert_array_equal(first_conv_filters(model), model[0].weight.data)
    image = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    blocks = feature_maps(model, image)
    assert [(name, maps.shape) for name, maps in blocks] == [
        ("block 1 (layers 0-4)", (6, 4, 4)),
        ("block 2 (layers 5-6)", (4, 2, 2)),
    ]
    model.eval()
    expected = model[:5](image[None]).data[0]  # eval mode: dropout off, running statistics
    np.testing.assert_allclose(blocks[0][1], expected, rtol=1e-6)
    model.train()
    feature_maps(model, image[None])
    assert model.training and model[4].training  # the modes are put back
    with pytest.raises(ConfigError, match="no Conv2d layer"):
        first_conv_filters(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ShapeError, match=r"one image \(C, H, W\) or \(1, C, H, W\), got \(2, 1, 8"):
        feature_maps(model, np.zeros((2, 1, 8, 8)))


def test_the_plots_are_written_as_png(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (the plots extra)")
    from chainrule.report.conv_plots import plot_conv_filters, plot_feature_maps

    model = cnn()
    path = plot_conv_filters(first_conv_filters(model), tmp_path / "filters.png")
    assert path.read_bytes()[:8] == PNG
    many = np.random.default_rng(0).normal(size=(70, 3, 5, 5))
    assert plot_conv_filters(many, tmp_path / "many.png").read_bytes()[:8] == PNG
    image = np.random.default_rng(1).random((1, 8, 8))
    maps = plot_feature_maps(feature_maps(model, image), tmp_path / "maps.png", image=image)
    assert maps.read_bytes()[:8] == PNG
    with pytest.raises(ShapeError, match=r"filters must be \(out, in, kh, kw\)"):
        plot_conv_filters(np.zeros((3, 3)), tmp_path / "x.png")
    with pytest.raises(ConfigError, match="non-empty list"):
        plot_feature_maps([], tmp_path / "x.png")
    with pytest.raises(ConfigError, match="PNG"):
        plot_conv_filters(many, tmp_path / "x.jpg")
