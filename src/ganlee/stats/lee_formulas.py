"""Formulas of the LEE: local and global p-values, Clopper-Pearson, upcrossings, Gross-Vitells.

Definitions (docs/design.md, "LEE"):

* ``p_local(Z) = 1 - Phi(Z)``: one-sided local p-value. At fixed mass, with the signal yield
  constrained to ``n1 >= 0``, ``q = Z^2`` follows half a chi-square with one degree of freedom
  (Chernoff / Wilks), so ``P(q > c) = P(chi2_1 > c) / 2 = 1 - Phi(sqrt(c))``.
* ``p_global(Z)``: fraction of background-only toys whose ``z_max`` (maximum over selections and
  masses) is ``>= Z``; central Clopper-Pearson interval (Clopper & Pearson, Biometrika 26 (1934)
  404) from beta quantiles.
* trials factor ``= p_global / p_local`` (its interval is the Clopper-Pearson interval divided by
  the exact ``p_local``).
* Gross-Vitells (arXiv:1005.1891): ``P(max q > c) <= P(q(theta_first) > c) + <N(c)>`` with, for
  one degree of freedom, ``<N(c)> = <N(c0)> exp(-(c - c0) / 2)``::

      p_global(c) ~= P(q(theta_first) > c) + <N(c0)> exp(-(c - c0) / 2),   c = Z^2

  where ``<N(c0)>`` is the mean number of upcrossings of the ``q = Z^2`` scan above a low level
  ``c0 = Z0^2`` in the toys. The first term is the probability that the scan already starts
  above ``c`` at the first mass (which no upcrossing counts). With ``n1 >= 0`` it is the
  *half* chi-square tail ``P(chi2_1 > c) / 2 = 1 - Phi(Z)``: the Gaussian process behind the
  scan is the signed signal strength ``Y(m)``, ``Z = max(Y, 0)``, and ``Z^2`` crosses ``c``
  upwards exactly when ``Y`` crosses ``sqrt(c)`` upwards. Rice's formula gives
  ``E[N_u] proportional to exp(-u^2 / 2)`` for ``Y``'s upcrossings of ``u``, i.e.
  ``exp(-c / 2)`` -- the same scaling as for the two-sided chi2_1 field, whose upcrossings are
  twice as many (``Y`` above ``+u`` and below ``-u``). Measuring ``<N(c0)>`` on the one-sided
  scans therefore makes the formula consistent without any extra factor 1/2 on the second term.
  Its uncertainty is ``std(N) / sqrt(n_toys)`` and propagates linearly.

  The scans are sequences on the mass grid, not continuous fields: the LEE extrapolates
  ``<N(c0)>`` as the upcrossings of a Gaussian sequence with the neighbour correlation that
  reproduces it (``ganlee.stats.lee_grid``), which is the formula above when the step is short
  against the correlation length and lower (as the toys' grid ``z_max``) when it is not.

  The formula holds per selection (one scanned parameter). The toy ``z_max`` is the maximum
  over S selections as well, for which two extrapolations are given:

  * ``union`` (the headline): the sum over selections of the per-selection formula,
    ``S P(chi2_1 > c)/2 + sum_s <N_s(c0)> exp(-(c - c0)/2)``. It is an upper bound (Bonferroni)
    that becomes exact at high ``c`` whenever the selections are not fully correlated, because
    excursions of different selections then stop coinciding.
  * ``scan``: the formula applied to the selection-maximised scan ``max_s Z_s(m)`` itself, i.e.
    ``P(chi2_1 > c)/2 + <N_max(c0)> exp(-(c - c0)/2)``. At a low ``c0`` excursions of correlated
    selections overlap and are counted once, so ``<N_max(c)> exp(c/2)`` grows with ``c`` towards
    the union's sum and this curve is anti-conservative: for nested selections (top 1 %, 2 %,
    ..., 100 %, neighbour correlation ~0.7) it is about 3x low at Z = 3-4, where the union is
    within 15-30 % of the toys. It is kept as a diagnostic (the ``upcrossings`` plot shows the
    growth).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ganlee.stats.lee_grid import grid_p_global, upcrossings_sq

__all__ = [
    "GV_BOUNDS",
    "GV_FORM",
    "clopper_pearson",
    "count_upcrossings",
    "global_significance",
    "gv_args",
    "gv_p_global",
    "p_global_curve",
    "p_local",
    "selection_max_scan",
    "upcrossings_sq",
    "z_from_p",
]


GV_FORM = (
    "per scan: p_global(c) = P(chi2_1 > c)/2 + <N(c)>, c = Z^2, c0 = Z0^2; "
    "<N(c0)> = mean number of upcrossings of the Z^2 mass scan above c0 in the toys "
    "(Gross & Vitells, arXiv:1005.1891; half chi2 because n1 >= 0); on the mass grid of "
    "n_steps + 1 masses <N(c)> = n_steps 2 T(Z, a), Owen's T, a = sqrt((1 - rho)/(1 + rho)) with "
    "the neighbour correlation rho that reproduces <N(c0)> (-> <N(c0)> exp(-(c - c0)/2) for a "
    "smooth scan; p_global_continuum). "
    "union (headline, for z_max over S selections): "
    "S P(chi2_1 > c)/2 + sum_s <N_s(c)>, "
    "an upper bound exact at high c; scan: the per-scan formula on max_s Z_s(m) (anti-conservative "
    "when selections are partly correlated)"
)

GV_BOUNDS = (
    "Gross-Vitells p-values are clipped to [0, 1]. The per-scan formula and the union over "
    "selections are upper bounds on p_global (p_global_is: upper_bound; their z_global a lower "
    "bound); the selection-maximised scan ('scan') is an approximation. 'clipped': the formula "
    "exceeded 1 there (p_global_unclipped)."
)


def p_local(z: ArrayLike) -> NDArray[np.float64]:
    """One-sided local p-value ``1 - Phi(Z)`` (``scipy.stats.norm.sf``, exact in the tail)."""
    from scipy.stats import norm

    return np.asarray(norm.sf(np.asarray(z, dtype=np.float64)), dtype=np.float64)


def z_from_p(p: ArrayLike) -> NDArray[np.float64]:
    """One-sided significance ``Phi^-1(1 - p)``, clipped at 0 (``p >= 0.5`` gives ``Z = 0``).

    ``p = 0`` gives ``+inf`` (written as null in JSON).
    """
    from scipy.stats import norm

    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        z = norm.isf(p)
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)


def clopper_pearson(
    k: ArrayLike, n: ArrayLike, cl: float = 0.6827
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Central Clopper-Pearson interval for ``k`` successes in ``n`` trials at confidence ``cl``.

    ``lo = B^-1(a/2; k, n-k+1)`` (0 when ``k = 0``), ``hi = B^-1(1-a/2; k+1, n-k)`` (1 when
    ``k = n``), ``a = 1 - cl``; Clopper & Pearson, Biometrika 26 (1934) 404.
    """
    from scipy.stats import beta

    if not 0.0 < cl < 1.0:
        msg = f"clopper_pearson: confidence level must be in (0, 1), got {cl}"
        raise ValueError(msg)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.broadcast_to(np.asarray(n, dtype=np.float64), k_arr.shape)
    if np.any(k_arr < 0) or np.any(k_arr > n_arr) or np.any(n_arr <= 0):
        msg = f"clopper_pearson: need 0 <= k <= n and n > 0, got k={k!r}, n={n!r}"
        raise ValueError(msg)
    alpha = 1.0 - cl
    # Where a beta parameter would be 0 the limit is fixed: a valid dummy, then overwritten.
    lo = beta.ppf(alpha / 2, np.where(k_arr > 0, k_arr, 1.0), n_arr - k_arr + 1)
    hi = beta.ppf(1 - alpha / 2, k_arr + 1, np.where(k_arr < n_arr, n_arr - k_arr, 1.0))
    lo = np.where(k_arr > 0, lo, 0.0)
    hi = np.where(k_arr < n_arr, hi, 1.0)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def count_upcrossings(z_scan: ArrayLike, z_level: float) -> NDArray[np.int64]:
    """Upcrossings of ``c = Z^2`` above ``c0 = z_level^2`` along the last (mass) axis.

    An upcrossing is a step ``m-1 -> m`` with ``c[m-1] <= c0 < c[m]``. A scan starting above
    ``c0`` has no upcrossing there (the ``P(chi2_1 > c)/2`` term of Gross-Vitells covers it).
    NaN points (failed fits) neither start nor end an upcrossing.
    """
    z = np.asarray(z_scan, dtype=np.float64)
    return upcrossings_sq(z * z, float(z_level) ** 2)


def selection_max_scan(z: ArrayLike) -> NDArray[np.float64]:
    """``max_s Z_s(m)``: the selection-maximised scan of ``z[..., S, M]`` (NaN ignored)."""
    arr = np.asarray(z)
    return np.fmax.reduce(arr, axis=-2)


def gv_p_global(
    z: ArrayLike,
    n_mean: float,
    z0: float,
    n_err: float = 0.0,
    n_local: int = 1,
    clip: bool = True,
    n_steps: int | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gross-Vitells global p-value and its uncertainty at local significance ``z``.

    ``p = n_local P(chi2_1 > c)/2 + n_mean exp(-(c - c0)/2)``, ``c = z^2``, ``c0 = z0^2``;
    ``sigma_p = n_err exp(-(c - c0)/2)`` (arXiv:1005.1891, see the module docstring).
    ``n_local`` > 1 is the union over that many scans (``n_mean`` then their summed upcrossings).
    Meaningful for ``z >= z0``. The formula is an upper bound on ``P(max q > c)`` that exceeds
    1 at low ``z``; ``clip`` (default) returns ``min(p, 1)``, a probability.
    ``n_steps``: the scans are sequences of ``n_steps + 1`` masses; the upcrossings are then
    extrapolated as those of a Gaussian sequence (``ganlee.stats.lee_grid.grid_p_global``),
    which tends to the formula above when the step is short against the correlation length.
    """
    if n_steps is not None:
        return grid_p_global(z, n_mean, z0, n_steps, n_err, n_local, clip)
    zz = np.asarray(z, dtype=np.float64)
    c = zz * zz
    c0 = float(z0) ** 2
    factor = np.exp(-(c - c0) / 2.0)
    p = n_local * p_local(zz) + n_mean * factor
    if clip:
        p = np.minimum(p, 1.0)
    return p, n_err * factor


def gv_args(gv: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``gv_p_global`` from a Gross-Vitells parameter block
    (``{"n_mean", "z0", "n_err", "n_local", "n_steps"}``; the last two optional)."""
    return {
        "n_mean": gv["n_mean"],
        "z0": gv["z0"],
        "n_err": gv.get("n_err", 0.0),
        "n_local": gv.get("n_local", 1),
        "n_steps": gv.get("n_steps"),
    }


def _gv_block(
    z_local: float,
    gv: dict[str, Any],
    pl: float,
    toys: dict[str, Any] | None,
    bound: bool = True,
) -> dict[str, Any]:
    """Gross-Vitells numbers at ``z_local``; ``bound``: the formula is an upper bound on the
    global p-value there (the union over selections and the per-scan formula are; the
    selection-maximised scan is an approximation), so ``Z`` is a lower bound."""
    p_arr, s_arr = gv_p_global(z_local, clip=False, **gv_args(gv))
    p_raw, s_gv = float(p_arr), float(s_arr)
    p_cont = gv_p_global(z_local, clip=True, **{**gv_args(gv), "n_steps": None})[0]
    p_gv = p_raw if p_raw < 1.0 else 1.0
    out: dict[str, Any] = {
        "valid": z_local >= gv["z0"],
        "p_global": p_gv,
        "p_global_err": s_gv,
        "p_global_is": "upper_bound" if bound else "approximation",
        "clipped": p_raw > 1.0,
        "p_global_unclipped": p_raw,
        "p_global_continuum": float(p_cont),
        "z_global": float(z_from_p(p_gv)),
        "z_global_is": "lower_bound" if bound else "approximation",
        "z_global_lo": float(z_from_p(min(p_gv + s_gv, 1.0))),
        "z_global_hi": float(z_from_p(max(p_gv - s_gv, 0.0))),
        "trials_factor": p_gv / pl,
        "trials_factor_err": s_gv / pl,
        "pull_toys_vs_gv": None,
    }
    if toys and toys["reachable"]:
        n = toys["n_toys"]
        sig_toys = math.sqrt(max(toys["p_global"] * (1 - toys["p_global"]), 1.0 / n) / n)
        denom = math.hypot(sig_toys, s_gv)
        out["pull_toys_vs_gv"] = (toys["p_global"] - p_gv) / denom
    return out


def global_significance(
    z_local: float,
    zmax_sorted: NDArray[np.float64],
    gv: dict[str, Any],
    cl: float,
    gv_scan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Global p-value / significance of one local ``z_local``, from the toys and from Gross-Vitells.

    ``zmax_sorted``: the finite toy ``z_max`` values, sorted. ``gv``: ``{"z0", "n_mean",
    "n_err", "n_local"}`` of the Gross-Vitells extrapolation to compare (for ``z_max``: the union
    over selections); ``gv_scan``: optionally a second one (the selection-maximised scan).
    From the toys: ``k`` toys with ``z_max >= z_local`` out of ``n``; the toy estimate is
    reachable when ``k >= 1``; otherwise only the Clopper-Pearson upper limit on ``p`` (a lower
    limit on the global significance) is quoted.
    """
    n = int(zmax_sorted.size)
    z_local = float(z_local)
    pl = float(p_local(z_local))
    out: dict[str, Any] = {"z_local": z_local, "p_local": pl}
    if n:
        k = n - int(np.searchsorted(zmax_sorted, z_local, side="left"))
        lo, hi = clopper_pearson(k, n, cl)
        p = k / n
        out["toys"] = {
            "n_toys": n,
            "n_above": k,
            "reachable": k >= 1,
            "p_global": p,
            "p_global_lo": float(lo),
            "p_global_hi": float(hi),
            "z_global": float(z_from_p(p)) if k >= 1 else None,
            "z_global_lo": float(z_from_p(hi)),  # larger p -> smaller Z
            "z_global_hi": float(z_from_p(lo)) if k >= 1 else None,
            "trials_factor": p / pl if k >= 1 else None,
            "trials_factor_lo": float(lo) / pl,
            "trials_factor_hi": float(hi) / pl,
        }
    out["gross_vitells"] = _gv_block(z_local, gv, pl, out.get("toys"))
    if gv_scan is not None:
        out["gross_vitells_scan"] = _gv_block(z_local, gv_scan, pl, out.get("toys"), bound=False)
    return out


def p_global_curve(
    zs: NDArray[np.float64],
    gv_union: dict[str, Any],
    gv_scan: dict[str, Any],
    cl: float,
    z_top: float,
) -> dict[str, Any]:
    """p_global and the trials factor on a grid of local Z (0 .. ``z_top`` in steps of 0.05):
    from the sorted finite toy ``z_max`` values ``zs`` (Clopper-Pearson interval at ``cl``) and
    from Gross-Vitells (``gv_union``: the union over selections, ``gv_scan``: the
    selection-maximised scan)."""
    n_valid = zs.size
    zgrid = np.round(np.arange(0.0, z_top + 1e-9, 0.05), 10)
    k = n_valid - np.searchsorted(zs, zgrid, side="left")
    lo, hi = clopper_pearson(k, n_valid, cl)
    pl = p_local(zgrid)
    pg = k / n_valid
    u, sc = gv_union, gv_scan
    p_gv, s_gv = gv_p_global(zgrid, **gv_args(u))
    p_sc, s_sc = gv_p_global(zgrid, **gv_args(sc))
    return {
        "z_local": zgrid,
        "p_local": pl,
        "n_above": k,
        "p_global": pg,
        "p_global_lo": lo,
        "p_global_hi": hi,
        "trials_factor": pg / pl,
        "trials_factor_lo": lo / pl,
        "trials_factor_hi": hi / pl,
        "p_global_gv": p_gv,
        "p_global_gv_err": s_gv,
        "trials_factor_gv": p_gv / pl,
        "trials_factor_gv_err": s_gv / pl,
        "p_global_gv_scan": p_sc,
        "p_global_gv_scan_err": s_sc,
        "trials_factor_gv_scan": p_sc / pl,
        "trials_factor_gv_scan_err": s_sc / pl,
    }
