"""The analysis the defaults come from is "the reference analysis (arXiv:2404.07822)", never "the
seed", which reads like the random seed (config key ``seed``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_AS_ANALYSIS = re.compile(
    r"seed[ -](analysis|DNN|architecture|networks?|slides|size)|seed's|the seed used|in the seed\b",
    re.IGNORECASE,
)
TEXT = (".py", ".md", ".yaml", ".smk", ".rst", ".sh", ".toml", ".txt")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / f for f in out if f.endswith(TEXT) or f in ("Snakefile", "Makefile")]


def test_no_seed_as_the_name_of_the_reference_analysis():
    files = _tracked_text_files()
    assert len(files) > 50  # the checkout is seen
    hits = []
    for path in files:
        if path == Path(__file__) or not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if SEED_AS_ANALYSIS.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert hits == []


def test_schema_and_readme_cite_the_reference_analysis():
    for name in ("config/schema.yaml", "README.md"):
        text = (ROOT / name).read_text()
        assert "reference analysis (arXiv:2404.07822)" in text, name
