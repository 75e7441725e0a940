"""The layers of docs/design.md are a contract (import-linter, pyproject.toml): it holds for the
package, and it fails, naming the importing line, when an upward import or a cycle is planted."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"]


def _lint(package_parent: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's contracts on the package found in ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    cmd = [*LINT, str(REPO / "pyproject.toml"), "--no-cache"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of ``src/ganlee`` to plant imports in; returns the folder holding it."""
    shutil.copytree(REPO / "src" / "ganlee", tmp_path / "src" / "ganlee")
    return tmp_path / "src"


def test_the_package_keeps_both_contracts(tmp_path: Path) -> None:
    proc = _lint(REPO / "src", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


def test_an_upward_import_fails_with_its_line(package_copy: Path) -> None:
    """The statistics may not import the toys (a layer above): the report names the line."""
    lee = package_copy / "ganlee" / "stats" / "lee.py"
    lines = lee.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("from ganlee.progress"))
    lines.insert(at, "from ganlee.toys.run import ToyEngine  # noqa: F401")
    lee.write_text("\n".join(lines) + "\n")
    proc = _lint(package_copy, package_copy.parent)
    assert proc.returncode != 0
    assert "ganlee layers (docs/design.md, Layers) BROKEN" in proc.stdout
    assert re.search(rf"ganlee\.stats\.lee -> ganlee\.toys\.run \(l\.{at + 1}\)", proc.stdout), (
        proc.stdout
    )


def test_an_import_cycle_fails(package_copy: Path) -> None:
    """Two sibling modules importing each other break the acyclic contract."""
    state = package_copy / "ganlee" / "gan" / "preprocess_state.py"
    text = state.read_text().replace(
        "from ganlee.gan.transforms import QuantileMap\n",
        "from ganlee.gan.transforms import QuantileMap\n\n"
        "def _cycle() -> object:\n"
        "    from ganlee.gan.preprocess import Preprocessor\n\n"
        "    return Preprocessor\n",
    )
    state.write_text(text)
    proc = _lint(package_copy, package_copy.parent)
    assert proc.returncode != 0
    assert "no import cycles in src/ganlee BROKEN" in proc.stdout
    assert "- .preprocess_state -> .preprocess (1 import)" in proc.stdout
