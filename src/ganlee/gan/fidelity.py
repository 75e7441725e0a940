"""The fidelity gate of ``gan_validate``: the generator against hold-out MC at the toy size.

The toys draw ``n`` events per sample (``ganlee.settings.Settings.toy_sizes``, sample 1), so the
generator is compared with ``n`` hold-out MC events (docs/design.md,
"Generator (GAN and flow): preprocessing, training, fidelity"):

* ``auc``: classifier two-sample test (``ganlee.gan.metrics.classifier_auc``, half of each
  sample to train, half to test; arXiv:1610.06545), with its null band - the same test of two
  disjoint hold-out halves of ``n`` events (MC vs MC), repeated ``n_null`` times;
* ``ks_min_pvalue``: the smallest per-feature two-sample Kolmogorov-Smirnov p-value;
* ``mllg_pvalue``: the chi-square p-value of the m_llg histograms (bins of ``mllg_bin_width``
  over the window) of the two equal-size samples, sum (g - m)^2 / (g + m) with one degree of
  freedom per bin; the GAN/MC ratio per bin is reported with its Poisson error
  ratio * sqrt(1/g + 1/m).

Each check has a threshold in ``gan.fidelity``; ``passed`` is their conjunction and ``message``
the one line the LEE summary and report quote ("toys not validated: AUC 0.83 > 0.65").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from ganlee.gan.metrics import classifier_auc, standardise
from ganlee.settings import FidelitySettings

__all__ = ["fidelity_gate", "mllg_ratio"]


def mllg_ratio(
    mc: np.ndarray, gen: np.ndarray, window: tuple[float, float], width: float
) -> dict[str, Any]:
    """GAN/MC ratio of the m_llg histograms per bin (errors from Poisson counts) and the
    chi-square p-value of two equal-size histograms."""
    lo, hi = window
    nb = max(1, round((hi - lo) / width))
    edges = np.linspace(lo, hi, nb + 1)
    m, _ = np.histogram(mc, edges)
    g, _ = np.histogram(gen, edges)
    scale = len(mc) / max(len(gen), 1)
    gs = g * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(m > 0, gs / m, np.nan)
        err = ratio * np.sqrt(1.0 / np.maximum(g, 1) + 1.0 / np.maximum(m, 1))
    ok = (m + g) > 0
    var = m + gs * scale  # var(m) + var(scale * g)
    chi2 = float(np.sum((gs[ok] - m[ok]) ** 2 / var[ok]))
    dof = int(ok.sum())
    return {
        "edges": edges.tolist(),
        "mc": m.tolist(),
        "gan": g.tolist(),
        "ratio": ratio.tolist(),
        "ratio_error": err.tolist(),
        "max_abs_deviation": float(np.nanmax(np.abs(ratio - 1)))
        if np.isfinite(ratio).any()
        else None,
        "chi2": chi2,
        "dof": dof,
        "pvalue": float(stats.chi2.sf(chi2, dof)) if dof else 1.0,
    }


def _check(value: float, threshold: float, upper: bool) -> dict[str, Any]:
    ok = bool(value <= threshold) if upper else bool(value >= threshold)
    return {"value": float(value), "threshold": float(threshold), "passed": ok}


def fidelity_gate(
    holdout: np.ndarray,
    gen: np.ndarray,
    names: Sequence[str],
    n_toy: int,
    fcfg: FidelitySettings,
    window: tuple[float, float] | None,
    seed: int,
) -> dict[str, Any]:
    """The gate's block of ``validation.json`` (module docstring); ``gen`` holds >= n events.

    Returns ``{"passed", "message", "checks": {name: {"value", "threshold", "passed"}}, ...}``
    with the details (null band, per-feature KS, m_llg ratio) beside the checks.
    """
    rng = np.random.default_rng(seed)
    n = int(min(n_toy, len(holdout) // 2, len(gen)))
    if n < 10:
        msg = f"fidelity gate: {len(holdout)} hold-out events are too few for two samples"
        raise ValueError(msg)
    perm = rng.permutation(len(holdout))
    mc, g = holdout[perm[:n]], gen[:n]
    zs_mc, zs_g = standardise(mc, g)
    auc = classifier_auc(zs_mc, zs_g, int(rng.integers(2**31)))
    null = []
    for _ in range(int(fcfg.n_null)):
        p = rng.permutation(len(holdout))
        a, b = standardise(holdout[p[:n]], holdout[p[n : 2 * n]])
        null.append(classifier_auc(a, b, int(rng.integers(2**31)))["auc"])
    ks = {name: stats.ks_2samp(mc[:, j], g[:, j]) for j, name in enumerate(names)}
    ks_p = {k: float(v.pvalue) for k, v in ks.items()}
    worst = min(ks_p, key=lambda k: ks_p[k])
    checks = {
        "auc": _check(auc["auc"], fcfg.auc_max, upper=True),
        "ks_min_pvalue": _check(ks_p[worst], fcfg.ks_pvalue_min, upper=False),
    }
    ratio = None
    if window is not None and "m_llg" in names:
        col = list(names).index("m_llg")
        ratio = mllg_ratio(mc[:, col], g[:, col], window, float(fcfg.mllg_bin_width))
        checks["mllg_pvalue"] = _check(ratio["pvalue"], fcfg.mllg_pvalue_min, upper=False)
    passed = all(c["passed"] for c in checks.values())
    return {
        "passed": passed,
        "message": _message(checks, worst, passed),
        "checks": checks,
        "n_events": n,
        "auc_null": {
            "values": null,
            "mean": float(np.mean(null)) if null else None,
            "std_expected": auc["null_std"],
            "band_2sigma": [0.5 - 2 * auc["null_std"], 0.5 + 2 * auc["null_std"]],
        },
        "ks": {
            k: {"statistic": float(v.statistic), "pvalue": float(v.pvalue)} for k, v in ks.items()
        },
        "ks_worst_feature": worst,
        "mllg_ratio": ratio,
    }


def _message(checks: Mapping[str, Mapping[str, Any]], worst: str, passed: bool) -> str:
    labels = {"auc": "AUC", "ks_min_pvalue": f"min KS p ({worst})", "mllg_pvalue": "m_llg chi2 p"}
    parts = []
    for name, c in checks.items():
        upper = name == "auc"
        if passed or not c["passed"]:
            op = ("<=" if c["passed"] else ">") if upper else (">=" if c["passed"] else "<")
            parts.append(f"{labels[name]} {c['value']:.3g} {op} {c['threshold']:.3g}")
    head = "toys validated" if passed else "toys not validated"
    return f"{head}: " + ", ".join(parts)
