"""NeuralNetClassifier: a chainrule network behind scikit-learn's classifier interface."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d

from chainrule.autodiff import functions as F
from chainrule.autodiff.tensor import Tensor
from chainrule.losses import binary_cross_entropy_with_logits
from chainrule.sklearn.base import BaseNeuralNet
from chainrule.sklearn.persistence import _array_from_json, _array_to_json

__all__ = ["NeuralNetClassifier"]

_TARGET_TYPES = ("binary", "multiclass", "multilabel-indicator")


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    """``log(sigmoid(z))`` without overflow: ``-log(1 + exp(-z))``."""
    return -np.logaddexp(0.0, -z)


class NeuralNetClassifier(ClassifierMixin, BaseNeuralNet):
    """A multi-layer perceptron classifier trained by chainrule (a drop-in for MLPClassifier).

    Binary targets get one sigmoid output trained with binary cross-entropy on the logit;
    multi-class targets get a softmax output trained with cross-entropy; multi-label targets
    (a 0/1 indicator matrix) get one sigmoid output per label, and ``predict`` returns the
    indicator matrix. Class labels may be of any type (strings too); ``classes_`` keeps them.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Units of each hidden layer; ``()`` gives a linear (logistic regression) model.
    activation : {"relu", "tanh", "logistic", "identity", "leaky_relu", "elu", "gelu"}, \
default="relu"
        Hidden-layer activation (``"sigmoid"`` is an alias of ``"logistic"``).
    dropout : float, default=0.0
        Dropout probability after each hidden activation, in [0, 1).
    batch_norm : bool, default=False
        Batch normalization between each hidden Linear layer and its activation.
    optimizer : {"adam", "adamw", "sgd", "rmsprop", "adagrad"}, default="adam"
        The chainrule optimizer.
    learning_rate : float, default=1e-3
        Initial learning rate (``learning_rate_init`` in MLPClassifier).
    momentum : float, default=0.9
        Momentum of ``"sgd"`` (ignored by the other optimizers).
    nesterov : bool, default=False
        Nesterov momentum for ``"sgd"``.
    weight_decay : float, default=0.0
        Decoupled weight decay of the optimizer (it is not an L2 penalty).
    l1, l2 : float, default=0.0
        Penalties ``l1 * sum|W|`` and ``(l2 / 2) * sum W**2`` over the weight matrices (not
        the biases), added to every batch's loss (``chainrule.regularizers.L1`` / ``L2``).
        ``l2`` plays the role of MLPClassifier's ``alpha``, which MLPClassifier also divides
        by the batch size.
    batch_size : int or "auto", default="auto"
        Samples per mini-batch; ``"auto"`` is ``min(200, n_samples)`` as in MLPClassifier.
        Sizes above ``n_samples`` mean full-batch training (no warning).
    max_epochs : int, default=200
        Most passes over the data in ``fit`` (``max_iter`` in MLPClassifier).
    lr_schedule : None, "constant", "step", "cosine" or callable, default=None
        Learning rate per epoch: ``"step"`` divides it by 10 every ``max_epochs // 3``
        epochs, ``"cosine"`` decays it to 0 over ``max_epochs``; a callable ``epoch -> lr``
        (e.g. ``chainrule.optim.cosine_lr(0.01, 100)``) replaces ``learning_rate``.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the data, stop when the validation
        accuracy has not improved by ``tol`` for ``n_iter_no_change`` epochs, and restore
        the weights of the best epoch. Without it, training stops when the training loss has
        not improved by ``tol`` for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping, in (0, 1).
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        The improvement that counts.
    random_state : int, numpy RandomState or Generator, default=None
        Randomness of the initialization, dropout, shuffling and the validation split; an
        int makes two fits identical.
    sample_weight (in ``fit`` / ``partial_fit``) :
        Each batch's loss is ``sum(w_i * loss_i) / batch_size`` with the weights rescaled to
        mean 1 over the data, so full-batch training with integer weights equals training on
        repeated samples. Early stopping scores the validation part with its weights.
    verbose : int, default=0
        Print the loss after every epoch.
    clip_grad_norm : float, default=None
        Rescale the gradients of each step to a global norm of at most this (None: no
        clipping), as ``Trainer(clip_grad_norm=...)`` does. Training runs with denormal
        floats flushed to zero, as the ``Trainer`` does (the previous mode is restored).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (``arange(n_labels)`` for multi-label targets).
    model_ : chainrule.nn.Sequential
        The trained network (outputs logits), in evaluation mode.
    loss_curve_ : list of float
        Training loss (with penalties) of each epoch.
    best_loss_ : float
        The lowest training loss.
    validation_scores_ : list of float or None
        Validation accuracy of each epoch (with ``early_stopping``).
    best_validation_score_ : float or None
        The best of them; its weights are the ones kept.
    n_iter_ : int
        Epochs run (``partial_fit`` adds one per call).
    n_features_in_, feature_names_in_ :
        As in scikit-learn (names when X was a DataFrame).
    n_outputs_ : int
        Network outputs: 1 for binary, n_classes for multi-class, n_labels for multi-label.
    out_activation_ : {"logistic", "softmax"}
        The output non-linearity ``predict_proba`` applies.

    Notes
    -----
    Float32 inputs train a float32 network and give float32 probabilities; float64 inputs
    train a float64 network (as MLPClassifier does); integer inputs become float64.
    No ConvergenceWarning is issued: ``n_iter_ == max_epochs`` means training hit the limit.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from chainrule.sklearn import NeuralNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NeuralNetClassifier((16,), learning_rate=0.01, max_epochs=100, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """

    classes_: np.ndarray  # fitted attributes (declared for type checking only)
    _target_type: str
    _y_dtype: np.dtype

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
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
        tags.classifier_tags.multi_label = True
        return tags

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NeuralNetClassifier:
        """Train from scratch on ``(X, y)``; ``sample_weight`` weights each sample's loss.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=False)
        return self

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> NeuralNetClassifier:
        """Train for one epoch over ``(X, y)``, continuing from the current weights.

        ``classes`` (every label that will ever appear) is required on the first call, as
        in scikit-learn; for multi-label targets pass ``range(n_labels)``. Early stopping and
        the ``n_iter_no_change`` rule do not apply: each call is exactly one epoch.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=True, classes=classes)
        return self

    def _encode_targets(
        self, y: np.ndarray, sw: np.ndarray | None, first: bool, incremental: bool, classes: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        name = type(self).__name__
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y")
        if kind not in _TARGET_TYPES:
            raise ValueError(
                f"{name} supports binary, multiclass and multilabel-indicator targets, got "
                f"{kind!r} targets of shape {y.shape}"
            )
        incremental_first = first and incremental
        if incremental_first and classes is None:
            raise ValueError(
                f"{name}.partial_fit: classes must be passed on the first call to partial_fit "
                "(every label that will ever appear)"
            )
        if (
            not first
            and classes is not None
            and not np.array_equal(unique_labels(classes), self.classes_)
        ):
            raise ValueError(
                f"{name}.partial_fit: classes={list(unique_labels(classes))} is not the same "
                f"as on the first call, {list(self.classes_)}"
            )
        multilabel = kind == "multilabel-indicator"
        if first:
            labels = unique_labels(classes if incremental_first else y)
            if multilabel and incremental_first and len(labels) != y.shape[1]:
                raise ValueError(
                    f"{name}.partial_fit: multi-label y has {y.shape[1]} columns but classes "
                    f"has {len(labels)} entries; pass classes=range({y.shape[1]})"
                )
            if multilabel:
                labels = np.arange(y.shape[1])
            elif len(labels) < 2:
                raise ValueError(
                    f"{name} needs samples of at least 2 classes, but the data contains only "
                    f"one class: {labels[0]!r}"
                )
            self.classes_ = labels
            self._target_type = (
                "multilabel-indicator"
                if multilabel
                else ("binary" if len(labels) == 2 else "multiclass")
            )
            self._y_dtype = y.dtype
            self.n_outputs_ = y.shape[1] if multilabel else 1 if len(labels) == 2 else len(labels)
            self.out_activation_ = "softmax" if self._target_type == "multiclass" else "logistic"
        elif multilabel != (self._target_type == "multilabel-indicator") or (
            multilabel and y.shape[1] != self.n_outputs_
        ):
            raise ValueError(
                f"{name}: y of type {kind!r} and shape {y.shape} does not match the "
                f"{self._target_type!r} targets of the first fit"
            )
        if multilabel:
            return y.astype(np.float64), None
        unseen = np.setdiff1d(unique_labels(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"{name}: y contains labels {unseen.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}"
            )
        index = np.searchsorted(self.classes_, y)
        if first and not incremental_first and sw is not None:
            weighted = np.unique(index[sw > 0])
            if weighted.size < 2:
                raise ValueError(
                    f"{name} needs positive sample_weight on at least 2 classes, but only the "
                    f"class {self.classes_[weighted[0]]!r} has any"
                )
        if self._target_type == "binary":
            return (index == 1).astype(np.float64)[:, None], index
        return index.astype(np.int64), index

    def _per_sample_loss(self, out: Tensor, target: np.ndarray) -> Tensor:
        if self._target_type == "multiclass":
            return F.softmax_cross_entropy(out, target, reduction="none")
        # Binary and multi-label: the negative log-likelihood of the whole label vector.
        loss = binary_cross_entropy_with_logits(out, target.astype(out.dtype), reduction="none")
        return loss.sum(axis=1)

    def _validation_score(self, out: np.ndarray, target: np.ndarray, sw: Any) -> float:
        if self._target_type == "multiclass":
            pred: np.ndarray = out.argmax(axis=1)
        else:
            pred, target = (out > 0).astype(np.int64), target.astype(np.int64)
        return float(accuracy_score(target, pred, sample_weight=sw))

    # -- prediction --------------------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: shape (n_samples,) for binary targets (of ``classes_[1]``), else 2-D."""
        out = self._predict_outputs(X)
        return out[:, 0] if self._target_type == "binary" else out

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log-probabilities, computed from the logits without going through ``log(0)``."""
        out = self._predict_outputs(X)
        if self._target_type == "multiclass":
            shifted = out - out.max(axis=1, keepdims=True)
            return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        if self._target_type == "binary":
            return np.concatenate([_log_sigmoid(-out), _log_sigmoid(out)], axis=1)
        return _log_sigmoid(out)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes); for multi-label, one per label."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class (multi-label: the 0/1 indicator matrix, in y's dtype)."""
        out = self._predict_outputs(X)
        if self._target_type == "multilabel-indicator":
            return (out > 0).astype(self._y_dtype)
        if self._target_type == "binary":
            return self.classes_[(out[:, 0] > 0).astype(np.int64)]
        return self.classes_[out.argmax(axis=1)]

    # -- model files ---------------------------------------------------------------------------
    def _fitted_extras(self) -> dict[str, Any]:
        return {
            "classes_": _array_to_json(self.classes_),
            "target_type": self._target_type,
            "y_dtype": self._y_dtype.str if self._y_dtype.kind != "O" else "object",
        }

    def _restore_extras(self, meta: dict[str, Any], where: str) -> None:
        self.classes_ = _array_from_json(meta.get("classes_"), f"{where}: classes_")
        self._target_type = str(meta.get("target_type"))
        self._y_dtype = _array_from_json({"dtype": meta.get("y_dtype"), "values": []}, where).dtype
