"""Figures of the LEE stage (hist + mplhep, ``ganlee.plotstyle``), each written as PDF and PNG.

``lee_plots`` draws, from the outputs of ``ganlee lee-aggregate`` (docs/design.md, "LEE"):

* ``zmax_hist``: the toy ``z_max`` distribution with the single-test half-chi-square reference
  and the Gross-Vitells-implied tail (arXiv:1005.1891);
* ``pglobal``: p_global vs local Z (toys with Clopper-Pearson band, Gross-Vitells curve, local
  p-value);
* ``trials_factor``: p_global / p_local vs local Z;
* ``upcrossings``: mean number of upcrossings vs level, the exp(-c/2) scaling behind
  Gross-Vitells;
* ``zmax_location``, ``scans``, ``observed_fit``: ``ganlee.stats.plots_scan``.

The analysed dataset is called "Observed" only when ``lee.observed.features`` names a file;
by default it is the MC itself and is labelled "MC as data" (``data_label``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.io import read_json_object
from ganlee.plotstyle import (
    DATA_COLOR,
    count_ylim,
    json_array,
    label_simulation,
    log_ylim,
    save_figure,
    selection_label,
    use_style,
)
from ganlee.settings import Settings
from ganlee.stats.plots_scan import Toy

__all__ = ["PLOT_NAMES", "data_label", "lee_figures", "lee_plots"]

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

_TOYS = "GAN background-only toys"
_GV_COLOR = "tab:red"
_TOY_COLOR = "tab:orange"


def data_label(settings: Settings) -> str:
    """Legend name of the analysed dataset: "Observed" for a user's file
    (``lee.observed.features``), "Pseudo-data" for ``generate``, "MC as data" when it is the MC
    features file (null, the schema default)."""
    features = settings.lee.observed.features
    if features == settings.lee.observed.GENERATE:
        return "Pseudo-data"
    return "Observed" if features else "MC as data"


def _gv_label(gv: dict[str, Any], scan: bool = False) -> str:
    n0 = rf"$\langle N(Z_0={gv['z0']:g})\rangle$ = {gv['n_mean']:.2f} $\pm$ {gv['n_err']:.2f}"
    if scan:
        return f"Gross-Vitells, max-over-selections scan, {n0} (optimistic)"
    if gv.get("n_local", 1) > 1:
        return f"Gross-Vitells, sum over {gv['n_local']} selections, {n0}"
    return f"Gross-Vitells, {n0}"


def _z_limits(summary: dict[str, Any]) -> tuple[float, float]:
    zmax = 5.5
    for key in ("observed", "given_z"):
        o = summary.get(key)
        if o:
            zmax = max(zmax, o["z_local"] + 0.5)
    return 0.0, zmax


def _z_global_text(o: dict[str, Any]) -> str:
    toys = o.get("toys")
    if not toys:
        return r"$Z_{\rm global}$ not quoted (toys of another size)"
    zt = f"{toys['z_global']:.2f}" if toys["reachable"] else f"> {toys['z_global_lo']:.2f}"
    return rf"$Z_{{\rm global}}$ = {zt} (toys), {o['gross_vitells']['z_global']:.2f} (GV)"


def _observed_lines(ax: Any, summary: dict[str, Any], name: str, with_global: bool) -> None:
    for key, color, who in (("observed", "tab:blue", name), ("given_z", "tab:purple", "Given")):
        o = summary.get(key)
        if not o:
            continue
        label = rf"{who} $Z_{{\rm local}}$ = {o['z_local']:.2f}"
        if with_global:
            label += ": " + _z_global_text(o)
        ax.axvline(o["z_local"], color=color, lw=1.8, ls="-.", label=label)


def _plot_zmax_hist(plt: Any, h: Any, summary: dict[str, Any], name: str) -> Any:
    import mplhep
    from scipy.stats import norm

    from ganlee.stats.lee import gv_args, gv_p_global

    n = summary["n_toys_used"]
    gv = summary["gross_vitells"]["union"]
    edges = h.axes[0].edges
    counts = h.values()
    fig, ax = plt.subplots(figsize=(9, 6.5))
    mplhep.histplot(
        h,
        ax=ax,
        histtype="errorbar",
        yerr=np.sqrt(counts),
        color=DATA_COLOR,
        label=f"Toys (N = {n:,})",
        flow="none",
    )
    lo, hi = edges[:-1], edges[1:]
    # single test: Z = max(Y, 0), Y ~ N(0, 1) (half chi2_1 for Z^2): mass 1/2 at Z = 0
    single = n * (norm.cdf(hi) - norm.cdf(lo))
    single[(lo <= 0) & (hi > 0)] += n * 0.5
    ax.stairs(
        single,
        edges,
        baseline=None,
        color="tab:gray",
        ls="--",
        lw=2,
        label=r"Single test (one mass, one selection): $\frac{1}{2}\chi^2_1$",
    )
    # GV-implied: N [p_gv(lo) - p_gv(hi)], drawn where valid (lo >= Z0 and p_gv(lo) <= 1/2)
    p_lo, _ = gv_p_global(lo, **{**gv_args(gv), "n_err": 0.0})
    p_hi, _ = gv_p_global(hi, **{**gv_args(gv), "n_err": 0.0})
    ok = (lo >= gv["z0"] - 1e-9) & (p_lo <= 0.5)
    if ok.any():
        first = int(np.argmax(ok))
        ax.stairs(
            n * (p_lo - p_hi)[first:],
            edges[first:],
            baseline=None,
            color=_GV_COLOR,
            lw=2,
            label=_gv_label(gv) + r" (where $p_{\rm global} < 0.5$)",
        )
    _observed_lines(ax, summary, name, with_global=False)
    ax.set_yscale("log")
    ax.set_ylim(*count_ylim(n, log=True))
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(r"$Z_{\max}$ = max over masses and selections of local $Z$ [$\sigma$]")
    ax.set_ylabel(f"Toys / {edges[1] - edges[0]:.2g} $\\sigma$")
    uf, of = summary["z_max"]["underflow"], summary["z_max"]["overflow"]
    title = f"{uf} toys below, {of} above the range" if uf or of else None
    ax.legend(loc="upper right", fontsize=11, title=title, title_fontsize=11)
    label_simulation(ax, _TOYS)
    return fig


def _sigma_guides(ax: Any, zmax: float, ymin: float) -> None:
    from ganlee.stats.lee import p_local

    for s in range(1, 7):
        ps = float(p_local(s))
        if ps < ymin * 2:
            continue
        ax.axhline(ps, color="0.85", lw=0.8, zorder=0)
        ax.text(zmax - 0.03, ps * 1.1, f"{s}$\\sigma$", ha="right", va="bottom", fontsize=10)


def _curve_inputs(summary: dict[str, Any]) -> tuple[Any, Any, Any, int, Any, Any]:
    """(curve, z_local, n_above, n_toys_used, Gross-Vitells union, per-selection GV) of a
    LEE summary."""
    c = summary["curve"]
    gv = summary["gross_vitells"]
    z, k = json_array(c["z_local"]), json_array(c["n_above"])
    return c, z, k, summary["n_toys_used"], gv["union"], gv["scan"]


def _plot_pglobal(plt: Any, summary: dict[str, Any], name: str) -> Any:
    from ganlee.stats.lee import gv_args, gv_p_global, p_local

    c, z, k, n, gv, gvs = _curve_inputs(summary)
    fig, ax = plt.subplots(figsize=(9, 7))
    zmin, zmax = _z_limits(summary)
    zz = np.linspace(zmin, zmax, 300)
    ymin = max(float(p_local(zmax)) * 0.3, 1e-12)
    _sigma_guides(ax, zmax, ymin)
    has = k > 0
    ax.fill_between(
        z[has],
        json_array(c["p_global_lo"])[has],
        json_array(c["p_global_hi"])[has],
        color=_TOY_COLOR,
        alpha=0.35,
        lw=0,
        label=f"Toys: {100 * summary['cl']:.3g}% CL Clopper-Pearson",
    )
    ax.plot(
        z[has],
        json_array(c["p_global"])[has],
        color=_TOY_COLOR,
        lw=2,
        label=rf"Toys: fraction with $Z_{{\max}} \geq Z_{{\rm local}}$ (N = {n:,})",
    )
    none = ~has
    if none.any():
        ax.plot(
            z[none],
            json_array(c["p_global_hi"])[none],
            color=_TOY_COLOR,
            lw=1.5,
            ls=":",
            label="Toys: upper limit where no toy reaches",
        )
    zg = zz[zz >= gv["z0"]]
    pg, sg = gv_p_global(zg, **gv_args(gv))
    below = pg <= 1.0
    band_lo = np.clip(pg - sg, 1e-300, None)
    ax.fill_between(zg[below], band_lo[below], (pg + sg)[below], color=_GV_COLOR, alpha=0.25, lw=0)
    ax.plot(zg[below], pg[below], color=_GV_COLOR, lw=2, label=_gv_label(gv))
    if gv["n_local"] > 1:
        ps, _ = gv_p_global(zg, **gv_args(gvs))
        label = _gv_label(gvs, scan=True)
        ax.plot(zg[ps <= 1], ps[ps <= 1], color=_GV_COLOR, lw=1.3, ls=":", label=label)
    label = r"Local: $p_{\rm local} = 1 - \Phi(Z)$"
    ax.plot(zz, p_local(zz), color="black", ls="--", lw=1.8, label=label)
    _observed_lines(ax, summary, name, with_global=True)
    ax.set_yscale("log")
    ax.set_xlim(zmin, zmax)
    ax.set_ylim(ymin, 5.0)
    ax.set_xlabel(r"Local significance $Z_{\rm local}$ [$\sigma$]")
    ax.set_ylabel(r"p-value (global: $P(Z_{\max} \geq Z_{\rm local})$)")
    ax.legend(loc="lower left", fontsize=10)
    label_simulation(ax, _TOYS)
    return fig


def _plot_trials(plt: Any, summary: dict[str, Any], name: str) -> Any:
    from ganlee.stats.lee import gv_args, gv_p_global, p_local

    c, z, k, n, gv, gvs = _curve_inputs(summary)
    fig, ax = plt.subplots(figsize=(9, 6.5))
    zmin, zmax = _z_limits(summary)
    shown = (z > 0) & (z <= zmax)
    has, none = shown & (k > 0), shown & (k <= 0)
    tf, tf_lo, tf_hi = (
        json_array(c[key]) for key in ("trials_factor", "trials_factor_lo", "trials_factor_hi")
    )
    label = f"Toys: {100 * summary['cl']:.3g}% CL interval"
    ax.fill_between(z[has], tf_lo[has], tf_hi[has], color=_TOY_COLOR, alpha=0.35, lw=0, label=label)
    ax.plot(z[has], tf[has], color=_TOY_COLOR, lw=2, label=f"Toys (N = {n:,})")
    if none.any():
        label = "Toys: upper limit where no toy reaches"
        ax.plot(z[none], tf_hi[none], color=_TOY_COLOR, ls=":", lw=1.5, label=label)
    zz = np.linspace(max(gv["z0"], 1e-3), zmax, 300)
    pg, sg = gv_p_global(zz, **gv_args(gv))
    pl = p_local(zz)
    ax.fill_between(zz, (pg - sg) / pl, (pg + sg) / pl, color=_GV_COLOR, alpha=0.25, lw=0)
    ax.plot(zz, pg / pl, color=_GV_COLOR, lw=2, label=_gv_label(gv))
    curves = [tf_lo[has], tf_hi[has], pg / pl, [1.0]]  # the limits beyond may leave the frame
    if gv["n_local"] > 1:
        ps, _ = gv_p_global(zz, **gv_args(gvs))
        ax.plot(zz, ps / pl, color=_GV_COLOR, lw=1.3, ls=":", label=_gv_label(gvs, scan=True))
        curves.append(ps / pl)
    ax.axhline(1.0, color="black", ls="--", lw=1.2, label="No look-elsewhere effect")
    _observed_lines(ax, summary, name, with_global=False)
    ax.set_yscale("log")
    ax.set_xlim(zmin, zmax)
    ax.set_ylim(*log_ylim(curves, below=3.0, above=300.0))
    ax.set_xlabel(r"Local significance $Z_{\rm local}$ [$\sigma$]")
    ax.set_ylabel(r"Trials factor $p_{\rm global} / p_{\rm local}$")
    ax.legend(loc="upper left", fontsize=10)
    label_simulation(ax, _TOYS)
    return fig


def _plot_upcrossings(plt: Any, summary: dict[str, Any]) -> Any:
    """<N(Z)> exp((Z^2 - Z0^2)/2) vs level Z: flat where the continuum exp(-c/2) scaling holds;
    dotted, the Gaussian sequence on the scan grid that the GV extrapolation uses."""
    up = summary["gross_vitells"]["upcrossings_by_level"]
    z0 = summary["gross_vitells"]["z0"]
    levels = json_array(up["z_levels"])
    # a level no toy crosses (0 upcrossings) has no place on the log axis: not drawn
    scale = np.exp((levels**2 - z0**2) / 2)

    def scaled(values: Any) -> np.ndarray:
        y = json_array(values) * scale
        return np.where(y > 0, y, np.nan)

    sels = summary["selections"]
    fig, ax = plt.subplots(figsize=(9.5, 7))
    cmap = plt.get_cmap("viridis")
    curves = []
    for j, (frac, vals) in enumerate(zip(sels, up["per_selection"], strict=True)):
        y = scaled(vals)
        color = cmap(j / max(len(sels) - 1, 1))
        ax.plot(levels, y, marker="o", ms=4, lw=1, color=color, label=selection_label(frac))
        curves.append(y)
    style = {"ms": 6, "lw": 1.5, "capsize": 3}
    if len(sels) > 1:
        y = scaled(up["sum_over_selections"])
        err = json_array(up["sum_over_selections_err"]) * scale
        label = "sum over selections (union, headline)"
        ax.errorbar(levels, y, yerr=err, fmt="D-", color=_GV_COLOR, label=label, **style)
        curves.append(y)
    y = scaled(up["selection_max"])
    err = json_array(up["selection_max_err"]) * scale
    label = r"max over selections ($Z_{\max}$ scan)"
    ax.errorbar(levels, y, yerr=err, fmt="s-", color="black", label=label, **style)
    curves.append(y)
    gv = summary["gross_vitells"]["union"]
    if gv.get("n_steps"):
        from ganlee.stats.lee_grid import grid_a, grid_upcrossing_prob

        zz = np.linspace(float(levels.min()), float(levels.max()), 60)
        a = grid_a(gv["n_mean"] / gv["n_local"], gv["z0"], gv["n_steps"])
        n_grid = gv["n_local"] * gv["n_steps"] * grid_upcrossing_prob(zz, a)
        label = f"Gaussian sequence on the {gv['n_steps'] + 1}-mass grid (GV used)"
        ax.plot(zz, n_grid * np.exp((zz**2 - z0**2) / 2), color=_GV_COLOR, ls=":", label=label)
    ax.axvline(z0, color="gray", ls="--", lw=1, label=rf"reference level $Z_0$ = {z0:g}")
    ax.set_yscale("log")
    ax.set_ylim(*log_ylim(curves, below=3.0, above=30.0))
    ax.set_xlabel(r"Level $Z$: upcrossings of $Z^2(m)$ above $Z^2$ [$\sigma$]")
    ax.set_ylabel(r"$\langle N(Z)\rangle \, e^{(Z^2 - Z_0^2)/2}$ (flat in the continuum)")
    ax.legend(loc="upper left", fontsize=10, ncol=2, title="one selection or combined")
    label_simulation(ax, f"{_TOYS}, N = {summary['n_toys_used']:,}")
    return fig


def lee_figures(
    settings: Settings,
    summary: dict[str, Any],
    table: dict[str, np.ndarray],
    hist: Any,
    observed: Any = None,
    toys: Sequence[Toy] = (),
) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, figure)`` for each of ``PLOT_NAMES``, one at a time (the caller saves and
    closes each): from the summary and z_max table of ``lee-aggregate``, its z_max histogram, the
    observed chunk (or None) and the first toys' scans (``plots_scan.first_toys``)."""
    from ganlee.stats.plots_scan import plot_location, plot_observed_fit, plot_scans

    name = data_label(settings)
    plt = use_style()
    yield "zmax_hist", _plot_zmax_hist(plt, hist, summary, name)
    yield "pglobal", _plot_pglobal(plt, summary, name)
    yield "trials_factor", _plot_trials(plt, summary, name)
    yield "upcrossings", _plot_upcrossings(plt, summary)
    yield "zmax_location", plot_location(plt, summary, table, name)
    yield "scans", plot_scans(plt, summary, list(toys), observed, name)
    yield "observed_fit", plot_observed_fit(plt, settings.fit, summary, observed, name)


def lee_plots(
    settings: Settings,
    summary: str | os.PathLike[str],
    zmax: str | os.PathLike[str],
    hist_path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    observed: str | os.PathLike[str] | None = None,
    chunks: Sequence[str | os.PathLike[str]] = (),
) -> list[Path]:
    """Draw every LEE figure (``PLOT_NAMES``) into ``outdir`` as PDF and PNG; return the paths
    written."""
    from ganlee.chunks import read_chunk
    from ganlee.stats.lee import load_hist, read_zmax_csv
    from ganlee.stats.plots_scan import first_toys

    summ = read_json_object(summary, "summary")
    table = read_zmax_csv(zmax)
    h = load_hist(hist_path)
    obs = read_chunk(observed, observed=True) if observed else None
    toys = first_toys(chunks, int(settings.lee.n_scan_plots))
    written: list[Path] = []
    for name, fig in lee_figures(settings, summ, table, h, obs, toys):
        written += save_figure(fig, outdir, name)
    return written
