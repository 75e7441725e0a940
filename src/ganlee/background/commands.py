"""CLI of the background-model choice: ``ganlee fit-model`` (rule fit_model)."""

from __future__ import annotations

import argparse
import sys
import time

from ganlee.config import add_config_argument, add_observed_argument

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-model",
        help="spurious-signal test and choice of the background model per selection "
        "(rule fit_model)",
        description=(
            "Builds a high-statistics m_llg template of every selection (pilot toys' DNNs "
            "scoring a large generator sample; the MC as a second template where it is large "
            "enough), fits every candidate background (fit.spurious) with signal+background at "
            "every scanned mass, and writes the chosen model of each selection with the full "
            "spurious-signal table (JSON) and its figure. Exit 2 when no candidate passes for a "
            "selection (unless fit.spurious.on_fail is warn)."
        ),
    )
    add_config_argument(p)
    p.add_argument("--model", default=None, help="GAN checkpoint results/gan/model.pt")
    p.add_argument("--features", required=True, help="MC features results/mc/features.root")
    p.add_argument("--device", default=None, help="override config key 'device'")
    p.add_argument("--out", required=True, help="output choice file results/fit/background.json")
    p.add_argument("--plots", default=None, help="directory for the figure (PDF + PNG)")
    add_observed_argument(p)
    p.set_defaults(func=_fit_model)


def _fit_model(args: argparse.Namespace) -> int:
    from ganlee.background.choice import run_choice
    from ganlee.background.templates import build_templates
    from ganlee.background_choice import write_choice
    from ganlee.device import resolve_device
    from ganlee.io import read_features
    from ganlee.plotstyle import selection_label
    from ganlee.settings import load_settings
    from ganlee.toys.run import ToyEngine
    from ganlee.toys.sources import make_source

    t0 = time.perf_counter()
    settings = load_settings(args.config)
    device = resolve_device(args.device or settings.device)
    source = make_source(settings, args.features, args.model, device)
    observed = settings.observed_dataset(args.observed, args.features)
    sizes = settings.toy_sizes_from(observed=observed, n_mc=source.n_mc)
    engine = ToyEngine(settings, source, sizes)
    spur = settings.fit.spurious
    mc = read_features(args.features) if spur.mc_template else None
    tmpl = build_templates(engine, mc, int(spur.pilot_toys), int(spur.template_factor))
    labels = [selection_label(f) for f in settings.toys.selections]
    content = run_choice(settings, tmpl, labels)
    write_choice(args.out, content)
    for label, sel in zip(labels, content["table"], strict=True):
        best = {r["model"]: r for r in sel["rows"]}[sel["chosen"]]
        print(
            f"[fit-model] {label}: {sel['n_toy']:.0f} events/toy, template "
            f"{sel['n_template']:.0f}: {sel['chosen']} (max |S_spur|/sigma_stat "
            f"{best['max_abs_ratio']:.3f} at {best['mass_at_max']:g} GeV)"
            + ("" if sel["passed"] else "  WARNING: no candidate passes"),
            file=sys.stderr,
        )
    for w in content["warnings"]:
        print(f"[fit-model] WARNING: {w}", file=sys.stderr)
    if args.plots:
        from ganlee.background.plots import spurious_plots

        for path in spurious_plots(content, args.plots):
            print(f"[fit-model] wrote {path}", file=sys.stderr)
    print(f"[fit-model] wrote {args.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0
