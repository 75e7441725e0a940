"""Per-toy diagnostics (toys.diagnostics): histograms, AUC, response-m_llg correlation, defaults."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import roc_auc_score
from synthetic import synthetic_events

from ganlee.chunks import (
    BACKGROUND_KEYS,
    CHUNK_KEYS,
    DIAGNOSTIC_KEYS,
    SIZE_KEYS,
    read_chunk,
    write_chunk,
)
from ganlee.config import config_hash
from ganlee.features import FEATURE_NAMES
from ganlee.io import write_features
from ganlee.settings import Settings, load_settings
from ganlee.toys.run import ToyEngine
from ganlee.toys.settings import selection_sizes, toy_config
from ganlee.toys.sources import make_source
from ganlee.toys.tensor_ops import pearson_rows, roc_auc

torch.set_num_threads(1)
CPU = torch.device("cpu")
EDGES = np.arange(130.0, 170.5, 1.0)
#: synthetic features statistically independent of m_llg (tests/synthetic.py)
INDEPENDENT = ["m_ll", "eta_ll", "met", "dr_ll"]


def _write(path, events) -> None:
    write_features(path, {name: events[:, j] for j, name in enumerate(FEATURE_NAMES)})


def _cfg(**toys) -> Settings:
    base = {
        "source": "mc_bootstrap",
        "sample1_size": 300,
        "sample2_size": 300,
        "selections": [0.1, 0.5, 1.0],
        "dnn": {"layers": [16], "epochs": 1, "batch_size": 100},
    }
    base.update(toys)
    return load_settings(json.dumps({"seed": 5, "device": "cpu", "toys": base}))


def _engine(cfg, features) -> ToyEngine:
    return ToyEngine(cfg, make_source(cfg, features, None, CPU), stream=io.StringIO())


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    path = tmp_path_factory.mktemp("diag") / "features.root"
    _write(path, synthetic_events(1500, 3))
    return path


@pytest.fixture(scope="module")
def low_mc(tmp_path_factory):
    """A large background with m_llg in [130, 145] only (small bootstrap-pool fluctuations)."""
    path = tmp_path_factory.mktemp("diag") / "low.root"
    _write(path, synthetic_events(20000, 5, window=(130.0, 145.0)))
    return path


# ------------------------------------------------------------------------------ building blocks
def test_roc_auc_known_answers():
    rng = np.random.default_rng(2)
    # ties (integer scores) against scikit-learn's implementation
    s1 = rng.integers(0, 6, size=(3, 70)).astype(np.float64)
    s2 = rng.integers(1, 7, size=(3, 50)).astype(np.float64)
    got = roc_auc(torch.as_tensor(s1), torch.as_tensor(s2)).numpy()
    for t in range(3):
        y = np.r_[np.zeros(70), np.ones(50)]
        assert got[t] == pytest.approx(roc_auc_score(y, np.r_[s1[t], s2[t]]), abs=1e-12)
    # two unit Gaussians a distance d apart: AUC = Phi(d / sqrt 2)
    d = 1.0
    a = torch.as_tensor(rng.normal(0.0, 1.0, (1, 40000)))
    b = torch.as_tensor(rng.normal(d, 1.0, (1, 40000)))
    assert float(roc_auc(a, b)[0]) == pytest.approx(stats.norm.cdf(d / math.sqrt(2)), abs=0.006)
    # all tied: 0.5; perfectly separated: 1 and 0
    z = torch.zeros(1, 5)
    assert float(roc_auc(z, torch.zeros(1, 7))[0]) == 0.5
    assert float(roc_auc(z, torch.ones(1, 7))[0]) == 1.0
    assert float(roc_auc(torch.ones(1, 7), z)[0]) == 0.0


def test_pearson_rows_matches_numpy_and_flags_constant_rows():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 300))
    y = 0.5 * x + rng.normal(size=(4, 300))
    got = pearson_rows(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    for t in range(4):
        assert got[t] == pytest.approx(np.corrcoef(x[t], y[t])[0, 1], abs=1e-12)
    anti = pearson_rows(torch.as_tensor(x[:1]), torch.as_tensor(-3 * x[:1]))
    assert float(anti[0]) == pytest.approx(-1.0)
    assert math.isnan(float(pearson_rows(torch.ones(1, 10), torch.arange(10.0)[None])[0]))


# ------------------------------------------------------------------------------ histograms
@pytest.mark.parametrize("scoring", ["train", "kfold"])
def test_counts_are_the_selections_and_counts_all_is_sample_2(mc, scoring):
    cfg = _cfg(diagnostics=True, scoring=scoring, k_folds=3, inject={"n_signal": 40})
    eng = _engine(cfg, mc)
    res = eng.run_toys(2, 3)
    K, S, nb = 3, 3, 40
    n2 = 300 + 40
    assert res["counts"].shape == (K, S, nb)
    assert res["counts"].dtype == np.float32
    assert res["counts_all"].shape == (K, nb)
    assert res["counts_all"].dtype == np.float32
    np.testing.assert_array_equal(res["edges"], EDGES)
    sizes = selection_sizes([0.1, 0.5, 1.0], n2)
    assert sizes.tolist() == [34, 170, 340]  # fractions of n2 + n_signal
    np.testing.assert_array_equal(res["counts"].sum(axis=2), np.tile(sizes, (K, 1)))
    logits, m2 = eng.score_toys(2, 3)  # the same toys, scored again
    for k, i in enumerate(range(2, 5)):
        sample2 = eng.draw_samples(i)["sample2"]
        want_all, _ = np.histogram(sample2[:, 0], bins=EDGES)
        np.testing.assert_array_equal(res["counts_all"][k], want_all)
        np.testing.assert_array_equal(res["counts"][k, -1], want_all)  # 100% = all of sample 2
        order = np.argsort(-logits[k], kind="stable")
        for s, n in enumerate(sizes):
            want, _ = np.histogram(m2[k, order[:n]], bins=EDGES)
            np.testing.assert_array_equal(res["counts"][k, s], want)
            injected = int((order[:n] >= 300).sum())  # rows 300.. of sample 2 are the signal
            assert res["n_injected_selected"][k, s] == injected
        assert res["n_injected_selected"][k, -1] == 40
        # the correlation is that of the response (sigmoid of the logit) with m_llg
        r = 1.0 / (1.0 + np.exp(-logits[k].astype(np.float64)))
        assert res["response_mllg_corr"][k] == pytest.approx(np.corrcoef(r, m2[k])[0, 1], abs=1e-9)


# ------------------------------------------------------------------------------ known cases
def _separable(low_mc, features: list[str], scoring: str = "kfold"):
    """Background below 145 GeV, 250 events injected at 160 +- 1 GeV into 1,000 (f = 0.2)."""
    cfg = _cfg(
        sample1_size=1000,
        sample2_size=1000,
        selections=[0.2, 1.0],
        scoring=scoring,
        k_folds=3,
        features=features,
        diagnostics=True,
        inject={"n_signal": 250, "mass": 160.0, "width": 1.0},
        dnn={"layers": [8], "epochs": 10, "batch_size": 100, "lr": 0.01, "decay": 0.0},
    )
    return _engine(cfg, low_mc).run_toys(0, 8)


def test_mllg_only_dnn_separates_the_signal(low_mc):
    """Input m_llg alone: the response is a function of m_llg and the signal lies above every
    background event, so a learned (increasing) response ranks it on top. Then
    AUC = (1 - f) * 1/2 + f * 1 = 0.6 (the background parts of both samples are identically
    distributed: AUC 1/2 between them, spread sqrt((n1 + n2 + 1) / (12 n1 n2)) ~ 0.013, and
    out-of-fold scoring biases it down by ~0.01 under the null), the top 20% (250 events) is the
    signal, and corr(response, m_llg) is large (a step at 150 GeV gives 0.93)."""
    res = _separable(low_mc, ["m_llg"])
    auc = res["auc"]
    assert abs(auc.mean() - 0.6) < 0.02, auc
    assert (np.abs(auc - 0.6) < 0.05).all(), auc
    assert (res["response_mllg_corr"] > 0.8).all(), res["response_mllg_corr"]
    assert np.median(res["n_injected_selected"][:, 0]) == 250
    assert (res["n_injected_selected"][:, 1] == 250).all()


def test_dnn_blind_to_mllg_sees_neither_signal_nor_mass(low_mc):
    """Inputs independent of m_llg (the injected events keep background-like values of them):
    the response is independent of m_llg, so corr ~ N(0, 1/n) (|corr| < 4 / sqrt(1250) = 0.11),
    the two samples are indistinguishable (AUC 1/2), and a selection keeps the signal only in
    proportion (the top 20% holds ~50 of the 250 injected events, binomial spread ~6)."""
    res = _separable(low_mc, INDEPENDENT)
    corr = res["response_mllg_corr"]
    assert (np.abs(corr) < 4 / math.sqrt(1250)).all(), corr
    auc = res["auc"]
    assert abs(auc.mean() - 0.5) < 0.015, auc
    sel = res["n_injected_selected"][:, 0]
    assert abs(sel.mean() - 50.0) < 4 * math.sqrt(250 * 0.2 * 0.8 / 8), sel


def test_background_only_auc_is_one_half(mc):
    """Background-only toys, k-fold scoring: AUC 1/2 up to ~0.023 (n1 = n2 = 300) per toy."""
    res = _engine(_cfg(diagnostics=True, scoring="kfold", k_folds=3), mc).run_toys(0, 6)
    sd = math.sqrt((300 + 300 + 1) / (12 * 300 * 300))
    assert (np.abs(res["auc"] - 0.5) < 4 * sd).all(), res["auc"]
    assert "n_injected_selected" not in res


# ------------------------------------------------------------------------------ defaults
def test_defaults_add_nothing_and_diagnostics_change_no_z(mc, tmp_path):
    plain = _engine(_cfg(), mc).run_toys(0, 3)
    keys = [*CHUNK_KEYS, *BACKGROUND_KEYS, *SIZE_KEYS]
    assert list(plain) == keys  # same keys, same order as before the options existed
    # the injection block at n_signal 0 (other values changed) injects nothing
    idle = _engine(_cfg(inject={"n_signal": 0, "mass": 140.0, "width": 5.0}), mc).run_toys(0, 3)
    assert list(idle) == keys
    diag = _engine(_cfg(diagnostics=True), mc).run_toys(0, 3)
    assert list(diag) == [*keys, *(k for k in DIAGNOSTIC_KEYS if k != "n_injected_selected")]
    for other in (idle, diag):
        for key in ("z", "z_max", "mass_at_max", "selection_at_max", "n_failed", "seed"):
            np.testing.assert_array_equal(plain[key], other[key])
    # the options are part of what defines a toy: they enter the config hash
    hashes = {str(r["config_hash"]) for r in (plain, idle, diag)}
    assert len(hashes) == 3
    assert str(plain["config_hash"]) == config_hash(toy_config(_cfg()))
    # and the LEE stage still reads a diagnostics chunk
    out = tmp_path / "chunk.npz"
    write_chunk(out, diag)
    assert read_chunk(out).n == 3


def test_observed_file_keeps_its_counts_and_adds_diagnostics(mc, tmp_path):
    data = synthetic_events(400, 17)
    plain = _engine(_cfg(), mc).run_observed(data)
    diag = _engine(_cfg(diagnostics=True), mc).run_observed(data)
    assert set(diag) - set(plain) == {"counts_all", "response_mllg_corr", "auc"}
    np.testing.assert_array_equal(plain["z"], diag["z"])
    assert diag["counts"].shape == (3, 40)  # (S, nbins) float64, as without diagnostics
    assert diag["counts"].dtype == np.float64
    assert diag["counts_all"].shape == (1, 40)
    want, _ = np.histogram(data[:, 0].astype(np.float32), bins=EDGES)
    np.testing.assert_array_equal(diag["counts_all"][0], want)
    assert diag["auc"].shape == (1,)
    assert diag["response_mllg_corr"].shape == (1,)
    out = tmp_path / "observed.npz"
    write_chunk(out, diag, observed=True)
    assert read_chunk(out, observed=True).counts.shape == (3, 40)
