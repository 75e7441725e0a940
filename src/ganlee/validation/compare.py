"""Comparing two toy ensembles: two-sample tests, quantiles with bootstrap errors, global Z.

* Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``; exact p-value for small
  samples, asymptotic Kolmogorov distribution otherwise) and the k-sample Anderson-Darling test
  of Scholz & Stephens (J. Am. Stat. Assoc. 82 (1987) 918; ``scipy.stats.anderson_ksamp``,
  midrank variant), whose p-value comes from a permutation test (``n_permutations`` > 0) or from
  scipy's interpolation table, which only covers [0.001, 0.25] (then reported as a bound).
* Quantiles with bootstrap errors (Efron, Ann. Statist. 7 (1979) 1): the standard error is the
  standard deviation of the quantile over resamples with replacement; the percentile interval
  is quoted as well.
* Global significance of a local Z from a study's toys and Gross-Vitells extrapolation
  (arXiv:1005.1891) through the LEE stage's ``ganlee.stats.lee.global_significance``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "TwoSampleResult",
    "bootstrap_quantiles",
    "finite_sorted",
    "global_z",
    "histogram",
    "two_sample_test",
]


@dataclass(frozen=True)
class TwoSampleResult:
    """Result of ``two_sample_test``: KS and Anderson-Darling statistics and p-values.

    ``ad_pvalue_bound`` is ``"upper"`` when scipy's table floored the p-value at 0.001 or no
    permutation was as extreme as the data (p = 1 / (n_permutations + 1); the true value is
    smaller), ``"lower"`` when the table capped it at 0.25 (larger), else ``None``.
    """

    n_a: int
    n_b: int
    ks_statistic: float
    ks_pvalue: float
    ad_statistic: float
    ad_pvalue: float
    ad_method: str
    ad_pvalue_bound: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def finite_sorted(x: ArrayLike) -> NDArray[np.float64]:
    """The finite entries of ``x``, sorted (toys whose every fit failed have ``z_max = NaN``)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    return np.sort(a[np.isfinite(a)])


def two_sample_test(
    a: ArrayLike, b: ArrayLike, n_permutations: int = 0, seed: int = 0
) -> TwoSampleResult:
    """KS and Anderson-Darling two-sample tests of ``a`` and ``b`` (non-finite entries dropped).

    Arguments:
        a, b: the two samples (e.g. the z_max of GAN toys and of MC-bootstrap toys).
        n_permutations: permutations for the Anderson-Darling p-value; 0 = scipy's
            interpolated p-value (floored at 0.001 and capped at 0.25, flagged in
            ``ad_pvalue_bound``).
        seed: seed of the permutations.

    References:
        Kolmogorov-Smirnov: Hodges, Ark. Mat. 3 (1958) 469. Anderson-Darling k-sample test:
        Scholz & Stephens, J. Am. Stat. Assoc. 82 (1987) 918.
    """
    from scipy.stats import PermutationMethod, anderson_ksamp, ks_2samp

    xa, xb = finite_sorted(a), finite_sorted(b)
    if xa.size < 2 or xb.size < 2:
        msg = (
            "two_sample_test: need at least 2 finite values per sample, "
            f"got {xa.size} and {xb.size}"
        )
        raise ValueError(msg)
    ks = ks_2samp(xa, xb)
    bound = None
    if n_permutations > 0:
        method = PermutationMethod(n_resamples=int(n_permutations), rng=np.random.default_rng(seed))
        ad = anderson_ksamp([xa, xb], variant="midrank", method=method)
        how = f"permutation ({int(n_permutations)} resamples)"
        if float(ad.pvalue) <= 1.0 / (int(n_permutations) + 1) * (1 + 1e-9):
            bound = "upper"  # no permutation as extreme: the resolution of the test
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ad = anderson_ksamp([xa, xb], variant="midrank")
        for w in caught:
            text = str(w.message)
            if "floored" in text:
                bound = "upper"
            elif "capped" in text:
                bound = "lower"
        how = "interpolated (scipy table, [0.001, 0.25])"
    return TwoSampleResult(
        n_a=int(xa.size),
        n_b=int(xb.size),
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        ad_statistic=float(ad.statistic),
        ad_pvalue=float(ad.pvalue),
        ad_method=how,
        ad_pvalue_bound=bound,
    )


def bootstrap_quantiles(
    x: ArrayLike,
    quantiles: Sequence[float],
    n_bootstrap: int = 1000,
    seed: int = 0,
    cl: float = 0.6827,
) -> list[dict[str, float]]:
    """Quantiles of ``x`` (finite entries) with bootstrap standard errors and percentile intervals.

    Returns one dict per quantile: ``q``, ``value`` (``numpy.quantile``, linear interpolation),
    ``error`` (standard deviation over ``n_bootstrap`` resamples with replacement), ``lo``/``hi``
    (the central ``cl`` percentile interval of the resampled quantiles). Efron (1979).
    """
    v = finite_sorted(x)
    if v.size < 2:
        msg = f"bootstrap_quantiles: need at least 2 finite values, got {v.size}"
        raise ValueError(msg)
    qs = np.asarray(quantiles, dtype=np.float64)
    if np.any((qs <= 0) | (qs >= 1)):
        msg = f"bootstrap_quantiles: quantiles must lie in (0, 1), got {qs.tolist()}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    reps = np.empty((int(n_bootstrap), qs.size))
    block = max(1, 2_000_000 // v.size)
    for start in range(0, int(n_bootstrap), block):
        stop = min(int(n_bootstrap), start + block)
        idx = rng.integers(0, v.size, size=(stop - start, v.size))
        reps[start:stop] = np.quantile(v[idx], qs, axis=1).T
    alpha = (1.0 - cl) / 2
    lo = np.quantile(reps, alpha, axis=0)
    hi = np.quantile(reps, 1 - alpha, axis=0)
    err = reps.std(axis=0, ddof=1)
    value = np.quantile(v, qs)
    return [
        {"q": float(q), "value": float(val), "error": float(e), "lo": float(a), "hi": float(b)}
        for q, val, e, a, b in zip(qs, value, err, lo, hi, strict=True)
    ]


def global_z(
    z_local: float, zmax: ArrayLike, lee_summary: dict[str, Any], cl: float | None = None
) -> dict[str, Any]:
    """Global p-value and significance of ``z_local`` from a study's toys (``zmax``) and from the
    Gross-Vitells parameters of its LEE summary (``ganlee lee-aggregate``), via
    ``ganlee.stats.lee.global_significance`` (arXiv:1005.1891).
    """
    from ganlee.stats.lee import global_significance

    gv = lee_summary["gross_vitells"]
    level = float(cl if cl is not None else lee_summary.get("cl", 0.6827))
    return global_significance(float(z_local), finite_sorted(zmax), gv["union"], level, gv["scan"])


def histogram(x: ArrayLike, edges: ArrayLike) -> dict[str, Any]:
    """Counts of the finite entries of ``x`` in ``edges`` plus under/overflow (JSON-ready)."""
    v = finite_sorted(x)
    e = np.asarray(edges, dtype=np.float64)
    counts, _ = np.histogram(v, bins=e)
    return {
        "edges": e.tolist(),
        "counts": counts.astype(int).tolist(),
        "underflow": int(np.count_nonzero(v < e[0])),
        "overflow": int(np.count_nonzero(v > e[-1])),
        "n": int(v.size),
    }
