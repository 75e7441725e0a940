"""The gan-train / gan-validate subcommands end to end on a small features file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.cli import main
from ganlee.features import FEATURE_NAMES
from ganlee.io import write_features

torch.set_num_threads(1)

CFG = {
    "seed": 3,
    "device": "cpu",
    "gan": {
        "epochs": 3,
        "checkpoint_every": 1,
        "batch_size": 32,
        "n_critic": 2,
        "latent_dim": 8,
        "generator_layers": [32, 32],
        "critic_layers": [32, 32],
        "lr": 1e-3,
        "validation_events": 400,
    },
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gan_cli")
    x = synthetic_events(2000, seed=8)
    write_features(d / "features.root", {n: x[:, j] for j, n in enumerate(FEATURE_NAMES)})
    return d


def run(*args: str) -> int:
    return main(list(args))


def test_train_then_validate(workdir, capsys) -> None:
    d = workdir
    cfg = json.dumps(CFG)
    common = ["--config", cfg, "--features", str(d / "features.root")]
    rc = run(
        "gan-train",
        *common,
        "--model",
        str(d / "model.pt"),
        "--history",
        str(d / "history.csv"),
        "--checkpoint",
        str(d / "ck.pt"),
    )
    assert rc == 0
    err = capsys.readouterr().err
    assert "2000 events, 1440 for training, 160 monitor, 400 held out" in err
    assert "step/s" in err
    assert "ETA" in err
    assert (d / "model.pt").is_file()
    assert (d / "ck.pt").is_file()
    assert len((d / "history.csv").read_text().splitlines()) == 4

    rc = run(
        "gan-validate",
        *common,
        "--model",
        str(d / "model.pt"),
        "--history",
        str(d / "history.csv"),
        "--out",
        str(d / "validation.json"),
        "--plots",
        str(d / "plots"),
        "--no-feature-plots",
    )
    assert rc == 0
    res = json.loads((d / "validation.json").read_text())
    assert res["n_mc"] == res["n_gan"] == 400
    assert res["feature_names"] == list(FEATURE_NAMES)
    assert 0.0 <= res["invalid_fraction"] < 0.5
    assert res["sampling"]["requested"] == 400
    assert 0.0 <= res["classifier"]["auc"] <= 1.0
    assert res["fpd"]["value"] >= 0
    assert res["correlation"]["frobenius_diff"] >= res["correlation"]["max_abs_diff"]
    assert set(res["per_feature"]) == set(FEATURE_NAMES)
    assert all(0 <= v["ks"] <= 1 and v["w1"] >= 0 for v in res["per_feature"].values())
    assert len(res["model"]["sha"]) == 16
    names = {p.name for p in (d / "plots").iterdir()}
    stems = ("features", "correlations", "losses", "monitor")  # per-feature plots: test below
    assert names == {f"{n}.{e}" for n in stems for e in ("pdf", "png")}
    magic = {".png": b"\x89PNG", ".pdf": b"%PDF"}
    assert all((d / "plots" / p).read_bytes()[:4] == magic[Path(p).suffix] for p in names)
    gate = res["fidelity"]
    assert set(gate["checks"]) == {"auc", "ks_min_pvalue", "mllg_pvalue"}
    for c in gate["checks"].values():
        assert set(c) == {"value", "threshold", "passed"}
    assert gate["passed"] == all(c["passed"] for c in gate["checks"].values())
    assert gate["message"].startswith(
        "toys validated: " if gate["passed"] else "toys not validated: "
    )
    assert gate["n_events"] == 200  # the toy size (all 2000 MC events) capped at half the hold-out
    err = capsys.readouterr().err
    assert "AUC" in err
    assert gate["message"] in err

    # A second train call finds the finished checkpoint and only rewrites the outputs.
    (d / "model.pt").unlink()
    assert (
        run(
            "gan-train",
            *common,
            "--model",
            str(d / "model.pt"),
            "--history",
            str(d / "h2.csv"),
            "--checkpoint",
            str(d / "ck.pt"),
        )
        == 0
    )
    assert "resuming" in capsys.readouterr().err
    assert (d / "h2.csv").read_text() == (d / "history.csv").read_text()


def test_validate_refuses_other_features(workdir, tmp_path, capsys) -> None:
    d = workdir
    if not (d / "model.pt").is_file():
        pytest.skip("needs the model of test_train_then_validate")
    x = synthetic_events(2000, seed=9)
    write_features(tmp_path / "other.root", {n: x[:, j] for j, n in enumerate(FEATURE_NAMES)})
    rc = run(
        "gan-validate",
        "--config",
        json.dumps(CFG),
        "--features",
        str(tmp_path / "other.root"),
        "--model",
        str(d / "model.pt"),
        "--history",
        str(d / "history.csv"),
        "--out",
        str(tmp_path / "v.json"),
        "--plots",
        str(tmp_path / "plots"),
    )
    assert rc == 2
    assert "is not the input the model" in capsys.readouterr().err
    assert not (tmp_path / "v.json").exists()


def _train_with_lr(workdir, tmp_path, lr: float) -> int:
    """``gan-train`` of ``CFG`` with learning rate ``lr`` into ``tmp_path`` (m.pt, h.csv)."""
    cfg = json.loads(json.dumps(CFG))
    cfg["gan"]["lr"] = lr
    return run(
        "gan-train",
        "--config",
        json.dumps(cfg),
        "--features",
        str(workdir / "features.root"),
        "--model",
        str(tmp_path / "m.pt"),
        "--history",
        str(tmp_path / "h.csv"),
    )


def test_divergence_exit_code_and_no_model(workdir, tmp_path, capsys) -> None:
    rc = _train_with_lr(workdir, tmp_path, 1e10)
    assert rc == 3
    assert "diverged" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


def test_missing_model_is_a_clean_error(workdir, tmp_path, capsys) -> None:
    rc = run(
        "gan-validate",
        "--config",
        json.dumps(CFG),
        "--features",
        str(workdir / "features.root"),
        "--model",
        str(tmp_path / "none.pt"),
        "--history",
        str(tmp_path / "h.csv"),
        "--out",
        str(tmp_path / "v.json"),
        "--plots",
        str(tmp_path / "plots"),
    )
    assert rc == 2
    assert "none.pt' does not exist" in capsys.readouterr().err


def test_nan_in_features_file_refused_naming_branch(tmp_path, capsys) -> None:
    x = synthetic_events(500, seed=1)
    x[10, FEATURE_NAMES.index("pt_ll")] = np.nan
    write_features(tmp_path / "f.root", {n: x[:, j] for j, n in enumerate(FEATURE_NAMES)})
    rc = run(
        "gan-train",
        "--config",
        json.dumps(CFG),
        "--features",
        str(tmp_path / "f.root"),
        "--model",
        str(tmp_path / "m.pt"),
        "--history",
        str(tmp_path / "h.csv"),
    )
    assert rc == 2
    assert "'pt_ll'" in capsys.readouterr().err


def test_per_feature_plots(tmp_path) -> None:
    from ganlee.gan.plots import plot_features

    a, b = synthetic_events(300, seed=1), synthetic_events(300, seed=2)
    cols = [FEATURE_NAMES.index(n) for n in ("m_llg", "phi_ll", "n_jets")]
    names, kinds = ["m_llg", "phi_ll", "n_jets"], ["window", "angle", "integer"]
    paths = plot_features(a[:, cols], b[:, cols], names, kinds, tmp_path, (130.0, 170.0))
    stems = ["feature_m_llg", "feature_n_jets", "feature_phi_ll", "features"]
    assert sorted(p.name for p in paths) == sorted(
        f"{n}.{e}" for n in stems for e in ("pdf", "png")
    )
    magic = {".png": b"\x89PNG", ".pdf": b"%PDF"}
    assert all(p.read_bytes()[:4] == magic[p.suffix] for p in paths)


def test_exploding_losses_stop_with_exit_3(workdir, tmp_path, capsys) -> None:
    """gan.lr 1000 keeps the losses finite (~1e21) but exploding: exit 3, no model."""
    rc = _train_with_lr(workdir, tmp_path, 1000.0)
    err = capsys.readouterr().err
    assert rc == 3, err
    assert "diverged" in err
    assert "gan.divergence_threshold" in err
    assert not (tmp_path / "m.pt").exists()
    assert not (tmp_path / "h.csv").exists()


@pytest.fixture(scope="module")
def nan_model(workdir, tmp_path_factory):
    """A valid checkpoint whose generator weights are all NaN: every sample is invalid."""
    from ganlee.gan.train import train
    from ganlee.io import read_features
    from ganlee.settings import Settings

    path = tmp_path_factory.mktemp("nan_model") / "broken.pt"
    x = read_features(workdir / "features.root")
    train(x, Settings.from_config(CFG), model_path=path, stream=io.StringIO())
    ck = torch.load(path, weights_only=True)
    ck["generator_state"] = {
        k: torch.full_like(v, float("nan")) for k, v in ck["generator_state"].items()
    }
    torch.save(ck, path)
    return path


@pytest.mark.parametrize("command", ["gan-validate", "toys", "observe"])
def test_all_invalid_samples_are_a_clear_error(
    workdir, nan_model, tmp_path, capsys, command
) -> None:
    feats = str(workdir / "features.root")
    cfg = json.dumps({**CFG, "toys": {"sample1_size": 200, "sample2_size": 200}})
    args = {
        "gan-validate": [
            "--history",
            str(tmp_path / "h.csv"),
            "--out",
            str(tmp_path / "v.json"),
            "--plots",
            str(tmp_path / "plots"),
        ],
        "toys": ["--first", "0", "--count", "1", "--out", str(tmp_path / "c.npz")],
        "observe": ["--data", feats, "--out", str(tmp_path / "o.npz")],
    }[command]
    if command == "gan-validate":
        (tmp_path / "h.csv").write_text(
            "epoch,generator_steps,loss_critic,loss_generator,"
            "wasserstein,gradient_penalty,seconds\n"
        )
    rc = run(command, "--config", cfg, "--features", feats, "--model", str(nan_model), *args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"GAN model file '{nan_model}'" in err
    assert "invalid" in err
    assert "Traceback" not in err
    assert not any(tmp_path.glob("*.npz"))
    assert not (tmp_path / "v.json").exists()


def test_failed_fidelity_gate_stops_with_require_fidelity(workdir, tmp_path, capsys) -> None:
    """The 3-epoch model is told apart from MC (AUC ~1): a warning by default, exit 3 naming
    the failed check when gan.require_fidelity is true."""
    d = workdir
    if not (d / "model.pt").is_file():
        pytest.skip("needs the model of test_train_then_validate")
    cfg = json.loads(json.dumps(CFG))
    cfg["gan"]["require_fidelity"] = True
    rc = run(
        "gan-validate",
        "--config",
        json.dumps(cfg),
        "--features",
        str(d / "features.root"),
        "--model",
        str(d / "model.pt"),
        "--history",
        str(d / "history.csv"),
        "--out",
        str(tmp_path / "v.json"),
        "--plots",
        str(tmp_path / "plots"),
        "--no-feature-plots",
    )
    err = capsys.readouterr().err
    assert rc == 3, err
    assert "error: toys not validated: AUC" in err
    assert "gan.require_fidelity" in err
    assert json.loads((tmp_path / "v.json").read_text())["fidelity"]["passed"] is False
