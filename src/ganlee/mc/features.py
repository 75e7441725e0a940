"""Z-gamma selection and the 18 features, on awkward arrays with ``vector`` behaviours.

Input: an event record array with jagged ``Electron``, ``Muon`` (``Momentum4D`` + ``charge``),
``Photon``, ``Jet`` (``Momentum4D``) and one ``MET`` (``Momentum2D``) per event; ``convert``
builds it from the ROOT branches.

Selection (ATLAS Z-gamma style, e.g. arXiv:2005.05382; all thresholds from ``mc.selection``):

1. ``two_sfos_leptons``: two same-flavour opposite-charge leptons, each with pT > lep_pt_sublead
   and |eta| below el_eta_max (e) / mu_eta_max (mu);
2. ``leading_lepton_pt``: the higher-pT lepton of such a pair has pT > lep_pt_lead. Of the
   pairs left, the one with m_ll closest to m_Z = 91.1876 GeV (PDG) is the Z candidate;
3. ``photon``: a photon with pT > ph_pt_min and |eta| < ph_eta_max; the leading one is the
   photon candidate;
4. ``dr_lepton_photon``: DeltaR(lepton, photon) > dr_lep_ph_min for both leptons;
5. ``m_ll``: m_ll > m_ll_min;
6. ``m_llg_window``: m_llg_min <= m_llg <= m_llg_max.

Cuts are strict inequalities except the m_llg window, which is closed. Jets count when
pT > jet_pt_min, |eta| < jet_eta_max (central: < central_jet_eta_max) and DeltaR >
jet_overlap_dr_min from both leptons and the photon (overlap removal).

Features (branch names of ``ganlee.features.FEATURE_NAMES``): l1 is the higher-pT lepton of the
pair, ll = l1 + l2, llg = ll + photon. dphi_ll = phi(l1) - phi(l2) and dphi_met_llg =
phi(MET) - phi(llg), both wrapped into [-pi, pi); dr_ll = sqrt(deta^2 + dphi^2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np
import vector

from ganlee.settings import McSelectionSettings

vector.register_awkward()

__all__ = ["CUTS", "M_Z", "compute_features", "select"]

#: Z boson mass in GeV (PDG 2024).
M_Z = 91.1876
#: Cut names, in order, as they appear in the cut-flow (after ``all``).
CUTS: tuple[str, ...] = (
    "two_sfos_leptons",
    "leading_lepton_pt",
    "photon",
    "dr_lepton_photon",
    "m_ll",
    "m_llg_window",
)


def _sfos_pairs(leptons: ak.Array) -> ak.Array:
    """All opposite-charge pairs of one flavour as records ``(l1, l2)``, l1 the higher-pT lepton."""
    leptons = leptons[ak.argsort(leptons.pt, axis=1, ascending=False)]
    pairs = ak.combinations(leptons, 2, fields=["l1", "l2"], axis=1)
    return pairs[pairs.l1.charge * pairs.l2.charge < 0]


def select(events: ak.Array, sel: McSelectionSettings) -> tuple[dict[str, Any], dict[str, int]]:
    """Apply the selection; return the candidates of the selected events and the cut-flow.

    Returns ``(candidates, cutflow)``: ``candidates`` has ``l1``, ``l2``, ``photon`` (Momentum4D,
    one per selected event), ``met`` (Momentum2D) and ``jets`` (jagged Momentum4D) of the events
    passing every cut; ``cutflow`` maps ``all`` and each name of ``CUTS`` to the number of events
    left after it.
    """
    el, mu = events.Electron, events.Muon
    el = el[(el.pt > sel.lep_pt_sublead) & (abs(el.eta) < sel.el_eta_max)]
    mu = mu[(mu.pt > sel.lep_pt_sublead) & (abs(mu.eta) < sel.mu_eta_max)]
    pairs = ak.concatenate([_sfos_pairs(el), _sfos_pairs(mu)], axis=1)
    flow: dict[str, int] = {"all": len(events)}

    mask = ak.num(pairs, axis=1) > 0
    flow["two_sfos_leptons"] = int(ak.sum(mask))

    pairs = pairs[pairs.l1.pt > sel.lep_pt_lead]
    mask = mask & (ak.num(pairs, axis=1) > 0)
    flow["leading_lepton_pt"] = int(ak.sum(mask))

    ph = events.Photon
    ph = ph[(ph.pt > sel.ph_pt_min) & (abs(ph.eta) < sel.ph_eta_max)]
    mask = mask & (ak.num(ph, axis=1) > 0)
    flow["photon"] = int(ak.sum(mask))

    # Keep only events alive so far, then pick the candidates.
    pairs, ph, events = pairs[mask], ph[mask], events[mask]
    ll_mass = (pairs.l1 + pairs.l2).mass
    best = ak.argmin(abs(ll_mass - M_Z), axis=1, keepdims=True)
    pair = ak.firsts(pairs[best])
    l1, l2 = pair.l1, pair.l2
    gamma = ak.firsts(ph[ak.argmax(ph.pt, axis=1, keepdims=True)])

    cut = (l1.deltaR(gamma) > sel.dr_lep_ph_min) & (l2.deltaR(gamma) > sel.dr_lep_ph_min)
    flow["dr_lepton_photon"] = int(ak.sum(cut))

    ll = l1 + l2
    cut = cut & (ll.mass > sel.m_ll_min)
    flow["m_ll"] = int(ak.sum(cut))

    m_llg = (ll + gamma).mass
    cut = cut & (m_llg >= sel.m_llg_min) & (m_llg <= sel.m_llg_max)
    flow["m_llg_window"] = int(ak.sum(cut))

    cut = ak.to_numpy(ak.fill_none(cut, False)).astype(bool)
    cands = {
        "l1": l1[cut],
        "l2": l2[cut],
        "photon": gamma[cut],
        "met": events.MET[cut],
        "jets": events.Jet[cut],
    }
    return cands, flow


def compute_features(cands: Mapping[str, Any], sel: McSelectionSettings) -> dict[str, np.ndarray]:
    """The 18 features (``ganlee.features.FEATURE_NAMES``) of selected candidates (``select``)."""
    l1, l2, gamma, met, jets = (cands[k] for k in ("l1", "l2", "photon", "met", "jets"))
    ll = l1 + l2
    llg = ll + gamma
    dr_min = sel.jet_overlap_dr_min
    good = (
        (jets.pt > sel.jet_pt_min)
        & (l1.deltaR(jets) > dr_min)
        & (l2.deltaR(jets) > dr_min)
        & (gamma.deltaR(jets) > dr_min)
    )
    n_jets = ak.sum(good & (abs(jets.eta) < sel.jet_eta_max), axis=1)
    n_central = ak.sum(good & (abs(jets.eta) < sel.central_jet_eta_max), axis=1)
    cols = {
        "m_llg": llg.mass,
        "phi_llg": llg.phi,
        "eta_llg": llg.eta,
        "pt_llg": llg.pt,
        "e_llg": llg.E,
        "m_ll": ll.mass,
        "phi_ll": ll.phi,
        "eta_ll": ll.eta,
        "pt_ll": ll.pt,
        "e_ll": ll.E,
        "dr_ll": l1.deltaR(l2),
        "met": met.pt,
        "phi_met": met.phi,
        "dphi_ll": l1.deltaphi(l2),
        "dphi_met_llg": met.deltaphi(llg),
        "pt_ll_over_m_llg": ll.pt / llg.mass,
        "n_jets": n_jets,
        "n_central_jets": n_central,
    }
    return {k: np.asarray(ak.to_numpy(v)) for k, v in cols.items()}
