"""scikit-learn's own estimator checks, run on both estimators.

The main instances (the default training scheme, smaller and faster) pass every check with no
expected failures. A second pair turns on everything that draws randomness per sample or per
batch (mini-batches, dropout, batch norm, early stopping, penalties) and passes every check
but the one that, by design, such training cannot pass (see ``VARIANT_XFAIL``).
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor

# Small networks and few epochs keep the checks fast; the learning rate is raised so that
# the checks which demand a good training score still get one.
SMALL = dict(hidden_layer_sizes=(16,), learning_rate=0.02, max_epochs=60, random_state=0)
VARIANT = dict(
    hidden_layer_sizes=(16, 16),
    batch_norm=True,
    dropout=0.1,
    early_stopping=True,
    validation_fraction=0.2,
    batch_size=16,
    l2=1e-3,
    learning_rate=0.02,
    max_epochs=40,
    random_state=0,
)
VARIANT_XFAIL = {
    "check_sample_weight_equivalence_on_dense_data": (
        "an integer sample_weight equals repeating samples only for full-batch training "
        "without per-sample randomness; mini-batches, dropout masks, batch-norm statistics "
        "and the early-stopping split all depend on how many rows there are"
    )
}


@parametrize_with_checks(
    [NeuralNetClassifier(**SMALL), NeuralNetRegressor(**SMALL)], xfail_strict=True
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@parametrize_with_checks(
    [NeuralNetClassifier(**VARIANT), NeuralNetRegressor(**VARIANT)],
    expected_failed_checks=lambda estimator: VARIANT_XFAIL,
    xfail_strict=True,
)
def test_sklearn_estimator_checks_with_every_option(estimator, check):
    check(estimator)
