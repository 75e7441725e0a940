"""Comparisons of significances that hold on any CPU.

Batched fits of histograms in different batch compositions (another chunk size, a reversed order,
a smaller ``max_fits_per_pass``) run the same algorithm through kernels whose reduction order may
depend on the batch shape, so two results can differ by rounding (~1e-12 relative in ln L). The
significance ``Z = sqrt(2 dlnL)`` amplifies that near ``Z = 0`` (``dZ = d(dlnL) / Z``), so these
helpers compare ``dlnL = Z^2 / 2``, the quantity the fit computes, with a tolerance that covers
rounding of float64 (or of float32, where a chunk stores ``z`` as float32) and nothing more.
"""

from __future__ import annotations

import numpy as np

__all__ = ["assert_same_z"]

#: float32 keeps 24 bits: two roundings of nearly equal float64 values differ by at most one ulp.
_RTOL = {np.dtype(np.float32): 4.0 * 2.0**-24, np.dtype(np.float64): 1e-10}


def assert_same_z(a: np.ndarray, b: np.ndarray, atol_dlnl: float = 1e-9) -> None:
    """Assert that two arrays of significances agree up to rounding, NaN where the other is NaN.

    Compares ``Z^2 / 2`` (the log-likelihood ratio) with a relative tolerance of the stored
    precision and an absolute one of ``atol_dlnl`` in ln L units.
    """
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg="failed fits differ")
    rtol = max(_RTOL.get(a.dtype, 1e-10), _RTOL.get(b.dtype, 1e-10))
    da = 0.5 * np.square(a.astype(np.float64))
    db = 0.5 * np.square(b.astype(np.float64))
    np.testing.assert_allclose(da, db, rtol=rtol, atol=atol_dlnl, equal_nan=True)
