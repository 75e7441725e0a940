"""The validation rules are in the DAG with config/validation.yaml and absent by default."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = (
    "validation_reference_generate",
    "validation_reference_convert",
    "validation_gan_train",
    "validation_toys_chunk",
    "validation_aggregate",
    "validation_amplification",
    "validation_summary",
    "validation_plots",
    "validation_closure",
    "validation_closure_plots",
)


def _dry_run(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "--quiet", "rules", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def _count(text: str, rule: str) -> int:
    m = re.search(rf"^{rule}\s+(\d+)\s*$", text, re.MULTILINE)
    return int(m.group(1)) if m else 0


def test_validation_config_lists_the_validation_dag():
    text = _dry_run("--configfile", "config/config.yaml", "config/validation.yaml")
    for rule in RULES:
        assert rule in text, rule
    v = yaml.safe_load((ROOT / "config" / "validation.yaml").read_text())["validation"]
    assert v["enabled"] is True
    assert _count(text, "validation_gan_train") == v["n_gans"] - 1
    defaults = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    pool_jobs = v["closure"]["pool_jobs"] or 3 * defaults["mc"]["generate"]["n_jobs"]
    assert v["closure"]["enabled"] is True
    assert _count(text, "validation_reference_generate") == (
        v["amplification"]["reference_jobs"] + pool_jobs
    )
    assert _count(text, "validation_closure") == 1


def test_validation_is_off_by_default():
    text = _dry_run()
    assert "validation_" not in text
