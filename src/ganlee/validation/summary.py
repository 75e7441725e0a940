"""``results/validation/summary.json``: every number the validation quotes, from the study outputs.

Inputs per study: its toy chunks (``ganlee toys``, diagnostics on) and its LEE aggregation
(``ganlee lee-aggregate``: ``summary.json`` and ``zmax.csv``); the main LEE calibration
(``results/lee``); the amplification study (``ganlee validation-amplification``); the MC
features (Asimov background shape, m_llg recoverability). Sections:

* ``studies``: per study z_max quantiles with bootstrap errors, histogram, p_global curve (toys
  with Clopper-Pearson band and Gross-Vitells), global Z at each ``validation.compare.z_local``;
* ``gan_vs_mc``: KS / Anderson-Darling p-values of GAN vs MC-bootstrap z_max, quantile
  differences, global Z for local Z from each (``ganlee.validation.compare``);
* ``amplification`` (``ganlee.validation.amplification``, arXiv:2008.06545);
* ``ensemble``: spread across GANs (``ganlee.validation.ensemble``);
* ``sensitivity``: per scoring and injected strength (``ganlee.validation.sensitivity``);
* ``sculpting``: with and without the dropped features (``ganlee.validation.sculpting``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ganlee.io import InputError
from ganlee.validation import studies as st
from ganlee.validation.compare import (
    bootstrap_quantiles,
    finite_sorted,
    global_z,
    histogram,
    two_sample_test,
)

__all__ = ["StudyData", "build_summary", "load_study"]


@dataclass
class StudyData:
    """What the summary needs of one study: per-toy arrays (ordered by toy index) and its LEE."""

    name: str
    toy_index: NDArray[np.int64]
    z_max: NDArray[np.float64]
    mass_at_max: NDArray[np.float64]
    selection_at_max: NDArray[np.float64]
    z: NDArray[np.float32]
    masses: NDArray[np.float64]
    selections: NDArray[np.float64]
    lee: dict[str, Any]
    diagnostics: dict[str, NDArray[Any]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.toy_index.size)


def load_study(
    name: str,
    chunks: Sequence[str | os.PathLike[str]],
    lee_dir: str | os.PathLike[str] | None,
    n_toys: int,
) -> StudyData:
    """Read a study's chunks (toys ``0..n_toys-1``; chunks from other runs beyond it skipped) and
    its LEE summary (``lee_dir/summary.json``; ``lee_dir=None``: none, ``lee`` is empty)."""
    from ganlee.chunks import FILE_LEVEL_KEYS, read_chunk, resolve_chunk_paths

    lee: dict[str, Any] = {}
    if lee_dir is not None:
        lee_path = Path(lee_dir) / "summary.json"
        if not lee_path.is_file():
            msg = (
                f"study '{name}': LEE summary '{lee_path}' does not exist "
                "(rule validation_aggregate)"
            )
            raise InputError(msg)
        lee = json.loads(lee_path.read_text())
    paths, _ = resolve_chunk_paths(chunks)
    parts: dict[str, list[Any]] = {
        k: [] for k in ("toy_index", "z_max", "mass_at_max", "selection_at_max", "z")
    }
    diag: dict[str, list[Any]] = {}
    ref = None
    for p in paths:
        ch = read_chunk(p)
        keep = ch.toy_index < n_toys
        if not keep.any():
            continue
        ref = ref or ch
        for k in parts:
            parts[k].append(np.asarray(getattr(ch, k))[keep])
        for k, a in ch.optional().items():
            if k in FILE_LEVEL_KEYS:
                diag[k] = [a]
            else:
                diag.setdefault(k, []).append(a[keep])
    if ref is None:
        msg = f"study '{name}': no toy with index < {n_toys} in {[str(p) for p in paths[:3]]}..."
        raise InputError(msg)
    idx = np.concatenate(parts["toy_index"])
    order = np.argsort(idx, kind="stable")
    if np.unique(idx).size != idx.size:
        msg = f"study '{name}': duplicated toy indices in its chunks"
        raise InputError(msg)

    def cat(lst: list[Any]) -> NDArray[Any]:
        return np.concatenate(lst)[order]

    diagnostics = {k: (v[0] if k in FILE_LEVEL_KEYS else cat(v)) for k, v in diag.items()}
    return StudyData(
        name=name,
        toy_index=idx[order],
        z_max=cat(parts["z_max"]).astype(np.float64),
        mass_at_max=cat(parts["mass_at_max"]).astype(np.float64),
        selection_at_max=cat(parts["selection_at_max"]).astype(np.float64),
        z=cat(parts["z"]),
        masses=ref.masses,
        selections=ref.selections,
        lee=lee,
        diagnostics=diagnostics,
    )


def _curve(zmax: NDArray[np.float64], lee: dict[str, Any], cl: float) -> dict[str, Any]:
    """p_global vs local Z from the toys (Clopper-Pearson band) and from the study's
    Gross-Vitells parameters (``ganlee.stats.lee``), on a 0.05 grid up to past the largest z_max."""
    from ganlee.stats.lee import clopper_pearson, gv_p_global, p_local

    zs = finite_sorted(zmax)
    top = max(6.0, math.ceil(2.0 * (float(zs[-1]) + 0.5)) / 2.0) if zs.size else 6.0
    z = np.round(np.arange(0.0, top + 1e-9, 0.05), 10)
    k = zs.size - np.searchsorted(zs, z, side="left")
    lo, hi = clopper_pearson(k, max(zs.size, 1), cl)
    gv = lee["gross_vitells"]["union"]
    pg, sg = gv_p_global(z, gv["n_mean"], gv["z0"], gv["n_err"], gv.get("n_local", 1))
    return {
        "z_local": z,
        "p_local": p_local(z),
        "n_above": k,
        "p_global": k / max(zs.size, 1),
        "p_global_lo": lo,
        "p_global_hi": hi,
        "p_global_gv": pg,
        "p_global_gv_err": sg,
    }


def _study_block(data: StudyData, cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    v, lee_cfg = cfg["validation"], cfg["lee"]
    comp = v["compare"]
    lo, hi = (float(x) for x in lee_cfg["zmax_range"])
    width = (hi - lo) / int(lee_cfg["zmax_bins"])
    zs = finite_sorted(data.z_max)
    if zs.size:  # extend the range past the largest z_max, same bin width
        hi = max(hi, lo + width * math.ceil((float(zs[-1]) - lo) / width + 1e-9))
    edges = lo + width * np.arange(round((hi - lo) / width) + 1)
    return {
        "n_toys": data.n,
        "n_toys_finite": int(np.isfinite(data.z_max).sum()),
        "config_hash": data.lee.get("config_hash"),
        "model_hash": data.lee.get("model_hash"),
        "z_max_mean": float(np.nanmean(data.z_max)) if np.isfinite(data.z_max).any() else None,
        "z_max_quantiles": bootstrap_quantiles(
            data.z_max, comp["quantiles"], comp["n_bootstrap"], seed
        ),
        "z_max_histogram": histogram(data.z_max, edges),
        "global": [global_z(z, data.z_max, data.lee) for z in comp["z_local"]],
        "gross_vitells": data.lee["gross_vitells"]["union"],
        "p_global_curve": _curve(data.z_max, data.lee, float(lee_cfg["cl"])),
    }


def _gan_vs_mc(
    gan: StudyData, mc: StudyData, cfg: dict[str, Any], seed: int, blocks: Mapping[str, Any]
) -> dict[str, Any]:
    comp = cfg["validation"]["compare"]
    test = two_sample_test(gan.z_max, mc.z_max, int(comp["n_permutations"]), seed)
    qg, qm = blocks["gan"]["z_max_quantiles"], blocks["mc_bootstrap"]["z_max_quantiles"]
    diffs = [
        {
            "q": a["q"],
            "gan": a["value"],
            "mc_bootstrap": b["value"],
            "difference": a["value"] - b["value"],
            "error": math.hypot(a["error"], b["error"]),
            "pull": (
                (a["value"] - b["value"]) / math.hypot(a["error"], b["error"])
                if math.hypot(a["error"], b["error"]) > 0
                else None
            ),
        }
        for a, b in zip(qg, qm, strict=True)
    ]
    common, ia, ib = np.intersect1d(gan.toy_index, mc.toy_index, return_indices=True)
    za, zb = gan.z_max[ia], mc.z_max[ib]
    ok = np.isfinite(za) & np.isfinite(zb)
    paired = float(np.corrcoef(za[ok], zb[ok])[0, 1]) if ok.sum() > 2 else None
    glob = []
    for g, m in zip(blocks["gan"]["global"], blocks["mc_bootstrap"]["global"], strict=True):
        glob.append(
            {
                "z_local": g["z_local"],
                "gan": {
                    "z_global_toys": g["toys"]["z_global"],
                    "z_global_toys_lo": g["toys"]["z_global_lo"],
                    "z_global_toys_hi": g["toys"]["z_global_hi"],
                    "p_global_toys": g["toys"]["p_global"],
                    "z_global_gv": g["gross_vitells"]["z_global"],
                    "p_global_gv": g["gross_vitells"]["p_global"],
                },
                "mc_bootstrap": {
                    "z_global_toys": m["toys"]["z_global"],
                    "z_global_toys_lo": m["toys"]["z_global_lo"],
                    "z_global_toys_hi": m["toys"]["z_global_hi"],
                    "p_global_toys": m["toys"]["p_global"],
                    "z_global_gv": m["gross_vitells"]["z_global"],
                    "p_global_gv": m["gross_vitells"]["p_global"],
                },
            }
        )
    return {
        "two_sample": test.as_dict(),
        "quantiles": diffs,
        "global": glob,
        "paired_toys": int(common.size),
        "paired_zmax_correlation": paired,
        "note": (
            "toy i of both studies shares its seeds (DNN initialisation and shuffles); the paired "
            "correlation of z_max shows how far the two samples are from independent"
        ),
    }


def _ensemble(
    data: Mapping[str, StudyData], blocks: Mapping[str, Any], cfg: dict[str, Any], seed: int
) -> dict[str, Any] | None:
    from ganlee.validation.ensemble import ensemble_summary

    members = [m for m in st.ensemble_members(cfg) if m in data]
    if len(members) < 2 or members[0] != "gan":
        return None
    per_z = []
    for j, _z in enumerate(cfg["validation"]["compare"]["z_local"]):
        sig = [blocks[m]["global"][j] for m in members]
        per_z.append(
            ensemble_summary(members, sig, [blocks[m]["z_max_quantiles"] for m in members])
        )
    n_perm = int(cfg["validation"]["compare"]["n_permutations"])
    vs0 = {
        m: two_sample_test(data[members[0]].z_max, data[m].z_max, n_perm, seed).as_dict()
        for m in members[1:]
    }
    return {
        "members": members,
        "seeds": [
            st.ensemble_seed(cfg, int(m[7:]) if m.startswith("gan_ens") else 0) for m in members
        ],
        "model_hashes": [blocks[m]["model_hash"] for m in members],
        "by_z_local": per_z,
        "headline": per_z[0],
        "two_sample_vs_member0": vs0,
    }


def _asimov(
    cfg: dict[str, Any], mllg: NDArray[np.float64] | None, n2: int | None, n_signal: int
) -> dict[str, float] | None:
    """Expected local Z of ``n_signal`` injected events in the inclusive selection: the MC m_llg
    spectrum, smoothed by the background-only fit and scaled to ``n2`` events, as background
    (``ganlee.validation.sensitivity.asimov_expectation``)."""
    from ganlee.stats.fit import FitSpec, expected_counts, scan
    from ganlee.validation.sensitivity import asimov_expectation

    if mllg is None or n2 is None:
        return None
    spec = FitSpec.from_config(cfg)
    hist = np.histogram(mllg, bins=np.asarray(spec.edges))[0].astype(np.float64)
    fit = scan(hist[None, :], spec, backend="batched")
    n0, a, b = (float(v) for v in np.asarray(fit.bkg_params)[0])
    if not all(math.isfinite(v) for v in (n0, a, b)):
        return None
    bkg = expected_counts(spec, n0, a, b)
    bkg *= float(n2) / bkg.sum()
    inj = cfg["validation"]["injection"]
    return asimov_expectation(
        bkg, float(n_signal), float(inj["mass"]), st.injection_width(cfg), spec
    )


def _sensitivity(
    data: Mapping[str, StudyData],
    cfg: dict[str, Any],
    main: tuple[NDArray[np.float64], dict[str, Any]] | None,
    mllg: NDArray[np.float64] | None,
) -> dict[str, Any]:
    from ganlee.validation.sensitivity import sensitivity_summary

    v = cfg["validation"]
    inj = v["injection"]
    width = st.injection_width(cfg)
    n_mc = None if mllg is None else int(mllg.size)
    n2 = cfg["toys"]["sample2_size"] or n_mc
    out: dict[str, Any] = {
        "mass": float(inj["mass"]),
        "width": width,
        "window_sigmas": float(inj["window_sigmas"]),
        "source": inj["source"],
        "main_calibration_scoring": cfg["toys"]["scoring"],
        "sample2_size": n2,
        "by_scoring": {},
    }
    for scoring in v["scorings"]:
        rows = []
        calib: dict[str, tuple[Any, dict[str, Any]]] = {}
        if main is not None:
            calib["main"] = main
        bkg = data.get(f"inject_0_{scoring}")
        if bkg is not None:
            calib["same_scoring"] = (bkg.z_max, bkg.lee)
        for n in v["injection"]["n_signal"]:
            d = data.get(f"inject_{int(n)}_{scoring}")
            if d is None:
                continue
            row = sensitivity_summary(
                d.z_max,
                d.mass_at_max,
                d.z,
                d.masses,
                float(inj["mass"]),
                width,
                float(inj["window_sigmas"]),
                calib,
                float(cfg["lee"]["cl"]),
            )
            row["study"] = d.name
            row["n_signal"] = int(n)
            ni = d.diagnostics.get("n_injected")
            row["n_injected_mean"] = (
                float(np.mean(ni)) if ni is not None and ni.size else (0.0 if n == 0 else None)
            )
            row["asimov_inclusive"] = _asimov(cfg, mllg, n2, int(n))
            sel = d.diagnostics.get("n_injected_selected")
            if sel is not None and n > 0:
                row["signal_efficiency_per_selection"] = (np.mean(sel, axis=0) / float(n)).tolist()
            rows.append(row)
        if rows:
            out["by_scoring"][scoring] = rows
    out["calibrations"] = {
        "main": "background-only toys of the main LEE stage (results/lee), scoring "
        f"'{cfg['toys']['scoring']}'",
        "same_scoring": "the inject_0_{scoring} study: background-only toys with the "
        "injection study's scoring",
    }
    return out


def _sculpting(
    data: Mapping[str, StudyData],
    cfg: dict[str, Any],
    features: NDArray[np.float64] | None,
    seed: int,
) -> dict[str, Any]:
    from ganlee.features import FEATURE_NAMES
    from ganlee.validation.sculpting import mllg_recoverability, sculpting_summary

    sc = cfg["validation"]["sculpting"]
    out: dict[str, Any] = {"dropped_features": list(sc["drop_features"])}
    for label, name in (("with", "gan"), ("without", "nomllg"), ("mc_bootstrap", "mc_bootstrap")):
        d = data.get(name)
        if d is None or "counts" not in d.diagnostics:
            out[label] = None
            continue
        dg = d.diagnostics
        out[label] = {
            "study": name,
            **sculpting_summary(
                dg["counts"],
                dg["counts_all"],
                dg["edges"],
                d.selections.tolist(),
                int(sc["rebin"]),
                dg.get("response_mllg_corr"),
                dg.get("auc"),
            ),
        }
    if features is not None:
        names = list(FEATURE_NAMES)
        base = cfg["toys"]["features"] or names
        others = [n for n in names if n not in base]
        out["mllg_r2"] = {
            "method": "3-fold cross-validated R^2 of m_llg regressed on the other DNN inputs "
            "(sklearn HistGradientBoostingRegressor) on the MC",
            "dnn_inputs_without_m_llg": mllg_recoverability(
                features, names, ["m_llg", *others], seed
            ),
            "dnn_inputs_without_dropped": mllg_recoverability(
                features, names, [*sc["drop_features"], *others], seed
            ),
        }
    return out


def build_summary(
    cfg: dict[str, Any],
    studies: Mapping[str, tuple[Sequence[str], str]],
    main_lee: str | os.PathLike[str] | None = None,
    amplification: str | os.PathLike[str] | None = None,
    features: str | os.PathLike[str] | None = None,
    stream: Any = None,
    partial: bool = False,
) -> dict[str, Any]:
    """Assemble the validation summary.

    Arguments:
        cfg: the validated config (``validation``, ``toys``, ``fit``, ``lee``, ``seed``).
        studies: name -> (chunk arguments as ``lee-aggregate`` takes them, LEE output directory).
        main_lee: directory of the main LEE outputs (``summary.json``, ``zmax.csv``).
        amplification: the JSON of ``ganlee validation-amplification``.
        features: the MC features file (Asimov background shape, m_llg recoverability).
        partial: summarise the studies given and list the others as missing (a run cut short);
            by default every study of the config is required.
    """
    from ganlee.seeds import derive_seed
    from ganlee.stats.lee import read_zmax_csv

    stream = stream if stream is not None else sys.stderr
    n_toys, chunk = st.sizes(cfg)
    seed = derive_seed(int(cfg["seed"]), "validation", "summary")
    expected = st.study_names(cfg)
    missing = [n for n in expected if n not in studies]
    if missing and not partial:
        msg = f"validation summary: studies {missing} of the config have no inputs (--study)"
        raise InputError(msg)
    expected = [n for n in expected if n in studies]
    if not expected:
        msg = "validation summary: no study given (--study)"
        raise InputError(msg)
    data = {}
    for name in expected:
        chunks, lee_dir = studies[name]
        data[name] = load_study(name, chunks, lee_dir, n_toys)
        print(f"[validation-summary] {name}: {data[name].n} toys", file=stream)
    blocks = {name: _study_block(d, cfg, seed) for name, d in data.items()}
    main = None
    if main_lee is not None:
        main_dir = Path(main_lee)
        if not (main_dir / "summary.json").is_file():
            where = main_dir / "summary.json"
            msg = f"main LEE summary '{where}' does not exist (rule lee_aggregate)"
            raise InputError(msg)
        main_summary = json.loads((main_dir / "summary.json").read_text())
        main = (read_zmax_csv(main_dir / "zmax.csv")["z_max"], main_summary)
    x = None
    mllg = None
    if features is not None:
        from ganlee.features import FEATURE_NAMES
        from ganlee.io import read_features

        x = read_features(features)
        mllg = x[:, FEATURE_NAMES.index("m_llg")].astype(np.float64)
    out: dict[str, Any] = {
        "n_toys_per_study": n_toys,
        "chunk_size": chunk,
        "studies_run": {name: st.alias(cfg, name) for name in expected},
        "seed": int(cfg["seed"]),
        "missing_studies": missing,
        "studies": blocks,
        "gan_vs_mc": (
            _gan_vs_mc(data["gan"], data["mc_bootstrap"], cfg, seed, blocks)
            if "gan" in data and "mc_bootstrap" in data
            else None
        ),
        "ensemble": _ensemble(data, blocks, cfg, seed),
        "sensitivity": _sensitivity(data, cfg, main, mllg),
        "sculpting": _sculpting(data, cfg, x, seed),
        "amplification": None,
        "main_lee": (
            None
            if main is None
            else {
                "n_toys": main[1].get("n_toys"),
                "scoring": cfg["toys"]["scoring"],
                "global": [
                    global_z(z, main[0], main[1]) for z in cfg["validation"]["compare"]["z_local"]
                ],
            }
        ),
    }
    if amplification is not None:
        p = Path(amplification)
        if not p.is_file():
            msg = f"amplification result '{p}' does not exist (rule validation_amplification)"
            raise InputError(msg)
        out["amplification"] = json.loads(p.read_text())
    out["headline"] = _headline(out, cfg)
    return out


def _get(d: Any, *keys: Any) -> Any:
    for k in keys:
        if d is None:
            return None
        d = d[k]
    return d


def _headline(out: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a reader wants first (all also found in their sections)."""
    z0 = cfg["validation"]["compare"]["z_local"][0]
    g = out["gan_vs_mc"] or {}
    g0 = g["global"][0] if g else None
    ens = out["ensemble"]
    sens = {
        s: [
            {
                "n_signal": r["n_signal"],
                "p_found": r["found"]["probability"],
                "z_local_median": r["z_local"]["median"],
                "z_global_main_toys": _get(r, "global", "main", "median", "z_global_toys"),
                "z_global_main_gv": _get(r, "global", "main", "median", "z_global_gv"),
                "asimov_z_inclusive_profiled": _get(r, "asimov_inclusive", "profiled"),
                "asimov_z_inclusive_known_background": _get(
                    r, "asimov_inclusive", "known_background"
                ),
            }
            for r in rows
        ]
        for s, rows in out["sensitivity"]["by_scoring"].items()
    }
    amp = out["amplification"]
    return {
        "z_local": z0,
        "ks_pvalue_gan_vs_mc": _get(g or None, "two_sample", "ks_pvalue"),
        "ad_pvalue_gan_vs_mc": _get(g or None, "two_sample", "ad_pvalue"),
        "z_global_gan_toys": _get(g0, "gan", "z_global_toys"),
        "z_global_mc_bootstrap_toys": _get(g0, "mc_bootstrap", "z_global_toys"),
        "z_global_gan_gv": _get(g0, "gan", "z_global_gv"),
        "z_global_mc_bootstrap_gv": _get(g0, "mc_bootstrap", "z_global_gv"),
        "ensemble_z_global_toys_spread": _get(ens, "headline", "z_global_toys", "std"),
        "ensemble_z_global_toys_stat_err": _get(ens, "headline", "z_global_toys", "stat_err_mean"),
        "ensemble_z_global_gv_spread": _get(ens, "headline", "z_global_gv", "std"),
        "ensemble_p_global_toys_spread": _get(ens, "headline", "p_global_toys", "std"),
        "amplification": _get(amp, "headline", "amplification"),
        "amplification_lo": _get(amp, "headline", "amplification_lo"),
        "amplification_hi": _get(amp, "headline", "amplification_hi"),
        "sensitivity": sens,
        "response_mllg_corr_with": _get(out["sculpting"], "with", "response_mllg_corr", "mean"),
        "response_mllg_corr_without": _get(
            out["sculpting"], "without", "response_mllg_corr", "mean"
        ),
    }
