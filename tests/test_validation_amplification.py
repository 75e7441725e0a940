"""GAN amplification (arXiv:2008.06545, ganlee.validation.amplification): known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from ganlee.validation.amplification import (
    amplification_study,
    equivalent_events,
    expected_truth_mse,
    quantile_edges,
    quantile_fractions,
    quantile_mse,
)

N_REF = 1_000_000
N_TRAIN = 1000


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return np.random.default_rng(0).normal(size=N_REF)


def _normal_sampler(shift: float = 0.0):
    def draw(n: int, seed: int) -> np.ndarray:
        return np.random.default_rng(1000 + seed).normal(size=n) + shift

    return draw


def test_quantile_bins_hold_equal_fractions_of_the_reference(reference):
    edges = quantile_edges(reference, 20)
    r = quantile_fractions(reference, edges)
    assert r.shape == (20,)
    assert np.allclose(r, 1 / 20, atol=2 / N_REF)
    assert np.isinf(edges[0])
    assert np.isinf(edges[-1])


def test_truth_mse_expectation_is_kappa_over_n():
    """Independent truth samples: mean MSE = kappa (1/N + 1/N_R), kappa = (1/n_q)(1 - 1/n_q)."""
    rng = np.random.default_rng(1)
    n_q, n, n_r = 10, 500, 20_000
    mses = []
    for _ in range(300):
        ref = rng.normal(size=n_r)
        e = quantile_edges(ref, n_q)
        mses.append(
            float(
                quantile_mse(quantile_fractions(rng.normal(size=n), e), quantile_fractions(ref, e))
            )
        )
    kappa = (1 / n_q) * (1 - 1 / n_q)
    expected = kappa * (1 / n + 1 / n_r)
    assert float(expected_truth_mse(n, np.full(n_q, 1 / n_q), n_r)) == pytest.approx(expected)
    sem = np.std(mses, ddof=1) / np.sqrt(len(mses))
    assert abs(np.mean(mses) - expected) < 4 * sem


def test_equivalent_events_inverts_the_truth_law():
    r = np.full(20, 0.05)
    for n in (100, 1e4, 1e6):
        assert float(equivalent_events(expected_truth_mse(n, r, 1e5), r, 1e5)) == pytest.approx(n)
    assert np.isinf(equivalent_events(0.0, r, None))


def test_exact_sampler_amplification_grows_with_its_sample(reference):
    """A sampler of the true distribution is worth as many events as it draws: A = N / N_train."""
    res = amplification_study(
        _normal_sampler(),
        reference,
        np.random.default_rng(2).normal(size=N_TRAIN),
        sizes=[1000, 10_000, 100_000],
        n_repeats=8,
        n_quantiles=20,
        n_bootstrap=20,
        seed=0,
    )
    rows = res["per_size"]
    for row in rows:
        assert row["n_equivalent"] / row["n"] == pytest.approx(1.0, rel=0.4), row
    assert rows[-1]["amplification"] > 30 * rows[0]["amplification"]
    # the training sample of the true distribution is worth about itself
    assert res["training_sample"]["n_equivalent"] / N_TRAIN == pytest.approx(1.0, rel=0.8)


def test_biased_sampler_saturates_at_kappa_over_bias(reference):
    """A shifted sampler's N_eq levels off at kappa / b^2, b^2 its quantile-bin bias."""
    shift = 0.1
    res = amplification_study(
        _normal_sampler(shift),
        reference,
        np.random.default_rng(3).normal(size=N_TRAIN),
        sizes=[3000, 30_000, 100_000],
        n_repeats=8,
        n_quantiles=20,
        n_bootstrap=20,
        seed=0,
    )
    edges = quantile_edges(reference, 20)
    g = np.diff(norm.cdf(edges - shift))
    r = quantile_fractions(reference, edges)
    kappa = float(np.mean(r * (1 - r)))
    n_sat = kappa / float(np.mean((g - r) ** 2))
    rows = res["per_size"]
    assert rows[-1]["n_equivalent"] < 0.2 * rows[-1]["n"]
    assert rows[-1]["n_equivalent"] / rows[-2]["n_equivalent"] < 1.3  # saturated
    assert res["headline"]["n_equivalent"] == pytest.approx(n_sat / (1 + n_sat / 100_000), rel=0.25)
    assert res["headline"]["resolved"]
    assert (
        res["headline"]["amplification_lo"]
        < res["headline"]["amplification"]
        < res["headline"]["amplification_hi"]
    )


def test_bootstrap_of_the_training_sample_saturates_at_the_training_sample(reference):
    """Resampling N_train events can never be worth more than the N_train events themselves."""
    train = np.random.default_rng(4).normal(size=N_TRAIN)
    res = amplification_study(
        _normal_sampler(),
        reference,
        train,
        sizes=[1000, 100_000],
        n_repeats=4,
        n_bootstrap=10,
    )
    big = res["bootstrap_of_training"][-1]
    assert big["mse"] == pytest.approx(res["training_sample"]["mse"], rel=0.1)
