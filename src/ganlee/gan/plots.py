"""Validation figures of the GAN (hist + mplhep, ``ganlee.plotstyle``), each as PDF and PNG.

* ``feature_<name>``: MC hold-out vs GAN, unit-normalised, with a GAN/MC ratio panel (arrows
  mark ratios outside it);
* ``features``: all features on one page (same panels, smaller);
* ``correlations``: Pearson correlation matrices of MC and GAN and their difference;
* ``losses``: critic and generator losses, Wasserstein estimate and penalty per epoch;
* ``monitor``: the hold-out monitor metrics of the training and the kept epoch.

A ``path`` argument names the figure: ``<dir>/<name>.png`` writes ``<dir>/<name>.pdf`` and
``<dir>/<name>.png`` (``ganlee.plotstyle.save_figure``); the functions return both paths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.features import FEATURE_LABELS
from ganlee.plotstyle import (
    GAN_COLOR,
    MC_COLOR,
    colorbar,
    label_simulation,
    ratio_panel,
    save_figure,
    use_style,
)

__all__ = [
    "feature_axis",
    "plot_correlations",
    "plot_feature",
    "plot_features",
    "plot_losses",
    "plot_monitor",
]

#: Range of the GAN/MC ratio panels; points outside are drawn as arrows at its edge.
RATIO_RANGE = (0.5, 1.5)


def _save(fig: Any, path: str | Path) -> list[Path]:
    out = Path(path)
    return save_figure(fig, out.parent, out.stem)


def feature_axis(
    values: np.ndarray, kind: str, window: tuple[float, float] | None = None, bins: int = 40
) -> Any:
    """A ``hist`` axis suited to the feature: integer bins, the angle range, the window, or the
    0.5-99.5 percentile range of the MC."""
    import hist

    if kind == "integer":
        hi = int(max(values.max(), 0)) + 1
        return hist.axis.Regular(hi + 1, -0.5, hi + 0.5, name="x")
    if kind == "angle":
        lo = 0.0 if values.min() >= 0 else -math.pi
        return hist.axis.Regular(bins, lo, math.pi, name="x")
    if kind == "window" and window is not None:
        return hist.axis.Regular(bins, window[0], window[1], name="x")
    lo, hi = np.percentile(values, [0.5, 99.5])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return hist.axis.Regular(bins, float(lo), float(hi), name="x")


def _draw(
    ax: Any, rax: Any, mc: np.ndarray, gan: np.ndarray, axis: Any, label: str, legend: bool
) -> None:
    import hist
    import mplhep

    h_mc = hist.Hist(axis, storage=hist.storage.Weight()).fill(mc)
    h_gan = hist.Hist(axis, storage=hist.storage.Weight()).fill(gan)
    n_mc, n_gan = max(len(mc), 1), max(len(gan), 1)
    mplhep.histplot(
        h_mc / n_mc,
        ax=ax,
        histtype="fill",
        color=MC_COLOR,
        alpha=0.35,
        label="MC (hold-out)",
        flow="none",
    )
    mplhep.histplot(
        h_gan / n_gan,
        ax=ax,
        histtype="step",
        color=GAN_COLOR,
        linewidth=1.6,
        label="GAN",
        flow="none",
    )
    if not ax.get_ylabel():
        ax.set_ylabel("Fraction of events")
    ax.set_ylim(0, None)
    if legend:
        ax.legend(loc="best", fontsize="small")
    ax.tick_params(labelbottom=False)
    v_mc, v_gan = h_mc.values(), h_gan.values()
    edges = axis.edges
    centres = 0.5 * (edges[1:] + edges[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (v_gan / n_gan) / (v_mc / n_mc)
        err = ratio * np.sqrt(1.0 / np.maximum(v_gan, 1) + 1.0 / np.maximum(v_mc, 1))
        band = np.sqrt(1.0 / v_mc)
    ok = v_mc > 0
    hi, lo = np.where(ok, 1 + band, np.nan), np.where(ok, 1 - band, np.nan)
    rax.stairs(hi, edges, baseline=lo, fill=True, color=MC_COLOR, alpha=0.3)
    ratio_panel(rax, centres[ok], ratio[ok], err[ok], ylim=RATIO_RANGE, color=GAN_COLOR, ms=2.5)
    rax.axhline(1.0, color="k", lw=0.8, ls="--")
    rax.set_yticks([0.6, 1.0, 1.4])
    rax.set_xlim(edges[0], edges[-1])
    rax.set_ylabel("GAN/MC", fontsize=ax.yaxis.label.get_fontsize())
    rax.set_xlabel(label)


def plot_feature(
    mc: np.ndarray,
    gan: np.ndarray,
    name: str,
    kind: str,
    path: str | Path,
    window: tuple[float, float] | None = None,
) -> list[Path]:
    """One feature: MC vs GAN (unit area) with the GAN/MC ratio and the MC statistical band."""
    plt = use_style()
    grid = {"height_ratios": [3, 1], "hspace": 0.06}
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(6, 5.5), gridspec_kw=grid, sharex=True)
    label = FEATURE_LABELS.get(name, name)
    _draw(ax, rax, mc, gan, feature_axis(mc, kind, window), label, legend=True)
    label_simulation(ax, fontsize=13)
    return _save(fig, path)


def plot_features(
    mc: np.ndarray,
    gan: np.ndarray,
    names: Sequence[str],
    kinds: Sequence[str],
    outdir: str | Path,
    window: tuple[float, float] | None = None,
    per_feature: bool = True,
) -> list[Path]:
    """``feature_<name>`` for each feature (if ``per_feature``) and the overview ``features``
    (three panels a row, each as large as a single-feature figure); PDF and PNG each."""
    plt = use_style()
    outdir = Path(outdir)
    paths: list[Path] = []
    if per_feature:
        for j, name in enumerate(names):
            path = outdir / f"feature_{name}.png"
            paths += plot_feature(mc[:, j], gan[:, j], name, kinds[j], path, window)
    ncol = 3
    nrow = math.ceil(len(names) / ncol)
    fig = plt.figure(figsize=(6.0 * ncol, 5.2 * nrow))
    outer = fig.add_gridspec(nrow, ncol, hspace=0.3, wspace=0.3)
    for j, name in enumerate(names):
        inner = outer[j // ncol, j % ncol].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
        ax = fig.add_subplot(inner[0])
        rax = fig.add_subplot(inner[1], sharex=ax)
        ax.set_ylabel("Fraction", fontsize="small")
        axis = feature_axis(mc[:, j], kinds[j], window)
        _draw(ax, rax, mc[:, j], gan[:, j], axis, FEATURE_LABELS.get(name, name), legend=j == 0)
        if j == 0:
            label_simulation(ax, fontsize=13)
    return paths + _save(fig, outdir / "features.png")


def plot_correlations(
    c_mc: np.ndarray, c_gan: np.ndarray, names: Sequence[str], path: str | Path
) -> list[Path]:
    """Correlation matrices of MC and GAN (colour scale [-1, 1]) and GAN - MC (symmetric scale)."""
    plt = use_style()
    diff = c_gan - c_mc
    lim = max(float(np.abs(diff).max()), 0.05)
    labels = [FEATURE_LABELS.get(n, n) for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(24, 8.4), gridspec_kw={"wspace": 0.45})
    panels = (
        (c_mc, "MC hold-out", 1.0, "Pearson correlation"),
        (c_gan, "GAN", 1.0, "Pearson correlation"),
        (diff, "GAN $-$ MC", lim, "Correlation difference GAN $-$ MC"),
    )
    for ax, (mat, title, vmax, cb_label) in zip(axes, panels, strict=True):
        im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(title, pad=24)
        ax.set_xticks(range(len(names)), labels, rotation=90, fontsize=9)
        ax.set_yticks(range(len(names)), labels, fontsize=9)
        ax.minorticks_off()
        ax.tick_params(length=0)
        colorbar(fig, im, ax, cb_label)
    label_simulation(axes[0], fontsize=13)
    return _save(fig, path)


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    """Running mean over ``n`` points (same length; shorter windows at the start)."""
    if n <= 1:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(idx - n, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_losses(history: Sequence[Mapping[str, float]], path: str | Path) -> list[Path]:
    """Losses, the critic's Wasserstein estimate and the (unweighted) gradient penalty per epoch;
    long histories are drawn faintly with a running mean on top."""
    plt = use_style()
    ep = np.array([r["epoch"] for r in history], dtype=float)
    n_smooth = max(1, len(ep) // 100)

    def col(key: str) -> np.ndarray:
        return np.array([r[key] for r in history], dtype=float)

    def draw(ax: Any, y: np.ndarray, color: str, label: str) -> None:
        if n_smooth > 1:
            ax.plot(ep, y, color=color, alpha=0.25, lw=0.6)
            ax.plot(ep, _smooth(y, n_smooth), color=color, lw=1.6, label=f"{label} (running mean)")
        else:
            ax.plot(ep, y, color=color, lw=1.6, label=label)

    gp = col("gradient_penalty")
    with_gp = bool(np.any(gp != 0))
    ncol = 3 if with_gp else 2
    fig, axes = plt.subplots(1, ncol, figsize=(6 * ncol, 4.6), gridspec_kw={"wspace": 0.45})
    draw(axes[0], col("loss_critic"), MC_COLOR, "critic loss")
    draw(axes[0], col("loss_generator"), GAN_COLOR, "generator loss")
    axes[0].set_ylabel("Loss")
    draw(
        axes[1],
        col("wasserstein"),
        "k",
        r"$\langle D(\mathrm{real})\rangle - \langle D(\mathrm{fake})\rangle$",
    )
    axes[1].set_ylabel("Critic's Wasserstein estimate")
    if with_gp:
        draw(
            axes[2],
            np.maximum(gp, 1e-12),
            "#94a4a2",
            r"$\langle(\|\nabla D(\hat{x})\|-1)^2\rangle$",
        )
        axes[2].set_yscale("log")
        axes[2].set_ylabel("Gradient penalty (unweighted)")
    for ax in axes:
        ax.set_xlabel("Epoch")
        ax.legend(fontsize="x-small", loc="best")
    label_simulation(axes[0], fontsize=13)
    return _save(fig, path)


def plot_monitor(
    history: Sequence[Mapping[str, float]], path: str | Path, best: Mapping[str, float] | None
) -> list[Path]:
    """The hold-out monitor metrics per monitored epoch (classifier AUC, W1 of m_llg in MC
    standard deviations, their sum: the score) with the kept (best) epoch marked; nothing
    without monitored epochs."""
    rows = [r for r in history if np.isfinite(r.get("monitor_score", float("nan")))]
    if not rows:
        return []
    plt = use_style()
    ep = np.array([r["epoch"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    auc = [r["monitor_auc"] - 0.5 for r in rows]
    ax.plot(ep, auc, "o-", ms=3, color=MC_COLOR, label="classifier AUC $-$ 0.5")
    w1 = [r["monitor_w1_m_llg"] for r in rows]
    ax.plot(ep, w1, "s-", ms=3, color=GAN_COLOR, label=r"$W_1(m_{\ell\ell\gamma}) / \sigma_{MC}$")
    ax.plot(ep, [r["monitor_score"] for r in rows], "-", lw=2, color="k", label="score (sum)")
    if best:
        ax.axvline(
            best["epoch"], color="#94a4a2", ls="--", label=f"kept: epoch {int(best['epoch'])}"
        )
    ax.set_yscale("log")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Monitor metric (lower is better)")
    ax.legend(fontsize="small", loc="best")
    label_simulation(ax, fontsize=13)
    return _save(fig, path)
