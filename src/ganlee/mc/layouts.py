"""Branch-name layouts of the ROOT files ``mc_convert`` reads, with named presets.

A layout names, for each physics collection, the branches holding its kinematics:

* polar collections: ``<Coll>.pt``, ``<Coll>.eta``, ``<Coll>.phi`` (+ ``<Coll>.charge``);
* Cartesian collections: ``<Coll>.px``, ``<Coll>.py``, ``<Coll>.pz``, ``<Coll>.e`` (+ charge);
* missing ET: ``MissingET.met`` and ``MissingET.phi``, or ``MissingET.px`` and ``MissingET.py``
  (a flat scalar per event, or a one-element list per event as in Delphes).

Collections are ``Electron``, ``Muon``, ``Photon``, ``Jet`` and ``MissingET``. The keys above are
the keys of the config mapping ``mc.branches``, which overrides single branch names of a preset
(e.g. ``{"Electron.pt": "el_pt"}``).

Presets:

``generated``
    ganlee's own ``mc_generate`` output: the Delphes layout, plus a ``ganlee_generation`` string
    object (generator metadata) that ``detect_layout`` recognises.
``delphes``
    Delphes output: tree ``Delphes``, branches ``Electron.PT``, ``Muon.Charge``,
    ``MissingET.MET`` ... (jagged, counters ``Electron_size``).
``nanoaod``
    flat NanoAOD-style ntuples: tree ``Events``, ``nElectron``, ``Electron_pt/eta/phi/charge``,
    ``MET_pt``, ``MET_phi``.
``cartesian``
    Cartesian four-momenta as in the HEP tutorial ntuples: tree ``events``,
    ``Muon_Px/Py/Pz/E``, ``Muon_Charge``, ``MET_px``, ``MET_py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ganlee.errors import ConfigError

__all__ = [
    "COLLECTIONS",
    "GENERATOR_METADATA_KEY",
    "LEPTONS",
    "PRESETS",
    "Layout",
    "branch_names",
    "check_override_keys",
    "detect_layout",
    "resolve_layout",
]

#: Physics collections read from the inputs.
COLLECTIONS: tuple[str, ...] = ("Electron", "Muon", "Photon", "Jet", "MissingET")
#: Collections that carry a charge.
LEPTONS: tuple[str, ...] = ("Electron", "Muon")
#: Name of the TObjString that ``mc_generate`` writes into its files (JSON metadata).
GENERATOR_METADATA_KEY = "ganlee_generation"


def _polar(fmt: str, names: tuple[str, str, str, str], met: tuple[str, str]) -> dict[str, str]:
    """Branch map of a polar layout; ``fmt`` gets ``coll`` and ``field`` (the file's spelling)."""
    out: dict[str, str] = {}
    pt, eta, phi, charge = names
    for coll in ("Electron", "Muon", "Photon", "Jet"):
        for key, field in (("pt", pt), ("eta", eta), ("phi", phi)):
            out[f"{coll}.{key}"] = fmt.format(coll=coll, field=field)
        if coll in LEPTONS:
            out[f"{coll}.charge"] = fmt.format(coll=coll, field=charge)
    out["MissingET.met"], out["MissingET.phi"] = met
    return out


def _cartesian() -> dict[str, str]:
    out: dict[str, str] = {}
    for coll in ("Electron", "Muon", "Photon", "Jet"):
        for key, field in (("px", "Px"), ("py", "Py"), ("pz", "Pz"), ("e", "E")):
            out[f"{coll}.{key}"] = f"{coll}_{field}"
        if coll in LEPTONS:
            out[f"{coll}.charge"] = f"{coll}_Charge"
    out["MissingET.px"], out["MissingET.py"] = "MET_px", "MET_py"
    return out


@dataclasses.dataclass(frozen=True)
class Layout:
    """A tree name and the map from layout keys (``"Muon.pt"``) to branch names."""

    name: str
    tree: str
    branches: Mapping[str, str]

    def kind(self, collection: str) -> str:
        """``"polar"`` or ``"cartesian"`` (MissingET: ``met/phi`` vs ``px/py``)."""
        if collection == "MissingET":
            return "polar" if "MissingET.met" in self.branches else "cartesian"
        return "polar" if f"{collection}.pt" in self.branches else "cartesian"

    def fields(self, collection: str) -> dict[str, str]:
        """``{field: branch}`` for one collection, e.g. ``{"pt": "Muon.PT", ...}``."""
        prefix = f"{collection}."
        return {k[len(prefix) :]: v for k, v in self.branches.items() if k.startswith(prefix)}

    def all_branches(self) -> list[str]:
        """Every branch the layout reads, in a stable order."""
        return list(dict.fromkeys(self.branches.values()))

    def key_of(self, branch: str) -> str:
        """The layout key (``"Muon.pt"``) that reads ``branch``."""
        return next(k for k, v in self.branches.items() if v == branch)


_DELPHES = _polar(
    "{coll}.{field}", ("PT", "Eta", "Phi", "Charge"), ("MissingET.MET", "MissingET.Phi")
)

#: The named presets (``mc.layout``).
PRESETS: dict[str, Layout] = {
    "generated": Layout("generated", "Delphes", _DELPHES),
    "delphes": Layout("delphes", "Delphes", _DELPHES),
    "nanoaod": Layout(
        "nanoaod",
        "Events",
        _polar("{coll}_{field}", ("pt", "eta", "phi", "charge"), ("MET_pt", "MET_phi")),
    ),
    "cartesian": Layout("cartesian", "events", _cartesian()),
}


def resolve_layout(
    name: str, overrides: Mapping[str, str] | None = None, tree: str | None = None
) -> Layout:
    """The preset ``name`` with branch ``overrides`` (config ``mc.branches``) and ``tree`` applied.

    Raises ``ConfigError`` for an unknown preset or an override key the preset does not use.
    """
    if name not in PRESETS:
        msg = (
            f"config key 'mc.layout': unknown layout '{name}', "
            f"expected one of {sorted(PRESETS)} or 'auto'"
        )
        raise ConfigError(msg)
    base = PRESETS[name]
    branches = dict(base.branches)
    for key, value in (overrides or {}).items():
        if key not in branches:
            msg = (
                f"config key 'mc.branches.{key}': layout '{name}' has no key '{key}'; "
                f"valid keys: {sorted(branches)}"
            )
            raise ConfigError(msg)
        if not isinstance(value, str) or not value:
            msg = (
                f"config key 'mc.branches.{key}': expected a branch name (non-empty string), "
                f"got {value!r}"
            )
            raise ConfigError(msg)
        branches[key] = value
    return Layout(name, tree or base.tree, branches)


def check_override_keys(overrides: Mapping[str, str] | None) -> None:
    """Refuse ``mc.branches`` keys that no preset uses (``mc.layout: auto``), naming the valid ones.

    Raises ``ConfigError`` naming the first unknown key, e.g. ``mc.branches.Muon.ptt``.
    """
    valid = sorted({k for layout in PRESETS.values() for k in layout.branches})
    for key in overrides or {}:
        if key not in valid:
            msg = (
                f"config key 'mc.branches.{key}': no layout has a key '{key}'; valid keys: {valid}"
            )
            raise ConfigError(msg)


def branch_names(tree: Any) -> set[str]:
    """All branch names of an uproot TTree, nested sub-branches included, short and full."""
    names = set(tree.keys(recursive=True, full_paths=True))
    names |= set(tree.keys(recursive=True, full_paths=False))
    return names


def detect_layout(
    file: Any, overrides: Mapping[str, str] | None = None, tree: str | None = None
) -> Layout | None:
    """The first preset whose tree and branches all exist in the open uproot ``file``, or None.

    ``generated`` is chosen over ``delphes`` when the file holds ganlee's generator metadata.
    """
    order = ["generated", "delphes", "nanoaod", "cartesian"]
    names: list[str] = file.keys()
    keys = {k.split(";")[0] for k in names}
    if GENERATOR_METADATA_KEY not in keys:
        order.remove("generated")
    for name in order:
        try:
            layout = resolve_layout(name, overrides, tree)
        except ConfigError:
            continue
        if layout.tree not in keys:
            continue
        obj = file[layout.tree]
        if not hasattr(obj, "keys") or not hasattr(obj, "num_entries"):
            continue
        if set(layout.all_branches()) <= branch_names(obj):
            return layout
    return None
