"""``ganlee fit-model`` (rule fit_model) and its choice file through the toys, observe and
lee-aggregate: the choice is the simplest candidate that passes the spurious-signal test of its
own table, every chunk and the summary record its hash and models, stale or foreign choices are
refused (exit 2) and a failed test stops with the selection and the best candidate named."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from synthetic import synthetic_events
from toy_helpers import train_tiny_gan

from ganlee.chunks import read_chunk
from ganlee.cli import main
from ganlee.features import FEATURE_NAMES
from ganlee.io import file_hash, write_features


def _cfg(**spurious):
    sp = {"max_order": 2, "pilot_toys": 1, "template_factor": 100, "on_fail": "warn"}
    sp.update(spurious)
    return json.dumps(
        {
            "seed": 3,
            "device": "cpu",
            "toys": {
                "sample1_size": 400,
                "sample2_size": 400,
                "selections": [0.25, 1.0],
                "dnn": {"layers": [16], "epochs": 1, "batch_size": 100},
            },
            "fit": {"spurious": sp},
        }
    )


def _ratio(row):
    """A row's max |S_spur| / sigma_stat; null (a failed fit) is infinite."""
    return math.inf if row["max_abs_ratio"] is None else row["max_abs_ratio"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit_model")
    mc = synthetic_events(2000, 5)
    write_features(d / "features.root", {n: mc[:, j] for j, n in enumerate(FEATURE_NAMES)})
    train_tiny_gan(mc, d / "model.pt")
    out = d / "background.json"
    args = [
        "--config",
        _cfg(),
        "--model",
        str(d / "model.pt"),
        "--features",
        str(d / "features.root"),
    ]
    assert main(["fit-model", *args, "--out", str(out), "--plots", str(d / "plots")]) == 0
    return d, args


def test_choice_file_follows_its_own_table(project):
    d, _ = project
    content = json.loads((d / "background.json").read_text())
    assert content["format"] == "ganlee-background-choice"
    assert content["candidates"] == [
        "exp_chebyshev1",
        "bernstein_free1",
        "exp_chebyshev2",
        "bernstein_free2",
    ]
    assert content["n_toy"] == [100.0, 400.0]
    for sel, model in zip(content["table"], content["models"], strict=True):
        assert sel["n_template"] == pytest.approx(100 * sel["n_toy"], rel=0.02)
        assert len(sel["rows"]) == 4
        ratios = {r["model"]: _ratio(r) for r in sel["rows"]}
        passing = [m for m, v in ratios.items() if v <= 0.2]
        best = min(ratios, key=lambda m: ratios[m])
        assert model == (passing[0] if passing else best)
        assert sel["passed"] == bool(passing)
        for r in sel["rows"]:
            ratio = np.array([np.nan if v is None else v for v in r["ratio"]])
            assert len(ratio) == 31
            if r["n_failed"]:  # a failed fit fails the candidate
                assert r["max_abs_ratio"] is None
            else:
                assert r["max_abs_ratio"] == pytest.approx(np.max(np.abs(ratio)), rel=1e-12)
    assert content["passed"] == all(content["passed_per_selection"])
    assert (d / "plots" / "spurious_signal.pdf").stat().st_size > 0
    assert (d / "plots" / "spurious_signal.png").stat().st_size > 0


def test_toys_observe_and_summary_record_the_choice(project, tmp_path):
    d, args = project
    choice = d / "background.json"
    models = json.loads(choice.read_text())["models"]
    chunk = tmp_path / "chunk_0.npz"
    bkg = ["--background", str(choice)]
    assert main(["toys", *args, *bkg, "--first", "0", "--count", "2", "--out", str(chunk)]) == 0
    ch = read_chunk(chunk)
    assert ch.background_hash == file_hash(choice)
    assert ch.background_models is not None
    assert ch.background_models.tolist() == models
    obs = tmp_path / "observed.npz"
    assert (
        main(["observe", *args, *bkg, "--data", str(d / "features.root"), "--out", str(obs)]) == 0
    )
    ob = read_chunk(obs, observed=True)
    assert ob.gof_p_value is not None
    assert ob.gof_p_value.shape == (1, 2)
    assert np.all((ob.gof_p_value >= 0) & (ob.gof_p_value <= 1))
    summary = tmp_path / "summary.json"
    cfg = json.loads(_cfg())
    cfg["toys"]["n_toys"] = 2
    lee = ["lee-aggregate", "--quiet", "--config", json.dumps(cfg), "--summary", str(summary)]
    assert main([*lee, *bkg, "--observed", str(obs), str(chunk)]) == 0
    s = json.loads(summary.read_text())
    assert s["background_hash"] == file_hash(choice)
    assert s["background"]["models"] == models
    assert [r["model"] for r in s["background"]["choice"]["selections"]] == models
    gof = s["observed"]["goodness_of_fit"]
    assert [g["background"] for g in gof] == models
    assert all(g["ndf"] == 40 - int(m[-1]) - 1 for g, m in zip(gof, models, strict=True))
    # toys fitted with another choice are refused
    other = tmp_path / "other.json"
    other.write_text(choice.read_text().replace('"version": 1', '"version": 1 '))
    assert main([*lee, "--background", str(other), str(chunk)]) == 2


def test_stale_choice_and_failed_test_exit_2(project, tmp_path, capsys):
    d, args = project
    stale = json.loads((d / "background.json").read_text())
    stale["selections"] = [0.5, 1.0]
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(stale))
    out = tmp_path / "c.npz"
    rc = main(
        [
            "toys",
            *args,
            "--background",
            str(path),
            "--first",
            "0",
            "--count",
            "1",
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    assert "toys.selections changed" in capsys.readouterr().err
    strict = ["--config", _cfg(on_fail="error", max_ratio=1e-6, max_order=1), *args[2:]]
    rc = main(["fit-model", *strict, "--out", str(tmp_path / "b.json")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "background model for top 25%: no candidate passes" in err
    assert "best " in err
    assert not (tmp_path / "b.json").exists()
