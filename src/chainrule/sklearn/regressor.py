"""NeuralNetRegressor: a chainrule network behind scikit-learn's regressor interface."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import column_or_1d

from chainrule.autodiff.tensor import Tensor
from chainrule.losses import huber_loss, l1_loss, mse_loss
from chainrule.sklearn.base import BaseNeuralNet, _choice
from chainrule.validation import check_number

__all__ = ["NeuralNetRegressor"]

LOSSES = ("squared_error", "absolute_error", "huber")


class NeuralNetRegressor(RegressorMixin, BaseNeuralNet):
    """A multi-layer perceptron regressor trained by chainrule (a drop-in for MLPRegressor).

    The output layer is linear, with one unit per target column (y may be 2-D: multi-output
    regression). Targets are not rescaled: standardize them for best results, for example
    with ``TransformedTargetRegressor(NeuralNetRegressor(), transformer=StandardScaler())``.

    Parameters
    ----------
    hidden_layer_sizes, activation, dropout, batch_norm, optimizer, learning_rate, momentum, \
nesterov, weight_decay, l1, l2, batch_size, max_epochs, lr_schedule, early_stopping, \
validation_fraction, n_iter_no_change, tol, random_state, verbose, clip_grad_norm :
        As in ``NeuralNetClassifier`` (early stopping monitors the validation R^2 and uses a
        plain random split).
    loss : {"squared_error", "absolute_error", "huber"}, default="squared_error"
        Per sample, the mean over the outputs of ``(y - p)**2``, ``|y - p|`` or the Huber
        loss with threshold ``huber_delta``. (MLPRegressor's squared error has an extra
        factor 1/2.)
    huber_delta : float, default=1.0
        Where the Huber loss turns from quadratic to linear, > 0.

    Attributes
    ----------
    model_, loss_curve_, best_loss_, validation_scores_, best_validation_score_, n_iter_, \
n_features_in_, feature_names_in_ :
        As in ``NeuralNetClassifier``; validation scores are R^2.
    n_outputs_ : int
        Number of target columns.
    out_activation_ : "identity"

    Notes
    -----
    Float32 inputs train a float32 network and give float32 predictions; float64 (and
    integer) inputs a float64 one. A column vector y of shape (n, 1) gives 1-D predictions,
    with scikit-learn's DataConversionWarning, as MLPRegressor does.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.sklearn import NeuralNetRegressor
    >>> X = np.linspace(-1, 1, 200).reshape(-1, 1); y = X[:, 0] ** 2
    >>> reg = NeuralNetRegressor((32,), learning_rate=0.01, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """

    _y_numeric = True

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        loss: str = "squared_error",
        huber_delta: float = 1.0,
        dropout: float = 0.0,
        batch_norm: bool = False,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        l1: float = 0.0,
        l2: float = 0.0,
        batch_size: int | str = "auto",
        max_epochs: int = 200,
        lr_schedule: Any = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        random_state: Any = None,
        verbose: int = 0,
        clip_grad_norm: float | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.huber_delta = huber_delta
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.l1 = l1
        self.l2 = l2
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr_schedule = lr_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.clip_grad_norm = clip_grad_norm

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _extra_checks(self, owner: str) -> None:
        _choice(owner, "loss", self.loss, LOSSES)
        check_number(owner, "huber_delta", self.huber_delta, 0.0, low_open=True)

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NeuralNetRegressor:
        """Train from scratch on ``(X, y)``; ``sample_weight`` weights each sample's loss.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> NeuralNetRegressor:
        """Train for one epoch over ``(X, y)``, continuing from the current weights.

        Early stopping and the ``n_iter_no_change`` rule do not apply to ``partial_fit``.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=True)
        return self

    def _encode_targets(
        self, y: np.ndarray, sw: np.ndarray | None, first: bool, incremental: bool, classes: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        target = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self.n_outputs_ = target.shape[1]
            self._single_output = y.ndim == 1
            self.out_activation_ = "identity"
        elif target.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{type(self).__name__}: y has {target.shape[1]} output column(s), but the "
                f"first fit had {self.n_outputs_}"
            )
        return target.astype(np.float64, copy=False), None

    def _per_sample_loss(self, out: Tensor, target: np.ndarray) -> Tensor:
        t = target.astype(out.dtype, copy=False)
        if self.loss == "absolute_error":
            loss = l1_loss(out, t, reduction="none")
        elif self.loss == "huber":
            loss = huber_loss(out, t, delta=float(self.huber_delta), reduction="none")
        else:
            loss = mse_loss(out, t, reduction="none")
        return loss.mean(axis=1)

    def _validation_score(self, out: np.ndarray, target: np.ndarray, sw: Any) -> float:
        return float(r2_score(target, out, sample_weight=sw))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: shape (n_samples,) for 1-D y, else (n_samples, n_outputs)."""
        out = self._predict_outputs(X)
        return out[:, 0] if self._single_output else out

    def _fitted_extras(self) -> dict[str, Any]:
        return {"single_output": self._single_output}

    def _restore_extras(self, meta: dict[str, Any], where: str) -> None:
        self._single_output = bool(meta.get("single_output", True))
