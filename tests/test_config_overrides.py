"""One way to override nested keys for both Snakemake and the CLI, numbers read alike by both,
configured input files checked when the DAG is built, and the default config file of the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import TEST_CONFIG, copy_workflow, dry_run_jobs, snakemake
from mc_helpers import sample, write_delphes

from ganlee.cli import main
from ganlee.config import (
    ConfigError,
    ConfigSpec,
    apply_overrides,
    coerce_types,
    load_config,
    validate,
)

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ number parsing
def test_pyyaml_and_ganlee_read_1e_minus_4_alike(tmp_path):
    text = "gan:\n  lr: 1e-4\n  gp_weight: 1.0e-3\ntoys:\n  selections: [1e-2, 0.5, 1]\n"
    raw = yaml.safe_load(text)  # what Snakemake's configfile loader gives
    assert raw["gan"]["lr"] == "1e-4"  # YAML 1.1: no dot, so a string
    coerced = coerce_types(raw)
    assert coerced["gan"]["lr"] == 1e-4
    assert isinstance(coerced["gan"]["lr"], float)
    assert coerced["toys"]["selections"] == [0.01, 0.5, 1]
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert load_config(path)["gan"]["lr"] == 1e-4
    assert validate(raw)["gan"]["lr"] == 1e-4


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ({"toys": {"n_toys": "30"}}, 30),
        ({"toys": {"n_toys": "+7"}}, 7),
    ],
)
def test_strings_become_integers_where_the_schema_wants_them(raw, want):
    assert validate(raw)["toys"]["n_toys"] == want


def test_strings_stay_where_the_schema_allows_strings():
    cfg = validate({"mc": {"step_size": "100"}, "gan": {"tf32": "false"}, "fit": {"sigma": ".inf"}})
    assert cfg["mc"]["step_size"] == "100"  # string or integer: left as written
    assert cfg["gan"]["tf32"] is False
    assert math.isinf(cfg["fit"]["sigma"])
    with pytest.raises(ConfigError, match=r"config key 'toys\.n_toys': '3\.5' is not of type"):
        validate({"toys": {"n_toys": "3.5"}})


# ------------------------------------------------------------------------------ --set
def test_set_overrides_nested_keys_over_a_file(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("toys:\n  n_toys: 20\n  chunk_size: 10\n")
    spec = ConfigSpec(str(base), ("toys.n_toys=30", "gan.lr=1e-4", "toys.inject={n_signal: 5}"))
    cfg = load_config(spec)
    assert cfg["toys"]["n_toys"] == 30
    assert cfg["toys"]["chunk_size"] == 10  # the file's other keys survive
    assert cfg["gan"]["lr"] == 1e-4
    assert cfg["toys"]["inject"]["n_signal"] == 5
    assert cfg["toys"]["inject"]["mass"] == 150.0  # merged into the section, defaults kept


def test_set_refuses_malformed_items_naming_them():
    with pytest.raises(ConfigError, match=r"--set 'toys\.n_toys': expected KEY\.PATH=VALUE"):
        apply_overrides({}, ["toys.n_toys"])
    with pytest.raises(ConfigError, match=r"config key 'toys\.n_toys' is not a section"):
        apply_overrides({"toys": {"n_toys": 3}}, ["toys.n_toys.x=1"])
    with pytest.raises(ConfigError, match=r"config key 'toys\.n_toyz'|'n_toyz' was unexpected"):
        load_config(ConfigSpec(None, ("toys.n_toyz=3",)))


def test_cli_set_reaches_the_step(tmp_path, capsys):
    # mc-convert with a branch key typo given through --set: the step sees the override
    path = write_delphes(tmp_path / "d.root", sample())
    out = tmp_path / "f.root"
    args = ["mc-convert", "--out", str(out), "--provenance", str(tmp_path / "f.json")]
    over = ["--set", "mc.layout=delphes", "--set", "mc.branches={Muon.ptt: x}"]
    assert main([*args, *over, str(path)]) == 2
    assert "config key 'mc.branches.Muon.ptt'" in capsys.readouterr().err
    assert main([*args, "--set", "mc.layout=delphes", str(path)]) == 0


def test_cli_default_config_is_the_embedded_config_yaml(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    embedded = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg = load_config(None)
    assert cfg["toys"]["n_toys"] == embedded["toys"]["n_toys"]
    assert cfg["gan"]["epochs"] == embedded["gan"]["epochs"]
    assert cfg["gan"]["epochs"] != validate({})["gan"]["epochs"]  # not the schema default
    assert (
        load_config(ConfigSpec(None, ("toys.n_toys=3",)))["gan"]["epochs"]
        == embedded["gan"]["epochs"]
    )
    # elsewhere (no config/config.yaml): the schema defaults
    monkeypatch.chdir(tmp_path)
    assert load_config(None) == validate({})
    # inline JSON (what the rules pass) is completed from the schema only, wherever it runs
    monkeypatch.chdir(ROOT)
    assert load_config(json.dumps({"seed": 3}))["gan"] == validate({})["gan"]


# ------------------------------------------------------------------------------ snakemake
@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("overrides") / "wf")


def test_snakemake_nested_override_from_the_command_line(workflow):
    base = ["--configfile", str(TEST_CONFIG)]  # n_toys 5, chunk_size 3
    assert dry_run_jobs(workflow, *base)["toys_chunk"] == 2
    jobs = dry_run_jobs(workflow, *base, "--config", 'toys={"n_toys": 30}')
    assert jobs["toys_chunk"] == 10  # 30 toys in chunks of 3: chunk_size kept from the file
    jobs = dry_run_jobs(workflow, *base, "--config", "toys={n_toys: 12, chunk_size: 6}")
    assert jobs["toys_chunk"] == 2


def test_snakemake_reads_1e_minus_4_as_a_number(workflow, tmp_path):
    cfg = tmp_path / "lr.yaml"
    cfg.write_text("gan:\n  lr: 1e-4\n")
    proc = snakemake(workflow, "-n", "--cores", "1", "--configfile", str(TEST_CONFIG), str(cfg))
    assert "is not of type" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("mc={input_files: [/nonexistent/a.root]}", "mc.input_files[0]"),
        ("lee={observed: {features: /nonexistent/obs.root}}", "lee.observed.features"),
    ],
)
def test_snakemake_refuses_a_missing_input_path_naming_key_and_path(workflow, override, key):
    proc = snakemake(
        workflow,
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(TEST_CONFIG),
        "--config",
        override,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"config key '{key}': input file '/nonexistent/" in out
    assert "does not exist" in out
