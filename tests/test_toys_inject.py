"""Signal injection into sample 2 (toys.inject): distributions, sample 1 untouched, Asimov Z."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from synthetic import synthetic_events
from toy_helpers import train_tiny_gan

from ganlee.chunks import (
    BACKGROUND_KEYS,
    CHUNK_KEYS,
    FORMAT_KEY,
    INJECT_KEYS,
    SIZE_KEYS,
    read_chunk,
)
from ganlee.cli import main
from ganlee.config import ConfigError, config_hash, load_config
from ganlee.features import FEATURE_NAMES
from ganlee.io import write_features
from ganlee.seeds import derive_seed
from ganlee.settings import Settings, load_settings
from ganlee.stats.fit import FitSpec, scan
from ganlee.stats.significance import asimov_z
from ganlee.toys.inject import (
    signal_fractions,
    truncated_normal,
    with_mllg,
)
from ganlee.toys.run import ToyEngine
from ganlee.toys.settings import toy_config
from ganlee.toys.sources import make_source

torch.set_num_threads(1)
CPU = torch.device("cpu")
COL = {name: j for j, name in enumerate(FEATURE_NAMES)}


def _write(path, events) -> None:
    write_features(path, {name: events[:, j] for j, name in enumerate(FEATURE_NAMES)})


def _cfg(**toys) -> Settings:
    base = {
        "source": "mc_bootstrap",
        "sample1_size": 400,
        "sample2_size": 400,
        "selections": [0.2, 1.0],
        "dnn": {"layers": [8], "epochs": 1, "batch_size": 100},
    }
    base.update(toys)
    return load_settings(json.dumps({"seed": 11, "device": "cpu", "toys": base}))


def _engine(cfg, features, model=None) -> ToyEngine:
    return ToyEngine(cfg, make_source(cfg, features, model, CPU), stream=io.StringIO())


@pytest.fixture(scope="module")
def low_mc(tmp_path_factory):
    """Background whose m_llg lies in [130, 145] only: anything above 150 GeV was injected."""
    path = tmp_path_factory.mktemp("inject") / "low.root"
    _write(path, synthetic_events(3000, 5, window=(130.0, 145.0)))
    return path


@pytest.fixture(scope="module")
def mc8k(tmp_path_factory):
    events = synthetic_events(8000, 3)
    path = tmp_path_factory.mktemp("inject") / "mc8k.root"
    _write(path, events)
    return path


# ------------------------------------------------------------------------------ building blocks
def test_truncated_normal_is_the_truncated_gaussian():
    window = (130.0, 170.0)
    x = truncated_normal(4000, 168.0, 4.0, window, seed=3)
    assert x.min() >= 130.0
    assert x.max() <= 170.0
    a, b = (130.0 - 168.0) / 4.0, (170.0 - 168.0) / 4.0
    assert stats.kstest(x, stats.truncnorm(a, b, loc=168.0, scale=4.0).cdf).pvalue > 1e-3
    np.testing.assert_array_equal(x, truncated_normal(4000, 168.0, 4.0, window, seed=3))
    assert not np.array_equal(x, truncated_normal(4000, 168.0, 4.0, window, seed=4))
    # far from the edges the truncation is invisible: mean and width of N(150, 2.5)
    y = truncated_normal(20000, 150.0, 2.5, window, seed=5)
    assert y.mean() == pytest.approx(150.0, abs=4 * 2.5 / math.sqrt(20000))
    assert y.std() == pytest.approx(2.5, rel=0.03)


def test_signal_fractions_integrate_the_truncated_gaussian():
    edges = np.arange(130.0, 170.5, 1.0)
    f = signal_fractions(edges, 168.0, 4.0)
    assert f.sum() == pytest.approx(1.0, abs=1e-12)
    d = stats.truncnorm((130.0 - 168.0) / 4.0, (170.0 - 168.0) / 4.0, loc=168.0, scale=4.0)
    np.testing.assert_allclose(f, np.diff(d.cdf(edges)), rtol=1e-9, atol=1e-15)
    # central mass: symmetric about 150, about 95.4% within +-2 sigma
    g = signal_fractions(edges, 150.0, 2.5)
    np.testing.assert_allclose(g, g[::-1], atol=1e-15)
    assert g[15:25].sum() == pytest.approx(2 * stats.norm.cdf(2.0) - 1, abs=1e-6)


def test_with_mllg_recomputes_e_llg_and_pt_ratio():
    ev = torch.as_tensor(synthetic_events(200, 9), dtype=torch.float32)
    # synthetic events obey both relations exactly: replacing m_llg by itself changes nothing
    same = with_mllg(ev, ev[:, COL["m_llg"]])
    np.testing.assert_allclose(same.numpy(), ev.numpy(), rtol=2e-6)
    m = torch.full((200,), 150.0, dtype=torch.float64)
    out = with_mllg(ev, m).double().numpy()
    x = ev.double().numpy()
    p = x[:, COL["pt_llg"]] * np.cosh(x[:, COL["eta_llg"]])
    np.testing.assert_allclose(out[:, COL["m_llg"]], 150.0)
    np.testing.assert_allclose(out[:, COL["e_llg"]], np.hypot(150.0, p), rtol=1e-6)
    ratio = out[:, COL["pt_ll_over_m_llg"]]
    np.testing.assert_allclose(ratio, x[:, COL["pt_ll"]] / 150.0, rtol=1e-6)
    kept = [j for n, j in COL.items() if n not in ("m_llg", "e_llg", "pt_ll_over_m_llg")]
    np.testing.assert_array_equal(out[:, kept], x[:, kept])


def test_asimov_z_closed_form():
    # Z_A = sqrt(2((s+b) ln(1+s/b) - s)), arXiv:1007.1727 eq. 97
    assert asimov_z(10.0, 100.0) == pytest.approx(math.sqrt(2 * (110 * math.log(1.1) - 10)))
    assert asimov_z(1.0, 1e6) == pytest.approx(1.0 / 1e3, rel=1e-5)  # s << b: s / sqrt(b)
    want = [0.0, 2.0 * math.sqrt(5 * math.log(2) - 2.5)]
    np.testing.assert_allclose(asimov_z(np.array([0.0, 5.0]), 5.0), want)


def test_inject_settings_resolve_width_and_refuse_bad_values():
    s = _cfg(inject={"n_signal": 5}).injection
    assert (s.n_signal, s.mass, s.width, s.window) == (5, 150.0, 2.5, (130.0, 170.0))
    cfg = load_settings(json.dumps({"fit": {"sigma": 3.5}, "toys": {"inject": {"n_signal": 1}}}))
    assert cfg.injection.width == 3.5  # width null = fit.sigma
    assert _cfg(inject={"width": 1.5}).injection.width == 1.5
    with pytest.raises(ConfigError, match=r"toys\.inject\.mass"):
        _ = _cfg(inject={"n_signal": 3, "mass": 180.0}).injection
    with pytest.raises(ConfigError, match=r"toys\.inject\.n_signal"):
        load_config(json.dumps({"toys": {"inject": {"n_signal": -1}}}))


# ------------------------------------------------------------------------------ sample 1 / sample 2
def test_injected_events_go_to_sample_2_only(low_mc):
    """Background m_llg < 145 GeV, signal at 160 +- 1 GeV: sample 1 holds no event above 145."""
    ns = 120
    inj = _engine(_cfg(inject={"n_signal": ns, "mass": 160.0, "width": 1.0}), low_mc)
    plain = _engine(_cfg(), low_mc)
    assert (inj.n2, inj.n2_total) == (400, 400 + ns)
    for i in (0, 3):
        d, ref = inj.draw_samples(i), plain.draw_samples(i)
        s1, s2, flag = d["sample1"], d["sample2"], d["injected"]
        assert s1.shape == (400, 18)
        assert s2.shape == (400 + ns, 18)
        assert s1[:, COL["m_llg"]].max() <= 145.0, "an injected event reached sample 1"
        np.testing.assert_array_equal(s1, ref["sample1"])  # sample 1 untouched, bit for bit
        np.testing.assert_array_equal(s2[:400], ref["sample2"])  # background of sample 2 too
        assert flag.sum() == ns
        assert not ref["injected"].any()
        high = s2[:, COL["m_llg"]] > 150.0
        np.testing.assert_array_equal(high, flag)  # exactly the flagged events are the signal
        m = s2[flag, COL["m_llg"]].astype(np.float64)
        assert stats.kstest(m, stats.norm(160.0, 1.0).cdf).pvalue > 1e-3
        # the recomputed features of the injected events follow their new m_llg
        sig = s2[flag].astype(np.float64)
        p = sig[:, COL["pt_llg"]] * np.cosh(sig[:, COL["eta_llg"]])
        np.testing.assert_allclose(sig[:, COL["e_llg"]], np.hypot(m, p), rtol=1e-5)
        np.testing.assert_allclose(
            sig[:, COL["pt_ll_over_m_llg"]], sig[:, COL["pt_ll"]] / m, rtol=1e-5
        )
    # deterministic per toy seed, different between toys
    np.testing.assert_array_equal(inj.draw_samples(2)["sample2"], inj.draw_samples(2)["sample2"])
    other = inj.draw_samples(5)["sample2"][400:]
    assert not np.array_equal(inj.draw_samples(2)["sample2"][400:], other)


def test_injection_from_a_gan_source(tmp_path):
    """GAN path: the signal rows are GAN events of their own seed with m_llg replaced."""

    mc = synthetic_events(600, 4)
    features = tmp_path / "features.root"
    _write(features, mc)
    model = tmp_path / "model.pt"
    train_tiny_gan(mc, model)
    ns, i = 50, 4
    cfg = _cfg(source="gan", inject={"n_signal": ns, "mass": 140.0, "width": 2.0})
    eng = _engine(cfg, features, model)
    plain = _engine(_cfg(source="gan"), features, model)
    d, ref = eng.draw_samples(i), plain.draw_samples(i)
    np.testing.assert_array_equal(d["sample1"], ref["sample1"])
    np.testing.assert_array_equal(d["sample2"][:400], ref["sample2"])
    base = eng.source.draw("sample2", ns, derive_seed(11, "toy", i, "signal")).numpy()
    sig = d["sample2"][400:]
    m_seed = derive_seed(11, "toy", i, "signal", "m_llg")
    want_m = truncated_normal(ns, 140.0, 2.0, (130.0, 170.0), m_seed)
    np.testing.assert_allclose(sig[:, COL["m_llg"]], want_m, rtol=1e-7)
    kept = [j for n, j in COL.items() if n not in ("m_llg", "e_llg", "pt_ll_over_m_llg")]
    np.testing.assert_array_equal(sig[:, kept], base[:, kept])
    out = eng.run_toys(i, 1)
    assert out["n_injected"].tolist() == [ns]
    assert np.isfinite(out["z_max"]).all()


# ------------------------------------------------------------------------------ the physics
def test_large_signal_is_found_at_its_mass_with_the_asimov_significance(mc8k):
    """150 events at 150 GeV (sigma 2.5) on 2,000 background events: Z_A ~ 6.3 in the 100%
    selection. The reference is the fit itself on the Asimov dataset (expected background of the
    bootstrap = the sample-2 MC half's histogram scaled to n2, plus the expected signal), the
    median Z of toys (arXiv:1007.1727); the toys' Z fluctuates by ~1 around it."""
    ns, n2, K = 150, 2000, 16
    cfg = _cfg(
        sample1_size=n2,
        sample2_size=n2,
        selections=[0.2, 1.0],
        dnn={"layers": [16], "epochs": 1, "batch_size": 256},
        inject={"n_signal": ns},
    )
    eng = _engine(cfg, mc8k)
    res = eng.run_toys(0, K)
    spec = FitSpec.from_settings(cfg.fit)
    pool = eng.source.mc[torch.as_tensor(eng.source.pools["sample2"])][:, COL["m_llg"]].numpy()
    b = np.histogram(pool, spec.edges)[0] / pool.size * n2
    s = ns * signal_fractions(spec.edges, 150.0, 2.5)
    z_asimov = float(scan((b + s)[None], spec.with_masses([150.0])).z[0, 0])
    assert 5.5 < z_asimov < 7.5
    j = int(np.flatnonzero(res["masses"] == 150.0)[0])
    z100 = res["z"][:, 1, j].astype(np.float64)
    # mean of K toys with spread ~1: within 3 standard errors (+0.1 for the asymptotics)
    tol = 3 * z100.std(ddof=1) / math.sqrt(K) + 0.1
    assert abs(z100.mean() - z_asimov) < tol, (z100.mean(), z_asimov, tol)
    assert 0.6 < z100.std(ddof=1) < 1.5  # Z fluctuates by ~1 from toy to toy
    # found at the right mass in (nearly) every toy
    assert np.mean(np.abs(res["mass_at_max"] - 150.0) <= 2.0) >= 0.9
    assert (res["z_max"] >= z100 - 1e-6).all()
    # counting cross-check in +-2 sigma with known background (no shape profiling): larger
    w = (spec.edges[:-1] >= 145.0) & (spec.edges[1:] <= 155.0)
    z_count = asimov_z(s[w].sum(), b[w].sum())
    assert z_asimov < z_count < 1.3 * z_asimov


def test_injected_toys_reproduce_in_any_chunk(low_mc):
    cfg = _cfg(chunk_size=3, inject={"n_signal": 60, "mass": 160.0, "width": 1.0})
    whole = _engine(cfg, low_mc).run_toys(0, 3)
    alone = _engine(cfg, low_mc).run_toys(2, 1)
    np.testing.assert_array_equal(whole["z"][2:], alone["z"])
    assert whole["n_injected"].tolist() == [60, 60, 60]


# ------------------------------------------------------------------------------ files and CLI
def test_injection_keys_hash_and_cli(low_mc, tmp_path, capsys):
    toys = {
        "source": "mc_bootstrap",
        "sample1_size": 400,
        "sample2_size": 400,
        "selections": [0.2, 1.0],
        "dnn": {"layers": [8], "epochs": 1, "batch_size": 100},
        "inject": {"n_signal": 80, "mass": 160.0, "width": 1.0},
    }
    cfg = json.dumps({"seed": 11, "device": "cpu", "toys": toys})
    out = tmp_path / "chunk_0.npz"
    args = ["--config", cfg, "--features", str(low_mc)]
    assert main(["toys", *args, "--first", "0", "--count", "2", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as d:
        assert sorted(d.files) == sorted(
            (FORMAT_KEY, *CHUNK_KEYS, *BACKGROUND_KEYS, *SIZE_KEYS, *INJECT_KEYS)
        )
        assert d["n_injected"].dtype == np.int64
        assert d["n_injected"].tolist() == [80, 80]
        assert d["inject_mass"].shape == ()
        assert float(d["inject_mass"]) == 160.0
        assert float(d["inject_width"]) == 1.0
        # the signal sits alone above 150 GeV: the 100% selection finds it there, strongly
        assert (np.abs(d["mass_at_max"] - 160.0) <= 2.0).all()
        assert (d["z_max"] > 5.0).all()
        full = load_settings(cfg)
        assert str(d["config_hash"]) == config_hash(toy_config(full))
    read_chunk(out)  # the LEE stage reads injected chunks
    plain = load_settings(json.dumps({"seed": 11, "device": "cpu", "toys": {**toys, "inject": {}}}))
    assert config_hash(toy_config(plain)) != config_hash(toy_config(full))
    capsys.readouterr()
    assert main(["toy", *args, "--index", "1"]) == 0
    printed = capsys.readouterr().out
    assert "80 signal event(s) injected into sample 2 only" in printed
    assert "N(160, 1) GeV" in printed
    # the observed run gets the signal too
    data = tmp_path / "data.root"
    _write(data, synthetic_events(300, 21, window=(130.0, 145.0)))
    obs = tmp_path / "observed.npz"
    assert main(["observe", *args, "--data", str(data), "--out", str(obs)]) == 0
    with np.load(obs, allow_pickle=False) as d:
        assert d["n_injected"].tolist() == [80]
        assert d["counts"][1].sum() == 380  # 100% of 300 observed + 80 injected
        assert d["counts"][1][d["edges"][:-1] >= 150.0].sum() == 80
    read_chunk(obs, observed=True)


def test_selection_too_small_names_the_injection(low_mc):
    with pytest.raises(ConfigError, match="injected"):
        _engine(_cfg(selections=[0.0005, 1.0], inject={"n_signal": 10}), low_mc)
