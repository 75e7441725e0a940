"""GAN-ensemble systematic: the spread of LEE results across GANs that differ only in seed.

N GANs are trained with the same configuration and data and different seeds; each runs the same
toys (same toy seeds), so the results differ only through the GAN. The spread (sample standard
deviation over members) of ``p_global`` and of the global Z at a given local Z is quoted as a
modelling uncertainty next to the statistical one (the mean over members of the toys'
Clopper-Pearson half-width, or of the Gross-Vitells error). Because all members reuse the same
toy seeds, their statistical fluctuations are partly common; the spread therefore measures the
GAN dependence and is not inflated by independent toy noise alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ensemble_spread", "ensemble_summary"]


def ensemble_spread(values: ArrayLike) -> dict[str, Any]:
    """Spread of one quantity over ensemble members (axis 0; further axes elementwise).

    Returns ``n``, ``mean``, ``std`` (ddof 1; 0 for one member), ``min``, ``max``, ``range``.
    Identical members give exactly 0. Non-finite members are ignored.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0 or v.shape[0] == 0:
        msg = "ensemble_spread: need at least one member"
        raise ValueError(msg)
    ok = np.isfinite(v)
    n = ok.sum(axis=0)
    # deviations from the first finite member, so that identical members give exactly 0
    first = np.take_along_axis(v, np.argmax(ok, axis=0)[None, ...], axis=0)[0]
    d = np.where(ok, v - first, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_d = np.where(n > 0, d.sum(axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(ok, d - mean_d, 0.0)
        std = np.where(n > 1, np.sqrt((dev * dev).sum(axis=0) / np.maximum(n - 1, 1)), 0.0)
    mean = first + mean_d
    vmin = np.where(n > 0, np.min(np.where(ok, v, np.inf), axis=0), np.nan)
    vmax = np.where(n > 0, np.max(np.where(ok, v, -np.inf), axis=0), np.nan)

    def out(a: Any) -> Any:
        return float(a) if np.ndim(a) == 0 else np.asarray(a)

    return {
        "n": int(n) if np.ndim(n) == 0 else n,
        "mean": out(mean),
        "std": out(std),
        "min": out(vmin),
        "max": out(vmax),
        "range": out(vmax - vmin),
    }


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def ensemble_summary(
    members: Sequence[str],
    significance: Sequence[dict[str, Any]],
    zmax_quantiles: Sequence[Sequence[dict[str, float]]] | None = None,
) -> dict[str, Any]:
    """Spread across members of the global results at one local Z.

    Arguments:
        members: study names, member 0 first.
        significance: per member, ``ganlee.stats.lee.global_significance`` at the same local Z
            (``toys`` and ``gross_vitells`` blocks).
        zmax_quantiles: per member, ``bootstrap_quantiles`` of its z_max (same quantiles).
    """
    if len(members) != len(significance):
        msg = f"ensemble_summary: {len(members)} members but {len(significance)} results"
        raise ValueError(msg)
    z_local = float(significance[0]["z_local"])
    p_toys = np.array([_num(s["toys"]["p_global"]) for s in significance])
    half = np.array(
        [
            0.5 * (_num(s["toys"]["p_global_hi"]) - _num(s["toys"]["p_global_lo"]))
            for s in significance
        ]
    )
    z_toys = np.array([_num(s["toys"]["z_global"]) for s in significance])
    z_toys_err = np.array(
        [
            (
                0.5 * (_num(s["toys"]["z_global_hi"]) - _num(s["toys"]["z_global_lo"]))
                if s["toys"]["z_global_hi"] is not None
                else float("nan")
            )
            for s in significance
        ]
    )
    p_gv = np.array([_num(s["gross_vitells"]["p_global"]) for s in significance])
    p_gv_err = np.array([_num(s["gross_vitells"]["p_global_err"]) for s in significance])
    z_gv = np.array([_num(s["gross_vitells"]["z_global"]) for s in significance])
    z_gv_err = np.array(
        [
            0.5
            * (_num(s["gross_vitells"]["z_global_hi"]) - _num(s["gross_vitells"]["z_global_lo"]))
            for s in significance
        ]
    )

    def block(values: np.ndarray, stat: np.ndarray) -> dict[str, Any]:
        spread = ensemble_spread(values)
        finite = stat[np.isfinite(stat)]
        stat_mean = float(finite.mean()) if finite.size else math.nan
        return {
            "per_member": values.tolist(),
            "per_member_stat_err": stat.tolist(),
            **spread,
            "stat_err_mean": stat_mean,
            "spread_over_stat": (
                spread["std"] / stat_mean if stat_mean and math.isfinite(stat_mean) else math.nan
            ),
        }

    out: dict[str, Any] = {
        "members": list(members),
        "n_members": len(members),
        "z_local": z_local,
        "p_global_toys": block(p_toys, half),
        "z_global_toys": block(z_toys, z_toys_err),
        "p_global_gv": block(p_gv, p_gv_err),
        "z_global_gv": block(z_gv, z_gv_err),
    }
    if zmax_quantiles is not None:
        qs = [row["q"] for row in zmax_quantiles[0]]
        vals = np.array([[row["value"] for row in m] for m in zmax_quantiles])
        errs = np.array([[row["error"] for row in m] for m in zmax_quantiles])
        spread = ensemble_spread(vals)
        out["zmax_quantiles"] = [
            {
                "q": float(q),
                "per_member": vals[:, i].tolist(),
                "std": float(spread["std"][i]),
                "stat_err_mean": float(errs[:, i].mean()),
            }
            for i, q in enumerate(qs)
        ]
    return out
