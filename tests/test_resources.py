"""Cluster resources (ganlee.resources): known values, monotone in the sizes, doubled on retry."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ganlee import resources as res
from ganlee.config import load_config
from ganlee.features import FEATURE_NAMES
from ganlee.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
N_MC = 2314  # selected events of the embedded MC


#: The sizes the known values below are computed for (the embedded config's other keys kept).
SIZES = {
    "mc": {"generate": {"events_per_job": 20000, "realism": "no_mpi"}},
    "gan": {"epochs": 800, "batch_size": 128, "n_critic": 5, "holdout_fraction": 0.2},
    "toys": {
        "sample1_size": 2000,
        "sample2_size": 2000,
        "scoring": "train",
        "models_per_batch": None,
        "dnn": {"epochs": 8, "batch_size": 128},
    },
}


@pytest.fixture(scope="module")
def embedded():
    """The embedded config with the sizes of ``SIZES``."""
    cfg = load_config(str(ROOT / "config" / "config.yaml"))
    assert cfg["device"] == "auto"
    return deep_update(cfg, SIZES)


def deep_update(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = deep_update(out[key], value) if isinstance(value, dict) else value
    return out


def _features(tmp_path: Path, n: int) -> Path:
    """A file the size of n events of 18 float32 branches (only its size is read)."""
    path = tmp_path / f"features_{n}.root"
    path.write_bytes(b"\0" * (n * 4 * len(FEATURE_NAMES)))
    return path


def test_the_feature_count_is_the_real_one(tmp_path):
    assert res.FEATURE_BYTES_PER_EVENT == 72
    assert res.n_events(_features(tmp_path, N_MC)) == N_MC
    with pytest.raises(FileNotFoundError):
        res.n_events(tmp_path / "not_yet.root")


def _s(cfg: dict, hw: str | None = None, **toys) -> Settings:
    """``cfg`` (validated) typed, on a ``cpu`` or ``gpu`` node, with ``toys`` keys changed."""
    cfg = deep_update(cfg, {"toys": toys}) if toys else cfg
    if hw is not None:
        cfg = {**cfg, "device": "cpu" if hw == "cpu" else "auto"}
    return Settings.from_mapping(cfg)


def test_known_values_for_the_embedded_config(embedded, tmp_path):
    f = _features(tmp_path, N_MC)
    gpu, cpu = _s(embedded), _s(embedded, "cpu")
    # embedded device auto -> GPU node; 20000 no_mpi events at 300/s: 66.7 s -> floor 10 min
    assert res.hardware(gpu) == "gpu"
    assert res.mc_generate_runtime(gpu, 1) == 10
    full = copy.deepcopy(embedded)
    full["mc"]["generate"]["realism"] = "full"  # 400 s: 2 * 400 / 60 = 13.3 -> 14 + 5
    assert res.mc_generate_runtime(_s(full), 1) == 19
    # GAN: 800 epochs x 1851.2 training events / (128 x 5) = 2314 steps; CPU 2 steps/s: 1157 s
    # -> ceil(38.6) + 5 = 44 min; GPU 100 steps/s: 23 s -> floor 10
    assert res.gan_train_runtime(cpu, f, 1) == 44
    assert res.gan_train_runtime(gpu, f, 1) == 10
    # memory: 2000 MB + 2314 x 18 x 8 B x 4 copies = 1.33 MB -> 2 MB
    assert res.gan_train_mem_mb(cpu, f, 1) == 2002
    # a chunk of 10 toys, samples 2000 + 2000, 8 epochs: 320000 event-epochs;
    # GPU: 10 x 4000 x 72 B + 2314 x 144 B = 3.21 MB -> 4000 + 4; CPU: 3 copies -> 2000 + 9
    assert res.toy_sizes(gpu, f) == (N_MC, 2000, 2000)
    assert res.toys_mem_mb(gpu, 10, f, 1) == 4004
    assert res.toys_mem_mb(cpu, 10, f, 1) == 2009
    # CPU: 320000 / 5000 + 10 x 0.2 = 66 s -> ceil(2.2) + 5 = 8 -> floor 10 min
    assert res.toys_seconds(cpu, 10, f) == pytest.approx(320000 / 5000 + 2.0)
    assert res.toys_runtime(cpu, 10, f, 1) == 10
    # null sizes are the MC's: 10 x 4628 x 8 = 370240 event-epochs, 76.0 s on a CPU
    mc_sized = _s(embedded, "cpu", sample1_size=None, sample2_size=None)
    assert res.toy_sizes(mc_sized, f) == (N_MC, N_MC, N_MC)
    assert res.toys_seconds(mc_sized, 10, f) == pytest.approx(370240 / 5000 + 2.0)
    # chunks of the embedded 20 toys in chunks of 10, and a short last chunk
    assert res.chunk_span(20, 10, 1) == (10, 10)
    assert res.chunk_span(25, 10, 2) == (20, 5)
    assert res.chunk_span(20, 10, 2) == (20, 0)


def test_monotone_in_every_size(embedded, tmp_path):
    small, large = _features(tmp_path, 1000), _features(tmp_path, 50000)
    mc_sized = {"sample1_size": None, "sample2_size": None}
    for hw in ("cpu", "gpu"):
        toys = _s(embedded, hw, **mc_sized)
        for f in (small, large):
            runs = [res.toys_seconds(toys, n, f) for n in (1, 10, 100, 1000)]
            assert runs == sorted(runs)
            assert runs[0] < runs[-1]
            mems = [res.toys_mem_mb(toys, n, f, 1) for n in (1, 10, 100, 1000)]
            assert mems == sorted(mems)
        assert res.toys_seconds(toys, 100, small) < res.toys_seconds(toys, 100, large)
        assert res.toys_mem_mb(toys, 100, small, 1) < res.toys_mem_mb(toys, 100, large, 1)
        assert res.gan_train_mem_mb(toys, small, 1) < res.gan_train_mem_mb(toys, large, 1)
    toys = _s(embedded, "cpu", **mc_sized)
    base = res.toys_seconds(toys, 100, small)
    bigger = _s(embedded, "cpu", sample1_size=5000, sample2_size=5000)
    assert res.toys_seconds(bigger, 100, small) > base
    kfold = _s(embedded, "cpu", **mc_sized, scoring="kfold", k_folds=5)
    assert res.toys_seconds(kfold, 100, small) > base
    longer = _s(embedded, "cpu", **mc_sized, dnn={"epochs": 16})
    assert res.toys_seconds(longer, 100, small) > base
    # models_per_batch bounds the samples held at once
    capped = _s(embedded, "cpu", **mc_sized, models_per_batch=10)
    assert res.toys_mem_mb(capped, 1000, small, 1) < res.toys_mem_mb(toys, 1000, small, 1)
    # the memory cap holds per attempt
    huge = _s(embedded, "cpu", sample1_size=10**7, sample2_size=10**7)
    assert res.toys_mem_mb(huge, 1000, small, 1) == res.MAX_MEM_MB


def test_a_retry_doubles_every_resource(embedded, tmp_path):
    f = _features(tmp_path, 20000)
    gpu, cpu = _s(embedded), _s(embedded, "cpu")
    for fn in (
        lambda a: res.mc_generate_runtime(gpu, a),
        lambda a: res.gan_train_runtime(cpu, f, a),
        lambda a: res.gan_train_mem_mb(cpu, f, a),
        lambda a: res.toys_runtime(cpu, 10, f, a),
        lambda a: res.toys_mem_mb(gpu, 10, f, a),
    ):
        assert fn(2) == 2 * fn(1)
        assert fn(3) == 3 * fn(1)
    assert res.runtime_min(0.0, 1) == 10  # the floor
    assert res.runtime_min(3600.0, 1) == 125  # twice the hour plus 5 minutes
