"""The independent-MC pool source (``toys.source: mc_pool``): draws without replacement from two
disjoint parts of the pool, the finite-population variance, reproducible toys, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.cli import main
from ganlee.features import FEATURE_NAMES
from ganlee.io import write_features
from ganlee.seeds import derive_seed
from ganlee.settings import Settings, load_settings
from ganlee.toys.sources import MIN_POOL_FACTOR, PoolSource, make_source

torch.set_num_threads(1)
CPU = torch.device("cpu")
N1, N2 = 40, 160
N_POOL = MIN_POOL_FACTOR * (N1 + N2)


def _cfg(**toys) -> Settings:
    base = {
        "source": "mc_pool",
        "sample1_size": N1,
        "sample2_size": N2,
        "selections": [0.5, 1.0],
        "dnn": {"layers": [8], "epochs": 1, "batch_size": 64},
    }
    base.update(toys)
    return load_settings(json.dumps({"seed": 3, "device": "cpu", "toys": base}))


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory):
    x = synthetic_events(N_POOL, 11)
    path = tmp_path_factory.mktemp("pool") / "pool.root"
    write_features(path, {n: x[:, j] for j, n in enumerate(FEATURE_NAMES)})
    return path


def _rows(pool: np.ndarray, drawn: torch.Tensor) -> np.ndarray:
    """Pool row of every drawn event (the pool's events are distinct)."""
    index = {r.tobytes(): i for i, r in enumerate(pool.astype(np.float32))}
    return np.array([index[r.tobytes()] for r in drawn.numpy()])


def test_samples_are_drawn_without_replacement_from_disjoint_parts():
    pool = synthetic_events(N_POOL, 5)
    src = PoolSource(pool, 1, (N1, N2), CPU, "test")
    assert src.pools["sample1"].size == N_POOL * N1 // (N1 + N2)
    rows1, rows2 = set(), set()
    for t in range(20):
        a = _rows(pool, src.draw("sample1", N1, derive_seed(1, "toy", t, "sample1")))
        b = _rows(pool, src.draw("sample2", N2, derive_seed(1, "toy", t, "sample2")))
        assert np.unique(a).size == N1  # no repeat within a sample
        assert np.unique(b).size == N2
        rows1.update(a.tolist())
        rows2.update(b.tolist())
    assert not rows1 & rows2  # no event in both roles, over all toys
    assert rows1 <= set(src.pools["sample1"].tolist())
    full = _rows(pool, src.draw("reference", N_POOL, 9))
    assert np.array_equal(np.sort(full), np.arange(N_POOL))


def test_sample_mean_has_the_finite_population_variance():
    """Mean of n draws without replacement from N: Var = s^2 / n * (N - n) / (N - 1) (Cochran,
    Sampling Techniques, eq. 2.8); with replacement it would be s^2 / n, 11% larger here."""
    pool = synthetic_events(N_POOL, 6)
    src = PoolSource(pool, 2, (N1, N2), CPU, "test")
    part = pool[src.pools["sample2"], 0].astype(np.float32).astype(np.float64)
    N = part.size
    reps = 4000
    means = np.array(
        [
            src.draw("sample2", N2, derive_seed(2, "rep", r))[:, 0].double().mean()
            for r in range(reps)
        ]
    )
    expected = part.var(ddof=1) / N2 * (N - N2) / (N - 1)
    rel_err = np.sqrt(2.0 / (reps - 1))  # of a sample variance of normal means
    assert abs(means.var(ddof=1) / expected - 1) < 3.5 * rel_err
    assert abs(means.mean() - part.mean()) < 4 * np.sqrt(expected / reps)
    with_replacement = part.var(ddof=0) / N2
    assert means.var(ddof=1) / with_replacement < 1 - 2.5 * rel_err


def test_toy_is_reproducible_alone(pool_file):
    from ganlee.toys.run import ToyEngine

    def draws(index: int) -> dict:
        return ToyEngine(_cfg(), make_source(_cfg(), pool_file, None, CPU)).draw_samples(index)

    a, b, c = draws(4), draws(4), draws(5)
    assert np.array_equal(a["sample1"], b["sample1"])
    assert np.array_equal(a["sample2"], b["sample2"])
    assert not np.array_equal(a["sample2"], c["sample2"])


def test_pool_smaller_than_ten_toys_is_exit_2_naming_it(tmp_path, capsys):
    small = N_POOL - 1
    x = synthetic_events(small, 12)
    path = tmp_path / "small_pool.root"
    write_features(path, {n: x[:, j] for j, n in enumerate(FEATURE_NAMES)})
    out = tmp_path / "chunk.npz"
    cfg = json.dumps(
        {"seed": 3, "toys": {"source": "mc_pool", "sample1_size": N1, "sample2_size": N2}}
    )
    rc = main(
        [
            "toys",
            "--config",
            cfg,
            "--features",
            str(path),
            "--first",
            "0",
            "--count",
            "1",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert str(path) in err
    assert f"holds {small} events" in err
    assert f"at least {N_POOL}" in err
    assert not out.exists()


def test_pool_needs_explicit_toy_sizes(pool_file, tmp_path, capsys):
    cfg = json.dumps({"toys": {"source": "mc_pool", "sample1_size": N1}})
    rc = main(
        [
            "toys",
            "--config",
            cfg,
            "--features",
            str(pool_file),
            "--first",
            "0",
            "--count",
            "1",
            "--out",
            str(tmp_path / "c.npz"),
        ]
    )
    assert rc == 2
    assert "toys.sample2_size" in capsys.readouterr().err
