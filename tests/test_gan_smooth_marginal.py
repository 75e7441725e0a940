"""The smooth m_llg marginal of the quantile preprocessing (``ganlee.gan.smooth_marginal``)
against known answers: events from the truncated exponential of ``tests/synthetic.py`` (CDF in
closed form), and a perfect generator (standard-normal draws decoded) that must follow the smooth
fit instead of the training sample's own fluctuations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.features import FEATURE_NAMES
from ganlee.gan.preprocess import Preprocessor
from ganlee.gan.smooth_marginal import smooth_window_quantiles

WINDOW = (130.0, 170.0)
SCALE = 12.0  # the synthetic m_llg: exp(-(m - 130) / 12) truncated to the window
M = FEATURE_NAMES.index("m_llg")


def _cdf(m: np.ndarray) -> np.ndarray:
    lo, hi = WINDOW
    return (1 - np.exp(-(m - lo) / SCALE)) / (1 - math.exp(-(hi - lo) / SCALE))


def test_smooth_density_is_closer_to_the_truth_than_the_sample_at_the_signal_scale():
    """Bin contents in 1 GeV bins: the sample's fluctuate by their Poisson error (chi2/ndf 1);
    the smooth fit keeps only what 8 B-splines can follow of them (about 8/40)."""
    m = synthetic_events(8000, 11)[:, M]
    k = 256
    q, info = smooth_window_quantiles(m, WINDOW, 8.0, k)
    assert np.all(np.diff(q) > 0)
    assert WINDOW[0] < q[0]
    assert q[-1] < WINDOW[1]
    edges = np.linspace(*WINDOW, 41)
    expect = m.size * np.diff(_cdf(edges))
    smooth = m.size * np.diff(
        np.interp(edges, np.r_[WINDOW[0], q, WINDOW[1]], np.arange(k + 1) / k)
    )
    sample = np.histogram(m, edges)[0]
    chi2_smooth = float(np.mean((smooth - expect) ** 2 / expect))
    chi2_sample = float(np.mean((sample - expect) ** 2 / expect))
    assert chi2_smooth < 0.5 * chi2_sample
    assert chi2_smooth < 0.5
    assert info["n_coefficients"] == 8  # 4 interior knots, cubic: 8 B-splines
    assert info["ndf"] == 40 - 8
    assert info["pvalue"] > 1e-3  # the spline describes an exponential


def test_a_rigid_spline_fails_its_goodness_of_fit_on_a_bumpy_spectrum():
    rng = np.random.default_rng(3)
    m = np.r_[rng.uniform(130, 170, 20_000), rng.normal(150, 2.0, 2_000)]
    _, rigid = smooth_window_quantiles(m, WINDOW, 20.0, 64)
    _, fine = smooth_window_quantiles(m, WINDOW, 2.0, 64)
    assert rigid["pvalue"] < 1e-6
    assert fine["pvalue"] > 1e-3


def _decoded_mllg_pulls(smooth: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Pulls per 1 GeV bin (in units of the training sample's Poisson error) of the training
    m_llg and of a perfect generator's (400k standard normals decoded), both against the truth."""
    x = synthetic_events(6000, 5)
    pre = Preprocessor.fit(
        x,
        FEATURE_NAMES,
        mode="quantile",
        window=WINDOW,
        rng=np.random.default_rng(1),
        derived=True,
        smooth_window=smooth,
    )
    z = torch.randn(
        400_000, pre.dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    g = pre.decode(z.float()).x[:, M].double().numpy()
    edges = np.linspace(*WINDOW, 41)
    expect = len(x) * np.diff(_cdf(edges))
    train = (np.histogram(x[:, M], edges)[0] - expect) / np.sqrt(expect)
    gen = (np.histogram(g, edges)[0] * len(x) / len(g) - expect) / np.sqrt(expect)
    return train, gen


@pytest.mark.parametrize("smooth", [None, 8.0])
def test_a_perfect_generator_copies_the_training_fluctuations_only_without_smoothing(smooth):
    train, gen = _decoded_mllg_pulls(smooth)
    r = np.corrcoef(train, gen)[0, 1]
    chi2_ndf = float(np.mean(gen**2))  # in training-sample units: 1 = the sample's own noise
    if smooth is None:
        assert r > 0.9
        assert chi2_ndf > 0.5
    else:
        assert r < 0.6
        assert chi2_ndf < 0.4


def test_the_smoothing_summary_is_saved_with_the_preprocessor():
    x = synthetic_events(3000, 6)
    pre = Preprocessor.fit(
        x, FEATURE_NAMES, mode="quantile", window=WINDOW, derived=True, smooth_window=8.0
    )
    back = Preprocessor.from_state(pre.state())
    assert back.smoothing == pre.smoothing
    assert back.smoothing["spacing_gev"] == 8.0
    np.testing.assert_array_equal(back.qmap.knots, pre.qmap.knots)
