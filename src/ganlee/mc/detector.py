"""A Delphes-like fast detector simulation in numpy/awkward: particles in, physics objects out.

Input: one jagged array of final-state particles per event (fields ``px, py, pz, E`` in GeV,
``pid`` the PDG id, ``charge`` in units of e, optional ``visible``). Output: the collections of
``mc_generate``'s files (``Electron``, ``Muon``, ``Photon``, ``Jet``, ``MissingET``), each a
jagged array of records ``PT, Eta, Phi`` (+ ``Charge`` for leptons; ``MET, Phi`` for missing ET),
sorted by decreasing PT as Delphes does.

Parameters follow the Delphes ATLAS card ``cards/delphes_card_ATLAS.tcl`` (Delphes 3,
arXiv:1307.6346); where we depart from the card it is said so below.

* Acceptance: visible particles (no neutrinos) with |eta| < 4.9 (calorimeter coverage).
* Electrons: tracking efficiency (card ``ElectronTrackingEfficiency``: 0.95 / 0.83 for
  1 < pT <= 100 GeV, 0.99 / 0.90 above, barrel |eta| <= 1.5 / endcap 1.5-2.5) times the
  identification efficiency (``ElectronEfficiency``: 0.95 / 0.85 for pT > 10 GeV; 0 for
  |eta| > 2.5). Energy smeared with the ECAL resolution of the card:
  sigma(E) = sqrt((0.0017 E)^2 + 0.101^2 E) for |eta| <= 3.2 (sqrt((0.035 E)^2 + 0.285^2 E) up
  to 4.9). The card smears electron tracks instead; the calorimeter term is what ATLAS measures.
* Muons: tracking efficiency (``MuonTrackingEfficiency``: 0.99 / 0.98 for pT > 1 GeV) times
  identification (``MuonEfficiency``: 0.95 for |eta| <= 1.5, 0.85 for 1.5 < |eta| <= 2.7, pT > 10
  GeV). The card's tracker stops at 2.5; we extend its endcap value to the muon spectrometer's
  2.7 so that the selection's |eta| < 2.7 means something. Relative pT resolution
  (``MuonMomentumSmearing``): sqrt(0.01^2 + (1.0e-4 pT)^2) for |eta| <= 0.5,
  sqrt(0.015^2 + (1.5e-4 pT)^2) up to 1.5, sqrt(0.025^2 + (3.5e-4 pT)^2) beyond.
* Photons: efficiency (``PhotonEfficiency``) 0.95 / 0.85 for pT > 10 GeV, |eta| <= 2.5; energy
  smeared with the ECAL resolution above.
* Isolation (card modules ``ElectronIsolation``, ``MuonIsolation``, ``PhotonIsolation``): the
  scalar pT sum of energy-flow objects with pT > 0.5 GeV within DeltaR < 0.5 of the candidate,
  divided by the candidate's pT, must stay below 0.12 (e, photon) or 0.25 (mu). The energy flow
  is the track part (charged particles) plus the calorimeter part (neutral particles); at
  particle level the two add up to all visible particles. Electrons and muons are not part of
  it (card ``EFlowFilter``) and the candidate itself is excluded.
* Jets: anti-kt (arXiv:0802.1189) with R = 0.4 (the card uses 0.6; ATLAS analyses use 0.4) via
  fastjet on all visible particles except the isolated electrons and photons and all muons
  (which leave almost no energy in the calorimeters: card ``EnergyFraction {13} {0.0}``). Jet energy
  smeared with the card's HCAL resolution: sqrt((0.0302 E)^2 + 0.5205^2 E + 1.59^2) for
  |eta| <= 1.7, sqrt((0.05 E)^2 + 0.706^2 E) up to 3.2, sqrt((0.0942 E)^2 + 1.0^2 E) up to 4.9.
  Jets with smeared pT > 20 GeV are kept (card ``JetPTMin``). No jet-energy-scale factor: it
  corrects the card's tower response, which is not simulated here.
* Missing ET: minus the vector sum of the visible final state as reconstructed: isolated
  objects and kept jets with their smeared momenta, plus everything else clustered into soft
  jets (pT < 20 GeV) at truth level. Neutrinos, particles beyond |eta| = 4.9 and muons that are
  not reconstructed as isolated muons are invisible.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import awkward as ak
import numpy as np
import vector

vector.register_awkward()

__all__ = [
    "DetectorModel",
    "ecal_resolution",
    "electron_efficiency",
    "hcal_resolution",
    "muon_efficiency",
    "muon_resolution",
    "photon_efficiency",
    "simulate",
]

_NEUTRINOS = (12, 14, 16)


@dataclasses.dataclass(frozen=True)
class DetectorModel:
    """Geometry, isolation and jet parameters (Delphes ATLAS card values unless stated)."""

    eta_calo_max: float = 4.9
    object_pt_min: float = 10.0
    iso_dr: float = 0.5
    iso_pt_min: float = 0.5
    iso_ratio_electron: float = 0.12
    iso_ratio_muon: float = 0.25
    iso_ratio_photon: float = 0.12
    jet_r: float = 0.4
    jet_pt_min: float = 20.0


def electron_efficiency(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Tracking x identification efficiency of electrons (Delphes ATLAS card)."""
    pt, aeta = np.asarray(pt, dtype=np.float64), np.abs(np.asarray(eta, dtype=np.float64))
    barrel, endcap = aeta <= 1.5, (aeta > 1.5) & (aeta <= 2.5)
    track = np.where(barrel, np.where(pt > 100.0, 0.99, 0.95), np.where(pt > 100.0, 0.90, 0.83))
    ident = np.where(barrel, 0.95, 0.85)
    return np.where((pt > 10.0) & (barrel | endcap), track * ident, 0.0)


def muon_efficiency(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Tracking x identification efficiency of muons (Delphes ATLAS card, endcap to |eta| 2.7)."""
    pt, aeta = np.asarray(pt, dtype=np.float64), np.abs(np.asarray(eta, dtype=np.float64))
    barrel = aeta <= 1.5
    eff = np.where(barrel, 0.99 * 0.95, 0.98 * 0.85)
    return np.where((pt > 10.0) & (aeta <= 2.7), eff, 0.0)


def photon_efficiency(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Photon reconstruction efficiency (Delphes ATLAS card)."""
    pt, aeta = np.asarray(pt, dtype=np.float64), np.abs(np.asarray(eta, dtype=np.float64))
    eff = np.where(aeta <= 1.5, 0.95, 0.85)
    return np.where((pt > 10.0) & (aeta <= 2.5), eff, 0.0)


def ecal_resolution(energy: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Absolute ECAL energy resolution sigma(E) in GeV (Delphes ATLAS card)."""
    e, aeta = np.asarray(energy, dtype=np.float64), np.abs(np.asarray(eta, dtype=np.float64))
    central = np.sqrt((0.0017 * e) ** 2 + 0.101**2 * e)
    forward = np.sqrt((0.0350 * e) ** 2 + 0.285**2 * e)
    return np.where(aeta <= 3.2, central, np.where(aeta <= 4.9, forward, 0.0))


def hcal_resolution(energy: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Absolute HCAL energy resolution sigma(E) in GeV, used for jets (Delphes ATLAS card)."""
    e, aeta = np.asarray(energy, dtype=np.float64), np.abs(np.asarray(eta, dtype=np.float64))
    barrel = np.sqrt((0.0302 * e) ** 2 + 0.5205**2 * e + 1.59**2)
    endcap = np.sqrt((0.0500 * e) ** 2 + 0.706**2 * e)
    forward = np.sqrt((0.0942 * e) ** 2 + 1.00**2 * e)
    return np.where(
        aeta <= 1.7, barrel, np.where(aeta <= 3.2, endcap, np.where(aeta <= 4.9, forward, 0.0))
    )


def muon_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Relative muon pT resolution sigma(pT)/pT (Delphes ATLAS card, last bin extended to 2.7)."""
    pt, aeta = np.asarray(pt, dtype=np.float64), np.abs(np.asarray(eta, dtype=np.float64))
    r1 = np.sqrt(0.010**2 + (1.0e-4 * pt) ** 2)
    r2 = np.sqrt(0.015**2 + (1.5e-4 * pt) ** 2)
    r3 = np.sqrt(0.025**2 + (3.5e-4 * pt) ** 2)
    return np.where(aeta <= 0.5, r1, np.where(aeta <= 1.5, r2, r3))


def _momenta(px: Any, py: Any, pz: Any, e: Any) -> ak.Array:
    return ak.zip({"px": px, "py": py, "pz": pz, "E": e}, with_name="Momentum4D")


def _collection(
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    counts: np.ndarray,
    charge: np.ndarray | None = None,
) -> ak.Array:
    """A jagged PT/Eta/Phi(/Charge) collection (float32 / int32), sorted by decreasing PT."""
    fields: dict[str, Any] = {
        "PT": np.asarray(pt, np.float32),
        "Eta": np.asarray(eta, np.float32),
        "Phi": np.asarray(phi, np.float32),
    }
    if charge is not None:
        fields["Charge"] = np.asarray(np.rint(charge), np.int32)
    coll = ak.unflatten(ak.zip(fields), np.asarray(counts, np.int64))
    order = ak.argsort(coll.PT, axis=1, ascending=False)
    return coll[order]


def simulate(
    particles: ak.Array,
    rng: np.random.Generator,
    model: DetectorModel | None = None,
) -> dict[str, ak.Array]:
    """Reconstruct Delphes-like objects from final-state ``particles`` (see the module docstring).

    Arguments:
        particles: jagged records with ``px, py, pz, E, pid, charge`` (and optionally ``visible``).
        rng: the random stream for efficiencies and resolutions.
        model: geometry / isolation / jet parameters.

    Returns ``{"Electron", "Muon", "Photon", "Jet", "MissingET"}`` jagged record arrays.
    """
    import fastjet

    m = model or DetectorModel()
    n_events = len(particles)
    counts_all = ak.to_numpy(ak.num(particles, axis=1))
    flat = ak.flatten(particles, axis=1)
    p4: Any = vector.array(
        {k: ak.to_numpy(flat[k]).astype(np.float64) for k in ("px", "py", "pz", "E")}
    )
    pid = ak.to_numpy(flat["pid"]).astype(np.int64)
    charge = ak.to_numpy(flat["charge"]).astype(np.float64)
    visible = (
        ak.to_numpy(flat["visible"]).astype(bool)
        if "visible" in flat.fields
        else ~np.isin(np.abs(pid), _NEUTRINOS)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        pt, eta, phi = p4.pt, p4.eta, p4.phi  # eta = +-inf for particles along the beam
    event_of = np.repeat(np.arange(n_events), counts_all)
    keep = visible & (np.abs(eta) < m.eta_calo_max)

    # Candidate electrons, muons and photons: smearing, then efficiency on the smeared pT.
    apid = np.abs(pid)
    is_e, is_mu, is_ph = apid == 11, apid == 13, pid == 22
    cand = np.flatnonzero(keep & (is_e | is_mu | is_ph) & (pt > m.object_pt_min))
    c_pt, c_eta, c_e, c_mu = pt[cand], eta[cand], p4.E[cand], is_mu[cand]
    gauss = rng.standard_normal(len(cand))
    scale = np.where(
        c_mu,
        1.0 + muon_resolution(c_pt, c_eta) * gauss,
        1.0 + ecal_resolution(c_e, c_eta) * gauss / c_e,
    )
    s_pt = c_pt * np.clip(scale, 0.0, None)
    eff = np.where(
        is_e[cand],
        electron_efficiency(s_pt, c_eta),
        np.where(c_mu, muon_efficiency(s_pt, c_eta), photon_efficiency(s_pt, c_eta)),
    )
    found = (rng.random(len(cand)) < eff) & (scale > 0)
    cand, scale, s_pt = cand[found], scale[found], s_pt[found]

    # Isolation against the energy flow (no electrons or muons; pT > iso_pt_min).
    flow = np.flatnonzero(keep & ~is_e & ~is_mu & (pt > m.iso_pt_min))
    iso_sum = _isolation_sums(cand, flow, event_of, p4, pt, m.iso_dr)
    ratio_max = np.where(
        is_e[cand],
        m.iso_ratio_electron,
        np.where(is_mu[cand], m.iso_ratio_muon, m.iso_ratio_photon),
    )
    isolated = iso_sum < ratio_max * s_pt
    obj, obj_scale = cand[isolated], scale[isolated]

    # Jets: anti-kt on the other visible particles except muons, then HCAL smearing.
    cluster = keep & ~is_mu
    cluster[obj] = False
    c_idx = np.flatnonzero(cluster)
    c_counts = np.bincount(event_of[c_idx], minlength=n_events)
    inputs = ak.unflatten(
        ak.zip({k: getattr(p4, k)[c_idx] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D"),
        c_counts,
    )
    jets = fastjet.ClusterSequence(
        inputs, fastjet.JetDefinition(fastjet.antikt_algorithm, m.jet_r)
    ).inclusive_jets(min_pt=0.0)
    j_counts = ak.to_numpy(ak.num(jets, axis=1))
    jf = ak.flatten(jets, axis=1)
    j4: Any = vector.array(
        {k: ak.to_numpy(jf[k]).astype(np.float64) for k in ("px", "py", "pz", "E")}
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        j_pt, j_eta, j_phi = j4.pt, j4.eta, j4.phi
    j_e = j4.E
    j_scale = np.clip(
        1.0 + hcal_resolution(j_e, j_eta) * rng.standard_normal(len(j_e)) / j_e, 0.0, None
    )
    j_spt = j_pt * j_scale
    hard = j_spt > m.jet_pt_min
    j_event = np.repeat(np.arange(n_events), j_counts)

    # Missing ET: minus the reconstructed visible sum (soft jets at truth level).
    o_event = event_of[obj]
    jet_w = np.where(hard, j_scale, 1.0)
    mex = -_per_event(o_event, p4.px[obj] * obj_scale, n_events) - _per_event(
        j_event, j4.px * jet_w, n_events
    )
    mey = -_per_event(o_event, p4.py[obj] * obj_scale, n_events) - _per_event(
        j_event, j4.py * jet_w, n_events
    )
    met: Any = vector.array({"px": mex, "py": mey})

    out: dict[str, ak.Array] = {}
    o_pt = pt[obj] * obj_scale
    for name, mask in (("Electron", is_e[obj]), ("Muon", is_mu[obj]), ("Photon", is_ph[obj])):
        counts = np.bincount(o_event[mask], minlength=n_events)
        chg = charge[obj][mask] if name != "Photon" else None
        out[name] = _collection(o_pt[mask], eta[obj][mask], phi[obj][mask], counts, chg)
    out["Jet"] = _collection(
        j_spt[hard], j_eta[hard], j_phi[hard], np.bincount(j_event[hard], minlength=n_events)
    )
    met_rec = ak.zip({"MET": met.rho.astype(np.float32), "Phi": met.phi.astype(np.float32)})
    out["MissingET"] = ak.unflatten(met_rec, np.ones(n_events, np.int64))
    return out


def _per_event(event: np.ndarray, weights: np.ndarray, n_events: int) -> np.ndarray:
    """Sum of ``weights`` per event index (float64 even when empty)."""
    return np.bincount(event, weights=weights, minlength=n_events).astype(np.float64)


def _isolation_sums(
    cand: np.ndarray,
    flow: np.ndarray,
    event_of: np.ndarray,
    p4: Any,
    pt: np.ndarray,
    dr_max: float,
) -> np.ndarray:
    """Scalar pT sum of ``flow`` particles within ``dr_max`` of each ``cand`` particle, same event.

    ``cand`` and ``flow`` are sorted indices into the flat particle arrays (``p4`` a vector
    numpy array); the candidate itself (same index) is excluded. Pairs are formed only within
    each event, from the contiguous range of ``flow`` that the event owns.
    """
    if len(cand) == 0:
        return np.zeros(0)
    flow_event = event_of[flow]
    lo = np.searchsorted(flow_event, event_of[cand], side="left")
    hi = np.searchsorted(flow_event, event_of[cand], side="right")
    n_pairs = hi - lo
    owner = np.repeat(np.arange(len(cand)), n_pairs)
    first = np.cumsum(n_pairs) - n_pairs
    other = flow[np.arange(int(n_pairs.sum())) - np.repeat(first, n_pairs) + np.repeat(lo, n_pairs)]
    me = cand[owner]
    inside = (p4[other].deltaR(p4[me]) < dr_max) & (other != me)
    return _per_event(owner[inside], pt[other][inside], len(cand))
