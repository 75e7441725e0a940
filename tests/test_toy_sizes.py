"""Toys have the statistics of the dataset they calibrate (issue 20): sizes resolved from the
observed dataset by every step, recorded in every chunk, and an observed analysis of another size
gets no global significance without lee.allow_size_mismatch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic import synthetic_events
from test_lee import cfg_for, write_chunk, write_chunks

from ganlee.cli import main
from ganlee.features import FEATURE_NAMES
from ganlee.io import InputError, count_events, write_features
from ganlee.settings import Settings
from ganlee.stats import lee
from ganlee.stats.headline import format_headline, headline


def _features(path, n, seed):
    ev = synthetic_events(n, seed)
    write_features(path, {name: ev[:, j] for j, name in enumerate(FEATURE_NAMES)})
    return path


def _with_sizes(path, sizes, observed=False):
    with np.load(path) as f:
        d = dict(f)
    d["sample1_size"], d["sample2_size"] = (np.array(v, dtype=np.int64) for v in sizes)
    if observed:
        d["toy_index"] = np.array([-1])
        d["edges"] = np.linspace(130, 170, 41)
        d["counts"] = np.full((d["z"].shape[1], 40), 100.0)
    np.savez(path, **d)
    return path


def _run(tmp_path, obs_sizes, allow=False, toy_sizes=(2000, 2000)):
    rng = np.random.default_rng(3)
    n, m = 400, 31
    z = np.maximum(rng.standard_normal((n, 1, m)), 0.0).astype(np.float32)
    paths = [_with_sizes(p, toy_sizes) for p in write_chunks(tmp_path, z, 100)]
    obs_z = np.zeros((1, 1, m), dtype=np.float32)
    obs_z[0, 0, 10] = 2.5
    obs = _with_sizes(write_chunk(tmp_path / "observed.npz", obs_z, 0), obs_sizes, observed=True)
    cfg = Settings.from_config({"toys": {"n_toys": n}, "lee": {"allow_size_mismatch": allow}})
    return lee.aggregate(paths, cfg, observed=obs, progress=False).summary


def test_matching_sizes_quote_the_global_significance(tmp_path):
    s = _run(tmp_path, (2000, 2000))
    assert s["toy_sizes"] == {"sample1": 2000, "sample2": 2000}
    o = s["observed"]
    assert o["sizes"] == {"sample1": 2000, "sample2": 2000}
    assert o["not_quoted"] is None
    assert o["toys"]["z_global"] is not None
    text = format_headline(headline(s))
    assert (
        "toy size: 2,000 + 2,000 events (sample 1 + sample 2); observed analysis: 2,000 + 2,000"
        in text
    )


def test_other_sizes_get_no_global_significance(tmp_path):
    s = _run(tmp_path, (2000, 20192))
    o = s["observed"]
    assert o["toys"] is None
    assert o["gross_vitells"] is None
    assert "2,000 + 20,192 events" in o["not_quoted"]
    assert "lee.allow_size_mismatch" in o["not_quoted"]
    assert any("no global significance" in w for w in s["warnings"])
    text = format_headline(headline(s))
    assert "Z_global NOT QUOTED" in text
    assert "observed analysis: 2,000 + 20,192" in text


def test_the_opt_in_quotes_it_with_a_warning(tmp_path):
    s = _run(tmp_path, (2000, 20192), allow=True)
    o = s["observed"]
    assert o["toys"]["z_global"] is not None
    assert "lee.allow_size_mismatch: true" in o["size_warning"]
    assert any("quoted although" in w for w in s["warnings"])
    assert "WARNING: global significance quoted although" in format_headline(headline(s))


def test_chunks_of_different_sizes_are_refused(tmp_path):
    z = np.zeros((20, 1, 5), dtype=np.float32)
    a, b = write_chunks(tmp_path, z, 10)
    _with_sizes(a, (100, 100))
    _with_sizes(b, (100, 200))
    with pytest.raises(InputError, match=r"100 \+ 200 .*100 \+ 100"):
        lee.aggregate([a, b], cfg_for(20), progress=False)


def test_the_toys_take_the_size_of_the_observed_dataset(tmp_path):
    mc = _features(tmp_path / "mc.root", 1500, 1)
    data = _features(tmp_path / "data.root", 437, 2)
    assert count_events(data) == 437
    cfg = {
        "seed": 3,
        "device": "cpu",
        "toys": {
            "source": "mc_bootstrap",
            "selections": [0.5, 1.0],
            "dnn": {"layers": [8], "epochs": 1, "batch_size": 100},
        },
    }
    base = ["--config", json.dumps(cfg), "--features", str(mc), "--first", "0", "--count", "2"]
    out = tmp_path / "chunk_0.npz"
    assert main(["toys", *base, "--observed", str(data), "--out", str(out)]) == 0
    with np.load(out) as f:
        assert (int(f["sample1_size"]), int(f["sample2_size"])) == (437, 437)
    # without an observed dataset (lee.observed.enabled false): the MC's size
    off = {**cfg, "lee": {"observed": {"enabled": False}}}
    args = ["--config", json.dumps(off), *base[2:], "--out", str(tmp_path / "c.npz")]
    assert main(["toys", *args]) == 0
    with np.load(tmp_path / "c.npz") as f:
        assert (int(f["sample1_size"]), int(f["sample2_size"])) == (1500, 1500)
    # the observed run and the toys resolve the same sizes: same configuration hash
    obs = tmp_path / "observed.npz"
    run = ["observe", "--config", json.dumps(cfg), "--features", str(mc), "--data", str(data)]
    assert main([*run, "--out", str(obs)]) == 0
    with np.load(obs) as f, np.load(out) as g:
        assert str(f["config_hash"]) == str(g["config_hash"])
        assert (int(f["sample1_size"]), int(f["sample2_size"])) == (437, 437)


def test_a_missing_observed_dataset_is_named(tmp_path, capsys):
    mc = _features(tmp_path / "mc.root", 300, 1)
    cfg = json.dumps(
        {"toys": {"source": "mc_bootstrap"}, "lee": {"observed": {"features": "generate"}}}
    )
    args = ["toys", "--config", cfg, "--features", str(mc), "--first", "0", "--count", "1"]
    assert main([*args, "--out", str(tmp_path / "c.npz")]) == 2
    assert "results/mc/pseudo_data.root" in capsys.readouterr().err


def test_max_events_keeps_a_dataset_of_exactly_that_size(tmp_path):
    from mc_helpers import sample, write_delphes

    from ganlee.mc.convert import convert

    src = tmp_path / "delphes.root"
    write_delphes(src, sample() * 4)  # 3 of 10 events selected, 4 times
    settings = Settings.from_config({})
    full = convert([str(src)], settings, tmp_path / "a.root", tmp_path / "a.json")
    n = full["selected_events"]
    assert n == 12
    cut = convert([str(src)], settings, tmp_path / "b.root", tmp_path / "b.json", max_events=5)
    assert count_events(tmp_path / "b.root") == 5 == cut["selected_events"]
    assert cut["selected_before_max_events"] == n
    with pytest.raises(InputError, match=rf"{n} events .* passed the selection, {n + 1} requested"):
        convert([str(src)], settings, tmp_path / "c.root", tmp_path / "c.json", max_events=n + 1)
    assert not (tmp_path / "c.root").exists()
