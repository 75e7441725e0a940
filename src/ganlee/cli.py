"""``ganlee`` command line: one subcommand per pipeline step, each usable by hand.

Every Snakemake rule calls exactly one of these. Each stage package registers its own
subcommands in ``<stage>/commands.py`` (``register(subparsers)``); heavy imports happen inside
the command functions so that ``ganlee --help`` is instant. ``--config`` and ``--set`` of every
step are folded into one ``ganlee.config.ConfigSpec`` here, before the step runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ganlee import __version__
from ganlee.config import ConfigError, ConfigSpec
from ganlee.io import InputError

__all__ = ["build_parser", "main"]

_STAGES = (
    "ganlee.mc.commands",
    "ganlee.gan.commands",
    "ganlee.background.commands",
    "ganlee.toys.commands",
    "ganlee.stats.commands",
    "ganlee.validation.commands",
    "ganlee.status",
    "ganlee.report",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="ganlee",
        description=(
            "Look-elsewhere calibration of semi-supervised resonance searches with GAN toys. "
            "Every step reads --config FILE (default: config/config.yaml here) plus --set "
            "KEY.PATH=VALUE overrides."
        ),
    )
    parser.add_argument("--version", action="version", version=f"ganlee {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<step>", required=True)
    for name in _STAGES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "set_overrides"):
        args.config = ConfigSpec(args.config, tuple(args.set_overrides))
    try:
        return int(args.func(args) or 0)
    except (ConfigError, InputError) as exc:
        print(f"ganlee {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
