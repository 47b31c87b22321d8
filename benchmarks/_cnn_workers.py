"""CNN benchmark workers: train one contender in this fresh process and print one JSON line.

Run by ``bench_cnn.py``. The network (issue 14): conv(1->32, 3x3) - ReLU - maxpool 2 -
conv(32->64, 3x3) - ReLU - maxpool 2 - linear(1600->128) - ReLU - linear(128->10), batch 128,
SGD lr 0.05 momentum 0.9, float32. Only NumPy is imported at module level: a chainrule worker
never imports torch and a torch worker never imports chainrule.

Timed per epoch: from the permutation to the last optimizer step (wall clock and this
process's CPU time). Test accuracy after each epoch, outside the timing. Inference: the test
images in batches of 1000 without a graph (``no_grad``), median of 3, after training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCH, LR, MOMENTUM, INFER_BATCH = 128, 0.05, 0.9, 1000


def _rss_kib(field: str = "VmHWM") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _load(folder: Path, train_size: int | None) -> tuple[np.ndarray, ...]:
    x, y = np.load(folder / "x_train.npy"), np.load(folder / "y_train.npy")
    xt, yt = np.load(folder / "x_test.npy"), np.load(folder / "y_test.npy")
    if train_size:
        x, y = x[:train_size], y[:train_size]
    shape = (1, 28, 28)
    return x.reshape(len(x), *shape), y, xt.reshape(len(xt), *shape), yt


# -- chainrule ---------------------------------------------------------------------------------
def _chainrule_model(seed: int) -> Any:
    from chainrule import nn

    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(1600, 128, init="he_uniform", rng=rng), nn.ReLU(),
        nn.Linear(128, 10, rng=rng),
    )  # fmt: skip


def _chainrule_infer(model: Any, xt: np.ndarray) -> np.ndarray:
    import chainrule as cr

    model.eval()
    with cr.no_grad():
        out = [
            model(xt[i : i + INFER_BATCH]).data.argmax(1) for i in range(0, len(xt), INFER_BATCH)
        ]
    model.train()
    return np.concatenate(out)


def chainrule_loop(data: tuple[np.ndarray, ...], epochs: int, seed: int) -> dict[str, Any]:
    import chainrule as cr
    from chainrule import nn, optim

    x, y, xt, yt = data
    model = _chainrule_model(seed)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    cr.retain_freed_memory()  # what the README asks of a loop of one's own (Trainer.fit does it)

    def epoch() -> None:
        perm = rng.permutation(len(x))
        with cr.flush_denormals():
            for i in range(0, len(x) - BATCH + 1, BATCH):
                idx = perm[i : i + BATCH]
                opt.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()

    return _run(epoch, lambda: _chainrule_infer(model, xt), xt, yt, epochs)


def chainrule_trainer(data: tuple[np.ndarray, ...], epochs: int, seed: int) -> dict[str, Any]:
    from chainrule import nn, optim
    from chainrule.training import Trainer

    x, y, xt, yt = data
    model = _chainrule_model(seed)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=LR,
                                                               momentum=MOMENTUM))  # fmt: skip
    count = iter(range(10**6))

    def epoch() -> None:
        trainer.fit(x, y, epochs=1, batch_size=BATCH, seed=seed + next(count))

    return _run(epoch, lambda: trainer.predict(xt).argmax(1), xt, yt, epochs)


# -- hand-written NumPy (NHWC, boolean-mask pooling, slice-add col2im) ---------------------------
def numpy_hand(data: tuple[np.ndarray, ...], epochs: int, seed: int) -> dict[str, Any]:
    x, y, xt, yt = data
    x, xt = x.transpose(0, 2, 3, 1).copy(), xt.transpose(0, 2, 3, 1).copy()  # NHWC
    rng = np.random.default_rng(seed)
    f32 = np.float32

    def u(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        b = 1 / np.sqrt(fan_in)
        return rng.uniform(-b, b, shape).astype(f32)

    p = {"w1": u((9, 32), 9), "b1": u((32,), 9), "w2": u((288, 64), 288), "b2": u((64,), 288),
         "w3": u((1600, 128), 1600), "b3": u((128,), 1600), "w4": u((128, 10), 128),
         "b4": u((10,), 128)}  # fmt: skip
    vel = {k: np.zeros_like(v) for k, v in p.items()}
    win = np.lib.stride_tricks.sliding_window_view

    def forward(xb: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        n = len(xb)
        c1 = win(xb, (3, 3), axis=(1, 2)).reshape(n * 676, 9)
        h1 = np.maximum(c1 @ p["w1"] + p["b1"], 0).reshape(n, 26, 26, 32)
        r1 = h1.reshape(n, 13, 2, 13, 2, 32)
        m1 = r1.max(axis=(2, 4))
        k1 = r1 == m1[:, :, None, :, None]
        c2 = win(m1, (3, 3), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3).reshape(n * 121, 288)
        h2 = np.maximum(c2 @ p["w2"] + p["b2"], 0).reshape(n, 11, 11, 64)
        r2 = h2[:, :10, :10].reshape(n, 5, 2, 5, 2, 64)
        m2 = r2.max(axis=(2, 4))
        k2 = r2 == m2[:, :, None, :, None]
        f = m2.reshape(n, 1600)
        h3 = np.maximum(f @ p["w3"] + p["b3"], 0)
        out = h3 @ p["w4"] + p["b4"]
        return out, {"c1": c1, "h1": h1, "k1": k1, "c2": c2, "h2": h2, "k2": k2, "f": f,
                     "h3": h3}  # fmt: skip

    def step(xb: np.ndarray, yb: np.ndarray) -> None:
        n = len(xb)
        out, s = forward(xb)
        e = np.exp(out - out.max(1, keepdims=True))
        g = e / e.sum(1, keepdims=True)
        g[np.arange(n), yb] -= 1
        g /= n
        grads = {"w4": s["h3"].T @ g, "b4": g.sum(0)}
        d3 = (g @ p["w4"].T) * (s["h3"] > 0)
        grads["w3"], grads["b3"] = s["f"].T @ d3, d3.sum(0)
        dm2 = (d3 @ p["w3"].T).reshape(n, 5, 1, 5, 1, 64)
        dh2 = np.zeros((n, 11, 11, 64), f32)
        dh2[:, :10, :10] = (s["k2"] * dm2).reshape(n, 10, 10, 64)
        dh2 *= s["h2"] > 0
        d2 = dh2.reshape(n * 121, 64)
        grads["w2"], grads["b2"] = s["c2"].T @ d2, d2.sum(0)
        dc2 = (d2 @ p["w2"].T).reshape(n, 11, 11, 3, 3, 32)
        dm1 = np.zeros((n, 13, 13, 32), f32)
        for i in range(3):
            for j in range(3):
                dm1[:, i : i + 11, j : j + 11] += dc2[:, :, :, i, j]
        dh1 = (s["k1"] * dm1.reshape(n, 13, 1, 13, 1, 32)).reshape(n, 26, 26, 32)
        dh1 *= s["h1"] > 0
        d1 = dh1.reshape(n * 676, 32)
        grads["w1"], grads["b1"] = s["c1"].T @ d1, d1.sum(0)
        for k in p:
            vel[k] *= MOMENTUM
            vel[k] += grads[k]
            p[k] -= LR * vel[k]

    order = np.random.default_rng(seed)

    def epoch() -> None:
        perm = order.permutation(len(x))
        for i in range(0, len(x) - BATCH + 1, BATCH):
            idx = perm[i : i + BATCH]
            step(x[idx], y[idx])

    def infer() -> np.ndarray:
        return np.concatenate([forward(xt[i : i + INFER_BATCH])[0].argmax(1)
                               for i in range(0, len(xt), INFER_BATCH)])  # fmt: skip

    return _run(epoch, infer, xt, yt, epochs)


def gemm_floor(data: tuple[np.ndarray, ...], epochs: int, seed: int) -> dict[str, Any]:
    """The matrix products of each step, issued back to back with nothing else (no learning)."""
    x, y, xt, yt = data
    rng = np.random.default_rng(seed)
    f32 = np.float32
    n = BATCH
    shapes = {
        "c1": (9, n * 676), "w1": (32, 9), "c2": (288, n * 121), "w2": (64, 288),
        "f": (n, 1600), "w3": (128, 1600), "h3": (n, 128), "w4": (10, 128),
        "g1": (32, n * 676), "g2": (64, n * 121), "g3": (n, 128), "g4": (n, 10),
    }  # fmt: skip
    a = {k: rng.random(s, dtype=f32) for k, s in shapes.items()}

    def step() -> None:
        a["w1"] @ a["c1"], a["w2"] @ a["c2"], a["f"] @ a["w3"].T, a["h3"] @ a["w4"].T
        a["g4"].T @ a["h3"], a["g4"] @ a["w4"], a["g3"].T @ a["f"], a["g3"] @ a["w3"]
        a["g2"] @ a["c2"].T, a["w2"].T @ a["g2"], a["g1"] @ a["c1"].T

    def epoch() -> None:
        for _ in range(len(x) // BATCH):
            step()

    return _run(epoch, lambda: np.zeros(len(xt), np.int64), xt, yt, epochs)


# -- PyTorch -----------------------------------------------------------------------------------
def _torch(data: tuple[np.ndarray, ...], epochs: int, seed: int, compiled: bool) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    x, y, xt, yt = (torch.from_numpy(a) for a in data)
    tn = torch.nn
    model = tn.Sequential(
        tn.Conv2d(1, 32, 3), tn.ReLU(), tn.MaxPool2d(2), tn.Conv2d(32, 64, 3), tn.ReLU(),
        tn.MaxPool2d(2), tn.Flatten(), tn.Linear(1600, 128), tn.ReLU(), tn.Linear(128, 10),
    )  # fmt: skip
    run = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = tn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)

    def epoch() -> None:
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - BATCH + 1, BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(run(x[idx]), y[idx])
            loss.backward()
            opt.step()

    def infer() -> np.ndarray:
        model.eval()
        with torch.no_grad():
            out = [run(xt[i : i + INFER_BATCH]).argmax(1) for i in range(0, len(xt), INFER_BATCH)]
        model.train()
        return torch.cat(out).numpy()

    return _run(epoch, infer, data[2], data[3], epochs)


def torch_eager(data: tuple[np.ndarray, ...], epochs: int, seed: int) -> dict[str, Any]:
    return _torch(data, epochs, seed, compiled=False)


def torch_compile(data: tuple[np.ndarray, ...], epochs: int, seed: int) -> dict[str, Any]:
    return _torch(data, epochs, seed, compiled=True)


# -- the frame -----------------------------------------------------------------------------------
def _run(epoch: Any, infer: Any, xt: np.ndarray, yt: np.ndarray, epochs: int) -> dict[str, Any]:
    walls, cpus, accuracy = [], [], []
    for _ in range(epochs):
        c0, w0 = time.process_time(), time.perf_counter()
        epoch()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        accuracy.append(float(np.mean(np.asarray(infer()) == yt)))
    peak_train = _rss_kib()
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        infer()
        runs.append(time.perf_counter() - t0)
    return {"epoch_seconds": walls, "epoch_cpu_seconds": cpus, "test_accuracy": accuracy,
            "inference_runs": runs, "inference_seconds": statistics.median(runs),
            "peak_rss_train_kib": peak_train, "peak_rss_kib": _rss_kib()}  # fmt: skip


WORKERS = {
    "chainrule-trainer": chainrule_trainer, "chainrule-loop": chainrule_loop,
    "torch-eager": torch_eager, "torch-compile": torch_compile, "numpy-hand": numpy_hand,
    "gemm-floor": gemm_floor,
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=sorted(WORKERS))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.contender.startswith("torch"):
        import torch

        torch.set_num_threads(args.threads)
    data = _load(args.data, args.train_size or None)
    try:
        record = WORKERS[args.contender](data, args.epochs, args.seed)
    except Exception as exc:  # a contender that cannot run (torch.compile here) is reported
        record = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    record.update(contender=args.contender, epochs=args.epochs, threads=args.threads,
                  n_train=len(data[0]))  # fmt: skip
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    sys.exit(main())
