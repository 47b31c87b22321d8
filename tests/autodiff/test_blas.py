"""The in-place vector updates: BLAS path and NumPy fallback both equal the formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule.autodiff import blas


def _wheel_ships_openblas() -> bool:
    root = Path(np.__file__).resolve().parent
    folders = (root.parent / "numpy.libs", root / ".dylibs")
    return any(any(f.glob("libscipy_openblas64_*")) for f in folders)


def test_numpy_wheels_bundled_blas_is_found() -> None:
    # NumPy from PyPI ships scipy-openblas; then the fast path must be in use.
    assert blas.blas_available() is _wheel_ships_openblas()


@pytest.fixture(params=["blas", "numpy"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the BLAS path (where available) and on the forced NumPy fallback."""
    if request.param == "numpy":
        monkeypatch.setattr(blas, "_routine", lambda x, y, which: None)
    elif not blas.blas_available():
        pytest.skip("NumPy's bundled BLAS is not in this NumPy build")
    return str(request.param)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.9), (-0.05, 1.0), (0.7, 0.3), (1.0, 1.0)])
def test_axpby_matches_the_formula(path: str, dtype: type, alpha: float, beta: float) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(370, 50)).astype(dtype)  # above blas.MIN_SIZE
    y = rng.normal(size=(370, 50)).astype(dtype)
    assert (blas._routine(x, y, 0) is not None) is (path == "blas")
    expected = alpha * x.astype(np.float64) + beta * y.astype(np.float64)
    x_before = x.copy()
    blas.axpby(alpha, x, beta, y, np.empty_like(y))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
    assert y.dtype == dtype
    np.testing.assert_array_equal(x, x_before)  # x is only read


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_matches_the_formula(path: str, dtype: type) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=100_000).astype(dtype)  # large enough for BLAS to use its threads
    y = rng.normal(size=100_000).astype(dtype)
    assert (blas._routine(x, y, 1) is not None) is (path == "blas")
    expected = -0.05 * x.astype(np.float64) + y
    blas.axpy(-0.05, x, y)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_the_fast_path_is_taken_only_for_plain_contiguous_arrays() -> None:
    if not blas.blas_available():
        pytest.skip("NumPy's bundled BLAS is not in this NumPy build")
    n = blas.MIN_SIZE
    a, b = np.ones(n, np.float32), np.ones(n, np.float32)
    assert blas._routine(a[:8], b[:8], 0) is None  # small: NumPy is quicker
    assert blas._routine(a, b, 0) is not None
    assert blas._routine(a[::2], b[::2], 0) is None  # strided
    assert blas._routine(a, b.astype(np.float64), 0) is None  # mixed dtypes
    assert blas._routine(a.astype(np.float16), b.astype(np.float16), 0) is None
    assert blas._routine(a[: n // 2], a[n // 4 : 3 * n // 4], 0) is None  # overlapping
    frozen = b.copy()
    frozen.flags.writeable = False
    assert blas._routine(a, frozen, 0) is None


@pytest.mark.parametrize("case", ["strided x", "strided y", "float64 x", "fortran 2-d"])
def test_other_arrays_take_the_fallback_and_stay_right(case: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 100)).astype(np.float32)  # above blas.MIN_SIZE
    y = rng.normal(size=(200, 100)).astype(np.float32)
    if case == "strided x":
        x = rng.normal(size=(200, 200)).astype(np.float32)[:, ::2]
    elif case == "strided y":
        y = rng.normal(size=(200, 200)).astype(np.float32)[:, ::2]
    elif case == "float64 x":  # NumPy casts into y's dtype, as a ufunc with out= does
        x = x.astype(np.float64)
    else:
        x, y = np.asfortranarray(x), np.asfortranarray(y)
    assert blas._routine(x, y, 0) is None
    expected = 2.0 * x.astype(np.float64) + 0.5 * y
    blas.axpby(2.0, x, 0.5, y)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_small_arrays_also_update_right() -> None:
    x, y = np.arange(3, dtype=np.float32), np.ones(3, dtype=np.float32)
    blas.axpby(2.0, x, -1.0, y)
    np.testing.assert_array_equal(y, [-1.0, 1.0, 3.0])
    blas.axpy(1.0, x, y)
    np.testing.assert_array_equal(y, [-1.0, 2.0, 5.0])
