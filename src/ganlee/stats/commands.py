"""CLI of the LEE stage: ``ganlee lee-aggregate`` and ``ganlee lee-plots``.

Chunk arguments may be ``.npz`` files, directories (all ``*.npz`` inside) or text files listing
one chunk path per line, so thousands of chunks never hit the shell's argument-length limit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from ganlee.config import add_config_argument

__all__ = ["register"]

_CHUNKS_HELP = (
    "toy chunk files (results/toys/chunk_{c}.npz), directories holding them, or text files "
    "listing one chunk path per line"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lee-aggregate",
        help="aggregate toy chunks: global p-values, trials factor, Gross-Vitells "
        "(rule lee_aggregate)",
        description=(
            "Checks that all chunks share config and model hashes and hold toys 0..toys.n_toys-1 "
            "exactly once (--partial: at most once), prints the local -> global table and the "
            "headline, and writes the outputs asked for: the summary (p_global with "
            "Clopper-Pearson intervals, trials factor, Gross-Vitells extrapolation "
            "arXiv:1005.1891, local -> global table), the per-toy z_max table and the z_max "
            "histogram (pickled hist.Hist). Example: ganlee lee-aggregate results/toys"
        ),
    )
    add_config_argument(p)
    p.add_argument(
        "--observed", default=None, help="observed-data .npz (rule lee_observed) to quote"
    )
    p.add_argument(
        "--model",
        default=None,
        help="GAN checkpoint (results/gan/model.pt) the toys must come from: chunks and the "
        "observed file made with another GAN are refused",
    )
    p.add_argument(
        "--observed-z",
        type=float,
        default=None,
        help="a local significance to convert to a global one (overrides config lee.observed_z)",
    )
    p.add_argument("--summary", default=None, help="output summary JSON (default: print only)")
    p.add_argument("--zmax", default=None, help="output per-toy CSV (toy_index, seed, z_max, ...)")
    p.add_argument("--hist", default=None, help="output pickled hist.Hist of z_max")
    p.add_argument(
        "--partial",
        action="store_true",
        help="aggregate the toys that exist so far (missing chunks allowed); every line and the "
        "summary say PARTIAL / partial: true",
    )
    p.add_argument(
        "--validation",
        default=None,
        help="GAN validation JSON (results/gan/validation.json) whose fidelity check the "
        "headline quotes, when it exists",
    )
    p.add_argument(
        "--background",
        default=None,
        help="background-model choice JSON of rule fit_model (results/fit/background.json), "
        "when it exists: its hash must be the chunks' background_hash; its per-selection "
        "result goes into the summary and the headline",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("chunks", nargs="+", help=_CHUNKS_HELP)
    p.set_defaults(func=_aggregate)

    q = sub.add_parser(
        "lee-plots",
        help="LEE figures (PDF + PNG): z_max, p_global, trials factor, scans, observed fit "
        "(rule lee_plots)",
        description=(
            "Draws, from the outputs of lee-aggregate, the z_max distribution, p_global and the "
            "trials factor against Z_local (toys with Clopper-Pearson bands and the "
            "Gross-Vitells extrapolation, arXiv:1005.1891), the upcrossings, where z_max lies, "
            "toy Z(mass) scans and the observed m_llg spectrum with its best fit, as PDF and PNG."
        ),
    )
    add_config_argument(q)
    q.add_argument("--summary", required=True, help="summary JSON of lee-aggregate")
    q.add_argument("--zmax", required=True, help="per-toy CSV of lee-aggregate")
    q.add_argument("--hist", required=True, help="pickled z_max histogram of lee-aggregate")
    q.add_argument("--observed", default=None, help="observed-data .npz (scan and m_llg spectrum)")
    q.add_argument("--outdir", required=True, help="directory for the figures")
    q.add_argument("chunks", nargs="*", help=_CHUNKS_HELP + " (for the toy Z(mass) scans)")
    q.set_defaults(func=_plots)


def _aggregate(args: argparse.Namespace) -> int:
    from ganlee.chunks import resolve_chunk_paths
    from ganlee.io import json_safe, write_json
    from ganlee.settings import load_settings
    from ganlee.stats import lee
    from ganlee.stats.headline import format_headline, headline, read_optional_json

    settings = load_settings(args.config)
    t0 = time.perf_counter()
    paths, from_dir = resolve_chunk_paths(args.chunks)
    res = lee.aggregate(
        paths,
        settings,
        observed=args.observed,
        observed_z=args.observed_z,
        skip_beyond=from_dir,
        progress=not args.quiet,
        partial=args.partial,
        model=args.model,
        background=args.background if args.background and os.path.isfile(args.background) else None,
    )
    if args.summary:
        write_json(args.summary, res.summary)
    if args.zmax:
        lee.write_zmax_csv(args.zmax, res)
    if args.hist:
        lee.save_hist(args.hist, res.hist)
    _print_table(res.summary, time.perf_counter() - t0)
    h = headline(
        json_safe(res.summary),
        read_optional_json(args.validation),
        read_optional_json(args.background),
    )
    print(format_headline(h), file=sys.stderr)
    return 0


def _print_table(s: dict[str, Any], seconds: float) -> None:
    gv = s["gross_vitells"]["union"]
    tag = " PARTIAL" if s.get("partial") else ""
    print(
        f"[lee-aggregate]{tag} {s['n_toys']} toys from {s['n_chunks']} chunk(s) in "
        f"{seconds:.2f} s; <N(Z0={gv['z0']:g})> = {gv['n_mean']:.3f} +- {gv['n_err']:.3f}",
        file=sys.stderr,
    )
    for row in s["table"]:
        toys = row["toys"]
        zt = toys["z_global"]
        zt_txt = f"{zt:.2f}" if zt is not None else f">{toys['z_global_lo']:.2f}"
        gvb = row["gross_vitells"]
        clip = " (clipped at 1)" if gvb["clipped"] else ""
        print(
            f"  Z_local {row['z_local']:.1f}: p_local {row['p_local']:.3g}  p_global toys "
            f"{toys['p_global']:.3g} [{toys['p_global_lo']:.3g}, {toys['p_global_hi']:.3g}] "
            f"(Z {zt_txt})  GV <= {gvb['p_global']:.3g}{clip} (Z >= {gvb['z_global']:.2f})",
            file=sys.stderr,
        )
    for key in ("observed", "given_z"):
        o = s.get(key)
        if o and o.get("not_quoted"):
            print(f"  {key}: Z_local {o['z_local']:.2f}; {o['not_quoted']}", file=sys.stderr)
        elif o:
            toys = o["toys"]
            zt = (
                f"{toys['z_global']:.2f}"
                if toys["reachable"]
                else f"> {toys['z_global_lo']:.2f} (no toy above)"
            )
            print(
                f"  {key}: Z_local {o['z_local']:.2f} -> Z_global toys {zt}, "
                f"Gross-Vitells >= {o['gross_vitells']['z_global']:.2f}",
                file=sys.stderr,
            )
            for g in o.get("goodness_of_fit") or []:
                print(
                    f"    goodness of fit, selection {g['selection']:g} ({g['background']}): "
                    f"saturated-likelihood p-value {_num(g['p_value'])}, "
                    f"chi2/ndf {_num(g['chi2_ndf'])} (ndf {_num(g['ndf'])})",
                    file=sys.stderr,
                )
    for w in s.get("warnings") or []:
        print(f"  WARNING: {w}", file=sys.stderr)


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _plots(args: argparse.Namespace) -> int:
    from ganlee.settings import load_settings
    from ganlee.stats.plots import lee_plots

    written = lee_plots(
        load_settings(args.config),
        summary=args.summary,
        zmax=args.zmax,
        hist_path=args.hist,
        observed=args.observed,
        chunks=args.chunks,
        outdir=args.outdir,
    )
    for p in written:
        print(f"[lee-plots] wrote {p}", file=sys.stderr)
    return 0
