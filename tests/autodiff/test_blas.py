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


# -- gemm: c <- alpha a @ b + beta c on strided and transposed views --------------------------
def _views(rng: np.random.Generator, dtype: type) -> dict[str, np.ndarray]:
    wide = rng.normal(size=(9, 40)).astype(dtype)
    return {
        "plain": rng.normal(size=(5, 7)).astype(dtype),
        "slice of wider rows": wide[2:7, 3:10],  # rows 40 apart, last axis contiguous
        "transposed": np.ascontiguousarray(rng.normal(size=(7, 5)).astype(dtype)).T,
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["plain", "slice of wider rows", "transposed"])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.5, 0.0), (-2.0, 0.3)])
def test_gemm_matches_numpy_on_views(dtype: type, kind: str, alpha: float, beta: float) -> None:
    rng = np.random.default_rng(1)
    a = _views(rng, dtype)[kind]  # (5, 7)
    b = rng.normal(size=(7, 6)).astype(dtype)
    big = rng.normal(size=(8, 30)).astype(dtype)
    c = big[1:6, 4:10]  # the output is a window of a wider array, as in the convolution
    want = alpha * (a @ b) + beta * c
    outside = big.copy()
    gemm_calls = []
    real = blas._gemms.get(np.dtype(dtype))
    if real is not None:
        blas._gemms[np.dtype(dtype)] = lambda *args: (gemm_calls.append(1), real(*args))
    try:
        blas.gemm(a, b, c, alpha, beta)
    finally:
        if real is not None:
            blas._gemms[np.dtype(dtype)] = real
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, want, rtol=tol, atol=tol)
    outside[1:6, 4:10] = c
    np.testing.assert_array_equal(big, outside)  # nothing outside the window was touched
    assert bool(gemm_calls) is blas.blas_available()  # these views go to BLAS in place


def test_gemm_falls_back_for_what_blas_cannot_take() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.ones((3, 2), np.int64)  # another dtype
    c = np.zeros((2, 2), np.float32)
    blas.gemm(a, b.astype(np.float32)[:, ::-1], c)  # a negative stride: NumPy computes it
    np.testing.assert_array_equal(c, a @ np.ones((3, 2), np.float32))
    c64 = np.ones((2, 2))
    blas.gemm(a.astype(np.float64), np.eye(3)[:, :2][::1], c64, beta=0.0)
    np.testing.assert_array_equal(c64, a[:, :2])
