"""Gross-Vitells on a mass grid (ganlee.stats.lee_grid) against known answers: the bivariate
normal orthant, the continuum limit (Rice), Gaussian sequences of known correlation, independent
points (exact p_global), and a clumped process for the toys-vs-GV cross-check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm
from test_lee import cfg_for, write_chunks

from ganlee.stats import lee
from ganlee.stats.lee_grid import grid_a, grid_p_global, grid_upcrossing_prob, rho_from_a


def _a(rho: float) -> float:
    return math.sqrt((1.0 - rho) / (1.0 + rho))


@pytest.mark.parametrize("rho", [-0.5, 0.0, 0.3, 0.8, 0.97])
@pytest.mark.parametrize("u", [0.5, 1.0, 2.0, 3.0])
def test_upcrossing_prob_is_the_bivariate_normal_orthant(rho, u):
    """2 T(u, a) = Phi(u) - Phi_2(u, u; rho) (scipy's bivariate normal CDF, independent)."""
    phi2 = multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([u, u])
    assert float(grid_upcrossing_prob(u, _a(rho))) == pytest.approx(norm.cdf(u) - phi2, abs=2e-6)


def test_continuum_limit_is_gross_vitells():
    """A step short against the correlation length (rho -> 1): the grid extrapolation is GV's
    exp(-(u^2 - u0^2)/2) (Rice), value and error."""
    n_steps, z0 = 300, 1.0
    n_mean = n_steps * float(grid_upcrossing_prob(z0, _a(0.99999)))
    for u in (2.0, 3.0, 4.0):
        p, s = grid_p_global(u, n_mean, z0, n_steps, n_err=0.1)
        p_gv, s_gv = lee.gv_p_global(u, n_mean, z0, 0.1)
        assert float(p) == pytest.approx(float(p_gv), rel=2e-3)
        assert float(s) == pytest.approx(float(s_gv), rel=2e-3)


def test_grid_a_inverts_and_refuses_no_steps():
    for rho in (-0.3, 0.0, 0.5, 0.9):
        n = 30 * float(grid_upcrossing_prob(1.5, _a(rho)))
        assert float(rho_from_a(grid_a(n, 1.5, 30))) == pytest.approx(rho, abs=1e-9)
    assert grid_a(0.0, 1.0, 30) == 0.0
    assert math.isinf(grid_a(30.0, 1.0, 30))
    with pytest.raises(ValueError, match="n_steps"):
        grid_a(1.0, 1.0, 0)


def test_rough_gaussian_sequence_grid_gv_matches_toys_continuum_does_not():
    """Stationary Gaussian sequence: white noise through a sampled Gaussian kernel of width
    0.8 steps, neighbour correlation rho = sum_j w_j w_(j+1) / sum_j w_j^2 = 0.68. Its mean
    upcrossings are (M-1) 2 T(u, a) at every level, the inversion from Z0 = 1 recovers rho,
    and the grid extrapolation agrees with the toys' P(max >= 3) while the continuum one
    over-predicts by more than 5 standard errors."""
    rng = np.random.default_rng(17)
    n, m, width = 40000, 31, 0.8
    w = np.exp(-0.5 * (np.arange(-6, 7) / width) ** 2)
    w /= math.sqrt(np.sum(w * w))
    x = rng.standard_normal((n, m + w.size - 1))
    y = np.lib.stride_tricks.sliding_window_view(x, w.size, axis=1) @ w
    z = np.maximum(y, 0.0)
    rho = float(np.sum(w[:-1] * w[1:]))
    for u in (0.5, 1.0, 2.0, 3.0):
        up = lee.count_upcrossings(z, u)
        expect = (m - 1) * float(grid_upcrossing_prob(u, _a(rho)))
        assert abs(up.mean() - expect) < 4 * up.std(ddof=1) / math.sqrt(n), (u, up.mean(), expect)
    up = lee.count_upcrossings(z, 1.0)
    n0, e0 = up.mean(), up.std(ddof=1) / math.sqrt(n)
    assert float(rho_from_a(grid_a(n0, 1.0, m - 1))) == pytest.approx(rho, abs=0.01)
    p_toys = float(np.mean(z.max(axis=1) >= 3.0))
    sig = math.sqrt(p_toys * (1 - p_toys) / n)
    p_grid, s_grid = grid_p_global(3.0, n0, 1.0, m - 1, e0)
    p_cont, _ = lee.gv_p_global(3.0, n0, 1.0, e0)
    assert abs(p_toys - float(p_grid)) < 3 * math.hypot(sig, float(s_grid))
    assert float(p_cont) - p_toys > 5 * sig


def test_independent_points_grid_gv_in_the_lee_summary(tmp_path):
    """M independent points (rho = 0): p_global = 1 - Phi(Z)^M exactly; the LEE's (grid) GV at
    Z = 3 is within 3 % of it (the residual is the bound's double-counting), the continuum
    value ~80 % above; the cross-check finds them consistent (no warning)."""
    rng = np.random.default_rng(11)
    n, m = 20000, 31
    z = np.maximum(rng.standard_normal((n, 1, m)), 0.0)
    s = lee.aggregate(write_chunks(tmp_path, z, 10000), cfg_for(n), progress=False).summary
    assert s["gross_vitells"]["union"]["n_steps"] == m - 1
    row = next(r for r in s["table"] if r["z_local"] == 3.0)
    truth = 1 - norm.cdf(3.0) ** m
    g = row["gross_vitells"]
    assert g["p_global"] == pytest.approx(truth, rel=0.03)
    assert g["p_global_continuum"] > 1.5 * truth
    check = s["gross_vitells"]["cross_check"]
    assert [r["z_local"] for r in check["rows"]] == [3.0, 4.0]  # p_global <= 0.1, >= 10 toys
    assert all(r["agrees"] for r in check["rows"])
    assert not [w for w in s["warnings"] if "Gross-Vitells" in w]


def test_clumped_process_flagged_by_the_cross_check(tmp_path):
    """A random-phase sinusoid Y(m) = A cos(w m) + B sin(w m), A, B ~ N(0, 1): Gaussian, unit
    variance, stationary, but each toy's excursions repeat every period (three in the scan),
    so <N(u)> is about three times P(z_max >= u) (the clump factor) and GV over-predicts
    P(z_max >= 3) (the Rayleigh amplitude's exp(-9/2), less on the grid) about threefold: the
    summary says so."""
    rng = np.random.default_rng(3)
    n, m, period = 20000, 31, 10.0
    ab = rng.standard_normal((n, 2))
    k = np.arange(m) * 2 * math.pi / period
    y = ab[:, :1] * np.cos(k) + ab[:, 1:] * np.sin(k)
    s = lee.aggregate(
        write_chunks(tmp_path, np.maximum(y, 0.0)[:, None, :], 20000), cfg_for(n), progress=False
    ).summary
    by_level = s["gross_vitells"]["upcrossings_by_level"]
    i3 = list(by_level["z_levels"]).index(3.0)
    assert 2.5 < by_level["clump_factor_per_selection"][0][i3] <= 3.0
    row = next(r for r in s["table"] if r["z_local"] == 3.0)
    # grid max of the sinusoid between R cos(pi/10) and R, R Rayleigh: P(R >= r) = exp(-r^2/2)
    p = row["toys"]["p_global"]
    sig = math.sqrt(p / n)
    assert math.exp(-0.5 * (3.0 / math.cos(math.pi / period)) ** 2) - 3 * sig < p
    assert p < math.exp(-4.5) + 3 * sig
    assert row["gross_vitells"]["p_global"] > 2 * row["toys"]["p_global"]
    bad = [r for r in s["gross_vitells"]["cross_check"]["rows"] if not r["agrees"]]
    assert 3.0 in [r["z_local"] for r in bad]
    text = " ".join(s["warnings"])
    assert "Gross-Vitells disagrees with the toys at local Z = 3" in text
    assert "The toys are the result" in text


def test_local_tail_ratio_of_a_narrower_field_and_the_warning(tmp_path):
    """Independent points with variance 0.8 instead of 1 (a Z that is not half chi2): the LEE's
    local tail ratio P(Z > u) / (1 - Phi(u)) is 1 - Phi(u / sqrt(0.8)) over 1 - Phi(u) at each
    level (binomial errors), and the GV cross-check warns at Z = 3 quoting it."""
    rng = np.random.default_rng(23)
    n, m, sd = 40000, 31, math.sqrt(0.8)
    z = np.maximum(sd * rng.standard_normal((n, 1, m)), 0.0)
    s = lee.aggregate(write_chunks(tmp_path, z, 20000), cfg_for(n), progress=False).summary
    by_level = s["gross_vitells"]["upcrossings_by_level"]
    points = n * m
    tails = by_level["local_tail_ratio_per_selection"][0]
    for lev, got in zip(by_level["z_levels"], tails, strict=True):
        p = norm.sf(lev / sd)
        assert abs(got - p / norm.sf(lev)) < 4 * math.sqrt(p / points) / norm.sf(lev), lev
    row = next(r for r in s["gross_vitells"]["cross_check"]["rows"] if r["z_local"] == 3.0)
    assert not row["agrees"]
    assert row["local_tail_ratio"][0] == pytest.approx(norm.sf(3 / sd) / norm.sf(3), rel=0.15)
    text = " ".join(s["warnings"])
    assert f"P(Z > 3) at fixed mass is {row['local_tail_ratio'][0]:.2f}-" in text
