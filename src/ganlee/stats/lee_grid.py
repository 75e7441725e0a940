"""Gross-Vitells on a mass grid: the upcrossings of a Gaussian sequence, not of a smooth field.

docs/design.md, "LEE". The scan is evaluated at M masses with a fixed step, and both the toys'
``z_max`` and the counted upcrossings are those of the sequence ``Y_1 .. Y_M`` (``Z = max(Y,
0)``), not of the continuous field ``Y(m)``. Rice's formula (S. O. Rice, Bell Syst. Tech. J. 24
(1945) 46) gives the continuous field's ``E[N(u)] proportional to exp(-u^2/2)``, the scaling of
Gross & Vitells (arXiv:1005.1891). On the grid, a step ``k -> k+1`` is an upcrossing of ``u``
when ``Y_k <= u < Y_{k+1}``; for a standard bivariate normal pair with correlation ``rho``::

    q(u, rho) = P(Y_k <= u < Y_{k+1}) = Phi(u) - Phi_2(u, u; rho) = 2 T(u, a),
    a = sqrt((1 - rho) / (1 + rho)),

with Owen's T function (D. B. Owen, Ann. Math. Statist. 27 (1956) 1075: ``Phi_2(h, h; rho) =
Phi(h) - 2 T(h, a)``). For ``rho -> 1`` (a step much shorter than the field's correlation length)
``2 T(u, a) -> (a / pi) exp(-u^2/2)``, Rice's formula per step, and the extrapolation is GV's.
For a rougher field (a flexible background model makes the profiled signal field's correlation
length comparable to the step) the grid misses narrow high excursions: ``q(u)/q(u0)`` falls
faster than ``exp(-(u^2 - u0^2)/2)``, and the continuum extrapolation over-predicts the grid's
``P(z_max >= u)``.

The grid extrapolation keeps GV's one measured number: the mean upcrossings ``<N(u0)>`` of a
scan with ``n_steps = M - 1`` steps fixes the stationary neighbour correlation through
``n_steps q(u0, rho) = <N(u0)>``; then ``<N(u)> = n_steps q(u, rho)`` and, as GV's bound on the
grid (the scan is above ``u`` somewhere only if it starts there or crosses upwards),

    p_global(u) <= P(Y_1 > u) + <N(u)> = (1 - Phi(u)) + n_steps 2 T(u, a).

Where the correlation varies along the scan, ``u0 -> u`` maps a step's upcrossing frequency
through a concave function, so the stationary ``rho`` from the mean frequency over-predicts
(Jensen): the estimate stays on the conservative side. Its uncertainty: ``dT(h, a)/da =
exp(-h^2 (1 + a^2)/2) / (2 pi (1 + a^2))``, so ``sigma_p = sigma_N exp(-(u^2 - u0^2)(1 +
a^2)/2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CROSS_CHECK_PULL",
    "LevelCounts",
    "grid_a",
    "grid_p_global",
    "grid_upcrossing_prob",
    "gv_cross_check",
    "rho_from_a",
    "upcrossings_sq",
]


def upcrossings_sq(c: NDArray[Any], c0: float) -> NDArray[np.int64]:
    """Upcrossings of already squared scans ``c`` above ``c0`` along the last axis
    (``ganlee.stats.lee_formulas.count_upcrossings``): NaN points neither start nor end one."""
    c0 = c.dtype.type(c0)
    up = (c[..., :-1] <= c0) & (c[..., 1:] > c0)
    return np.count_nonzero(up, axis=-1).astype(np.int64)


def grid_upcrossing_prob(u: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
    """``P(Y_k <= u < Y_{k+1}) = 2 T(u, a)`` of a standard bivariate normal pair with
    ``a = sqrt((1 - rho)/(1 + rho))`` (Owen's T; see the module docstring)."""
    from scipy.special import owens_t

    return np.asarray(2.0 * owens_t(np.asarray(u, np.float64), np.asarray(a, np.float64)))


def rho_from_a(a: ArrayLike) -> NDArray[np.float64]:
    """The neighbour correlation ``rho = (1 - a^2) / (1 + a^2)`` of ``a``."""
    aa = np.asarray(a, dtype=np.float64) ** 2
    return np.asarray((1.0 - aa) / (1.0 + aa))


def grid_a(n_mean: float, z0: float, n_steps: int) -> float:
    """``a`` with ``n_steps * 2 T(z0, a) = n_mean`` (the stationary neighbour correlation that
    gives the measured mean upcrossings of ``z0``); 0 for no upcrossings (continuum limit),
    ``inf`` when ``n_mean`` reaches independent-neighbour-and-beyond values (``rho = -1``)."""
    from scipy.optimize import brentq

    if n_steps < 1:
        msg = f"grid_a: need at least one step between masses, got n_steps={n_steps}"
        raise ValueError(msg)
    f = float(n_mean) / n_steps
    if f <= 0.0:
        return 0.0
    top = float(grid_upcrossing_prob(z0, np.inf))  # rho = -1
    if f >= top:
        return math.inf
    return float(brentq(lambda a: float(grid_upcrossing_prob(z0, a)) - f, 0.0, 1e6, xtol=1e-12))


def grid_p_global(
    z: ArrayLike,
    n_mean: float,
    z0: float,
    n_steps: int,
    n_err: float = 0.0,
    n_local: int = 1,
    clip: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gross-Vitells on the grid at local significance ``z``, and its uncertainty.

    ``p = n_local (1 - Phi(z)) + n_local n_steps 2 T(z, a)`` with ``a`` from ``grid_a(n_mean /
    n_local, z0, n_steps)``: ``n_local`` > 1 is the union over that many scans of ``n_steps``
    steps each, ``n_mean`` their summed mean upcrossings (the same stationary correlation for
    all; per scan, call once each and add). ``sigma_p = n_err exp(-(z^2 - z0^2)(1 + a^2)/2)``
    (``n_err`` below ``z0``). ``clip`` returns ``min(p, 1)``. Meaningful for ``z >= z0``.
    """
    from scipy.stats import norm

    zz = np.asarray(z, dtype=np.float64)
    a = grid_a(float(n_mean) / n_local, z0, n_steps)
    p = n_local * (norm.sf(zz) + n_steps * grid_upcrossing_prob(zz, a))
    zc = np.maximum(zz, float(z0))  # below z0 (not meaningful) the error at z0
    with np.errstate(over="ignore", invalid="ignore"):
        slope = np.exp(-(zc * zc - float(z0) ** 2) * (1.0 + a * a) / 2.0)
    err = float(n_err) * np.nan_to_num(slope, nan=0.0)
    if clip:
        p = np.minimum(p, 1.0)
    return np.asarray(p, dtype=np.float64), np.asarray(err, dtype=np.float64)


#: Pull between the toys' and Gross-Vitells' p_global beyond which the LEE summary warns.
CROSS_CHECK_PULL = 3.0
#: Fewest toys above a table row's Z for its toy estimate to be compared with Gross-Vitells.
CROSS_CHECK_MIN_ABOVE = 10
#: Largest toy p_global compared: GV is an asymptotic (small-p) estimate; above, only a bound.
CROSS_CHECK_MAX_P = 0.1


def gv_cross_check(table: list[dict[str, Any]], by_level: dict[str, Any]) -> dict[str, Any]:
    """Compare the toys' p_global (the result) with Gross-Vitells (the cross-check) at each
    table row in GV's tail (toy p_global <= ``CROSS_CHECK_MAX_P``, local Z >= Z0) with at
    least ``CROSS_CHECK_MIN_ABOVE`` toys above it; rows whose pull exceeds
    ``CROSS_CHECK_PULL`` give a warning that quotes both and the upcrossing clump factor
    ``<N(u)> / P(N(u) >= 1)`` at the nearest counted level (largest over selections) and the
    local tail ratio ``P(Z > u) / (1 - Phi(u))`` (range over selections): GV's ``<N(u)>``
    counts each toy's excursions above ``u``, ``P(z_max >= u)`` the toys with one, so a clump
    factor above 1 (excursions in groups, as for an oscillating correlation of the scan) makes
    GV over-predict; so does a local tail below the half chi2 that GV's ``exp(-u^2/2)``
    assumes (docs/design.md, "LEE")."""
    levels = np.asarray(by_level["z_levels"], dtype=np.float64)
    clump = np.asarray(by_level["clump_factor_per_selection"], dtype=np.float64)
    tails = np.asarray(by_level["local_tail_ratio_per_selection"], dtype=np.float64)
    rows, warnings = [], []
    for row in table:
        toys, gv = row.get("toys"), row["gross_vitells"]
        if (
            not toys
            or toys["n_above"] < CROSS_CHECK_MIN_ABOVE
            or toys["p_global"] > CROSS_CHECK_MAX_P
            or not gv["valid"]
            or gv["pull_toys_vs_gv"] is None
        ):
            continue
        li = int(np.argmin(np.abs(levels - row["z_local"])))
        cf = float(np.nanmax(clump[:, li])) if np.isfinite(clump[:, li]).any() else math.nan
        tail = tails[:, li][np.isfinite(tails[:, li])]
        t_lo, t_hi = (float(tail.min()), float(tail.max())) if tail.size else (math.nan, math.nan)
        pull = float(gv["pull_toys_vs_gv"])
        out = {
            "z_local": row["z_local"],
            "p_global_toys": toys["p_global"],
            "p_global_gv": gv["p_global"],
            "p_global_gv_continuum": gv.get("p_global_continuum"),
            "ratio_toys_to_gv": toys["p_global"] / gv["p_global"] if gv["p_global"] else None,
            "pull": pull,
            "agrees": abs(pull) <= CROSS_CHECK_PULL,
            "clump_level": float(levels[li]),
            "clump_factor": cf,
            "local_tail_ratio": [t_lo, t_hi],
        }
        rows.append(out)
        if not out["agrees"]:
            warnings.append(
                f"Gross-Vitells disagrees with the toys at local Z = {row['z_local']:g}: toys "
                f"p_global = {toys['p_global']:.4g} [{toys['p_global_lo']:.4g}, "
                f"{toys['p_global_hi']:.4g}], GV (grid) {gv['p_global']:.4g} +- "
                f"{gv['p_global_err']:.2g} (continuum {out['p_global_gv_continuum']:.4g}), "
                f"pull {pull:.1f}; upcrossings of Z = {levels[li]:g} come {cf:.2f} per toy that "
                f"has one, and P(Z > {levels[li]:g}) at fixed mass is {t_lo:.2f}-{t_hi:.2f} x "
                f"the half-chi2 tail. The toys are the result; GV is the cross-check."
            )
    return {
        "pull_limit": CROSS_CHECK_PULL,
        "max_p_global": CROSS_CHECK_MAX_P,
        "min_toys_above": CROSS_CHECK_MIN_ABOVE,
        "rows": rows,
        "warnings": warnings,
    }


@dataclass
class LevelCounts:
    """Running sums over toy chunks, per level ``Z = levels[l]``, of the upcrossing counts in
    columns ``[S selections, selection-max scan, sum over selections]``: their sum, sum of
    squares and the number of toys with at least one (for the clump factor ``<N(u)> /
    P(N(u) >= 1)``); and per selection the (toy, mass) points with ``Z > u`` out of the finite
    ones (the local tail, ``1 - Phi(u)`` for Chernoff's half chi2)."""

    levels: NDArray[np.float64]
    n_sel: int
    up_sum: NDArray[np.float64] = field(init=False)
    up_sumsq: NDArray[np.float64] = field(init=False)
    up_any: NDArray[np.float64] = field(init=False)
    above: NDArray[np.float64] = field(init=False)
    points: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        shape = (self.levels.size, self.n_sel + 2)
        self.up_sum, self.up_sumsq, self.up_any = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        self.above = np.zeros((self.levels.size, self.n_sel))
        self.points = np.zeros(self.n_sel)

    def add(self, c: NDArray[Any], valid: NDArray[np.bool_]) -> None:
        """Fold the squared scans ``c[K, S, M]`` of a chunk's toys (``valid``: finite z_max)."""
        c_comb = np.fmax.reduce(c, axis=1)  # [K, M]: max over selections (Z >= 0, so of Z^2 too)
        cv = c[valid]
        self.points += np.isfinite(cv).sum(axis=(0, 2))
        for li, lev in enumerate(self.levels):
            c0 = float(lev) ** 2
            per_sel = upcrossings_sq(c, c0)  # [K, S]
            comb = upcrossings_sq(c_comb, c0)  # [K]
            counts = np.concatenate([per_sel, comb[:, None], per_sel.sum(axis=1)[:, None]], 1)
            counts = counts[valid].astype(np.float64)
            self.up_sum[li] += counts.sum(axis=0)
            self.up_sumsq[li] += (counts * counts).sum(axis=0)
            self.up_any[li] += (counts > 0).sum(axis=0)
            self.above[li] += (cv > cv.dtype.type(c0)).sum(axis=(0, 2))

    def mean_err(self, li: int, col: int, n_valid: int) -> tuple[float, float]:
        """Mean upcrossings of column ``col`` at level ``li`` over ``n_valid`` toys, and its
        standard error."""
        mean = self.up_sum[li, col] / n_valid
        s2 = self.up_sumsq[li, col]
        var = (s2 - n_valid * mean * mean) / (n_valid - 1) if n_valid > 1 else 0.0
        return float(mean), math.sqrt(max(var, 0.0) / n_valid)

    def diagnostics(self) -> dict[str, Any]:
        """Per selection and level: the clump factor, the toys with an upcrossing, and the
        local tail ``P(Z > u)`` over ``1 - Phi(u)`` (1 where Chernoff holds)."""
        from scipy.stats import norm

        s = self.n_sel
        with np.errstate(invalid="ignore", divide="ignore"):
            clump = np.where(self.up_any > 0, self.up_sum / self.up_any, np.nan)
            tail = self.above / (
                np.maximum(self.points, 1.0)[None, :] * norm.sf(self.levels)[:, None]
            )
        return {
            "clump_factor_per_selection": [[float(v) for v in clump[:, j]] for j in range(s)],
            "toys_with_upcrossing_per_selection": [
                [int(v) for v in self.up_any[:, j]] for j in range(s)
            ],
            "local_tail_ratio_per_selection": [[float(v) for v in tail[:, j]] for j in range(s)],
        }
