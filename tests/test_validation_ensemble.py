"""GAN-ensemble spread (ganlee.validation.ensemble): zero for identical GANs, not for different
seeds; real (tiny) GANs trained by ganlee.gan.train and toys run by ganlee.toys.run."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.features import FEATURE_NAMES
from ganlee.gan.sample import load_model, sample
from ganlee.gan.train import train
from ganlee.io import write_features
from ganlee.settings import Settings, load_settings
from ganlee.stats.lee import global_significance
from ganlee.toys.run import ToyEngine
from ganlee.toys.sources import make_source
from ganlee.validation.compare import bootstrap_quantiles
from ganlee.validation.ensemble import ensemble_spread, ensemble_summary
from ganlee.validation.studies import ensemble_seed

torch.set_num_threads(1)
TINY_GAN = {
    "latent_dim": 4,
    "generator_layers": [16, 16],
    "critic_layers": [16, 16],
    "batch_size": 64,
    "epochs": 1,
    "checkpoint_every": 1,
}


def test_spread_of_identical_members_is_exactly_zero():
    v = np.array([[0.1, 2.0], [0.1, 2.0], [0.1, 2.0]])
    s = ensemble_spread(v)
    assert np.all(s["std"] == 0.0)
    assert np.all(s["range"] == 0.0)
    assert np.allclose(s["mean"], [0.1, 2.0])


def test_spread_of_different_members_is_the_sample_std():
    s = ensemble_spread([1.0, 2.0, 4.0, np.nan])
    assert s["n"] == 3
    assert s["std"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert (s["min"], s["max"], s["range"]) == (1.0, 4.0, 3.0)
    assert ensemble_spread([5.0])["std"] == 0.0
    with pytest.raises(ValueError, match="at least one member"):
        ensemble_spread([])


def _gv():
    return {"z0": 1.0, "n_mean": 1.0, "n_err": 0.05, "n_local": 1}


def test_summary_quotes_spread_next_to_the_statistical_error():
    rng = np.random.default_rng(0)
    members = ["gan", "gan_ens1", "gan_ens2"]
    base = np.sort(np.maximum(rng.normal(size=(400, 10)), 0).max(axis=1))
    samples = [base, base.copy(), base + 0.3]
    sig = [global_significance(2.0, z, _gv(), 0.6827) for z in samples]
    quant = [bootstrap_quantiles(z, [0.5, 0.9], 100, seed=1) for z in samples]
    out = ensemble_summary(members, sig, quant)
    p = out["p_global_toys"]
    assert p["per_member"][0] == p["per_member"][1]
    assert p["std"] == pytest.approx(np.std(p["per_member"], ddof=1))
    assert p["std"] > 0
    assert p["stat_err_mean"] > 0
    assert out["zmax_quantiles"][0]["std"] == pytest.approx(
        np.std([q[0]["value"] for q in quant], ddof=1)
    )
    same = ensemble_summary(members[:2], sig[:2], quant[:2])
    assert same["z_global_toys"]["std"] == 0.0
    assert same["p_global_gv"]["std"] == 0.0


def test_member_seeds_are_distinct_and_member0_is_the_main_seed():
    cfg = load_settings(json.dumps({"seed": 7, "validation": {"n_gans": 4}}))
    seeds = [ensemble_seed(cfg, g) for g in range(4)]
    assert seeds[0] == 7
    assert len(set(seeds)) == 4


@pytest.fixture(scope="module")
def gans(tmp_path_factory):
    """Three tiny GANs on the same events: seeds A, A and B."""
    d = tmp_path_factory.mktemp("ens")
    x = synthetic_events(640, 3)
    paths = []
    for i, seed in enumerate((11, 11, 12)):
        cfg = {"seed": seed, "device": "cpu", "gan": TINY_GAN}
        p = d / f"gan{i}.pt"
        train(x, Settings.from_config(cfg), model_path=p, stream=io.StringIO())
        paths.append(p)
    feats = d / "mc.root"
    write_features(feats, {n: x[:, j] for j, n in enumerate(FEATURE_NAMES)})
    return paths, feats


def test_same_seed_gans_sample_identically_different_seeds_do_not(gans):
    paths, _ = gans
    s = [sample(load_model(p), 500, seed=3) for p in paths]
    assert np.array_equal(s[0], s[1])
    assert not np.allclose(s[0], s[2])


def test_toy_spread_is_zero_for_identical_gans_and_not_for_different_seeds(gans):
    """The same toys (main seed) on each GAN: z_max per toy identical for seeds A, A; not for B."""
    paths, feats = gans
    cfg = load_settings(
        json.dumps(
            {
                "seed": 20240607,
                "device": "cpu",
                "toys": {
                    "sample1_size": 300,
                    "sample2_size": 300,
                    "chunk_size": 3,
                    "selections": [0.2, 1.0],
                    "dnn": {"layers": [8], "epochs": 1, "batch_size": 100},
                },
            }
        )
    )
    zmax = []
    for p in paths:
        engine = ToyEngine(
            cfg, make_source(cfg, feats, p, torch.device("cpu")), stream=io.StringIO()
        )
        zmax.append(engine.run_toys(0, 3, progress=False)["z_max"])
    same = ensemble_spread(np.stack(zmax[:2]))
    diff = ensemble_spread(np.stack([zmax[0], zmax[2]]))
    assert np.all(same["std"] == 0.0)
    assert np.all(np.isfinite(diff["std"]))
    assert np.any(diff["std"] > 0.0)
