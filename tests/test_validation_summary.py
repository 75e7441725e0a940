"""The validation chain at tiny sizes, through the CLI: toys of every study (``ganlee toys``),
their LEE aggregation (``ganlee lee-aggregate``), then ``validation-amplification``,
``validation-summary`` and ``validation-plots``. Checks the summary's numbers against the inputs."""

from __future__ import annotations

import argparse
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.cli import main as ganlee
from ganlee.features import FEATURE_NAMES
from ganlee.gan.train import train
from ganlee.io import write_features
from ganlee.settings import Settings, load_settings
from ganlee.stats.lee import read_zmax_csv
from ganlee.validation import commands
from ganlee.validation import studies as st
from ganlee.validation.compare import two_sample_test
from ganlee.validation.plots import PLOT_NAMES

torch.set_num_threads(1)

CONFIG = {
    "seed": 5,
    "device": "cpu",
    "gan": {
        "latent_dim": 4,
        "generator_layers": [16, 16],
        "critic_layers": [16, 16],
        "batch_size": 64,
        "epochs": 1,
    },
    "toys": {
        "n_toys": 6,
        "chunk_size": 3,
        "sample1_size": 300,
        "sample2_size": 300,
        "selections": [0.2, 0.5, 1.0],
        "k_folds": 2,
        "dnn": {"layers": [8], "epochs": 1, "batch_size": 100},
    },
    "lee": {"table_z": [1.0, 2.0]},
    "validation": {
        "n_gans": 2,
        "injection": {"n_signal": [0, 60]},
        "compare": {"n_bootstrap": 50, "n_permutations": 0},
        "amplification": {"sizes": [300, 1000], "n_repeats": 3, "n_bootstrap": 10},
    },
}


def _validation_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ganlee")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args) or 0)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("validation")
    cfg = load_settings(json.dumps(CONFIG))
    x = synthetic_events(1200, 1)
    feats = d / "features.root"
    write_features(feats, {n: x[:, j] for j, n in enumerate(FEATURE_NAMES)})
    ref = synthetic_events(3000, 2)
    ref_path = d / "reference.root"
    write_features(ref_path, {n: ref[:, j] for j, n in enumerate(FEATURE_NAMES)})
    models = {}
    for m in st.ensemble_members(cfg):
        g = 0 if m == "gan" else int(m[7:])
        models[m] = d / f"{m}.pt"
        train(
            x,
            Settings.from_config({**CONFIG, "seed": st.ensemble_seed(cfg, g)}),
            model_path=models[m],
            stream=io.StringIO(),
        )
    n, size = st.sizes(cfg)
    args = []
    lee_cfg = json.dumps({"lee": cfg.lee.to_dict(), "toys": {"n_toys": n}})
    for name in st.study_names(cfg):
        src = st.alias(cfg, name)
        chunk_dir = d / src
        if src == name:
            model = models.get(name, models["gan"])
            toy_cfg = json.dumps(st.study_toy_config(cfg, name))
            for c in range(math.ceil(n / size)):
                extra = [] if name == "mc_bootstrap" else ["--model", str(model)]
                assert (
                    ganlee(
                        [
                            "toys",
                            "--config",
                            toy_cfg,
                            "--features",
                            str(feats),
                            *extra,
                            "--first",
                            str(c * size),
                            "--count",
                            str(min(size, n - c * size)),
                            "--out",
                            str(chunk_dir / f"chunk_{c}.npz"),
                        ]
                    )
                    == 0
                )
        lee_dir = d / name / "lee"
        assert (
            ganlee(
                [
                    "lee-aggregate",
                    "--config",
                    lee_cfg,
                    "--quiet",
                    "--summary",
                    str(lee_dir / "summary.json"),
                    "--zmax",
                    str(lee_dir / "zmax.csv"),
                    "--hist",
                    str(lee_dir / "hist.pkl"),
                    str(chunk_dir),
                ]
            )
            == 0
        )
        args += ["--study", name, str(chunk_dir), str(lee_dir)]
    vcfg = json.dumps(CONFIG)
    amp = d / "amplification.json"
    assert (
        _validation_cli(
            "validation-amplification",
            "--config",
            vcfg,
            "--features",
            str(feats),
            "--model",
            str(models["gan"]),
            "--reference",
            str(ref_path),
            "--out",
            str(amp),
        )
        == 0
    )
    out = d / "summary.json"
    assert (
        _validation_cli(
            "validation-summary",
            "--config",
            vcfg,
            *args,
            "--main-lee",
            str(d / "gan" / "lee"),
            "--amplification",
            str(amp),
            "--features",
            str(feats),
            "--out",
            str(out),
        )
        == 0
    )
    assert (
        _validation_cli(
            "validation-plots",
            "--config",
            vcfg,
            "--summary",
            str(out),
            "--outdir",
            str(d / "plots"),
        )
        == 0
    )
    return d, json.loads(out.read_text())


def test_summary_holds_every_study_and_the_headline(run):
    _d, s = run
    cfg = load_settings(json.dumps(CONFIG))
    assert set(s["studies"]) == set(st.study_names(cfg))
    assert s["studies_run"]["inject_0_train"] == "gan"
    for block in s["studies"].values():
        assert block["n_toys"] == 6
        assert len(block["z_max_quantiles"]) == 4
        assert [g["z_local"] for g in block["global"]] == [3.0, 4.0, 5.0, 6.0]
        curve = block["p_global_curve"]
        assert curve["z_local"][-1] >= max(6.0, block["z_max_quantiles"][-1]["value"])
    h = s["headline"]
    for key in (
        "ks_pvalue_gan_vs_mc",
        "ad_pvalue_gan_vs_mc",
        "z_global_gan_gv",
        "z_global_mc_bootstrap_gv",
        "ensemble_z_global_gv_spread",
        "amplification",
    ):
        assert h[key] is not None, key
        assert math.isfinite(h[key]), key
    assert set(h["sensitivity"]) == {"train", "kfold"}


def test_gan_vs_mc_numbers_match_the_study_outputs(run):
    d, s = run
    a = read_zmax_csv(d / "gan" / "lee" / "zmax.csv")["z_max"]
    b = read_zmax_csv(d / "mc_bootstrap" / "lee" / "zmax.csv")["z_max"]
    t = two_sample_test(a, b)
    assert s["gan_vs_mc"]["two_sample"]["ks_pvalue"] == pytest.approx(t.ks_pvalue)
    q = s["gan_vs_mc"]["quantiles"][0]
    assert q["q"] == 0.5
    assert q["gan"] == pytest.approx(float(np.median(a)))


def test_sensitivity_sculpting_ensemble_and_amplification_sections(run):
    _, s = run
    rows = s["sensitivity"]["by_scoring"]["kfold"]
    assert [r["n_signal"] for r in rows] == [0, 60]
    assert rows[1]["n_injected_mean"] == 60.0
    assert rows[0]["asimov_inclusive"]["profiled"] == 0.0
    assert rows[1]["asimov_inclusive"]["profiled"] > 0
    assert len(rows[1]["signal_efficiency_per_selection"]) == 3
    assert rows[1]["signal_efficiency_per_selection"][-1] == pytest.approx(
        1.0
    )  # all events keep all
    assert "main" in rows[1]["global"]
    assert "same_scoring" in rows[1]["global"]
    sc = s["sculpting"]
    assert sc["with"]["n_toys"] == 6
    assert sc["without"]["n_toys"] == 6
    assert len(sc["with"]["selections"]) == 3
    assert sc["with"]["selections"][-1]["max_abs_deviation"] == pytest.approx(0.0, abs=1e-9)
    assert -1 <= sc["with"]["response_mllg_corr"]["mean"] <= 1
    r2 = sc["mllg_r2"]
    assert (
        r2["dnn_inputs_without_dropped"] < 0.5 < r2["dnn_inputs_without_m_llg"]
    )  # exact proxies removed
    ens = s["ensemble"]
    assert ens["members"] == ["gan", "gan_ens1"]
    assert len(set(ens["model_hashes"])) == 2
    amp = s["amplification"]
    assert amp["n_train"] == 1200 - round(0.2 * 1200)
    assert amp["headline"]["n"] == 1000


def test_plots_are_written(run):
    d, _ = run
    for name in PLOT_NAMES:
        for ext in ("pdf", "png"):
            p = d / "plots" / f"{name}.{ext}"
            assert p.is_file(), p
            assert p.stat().st_size > 1000, p


def test_partial_summary_lists_missing_studies(run, tmp_path):
    from ganlee.io import InputError, write_json
    from ganlee.validation.plots import validation_plots
    from ganlee.validation.summary import build_summary

    d, _ = run
    cfg = load_settings(json.dumps(CONFIG))
    some = {s: ([str(d / s)], str(d / s / "lee")) for s in ("gan", "mc_bootstrap")}
    with pytest.raises(InputError, match="have no inputs"):
        build_summary(cfg, some, stream=io.StringIO())
    s = build_summary(cfg, some, partial=True, stream=io.StringIO())
    assert "inject_60_kfold" in s["missing_studies"]
    assert "gan" not in s["missing_studies"]
    assert s["ensemble"] is None
    assert s["sensitivity"]["by_scoring"] == {}
    assert s["gan_vs_mc"]["two_sample"]["n_a"] == 6
    write_json(tmp_path / "partial.json", s)
    assert len(validation_plots(tmp_path / "partial.json", tmp_path / "plots")) == 10
