"""The fitted model: background family member plus a Gaussian signal of fixed width.

docs/design.md, "Fits and background model". Expected counts of bin ``i`` (edges
``lo_i < hi_i``)::

    nu_i = b_i(background parameters)                                (ganlee.stats.fit.families)
         + n1 [Phi((hi_i - mu) / sigma) - Phi((lo_i - mu) / sigma)]   (exact Gaussian integral)

``n1 >= 0`` is the total signal yield. The exp-polynomial background uses the midpoint rule on
purpose: it makes the background-only fit an exact log-link Poisson GLM. Its relative difference
to the exact bin integral is ``w^2 f''/(24 f)``, about 1e-4 for the defaults (tested); the
fitted model is the definition above in both backends, so the difference never enters Z.

Binned Poisson likelihood ``ln L = sum_i y_i ln nu_i - nu_i - ln y_i!`` and the one-sided
discovery statistic ``q0 = Z^2`` of Cowan, Cranmer, Gross & Vitells (arXiv:1007.1727)::

    Z = sqrt(2 (ln L_sb - ln L_b)),  with n1 >= 0 (Z = 0 when the best n1 is 0).

At fixed mass and with background only, ``Z^2`` follows ``1/2 delta(0) + 1/2 chi2(1)``
(Chernoff 1954; the asymptotic distribution of q0 in arXiv:1007.1727), which the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from ganlee.stats.fit.spec import FitSpec

__all__ = ["expected_counts", "signal_shape"]


def signal_shape(spec: FitSpec, masses: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Fraction of a unit Gaussian N(mu, sigma) in each bin, shape (M, nbins); exact (erf).

    Differences of the upper tail are used above ``mu`` so that far tails keep their relative
    precision.
    """
    mus = spec.masses if masses is None else np.atleast_1d(np.asarray(masses, np.float64))
    z = (spec.edges[None, :] - mus[:, None]) / spec.sigma  # (M, nbins + 1)
    zlo, zhi = z[:, :-1], z[:, 1:]
    lower = ndtr(zhi) - ndtr(zlo)
    upper = ndtr(-zlo) - ndtr(-zhi)
    return np.asarray(np.where(zlo > 0, upper, lower))


def expected_counts(
    spec: FitSpec,
    *params: float,
    n1: float = 0.0,
    mu: float | None = None,
    background: str | None = None,
) -> np.ndarray:
    """Expected counts per bin (nbins,) of the model.

    ``params`` are the public parameters of ``background`` (default ``spec.background``), e.g.
    ``expected_counts(spec, n0, a, b)`` for ``exp_poly2``; ``n1`` signal events at ``mu``.
    """
    fam = spec.family if background is None else spec.with_background(background).family
    nu = fam.counts(spec, np.asarray(params, dtype=np.float64))
    if n1 != 0.0:
        if mu is None:
            msg = "expected_counts: a signal yield n1 != 0 needs its mass mu"
            raise ValueError(msg)
        nu = nu + float(n1) * signal_shape(spec, [mu])[0]
    return np.asarray(nu)
