"""Spectrum fits (ganlee.stats.fit) against known answers.

Chernoff's half-chi-square at fixed mass, parameter pulls, the Asimov significance
(arXiv:1007.1727), analytic bin integrals, the GLM score identity sum(nu) = sum(y), and the
batched torch fits against the MINUIT reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from compare import assert_same_z
from scipy import integrate, stats

from ganlee.config import ConfigError, load_config
from ganlee.seeds import numpy_rng
from ganlee.stats.fit import (
    STATUS_EMPTY,
    STATUS_OK,
    STATUS_TOO_FEW,
    FitSpec,
    expected_counts,
    fit_point,
    scan,
    scan_batched,
    scan_iminuit,
    signal_shape,
    status_counts,
)

SEED = 20240607
TRUE_BKG = (50.0, -1.0, 0.2)  # n0 (events/GeV at 150 GeV), a, b: ~2,500 events in [130, 170]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def spec() -> FitSpec:
    return FitSpec.from_config(load_config(None))


# ------------------------------------------------------------------ spec, histogram, model


def test_default_spec(spec):
    np.testing.assert_allclose(spec.edges, np.arange(130.0, 170.5, 1.0))
    np.testing.assert_allclose(spec.masses, np.arange(135.0, 165.5, 1.0))
    assert spec.nbins == 40
    assert spec.masses.size == 31
    np.testing.assert_allclose(spec.t[[0, -1]], [(130.5 - 150) / 20, (169.5 - 150) / 20])


@pytest.mark.parametrize(
    ("fit", "key"),
    [
        ({"mass_low": 125.0}, "fit.mass_low"),
        ({"mass_high": 171.0}, "fit.mass_high"),
        ({"mass_low": 150.0, "mass_high": 140.0}, "fit.mass_high"),
        ({"bin_width": 0.0}, "fit.bin_width"),
        ({"bin_width": -1.0}, "fit.bin_width"),
        ({"bin_width": 0.7}, "fit.bin_width"),
        ({"bin_width": 10.0}, "fit.bin_width"),  # 4 bins: too few for 4 parameters
        ({"hist_high": 120.0}, "fit.hist_high"),
        ({"mass_step": 0.0}, "fit.mass_step"),
        ({"sigma": 0.0}, "fit.sigma"),
        ({"t_scale": -2.0}, "fit.t_scale"),
        ({"backend": "scipy"}, "fit.backend"),
    ],
)
def test_bad_spec_names_config_key(fit, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        FitSpec.from_config({"fit": fit})


def test_from_config_section_and_unknown_key():
    spec = FitSpec.from_config({"hist_low": 120.0, "mass_low": 125.0})  # the fit section alone
    assert spec.nbins == 50
    assert spec.masses[0] == 125.0
    with pytest.raises(ConfigError, match=r"fit\.bin_wdith"):
        FitSpec.from_config({"fit": {"bin_wdith": 2.0}})


def test_schema_rejects_zero_width():
    with pytest.raises(ConfigError, match=r"fit\.bin_width"):
        load_config('{"fit": {"bin_width": 0}}')


def test_direct_spec_checked(spec):
    with pytest.raises(ConfigError, match=r"fit\.bin_width"):
        FitSpec(edges=np.array([130.0, 140.0, 135.0, 150.0, 160.0, 170.0]), masses=[150.0])
    with pytest.raises(ConfigError, match=r"fit\.mass_high"):
        spec.with_masses([150.0, 175.0])


def test_histogram_numpy_and_torch(spec):
    m = np.array([130.0, 130.5, 131.0, 169.99, 170.0, 170.01, 129.9, 150.2, np.nan])
    expect = np.zeros(40, dtype=np.int64)
    expect[0], expect[1], expect[39], expect[20] = 2, 1, 2, 1
    got = spec.histogram(m)
    np.testing.assert_array_equal(got, expect)
    assert got.dtype == np.int64
    mt = torch.tensor(np.nan_to_num(m, nan=0.0)).repeat(3, 1)  # (3, N)
    mask = torch.ones_like(mt)
    mask[1, 7] = 0.0  # drop 150.2 from the second row
    h = spec.histogram(mt, weights=mask)
    assert h.shape == (3, 40)
    assert h.dtype == torch.float64
    np.testing.assert_array_equal(h[0].numpy(), expect)
    expect1 = expect.copy()
    expect1[20] = 0
    np.testing.assert_array_equal(h[1].numpy(), expect1)


def test_signal_shape_is_the_exact_gaussian_integral(spec):
    g = signal_shape(spec, [137.3, 150.0])
    for row, mu in zip(g, (137.3, 150.0), strict=True):
        for i in (0, 7, 20, 39):
            lo, hi = spec.edges[i], spec.edges[i + 1]
            ref, _ = integrate.quad(
                lambda x, mu=mu: stats.norm.pdf(x, mu, 2.5), lo, hi, epsabs=1e-15, epsrel=1e-12
            )
            assert row[i] == pytest.approx(ref, rel=1e-9, abs=1e-300)
        total = stats.norm.cdf(170.0, mu, 2.5) - stats.norm.cdf(130.0, mu, 2.5)
        assert row.sum() == pytest.approx(total, rel=1e-12)


def test_background_midpoint_rule_error_is_the_analytic_one(spec):
    """(exact - midpoint) / midpoint = w^2 f''/(24 f) + O(w^4), f''/f = ((a + 2bt)^2 + 2b)/s^2."""
    n0, a, b = TRUE_BKG
    nu = expected_counts(spec, n0, a, b)
    s = spec.t_scale
    for i in (0, 13, 39):
        lo, hi = spec.edges[i], spec.edges[i + 1]
        exact, _ = integrate.quad(
            lambda x: n0 * math.exp(a * (x - 150) / s + b * ((x - 150) / s) ** 2),
            lo,
            hi,
            epsabs=0,
            epsrel=1e-13,
        )
        t = spec.t[i]
        predicted = ((a + 2 * b * t) ** 2 + 2 * b) / s**2 / 24.0
        rel = (exact - nu[i]) / nu[i]
        assert abs(rel) < 1e-3
        assert rel == pytest.approx(predicted, rel=1e-2)


# ------------------------------------------------------------------ known answers


def _toys(spec, rng, n, n1=0.0, mu=None, params=TRUE_BKG):
    nu = expected_counts(spec, *params, n1=n1, mu=mu)
    return rng.poisson(nu, size=(n, spec.nbins)).astype(np.float64)


@pytest.mark.parametrize("mass", [150.0, 137.0])
def test_chernoff_half_chi2_at_fixed_mass(spec, mass):
    """Background-only toys: Z^2 ~ 1/2 delta(0) + 1/2 chi2(1) (Chernoff; arXiv:1007.1727)."""
    n = 3000
    y = _toys(spec, numpy_rng(SEED, "test_fit", "chernoff", int(mass)), n)
    res = scan_batched(y, spec.with_masses([mass]))
    assert res.n_failed == 0
    z = res.z[:, 0]
    zero = z == 0.0
    frac = zero.mean()
    assert abs(frac - 0.5) < 4.0 * math.sqrt(0.25 / n), frac
    assert np.all(res.n1[zero, 0] == 0.0)
    assert np.all(res.n1[~zero, 0] > 0.0)
    ks = stats.kstest(z[~zero] ** 2, stats.chi2(1).cdf)
    assert ks.pvalue > 1e-3, ks


def test_pulls_of_signal_plus_background_fit(spec):
    """Parameters recovered within their errors: pulls have mean 0 and width 1."""
    n, n1_true = 400, 150.0
    y = _toys(spec, numpy_rng(SEED, "test_fit", "pulls"), n, n1=n1_true, mu=150.0)
    one = spec.with_masses([150.0])
    res = scan_batched(y, one, errors=True)
    assert res.n_failed == 0
    truth = np.array([*TRUE_BKG, n1_true])
    pulls = (res.sb_params[:, 0, :] - truth) / res.sb_errors[:, 0, :]
    tol_mean = 4.0 / math.sqrt(n)
    for k, name in enumerate(("n0", "a", "b", "n1")):
        assert abs(pulls[:, k].mean()) < tol_mean, (name, pulls[:, k].mean())
        assert 0.85 < pulls[:, k].std() < 1.15, (name, pulls[:, k].std())
    # The batched errors are MINUIT's HESSE errors.
    ref = scan_iminuit(y[:4], one, errors=True)
    np.testing.assert_allclose(res.sb_errors[:4], ref.sb_errors, rtol=5e-3)
    np.testing.assert_allclose(res.bkg_errors[:4], ref.bkg_errors, rtol=5e-3)


def test_background_only_pulls(spec):
    n = 400
    y = _toys(spec, numpy_rng(SEED, "test_fit", "bkg_pulls"), n)
    res = scan_batched(y, spec.with_masses([150.0]), errors=True)
    assert np.all(res.bkg_status == 0)
    pulls = (res.bkg_params - np.array(TRUE_BKG)) / res.bkg_errors
    assert np.all(np.abs(pulls.mean(0)) < 4.0 / math.sqrt(n)), pulls.mean(0)
    assert np.all((pulls.std(0) > 0.85) & (pulls.std(0) < 1.15)), pulls.std(0)


def _fisher_sigma_n1(spec, mu):
    """sigma(n1) from the inverse Fisher matrix of (n0, a, b, n1) at the background truth."""
    n0, a, b = TRUE_BKG
    t, w = spec.t, spec.widths
    shape = w * np.exp(a * t + b * t * t)
    nu = n0 * shape
    jac = np.stack([shape, nu * t, nu * t * t, signal_shape(spec, [mu])[0]], axis=1)
    fisher = jac.T @ (jac / nu[:, None])
    return math.sqrt(np.linalg.inv(fisher)[3, 3])


def test_asimov_fit_recovers_truth_and_weak_signal_significance(spec):
    """Asimov data (expected counts): the fit returns the true parameters exactly, and for a
    weak signal Z_A = n1 / sigma(n1) with sigma from the Fisher information (arXiv:1007.1727)."""
    n1 = 20.0
    asimov = expected_counts(spec, *TRUE_BKG, n1=n1, mu=150.0)
    fp = fit_point(asimov, spec, 150.0)
    assert fp["valid"]
    # Converged to a Newton decrement < 1e-9: parameters within ~5e-5 of their errors.
    fitted = np.array([fp["n0_sb"], fp["a_sb"], fp["b_sb"], fp["n1"]])
    assert np.all(np.abs(fitted - [*TRUE_BKG, n1]) < 1e-3 * fp["sb_errors"])
    np.testing.assert_allclose(fp["expected_sb"], asimov, rtol=1e-5)
    z_fisher = n1 / _fisher_sigma_n1(spec, 150.0)
    assert fp["z"] == pytest.approx(z_fisher, rel=0.02)


def test_injected_signal_found_at_150_with_asimov_significance(spec):
    """A Gaussian of 200 events at 150 GeV: the scan maximum sits near 150 GeV, and the median
    Z at 150 GeV over toys equals the Asimov Z_A (median significance, arXiv:1007.1727)."""
    n1, n = 200.0, 300
    z_a = fit_point(expected_counts(spec, *TRUE_BKG, n1=n1, mu=150.0), spec, 150.0)["z"]
    assert 4.0 < z_a < 8.0
    y = _toys(spec, numpy_rng(SEED, "test_fit", "inject"), n, n1=n1, mu=150.0)
    res = scan_batched(y, spec)
    assert res.n_failed == 0
    m_at_max = spec.masses[np.argmax(res.z, axis=1)]
    assert np.mean(np.abs(m_at_max - 150.0) <= 3.0) > 0.95
    i150 = int(np.argmin(np.abs(spec.masses - 150.0)))
    median = np.median(res.z[:, i150])
    # The median of a unit-width Gaussian over n toys has standard error 1.2533 / sqrt(n).
    assert abs(median - z_a) < 4 * 1.2533 / math.sqrt(n), (median, z_a)
    assert np.std(res.z[:, i150]) == pytest.approx(1.0, abs=0.15)


def test_fit_point_score_identity(spec):
    """With a free normalisation, the maximum-likelihood fit has sum(nu) = sum(y)."""
    y = _toys(spec, numpy_rng(SEED, "test_fit", "identity"), 1, n1=80.0, mu=146.0)[0]
    fp = fit_point(y, spec, 146.0)
    assert fp["valid"]
    assert fp["n1"] > 0
    # Decrement < 1e-9 bounds |sum(y - nu)| by about sqrt(1e-9 sum(y)) ~ 2e-3 here.
    assert fp["expected_b"].sum() == pytest.approx(y.sum(), abs=5e-3)
    assert fp["expected_sb"].sum() == pytest.approx(y.sum(), abs=5e-3)
    assert fp["z"] == pytest.approx(math.sqrt(2 * (fp["lnl_sb"] - fp["lnl_b"])), rel=1e-12)


# ------------------------------------------------------------------ backends


def test_batched_agrees_with_iminuit(spec):
    """|dZ| < 0.01 on typical (~2,500 events), low-count (~130 events) and signal histograms."""
    rng = numpy_rng(SEED, "test_fit", "agreement")
    low = (2.5, -1.0, 0.2)
    y = np.concatenate(
        [
            _toys(spec, rng, 8),
            _toys(spec, rng, 8, params=low),
            _toys(spec, rng, 8, n1=120.0, mu=143.5),
        ]
    )
    coarse = spec.with_masses(np.arange(135.0, 165.5, 2.0))
    fast = scan(y, coarse, backend="batched")
    ref = scan(y, coarse, backend="iminuit")
    assert fast.n_failed == 0
    assert ref.n_failed == 0
    assert np.max(np.abs(fast.z - ref.z)) < 0.01
    np.testing.assert_allclose(fast.lnl_b, ref.lnl_b, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fast.bkg_params, ref.bkg_params, rtol=2e-4, atol=1e-4)
    big = fast.z > 1.0
    np.testing.assert_allclose(fast.n1[big], ref.n1[big], rtol=2e-3)
    assert np.all((fast.z == 0) == (fast.n1 == 0))


def test_batch_composition_does_not_change_a_result(spec):
    """Same histograms in other batch compositions: the same fits up to rounding of ln L."""
    y = _toys(spec, numpy_rng(SEED, "test_fit", "compose"), 12, n1=60.0, mu=155.0)
    together = scan_batched(y, spec)
    alone = scan_batched(y[5], spec)
    reversed_ = scan_batched(torch.from_numpy(y[::-1].copy()), spec)
    assert_same_z(alone.z[0], together.z[5])
    assert_same_z(reversed_.z[::-1], together.z)
    np.testing.assert_array_equal(reversed_.status[::-1], together.status)
    small = FitSpec.from_config({"fit": {"max_fits_per_pass": 7}})
    assert_same_z(scan_batched(y, small).z, together.z)
    np.testing.assert_allclose(alone.lnl_b[0], together.lnl_b[5], rtol=1e-12, atol=0)


def test_failures_are_recorded_not_hidden(spec):
    y = np.zeros((4, spec.nbins))
    y[1, [5, 9]] = [4.0, 2.0]  # two non-empty bins: the background MLE does not exist
    y[2, :] = _toys(spec, numpy_rng(SEED, "test_fit", "fail"), 1)[0]
    y[3, [3, 10, 20, 30]] = 2.0  # 8 events: fitted unless min_events asks for more
    for backend in ("batched", "iminuit"):
        res = scan(y, spec, backend=backend)
        np.testing.assert_array_equal(res.bkg_status[:3], [STATUS_EMPTY, STATUS_TOO_FEW, STATUS_OK])
        assert np.all(res.status[0] == STATUS_EMPTY)
        assert np.all(res.status[1] == STATUS_TOO_FEW)
        assert np.all(np.isnan(res.z[:2]))
        assert np.all(np.isnan(res.n1[:2]))
        assert np.all(np.isnan(res.bkg_params[:2]))
        assert np.all(np.isfinite(res.z[2]))
        assert res.n_failed >= 2 * spec.masses.size
        counts = status_counts(res.status)
        assert counts["empty"] == spec.masses.size
        assert counts["too_few_events"] == spec.masses.size
    strict = FitSpec.from_config({"fit": {"min_events": 10}})
    res = scan_batched(y, strict)
    assert res.bkg_status[3] == STATUS_TOO_FEW
    assert res.bkg_status[2] == STATUS_OK
    fp = fit_point(y[0], spec, 150.0)
    assert not fp["valid"]
    assert fp["status"] == STATUS_EMPTY
    assert math.isnan(fp["z"])


def test_bad_counts_rejected(spec):
    with pytest.raises(ValueError, match=r"\(B, 40\)"):
        scan_batched(np.ones((3, 39)), spec)
    with pytest.raises(ValueError, match=">= 0"):
        scan_batched(-np.ones(40), spec)
    with pytest.raises(ConfigError, match=r"fit\.backend"):
        scan(np.ones(40), spec, backend="nope")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(spec):
    y = _toys(spec, numpy_rng(SEED, "test_fit", "cuda"), 50, n1=60.0, mu=152.0)
    cpu = scan_batched(y, spec)
    gpu = scan_batched(torch.as_tensor(y, device="cuda"), spec)
    np.testing.assert_array_equal(gpu.status, cpu.status)
    np.testing.assert_allclose(gpu.z, cpu.z, rtol=1e-8, atol=1e-8)
    hist = spec.histogram(torch.full((2, 3), 150.5, device="cuda"))
    assert hist.device.type == "cuda"
    assert float(hist[:, 20].sum()) == 6.0
