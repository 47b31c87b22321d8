"""Containers: ModuleList, ModuleDict, and layers held in plain lists, tuples and dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ConfigError


class ListHeld(nn.Module):
    """A model that keeps its layers in a plain Python list (PyTorch would miss them)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = [nn.Linear(2, 8, rng=0), nn.Tanh(), nn.Linear(8, 2, rng=1)]
        self.heads = {"extra": nn.Linear(2, 2, rng=2)}
        self.scales = (nn.Parameter(np.ones(2, np.float32)),)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return self.heads["extra"](x) * self.scales[0]


def _xor_like(n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)


def test_list_held_layers_are_found_named_and_trained() -> None:
    model = ListHeld()
    names = [name for name, _ in model.named_parameters()]
    assert names == [  # the module's own tensors first, then its children's, as for attributes
        "scales.0", "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
        "heads.extra.weight", "heads.extra.bias",
    ]  # fmt: skip
    assert set(model.state_dict()) == set(names)
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    x, y = _xor_like()
    trainer = cr.Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05))
    history = trainer.fit(x, y, epochs=30, batch_size=32, seed=0)
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    for name, p in model.named_parameters():
        assert not np.array_equal(p.data, before[name]), name
    model.eval()
    assert all(not m.training for m in model.layers)


def test_state_dict_round_trip_of_list_held_layers() -> None:
    a, b = ListHeld(), ListHeld()
    for p in b.parameters():
        p.data = p.data + 1
    b.load_state_dict(a.state_dict())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(pa.data, pb.data)


def test_module_list_behaves_like_a_list() -> None:
    blocks = nn.ModuleList([nn.Linear(3, 3, rng=i) for i in range(3)])
    blocks.insert(1, nn.ReLU())
    assert [type(m).__name__ for m in blocks] == ["Linear", "ReLU", "Linear", "Linear"]
    del blocks[0]
    assert len(blocks) == 3 and isinstance(blocks[0], nn.ReLU) and isinstance(blocks[-1], nn.Linear)
    assert [n for n, _ in blocks.named_parameters()] == ["1.weight", "1.bias", "2.weight", "2.bias"]
    blocks[0] = nn.Tanh()
    assert isinstance(blocks[0], nn.Tanh)
    assert len(blocks[1:]) == 2
    with pytest.raises(IndexError, match="out of range"):
        blocks[5]
    with pytest.raises(ConfigError, match="forget the parentheses"):
        blocks.append(nn.ReLU)  # type: ignore[arg-type]


def test_module_dict_names_and_saves(tmp_path: Any) -> None:
    heads = nn.ModuleDict({"digit": nn.Linear(4, 10, rng=0), "parity": nn.Linear(4, 2, rng=1)})
    assert list(heads) == ["digit", "parity"] and "digit" in heads
    assert [n for n, _ in heads.named_parameters()][0] == "digit.weight"
    with pytest.raises(ConfigError, match="identifiers without dots"):
        heads["a.b"] = nn.ReLU()
    with pytest.raises(KeyError, match="has no module 'nope'"):
        heads["nope"]
    model = nn.Sequential(nn.Linear(4, 4, rng=2), nn.ModuleList([nn.ReLU()]))
    cr.save(heads, tmp_path / "heads")
    loaded = cr.load(tmp_path / "heads").model
    assert isinstance(loaded, nn.ModuleDict)
    np.testing.assert_array_equal(loaded["digit"].weight.data, heads["digit"].weight.data)
    assert model.num_parameters() == 20


def test_forward_hooks_see_and_may_replace() -> None:
    layer = nn.Linear(3, 2, rng=0)
    seen: list[tuple[int, tuple[int, ...]]] = []
    remove = layer.register_forward_hook(
        lambda m, inputs, out: seen.append((len(inputs), out.shape))
    )
    pre = layer.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 0,))
    out = layer(np.ones((4, 3), np.float32))
    np.testing.assert_allclose(out.data, np.broadcast_to(layer.bias.data, (4, 2)))
    assert seen == [(1, (4, 2))]
    remove()
    pre()
    layer(np.ones((1, 3), np.float32))
    assert len(seen) == 1
    doubling = layer.register_forward_hook(lambda m, inputs, out: out * 2)
    x = np.ones((1, 3), np.float32)
    doubled = layer(x).data
    doubling()
    np.testing.assert_allclose(doubled, 2 * layer(x).data)


def test_forgetting_super_init_is_explained() -> None:
    class Forgot(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(np.ones(1, np.float32))

        def forward(self, x: Any) -> Any:
            return x * self.w

    with pytest.raises(ConfigError, match=r"Forgot.__init__ did not call super\(\).__init__\(\)"):
        Forgot()(np.ones(1, np.float32))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        nn.ReLU().nothing  # noqa: B018
