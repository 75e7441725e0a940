"""The fidelity gate: known answers for identical, equal and visibly different generators."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import synthetic_events

from ganlee.features import FEATURE_NAMES
from ganlee.gan.fidelity import fidelity_gate, mllg_ratio
from ganlee.settings import Settings

WINDOW = (130.0, 170.0)
FCFG = Settings.from_config({}).gan.fidelity


def test_mllg_ratio_of_identical_samples_is_one_with_poisson_errors() -> None:
    m = synthetic_events(4000, seed=1)[:, 0]
    r = mllg_ratio(m, m.copy(), WINDOW, 4.0)
    assert len(r["ratio"]) == 10
    assert r["edges"][0] == 130.0
    assert r["edges"][-1] == 170.0
    np.testing.assert_allclose(r["ratio"], 1.0)
    np.testing.assert_allclose(r["ratio_error"], np.sqrt(2.0 / np.array(r["mc"])))
    assert r["chi2"] == 0.0
    assert r["pvalue"] == 1.0
    assert r["dof"] == 10


def test_mllg_chi2_pvalue_is_uniform_for_equal_distributions() -> None:
    """Under the null the chi-square p-value is ~U[0, 1]: about 10% of trials below 0.1."""
    p = [
        mllg_ratio(
            synthetic_events(2000, 2 * i)[:, 0],
            synthetic_events(2000, 2 * i + 1)[:, 0],
            WINDOW,
            4.0,
        )["pvalue"]
        for i in range(200)
    ]
    assert 0.05 < np.mean(np.array(p) < 0.1) < 0.16


def test_gate_passes_a_perfect_generator_and_fails_a_shifted_one() -> None:
    hold = synthetic_events(4000, seed=3)
    same = synthetic_events(2000, seed=4)  # the same distribution: a perfect generator
    ok = fidelity_gate(hold, same, FEATURE_NAMES, 2000, FCFG, WINDOW, seed=5)
    assert ok["n_events"] == 2000
    assert ok["passed"], ok["message"]
    assert ok["message"].startswith("toys validated: AUC ")
    assert set(ok["checks"]) == {"auc", "ks_min_pvalue", "mllg_pvalue"}
    assert ok["checks"]["auc"]["threshold"] == FCFG.auc_max
    lo, hi = ok["auc_null"]["band_2sigma"]
    assert lo < 0.5 < hi
    assert all(lo - 0.03 < v < hi + 0.03 for v in ok["auc_null"]["values"])

    bad = same.copy()
    col = FEATURE_NAMES.index("m_llg")  # m_llg squeezed towards the window centre
    bad[:, col] = 150.0 + 0.7 * (bad[:, col] - 150.0)
    res = fidelity_gate(hold, bad, FEATURE_NAMES, 2000, FCFG, WINDOW, seed=5)
    assert not res["passed"]
    assert not res["checks"]["mllg_pvalue"]["passed"]
    assert not res["checks"]["ks_min_pvalue"]["passed"]
    assert res["ks_worst_feature"] == "m_llg"
    assert res["message"].startswith("toys not validated: ")
    assert "m_llg chi2 p" in res["message"]
    assert res["mllg_ratio"]["ratio"][0] < 0.8  # the low edge is emptied


def test_gate_uses_the_toy_size_capped_by_the_holdout() -> None:
    def toy_size(toys: dict, n_mc: int) -> int:
        return Settings.from_config({"toys": toys}).toy_sizes(n_mc=n_mc).sample1

    assert toy_size({"sample1_size": 2000}, 20000) == 2000
    assert toy_size({"sample1_size": None, "sample2_size": 300}, 20000) == 300
    assert toy_size({}, 1234) == 1234
    hold = synthetic_events(1000, seed=6)
    res = fidelity_gate(hold, synthetic_events(2000, 7), FEATURE_NAMES, 2000, FCFG, WINDOW, seed=1)
    assert res["n_events"] == 500
    with pytest.raises(ValueError, match="too few"):
        fidelity_gate(hold[:10], hold, FEATURE_NAMES, 2000, FCFG, WINDOW, seed=1)
