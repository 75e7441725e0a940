"""The toy engine: K- and chunk-independence, k-fold, sources, file contract, bad input."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import numpy as np
import pytest
import torch
from compare import assert_same_z
from synthetic import synthetic_events
from toy_helpers import train_tiny_gan

from ganlee.chunks import BACKGROUND_KEYS, CHUNK_KEYS, FORMAT_KEY, GOF_KEYS, SIZE_KEYS
from ganlee.cli import main
from ganlee.config import ConfigError, config_hash
from ganlee.features import FEATURE_NAMES
from ganlee.io import InputError, write_features
from ganlee.seeds import derive_seed
from ganlee.settings import Settings, load_settings
from ganlee.stats.fit import FitSpec
from ganlee.toys.classifier import hash_permutation
from ganlee.toys.run import ToyEngine
from ganlee.toys.settings import selection_sizes, toy_config
from ganlee.toys.sources import BootstrapSource, make_source
from ganlee.toys.tensor_ops import kfold_split, selection_histograms

torch.set_num_threads(1)
CPU = torch.device("cpu")
N_MC = 1200


def _cfg(**toys) -> Settings:
    base = {
        "source": "mc_bootstrap",
        "sample1_size": 300,
        "sample2_size": 300,
        "selections": [0.1, 0.5, 1.0],
        "dnn": {"layers": [32, 16], "epochs": 2, "batch_size": 64},
    }
    base.update(toys)
    return load_settings(json.dumps({"seed": 7, "device": "cpu", "toys": base}))


@pytest.fixture(scope="module")
def mc():
    return synthetic_events(N_MC, 3)


@pytest.fixture(scope="module")
def features(tmp_path_factory, mc):
    path = tmp_path_factory.mktemp("toys") / "features.root"
    write_features(path, {name: mc[:, j] for j, name in enumerate(FEATURE_NAMES)})
    return path


def _engine(cfg, features):
    return ToyEngine(cfg, make_source(cfg, features, None, CPU), stream=io.StringIO())


def _same(a: np.ndarray, b: np.ndarray, atol: float = 1e-4) -> None:
    np.testing.assert_allclose(a, b, atol=atol, rtol=0, equal_nan=True)


# ------------------------------------------------------------------------------ independence
def test_toy_results_do_not_depend_on_k_or_chunking(features):
    """Unpadded passes of K = 4, 1 and 3 toys (single-threaded CPU kernels are batch-invariant)."""
    whole = _engine(_cfg(pad_passes=False), features).run_toys(0, 4)  # all 4 toys stacked
    alone = _engine(_cfg(models_per_batch=1), features).run_toys(0, 4)  # K = 1, one at a time
    split = [
        _engine(_cfg(models_per_batch=3, pad_passes=False), features).run_toys(a, n)
        for a, n in ((0, 1), (1, 3))
    ]
    assert np.isfinite(whole["z_max"]).all()
    for other in (
        alone,
        {k: np.concatenate([s[k] for s in split]) for k in ("z", "z_max", "toy_index")},
    ):
        _same(whole["z"], other["z"])
        _same(whole["z_max"], other["z_max"])
    assert split[1]["toy_index"].tolist() == [1, 2, 3]
    # different toys really differ
    assert len(set(np.round(whole["z_max"], 6))) == 4


def test_padded_passes_give_the_same_toys(features):
    """Fixed-width passes: bit-for-bit the same toy in any chunk; replicas change nothing."""
    stream = io.StringIO()
    cfg = _cfg(chunk_size=4)  # W = chunk_size = 4 toys per pass
    whole = ToyEngine(cfg, make_source(cfg, features, None, CPU), stream=stream).run_toys(0, 4)
    moved = [_engine(cfg, features).run_toys(a, n) for a, n in ((0, 1), (1, 2), (3, 1))]
    # training is bit-identical in any chunk; the fits of a chunk run as one batch, so compare
    # what a different batch composition can change only by rounding (see tests/compare.py)
    assert_same_z(whole["z"], np.concatenate([m["z"] for m in moved]))
    padded = _engine(_cfg(models_per_batch=4), features).run_toys(1, 2)  # 2 replicas
    assert_same_z(whole["z"][1:3], padded["z"])
    unpadded = _engine(_cfg(models_per_batch=4, pad_passes=False), features).run_toys(1, 2)
    assert_same_z(padded["z"], unpadded["z"])
    assert "passes of 4 toy(s)" in stream.getvalue()
    # pass width: models_per_batch // models per toy, else chunk_size
    assert _engine(_cfg(chunk_size=3), features).pass_width() == 3
    kfold = _cfg(models_per_batch=10, scoring="kfold", k_folds=5)
    assert _engine(kfold, features).pass_width() == 2


def test_kfold_results_do_not_depend_on_k(features):
    cfg = _cfg(scoring="kfold", k_folds=3)
    a = _engine(cfg, features).run_toys(5, 2)
    b = _engine(_cfg(scoring="kfold", k_folds=3, models_per_batch=3), features).run_toys(5, 2)
    _same(a["z"], b["z"])


# ------------------------------------------------------------------------------ k-fold
def test_kfold_split_is_out_of_fold_by_construction():
    n1, n2, k, T = 23, 17, 5, 3
    p1 = hash_permutation([1, 2, 3], n1)
    p2 = hash_permutation([4, 5, 6], n2)
    rows, events = kfold_split(p1, p2, k)
    assert rows.shape == (T * k, n1 - math.ceil(n1 / k) + n2 - math.ceil(n2 / k))
    assert events.shape == (T, k, math.ceil(n2 / k))
    for t in range(T):
        scored = set()
        for j in range(k):
            train = rows[t * k + j].tolist()
            assert len(set(train)) == len(train)
            assert all(0 <= r < n1 + n2 for r in train)
            mine = {n1 + e for e in events[t, j].tolist()}
            assert not mine & set(train), "a model scores an event it trained on"
            scored |= set(events[t, j].tolist())
        assert scored == set(range(n2)), "every sample-2 event is scored"
        # folds are disjoint: each event belongs to exactly one fold
        owners = [sum(e in events[t, j].tolist() for j in range(k)) for e in range(n2)]
        assert owners == [1] * n2


def test_kfold_removes_memorisation_that_train_scoring_shows(features):
    """Identical samples, an over-trained DNN: training events score high, held-out ones don't."""
    dnn = {"layers": [128, 128], "epochs": 40, "batch_size": 30, "lr": 0.01, "decay": 0.0}
    kw = {"sample1_size": 150, "sample2_size": 150, "dnn": dnn}
    train_logits, _ = _engine(_cfg(**kw), features).score_toys(0, 1)
    kfold_logits, _ = _engine(_cfg(scoring="kfold", k_folds=3, **kw), features).score_toys(0, 1)
    assert (train_logits > 0).mean() > 0.85
    assert 0.25 < (kfold_logits > 0).mean() < 0.75


def test_random_scoring_gives_random_subsets_without_a_dnn(features):
    """scoring random: standard-normal scores independent of the events and of the pass, no
    DNN trained; the selections are then subsets unrelated to m_llg."""
    from scipy import stats

    stream = io.StringIO()
    cfg = _cfg(scoring="random", sample2_size=1000, chunk_size=3)
    engine = ToyEngine(cfg, make_source(cfg, features, None, CPU), stream=stream)
    logits, m2 = engine.score_toys(0, 3)
    assert "train" not in stream.getvalue()
    assert logits.shape == m2.shape == (3, 1000)
    assert stats.kstest(logits.ravel(), "norm").pvalue > 1e-3
    for t in range(3):  # Pearson r of score and m_llg: null std 1/sqrt(1000)
        assert abs(np.corrcoef(logits[t], m2[t])[0, 1]) < 4 / math.sqrt(1000)
    alone, _ = _engine(_cfg(scoring="random", sample2_size=1000), features).score_toys(2, 1)
    np.testing.assert_array_equal(alone[0], logits[2])  # same toy, another pass: same scores
    assert not np.array_equal(logits[0], logits[1])
    trained, _ = _engine(_cfg(sample2_size=1000), features).score_toys(0, 1)
    assert not np.allclose(trained[0], logits[0])


# ------------------------------------------------------------------------------ sources
def test_bootstrap_draws_from_disjoint_halves():
    mc = np.tile(
        np.arange(101, dtype=np.float64)[:, None], (1, len(FEATURE_NAMES))
    )  # row id everywhere
    src = BootstrapSource(mc, seed=5, device=CPU, model_hash="x")
    a, b = set(src.pools["sample1"].tolist()), set(src.pools["sample2"].tolist())
    assert not a & b
    assert a | b == set(range(101))
    s1 = src.draw("sample1", 500, 1)[:, 0].numpy()
    s2 = src.draw("sample2", 500, 2)[:, 0].numpy()
    assert set(s1.tolist()) <= a
    assert set(s2.tolist()) <= b
    assert len(set(s1.tolist())) > 40  # with replacement, many distinct events
    assert torch.equal(src.draw("sample1", 50, 9), src.draw("sample1", 50, 9))
    # the split is fixed by derive_seed(seed, "mc_split"): same seed, same halves
    again = BootstrapSource(mc, seed=5, device=CPU, model_hash="x")
    assert set(again.pools["sample1"].tolist()) == a


@pytest.mark.parametrize("size", [100, 1000, 3000])
def test_sample_sizes_below_and_above_the_mc_size(features, size):
    """The toy sizes need not be the MC's (N_MC = 1200, halves of 600): the bootstrap resamples
    each half to any size; every draw still comes from the sample's own half."""
    cfg = _cfg(sample1_size=size, sample2_size=size, dnn={"layers": [8], "epochs": 1})
    engine = _engine(cfg, features)
    assert (engine.n1, engine.n2) == (size, size)
    drawn = engine.draw_samples(2)
    src = engine.source
    assert drawn["sample1"].shape == drawn["sample2"].shape == (size, len(FEATURE_NAMES))
    for role in ("sample1", "sample2"):
        pool = src.mc[torch.as_tensor(src.pools[role])].numpy()
        rows = {r.tobytes() for r in pool}
        assert all(r.tobytes() in rows for r in drawn[role])
        distinct = np.unique(drawn[role], axis=0).shape[0]
        assert distinct <= min(size, pool.shape[0])
        if size > pool.shape[0]:
            assert distinct < size  # with replacement: repeats once the half is exhausted
    res = engine.run_toys(0, 2)
    assert np.isfinite(res["z_max"]).all()
    np.testing.assert_array_equal(res["n_fits"], 3 * 31)


# ------------------------------------------------------------------------------ selections
def test_selection_sizes_round_half_up_and_refuse_bad_fractions():
    assert selection_sizes([0.01, 0.5, 1.0], 250).tolist() == [3, 125, 250]
    with pytest.raises(ConfigError, match="empty selection"):
        selection_sizes([0.001], 300)
    with pytest.raises(ConfigError, match=r"not in \(0, 1\]"):
        selection_sizes([1.5], 300)


def test_selection_histograms_match_numpy():
    rng = np.random.default_rng(1)
    edges = np.linspace(130.0, 170.0, 41)
    values = rng.uniform(125.0, 175.0, size=(3, 200))
    values[0, :5] = [130.0, 170.0, 150.0, 129.999, 170.001]  # edges and just outside
    sizes = np.array([50, 5, 200])  # unsorted on purpose
    spec = FitSpec.from_config({"fit": {}})
    np.testing.assert_array_equal(spec.edges, edges)
    got = selection_histograms(spec, torch.as_tensor(values), sizes).numpy()
    for t in range(3):
        for s, n in enumerate(sizes):
            want, _ = np.histogram(values[t, :n], bins=edges)
            np.testing.assert_array_equal(got[t, s], want)


# ------------------------------------------------------------------------------ files and CLI
def _cli_cfg(**toys) -> str:
    base = {
        "source": "mc_bootstrap",
        "sample1_size": 300,
        "sample2_size": 300,
        "selections": [0.1, 0.5, 1.0],
        "dnn": {"layers": [16], "epochs": 1, "batch_size": 100},
    }
    base.update(toys)
    return json.dumps({"seed": 7, "device": "cpu", "toys": base})


def test_chunk_file_contract(features, tmp_path, capsys):
    out = tmp_path / "chunk_1.npz"
    cfg = _cli_cfg()
    rc = main(
        [
            "toys",
            "--config",
            cfg,
            "--features",
            str(features),
            "--first",
            "2",
            "--count",
            "3",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    with np.load(out, allow_pickle=False) as d:
        assert sorted(d.files) == sorted((FORMAT_KEY, *CHUNK_KEYS, *BACKGROUND_KEYS, *SIZE_KEYS))
        assert (int(d["sample1_size"]), int(d["sample2_size"])) == (300, 300)
        assert str(d["background_hash"]) == "fit.background:exp_poly2"
        assert d["background_models"].tolist() == ["exp_poly2"] * 3
        K, S, M = 3, 3, 31
        dtypes = {
            "toy_index": np.int64,
            "seed": np.int64,
            "z": np.float32,
            "z_max": np.float64,
            "mass_at_max": np.float64,
            "selection_at_max": np.float64,
            "n_fits": np.int64,
            "n_failed": np.int64,
            "masses": np.float64,
            "selections": np.float64,
        }
        for key, dt in dtypes.items():
            assert d[key].dtype == dt, key
        assert d["z"].shape == (K, S, M)
        for key in (
            "toy_index",
            "seed",
            "z_max",
            "mass_at_max",
            "selection_at_max",
            "n_fits",
            "n_failed",
        ):
            assert d[key].shape == (K,)
        assert d["toy_index"].tolist() == [2, 3, 4]
        assert d["seed"].tolist() == [derive_seed(7, "toy", i) for i in (2, 3, 4)]
        np.testing.assert_array_equal(d["masses"], np.arange(135.0, 165.5, 1.0))
        np.testing.assert_array_equal(d["selections"], [0.1, 0.5, 1.0])
        assert (d["n_fits"] == S * M).all()
        z = d["z"].astype(np.float64)
        assert (d["n_failed"] == np.isnan(z).reshape(K, -1).sum(1)).all()
        for k in range(K):
            best = np.nanmax(z[k])
            assert d["z_max"][k] == pytest.approx(best, abs=1e-6)
            s, m = np.argwhere(np.isclose(z[k], best, atol=1e-6))[0]
            assert d["selection_at_max"][k] == d["selections"][s]
            assert d["mass_at_max"][k] == d["masses"][m]
        for key in ("config_hash", "model_hash", "config_json"):
            assert d[key].shape == ()
        full = load_settings(cfg)
        assert str(d["config_hash"]) == config_hash(toy_config(full))
        job = json.loads(str(d["config_json"]))
        assert job["toys"] == full.toys.to_dict()
        assert job["fit"] == full.fit.to_dict()
        assert config_hash(toy_config(Settings.from_config(job))) == str(d["config_hash"])
        assert str(d["model_hash"]).startswith("mc_bootstrap:")
    # the chunk size, the batching and the device do not enter the hash; the seed does
    other = load_settings(_cli_cfg(models_per_batch=2, chunk_size=99, n_toys=5))
    assert config_hash(toy_config(other)) == config_hash(toy_config(full))
    assert config_hash(toy_config(dataclasses.replace(full, seed=8))) != config_hash(
        toy_config(full)
    )
    # ganlee toy --index reruns toy 3 alone: same Z table as in the chunk
    capsys.readouterr()
    assert main(["toy", "--config", cfg, "--features", str(features), "--index", "3"]) == 0
    printed = capsys.readouterr().out
    assert "z_max" in printed
    with np.load(out, allow_pickle=False) as d:
        assert f"z_max = {d['z_max'][1]:.4f}" in printed
        assert len(printed.strip().splitlines()) == 1 + 1 + M + 1


def test_observe_file(features, mc, tmp_path):
    data = tmp_path / "data.root"
    obs = synthetic_events(400, 11)
    write_features(data, {name: obs[:, j] for j, name in enumerate(FEATURE_NAMES)})
    out = tmp_path / "observed.npz"
    rc = main(
        [
            "observe",
            "--config",
            _cli_cfg(),
            "--features",
            str(features),
            "--data",
            str(data),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    with np.load(out, allow_pickle=False) as d:
        keys = (FORMAT_KEY, *CHUNK_KEYS, *BACKGROUND_KEYS, *SIZE_KEYS, *GOF_KEYS, "edges", "counts")
        assert sorted(d.files) == sorted(keys)
        # sample 1: the toys' 300 from the source; sample 2: the 400 observed events
        assert (int(d["sample1_size"]), int(d["sample2_size"])) == (300, 400)
        assert d["toy_index"].tolist() == [-1]
        assert d["z"].shape == (1, 3, 31)
        np.testing.assert_array_equal(d["edges"], np.arange(130.0, 170.5, 1.0))
        assert d["counts"].shape == (3, 40)
        # the 100% selection is the whole observed m_llg spectrum (float32 storage in the file)
        want, _ = np.histogram(obs[:, 0].astype(np.float32), bins=d["edges"])
        np.testing.assert_array_equal(d["counts"][2], want)
        assert d["counts"][0].sum() == 40  # top 10% of 400 events
        assert d["counts"][1].sum() == 200


def _fails(args: list[str], out, capsys, match: str) -> None:
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert match in err, err
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], (
        "partial file left"
    )


def test_bad_inputs_are_clear_errors_and_leave_no_file(features, tmp_path, capsys):
    out = tmp_path / "chunk_0.npz"
    base = ["toys", "--features", str(features), "--first", "0", "--count", "2", "--out", str(out)]
    gan = json.dumps({"seed": 7, "device": "cpu", "toys": {"source": "gan"}})
    _fails(
        [*base, "--config", gan, "--model", str(tmp_path / "missing.pt")], out, capsys, "missing.pt"
    )
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    _fails([*base, "--config", gan, "--model", str(corrupt)], out, capsys, "corrupt.pt")
    _fails([*base, "--config", _cli_cfg(selections=[0.001, 0.5])], out, capsys, "empty selection")
    _fails([*base, "--config", _cli_cfg(selections=[1.5])], out, capsys, "toys.selections")
    bad_fit = json.loads(_cli_cfg())
    bad_fit["fit"] = {"mass_high": 180.0}
    _fails([*base, "--config", json.dumps(bad_fit)], out, capsys, "fit.mass_high")
    _fails([*base, "--config", _cli_cfg(features=["m_llg", "bogus"])], out, capsys, "bogus")
    # an observed dataset too small for a selection
    with pytest.raises(ConfigError, match="observed data"):
        _engine(_cfg(selections=[0.01, 1.0]), features).run_observed(synthetic_events(40, 1))


def test_gan_source_tiny_checkpoint(features, mc, tmp_path):
    from ganlee.gan.sample import load_model

    model = tmp_path / "model.pt"
    train_tiny_gan(mc, model)
    cfg = _cfg(source="gan", sample1_size=None, sample2_size=None)
    src = make_source(cfg, features, model, CPU)
    assert src.n_mc == N_MC  # null sizes = the number of MC events
    a = ToyEngine(cfg, src, stream=io.StringIO()).run_toys(0, 2)
    b = ToyEngine(
        _cfg(source="gan", sample1_size=None, sample2_size=None, models_per_batch=1),
        src,
        stream=io.StringIO(),
    ).run_toys(1, 1)
    assert str(a["model_hash"]) == load_model(model).sha
    _same(a["z"][1:], b["z"])
    assert np.isfinite(a["z_max"]).all()


def test_bfloat16_falls_back_to_float32_on_cpu(features):
    stream = io.StringIO()
    cfg = _cfg(dnn={"layers": [8], "epochs": 1, "batch_size": 64, "dtype": "bfloat16"})
    engine = ToyEngine(cfg, make_source(cfg, features, None, CPU), stream=stream)
    assert engine.dtype == "float32"
    assert "bfloat16 needs CUDA" in stream.getvalue()


def test_missing_model_for_gan_source_is_input_error(features):
    with pytest.raises(InputError, match="--model"):
        make_source(_cfg(source="gan"), features, None, CPU)
