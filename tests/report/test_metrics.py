"""Metrics against values worked out by hand; scikit-learn only as a second witness."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError, DtypeError, ShapeError
from chainrule.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    log_loss,
    precision_recall_f1,
    top_k_accuracy,
)

# A small 3-class problem used throughout. Pairs (true, pred):
# (0,0) (0,0) (0,1) (1,1) (1,2) (2,2) (2,2) (2,0)
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2, 2, 0])


def one_hot_scores(pred: np.ndarray, n: int = 3) -> np.ndarray:
    """Scores whose argmax is ``pred``."""
    scores = np.full((len(pred), n), 0.1)
    scores[np.arange(len(pred)), pred] = 0.8
    return scores


# ----------------------------------------------------------------------------- accuracy


def test_accuracy_from_labels_and_scores():
    # 5 of the 8 pairs agree: (0,0) (0,0) (1,1) (2,2) (2,2).
    assert accuracy(Y_TRUE, Y_PRED) == 5 / 8
    assert accuracy(Y_TRUE, one_hot_scores(Y_PRED)) == 5 / 8
    assert accuracy(Y_TRUE.tolist(), Y_PRED.tolist()) == 5 / 8


def test_accuracy_takes_argmax_of_last_axis_with_lowest_index_on_ties():
    scores = np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]])
    # argmax rows: 0 (tie -> lowest index), 1, 0
    assert accuracy([0, 1, 1], scores) == pytest.approx(2 / 3)


def test_accuracy_accepts_tensors():
    assert accuracy(cr.tensor(Y_TRUE), cr.tensor(one_hot_scores(Y_PRED))) == 5 / 8


# ----------------------------------------------------------------------------- top-k


def test_top_k_accuracy_by_hand():
    scores = np.array(
        [
            [0.1, 0.6, 0.3],  # true 2: rank 1 (only 0.6 is higher)
            [0.7, 0.2, 0.1],  # true 0: rank 0
            [0.5, 0.3, 0.2],  # true 2: rank 2
            [0.2, 0.2, 0.6],  # true 1: rank 1 (0.6 higher; the tie with class 0 counts too)
        ]
    )
    y = [2, 0, 2, 1]
    assert top_k_accuracy(y, scores, k=1) == 1 / 4
    # rank < 2: rows 0, 1 are hits; row 3 has rank 2 (0.6 above, class 0 tied with lower index)
    assert top_k_accuracy(y, scores, k=2) == 2 / 4
    assert top_k_accuracy(y, scores, k=3) == 1.0


def test_top_1_equals_accuracy_even_with_ties():
    scores = np.array([[0.5, 0.5, 0.0], [0.3, 0.3, 0.3], [0.0, 0.5, 0.5]])
    for y in ([0, 0, 1], [1, 2, 2], [0, 1, 2]):
        assert top_k_accuracy(y, scores, k=1) == accuracy(y, scores)


@pytest.mark.parametrize("k", [0, 4, 2.0, True])
def test_top_k_rejects_bad_k(k):
    with pytest.raises(ConfigError, match=r"k must be an int in 1 \.\. 3"):
        top_k_accuracy([0], [[0.1, 0.2, 0.7]], k=k)


def test_top_k_rejects_label_beyond_score_columns():
    with pytest.raises(ValueError, match="label 3 but scores have only 3 columns"):
        top_k_accuracy([3], [[0.1, 0.2, 0.7]], k=1)


def test_top_k_needs_a_score_matrix():
    with pytest.raises(ShapeError, match=r"scores must be a 2-D \(n_samples, n_classes\)"):
        top_k_accuracy([0, 1], [0, 1], k=1)


# ----------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_by_hand():
    expected = np.array(
        [
            [2, 1, 0],  # true 0: predicted 0 twice, 1 once
            [0, 1, 1],  # true 1: predicted 1 once, 2 once
            [1, 0, 2],  # true 2: predicted 0 once, 2 twice
        ]
    )
    np.testing.assert_array_equal(confusion_matrix(Y_TRUE, Y_PRED), expected)
    np.testing.assert_array_equal(confusion_matrix(Y_TRUE, one_hot_scores(Y_PRED)), expected)
    assert confusion_matrix(Y_TRUE, Y_PRED).dtype == np.int64


def test_confusion_matrix_size_from_num_classes_or_score_columns():
    cm = confusion_matrix([0, 1], [1, 1], num_classes=4)
    np.testing.assert_array_equal(cm, [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    # Scores with 5 columns give a 5x5 matrix even though only classes 0 and 1 occur.
    assert confusion_matrix([0, 1], np.eye(5)[:2]).shape == (5, 5)


def test_confusion_matrix_rejects_too_small_num_classes():
    with pytest.raises(ValueError, match=r"a label is 2 but num_classes is 2; labels must lie in"):
        confusion_matrix([0, 2], [0, 1], num_classes=2)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_confusion_matrix_rejects_bad_num_classes(bad):
    with pytest.raises(ConfigError, match="num_classes must be"):
        confusion_matrix([0, 1], [0, 1], num_classes=bad)


# ----------------------------------------------------------------------------- precision / recall


def test_precision_recall_f1_by_hand():
    # From the confusion matrix above: TP = diag = (2, 1, 2); predicted (column sums) = (3, 2, 3);
    # support (row sums) = (3, 2, 3).
    p, r, f1, support = precision_recall_f1(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(p, [2 / 3, 1 / 2, 2 / 3])
    np.testing.assert_allclose(r, [2 / 3, 1 / 2, 2 / 3])
    np.testing.assert_allclose(f1, [2 / 3, 1 / 2, 2 / 3])
    np.testing.assert_array_equal(support, [3, 2, 3])


def test_precision_recall_f1_asymmetric_case():
    # true  0 0 0 1 ; pred 0 1 1 1 -> class 0: TP 1, FP 0, FN 2; class 1: TP 1, FP 2, FN 0
    scores = precision_recall_f1([0, 0, 0, 1], [0, 1, 1, 1])
    np.testing.assert_allclose(scores.precision, [1.0, 1 / 3])
    np.testing.assert_allclose(scores.recall, [1 / 3, 1.0])
    # F1 = 2pr/(p+r) = 2*(1/3)/(4/3) = 0.5 for both classes.
    np.testing.assert_allclose(scores.f1, [0.5, 0.5])


def test_zero_over_zero_is_zero_without_warning():
    # Class 1 is never predicted (precision 0/0) and class 2 never occurs nor is predicted.
    p, r, f1, support = precision_recall_f1([0, 1], [0, 0], num_classes=3)
    np.testing.assert_allclose(p, [0.5, 0.0, 0.0])
    np.testing.assert_allclose(r, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(f1, [2 * 0.5 * 1.0 / 1.5, 0.0, 0.0])
    np.testing.assert_array_equal(support, [1, 1, 0])


# ----------------------------------------------------------------------------- report


def test_classification_report_layout_and_numbers():
    text = classification_report([0, 0, 0, 1], [0, 1, 1, 1], class_names=["cat", "dog"])
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["cat", "1.00", "0.33", "0.50", "3"]
    assert lines[3].split() == ["dog", "0.33", "1.00", "0.50", "1"]
    assert lines[5].split() == ["accuracy", "0.50", "4"]
    # macro: mean of (1, 1/3) = 0.67, of (1/3, 1) = 0.67, of (0.5, 0.5) = 0.5
    assert lines[6].split() == ["macro", "avg", "0.67", "0.67", "0.50", "4"]
    # weighted by support 3:1 -> precision (3*1 + 1/3)/4 = 0.83, recall (3/3 + 1)/4 = 0.5
    assert lines[7].split() == ["weighted", "avg", "0.83", "0.50", "0.50", "4"]
    # Aligned: every non-empty line ends in the same column.
    assert len({len(line) for line in lines if line}) == 1


def test_classification_report_digits_and_default_names():
    text = classification_report(Y_TRUE, Y_PRED, digits=4)
    assert "0.6667" in text and "0.5000" in text
    assert [line.split()[0] for line in text.splitlines()[2:5]] == ["0", "1", "2"]


def test_classification_report_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    names = ["a", "bb", "a long class name", "d"]
    ours = classification_report(y, p, class_names=names, digits=3)
    theirs = sklearn_metrics.classification_report(y, p, target_names=names, digits=3)
    assert ours == theirs.rstrip("\n")


def test_metrics_agree_with_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 80)
    logits = rng.normal(size=(80, 5))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    assert accuracy(y, probs) == pytest.approx(sklearn_metrics.accuracy_score(y, pred))
    np.testing.assert_array_equal(
        confusion_matrix(y, pred), sklearn_metrics.confusion_matrix(y, pred)
    )
    p, r, f1, s = precision_recall_f1(y, pred)
    sp, sr, sf, ss = sklearn_metrics.precision_recall_fscore_support(y, pred, zero_division=0)
    np.testing.assert_allclose([p, r, f1], [sp, sr, sf])
    np.testing.assert_array_equal(s, ss)
    assert top_k_accuracy(y, probs, k=3) == pytest.approx(
        sklearn_metrics.top_k_accuracy_score(y, probs, k=3)
    )
    assert log_loss(y, probs) == pytest.approx(sklearn_metrics.log_loss(y, probs))


@pytest.mark.parametrize("bad", [[], ["a", "b"]])
def test_classification_report_rejects_bad_class_names(bad):
    if bad:
        with pytest.raises(ValueError, match="a label is 2 but num_classes is 2"):
            classification_report([0, 2], [0, 1], class_names=bad)
    else:
        with pytest.raises(ConfigError, match="class_names is empty"):
            classification_report([0, 1], [0, 1], class_names=bad)


@pytest.mark.parametrize("digits", [-1, 1.5])
def test_classification_report_rejects_bad_digits(digits):
    with pytest.raises(ConfigError, match="digits must be an int >= 0"):
        classification_report([0], [0], digits=digits)


# ----------------------------------------------------------------------------- log loss


def test_log_loss_by_hand():
    probs = np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]])
    # -(log 0.5 + log 0.8 + log 0.1) / 3
    expected = -(math.log(0.5) + math.log(0.8) + math.log(0.1)) / 3
    assert log_loss([0, 1, 1], probs) == pytest.approx(expected)


def test_log_loss_binary_vector_means_probability_of_class_one():
    # P(y=1) = 0.8, 0.5 with labels 1, 0 -> -(log 0.8 + log 0.5) / 2
    expected = -(math.log(0.8) + math.log(0.5)) / 2
    assert log_loss([1, 0], [0.8, 0.5]) == pytest.approx(expected)


def test_log_loss_floors_zero_probability_at_eps():
    assert log_loss([0], [[0.0, 1.0]], eps=1e-4) == pytest.approx(-math.log(1e-4))
    assert log_loss([1], [[0.0, 1.0]]) == pytest.approx(0.0)


def test_log_loss_rejects_logits_and_unnormalized_rows():
    with pytest.raises(ValueError, match=r"probs must lie in \[0, 1\].*apply softmax"):
        log_loss([0], [[2.0, -1.0]])
    with pytest.raises(ValueError, match="row 1 sums to 0.5; apply softmax"):
        log_loss([0, 1], [[0.5, 0.5], [0.25, 0.25]])


def test_log_loss_rejects_label_beyond_columns():
    with pytest.raises(ValueError, match="label 2 but probs have only 2 columns"):
        log_loss([2], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="1-D probs means a binary problem"):
        log_loss([2], [0.5])


@pytest.mark.parametrize("eps", [0, 1, -1e-3, "small"])
def test_log_loss_rejects_bad_eps(eps):
    with pytest.raises(ConfigError, match=r"eps must be a float in \(0, 1\)"):
        log_loss([0], [[1.0, 0.0]], eps=eps)


# ----------------------------------------------------------------------------- validation


def test_length_mismatch_names_both_lengths():
    with pytest.raises(ShapeError, match="same number of samples, got 3 and 2"):
        accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ShapeError, match="y_true and y_pred .* got 2 and 3"):
        confusion_matrix([0, 1], [0, 1, 1])
    with pytest.raises(ShapeError, match="y_true and scores .* got 1 and 2"):
        top_k_accuracy([0], [[0.5, 0.5], [0.5, 0.5]], k=1)
    with pytest.raises(ShapeError, match="y_true and probs .* got 1 and 2"):
        log_loss([0], [[0.5, 0.5], [0.5, 0.5]])


def test_float_labels_are_rejected_with_a_hint():
    with pytest.raises(DtypeError, match=r"y_true must hold integer class labels.*astype"):
        accuracy([0.0, 1.0], [0, 1])
    with pytest.raises(DtypeError, match="y_pred must hold integer class labels, got dtype float"):
        precision_recall_f1([0, 1], np.array([0.0, 1.0]))


def test_negative_labels_are_rejected():
    with pytest.raises(ValueError, match="y_true must hold class indices >= 0, got -1"):
        accuracy([-1, 0], [0, 0])


def test_label_arrays_must_be_1d_and_non_empty():
    with pytest.raises(ShapeError, match=r"y_true must be a 1-D array .* shape \(2, 2\).*argmax"):
        accuracy(np.eye(2, dtype=int), [0, 1])
    with pytest.raises(ShapeError, match="y_true is empty"):
        accuracy(np.array([], dtype=int), np.array([], dtype=int))
    with pytest.raises(ShapeError, match=r"y_pred_or_scores must be a 1-D array .* \(1, 1, 2\)"):
        accuracy([0], np.zeros((1, 1, 2), dtype=int))


def test_nan_scores_are_named():
    scores = np.array([[0.2, 0.8], [np.nan, 0.5]])
    with pytest.raises(ValueError, match=r"y_pred_or_scores contains NaN \(1 value\(s\), first at "
                       r"index \(1, 0\)\)"):  # fmt: skip
        accuracy([0, 1], scores)
    with pytest.raises(ValueError, match="scores contains NaN"):
        top_k_accuracy([0, 1], scores, k=1)
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        confusion_matrix([0, 1], scores)
    with pytest.raises(ValueError, match="probs contains NaN"):
        log_loss([0, 1], scores)
    with pytest.raises(ValueError, match="probs contains NaN"):
        log_loss([0, 1], [0.5, np.nan])


def test_non_numeric_scores_are_rejected():
    with pytest.raises(DtypeError, match="scores must hold numbers"):
        top_k_accuracy([0], np.array([["a", "b"]]), k=1)


def test_boolean_labels_count_as_classes_0_and_1():
    y = np.array([True, False, True])
    assert accuracy(y, [1, 1, 1]) == pytest.approx(2 / 3)
    np.testing.assert_array_equal(confusion_matrix(y, y), [[1, 0], [0, 2]])
