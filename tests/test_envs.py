"""The conda environments (envs/*.yaml) are one minimal environment per rule family.

Creating them needs conda and the conda-forge channel, neither of which this test machine has
(README, "Conda environments": what is untested). What is tested here: each env file's pins are
the versions the test suite runs with and satisfy pyproject.toml; no env installs ganlee with its
dependencies (``-e ..``, resolved against .snakemake/conda/); the post-deploy script installs this
checkout without dependencies; every rule uses the env of its family; and each family's steps run
with every package its env leaves out made unimportable.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
#: distribution name -> import name, for the packages whose names differ
IMPORT_NAME = {"scikit-learn": "sklearn", "pyyaml": "yaml"}
#: ganlee subcommands of the MC family (envs/hep-io.yaml); every other rule runs in envs/torch.yaml
MC_STEPS = {"mc-generate", "mc-convert"}
ENVS = ("hep-io", "torch")


def _pip_pins(env: str) -> dict[str, str]:
    spec = yaml.safe_load((ROOT / "envs" / f"{env}.yaml").read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    pins = {}
    for item in pip:
        req = Requirement(item)
        (pin,) = req.specifier
        assert pin.operator == "==", item
        pins[req.name.lower()] = pin.version
    return pins


def _project_deps() -> dict[str, Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name.lower(): Requirement(r) for r in meta["dependencies"]}


@pytest.mark.parametrize("env", ENVS)
def test_env_file_pins_the_tested_versions_and_not_ganlee(env):
    text = (ROOT / "envs" / f"{env}.yaml").read_text()
    assert not re.search(r"^\s*-\s*(-e|--editable)\b|\.\.", text, re.MULTILINE), text
    deps = _project_deps()
    for name, version in _pip_pins(env).items():
        assert name in deps, f"{env}.yaml: {name} is not a ganlee dependency"
        assert deps[name].specifier.contains(version), f"{name}=={version} vs {deps[name]}"
        installed = md.version(name).split("+")[0]
        assert installed == version, f"{env}.yaml pins {name}=={version}, tests run {installed}"


def test_families_are_disjoint_where_they_must_be():
    hep, torch = _pip_pins("hep-io"), _pip_pins("torch")
    assert "torch" not in hep
    assert not {"pythia8mc", "fastjet", "vector"} & set(torch)
    # together they cover every runtime dependency except the workflow engine itself
    assert set(_project_deps()) - {"snakemake"} == set(hep) | set(torch)


@pytest.mark.parametrize("env", ENVS)
def test_post_deploy_installs_this_checkout_without_dependencies(env, tmp_path):
    # run the real script, relative path and from elsewhere, as Snakemake does, with a `python`
    # on PATH that records its arguments instead of installing
    script = ROOT / "envs" / f"{env}.post-deploy.sh"
    assert script.read_text().startswith("#!/usr/bin/env bash")
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "args"}\n')
    fake.chmod(0o755)
    env_vars = {"PATH": f"{fake.parent}:/usr/bin:/bin"}
    subprocess.run(["bash", str(script)], cwd=tmp_path, env=env_vars, check=True)
    assert (tmp_path / "args").read_text().split() == [
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--editable",
        str(ROOT),
    ]


def test_every_rule_uses_its_family_env():
    seen = set()
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.MULTILINE)[1:]:
            rule = block.split(":")[0]
            env = re.search(r'"\.\./envs/([\w-]+)\.yaml"', block)
            step = re.search(r'"ganlee ([\w-]+)', block)
            if not step:
                continue
            assert env, f"{smk.name}: rule {rule} has no conda env"
            want = "hep-io" if step.group(1) in MC_STEPS else "torch"
            assert env.group(1) == want, f"{smk.name}: rule {rule} (ganlee {step.group(1)})"
            seen.add(step.group(1))
    assert MC_STEPS | {"gan-train", "toys", "lee-aggregate"} <= seen


def _blocked(env: str) -> list[str]:
    keep = set(_pip_pins(env))
    return sorted(IMPORT_NAME.get(d, d) for d in set(_project_deps()) - keep - {"snakemake"})


def _run_without(env: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``ganlee ARGV`` with every package that ``env`` leaves out unimportable."""
    code = (
        "import sys\n"
        f"for name in {_blocked(env)!r}:\n"
        "    sys.modules[name] = None\n"
        "from ganlee.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_each_family_runs_with_only_its_env(tmp_path):
    assert "torch" in _blocked("hep-io")
    assert "pythia8mc" in _blocked("torch")
    cfg = {
        "seed": 3,
        "device": "cpu",
        "mc": {"generate": {"events_per_job": 6000, "batch_size": 2000, "realism": "no_mpi"}},
        "gan": {
            "epochs": 1,
            "latent_dim": 4,
            "generator_layers": [16],
            "critic_layers": [16],
            "batch_size": 32,
            "n_critic": 1,
        },
        "toys": {
            "n_toys": 2,
            "chunk_size": 2,
            "selections": [0.5, 1.0],
            "dnn": {"layers": [8], "epochs": 1, "batch_size": 64},
        },
        "lee": {"observed": {"enabled": False}},
    }
    c = ["--config", json.dumps(cfg)]
    steps = [
        ("hep-io", ["mc-generate", *c, "--index", "0", "--out", "gen.root"]),
        ("hep-io", ["mc-convert", *c, "--out", "f.root", "--provenance", "f.json", "gen.root"]),
        (
            "torch",
            [
                "gan-train",
                *c,
                "--features",
                "f.root",
                "--model",
                "m.pt",
                "--history",
                "h.csv",
                "--checkpoint",
                "ck.pt",
            ],
        ),
        (
            "torch",
            [
                "toys",
                *c,
                "--features",
                "f.root",
                "--model",
                "m.pt",
                "--first",
                "0",
                "--count",
                "2",
                "--out",
                "toys/chunk_0.npz",
            ],
        ),
        (
            "torch",
            [
                "lee-aggregate",
                *c,
                "--summary",
                "s.json",
                "--zmax",
                "z.csv",
                "--hist",
                "h.pkl",
                "toys",
            ],
        ),
        (
            "torch",
            [
                "lee-plots",
                *c,
                "--summary",
                "s.json",
                "--zmax",
                "z.csv",
                "--hist",
                "h.pkl",
                "--outdir",
                "plots",
                "toys/chunk_0.npz",
            ],
        ),
    ]
    for env, argv in steps:
        proc = _run_without(env, argv, tmp_path)
        assert proc.returncode == 0, f"{argv[0]} without {_blocked(env)}:\n{proc.stderr[-3000:]}"
    assert (tmp_path / "plots" / "pglobal.pdf").is_file()


def test_requires_python_matches_the_pythia8mc_wheels():
    # pythia8mc 8.317.2 ships wheels for cp311, cp312 and cp313 only (checked with
    # `pip download pythia8mc==8.317.2 --python-version 3.X --only-binary=:all:`)
    from packaging.specifiers import SpecifierSet

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = SpecifierSet(meta["requires-python"])
    assert [v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if spec.contains(v)] == [
        "3.11",
        "3.12",
        "3.13",
    ]
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in ("3.11", "3.12", "3.13")


def test_make_setup_installs_torch_from_the_index_it_is_given(tmp_path):
    def pip_lines(*args: str) -> list[str]:
        out = subprocess.run(
            ["make", "-n", "-B", "setup", f"VENV={tmp_path / 'v'}", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [ln for ln in out.splitlines() if "pip install" in ln and "--upgrade" not in ln]

    torch_line, rest = pip_lines("TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert '--index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"' in torch_line
    assert "--index-url" not in rest  # ganlee and the other dependencies from the usual index
    assert "--index-url" not in " ".join(pip_lines())
