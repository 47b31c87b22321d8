"""Module behaviour: names found by type, state round trips, load errors, modes, repr, counts."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ShapeError


class Block(nn.Module):
    """A custom module mixing a Parameter, a Buffer and child modules."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(np.full(3, 2.0, np.float32))
        self.body = nn.Sequential(nn.Linear(3, 4, rng=seed), nn.BatchNorm1d(4), nn.Dropout(0.5))
        self.steps = nn.Buffer(np.zeros(1, np.float32))
        self.head = nn.Linear(4, 2, rng=seed + 1)
        self.note = "not a tensor"  # plain attributes are ignored

    def forward(self, x):
        return self.head(self.body(x * self.scale))

    def extra_repr(self) -> str:
        return "custom"


def trained_block(seed: int) -> Block:
    """A Block whose batch-norm statistics have moved away from their initial values."""
    block = Block(seed)
    block(np.random.default_rng(seed).normal(size=(8, 3)).astype(np.float32))
    return block


def test_parameters_and_buffers_have_dotted_names_in_assignment_order():
    block = Block(0)
    assert [n for n, _ in block.named_parameters()] == [
        "scale", "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias",
        "head.weight", "head.bias",
    ]  # fmt: skip
    assert [n for n, _ in block.named_buffers()] == [
        "steps", "body.1.running_mean", "body.1.running_var", "body.1.num_batches_tracked"
    ]  # fmt: skip
    assert block.parameters()[1] is block.body[0].weight
    assert [n for n, _ in block.named_modules()] == ["", "body", "body.0", "body.1", "body.2",
                                                      "head"]  # fmt: skip
    assert [type(m).__name__ for m in block.children()] == ["Sequential", "Linear"]


def test_state_dict_keys_are_the_names_and_values_are_copies():
    block = Block(0)
    state = block.state_dict()
    assert list(state) == [n for n, _ in block.named_parameters()] + [
        n for n, _ in block.named_buffers()
    ]
    state["head.bias"][:] = 99
    assert (block.head.bias.data == 0).all()


def test_state_dict_round_trip_is_bit_exact():
    source, target = trained_block(0), Block(7)
    x = np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32)
    source.eval(), target.eval()
    assert not np.array_equal(source(x).data, target(x).data)
    target.load_state_dict(source.state_dict())
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    assert source(x).data.tobytes() == target(x).data.tobytes()
    assert int(target.body[1].num_batches_tracked.data) == 1


def test_load_state_dict_accepts_tensors_and_casts_to_each_dtype():
    block = Block(0)
    state = {k: cr.tensor(v.astype(np.float64)) for k, v in Block(1).state_dict().items()}
    block.load_state_dict(state)
    assert block.head.weight.dtype == np.float32
    np.testing.assert_allclose(block.head.weight.data, Block(1).head.weight.data)


def test_load_state_dict_lists_missing_unexpected_and_wrongly_shaped_keys():
    block = Block(0)
    state = block.state_dict()
    del state["head.bias"], state["steps"]
    state["head.extra"] = np.zeros(2)
    state["body.0.weight"] = np.zeros((3, 3))
    message = (
        "load_state_dict into Block: missing keys ['head.bias', 'steps'], unexpected keys "
        "['head.extra'], wrong shapes: body.0.weight: expected (4, 3), got (3, 3)"
    )
    with pytest.raises(ShapeError, match=re.escape(message)):
        block.load_state_dict(state)


def test_load_state_dict_non_strict_skips_names_but_not_shapes():
    block = Block(0)
    new_bias = np.array([1.0, 2.0], np.float32)
    block.load_state_dict({"head.bias": new_bias, "unknown": np.zeros(1)}, strict=False)
    np.testing.assert_array_equal(block.head.bias.data, new_bias)
    with pytest.raises(ShapeError, match=re.escape("head.bias: expected (2,), got (3,)")):
        block.load_state_dict({"head.bias": np.zeros(3)}, strict=False)


def test_load_state_dict_leaves_the_model_unchanged_when_it_fails():
    block = Block(0)
    before = block.head.weight.data.copy()
    with pytest.raises(ShapeError):
        block.load_state_dict({"head.weight": np.ones((2, 4)), "head.bias": np.zeros(5)})
    np.testing.assert_array_equal(block.head.weight.data, before)


def test_train_and_eval_set_the_mode_of_the_whole_tree():
    block = Block(0)
    assert all(m.training for m in block.modules())
    assert block.eval() is block
    assert not any(m.training for m in block.modules())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(block(x).data, block(x).data)  # no dropout, running stats
    block.train()
    assert all(m.training for m in block.modules())
    block.body.eval()
    assert block.training and not block.body[2].training and block.head.training


def test_repr_tree_shows_children_with_their_names():
    assert repr(Block(0)) == (
        "Block(custom\n"
        "  (body): Sequential(\n"
        "    (0): Linear(3 -> 4, bias=True)\n"
        "    (1): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True)\n"
        "    (2): Dropout(p=0.5)\n"
        "  )\n"
        "  (head): Linear(4 -> 2, bias=True)\n"
        ")"
    )


def test_num_parameters_counts_scalars_and_can_skip_frozen_ones():
    model = nn.Sequential(nn.Linear(784, 256, rng=0), nn.ReLU(), nn.Linear(256, 10, rng=0))
    assert model.num_parameters() == 784 * 256 + 256 + 256 * 10 + 10
    model[0].weight.requires_grad_(False)
    assert model.num_parameters() == 256 + 256 * 10 + 10
    assert model.num_parameters(trainable_only=False) == 784 * 256 + 256 + 256 * 10 + 10
    assert Block(0).num_parameters() == 3 + (12 + 4) + (4 + 4) + (8 + 2)


def test_zero_grad_and_astype():
    block = Block(0)
    out = block(np.ones((4, 3), np.float32))
    out.sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())
    assert block.astype(np.float64) is block
    assert {t.dtype for t in block.parameters()} == {np.dtype(np.float64)}
    assert block.body[1].running_var.dtype == np.float64
    assert block.body[1].num_batches_tracked.dtype == np.int64  # integer buffers stay integers
