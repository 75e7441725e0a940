"""The background families for high statistics against known answers (issue 20).

``exp_chebyshevN`` is ``exp_polyN`` in another basis (the same fits), ``bernstein_freeN`` fits
positive densities outside ``bernsteinN``; both agree with MINUIT at high order and follow
Chernoff's half-chi2 at 1e5 events. With toys of a smooth shape outside every family, the
fixed-mass tail is the one the truth's spurious signal predicts (the cause of the excess at
150 GeV of docs/design.md, "Spurious-signal test and background choice"), and at 2e4 events the
automatically chosen model gives P(Z >= 1.645) = 0.05 +- 0.01 at fixed mass and P(z_max >= 3)
within 30 % of Gross-Vitells on the grid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats
from scipy.special import erf, gammaln

from ganlee.seeds import numpy_rng
from ganlee.stats.fit import (
    FitSpec,
    background_family,
    candidates,
    expected_counts,
    scan_batched,
    scan_iminuit,
)
from ganlee.stats.fit.spurious import choose, spurious_scan
from ganlee.stats.lee import count_upcrossings
from ganlee.stats.lee_grid import grid_p_global

SEED = 20240607
HIGH = ("exp_chebyshev", "bernstein_free")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def spec() -> FitSpec:
    return FitSpec.from_config({})


def smooth_shape(spec: FitSpec) -> np.ndarray:
    """Bin probabilities of a turn-on times a falling exponential times a power law, a smooth
    density outside every family (its log is not a polynomial, nor is it a polynomial), shaped
    like the m_llg spectrum (maximum near 138 GeV, -40 % at 170 GeV)."""
    x = np.linspace(spec.edges[0], spec.edges[-1], 40 * 64 + 1)
    f = 0.5 * (1.0 + erf((x - 129.0) / 5.0)) * np.exp(-(x - 130.0) / 90.0) * (x / 150.0) ** -2
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    p = np.diff(np.interp(spec.edges, x, cdf))
    return p / p.sum()


def _poisson(shape: np.ndarray, n: float, toys: int, *key: object) -> np.ndarray:
    rng = numpy_rng(SEED, "test_fit_high_stats", *key)
    return rng.poisson(n * shape, size=(toys, shape.size)).astype(np.float64)


@pytest.mark.parametrize("order", [2, 7, 10])
def test_exp_chebyshev_is_exp_poly_in_another_basis(spec, order):
    """The same model (span of P_0..P_N = span of 1, t, .., t^N): the same likelihoods, Z and
    n1 and its error, to rounding."""
    y = _poisson(smooth_shape(spec), 20_000, 5, "basis", order)
    a = scan_batched(y, spec.with_background(f"exp_poly{order}"), errors=True)
    b = scan_batched(y, spec.with_background(f"exp_chebyshev{order}"), errors=True)
    assert a.n_failed == 0
    assert b.n_failed == 0
    np.testing.assert_allclose(b.lnl_b, a.lnl_b, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b.lnl_sb, a.lnl_sb, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b.n1, a.n1, rtol=1e-6, atol=1e-6)
    assert b.sb_errors is not None
    assert a.sb_errors is not None
    np.testing.assert_allclose(b.sb_errors[..., -1], a.sb_errors[..., -1], rtol=1e-6)
    # the n0 of both is the density at the reference point of its own basis (t = 0, P_k(0))
    assert b.bkg_params[0, 0] > 0


def test_bernstein_free_fits_a_density_outside_the_bounded_family(spec):
    """Asimov data (~20,000 events) of a positive density with a negative Bernstein coefficient:
    bernstein_free3 returns it; bernstein3 cannot (a coefficient on its bound, a worse
    likelihood)."""
    truth = (800.0, -100.0, 600.0, 200.0)
    nu = expected_counts(spec.with_background("bernstein_free3"), *truth)
    assert np.all(nu > 0)
    one = spec.with_masses([150.0])
    free = scan_batched(nu, one.with_background("bernstein_free3"))
    bounded = scan_batched(nu, one.with_background("bernstein3"))
    np.testing.assert_allclose(free.bkg_params[0], truth, rtol=2e-4, atol=2e-3)
    assert np.min(bounded.bkg_params[0]) == 0.0
    assert bounded.lnl_b[0] < free.lnl_b[0] - 1.0


@pytest.mark.parametrize("model", ["bernstein_free3", "bernstein_free8"])
def test_bernstein_free_with_empty_bins_against_a_constrained_optimiser(spec, model):
    """Sparse histograms of a steep spectrum (100 events, empty bins): the background-only
    maximum over ``{c : B c >= 0}`` from scipy's trust-region interior-point optimiser
    (``trust-constr``, the constraint on every bin) and the batched fits (log barrier in the
    empty bins) agree in ln L to 1e-4, and every fit converges."""
    shape = np.exp(-(spec.centers - 130.0) / 8.0)
    y = _poisson(shape / shape.sum(), 100.0, 12, "sparse", model)
    assert np.all(np.any(y == 0, axis=1))
    fam = background_family(model)
    basis = fam.basis(spec)
    res = scan_batched(y, spec.with_background(model))
    assert res.n_failed == 0
    for i in range(y.shape[0]):

        def nll(c: np.ndarray, yy: np.ndarray = y[i]) -> float:
            nu = np.maximum(basis @ c, 1e-300)
            return float(np.sum(nu - yy * np.log(nu)))

        def grad(c: np.ndarray, yy: np.ndarray = y[i]) -> np.ndarray:
            nu = np.maximum(basis @ c, 1e-300)
            return basis.T @ (1.0 - yy / nu)

        start = np.full(fam.n_par, y[i].sum() / 40.0)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            ref = optimize.minimize(
                nll,
                start,
                jac=grad,
                hess=lambda c, yy=y[i]: (
                    basis.T @ (basis * (yy / np.maximum(basis @ c, 1e-100) ** 2)[:, None])
                ),
                method="trust-constr",
                constraints=[optimize.LinearConstraint(basis, 0.0, np.inf)],
                options={"maxiter": 5000, "gtol": 1e-12, "xtol": 1e-14},
            )
        assert ref.success, ref.message
        lnl_ref = -ref.fun - float(np.sum(gammaln(y[i] + 1.0)))
        assert res.lnl_b[i] == pytest.approx(lnl_ref, abs=1e-4)


@pytest.mark.parametrize("model", ["exp_chebyshev12", "bernstein_free12"])
def test_high_orders_agree_with_iminuit(spec, model):
    """Toys of 1e5 events from the smooth shape: batched and MINUIT give the same Z (MINUIT's
    MIGRAD is the reference up to order ~15 in these bases; above it stops short of the
    maximum the Newton method finds)."""
    one = spec.with_background(model).with_masses(np.arange(137.0, 164.0, 6.0))
    y = _poisson(smooth_shape(spec), 100_000, 3, "iminuit", model)
    fast = scan_batched(y, one)
    ref = scan_iminuit(y, one, errors=False)
    assert fast.n_failed == 0
    assert ref.n_failed == 0
    assert np.max(np.abs(fast.z - ref.z)) < 0.01
    np.testing.assert_allclose(fast.lnl_b, ref.lnl_b, rtol=0, atol=1e-4)


@pytest.mark.parametrize("model", ["exp_chebyshev8", "bernstein_free8"])
def test_chernoff_at_1e5_events(spec, model):
    """Toys of 1e5 events from a member of the family (its fit to the smooth shape): at fixed
    masses P(Z = 0) = 1/2, P(Z >= 1.645) = 0.05 within 4 binomial standard errors, and the
    non-zero Z^2 follow chi2(1) (Chernoff; arXiv:1007.1727). With the bounds of bernsteinN
    active this fails at this size (docs/design.md, "LEE")."""
    n, toys = 100_000.0, 2000
    one = spec.with_background(model)
    fit = scan_batched(smooth_shape(spec) * n, one.with_masses([150.0]))
    truth = background_family(model).counts(spec, fit.bkg_params[0])
    y = numpy_rng(SEED, "test_fit_high_stats", "chernoff", model).poisson(
        truth, size=(toys, spec.nbins)
    )
    res = scan_batched(y.astype(np.float64), one.with_masses([140.0, 150.0, 160.0]))
    assert res.n_failed == 0
    for j in range(3):
        z = res.z[:, j]
        for p_true, observed in ((0.5, np.mean(z == 0.0)), (0.05, np.mean(z >= 1.645))):
            assert abs(observed - p_true) < 4.0 * math.sqrt(p_true * (1 - p_true) / toys)
        assert stats.kstest(z[z > 0] ** 2, stats.chi2(1).cdf).pvalue > 1e-3


def test_spurious_signal_predicts_the_fixed_mass_tail(spec):
    """Toys of a truth outside the fitted family: at each mass the fitted yield is shifted by
    the truth's spurious signal ``S_spur(m)``, so ``P(Z >= 1.645)`` is ``1 - Phi(1.645 - r(m))``
    with ``r = S_spur / sigma_stat`` of the Asimov spurious-signal test, not 0.05. exp_poly5 on
    the smooth shape at 2,300 events has ``r`` from -0.37 to +0.34 along the scan; the tail
    follows it at the mass of the largest and of the most negative ``r`` (the fixed-mass excess
    at 150 GeV of the last calibration is this, with ``|r| <= 0.2``: docs/design.md)."""
    n, toys = 2300.0, 6000
    shape = smooth_shape(spec)
    row = spurious_scan(shape, n, spec, "exp_poly5")
    y = _poisson(shape, n, toys, "tail")
    res = scan_batched(y, spec.with_background("exp_poly5"))
    assert res.n_failed == 0
    for j in (int(np.argmax(row["ratio"])), int(np.argmin(row["ratio"]))):
        predicted = float(stats.norm.sf(1.645 - row["ratio"][j]))
        observed = float(np.mean(res.z[:, j] >= 1.645))
        err = math.sqrt(predicted * (1 - predicted) / toys)
        assert abs(observed - predicted) < 4.0 * err, (spec.masses[j], observed, predicted)
        assert abs(observed - 0.05) > 4.0 * err  # the bias is measurable at this many toys


def test_known_answers_at_2e4_events_with_the_automatic_choice(spec):
    """Toys of 2e4 events from the smooth shape, fitted with the model the spurious-signal test
    chooses among exp_chebyshev and bernstein_free (orders 1..16): at 150 GeV P(Z >= 1.645) =
    0.05 +- 0.01 (5,000 toys: 3 binomial standard errors), and P(z_max >= 3) over the scan
    within 30 % of Gross-Vitells on the mass grid (arXiv:1005.1891; ``ganlee.stats.lee_grid``)
    from the mean number of upcrossings of Z0 = 1."""
    n, toys = 20_000.0, 5000
    shape = smooth_shape(spec)
    choice = choose(shape[None] * n, [n], spec, candidates(HIGH, 16))
    model = choice["choice"][0]
    assert choice["selections"][0]["passed"]
    res = scan_batched(_poisson(shape, n, toys, "known"), spec.with_background(model))
    assert res.n_failed == 0
    j = int(np.argmin(np.abs(spec.masses - 150.0)))
    assert abs(np.mean(res.z[:, j] >= 1.645) - 0.05) < 0.01
    up = count_upcrossings(res.z, 1.0)
    p_grid, _ = grid_p_global(3.0, up.mean(), 1.0, spec.masses.size - 1)
    p_toys = float(np.mean(res.z.max(axis=1) >= 3.0))
    assert abs(p_toys / float(p_grid) - 1.0) < 0.3, (model, p_toys, float(p_grid))
