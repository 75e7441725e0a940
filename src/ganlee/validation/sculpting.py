"""Sculpting diagnostics: the m_llg shape the DNN carves out of background-only toys.

Selecting the events with the highest response of a classifier trained on finite samples keeps
a subset whose m_llg spectrum differs from the inclusive one wherever the response depends on
m_llg (directly, or through correlated inputs); a local excess of that ratio is a fake bump for
the fit (arXiv:2404.07822). Per toy k and selection s (``toys.diagnostics`` chunk keys
``counts[K, S, nbins]`` and ``counts_all[K, nbins]``)::

    R_ks(b) = (n_ks(b) / N_ks) / (n_k(b) / N_k),

the unit-normalised m_llg histogram of the selection over the inclusive one (both of sample
2), after merging ``rebin`` neighbouring bins. The summary gives the mean over toys, its
spread (standard deviation over toys) and standard error, and a chi-square of the mean ratio
against 1 (flat = no sculpting) with the standard errors. The per-toy Pearson correlation
between DNN response and m_llg (``response_mllg_corr``) and the AUC are summarised alike.

``mllg_recoverability`` measures how much of m_llg the other DNN inputs still carry (a
gradient-boosted regression's cross-validated R^2), to choose the features dropped in the
comparison run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "mllg_recoverability",
    "rebin_counts",
    "rebin_edges",
    "sculpting_summary",
    "shape_ratios",
    "summarise_values",
]


def rebin_counts(counts: ArrayLike, rebin: int) -> NDArray[np.float64]:
    """Sum groups of ``rebin`` neighbouring bins along the last axis (a short last group kept)."""
    c = np.asarray(counts, dtype=np.float64)
    if rebin < 1:
        msg = f"rebin must be >= 1, got {rebin}"
        raise ValueError(msg)
    if rebin == 1:
        return c
    nb = c.shape[-1]
    starts = np.arange(0, nb, rebin)
    return np.add.reduceat(c, starts, axis=-1)


def rebin_edges(edges: ArrayLike, rebin: int) -> NDArray[np.float64]:
    """The edges matching ``rebin_counts``: every ``rebin``-th edge and the last one."""
    e = np.asarray(edges, dtype=np.float64)
    return np.r_[e[:-1][::rebin], e[-1]]


def shape_ratios(counts: ArrayLike, counts_all: ArrayLike, rebin: int = 1) -> NDArray[np.float64]:
    """``R[k, s, b]``: selection shape over inclusive shape per toy (NaN where undefined).

    Arguments:
        counts: ``(K, S, nbins)`` m_llg histograms of each selection.
        counts_all: ``(K, nbins)`` m_llg histogram of the whole sample 2.
        rebin: neighbouring bins merged first.
    """
    c = rebin_counts(counts, rebin)
    a = rebin_counts(counts_all, rebin)
    if c.ndim != 3 or a.ndim != 2 or c.shape[0] != a.shape[0] or c.shape[2] != a.shape[1]:
        msg = (
            f"shape_ratios: counts {c.shape} and counts_all {a.shape} are not (K, S, B) and (K, B)"
        )
        raise ValueError(msg)
    with np.errstate(divide="ignore", invalid="ignore"):
        fs = c / c.sum(axis=2, keepdims=True)
        fa = a / a.sum(axis=1, keepdims=True)
        r = fs / fa[:, None, :]
    return np.where(np.isfinite(r), r, np.nan)


def summarise_values(x: ArrayLike) -> dict[str, Any]:
    """Mean, standard deviation (spread over toys) and standard error of the finite values."""
    v = np.asarray(x, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0, "mean": None, "std": None, "sem": None}
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"n": int(v.size), "mean": float(v.mean()), "std": std, "sem": std / np.sqrt(v.size)}


def sculpting_summary(
    counts: ArrayLike,
    counts_all: ArrayLike,
    edges: ArrayLike,
    selections: Sequence[float],
    rebin: int = 1,
    corr: ArrayLike | None = None,
    auc: ArrayLike | None = None,
) -> dict[str, Any]:
    """Mean and spread over toys of each selection's shape ratio, plus correlation and AUC."""
    from scipy.stats import chi2

    r = shape_ratios(counts, counts_all, rebin)
    e = rebin_edges(edges, rebin)
    per_sel = []
    for s, frac in enumerate(selections):
        rs = r[:, s, :]
        n = np.sum(np.isfinite(rs), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, np.nansum(rs, axis=0) / np.maximum(n, 1), np.nan)
            dev2 = np.nansum((rs - mean) ** 2, axis=0)
            std = np.where(n > 1, np.sqrt(dev2 / np.maximum(n - 1, 1)), np.nan)
            sem = std / np.sqrt(np.maximum(n, 1))
            ok = np.isfinite(mean) & np.isfinite(sem) & (sem > 0)
            chi = float(np.sum(((mean[ok] - 1.0) / sem[ok]) ** 2))
        ndf = int(ok.sum())
        per_sel.append(
            {
                "selection": float(frac),
                "ratio_mean": mean,
                "ratio_std": std,
                "ratio_sem": sem,
                "n_toys_per_bin": n,
                "max_abs_deviation": (
                    float(np.nanmax(np.abs(mean - 1.0))) if np.isfinite(mean).any() else None
                ),
                "chi2_flat": chi,
                "ndf": ndf,
                "p_flat": float(chi2.sf(chi, ndf)) if ndf else None,
            }
        )
    return {
        "definition": "R(b) = (n_sel(b)/N_sel) / (n_all(b)/N_all) per toy, m_llg of sample 2",
        "edges": e,
        "rebin": int(rebin),
        "n_toys": int(r.shape[0]),
        "selections": per_sel,
        "response_mllg_corr": summarise_values(corr) if corr is not None else None,
        "auc": summarise_values(auc) if auc is not None else None,
    }


def mllg_recoverability(
    features: ArrayLike,
    names: Sequence[str],
    drop: Sequence[str],
    seed: int = 0,
    max_events: int = 20000,
    max_iter: int = 100,
) -> float:
    """Cross-validated (3-fold) R^2 of m_llg regressed on the features not in ``drop``
    (``sklearn`` histogram gradient boosting): ~1 = the DNN can rebuild m_llg from its inputs,
    ~0 = it cannot."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold, cross_val_score

    x = np.asarray(features, dtype=np.float64)
    names = list(names)
    if "m_llg" not in names:
        msg = f"mllg_recoverability: 'm_llg' is not among the features {names}"
        raise ValueError(msg)
    seed = int(seed) % 2**32  # sklearn / legacy numpy seeds are 32-bit
    if x.shape[0] > max_events:
        x = x[np.random.default_rng(seed).choice(x.shape[0], max_events, replace=False)]
    y = x[:, names.index("m_llg")]
    keep = [i for i, n in enumerate(names) if n not in set(drop)]
    model = HistGradientBoostingRegressor(max_iter=max_iter, random_state=seed)
    cv = KFold(n_splits=3, shuffle=True, random_state=seed)
    return float(cross_val_score(model, x[:, keep], y, cv=cv, scoring="r2").mean())
