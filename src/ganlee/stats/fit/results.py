"""Fit results and status codes, and the checks of the counts given to either backend.

docs/design.md, "Fits and background model". Status codes (``int8``, per histogram for the
background fit and per histogram x mass):

==== ================= ==================================================================
code name              meaning
==== ================= ==================================================================
0    ok                converged (Z finite)
1    not_converged     iteration limit or line search stalled (batched); MINUIT's minimum
                       invalid (iminuit)
2    non_finite        NaN/inf in the likelihood or a singular Hessian
3    empty             the histogram holds no events: nothing is fitted
4    too_few_events    fewer than ``min_events`` events, or fewer non-empty bins than the
                       background has parameters (3 for ``exp_poly2``; then the exp-polynomial
                       maximum-likelihood estimate does not exist: ``a_N -> -inf``)
==== ================= ==================================================================

A failed background fit gives its code to every mass of that histogram. Where the status is not
0, ``z`` and ``n1`` are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import gammaln, xlogy

__all__ = [
    "STATUS_EMPTY",
    "STATUS_NAMES",
    "STATUS_NON_FINITE",
    "STATUS_NOT_CONVERGED",
    "STATUS_OK",
    "STATUS_TOO_FEW",
    "ScanResult",
    "counts_numpy",
    "precheck",
    "status_counts",
]

STATUS_OK = 0
STATUS_NOT_CONVERGED = 1
STATUS_NON_FINITE = 2
STATUS_EMPTY = 3
STATUS_TOO_FEW = 4
STATUS_NAMES: dict[int, str] = {
    STATUS_OK: "ok",
    STATUS_NOT_CONVERGED: "not_converged",
    STATUS_NON_FINITE: "non_finite",
    STATUS_EMPTY: "empty",
    STATUS_TOO_FEW: "too_few_events",
}


@dataclass
class ScanResult:
    """Fits of B histograms at M masses.

    ``z``, ``n1``, ``status``: (B, M); ``bkg_params`` (B, P) the public background parameters of
    the background-only fit (``(n0, a, b)`` for ``exp_poly2``; ``ganlee.stats.fit.families``),
    ``bkg_status`` (B,), ``lnl_b`` (B,) its full ln L (with the ``-ln y!`` terms).
    ``sb_params`` (B, M, P + 1) = (background parameters, n1) of the signal+background fits.
    With ``errors=True``: ``bkg_errors`` (B, P) and ``sb_errors`` (B, M, P + 1), from the
    inverse of the observed information at the optimum (as MINUIT's HESSE). Failed fits hold
    NaN. ``background`` names the family member per histogram (B,) when known.
    """

    z: np.ndarray
    n1: np.ndarray
    status: np.ndarray
    bkg_params: np.ndarray
    bkg_status: np.ndarray
    lnl_b: np.ndarray
    masses: np.ndarray | None = None
    lnl_sb: np.ndarray | None = None
    sb_params: np.ndarray | None = None
    bkg_errors: np.ndarray | None = None
    sb_errors: np.ndarray | None = None
    background: list[str] | None = None

    @property
    def n_failed(self) -> int:
        """Number of (histogram, mass) fits whose status is not 0."""
        return int(np.count_nonzero(self.status))

    def status_counts(self) -> dict[str, int]:
        """Counts of each status name over all (histogram, mass) fits."""
        return status_counts(self.status)


def status_counts(status: np.ndarray) -> dict[str, int]:
    """``{"ok": n0, "not_converged": n1, ...}`` over an array of status codes (all names listed)."""
    arr = np.asarray(status).reshape(-1)
    return {name: int(np.count_nonzero(arr == code)) for code, name in STATUS_NAMES.items()}


def precheck(total: np.ndarray, nonempty: np.ndarray, min_events: int, n_par: int) -> np.ndarray:
    """Status before fitting: empty, or too few events / non-empty bins for ``n_par``."""
    status = np.zeros(total.shape, dtype=np.int8)
    status[(nonempty < n_par) | (total < min_events)] = STATUS_TOO_FEW
    status[total <= 0] = STATUS_EMPTY
    return status


def check_counts_shape(shape: tuple[int, ...], nbins: int) -> None:
    if len(shape) != 2 or shape[1] != nbins:
        msg = (
            f"fit: counts must have shape (B, {nbins}) or ({nbins},) for the spec's bins, "
            f"got {shape}"
        )
        raise ValueError(msg)


def counts_numpy(counts: Any, nbins: int) -> np.ndarray:
    """Counts as float64 numpy (B, nbins), checked finite and >= 0."""
    if isinstance(counts, torch.Tensor):
        counts = counts.detach().to("cpu", torch.float64).numpy()
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    check_counts_shape(tuple(y.shape), nbins)
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        msg = "fit: counts must be finite and >= 0"
        raise ValueError(msg)
    return y


def lnl_const(y: np.ndarray) -> np.ndarray:
    """``sum_i y ln y - y - ln y!``: full ln L = this + the saturated-relative ln L."""
    return np.asarray((xlogy(y, y) - y - gammaln(y + 1.0)).sum(-1))
