"""Goodness of fit of the background-only fit: saturated-likelihood p-value and chi2/ndf.

docs/design.md, "Fits and background model". For Poisson counts the likelihood-ratio statistic
against the saturated model, ``D = -2 ln(L_b / L_sat) = 2 sum_i [nu_i - y_i + y_i ln(y_i / nu_i)]``,
follows asymptotically a chi-square with ``ndf = nbins - n_par`` degrees of freedom (Baker &
Cousins, Nucl. Instrum. Meth. 221 (1984) 437); the p-value is ``P(chi2_ndf > D)``. Pearson's
``chi2 = sum_i (y_i - nu_i)^2 / nu_i`` over ``ndf`` is quoted beside it.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from ganlee.stats.fit.families import background_family
from ganlee.stats.fit.results import ScanResult, lnl_const
from ganlee.stats.fit.spec import FitSpec

__all__ = ["goodness_of_fit"]


def goodness_of_fit(counts: np.ndarray, res: ScanResult, spec: FitSpec) -> dict[str, np.ndarray]:
    """Per histogram (B,): ``deviance``, ``ndf``, ``p_value`` (saturated likelihood), ``chi2``
    (Pearson) and ``chi2_ndf`` of the background-only fits in ``res`` (NaN where it failed)."""
    y = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    models = res.background or [spec.background] * y.shape[0]
    out = {k: np.full(y.shape[0], np.nan) for k in ("deviance", "ndf", "p_value", "chi2")}
    for i, model in enumerate(models):
        fam = background_family(model)
        params = res.bkg_params[i, : fam.n_par]
        if res.bkg_status[i] != 0 or not np.all(np.isfinite(params)):
            continue
        nu = fam.counts(spec, params)
        ndf = spec.nbins - fam.n_par
        dev = 2.0 * (float(lnl_const(y[i][None, :])[0]) - float(res.lnl_b[i]))
        out["deviance"][i] = dev
        out["ndf"][i] = ndf
        out["p_value"][i] = float(chi2.sf(dev, ndf))
        out["chi2"][i] = float(np.sum((y[i] - nu) ** 2 / nu))
    out["chi2_ndf"] = out["chi2"] / out["ndf"]
    return out
