"""Two-sample comparison and bootstrap quantiles (ganlee.validation.compare): known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from ganlee.stats.lee import p_local
from ganlee.validation.compare import bootstrap_quantiles, global_z, histogram, two_sample_test


def _zmax_like(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """A z_max-like sample: the maximum of 20 half-normal Z's (plus an optional shift)."""
    return np.maximum(rng.normal(size=(n, 20)), 0.0).max(axis=1) + shift


def _binomial_band(p: float, n: int, k: float = 3.0) -> tuple[float, float]:
    s = np.sqrt(p * (1 - p) / n)
    return p - k * s, p + k * s


def test_identical_sources_pass_at_the_stated_rate():
    """Over 200 pairs of samples from one distribution, p < 0.05 happens ~5% of the time."""
    rng = np.random.default_rng(1)
    reps = 200
    ks = np.empty(reps)
    ad = np.empty(reps)
    for r in range(reps):
        res = two_sample_test(_zmax_like(rng, 150), _zmax_like(rng, 150))
        ks[r], ad[r] = res.ks_pvalue, res.ad_pvalue
    lo, hi = _binomial_band(0.05, reps)
    # the KS statistic is discrete, its exact p-value conservative: the rate may sit below 5%
    assert 0.0 <= np.mean(ks < 0.05) <= hi
    assert lo <= np.mean(ad < 0.05) <= hi
    # and the p-values are roughly uniform: about half of them below 0.5
    assert abs(np.mean(ks < 0.5) - 0.5) < 0.15


def test_shifted_source_is_flagged():
    """A source whose z_max is shifted by 0.3 sigma is rejected (both tests, every time here)."""
    rng = np.random.default_rng(2)
    for _ in range(5):
        res = two_sample_test(_zmax_like(rng, 1000), _zmax_like(rng, 1000, shift=0.3))
        assert res.ks_pvalue < 1e-3
        assert res.ad_pvalue <= 1e-3
        assert res.ad_pvalue_bound == "upper"  # scipy's table floors at 0.001


def test_permutation_anderson_darling_is_exact_and_seeded():
    rng = np.random.default_rng(3)
    a, b = _zmax_like(rng, 200), _zmax_like(rng, 200, shift=0.4)
    r1 = two_sample_test(a, b, n_permutations=199, seed=5)
    r2 = two_sample_test(a, b, n_permutations=199, seed=5)
    assert r1.ad_pvalue == r2.ad_pvalue
    assert r1.ad_pvalue <= 2 / 200  # the observed statistic beats (nearly) every permutation
    # p = 1 / (n + 1): no permutation as extreme, the true p-value is below the resolution
    assert r1.ad_pvalue_bound == ("upper" if r1.ad_pvalue <= 1 / 200 else None)
    apart = two_sample_test(a, b + 100.0, n_permutations=99, seed=5)
    assert apart.ad_pvalue == pytest.approx(1 / 100)
    assert apart.ad_pvalue_bound == "upper"
    same = two_sample_test(a, _zmax_like(rng, 200), n_permutations=199, seed=5)
    assert same.ad_pvalue > 0.01


def test_non_finite_entries_are_dropped_and_tiny_samples_refused():
    rng = np.random.default_rng(4)
    a = np.r_[_zmax_like(rng, 100), np.nan, np.inf]
    res = two_sample_test(a, _zmax_like(rng, 80))
    assert (res.n_a, res.n_b) == (100, 80)
    with pytest.raises(ValueError, match="at least 2 finite"):
        two_sample_test([1.0, np.nan], [1.0, 2.0])


def test_bootstrap_quantile_errors_cover_the_truth_at_the_nominal_rate():
    """+-1 bootstrap error around the sample quantile covers the true quantile ~68.3% of the
    time."""
    rng = np.random.default_rng(6)
    qs = (0.5, 0.9)
    truth = norm.ppf(qs)
    reps = 200
    covered = np.zeros((reps, len(qs)), dtype=bool)
    in_interval = np.zeros((reps, len(qs)), dtype=bool)
    for r in range(reps):
        rows = bootstrap_quantiles(rng.normal(size=400), qs, n_bootstrap=200, seed=r)
        for j, row in enumerate(rows):
            covered[r, j] = abs(row["value"] - truth[j]) <= row["error"]
            in_interval[r, j] = row["lo"] <= truth[j] <= row["hi"]
    lo, hi = _binomial_band(0.6827, reps)
    for j in range(len(qs)):
        assert lo <= covered[:, j].mean() <= hi, (qs[j], covered[:, j].mean())
        assert lo <= in_interval[:, j].mean() <= hi, (qs[j], in_interval[:, j].mean())


def test_bootstrap_quantile_error_matches_the_asymptotic_formula():
    """sd of the sample median of N(0,1) -> sqrt(pi / (2 n)) (Laplace); the bootstrap estimate
    of one sample scatters by ~10% at n = 2000, so ten samples are averaged."""
    n = 2000
    errors = [
        bootstrap_quantiles(
            np.random.default_rng(s).normal(size=n), [0.5], n_bootstrap=500, seed=1
        )[0]["error"]
        for s in range(10)
    ]
    assert np.mean(errors) == pytest.approx(np.sqrt(np.pi / (2 * n)), rel=0.1)


def test_global_z_uses_the_toys_fraction():
    """With toys z_max = 0.01, 0.02, ..., 10.00, p_global(Z) = fraction >= Z exactly."""
    zmax = np.arange(1, 1001) / 100.0
    lee_summary = {
        "cl": 0.6827,
        "gross_vitells": {
            "union": {"z0": 1.0, "n_mean": 2.0, "n_err": 0.1, "n_local": 1},
            "scan": {"z0": 1.0, "n_mean": 2.0, "n_err": 0.1, "n_local": 1},
        },
    }
    g = global_z(3.0, zmax, lee_summary)
    assert g["toys"]["p_global"] == pytest.approx(701 / 1000)
    expected_gv = float(p_local(3.0)) + 2.0 * np.exp(-(9.0 - 1.0) / 2)
    assert g["gross_vitells"]["p_global"] == pytest.approx(expected_gv)


def test_histogram_counts_and_flows():
    h = histogram([0.5, 1.5, 1.6, -1.0, 7.0, np.nan], [0.0, 1.0, 2.0])
    assert h["counts"] == [1, 2]
    assert (h["underflow"], h["overflow"], h["n"]) == (1, 1, 5)
