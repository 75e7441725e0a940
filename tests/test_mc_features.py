"""Selection and the 18 features on constructed events, against hand-computed kinematics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mc_helpers import REFERENCE, delphes_arrays, event, expected_cutflow, expected_features, sample

from ganlee.features import FEATURE_NAMES
from ganlee.mc.convert import build_events
from ganlee.mc.features import compute_features, select
from ganlee.mc.layouts import PRESETS
from ganlee.settings import Settings


def run(events, **overrides):
    sel = Settings.from_config({"mc": {"selection": overrides}}).mc.selection
    cands, flow = select(build_events(delphes_arrays(events), PRESETS["delphes"]), sel)
    return compute_features(cands, sel), flow


def test_reference_events_match_hand_computed_features():
    feats, flow = run([r[0] for r in REFERENCE])
    assert flow["m_llg_window"] == 3
    assert set(feats) == set(FEATURE_NAMES)
    for i, (ev, l1, l2, flav, ph, jets) in enumerate(REFERENCE):
        want = expected_features(ev, l1, l2, flav, ph, jets)
        for name in FEATURE_NAMES:
            assert feats[name][i] == pytest.approx(want[name], rel=1e-9, abs=1e-9), (i, name)


def test_known_closed_form_values():
    feats, _ = run([r[0] for r in REFERENCE])
    # Event 0: dphi = 0.1 - 2.9, deta = 0.8; event 1: dphi = 3.0 - (-0.2) wraps to 3.2 - 2 pi.
    assert feats["dphi_ll"][0] == pytest.approx(-2.8)
    assert feats["dr_ll"][0] == pytest.approx(math.hypot(0.8, 2.8))
    assert feats["dphi_ll"][1] == pytest.approx(3.2 - 2 * math.pi)
    assert feats["dr_ll"][1] == pytest.approx(math.hypot(0.3, 2 * math.pi - 3.2))
    # Massless limit: m^2 = 2 pT1 pT2 (cosh deta - cos dphi); muon masses shift it by < 1e-5.
    assert feats["m_ll"][0] == pytest.approx(
        math.sqrt(2 * 50 * 40 * (math.cosh(0.8) - math.cos(2.8))), rel=1e-5
    )
    assert feats["met"].tolist() == pytest.approx([20.0, 5.0, 12.0])
    assert feats["phi_met"].tolist() == pytest.approx([0.7, -2.0, 3.0])
    assert feats["n_jets"].tolist() == [2, 0, 0]
    assert feats["n_central_jets"].tolist() == [1, 0, 0]
    for name in ("phi_llg", "phi_ll", "dphi_ll", "dphi_met_llg"):
        assert np.all(np.abs(feats[name]) <= math.pi)


def test_cutflow_counts_each_cut_once():
    _, flow = run(sample())
    assert flow == expected_cutflow()


def test_pair_closest_to_z_and_leading_photon_chosen():
    # Event 2 of REFERENCE: mu+mu- pairs at 87.1 and 81.8 GeV and an e+e- pair at 20.6 GeV;
    # photons of 50 and 31 GeV.
    feats, _ = run([REFERENCE[2][0]])
    assert feats["m_ll"][0] == pytest.approx(87.0969, abs=1e-3)
    assert feats["m_llg"][0] == pytest.approx(146.185, abs=1e-3)
    # An e+e- pair at 89.96 GeV beats a mu+mu- pair at 95.49 GeV.
    mixed = event(
        muons=[(50.0, 0.5, 0.1, 1), (40.0, -0.3, 2.9, -1)],
        electrons=[(45.0, 0.2, 3.0, -1), (44.0, -0.1, -0.2, 1)],
        photons=[(35.0, -1.2, 1.4)],
    )
    feats, _ = run([mixed])
    assert feats["m_ll"][0] == pytest.approx(89.96, abs=1e-2)
    assert feats["m_llg"][0] == pytest.approx(142.088, abs=1e-3)


@pytest.mark.parametrize(
    ("overrides", "selected"),
    [
        ({"lep_pt_lead": 50.0}, 0),  # leading muon has exactly 50 GeV: strict >
        ({"lep_pt_lead": 49.999}, 1),
        ({"lep_pt_sublead": 40.0}, 0),  # subleading muon exactly 40 GeV
        ({"lep_pt_sublead": 39.999}, 1),
        ({"ph_pt_min": 60.0}, 0),  # photon exactly 60 GeV
        ({"ph_pt_min": 59.999}, 1),
        ({"mu_eta_max": 0.5}, 0),  # leading muon at eta exactly 0.5
        ({"mu_eta_max": 0.5001}, 1),
        ({"el_eta_max": 0.1}, 1),  # an electron limit does not touch muons
        ({"ph_eta_max": 1.0}, 0),  # photon at eta exactly 1.0
    ],
)
def test_thresholds_are_strict(overrides, selected):
    _, flow = run([REFERENCE[0][0]], **overrides)
    assert flow["m_llg_window"] == selected


def test_mass_cuts_at_threshold():
    want = expected_features(*REFERENCE[0])
    m_ll, m_llg = want["m_ll"], want["m_llg"]
    assert run([REFERENCE[0][0]], m_ll_min=m_ll - 1e-6)[1]["m_ll"] == 1
    assert run([REFERENCE[0][0]], m_ll_min=m_ll + 1e-6)[1]["m_ll"] == 0
    assert (
        run([REFERENCE[0][0]], m_llg_min=m_llg - 1e-6, m_llg_max=m_llg + 1e-6)[1]["m_llg_window"]
        == 1
    )
    assert run([REFERENCE[0][0]], m_llg_min=m_llg + 1e-6)[1]["m_llg_window"] == 0
    assert run([REFERENCE[0][0]], m_llg_max=m_llg - 1e-6)[1]["m_llg_window"] == 0


def test_delta_r_lepton_photon_exactly_at_cut():
    # Photon at (eta 0.4, phi 0), leading muon at (0, 0): DeltaR is exactly 0.4; m_llg = 146.6 GeV.
    ev = event(muons=[(60.0, 0.0, 0.0, 1), (35.0, 0.1, 2.5, -1)], photons=[(100.0, 0.4, 0.0)])
    assert run([ev])[1]["dr_lepton_photon"] == 0
    feats, flow = run([ev], dr_lep_ph_min=0.3999)
    assert flow["m_llg_window"] == 1
    assert feats["m_llg"][0] == pytest.approx(146.5748, abs=1e-3)


@pytest.mark.parametrize(
    "leptons",
    [
        {"muons": [(50.0, 0.5, 0.1, 1), (40.0, -0.3, 2.9, 1)]},  # same sign
        {"muons": [(50.0, 0.5, 0.1, -1), (40.0, -0.3, 2.9, -1)]},
        {"electrons": [(50.0, 0.5, 0.1, 1)], "muons": [(40.0, -0.3, 2.9, -1)]},  # wrong flavour
        {"muons": [(50.0, 0.5, 0.1, 1)]},  # one lepton
    ],
)
def test_no_same_flavour_opposite_charge_pair(leptons):
    _, flow = run([event(photons=[(60.0, 1.0, -1.5)], **leptons)])
    assert flow["two_sfos_leptons"] == 0


def test_jet_counting_thresholds_and_overlap():
    ev = REFERENCE[1][0]
    jets = [
        (25.0, 0.0, 0.0),  # exactly at pT 25: not counted
        (25.001, 2.5, 0.5),  # |eta| exactly 2.5: counted, not central
        (30.0, -4.5, 1.0),  # |eta| exactly 4.5: not counted
        (30.0, 4.49, 1.0),  # forward
        (30.0, -1.0, 1.5),  # 0.3 from the photon at (-1.2, 1.4): overlap, removed
        (30.0, 1.0, -2.0),  # central
    ]
    feats, _ = run([{**ev, "jets": jets}])
    assert feats["n_jets"][0] == 3
    assert feats["n_central_jets"][0] == 1
    feats, _ = run([{**ev, "jets": jets}], jet_overlap_dr_min=0.0)
    assert (feats["n_jets"][0], feats["n_central_jets"][0]) == (4, 2)


def test_empty_input_gives_empty_output():
    feats, flow = run([])
    assert flow == dict.fromkeys(expected_cutflow(), 0)
    assert all(len(v) == 0 for v in feats.values())
