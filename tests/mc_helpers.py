"""Constructed detector-level events for the MC tests, written in every supported ROOT layout.

An event is a dict with lists of objects: ``electrons`` / ``muons`` as (pt, eta, phi, charge),
``photons`` / ``jets`` as (pt, eta, phi), and ``met`` as (met, phi). Expected kinematics in the
tests are computed by hand (``p4`` and plain numpy below), independently of ``vector``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

M_E = 0.000510999
M_MU = 0.1056584
COLLS = {"Electron": "electrons", "Muon": "muons", "Photon": "photons", "Jet": "jets"}
MASS = {"Electron": M_E, "Muon": M_MU, "Photon": 0.0, "Jet": 0.0}


def event(
    electrons: list[tuple[float, float, float, int]] | None = None,
    muons: list[tuple[float, float, float, int]] | None = None,
    photons: list[tuple[float, float, float]] | None = None,
    jets: list[tuple[float, float, float]] | None = None,
    met: tuple[float, float] = (10.0, 0.0),
) -> dict[str, Any]:
    return {
        "electrons": electrons or [],
        "muons": muons or [],
        "photons": photons or [],
        "jets": jets or [],
        "met": met,
    }


def p4(pt: float, eta: float, phi: float, m: float) -> np.ndarray:
    """(E, px, py, pz) from pt, eta, phi, mass, by hand."""
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return np.array([math.sqrt(px * px + py * py + pz * pz + m * m), px, py, pz])


def mass(v: np.ndarray) -> float:
    return math.sqrt(max(v[0] ** 2 - v[1] ** 2 - v[2] ** 2 - v[3] ** 2, 0.0))


def wrap(dphi: float) -> float:
    return (dphi + math.pi) % (2 * math.pi) - math.pi


def _jagged(events: list[dict[str, Any]], coll: str, idx: int, dtype: Any = np.float64) -> ak.Array:
    key = COLLS[coll]
    flat = np.array([o[idx] for ev in events for o in ev[key]], dtype=dtype)
    return ak.unflatten(flat, np.array([len(ev[key]) for ev in events], np.int64))


def objects(events: list[dict[str, Any]], float_type: Any = np.float32) -> dict[str, ak.Array]:
    """The generator's in-memory collections (``ganlee.mc.detector.simulate`` output format)."""
    out: dict[str, ak.Array] = {}
    for coll in COLLS:
        fields = {
            "PT": ak.values_astype(_jagged(events, coll, 0), float_type),
            "Eta": ak.values_astype(_jagged(events, coll, 1), float_type),
            "Phi": ak.values_astype(_jagged(events, coll, 2), float_type),
        }
        if coll in ("Electron", "Muon"):
            fields["Charge"] = ak.values_astype(_jagged(events, coll, 3), np.int32)
        out[coll] = ak.zip(fields)
    met = ak.zip(
        {
            "MET": np.array([e["met"][0] for e in events], float_type),
            "Phi": np.array([e["met"][1] for e in events], float_type),
        }
    )
    out["MissingET"] = ak.unflatten(met, np.ones(len(events), np.int64))
    return out


def delphes_arrays(events: list[dict[str, Any]]) -> ak.Array:
    """Branch arrays named as in Delphes (``Electron.PT`` ...), float64, as uproot returns them."""
    objs = objects(events, np.float64)
    return ak.zip({f"{c}.{f}": objs[c][f] for c in objs for f in objs[c].fields}, depth_limit=1)


def write_delphes(
    path: Path, events: list[dict[str, Any]], tree: str = "Delphes", drop: tuple[str, ...] = ()
) -> Path:
    """A Delphes-layout file (``Electron.PT``, counter ``Electron_size``) written with uproot."""
    objs = objects(events)
    with uproot.recreate(path) as f:
        types = {}
        data = {}
        for c, arr in objs.items():
            keep = [k for k in arr.fields if f"{c}.{k}" not in drop]
            arr = ak.zip({k: arr[k] for k in keep})
            types[c], data[c] = arr.type.content, arr
        f.mktree(
            tree, types, field_name=lambda o, i: f"{o}.{i}", counter_name=lambda c: f"{c}_size"
        )
        f[tree].extend(data)
    return path


def write_nanoaod(
    path: Path, events: list[dict[str, Any]], rename: dict[str, str] | None = None
) -> Path:
    """A flat NanoAOD-style file.

    Branches ``nElectron``, ``Electron_pt/eta/phi/charge``, ``MET_pt``, ``MET_phi``.
    """
    objs = objects(events)
    rename = rename or {}
    branches: dict[str, Any] = {}
    for c in COLLS:
        arr = objs[c]
        branches[c] = ak.zip({k.lower(): arr[k] for k in arr.fields})
    with uproot.recreate(path) as f:
        types = {c: a.type.content for c, a in branches.items()}
        types["MET_pt"] = np.float32
        types["MET_phi"] = np.float32
        f.mktree(
            "Events",
            types,
            field_name=lambda o, i: rename.get(f"{o}_{i}", f"{o}_{i}"),
            counter_name=lambda c: f"n{c}",
        )
        data = dict(branches)
        data["MET_pt"] = ak.to_numpy(ak.firsts(objs["MissingET"].MET))
        data["MET_phi"] = ak.to_numpy(ak.firsts(objs["MissingET"].Phi))
        f["Events"].extend(data)
    return path


def write_cartesian(path: Path, events: list[dict[str, Any]]) -> Path:
    """Cartesian four-momenta (``Muon_Px/Py/Pz/E``, ``Muon_Charge``, ``MET_px/py``), float64."""
    branches: dict[str, Any] = {}
    for c, key in COLLS.items():
        counts = np.array([len(ev[key]) for ev in events], np.int64)
        vecs = np.array([p4(o[0], o[1], o[2], MASS[c]) for ev in events for o in ev[key]]).reshape(
            -1, 4
        )
        fields = {"Px": vecs[:, 1], "Py": vecs[:, 2], "Pz": vecs[:, 3], "E": vecs[:, 0]}
        if c in ("Electron", "Muon"):
            fields["Charge"] = np.array([o[3] for ev in events for o in ev[key]], np.int32)
        branches[c] = ak.unflatten(ak.zip(fields), counts)
    with uproot.recreate(path) as f:
        types = {c: a.type.content for c, a in branches.items()}
        types["MET_px"] = np.float64
        types["MET_py"] = np.float64
        f.mktree(
            "events", types, field_name=lambda o, i: f"{o}_{i}", counter_name=lambda c: f"N{c}"
        )
        data = dict(branches)
        data["MET_px"] = np.array([e["met"][0] * math.cos(e["met"][1]) for e in events])
        data["MET_py"] = np.array([e["met"][0] * math.sin(e["met"][1]) for e in events])
        f["events"].extend(data)
    return path


def expected_features(
    ev: dict[str, Any],
    l1: tuple,
    l2: tuple,
    flavour: str,
    photon: tuple,
    jets_pass: tuple[int, int],
) -> dict[str, float]:
    """The 18 features of one event computed by hand from the chosen leptons and photon."""
    m = M_E if flavour == "e" else M_MU
    a, b, g = p4(*l1[:3], m), p4(*l2[:3], m), p4(*photon[:3], 0.0)
    ll, llg = a + b, a + b + g

    def pt(v: np.ndarray) -> float:
        return math.hypot(v[1], v[2])

    def eta(v: np.ndarray) -> float:
        return math.asinh(v[3] / pt(v))

    def phi(v: np.ndarray) -> float:
        return math.atan2(v[2], v[1])

    met, mphi = ev["met"]
    return {
        "m_llg": mass(llg),
        "phi_llg": phi(llg),
        "eta_llg": eta(llg),
        "pt_llg": pt(llg),
        "e_llg": llg[0],
        "m_ll": mass(ll),
        "phi_ll": phi(ll),
        "eta_ll": eta(ll),
        "pt_ll": pt(ll),
        "e_ll": ll[0],
        "dr_ll": math.hypot(l1[1] - l2[1], wrap(l1[2] - l2[2])),
        "met": met,
        "phi_met": mphi,
        "dphi_ll": wrap(l1[2] - l2[2]),
        "dphi_met_llg": wrap(mphi - phi(llg)),
        "pt_ll_over_m_llg": pt(ll) / mass(llg),
        "n_jets": jets_pass[0],
        "n_central_jets": jets_pass[1],
    }


# Three events passing the selection, with their candidates: (event, l1, l2, flavour, photon,
# (n_jets, n_central_jets)). Event 0: jets at |eta| 1.5 (central), 3.0 (forward only), one at
# pT 24 (below 25) and one overlapping the leading muon (removed). Event 1: dphi_ll wraps
# across pi. Event 2: three muons and an e+e- pair; the mu+mu- pair closest to m_Z wins.
REFERENCE: list[tuple[dict[str, Any], tuple, tuple, str, tuple, tuple[int, int]]] = [
    (
        event(
            muons=[(50.0, 0.5, 0.1, 1), (40.0, -0.3, 2.9, -1)],
            photons=[(60.0, 1.0, -1.5)],
            jets=[(30.0, 1.5, 1.0), (26.0, 3.0, -2.5), (24.0, 0.0, 2.0), (40.0, 0.45, 0.15)],
            met=(20.0, 0.7),
        ),
        (50.0, 0.5, 0.1),
        (40.0, -0.3, 2.9),
        "mu",
        (60.0, 1.0, -1.5),
        (2, 1),
    ),
    (
        event(
            electrons=[(45.0, 0.2, 3.0, -1), (44.0, -0.1, -0.2, 1)],
            photons=[(35.0, -1.2, 1.4)],
            met=(5.0, -2.0),
        ),
        (45.0, 0.2, 3.0),
        (44.0, -0.1, -0.2),
        "e",
        (35.0, -1.2, 1.4),
        (0, 0),
    ),
    (
        event(
            muons=[(60.0, 0.0, 0.0, 1), (35.0, 0.1, 2.5, -1), (28.0, 1.5, 1.2, -1)],
            electrons=[(27.0, 0.3, 1.0, 1), (26.0, 0.3, 1.8, -1)],
            photons=[(50.0, 0.5, -2.0), (31.0, -2.0, 0.5)],
            met=(12.0, 3.0),
        ),
        (60.0, 0.0, 0.0),
        (35.0, 0.1, 2.5),
        "mu",
        (50.0, 0.5, -2.0),
        (0, 0),
    ),
]

_GOOD_MU = [(50.0, 0.5, 0.1, 1), (40.0, -0.3, 2.9, -1)]
# Events failing exactly one cut each, in cut-flow order (the name is the first cut failed).
FAILING: list[tuple[str, dict[str, Any]]] = [
    (
        "two_sfos_leptons",
        event(muons=[(50.0, 0.5, 0.1, 1), (40.0, -0.3, 2.9, 1)], photons=[(60.0, 1.0, -1.5)]),
    ),
    (
        "two_sfos_leptons",
        event(
            electrons=[(50.0, 0.5, 0.1, 1)],
            muons=[(40.0, -0.3, 2.9, -1)],
            photons=[(60.0, 1.0, -1.5)],
        ),
    ),
    (
        "leading_lepton_pt",
        event(muons=[(28.0, 0.0, 0.0, 1), (27.0, 0.0, 3.0, -1)], photons=[(60.0, 1.0, -1.5)]),
    ),
    ("photon", event(muons=_GOOD_MU, photons=[(20.0, 1.0, -1.5)])),
    ("dr_lepton_photon", event(muons=_GOOD_MU, photons=[(60.0, 0.7, 0.1)])),
    ("m_ll", event(muons=[(35.0, 0.0, 0.0, 1), (30.0, 0.2, 0.9, -1)], photons=[(50.0, -1.0, 2.5)])),
    ("m_llg_window", event(muons=_GOOD_MU, photons=[(150.0, 1.0, -1.5)])),
]


def sample() -> list[dict[str, Any]]:
    """REFERENCE and FAILING events interleaved (3 selected of 10)."""
    evs = [f[1] for f in FAILING]
    return [evs[0], REFERENCE[0][0], *evs[1:4], REFERENCE[1][0], *evs[4:], REFERENCE[2][0]]


def expected_cutflow() -> dict[str, int]:
    cuts = [
        "two_sfos_leptons",
        "leading_lepton_pt",
        "photon",
        "dr_lepton_photon",
        "m_ll",
        "m_llg_window",
    ]
    flow = {"all": len(FAILING) + len(REFERENCE)}
    left = flow["all"]
    for c in cuts:
        left -= sum(1 for name, _ in FAILING if name == c)
        flow[c] = left
    return flow
