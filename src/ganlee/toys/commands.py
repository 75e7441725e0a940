"""CLI of the toy stage: ``ganlee toys`` (rule toys_chunk), ``ganlee toy``, ``ganlee observe``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ganlee.config import add_config_argument, add_observed_argument

__all__ = ["format_options", "format_z_table", "register"]


#: The pipeline's background choice (rule fit_model), used by hand when it exists.
_BACKGROUND = "results/fit/background.json"


def _common(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument(
        "--model",
        default="results/gan/model.pt",
        help="GAN checkpoint, used with toys.source: gan (default: %(default)s)",
    )
    p.add_argument(
        "--features",
        default="results/mc/features.root",
        help="MC features ROOT file: default sample size, and the events of toys.source "
        "mc_bootstrap (default: %(default)s)",
    )
    p.add_argument("--device", default=None, help="override config key 'device' (auto, cpu, cuda)")
    p.add_argument(
        "--background",
        default=None,
        help="background choice of rule fit_model: the model of each selection (default: "
        f"{_BACKGROUND} when it exists, as in the pipeline; else config key 'fit.background' "
        "for every selection)",
    )
    add_observed_argument(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "toys",
        help="run one chunk of background-only toys (rule toys_chunk)",
        description=(
            "Toys first .. first+count-1: sample, train the semi-supervised DNN (many toys stacked "
            "in one batched model), select by response, fit m_llg; writes the chunk .npz "
            "atomically."
        ),
    )
    _common(p)
    p.add_argument("--first", type=int, required=True, help="index of the chunk's first toy")
    p.add_argument("--count", type=int, required=True, help="number of toys in the chunk")
    p.add_argument("--out", required=True, help="output chunk file results/toys/chunk_{c}.npz")
    p.set_defaults(func=_toys)

    q = sub.add_parser(
        "toy",
        help="rerun one toy by hand and print its Z table (selections x masses) and z_max",
        description=(
            "Recomputes toy i exactly as the chunk holding it did (same seeds, derived from "
            "(seed, 'toy', i)) and prints its local Z at every mass and selection and its z_max. "
            "From the project root after a run: ganlee toy --index 3 (config/config.yaml, "
            "results/gan/model.pt, results/mc/features.root, results/fit/background.json)."
        ),
    )
    _common(q)
    q.add_argument(
        "--index", type=int, required=True, help="toy index i (seeds derive from (seed, 'toy', i))"
    )
    q.add_argument(
        "--out", default=None, help="optionally also write the toy as a one-toy chunk .npz"
    )
    q.set_defaults(func=_toy)

    r = sub.add_parser(
        "observe",
        help="run the per-toy procedure once on the observed dataset (rule lee_observed)",
        description=(
            "Trains the semi-supervised DNN with GAN (or MC) events as sample 1 and the observed "
            "data as sample 2, selects by response, fits m_llg at every mass and writes the "
            "observed Z scan, its z_max and the m_llg histograms (.npz, atomically); "
            "lee-aggregate converts its z_max into a global significance."
        ),
    )
    _common(r)
    r.add_argument(
        "--data",
        required=True,
        help="features ROOT file of the observed data (sample 2; also the default --observed)",
    )
    r.add_argument("--out", required=True, help="output .npz (results/lee/observed.npz)")
    r.set_defaults(func=_observe)


def _engine(args: argparse.Namespace) -> Any:
    from ganlee.background_choice import read_choice
    from ganlee.device import resolve_device
    from ganlee.settings import load_settings
    from ganlee.toys.run import ToyEngine
    from ganlee.toys.sources import make_source

    settings = load_settings(args.config)
    device = resolve_device(args.device or settings.device)
    source = make_source(settings, args.features, args.model, device)
    observed = settings.observed_dataset(args.observed, args.features)
    sizes = settings.toy_sizes_from(observed=observed, n_mc=source.n_mc)
    choice = None
    background = args.background
    if background is None and Path(_BACKGROUND).is_file():
        background = _BACKGROUND
    if background is not None:
        choice = read_choice(background, settings.toys.selections)
    return ToyEngine(settings, source, sizes, background=choice)


def _toys(args: argparse.Namespace) -> int:
    from ganlee.chunks import write_chunk

    engine = _engine(args)
    result = engine.run_toys(args.first, args.count)
    write_chunk(args.out, result)
    print(f"[toys] wrote {args.out}", file=sys.stderr)
    return 0


def format_z_table(result: dict[str, Any], k: int = 0) -> str:
    """Z of toy ``k`` as text: one row per mass, one column per selection fraction."""
    sel, masses, z = result["selections"], result["masses"], result["z"][k]
    head = "mass [GeV] " + "".join(f"{100 * f:>8.3g}%" for f in sel)
    lines = [head]
    for j, m in enumerate(masses):
        cells = "".join(
            f"{'fail':>9}" if z[s, j] != z[s, j] else f"{z[s, j]:9.3f}" for s in range(len(sel))
        )
        lines.append(f"{m:10.2f} {cells}")
    lines.append(
        f"z_max = {result['z_max'][k]:.4f} at m_llg = {result['mass_at_max'][k]:.2f} GeV, "
        "selection "
        f"top {100 * result['selection_at_max'][k]:.3g}%; failed fits {int(result['n_failed'][k])}"
        f"/{int(result['n_fits'][k])}"
    )
    return "\n".join(lines)


def format_options(engine: Any, result: dict[str, Any], k: int = 0) -> list[str]:
    """Lines on the validation options of toy ``k``: the injection (when ``toys.inject`` is on)
    and the diagnostics (when ``toys.diagnostics`` is on); none at the defaults."""
    lines = []
    if engine.injection.enabled:
        lines.append(
            f"injection: {engine.injection.describe()}; sample 2 = {engine.n2} background + "
            f"{engine.n_signal} signal events"
        )
    if engine.toys.diagnostics:
        lines.append(
            f"diagnostics: AUC(sample 1 vs sample 2) = {float(result['auc'][k]):.4f}, "
            f"corr(DNN response, m_llg) = {float(result['response_mllg_corr'][k]):.4f}"
        )
        if "n_injected_selected" in result:
            kept = ", ".join(
                f"top {100 * f:.3g}%: {int(n)}"
                for f, n in zip(result["selections"], result["n_injected_selected"][k], strict=True)
            )
            lines.append(f"injected events kept by each selection: {kept}")
    return lines


def _toy(args: argparse.Namespace) -> int:
    from ganlee.chunks import write_chunk

    engine = _engine(args)
    result = engine.run_toys(args.index, 1)
    print(
        f"toy {args.index} (seed {int(result['seed'][0])}), "
        "Z by mass (rows) and selection (columns):"
    )
    print(format_z_table(result))
    for line in format_options(engine, result):
        print(line)
    if args.out:
        write_chunk(args.out, result)
    return 0


def _observe(args: argparse.Namespace) -> int:
    from ganlee.chunks import write_chunk
    from ganlee.io import read_features

    if args.observed is None:
        args.observed = args.data
    engine = _engine(args)
    data = read_features(args.data)
    result = engine.run_observed(data)
    write_chunk(args.out, result, observed=True)
    print(format_z_table(result), file=sys.stderr)
    print(f"[observe] wrote {args.out}", file=sys.stderr)
    return 0
