"""Shared machinery of the scikit-learn estimators: hyperparameters, network, epoch loop."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from chainrule import optim, regularizers
from chainrule.autodiff.denormals import flush_denormals
from chainrule.autodiff.heap import retain_freed_memory
from chainrule.autodiff.mode import no_grad
from chainrule.autodiff.tensor import Tensor
from chainrule.data import train_val_split
from chainrule.errors import ConfigError
from chainrule.nn.mlp import ACTIVATIONS, mlp
from chainrule.nn.module import Module
from chainrule.optim import OPTIMIZERS
from chainrule.sklearn.hyperparameters import (
    LR_SCHEDULES,
    _check_random_state,
    _choice,
    _Config,
    _generator,
    _hidden_sizes,
    _sample_weights,
)
from chainrule.sklearn.persistence import Persistence
from chainrule.training.step import TrainingStep
from chainrule.validation import check_bool, check_int, check_number

__all__ = ["BaseNeuralNet", "ACTIVATIONS", "OPTIMIZERS", "LR_SCHEDULES"]

_FLOATS = (np.float64, np.float32)  # accepted input dtypes; anything else becomes float64


class BaseNeuralNet(Persistence):
    """Hyperparameters, training loop, persistence; subclasses define targets, loss, outputs."""

    # Fitted attributes, declared for type checking only (set by fit, absent before).
    n_outputs_: int
    out_activation_: str

    # -- hooks the subclasses implement ----------------------------------------------------
    _y_numeric = False

    def _encode_targets(
        self, y: np.ndarray, sw: np.ndarray | None, first: bool, incremental: bool, classes: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Targets for the loss and, for a stratified split, the class of each sample."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _per_sample_loss(self, out: Tensor, target: np.ndarray) -> Tensor:
        """The loss of each sample, shape (N,)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _validation_score(self, out: np.ndarray, target: np.ndarray, sw: Any) -> float:
        """Accuracy / R^2 of raw outputs against encoded targets (early stopping)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _extra_checks(self, owner: str) -> None:
        """Validate the subclass's own hyperparameters."""

    # -- hyperparameters -------------------------------------------------------------------
    def _config(self) -> _Config:
        """Validate every hyperparameter (scikit-learn validates in fit, not in __init__)."""
        owner = type(self).__name__
        batch_size = self.batch_size
        if batch_size != "auto":
            batch_size = check_int(owner, "batch_size", batch_size, 1)
        schedule = self.lr_schedule
        if not (schedule is None or callable(schedule) or schedule in LR_SCHEDULES):
            raise ConfigError(
                f"{owner}: lr_schedule must be None, one of {list(LR_SCHEDULES)} or a callable "
                f"epoch -> learning rate, got {schedule!r}"
            )
        cfg = _Config(
            hidden=_hidden_sizes(owner, self.hidden_layer_sizes),
            activation=_choice(owner, "activation", self.activation, ACTIVATIONS),
            dropout=check_number(owner, "dropout", self.dropout, 0.0, 1.0, high_open=True),
            batch_norm=check_bool(owner, "batch_norm", self.batch_norm),
            optimizer=_choice(owner, "optimizer", self.optimizer, OPTIMIZERS),
            lr=check_number(owner, "learning_rate", self.learning_rate, 0.0, low_open=True),
            momentum=check_number(owner, "momentum", self.momentum, 0.0, 1.0, high_open=True),
            nesterov=check_bool(owner, "nesterov", self.nesterov),
            weight_decay=check_number(owner, "weight_decay", self.weight_decay, 0.0),
            l1=check_number(owner, "l1", self.l1, 0.0),
            l2=check_number(owner, "l2", self.l2, 0.0),
            batch_size=None if batch_size == "auto" else batch_size,
            max_epochs=check_int(owner, "max_epochs", self.max_epochs, 1),
            schedule=schedule,
            early_stopping=check_bool(owner, "early_stopping", self.early_stopping),
            validation_fraction=check_number(
                owner, "validation_fraction", self.validation_fraction, 0.0, 1.0, True, True
            ),
            n_iter_no_change=check_int(owner, "n_iter_no_change", self.n_iter_no_change, 1),
            tol=check_number(owner, "tol", self.tol, 0.0),
            verbose=check_int(
                owner,
                "verbose",
                int(self.verbose) if isinstance(self.verbose, bool) else self.verbose,
                0,
            ),
            clip_grad_norm=None
            if self.clip_grad_norm is None
            else check_number(owner, "clip_grad_norm", self.clip_grad_norm, 0.0, low_open=True),
        )
        if cfg.optimizer == "sgd" and cfg.nesterov and cfg.momentum == 0:
            raise ConfigError(
                f"{owner}: nesterov=True needs momentum > 0, got momentum={self.momentum!r}"
            )
        self._extra_checks(owner)
        _check_random_state(owner, self.random_state)
        return cfg

    def _schedule(self, cfg: _Config) -> Callable[[int], float] | None:
        """The learning rate as a function of the epoch, or None for a constant one."""
        s = cfg.schedule
        if s is None or s == "constant":
            return None
        if s == "step":
            return optim.step_lr(cfg.lr, step_size=max(1, cfg.max_epochs // 3), gamma=0.1)
        if s == "cosine":
            return optim.cosine_lr(cfg.lr, total_steps=cfg.max_epochs)
        return s  # type: ignore[no-any-return]

    # -- building ------------------------------------------------------------------------
    def _build_model(
        self, n_in: int, n_out: int, dtype: Any, cfg: _Config, rng: np.random.Generator
    ) -> Module:
        """The MLP of ``chainrule.nn.mlp`` for these settings, in the input's float dtype.

        Initialised with Glorot-uniform for every activation, as scikit-learn's MLP is.
        """
        model = mlp(
            n_in, cfg.hidden, n_out, cfg.activation, cfg.dropout, cfg.batch_norm, rng, "glorot"
        )
        return model.astype(dtype)

    def _build_optimizer(self, model: Module, cfg: _Config) -> optim.Optimizer:
        # As in MLPClassifier, momentum (and Nesterov) belong to SGD only.
        momentum = cfg.momentum if cfg.optimizer == "sgd" else 0.0
        return optim.create(
            cfg.optimizer,
            model.named_parameters(),
            lr=cfg.lr,
            momentum=momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )

    def _start(self, n_in: int, dtype: Any, cfg: _Config) -> None:
        """Fresh network, optimizer, generators and curves (the first fit / partial_fit)."""
        model_rng, self._rng = _generator(self.random_state).spawn(2)
        self.model_ = self._build_model(n_in, self.n_outputs_, dtype, cfg, model_rng).eval()
        self._optimizer = self._build_optimizer(self.model_, cfg)
        self._dtype = np.dtype(dtype)
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0
        self.best_loss_ = math.inf
        self.validation_scores_: list[float] | None = None
        self.best_validation_score_: float | None = None
        self._no_improvement_count = 0

    # -- training ------------------------------------------------------------------------
    def _fit(
        self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None
    ) -> BaseNeuralNet:
        """``fit`` (all epochs, from scratch) or ``partial_fit`` (one more epoch)."""
        cfg = self._config()
        first = not (incremental and hasattr(self, "model_"))
        X, y = validate_data(
            self, X, y, reset=first, dtype=_FLOATS, multi_output=True, y_numeric=self._y_numeric
        )
        sw = None
        if sample_weight is not None:
            sw = _sample_weights(sample_weight, X.shape[0], allow_all_zero=incremental)
        target, strata = self._encode_targets(y, sw, first, incremental, classes)
        if first:
            self._start(X.shape[1], X.dtype, cfg)
        elif not hasattr(self, "_optimizer"):  # loaded from a model file: no optimizer saved
            self._optimizer = self._build_optimizer(self.model_, cfg)
            self._rng = _generator(self.random_state)
        X = np.asarray(X, dtype=self._dtype)
        if cfg.batch_norm and X.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__}: batch_norm=True needs at least 2 samples per batch, "
                f"got n_samples={X.shape[0]}"
            )
        if incremental:
            self._run_epoch(X, target, sw, cfg)
            self.loss_curve_.append(self._epoch_loss)
            self.best_loss_ = min(self.best_loss_, self._epoch_loss)
            self.n_iter_ += 1
        else:
            self._fit_epochs(X, target, sw, strata, cfg)
        self.model_.eval()
        return self

    def _fit_epochs(
        self,
        X: np.ndarray,
        target: np.ndarray,
        sw: np.ndarray | None,
        strata: np.ndarray | None,
        cfg: _Config,
    ) -> None:
        """Up to max_epochs epochs; stop after n_iter_no_change epochs without tol progress."""
        val = None
        if cfg.early_stopping:
            n_val = int(np.floor(X.shape[0] * cfg.validation_fraction + 0.5))
            if n_val < 2 or X.shape[0] - n_val < 1:
                raise ValueError(
                    f"{type(self).__name__}: early_stopping holds out validation_fraction="
                    f"{cfg.validation_fraction} of n_samples={X.shape[0]}, which gives {n_val} "
                    "validation samples; it needs at least 2 and 1 left to train on. Use more "
                    "data, a larger validation_fraction, or early_stopping=False"
                )
            weights = np.ones(X.shape[0]) if sw is None else sw
            (X, target, weights), (xv, tv, wv) = train_val_split(
                X,
                target,
                weights,
                val_fraction=cfg.validation_fraction,
                stratify=strata,
                seed=self._rng,
            )
            sw = None if sw is None else weights
            val = (xv, tv, None if sw is None or not wv.any() else wv)
            scores: list[float] = []
            best_score, best_state = -math.inf, self.model_.state_dict()
        for _ in range(cfg.max_epochs):
            self._run_epoch(X, target, sw, cfg)
            loss = self._epoch_loss
            self.loss_curve_.append(loss)
            self.n_iter_ += 1
            if val is not None:
                score = self._validation_score(self._outputs(val[0]), val[1], val[2])
                scores.append(score)
                stalled = score < best_score + cfg.tol
                if score > best_score:
                    best_score, best_state = score, self.model_.state_dict()
            else:
                stalled = loss > self.best_loss_ - cfg.tol
            self.best_loss_ = min(self.best_loss_, loss)
            self._no_improvement_count = self._no_improvement_count + 1 if stalled else 0
            if cfg.verbose:
                extra = f", validation score = {score:.6f}" if val is not None else ""
                print(f"Epoch {self.n_iter_}, loss = {loss:.8f}{extra}")
            if self._no_improvement_count >= cfg.n_iter_no_change:
                break
        if val is not None:
            # Early stopping keeps the weights of the best validation score, not the last ones.
            self.model_.load_state_dict(best_state)
            self.validation_scores_, self.best_validation_score_ = scores, best_score

    def _batches(self, n: int, cfg: _Config) -> list[np.ndarray]:
        """Shuffled mini-batches of indices ("auto": min(200, n); larger sizes mean n)."""
        size = min(200 if cfg.batch_size is None else cfg.batch_size, n)
        # One batch needs no shuffling: order does not change a full-batch gradient.
        order = np.arange(n) if size >= n else self._rng.permutation(n)
        batches = [order[i : i + size] for i in range(0, n, size)]
        if cfg.batch_norm and len(batches) > 1 and len(batches[-1]) == 1:
            # Batch norm cannot normalize a single sample in training mode: merge it.
            batches[-2:] = [np.concatenate(batches[-2:])]
        return batches

    def _run_epoch(
        self, X: np.ndarray, target: np.ndarray, sw: np.ndarray | None, cfg: _Config
    ) -> None:
        """One pass over the data; sets ``_epoch_loss`` (weighted mean loss + mean penalty)."""
        model, opt = self.model_, self._optimizer
        schedule = self._schedule(cfg)
        if schedule is not None:
            opt.lr = schedule(self.n_iter_)
        penalties: list[Callable[[Module], Tensor]] = []
        if cfg.l1:
            penalties.append(regularizers.L1(cfg.l1))
        if cfg.l2:
            penalties.append(regularizers.L2(cfg.l2))
        # Weights scaled to mean 1: each batch's loss is sum(w_i * l_i) / batch size, so a
        # full batch gives the weighted mean, equal to the mean over repeated samples.
        # All-zero weights (allowed in partial_fit) leave only the penalties to minimize.
        scale = None
        if sw is not None:
            scale = (sw / sw.mean() if sw.any() else sw).astype(self._dtype)
        step = TrainingStep(
            model,
            self._batch_loss,
            opt,
            regularizers=penalties,
            clip_grad_norm=cfg.clip_grad_norm,
            skip_nonfinite=True,  # stop before a NaN reaches the weights
            owner=type(self).__name__,
        )
        n = X.shape[0]
        data_sum = penalty_sum = 0.0
        model.train()
        retain_freed_memory()
        with flush_denormals(True):
            for idx in self._batches(n, cfg):
                weights = None if scale is None else scale[idx] / len(idx)
                loss, penalty, _ = step(X[idx], (target[idx], weights))
                data_sum += loss * len(idx)
                penalty_sum += penalty * len(idx)
                if not math.isfinite(loss + penalty):
                    model.eval()
                    raise FloatingPointError(
                        f"{type(self).__name__}: the training loss became {loss + penalty} in "
                        f"epoch {self.n_iter_ + 1}; lower learning_rate (now {opt.lr:g}) or "
                        "standardize X (and y for regression), e.g. with StandardScaler"
                    )
        model.eval()
        self._epoch_loss = (data_sum + penalty_sum) / n

    def _batch_loss(self, out: Tensor, batch: tuple[np.ndarray, np.ndarray | None]) -> Tensor:
        """The batch's loss: the mean per-sample loss, or its sum weighted by ``batch[1]``."""
        target, weights = batch
        per_sample = self._per_sample_loss(out, target)
        return per_sample.mean() if weights is None else (per_sample * weights).sum()

    # -- prediction ----------------------------------------------------------------------
    def _outputs(self, X: np.ndarray) -> np.ndarray:
        """Raw network outputs for validated X, in evaluation mode, without a graph."""
        self.model_.eval()
        with no_grad():
            return np.asarray(self.model_(Tensor(np.asarray(X, dtype=self._dtype))).data)

    def _predict_outputs(self, X: Any) -> np.ndarray:
        """Check fitted, validate X (feature count and names), return raw outputs."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return self._outputs(X)
