"""ModelCheckpoint writes through io.atomic: the bytes are fsynced before the rename."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from chainrule import nn, optim
from chainrule.callbacks import ModelCheckpoint, save_weights
from chainrule.training import Trainer


def fit_with(checkpoint: ModelCheckpoint) -> nn.Module:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(2, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng))
    opt = optim.SGD(model.parameters(), lr=0.1)
    Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[checkpoint], diagnostics=False).fit(
        x, y, epochs=1, batch_size=10
    )
    return model


@pytest.mark.parametrize("custom", [False, True])
def test_checkpoint_bytes_are_fsynced_before_they_replace_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, custom: bool
) -> None:
    target = tmp_path / "w.safetensors"
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(f"replace {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)

    def own_writer(model: nn.Module, path: str) -> None:  # plain writes, no fsync of its own
        from safetensors.numpy import save

        Path(path).write_bytes(save(model.state_dict()))

    save_fn = own_writer if custom else save_weights
    model = fit_with(ModelCheckpoint(target, monitor="loss", save_fn=save_fn))
    assert events.index("fsync") < events.index(f"replace {target.name}")
    saved = load_file(str(target))
    assert all(np.array_equal(saved[k], v) for k, v in model.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no scratch left
