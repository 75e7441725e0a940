"""One plotting style for every figure of ganlee (GAN, LEE and validation).

The style is mplhep's ATLAS-like style (no experiment name is claimed: the label reads
"ganlee Simulation"), the non-interactive Agg backend, and one set of sizes. Every figure is
written twice, as vector PDF and as a PNG at ``PNG_DPI``, each atomically (``save_figure``).
See docs/design.md, "Layers": this module sits beside ``ganlee.io`` at the bottom and imports
nothing of the analysis.

Helpers shared by the figures of several stages:

* ``label_simulation``: the "ganlee Simulation" label above the axes (with an optional
  right-hand text, e.g. the number of toys);
* ``ratio_panel``: a ratio panel with a fixed range and an arrow at the edge for every point
  outside it;
* ``log_ylim`` / ``count_ylim``: y ranges that span the data, not the formulas;
* ``colorbar``: a labelled colour bar;
* ``key_legend``: one legend entry per colour and one per marker / line style, instead of one
  per combination (no legend of eight entries for two quantities of four curves);
* ``selection_label`` and ``json_array``: the text of a selection fraction and a JSON list with
  nulls as a float array.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.io import atomic_path

__all__ = [
    "DATA_COLOR",
    "EXPERIMENT",
    "FORMATS",
    "GAN_COLOR",
    "MC_COLOR",
    "PNG_DPI",
    "colorbar",
    "count_ylim",
    "json_array",
    "key_legend",
    "label_simulation",
    "log_ylim",
    "ratio_panel",
    "save_figure",
    "selection_label",
    "use_style",
]

#: Name written in front of "Simulation" in every figure's label.
EXPERIMENT = "ganlee"
#: Resolution of the PNG copies (the PDF copies are vector graphics).
PNG_DPI = 150
#: The formats every figure is written in, in this order.
FORMATS: tuple[str, ...] = ("pdf", "png")

MC_COLOR = "#3f90da"
GAN_COLOR = "#bd1f01"
DATA_COLOR = "black"

_RC: dict[str, Any] = {
    "legend.fontsize": 13,
    "axes.labelsize": 17,
    "figure.dpi": 100,
    "savefig.dpi": PNG_DPI,
    "legend.frameon": False,
}


def use_style() -> Any:
    """Select the Agg backend and the project style; return ``matplotlib.pyplot``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    mplhep.style.use("ATLAS")
    rc: Any = plt.rcParams  # typed with literal keys: our keys are checked by matplotlib itself
    rc.update(_RC)
    return plt


def save_figure(fig: Any, outdir: str | os.PathLike[str], name: str) -> list[Path]:
    """Atomically save ``fig`` as ``<outdir>/<name>.pdf`` and ``<name>.png``; close it.

    Returns the paths in ``FORMATS`` order. ``bbox_inches="tight"`` keeps labels placed above or
    beside the axes inside the picture.
    """
    import matplotlib.pyplot as plt

    out_dir = Path(outdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in FORMATS:
        path = out_dir / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=PNG_DPI, bbox_inches="tight")
        written.append(path)
    plt.close(fig)
    return written


def label_simulation(ax: Any, rlabel: str = "", fontsize: float = 15) -> None:
    """Write "ganlee *Simulation*" above the top-left corner of ``ax`` and ``rlabel`` above its
    top-right corner (outside the data area, so it never hides a curve)."""
    ax.text(
        0.0,
        1.015,
        rf"$\mathbf{{{EXPERIMENT}}}$ $\mathit{{Simulation}}$",
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=fontsize,
    )
    if rlabel:
        ax.text(
            1.0,
            1.015,
            rlabel,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=fontsize * 0.8,
        )


def ratio_panel(
    rax: Any,
    x: np.ndarray,
    ratio: np.ndarray,
    err: np.ndarray,
    ylim: tuple[float, float] = (0.5, 1.5),
    color: str = GAN_COLOR,
    ms: float = 3.0,
) -> int:
    """Draw ``ratio +- err`` at ``x`` inside ``ylim`` and an arrow at the panel's edge (pointing
    out of it) for every finite point outside; return the number of such points.

    Without the arrows a point outside the range (e.g. a GAN/MC ratio of 1.75 in a panel that
    ends at 1.5) would silently vanish.
    """
    lo, hi = ylim
    ratio = np.asarray(ratio, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    finite = np.isfinite(ratio)
    inside = finite & (ratio >= lo) & (ratio <= hi)
    rax.errorbar(x[inside], ratio[inside], yerr=err[inside], fmt="o", ms=ms, color=color, lw=1)
    span = hi - lo
    above, below = finite & (ratio > hi), finite & (ratio < lo)
    for mask, tip, tail in ((above, hi, hi - 0.22 * span), (below, lo, lo + 0.22 * span)):
        for xi in np.asarray(x)[mask]:
            rax.annotate(
                "",
                xy=(xi, tip),
                xytext=(xi, tail),
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.4},
                annotation_clip=False,
            )
    rax.set_ylim(lo, hi)
    return int(above.sum() + below.sum())


def _positive(values: Iterable[Any]) -> np.ndarray:
    flat = [np.ravel(np.asarray(v, dtype=np.float64)) for v in values]
    arr = np.concatenate(flat) if flat else np.zeros(0)
    return arr[np.isfinite(arr) & (arr > 0)]


def log_ylim(
    values: Iterable[Any], below: float = 3.0, above: float = 30.0, floor: float = 1e-300
) -> tuple[float, float]:
    """A log-axis range spanning the positive finite ``values``: from ``min / below`` to
    ``max * above`` (room for a legend on top); ``(0.1, 10)`` when there is none."""
    v = _positive(values)
    if not v.size:
        return 0.1, 10.0
    return max(float(v.min()) / below, floor), float(v.max()) * above


def count_ylim(n: float, log: bool, headroom: float = 1.5) -> tuple[float, float]:
    """A y range for a histogram of ``n`` entries: up to ``n`` (times ``headroom``, a factor
    ``headroom**4`` on a log axis for the legend), from 0 or, on a log axis, from 0.5 entries."""
    top = max(float(n), 1.0)
    if log:
        return 0.5, top * headroom**4
    return 0.0, top * headroom


def colorbar(fig: Any, mappable: Any, ax: Any, label: str, **kwargs: Any) -> Any:
    """A colour bar beside ``ax`` with ``label`` on it."""
    cb = fig.colorbar(mappable, ax=ax, fraction=kwargs.pop("fraction", 0.046), pad=0.03, **kwargs)
    cb.set_label(label)
    return cb


def key_legend(
    ax: Any,
    colors: Mapping[str, Any],
    styles: Mapping[str, Mapping[str, Any]],
    **kwargs: Any,
) -> Any:
    """A legend that names each colour (``label -> colour``) and each drawing style
    (``label -> Line2D keywords``, e.g. ``{"marker": "o", "ls": "none"}``) once.

    Curves that combine a colour with a style then need no entry of their own.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(color=c, label=label) for label, c in colors.items()]
    for label, style in styles.items():
        handles.append(
            Line2D([], [], color=style.get("color", "0.25"), label=label, **_no_color(style))
        )
    return ax.legend(handles=handles, **kwargs)


def _no_color(style: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in style.items() if k != "color"}


def selection_label(frac: float) -> str:
    """Human label of a selection fraction: ``0.05 -> 'top 5%'``, ``1.0 -> 'all events'``."""
    if frac >= 1.0:
        return "all events"
    return f"top {100 * frac:g}%"


def json_array(x: Iterable[Any]) -> np.ndarray:
    """A JSON list with nulls (``ganlee.io.write_json`` writes NaN as null) as a float array."""
    return np.array([np.nan if v is None else v for v in x], dtype=np.float64)
