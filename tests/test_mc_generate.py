"""Pythia 8 generation through the detector: file format, seeds, and the physics of the sample."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import uproot
from scipy import stats

from ganlee.config import validate
from ganlee.features import FEATURE_NAMES
from ganlee.io import read_features
from ganlee.mc.convert import convert
from ganlee.mc.features import M_Z
from ganlee.mc.generate import generate, pythia_seed
from ganlee.seeds import derive_seed
from ganlee.settings import Settings

N_EVENTS = 6000  # ~6% pass the selection: a few hundred selected events in a few seconds


def _cfg(**gen):
    return Settings.from_config({"mc": {"generate": {"realism": "no_mpi", **gen}}})


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    meta = generate(
        _cfg(events_per_job=N_EVENTS, batch_size=2000),
        0,
        d / "generated_0.root",
        stream=io.StringIO(),
    )
    # Open the m_llg window to see where the events fall before that cut.
    cfg = Settings.from_config({"mc": {"selection": {"m_llg_min": 0.0, "m_llg_max": 1.0e5}}})
    convert(
        [str(d / "generated_0.root")], cfg, d / "wide.root", d / "wide.json", stream=io.StringIO()
    )
    feats = dict(zip(FEATURE_NAMES, read_features(d / "wide.root").T, strict=True))
    return d, meta, feats


def test_file_layout_and_metadata(sample):
    d, meta, _ = sample
    with uproot.open(d / "generated_0.root") as f:
        assert f.classnames()["Delphes;1"] == "TTree"
        t = f["Delphes"]
        assert t.num_entries == N_EVENTS
        for coll in ("Electron", "Muon"):
            assert {
                f"{coll}_size",
                f"{coll}.PT",
                f"{coll}.Eta",
                f"{coll}.Phi",
                f"{coll}.Charge",
            } <= set(t.keys())
        assert {"Photon.PT", "Jet.PT", "MissingET.MET", "MissingET.Phi"} <= set(t.keys())
        stored = json.loads(str(f["ganlee_generation"]))
        charges = np.concatenate([np.asarray(x) for x in t["Muon.Charge"].array(library="np")])
        met_size = t["MissingET_size"].array(library="np")
    assert stored == json.loads(json.dumps(meta))
    assert set(np.unique(charges)) <= {-1, 1}
    assert np.all(met_size == 1)
    assert meta["events"] == N_EVENTS
    assert meta["pythia_seed"] == pythia_seed(validate({})["seed"], 0)
    # Cross-section of f fbar -> Z/gamma* gamma -> l l gamma, 125 < mHat < 180 GeV: about 2 pb.
    assert 1.5 < meta["sigma_gen_pb"] < 2.7


def test_z_peak_in_m_ll(sample):
    _, _, f = sample
    m_ll = f["m_ll"]
    assert len(m_ll) > 250
    assert abs(np.median(m_ll) - M_Z) < 1.0
    assert np.mean(np.abs(m_ll - M_Z) < 10.0) > 0.85
    counts, edges = np.histogram(m_ll, bins=50, range=(40.0, 140.0))
    assert 86.0 <= edges[np.argmax(counts)] <= 94.0


def test_m_llg_populates_the_window(sample):
    _, _, f = sample
    m_llg = f["m_llg"]
    inside = (m_llg >= 130.0) & (m_llg <= 170.0)
    assert inside.mean() > 0.65  # the hard-process mass range 125-180 GeV puts most events there
    share = np.histogram(m_llg[inside], bins=4, range=(130.0, 170.0))[0] / inside.sum()
    assert np.all(share > 0.1)  # every 10 GeV slice is populated, falling with mass
    assert share[0] > share[3]


def test_features_are_physical(sample):
    _, _, f = sample
    assert np.all(f["pt_ll_over_m_llg"] > 0)
    assert np.all(f["met"] >= 0)
    assert np.all(np.abs(f["dphi_ll"]) <= np.pi)
    assert np.all(f["dr_ll"] > 0)
    # The initial-state shower reaches the hard scale (SpaceShower:pTmaxMatch = 2): jets appear.
    assert 0.15 < np.mean(f["n_jets"] >= 1) < 0.6
    assert np.all(f["n_central_jets"] <= f["n_jets"])


def test_same_index_same_events_other_index_other_events(tmp_path):
    cfg = _cfg(events_per_job=60, batch_size=25, realism="parton_shower")
    for name, index in (("a", 3), ("b", 3), ("c", 4)):
        generate(cfg, index, tmp_path / f"{name}.root", stream=io.StringIO())
    arrays = {}
    for name in "abc":
        with uproot.open(tmp_path / f"{name}.root") as f:
            arrays[name] = f["Delphes"].arrays(["Muon.PT", "Photon.PT", "Jet.PT"]).to_list()
    assert arrays["a"] == arrays["b"]
    assert arrays["a"] != arrays["c"]
    assert 1 <= pythia_seed(1, 0) <= 900_000_000
    assert pythia_seed(7, 2) == derive_seed(7, "mc_generate", 2) % 900_000_000


def _selected(tmp_path, name: str, events: int, **gen) -> tuple[np.ndarray, float]:
    """Selected features and the selected cross-section (fb) of one generation job."""
    cfg = _cfg(events_per_job=events, batch_size=2000, **gen)
    meta = generate(cfg, 0, tmp_path / f"{name}.root", stream=io.StringIO())
    convert(
        [str(tmp_path / f"{name}.root")],
        cfg,
        tmp_path / f"{name}_f.root",
        tmp_path / f"{name}.json",
        stream=io.StringIO(),
    )
    x = read_features(tmp_path / f"{name}_f.root")
    return x, meta["sigma_gen_pb"] * 1000.0 * len(x) / events


def test_default_photon_pt_hat_cut_loses_no_selected_event(tmp_path):
    """The default PhaseSpace:pTHatMin (15 GeV, for a 30 GeV photon selection) against 10 GeV:
    the same selected cross-section and the same distribution of every feature (two-sample KS,
    Bonferroni over the 18 features), at ~600 selected events each (bench/bench_mc_cuts.py
    repeats it at 5,000 and shows that 20 GeV fails)."""
    assert validate({})["mc"]["generate"]["pt_hat_min"] == 15.0
    loose, sigma_loose = _selected(tmp_path, "loose", 10000, pt_hat_min=10.0)
    tight, sigma_tight = _selected(tmp_path, "tight", 8000)
    assert len(loose) > 450
    assert len(tight) > 450
    assert len(tight) / 8000 > 1.15 * len(loose) / 10000  # the point: more selected per event
    err = np.hypot(sigma_loose / np.sqrt(len(loose)), sigma_tight / np.sqrt(len(tight)))
    assert abs(sigma_tight - sigma_loose) < 3.5 * err
    pmin = min(stats.ks_2samp(loose[:, j], tight[:, j]).pvalue for j in range(len(FEATURE_NAMES)))
    assert pmin * len(FEATURE_NAMES) > 1e-3
