"""Learning on small real problems: XOR and the bundled 8x8 digits, from fixed seeds."""

from __future__ import annotations

import numpy as np

from chainrule import losses, nn, optim
from chainrule.data import load_digits
from chainrule.training import Trainer


def test_xor_is_learned_by_a_2_4_1_tanh_sigmoid_network_with_plain_sgd() -> None:
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    t = np.array([[0], [1], [1], [0]], dtype=np.float32)
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(2, 4, rng=rng), nn.Tanh(), nn.Linear(4, 1, rng=rng), nn.Sigmoid()
    )
    trainer = Trainer(
        model, losses.mse_loss, optim.SGD(model.parameters(), lr=0.5), metrics=(), diagnostics=False
    )
    history = trainer.fit(x, t, epochs=2000, batch_size=4, shuffle=False)
    out = trainer.predict(x)[:, 0]
    # Every output on the right side of 0.5: impossible for a network without a working hidden
    # layer (XOR is not linearly separable), so wrong gradients would fail here.
    assert np.all((out > 0.5) == (t[:, 0] == 1)), out
    assert history["loss"][-1] < 0.02 < history["loss"][0]


def test_one_hidden_layer_learns_the_bundled_digits() -> None:
    (x_train, y_train), (x_test, y_test) = load_digits()
    x_train = x_train.reshape(len(x_train), 64)
    x_test = x_test.reshape(len(x_test), 64)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(64, 128, rng=rng), nn.ReLU(), nn.Linear(128, 10, rng=rng))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt)
    history = trainer.fit(x_train, y_train, epochs=30, batch_size=32, seed=0)
    result = trainer.evaluate(x_test, y_test)
    assert result["accuracy"] >= 0.95, result
    assert history["accuracy"][-1] >= 0.97
    predicted = trainer.predict(x_test).argmax(axis=1)
    assert np.mean(predicted == y_test) == result["accuracy"]
