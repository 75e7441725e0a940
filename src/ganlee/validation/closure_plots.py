"""Figures of the closure test (``results/validation/closure.json``), each as PDF and PNG.

* ``closure``: overall z_max of the generator toys and of the independent-MC toys, both p_global
  curves with Clopper-Pearson bands, the mass at the maximum; per selection the KS /
  Anderson-Darling p-values, the fraction of maxima at a scan edge and the median z_max;
* ``closure_selections``: the p_global curves of both ensembles in every selection;
* ``selection_control``: the first figure for the selection control (``selection_control`` in
  the JSON): the generator's DNN-selected toys against its random-subset toys.

docs/design.md, "Validation: closure test".
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.io import InputError, read_json_object
from ganlee.plotstyle import (
    GAN_COLOR,
    MC_COLOR,
    json_array,
    label_simulation,
    save_figure,
    selection_label,
    use_style,
)
from ganlee.validation.plots import fmt_p

__all__ = ["CLOSURE_PLOT_NAMES", "closure_plots"]

#: Figure names written by ``closure_plots`` (each as ``<name>.pdf`` and ``<name>.png``).
CLOSURE_PLOT_NAMES: tuple[str, ...] = ("closure", "closure_selections", "selection_control")

_COLORS = (GAN_COLOR, MC_COLOR)
_SIDES = ("generator", "reference")


def _label(sel: Any) -> str:
    return "max over selections" if sel == "all" else selection_label(float(sel))


def _pglobal(ax: Any, row: dict[str, Any], names: tuple[str, str], legend: bool) -> None:
    from scipy.stats import norm

    top = 0.0
    for side, name, color in zip(_SIDES, names, _COLORS, strict=True):
        c = row[side]["p_global"]
        z, k = json_array(c["z_local"]), json_array(c["n_above"])
        has = k > 0
        if not has.any():
            continue
        top = max(top, float(z[has].max()))
        ax.fill_between(
            z[has],
            json_array(c["p_global_lo"])[has],
            json_array(c["p_global_hi"])[has],
            color=color,
            alpha=0.25,
            lw=0,
            step="post",
        )
        n = row[side]["n_finite"]
        ax.step(
            z[has],
            json_array(c["p_global"])[has],
            where="post",
            color=color,
            lw=2,
            label=f"{name} ({n} toys)",
        )
    zz = np.linspace(0, max(top + 0.5, 3.0), 200)
    ax.plot(zz, norm.sf(zz), color="black", ls=":", lw=1.2, label=r"$p_{\rm local}$")
    ax.set_yscale("log")
    ax.set_xlim(0, zz[-1])
    ax.set_ylim(max(1e-4, 0.3 / max(row["generator"]["n_finite"], 1)), 1.5)
    ax.set_xlabel(r"$Z_{\rm local}$ [$\sigma$]")
    ax.set_ylabel(r"$P(Z_{\max} \geq Z_{\rm local})$")
    if legend:
        ax.legend(loc="lower left", fontsize=10)


def _fmt_p(t: dict[str, Any] | None, key: str) -> str:
    if t is None:
        return "n/a"
    return fmt_p(t.get(key), t.get("ad_pvalue_bound") if key == "ad_pvalue" else None)


def _zmax_hist(ax: Any, s: dict[str, Any], names: tuple[str, str]) -> None:
    row = s["overall"]
    for side, name, color in zip(_SIDES, names, _COLORS, strict=True):
        c = row[side]["p_global"]
        z, k = json_array(c["z_local"]), json_array(c["n_above"])
        if not (k > 0).any():
            continue
        # counts per 0.25 sigma from the survival counts on the 0.05 grid
        step = max(1, round(0.25 / (z[1] - z[0]))) if z.size > 1 else 1
        zb, kb = z[::step], k[::step]
        counts = -np.diff(np.append(kb, 0.0))
        n = max(row[side]["n_finite"], 1)
        width = zb[1] - zb[0] if zb.size > 1 else 1.0
        med = row[side]["median"]
        ax.stairs(
            counts / (n * width),
            np.append(zb, zb[-1] + width),
            color=color,
            lw=2,
            label=f"{name}: median {med:.2f}" if med is not None else name,
        )
    t = row["two_sample"]
    ax.set_xlabel(r"$Z_{\max}$ (max over masses and selections) [$\sigma$]")
    ax.set_ylabel("Fraction of toys / unit $Z$")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.4)
    ax.legend(
        loc="upper right",
        fontsize=11,
        title=f"KS p = {_fmt_p(t, 'ks_pvalue')}, AD p = {_fmt_p(t, 'ad_pvalue')}",
        title_fontsize=11,
    )


def _per_selection(
    ax_p: Any, ax_e: Any, s: dict[str, Any], names: tuple[str, str], what: str
) -> None:
    rows = [*s["by_selection"], s["overall"]]
    x = np.arange(len(rows))
    labels = [_label(r["selection"]) for r in rows]
    tests = [r["two_sample"] or {} for r in rows]
    lowest = 1e-3
    for key, marker, text, color in (
        ("ks_pvalue", "o", "KS", "#e76300"),
        ("ad_pvalue", "s", "Anderson-Darling", "#832db6"),
    ):
        p = np.clip(json_array([t.get(key) for t in tests]), 1e-300, 1)
        below = np.array(
            [key == "ad_pvalue" and t.get("ad_pvalue_bound") == "upper" for t in tests]
        )
        if (~below).any():
            ax_p.plot(x[~below], p[~below], marker=marker, ls="none", ms=8, color=color, label=text)
        if below.any():
            ax_p.plot(
                x[below],
                p[below],
                marker="v",
                ls="none",
                ms=9,
                color=color,
                label=f"{text}: upper bound",
            )
        if np.isfinite(p).any():
            lowest = min(lowest, float(np.nanmin(p)))
    ax_p.axhline(s["checks"]["ks_pvalue"]["min"], color="0.4", ls="--", lw=1, label="threshold")
    ax_p.set_yscale("log")
    ax_p.set_ylim(lowest / 10, 2)
    ax_p.set_ylabel(f"p-value ({what})")
    ax_p.legend(loc="lower left", fontsize=10)
    for j, (side, name, color) in enumerate(zip(_SIDES, names, _COLORS, strict=True)):
        f = json_array([r[side]["edge"]["fraction"] for r in rows])
        lo = json_array([r[side]["edge"]["lo"] for r in rows])
        hi = json_array([r[side]["edge"]["hi"] for r in rows])
        ax_e.errorbar(
            x + 0.12 * (2 * j - 1),
            f,
            yerr=[f - lo, hi - f],
            fmt="o",
            color=color,
            capsize=3,
            label=name,
        )
    m = s["masses"]
    ax_e.set_ylabel(f"Fraction of maxima at {m[0]:g} or {m[-1]:g} GeV")
    ax_e.set_ylim(0, 1.05)
    ax_e.legend(loc="upper right", fontsize=10)
    for ax in (ax_p, ax_e):
        ax.set_xlim(-0.5, len(rows) - 0.5)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=11)


def _mass_at_max(ax: Any, s: dict[str, Any], names: tuple[str, str]) -> None:
    """Where the overall maxima sit: fraction of toys (with a maximum) per scanned mass."""
    m = np.asarray(s["masses"], dtype=np.float64)
    step = m[1] - m[0] if m.size > 1 else 1.0
    edges = np.append(m - step / 2, m[-1] + step / 2)
    for side, name, color in zip(_SIDES, names, _COLORS, strict=True):
        counts = np.asarray(s["overall"][side]["mass_at_max"], dtype=np.float64)
        ax.stairs(counts / max(counts.sum(), 1.0), edges, color=color, lw=2, label=name)
    ax.set_xlabel(r"$m_{\ell\ell\gamma}$ at $Z_{\max}$ [GeV]")
    ax.set_ylabel("Fraction of toys")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.legend(loc="upper right", fontsize=11, title="max over selections", title_fontsize=11)


def _medians(ax: Any, s: dict[str, Any], names: tuple[str, str]) -> None:
    """Median z_max per selection and overall, with bootstrap errors."""
    rows = [*s["by_selection"], s["overall"]]
    x = np.arange(len(rows))
    for j, (side, name, color) in enumerate(zip(_SIDES, names, _COLORS, strict=True)):
        med = json_array([r[side]["median"] for r in rows])
        err = json_array([r[side]["median_error"] for r in rows])
        ax.errorbar(
            x + 0.12 * (2 * j - 1), med, yerr=err, fmt="o", color=color, capsize=3, label=name
        )
    ax.set_ylabel(r"median $Z_{\max}$ [$\sigma$]")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
    ax.legend(loc="upper left", fontsize=10)
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_xticks(x)
    ax.set_xticklabels([_label(r["selection"]) for r in rows], rotation=35, ha="right", fontsize=11)


def _closure_figure(
    plt: Any, s: dict[str, Any], outdir: Path, name: str = "closure", control: bool = False
) -> list[Path]:
    names = (s["generator"], s["reference"])
    if control:
        names = (f"DNN-selected ({names[0]})", f"random subsets ({names[1]})")
    fig, axes = plt.subplots(2, 3, figsize=(23, 13))
    _zmax_hist(axes[0, 0], s, names)
    n = s["overall"]["generator"]["n_toys"]
    label_simulation(axes[0, 0], f"{n} toys per source")
    _pglobal(axes[0, 1], s["overall"], names, legend=True)
    axes[0, 1].set_title("max over selections", fontsize=13)
    _mass_at_max(axes[0, 2], s, names)
    what = "DNN vs random subsets" if control else "generator vs MC pool"
    _per_selection(axes[1, 0], axes[1, 1], s, names, what)
    _medians(axes[1, 2], s, names)
    if control:
        verdict = "no sculpting seen" if s["passed"] else "DNN SELECTIONS DIFFER"
        title = f"ganlee selection control: {names[0]} vs {names[1]}, same toys: {verdict}"
    else:
        verdict = "passed" if s["passed"] else "FAILED"
        title = (
            f"ganlee closure: {names[0]} toys vs {names[1]} toys (same procedure, seeds, "
            f"sizes): {verdict}"
        )
    fig.suptitle(title, fontsize=15)
    fig.tight_layout()
    return save_figure(fig, outdir, name)


def _selections_figure(plt: Any, s: dict[str, Any], outdir: Path) -> list[Path]:
    names = (s["generator"], s["reference"])
    rows = [*s["by_selection"], s["overall"]]
    ncol = min(4, len(rows))
    nrow = math.ceil(len(rows) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 4.2 * nrow), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(rows):
            ax.axis("off")
            continue
        r = rows[i]
        _pglobal(ax, r, names, legend=i == 0)
        g, m = r["generator"]["median"], r["reference"]["median"]
        med = f"{g:.2f} / {m:.2f}" if g is not None and m is not None else "n/a"
        ax.set_title(
            f"{_label(r['selection'])}: KS p {_fmt_p(r['two_sample'], 'ks_pvalue')}, medians {med}",
            fontsize=10,
        )
    fig.suptitle(f"ganlee closure per selection: {names[0]} vs {names[1]}", fontsize=14)
    fig.tight_layout()
    return save_figure(fig, outdir, "closure_selections")


def closure_plots(closure: str | os.PathLike[str], outdir: str | os.PathLike[str]) -> list[Path]:
    """Draw ``CLOSURE_PLOT_NAMES`` from ``closure`` (JSON) into ``outdir``; return the paths."""
    s = read_json_object(closure, "closure result", "validation_closure")
    if "selection_control" not in s:
        msg = (
            f"closure result '{closure}' has no selection_control section (rerun rule "
            "validation_closure: it compares the study gan_random too)"
        )
        raise InputError(msg)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    plt = use_style()
    paths = _closure_figure(plt, s, out) + _selections_figure(plt, s, out)
    return paths + _closure_figure(
        plt, s["selection_control"], out, "selection_control", control=True
    )
