"""Sensitivity to an injected resonance: found mass, local and global significance, Asimov Z.

For toys with ``n`` signal events injected into sample 2 (a Gaussian of mass ``m0`` and width
``sigma``):

* the *fitted mass* is the mass at the toy's ``z_max`` (over selections and masses); the signal
  counts as *found* when ``|m_fit - m0| <= k sigma`` (``k = validation.injection.window_sigmas``,
  default 2). The probability is the fraction of toys, with a Clopper-Pearson interval
  (Biometrika 26 (1934) 404). For background-only toys it is the chance rate.
* the *local Z* is the toy's ``z_max``; ``z_at_mass`` is the largest Z over selections at the
  scanned mass nearest ``m0`` (the significance a search at the right mass would quote).
* the *global Z* of the median ``z_max`` uses a calibration: the background-only ``z_max`` of
  the LEE toys (``ganlee.stats.lee.global_significance``: toys and Gross-Vitells,
  arXiv:1005.1891).
* the Asimov significance (Cowan, Cranmer, Gross & Vitells, arXiv:1007.1727, Eq. 97)::

      Z_A = sqrt(2 ((s + b) ln(1 + s/b) - s)),

  (``asimov_z``, defined in ``ganlee.stats.significance`` and re-exported here) and its binned
  form ``sqrt(2 sum_i ((s_i + b_i) ln(1 + s_i/b_i) - s_i))`` for a known
  background shape: the median Z expected for ``s`` signal over ``b`` background events.
  The search fits its background (three free parameters), which absorbs part of a bump, so the
  reference for the toys is the *Asimov dataset* ``b + s`` (expected counts, no fluctuation)
  put through the same fit (arXiv:1007.1727, Sec. 3.2): ``asimov_expectation`` returns both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ganlee.stats.significance import asimov_z, binned_asimov_z

__all__ = [
    "asimov_expectation",
    "asimov_z",
    "binned_asimov_z",
    "found_probability",
    "sensitivity_summary",
]


def asimov_expectation(
    background: ArrayLike, n_signal: float, mass: float, width: float, spec: Any
) -> dict[str, float]:
    """Expected (median) local Z of ``n_signal`` Gaussian events on ``background`` (expected
    counts in the bins of ``spec``, a ``ganlee.stats.fit.FitSpec``).

    ``known_background``: ``binned_asimov_z`` (background shape and normalisation known).
    ``profiled``: Z of the Asimov dataset ``background + signal`` fitted by the search's own
    binned fit at the scanned mass nearest ``mass`` (background parameters free; arXiv:1007.1727,
    Sec. 3.2). The signal follows ``ganlee.toys.inject.signal_fractions`` (the injection's
    truncated Gaussian of width ``width``).
    """
    from ganlee.stats.fit import scan
    from ganlee.toys.inject import signal_fractions

    b = np.asarray(background, dtype=np.float64)
    edges = np.asarray(spec.edges, dtype=np.float64)
    if b.shape != (edges.size - 1,):
        msg = (
            f"asimov_expectation: background has shape {b.shape}, the fit has {edges.size - 1} bins"
        )
        raise ValueError(msg)
    if n_signal <= 0:
        return {"known_background": 0.0, "profiled": 0.0}
    s = float(n_signal) * signal_fractions(edges, float(mass), float(width))
    res = scan((b + s)[None, :], spec, backend="batched")
    j = int(np.argmin(np.abs(np.asarray(spec.masses) - float(mass))))
    return {
        "known_background": float(binned_asimov_z(s, b)),
        "profiled": float(np.asarray(res.z, dtype=np.float64)[0, j]),
    }


def found_probability(
    mass_at_max: ArrayLike, mass: float, width: float, n_sigma: float = 2.0, cl: float = 0.6827
) -> dict[str, Any]:
    """Fraction of toys whose fitted mass lies within ``n_sigma * width`` of ``mass``, with its
    Clopper-Pearson interval; toys without a finite fit (NaN) count as not found."""
    from ganlee.stats.lee import clopper_pearson

    m = np.asarray(mass_at_max, dtype=np.float64).ravel()
    n = int(m.size)
    if n == 0:
        msg = "found_probability: no toys"
        raise ValueError(msg)
    k = int(
        np.count_nonzero(
            np.isfinite(m) & (np.abs(m - float(mass)) <= n_sigma * float(width) + 1e-9)
        )
    )
    lo, hi = clopper_pearson(k, n, cl)
    return {
        "n_found": k,
        "n_toys": n,
        "probability": k / n,
        "lo": float(lo),
        "hi": float(hi),
        "window": [float(mass) - n_sigma * float(width), float(mass) + n_sigma * float(width)],
    }


def _dist(x: NDArray[np.float64]) -> dict[str, Any]:
    v = x[np.isfinite(x)]
    if v.size == 0:
        return {"n": 0, "mean": None, "std": None, "median": None, "q16": None, "q84": None}
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "median": float(np.median(v)),
        "q16": float(np.quantile(v, 0.16)),
        "q84": float(np.quantile(v, 0.84)),
    }


def sensitivity_summary(
    z_max: ArrayLike,
    mass_at_max: ArrayLike,
    z: ArrayLike,
    masses: ArrayLike,
    mass: float,
    width: float,
    n_sigma: float = 2.0,
    calibrations: dict[str, tuple[ArrayLike, dict[str, Any]]] | None = None,
    cl: float = 0.6827,
) -> dict[str, Any]:
    """Everything quoted for one injection study.

    Arguments:
        z_max, mass_at_max: per toy (``K``).
        z: the Z scans ``(K, S, M)``; ``masses`` ``(M,)``.
        mass, width: the injected resonance.
        calibrations: name -> (background-only ``z_max`` of the calibration toys, their LEE
            summary); the median local ``z_max`` (and its 16/84 % quantiles) get a global Z
            from each.
    """
    from ganlee.stats.lee import global_significance

    zm = np.asarray(z_max, dtype=np.float64).ravel()
    mm = np.asarray(mass_at_max, dtype=np.float64).ravel()
    zz = np.asarray(z, dtype=np.float64)
    ms = np.asarray(masses, dtype=np.float64)
    j = int(np.argmin(np.abs(ms - float(mass))))
    with np.errstate(invalid="ignore"):
        z_at = (
            np.fmax.reduce(zz[:, :, j], axis=1)
            if zz.ndim == 3 and zz.shape[0]
            else np.full(zm.size, np.nan)
        )
    out: dict[str, Any] = {
        "n_toys": int(zm.size),
        "mass": float(mass),
        "width": float(width),
        "found": found_probability(mm, mass, width, n_sigma, cl),
        "fitted_mass": _dist(mm),
        "fitted_mass_bias": (
            (float(np.nanmean(mm)) - float(mass)) if np.isfinite(mm).any() else None
        ),
        "z_local": _dist(zm),
        "z_at_mass": {"scan_mass": float(ms[j]), **_dist(z_at)},
        "global": {},
    }
    med = out["z_local"]["median"]
    for name, (calib_zmax, summ) in (calibrations or {}).items():
        if med is None:
            out["global"][name] = None
            continue
        zs = np.sort(np.asarray(calib_zmax, dtype=np.float64)[np.isfinite(calib_zmax)])
        gv = summ["gross_vitells"]
        rows = {}
        for label in ("median", "q16", "q84"):
            zl = float(out["z_local"][label])
            g = global_significance(zl, zs, gv["union"], cl, gv["scan"])
            toys = g["toys"]
            rows[label] = {
                "z_local": zl,
                "z_global_toys": toys["z_global"],
                "z_global_toys_lower_limit": toys["z_global_lo"],
                "toys_reachable": toys["reachable"],
                "z_global_gv": g["gross_vitells"]["z_global"],
                "p_global_toys": toys["p_global"],
                "p_global_gv": g["gross_vitells"]["p_global"],
            }
        out["global"][name] = {"n_calibration_toys": int(zs.size), **rows}
    return out
