"""CLI of the validation studies (rules/validation.smk): ``validation-amplification``,
``validation-summary``, ``validation-plots``, ``validation-closure`` and
``validation-closure-plots``.

The toys of every study run through ``ganlee toys`` and their aggregation through
``ganlee lee-aggregate``; these subcommands only add what the studies share.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from ganlee.config import add_config_argument

if TYPE_CHECKING:
    from ganlee.settings import Settings

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser(
        "validation-amplification",
        help="GAN amplification of the m_llg shape, arXiv:2008.06545 "
        "(rule validation_amplification)",
        description=(
            "Quantile MSE of GAN m_llg samples of several sizes against an independent reference "
            "sample, converted to the number of true events they are worth and divided by the "
            "GAN's training events."
        ),
    )
    add_config_argument(a)
    a.add_argument(
        "--features",
        required=True,
        help="MC features the GAN was trained on (results/mc/features.root)",
    )
    a.add_argument("--model", required=True, help="GAN checkpoint (results/gan/model.pt)")
    a.add_argument(
        "--reference",
        required=True,
        help="reference features ROOT file independent of the training, "
        "or 'holdout' (the GAN's MC hold-out)",
    )
    a.add_argument("--device", default=None, help="override config key 'device' (auto, cpu, cuda)")
    a.add_argument(
        "--out", required=True, help="output JSON (results/validation/amplification.json)"
    )
    a.set_defaults(func=_amplification)

    s = sub.add_parser(
        "validation-summary",
        help="every number of the validation studies in one JSON (rule validation_summary)",
    )
    add_config_argument(s)
    s.add_argument(
        "--study",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "CHUNKS", "LEE_DIR"),
        help="a study: its name, its chunk directory (or list file) and its lee-aggregate output "
        "directory (summary.json, zmax.csv); repeat for every study",
    )
    s.add_argument(
        "--main-lee", default=None, help="main LEE output directory (results/lee): the calibration"
    )
    s.add_argument("--amplification", default=None, help="JSON of validation-amplification")
    s.add_argument(
        "--features", default=None, help="MC features (Asimov background, m_llg recoverability)"
    )
    s.add_argument(
        "--partial",
        action="store_true",
        help="summarise the studies given and list the config's others as missing "
        "(default: all required)",
    )
    s.add_argument("--out", required=True, help="output JSON (results/validation/summary.json)")
    s.set_defaults(func=_summary)

    p = sub.add_parser(
        "validation-plots",
        help="validation figures (PDF + PNG) from the summary (rule validation_plots)",
        description=(
            "Draws, from results/validation/summary.json, the z_max of GAN vs MC-bootstrap toys, "
            "the GAN-ensemble spread, the sensitivity to injected signals, the sculpting "
            "diagnostics and the GAN amplification, each as PDF and PNG."
        ),
    )
    add_config_argument(p)
    p.add_argument("--summary", required=True, help="results/validation/summary.json")
    p.add_argument("--outdir", required=True, help="directory for the figures")
    p.set_defaults(func=_plots)

    c = sub.add_parser(
        "validation-closure",
        help="closure test: generator toys vs independent-MC pool toys (rule validation_closure)",
        description=(
            "Compare the z_max of two toy studies run with the same procedure, seeds and sizes "
            "(the generator's and the MC pool's): KS and Anderson-Darling p, p_global curves "
            "with Clopper-Pearson bands and the fraction of maxima at a scan edge, per "
            "selection and overall."
        ),
    )
    add_config_argument(c)
    c.add_argument(
        "--study",
        nargs=2,
        action="append",
        required=True,
        metavar=("NAME", "CHUNKS"),
        help="a study: its name and its chunk directory (or list file); twice, the generator's "
        "first, then the independent-MC reference",
    )
    c.add_argument(
        "--control",
        nargs=2,
        metavar=("NAME", "CHUNKS"),
        help="the selection control: the generator's toys with toys.scoring random (study "
        "gan_random) and its chunk directory, compared with the generator's DNN-selected toys",
    )
    c.add_argument("--model", help="generator model.pt: compared with --pool at full statistics")
    c.add_argument("--pool", help="features ROOT file of the independent MC pool (with --model)")
    c.add_argument("--out", required=True, help="output JSON (results/validation/closure.json)")
    c.set_defaults(func=_closure)

    cp = sub.add_parser(
        "validation-closure-plots",
        help="closure figures (PDF + PNG) from closure.json (rule validation_closure_plots)",
    )
    add_config_argument(cp)
    cp.add_argument("--closure", required=True, help="results/validation/closure.json")
    cp.add_argument("--outdir", required=True, help="directory for the figures")
    cp.set_defaults(func=_closure_plots)


def _amplification(args: argparse.Namespace) -> int:
    import numpy as np

    from ganlee.device import resolve_device
    from ganlee.gan.sample import load_model, sample_torch
    from ganlee.io import InputError, read_features, write_json
    from ganlee.seeds import derive_seed
    from ganlee.settings import load_settings
    from ganlee.validation.amplification import amplification_study

    settings = load_settings(args.config)
    amp = settings.validation.amplification
    t0 = time.perf_counter()
    device = resolve_device(args.device or settings.device)
    model = load_model(args.model, device)
    x = read_features(args.features, names=("m_llg",))[:, 0].astype(np.float64)
    split = model.split
    if len(x) != int(split["n_events"]):
        msg = (
            f"features file '{args.features}' has {len(x)} events but the GAN '{args.model}' was "
            f"trained on {split['n_events']}: rerun gan_train"
        )
        raise InputError(msg)
    hold = np.asarray(split["holdout_indices"], dtype=np.int64)
    train_mask = np.ones(len(x), dtype=bool)
    train_mask[hold] = False
    if args.reference == "holdout":
        ref, ref_name = x[hold], f"the GAN's MC hold-out of '{args.features}'"
    else:
        ref = read_features(args.reference, names=("m_llg",))[:, 0].astype(np.float64)
        ref_name = f"features file '{args.reference}'"
    col = list(model.feature_names).index("m_llg") if "m_llg" in model.feature_names else None
    if col is None:
        msg = f"GAN '{args.model}' does not generate m_llg (features {list(model.feature_names)})"
        raise InputError(msg)
    base = derive_seed(int(settings.seed), "validation", "amplification")

    def sampler(n: int, seed: int) -> np.ndarray:
        return sample_torch(model, n, derive_seed(base, seed))[:, col].double().cpu().numpy()

    print(
        f"[validation-amplification] reference {ref_name}: {ref.size} events; GAN trained on "
        f"{int(train_mask.sum())} events; sizes {list(amp.sizes)} x {amp.n_repeats} repeats "
        f"on {device}",
        file=sys.stderr,
    )
    res = amplification_study(
        sampler,
        ref,
        x[train_mask],
        list(amp.sizes),
        n_repeats=int(amp.n_repeats),
        n_quantiles=int(amp.n_quantiles),
        n_bootstrap=int(amp.n_bootstrap),
        seed=0,
    )
    res["reference"] = ref_name
    res["model_hash"] = model.sha
    res["feature"] = "m_llg"
    write_json(args.out, res)
    h = res["headline"]
    hi = h["amplification_hi"]
    hi_txt = f"{hi:.3g}" if hi != float("inf") else "inf (bias not resolved by the reference)"
    print(
        f"[validation-amplification] N_GAN = {h['n']}: MSE {h['mse']:.3g} +- {h['mse_err']:.2g} "
        f"(reference noise {res['reference_mse_noise']:.3g}); N_eq = {h['n_equivalent']:.4g}; "
        f"amplification {h['amplification']:.3g} [{h['amplification_lo']:.3g}, {hi_txt}] "
        f"in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def _summary(args: argparse.Namespace) -> int:
    from ganlee.io import write_json
    from ganlee.settings import load_settings
    from ganlee.validation.summary import build_summary

    settings = load_settings(args.config)
    t0 = time.perf_counter()
    studies = {name: ([chunks], lee_dir) for name, chunks, lee_dir in args.study}
    summary = build_summary(
        settings,
        studies,
        main_lee=args.main_lee,
        amplification=args.amplification,
        features=args.features,
        partial=args.partial,
    )
    write_json(args.out, summary)
    h = summary["headline"]
    ks, ad = h["ks_pvalue_gan_vs_mc"], h["ad_pvalue_gan_vs_mc"]
    print(
        f"[validation-summary] wrote {args.out} in {time.perf_counter() - t0:.1f} s"
        + (f"; KS p(GAN vs MC bootstrap) = {ks:.3g}, AD p = {ad:.3g}" if ks is not None else "")
        + (f"; missing studies {summary['missing_studies']}" if summary["missing_studies"] else ""),
        file=sys.stderr,
    )
    return 0


def _plots(args: argparse.Namespace) -> int:
    from ganlee.settings import load_settings
    from ganlee.validation.plots import validation_plots

    load_settings(args.config)  # a wrong config is an error here as in every step
    for p in validation_plots(args.summary, args.outdir):
        print(f"[validation-plots] wrote {p}", file=sys.stderr)
    return 0


def _closure(args: argparse.Namespace) -> int:
    from ganlee.io import InputError, write_json
    from ganlee.settings import load_settings
    from ganlee.validation.closure import build_closure

    if (args.model is None) != (args.pool is None):
        msg = "validation-closure: give --model and --pool together"
        raise InputError(msg)
    settings = load_settings(args.config)
    t0 = time.perf_counter()
    control = tuple(args.control) if args.control else None
    studies = [(name, chunks) for name, chunks in args.study]
    out = build_closure(settings, studies, control=control)
    if args.model is not None:
        out["generator_vs_pool"] = _pool_fidelity(settings, args.model, args.pool)
    write_json(args.out, out)
    h = out["headline"]["overall"]
    print(
        f"[validation-closure] wrote {args.out} in {time.perf_counter() - t0:.1f} s; overall "
        f"z_max KS p = {h['ks_pvalue']}, AD p = {h['ad_pvalue']}; "
        f"closure {'passed' if out['passed'] else 'FAILED'}",
        file=sys.stderr,
    )
    if control is not None:
        sc = out["selection_control"]
        print(
            f"[validation-closure] selection control ({sc['generator']} vs {sc['reference']}): "
            + ", ".join(
                f"{r['selection']:g}: median {r['generator']['median']:.2f} vs "
                f"{r['reference']['median']:.2f}"
                for r in sc["by_selection"]
                if r["generator"]["median"] is not None and r["reference"]["median"] is not None
            ),
            file=sys.stderr,
        )
    return 0


def _pool_fidelity(settings: Settings, model_path: str, pool_path: str) -> dict[str, Any]:
    from ganlee.gan.sample import load_model, sample
    from ganlee.io import read_features
    from ganlee.seeds import derive_seed
    from ganlee.validation.pool_fidelity import pool_fidelity

    model = load_model(model_path)
    pool = read_features(pool_path, names=model.feature_names)
    window = model.window or settings.fit.window
    width = float(settings.gan.fidelity.mllg_bin_width)
    fid = pool_fidelity(
        lambda n, seed: sample(model, n, seed),
        model.feature_names,
        window,
        pool,
        width,
        derive_seed(int(settings.seed), "validation", "pool"),
    )
    m = fid["mllg"]
    aucs = ", ".join(
        f"{a['mean']:.3f} at {a['events_per_class']} events/class (MC vs MC {a['null_mean']:.3f})"
        for a in fid["auc_by_size"]
    )
    print(
        f"[validation-closure] generator vs pool ({fid['n_pool']} events): classifier AUC "
        f"{aucs}; m_llg ratio max |r - 1| "
        f"{m['max_abs_deviation']:.3f} per {width:g} GeV, "
        f"chi2 p {m['pvalue']:.2g}",
        file=sys.stderr,
    )
    return fid


def _closure_plots(args: argparse.Namespace) -> int:
    from ganlee.settings import load_settings
    from ganlee.validation.closure_plots import closure_plots

    load_settings(args.config)
    for p in closure_plots(args.closure, args.outdir):
        print(f"[validation-closure-plots] wrote {p}", file=sys.stderr)
    return 0
