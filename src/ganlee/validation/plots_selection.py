"""Validation figures of what the DNN selection does (``ganlee.plotstyle``; drawn by
``ganlee.validation.plots``):

* ``sensitivity``: probability to find the injected signal, local and global Z vs injected
  events, for each scoring (``ganlee.validation.sensitivity``);
* ``sculpting``: selection / inclusive m_llg shape per selection with its spread over toys, with
  and without the dropped features (``ganlee.validation.sculpting``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.plotstyle import (
    json_array,
    key_legend,
    label_simulation,
    save_figure,
    selection_label,
)

__all__ = ["plot_sculpting", "plot_sensitivity"]

COLORS = {"train": "tab:red", "kfold": "tab:blue"}
_OFFSETS = {"train": -0.8, "kfold": 0.8}


def _get(rows: list[dict[str, Any]], *keys: str) -> np.ndarray:
    """``rows[i][k0][k1]...`` for every row as a float array (NaN where a level is missing)."""
    out = []
    for r in rows:
        v: Any = r
        for k in keys:
            v = (v or {}).get(k)
        out.append(v)
    return json_array(out)


def _found(ax: Any, n: np.ndarray, rows: list[dict[str, Any]], color: str, scoring: str) -> None:
    p, lo, hi = (_get(rows, "found", k) for k in ("probability", "lo", "hi"))
    style = {"fmt": "o-", "color": color, "ms": 7, "capsize": 4}
    ax.errorbar(n, p, yerr=[p - lo, hi - p], label=f"scoring: {scoring}", **style)


def _local(ax: Any, n: np.ndarray, rows: list[dict[str, Any]], color: str) -> None:
    med, q16, q84 = (_get(rows, "z_local", k) for k in ("median", "q16", "q84"))
    ax.errorbar(n, med, yerr=[med - q16, q84 - med], fmt="o-", color=color, ms=7, capsize=4)
    ax.plot(n, _get(rows, "z_at_mass", "median"), "s--", color=color, ms=6, alpha=0.7)


def _asimov(ax: Any, n: np.ndarray, rows: list[dict[str, Any]]) -> None:
    ax.plot(n, _get(rows, "asimov_inclusive", "known_background"), "k:", lw=2)
    ax.plot(n, _get(rows, "asimov_inclusive", "profiled"), "k-.", lw=2)


def _global(ax: Any, n: np.ndarray, rows: list[dict[str, Any]], color: str) -> None:
    for calib, ls in (("main", "-"), ("same_scoring", "--")):
        zg = _get([r["global"] for r in rows], calib, "median", "z_global_toys")
        zlow = _get([r["global"] for r in rows], calib, "median", "z_global_toys_lower_limit")
        zgv = _get([r["global"] for r in rows], calib, "median", "z_global_gv")
        if np.isfinite(zg).any() or np.isfinite(zgv).any():
            ax.plot(n, np.where(np.isfinite(zg), zg, zlow), marker="o", ls=ls, color=color, ms=7)
            ax.plot(n, zgv, marker="x", ls=ls, color=color, ms=8, alpha=0.6)


_LOCAL_STYLES: dict[str, dict[str, Any]] = {
    r"$Z_{\max}$ median, 16-84%": {"marker": "o", "ls": "-"},
    "Z at the injected mass, median": {"marker": "s", "ls": "--"},
    r"Asimov $Z_A$, all events, known background": {"color": "k", "ls": ":", "lw": 2},
    "Asimov dataset fitted (all events)": {"color": "k", "ls": "-.", "lw": 2},
}
_GLOBAL_STYLES: dict[str, dict[str, Any]] = {
    "toys (lower limit where none reaches)": {"marker": "o", "ls": "none"},
    "Gross-Vitells": {"marker": "x", "ls": "none"},
    "calibrated on the main LEE toys": {"ls": "-"},
    "on bkg-only toys, same scoring": {"ls": "--"},
}


def plot_sensitivity(plt: Any, s: dict[str, Any], outdir: Path) -> list[Path]:
    """Three panels vs injected signal events: P(found), local Z, global Z; colour = scoring,
    marker and line style = quantity (one legend entry each)."""
    sens = s["sensitivity"]
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(20, 6.5))
    colors = {}
    for j, (scoring, rows) in enumerate(sens["by_scoring"].items()):
        color = COLORS.get(scoring, "tab:green")
        colors[f"scoring: {scoring}"] = color
        n0 = np.array([r["n_signal"] for r in rows], dtype=np.float64)
        n = n0 + _OFFSETS.get(scoring, 0.0)
        _found(a1, n, rows, color, scoring)
        _local(a2, n, rows, color)
        if j == 0:
            _asimov(a2, n0, rows)
        _global(a3, n, rows, color)
    a1.set_ylim(0, 1.35)
    a1.set_ylabel(rf"P($|m_{{\rm fit}} - {sens['mass']:g}| \leq {sens['window_sigmas']:g}\sigma$)")
    if colors:
        title = rf"$m$ = {sens['mass']:g} GeV, $\sigma$ = {sens['width']:g} GeV"
        a1.legend(loc="upper left", fontsize=12, title=title, title_fontsize=12)
        key_legend(a2, colors, _LOCAL_STYLES, loc="upper left", fontsize=10)
        key_legend(a3, colors, _GLOBAL_STYLES, loc="upper left", fontsize=10)
    else:
        a1.text(0.5, 0.5, "no injection study", ha="center", transform=a1.transAxes)
    a2.set_ylabel(r"Local significance [$\sigma$]")
    a2.set_ylim(0, max(a2.get_ylim()[1], 1.0) * 1.6)
    a3.set_ylabel(r"$Z_{\rm global}$ of the median $Z_{\max}$ [$\sigma$]")
    a3.set_ylim(0, max(a3.get_ylim()[1], 1.0) * 1.6)
    for ax in (a1, a2, a3):
        ax.set_xlabel("Injected signal events")
    label_simulation(a1, f"{s['n_toys_per_study']:,} toys per point")
    fig.tight_layout()
    return save_figure(fig, outdir, "sensitivity")


def _sculpting_panel(ax: Any, runs: list[tuple[str, str, str]], sc: dict[str, Any], j: int) -> None:
    for key, color, label in runs:
        block = sc[key]
        row = block["selections"][j]
        e = np.asarray(block["edges"])
        mean, std, sem = (json_array(row[k]) for k in ("ratio_mean", "ratio_std", "ratio_sem"))
        ax.stairs(mean + std, e, baseline=mean - std, fill=True, color=color, alpha=0.18)
        label = f"{label}: $\\chi^2$/ndf {row['chi2_flat']:.0f}/{row['ndf']}"
        ax.stairs(mean, e, color=color, lw=2, label=label)
        c = 0.5 * (e[1:] + e[:-1])
        ax.errorbar(c, mean, yerr=sem, fmt="none", color=color, lw=1.2)
    ax.axhline(1.0, color="black", ls="--", lw=1)
    ax.set_ylim(0.0, 2.3)
    ax.legend(loc="upper left", fontsize=8.5)


def _sculpting_info(runs: list[tuple[str, str, str]], sc: dict[str, Any]) -> str:
    lines = ["band: spread over toys (1 std)", "bars: error of the mean", ""]
    for key, _c, label in runs:
        b = sc[key]
        cr, au = b.get("response_mllg_corr"), b.get("auc")
        lines.append(f"{label}:")
        if cr and cr["mean"] is not None:
            lines.append(f"  corr(response, m_llg) = {cr['mean']:+.3f} +- {cr['std']:.3f}")
        if au and au["mean"] is not None:
            lines.append(f"  AUC = {au['mean']:.3f} +- {au['std']:.3f}")
    r2 = sc.get("mllg_r2")
    if r2:
        lines += [
            "",
            "m_llg recoverable from inputs (R^2):",
            f"  without m_llg only: {r2['dnn_inputs_without_m_llg']:.2f}",
            f"  without dropped set: {r2['dnn_inputs_without_dropped']:.2f}",
        ]
    return "\n".join(lines)


def plot_sculpting(plt: Any, s: dict[str, Any], outdir: Path) -> list[Path]:
    """One panel per selection: selected / inclusive m_llg shape, mean over background-only toys,
    with and without the dropped features; a text panel with the correlations and AUCs."""
    sc = s["sculpting"]
    candidates = (
        ("with", "tab:red", "all DNN inputs"),
        ("without", "tab:blue", "without " + ", ".join(sc["dropped_features"])),
    )
    runs = [(k, c, lab) for k, c, lab in candidates if sc.get(k)]
    if not runs:
        fig = plt.figure(figsize=(9, 6))
        text = "No sculpting diagnostics (toys.diagnostics missing in the chunks)"
        fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=15)
        return save_figure(fig, outdir, "sculpting")
    sels = [row["selection"] for row in sc[runs[0][0]]["selections"]]
    ncol = 4
    nrow = math.ceil((len(sels) + 1) / ncol)
    size = (5 * ncol, 4.3 * nrow + 0.6)
    fig, axes = plt.subplots(nrow, ncol, figsize=size, sharex=True, squeeze=False)
    flat = axes.ravel()
    for j, frac in enumerate(sels):
        ax = flat[j]
        _sculpting_panel(ax, runs, sc, j)
        ax.set_title(selection_label(frac), fontsize=13, pad=22 if j == 0 else 6)
        if j % ncol == 0:
            ax.set_ylabel("selected / inclusive shape")
        if j >= len(sels) - ncol:
            ax.set_xlabel(r"$m_{\ell\ell\gamma}$ [GeV]")
    info = flat[len(sels)]
    info.set_axis_off()
    text = _sculpting_info(runs, sc)
    info.text(0.02, 0.98, text, va="top", ha="left", fontsize=11, transform=info.transAxes)
    for ax in flat[len(sels) + 1 :]:
        ax.set_axis_off()
    n = sc[runs[0][0]]["n_toys"]
    label_simulation(flat[0], "", fontsize=13)
    fig.suptitle(
        f"m_llg shape carved out by the DNN selections: background-only GAN toys (N = {n:,}), "
        "mean over toys",
        fontsize=15,
    )
    fig.tight_layout()
    return save_figure(fig, outdir, "sculpting")
