"""Background families of the fits (ganlee.stats.fit.families) against known answers.

The reference order-2 exp-polynomial reproduces the numbers of the fits before the families
existed; every family member recovers its own truth from Asimov data, agrees between the two
backends, and passes Chernoff's half-chi2 at fixed mass and Gross-Vitells on a plain bump hunt
with toys drawn from a member of the family.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from compare import assert_same_z
from scipy import integrate, stats

from ganlee.config import ConfigError, load_config
from ganlee.seeds import numpy_rng
from ganlee.stats.fit import (
    FitSpec,
    background_family,
    candidates,
    expected_counts,
    fit_point,
    scan,
    scan_batched,
    scan_iminuit,
)
from ganlee.stats.lee import count_upcrossings, gv_p_global

SEED = 20240607
DATA = Path(__file__).parent / "data"
#: A member of each family with interior parameters (~1,700-2,500 events in [130, 170] GeV).
TRUTH = {
    "exp_poly1": (50.0, -1.0),
    "exp_poly2": (50.0, -1.0, 0.2),
    "exp_poly3": (50.0, -1.0, 0.2, 0.1),
    "exp_poly4": (50.0, -1.0, 0.2, 0.1, -0.1),
    "bernstein1": (80.0, 30.0),
    "bernstein2": (80.0, 40.0, 20.0),
    "bernstein3": (80.0, 50.0, 30.0, 20.0),
    "bernstein4": (80.0, 55.0, 40.0, 25.0, 20.0),
    "bernstein5": (80.0, 60.0, 45.0, 30.0, 25.0, 20.0),
    "exp_chebyshev3": (50.0, -0.5, 0.1, 0.05),
    "exp_chebyshev6": (50.0, -0.5, 0.1, 0.05, -0.05, 0.03, 0.02),
    # a negative coefficient: a positive density outside bernstein3
    "bernstein_free3": (80.0, -10.0, 60.0, 20.0),
    "bernstein_free6": (80.0, 60.0, -5.0, 50.0, 10.0, 30.0, 20.0),
}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def spec() -> FitSpec:
    return FitSpec.from_config(load_config(None))


def _toys(spec: FitSpec, name: str, n: int, *key: object) -> np.ndarray:
    nu = expected_counts(spec.with_background(name), *TRUTH[name])
    return numpy_rng(SEED, "test_fit_families", name, *key).poisson(nu, size=(n, spec.nbins))


def test_exp_poly2_reproduces_the_reference_fits(spec):
    """``exp_poly2`` gives the numbers of the single-model fits (tests/data/
    make_fit_reference.py, run on the code before the families): the same operations in the
    same order, so equal to rounding of the CPU's kernels (bit for bit on the CPU that wrote
    the file)."""
    ref = np.load(DATA / "fit_exp_poly2_reference.npz")
    assert spec.background == "exp_poly2"
    res = scan_batched(ref["counts"], spec, errors=True)
    np.testing.assert_array_equal(res.status, ref["status"])
    np.testing.assert_array_equal(res.bkg_status, ref["bkg_status"])
    assert_same_z(res.z, ref["z"], atol_dlnl=1e-11)
    for key in ("n1", "bkg_params", "sb_params", "lnl_b", "lnl_sb", "bkg_errors", "sb_errors"):
        np.testing.assert_allclose(getattr(res, key), ref[key], rtol=1e-11, atol=1e-12, err_msg=key)
    coarse = spec.with_masses(np.arange(135.0, 165.5, 5.0))
    im = scan_iminuit(ref["counts"][:6], coarse, errors=True)
    np.testing.assert_allclose(im.z, ref["im_z"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(im.bkg_params, ref["im_bkg_params"], rtol=1e-9, atol=1e-12)


def test_names_and_candidates():
    assert background_family("exp_poly3").param_names == ("n0", "a1", "a2", "a3")
    assert background_family("bernstein2").param_names == ("c0", "c1", "c2")
    assert candidates(["exp_poly", "bernstein"], 3) == [
        "exp_poly1",
        "bernstein1",
        "exp_poly2",
        "bernstein2",
        "exp_poly3",
        "bernstein3",
    ]
    assert background_family("exp_chebyshev2").param_names == ("n0", "b1", "b2")
    assert background_family("bernstein_free1").param_names == ("c0", "c1")
    assert candidates(["exp_chebyshev", "bernstein_free"], 20, min_order=15) == [
        "exp_chebyshev15",
        "bernstein_free15",
        "exp_chebyshev16",
        "bernstein_free16",
    ]
    for bad in ("exp_poly0", "poly2", "bernstein11", "exp_poly", "exp_chebyshev17", "bernstein_"):
        with pytest.raises(ConfigError, match=r"fit\.background"):
            FitSpec.from_config({"fit": {"background": bad}})
    with pytest.raises(ValueError, match="3 parameters"):
        expected_counts(FitSpec.from_config({}), 1.0, 2.0)


def test_bernstein_basis_is_the_exact_bin_integral(spec):
    fam = background_family("bernstein4")
    basis = fam.basis(spec)
    lo, hi = spec.edges[0], spec.edges[-1]
    for i in (0, 17, 39):
        for k in range(5):
            ref, _ = integrate.quad(
                lambda x, k=k: (
                    math.comb(4, k)
                    * ((x - lo) / (hi - lo)) ** k
                    * (1 - (x - lo) / (hi - lo)) ** (4 - k)
                ),
                spec.edges[i],
                spec.edges[i + 1],
            )
            assert basis[i, k] == pytest.approx(ref, rel=1e-12)
    # a constant density c gives c events per GeV in every bin: sum_k b_k = 1
    np.testing.assert_allclose(
        expected_counts(spec, *[7.0] * 5, background="bernstein4"), 7.0 * spec.widths, rtol=1e-12
    )


@pytest.mark.parametrize(
    ("name", "truth"),
    [*TRUTH.items(), ("bernstein3", (80.0, 0.0, 40.0, 20.0))],  # a coefficient on its bound
)
def test_asimov_fit_recovers_the_truth(spec, name, truth):
    """Asimov data of a member: both fits return its parameters and n1 = 0, Z = 0; with a
    signal on top the signal+background fit returns it."""
    one = spec.with_background(name)
    asimov = expected_counts(one, *truth)
    for backend in ("batched", "iminuit"):
        fp = fit_point(asimov, one, 150.0, backend=backend)
        assert fp["valid"]
        np.testing.assert_allclose(fp["bkg_params"], truth, rtol=2e-4, atol=2e-3)
        assert fp["z"] == pytest.approx(0.0, abs=1e-3)
    fp = fit_point(expected_counts(one, *truth, n1=150.0, mu=146.0), one, 146.0)
    np.testing.assert_allclose(fp["sb_params"], [*truth, 150.0], rtol=2e-4, atol=2e-3)


@pytest.mark.parametrize("name", list(TRUTH))
def test_batched_agrees_with_iminuit(spec, name):
    """Both backends on toys of the member, with and without a signal: |dZ| < 0.01."""
    one = spec.with_background(name).with_masses(np.arange(136.0, 165.0, 4.0))
    y = _toys(spec, name, 6, "agree").astype(np.float64)
    y[3:] += numpy_rng(SEED, "test_fit_families", name, "sig").poisson(
        100.0 * expected_counts(one, *TRUTH[name], n1=1.0, mu=148.0)
        - 100.0 * expected_counts(one, *TRUTH[name])
    )
    fast = scan(y, one, backend="batched")
    ref = scan(y, one, backend="iminuit")
    assert fast.n_failed == 0
    assert ref.n_failed == 0
    assert np.max(np.abs(fast.z - ref.z)) < 0.01
    np.testing.assert_allclose(fast.lnl_b, ref.lnl_b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", list(TRUTH))
def test_chernoff_and_gross_vitells_on_a_plain_bump_hunt(spec, name):
    """600 background-only toys of the member, masses every 0.5 GeV. At fixed mass Z^2 follows
    1/2 delta(0) + 1/2 chi2(1) (Chernoff; arXiv:1007.1727): P(Z = 0) = 1/2 and
    P(Z >= 1.645) = 0.05 within 4 binomial standard errors, KS of the non-zero Z^2 against
    chi2(1). Over the scan, P(z_max >= 2.5) agrees with Gross-Vitells (arXiv:1005.1891) from
    the upcrossings above Z0 = 1.5 within 4 binomial standard errors of the prediction (plus
    its own error)."""
    n = 600
    one = spec.with_background(name).with_masses(np.arange(135.0, 165.01, 0.5))
    res = scan_batched(_toys(spec, name, n, "chernoff"), one)
    assert res.n_failed == 0
    z = res.z[:, int(np.argmin(np.abs(one.masses - 150.0)))]
    for p_true, observed in ((0.5, np.mean(z == 0.0)), (0.05, np.mean(z >= 1.645))):
        assert abs(observed - p_true) < 4.0 * math.sqrt(p_true * (1 - p_true) / n), observed
    assert stats.kstest(z[z > 0] ** 2, stats.chi2(1).cdf).pvalue > 1e-3
    up = count_upcrossings(res.z, 1.5)
    p_gv, s_gv = gv_p_global(2.5, up.mean(), 1.5, up.std(ddof=1) / math.sqrt(n))
    p_gv, s_gv = float(p_gv), float(s_gv)
    p_toys = float(np.mean(res.z.max(axis=1) >= 2.5))
    assert abs(p_toys - p_gv) < 4.0 * math.hypot(math.sqrt(p_gv * (1 - p_gv) / n), s_gv), (
        p_toys,
        p_gv,
    )


@pytest.mark.parametrize("name", ["exp_poly2", "bernstein3"])
def test_signed_fits_allow_a_negative_yield(spec, name):
    """``signed``: a dip gives n1 < 0 and Z < 0; both backends agree; unsigned gives 0."""
    one = spec.with_background(name).with_masses([140.0, 150.0])
    nu = expected_counts(one, *TRUTH[name], n1=-60.0, mu=150.0)
    fast = scan_batched(nu, one, signed=True, errors=True)
    ref = scan_iminuit(nu, one, signed=True)
    assert fast.n1[0, 1] == pytest.approx(-60.0, rel=1e-3)
    assert fast.z[0, 1] < -1.0
    np.testing.assert_allclose(fast.z, ref.z, atol=2e-3)
    np.testing.assert_allclose(fast.n1, ref.n1, rtol=2e-3, atol=0.05)
    assert scan_batched(nu, one).z[0, 1] == 0.0


def test_per_histogram_backgrounds(spec):
    """``scan(background=[...])`` fits each histogram with its own model, as alone."""
    y = np.concatenate([_toys(spec, "exp_poly2", 3, "mix"), _toys(spec, "bernstein3", 2, "mix")])
    models = ["exp_poly2", "bernstein3", "exp_poly2", "bernstein3", "exp_poly3"]
    mixed = scan(y, spec, background=models)
    assert mixed.background == models
    assert mixed.bkg_params.shape == (5, 4)
    for i, m in enumerate(models):
        alone = scan(y[i], spec, background=m)
        assert_same_z(mixed.z[i], alone.z[0])
        p = background_family(m).n_par
        np.testing.assert_allclose(mixed.bkg_params[i, :p], alone.bkg_params[0], rtol=1e-10)
        assert np.all(np.isnan(mixed.bkg_params[i, p:]))


def test_one_model_per_histogram_is_the_plain_scan(spec):
    """A choice of the default model for every histogram runs the very same fits."""
    y = _toys(spec, "exp_poly2", 6, "same")
    plain = scan(y, spec)
    listed = scan(y, spec, background=["exp_poly2"] * 6)
    np.testing.assert_array_equal(listed.z, plain.z)
    np.testing.assert_array_equal(listed.bkg_params, plain.bkg_params)
