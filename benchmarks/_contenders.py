"""The contenders of the MLP benchmark: how each one trains an epoch and predicts.

Each ``plan_*`` builds its model from a ``Config`` and returns a ``Plan``; heavy libraries
(chainrule, torch, scikit-learn) are imported inside the plan that needs them, so a worker loads
only its own contender's.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# An epoch function trains one epoch; a predict function returns logits (or labels) for x_test.
EpochFn = Callable[[int], None]
PredictFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Config:
    """One worker's job: which contender, which network, which data, how long."""

    contender: str
    sizes: list[int]
    epochs: int
    seed: int
    threads: int
    batch_size: int
    lr: float
    momentum: float
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    #: "sgd" (with ``momentum``; the issue's set-up) or "adam" (default betas and eps).
    optimizer: str = "sgd"


#: Contenders that can train with ``optimizer="adam"`` (the floors have no optimizer at all).
ADAM_CONTENDERS = (
    "chainrule-trainer",
    "chainrule-loop",
    "torch-eager",
    "torch-eager-ftz",
    "torch-dataloader",
    "gemm-floor",
    "torch-gemm-floor",
)


def _sgd_only(cfg: Config) -> None:
    """The hand-written contenders implement momentum SGD only."""
    if cfg.optimizer != "sgd":
        raise ValueError(f"{cfg.contender} trains with SGD only, not {cfg.optimizer!r}")


def _make_optimizer(optim: Any, params: Any, cfg: Config) -> Any:
    """``optim.SGD`` or ``optim.Adam`` of chainrule or torch (the same names and arguments)."""
    if cfg.optimizer == "adam":
        return optim.Adam(params, lr=cfg.lr)
    return optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)


@dataclass
class Plan:
    """What a contender hands the common driver: how to train an epoch and how to predict."""

    train_epoch: EpochFn
    predict: PredictFn | None
    versions: dict[str, str]
    import_seconds: float = 0.0
    notes: str = ""
    #: For a contender that runs all epochs in one call (the Trainer): fit_all(epochs, after)
    #: trains, calls ``after()`` after each epoch outside its timing, and returns the seconds.
    fit_all: Callable[[int, Callable[[], None]], list[float]] | None = None


# --------------------------------------------------------------------------------------------
# numpy-hand: a plain NumPy MLP loop, written as a user would write it.
# --------------------------------------------------------------------------------------------
def _uniform_init(sizes: list[int], rng: np.random.Generator) -> list[list[np.ndarray]]:
    """PyTorch's nn.Linear default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(n_in)
        w = rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32)
        b = rng.uniform(-bound, bound, n_out).astype(np.float32)
        params.append([w, b])
    return params


def plan_numpy_hand(cfg: Config) -> Plan:
    """Forward, softmax cross-entropy, backward, momentum SGD, all in plain NumPy."""
    _sgd_only(cfg)
    rng = np.random.default_rng(cfg.seed)
    params = _uniform_init(cfg.sizes, rng)
    velocity = [[np.zeros_like(w), np.zeros_like(b)] for w, b in params]
    lr, mu, bs = np.float32(cfg.lr), np.float32(cfg.momentum), cfg.batch_size
    n = len(cfg.x)

    def forward(x: np.ndarray) -> list[np.ndarray]:
        acts = [x]
        for i, (w, b) in enumerate(params):
            z = acts[-1] @ w + b
            acts.append(np.maximum(z, 0) if i < len(params) - 1 else z)
        return acts

    def train_epoch(epoch: int) -> None:
        perm = rng.permutation(n)
        for start in range(0, n, bs):
            idx = perm[start : start + bs]
            xb, yb = cfg.x[idx], cfg.y[idx]
            acts = forward(xb)
            logits = acts[-1]
            logits = logits - logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            rows = np.arange(len(yb))
            grad = probs
            grad[rows, yb] -= 1.0
            grad /= np.float32(len(yb))
            for i in range(len(params) - 1, -1, -1):
                w, b = params[i]
                dw = acts[i].T @ grad
                db = grad.sum(axis=0)
                if i > 0:
                    grad = (grad @ w.T) * (acts[i] > 0)
                for p, v, g in ((w, velocity[i][0], dw), (b, velocity[i][1], db)):
                    v *= mu
                    v += g
                    p -= lr * v

    return Plan(train_epoch, lambda x: forward(x)[-1], {"numpy": np.__version__})


# --------------------------------------------------------------------------------------------
# gemm-floor: only the matrix products of a training step, back to back on preallocated arrays.
# --------------------------------------------------------------------------------------------
def plan_gemm_floor(cfg: Config) -> Plan:
    """Forward h@W.T, backward dW = g.T@h and dh = g@W per layer; nothing else is computed."""
    rng = np.random.default_rng(cfg.seed)
    sizes, bs, n = cfg.sizes, cfg.batch_size, len(cfg.x)
    weights = [
        rng.standard_normal((o, i)).astype(np.float32) * np.float32(0.05)
        for i, o in zip(sizes[:-1], sizes[1:])
    ]
    dweights = [np.empty_like(w) for w in weights]
    inputs = np.ascontiguousarray(cfg.x[:bs])
    hidden = [inputs] + [np.empty((bs, s), np.float32) for s in sizes[1:]]
    grads = [np.empty((bs, s), np.float32) for s in sizes]
    grads[-1][...] = rng.standard_normal(grads[-1].shape).astype(np.float32)
    # The same batch sizes as an epoch of the others: full batches then the remainder.
    batches = [min(bs, n - s) for s in range(0, n, bs)]

    def step(b: int) -> None:
        for layer, w in enumerate(weights):
            np.matmul(hidden[layer][:b], w.T, out=hidden[layer + 1][:b])
        for layer in range(len(weights) - 1, -1, -1):
            np.matmul(grads[layer + 1][:b].T, hidden[layer][:b], out=dweights[layer])
            if layer > 0:
                np.matmul(grads[layer + 1][:b], weights[layer], out=grads[layer][:b])

    def train_epoch(epoch: int) -> None:
        for b in batches:
            step(b)

    test_hidden = [np.empty((len(cfg.x_test), s), np.float32) for s in sizes[1:]]

    def predict(x: np.ndarray) -> np.ndarray:
        h = x
        for w, out in zip(weights, test_hidden):
            h = np.matmul(h, w.T, out=out)
        return h

    return Plan(train_epoch, predict, {"numpy": np.__version__}, notes="no accuracy: products only")


def plan_torch_gemm_floor(cfg: Config) -> Plan:
    """The gemm-floor's products in PyTorch (its BLAS: MKL in the CPU wheel): its speed limit."""
    torch, _, import_seconds = _torch_setup(cfg)
    sizes, bs, n = cfg.sizes, cfg.batch_size, len(cfg.x)
    gen = torch.Generator().manual_seed(cfg.seed)
    weights = [torch.randn(o, i, generator=gen) * 0.05 for i, o in zip(sizes[:-1], sizes[1:])]
    dweights = [torch.empty_like(w) for w in weights]
    hidden = [torch.from_numpy(np.ascontiguousarray(cfg.x[:bs]))]
    hidden += [torch.empty(bs, s) for s in sizes[1:]]
    grads = [torch.empty(bs, s) for s in sizes]
    grads[-1].normal_(generator=gen)
    batches = [min(bs, n - s) for s in range(0, n, bs)]

    def step(b: int) -> None:
        for layer, w in enumerate(weights):
            torch.matmul(hidden[layer][:b], w.t(), out=hidden[layer + 1][:b])
        for layer in range(len(weights) - 1, -1, -1):
            torch.matmul(grads[layer + 1][:b].t(), hidden[layer][:b], out=dweights[layer])
            if layer > 0:
                torch.matmul(grads[layer + 1][:b], weights[layer], out=grads[layer][:b])

    def train_epoch(epoch: int) -> None:
        with torch.no_grad():
            for b in batches:
                step(b)

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            h = torch.from_numpy(x)
            for w in weights:
                h = torch.matmul(h, w.t())
            return h.numpy()

    versions = {"numpy": np.__version__, "torch": torch.__version__}
    return Plan(train_epoch, predict, versions, import_seconds, notes="no accuracy: products only")


# --------------------------------------------------------------------------------------------
# sklearn: MLPClassifier trained one epoch per partial_fit call.
# --------------------------------------------------------------------------------------------
def plan_sklearn(cfg: Config) -> Plan:
    """partial_fit = one shuffled pass over the data in minibatches (sklearn's _fit_stochastic)."""
    _sgd_only(cfg)
    t0 = time.perf_counter()
    from sklearn.neural_network import MLPClassifier

    import_seconds = time.perf_counter() - t0
    clf = MLPClassifier(
        hidden_layer_sizes=tuple(cfg.sizes[1:-1]),
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=cfg.lr,
        momentum=cfg.momentum,
        nesterovs_momentum=False,
        batch_size=cfg.batch_size,
        alpha=0.0,
        shuffle=True,
        random_state=cfg.seed,
    )
    classes = np.arange(cfg.sizes[-1])

    def train_epoch(epoch: int) -> None:
        clf.partial_fit(cfg.x, cfg.y, classes=classes)

    def predict(x: np.ndarray) -> np.ndarray:
        return clf.predict_proba(x)

    return Plan(
        train_epoch,
        predict,
        {"numpy": np.__version__, "sklearn": importlib.metadata.version("scikit-learn")},
        import_seconds,
    )


# --------------------------------------------------------------------------------------------
# chainrule: the Trainer, and a plain PyTorch-style loop.
# --------------------------------------------------------------------------------------------
def _chainrule_model(cfg: Config) -> Any:
    """Sequential(Linear, ReLU, ..., Linear) with a seeded initialization."""
    from chainrule import nn

    rng = np.random.default_rng(cfg.seed)
    layers: list[Any] = []
    for i, (n_in, n_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, rng=rng))
        if i < len(cfg.sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _chainrule_import() -> tuple[Any, float]:
    """Import chainrule's training pieces, timed."""
    t0 = time.perf_counter()
    import chainrule as cr
    from chainrule import nn, optim  # noqa: F401  (the import cost is what is timed)

    return cr, time.perf_counter() - t0


def plan_chainrule_loop(cfg: Config) -> Plan:
    """model(x) -> loss -> zero_grad -> backward -> step, batches by permutation + np.take.

    The loop runs inside ``cr.flush_denormals()``, as ``Trainer.fit`` does.
    """
    cr, import_seconds = _chainrule_import()
    from chainrule import nn, optim

    model = _chainrule_model(cfg)
    loss_fn = nn.CrossEntropyLoss()
    opt = _make_optimizer(optim, model.parameters(), cfg)
    rng = np.random.default_rng(cfg.seed + 1)
    n, bs = len(cfg.x), cfg.batch_size

    def train_epoch(epoch: int) -> None:
        perm = rng.permutation(n)
        with cr.flush_denormals():  # what Trainer.fit does, and the README asks of a loop
            for start in range(0, n, bs):
                idx = perm[start : start + bs]
                xb = cr.Tensor(np.take(cfg.x, idx, axis=0))
                yb = np.take(cfg.y, idx, axis=0)
                loss = loss_fn(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()

    def predict(x: np.ndarray) -> np.ndarray:
        with cr.no_grad():
            return model(cr.Tensor(x)).data

    return Plan(
        train_epoch, predict, {"numpy": np.__version__, "chainrule": cr.__version__}, import_seconds
    )


def plan_chainrule_trainer(cfg: Config) -> Plan:
    """One Trainer.fit(epochs=N) call, timed per epoch by a callback; no metrics, no diagnostics.

    Epoch 1 runs from the fit() call (input checks, DataLoader set-up) to its on_epoch_end;
    later epochs from on_epoch_begin to on_epoch_end. Test accuracy is evaluated inside
    on_epoch_end after the clock stopped.
    """
    cr, import_seconds = _chainrule_import()
    from chainrule import nn, optim
    from chainrule.callbacks import Callback

    class EpochTimer(Callback):
        """Stops the clock at each epoch end, then runs the evaluation outside it."""

        def __init__(self, after: Callable[[], None]) -> None:
            self.after, self.start = after, time.perf_counter()
            self.seconds: list[float] = []

        def on_epoch_begin(self, trainer: Any, epoch: int, logs: Any) -> None:
            if epoch > 0:
                self.start = time.perf_counter()

        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any) -> None:
            self.seconds.append(time.perf_counter() - self.start)
            self.after()

    model = _chainrule_model(cfg)
    opt = _make_optimizer(optim, model.parameters(), cfg)
    holder: dict[str, Any] = {}

    def fit_all(epochs: int, after: Callable[[], None]) -> list[float]:
        timer = EpochTimer(after)
        trainer = cr.Trainer(
            model, nn.CrossEntropyLoss(), opt, metrics=(), callbacks=[timer], diagnostics=False
        )
        holder["trainer"] = trainer
        timer.start = time.perf_counter()
        trainer.fit(
            cfg.x, cfg.y, epochs=epochs, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed + 1
        )
        return timer.seconds

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(holder["trainer"].predict(x))

    return Plan(
        lambda epoch: None,
        predict,
        {"numpy": np.__version__, "chainrule": cr.__version__},
        import_seconds,
        notes="one fit(epochs=N), timed by a callback; predict() default batch",
        fit_all=fit_all,
    )


# --------------------------------------------------------------------------------------------
# PyTorch: eager loop with index gather, and the DataLoader form.
# --------------------------------------------------------------------------------------------
def _torch_setup(cfg: Config) -> tuple[Any, Any, float]:
    """Import torch (timed), pin its threads, build the seeded model."""
    t0 = time.perf_counter()
    import torch

    import_seconds = time.perf_counter() - t0
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # a benchmark process of its own: global seeding is harmless
    layers: list[Any] = []
    for i, (n_in, n_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(cfg.sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch, torch.nn.Sequential(*layers), import_seconds


def _torch_plan(cfg: Config, dataloader: bool, flush_denormal: bool = False) -> Plan:
    """Shared by the torch contenders; only the batching (and the denormal mode) differs."""
    torch, model, import_seconds = _torch_setup(cfg)
    if flush_denormal and not torch.set_flush_denormal(True):
        raise RuntimeError("torch.set_flush_denormal(True) is not supported on this CPU")
    x, y = torch.from_numpy(cfg.x), torch.from_numpy(cfg.y)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = _make_optimizer(torch.optim, model.parameters(), cfg)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    n, bs = len(cfg.x), cfg.batch_size
    loader = None
    if dataloader:
        from torch.utils.data import DataLoader, TensorDataset

        loader = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True, generator=gen)

    def step(xb: Any, yb: Any) -> None:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def train_epoch(epoch: int) -> None:
        if loader is not None:
            for xb, yb in loader:
                step(xb, yb)
            return
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, bs):
            idx = perm[start : start + bs]
            step(x[idx], y[idx])

    def predict(xt: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(xt)).numpy()

    # torch does its matrix products in its own BLAS (MKL in the PyPI CPU wheel), not NumPy's.
    info = torch.__config__.parallel_info().splitlines()
    mkl = next((line for line in info if "Math Kernel" in line), "")
    blas = "MKL " + mkl.split("Version ")[1].split("-")[0] if "Version " in mkl else ""
    versions = {
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": str(torch.get_num_threads()),
        "torch_blas": blas or torch.__config__.show().split("BLAS_INFO=")[-1][:20],
    }
    return Plan(train_epoch, predict, versions, import_seconds)


PLANS: dict[str, Callable[[Config], Plan]] = {
    "chainrule-trainer": plan_chainrule_trainer,
    "chainrule-loop": plan_chainrule_loop,
    "torch-eager": lambda cfg: _torch_plan(cfg, dataloader=False),
    # The same with torch.set_flush_denormal(True): what chainrule's flush_denormals gives it.
    "torch-eager-ftz": lambda cfg: _torch_plan(cfg, dataloader=False, flush_denormal=True),
    "torch-dataloader": lambda cfg: _torch_plan(cfg, dataloader=True),
    "sklearn": plan_sklearn,
    "numpy-hand": plan_numpy_hand,
    "gemm-floor": plan_gemm_floor,
    "torch-gemm-floor": plan_torch_gemm_floor,
}
