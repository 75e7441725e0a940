"""The generator-vs-pool fidelity of the closure (``ganlee.validation.pool_fidelity``) against
known answers: a generator that samples the pool's own distribution sits in the MC-vs-MC null,
one with a distorted m_llg is caught by the classifier and by the ratio in the right bins."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import synthetic_events

from ganlee.features import FEATURE_NAMES
from ganlee.settings import Settings
from ganlee.validation.pool_fidelity import pool_fidelity

M = FEATURE_NAMES.index("m_llg")
WINDOW = (130.0, 170.0)

#: gan.fidelity.mllg_bin_width (4 GeV)
WIDTH = Settings.from_config({}).gan.fidelity.mllg_bin_width


def _truth(n: int, seed: int) -> np.ndarray:
    return synthetic_events(n, seed % 100_000)


def _squeezed(n: int, seed: int) -> np.ndarray:
    """The truth with m_llg pulled towards 150 GeV by 30%: too few events near the edges."""
    x = _truth(n, seed)
    x[:, M] = 150.0 + 0.7 * (x[:, M] - 150.0)
    return x


@pytest.fixture(scope="module")
def results():
    cfg = WIDTH
    pool = synthetic_events(4000, 123)  # halves of 2,000 events: one size below small=5000
    good = pool_fidelity(_truth, FEATURE_NAMES, WINDOW, pool, cfg, seed=5, splits=2)
    bad = pool_fidelity(_squeezed, FEATURE_NAMES, WINDOW, pool, cfg, seed=5, splits=2)
    return good, bad


def test_a_faithful_generator_sits_in_the_null(results):
    good, _ = results
    se = np.sqrt((2 * 1000 + 1) / (12.0 * 1000**2))  # Hanley-McNeil null std, 1000 test/class
    for auc in (*good["auc"]["values"], *good["auc"]["null_values"]):
        assert abs(auc - 0.5) < 5 * se
    assert [a["events_per_class"] for a in good["auc_by_size"]] == [2000]  # small > half
    m = good["mllg"]
    assert m["n_generated"] == 40_000
    assert sum(m["mc"]) == 4000
    assert len(m["ratio"]) == 10  # 4 GeV bins over 130-170 GeV
    pulls = (np.asarray(m["ratio"]) - 1) / np.asarray(m["ratio_error"])
    assert np.abs(pulls).max() < 4.5
    assert m["pvalue"] > 1e-4


def test_a_squeezed_mllg_is_caught_at_the_edges(results):
    _, bad = results
    assert bad["auc"]["mean"] > 0.6
    assert bad["auc_by_size"][-1]["mean"] == bad["auc"]["mean"]
    r = np.asarray(bad["mllg"]["ratio"])
    assert r[0] < 0.6  # the edge bins lose most of their events
    assert r[-1] < 0.6
    assert bad["mllg"]["max_abs_deviation"] > 0.4
    assert bad["mllg"]["pvalue"] < 1e-6


def test_a_tiny_pool_is_refused():
    cfg = WIDTH
    with pytest.raises(ValueError, match="at least 200"):
        pool_fidelity(_truth, FEATURE_NAMES, WINDOW, synthetic_events(150, 1), cfg, seed=1)


def test_the_auc_is_given_at_the_small_size_and_at_the_whole_half():
    cfg = WIDTH
    pool = synthetic_events(4000, 124)
    out = pool_fidelity(_squeezed, FEATURE_NAMES, WINDOW, pool, cfg, seed=6, splits=1, small=500)
    small, whole = out["auc_by_size"]
    assert (small["events_per_class"], whole["events_per_class"]) == (500, 2000)
    assert whole == {k: out["auc"][k] for k in whole}
    assert small["mean"] > 0.55  # the squeezed m_llg is seen with 250 training events a class
    assert whole["mean"] >= small["mean"] - 0.05  # more training events see at least as much
