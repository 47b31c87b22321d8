"""The convolution and pooling converters, checked before the library's own conv layers land:
stand-in layers with the same attributes (PyTorch's) compute with NumPy loop references, and
ONNX Runtime must agree with them. When ``chainrule.nn`` has the real layers, the converters
are attached to them too (``register_conv_layers``) and the last test runs those."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.parameter import Buffer, Parameter
from chainrule.onnx import CONVERTERS, export, register_converter, run_onnxruntime
from chainrule.onnx.conv import (
    adaptive_avg_pool_nodes,
    avg_pool_nodes,
    conv_nodes,
    max_pool_nodes,
    onnx_pads,
)
from chainrule.onnx.layers import batchnorm_nodes

RNG = np.random.default_rng(3)


def pairs(module: Any) -> list[tuple[int, int]]:
    pads = onnx_pads(module)
    n = len(pads) // 2
    return list(zip(pads[:n], pads[n:]))


def windows(x: np.ndarray, module: Any, fill: float) -> tuple[list[np.ndarray], list[int]]:
    """Every kernel offset's strided view of the padded input, and the output sizes."""
    kernel, stride = module.kernel_size, module.stride
    dilation = getattr(module, "dilation", (1,) * len(kernel))
    xp = np.pad(x, [(0, 0), (0, 0), *pairs(module)], constant_values=fill)
    sizes = [
        (xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
        for i in range(len(kernel))
    ]
    views = []
    for offset in np.ndindex(*kernel):
        index = tuple(
            slice(o * d, o * d + s * (n - 1) + 1, s)
            for o, d, s, n in zip(offset, dilation, stride, sizes)
        )
        views.append(xp[(slice(None), slice(None), *index)])
    return views, sizes


class Conv(nn.Module):
    """Conv1d/Conv2d stand-in: PyTorch's attributes, a loop over kernel offsets as forward."""

    def __init__(self, c_in, c_out, kernel, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, dims=2):  # type: ignore[no-untyped-def]  # fmt: skip
        super().__init__()
        tup = lambda v: (v,) * dims if isinstance(v, int) else tuple(v)  # noqa: E731
        self.in_channels, self.out_channels, self.groups = c_in, c_out, groups
        self.kernel_size, self.stride, self.dilation = tup(kernel), tup(stride), tup(dilation)
        self.padding = padding if isinstance(padding, str) else tup(padding)
        shape = (c_out, c_in // groups, *self.kernel_size)
        self.weight = Parameter(RNG.normal(size=shape).astype(np.float32) * 0.3)
        self.bias = Parameter(RNG.normal(size=c_out).astype(np.float32)) if bias else None

    def forward(self, x: Any) -> cr.Tensor:
        x = np.asarray(x.data if isinstance(x, cr.Tensor) else x, np.float64)
        views, sizes = windows(x, self, 0.0)
        out = np.zeros((x.shape[0], self.out_channels, *sizes))
        cg, og = self.in_channels // self.groups, self.out_channels // self.groups
        w = self.weight.data.astype(np.float64)
        for offset, view in zip(np.ndindex(*self.kernel_size), views):
            for g in range(self.groups):
                out[:, g * og : (g + 1) * og] += np.einsum(
                    "nc...,oc->no...", view[:, g * cg : (g + 1) * cg],
                    w[(slice(g * og, (g + 1) * og), slice(None), *offset)],
                )  # fmt: skip
        if self.bias is not None:
            out += self.bias.data.reshape(1, -1, *([1] * len(sizes)))
        return cr.tensor(out.astype(np.float32))


class Pool(nn.Module):
    """MaxPool/AvgPool stand-in: stride defaults to the kernel, padding as ints."""

    def __init__(self, kind, kernel, stride=None, padding=0, dilation=1,
                 count_include_pad=True, dims=2):  # type: ignore[no-untyped-def]  # fmt: skip
        super().__init__()
        tup = lambda v: (v,) * dims if isinstance(v, int) else tuple(v)  # noqa: E731
        self.kind, self.kernel_size = kind, tup(kernel)
        self.stride = self.kernel_size if stride is None else tup(stride)
        self.padding, self.count_include_pad = tup(padding), count_include_pad
        if kind == "max":
            self.dilation = tup(dilation)

    def forward(self, x: Any) -> cr.Tensor:
        x = np.asarray(x.data if isinstance(x, cr.Tensor) else x, np.float64)
        if self.kind == "max":
            views, _ = windows(x, self, -np.inf)
            return cr.tensor(np.max(views, axis=0).astype(np.float32))
        views, _ = windows(x, self, 0.0)
        total = np.sum(views, axis=0)
        if self.count_include_pad:
            return cr.tensor((total / np.prod(self.kernel_size)).astype(np.float32))
        counts = np.sum(windows(np.ones_like(x), self, 0.0)[0], axis=0)
        return cr.tensor((total / counts).astype(np.float32))


class AdaptiveAvg(nn.Module):
    def __init__(self, output_size: tuple[int, ...]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> cr.Tensor:
        x = np.asarray(x.data if isinstance(x, cr.Tensor) else x, np.float64)
        sizes = x.shape[2:]
        out = np.zeros((*x.shape[:2], *self.output_size))
        for index in np.ndindex(*self.output_size):
            box = tuple(
                slice(i * s // o, -(-(i + 1) * s // o))
                for i, s, o in zip(index, sizes, self.output_size)
            )
            out[(slice(None), slice(None), *index)] = x[(slice(None), slice(None), *box)].mean(
                axis=tuple(range(2, x.ndim))
            )
        return cr.tensor(out.astype(np.float32))


class BatchNorm2d(nn.BatchNorm1d):
    """BatchNorm over (N, C, H, W) in eval mode, computed here."""

    ranks = (4,)

    def forward(self, x: Any) -> cr.Tensor:
        x = np.asarray(x.data if isinstance(x, cr.Tensor) else x, np.float64)
        shape = (1, -1, 1, 1)
        mean, var = self.running_mean.data.reshape(shape), self.running_var.data.reshape(shape)
        y = (x - mean) / np.sqrt(var + self.eps) * self.weight.data.reshape(shape)
        return cr.tensor((y + self.bias.data.reshape(shape)).astype(np.float32))


@pytest.fixture(autouse=True)
def stand_in_converters():  # type: ignore[no-untyped-def]
    registered = {
        Conv: conv_nodes,
        AdaptiveAvg: adaptive_avg_pool_nodes,
        BatchNorm2d: lambda g, m, x: batchnorm_nodes(g, m, x, ranks=(4,)),
    }
    for cls, fn in registered.items():
        register_converter(cls)(fn)
    register_converter(Pool)(
        lambda g, m, x: (max_pool_nodes if m.kind == "max" else avg_pool_nodes)(g, m, x)
    )
    yield
    for cls in (*registered, Pool):
        CONVERTERS.pop(cls)


def batchnorm2d() -> BatchNorm2d:
    bn = BatchNorm2d(4)
    bn.running_mean = Buffer(RNG.normal(size=4).astype(np.float32))
    bn.running_var = Buffer(RNG.uniform(0.5, 2, size=4).astype(np.float32))
    bn.weight.data = RNG.uniform(0.5, 2, size=4).astype(np.float32)
    bn.bias.data = RNG.normal(size=4).astype(np.float32)
    return bn


CASES = {
    "conv2d-3x3-pad1": (lambda: Conv(3, 4, 3, padding=1), (3, 8, 8)),
    "conv2d-strided-dilated-groups": (
        lambda: Conv(
            4, 6, (3, 2), stride=(2, 1), padding=(2, 1), dilation=(2, 1), groups=2, bias=False
        ),
        (4, 9, 7),
    ),  # fmt: skip
    "conv2d-same-even-kernel": (lambda: Conv(2, 3, 4, padding="same"), (2, 7, 6)),
    "conv2d-valid": (lambda: Conv(2, 3, 3, padding="valid", stride=2), (2, 7, 6)),
    "conv1d": (lambda: Conv(3, 5, 3, padding=1, stride=2, dims=1), (3, 11)),
    "maxpool2d": (lambda: Pool("max", 2), (3, 8, 6)),
    "maxpool2d-padded-dilated": (lambda: Pool("max", 3, 2, 1, dilation=2), (2, 9, 9)),
    "maxpool1d": (lambda: Pool("max", 3, 2, 1, dims=1), (2, 10)),
    "avgpool2d-include-pad": (lambda: Pool("avg", 3, 2, 1), (2, 7, 8)),
    "avgpool2d-exclude-pad": (lambda: Pool("avg", 3, 2, 1, count_include_pad=False), (2, 7, 8)),
    "avgpool1d": (lambda: Pool("avg", 2, dims=1), (3, 9)),
    "adaptive-avg-global": (lambda: AdaptiveAvg((1, 1)), (4, 5, 7)),
    "adaptive-avg-uneven": (lambda: AdaptiveAvg((3, 2)), (4, 7, 5)),
    "adaptive-avg-1d": (lambda: AdaptiveAvg((3,)), (2, 10)),
    "batchnorm2d": (batchnorm2d, (4, 5, 5)),
    "small-cnn": (
        lambda: nn.Sequential(
            Conv(1, 4, 3, padding=1),
            nn.ReLU(),
            Pool("max", 2),
            Conv(4, 4, 3),
            nn.ReLU(),
            AdaptiveAvg((2, 2)),
            nn.Flatten(),
            nn.Linear(16, 3, rng=0),
        ),
        (1, 8, 8),
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", list(CASES))
def test_conv_and_pool_converters_against_loop_references(name: str, tmp_path: Path) -> None:
    build, sample = CASES[name]
    model = build()
    path = export(model, tmp_path / "m.onnx", RNG.normal(size=(1, *sample)).astype(np.float32))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = RNG.normal(size=(5, *sample)).astype(np.float32)  # another batch size
    (got,) = run_onnxruntime(path, x)
    want = model(x).data
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_a_cnn_takes_raw_pixels_n_1_h_w(tmp_path: Path) -> None:
    model = CASES["small-cnn"][0]()
    pre = {"kind": "image", "mean": 0.2, "std": 0.3, "image_shape": [8, 8]}
    raw = RNG.integers(0, 256, size=(4, 1, 8, 8)).astype(np.float32)
    path = export(model, tmp_path / "cnn.onnx", raw[:1], preprocessing=pre, verify=True)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, 8, 8]
    (got,) = run_onnxruntime(path, raw)
    np.testing.assert_allclose(got, model((raw / 255 - 0.2) / 0.3).data, atol=1e-5)


def test_pads_of_every_padding_form() -> None:
    assert onnx_pads(Conv(1, 1, 3, padding=2)) == [2, 2, 2, 2]
    assert onnx_pads(Conv(1, 1, (4, 3), padding="same", dilation=(1, 2))) == [1, 2, 2, 2]
    assert onnx_pads(Conv(1, 1, 3, padding="valid", dims=1)) == [0, 0]
