"""What ``snakemake --report`` shows: the figure outputs of the plotting rules and the front page.

* ``figure_outputs(kind)``: every figure a plotting rule writes (``<name>.pdf`` and
  ``<name>.png`` for each name of the module's ``PLOT_NAMES``), with its caption file
  (``report/<prefix><name>.rst``) and whether it goes into the report: the PNG does, once; the
  PDF is a plain output. ``rules/common.smk`` wraps them in Snakemake's ``report()``, so the
  rules, the plotting code and the report cannot disagree on the names.
* ``front_page``: the report's first page, the workflow description (``report/workflow.rst``)
  followed by the headline (``ganlee.stats.headline``) of ``results/lee/summary.json`` and the
  GAN's ``validation.json``, written by ``ganlee report-front-page`` (rule
  ``report_front_page``).

See docs/design.md, "File contracts between rules".
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlee.config import add_config_argument
from ganlee.io import InputError, atomic_path, read_json_object
from ganlee.plotstyle import selection_label

__all__ = [
    "FIGURE_SETS",
    "FigureOutput",
    "figure_outputs",
    "figure_paths",
    "front_page",
    "register",
]


@dataclass(frozen=True)
class FigureSet:
    """The figures of one plotting rule: output directory, names, report category and the
    prefix of their caption files in ``report/``."""

    outdir: str
    module: str
    category: str
    caption_prefix: str = ""
    attr: str = "PLOT_NAMES"

    @property
    def names(self) -> tuple[str, ...]:
        """The figure names, read from ``<module>.<attr>`` (the plotting code's own list)."""
        import importlib

        return tuple(getattr(importlib.import_module(self.module), self.attr))


#: The plotting rules' figures: rule ``lee_plots``, ``fit_model``, ``validation_plots``,
#: ``validation_closure_plots``.
FIGURE_SETS: dict[str, FigureSet] = {
    "lee": FigureSet("results/lee/plots", "ganlee.stats.plots", "LEE"),
    "validation": FigureSet(
        "results/validation/plots", "ganlee.validation.plots", "Validation", "validation_"
    ),
    "fit": FigureSet("results/fit/plots", "ganlee.background.plots", "Background model"),
    "closure": FigureSet(
        "results/validation/plots",
        "ganlee.validation.closure_plots",
        "Validation",
        "validation_",
        "CLOSURE_PLOT_NAMES",
    ),
}

#: The formats of every figure; only ``REPORT_FORMAT`` is shown in the report.
FORMATS = ("pdf", "png")
REPORT_FORMAT = "png"


@dataclass(frozen=True)
class FigureOutput:
    """One output file of a plotting rule."""

    path: str
    caption: str
    category: str
    in_report: bool


def figure_outputs(kind: str) -> dict[str, FigureOutput]:
    """``<name>_<ext> -> FigureOutput`` for every figure of ``FIGURE_SETS[kind]``; captions as
    paths relative to ``rules/`` (``../report/<prefix><name>.rst``), as ``report()`` wants."""
    fs = FIGURE_SETS[kind]
    return {
        f"{name}_{ext}": FigureOutput(
            path=f"{fs.outdir}/{name}.{ext}",
            caption=f"../report/{fs.caption_prefix}{name}.rst",
            category=fs.category,
            in_report=ext == REPORT_FORMAT,
        )
        for name in fs.names
        for ext in FORMATS
    }


def figure_paths(kind: str) -> list[str]:
    """The paths of every figure of ``FIGURE_SETS[kind]`` (both formats)."""
    return [f.path for f in figure_outputs(kind).values()]


# ----------------------------------------------------------------------------------------------
# Front page


def _num(x: Any, fmt: str = ".2f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, fmt)


def _observed_rows(obs: dict[str, Any], data_name: str, cl: str) -> list[tuple[str, str]]:
    where = ""
    if obs.get("mass_at_max") is not None:
        where = f" at m = {_num(obs['mass_at_max'], 'g')} GeV"
        if obs.get("selection_at_max") is not None:
            where += f", selection {selection_label(float(obs['selection_at_max']))}"
    if obs.get("not_quoted"):
        zg = "not quoted: " + str(obs["not_quoted"]).removeprefix("no global significance: ")
    elif obs["reachable"]:
        lo, hi = _num(obs["z_global_lo"]), _num(obs["z_global_hi"])
        zg = f"{_num(obs['z_global'])} [{lo}, {hi}] ({cl})"
    else:
        zg = f"> {_num(obs['z_global_lo'])} (no toy reaches it)"
    source = str(obs.get("source") or "")
    if source.startswith(("config", "command line")):  # lee.observed_z / --observed-z
        data_name = f"none: Z_local given by the {source}"
    rows = [
        ("Dataset analysed", data_name),
        ("Local significance Z_local", f"{_num(obs['z_local'])}{where}"),
        ("Global significance Z_global, toys", zg),
        ("Global significance Z_global, Gross-Vitells", _num(obs["z_global_gross_vitells"])),
    ]
    if obs.get("size_warning"):
        rows.append(("WARNING", str(obs["size_warning"])))
    return rows


def _headline_rows(h: dict[str, Any], data_name: str) -> list[tuple[str, str]]:
    """Table rows of ``ganlee.stats.headline.headline``."""
    from ganlee.stats.headline import sizes_text

    cl = f"{100 * h['cl']:.3g}% CL" if h.get("cl") else "CL"
    rows = _observed_rows(h["observed"], data_name, cl) if h["observed"] else []
    a = h["at_z"]
    if a:
        interval = f"[{_num(a['p_global_lo'], '.3g')}, {_num(a['p_global_hi'], '.3g')}]"
        value = f"{_num(a['p_global'], '.3g')} {interval} ({cl}; {a['n_above']} toys above)"
        rows.append((f"p_global at Z_local = {a['z_local']:g}, toys", value))
    toys = sizes_text(h.get("toy_sizes"))
    if toys is not None:
        observed = sizes_text((h["observed"] or {}).get("sizes"))
        value = f"{toys} events (sample 1 + sample 2)"
        rows.append(("Toy size", value))
        if observed is not None:
            rows.append(("Observed analysis size", f"{observed} events"))
    used = f"{h['n_toys_used']:,} of {h['n_toys']:,}"
    if h["partial"]:
        used += f" (PARTIAL: {h['n_toys_expected']:,} configured)"
    rows.append(("Toys used", used))
    ff = h["fit_failures"]
    if ff:
        value = f"{ff['n_failed']:,} of {ff['n_fits']:,} fits ({ff['toys_with_failures']} toys)"
        rows.append(("Fit failures", value))
    for c in h["checks"]:
        state = {True: "passed", False: "FAILED"}.get(c["passed"], "not decided")
        rows.append((f"{c['name']} check", state + (f": {c['message']}" if c["message"] else "")))
    return rows


def _gan_rows(gan: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    auc = gan.get("classifier", {}).get("auc")
    if auc is not None:
        rows.append(
            ("GAN vs MC hold-out: classifier AUC (0.5 = indistinguishable)", _num(auc, ".3f"))
        )
    fpd = gan.get("fpd", {}).get("value")
    if fpd is not None:
        rows.append(("GAN vs MC hold-out: Frechet physics distance", _num(fpd, ".3g")))
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    lines = [".. list-table::", "   :widths: 45 55", ""]
    for key, value in rows:
        lines += [f"   * - {key}", f"     - {value}"]
    return "\n".join(lines)


def front_page(
    description: str,
    summary: dict[str, Any],
    gan: dict[str, Any] | None = None,
    data_name: str = "Observed",
    background: dict[str, Any] | None = None,
) -> str:
    """The report's front page (reStructuredText): ``description``, then a table of the
    headline numbers (``ganlee.stats.headline``) of the LEE ``summary``, the GAN's validation
    metrics ``gan`` and the background-model choice ``background``."""
    from ganlee.stats.headline import headline

    h = headline(summary, gan, background)
    rows = _headline_rows(h, data_name) + (_gan_rows(gan) if gan else [])
    heading = "Headline numbers"
    parts = [
        description.rstrip(),
        "",
        heading,
        "-" * len(heading),
        "",
        "From ``results/lee/summary.json`` (LEE) and ``results/gan/validation.json`` (GAN).",
        "",
        _table(rows),
        "",
    ]
    # the page is rendered as a Jinja template by Snakemake: no template syntax may survive
    return "\n".join(parts).replace("{{", "{ {").replace("{%", "{ %").replace("{#", "{ #")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report-front-page",
        help="front page of the Snakemake report: description and headline numbers "
        "(rule report_front_page)",
    )
    add_config_argument(p)
    p.add_argument("--description", required=True, help="workflow description (reST)")
    p.add_argument("--summary", required=True, help="LEE summary JSON (rule lee_aggregate)")
    p.add_argument("--gan", default=None, help="GAN validation JSON (rule gan_validate)")
    p.add_argument(
        "--background", default=None, help="background-model choice JSON (rule fit_model)"
    )
    p.add_argument("--out", required=True, help="output reST file")
    p.set_defaults(func=_front_page)


def _front_page(args: argparse.Namespace) -> int:
    from ganlee.settings import load_settings
    from ganlee.stats.plots import data_label

    settings = load_settings(args.config)
    desc = Path(args.description)
    if not desc.is_file():
        msg = f"workflow description '{desc}' does not exist"
        raise InputError(msg)
    summary = read_json_object(args.summary, "LEE summary")
    gan = read_json_object(args.gan, "GAN validation") if args.gan else None
    bkg = read_json_object(args.background, "background model") if args.background else None
    text = front_page(desc.read_text(), summary, gan, data_label(settings), bkg)
    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(f"[report-front-page] wrote {args.out}", file=sys.stderr)
    return 0
