"""Primitive-table samples of the distributed family: the all-reduce of synchronised batch norm.

In one process the sum over ranks is the identity, forward and backward; across ranks it is
checked under a real ``mpirun`` (tests/distributed: SyncBatchNorm on N ranks trains the model
one process trains with BatchNorm1d on the whole batch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.distributed.syncbn import AllreduceSum

rng = np.random.default_rng(77)


def make(Case: Any) -> dict[str, list[Any]]:
    """The samples, built with the table's ``Case`` class."""
    return {
        "allreduce_sum": [
            Case(lambda a: AllreduceSum.apply(a), lambda a: a, [rng.normal(size=(2, 3))]),
            Case(
                lambda a: AllreduceSum.apply(a, share=0.5),
                lambda a: a,
                [rng.normal(size=(1, 4))],
                id="share",
            ),  # fmt: skip
        ],
    }
