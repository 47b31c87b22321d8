"""The pieces of chainrule.distributed in one process (the mpirun tests run them for real)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import distributed, nn, optim
from chainrule.data import DataLoader
from chainrule.distributed import communicator
from chainrule.distributed.faults import abort_on_error, report_and_abort
from chainrule.errors import ConfigError


class FakeComm(distributed.Communicator):
    """``size`` identical ranks: a sum over them is ``size`` times this rank's array."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.calls, self.aborted = size, 0, None

    def all_reduce(self, array: np.ndarray) -> np.ndarray:
        self.calls += 1
        array *= self.size
        return array

    def broadcast(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        return array

    def broadcast_object(self, value: Any, root: int = 0) -> Any:
        return value

    def abort(self, code: int = 1) -> None:
        self.aborted = code


def test_every_rank_gets_a_disjoint_share_of_each_global_batch_and_the_same_steps() -> None:
    x = np.arange(105)[:, None]
    world = 4
    shares = [
        list(distributed.DistributedSampler((x,), 16, r, world, shuffle=True, seed=5))
        for r in range(world)
    ]
    assert len({len(s) for s in shares}) == 1  # every rank runs the same number of steps
    single = [b[0].ravel().copy() for b in DataLoader((x,), 16, shuffle=True, seed=5)]
    steps = [np.sort(np.concatenate([s[k][0].ravel() for s in shares])) for k in range(len(single))]
    # 105 = 6 * 16 + 9: the last batch (9 rows: two or more per rank) is shared, not merged.
    assert [np.sort(b).tolist() for b in single] == [s.tolist() for s in steps]
    sizes = [[len(s[k][0]) for s in shares] for k in range(len(single))]
    assert sizes[0] == [4, 4, 4, 4] and sizes[-1] == [3, 2, 2, 2]


def test_one_rank_is_the_trainers_data_loader_and_small_last_batches_merge() -> None:
    x = np.arange(33)[:, None]
    one = [b[0].ravel().tolist() for b in distributed.DistributedSampler((x,), 8, 0, 1, seed=2)]
    loader = DataLoader((x,), 8, shuffle=True, seed=2, merge_single=True)
    assert one == [b[0].ravel().tolist() for b in loader]  # 33 = 4*8 + 1: merged, as fit does
    two = distributed.DistributedSampler((np.arange(35)[:, None],), 8, 0, 2)
    assert two.merges_last and len(two) == 4  # 3 rows cannot give 2 ranks two each


@pytest.mark.parametrize(
    ("n", "batch", "rank", "world", "message"),
    [
        (100, 2, 0, 4, r"global batch size \(2\) must be at least the number of ranks \(4\)"),
        (5, 4, 0, 4, "5 samples cannot give 4 ranks two rows each"),
        (100, 8, 4, 4, "rank 4 outside 0..3"),
    ],
)
def test_sampler_refuses_what_cannot_be_shared(
    n: int, batch: int, rank: int, world: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        distributed.DistributedSampler((np.zeros((n, 1)),), batch, rank, world)


def test_one_process_is_one_rank_and_collectives_return_their_input() -> None:
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    a = np.arange(4.0)
    assert distributed.all_reduce(a) is a and a.tolist() == [0, 1, 2, 3]
    distributed.barrier()
    assert "mpi4py" not in sys.modules or distributed.launched_by_mpi() is False


def test_collectives_need_contiguous_writable_buffers() -> None:
    comm = distributed.Communicator()
    comm.size = 2  # any multi-rank communicator checks before calling MPI
    with pytest.raises(ConfigError, match="C-contiguous, writable NumPy array"):
        comm.all_reduce(np.zeros((4, 4))[:, 1])


def test_under_a_launcher_without_mpi4py_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import fails
    monkeypatch.setattr(communicator, "_world", None)
    with pytest.raises(ConfigError, match=r"mpi4py is not installed.*chainrule\[mpi\]"):
        distributed.init()


def test_gradients_packed_in_buckets_are_averaged_and_riders_come_back() -> None:
    comm = FakeComm(2)
    reducer = distributed.GradientAllreduce(comm, bucket_bytes=1024)  # 256 floats a bucket
    layer = nn.Linear(30, 20, rng=np.random.default_rng(0))  # 620 gradients: 3 buckets
    grads = [np.full(p.shape, 0.5, np.float32) for p in layer.parameters()]
    layer.weight.grad, layer.bias.grad = grads
    (loss,) = reducer.reduce(layer.parameters(), 1.0, [3.0])
    assert comm.calls == 3 and loss == 3.0
    assert all(np.array_equal(p.grad, g) for p, g in zip(layer.parameters(), grads))
    layer.bias.grad = None  # no gradient on this rank: zeros, so the layout stays the same
    reducer(layer.parameters())
    assert np.array_equal(layer.bias.grad, np.zeros(20, np.float32))


def _fit(distributed_option: Any) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 8, rng=rng), nn.ReLU(), nn.Linear(8, 2, rng=rng))
    trainer = cr.Trainer(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1),
        distributed=distributed_option,
    )
    trainer.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, seed=3)
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def test_distributed_trainer_on_one_process_is_the_plain_trainer() -> None:
    assert np.array_equal(_fit(True), _fit(False))


def test_trainer_refuses_two_reducers_and_unknown_options() -> None:
    model = nn.Linear(2, 2)
    sgd = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="pass gradient_reducer or distributed, not both"):
        cr.Trainer(model, nn.CrossEntropyLoss(), sgd, gradient_reducer=print, distributed=True)
    with pytest.raises(ConfigError, match="distributed must be True, False or a"):
        cr.Trainer(model, nn.CrossEntropyLoss(), sgd, distributed="mpi")


def test_a_failing_rank_names_itself_and_aborts_the_job(capsys: pytest.CaptureFixture) -> None:  # type: ignore[type-arg]
    comm = FakeComm(3)
    comm.rank = 2
    with pytest.raises(ValueError), abort_on_error(comm, code=7):  # a real abort never returns
        raise ValueError("bad batch")
    assert comm.aborted == 7
    err = capsys.readouterr().err
    assert "rank 2 of 3 failed: ValueError: bad batch; aborting every rank" in err
    report_and_abort(comm, RuntimeError("x"))
    assert comm.aborted == 1
    with pytest.raises(KeyError), abort_on_error(distributed.Communicator()):
        raise KeyError("one rank: errors propagate as usual")


def test_each_rank_draws_its_own_dropout_masks() -> None:
    masks = []
    for rank in (0, 1):
        comm = FakeComm(2)
        comm.rank = rank
        model = nn.Sequential(nn.Linear(4, 64, rng=0), nn.Dropout(0.5, rng=1))
        distributed.DataParallel(comm, abort_on_exception=False).start(model)
        masks.append(model(np.ones((8, 4), np.float32)).data != 0)
    assert not np.array_equal(masks[0], masks[1])  # the same masks would correlate the ranks


class CtrlC(cr.callbacks.Callback):
    def on_batch_end(self, trainer: Any, batch: int, logs: Any) -> None:
        if trainer.epoch == 1:
            raise KeyboardInterrupt


def test_ctrl_c_ends_one_process_cleanly_but_leaves_several_ranks_to_abort() -> None:
    def fit(comm: Any) -> Any:
        model = nn.Linear(4, 2, rng=np.random.default_rng(0))
        dp = distributed.DataParallel(comm, abort_on_exception=False)
        trainer = cr.Trainer(
            model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            callbacks=[CtrlC()], distributed=dp,
        )  # fmt: skip
        x = np.random.default_rng(1).normal(size=(40, 4)).astype(np.float32)
        return trainer.fit(x, (x[:, 0] > 0).astype(np.int64), epochs=3, batch_size=8, seed=0)

    assert fit(distributed.Communicator()).interrupted  # one rank: the usual clean ending
    with pytest.raises(KeyboardInterrupt):  # several: no rank may finish alone
        fit(FakeComm(2))
    comm = FakeComm(2)
    report_and_abort(comm, KeyboardInterrupt())
    assert comm.aborted == 130
