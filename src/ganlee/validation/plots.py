"""Figures of the validation studies (hist + mplhep, ``ganlee.plotstyle``), each written as PDF
and PNG.

All are drawn from ``results/validation/summary.json`` (``ganlee validation-summary``):

* ``zmax_gan_vs_mc``: z_max of GAN and MC-bootstrap toys, and both p_global curves;
* ``ensemble``: p_global of every GAN of the ensemble and the spread of the global Z;
* ``sensitivity``, ``sculpting``: ``ganlee.validation.plots_selection``;
* ``amplification``: quantile MSE vs sample size, GAN vs true-sample expectation (arXiv:2008.06545).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.io import read_json_object
from ganlee.plotstyle import json_array, key_legend, label_simulation, save_figure, use_style
from ganlee.validation.plots_selection import plot_sculpting, plot_sensitivity

__all__ = ["PLOT_NAMES", "fmt_p", "validation_plots"]

#: Figure names written by ``validation_plots`` (each as ``<name>.pdf`` and ``<name>.png``).
PLOT_NAMES: tuple[str, ...] = (
    "zmax_gan_vs_mc",
    "ensemble",
    "sensitivity",
    "sculpting",
    "amplification",
)

_COLORS = {"gan": "tab:red", "mc_bootstrap": "tab:blue"}


def fmt_p(p: float | None, bound: str | None = None) -> str:
    """A p-value for a legend: "n/a", or 3 digits with "< " / "> " for an upper / lower bound."""
    if p is None:
        return "n/a"
    sign = {"upper": "< ", "lower": "> "}.get(bound or "", "")
    return f"{sign}{p:.3g}"


def _fmt_z(z: float | None, lo: float | None = None) -> str:
    if z is None:
        return f"> {lo:.2f}" if lo is not None else "n/a"
    return f"{z:.2f}"


def _z_reach(s: dict[str, Any], names: Any) -> float:
    """Upper end of the local-Z axis: past the largest z_max of the studies ``names``."""
    top = 5.5
    for n in names:
        c = s["studies"].get(n, {}).get("p_global_curve")
        if c:
            z, k = json_array(c["z_local"]), json_array(c["n_above"])
            if (k > 0).any():
                top = max(top, float(z[k > 0].max()) + 0.3)
    return top


def _note(fig: Any, text: str) -> None:
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=15)


def _plot_zmax(plt: Any, s: dict[str, Any], outdir: Path) -> list[Path]:
    import mplhep

    g = s["gan_vs_mc"]
    if g is None:
        fig = plt.figure(figsize=(9, 6))
        _note(fig, "GAN or MC-bootstrap study missing (partial summary)")
        return save_figure(fig, outdir, "zmax_gan_vs_mc")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(16, 7))
    for name, label in (("gan", "GAN toys"), ("mc_bootstrap", "MC-bootstrap toys")):
        b = s["studies"][name]
        h = b["z_max_histogram"]
        counts = np.asarray(h["counts"], dtype=np.float64)
        edges = np.asarray(h["edges"])
        n = max(h["n"], 1)
        width = edges[1] - edges[0]
        mplhep.histplot(
            counts / (n * width),
            edges,
            yerr=np.sqrt(counts) / (n * width),
            ax=a1,
            histtype="step",
            lw=2,
            color=_COLORS[name],
            label=f"{label} (N = {h['n']:,})",
        )
        c = b["p_global_curve"]
        z = json_array(c["z_local"])
        k = json_array(c["n_above"])
        has = k > 0
        a2.fill_between(
            z[has],
            json_array(c["p_global_lo"])[has],
            json_array(c["p_global_hi"])[has],
            color=_COLORS[name],
            alpha=0.25,
            lw=0,
        )
        a2.plot(
            z[has],
            json_array(c["p_global"])[has],
            color=_COLORS[name],
            lw=2,
            label=f"{label}: fraction of toys",
        )
        if "p_global_gv" in c:
            pg = json_array(c["p_global_gv"])
            ok = (z >= b["gross_vitells"]["z0"]) & (pg <= 1.0)
            a2.plot(
                z[ok], pg[ok], color=_COLORS[name], lw=1.5, ls="--", label=f"{label}: Gross-Vitells"
            )
    t = g["two_sample"]
    a1.set_xlabel(r"$Z_{\max}$ (max over masses and selections) [$\sigma$]")
    a1.set_ylabel("Fraction of toys / unit $Z$")
    a1.set_ylim(0, a1.get_ylim()[1] * 1.45)
    a1.legend(
        loc="upper right",
        fontsize=12,
        title=(
            f"KS p = {fmt_p(t['ks_pvalue'])}, Anderson-Darling p = "
            f"{fmt_p(t['ad_pvalue'], t['ad_pvalue_bound'])}"
        ),
        title_fontsize=12,
    )
    ztop = _z_reach(s, ("gan", "mc_bootstrap"))
    zz = np.linspace(0, ztop, 300)
    from scipy.stats import norm

    a2.plot(zz, norm.sf(zz), color="black", ls=":", lw=1.5, label=r"$p_{\rm local} = 1 - \Phi(Z)$")
    rows = []
    for row in g["global"]:
        zl = row["z_local"]
        a2.axvline(zl, color="0.6", lw=0.8, ls="-.")
        gan, mc = row["gan"], row["mc_bootstrap"]
        rows.append(
            rf"$Z_{{\rm local}}$ = {zl:g}: $Z_{{\rm global}}$ GAN "
            rf"{_fmt_z(gan['z_global_toys'], gan['z_global_toys_lo'])} "
            rf"(GV {_fmt_z(gan['z_global_gv'])}), "
            rf"MC {_fmt_z(mc['z_global_toys'], mc['z_global_toys_lo'])} "
            rf"(GV {_fmt_z(mc['z_global_gv'])})"
        )
    txt = "\n".join(rows)
    a2.set_yscale("log")
    a2.set_xlim(0, ztop)
    a2.set_ylim(1e-5, 3)
    a2.set_xlabel(r"Local significance $Z_{\rm local}$ [$\sigma$]")
    a2.set_ylabel(r"$p_{\rm global} = P(Z_{\max} \geq Z_{\rm local})$")
    a2.legend(loc="lower left", fontsize=10, title=txt, title_fontsize=10)
    label_simulation(a1, "GAN vs MC-bootstrap toys (same toy procedure and seeds)")
    fig.tight_layout()
    return save_figure(fig, outdir, "zmax_gan_vs_mc")


def _plot_ensemble(plt: Any, s: dict[str, Any], outdir: Path) -> list[Path]:
    ens = s["ensemble"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(16, 7), gridspec_kw={"width_ratios": [3, 2]})
    if ens is None:
        plt.close(fig)
        fig = plt.figure(figsize=(9, 6))
        _note(fig, "GAN ensemble off (validation.n_gans = 1)")
        return save_figure(fig, outdir, "ensemble")
    cmap = plt.get_cmap("tab10")
    for i, m in enumerate(ens["members"]):
        c = s["studies"][m]["p_global_curve"]
        z, k = json_array(c["z_local"]), json_array(c["n_above"])
        has = k > 0
        label = "GAN 0 (main)" if i == 0 else f"GAN {i} ({m})"
        a1.fill_between(
            z[has],
            json_array(c["p_global_lo"])[has],
            json_array(c["p_global_hi"])[has],
            color=cmap(i % 10),
            alpha=0.15,
            lw=0,
        )
        a1.plot(z[has], json_array(c["p_global"])[has], color=cmap(i % 10), lw=2, label=label)
    a1.set_yscale("log")
    a1.set_xlim(0, _z_reach(s, ens["members"]))
    a1.set_ylim(1e-4, 3)
    a1.set_xlabel(r"Local significance $Z_{\rm local}$ [$\sigma$]")
    a1.set_ylabel(r"$p_{\rm global}$ (toys, Clopper-Pearson bands)")
    a1.legend(
        loc="lower left",
        fontsize=12,
        title=f"{len(ens['members'])} GANs differing only in seed",
        title_fontsize=12,
    )
    x = np.arange(len(ens["members"]))
    lines = []
    colors: dict[str, Any] = {}
    for j, block in enumerate(ens["by_z_local"]):
        color = cmap(j % 10)
        zl = block["z_local"]
        zt = json_array(block["z_global_toys"]["per_member"])
        zte = json_array(block["z_global_toys"]["per_member_stat_err"])
        zg = json_array(block["z_global_gv"]["per_member"])
        off = 0.06 * (j - (len(ens["by_z_local"]) - 1) / 2)
        err = np.where(np.isfinite(zte), zte, 0)
        a2.errorbar(x + off, zt, yerr=err, fmt="o", color=color, ms=8, capsize=4)
        a2.plot(x + off, zg, ls="none", marker="s", mfc="none", color=color, ms=8)
        colors[rf"$Z_{{\rm local}}$ = {zl:g}"] = color
        t = block["z_global_toys"]
        if t["mean"] is not None and math.isfinite(t["mean"]):
            lines.append(
                rf"$Z_{{\rm local}}$ = {zl:g}: spread {t['std']:.2f} "
                rf"vs stat. {t['stat_err_mean']:.2f}"
            )
    a2.set_xticks(x, [f"GAN {i}" for i in x])
    a2.minorticks_off()
    a2.set_xlim(-0.6, len(x) - 0.4)
    a2.set_ylabel(r"$Z_{\rm global}$")
    lo, hi = a2.get_ylim()
    a2.set_ylim(min(lo, 0.0), hi + 0.8 * (hi - lo))
    styles = {
        "toys (stat. error)": {"marker": "o", "ls": "none"},
        "Gross-Vitells": {"marker": "s", "mfc": "none", "ls": "none"},
    }
    title = "\n".join(lines)
    key_legend(
        a2, colors, styles, loc="upper left", fontsize=10, ncol=2, title=title, title_fontsize=10
    )
    label_simulation(a1, "GAN ensemble: same toys, different GAN seeds")
    fig.tight_layout()
    return save_figure(fig, outdir, "ensemble")


def _plot_amplification(plt: Any, s: dict[str, Any], outdir: Path) -> list[Path]:
    amp = s.get("amplification")
    if not amp:
        fig = plt.figure(figsize=(9, 6))
        _note(fig, "No amplification study")
        return save_figure(fig, outdir, "amplification")
    fig, ax = plt.subplots(figsize=(10, 7.5))
    rows = amp["per_size"]
    n = np.array([r["n"] for r in rows], dtype=np.float64)
    mse = np.array([r["mse"] for r in rows])
    err = np.array([r["mse_err"] for r in rows])
    nn = np.logspace(np.log10(min(n.min(), amp["n_train"]) / 2), np.log10(n.max() * 2), 200)
    k, inv_r = amp["kappa"], 1.0 / amp["n_reference"]
    ax.plot(
        nn,
        k * (1 / nn + inv_r),
        color="black",
        lw=2,
        label=r"true events: $\kappa (1/N + 1/N_{\rm ref})$",
    )
    ax.axhline(
        k * inv_r,
        color="0.5",
        ls=":",
        lw=1.5,
        label=f"reference noise ($N_{{\\rm ref}}$ = {amp['n_reference']:,})",
    )
    ax.errorbar(n, mse, yerr=err, fmt="o-", color="tab:red", ms=7, capsize=4, label="GAN samples")
    b = amp["bootstrap_of_training"]
    ax.errorbar(
        [r["n"] for r in b],
        [r["mse"] for r in b],
        yerr=[r["mse_err"] for r in b],
        fmt="s--",
        color="tab:blue",
        ms=6,
        capsize=3,
        label="bootstrap of the GAN's training MC",
    )
    t = amp["training_sample"]
    ax.plot(
        [t["n"]],
        [t["mse"]],
        marker="*",
        ms=18,
        color="tab:green",
        ls="none",
        label=f"training MC itself ($N_{{\\rm train}}$ = {t['n']:,})",
    )
    h = amp["headline"]
    hi = h["amplification_hi"]
    hi_txt = f"{hi:.2g}" if hi is not None and math.isfinite(hi) else "unresolved"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Sample size N")
    ax.set_ylabel(
        f"Quantile MSE ({amp['n_quantiles']} quantiles of the reference $m_{{\\ell\\ell\\gamma}}$)"
    )
    ax.legend(
        loc="upper right",
        fontsize=11,
        title=(
            f"GAN, N = {h['n']:,}: worth {h['n_equivalent']:.3g} true events,\n"
            f"amplification {h['amplification']:.2g} [{h['amplification_lo']:.2g}, {hi_txt}] "
            "(arXiv:2008.06545)"
        ),
        title_fontsize=11,
    )
    lo, top = ax.get_ylim()
    ax.set_ylim(lo, top * 60)
    label_simulation(ax, r"GAN amplification, $m_{\ell\ell\gamma}$")
    fig.tight_layout()
    return save_figure(fig, outdir, "amplification")


def validation_plots(summary: str | os.PathLike[str], outdir: str | os.PathLike[str]) -> list[Path]:
    """Draw every validation figure (``PLOT_NAMES``) into ``outdir``; return the paths written."""
    s = read_json_object(summary, "validation summary", "validation_summary")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    plt = use_style()
    written: list[Path] = []
    written += _plot_zmax(plt, s, out)
    written += _plot_ensemble(plt, s, out)
    written += plot_sensitivity(plt, s, out)
    written += plot_sculpting(plt, s, out)
    written += _plot_amplification(plt, s, out)
    return written
