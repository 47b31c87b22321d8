"""Check chainrule's convolution, pooling, BatchNorm2d and a whole CNN against PyTorch (float64).

Not a test (PyTorch is no dependency): run it with the reference environment,

    PYTHONPATH=src /work/torchvenv/bin/python benchmarks/check_conv_against_torch.py

Each case builds the PyTorch module, copies its initial weights into chainrule's layer by name
(the parameter names and shapes are PyTorch's), runs the same batch, backpropagates the same
random cotangent and prints the largest absolute difference of the output, the input gradient
and every parameter gradient. Exits 1 when one exceeds 1e-10. ``tests/nn/test_against_torch.py``
runs it whenever PyTorch is importable.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import chainrule as cr
import chainrule.nn as nn

TOLERANCE = 1e-10


def _pair(ours: nn.Module, theirs: torch.nn.Module) -> None:
    """PyTorch's weights (and buffers) into our layer, both float64."""
    theirs.double()
    ours.astype(np.float64)
    state = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)


def compare(build: Callable[[], tuple[nn.Module, torch.nn.Module]], shape: tuple[int, ...],
            train: bool = True, seed: int = 0) -> float:  # fmt: skip
    """Largest absolute difference between the two modules' outputs and gradients."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    ours, theirs = build()
    _pair(ours, theirs)
    ours.train(train)
    theirs.train(train)
    x = rng.normal(size=shape)
    xt = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():  # PyTorch warns that "same" with an even kernel copies
        warnings.simplefilter("ignore", UserWarning)
        yt = theirs(xt)
    xc = cr.tensor(x, requires_grad=True)
    yc = ours(xc)
    worst = float(np.abs(yt.detach().numpy() - yc.data).max())
    cot = rng.normal(size=yt.shape)
    yt.backward(torch.tensor(cot))
    yc.backward(cot)
    worst = max(worst, float(np.abs(xt.grad.numpy() - xc.grad).max()))
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        worst = max(worst, float(np.abs(theirs_params[name].grad.numpy() - p.grad).max()))
    for name, b in theirs.named_buffers():  # running statistics after one training step
        ours_b = dict(ours.named_buffers())[name].data
        worst = max(worst, float(np.abs(b.numpy() - ours_b).max()))
    return worst


def _both(ours: Callable[[], nn.Module], theirs: Callable[[], torch.nn.Module]) -> Any:
    return lambda: (ours(), theirs())


def _layer(name: str, *args: Any, **kwargs: Any) -> Any:
    return _both(lambda: getattr(nn, name)(*args, **kwargs),
                 lambda: getattr(torch.nn, name)(*args, **kwargs))  # fmt: skip


def _cnn(ns: Any, **extra: Any) -> Any:
    """The benchmark network (smaller input): conv-relu-pool twice, then a dense head."""
    return ns.Sequential(
        ns.Conv2d(1, 8, 3), ns.ReLU(), ns.MaxPool2d(2), ns.Conv2d(8, 16, 3), ns.ReLU(),
        ns.MaxPool2d(2), ns.Flatten(), ns.Linear(16 * 5 * 5, 32), ns.ReLU(), ns.Linear(32, 10),
    )  # fmt: skip


def _cnn_bn(ns: Any) -> Any:
    return ns.Sequential(
        ns.Conv2d(1, 4, 3, padding="same", bias=False), ns.BatchNorm2d(4), ns.ReLU(),
        ns.AvgPool2d(2), ns.Conv2d(4, 6, 3, padding=1, groups=2), ns.ReLU(),
        ns.AdaptiveAvgPool2d(1), ns.Flatten(), ns.Linear(6, 3),
    )  # fmt: skip


CASES: dict[str, tuple[Any, tuple[int, ...]]] = {
    "Conv2d plain": (_layer("Conv2d", 3, 5, 3), (2, 3, 8, 7)),
    "Conv2d stride 2, padding (1, 2)": (_layer("Conv2d", 3, 4, (3, 2), stride=2, padding=(1, 2)),
                                        (2, 3, 9, 8)),
    "Conv2d same, dilation 2": (_layer("Conv2d", 2, 4, 4, padding="same", dilation=2),
                                (2, 2, 9, 9)),
    "Conv2d groups 2, no bias": (_layer("Conv2d", 4, 6, 3, groups=2, bias=False), (2, 4, 6, 6)),
    "Conv2d depthwise": (_layer("Conv2d", 3, 6, 3, groups=3, padding=1), (2, 3, 5, 5)),
    "Conv1d stride, padding, dilation": (_layer("Conv1d", 3, 4, 3, stride=2, padding=2,
                                                dilation=2), (2, 3, 13)),
    "Conv1d same": (_layer("Conv1d", 2, 3, 4, padding="same"), (2, 2, 10)),
    "MaxPool2d 2": (_layer("MaxPool2d", 2), (2, 3, 8, 9)),
    "MaxPool2d 3, stride 2, padding 1": (_layer("MaxPool2d", 3, 2, 1), (2, 2, 9, 8)),
    "MaxPool2d dilation 2": (_layer("MaxPool2d", 2, 1, 0, 2), (1, 2, 7, 7)),
    "MaxPool1d 3, stride 2": (_layer("MaxPool1d", 3, 2), (2, 3, 11)),
    "AvgPool2d 2": (_layer("AvgPool2d", 2), (2, 3, 8, 8)),
    "AvgPool2d 3, padding 1, exclude pad": (_layer("AvgPool2d", 3, 2, 1, count_include_pad=False),
                                            (2, 2, 9, 8)),
    "AvgPool1d 2": (_layer("AvgPool1d", 2), (2, 3, 9)),
    "AdaptiveAvgPool2d (3, 2)": (_layer("AdaptiveAvgPool2d", (3, 2)), (2, 3, 7, 5)),
    "AdaptiveAvgPool2d 1": (_layer("AdaptiveAvgPool2d", 1), (2, 3, 7, 5)),
    "BatchNorm2d train": (_layer("BatchNorm2d", 3), (4, 3, 5, 5)),
    "CNN (benchmark shape, 8+16 channels)": (_both(lambda: _cnn(nn), lambda: _cnn(torch.nn)),
                                     (4, 1, 28, 28)),
    "CNN with BatchNorm2d and groups": (_both(lambda: _cnn_bn(nn), lambda: _cnn_bn(torch.nn)),
                                        (4, 1, 8, 8)),
}  # fmt: skip


def main() -> int:
    torch.set_num_threads(1)
    failed = []
    for name, (build, shape) in CASES.items():
        diff = compare(build, shape)
        status = "ok" if diff <= TOLERANCE else "FAIL"
        print(f"{status:4} {diff:9.2e}  {name}")
        if diff > TOLERANCE:
            failed.append(name)
    diff = compare(_layer("BatchNorm2d", 3), (4, 3, 5, 5), train=False)
    print(f"{'ok' if diff <= TOLERANCE else 'FAIL':4} {diff:9.2e}  BatchNorm2d eval")
    if diff > TOLERANCE:
        failed.append("BatchNorm2d eval")
    print(f"{len(CASES) + 1 - len(failed)} of {len(CASES) + 1} agree to {TOLERANCE:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
