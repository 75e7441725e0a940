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
``gan_ens{g}``        none, but GAN member g (trained with seed ``ensemble_seed(settings, g)``)
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

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from ganlee.errors import ConfigError
from ganlee.features import FEATURE_NAMES, check_feature_names
from ganlee.seeds import derive_seed
from ganlee.settings import InjectSettings, Settings

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
    "study_settings",
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


def sizes(settings: Settings) -> tuple[int, int]:
    """``(n_toys, chunk_size)`` of every study: ``validation.n_toys/chunk_size`` or the main."""
    v, t = settings.validation, settings.toys
    n = v.n_toys if v.n_toys is not None else t.n_toys
    c = v.chunk_size if v.chunk_size is not None else t.chunk_size
    return int(n), int(c)


def ensemble_members(settings: Settings) -> list[str]:
    """Studies of the GAN ensemble, member 0 first: ``gan``, ``gan_ens1``, ..."""
    return ["gan"] + [f"gan_ens{g}" for g in range(1, int(settings.validation.n_gans))]


def ensemble_seed(settings: Settings, member: int) -> int:
    """Top-level seed of GAN ensemble member ``member`` (0 = the main seed, the main GAN)."""
    if member == 0:
        return int(settings.seed)
    return derive_seed(int(settings.seed), "validation", "gan", int(member))


def study_names(settings: Settings) -> list[str]:
    """Every study of the validation config, in a fixed order (aliases resolve to earlier ones)."""
    v = settings.validation
    names = ensemble_members(settings)
    names.insert(1, "mc_bootstrap")
    for s in v.scorings:
        for n in v.injection.n_signal:
            names.append(f"inject_{int(n)}_{s}")
    names.append("nomllg")
    return list(dict.fromkeys(names))


def closure_studies(settings: Settings) -> tuple[str, str]:
    """The closure's ``(generator, reference)`` studies, ``("gan", "mc_pool")``.

    Raises ``ConfigError`` when the toy sizes are not set: the pool has no MC size to default to,
    and both ensembles must use the same sizes.
    """
    t = settings.toys
    unset = [k for k in ("sample1_size", "sample2_size") if getattr(t, k) is None]
    if unset:
        msg = (
            f"validation.closure.enabled needs config key(s) {[f'toys.{k}' for k in unset]} set "
            "(the mc_pool toys draw that many events from the pool; null would mean the size of "
            "the dataset the toys calibrate, which the pool does not define)"
        )
        raise ConfigError(msg)
    return "gan", "mc_pool"


def injection_width(settings: Settings) -> float:
    """Width of the injected Gaussian: ``validation.injection.width`` or ``fit.sigma``."""
    w = settings.validation.injection.width
    return float(w if w is not None else settings.fit.sigma)


def _dnn_features(settings: Settings) -> list[str]:
    drop = list(settings.validation.sculpting.drop_features)
    check_feature_names(drop, "validation.sculpting.drop_features")
    features = settings.toys.features
    base = list(features) if features is not None else list(FEATURE_NAMES)
    keep = [f for f in base if f not in drop]
    if not keep:
        msg = (
            "config key 'validation.sculpting.drop_features' removes every DNN input "
            f"(toys.features = {base})"
        )
        raise ConfigError(msg)
    return keep


def study_settings(settings: Settings, name: str) -> Settings:
    """The settings ``ganlee toys`` runs study ``name`` with: the main ones with the study's
    ``toys`` overrides (module docstring)."""
    st = parse_study(name)
    t = settings.toys
    changes: dict[str, Any] = {
        "chunk_size": sizes(settings)[1],
        "diagnostics": True,
        "inject": dataclasses.replace(t.inject, n_signal=0),
    }
    if st.kind in ("mc_bootstrap", "mc_pool"):
        changes["source"] = st.kind
    elif st.kind in ("gan", "ensemble"):
        changes["source"] = "gan"
    elif st.kind == "random":
        changes.update(source="gan", scoring="random")
    elif st.kind == "nomllg":
        changes.update(source="gan", features=tuple(_dnn_features(settings)))
    elif st.kind == "inject":
        changes.update(source="gan", scoring=st.scoring)
        if st.n_signal > 0:
            inj = settings.validation.injection
            changes["inject"] = InjectSettings(
                n_signal=st.n_signal,
                mass=float(inj.mass),
                width=injection_width(settings),
                source=inj.source,
            )
    return dataclasses.replace(settings, toys=dataclasses.replace(t, **changes))


def study_toy_config(settings: Settings, name: str) -> dict[str, Any]:
    """The configuration ``ganlee toys`` runs study ``name`` with: seed, device, toys, fit
    (the rule's params). ``toys.n_toys`` is left out (the rule passes ``--first``/``--count``),
    as in the main ``toys_chunk`` rule."""
    return _job_config(study_settings(settings, name))


def _job_config(settings: Settings) -> dict[str, Any]:
    toys = settings.toys.to_dict()
    toys.pop("n_toys", None)
    return {
        "seed": int(settings.seed),
        "device": settings.device,
        "toys": toys,
        "fit": settings.fit.to_dict(),
    }


def _key(settings: Settings, name: str) -> str:
    st = parse_study(name)
    model = {
        "gan": "main",
        "ensemble": f"ens{st.member}",
        "mc_bootstrap": "none",
        "mc_pool": "pool",
    }.get(st.kind, "main")
    return json.dumps([model, study_toy_config(settings, name)], sort_keys=True)


def _main_key(settings: Settings) -> str:
    # the main toys' mc_pool is results/mc/features.root, never the validation pool
    model = {"mc_bootstrap": "none", "mc_pool": "mc_as_pool"}.get(settings.toys.source, "main")
    return json.dumps([model, _job_config(settings)], sort_keys=True)


def alias(settings: Settings, name: str) -> str:
    """The study whose chunks study ``name`` uses: ``MAIN`` (the main toys), an earlier study
    with the same configuration and source, or ``name`` itself."""
    key = _key(settings, name)
    n_toys, chunk = sizes(settings)
    t = settings.toys
    if key == _main_key(settings) and n_toys == int(t.n_toys) and chunk == int(t.chunk_size):
        return MAIN
    for other in study_names(settings):
        if other == name:
            break
        if _key(settings, other) == key:
            return other
    return name
