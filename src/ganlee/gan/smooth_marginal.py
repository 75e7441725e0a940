"""A smooth m_llg marginal for the quantile preprocessing: the generator must not copy the
training MC's statistical fluctuations into every toy.

The quantile map of ``ganlee.gan.transforms.QuantileMap`` interpolates the empirical CDF of the
training events, and the marginal recalibration (``gan.recalibrate``) makes the generator follow
that map exactly: the generated m_llg spectrum is then the training MC's own histogram, its
bin-to-bin fluctuations included, and every toy drawn from the generator shares them. Fitting a
toy histogram then sees the same fixed pattern in every toy, like the MC-bootstrap toys that
resample one finite sample; the spurious-signal test on generator templates sees it too
(docs/design.md, "Generator (GAN and flow): preprocessing, training, fidelity").

``smooth_window_quantiles`` replaces the m_llg knots with the quantiles of a smooth density
fitted to the training events: log f(m) is a cubic B-spline (de Boor, A Practical Guide to
Splines, 1978) with uniformly spaced interior knots ``spacing`` GeV apart over the window, its
coefficients the maximum of the binned Poisson likelihood (a concave log-link GLM, solved by
Newton's method; McCullagh & Nelder, Generalized Linear Models, ch. 2). A knot spacing of a few
signal widths keeps the falling spectrum and its turn-on but cannot follow fluctuations on the
scale of a resonance; the spline is not one of the background-fit families
(``ganlee.stats.fit``), so the spurious-signal test on generator templates does not test a
family against itself. The fit's goodness of fit on the training histogram (1 GeV bins,
chi-square p-value) says whether the spacing is fine enough for the MC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from scipy.interpolate import BSpline

__all__ = ["smooth_window_quantiles", "spline_density"]

#: Width in GeV of the histogram bins of the likelihood fit, and of the goodness-of-fit bins.
FIT_BIN = 0.25
GOF_BIN = 1.0


def _basis(x: np.ndarray, lo: float, hi: float, spacing: float) -> np.ndarray:
    """Cubic B-spline basis (len(x), n_basis) on [lo, hi] with interior knots ``spacing`` apart."""
    n_int = max(0, round((hi - lo) / spacing) - 1)
    inner = np.linspace(lo, hi, n_int + 2)[1:-1]
    t = np.r_[[lo] * 4, inner, [hi] * 4]
    return BSpline.design_matrix(np.clip(x, lo, hi), t, 3).toarray()


def spline_density(
    m: np.ndarray, window: tuple[float, float], spacing: float, max_iter: int = 100
) -> np.ndarray:
    """Coefficients of the Poisson-ML log-density spline of ``m`` (module docstring), in the
    basis of ``_basis(x, *window, spacing)``."""
    lo, hi = window
    nb = max(4, round((hi - lo) / FIT_BIN))
    edges = np.linspace(lo, hi, nb + 1)
    y, _ = np.histogram(m, edges)
    y = y.astype(np.float64)
    b = _basis(0.5 * (edges[1:] + edges[:-1]), lo, hi, spacing)
    c = np.linalg.lstsq(b, np.full(nb, np.log(max(y.mean(), 1e-3))), rcond=None)[0]

    def nll(coef: np.ndarray) -> float:
        eta = b @ coef
        return float(np.sum(np.exp(eta) - y * eta))

    current = nll(c)
    for _ in range(max_iter):
        mu = np.exp(b @ c)
        grad = b.T @ (mu - y)
        hess = b.T @ (b * mu[:, None]) + 1e-10 * np.eye(b.shape[1])
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6 and nll(c - t * step) > current:
            t *= 0.5
        if t <= 1e-6:  # no step decreases the likelihood: at the optimum to rounding
            break
        c, previous = c - t * step, current
        current = nll(c)
        if abs(previous - current) < 1e-10 * max(1.0, abs(current)):
            break
    return c


def smooth_window_quantiles(
    m: np.ndarray, window: tuple[float, float], spacing: float, k: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``k - 1`` interior quantiles (p = 1/k .. (k-1)/k) of the smooth density fitted to
    ``m`` in ``window`` (module docstring), and the fit's summary: knot spacing, number of
    spline coefficients, and chi2 / ndf / p-value of the fit on the training histogram."""
    m = np.asarray(m, dtype=np.float64)
    lo, hi = float(window[0]), float(window[1])
    coef = spline_density(m, (lo, hi), spacing)
    grid = np.linspace(lo, hi, 20_001)
    dens = np.exp(_basis(grid, lo, hi, spacing) @ coef)
    cdf = np.r_[0.0, np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))]
    cdf /= cdf[-1]
    levels = np.arange(1, k) / k
    q = np.interp(levels, cdf, grid)
    q = np.maximum.accumulate(q) + np.arange(k - 1) * 1e-12 * (hi - lo)
    nb = max(1, round((hi - lo) / GOF_BIN))
    edges = np.linspace(lo, hi, nb + 1)
    obs, _ = np.histogram(m, edges)
    expected = m.size * np.diff(np.interp(edges, grid, cdf))
    ok = expected > 0
    chi2 = float(np.sum((obs[ok] - expected[ok]) ** 2 / expected[ok]))
    ndf = int(ok.sum()) - coef.size
    return q, {
        "spacing_gev": float(spacing),
        "n_coefficients": int(coef.size),
        "n_events": int(m.size),
        "chi2": chi2,
        "ndf": ndf,
        "pvalue": float(stats.chi2.sf(chi2, ndf)) if ndf > 0 else None,
    }
