"""NeuralNetClassifier / NeuralNetRegressor used the way scikit-learn users use estimators."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from chainrule.errors import ConfigError, FormatError
from chainrule.io import save as save_model
from chainrule.nn import Module
from chainrule.nn.layers import Linear, Sequential
from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor


def small_clf(**kw):
    params = dict(hidden_layer_sizes=(16,), learning_rate=0.02, max_epochs=60, random_state=0)
    return NeuralNetClassifier(**{**params, **kw})


def small_reg(**kw):
    params = dict(hidden_layer_sizes=(16,), learning_rate=0.02, max_epochs=100, random_state=0)
    return NeuralNetRegressor(**{**params, **kw})


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def blobs(n=120, seed=0):
    """Three well-separated Gaussian blobs in 2-D, labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = np.arange(n) % 3
    return centers[y] + rng.normal(scale=0.6, size=(n, 2)), y


# -- scikit-learn machinery --------------------------------------------------------------------
def test_pipeline_gridsearch_and_cross_val_score(iris):
    X, y = load_iris(return_X_y=True)  # raw features: the pipeline scales them
    pipe = make_pipeline(StandardScaler(), small_clf())
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    grid = GridSearchCV(pipe, {"neuralnetclassifier__hidden_layer_sizes": [(4,), (16,)]}, cv=3).fit(
        X, y
    )
    assert grid.best_params_["neuralnetclassifier__hidden_layer_sizes"] in [(4,), (16,)]
    assert grid.best_score_ > 0.8
    assert grid.score(X, y) > 0.9


def test_same_random_state_gives_identical_predictions(iris):
    X, y = iris
    first = small_clf(dropout=0.2, batch_size=16).fit(X, y).predict_proba(X)
    second = small_clf(dropout=0.2, batch_size=16).fit(X, y).predict_proba(X)
    other = small_clf(dropout=0.2, batch_size=16, random_state=1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - other).max() > 1e-3


def test_clone_and_pickle_keep_params_predictions_and_training_state(iris):
    X, y = iris
    clf = small_clf(batch_size=32, dropout=0.1).fit(X, y)
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params() and not hasattr(fresh, "model_")
    copy = pickle.loads(pickle.dumps(clf))
    assert isinstance(copy.model_, Module)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    # The optimizer state and the generators travel too: one more epoch is the same on both.
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


# -- the digits benchmark ----------------------------------------------------------------------
def test_digits_accuracy_matches_mlpclassifier():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    ours = make_pipeline(
        StandardScaler(), NeuralNetClassifier((100,), batch_size=32, random_state=0)
    )
    theirs = make_pipeline(StandardScaler(), MLPClassifier((100,), max_iter=500, random_state=0))
    # One BLAS thread: on a busy machine, threads on these small matrices are much slower.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # theirs stops by tol well before
        ours_acc = ours.fit(X_train.astype(np.float32), y_train).score(X_test, y_test)
        theirs_acc = theirs.fit(X_train, y_train).score(X_test, y_test)
    # Measured: ours 0.9800, MLPClassifier 0.9778 on this split.
    assert ours_acc >= 0.97
    assert ours_acc >= theirs_acc - 0.005, (ours_acc, theirs_acc)


# -- learning ----------------------------------------------------------------------------------
def test_regressor_beats_the_mean_predictor():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.05 * rng.normal(size=300)
    reg = small_reg(hidden_layer_sizes=(32,), max_epochs=300).fit(X[:200], y[:200])
    mse = np.mean((reg.predict(X[200:]) - y[200:]) ** 2)
    mean_mse = np.mean((y[:200].mean() - y[200:]) ** 2)
    assert mse < 0.1 * mean_mse
    assert reg.score(X[200:], y[200:]) > 0.9


def test_absolute_error_and_huber_resist_outliers_that_pull_squared_error():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 1))
    y = 2.0 * X[:, 0]
    y[:20] += 30.0  # a tenth of the targets are far off
    slopes = {}
    for loss in ("squared_error", "absolute_error", "huber"):
        reg = NeuralNetRegressor((), loss=loss, learning_rate=0.05, max_epochs=400, random_state=0)
        reg.fit(X, y)  # hidden_layer_sizes=(): a linear model, y = w x + b
        slopes[loss] = reg.model_[0].weight.data[0, 0]
        intercept = reg.predict(np.zeros((1, 1)))[0]
        if loss != "squared_error":
            assert abs(intercept) < 1.0, (loss, intercept)
    assert abs(slopes["absolute_error"] - 2.0) < 0.2
    assert abs(slopes["huber"] - 2.0) < 0.3
    # The squared error fits the mean, shifted by 30 * 0.1 = 3.
    assert reg.get_params()["loss"] == "huber"
    intercept_sq = NeuralNetRegressor((), learning_rate=0.05, max_epochs=400, random_state=0)
    assert abs(intercept_sq.fit(X, y).predict(np.zeros((1, 1)))[0] - 3.0) < 0.5


def test_l1_l2_and_weight_decay_shrink_the_weights(iris):
    X, y = iris

    def norm(clf):
        return sum(float(np.abs(p.data).sum()) for p in clf.model_.parameters() if p.ndim == 2)

    plain = norm(small_clf().fit(X, y))
    assert norm(small_clf(l2=1.0).fit(X, y)) < 0.7 * plain
    assert norm(small_clf(l1=0.05).fit(X, y)) < 0.7 * plain
    assert norm(small_clf(optimizer="adamw", weight_decay=2.0).fit(X, y)) < 0.7 * plain


@pytest.mark.parametrize(
    "kw",
    [
        dict(optimizer="sgd", learning_rate=0.1, nesterov=True),
        dict(optimizer="rmsprop"),
        dict(optimizer="adagrad", learning_rate=0.1),
        dict(activation="tanh", batch_norm=True, batch_size=16),
        dict(activation="logistic", learning_rate=0.05, lr_schedule="cosine"),
        dict(hidden_layer_sizes=(8, 8), activation="gelu", lr_schedule="step"),
    ],
)
def test_other_settings_learn_the_blobs(kw):
    X, y = blobs()
    clf = small_clf(**kw).fit(X, y)
    assert clf.score(X, y) > 0.95, kw


def test_lr_schedule_callable_is_called_with_each_epoch(iris):
    X, y = iris
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 0.01 / (1 + epoch)

    clf = small_clf(lr_schedule=schedule, max_epochs=5, tol=0.0).fit(X, y)
    assert seen == [0, 1, 2, 3, 4] and clf.n_iter_ == 5


def test_stops_when_the_loss_stalls_and_reports_curves(iris):
    X, y = iris
    clf = small_clf(max_epochs=500, tol=1e-2, n_iter_no_change=3).fit(X, y)
    assert clf.n_iter_ < 500 and len(clf.loss_curve_) == clf.n_iter_
    assert clf.best_loss_ == min(clf.loss_curve_)
    # Training stopped at the first run of 3 epochs that did not beat the best before them
    # by tol.
    curve = clf.loss_curve_
    stalled = "".join(
        "s" if curve[i] > min(curve[:i]) - 1e-2 else "." for i in range(1, len(curve))
    )
    assert stalled.endswith(".sss") and "sss" not in stalled[:-1]
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_early_stopping_restores_the_best_weights(iris):
    X, y = iris
    # tol=1 makes every epoch count as "no improvement" (accuracy cannot rise by 1).
    kw = dict(
        early_stopping=True,
        validation_fraction=0.3,
        tol=1.0,
        n_iter_no_change=6,
        learning_rate=0.5,
        random_state=2,
    )
    clf = small_clf(**kw).fit(X, y)  # a run whose best epoch is not the last
    scores = clf.validation_scores_
    # The first epoch always improves on "no score yet"; then 6 epochs without improvement.
    assert clf.n_iter_ == 7 and len(scores) == 7
    best = int(np.argmax(scores))
    assert clf.best_validation_score_ == scores[best] and best < 6  # not simply the last
    # The same run cut at the best epoch ends with the weights early stopping restored.
    cut = small_clf(max_epochs=best + 1, **kw).fit(X, y)
    np.testing.assert_array_equal(cut.predict_proba(X), clf.predict_proba(X))


# -- targets -----------------------------------------------------------------------------------
def test_string_labels_and_binary_outputs():
    X, y = blobs()
    keep = y < 2
    labels = np.array(["cat", "dog"])[y[keep]]
    clf = small_clf().fit(X[keep], labels)
    assert clf.classes_.tolist() == ["cat", "dog"] and clf.n_outputs_ == 1
    assert set(clf.predict(X[keep])) == {"cat", "dog"}
    decision = clf.decision_function(X[keep])
    assert decision.shape == (keep.sum(),)
    np.testing.assert_array_equal(clf.predict(X[keep]), clf.classes_[(decision > 0).astype(int)])
    proba = clf.predict_proba(X[keep])
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-decision)), rtol=1e-6)
    np.testing.assert_allclose(clf.predict_log_proba(X[keep]), np.log(proba), rtol=1e-6)
    assert clf.score(X[keep], labels) > 0.95


def test_multiclass_probabilities_are_the_softmax_of_the_decision_function():
    X, y = blobs()
    clf = small_clf().fit(X, np.array(["a", "b", "c"], dtype=object)[y])
    logits = clf.decision_function(X)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), softmax, rtol=1e-6)
    assert clf.out_activation_ == "softmax" and clf.classes_.tolist() == ["a", "b", "c"]


def test_multilabel_shapes_and_learning():
    X, Y = make_multilabel_classification(n_samples=200, n_features=8, n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    clf = small_clf(hidden_layer_sizes=(32,), max_epochs=200).fit(X[:150], Y[:150])
    pred = clf.predict(X[150:])
    assert pred.shape == (50, 4) and pred.dtype == Y.dtype
    proba = clf.predict_proba(X[150:])
    assert proba.shape == (50, 4) and ((proba > 0) & (proba < 1)).all()
    assert clf.decision_function(X[150:]).shape == (50, 4)
    assert clf.classes_.tolist() == [0, 1, 2, 3] and clf.out_activation_ == "logistic"
    # Per-label accuracy well above always predicting each label's majority value.
    majority = np.maximum(Y[:150].mean(axis=0), 1 - Y[:150].mean(axis=0))
    assert (pred == Y[150:]).mean() > majority.mean() + 0.05


def test_multioutput_regression_shapes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.stack([X[:, 0] + X[:, 1], X[:, 1] * X[:, 2], np.tanh(X[:, 2])], axis=1)
    reg = small_reg(hidden_layer_sizes=(32,), max_epochs=300).fit(X, Y)
    assert reg.predict(X).shape == (200, 3) and reg.n_outputs_ == 3
    assert reg.score(X, Y) > 0.8


def test_float32_stays_float32_and_float64_stays_float64(iris):
    X, y = iris
    clf32 = small_clf(max_epochs=5).fit(X.astype(np.float32), y)
    assert {p.dtype for p in clf32.model_.parameters()} == {np.dtype(np.float32)}
    assert clf32.predict_proba(X).dtype == np.float32  # float64 input meets a float32 model
    reg64 = small_reg(max_epochs=5).fit(X, y.astype(float))
    assert reg64.predict(X.astype(np.float32)).dtype == np.float64
    assert small_reg(max_epochs=5).fit(X.astype(int), y).predict(X).dtype == np.float64


# -- sample weights ----------------------------------------------------------------------------
def test_zero_weight_removes_samples_and_integer_weights_repeat_them():
    X, y = blobs(60)
    rng = np.random.default_rng(1)
    weights = rng.integers(0, 3, size=60)
    X_rep, y_rep = np.repeat(X, weights, axis=0), np.repeat(y, weights)
    # Full-batch training ("auto" is min(200, n)): the weighted mean loss equals the mean
    # over the repeated data, so both fits follow the same path up to rounding.
    weighted = small_clf(max_epochs=40, tol=0.0).fit(X, y, sample_weight=weights)
    repeated = small_clf(max_epochs=40, tol=0.0).fit(X_rep, y_rep)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6)


def test_zero_weight_on_a_class_removes_its_influence():
    X, y = blobs(150)
    unweighted = small_clf().fit(X, y)
    assert (unweighted.predict(X[y == 2]) == 2).mean() > 0.9
    weighted = small_clf().fit(X, y, sample_weight=(y != 2).astype(float))
    assert weighted.classes_.tolist() == [0, 1, 2]
    assert not (weighted.predict(X) == 2).any()  # class 2 has no pull left


def test_bad_sample_weights_are_refused():
    X, y = blobs(30)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        small_clf().fit(X, y, sample_weight=np.ones(29))
    with pytest.raises(ValueError, match="non-negative"):
        small_clf().fit(X, y, sample_weight=-np.ones(30))
    with pytest.raises(ValueError, match="non-zero"):
        small_clf().fit(X, y, sample_weight=np.zeros(30))
    with pytest.raises(ValueError, match="at least 2 classes"):
        small_clf().fit(X, y, sample_weight=(y == 0).astype(float))


# -- partial_fit -------------------------------------------------------------------------------
def test_partial_fit_learns_incrementally():
    X, y = blobs(150)
    clf = small_clf(learning_rate=0.01)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    first_loss = clf.loss_curve_[0]
    for _ in range(30):
        for start in range(0, 150, 50):
            clf.partial_fit(X[start : start + 50], y[start : start + 50])
    assert clf.n_iter_ == 91 and len(clf.loss_curve_) == 91
    assert clf.loss_curve_[-1] < 0.5 * first_loss
    assert clf.score(X, y) > 0.95
    with pytest.raises(ValueError, match="is not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="X has 1 features"):
        clf.partial_fit(X[:, :1], y)


def test_partial_fit_after_fit_continues_and_regressor_partial_fit():
    X, y = blobs(90)
    clf = small_clf(max_epochs=3, tol=0.0).fit(X, y)
    clf.partial_fit(X, y)  # classes known from fit
    assert clf.n_iter_ == 4
    reg = small_reg()
    target = X[:, 0] - X[:, 1]
    for _ in range(60):
        reg.partial_fit(X, target)
    assert reg.n_iter_ == 60 and reg.loss_curve_[-1] < 0.1 * reg.loss_curve_[0]
    with pytest.raises(ValueError, match="output column"):
        reg.partial_fit(X, np.stack([target, target], axis=1))


# -- files ----------------------------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path):
    X, y = blobs()
    labels = np.array(["north", "east", "west"])[y]
    clf = small_clf(early_stopping=True).fit(X, labels)
    path = clf.save(tmp_path / "clf")
    assert path.name == "clf.json" and (tmp_path / "clf.safetensors").exists()
    doc = json.loads(path.read_text())
    assert doc["class_names"] == ["east", "north", "west"]
    loaded = NeuralNetClassifier.load(tmp_path / "clf")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.get_params() == clf.get_params()
    assert loaded.classes_.tolist() == clf.classes_.tolist()
    assert loaded.loss_curve_ == clf.loss_curve_ and loaded.n_iter_ == clf.n_iter_
    assert loaded.validation_scores_ == clf.validation_scores_
    loaded.partial_fit(X, labels)  # a fresh optimizer: training can go on
    assert loaded.n_iter_ == clf.n_iter_ + 1
    with pytest.raises(FormatError, match="not a NeuralNetRegressor file"):
        NeuralNetRegressor.load(path)


def test_regressor_save_load_and_multilabel_save(tmp_path):
    X, y = blobs()
    reg = small_reg(max_epochs=5).fit(X.astype(np.float32), np.stack([y, -y], axis=1))
    loaded = NeuralNetRegressor.load(reg.save(tmp_path / "reg"))
    assert loaded.predict(X).dtype == np.float32 and loaded.predict(X).shape == (120, 2)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    Y = np.eye(3, dtype=np.int32)[y]
    clf = small_clf(max_epochs=5).fit(X, Y)
    loaded_clf = NeuralNetClassifier.load(clf.save(tmp_path / "ml"))
    assert loaded_clf.predict(X).dtype == np.int32
    np.testing.assert_array_equal(loaded_clf.predict(X), clf.predict(X))
    with pytest.raises(ConfigError, match="cannot be written to a model file"):
        small_clf(max_epochs=2, lr_schedule=lambda epoch: 0.01).fit(X, y).save(tmp_path / "x")


def test_load_refuses_other_files_and_corrupt_metadata(tmp_path):
    X, y = blobs()
    plain = save_model(Sequential(Linear(2, 3, rng=0)), tmp_path / "plain")
    with pytest.raises(FormatError, match="not a NeuralNetClassifier file"):
        NeuralNetClassifier.load(plain)
    clf = small_clf(max_epochs=2, random_state=np.random.RandomState(0)).fit(X, y)
    path = clf.save(tmp_path / "clf")
    assert NeuralNetClassifier.load(path).random_state is None  # generators are not saved
    doc = json.loads(path.read_text())
    meta = doc["metadata"]["chainrule.sklearn"]
    for change, message in [
        (lambda m: m.pop("n_iter_"), "corrupt NeuralNetClassifier metadata"),
        (lambda m: m["classes_"].update(dtype="<M8[s]"), "unsupported dtype"),
        (lambda m: m["classes_"].update(dtype="no-such-dtype"), "unknown dtype"),
        (lambda m: m.update(classes_=[0, 1, 2]), r"expected \{'dtype'"),
    ]:
        broken = json.loads(json.dumps(meta))
        change(broken)
        doc["metadata"]["chainrule.sklearn"] = broken
        path.write_text(json.dumps(doc))
        with pytest.raises(FormatError, match=message):
            NeuralNetClassifier.load(path)


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("hidden_layer_sizes", (10, 0)),
        ("hidden_layer_sizes", "100"),
        ("activation", "softplus"),
        ("dropout", 1.0),
        ("batch_norm", "yes"),
        ("optimizer", "lbfgs"),
        ("learning_rate", 0.0),
        ("momentum", 1.5),
        ("nesterov", 1),
        ("weight_decay", -0.1),
        ("l1", -1.0),
        ("l2", float("nan")),
        ("batch_size", 0),
        ("batch_size", "big"),
        ("max_epochs", 0),
        ("lr_schedule", "linear"),
        ("early_stopping", None),
        ("validation_fraction", 1.0),
        ("n_iter_no_change", 0),
        ("tol", -1e-3),
        ("random_state", -1),
        ("verbose", -1),
    ],
)
def test_bad_hyperparameters_raise_valueerror_naming_them(param, value):
    X, y = blobs(30)
    with pytest.raises(ValueError, match=rf"NeuralNetClassifier: {param} must") as info:
        NeuralNetClassifier(**{param: value}).fit(X, y)
    assert isinstance(info.value, ConfigError)


def test_bad_regressor_hyperparameters_and_nesterov_without_momentum():
    X, y = blobs(30)
    with pytest.raises(ValueError, match="NeuralNetRegressor: loss must be one of"):
        NeuralNetRegressor(loss="poisson").fit(X, y)
    with pytest.raises(ValueError, match="huber_delta must"):
        NeuralNetRegressor(loss="huber", huber_delta=0).fit(X, y)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        NeuralNetClassifier(optimizer="sgd", nesterov=True, momentum=0.0).fit(X, y)


def test_data_errors_have_helpful_messages():
    X, y = blobs(30)
    with pytest.raises(ValueError, match="only one class"):
        small_clf().fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        small_clf().fit(X, np.stack([y, y], axis=1))
    with pytest.raises(ValueError, match="Unknown label type"):
        small_clf().fit(X, np.linspace(0, 1, 30))
    with pytest.raises(ValueError, match="validation samples; it needs at least 2"):
        small_clf(early_stopping=True).fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="batch_norm=True needs at least 2 samples"):
        NeuralNetRegressor(batch_norm=True).fit(X[:1], y[:1])
    with pytest.raises(NotFittedError):
        small_clf().predict(X)
    with pytest.raises(FloatingPointError, match="lower learning_rate"), np.errstate(all="ignore"):
        NeuralNetRegressor(optimizer="sgd", learning_rate=1e6, max_epochs=50).fit(X, 1e6 * y)


def test_verbose_prints_the_loss_per_epoch(iris, capsys):
    X, y = iris
    small_clf(max_epochs=3, tol=0.0, verbose=1, early_stopping=True).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1, loss = ")
    assert "validation score" in lines[0]


def test_feature_names_are_recorded_for_dataframes(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = small_clf(max_epochs=3).fit(frame, y)
    assert clf.feature_names_in_.tolist() == ["a", "b", "c", "d"]


def test_core_package_never_imports_sklearn():
    # Import every chainrule module but chainrule.sklearn in a fresh interpreter (by hand:
    # pkgutil.walk_packages would import chainrule.sklearn itself while walking).
    code = (
        "import importlib, pkgutil, sys, chainrule\n"
        "def walk(package):\n"
        "    for m in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
        "        if m.name != 'chainrule.sklearn' and not m.name.endswith('__main__'):\n"
        "            module = importlib.import_module(m.name)\n"
        "            if m.ispkg:\n"
        "                walk(module)\n"
        "walk(chainrule)\n"
        "assert 'chainrule.losses' in sys.modules and 'chainrule.training' in sys.modules\n"
        "bad = sorted(n for n in sys.modules if n == 'sklearn' or n.startswith('sklearn.'))\n"
        "print(bad[:3])\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
