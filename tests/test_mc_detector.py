"""The fast detector simulation on constructed particle-level events, against known answers."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest
from mc_helpers import p4

from ganlee.mc.detector import (
    ecal_resolution,
    electron_efficiency,
    hcal_resolution,
    muon_efficiency,
    muon_resolution,
    photon_efficiency,
    simulate,
)

PION, MU, ELE, PHOTON, NU = 211, 13, 11, 22, 14
MASSES = {PION: 0.13957, MU: 0.10566, ELE: 0.000511, PHOTON: 0.0, NU: 0.0}
CHARGE = {PION: 1.0, MU: -1.0, ELE: -1.0, PHOTON: 0.0, NU: 0.0}


def particles(events):
    """events: lists of (pt, eta, phi, pid) -> detector input records.

    Records hold (px, py, pz, E, pid, charge).
    """
    rows = [p4(pt, eta, phi, MASSES[abs(pid)]) for ev in events for (pt, eta, phi, pid) in ev]
    v = np.array(rows).reshape(-1, 4)
    pid = np.array([pid for ev in events for (*_, pid) in ev], np.int64)
    rec = ak.zip(
        {
            "px": v[:, 1],
            "py": v[:, 2],
            "pz": v[:, 3],
            "E": v[:, 0],
            "pid": pid,
            "charge": np.array([CHARGE[abs(p)] * np.sign(p) for p in pid]),
        }
    )
    return ak.unflatten(rec, [len(ev) for ev in events])


def spray(pt, eta, phi, n=5, pid=PION):
    """n collinear-ish hadrons sharing pt, within DeltaR 0.05 of (eta, phi)."""
    return [(pt / n, eta + 0.01 * (i - n // 2), phi + 0.01 * i, pid) for i in range(n)]


def test_efficiency_and_resolution_formulas():
    # Delphes ATLAS card values: barrel tracking x ID.
    assert electron_efficiency(np.array([50.0]), np.array([0.3]))[0] == pytest.approx(0.95 * 0.95)
    assert electron_efficiency(np.array([150.0]), np.array([2.0]))[0] == pytest.approx(0.90 * 0.85)
    assert electron_efficiency(np.array([50.0]), np.array([2.6]))[0] == 0.0
    assert muon_efficiency(np.array([50.0]), np.array([2.6]))[0] == pytest.approx(0.98 * 0.85)
    assert muon_efficiency(np.array([9.9]), np.array([0.0]))[0] == 0.0
    assert photon_efficiency(np.array([40.0]), np.array([1.6]))[0] == pytest.approx(0.85)
    assert ecal_resolution(np.array([100.0]), np.array([0.0]))[0] == pytest.approx(
        math.sqrt(0.17**2 + 0.101**2 * 100)
    )
    assert hcal_resolution(np.array([100.0]), np.array([0.0]))[0] == pytest.approx(
        math.sqrt(3.02**2 + 0.5205**2 * 100 + 1.59**2)
    )
    assert muon_resolution(np.array([100.0]), np.array([1.0]))[0] == pytest.approx(
        math.sqrt(0.015**2 + 0.015**2)
    )


def test_isolated_muon_efficiency_and_resolution_statistically():
    n = 4000
    out = simulate(particles([[(50.0, 0.2, 1.0, MU)]] * n), np.random.default_rng(1))
    found = ak.num(out["Muon"], axis=1).to_numpy()
    p = 0.99 * 0.95
    assert abs(found.mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    pt = ak.flatten(out["Muon"].PT).to_numpy()
    sigma = muon_resolution(np.array([50.0]), np.array([0.2]))[0] * 50.0
    assert abs(pt.mean() - 50.0) < 4 * sigma / math.sqrt(len(pt))
    assert pt.std() == pytest.approx(sigma, rel=0.08)
    assert ak.flatten(out["Muon"].Charge).to_list() == [-1] * len(pt)
    assert np.allclose(ak.flatten(out["Muon"].Eta).to_numpy(), 0.2)
    # Nothing else is made of a lone muon; MET balances it.
    assert ak.sum(ak.num(out["Jet"], axis=1)) == 0
    met = ak.firsts(out["MissingET"])
    has = found == 1
    assert np.allclose(met.MET.to_numpy()[has], pt, rtol=1e-5)
    assert np.allclose(np.abs(met.Phi.to_numpy()[has] - 1.0), math.pi, atol=1e-5)


@pytest.mark.parametrize(
    ("lepton", "neighbour_pt", "dr", "isolated"),
    [
        (MU, 20.0, 0.3, False),  # 20 / 50 = 0.4 > 0.25
        (MU, 8.0, 0.3, True),  # 0.16 < 0.25
        (MU, 20.0, 0.6, True),  # outside the cone
        (ELE, 10.0, 0.3, False),  # 0.2 > 0.12
        (ELE, 3.0, 0.3, True),  # 0.06 < 0.12
        (PHOTON, 10.0, 0.45, False),
    ],
)
def test_isolation(lepton, neighbour_pt, dr, isolated):
    ev = [(50.0, 0.0, 0.0, lepton), (neighbour_pt, 0.0, dr, PION)]
    out = simulate(particles([ev] * 300), np.random.default_rng(2))
    coll = {MU: "Muon", ELE: "Electron", PHOTON: "Photon"}[lepton]
    n = int(ak.sum(ak.num(out[coll], axis=1)))
    if isolated:
        assert n > 0.8 * 300
    else:
        assert n == 0


def test_other_leptons_and_neutrinos_do_not_spoil_isolation():
    ev = [(50.0, 0.0, 0.0, MU), (40.0, 0.0, 0.3, -MU), (30.0, 0.1, -0.2, NU)]
    out = simulate(particles([ev] * 300), np.random.default_rng(3))
    assert ak.sum(ak.num(out["Muon"], axis=1)) > 0.8 * 600


def test_jets_from_hadron_sprays_and_met():
    # Two 60 GeV sprays nearly back to back, one 8 GeV spray (below 20 GeV even after smearing),
    # a 12 GeV hadron at eta 5.2 (outside the calorimeter) and a 15 GeV neutrino.
    visible = spray(60.0, 0.5, 0.0) + spray(60.0, -1.0, math.pi - 0.3) + spray(8.0, 2.0, 1.5)
    ev = [*visible, (12.0, 5.2, 1.0, PION), (15.0, 0.0, -2.0, NU)]
    out = simulate(particles([ev] * 200), np.random.default_rng(4))
    assert ak.num(out["Jet"], axis=1).to_list() == [2] * 200
    eta = ak.sort(out["Jet"].Eta, axis=1).to_numpy()
    assert np.allclose(eta.mean(axis=0), [-1.0, 0.5], atol=0.02)
    pt = ak.flatten(out["Jet"].PT).to_numpy()
    assert abs(pt.mean() - 60.0) < 1.5
    assert ak.all(out["Jet"].PT[:, 0] >= out["Jet"].PT[:, 1])  # sorted by decreasing pT
    # MET = minus the visible (|eta| < 4.9) transverse momentum, up to jet smearing (~5 GeV each).
    want_x = -sum(p[0] * math.cos(p[2]) for p in visible)
    want_y = -sum(p[0] * math.sin(p[2]) for p in visible)
    met = ak.firsts(out["MissingET"])
    mex = (met.MET * np.cos(met.Phi)).to_numpy()
    mey = (met.MET * np.sin(met.Phi)).to_numpy()
    assert abs(np.mean(mex) - want_x) < 1.5
    assert abs(np.mean(mey) - want_y) < 1.5
    assert 3.0 < np.std(mex) < 9.0


def test_lost_muon_is_missing_energy():
    out = simulate(particles([[(50.0, 0.2, 1.0, MU)]] * 1000), np.random.default_rng(6))
    lost = ak.num(out["Muon"], axis=1).to_numpy() == 0
    assert 20 < lost.sum() < 120  # 1 - 0.99 x 0.95 = 6%
    assert ak.sum(ak.num(out["Jet"], axis=1)) == 0
    met = ak.firsts(out["MissingET"])
    assert np.all(met.MET.to_numpy()[lost] == 0.0)


def test_isolated_photon_is_not_a_jet_but_a_lost_one_is():
    out = simulate(particles([[(50.0, 0.3, 0.0, PHOTON)]] * 500), np.random.default_rng(5))
    n_ph = ak.num(out["Photon"], axis=1).to_numpy()
    n_jet = ak.num(out["Jet"], axis=1).to_numpy()
    assert 0.9 < n_ph.mean() < 0.99  # efficiency 0.95
    assert np.all(n_jet[n_ph == 1] == 0)
    assert np.all(n_jet[n_ph == 0] == 1)  # missed photons end up in the calorimeter jets


def test_same_seed_same_objects_and_empty_events():
    evs = [[(50.0, 0.2, 1.0, MU), (30.0, -0.5, -2.0, ELE)], [], spray(40.0, 0.0, 0.0)]
    a = simulate(particles(evs), np.random.default_rng(7))
    b = simulate(particles(evs), np.random.default_rng(7))
    for k in a:
        assert a[k].to_list() == b[k].to_list()
    assert ak.num(a["MissingET"], axis=1).to_list() == [1, 1, 1]
    assert a["MissingET"].MET[1, 0] == 0.0
