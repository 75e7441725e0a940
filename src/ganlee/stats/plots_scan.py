"""LEE figures of where the maxima lie (``ganlee.plotstyle``; each function returns the figure,
``ganlee.stats.plots.lee_figures`` yields them):

* ``zmax_location``: where in mass and selection the toy maxima fall;
* ``scans``: Z(mass) scans of a few toys and of the analysed dataset;
* ``observed_fit``: the analysed m_llg spectrum with the background-only and
  signal+background fits at its most significant point (docs/design.md, "LEE").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ganlee.plotstyle import (
    DATA_COLOR,
    json_array,
    label_simulation,
    ratio_panel,
    selection_label,
)
from ganlee.settings import FitSettings

__all__ = ["first_toys", "plot_location", "plot_observed_fit", "plot_scans"]

Toy = tuple[int, np.ndarray, float]

_SB_COLOR = "tab:red"


def first_toys(chunks: Sequence[str | os.PathLike[str]], n: int) -> list[Toy]:
    """The ``n`` lowest-index toys found in the chunk list: (index, z[S, M], z_max)."""
    from ganlee.chunks import read_chunk, read_toy_index, resolve_chunk_paths

    if n <= 0 or not chunks:
        return []
    paths, _ = resolve_chunk_paths(chunks)
    found: list[Toy] = []
    for p in paths:
        if len(found) >= n and read_toy_index(p).min() > max(t[0] for t in found):
            continue
        ch = read_chunk(p)
        for j in np.argsort(ch.toy_index)[:n]:
            z = np.asarray(ch.z[j], dtype=np.float64)
            found.append((int(ch.toy_index[j]), z, float(ch.z_max[j])))
        found = sorted(found, key=lambda t: t[0])[:n]
    return found


def plot_location(
    plt: Any, summary: dict[str, Any], table: dict[str, np.ndarray], name: str
) -> Any:
    """Histograms of the mass and of the selection at each toy's ``z_max``."""
    masses = json_array(summary["masses"])
    sels = json_array(summary["selections"])
    n = summary["n_toys_used"]
    ok = np.isfinite(table["z_max"])
    grid = {"width_ratios": [3, 2]}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw=grid)
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
        a1.axvline(obs["mass_at_max"], color=DATA_COLOR, lw=2, ls="-.", label=name)
        j = int(np.argmin(np.abs(sels - obs["selection_at_max"])))
        a2.axvline(j, color=DATA_COLOR, lw=2, ls="-.", label=name)
    for a in (a1, a2):
        a.set_ylim(0, max(a.get_ylim()[1], 1.0) * 1.35)
        a.legend(loc="upper right", fontsize=11)
    label_simulation(a1, "GAN background-only toys")
    fig.tight_layout()
    return fig


def plot_scans(plt: Any, summary: dict[str, Any], toys: list[Toy], observed: Any, name: str) -> Any:
    """Left: the selection-maximised Z(mass) of a few toys and of the dataset; right: one line
    per selection for the dataset (or the toy with the largest ``z_max`` shown)."""
    from ganlee.stats.lee import selection_max_scan

    masses = json_array(summary["masses"])
    sels = json_array(summary["selections"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(15, 6.5), sharey=True)
    cmap = plt.get_cmap("tab10")
    for j, (i, z, zm) in enumerate(toys):
        label = rf"toy {i} ($Z_{{\max}}$ = {zm:.2f})"
        a1.plot(masses, selection_max_scan(z), color=cmap(j % 10), lw=1.3, alpha=0.85, label=label)
    if observed is not None:
        label = rf"{name} ($Z_{{\max}}$ = {observed.z_max[0]:.2f})"
        a1.plot(masses, selection_max_scan(observed.z[0]), color=DATA_COLOR, lw=2.8, label=label)
        right, rtitle = observed.z[0], f"{name}: one line per selection"
    elif toys:
        best = max(toys, key=lambda t: t[2] if np.isfinite(t[2]) else -1.0)
        right, rtitle = (
            best[1],
            f"Toy {best[0]} (largest $Z_{{\\max}}$ shown): one line per selection",
        )
    else:
        right, rtitle = None, "no scans available"
    a1.set_title("Max over selections at each mass", fontsize=14, pad=28)
    vir = plt.get_cmap("viridis")
    if right is not None:
        for s, frac in enumerate(sels):
            color = vir(s / max(sels.size - 1, 1))
            a2.plot(masses, right[s], color=color, lw=1.6, label=selection_label(frac))
    a2.set_title(rtitle, fontsize=14, pad=28)
    for a in (a1, a2):
        a.set_xlabel(r"Signal mass hypothesis $m_{\ell\ell\gamma}$ [GeV]")
        a.set_xlim(masses[0], masses[-1])
    a1.set_ylabel(r"Local significance $Z$ [$\sigma$]")
    a1.set_ylim(0, max(a1.get_ylim()[1], a2.get_ylim()[1]) * 1.45)
    if toys or observed is not None:  # else nothing is drawn (lee.n_scan_plots = 0, no data)
        a1.legend(loc="upper left", fontsize=10, ncol=2)
        title = "selection (top fraction by DNN score)"
        a2.legend(loc="upper left", fontsize=10, ncol=3, title=title, title_fontsize=10)
    label_simulation(a1, f"{summary['n_toys_used']:,} toys in total")
    fig.tight_layout()
    return fig


def _no_dataset(plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(9, 6.5))
    text = "No dataset analysed\n(config lee.observed.enabled is false)"
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=16)
    ax.set_axis_off()
    label_simulation(ax)
    return fig


def _fit_text(res: dict[str, Any], observed: Any, summary: dict[str, Any]) -> str:
    txt = rf"$Z_{{\rm local}}$ = {float(res.get('z', observed.z_max[0])):.2f}"
    if res.get("n1") is not None:
        txt += rf", $n_1$ = {float(res['n1']):.1f} events"
    obs = summary.get("observed")
    if obs:
        toys = obs["toys"]
        zt = f"{toys['z_global']:.2f}" if toys["reachable"] else f"> {toys['z_global_lo']:.2f}"
        gv = obs["gross_vitells"]["z_global"]
        txt += "\n" + rf"$Z_{{\rm global}}$ = {zt} (toys), {gv:.2f} (Gross-Vitells)"
    if not res.get("valid", True):
        txt += f"\nfit status {res.get('status')}: failed"
    return txt


def plot_observed_fit(
    plt: Any, fit: FitSettings, summary: dict[str, Any], observed: Any, name: str
) -> Any:
    """The dataset's m_llg spectrum in the selection of its ``z_max`` with both fits, and the
    pulls ``(n - b) / sqrt(b)`` (arrows mark pulls outside the panel)."""
    if observed is None:
        return _no_dataset(plt)
    from ganlee.stats.fit import FitSpec, fit_point

    spec = FitSpec.from_settings(fit)
    sels = observed.selections
    s = int(np.argmin(np.abs(sels - observed.selection_at_max[0])))
    if getattr(observed, "background_models", None) is not None:  # the model the fits used
        spec = spec.with_background(str(observed.background_models[s]))
    mass = float(observed.mass_at_max[0])
    counts = observed.counts[s]
    res = fit_point(counts, spec, mass)
    edges = observed.edges
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = float(np.median(np.diff(edges)))
    b = np.asarray(res["expected_b"], dtype=np.float64)
    sb = np.asarray(res["expected_sb"], dtype=np.float64)
    grid = {"height_ratios": [3, 1], "hspace": 0.05}
    fig, (ax, rx) = plt.subplots(2, 1, figsize=(9, 8), sharex=True, gridspec_kw=grid)
    label = f"{name}, selection {selection_label(sels[s])}"
    ax.errorbar(centres, counts, yerr=np.sqrt(counts), fmt="o", color=DATA_COLOR, ms=4, label=label)
    t = rf"$t = (m - {spec.t_center:g})/{spec.t_scale:g}$"
    fam = spec.family
    label = f"Background-only fit {fam.label}" + (f", {t}" if fam.kind == "exp_poly" else "")
    ax.stairs(b, edges, baseline=None, color="tab:blue", lw=2, label=label)
    label = rf"Signal+background fit, $m$ = {mass:g} GeV, $\sigma$ = {spec.sigma:g} GeV"
    ax.stairs(sb, edges, baseline=None, color=_SB_COLOR, lw=2, ls="--", label=label)
    ax.set_ylabel(f"Events / {width:g} GeV")
    top = max(float(counts.max()), float(np.max(sb[np.isfinite(sb)], initial=0.0)), 1.0)
    ax.set_ylim(0, top * 1.9)
    ax.legend(loc="upper right", fontsize=11, title=_fit_text(res, observed, summary))
    label_simulation(ax, "GAN-calibrated LEE")
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(b > 0, (counts - b) / np.sqrt(b), 0.0)
        pull_sb = np.where(b > 0, (sb - b) / np.sqrt(b), 0.0)
    rx.axhline(0, color="tab:blue", lw=1.5)
    rx.stairs(pull_sb, edges, color=_SB_COLOR, ls="--", lw=1.5)
    lim = max(3.0, float(np.nanmax(np.abs(pull_sb), initial=0.0)) * 1.3)
    ratio_panel(rx, centres, pull, np.ones_like(pull), ylim=(-lim, lim), color=DATA_COLOR, ms=4)
    rx.set_ylabel(r"$(n - b)/\sqrt{b}$", fontsize=14)
    rx.set_xlabel(r"$m_{\ell\ell\gamma}$ [GeV]")
    rx.set_xlim(edges[0], edges[-1])
    return fig
