"""The closure test: its statistics against known answers (the KS / Anderson-Darling p-values
themselves: tests/test_validation_compare.py), then the chain at tiny sizes through
the CLI (``ganlee toys`` on two independent pools and on a distorted generator,
``ganlee validation-closure``, ``ganlee validation-closure-plots``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.cli import main as ganlee
from ganlee.features import FEATURE_NAMES
from ganlee.io import write_features
from ganlee.settings import Settings, load_settings
from ganlee.stats.lee import clopper_pearson
from ganlee.toys.sources import MIN_POOL_FACTOR, PoolSource, SampleSource, make_source
from ganlee.validation.closure import (
    closure_summary,
    edge_counts,
    mass_counts,
    pglobal_curve,
    scan_maxima,
)
from ganlee.validation.closure_plots import CLOSURE_PLOT_NAMES

torch.set_num_threads(1)

MASSES = np.arange(135.0, 166.0)


# ---------------------------------------------------------------------- the statistics
def test_scan_maxima_and_edge_counting_on_known_scans():
    T, S, M = 6, 2, MASSES.size
    z = np.zeros((T, S, M))
    z[0, 0, 0], z[0, 1, 5] = 3.0, 2.0  # overall max at the low edge (selection 0)
    z[1, 1, M - 1] = 1.5  # at the high edge (selection 1); selection 0 has no excess
    z[2, 0, 10], z[2, 1, 10] = 1.0, 4.0  # inside
    z[3, :, :] = np.nan  # every fit failed
    z[4, 0, :] = np.nan  # selection 0 failed, selection 1 all zero
    z[5, 0, 3], z[5, 1, 0] = 2.5, 2.5  # tie: the first in (selection, mass) order wins
    zmax, where = scan_maxima(z, MASSES)
    assert zmax.shape == (T, S + 1)
    np.testing.assert_array_equal(zmax[:, 2], [3.0, 1.5, 4.0, np.nan, 0.0, 2.5])
    np.testing.assert_array_equal(where[:, 2], [135.0, 165.0, 145.0, np.nan, 135.0, 138.0])
    np.testing.assert_array_equal(zmax[:, 0], [3.0, 0.0, 1.0, np.nan, np.nan, 2.5])
    overall = edge_counts(zmax[:, 2], where[:, 2], MASSES)
    assert overall["n"] == 4  # toys 0, 1, 2, 5 have a maximum
    assert overall["n_edge"] == 2
    assert overall["n_no_excess"] == 1  # toy 4: z = 0 everywhere (argmax at 135 is no maximum)
    assert overall["n_failed"] == 1
    assert overall["fraction"] == 0.5
    lo, hi = clopper_pearson(2, 4)
    assert overall["lo"] == pytest.approx(float(lo))
    assert overall["hi"] == pytest.approx(float(hi))
    counts = mass_counts(zmax[:, 2], where[:, 2], MASSES)
    expected = np.zeros(MASSES.size, dtype=int)
    expected[[0, 3, 10, MASSES.size - 1]] = 1  # toys 0, 5, 2, 1; toy 4 has no maximum
    np.testing.assert_array_equal(counts, expected)
    sel1 = edge_counts(zmax[:, 1], where[:, 1], MASSES)
    assert (sel1["n"], sel1["n_edge"], sel1["n_no_excess"]) == (4, 2, 1)  # edges: toys 1, 5


def test_edge_fractions_are_compared_by_fisher_exact_test():
    """All 3 generator maxima at the scan edge, all 3 reference maxima inside: two-sided Fisher
    p = 2 / C(6, 3) = 0.1 (the two extreme tables of the hypergeometric distribution)."""
    z = np.zeros((3, 1, MASSES.size))
    ref = z.copy()
    z[:, 0, 0] = 2.0
    ref[:, 0, 10] = 2.0
    s = closure_summary(("gan", "mc_pool"), (z, ref), MASSES, [1.0], _cfg(), 0)
    assert s["overall"]["edge_fisher_pvalue"] == pytest.approx(0.1)
    assert s["headline"]["inclusive"]["edge_fisher_pvalue"] == pytest.approx(0.1)
    same = closure_summary(("gan", "mc_pool"), (z, z), MASSES, [1.0], _cfg(), 0)
    assert same["overall"]["edge_fisher_pvalue"] == 1.0


def test_pglobal_curve_counts_and_bands():
    rng = np.random.default_rng(1)
    zmax = np.append(np.abs(rng.normal(size=200)), np.nan)
    grid = np.linspace(0, 3, 61)
    c = pglobal_curve(zmax, grid, cl=0.9)
    k = np.array([(zmax[np.isfinite(zmax)] >= g).sum() for g in grid])
    np.testing.assert_array_equal(c["n_above"], k)
    np.testing.assert_allclose(c["p_global"], k / 200)
    assert np.all(np.array(c["p_global_lo"]) <= np.array(c["p_global"]))
    assert np.all(np.array(c["p_global"]) <= np.array(c["p_global_hi"]))
    # half-normal: P(|N| >= z) = 2 (1 - Phi(z)) lies inside the 90% band at most grid points
    from scipy.stats import norm

    truth = 2 * norm.sf(grid)
    inside = (np.array(c["p_global_lo"]) <= truth) & (truth <= np.array(c["p_global_hi"]))
    assert inside.mean() > 0.7


def _cfg(**closure) -> Settings:
    return load_settings(
        json.dumps(
            {
                "validation": {
                    "compare": {"n_bootstrap": 50, "n_permutations": 0},
                    "closure": closure,
                }
            }
        )
    )


def test_closure_summary_identical_and_shifted_ensembles():
    rng = np.random.default_rng(2)
    z = np.abs(rng.normal(1.0, 1.0, size=(80, 3, MASSES.size)))
    same = closure_summary(("gan", "mc_pool"), (z, z), MASSES, [0.1, 0.5, 1.0], _cfg(), 0)
    assert same["passed"]
    for row in [*same["by_selection"], same["overall"]]:
        assert row["two_sample"]["ks_pvalue"] == 1.0
        assert row["generator"]["edge"] == row["reference"]["edge"]
        assert row["median_shift"]["difference"] == 0.0
    shifted = closure_summary(("gan", "mc_pool"), (z + 0.5, z), MASSES, [0.1, 0.5, 1.0], _cfg(), 0)
    assert not shifted["passed"]
    assert shifted["overall"]["median_shift"]["difference"] == pytest.approx(0.5, abs=1e-6)
    assert shifted["overall"]["two_sample"]["ks_pvalue"] < 1e-6
    loose = closure_summary(
        ("gan", "mc_pool"),
        (z + 0.5, z),
        MASSES,
        [0.1, 0.5, 1.0],
        _cfg(min_pvalue=0.0, max_median_shift=0.6),
        0,
    )
    assert loose["passed"]


def test_a_configured_pool_file_must_exist(tmp_path):
    from ganlee.config import ConfigError

    closure = {"pool": "no/such/pool.root"}
    cfg = load_settings(json.dumps({"validation": {"enabled": True, "closure": closure}}))
    with pytest.raises(ConfigError, match=r"validation\.closure\.pool.*no/such/pool\.root"):
        cfg.check_input_paths(tmp_path)
    off = {"enabled": True, "closure": {**closure, "enabled": False}}
    load_settings(json.dumps({"validation": off})).check_input_paths(tmp_path)


# ---------------------------------------------------------------------- the chain, tiny sizes
N1 = N2 = 250
N_TOYS = 12
TOYS = {
    "n_toys": N_TOYS,
    "chunk_size": N_TOYS,
    "source": "mc_pool",
    "sample1_size": N1,
    "sample2_size": N2,
    "selections": [0.2, 0.5, 1.0],
    "dnn": {"layers": [8], "epochs": 1, "batch_size": 100},
}
CONFIG = {
    "seed": 8,
    "device": "cpu",
    "toys": TOYS,
    "validation": {"compare": {"n_bootstrap": 50, "n_permutations": 0}},
}


class ShiftedMllg(SampleSource):
    """A deliberately wrong generator: the pool's events with m_llg moved up by ``shift`` GeV
    and wrapped around the window (a step in the m_llg spectrum)."""

    name = "shifted"

    def __init__(self, pool: PoolSource, shift: float) -> None:
        self.pool, self.shift = pool, shift
        self.n_mc, self.device, self.model_hash = pool.n_mc, pool.device, "shifted"

    def draw(self, role: str, n: int, seed: int) -> torch.Tensor:
        x = self.pool.draw(role, n, seed).clone()
        m = FEATURE_NAMES.index("m_llg")
        x[:, m] = 130.0 + torch.remainder(x[:, m] - 130.0 + self.shift, 40.0)
        return x


def _write_pool(path: Path, seed: int) -> Path:
    x = synthetic_events(MIN_POOL_FACTOR * (N1 + N2), seed)
    write_features(path, {n: x[:, j] for j, n in enumerate(FEATURE_NAMES)})
    return path


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    from ganlee.chunks import write_chunk
    from ganlee.toys.run import ToyEngine

    d = tmp_path_factory.mktemp("closure")
    cfg_text = json.dumps(CONFIG)
    for name, seed in (("pool_a", 31), ("pool_b", 32)):
        pool = _write_pool(d / f"{name}.root", seed)
        (d / name).mkdir()
        rc = ganlee(
            [
                "toys",
                "--config",
                cfg_text,
                "--features",
                str(pool),
                "--first",
                "0",
                "--count",
                str(N_TOYS),
                "--out",
                str(d / name / "chunk_0.npz"),
            ]
        )
        assert rc == 0
    random_cfg = json.dumps({**CONFIG, "toys": {**TOYS, "scoring": "random"}})
    (d / "pool_a_random").mkdir()
    rc = ganlee(
        [
            "toys",
            "--config",
            random_cfg,
            "--features",
            str(d / "pool_a.root"),
            "--first",
            "0",
            "--count",
            str(N_TOYS),
            "--out",
            str(d / "pool_a_random" / "chunk_0.npz"),
        ]
    )
    assert rc == 0
    cfg = load_settings(cfg_text)
    source = ShiftedMllg(make_source(cfg, d / "pool_b.root", None, torch.device("cpu")), 8.0)
    (d / "shifted").mkdir()
    write_chunk(d / "shifted" / "chunk_0.npz", ToyEngine(cfg, source).run_toys(0, N_TOYS))
    for a, b in (("pool_a", "pool_a"), ("shifted", "pool_a"), ("pool_b", "pool_a")):
        out = d / f"{a}_vs_{b}.json"
        control = ["--control", "pool_a_random", str(d / "pool_a_random")] if a == b else []
        rc = ganlee(
            [
                "validation-closure",
                "--config",
                cfg_text,
                "--study",
                a,
                str(d / a),
                "--study",
                b,
                str(d / b),
                *control,
                "--out",
                str(out),
            ]
        )
        assert rc == 0
    return d


def _read(chain: Path, name: str) -> dict:
    return json.loads((chain / f"{name}.json").read_text())


@pytest.mark.slow
def test_identical_sources_give_ks_p_one(chain):
    s = _read(chain, "pool_a_vs_pool_a")
    assert s["passed"]
    assert s["n_toys"] == {"pool_a": N_TOYS}
    for row in [*s["by_selection"], s["overall"]]:
        assert row["two_sample"]["ks_pvalue"] == 1.0
        assert row["generator"]["median"] == row["reference"]["median"]


@pytest.mark.slow
def test_selection_control_compares_dnn_and_random_subsets_of_the_same_toys(chain):
    """The 100% selection holds every event whatever the scores, so there the DNN-selected and
    random-subset z_max are the same numbers; the tighter selections are different subsets."""
    c = _read(chain, "pool_a_vs_pool_a")["selection_control"]
    assert (c["generator"], c["reference"]) == ("pool_a", "pool_a_random")
    rows = {r["selection"]: r for r in c["by_selection"]}
    assert set(rows) == {0.2, 0.5, 1.0}
    assert rows[1.0]["two_sample"]["ks_pvalue"] == 1.0
    assert rows[1.0]["generator"]["median"] == rows[1.0]["reference"]["median"]
    assert rows[0.2]["generator"]["median"] != rows[0.2]["reference"]["median"]


@pytest.mark.slow
def test_a_control_from_other_toys_is_refused(chain, tmp_path, capsys):
    out = tmp_path / "c.json"
    args = ["--study", "a", str(chain / "pool_a"), "--study", "b", str(chain / "pool_a")]
    rc = ganlee(
        [
            "validation-closure",
            "--config",
            json.dumps(CONFIG),
            *args,
            "--control",
            "c",
            str(chain / "shifted"),
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    assert "selection control" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_two_independent_pools_agree(chain):
    s = _read(chain, "pool_b_vs_pool_a")
    for row in [*s["by_selection"], s["overall"]]:
        assert row["two_sample"]["ks_pvalue"] > 0.01, row["selection"]
    assert abs(s["overall"]["median_shift"]["difference"]) < 1.0


@pytest.mark.slow
def test_shifted_mllg_generator_is_detected(chain):
    s = _read(chain, "shifted_vs_pool_a")
    assert not s["passed"]
    inclusive = s["by_selection"][-1]
    assert inclusive["selection"] == 1.0
    assert inclusive["two_sample"]["ks_pvalue"] < 1e-3
    assert s["overall"]["two_sample"]["ks_pvalue"] < 1e-3
    assert s["headline"]["inclusive"]["ks_pvalue"] == inclusive["two_sample"]["ks_pvalue"]
    gen, ref = inclusive["generator"], inclusive["reference"]
    assert gen["median"] > ref["median"] + 1.0


def _closure_rc(cfg_text: str, a: Path, b: Path, out: Path) -> int:
    return ganlee(
        [
            "validation-closure",
            "--config",
            cfg_text,
            "--study",
            "a",
            str(a),
            "--study",
            "b",
            str(b),
            "--out",
            str(out),
        ]
    )


@pytest.mark.slow
def test_the_procedure_is_read_from_the_chunks(chain, tmp_path):
    other = json.dumps({**CONFIG, "toys": {**TOYS, "selections": [0.5, 1.0]}})
    assert _closure_rc(other, chain / "pool_a", chain / "pool_b", tmp_path / "c.json") == 0


@pytest.mark.slow
@pytest.mark.parametrize("change", ["seed", "background_models"])
def test_different_procedures_are_refused(chain, tmp_path, capsys, change):
    from ganlee.background_choice import Choice
    from ganlee.chunks import write_chunk
    from ganlee.toys.run import ToyEngine

    cfg = load_settings(json.dumps({**CONFIG, "seed": 9 if change == "seed" else CONFIG["seed"]}))
    pool = make_source(cfg, chain / "pool_b.root", None, torch.device("cpu"))
    models = ["exp_poly3", "exp_poly2", "exp_poly2"] if change == "background_models" else None
    engine = ToyEngine(cfg, pool, background=Choice(models, "test", "test") if models else None)
    bad = tmp_path / "bad"
    bad.mkdir()
    write_chunk(bad / "chunk_0.npz", engine.run_toys(0, 3))
    out = tmp_path / "d.json"
    assert _closure_rc(json.dumps(CONFIG), chain / "pool_a", bad, out) == 2
    assert f"['{change}'] differ" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_closure_plots_are_written(chain, tmp_path):
    rc = ganlee(
        [
            "validation-closure-plots",
            "--config",
            json.dumps(CONFIG),
            "--closure",
            str(chain / "pool_a_vs_pool_a.json"),
            "--outdir",
            str(tmp_path),
        ]
    )
    assert rc == 0
    for name in CLOSURE_PLOT_NAMES:
        for ext in ("pdf", "png"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 1000
