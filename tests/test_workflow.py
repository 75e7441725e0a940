"""The Snakemake workflow parses, lints cleanly and is formatted; the CLI lists every step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = (
    "mc-generate",
    "mc-convert",
    "gan-train",
    "gan-validate",
    "toys",
    "toy",
    "observe",
    "lee-aggregate",
    "lee-plots",
    "validation-amplification",
    "validation-summary",
    "validation-plots",
    "report-front-page",
)


def _run(*args, cwd=ROOT):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_dry_run_lists_every_stage():
    out = _run(sys.executable, "-m", "snakemake", "-n", "--forceall", "--quiet", "rules")
    assert out.returncode == 0, out.stderr
    for rule in (
        "mc_generate",
        "mc_convert",
        "gan_train",
        "gan_validate",
        "toys_chunk",
        "lee_aggregate",
        "lee_plots",
    ):
        assert rule in out.stdout + out.stderr


def test_lint_is_clean():
    out = _run(sys.executable, "-m", "snakemake", "--lint")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (
        "Congratulations" in out.stdout + out.stderr
        or "no issues" in (out.stdout + out.stderr).lower()
    )


def test_snakefmt_clean():
    pytest.importorskip("snakefmt")
    out = _run(sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules")
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_help_lists_every_step():
    out = _run(sys.executable, "-m", "ganlee.cli", "--help")
    assert out.returncode == 0, out.stderr
    for step in STEPS:
        assert step in out.stdout
