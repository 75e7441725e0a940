"""``ganlee mc-generate`` and ``ganlee mc-convert`` (rules ``mc_generate``, ``mc_convert``)."""

from __future__ import annotations

import argparse
from typing import Any

from ganlee.config import add_config_argument

__all__ = ["register"]


def _generate(args: argparse.Namespace) -> int:
    from ganlee.mc.generate import generate
    from ganlee.settings import load_settings

    generate(load_settings(args.config), args.index, args.out)
    return 0


def _convert(args: argparse.Namespace) -> int:
    from ganlee.mc.convert import convert
    from ganlee.settings import load_settings

    settings = load_settings(args.config)
    convert(args.inputs, settings, args.out, args.provenance, max_events=args.max_events)
    return 0


def register(sub: Any) -> None:
    """Add the MC subcommands to the ``ganlee`` parser's subparsers."""
    p = sub.add_parser(
        "mc-generate",
        help="generate pp -> Z/gamma* gamma -> l+l- gamma with Pythia 8 + a Delphes-like detector",
        description=(
            "One generation job: Pythia 8 events (config mc.generate) through the fast detector "
            "simulation, written atomically as a Delphes-like ROOT TTree. The seed is derived "
            "from the master seed and --index."
        ),
    )
    add_config_argument(p)
    p.add_argument("--index", type=int, required=True, help="job index i (selects the seed)")
    p.add_argument(
        "--out", required=True, help="output ROOT file, e.g. results/mc/generated_0.root"
    )
    p.set_defaults(func=_generate)

    p = sub.add_parser(
        "mc-convert",
        help="select Z-gamma events in ROOT files and write the 18 features",
        description=(
            "Read ROOT files (generated, Delphes, NanoAOD-style or Cartesian layouts; config "
            "mc.layout / mc.branches) in chunks, apply the selection (mc.selection), print the "
            "cut-flow and write the features TTree 'events' plus a provenance JSON."
        ),
    )
    add_config_argument(p)
    p.add_argument("--out", required=True, help="features ROOT file, e.g. results/mc/features.root")
    p.add_argument("--provenance", required=True, help="provenance JSON (inputs, cut-flow, config)")
    p.add_argument(
        "--max-events",
        type=int,
        default=None,
        help="keep the first N selected events (a dataset of exactly N; fewer is an error)",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT.root", help="input ROOT files")
    p.set_defaults(func=_convert)
