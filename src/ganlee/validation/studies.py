"""The validation studies: names, the toy configuration of each, and which runs coincide.

Every study is the toy procedure (``ganlee toys``) with configuration overrides, so it is one
wildcard of ``rules/validation.smk`` and adding a study reruns only its branch:

===================== =====================================================================
study                 overrides of the main ``toys`` section
===================== =====================================================================
``gan``               none (main GAN, ``results/gan/model.pt``): the reference study
``mc_bootstrap``      ``source: mc_bootstrap`` (MC resampled from two disjoint halves)
``mc_pool``           ``source: mc_pool`` (drawn without replacement from the independent MC
                      pool, ``results/validation/pool``): the closure reference
``gan_ens{g}``        none, but GAN member g (trained with seed ``ensemble_seed(cfg, g)``)
``gan_random``        ``scoring: random`` (selections are random subsets of sample 2 of the
                      same sizes): the closure's selection control
``inject_{n}_{s}``    ``scoring: s``, ``inject: {n_signal: n, mass, width, source}``
``nomllg``            ``features``: the DNN inputs without ``validation.sculpting.drop_features``
===================== =====================================================================

Every study sets ``toys.diagnostics: true`` (selection m_llg histograms, response-m_llg
correlation) and ``toys.chunk_size`` from ``validation``; the master seed stays the main one, so
toy i of every study draws its samples, initialisation and shuffles from the same seeds and the
studies differ only by their overrides. Background-only studies force ``inject.n_signal: 0``.

Studies whose toy configuration and event source coincide produce identical chunks; ``alias``
maps each study to the first one with the same key (and to the main toys, ``results/toys``,
when those coincide too), so nothing is computed twice.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from ganlee.config import ConfigError
from ganlee.features import FEATURE_NAMES, check_feature_names
from ganlee.seeds import derive_seed

__all__ = [
    "MAIN",
    "SELECTION_CONTROL",
    "STUDY_PATTERN",
    "Study",
    "alias",
    "closure_studies",
    "ensemble_members",
    "ensemble_seed",
    "injection_width",
    "parse_study",
    "sizes",
    "study_names",
    "study_toy_config",
]

#: Regular expression of a study name (the ``{study}`` wildcard).
STUDY_PATTERN = (
    r"gan|gan_random|mc_bootstrap|mc_pool|gan_ens[1-9][0-9]*"
    r"|inject_[0-9]+_(?:train|kfold|random)|nomllg"
)
#: ``alias`` of a study that reuses the main toys (``results/toys``).
MAIN = "main"
#: The closure's selection control: the main GAN's toys with ``scoring: random``, so every
#: selection is a random subset of the same size.
SELECTION_CONTROL = "gan_random"

_INJECT = re.compile(r"inject_([0-9]+)_(train|kfold|random)")
_ENS = re.compile(r"gan_ens([1-9][0-9]*)")


@dataclass(frozen=True)
class Study:
    """A parsed study name: ``kind`` in gan, random, mc_bootstrap, mc_pool, ensemble, inject,
    nomllg."""

    name: str
    kind: str
    member: int = 0
    n_signal: int = 0
    scoring: str | None = None

    @property
    def source(self) -> str:
        """Event source of the study's toys: ``gan``, ``mc_bootstrap`` or ``mc_pool``."""
        return self.kind if self.kind in ("mc_bootstrap", "mc_pool") else "gan"


def parse_study(name: str) -> Study:
    """Parse a study name (``STUDY_PATTERN``); unknown names raise ``ConfigError``."""
    if name in ("gan", "mc_bootstrap", "mc_pool", "nomllg"):
        return Study(name, name)
    if name == SELECTION_CONTROL:
        return Study(name, "random", scoring="random")
    m = _ENS.fullmatch(name)
    if m:
        return Study(name, "ensemble", member=int(m.group(1)))
    m = _INJECT.fullmatch(name)
    if m:
        return Study(name, "inject", n_signal=int(m.group(1)), scoring=m.group(2))
    msg = f"unknown validation study '{name}' (expected a name matching {STUDY_PATTERN})"
    raise ConfigError(msg)


def sizes(cfg: dict[str, Any]) -> tuple[int, int]:
    """``(n_toys, chunk_size)`` of every study: ``validation.n_toys/chunk_size`` or the main."""
    v, t = cfg["validation"], cfg["toys"]
    n = v["n_toys"] if v["n_toys"] is not None else t["n_toys"]
    c = v["chunk_size"] if v["chunk_size"] is not None else t["chunk_size"]
    return int(n), int(c)


def ensemble_members(cfg: dict[str, Any]) -> list[str]:
    """Studies of the GAN ensemble, member 0 first: ``gan``, ``gan_ens1``, ..."""
    return ["gan"] + [f"gan_ens{g}" for g in range(1, int(cfg["validation"]["n_gans"]))]


def ensemble_seed(cfg: dict[str, Any], member: int) -> int:
    """Top-level seed of GAN ensemble member ``member`` (0 = the main seed, the main GAN)."""
    if member == 0:
        return int(cfg["seed"])
    return derive_seed(int(cfg["seed"]), "validation", "gan", int(member))


def study_names(cfg: dict[str, Any]) -> list[str]:
    """Every study of the validation config, in a fixed order (aliases resolve to earlier ones)."""
    v = cfg["validation"]
    names = ensemble_members(cfg)
    names.insert(1, "mc_bootstrap")
    for s in v["scorings"]:
        for n in v["injection"]["n_signal"]:
            names.append(f"inject_{int(n)}_{s}")
    names.append("nomllg")
    return list(dict.fromkeys(names))


def closure_studies(cfg: dict[str, Any]) -> tuple[str, str]:
    """The closure's ``(generator, reference)`` studies, ``("gan", "mc_pool")``.

    Raises ``ConfigError`` when the toy sizes are not set: the pool has no MC size to default to,
    and both ensembles must use the same sizes.
    """
    t = cfg["toys"]
    unset = [k for k in ("sample1_size", "sample2_size") if t[k] is None]
    if unset:
        msg = (
            f"validation.closure.enabled needs config key(s) {[f'toys.{k}' for k in unset]} set "
            "(the mc_pool toys draw that many events from the pool; null would mean the MC size)"
        )
        raise ConfigError(msg)
    return "gan", "mc_pool"


def injection_width(cfg: dict[str, Any]) -> float:
    """Width of the injected Gaussian: ``validation.injection.width`` or ``fit.sigma``."""
    w = cfg["validation"]["injection"]["width"]
    return float(w if w is not None else cfg["fit"]["sigma"])


def _dnn_features(cfg: dict[str, Any]) -> list[str]:
    drop = list(cfg["validation"]["sculpting"]["drop_features"])
    check_feature_names(drop, "validation.sculpting.drop_features")
    base = cfg["toys"]["features"] or list(FEATURE_NAMES)
    keep = [f for f in base if f not in drop]
    if not keep:
        msg = (
            "config key 'validation.sculpting.drop_features' removes every DNN input "
            f"(toys.features = {base})"
        )
        raise ConfigError(msg)
    return keep


def study_toy_config(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """The configuration ``ganlee toys`` runs study ``name`` with: seed, device, toys, fit.

    ``cfg`` is the whole validated config. ``toys.n_toys`` is left out (the rule passes
    ``--first``/``--count``), as in the main ``toys_chunk`` rule.
    """
    st = parse_study(name)
    toys = copy.deepcopy(cfg["toys"])
    toys.pop("n_toys", None)
    toys["chunk_size"] = sizes(cfg)[1]
    toys["diagnostics"] = True
    if "inject" in toys:
        toys["inject"] = {**toys["inject"], "n_signal": 0}
    if st.kind in ("mc_bootstrap", "mc_pool"):
        toys["source"] = st.kind
    elif st.kind in ("gan", "ensemble"):
        toys["source"] = "gan"
    elif st.kind == "random":
        toys["source"] = "gan"
        toys["scoring"] = "random"
    elif st.kind == "nomllg":
        toys["source"] = "gan"
        toys["features"] = _dnn_features(cfg)
    elif st.kind == "inject":
        toys["source"] = "gan"
        toys["scoring"] = st.scoring
        if st.n_signal > 0:
            inj = cfg["validation"]["injection"]
            toys["inject"] = {
                **toys.get("inject", {}),
                "n_signal": st.n_signal,
                "mass": float(inj["mass"]),
                "width": injection_width(cfg),
                "source": inj["source"],
            }
    return {
        "seed": int(cfg["seed"]),
        "device": cfg["device"],
        "toys": toys,
        "fit": copy.deepcopy(cfg["fit"]),
    }


def _key(cfg: dict[str, Any], name: str) -> str:
    st = parse_study(name)
    model = {
        "gan": "main",
        "ensemble": f"ens{st.member}",
        "mc_bootstrap": "none",
        "mc_pool": "pool",
    }.get(st.kind, "main")
    return json.dumps([model, study_toy_config(cfg, name)], sort_keys=True)


def _main_key(cfg: dict[str, Any]) -> str:
    toys = copy.deepcopy(cfg["toys"])
    toys.pop("n_toys", None)
    # the main toys' mc_pool is results/mc/features.root, never the validation pool
    model = {"mc_bootstrap": "none", "mc_pool": "mc_as_pool"}.get(toys["source"], "main")
    main = {"seed": int(cfg["seed"]), "device": cfg["device"], "toys": toys, "fit": cfg["fit"]}
    return json.dumps([model, main], sort_keys=True)


def alias(cfg: dict[str, Any], name: str) -> str:
    """The study whose chunks study ``name`` uses: ``MAIN`` (the main toys), an earlier study
    with the same configuration and source, or ``name`` itself."""
    key = _key(cfg, name)
    n_toys, chunk = sizes(cfg)
    t = cfg["toys"]
    if key == _main_key(cfg) and n_toys == int(t["n_toys"]) and chunk == int(t["chunk_size"]):
        return MAIN
    for other in study_names(cfg):
        if other == name:
            break
        if _key(cfg, other) == key:
            return other
    return name
