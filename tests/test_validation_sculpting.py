"""Sculpting diagnostics (ganlee.validation.sculpting) on constructed histograms."""

from __future__ import annotations

import numpy as np
import pytest

from ganlee.validation.sculpting import (
    mllg_recoverability,
    rebin_counts,
    rebin_edges,
    sculpting_summary,
    shape_ratios,
    summarise_values,
)

EDGES = np.linspace(130.0, 170.0, 41)
CENTRES = 0.5 * (EDGES[1:] + EDGES[:-1])
TILT = 1.0 + 0.5 * (CENTRES - 150.0) / 20.0  # a linear sculpting, mean 1 over the window


def _constructed(k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive spectrum falling exponentially; selection 0 = inclusive x TILT x 0.1 (sculpted),
    selection 1 = the inclusive spectrum / 2 (unsculpted)."""
    incl = 1000.0 * np.exp(-(CENTRES - 130.0) / 30.0)
    counts_all = np.tile(incl, (k, 1))
    counts = np.stack([np.stack([0.1 * incl * TILT, 0.5 * incl]) for _ in range(k)])
    return counts, counts_all


def test_ratio_of_a_constructed_sculpting_is_the_imposed_shape():
    counts, counts_all = _constructed()
    r = shape_ratios(counts, counts_all)
    assert r.shape == (6, 2, 40)
    incl = counts_all[0]
    assert np.allclose(r[:, 0, :], TILT * incl.sum() / (TILT * incl).sum())  # normalised shapes
    assert np.allclose(r[:, 1, :], 1.0)


def test_summary_mean_spread_and_flatness():
    counts, counts_all = _constructed(8)
    rng = np.random.default_rng(0)
    noisy = rng.poisson(counts * 20).astype(float)
    noisy_all = rng.poisson(counts_all * 20).astype(float)
    s = sculpting_summary(noisy, noisy_all, EDGES, [0.1, 0.5], rebin=4)
    assert s["edges"].tolist() == rebin_edges(EDGES, 4).tolist()
    assert len(s["edges"]) == 11
    sculpted, flat = s["selections"]
    expected = rebin_counts(TILT * np.exp(-(CENTRES - 130.0) / 30.0), 4)
    expected = (
        expected
        / expected.sum()
        / (
            rebin_counts(np.exp(-(CENTRES - 130.0) / 30.0), 4)
            / rebin_counts(np.exp(-(CENTRES - 130.0) / 30.0), 4).sum()
        )
    )
    assert np.allclose(sculpted["ratio_mean"], expected, atol=0.05)
    assert np.all(sculpted["ratio_std"] > 0)
    assert sculpted["p_flat"] < 1e-6
    assert sculpted["max_abs_deviation"] > 0.3
    assert flat["p_flat"] > 1e-3
    assert flat["max_abs_deviation"] < 0.1
    assert flat["ndf"] == 10


def test_identical_toys_have_no_spread_and_empty_bins_are_undefined():
    counts, counts_all = _constructed(3)
    counts_all[:, :5] = 0.0
    counts[:, :, :5] = 0.0
    s = sculpting_summary(counts, counts_all, EDGES, [0.1, 0.5], rebin=1)
    row = s["selections"][1]
    assert np.all(np.isnan(row["ratio_mean"][:5]))
    assert np.allclose(row["ratio_mean"][5:], 1.0)
    assert np.allclose(row["ratio_std"][5:], 0.0)


def test_correlation_and_auc_summaries():
    s = summarise_values([0.1, 0.3, np.nan])
    assert s["n"] == 2
    assert s["mean"] == pytest.approx(0.2)
    assert s["std"] == pytest.approx(np.sqrt(0.02))
    assert summarise_values([np.nan])["mean"] is None


def test_mllg_recoverability_sees_exact_proxies():
    """m_llg = function of two other columns: R^2 ~ 1 without m_llg alone, ~ 0 without the
    proxies."""
    rng = np.random.default_rng(1)
    n = 1500
    x = rng.normal(size=(n, 5))
    x[:, 0] = 150.0 + 5.0 * x[:, 1] + 3.0 * np.tanh(x[:, 2])
    names = ["m_llg", "proxy_a", "proxy_b", "other_1", "other_2"]
    assert mllg_recoverability(x, names, ["m_llg"], seed=2, max_iter=40) > 0.9
    assert (
        mllg_recoverability(x, names, ["m_llg", "proxy_a", "proxy_b"], seed=2, max_iter=40) < 0.05
    )
