"""Quantile (Gaussianising) maps and the independent-quantity representation: known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from synthetic import synthetic_events

from ganlee.features import FEATURE_NAMES
from ganlee.gan.preprocess import Preprocessor, valid_mask
from ganlee.gan.transforms import QuantileMap, derive_torch, derived_columns, wrap

WINDOW = (130.0, 170.0)


def truncated_exponential(n: int, seed: int, scale: float = 12.0) -> np.ndarray:
    """Falling m_llg-like spectrum on the window: its density at both edges is far from zero."""
    lo, hi = WINDOW
    u = np.random.default_rng(seed).random(n)
    return lo - scale * np.log1p(-u * (1 - np.exp(-(hi - lo) / scale)))


def test_forward_inverse_round_trip_and_standard_normal_scores() -> None:
    rng = np.random.default_rng(0)
    y = np.column_stack(
        [truncated_exponential(20000, 1), rng.lognormal(3, 0.6, 20000), rng.normal(0, 2, 20000)]
    )
    q = QuantileMap.fit(y, [WINDOW[0], None, None], [WINDOW[1], None, None], 256)
    z = q.forward(y)
    for j in range(3):  # the training marginals become N(0, 1) (up to the knot interpolation)
        assert stats.kstest(z[:, j], "norm").statistic < 0.01
    back = q.inverse(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(back, y, rtol=1e-9, atol=1e-9)


def test_window_edges_keep_the_mc_density() -> None:
    """Gaussian scores decoded by the map reproduce the spectrum in every 1 GeV bin, the two
    edge bins included (a logit of the window would send their density to zero)."""
    y = truncated_exponential(40000, 2)[:, None]
    q = QuantileMap.fit(y, [WINDOW[0]], [WINDOW[1]], 256)
    gen = q.inverse(torch.randn(400000, 1, generator=torch.Generator().manual_seed(3))).numpy()[
        :, 0
    ]
    assert gen.min() >= WINDOW[0]
    assert gen.max() <= WINDOW[1]
    edges = np.arange(130.0, 171.0)
    # expected counts from the exact density of the truncated exponential
    cdf = 1 - np.exp(-(edges - 130.0) / 12.0)
    expected = 400000 * np.diff(cdf) / cdf[-1]
    counts, _ = np.histogram(gen, edges)
    pulls = (counts - expected) / np.sqrt(expected * (1 + 400000 / 40000))  # MC and draw noise
    assert np.abs(pulls).max() < 4.5, pulls
    assert counts[0] / expected[0] == pytest.approx(1.0, abs=0.05)
    assert counts[-1] / expected[-1] == pytest.approx(1.0, abs=0.15)


def test_soft_tails_hold_exactly_one_knot_of_probability() -> None:
    """Beyond the outermost interior knots lies probability 1/K on each side; the upper tail
    is exponential with the scale of the last quantile bin."""
    y = np.random.default_rng(4).exponential(5.0, (20000, 1)) + 1.0
    k = 64
    q = QuantileMap.fit(y, [None], [None], k)
    n = 400000
    gen = q.inverse(torch.randn(n, 1, generator=torch.Generator().manual_seed(5))).numpy()[:, 0]
    sigma = math.sqrt(n * (1 / k) * (1 - 1 / k))
    assert abs(np.sum(gen > q.knots[0, k - 1]) - n / k) < 4 * sigma
    assert abs(np.sum(gen < q.knots[0, 1]) - n / k) < 4 * sigma
    beyond = gen[gen > q.knots[0, k - 1]] - q.knots[0, k - 1]
    assert beyond.mean() == pytest.approx(q.tau_hi[0], rel=0.05)
    assert gen.max() > y.max()  # the tail reaches beyond the training maximum


def test_derived_features_are_exact() -> None:
    x = synthetic_events(2000, seed=6)
    cols = derived_columns(FEATURE_NAMES)
    assert cols is not None
    assert len(cols) == 4
    c = {n: i for i, n in enumerate(FEATURE_NAMES)}
    t = torch.from_numpy(x.copy())
    t[:, list(cols)] = float("nan")  # must be recomputed, not kept
    t[:, c["phi_ll"]] = torch.from_numpy(wrap(x[:, c["phi_ll"]] - x[:, c["phi_llg"]]))
    phi_met = wrap(x[:, c["phi_llg"]] + x[:, c["dphi_met_llg"]])
    derive_torch(t, FEATURE_NAMES)
    out = t.numpy()
    np.testing.assert_allclose(out[:, c["e_llg"]], x[:, c["e_llg"]], rtol=1e-12)
    np.testing.assert_allclose(out[:, c["e_ll"]], x[:, c["e_ll"]], rtol=1e-12)
    np.testing.assert_allclose(
        out[:, c["pt_ll_over_m_llg"]], x[:, c["pt_ll_over_m_llg"]], rtol=1e-12
    )
    np.testing.assert_allclose(out[:, c["phi_ll"]], x[:, c["phi_ll"]], atol=1e-12)
    np.testing.assert_allclose(out[:, c["phi_met"]], phi_met, atol=1e-12)
    assert derived_columns(FEATURE_NAMES[:5]) is None


@pytest.mark.parametrize("derived", [False, True])
def test_quantile_preprocessing_round_trip_and_validity(derived: bool) -> None:
    x = synthetic_events(5000, seed=7)
    pre = Preprocessor.fit(
        x,
        FEATURE_NAMES,
        mode="quantile",
        window=WINDOW,
        rng=np.random.default_rng(1),
        derived=derived,
    )
    assert pre.dim == (14 if derived else 18)
    y = pre.encode(x, np.random.default_rng(2))
    assert y.shape == (5000, pre.dim)
    # Gaussianised, except where the stand-in events have atoms (dr_ll clipped to [0.2, 5],
    # |dphi_ll| to pi)
    atoms = (FEATURE_NAMES.index("dr_ll"), FEATURE_NAMES.index("dphi_ll"))
    cols = [i for i, j in enumerate(pre.model_cols) if j not in atoms]
    assert np.abs(y[:, cols].mean(0)).max() < 0.05
    assert np.abs(y[:, cols].std(0) - 1).max() < 0.05
    dec = pre.decode(torch.from_numpy(y))
    assert bool(dec.valid.all())
    np.testing.assert_allclose(dec.x.double().numpy(), x, rtol=2e-5, atol=2e-5)
    # any generator output, however far from N(0, 1), decodes to a valid event (NaN aside)
    z = torch.randn(50000, pre.dim, generator=torch.Generator().manual_seed(8)) * 3
    z[0] = float("nan")
    d2 = pre.decode(z)
    assert not bool(d2.valid[0])
    assert bool(d2.valid[1:].all())
    assert np.all(valid_mask(d2.x[1:].double().numpy(), pre))
    # the state survives a save/load
    pre2 = Preprocessor.from_state(pre.state())
    torch.testing.assert_close(pre2.decode(z[1:100]).x, d2.x[1:100])


def test_angle_cut_moves_to_the_emptiest_direction() -> None:
    """An angle peaked at +-pi (back-to-back) is cut near 0, where its density is lowest, so the
    peak is not split between the two ends of the Gaussianised axis."""
    x = synthetic_events(5000, seed=9)
    j = FEATURE_NAMES.index("dphi_met_llg")
    rng = np.random.default_rng(10)
    x[:, j] = wrap(math.pi + rng.normal(0, 0.4, len(x)))
    pre = Preprocessor.fit(x, FEATURE_NAMES, mode="quantile", window=WINDOW, rng=rng)
    assert pre.offset is not None
    assert abs(wrap(np.array(pre.offset[j] + math.pi))) < 0.5  # cut within 0.5 rad of 0
