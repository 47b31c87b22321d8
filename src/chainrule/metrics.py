"""Classification metrics on plain arrays: accuracy, top-k, confusion matrix, precision/recall/F1.

Every function takes true labels as a 1-D integer (or boolean) array and predictions either as
class indices (1-D) or as a score/probability matrix of shape ``(n_samples, n_classes)``, reduced
with an argmax along the last axis. Tensors are accepted too and read through their ``.data``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule.autodiff.backend import to_numpy
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, DtypeError, ShapeError

__all__ = [
    "ClassScores",
    "accuracy",
    "top_k_accuracy",
    "confusion_matrix",
    "precision_recall_f1",
    "classification_report",
    "log_loss",
]


class ClassScores(NamedTuple):
    """Per-class precision, recall, F1 (float64 arrays) and support (int64 array)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def _to_numpy(values: Any) -> np.ndarray:
    """Host NumPy view of an array, a Tensor or nested lists."""
    if isinstance(values, Tensor):
        values = values.data
    return to_numpy(values)


def _labels(values: Any, name: str) -> np.ndarray:
    """Validate a 1-D array of non-negative integer class labels."""
    array = _to_numpy(values)
    if array.ndim != 1:
        raise ShapeError(
            f"{name} must be a 1-D array of class indices, got shape {array.shape}; "
            "for one-hot rows pass y.argmax(axis=1)"
        )
    if array.size == 0:
        raise ShapeError(f"{name} is empty; expected at least one sample")
    if array.dtype.kind not in "iub":
        raise DtypeError(
            f"{name} must hold integer class labels, got dtype {array.dtype}; "
            "convert with .astype(np.int64) if the values are whole numbers"
        )
    if array.min() < 0:
        raise ValueError(
            f"{name} must hold class indices >= 0, got {int(array.min())}; "
            "map the labels to 0 .. n_classes-1 first"
        )
    return array.astype(np.int64, copy=False)


def _scores(values: Any, name: str) -> np.ndarray:
    """Validate a 2-D float score matrix with no NaN."""
    array = _to_numpy(values)
    if array.ndim != 2:
        raise ShapeError(
            f"{name} must be a 2-D (n_samples, n_classes) score matrix, got shape {array.shape}"
        )
    if array.dtype.kind not in "iufb":
        raise DtypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    _check_no_nan(array, name)
    return array


def _check_no_nan(array: np.ndarray, name: str) -> None:
    """Refuse NaN scores: an argmax over NaN silently picks a class."""
    if array.dtype.kind == "f" and np.isnan(array).any():
        count = int(np.isnan(array).sum())
        first = tuple(int(i) for i in np.argwhere(np.isnan(array))[0])
        raise ValueError(
            f"{name} contains NaN ({count} value(s), first at index {first}); "
            "the model probably diverged: lower the learning rate or check the inputs"
        )


def _predictions(values: Any, name: str = "y_pred") -> tuple[np.ndarray, int | None]:
    """Class indices from labels or from a score matrix; also the score matrix's class count."""
    array = _to_numpy(values)
    if array.ndim == 2:
        scores = _scores(array, name)
        return scores.argmax(axis=-1), scores.shape[-1]
    return _labels(array, name), None


def _check_lengths(y_true: np.ndarray, y_pred: np.ndarray, pred_name: str = "y_pred") -> None:
    """Both arrays must describe the same samples."""
    if len(y_true) != len(y_pred):
        raise ShapeError(
            f"y_true and {pred_name} must have the same number of samples, got "
            f"{len(y_true)} and {len(y_pred)}"
        )


def _class_count(num_classes: int | None, *label_arrays: np.ndarray) -> int:
    """Validate ``num_classes`` against the labels, or infer it as max label + 1."""
    needed = max(int(a.max()) for a in label_arrays) + 1
    if num_classes is None:
        return needed
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ConfigError(f"num_classes must be an int, got {num_classes!r}")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    if needed > num_classes:
        raise ValueError(
            f"a label is {needed - 1} but num_classes is {num_classes}; labels must lie in "
            f"0 .. {num_classes - 1} (raise num_classes or fix the labels)"
        )
    return int(num_classes)


def accuracy(y_true: Any, y_pred_or_scores: Any) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
        True class indices.
    y_pred_or_scores : array_like, shape (n,) or (n, n_classes)
        Predicted class indices, or scores/probabilities (argmax along the last axis; ties go
        to the lowest class index, as in ``numpy.argmax``).

    Examples
    --------
    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    >>> accuracy([1, 0], [[0.2, 0.8], [0.4, 0.6]])
    0.5
    """
    true = _labels(y_true, "y_true")
    pred, _ = _predictions(y_pred_or_scores, "y_pred_or_scores")
    _check_lengths(true, pred, "y_pred_or_scores")
    return float(np.mean(true == pred))


def top_k_accuracy(y_true: Any, scores: Any, k: int = 5) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores.

    Ties are broken as ``numpy.argmax`` does (a lower class index ranks first), so
    ``top_k_accuracy(y, s, k=1) == accuracy(y, s)`` always holds.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
    scores : array_like, shape (n, n_classes)
    k : int
        How many top classes count as a hit, ``1 <= k <= n_classes``.

    Examples
    --------
    >>> scores = [[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]
    >>> top_k_accuracy([1, 0], scores, k=2)
    0.5
    """
    true = _labels(y_true, "y_true")
    matrix = _scores(scores, "scores")
    _check_lengths(true, matrix, "scores")
    n_classes = matrix.shape[1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_classes:
        raise ConfigError(
            f"k must be an int in 1 .. {n_classes} (the number of classes), got {k!r}"
        )
    if true.max() >= n_classes:
        raise ValueError(
            f"y_true has label {int(true.max())} but scores have only {n_classes} columns"
        )
    true_score = matrix[np.arange(len(true)), true][:, None]
    columns = np.arange(n_classes)[None, :]
    # Rank of the true class: classes scoring higher, plus equal-scoring classes with lower index.
    rank = np.sum(matrix > true_score, axis=1) + np.sum(
        (matrix == true_score) & (columns < true[:, None]), axis=1
    )
    return float(np.mean(rank < k))


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Count matrix ``C`` where ``C[i, j]`` is the number of samples of class ``i`` predicted ``j``.

    Rows are true classes, columns predicted classes.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
    y_pred : array_like, shape (n,) or (n, n_classes)
        Predicted class indices or scores.
    num_classes : int, optional
        Size of the matrix. Default: the number of score columns, else the largest label + 1.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    true = _labels(y_true, "y_true")
    pred, score_classes = _predictions(y_pred)
    _check_lengths(true, pred)
    if num_classes is None and score_classes is not None:
        num_classes = max(score_classes, int(true.max()) + 1)
    n = _class_count(num_classes, true, pred)
    counts = np.bincount(true * n + pred, minlength=n * n)
    return counts.reshape(n, n).astype(np.int64)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise division with 0/0 (and x/0) defined as 0."""
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def precision_recall_f1(y_true: Any, y_pred: Any, num_classes: int | None = None) -> ClassScores:
    """Per-class precision, recall and F1, with the support (true count) of each class.

    ``precision[c] = TP / (TP + FP)``, ``recall[c] = TP / (TP + FN)``,
    ``f1[c] = 2 * precision * recall / (precision + recall)``. A ratio whose denominator is 0
    (a class never predicted, or never present) is defined as **0**, without a warning.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
    y_pred : array_like, shape (n,) or (n, n_classes)
    num_classes : int, optional
        As in :func:`confusion_matrix`.

    Returns
    -------
    ClassScores
        Named tuple ``(precision, recall, f1, support)`` of arrays of length ``num_classes``.

    Examples
    --------
    >>> p, r, f1, support = precision_recall_f1([0, 0, 1, 1], [0, 1, 1, 1])
    >>> p.round(3).tolist(), r.tolist(), support.tolist()
    ([1.0, 0.667], [0.5, 1.0], [2, 2])
    """
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    true_positive = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _safe_divide(true_positive, predicted)
    recall = _safe_divide(true_positive, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return ClassScores(precision, recall, f1, support.astype(np.int64))


def classification_report(
    y_true: Any, y_pred: Any, class_names: list[str] | None = None, digits: int = 2
) -> str:
    """An aligned text table of per-class precision, recall, F1 and support, like scikit-learn's.

    The footer gives the accuracy, the macro average (plain mean over classes) and the weighted
    average (weighted by support). All classes ``0 .. n_classes-1`` are listed and averaged, also
    those absent from both arrays (they score 0), so pass ``class_names`` to fix the class set.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
    y_pred : array_like, shape (n,) or (n, n_classes)
    class_names : list of str, optional
        One name per class; its length sets the number of classes.
    digits : int
        Decimal places of the scores.

    Examples
    --------
    >>> print(classification_report([0, 0, 1, 1], [0, 1, 1, 1], class_names=["cat", "dog"]))
                  precision    recall  f1-score   support
    <BLANKLINE>
             cat       1.00      0.50      0.67         2
             dog       0.67      1.00      0.80         2
    <BLANKLINE>
        accuracy                           0.75         4
       macro avg       0.83      0.75      0.73         4
    weighted avg       0.83      0.75      0.73         4
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ConfigError(f"digits must be an int >= 0, got {digits!r}")
    num_classes = None
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        num_classes = len(class_names)
        if num_classes == 0:
            raise ConfigError("class_names is empty; give one name per class or leave it None")
    scores = precision_recall_f1(y_true, y_pred, num_classes)
    names = class_names or [str(c) for c in range(len(scores.support))]
    total = int(scores.support.sum())
    weights = scores.support / total
    acc = accuracy(y_true, y_pred)
    footer = {
        "macro avg": [float(np.mean(s)) for s in scores[:3]],
        "weighted avg": [float(np.sum(s * weights)) for s in scores[:3]],
    }

    # Same layout as scikit-learn: names right-aligned, then 9-wide columns one space apart.
    width = max(len("weighted avg"), *(len(n) for n in names), digits)
    column = max(9, digits + 3)

    def row(label: str, cells: list[str], last: object) -> str:
        return f"{label:>{width}} " + "".join(f" {c:>{column}}" for c in [*cells, str(last)])

    def fmt(values: Any) -> list[str]:
        return [f"{float(v):.{digits}f}" for v in values]

    lines = [row("", ["precision", "recall", "f1-score"], "support"), ""]
    for c, name in enumerate(names):
        cells = fmt([scores.precision[c], scores.recall[c], scores.f1[c]])
        lines.append(row(name, cells, int(scores.support[c])))
    lines.append("")
    lines.append(row("accuracy", ["", "", *fmt([acc])], total))
    for label, values in footer.items():
        lines.append(row(label, fmt(values), total))
    return "\n".join(lines)


def log_loss(y_true: Any, probs: Any, eps: float = 1e-7) -> float:
    """Mean negative log-probability of the true class (cross-entropy of predicted probabilities).

    ``log_loss = -mean(log(max(p[i, y_i], eps)))``; the floor ``eps`` keeps a confident wrong
    answer finite. ``probs`` must be probabilities (each row in [0, 1], summing to 1), not logits.
    A 1-D ``probs`` is read as the probability of class 1 in a binary problem.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
    probs : array_like, shape (n, n_classes) or (n,)
    eps : float
        Smallest probability used inside the log, ``0 < eps < 1``.

    Examples
    --------
    >>> round(log_loss([0, 1], [[0.5, 0.5], [0.2, 0.8]]), 6)
    0.458145
    >>> round(log_loss([1, 0], [0.8, 0.5]), 6)
    0.458145
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise ConfigError(f"eps must be a float in (0, 1), got {eps!r}")
    true = _labels(y_true, "y_true")
    matrix = _to_numpy(probs)
    if matrix.ndim == 1:
        if true.max() > 1:
            raise ValueError(
                f"1-D probs means a binary problem (labels 0 and 1), but y_true has label "
                f"{int(true.max())}; pass a (n_samples, n_classes) probability matrix"
            )
        _check_no_nan(matrix.astype(np.float64), "probs")
        matrix = np.stack([1.0 - matrix, matrix], axis=1)
    matrix = _scores(matrix, "probs").astype(np.float64)
    _check_lengths(true, matrix, "probs")
    if true.max() >= matrix.shape[1]:
        raise ValueError(
            f"y_true has label {int(true.max())} but probs have only {matrix.shape[1]} columns"
        )
    if matrix.min() < 0 or matrix.max() > 1:
        raise ValueError(
            f"probs must lie in [0, 1], got values from {matrix.min():.4g} to {matrix.max():.4g}; "
            "apply softmax to logits first"
        )
    row_sums = matrix.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > 1e-3:
        raise ValueError(
            f"each row of probs must sum to 1, but row {worst} sums to {row_sums[worst]:.6g}; "
            "apply softmax to logits first"
        )
    picked = matrix[np.arange(len(true)), true]
    return float(-np.mean(np.log(np.maximum(picked, eps))))
