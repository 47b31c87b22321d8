"""scikit-learn estimators backed by chainrule networks (needs ``pip install chainrule[sklearn]``).

``NeuralNetClassifier`` and ``NeuralNetRegressor`` follow the estimator contract (they pass
scikit-learn's own estimator checks), so they work in ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``. The rest of chainrule never imports scikit-learn; only this package does.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from chainrule.sklearn import NeuralNetClassifier
>>> X, y = load_iris(return_X_y=True)
>>> net = NeuralNetClassifier((16,), learning_rate=0.01, random_state=0)
>>> model = make_pipeline(StandardScaler(), net)
>>> model.fit(X, y).score(X, y) > 0.9
True
"""

try:
    import sklearn  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "chainrule.sklearn needs scikit-learn, which is not installed; install it with "
        "`pip install chainrule[sklearn]` (or `pip install scikit-learn`)"
    ) from err

from chainrule.sklearn.classifier import NeuralNetClassifier
from chainrule.sklearn.regressor import NeuralNetRegressor

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]
