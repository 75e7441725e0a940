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

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.io import InputError, read_json_object
from ganlee.settings import Settings
from ganlee.validation import studies as st
from ganlee.validation.compare import global_z
from ganlee.validation.study_data import StudyData, load_study
from ganlee.validation.summary_sections import (
    ensemble_section,
    gan_vs_mc,
    sculpting_section,
    sensitivity_section,
    study_block,
)

__all__ = ["StudyData", "build_summary", "load_study"]


def build_summary(
    settings: Settings,
    studies: Mapping[str, tuple[Sequence[str], str]],
    main_lee: str | os.PathLike[str] | None = None,
    amplification: str | os.PathLike[str] | None = None,
    features: str | os.PathLike[str] | None = None,
    stream: Any = None,
    partial: bool = False,
) -> dict[str, Any]:
    """Assemble the validation summary.

    Arguments:
        settings: the configuration (``validation``, ``toys``, ``fit``, ``lee``, ``seed``).
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
    n_toys, chunk = st.sizes(settings)
    seed = derive_seed(int(settings.seed), "validation", "summary")
    expected = st.study_names(settings)
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
    blocks = {name: study_block(d, settings, seed) for name, d in data.items()}
    main = None
    if main_lee is not None:
        main_dir = Path(main_lee)
        main_summary = read_json_object(
            main_dir / "summary.json", "main LEE summary", "lee_aggregate"
        )
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
        "studies_run": {name: st.alias(settings, name) for name in expected},
        "seed": int(settings.seed),
        "missing_studies": missing,
        "studies": blocks,
        "gan_vs_mc": (
            gan_vs_mc(data["gan"], data["mc_bootstrap"], settings, seed, blocks)
            if "gan" in data and "mc_bootstrap" in data
            else None
        ),
        "ensemble": ensemble_section(data, blocks, settings, seed),
        "sensitivity": sensitivity_section(data, settings, main, mllg),
        "sculpting": sculpting_section(data, settings, x, seed),
        "amplification": None,
        "main_lee": (
            None
            if main is None
            else {
                "n_toys": main[1].get("n_toys"),
                "scoring": settings.toys.scoring,
                "global": [
                    global_z(z, main[0], main[1]) for z in settings.validation.compare.z_local
                ],
            }
        ),
    }
    if amplification is not None:
        out["amplification"] = read_json_object(
            amplification, "amplification result", "validation_amplification"
        )
    out["headline"] = _headline(out, settings)
    return out


def _get(d: Any, *keys: Any) -> Any:
    for k in keys:
        if d is None:
            return None
        d = d[k]
    return d


def _headline(out: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The few numbers a reader wants first (all also found in their sections)."""
    z0 = settings.validation.compare.z_local[0]
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
