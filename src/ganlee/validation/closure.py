"""The closure test: generator toys against independent-MC toys through the same toy procedure.

Both ensembles come from ``ganlee toys`` with one configuration (seeds, sizes, DNN, fits) and
differ only by ``toys.source``: the generator (``gan``) and draws without replacement from an MC
pool independent of the generator's training MC (``mc_pool``, ``ganlee.toys.sources``). If the
generator's toys calibrate the look-elsewhere effect, the two z_max distributions agree, overall
and in every selection. Compared, per selection and overall (the maximum over selections):

* the z_max distributions: two-sample Kolmogorov-Smirnov and Anderson-Darling p-values
  (``ganlee.validation.compare.two_sample_test``) and the median with its bootstrap error;
* p_global(Z) = fraction of toys with z_max >= Z, with Clopper-Pearson bands (Clopper &
  Pearson, Biometrika 26 (1934) 404; ``ganlee.stats.lee.clopper_pearson``);
* where the maxima sit: the number of toys with their maximum at each scanned mass, and the
  fraction at an edge of the mass scan (first or last scanned mass), with its Clopper-Pearson
  interval and the Fisher exact p-value of equal fractions: a generator that misses the m_llg
  shape near the window edges breaks the background fit there and piles the maxima up at or
  near the scan edges (docs/design.md, "Validation: closure test"). Toys without any excess
  (z_max = 0 everywhere, no maximum) are counted apart.

The verdict applies ``validation.closure.min_pvalue`` (KS p of the overall z_max) and
``validation.closure.max_median_shift`` (|median difference| of the overall z_max, in sigma).

``selection_control``: the same comparison between the generator's toys (DNN-selected subsets)
and the generator's toys with ``toys.scoring: random`` (study ``gan_random``: every selection a
random subset of the same size, no DNN). Where the DNN sculpts no bump, the per-selection z_max
distributions agree; a DNN that sculpts pushes its selections' z_max above the random subsets'.
Its ``passed`` applies the same thresholds. The trials factors of the LEE stage are about the
classifier only to the extent the two differ.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ganlee.settings import CompareSettings, Settings
from ganlee.validation.compare import bootstrap_quantiles, finite_sorted, two_sample_test

__all__ = [
    "build_closure",
    "closure_summary",
    "edge_counts",
    "mass_counts",
    "pglobal_curve",
    "scan_maxima",
]

#: Key of the maximum over selections in the per-selection lists.
OVERALL = "all"


def scan_maxima(z: ArrayLike, masses: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-toy, per-selection maximum of a Z scan and the mass where it sits.

    Arguments:
        z: ``(T, S, M)`` scan (toys, selections, masses; NaN = failed fit).
        masses: the ``M`` scanned masses.

    Returns ``(z_max, mass_at_max)``, each ``(T, S + 1)``: column ``s < S`` is selection ``s``,
    the last column the maximum over selections. NaN where every fit of the row failed.
    """
    zz = np.asarray(z, dtype=np.float64)
    m = np.asarray(masses, dtype=np.float64)
    if zz.ndim != 3 or zz.shape[2] != m.size:
        msg = f"scan_maxima: need a (T, S, {m.size}) scan, got shape {zz.shape}"
        raise ValueError(msg)
    T, S, M = zz.shape
    zmax = np.empty((T, S + 1))
    where = np.empty((T, S + 1))
    for s in range(S + 1):
        rows = zz[:, s, :] if s < S else zz.reshape(T, S * M)
        filled = np.where(np.isfinite(rows), rows, -np.inf)
        best = filled.argmax(axis=1)
        top = filled[np.arange(T), best]
        ok = np.isfinite(top)
        zmax[:, s] = np.where(ok, top, np.nan)
        where[:, s] = np.where(ok, m[best % M], np.nan)
    return zmax, where


def edge_counts(
    z_max: ArrayLike, mass_at_max: ArrayLike, masses: ArrayLike, cl: float = 0.6827
) -> dict[str, Any]:
    """How many toys have their maximum at an edge of the mass scan (first or last mass).

    Only toys with a finite ``z_max > 0`` have a maximum; the others are counted as
    ``n_no_excess`` (all best signal yields zero) or ``n_failed``. ``fraction`` is
    ``n_edge / n`` over toys with a maximum, with its central Clopper-Pearson interval at ``cl``
    (``lo``/``hi``; None when no toy has a maximum).
    """
    from ganlee.stats.lee import clopper_pearson

    zm = np.asarray(z_max, dtype=np.float64)
    mm = np.asarray(mass_at_max, dtype=np.float64)
    m = np.asarray(masses, dtype=np.float64)
    finite = np.isfinite(zm)
    has = finite & (zm > 0)
    edge = has & np.isin(mm, [m.min(), m.max()])
    n, k = int(has.sum()), int(edge.sum())
    out: dict[str, Any] = {
        "n": n,
        "n_edge": k,
        "n_no_excess": int((finite & ~has).sum()),
        "n_failed": int((~finite).sum()),
        "edges_gev": [float(m.min()), float(m.max())],
        "fraction": None,
        "lo": None,
        "hi": None,
    }
    if n:
        lo, hi = clopper_pearson(k, n, cl)
        out.update(fraction=k / n, lo=float(lo), hi=float(hi))
    return out


def mass_counts(z_max: ArrayLike, mass_at_max: ArrayLike, masses: ArrayLike) -> list[int]:
    """Toys whose maximum (finite ``z_max > 0``) sits at each scanned mass, in ``masses`` order."""
    zm = np.asarray(z_max, dtype=np.float64)
    mm = np.asarray(mass_at_max, dtype=np.float64)
    m = np.asarray(masses, dtype=np.float64)
    has = np.isfinite(zm) & (zm > 0)
    return [int(np.count_nonzero(has & (mm == v))) for v in m]


def pglobal_curve(z_max: ArrayLike, grid: ArrayLike, cl: float = 0.6827) -> dict[str, Any]:
    """p_global(Z) = fraction of toys with ``z_max >= Z`` on ``grid``, with the central
    Clopper-Pearson interval at ``cl`` (finite z_max only)."""
    from ganlee.stats.lee import clopper_pearson

    zs = finite_sorted(z_max)
    z = np.asarray(grid, dtype=np.float64)
    n = max(zs.size, 1)
    k = zs.size - np.searchsorted(zs, z, side="left")
    lo, hi = clopper_pearson(k, n, cl)
    return {
        "z_local": z.tolist(),
        "n_above": k.astype(int).tolist(),
        "p_global": (k / n).tolist(),
        "p_global_lo": lo.tolist(),
        "p_global_hi": hi.tolist(),
    }


def _grid(*samples: NDArray[np.float64], step: float = 0.05) -> NDArray[np.float64]:
    top = max([float(np.nanmax(s)) for s in samples if np.isfinite(s).any()] + [0.0])
    return np.round(np.arange(0.0, top + step + 1e-9, step), 10)


def _side(
    z_max: NDArray[np.float64],
    mass: NDArray[np.float64],
    masses: NDArray[np.float64],
    grid: NDArray[np.float64],
    comp: CompareSettings,
    cl: float,
    seed: int,
) -> dict[str, Any]:
    zs = finite_sorted(z_max)
    med = bootstrap_quantiles(zs, [0.5], int(comp.n_bootstrap), seed)[0] if zs.size > 1 else None
    return {
        "n_toys": int(z_max.size),
        "n_finite": int(zs.size),
        "median": None if med is None else med["value"],
        "median_error": None if med is None else med["error"],
        "mean": float(zs.mean()) if zs.size else None,
        "edge": edge_counts(z_max, mass, masses, cl),
        "mass_at_max": mass_counts(z_max, mass, masses),
        "p_global": pglobal_curve(z_max, grid, cl),
    }


def _compare(
    za: NDArray[np.float64],
    zb: NDArray[np.float64],
    ma: NDArray[np.float64],
    mb: NDArray[np.float64],
    masses: NDArray[np.float64],
    comp: CompareSettings,
    cl: float,
    seed: int,
) -> dict[str, Any]:
    grid = _grid(za, zb)
    a = _side(za, ma, masses, grid, comp, cl, seed)
    b = _side(zb, mb, masses, grid, comp, cl, seed + 1)
    try:
        test: dict[str, Any] | None = two_sample_test(
            za, zb, int(comp.n_permutations), seed
        ).as_dict()
    except ValueError:  # fewer than 2 finite values on a side
        test = None
    shift = None
    if a["median"] is not None and b["median"] is not None:
        shift = {
            "difference": a["median"] - b["median"],
            "error": float(np.hypot(a["median_error"], b["median_error"])),
        }
    return {
        "generator": a,
        "reference": b,
        "two_sample": test,
        "median_shift": shift,
        "edge_fisher_pvalue": _edge_fisher(a["edge"], b["edge"]),
    }


def _edge_fisher(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Two-sided Fisher exact p-value of equal edge fractions (Fisher, Statistical Methods for
    Research Workers, 1925; ``scipy.stats.fisher_exact``), None without maxima on a side."""
    from scipy.stats import fisher_exact

    if not a["n"] or not b["n"]:
        return None
    table = [[a["n_edge"], a["n"] - a["n_edge"]], [b["n_edge"], b["n"] - b["n_edge"]]]
    return float(fisher_exact(table).pvalue)


def closure_summary(
    names: tuple[str, str],
    z: tuple[ArrayLike, ArrayLike],
    masses: ArrayLike,
    selections: Sequence[float],
    settings: Settings,
    seed: int,
) -> dict[str, Any]:
    """The closure comparison of two toy ensembles (module docstring).

    Arguments:
        names: study names of the generator toys and of the independent-MC toys.
        z: their ``(T, S, M)`` Z scans (the toy chunks' ``z``; the toy counts may differ).
        masses, selections: the scan's masses and selection fractions (shared by both).
        settings: the configuration (``validation.compare``, ``validation.closure``,
            ``lee.cl``).
        seed: seed of the bootstrap and permutation resamplings.
    """
    comp, clo = settings.validation.compare, settings.validation.closure
    cl = float(settings.lee.cl)
    m = np.asarray(masses, dtype=np.float64)
    (za, ma), (zb, mb) = scan_maxima(z[0], m), scan_maxima(z[1], m)
    labels: list[float | str] = [float(s) for s in selections] + [OVERALL]
    if za.shape[1] != len(labels) or zb.shape[1] != len(labels):
        msg = (
            f"closure: scans have {za.shape[1] - 1} and {zb.shape[1] - 1} selections, "
            f"expected {len(selections)}"
        )
        raise ValueError(msg)
    rows = []
    for j, label in enumerate(labels):
        row = _compare(za[:, j], zb[:, j], ma[:, j], mb[:, j], m, comp, cl, seed + 2 * j)
        rows.append({"selection": label, **row})
    overall = rows[-1]
    ks = None if overall["two_sample"] is None else overall["two_sample"]["ks_pvalue"]
    shift = overall["median_shift"]
    checks = {
        "ks_pvalue": {"value": ks, "min": float(clo.min_pvalue)},
        "median_shift": {
            "value": None if shift is None else abs(shift["difference"]),
            "max": float(clo.max_median_shift),
        },
    }
    passed = (
        ks is not None
        and shift is not None
        and ks >= checks["ks_pvalue"]["min"]
        and abs(shift["difference"]) <= checks["median_shift"]["max"]
    )
    return {
        "generator": names[0],
        "reference": names[1],
        "masses": m.tolist(),
        "selections": [float(s) for s in selections],
        "cl": cl,
        "by_selection": rows[:-1],
        "overall": overall,
        "checks": checks,
        "passed": bool(passed),
        "headline": _headline(names, rows),
    }


def _headline(names: tuple[str, str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall and inclusive-selection (the largest fraction, 100% by default) figures."""
    inclusive = max(rows[:-1], key=lambda r: float(r["selection"]))

    def pick(r: dict[str, Any]) -> dict[str, Any]:
        t = r["two_sample"] or {}
        return {
            "selection": r["selection"],
            f"median_{names[0]}": r["generator"]["median"],
            f"median_{names[1]}": r["reference"]["median"],
            "ks_pvalue": t.get("ks_pvalue"),
            "ad_pvalue": t.get("ad_pvalue"),
            "ad_pvalue_bound": t.get("ad_pvalue_bound"),
            f"edge_fraction_{names[0]}": r["generator"]["edge"]["fraction"],
            f"edge_fraction_{names[1]}": r["reference"]["edge"]["fraction"],
            "edge_fisher_pvalue": r["edge_fisher_pvalue"],
        }

    return {"overall": pick(rows[-1]), "inclusive": pick(inclusive)}


#: ``toys`` keys allowed to differ between the two ensembles (they change no toy).
_FREE_KEYS = ("source", "chunk_size", "diagnostics", "n_toys")


def _procedure(
    chunks: Sequence[str | os.PathLike[str]], free: Sequence[str] = _FREE_KEYS
) -> tuple[dict[str, Any], str]:
    """The toy configuration of a study's first chunk, without the ``free`` toys keys, with the
    background model of each selection (rule fit_model's choice), and its model hash."""
    from ganlee.chunks import read_chunk, resolve_chunk_paths

    paths, _ = resolve_chunk_paths(chunks)
    ch = read_chunk(paths[0])
    job = json.loads(ch.config_json)
    for k in free:
        job.get("toys", {}).pop(k, None)
    job.pop("device", None)
    models = ch.background_models
    job["background_models"] = None if models is None else [str(m) for m in models]
    return job, ch.model_hash


def _load_pair(
    settings: Settings,
    studies: Sequence[tuple[str, str | os.PathLike[str]]],
    what: str,
    free: Sequence[str] = _FREE_KEYS,
) -> tuple[Any, Any, str, str]:
    """Both studies' data (toys ``0..n_toys-1``) and model hashes, after checking that they ran
    the same toy procedure (but the ``free`` keys) over the same masses and selections."""
    from ganlee.io import InputError
    from ganlee.validation.studies import sizes
    from ganlee.validation.summary import load_study

    n_toys = sizes(settings)[0]
    (na, ca), (nb, cb) = studies
    (pa, ha), (pb, hb) = _procedure([ca], free), _procedure([cb], free)
    if pa != pb:
        diff = sorted(
            k for sec in set(pa) | set(pb) for k in _diff_keys(pa.get(sec), pb.get(sec), sec)
        )
        msg = f"{what}: studies '{na}' ({ca}) and '{nb}' ({cb}) ran different toys: {diff} differ"
        raise InputError(msg)
    a, b = load_study(na, [ca], None, n_toys), load_study(nb, [cb], None, n_toys)
    if not (np.array_equal(a.masses, b.masses) and np.array_equal(a.selections, b.selections)):
        msg = f"{what}: studies '{na}' and '{nb}' scanned different masses or selections"
        raise InputError(msg)
    return a, b, ha, hb


def build_closure(
    settings: Settings,
    studies: Sequence[tuple[str, str | os.PathLike[str]]],
    stream: Any = None,
    control: tuple[str, str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """The closure comparison from the chunks of two studies (generator first, then the
    independent-MC reference), toys ``0..n_toys-1`` of each (``ganlee.validation.studies.sizes``);
    with ``control`` (the ``gan_random`` study's name and chunks) also the selection control
    (module docstring) under ``selection_control``.

    Raises ``InputError`` when the two ran different toy procedures (anything but
    ``toys.source`` differs; for the control anything but ``toys.scoring``) or scanned different
    masses or selections.
    """
    import sys

    from ganlee.io import InputError
    from ganlee.seeds import derive_seed

    stream = stream if stream is not None else sys.stderr
    if len(studies) != 2:
        msg = f"closure: need exactly two studies (generator, reference), got {len(studies)}"
        raise InputError(msg)
    (na, _), (nb, _) = studies
    a, b, ha, hb = _load_pair(settings, studies, "closure")
    print(f"[validation-closure] {na}: {a.n} toys, {nb}: {b.n} toys", file=stream)
    seed = derive_seed(int(settings.seed), "validation", "closure")
    out = closure_summary((na, nb), (a.z, b.z), a.masses, a.selections.tolist(), settings, seed)
    out["model_hashes"] = {na: ha, nb: hb}
    out["n_toys"] = {na: a.n, nb: b.n}
    if control is not None:
        nc = control[0]
        free = (*_FREE_KEYS, "scoring")
        g, c, _, hc = _load_pair(settings, [studies[0], control], "selection control", free)
        if hc != ha:
            msg = f"selection control: study '{nc}' ran with another generator than '{na}'"
            raise InputError(msg)
        print(f"[validation-closure] selection control {nc}: {c.n} toys", file=stream)
        out["selection_control"] = closure_summary(
            (na, nc), (g.z, c.z), g.masses, g.selections.tolist(), settings, seed + 1000
        )
    return out


def _diff_keys(x: Any, y: Any, path: str) -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        return [
            k
            for key in set(x) | set(y)
            for k in _diff_keys(x.get(key), y.get(key), f"{path}.{key}")
        ]
    return [] if x == y else [path]
