"""Flush-to-zero: set and restored per thread, used by Trainer.fit, harmless where unsupported."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.autodiff import denormals
from chainrule.callbacks import Callback
from chainrule.errors import ConfigError

TINY = 1e-39  # a float32 denormal (the smallest normal float32 is about 1.18e-38)

needs_ftz = pytest.mark.skipif(not denormals.supported(), reason="FTZ needs x86-64 Linux")


def flushes() -> bool:
    """Whether this thread's arithmetic turns a denormal into zero right now."""
    values = np.array([TINY]).astype(np.float32)  # float64 -> float32 gives a denormal or 0
    return float((values * np.float32(1.0))[0]) == 0.0


def test_denormals_survive_by_default() -> None:
    assert not denormals.is_flush_denormal()
    assert not flushes()


@needs_ftz
def test_context_flushes_inside_and_restores_after() -> None:
    with cr.flush_denormals() as active:
        assert active is True
        assert denormals.is_flush_denormal()
        assert flushes()
    assert not denormals.is_flush_denormal()
    assert not flushes()


@needs_ftz
def test_context_restores_after_an_exception() -> None:
    with pytest.raises(RuntimeError), cr.flush_denormals():
        raise RuntimeError("boom")
    assert not flushes()


@needs_ftz
def test_context_restores_a_partial_mode_exactly() -> None:
    # Only FTZ set beforehand (as some libraries leave it): the block must give back just that.
    lib = denormals._load()
    assert denormals._put_bits(lib, denormals._FTZ)
    try:
        with cr.flush_denormals():
            assert flushes()
        assert denormals._mxcsr(lib) & denormals._BITS == denormals._FTZ
    finally:
        denormals._put_bits(lib, 0)


@needs_ftz
def test_nested_context_keeps_the_outer_mode() -> None:
    with cr.flush_denormals():
        with cr.flush_denormals():
            pass
        assert flushes()  # the inner block found it on, so it leaves it on
        with cr.flush_denormals(False) as active:
            assert active is True  # disabled means "do not touch": the outer mode stays
    assert not flushes()


@needs_ftz
def test_set_flush_denormal_switches_both_ways() -> None:
    try:
        assert denormals.set_flush_denormal(True) is True
        assert flushes()
        assert denormals.set_flush_denormal(False) is True
        assert not flushes()
    finally:
        denormals.set_flush_denormal(False)


@needs_ftz
def test_the_mode_belongs_to_the_calling_thread() -> None:
    # A thread already running keeps its own mode (a new one would inherit its creator's).
    seen: list[bool] = []
    go = threading.Event()

    def check() -> None:
        go.wait(10)
        seen.append(flushes())

    worker = threading.Thread(target=check)
    worker.start()
    with cr.flush_denormals():
        go.set()
        worker.join()
        assert flushes()
    assert seen == [False]


def test_unsupported_platform_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(denormals, "_load", lambda: None)
    assert denormals.supported() is False
    assert denormals.set_flush_denormal(True) is False
    with cr.flush_denormals() as active:
        assert active is False
        assert not flushes()


class _Probe(Callback):
    """Records, during training, whether denormals are being flushed."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def on_epoch_end(self, trainer: object, epoch: int, logs: object) -> None:
        self.seen.append(flushes())


def _trainer(**kwargs: object) -> tuple[cr.Trainer, _Probe]:
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng))
    probe = _Probe()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = cr.Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[probe], **kwargs)
    return trainer, probe


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


@needs_ftz
def test_trainer_fit_flushes_and_restores() -> None:
    trainer, probe = _trainer()
    trainer.fit(*_data(), epochs=2, batch_size=8, seed=0)
    assert probe.seen == [True, True]
    assert not flushes()


def test_trainer_can_leave_denormals_alone() -> None:
    trainer, probe = _trainer(flush_denormals=False)
    trainer.fit(*_data(), epochs=1, batch_size=8, seed=0)
    assert probe.seen == [False]


def test_trainer_flush_denormals_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match="flush_denormals must be True or False, got 'yes'"):
        _trainer(flush_denormals="yes")


@needs_ftz
def test_a_decaying_momentum_buffer_reaches_zero_instead_of_denormals() -> None:
    # The gradient is zero after the first step, so v <- 0.9 v decays: without flushing it
    # passes through the denormal range; with it, it jumps from the smallest normal to zero.
    w = cr.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.01, momentum=0.9)
    w.grad = np.full(4, 1e-30, dtype=np.float32)
    opt.step()
    w.grad = np.zeros(4, dtype=np.float32)
    with cr.flush_denormals():
        for _ in range(200):
            opt.step()
    buf = opt.state[0]["momentum_buffer"]
    assert np.all((buf == 0) | (np.abs(buf) >= np.finfo(np.float32).tiny))
