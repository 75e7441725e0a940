"""``snakemake --report`` on a finished run: the front page with the headline numbers, every
figure once, the GAN figures and the JSON summaries included, params readable."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from conftest import TEST_CONFIG, snakemake

from ganlee import report

pytestmark = pytest.mark.slow


def test_report_of_a_finished_run(run_copy):
    proc = snakemake(run_copy, "--configfile", str(TEST_CONFIG), "--report", "report.html")
    out = proc.stdout + proc.stderr
    # docutils renders every caption and the front page: no error, warning or info message
    assert not re.search(r"\((ERROR|WARNING|SEVERE|INFO)/\d\)", out), out
    added = Counter(re.findall(r"Adding (\S+) \(", out))
    lee_pngs = {f"{n}.png" for n in report.FIGURE_SETS["lee"].names}
    assert lee_pngs <= set(added)
    assert all(n == 1 for n in added.values()), added  # each figure once
    assert not [f for f in added if f.endswith(".pdf")]
    for name in ("summary.json", "validation.json", "features.png", "correlations.png"):
        assert name in added
    html = (run_copy / "report.html").read_text()
    summary = json.loads((run_copy / "results/lee/summary.json").read_text())
    assert "Headline numbers" in html
    assert "System Message" not in html
    assert "Undefined substitution" not in html
    assert f"{summary['n_toys_used']:,} of {summary['n_toys']:,}" in html
    assert "cfg={device: cpu" in html  # rule params as written, not escaped JSON
    assert 'cfg={\\\\\\"' not in html
