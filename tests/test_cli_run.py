"""The CLI in a project directory after a run: defaults a user expects (``ganlee toy --index 3``,
``ganlee lee-aggregate results/toys``), the headline, ``ganlee status`` and ``--partial``.

The "run" is a tiny project made here: config/config.yaml, a features file and a tiny GAN, and two
chunks of 3 toys computed by ``ganlee toys`` with its default paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import numpy as np
import pytest
from compare import assert_same_z
from scipy import stats
from synthetic import synthetic_events
from toy_helpers import train_tiny_gan

from ganlee.cli import build_parser, main
from ganlee.features import FEATURE_NAMES
from ganlee.io import read_features, write_features
from ganlee.stats.headline import format_headline, headline

CONFIG = """\
seed: 7
device: cpu
toys:
  n_toys: 6
  chunk_size: 3
  sample1_size: 400
  sample2_size: 400
  selections: [0.2, 1.0]
  dnn: {layers: [8], epochs: 1, batch_size: 100}
lee:
  observed: {enabled: false}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "config").mkdir()
    (root / "config" / "config.yaml").write_text(CONFIG)
    events = synthetic_events(2000, 3)
    data = {n: events[:, j] for j, n in enumerate(FEATURE_NAMES)}
    write_features(root / "results" / "mc" / "features.root", data)
    mc = read_features(root / "results" / "mc" / "features.root")
    train_tiny_gan(mc, root / "results" / "gan" / "model.pt")
    old = os.getcwd()
    os.chdir(root)
    try:
        for c in (0, 1):
            out = f"results/toys/chunk_{c}.npz"
            assert main(["toys", "--first", str(3 * c), "--count", "3", "--out", out]) == 0
    finally:
        os.chdir(old)
    return root


def _zmax(root):
    z = []
    for c in (0, 1):
        with np.load(root / "results" / "toys" / f"chunk_{c}.npz") as f:
            z.append(f["z_max"])
    return np.concatenate(z)


def test_toy_from_the_project_root_uses_the_default_files(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert main(["toy", "--index", "3"]) == 0
    out = capsys.readouterr().out
    z = float(re.search(r"z_max = ([\d.]+)", out).group(1))
    assert_same_z(np.array([z]), np.round(_zmax(project)[3:4], 4), atol_dlnl=1e-3)


def test_lee_aggregate_prints_the_summary_and_headline_without_output_paths(
    project, monkeypatch, capsys
):
    monkeypatch.chdir(project)
    assert main(["lee-aggregate", "--quiet", "results/toys"]) == 0
    err = capsys.readouterr().err
    assert not (project / "results" / "lee").exists()  # nothing written when not asked
    z = _zmax(project)
    k, n = int(np.sum(z >= 3.0)), z.size
    lo = stats.beta.ppf((1 - 0.6827) / 2, k, n - k + 1) if k else 0.0
    hi = stats.beta.ppf(1 - (1 - 0.6827) / 2, k + 1, n - k) if k < n else 1.0
    line = next(ln for ln in err.splitlines() if ln.startswith("p_global(Z_local = 3)"))
    got = [float(x) for x in re.findall(r"[\d.]+(?:e-?\d+)?", line.split(") = ", 1)[1])[:3]]
    # printed with 3 significant digits: at most half a unit of the third digit off
    np.testing.assert_allclose(got, [k / n, lo, hi], rtol=5e-3)
    assert f"{k} toy(s) above" in line
    assert "== LEE headline ==" in err
    assert f"toys used: {n} of {n}" in err


def test_partial_aggregation_is_labelled_and_uses_the_chunks_there(
    project, tmp_path, monkeypatch, capsys
):
    part = tmp_path / "p"
    shutil.copytree(project, part)
    (part / "results" / "toys" / "chunk_1.npz").unlink()
    monkeypatch.chdir(part)
    assert main(["lee-aggregate", "--quiet", "results/toys"]) == 2
    assert "3 of 6 toys are missing" in capsys.readouterr().err
    summary = part / "partial.json"
    assert (
        main(["lee-aggregate", "--quiet", "--partial", "--summary", str(summary), "results/toys"])
        == 0
    )
    err = capsys.readouterr().err
    assert "PARTIAL: 3 of 6 toys" in err
    s = json.loads(summary.read_text())
    assert s["partial"] is True
    assert (s["n_toys"], s["n_toys_expected"]) == (3, 6)
    z = _zmax(project)[:3]
    row = next(r for r in s["table"] if r["z_local"] == 3.0)
    assert row["toys"]["p_global"] == pytest.approx(np.mean(z >= 3.0))
    assert row["toys"]["n_toys"] == 3


def test_status_counts_done_running_and_failed_chunks(project, tmp_path, monkeypatch, capsys):
    part = tmp_path / "s"
    shutil.copytree(project, part)
    monkeypatch.chdir(part)
    assert main(["status"]) == 0
    assert "toys: 6/6 done (100.0%) in 2 chunk(s): 2 done" in capsys.readouterr().out
    (part / "results" / "toys" / "chunk_1.npz").unlink()
    log = part / "logs" / "toys" / "chunk_1.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "[toys] toys 3..5 on cpu\n[toys] 1/3 toy ( 33.3%) 0.5 toy/s elapsed 0:02 ETA 0:04\n"
    )
    assert main(["status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["toys_done"], st["toys_total"]) == (4, 6)
    assert st["by_state"] == {"done": [0], "running": [1]}
    assert st["rate_toys_per_s"] > 0
    assert st["eta_s"] == pytest.approx(2 / st["rate_toys_per_s"], rel=1e-6)
    log.write_text(log.read_text() + "ganlee toys: error: GAN checkpoint 'x' does not exist\n")
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "toys: 3/6 done (50.0%)" in out
    assert "failed: chunk 1: logs/toys/chunk_1.log: ganlee toys: error: GAN checkpoint" in out
    old = time.time() - 3600
    log.write_text("[toys] toys 3..5 on cpu\n")
    os.utime(log, (old, old))
    assert main(["status"]) == 0
    assert "stalled: chunk 1" in capsys.readouterr().out


def test_headline_quotes_the_checks_when_their_files_exist(project, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(project)
    val, bkg = tmp_path / "validation.json", tmp_path / "background.json"
    fidelity = {"passed": False, "message": "AUC 0.93 above the MC-vs-MC band", "checks": {}}
    val.write_text(json.dumps({"fidelity": fidelity}))
    bkg.write_text(json.dumps({"passed": True, "model": "exppoly2", "message": "spurious 4%"}))
    args = ["lee-aggregate", "--quiet", "--validation", str(val), "--background", str(bkg)]
    assert main([*args, "results/toys"]) == 0
    err = capsys.readouterr().err
    assert "GAN fidelity check: FAILED: AUC 0.93 above the MC-vs-MC band" in err
    assert "background model check: PASSED (exppoly2): spurious 4%" in err
    # absent files: no check lines, no error
    assert (
        main(
            ["lee-aggregate", "--quiet", "--validation", str(tmp_path / "no.json"), "results/toys"]
        )
        == 0
    )
    assert "check:" not in capsys.readouterr().err


def test_headline_of_an_observed_excess():
    summary = {
        "n_toys": 100,
        "n_toys_used": 99,
        "cl": 0.6827,
        "fit_failures": {"n_fits": 1000, "n_failed": 3, "fraction": 0.003, "toys_with_failures": 2},
        "table": [],
        "curve": {
            "z_local": [2.95, 3.0],
            "p_local": [0.0016, 0.00135],
            "p_global": [0.3, 0.25],
            "p_global_lo": [0.25, 0.2],
            "p_global_hi": [0.35, 0.3],
            "n_above": [30, 25],
        },
        "observed": {
            "z_local": 3.4,
            "mass_at_max": 151.0,
            "selection_at_max": 0.05,
            "toys": {"reachable": False, "z_global_lo": 2.1},
            "gross_vitells": {"z_global": 1.8},
        },
    }
    h = headline(summary)
    assert h["at_z"]["p_global"] == 0.25  # the curve's Z = 3.0 point
    text = format_headline(h)
    assert "observed: Z_local = 3.40 at m_llg = 151.0 GeV, top 5%; Z_global = > 2.10" in text
    assert "toys used: 99 of 100; fit failures: 3 of 1000 fits (0.30%), in 2 toy(s)" in text


def test_help_describes_every_step():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in ("toy", "observe", "lee-plots", "validation-plots", "lee-aggregate", "status"):
        assert sub.choices[name].description, name
