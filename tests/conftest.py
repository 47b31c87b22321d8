"""Suite-wide settings."""

import os

# scikit-learn's array-API estimator check runs only when SciPy's array-API support is switched
# on, and SciPy reads this once, at import: set it before any test imports scikit-learn.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
