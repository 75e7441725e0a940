"""The iminuit reference backend: MINUIT's MIGRAD per histogram and mass.

docs/design.md, "Fits and background model". MIGRAD: F. James, CERN Program Library D506.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import xlogy

from ganlee.stats.fit.families import BackgroundFamily
from ganlee.stats.fit.model import signal_shape
from ganlee.stats.fit.results import (
    STATUS_NOT_CONVERGED,
    ScanResult,
    counts_numpy,
    lnl_const,
    precheck,
)
from ganlee.stats.fit.spec import FitSpec

__all__ = ["scan_iminuit"]


def _cost(
    fam: BackgroundFamily, spec: FitSpec, y: np.ndarray, g: np.ndarray | None
) -> Callable[[np.ndarray], float]:
    """``sum (nu - y) - y ln(nu / y)`` of the background (``g`` None) or s+b model."""
    ysafe = np.where(y > 0, y, 1.0)
    n_par = fam.n_par
    guard = fam.kind in ("linear", "linear_free")  # nu < 0 is outside the model

    def nll(p: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            nu = fam.counts(spec, p[:n_par])
            if g is not None:
                nu = nu + p[n_par] * g
            if guard and np.any(nu < 0):
                return 1e300
            val = float(np.sum(nu - y - xlogy(y, nu / ysafe)))
        return val if math.isfinite(val) else 1e300

    return nll


def _run(m: Any, errors: bool) -> Any:
    from iminuit import Minuit

    m.errordef = Minuit.LIKELIHOOD
    m.tol = 1e-4
    m.migrad()
    if not m.valid:
        m.migrad()
    if errors and m.valid:
        m.hesse()
    return m


def _minuit(
    fn: Callable[[np.ndarray], float],
    start: np.ndarray,
    steps: np.ndarray,
    bounded: list[int],
    names: tuple[str, ...],
    errors: bool,
) -> Any:
    from iminuit import Minuit

    m = Minuit(fn, start, name=names)
    for i in bounded:
        m.limits[names[i]] = (0.0, None)
    m.errors = tuple(float(s) for s in steps)
    return _run(m, errors)


def _unstick(
    ms: Any,
    cost: Callable[[np.ndarray], float],
    steps: np.ndarray,
    bounded: list[int],
    names: tuple[str, ...],
    errors: bool,
) -> Any:
    """Restart MIGRAD with bounded parameters that sit at their limit moved inside; keep the
    better minimum (MIGRAD's internal sine transform of a limit flattens the cost there)."""
    vals = np.asarray(ms.values, dtype=np.float64)
    idx = np.asarray(bounded, dtype=int)
    at_limit = idx[vals[idx] < 1e-3 * max(float(np.max(vals[idx])), 1e-12)]
    if at_limit.size == 0:
        return ms
    start = vals.copy()
    start[at_limit] = 0.1 * float(np.mean(vals[idx]))
    again = _minuit(cost, start, steps, bounded, names, errors)
    return again if again.valid and again.fval < ms.fval else ms


def scan_iminuit(
    counts: Any,
    spec: FitSpec,
    errors: bool = True,
    progress: bool | None = None,
    signed: bool = False,
) -> ScanResult:
    """Reference fits with MINUIT (iminuit), one histogram and one mass at a time.

    Background parameters as in ``ganlee.stats.fit.families`` (``n0 >= 0`` and Bernstein
    ``c_k >= 0`` are MINUIT limits); cost ``sum (nu - y) - y ln(nu / y)`` (O(1) terms at the
    minimum, for precision) with ``errordef = 0.5``; MIGRAD (retried once, then once more from
    the background fit) and HESSE when ``errors``. ``n1`` is left free and the bound is applied
    as in the definition of q0 (arXiv:1007.1727): ``n1_hat < 0`` gives ``n1 = 0, Z = 0`` (a
    MINUIT limit at 0 distorts the minimisation next to the bound and under-converges small
    Z); ``signed`` keeps ``n1_hat < 0`` and gives ``Z = -sqrt(2 dlnL)``. Along the mass scan
    each fit starts from the previous mass's solution. Status 1 when MIGRAD's minimum is
    invalid. Slow (1-3 ms per fit): for tests and cross-checks.
    """
    fam = spec.family
    y_all = counts_numpy(counts, spec.nbins)
    nb_prob, m_count, n_par = y_all.shape[0], spec.masses.size, fam.n_par
    status_b = precheck(y_all.sum(-1), (y_all > 0).sum(-1), int(spec.min_events), n_par)
    status = np.repeat(status_b[:, None], m_count, axis=1).astype(np.int8)
    nan = float("nan")
    out = {
        "bkg_params": np.full((nb_prob, n_par), nan),
        "bkg_errors": np.full((nb_prob, n_par), nan),
        "sb_params": np.full((nb_prob, m_count, n_par + 1), nan),
        "sb_errors": np.full((nb_prob, m_count, n_par + 1), nan),
        "lnl_b": np.full(nb_prob, nan),
        "lnl_sb": np.full((nb_prob, m_count), nan),
    }
    show = progress if progress is not None else nb_prob >= 200
    prog = None
    if show:
        from ganlee.progress import Progress

        prog = Progress("fit iminuit", total=nb_prob, unit="hist", every=10.0)
    gsig = signal_shape(spec)
    for i in range(nb_prob):
        if prog is not None:
            prog.update(1)
        if status_b[i] != 0:
            continue
        if not _fit_one(fam, spec, y_all[i], gsig, i, out, status, errors, signed):
            status_b[i] = STATUS_NOT_CONVERGED
    lnl_b, lnl_sb, sb_params = out["lnl_b"], out["lnl_sb"], out["sb_params"]
    z = np.sqrt(2.0 * np.clip(lnl_sb - lnl_b[:, None], 0.0, None))
    if signed:
        z = np.where(sb_params[..., n_par] < 0, -z, z)
    z[status != 0] = nan
    n1 = np.where(status == 0, sb_params[..., n_par], nan)
    return ScanResult(
        z=z,
        n1=n1,
        status=status,
        bkg_params=out["bkg_params"],
        bkg_status=status_b.astype(np.int8),
        lnl_b=lnl_b,
        masses=spec.masses.copy(),
        lnl_sb=lnl_sb,
        sb_params=sb_params,
        bkg_errors=out["bkg_errors"] if errors else None,
        sb_errors=out["sb_errors"] if errors else None,
        background=[spec.background] * nb_prob,
    )


def _fit_one(
    fam: BackgroundFamily,
    spec: FitSpec,
    y: np.ndarray,
    gsig: np.ndarray,
    i: int,
    out: dict[str, np.ndarray],
    status: np.ndarray,
    errors: bool,
    signed: bool,
) -> bool:
    """Both fits of histogram ``i`` into ``out`` / ``status``; False when the background failed."""
    n_par = fam.n_par
    const = float(lnl_const(y))
    names_b = fam.param_names
    start, steps, bounded = fam.minuit_start(y, spec)
    cost_b = _cost(fam, spec, y, None)
    mb = _minuit(cost_b, start, steps, bounded, names_b, errors)
    if fam.kind == "linear" and mb.valid:
        mb = _unstick(mb, cost_b, steps, bounded, names_b, errors)
    if not mb.valid:
        status[i, :] = STATUS_NOT_CONVERGED
        return False
    bkg = np.asarray(mb.values)
    out["bkg_params"][i] = bkg
    if errors:
        out["bkg_errors"][i] = np.asarray(mb.errors)
    fval_b = float(mb.fval)
    out["lnl_b"][i] = -fval_b + const
    prev = np.array([*bkg, math.sqrt(max(y.sum(), 1.0))])
    scale_n1 = math.sqrt(max(y.sum(), 1.0)) + 1.0
    names = (*names_b, "n1")
    several = fam.kind == "linear"
    for j in range(spec.masses.size):
        cost = _cost(fam, spec, y, gsig[j])
        best = None
        for first in (prev.copy(), np.array([*bkg, 0.0])):
            first[n_par] = max(first[n_par], 0.1 * scale_n1)
            sb_steps = np.array([*steps, scale_n1])
            sb_steps[:n_par][np.asarray(bounded, dtype=int)] = 0.1 * np.maximum(
                first[np.asarray(bounded, dtype=int)], 1e-3
            )
            ms = _minuit(cost, first, sb_steps, bounded, names, errors)
            if ms.valid and (best is None or ms.fval < best.fval):
                best = ms
            # exp-poly: the first valid minimum; with coefficients at their limits (Bernstein)
            # MIGRAD can stop next to a bound, so both starts are tried and the best kept.
            if best is not None and not several:
                break
        ms = best if best is not None else ms
        if several and ms.valid:
            ms = _unstick(ms, cost, sb_steps, bounded, names, errors)
        if not ms.valid:
            status[i, j] = STATUS_NOT_CONVERGED
            continue
        vals = np.asarray(ms.values)
        if errors:
            out["sb_errors"][i, j] = np.asarray(ms.errors)
        if vals[n_par] <= 0.0 and not signed:
            # n1_hat < 0: the constrained (n1 >= 0) maximum is the background fit, q0 = 0.
            out["sb_params"][i, j] = [*bkg, 0.0]
            out["lnl_sb"][i, j] = out["lnl_b"][i]
            prev = out["sb_params"][i, j].copy()
            continue
        out["sb_params"][i, j] = vals
        # The s+b model nests the background one (n1 = 0): never worse than it.
        out["lnl_sb"][i, j] = -min(float(ms.fval), fval_b) + const
        prev = vals
    return True
