"""Figures of the LEE stage (hist + mplhep, HEP style), each written as PDF and PNG.

``lee_plots`` draws, from the outputs of ``ganlee lee-aggregate``:

* ``zmax_hist``: the toy ``z_max`` distribution with the single-test half-chi-square reference
  and the Gross-Vitells-implied tail (arXiv:1005.1891);
* ``pglobal``: p_global vs local Z (toys with Clopper-Pearson band, Gross-Vitells curve, local
  p-value);
* ``trials_factor``: p_global / p_local vs local Z;
* ``upcrossings``: mean number of upcrossings vs level, the exp(-c/2) scaling behind
  Gross-Vitells;
* ``zmax_location``: where in mass and selection the toy maxima fall;
* ``scans``: Z(mass) scans of a few toys and of the observed data;
* ``observed_fit``: the observed m_llg spectrum with the background-only and signal+background
  fits at its most significant point.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.io import InputError, atomic_path

__all__ = [
    "PLOT_NAMES",
    "lee_plots",
    "save_figure",
    "selection_label",
    "use_style",
]

#: Figure names written by ``lee_plots`` (each as ``<name>.pdf`` and ``<name>.png``).
PLOT_NAMES: tuple[str, ...] = (
    "zmax_hist",
    "pglobal",
    "trials_factor",
    "upcrossings",
    "zmax_location",
    "scans",
    "observed_fit",
)

_TAG = "ganlee: GAN background-only toys"


def use_style() -> Any:
    """Select the non-interactive backend and the mplhep ATLAS-like style; return pyplot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    mplhep.style.use("ATLAS")
    plt.rcParams.update({"legend.fontsize": 13, "axes.labelsize": 17, "figure.dpi": 100})
    return plt


def save_figure(fig: Any, outdir: str | os.PathLike[str], name: str) -> list[Path]:
    """Atomically save ``fig`` as ``<outdir>/<name>.pdf`` and ``.png``; close it."""
    import matplotlib.pyplot as plt

    out = []
    for ext in ("pdf", "png"):
        path = Path(outdir) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=130 if ext == "png" else None)
        out.append(path)
    plt.close(fig)
    return out


def selection_label(frac: float) -> str:
    """Human label of a selection fraction: ``0.05 -> 'top 5%'``, ``1.0 -> 'all events'``."""
    if frac >= 1.0:
        return "all events"
    return f"top {100 * frac:g}%"


def _tag(ax: Any, text: str, loc: str = "upper left", y: float = 0.96) -> None:
    x, ha = (0.03, "left") if loc == "upper left" else (0.97, "right")
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va="top", fontsize=13)


def _gv_label(gv: dict[str, Any], scan: bool = False) -> str:
    n0 = rf"$\langle N(Z_0={gv['z0']:g})\rangle$ = {gv['n_mean']:.2f} $\pm$ {gv['n_err']:.2f}"
    if scan:
        return f"Gross-Vitells on the max-over-selections scan, {n0} (optimistic)"
    if gv.get("n_local", 1) > 1:
        return f"Gross-Vitells, sum over {gv['n_local']} selections, {n0}"
    return f"Gross-Vitells, {n0}"


def _arr(x: Any) -> np.ndarray:
    """JSON list (with nulls) -> float array with NaN."""
    return np.array([np.nan if v is None else v for v in x], dtype=np.float64)


# ----------------------------------------------------------------------------------------------


def _plot_zmax_hist(plt: Any, h: Any, summary: dict[str, Any], outdir: Path) -> list[Path]:
    import mplhep
    from scipy.stats import norm

    from ganlee.stats.lee import gv_p_global

    n = summary["n_toys_used"]
    gv = summary["gross_vitells"]["union"]
    edges = h.axes[0].edges
    width = edges[1] - edges[0]
    fig, ax = plt.subplots(figsize=(9, 6.5))
    counts = h.values()
    mplhep.histplot(
        h, ax=ax, histtype="errorbar", yerr=np.sqrt(counts), color="black",
        label=f"Toys (N = {n:,})", flow="none",
    )
    lo, hi = edges[:-1], edges[1:]
    # single test: half chi2_1 for Z^2, i.e. Z = max(Y, 0), Y ~ N(0,1): mass 1/2 at Z = 0
    single = n * (norm.cdf(hi) - norm.cdf(lo))
    single[(lo <= 0) & (hi > 0)] += n * 0.5
    ax.stairs(single, edges, baseline=None, color="tab:gray", ls="--", lw=2,
              label=r"Single test (one mass, one selection): $\frac{1}{2}\chi^2_1$")
    # GV-implied: N * [p_gv(lo) - p_gv(hi)], drawn where valid (lo >= Z0 and p_gv(lo) <= 1)
    p_lo, _ = gv_p_global(lo, gv["n_mean"], gv["z0"], 0.0, gv["n_local"])
    p_hi, _ = gv_p_global(hi, gv["n_mean"], gv["z0"], 0.0, gv["n_local"])
    ok = (lo >= gv["z0"] - 1e-9) & (p_lo <= 0.5)
    if ok.any():
        first = int(np.argmax(ok))
        ax.stairs(n * (p_lo - p_hi)[first:], edges[first:], baseline=None, color="tab:red", lw=2,
                  label=_gv_label(gv) + r" (where $p_{\rm global} < 0.5$)")
    obs = summary.get("observed")
    if obs:
        ax.axvline(obs["z_local"], color="tab:blue", lw=2,
                   label=rf"Observed $Z_{{\rm local}}$ = {obs['z_local']:.2f}")
    ax.set_yscale("log")
    top = max(float(counts.max()) if counts.size else 1.0, float(single.max()))
    ax.set_ylim(0.3, top * 300)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(r"$Z_{\max}$ = max over masses and selections of local $Z$ [$\sigma$]")
    ax.set_ylabel(f"Toys / {width:.2g} $\\sigma$")
    uf, of = summary["z_max"]["underflow"], summary["z_max"]["overflow"]
    title = _TAG + (f" ({uf} toys below, {of} above the range)" if uf or of else "")
    ax.legend(loc="upper right", fontsize=12, title=title, title_fontsize=12)
    return save_figure(fig, outdir, "zmax_hist")


def _z_limits(summary: dict[str, Any]) -> tuple[float, float]:
    zmax = 5.5
    for key in ("observed", "given_z"):
        o = summary.get(key)
        if o:
            zmax = max(zmax, o["z_local"] + 0.5)
    return 0.0, zmax


def _observed_lines(ax: Any, summary: dict[str, Any], what: str) -> None:
    for key, color, name in (("observed", "tab:blue", "Observed"), ("given_z", "tab:purple", "Given")):
        o = summary.get(key)
        if not o:
            continue
        toys, gv = o["toys"], o["gross_vitells"]
        if what == "p":
            zt = f"{toys['z_global']:.2f}" if toys["reachable"] else f"> {toys['z_global_lo']:.2f}"
            label = (rf"{name} $Z_{{\rm local}}$ = {o['z_local']:.2f}: $Z_{{\rm global}}$ = {zt} (toys), "
                     rf"{gv['z_global']:.2f} (GV)")
        else:
            label = rf"{name} $Z_{{\rm local}}$ = {o['z_local']:.2f}"
        ax.axvline(o["z_local"], color=color, lw=1.8, ls="-.", label=label)


def _plot_pglobal(plt: Any, summary: dict[str, Any], outdir: Path) -> list[Path]:
    from ganlee.stats.lee import p_local

    c = summary["curve"]
    z = _arr(c["z_local"])
    n = summary["n_toys_used"]
    gv = summary["gross_vitells"]["union"]
    gvs = summary["gross_vitells"]["scan"]
    cl = summary["cl"]
    k = _arr(c["n_above"])
    fig, ax = plt.subplots(figsize=(9, 7))
    zmin, zmax = _z_limits(summary)
    zz = np.linspace(zmin, zmax, 300)
    # sigma guide lines
    ymin = max(float(p_local(zmax)) * 0.3, 1e-12)
    for s in range(1, 7):
        ps = float(p_local(s))
        if ps < ymin * 2:
            continue
        ax.axhline(ps, color="0.85", lw=0.8, zorder=0)
        ax.text(zmax - 0.03, ps * 1.1, f"{s}$\\sigma$", ha="right", va="bottom", fontsize=10, color="0.45")
    has = k > 0
    ax.fill_between(z[has], _arr(c["p_global_lo"])[has], _arr(c["p_global_hi"])[has], step=None,
                    color="tab:orange", alpha=0.35, lw=0, label=f"Toys: {100 * cl:.3g}% CL Clopper-Pearson")
    ax.plot(z[has], _arr(c["p_global"])[has], color="tab:orange", lw=2,
            label=rf"Toys: fraction with $Z_{{\max}} \geq Z_{{\rm local}}$ (N = {n:,})")
    # where no toy reaches: upper limit
    none = ~has
    if none.any():
        ax.plot(z[none], _arr(c["p_global_hi"])[none], color="tab:orange", lw=1.5, ls=":",
                label="Toys: upper limit where no toy reaches")
    zg = zz[zz >= gv["z0"]]
    from ganlee.stats.lee import gv_p_global

    pg, sg = gv_p_global(zg, gv["n_mean"], gv["z0"], gv["n_err"], gv["n_local"])
    below = pg <= 1.0
    ax.fill_between(zg[below], np.clip(pg - sg, 1e-300, None)[below], (pg + sg)[below], color="tab:red",
                    alpha=0.25, lw=0)
    ax.plot(zg[below], pg[below], color="tab:red", lw=2, label=_gv_label(gv))
    if gv["n_local"] > 1:
        ps, _ = gv_p_global(zg, gvs["n_mean"], gvs["z0"], gvs["n_err"])
        ax.plot(zg[ps <= 1], ps[ps <= 1], color="tab:red", lw=1.3, ls=":", label=_gv_label(gvs, scan=True))
    ax.plot(zz, p_local(zz), color="black", ls="--", lw=1.8, label=r"Local: $p_{\rm local} = 1 - \Phi(Z)$")
    _observed_lines(ax, summary, "p")
    ax.set_yscale("log")
    ax.set_xlim(zmin, zmax)
    ax.set_ylim(ymin, 5.0)
    ax.set_xlabel(r"Local significance $Z_{\rm local}$ [$\sigma$]")
    ax.set_ylabel(r"p-value (global: $P(Z_{\max} \geq Z_{\rm local})$)")
    ax.legend(loc="lower left", fontsize=11)
    _tag(ax, _TAG, loc="upper right")
    return save_figure(fig, outdir, "pglobal")


def _plot_trials(plt: Any, summary: dict[str, Any], outdir: Path) -> list[Path]:
    from ganlee.stats.lee import gv_p_global, p_local

    c = summary["curve"]
    z = _arr(c["z_local"])
    n = summary["n_toys_used"]
    gv = summary["gross_vitells"]["union"]
    gvs = summary["gross_vitells"]["scan"]
    k = _arr(c["n_above"])
    fig, ax = plt.subplots(figsize=(9, 6.5))
    zmin, zmax = _z_limits(summary)
    has = (k > 0) & (z > 0)
    ax.fill_between(z[has], _arr(c["trials_factor_lo"])[has], _arr(c["trials_factor_hi"])[has],
                    color="tab:orange", alpha=0.35, lw=0, label=f"Toys: {100 * summary['cl']:.3g}% CL interval")
    ax.plot(z[has], _arr(c["trials_factor"])[has], color="tab:orange", lw=2, label=f"Toys (N = {n:,})")
    none = ~has & (z > 0)
    if none.any():
        ax.plot(z[none], _arr(c["trials_factor_hi"])[none], color="tab:orange", ls=":", lw=1.5,
                label="Toys: upper limit where no toy reaches")
    zz = np.linspace(max(gv["z0"], 1e-3), zmax, 300)
    pg, sg = gv_p_global(zz, gv["n_mean"], gv["z0"], gv["n_err"], gv["n_local"])
    pl = p_local(zz)
    ax.fill_between(zz, (pg - sg) / pl, (pg + sg) / pl, color="tab:red", alpha=0.25, lw=0)
    ax.plot(zz, pg / pl, color="tab:red", lw=2, label=_gv_label(gv))
    if gv["n_local"] > 1:
        ps, _ = gv_p_global(zz, gvs["n_mean"], gvs["z0"], gvs["n_err"])
        ax.plot(zz, ps / pl, color="tab:red", lw=1.3, ls=":", label=_gv_label(gvs, scan=True))
    ax.axhline(1.0, color="black", ls="--", lw=1.2, label="No look-elsewhere effect")
    _observed_lines(ax, summary, "tf")
    ax.set_yscale("log")
    ax.set_xlim(zmin, zmax)
    ax.set_xlabel(r"Local significance $Z_{\rm local}$ [$\sigma$]")
    ax.set_ylabel(r"Trials factor $p_{\rm global} / p_{\rm local}$")
    ax.legend(loc="upper left", fontsize=11)
    _tag(ax, _TAG, loc="upper right", y=0.06 + 0.0)
    return save_figure(fig, outdir, "trials_factor")


def _plot_upcrossings(plt: Any, summary: dict[str, Any], outdir: Path) -> list[Path]:
    """<N(Z)> exp((Z^2 - Z0^2)/2) vs level Z: flat where Gross-Vitells' exp(-c/2) scaling holds."""
    up = summary["gross_vitells"]["upcrossings_by_level"]
    z0 = summary["gross_vitells"]["z0"]
    levels = _arr(up["z_levels"])
    scale = np.exp((levels**2 - z0**2) / 2)
    n = summary["n_toys_used"]
    sels = summary["selections"]
    fig, ax = plt.subplots(figsize=(9.5, 7))
    cmap = plt.get_cmap("viridis")
    for j, (frac, vals) in enumerate(zip(sels, up["per_selection"], strict=True)):
        ax.plot(levels, _arr(vals) * scale, marker="o", ms=4, lw=1, color=cmap(j / max(len(sels) - 1, 1)),
                label=f"one selection: {selection_label(frac)}")
    if len(sels) > 1:
        ax.errorbar(levels, _arr(up["sum_over_selections"]) * scale,
                    yerr=_arr(up["sum_over_selections_err"]) * scale, fmt="D-", color="tab:red", ms=6,
                    lw=1.5, label="sum over selections (union, headline)")
    ax.errorbar(levels, _arr(up["selection_max"]) * scale, yerr=_arr(up["selection_max_err"]) * scale,
                fmt="s-", color="black", ms=6, lw=1.5, label=r"max over selections ($Z_{\max}$ scan)")
    ax.axvline(z0, color="gray", ls="--", lw=1, label=rf"reference level $Z_0$ = {z0:g}")
    ax.set_yscale("log")
    ax.set_xlabel(r"Level $Z$: upcrossings of $Z^2(m)$ above $Z^2$ [$\sigma$]")
    ax.set_ylabel(r"$\langle N(Z)\rangle \, e^{(Z^2 - Z_0^2)/2}$ (flat if Gross-Vitells holds)")
    vals = np.concatenate([_arr(up["selection_max"]) * scale, _arr(up["sum_over_selections"]) * scale]
                          + [_arr(v) * scale for v in up["per_selection"]])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size:
        ax.set_ylim(vals.min() / 3, vals.max() * 30)
    ax.legend(loc="upper left", fontsize=10, ncol=2)
    _tag(ax, f"{_TAG}, N = {n:,}", loc="upper right", y=0.04 + 0.0)
    ax.texts[-1].set_va("bottom")
    return save_figure(fig, outdir, "upcrossings")


def _plot_location(plt: Any, summary: dict[str, Any], table: dict[str, np.ndarray], outdir: Path) -> list[Path]:
    masses = _arr(summary["masses"])
    sels = _arr(summary["selections"])
    n = summary["n_toys_used"]
    ok = np.isfinite(table["z_max"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [3, 2]})
    step = float(np.median(np.diff(masses))) if masses.size > 1 else 1.0
    medges = np.r_[masses - step / 2, masses[-1] + step / 2]
    cm, _ = np.histogram(table["mass_at_max"][ok], bins=medges)
    a1.stairs(cm, medges, color="tab:blue", lw=2, label=f"Toys (N = {n:,})")
    a1.errorbar(masses, cm, yerr=np.sqrt(cm), fmt="none", color="tab:blue")
    a1.axhline(ok.sum() / masses.size, color="gray", ls="--", label="uniform in mass")
    a1.set_xlim(medges[0] - step, medges[-1] + step)
    a1.set_xlabel(r"Signal mass $m_{\ell\ell\gamma}$ at $Z_{\max}$ [GeV]")
    a1.set_ylabel(f"Toys / {step:g} GeV")
    cs = np.array([np.count_nonzero(np.isclose(table["selection_at_max"][ok], s)) for s in sels])
    x = np.arange(sels.size)
    a2.bar(x, cs, color="tab:green", alpha=0.8, label=f"Toys (N = {n:,})")
    a2.set_xticks(x, [f"{100 * s:g}%" for s in sels], fontsize=12)
    a2.minorticks_off()
    a2.set_xlabel("Selection at $Z_{\\max}$ (top fraction by DNN score)")
    a2.set_ylabel("Toys")
    obs = summary.get("observed")
    if obs:
        a1.axvline(obs["mass_at_max"], color="black", lw=2, ls="-.", label="Observed")
        j = int(np.argmin(np.abs(sels - obs["selection_at_max"])))
        a2.axvline(j, color="black", lw=2, ls="-.", label="Observed")
    for a in (a1, a2):
        a.set_ylim(0, a.get_ylim()[1] * 1.35)
        a.legend(loc="upper right", fontsize=11)
    _tag(a1, _TAG)
    fig.tight_layout()
    return save_figure(fig, outdir, "zmax_location")


def _first_toys(chunks: Sequence[str | os.PathLike[str]], n: int) -> list[tuple[int, np.ndarray, float]]:
    """The ``n`` lowest-index toys found in the chunk list: (index, z[S, M], z_max)."""
    from ganlee.chunks import read_chunk, read_toy_index, resolve_chunk_paths

    if n <= 0 or not chunks:
        return []
    paths, _ = resolve_chunk_paths(chunks)
    found: list[tuple[int, np.ndarray, float]] = []
    for p in paths:
        idx = read_toy_index(p)
        if found and len(found) >= n and idx.min() > max(i for i, _, _ in found):
            continue
        ch = read_chunk(p)
        for j in np.argsort(ch.toy_index)[:n]:
            found.append((int(ch.toy_index[j]), np.asarray(ch.z[j], dtype=np.float64), float(ch.z_max[j])))
        found = sorted(found, key=lambda t: t[0])[:n]
    return found


def _plot_scans(plt: Any, summary: dict[str, Any], toys: list[tuple[int, np.ndarray, float]],
                observed: Any, outdir: Path) -> list[Path]:
    from ganlee.stats.lee import selection_max_scan

    masses = _arr(summary["masses"])
    sels = _arr(summary["selections"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(15, 6.5), sharey=True)
    cmap = plt.get_cmap("tab10")
    for j, (i, z, zm) in enumerate(toys):
        a1.plot(masses, selection_max_scan(z), color=cmap(j % 10), lw=1.3, alpha=0.85,
                label=rf"toy {i} ($Z_{{\max}}$ = {zm:.2f})")
    if observed is not None:
        a1.plot(masses, selection_max_scan(observed.z[0]), color="black", lw=2.8,
                label=rf"Observed ($Z_{{\max}}$ = {observed.z_max[0]:.2f})")
        right, rtitle = observed.z[0], "Observed data: one line per selection"
    elif toys:
        best = max(toys, key=lambda t: t[2] if np.isfinite(t[2]) else -1.0)
        right, rtitle = best[1], f"Toy {best[0]} (largest $Z_{{\\max}}$ shown): one line per selection"
    else:
        right, rtitle = None, "no scans available"
    a1.set_title("Max over selections at each mass", fontsize=14)
    vir = plt.get_cmap("viridis")
    if right is not None:
        for s, frac in enumerate(sels):
            a2.plot(masses, right[s], color=vir(s / max(sels.size - 1, 1)), lw=1.6,
                    label=selection_label(frac))
    a2.set_title(rtitle, fontsize=14)
    for a in (a1, a2):
        a.set_xlabel(r"Signal mass hypothesis $m_{\ell\ell\gamma}$ [GeV]")
        a.set_xlim(masses[0], masses[-1])
    a1.set_ylabel(r"Local significance $Z$ [$\sigma$]")
    ymax = a1.get_ylim()[1]
    a1.set_ylim(0, max(ymax, a2.get_ylim()[1]) * 1.45)
    a1.legend(loc="upper left", fontsize=10, ncol=2)
    a2.legend(loc="upper left", fontsize=10, ncol=3, title="selection (top fraction by DNN score)",
              title_fontsize=10)
    a1.text(0.97, 0.97, f"{summary['n_toys_used']:,} toys in total", transform=a1.transAxes,
            ha="right", va="top", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, outdir, "scans")


def _plot_observed_fit(plt: Any, cfg: dict[str, Any], summary: dict[str, Any], observed: Any,
                       outdir: Path) -> list[Path]:
    if observed is None:
        fig, ax = plt.subplots(figsize=(9, 6.5))
        ax.text(0.5, 0.5, "No observed dataset analysed\n(config lee.observed.enabled is false)",
                ha="center", va="center", transform=ax.transAxes, fontsize=16)
        ax.set_axis_off()
        return save_figure(fig, outdir, "observed_fit")
    from ganlee.stats.fit import FitSpec, fit_point

    spec = FitSpec.from_config(cfg)
    sels = observed.selections
    s = int(np.argmin(np.abs(sels - observed.selection_at_max[0])))
    mass = float(observed.mass_at_max[0])
    counts = observed.counts[s]
    res = fit_point(counts, spec, mass)
    edges = observed.edges
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = float(np.median(np.diff(edges)))
    b = np.asarray(res["expected_b"], dtype=np.float64)
    sb = np.asarray(res["expected_sb"], dtype=np.float64)
    fig, (ax, rx) = plt.subplots(2, 1, figsize=(9, 8), sharex=True,
                                 gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    ax.errorbar(centres, counts, yerr=np.sqrt(counts), fmt="o", color="black", ms=4,
                label=f"Observed, selection {selection_label(sels[s])}")
    ax.stairs(b, edges, baseline=None, color="tab:blue", lw=2,
              label=rf"Background-only fit $n_0\,e^{{a t + b t^2}}$, $t = (m - {spec.t_center:g})/{spec.t_scale:g}$")
    ax.stairs(sb, edges, baseline=None, color="tab:red", lw=2, ls="--",
              label=rf"Signal+background fit, $m$ = {mass:g} GeV, $\sigma$ = {spec.sigma:g} GeV")
    z = float(res.get("z", observed.z_max[0]))
    n1 = res.get("n1")
    txt = rf"$Z_{{\rm local}}$ = {z:.2f}"
    if n1 is not None:
        txt += rf", $n_1$ = {float(n1):.1f} events"
    obs = summary.get("observed")
    if obs:
        toys = obs["toys"]
        zt = f"{toys['z_global']:.2f}" if toys["reachable"] else f"> {toys['z_global_lo']:.2f}"
        txt += "\n" + rf"$Z_{{\rm global}}$ = {zt} (toys), {obs['gross_vitells']['z_global']:.2f} (Gross-Vitells)"
    ax.set_ylabel(f"Events / {width:g} GeV")
    top = max(float(counts.max()), float(np.max(sb[np.isfinite(sb)], initial=0.0)), 1.0)
    ax.set_ylim(0, top * 1.7)
    ax.legend(loc="upper right", fontsize=11)
    _tag(ax, txt, loc="upper right", y=0.74)
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(b > 0, (counts - b) / np.sqrt(b), 0.0)
        pull_sb = np.where(b > 0, (sb - b) / np.sqrt(b), 0.0)
    rx.axhline(0, color="tab:blue", lw=1.5)
    rx.stairs(pull_sb, edges, color="tab:red", ls="--", lw=1.5)
    rx.errorbar(centres, pull, yerr=np.ones_like(pull), fmt="o", color="black", ms=4)
    finite = np.abs(pull[np.isfinite(pull)])
    lim = max(3.0, float(finite.max()) * 1.2 if finite.size else 3.0)
    if not res.get("valid", True):
        _tag(ax, f"fit status {res.get('status')}: failed (see ganlee.stats.fit)", loc="upper right", y=0.62)
    rx.set_ylim(-lim, 1.8 * lim)
    rx.set_ylabel("Pull")
    rx.text(0.02, 0.93, "pull = (data - bkg fit) / sqrt(bkg fit)", transform=rx.transAxes, ha="left",
            va="top", fontsize=10)
    rx.set_xlabel(r"$m_{\ell\ell\gamma}$ [GeV]")
    rx.set_xlim(edges[0], edges[-1])
    return save_figure(fig, outdir, "observed_fit")


def lee_plots(
    cfg: dict[str, Any],
    summary: str | os.PathLike[str],
    zmax: str | os.PathLike[str],
    hist_path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    observed: str | os.PathLike[str] | None = None,
    chunks: Sequence[str | os.PathLike[str]] = (),
) -> list[Path]:
    """Draw every LEE figure (``PLOT_NAMES``) into ``outdir``; return the paths written."""
    from ganlee.chunks import read_chunk
    from ganlee.stats.lee import load_hist, read_zmax_csv

    sp = Path(summary)
    if not sp.is_file():
        msg = f"summary '{sp}' does not exist"
        raise InputError(msg)
    summ = json.loads(sp.read_text())
    table = read_zmax_csv(zmax)
    h = load_hist(hist_path)
    obs = read_chunk(observed, observed=True) if observed else None
    toys = _first_toys(chunks, int(cfg["lee"]["n_scan_plots"]))
    out_dir = Path(outdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plt = use_style()
    written: list[Path] = []
    written += _plot_zmax_hist(plt, h, summ, out_dir)
    written += _plot_pglobal(plt, summ, out_dir)
    written += _plot_trials(plt, summ, out_dir)
    written += _plot_upcrossings(plt, summ, out_dir)
    written += _plot_location(plt, summ, table, out_dir)
    written += _plot_scans(plt, summ, toys, obs, out_dir)
    written += _plot_observed_fit(plt, cfg, summ, obs, out_dir)
    return written
