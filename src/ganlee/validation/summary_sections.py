"""The sections of ``results/validation/summary.json`` (``ganlee.validation.summary``): per study
z_max block, GAN vs MC bootstrap, ensemble, Asimov, sensitivity and sculpting.

docs/design.md, "Validation: closure test".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ganlee.settings import Settings
from ganlee.validation import studies as st
from ganlee.validation.compare import (
    bootstrap_quantiles,
    finite_sorted,
    global_z,
    histogram,
    two_sample_test,
)
from ganlee.validation.study_data import StudyData

__all__ = [
    "asimov_section",
    "ensemble_section",
    "gan_vs_mc",
    "sculpting_section",
    "sensitivity_section",
    "study_block",
]


def _curve(zmax: NDArray[np.float64], lee: dict[str, Any], cl: float) -> dict[str, Any]:
    """p_global vs local Z from the toys (Clopper-Pearson band) and from the study's
    Gross-Vitells parameters (``ganlee.stats.lee``), on a 0.05 grid up to past the largest z_max."""
    from ganlee.stats.lee import clopper_pearson, gv_args, gv_p_global, p_local

    zs = finite_sorted(zmax)
    top = max(6.0, math.ceil(2.0 * (float(zs[-1]) + 0.5)) / 2.0) if zs.size else 6.0
    z = np.round(np.arange(0.0, top + 1e-9, 0.05), 10)
    k = zs.size - np.searchsorted(zs, z, side="left")
    lo, hi = clopper_pearson(k, max(zs.size, 1), cl)
    gv = lee["gross_vitells"]["union"]
    pg, sg = gv_p_global(z, **gv_args(gv))
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


def study_block(data: StudyData, settings: Settings, seed: int) -> dict[str, Any]:
    lee = settings.lee
    comp = settings.validation.compare
    lo, hi = (float(x) for x in lee.zmax_range)
    width = (hi - lo) / int(lee.zmax_bins)
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
            data.z_max, list(comp.quantiles), comp.n_bootstrap, seed
        ),
        "z_max_histogram": histogram(data.z_max, edges),
        "global": [global_z(z, data.z_max, data.lee) for z in comp.z_local],
        "gross_vitells": data.lee["gross_vitells"]["union"],
        "p_global_curve": _curve(data.z_max, data.lee, float(lee.cl)),
    }


def _global_row(g: Mapping[str, Any]) -> dict[str, Any]:
    """The toys' and Gross-Vitells global Z / p of one ``study_block`` "global" entry."""
    return {
        "z_global_toys": g["toys"]["z_global"],
        "z_global_toys_lo": g["toys"]["z_global_lo"],
        "z_global_toys_hi": g["toys"]["z_global_hi"],
        "p_global_toys": g["toys"]["p_global"],
        "z_global_gv": g["gross_vitells"]["z_global"],
        "p_global_gv": g["gross_vitells"]["p_global"],
    }


def gan_vs_mc(
    gan: StudyData, mc: StudyData, settings: Settings, seed: int, blocks: Mapping[str, Any]
) -> dict[str, Any]:
    comp = settings.validation.compare
    test = two_sample_test(gan.z_max, mc.z_max, int(comp.n_permutations), seed)
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
    glob = [
        {"z_local": g["z_local"], "gan": _global_row(g), "mc_bootstrap": _global_row(m)}
        for g, m in zip(blocks["gan"]["global"], blocks["mc_bootstrap"]["global"], strict=True)
    ]
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


def ensemble_section(
    data: Mapping[str, StudyData], blocks: Mapping[str, Any], settings: Settings, seed: int
) -> dict[str, Any] | None:
    from ganlee.validation.ensemble import ensemble_summary

    members = [m for m in st.ensemble_members(settings) if m in data]
    if len(members) < 2 or members[0] != "gan":
        return None
    per_z = []
    for j, _z in enumerate(settings.validation.compare.z_local):
        sig = [blocks[m]["global"][j] for m in members]
        per_z.append(
            ensemble_summary(members, sig, [blocks[m]["z_max_quantiles"] for m in members])
        )
    n_perm = int(settings.validation.compare.n_permutations)
    vs0 = {
        m: two_sample_test(data[members[0]].z_max, data[m].z_max, n_perm, seed).as_dict()
        for m in members[1:]
    }
    return {
        "members": members,
        "seeds": [
            st.ensemble_seed(settings, int(m[7:]) if m.startswith("gan_ens") else 0)
            for m in members
        ],
        "model_hashes": [blocks[m]["model_hash"] for m in members],
        "by_z_local": per_z,
        "headline": per_z[0],
        "two_sample_vs_member0": vs0,
    }


def asimov_section(
    settings: Settings, mllg: NDArray[np.float64] | None, n2: int | None, n_signal: int
) -> dict[str, float] | None:
    """Expected local Z of ``n_signal`` injected events in the inclusive selection: the MC m_llg
    spectrum, smoothed by the background-only fit and scaled to ``n2`` events, as background
    (``ganlee.validation.sensitivity.asimov_expectation``)."""
    from ganlee.stats.fit import FitSpec, expected_counts, scan
    from ganlee.validation.sensitivity import asimov_expectation

    if mllg is None or n2 is None:
        return None
    spec = FitSpec.from_settings(settings.fit)
    hist = np.histogram(mllg, bins=np.asarray(spec.edges))[0].astype(np.float64)
    fit = scan(hist[None, :], spec, backend="batched")
    n0, a, b = (float(v) for v in np.asarray(fit.bkg_params)[0])
    if not all(math.isfinite(v) for v in (n0, a, b)):
        return None
    bkg = expected_counts(spec, n0, a, b)
    bkg *= float(n2) / bkg.sum()
    inj = settings.validation.injection
    return asimov_expectation(
        bkg, float(n_signal), float(inj.mass), st.injection_width(settings), spec
    )


def sensitivity_section(
    data: Mapping[str, StudyData],
    settings: Settings,
    main: tuple[NDArray[np.float64], dict[str, Any]] | None,
    mllg: NDArray[np.float64] | None,
) -> dict[str, Any]:
    from ganlee.validation.sensitivity import sensitivity_summary

    v = settings.validation
    inj = v.injection
    width = st.injection_width(settings)
    n_mc = None if mllg is None else int(mllg.size)
    n2 = settings.toys.sample2_size or n_mc
    out: dict[str, Any] = {
        "mass": float(inj.mass),
        "width": width,
        "window_sigmas": float(inj.window_sigmas),
        "source": inj.source,
        "main_calibration_scoring": settings.toys.scoring,
        "sample2_size": n2,
        "by_scoring": {},
    }
    for scoring in v.scorings:
        rows = []
        calib: dict[str, tuple[Any, dict[str, Any]]] = {}
        if main is not None:
            calib["main"] = main
        bkg = data.get(f"inject_0_{scoring}")
        if bkg is not None:
            calib["same_scoring"] = (bkg.z_max, bkg.lee)
        for n in inj.n_signal:
            d = data.get(f"inject_{int(n)}_{scoring}")
            if d is None:
                continue
            row = sensitivity_summary(
                d.z_max,
                d.mass_at_max,
                d.z,
                d.masses,
                float(inj.mass),
                width,
                float(inj.window_sigmas),
                calib,
                float(settings.lee.cl),
            )
            row["study"] = d.name
            row["n_signal"] = int(n)
            ni = d.diagnostics.get("n_injected")
            row["n_injected_mean"] = (
                float(np.mean(ni)) if ni is not None and ni.size else (0.0 if n == 0 else None)
            )
            row["asimov_inclusive"] = asimov_section(settings, mllg, n2, int(n))
            sel = d.diagnostics.get("n_injected_selected")
            if sel is not None and n > 0:
                row["signal_efficiency_per_selection"] = (np.mean(sel, axis=0) / float(n)).tolist()
            rows.append(row)
        if rows:
            out["by_scoring"][scoring] = rows
    out["calibrations"] = {
        "main": "background-only toys of the main LEE stage (results/lee), scoring "
        f"'{settings.toys.scoring}'",
        "same_scoring": "the inject_0_{scoring} study: background-only toys with the "
        "injection study's scoring",
    }
    return out


def sculpting_section(
    data: Mapping[str, StudyData],
    settings: Settings,
    features: NDArray[np.float64] | None,
    seed: int,
) -> dict[str, Any]:
    from ganlee.features import FEATURE_NAMES
    from ganlee.validation.sculpting import mllg_recoverability, sculpting_summary

    sc = settings.validation.sculpting
    out: dict[str, Any] = {"dropped_features": list(sc.drop_features)}
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
                int(sc.rebin),
                dg.get("response_mllg_corr"),
                dg.get("auc"),
            ),
        }
    if features is not None:
        names = list(FEATURE_NAMES)
        base = list(settings.toys.features or names)
        others = [n for n in names if n not in base]
        out["mllg_r2"] = {
            "method": "3-fold cross-validated R^2 of m_llg regressed on the other DNN inputs "
            "(sklearn HistGradientBoostingRegressor) on the MC",
            "dnn_inputs_without_m_llg": mllg_recoverability(
                features, names, ["m_llg", *others], seed
            ),
            "dnn_inputs_without_dropped": mllg_recoverability(
                features, names, [*sc.drop_features, *others], seed
            ),
        }
    return out
