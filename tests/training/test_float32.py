"""A float32 training step stays float32 everywhere: activations, gradients, optimizer state."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim, regularizers
from chainrule.autodiff import REGISTRY


@pytest.mark.parametrize("make_optimizer", [
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda p: optim.Adam(p, lr=1e-3, amsgrad=True),
    lambda p: optim.AdamW(p, lr=1e-3),
    lambda p: optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True),
    lambda p: optim.Adagrad(p, lr=1e-2),
])  # fmt: skip
def test_no_float64_in_a_float32_training_step(
    make_optimizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, Any]] = []
    for name, cls in REGISTRY.items():
        forward, backward = cls.forward, cls.backward

        def fwd(self: Any, *a: Any, _f: Any = forward, _n: str = name, **k: Any) -> Any:
            out = _f(self, *a, **k)
            outs = out if isinstance(out, tuple) else (out,)  # multi-output primitives
            seen.extend((_n, "forward", o.dtype) for o in outs)
            return out

        def bwd(self: Any, g: Any, _b: Any = backward, _n: str = name) -> Any:
            grads = _b(self, g)
            seen.extend((_n, "backward", x.dtype) for x in grads if x is not None)
            return grads

        monkeypatch.setattr(cls, "forward", fwd)
        monkeypatch.setattr(cls, "backward", bwd)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 20)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = nn.Sequential(
        nn.Linear(20, 16, rng=0), nn.BatchNorm1d(16), nn.GELU(), nn.Dropout(0.2, rng=1),
        nn.Linear(16, 16, rng=2), nn.ELU(), nn.Linear(16, 3, rng=3),
    )  # fmt: skip
    optimizer = make_optimizer(model.named_parameters())
    trainer = cr.Trainer(
        model, nn.CrossEntropyLoss(label_smoothing=0.1), optimizer,
        regularizers=[regularizers.ElasticNet(l1=1e-4, l2=1e-4)],
        constraints=[regularizers.MaxNorm(3.0)], clip_grad_norm=5.0,
    )  # fmt: skip
    trainer.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, seed=0)
    floats = {dtype for _, _, dtype in seen if np.dtype(dtype).kind == "f"}
    assert floats == {np.dtype(np.float32)}, [s for s in seen if s[2] == np.float64][:5]
    assert {name for name, _, _ in seen} >= {"linear", "softmax_cross_entropy", "mul", "abs"}
    for name, p in model.named_parameters():
        assert p.dtype == np.float32 and p.grad is not None and p.grad.dtype == np.float32, name
    for _, b in model.named_buffers():
        assert b.dtype in (np.float32, np.int64)
    state = optimizer.state_dict()["state"]
    assert state and all(a.dtype in (np.float32, np.int64) for a in state.values())
