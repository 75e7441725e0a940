"""Spurious-signal test and automatic choice of the background model (ganlee.stats.fit.spurious)
against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganlee.config import ConfigError
from ganlee.seeds import derive_seed
from ganlee.stats.fit import (
    FitSpec,
    candidates,
    expected_counts,
    goodness_of_fit,
    scan_batched,
    signal_shape,
)
from ganlee.stats.fit.spurious import choose, spurious_scan
from ganlee.stats.lee import global_significance, gv_p_global

SEED = 20240607


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def spec() -> FitSpec:
    return FitSpec.from_config({})


def _fisher_sigma_n1(spec: FitSpec, bkg: np.ndarray, mu: float, jac_b: np.ndarray) -> float:
    """sigma(n1) from the inverse Fisher matrix of (background parameters, n1) at ``bkg``."""
    jac = np.column_stack([jac_b, signal_shape(spec, [mu])[0]])
    fisher = jac.T @ (jac / bkg[:, None])
    return math.sqrt(np.linalg.inv(fisher)[-1, -1])


def test_spurious_signal_of_a_known_shape(spec):
    """A template = exp_poly1 background + 40 events at 147 GeV (per 2,000): fitted with
    exp_poly1, S_spur(147) is the bump scaled to the toy size, sigma_stat the Fisher-matrix
    error of n1 at the background truth (arXiv:1007.1727), and masses far from it see
    little."""
    n0, a = 50.0, -1.0
    one = spec.with_background("exp_poly1")
    bkg = expected_counts(one, n0, a)
    tmpl = expected_counts(one, n0, a, n1=40.0, mu=147.0)
    n_toy = 10.0 * tmpl.sum()  # scaled up: bump of 400 events
    row = spurious_scan(tmpl, n_toy, one.with_masses([140.0, 147.0, 160.0]), "exp_poly1")
    assert row["n_failed"] == 0
    assert row["s_spur"][1] == pytest.approx(400.0, rel=1e-5)
    # sigma_stat at the s+b optimum on the scaled template: Fisher matrix at its expectation
    scaled = 10.0 * tmpl
    shape = 10.0 * bkg / n0
    jac_b = np.column_stack([shape, 10.0 * bkg * spec.t])
    sig = _fisher_sigma_n1(spec, scaled, 147.0, jac_b)
    assert row["sigma_stat"][1] == pytest.approx(sig, rel=1e-6)
    assert row["ratio"][1] == pytest.approx(400.0 / sig, rel=1e-5)
    assert row["max_abs_ratio"] == pytest.approx(abs(row["ratio"][1]), rel=1e-12)
    assert row["mass_at_max"] == 147.0


def test_model_inside_the_family_has_no_spurious_signal(spec):
    tmpl = expected_counts(spec.with_background("bernstein3"), 80.0, 50.0, 30.0, 20.0)
    for model in ("bernstein3", "bernstein4", "exp_poly2"):
        row = spurious_scan(tmpl, 5000.0, spec, model)
        if model.startswith("bernstein"):
            assert row["max_abs_ratio"] < 1e-3, (model, row["max_abs_ratio"])
    # the deviance at the toy size of a nested family member is ~0
    assert spurious_scan(tmpl, 5000.0, spec, "bernstein4")["deviance"] == pytest.approx(0, abs=1e-6)


def test_ratio_grows_as_sqrt_of_the_toy_size(spec):
    """S_spur is proportional to the toy size, sigma_stat to its square root (to the fits'
    convergence, ~1e-4 of sigma_stat)."""
    tmpl = expected_counts(spec.with_background("exp_poly3"), 50.0, -1.0, 0.3, 0.2)
    r1 = spurious_scan(tmpl, 1000.0, spec, "exp_poly2")
    r2 = spurious_scan(tmpl, 16000.0, spec, "exp_poly2")
    diff = np.abs(r2["s_spur"] - 16.0 * r1["s_spur"])
    assert np.all(diff < 1e-4 * r2["sigma_stat"]), np.max(diff / r2["sigma_stat"])
    np.testing.assert_allclose(r2["sigma_stat"], 4.0 * r1["sigma_stat"], rtol=1e-4)
    assert r2["max_abs_ratio"] == pytest.approx(4.0 * r1["max_abs_ratio"], abs=2e-4)


def test_choice_takes_a_higher_order_exactly_when_the_truth_needs_it(spec):
    """Truth exp_poly3 with a small cubic term: the ratio of exp_poly2 grows as sqrt(n), so it
    passes below n* = n1 (0.2 / ratio(n1))^2 and fails above; exp_poly3 always passes."""
    tmpl = expected_counts(spec.with_background("exp_poly3"), 50.0, -1.0, 0.3, 0.05)
    models = candidates(["exp_poly"], 4, min_order=2)
    r = spurious_scan(tmpl, 1000.0, spec, "exp_poly2")["max_abs_ratio"]
    n_star = 1000.0 * (0.2 / r) ** 2
    low = choose(tmpl[None], [0.8 * n_star], spec, models)
    high = choose(tmpl[None], [1.25 * n_star], spec, models)
    assert low["choice"] == ["exp_poly2"]
    assert high["choice"] == ["exp_poly3"]
    assert high["selections"][0]["passed"]
    pen = choose(tmpl[None], [100.0 * n_star], spec, models, criterion="penalised")
    assert pen["choice"] == ["exp_poly3"]  # D(exp_poly2) >> 1; exp_poly4 costs one more


def test_no_candidate_passes(spec):
    tmpl = expected_counts(spec.with_background("exp_poly4"), 50.0, -1.0, 0.3, 0.4, -0.6)
    models = ["exp_poly1", "exp_poly2"]
    with pytest.raises(ConfigError, match=r"top 5%.*best exp_poly2 with [0-9.]+ at"):
        choose(tmpl[None], [50_000], spec, models, labels=["top 5%"])
    warned = choose(tmpl[None], [50_000], spec, models, on_fail="warn", labels=["top 5%"])
    assert warned["choice"] == ["exp_poly2"]
    assert "no candidate passes" in warned["warnings"][0]
    assert not warned["selections"][0]["passed"]


def test_gross_vitells_is_clipped_and_labelled():
    """At low Z the Gross-Vitells formula exceeds 1: reported as min(p, 1), an upper bound."""
    raw, _ = gv_p_global(0.5, 5.0, 1.0, clip=False)
    assert float(raw) > 1.0
    p, _ = gv_p_global(np.array([0.5, 4.0]), 5.0, 1.0)
    assert p[0] == 1.0
    assert p[1] == pytest.approx(float(gv_p_global(4.0, 5.0, 1.0, clip=False)[0]), rel=1e-15)
    gv = {"z0": 1.0, "n_mean": 5.0, "n_err": 0.1, "n_local": 1}
    out = global_significance(0.5, np.sort(np.linspace(0, 3, 100)), gv, 0.6827, gv)
    block = out["gross_vitells"]
    assert block["p_global"] == 1.0
    assert block["clipped"]
    assert block["p_global_is"] == "upper_bound"
    assert block["z_global_is"] == "lower_bound"
    assert block["p_global_unclipped"] == pytest.approx(float(raw))
    assert out["gross_vitells_scan"]["p_global_is"] == "approximation"


def test_goodness_of_fit_is_calibrated(spec):
    """Background-only toys of the fitted family: the saturated-likelihood p-value is uniform
    (P(p < 0.05) = 0.05 within 4 binomial errors), <D> = ndf and <chi2/ndf> = 1 within 4
    standard errors (Baker & Cousins 1984)."""
    n = 1000
    nu = expected_counts(spec, 50.0, -1.0, 0.2)
    y = np.random.default_rng(derive_seed(SEED, "gof")).poisson(nu, size=(n, spec.nbins))
    one = spec.with_masses([150.0])
    g = goodness_of_fit(y, scan_batched(y, one), one)
    assert np.all(g["ndf"] == spec.nbins - 3)
    frac = float(np.mean(g["p_value"] < 0.05))
    assert abs(frac - 0.05) < 4 * math.sqrt(0.05 * 0.95 / n), frac
    ndf = spec.nbins - 3
    assert abs(g["deviance"].mean() - ndf) < 4 * math.sqrt(2 * ndf / n)
    assert abs(g["chi2_ndf"].mean() - 1.0) < 4 * math.sqrt(2 / ndf / n)
    # a shape the model cannot follow is rejected
    bad = expected_counts(spec.with_background("exp_poly4"), 50.0, -1.0, 0.3, 0.6, -0.8)
    yb = np.random.default_rng(derive_seed(SEED, "gof", "bad")).poisson(10 * bad, size=(5, 40))
    assert np.all(goodness_of_fit(yb, scan_batched(yb, one), one)["p_value"] < 1e-3)
