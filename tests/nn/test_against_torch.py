"""Convolution, pooling and BatchNorm2d agree with PyTorch to 1e-10 (float64), when it is here.

PyTorch is no dependency: without it this test is skipped, and the same comparison runs with
``PYTHONPATH=src /work/torchvenv/bin/python benchmarks/check_conv_against_torch.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "torch",
    reason="PyTorch is not installed, so the comparison with it is skipped; run "
    "benchmarks/check_conv_against_torch.py with a Python that has torch",
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import check_conv_against_torch as check  # noqa: E402


@pytest.mark.parametrize("name", sorted(check.CASES))
def test_same_outputs_and_gradients_as_pytorch(name: str) -> None:
    build, shape = check.CASES[name]
    assert check.compare(build, shape) <= check.TOLERANCE
