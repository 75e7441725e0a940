"""Figure of the spurious-signal test: S_spur / sigma_stat vs mass, one panel per selection.

docs/design.md, "Spurious-signal test and background choice".
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.plotstyle import json_array, label_simulation, save_figure, selection_label, use_style

__all__ = ["PLOT_NAMES", "spurious_plots"]

PLOT_NAMES = ("spurious_signal",)


def spurious_plots(content: dict[str, Any], outdir: str | os.PathLike[str]) -> list[Path]:
    """``spurious_signal.{pdf,png}``: for each selection the ratio of every candidate, the
    chosen one bold, and the band ``+- max_ratio``."""
    plt = use_style()
    table = content["table"]
    masses = json_array(content["masses"])
    limit = float(content["settings"]["max_ratio"])
    n = len(table)
    ncol = min(n, 3)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.5 * ncol, 4.8 * nrow), squeeze=False)
    cmap = plt.get_cmap("viridis")
    models = list(content["candidates"])
    for k, sel in enumerate(table):
        ax = axes[k // ncol][k % ncol]
        ax.axhspan(-limit, limit, color="0.9", zorder=0)
        for i, row in enumerate(sel["rows"]):
            chosen = row["model"] == sel["chosen"]
            ax.plot(
                masses,
                json_array(row["ratio"]),
                color=cmap(i / max(len(models) - 1, 1)),
                lw=2.5 if chosen else 1.0,
                alpha=1.0 if chosen else 0.6,
                label=row["model"] + (" (chosen)" if chosen else ""),
            )
        frac = content["selections"][k]
        status = "" if sel["passed"] else ", none passes"
        ax.text(
            0.03,
            0.95,
            f"{selection_label(frac)}: {sel['n_toy']:.0f} events/toy{status}",
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=12,
        )
        ax.set_xlabel(r"$m_{\ell\ell\gamma}$ [GeV]")
        ax.set_ylabel(r"$S_{\rm spur} / \sigma_{\rm stat}$")
        finite = np.concatenate([np.abs(json_array(r["ratio"])) for r in sel["rows"]])
        finite = finite[np.isfinite(finite)]
        top = min(max(3 * limit, float(np.max(finite, initial=0.0)) * 1.1), 20.0)
        ax.set_ylim(-top, top)
        label_simulation(ax, f"template {sel['n_template']:.3g} events", fontsize=12)
        if k == 0:
            ax.legend(fontsize=8, ncol=2, loc="lower right")
    for k in range(n, nrow * ncol):
        axes[k // ncol][k % ncol].set_axis_off()
    fig.tight_layout()
    return save_figure(fig, outdir, "spurious_signal")
