"""The validation DAG's inputs and arguments (ganlee.validation.workflow), without Snakemake."""

from __future__ import annotations

import pytest

from ganlee.config import ConfigError
from ganlee.settings import Settings
from ganlee.validation import workflow as vwf


def _s(**sections) -> Settings:
    return Settings.from_config({"validation": {"enabled": True}, **sections})


def test_study_chunks_follow_the_alias():
    main = _s(toys={"n_toys": 25, "chunk_size": 10, "diagnostics": True})
    # the gan study coincides with the main toys (diagnostics on, same sizes): their chunks
    assert vwf.study_chunk_files(main, "gan") == [f"results/toys/chunk_{c}.npz" for c in range(3)]
    own = _s(toys={"n_toys": 25, "chunk_size": 10}, validation={"enabled": True, "n_toys": 7})
    assert vwf.study_chunk_files(own, "gan") == [
        "results/validation/gan/chunk_0.npz"
    ]  # 7 toys in chunks of 10
    # inject_0_train is the gan study's toys: it reads the gan study's chunks
    assert vwf.study_chunk_files(own, "inject_0_train") == vwf.study_chunk_files(own, "gan")


def test_toy_job_inputs_per_source():
    s = _s()
    assert vwf.toys_inputs(s, "gan")["model"] == "results/gan/model.pt"
    assert vwf.toys_inputs(s, "gan_ens2")["model"] == "results/validation/gan_ens2/model.pt"
    boot = vwf.toys_inputs(s, "mc_bootstrap")
    assert "model" not in boot
    assert boot["features"] == "results/mc/features.root"
    assert vwf.toys_inputs(s, "mc_pool")["features"] == "results/validation/pool/features.root"


def test_independent_mc_jobs_and_their_limits():
    s = _s(mc={"generate": {"n_jobs": 4}})
    assert vwf.mc_jobs(s, "pool") == 12  # null pool_jobs: three times the training MC
    assert (
        vwf.mc_reference_files(s, "reference")[-1]
        == "results/validation/reference/generated_7.root"
    )
    with pytest.raises(ConfigError, match="would overlap"):
        vwf.mc_jobs(_s(validation={"enabled": True, "closure": {"pool_jobs": 100001}}), "pool")
    users = _s(mc={"input_files": ["a.root"]})
    with pytest.raises(ConfigError, match=r"validation\.closure\.pool"):
        vwf.pool_input(users)
    given = _s(validation={"enabled": True, "closure": {"pool": "pool.root"}})
    assert vwf.pool_input(given) == "pool.root"
    assert (
        vwf.reference_input(
            _s(validation={"enabled": True, "amplification": {"reference": "holdout"}})
        )
        == []
    )


def test_arguments_and_outputs():
    s = _s(toys={"sample1_size": 100, "sample2_size": 100})
    args = vwf.study_args(s)
    assert "--study gan results/validation/gan results/validation/gan/lee" in args
    inputs = vwf.closure_inputs(s)
    assert set(inputs) == {"gan", "mc_pool", "gan_random", "model", "pool"}
    text = vwf.closure_args(s, inputs)
    assert text.startswith("--study gan results/validation/gan --study mc_pool")
    assert "--control gan_random results/validation/gan_random" in text
    assert vwf.outputs(s) == ["results/validation/summary.json", "results/validation/closure.json"]
    off = _s(validation={"enabled": True, "closure": {"enabled": False}})
    assert vwf.outputs(off) == ["results/validation/summary.json"]
    assert vwf.outputs(Settings.from_config({})) == []
    assert vwf.gan_config(s, 2)["seed"] != s.seed
    assert vwf.lee_config(s)["toys"] == {"n_toys": s.toys.n_toys}
