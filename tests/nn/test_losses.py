"""Losses against their formulas written out in NumPy, gradient checks, and every error."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import losses
from chainrule.errors import ConfigError, DtypeError, ShapeError
from chainrule.nn import functional as F

RNG = np.random.default_rng(1234)
N, C = 5, 4
LOGITS = RNG.normal(size=(N, C)) * 2
LABELS = np.array([0, 3, 1, 3, 2])
WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
PROBS_TARGET = RNG.dirichlet(np.ones(C), size=N)
REDUCTIONS = ["mean", "sum", "none"]


def log_softmax_np(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def reduce_np(per_item: np.ndarray, reduction: str) -> np.ndarray:
    return {"mean": per_item.mean(), "sum": per_item.sum(), "none": per_item}[reduction]


def t64(a: np.ndarray, grad: bool = False) -> cr.Tensor:
    return cr.tensor(np.array(a, dtype=np.float64), requires_grad=grad)


# -- cross-entropy ---------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_class_indices_matches_formula(reduction):
    per_sample = -log_softmax_np(LOGITS)[np.arange(N), LABELS]
    out = F.cross_entropy(t64(LOGITS), LABELS, reduction=reduction)
    np.testing.assert_allclose(out.data, reduce_np(per_sample, reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_cross_entropy_mean_divides_by_the_weights_of_the_targets(reduction):
    w_y = WEIGHT[LABELS]
    per_sample = -w_y * log_softmax_np(LOGITS)[np.arange(N), LABELS]
    expected = {
        "mean": per_sample.sum() / w_y.sum(),
        "sum": per_sample.sum(),
        "none": per_sample,
    }[reduction]
    out = F.cross_entropy(t64(LOGITS), LABELS, weight=WEIGHT, reduction=reduction)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_label_smoothing_matches_formula(reduction, weighted):
    eps = 0.2
    w = WEIGHT if weighted else np.ones(C)
    q = np.full((N, C), eps / C)
    q[np.arange(N), LABELS] += 1 - eps
    per_sample = -(w * q * log_softmax_np(LOGITS)).sum(axis=1)
    denominator = w[LABELS].sum() if weighted else N
    expected = {"mean": per_sample.sum() / denominator, "sum": per_sample.sum()}.get(
        reduction, per_sample
    )
    out = F.cross_entropy(
        t64(LOGITS), LABELS, weight=WEIGHT if weighted else None, label_smoothing=eps,
        reduction=reduction,
    )  # fmt: skip
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_class_probabilities_matches_formula(reduction):
    eps = 0.1
    q = PROBS_TARGET * (1 - eps) + eps / C
    per_sample = -(WEIGHT * q * log_softmax_np(LOGITS)).sum(axis=1)
    out = F.cross_entropy(
        t64(LOGITS), PROBS_TARGET, weight=WEIGHT, label_smoothing=eps, reduction=reduction
    )
    # with probabilities, "mean" divides by N (as PyTorch does), not by the weights
    np.testing.assert_allclose(out.data, reduce_np(per_sample, reduction), rtol=1e-12)


def test_cross_entropy_of_a_logit_of_1000_does_not_overflow():
    logits = cr.tensor(np.array([[1000.0, 0.0, -1000.0]], np.float32), requires_grad=True)
    right = F.cross_entropy(logits, np.array([0]))
    wrong = F.cross_entropy(logits, np.array([1]))
    assert right.item() == pytest.approx(0.0, abs=1e-6)
    assert wrong.item() == pytest.approx(1000.0)
    wrong.backward()
    np.testing.assert_allclose(logits.grad, [[1.0, -1.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.3, 1.0])
def test_fused_and_composed_paths_agree(reduction, eps):
    # without weights the fused primitive runs; all-ones weights take the composed path
    fused, composed = t64(LOGITS, grad=True), t64(LOGITS, grad=True)
    a = F.cross_entropy(fused, LABELS, label_smoothing=eps, reduction=reduction)
    b = F.cross_entropy(composed, LABELS, np.ones(C), label_smoothing=eps, reduction=reduction)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(fused.grad, composed.grad, rtol=1e-10, atol=1e-15)


def test_weighted_and_soft_cross_entropy_of_a_logit_of_1000_does_not_overflow():
    logits = cr.tensor(np.array([[1000.0, 0.0, -1000.0]], np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1]), weight=np.array([1.0, 2.0, 1.0]))
    assert loss.item() == pytest.approx(1000.0)
    soft = F.cross_entropy(logits, np.array([[0.0, 0.5, 0.5]], np.float32))
    assert soft.item() == pytest.approx(0.5 * 1000 + 0.5 * 2000)
    (loss + soft).backward()
    assert np.isfinite(logits.grad).all()


def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_n():
    logits = t64(LOGITS, grad=True)
    F.cross_entropy(logits, LABELS).backward()
    p = np.exp(log_softmax_np(LOGITS))
    p[np.arange(N), LABELS] -= 1
    np.testing.assert_allclose(logits.grad, p / N, rtol=1e-10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "target, kwargs",
    [
        (LABELS, {}),
        (LABELS, {"weight": WEIGHT, "label_smoothing": 0.3}),
        (PROBS_TARGET, {"weight": WEIGHT, "label_smoothing": 0.1}),
    ],
)
def test_cross_entropy_gradcheck(reduction, target, kwargs):
    x = t64(LOGITS, grad=True)
    assert cr.gradcheck(lambda z: F.cross_entropy(z, target, reduction=reduction, **kwargs), [x])


def test_cross_entropy_accepts_tensor_targets_and_keeps_float32():
    out = F.cross_entropy(cr.tensor(LOGITS.astype(np.float32)), cr.tensor(LABELS))
    assert out.dtype == np.float32
    expected = -log_softmax_np(LOGITS)[np.arange(N), LABELS].mean()
    assert out.item() == pytest.approx(expected, rel=1e-5)


def test_weighted_mean_with_zero_total_weight_is_nan_like_pytorch():
    out = F.cross_entropy(t64(LOGITS), LABELS, weight=np.zeros(C))
    assert np.isnan(out.item())


# -- nll_loss --------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_formula_and_cross_entropy(reduction):
    log_probs = log_softmax_np(LOGITS)
    w_y = WEIGHT[LABELS]
    per_sample = -w_y * log_probs[np.arange(N), LABELS]
    expected = {"mean": per_sample.sum() / w_y.sum(), "sum": per_sample.sum()}.get(
        reduction, per_sample
    )
    out = F.nll_loss(t64(log_probs), LABELS, weight=WEIGHT, reduction=reduction)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    via_ce = F.cross_entropy(t64(LOGITS), LABELS, weight=WEIGHT, reduction=reduction)
    np.testing.assert_allclose(out.data, via_ce.data, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_gradcheck(reduction):
    x = t64(log_softmax_np(LOGITS), grad=True)
    assert cr.gradcheck(lambda z: F.nll_loss(z, LABELS, WEIGHT, reduction), [x])


# -- binary cross-entropy ----------------------------------------------------------------------
X_BIN = RNG.normal(size=(6, 2)) * 3
Y_BIN = (RNG.random((6, 2)) > 0.5).astype(np.float64)
Y_SOFT = RNG.random((6, 2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_formula(reduction):
    s = sigmoid_np(X_BIN)
    per_item = -(Y_SOFT * np.log(s) + (1 - Y_SOFT) * np.log(1 - s))
    out = F.binary_cross_entropy_with_logits(t64(X_BIN), Y_SOFT, reduction=reduction)
    np.testing.assert_allclose(out.data, reduce_np(per_item, reduction), rtol=1e-10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_pos_weight_matches_formula(reduction):
    pos_weight = np.array([3.0, 0.5])
    s = sigmoid_np(X_BIN)
    per_item = -(pos_weight * Y_SOFT * np.log(s) + (1 - Y_SOFT) * np.log(1 - s))
    out = F.binary_cross_entropy_with_logits(t64(X_BIN), Y_SOFT, pos_weight, reduction)
    np.testing.assert_allclose(out.data, reduce_np(per_item, reduction), rtol=1e-10)


def test_bce_with_logits_is_stable_for_huge_logits():
    x = cr.tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0], np.float32), requires_grad=True)
    out = F.binary_cross_entropy_with_logits(x, np.array([0.0, 1.0, 1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(out.data, [1000.0, 1000.0, 0.0, 0.0])
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, -1.0, 0.0, 0.0])  # sigmoid(x) - y


def test_bce_with_logits_gradient_at_zero_is_sigmoid_minus_target():
    x = t64(np.zeros(3), grad=True)
    y = np.array([0.0, 1.0, 0.25])
    F.binary_cross_entropy_with_logits(x, y, reduction="sum").backward()
    np.testing.assert_allclose(x.grad, 0.5 - y)
    x.grad = None
    F.binary_cross_entropy_with_logits(x, y, pos_weight=2.0, reduction="sum").backward()
    # d/dx of -(p y log s + (1 - y) log(1 - s)) = (1 - y) s - p y (1 - s), at s = 1/2
    np.testing.assert_allclose(x.grad, 0.5 * (1 - y) - 2.0 * y * 0.5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, np.array([3.0, 0.5])])
def test_bce_with_logits_gradcheck(reduction, pos_weight):
    x = t64(X_BIN, grad=True)
    fn = lambda z: F.binary_cross_entropy_with_logits(z, Y_SOFT, pos_weight, reduction)  # noqa: E731
    assert cr.gradcheck(fn, [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_on_probabilities_matches_formula_and_gradcheck(reduction):
    p = sigmoid_np(X_BIN)
    per_item = -(Y_SOFT * np.log(p) + (1 - Y_SOFT) * np.log(1 - p))
    out = F.binary_cross_entropy(t64(p), Y_SOFT, reduction=reduction)
    np.testing.assert_allclose(out.data, reduce_np(per_item, reduction), rtol=1e-10)
    probs = t64(p, grad=True)
    assert cr.gradcheck(lambda q: F.binary_cross_entropy(q, Y_SOFT, reduction), [probs])


def test_bce_on_probabilities_clamps_logs_at_minus_100():
    out = F.binary_cross_entropy(t64(np.array([0.0, 1.0])), np.array([1.0, 0.0]), "none")
    np.testing.assert_allclose(out.data, [100.0, 100.0])


# -- regression --------------------------------------------------------------------------------
PRED = RNG.normal(size=(7, 3)) * 2
TARGET = RNG.normal(size=(7, 3))


def huber_np(d: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(d)
    return np.where(a <= delta, 0.5 * d**2, delta * (a - 0.5 * delta))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "fn, formula",
    [
        (F.mse_loss, lambda d: d**2),
        (F.l1_loss, np.abs),
        (F.huber_loss, lambda d: huber_np(d, 1.0)),
        (lambda x, t, r: F.huber_loss(x, t, r, delta=0.5), lambda d: huber_np(d, 0.5)),
    ],
)
def test_regression_losses_match_formula_and_gradcheck(reduction, fn, formula):
    out = fn(t64(PRED), TARGET, reduction)
    np.testing.assert_allclose(out.data, reduce_np(formula(PRED - TARGET), reduction), rtol=1e-12)
    x = t64(PRED, grad=True)
    assert cr.gradcheck(lambda z: fn(z, TARGET, reduction), [x])


def test_huber_gradient_is_clipped_difference():
    x = t64(np.array([-3.0, -0.5, 0.0, 0.25, 4.0]), grad=True)
    F.huber_loss(x, np.zeros(5), delta=1.0, reduction="sum").backward()
    np.testing.assert_allclose(x.grad, [-1.0, -0.5, 0.0, 0.25, 1.0])


def test_integer_regression_targets_are_cast_to_the_prediction_dtype():
    out = F.mse_loss(cr.tensor(np.array([1.5, 2.5], np.float32)), np.array([1, 2]))
    assert out.dtype == np.float32
    assert out.item() == pytest.approx(0.25)


# -- errors ----------------------------------------------------------------------------------
def test_regression_target_shape_mismatch_is_refused_not_broadcast():
    with pytest.raises(ShapeError, match=r"target of shape \(7,\) does not match input of shape"):
        F.mse_loss(t64(PRED[:, :1]), TARGET[:, 0])


def test_bce_target_shape_mismatch():
    with pytest.raises(ShapeError, match=r"never broadcast"):
        F.binary_cross_entropy_with_logits(t64(np.zeros((4, 1))), np.zeros(4))


@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.binary_cross_entropy_with_logits])
def test_unknown_reduction(fn):
    with pytest.raises(ConfigError, match=r"reduction must be one of 'mean', 'sum', 'none'"):
        fn(t64(np.zeros(2)), np.zeros(2), reduction="avg")


def test_cross_entropy_unknown_reduction():
    with pytest.raises(ConfigError, match=r"got 'average'"):
        F.cross_entropy(t64(LOGITS), LABELS, reduction="average")


def test_class_index_out_of_range_names_the_value():
    with pytest.raises(ShapeError, match=r"target class 7 is out of range for 4 classes"):
        F.cross_entropy(t64(LOGITS), np.array([0, 1, 7, 2, 3]))
    with pytest.raises(ShapeError, match=r"target class -1 is out of range"):
        F.nll_loss(t64(LOGITS), np.array([0, 1, -1, 2, 3]))


def test_float_class_index_targets_are_a_dtype_error():
    with pytest.raises(DtypeError, match=r"class-index targets must be integers, got dtype float"):
        F.cross_entropy(t64(LOGITS), LABELS.astype(np.float32))
    with pytest.raises(DtypeError, match=r"must be integers"):
        F.nll_loss(t64(LOGITS), LABELS.astype(np.float64))


def test_integer_probability_targets_are_a_dtype_error():
    one_hot = np.eye(C, dtype=np.int64)[LABELS]
    with pytest.raises(DtypeError, match=r"argmax\(axis=1\)"):
        F.cross_entropy(t64(LOGITS), one_hot)


@pytest.mark.parametrize("target", [np.zeros(3, np.int64), np.zeros((N, C + 1)), np.zeros((N, 1))])
def test_cross_entropy_target_shape_mismatch(target):
    with pytest.raises(ShapeError, match=r"expected class indices of shape \(5,\) or class prob"):
        F.cross_entropy(t64(LOGITS), target)


def test_nll_target_shape_mismatch():
    with pytest.raises(ShapeError, match=r"expected class indices of shape \(5,\)"):
        F.nll_loss(t64(LOGITS), LABELS[:3])


def test_logits_must_be_two_dimensional():
    with pytest.raises(ShapeError, match=r"logits must have shape \(N, C\), got \(4,\)"):
        F.cross_entropy(t64(np.zeros(4)), np.array([1]))
    with pytest.raises(ShapeError, match=r"log_probs must have shape \(N, C\)"):
        F.nll_loss(t64(np.zeros((2, 2, 2))), np.array([1, 0]))


def test_integer_logits_are_a_dtype_error():
    with pytest.raises(DtypeError, match=r"logits must be floating point, got dtype int64"):
        F.cross_entropy(cr.tensor([[1, 2]]), np.array([0]))


def test_non_numeric_regression_target():
    with pytest.raises(DtypeError, match=r"target must be numeric"):
        F.mse_loss(t64(np.zeros(2)), np.array(["a", "b"]))


def test_class_weight_shape():
    with pytest.raises(ShapeError, match=r"one entry per class, shape \(4,\), got \(3,\)"):
        F.cross_entropy(t64(LOGITS), LABELS, weight=np.ones(3))


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.1", True])
def test_label_smoothing_range(value):
    with pytest.raises(ConfigError, match=r"label_smoothing must be a number in \[0, 1\]"):
        F.cross_entropy(t64(LOGITS), LABELS, label_smoothing=value)


@pytest.mark.parametrize("delta", [0, -1.0, "1"])
def test_huber_delta_must_be_positive(delta):
    with pytest.raises(ConfigError, match=r"delta must be a positive number"):
        F.huber_loss(t64(np.zeros(2)), np.zeros(2), delta=delta)


def test_pos_weight_shape():
    with pytest.raises(ShapeError, match=r"pos_weight must be a scalar or have shape \(2,\)"):
        F.binary_cross_entropy_with_logits(t64(X_BIN), Y_BIN, pos_weight=np.ones(3))


def test_bce_probabilities_out_of_range():
    with pytest.raises(ConfigError, match=r"probs must lie in \[0, 1\], got values from -0.2"):
        F.binary_cross_entropy(t64(np.array([-0.2, 0.5])), np.array([0.0, 1.0]))


def test_mean_over_an_empty_batch():
    with pytest.raises(ShapeError, match=r"mean over an empty batch"):
        F.mse_loss(t64(np.zeros(0)), np.zeros(0))
    with pytest.raises(ShapeError, match=r"mean over an empty batch"):
        F.cross_entropy(t64(np.zeros((0, 3))), np.zeros(0, np.int64))


# -- Module forms ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module, fn, target",
    [
        (losses.CrossEntropyLoss(WEIGHT, 0.1, "sum"),
         lambda z, y: F.cross_entropy(z, y, WEIGHT, 0.1, "sum"), LABELS),
        (losses.NLLLoss(WEIGHT), lambda z, y: F.nll_loss(z, y, WEIGHT), LABELS),
        (losses.BCEWithLogitsLoss(np.full(C, 2.0), "none"),
         lambda z, y: F.binary_cross_entropy_with_logits(z, y, np.full(C, 2.0), "none"),
         PROBS_TARGET),
        (losses.BCELoss(), lambda z, y: F.binary_cross_entropy(z.sigmoid(), y), PROBS_TARGET),
        (losses.MSELoss("sum"), lambda z, y: F.mse_loss(z, y, "sum"), PROBS_TARGET),
        (losses.L1Loss(), F.l1_loss, PROBS_TARGET),
        (losses.HuberLoss(delta=0.3), lambda z, y: F.huber_loss(z, y, delta=0.3), PROBS_TARGET),
    ],
)  # fmt: skip
def test_loss_modules_equal_their_functions_and_rebuild_from_config(module, fn, target):
    z = t64(LOGITS)
    inputs = z.sigmoid() if isinstance(module, losses.BCELoss) else z
    np.testing.assert_allclose(module(inputs, target).data, fn(z, target).data, rtol=1e-6)
    config = json.loads(json.dumps(module.get_config()))
    rebuilt = type(module)(**config)
    np.testing.assert_allclose(rebuilt(inputs, target).data, module(inputs, target).data)
    assert losses.LOSSES[type(module).__name__] is type(module)


def test_loss_module_repr_and_weight_buffer():
    loss = cr.nn.CrossEntropyLoss(weight=[1.0, 2.0], label_smoothing=0.1)
    assert repr(loss) == (
        "CrossEntropyLoss(weight=[1.0, 2.0], reduction='mean', label_smoothing=0.1)"
    )
    assert list(loss.state_dict()) == ["weight"]
    assert repr(cr.nn.MSELoss()) == "MSELoss(reduction='mean')"


def test_loss_module_option_errors():
    with pytest.raises(ConfigError, match=r"MSELoss: reduction must be one of"):
        cr.nn.MSELoss(reduction="total")
    with pytest.raises(ConfigError, match=r"CrossEntropyLoss: label_smoothing"):
        cr.nn.CrossEntropyLoss(label_smoothing=2)
    with pytest.raises(ShapeError, match=r"NLLLoss: weight must be 1-D"):
        cr.nn.NLLLoss(weight=np.ones((2, 2)))
    with pytest.raises(ConfigError, match=r"HuberLoss: delta must be a positive number"):
        cr.nn.HuberLoss(delta=0)


def test_losses_are_reexported_through_nn_and_functional():
    assert cr.nn.functional.cross_entropy is losses.cross_entropy
    assert cr.nn.BCEWithLogitsLoss is losses.BCEWithLogitsLoss
    assert "huber_loss" in dir(cr.nn.functional)
    with pytest.raises(AttributeError, match=r"no attribute 'hinge_loss'"):
        _ = cr.nn.functional.hinge_loss
    with pytest.raises(AttributeError, match=r"no attribute 'HingeLoss'"):
        _ = cr.nn.HingeLoss


# -- sequences: (N, C, T) logits, ignore_index, the masked mean -----------------------------
SEQ_LOGITS = RNG.normal(size=(2, C, 3))
SEQ_TARGET = np.array([[0, 3, -100], [2, -100, 1]])


def _seq_losses_np(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-token loss from the formula, zero where the target is ignored."""
    logp = log_softmax_np(z.transpose(0, 2, 1).reshape(-1, C))
    flat = t.reshape(-1)
    picked = -logp[np.arange(flat.size), np.where(flat == -100, 0, flat)]
    return np.where(flat == -100, 0.0, picked).reshape(t.shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sequence_cross_entropy_ignores_padding(reduction: str) -> None:
    logits = cr.tensor(SEQ_LOGITS, requires_grad=True)
    out = F.cross_entropy(logits, SEQ_TARGET, reduction=reduction)
    per_token = _seq_losses_np(SEQ_LOGITS, SEQ_TARGET)
    expected = {"none": per_token, "sum": per_token.sum(), "mean": per_token.sum() / 4}
    np.testing.assert_allclose(out.data, expected[reduction], rtol=1e-12)
    out.sum().backward()
    assert np.all(logits.grad[0, :, 2] == 0) and np.all(logits.grad[1, :, 1] == 0)
    assert cr.gradcheck(lambda z: F.cross_entropy(z, SEQ_TARGET, reduction=reduction).sum(),
                        [cr.tensor(SEQ_LOGITS, requires_grad=True)])  # fmt: skip


def test_sequence_cross_entropy_class_axis_last_weights_and_module() -> None:
    last = SEQ_LOGITS.transpose(0, 2, 1)
    a = F.cross_entropy(cr.tensor(SEQ_LOGITS), SEQ_TARGET, weight=WEIGHT, label_smoothing=0.1)
    b = F.cross_entropy(cr.tensor(last), SEQ_TARGET, WEIGHT, 0.1, class_axis=-1)
    flat = F.cross_entropy(cr.tensor(last.reshape(-1, C)), SEQ_TARGET.reshape(-1), WEIGHT, 0.1)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    np.testing.assert_allclose(a.data, flat.data, rtol=1e-12)
    kept = SEQ_TARGET[SEQ_TARGET != -100]
    manual = F.cross_entropy(
        cr.tensor(last.reshape(-1, C)[(SEQ_TARGET != -100).reshape(-1)]), kept, WEIGHT, 0.1
    )
    np.testing.assert_allclose(a.data, manual.data, rtol=1e-12)  # the mean over real tokens
    module = losses.CrossEntropyLoss(ignore_index=3)
    assert module.get_config()["ignore_index"] == 3
    t = np.array([[0, 3, 3], [2, 3, 1]])
    np.testing.assert_allclose(module(SEQ_LOGITS, t).data, _seq_losses_np(SEQ_LOGITS, np.where(
        t == 3, -100, t)).sum() / 3, rtol=1e-12)  # fmt: skip


def test_sequence_cross_entropy_all_ignored_and_bad_shapes() -> None:
    assert np.isnan(F.cross_entropy(cr.tensor(SEQ_LOGITS), np.full((2, 3), -100)).item())
    with pytest.raises(ShapeError, match=r"expected class indices of shape \(2, 3\)"):
        F.cross_entropy(cr.tensor(SEQ_LOGITS), np.zeros((2, 4), np.int64))
    with pytest.raises(ConfigError, match="class_axis must be 1 or -1"):
        F.cross_entropy(cr.tensor(SEQ_LOGITS), SEQ_TARGET, class_axis=0)
    with pytest.raises(ConfigError, match="ignore_index must be an int"):
        losses.CrossEntropyLoss(ignore_index=0.5)
