"""The answer of a run in a few lines: observed local and global Z, p_global at Z_local = 3 with
its interval, toys used, fit failures, and the fidelity and background-model checks.

``headline(summary, validation, background)`` returns a plain dict (for the report's front page),
``format_headline`` the text printed at the end of ``ganlee lee-aggregate`` and of a Snakemake
run. The LEE numbers come from ``results/lee/summary.json`` (``ganlee.stats.lee``: p_global by
counting toys, Clopper-Pearson intervals, Gross-Vitells arXiv:1005.1891); the two checks are read
when their files exist: ``results/gan/validation.json`` (block ``fidelity``: ``passed``,
``message``, ``checks``) and ``results/fit/background.json`` (the background-model choice).
See docs/design.md, "Headline".
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = [
    "HEADLINE_Z",
    "format_headline",
    "headline",
    "headline_from_files",
    "read_optional_json",
    "sizes_text",
]

#: The local significance whose global p-value the headline quotes.
HEADLINE_Z = 3.0


def read_optional_json(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when there is no path, no file or no valid object."""
    if path is None or not Path(path).is_file():
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _at_z(summary: dict[str, Any], z: float) -> dict[str, Any] | None:
    """p_global at local ``z`` with its interval: the table row, else the curve's grid point."""
    for row in summary.get("table") or []:
        if abs(float(row["z_local"]) - z) < 1e-9 and row.get("toys"):
            t = row["toys"]
            return {
                "z_local": z,
                "p_local": row["p_local"],
                "p_global": t["p_global"],
                "p_global_lo": t["p_global_lo"],
                "p_global_hi": t["p_global_hi"],
                "z_global": t["z_global"],
                "z_global_lo": t["z_global_lo"],
                "n_above": t["n_above"],
            }
    curve = summary.get("curve") or {}
    grid = curve.get("z_local") or []
    for i, zg in enumerate(grid):
        if abs(float(zg) - z) < 1e-9:
            return {
                "z_local": z,
                "p_local": curve["p_local"][i],
                "p_global": curve["p_global"][i],
                "p_global_lo": curve["p_global_lo"][i],
                "p_global_hi": curve["p_global_hi"][i],
                "z_global": None,
                "z_global_lo": None,
                "n_above": curve["n_above"][i],
            }
    return None


def _observed(summary: dict[str, Any]) -> dict[str, Any] | None:
    obs = summary.get("observed") or summary.get("given_z")
    if not obs:
        return None
    toys = obs.get("toys") or {}
    gv = obs.get("gross_vitells") or {}
    return {
        "source": obs.get("source"),
        "sizes": obs.get("sizes"),
        "not_quoted": obs.get("not_quoted"),
        "size_warning": obs.get("size_warning"),
        "z_local": obs["z_local"],
        "mass_at_max": obs.get("mass_at_max"),
        "selection_at_max": obs.get("selection_at_max"),
        "z_global": toys.get("z_global"),
        "z_global_lo": toys.get("z_global_lo"),
        "z_global_hi": toys.get("z_global_hi"),
        "p_global": toys.get("p_global"),
        "reachable": bool(toys.get("reachable")),
        "z_global_gross_vitells": gv.get("z_global"),
    }


def _check(block: Any, name: str) -> dict[str, Any] | None:
    """``{"passed", "message", ...}`` of a check block, tolerant of missing keys."""
    if not isinstance(block, dict):
        return None
    out: dict[str, Any] = {"name": name, "passed": block.get("passed"), "message": ""}
    msg = block.get("message")
    if msg:
        out["message"] = str(msg)
    for key in ("model", "chosen", "family", "order"):
        if key in block and not isinstance(block[key], (dict, list)):
            out[key] = block[key]
    return out


def headline(
    summary: dict[str, Any],
    validation: dict[str, Any] | None = None,
    background: dict[str, Any] | None = None,
    z_local: float = HEADLINE_Z,
) -> dict[str, Any]:
    """The headline of a LEE summary (``summary.json`` as a dict), with the optional checks.

    Keys: ``partial`` (bool), ``n_toys``, ``n_toys_used``, ``n_toys_expected``, ``observed``
    (or None), ``at_z`` (p_global at ``z_local`` with its Clopper-Pearson interval, or None),
    ``cl``, ``fit_failures``, ``checks`` (list of ``{"name", "passed", "message"}``).
    """
    partial = bool(summary.get("partial"))
    checks = []
    fid = _check((validation or {}).get("fidelity"), "GAN fidelity")
    if fid:
        checks.append(fid)
    bkg = _check(background, "background model")
    if bkg:
        checks.append(bkg)
    return {
        "partial": partial,
        "n_toys": int(summary["n_toys"]),
        "n_toys_used": int(summary.get("n_toys_used", summary["n_toys"])),
        "n_toys_expected": int(summary.get("n_toys_expected", summary["n_toys"])),
        "observed": _observed(summary),
        "at_z": _at_z(summary, float(z_local)),
        "cl": summary.get("cl"),
        "fit_failures": summary.get("fit_failures") or {},
        "toy_sizes": summary.get("toy_sizes"),
        "checks": checks,
    }


def _z(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(float(value)) else f"{float(value):.2f}"


def _observed_line(obs: dict[str, Any]) -> str:
    where = ""
    if obs.get("mass_at_max") is not None:
        where = f" at m_llg = {obs['mass_at_max']:.1f} GeV"
        if obs.get("selection_at_max") is not None:
            where += f", top {100 * obs['selection_at_max']:.3g}%"
    if obs.get("not_quoted"):
        return f"observed: Z_local = {obs['z_local']:.2f}{where}; Z_global NOT QUOTED: " + str(
            obs["not_quoted"]
        ).removeprefix("no global significance: ")
    if obs["reachable"]:
        zg = f"{_z(obs['z_global'])} [{_z(obs['z_global_lo'])}, {_z(obs['z_global_hi'])}] from toys"
    else:
        zg = f"> {_z(obs['z_global_lo'])} (no toy reached it)"
    line = (
        f"observed: Z_local = {obs['z_local']:.2f}{where}; Z_global = {zg}, "
        f"Gross-Vitells {_z(obs['z_global_gross_vitells'])}"
    )
    if obs.get("size_warning"):
        line += f"\nWARNING: {obs['size_warning']}"
    return line


def sizes_text(sizes: dict[str, Any] | None) -> str | None:
    """``"2,000 + 2,000"`` events of sample 1 + sample 2, or None when unknown."""
    if not sizes or sizes.get("sample1") is None or sizes.get("sample2") is None:
        return None
    return f"{int(sizes['sample1']):,} + {int(sizes['sample2']):,}"


def _sizes_line(h: dict[str, Any]) -> str | None:
    toys = sizes_text(h.get("toy_sizes"))
    if toys is None:
        return None
    line = f"toy size: {toys} events (sample 1 + sample 2)"
    obs = h.get("observed") or {}
    observed = sizes_text(obs.get("sizes"))
    if observed is not None:
        line += f"; observed analysis: {observed}"
    return line


def format_headline(h: dict[str, Any]) -> str:
    """``headline(...)`` as the lines printed at the end of a run."""
    cl = h.get("cl")
    cl_txt = f"{100 * cl:.1f}% CL" if cl else "CL"
    label = "LEE headline"
    if h["partial"]:
        label += f" (PARTIAL: {h['n_toys']} of {h['n_toys_expected']} toys)"
    lines = [f"== {label} =="]
    if h["observed"]:
        lines.append(_observed_line(h["observed"]))
    a = h["at_z"]
    if a:
        lines.append(
            f"p_global(Z_local = {a['z_local']:g}) = {a['p_global']:.3g} "
            f"[{a['p_global_lo']:.3g}, {a['p_global_hi']:.3g}] ({cl_txt}, {a['n_above']} toy(s) "
            f"above; p_local {a['p_local']:.3g})"
        )
    sizes = _sizes_line(h)
    if sizes:
        lines.append(sizes)
    ff = h["fit_failures"]
    frac = ff.get("fraction")
    lines.append(
        f"toys used: {h['n_toys_used']} of {h['n_toys']}; fit failures: "
        f"{ff.get('n_failed', 0)} of {ff.get('n_fits', 0)} fits"
        + (f" ({100 * frac:.2f}%)" if frac is not None else "")
        + f", in {ff.get('toys_with_failures', 0)} toy(s)"
    )
    for c in h["checks"]:
        state = {True: "PASSED", False: "FAILED"}.get(c["passed"], "not decided")
        extra = f" ({c['model']})" if c.get("model") else ""
        lines.append(
            f"{c['name']} check: {state}{extra}" + (f": {c['message']}" if c["message"] else "")
        )
    return "\n".join(lines)


def headline_from_files(
    summary: str | os.PathLike[str],
    validation: str | os.PathLike[str] | None = None,
    background: str | os.PathLike[str] | None = None,
) -> dict[str, Any] | None:
    """``headline`` of the files of a run; None when ``summary`` is missing or unreadable.

    The check files are optional: a missing or unreadable one is left out of ``checks``.
    """
    s = read_optional_json(summary)
    if s is None or "n_toys" not in s:
        return None
    return headline(s, read_optional_json(validation), read_optional_json(background))
