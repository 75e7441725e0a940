"""Pythia 8 generation of pp -> Z/gamma* gamma -> l+l- gamma, through the detector, into ROOT.

Process: ``WeakBosonAndParton:ffbar2gmZgm`` (f fbar -> Z/gamma* gamma) at sqrt(s) = 13 TeV with
the Z/gamma* forced to e+e- or mu+mu- (``23:onMode = off``, ``23:onIfAny = 11 13``) and
m(Z/gamma*) > 40 GeV (``23:mMin``). The hard-process mass window ``PhaseSpace:mHatMin/Max``
(default 125-180 GeV) and the photon pT cut ``PhaseSpace:pTHatMin`` (15 GeV) bias the sample
towards the analysis window m_llg in [130, 170] GeV; the cross-section is about 2 pb. Both cuts
are looser than the selection by the detector resolution and the initial-state radiation that
lifts a softer hard photon over the 30 GeV photon cut, so that no selected event is lost
(``bench/bench_mc_cuts.py`` measures the selected rate and the KS of every feature against
looser cuts; ``tests/test_mc_generate.py`` checks it at CI size).
``SpaceShower:pTmaxMatch = 2`` lets the initial-state shower reach the kinematic limit instead
of stopping at the photon's scale, so that jets and pT_llg are not unrealistically soft.
(Pythia 8.3: arXiv:2203.11601.)

Realism levels (``mc.generate.realism``):

``full``
    parton shower, multiparton interactions (MPI) and hadronisation.
``no_mpi``
    ``PartonLevel:MPI = off``: no underlying event; about ten times faster, since MPI
    dominates the cost.
``parton_shower``
    MPI and hadronisation off (``HadronLevel:all = off``): jets are clustered from the
    final-state partons.

Events are produced in batches with ``Pythia.nextBatch`` (an awkward array per batch), passed
through ``ganlee.mc.detector.simulate`` and appended to the output tree; each batch is then
discarded, so memory stays flat whatever the number of events.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.errors import ConfigError
from ganlee.mc.layouts import GENERATOR_METADATA_KEY
from ganlee.progress import Progress
from ganlee.seeds import derive_seed
from ganlee.settings import McGenerateSettings, Settings

__all__ = [
    "TREE_NAME",
    "final_state",
    "generate",
    "pythia_seed",
    "pythia_settings",
    "write_objects",
]

#: Tree name of the generated files (the same as Delphes output).
TREE_NAME = "Delphes"
#: Largest seed Pythia accepts (``Random:seed``); 0 would mean "seed from the clock".
_PYTHIA_SEED_MAX = 900_000_000


def pythia_seed(master_seed: int, index: int) -> int:
    """Pythia's ``Random:seed`` for job ``index``: ``derive_seed(seed, "mc_generate", index)``
    mapped into [1, 900000000] (0 would make Pythia seed from the clock)."""
    return derive_seed(master_seed, "mc_generate", index) % _PYTHIA_SEED_MAX or _PYTHIA_SEED_MAX


def pythia_settings(gen: McGenerateSettings, seed: int) -> list[str]:
    """The Pythia settings strings for the ``mc.generate`` settings and a Pythia seed."""
    realism = gen.realism
    settings = [
        f"Beams:eCM = {float(gen.sqrt_s)}",
        "WeakBosonAndParton:ffbar2gmZgm = on",
        "23:onMode = off",
        "23:onIfAny = 11 13",
        "23:mMin = 40.",
        f"PhaseSpace:mHatMin = {float(gen.m_hat_min)}",
        f"PhaseSpace:mHatMax = {float(gen.m_hat_max)}",
        f"PhaseSpace:pTHatMin = {float(gen.pt_hat_min)}",
        "SpaceShower:pTmaxMatch = 2",
        "Print:quiet = on",
        "Next:numberCount = 0",
        "Random:setSeed = on",
        f"Random:seed = {int(seed)}",
    ]
    if realism == "full":
        pass
    elif realism == "no_mpi":
        settings.append("PartonLevel:MPI = off")
    elif realism == "parton_shower":
        settings += ["PartonLevel:MPI = off", "HadronLevel:all = off"]
    else:
        msg = (
            "config key 'mc.generate.realism': expected full, no_mpi or parton_shower, "
            f"got {realism!r}"
        )
        raise ConfigError(msg)
    settings += list(gen.extra_settings)
    return settings


def _make_pythia(settings: list[str]) -> Any:
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for s in settings:
        if not pythia.readString(s):
            msg = f"config key 'mc.generate': Pythia rejected the setting {s!r}"
            raise ConfigError(msg)
    if not pythia.init():
        msg = (
            "Pythia initialisation failed for the settings of 'mc.generate' (check extra_settings)"
        )
        raise ConfigError(msg)
    return pythia


class _ParticleTable:
    """Charge and visibility per PDG id, looked up once in Pythia's particle data."""

    def __init__(self, particle_data: Any) -> None:
        self._pd = particle_data
        self._ids = np.zeros(0, np.int64)
        self._charge = np.zeros(0)
        self._visible = np.zeros(0, bool)

    def lookup(self, pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        new = np.setdiff1d(np.unique(pid), self._ids)
        if len(new):
            ids = np.concatenate([self._ids, new])
            order = np.argsort(ids)
            charge = np.concatenate([self._charge, [self._pd.charge(int(i)) for i in new]])
            visible = np.concatenate([self._visible, [self._pd.isVisible(int(i)) for i in new]])
            self._ids, self._charge, self._visible = (
                ids[order],
                charge[order],
                visible[order].astype(bool),
            )
        pos = np.searchsorted(self._ids, pid)
        return self._charge[pos], self._visible[pos]


def final_state(batch: Any, table: _ParticleTable) -> Any:
    """Final-state particles (status > 0) of a ``nextBatch`` array as detector input records."""
    import awkward as ak

    prt = batch["prt"]
    prt = prt[prt["status"] > 0]
    counts = ak.num(prt, axis=1)
    flat = ak.flatten(prt, axis=1)
    pid = ak.to_numpy(flat["id"]).astype(np.int64)
    charge, visible = table.lookup(pid)
    mom = flat["p"]
    rec = ak.zip(
        {
            "px": ak.to_numpy(mom["px"]),
            "py": ak.to_numpy(mom["py"]),
            "pz": ak.to_numpy(mom["pz"]),
            "E": ak.to_numpy(mom["e"]),
            "pid": pid,
            "charge": charge,
            "visible": visible,
        }
    )
    return ak.unflatten(rec, counts)


def write_objects(
    path: str | os.PathLike[str],
    chunks: Iterable[Mapping[str, Any]],
    metadata: Callable[[], Mapping[str, Any]] | Mapping[str, Any] | None = None,
) -> int:
    """Write detector-level collections to a Delphes-like ROOT file, atomically; return the events.

    ``chunks`` yields ``{"Electron": ..., "MissingET": ...}`` jagged record arrays (as returned by
    ``ganlee.mc.detector.simulate``); each is appended to the TTree ``Delphes`` (``mktree`` +
    ``extend``: a TTree, not an RNTuple) with Delphes-style names (``Electron.PT``, counter
    ``Electron_size``). ``metadata`` (or its value once the chunks are exhausted) is stored as
    JSON in the string object ``ganlee_generation``.
    """
    import uproot

    from ganlee.io import atomic_path

    n = 0
    with atomic_path(path) as tmp, uproot.recreate(tmp) as f:
        tree = None
        for objects in chunks:
            if tree is None:
                tree = f.mktree(
                    TREE_NAME,
                    {name: arr.type.content for name, arr in objects.items()},
                    field_name=lambda outer, inner: f"{outer}.{inner}",
                    counter_name=lambda counted: f"{counted}_size",
                )
            tree.extend(dict(objects))
            n += len(next(iter(objects.values())))
        if tree is None:
            msg = f"no events to write to '{path}'"
            raise ValueError(msg)
        meta = metadata() if callable(metadata) else metadata
        if meta is not None:
            f[GENERATOR_METADATA_KEY] = json.dumps(dict(meta), sort_keys=True)
    return n


def generate(
    settings: Settings,
    index: int,
    out: str | os.PathLike[str],
    stream: Any = None,
) -> dict[str, Any]:
    """Generate job ``index`` of ``mc.generate`` and write it atomically to ``out``.

    The file (``write_objects``) holds a TTree ``Delphes`` with jagged collections ``Electron``,
    ``Muon`` (``PT, Eta, Phi, Charge``), ``Photon``, ``Jet`` (``PT, Eta, Phi``) and ``MissingET``
    (``MET, Phi``), and JSON metadata (seeds, settings, cross-section), which is returned.
    """
    import awkward as ak

    from ganlee.mc.detector import simulate

    stream = stream if stream is not None else sys.stderr
    gen = settings.mc.generate
    if index < 0:
        msg = f"--index must be >= 0, got {index}"
        raise ConfigError(msg)
    n_total, batch_size = int(gen.events_per_job), int(gen.batch_size)
    seed = pythia_seed(settings.seed, index)
    detector_seed = derive_seed(settings.seed, "mc_detector", index)
    strings = pythia_settings(gen, seed)
    rng = np.random.default_rng(detector_seed)
    t0 = time.perf_counter()
    pythia = _make_pythia(strings)
    table = _ParticleTable(pythia.particleData)
    print(
        f"[mc-generate] job {index}: {n_total} events, realism {gen.realism}, "
        f"batches of {batch_size}, "
        f"Pythia seed {seed}",
        file=stream,
        flush=True,
    )
    progress = Progress(f"mc-generate {index}", total=n_total, unit="ev", stream=stream)
    counts = dict.fromkeys(("Electron", "Muon", "Photon", "Jet"), 0)
    timing = {"pythia": 0.0, "detector": 0.0}
    meta: dict[str, Any] = {}

    def batches() -> Iterator[dict[str, Any]]:
        done = 0
        while done < n_total:
            want = min(batch_size, n_total - done)
            t1 = time.perf_counter()
            batch = pythia.nextBatch(want, "skip")
            t2 = time.perf_counter()
            if len(batch) == 0:
                msg = f"Pythia produced no event in a batch of {want} (job {index})"
                raise RuntimeError(msg)
            objects = simulate(final_state(batch, table), rng)
            del batch  # a full event is ~1,000 particles: keep only the reconstructed objects
            timing["pythia"] += t2 - t1
            timing["detector"] += time.perf_counter() - t2
            for k in counts:
                counts[k] += int(ak.sum(ak.num(objects[k], axis=1)))
            n = len(objects["MissingET"])
            done += n
            progress.update(n)
            yield objects

    def metadata() -> dict[str, Any]:
        info = pythia.infoPython()
        meta.update(
            index=index,
            master_seed=int(settings.seed),
            pythia_seed=seed,
            detector_seed=detector_seed,
            events=progress.done,
            realism=gen.realism,
            settings=strings,
            sigma_gen_pb=float(info.sigmaGen()) * 1e9,
            sigma_err_pb=float(info.sigmaErr()) * 1e9,
            objects=counts,
            cpu_seconds={k: round(v, 3) for k, v in timing.items()},
        )
        return meta

    done = write_objects(out, batches(), metadata)
    wall = time.perf_counter() - t0
    print(
        f"[mc-generate] job {index}: wrote {done} events to {Path(out)} in {wall:.1f} s "
        f"(Pythia {timing['pythia']:.1f} s, detector {timing['detector']:.1f} s); "
        f"sigma = {meta['sigma_gen_pb']:.3f} +- {meta['sigma_err_pb']:.3f} pb",
        file=stream,
        flush=True,
    )
    return meta
