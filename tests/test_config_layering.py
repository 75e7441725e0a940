"""A config file named with --configfile is the whole story (issue 20): the schema's defaults plus
that file; the embedded demo (config/config.yaml) applies only when no config file is named; the
production config states its sizes. Checked on the rules' params of real dry runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import copy_workflow, snakemake

from ganlee.config import load_yaml


def _params(workdir: Path, rule_cmd: str, *args: str) -> dict:
    """The --config mapping of the first ``ganlee <rule_cmd>`` command of a dry run."""
    proc = snakemake(workdir, "-n", "-p", "--cores", "1", *args)
    out = proc.stdout + proc.stderr
    m = re.search(rf"ganlee {rule_cmd} --config '([^']*)'", out)
    assert m, f"no ganlee {rule_cmd} command in the dry run of {args}:\n{out[-2000:]}"
    return load_yaml(m.group(1))


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("layering"))


def test_without_a_config_file_the_embedded_demo_applies(workflow: Path) -> None:
    gan = _params(workflow, "gan-train")["gan"]
    assert gan["epochs"] == 170  # config/config.yaml
    assert gan["generator_layers"] == [128, 256, 128]
    toys = _params(workflow, "toys")["toys"]
    assert (toys["sample1_size"], toys["sample2_size"]) == (None, None)  # from the pseudo-data
    assert "mc_pseudo_data_generate" in snakemake(workflow, "-n", "--cores", "1").stdout


def test_a_named_config_file_is_the_schema_defaults_plus_that_file(workflow: Path) -> None:
    mine = workflow / "my.yaml"
    mine.write_text("toys:\n  n_toys: 4\n")
    gan = _params(workflow, "gan-train", "--configfile", str(mine))["gan"]
    assert gan["epochs"] == 500  # the schema's, not the demo's 170
    assert gan["generator_layers"] == [512, 1024, 512]
    fit = _params(workflow, "fit-model", "--configfile", str(mine))["fit"]
    assert fit["spurious"]["on_fail"] == "error"  # the demo's warn is not inherited
    out = snakemake(workflow, "-n", "--cores", "1", "--configfile", str(mine)).stdout
    assert "mc_pseudo_data_generate" not in out  # the demo's pseudo-data is not inherited
    # --config still overrides on top of the named file
    gan = _params(workflow, "gan-train", "--configfile", str(mine), "--config", "gan={epochs: 7}")[
        "gan"
    ]
    assert gan["epochs"] == 7


def test_the_cluster_config_states_its_sizes(workflow: Path) -> None:
    cluster = ("--configfile", "config/cluster.yaml")
    fit = _params(workflow, "fit-model", *cluster)
    assert fit["fit"]["spurious"]["on_fail"] == "error"
    assert (fit["toys"]["sample1_size"], fit["toys"]["sample2_size"]) == (20000, 20000)
    toys = _params(workflow, "toys", *cluster)["toys"]
    assert (toys["sample1_size"], toys["sample2_size"]) == (20000, 20000)
    gan = _params(workflow, "gan-validate", *cluster)["gan"]
    assert gan["require_fidelity"] is True
    assert gan["generator_layers"] == [512, 1024, 512]
    assert gan["epochs"] == 500
    # the pseudo-data has exactly the toys' size
    out = snakemake(workflow, "-n", "-p", "--cores", "1", *cluster).stdout
    assert "--max-events 20000" in out


def test_the_demo_plus_the_validation_config(workflow: Path) -> None:
    both = ("--configfile", "config/config.yaml", "config/validation.yaml")
    gan = _params(workflow, "gan-train", *both)["gan"]
    assert gan["epochs"] == 170
    toys = _params(workflow, "toys", *both)["toys"]
    assert (toys["sample1_size"], toys["sample2_size"], toys["diagnostics"]) == (2000, 2000, True)
