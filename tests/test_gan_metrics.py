"""Fidelity metrics against closed-form values for Gaussian samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats import norm

from ganlee.gan.metrics import (
    classifier_auc,
    correlation_matrix,
    evaluate,
    fpd_infinity,
    frechet_distance,
    kpd,
)


def test_w1_and_ks_of_shifted_and_scaled_gaussians() -> None:
    """W1(N(0,1), N(0.5,1)) = 0.5; W1(N(0,1), N(0,4)) = |2-1| sqrt(2/pi);
    KS(N(0,1), N(0.5,1)) = Phi(0.25) - Phi(-0.25)."""
    rng = np.random.default_rng(1)
    n = 40000
    mc = rng.normal(size=(n, 2))
    gan = np.column_stack([rng.normal(0.5, 1.0, n), rng.normal(0.0, 2.0, n)])
    res = evaluate(
        mc[:2000], gan[:2000], ["a", "b"], seed=3, classifier_iter=20
    )  # assembled report
    assert set(res) >= {"per_feature", "correlation", "classifier", "fpd", "kpd", "ks_max"}
    assert stats.wasserstein_distance(mc[:, 0], gan[:, 0]) == pytest.approx(0.5, abs=0.02)
    assert stats.wasserstein_distance(mc[:, 1], gan[:, 1]) == pytest.approx(
        math.sqrt(2 / math.pi), abs=0.02
    )
    assert res["per_feature"]["a"]["w1"] == pytest.approx(0.5, abs=0.08)
    assert res["per_feature"]["a"]["ks"] == pytest.approx(
        norm.cdf(0.25) - norm.cdf(-0.25), abs=0.04
    )
    assert res["per_feature"]["b"]["w1_over_std"] == pytest.approx(math.sqrt(2 / math.pi), rel=0.1)


def test_correlation_matrix_of_bivariate_gaussian() -> None:
    rng = np.random.default_rng(2)
    x = rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 1.0]], 50000)
    x = np.column_stack([x, np.full(len(x), 3.0)])  # a constant column
    c = correlation_matrix(x)
    assert c[0, 1] == pytest.approx(0.6, abs=0.01)
    np.testing.assert_array_equal(c[2], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(np.diag(c), 1.0)


def test_frechet_distance_closed_form() -> None:
    """FD(N(0, I), N(mu, diag(s^2))) = |mu|^2 + sum (1 - s_i)^2."""
    rng = np.random.default_rng(3)
    n = 200000
    mu = np.array([0.3, -0.2, 0.0])
    s = np.array([1.0, 1.5, 0.5])
    x = rng.normal(size=(n, 3))
    y = mu + s * rng.normal(size=(n, 3))
    expected = float(mu @ mu + np.sum((1 - s) ** 2))  # 0.13 + 0.25 + 0.25 = 0.63
    assert frechet_distance(x, y) == pytest.approx(expected, abs=0.01)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fpd_infinity_removes_the_finite_size_bias() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6000, 5)), rng.normal(size=(6000, 5))
    finite = frechet_distance(x, y)
    res = fpd_infinity(x, y, np.random.default_rng(5))
    assert finite > 0.002  # biased upwards at finite N (about d(d+1)/N)
    assert abs(res["value"]) < max(3 * res["error"], 1e-3)
    shifted = fpd_infinity(x, y + 0.5, np.random.default_rng(5))
    assert shifted["value"] == pytest.approx(5 * 0.25, abs=0.05)


def test_kpd_zero_for_same_distribution_positive_for_shift() -> None:
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(3000, 4)), rng.normal(size=(3000, 4))
    same = kpd(x, y, np.random.default_rng(7))
    diff = kpd(x, y + 0.5, np.random.default_rng(7))
    assert abs(same["value"]) < 3 * same["error"] + 1e-3
    assert diff["value"] > 10 * (abs(same["value"]) + same["error"])


def test_classifier_auc_matches_optimal_for_gaussians() -> None:
    """N(0,1) vs N(1,1): the likelihood ratio is monotonic, AUC = Phi(1 / sqrt(2)) = 0.760."""
    rng = np.random.default_rng(8)
    n = 6000
    res = classifier_auc(rng.normal(0, 1, (n, 1)), rng.normal(1, 1, (n, 1)), seed=1, max_iter=30)
    assert res["auc"] == pytest.approx(norm.cdf(1 / math.sqrt(2)), abs=0.02)
    same = classifier_auc(rng.normal(size=(n, 2)), rng.normal(size=(n, 2)), seed=2, max_iter=30)
    assert abs(same["auc"] - 0.5) < 4 * same["null_std"]
    assert same["n_test_per_class"] == n // 2
