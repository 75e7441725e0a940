"""End-to-end: the whole DAG on tests/config_test.yaml, checked against the file contracts of
docs/design.md ("File contracts between rules") and the configuration that produced it."""

from __future__ import annotations

import csv
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TEST_CONFIG, dry_run_jobs, read_chunks

pytestmark = pytest.mark.slow

# The 18 features (ganlee.features, docs/design.md, "MC: generation and selection").
FEATURES = (
    "m_llg", "phi_llg", "eta_llg", "pt_llg", "e_llg", "m_ll", "phi_ll", "eta_ll", "pt_ll",
    "e_ll", "dr_ll", "met", "phi_met", "dphi_ll", "dphi_met_llg", "pt_ll_over_m_llg", "n_jets",
    "n_central_jets",
)  # fmt: skip
CFG = yaml.safe_load(TEST_CONFIG.read_text())
N_TOYS = CFG["toys"]["n_toys"]
CHUNK = CFG["toys"]["chunk_size"]
N_SELECTIONS = 7  # schema default toys.selections
MASSES = np.arange(135.0, 165.0 + 0.5, 1.0)  # schema default fit.mass_low/high/step


def test_nothing_left_to_do(finished_run: Path) -> None:
    assert dry_run_jobs(finished_run, "--configfile", str(TEST_CONFIG)) == {}


def test_features_tree(finished_run: Path) -> None:
    import uproot

    with uproot.open(finished_run / "results/mc/features.root") as f:
        tree = f["events"]
        assert sorted(tree.keys()) == sorted(FEATURES)
        arrays = tree.arrays(library="np")
    n = len(arrays["m_llg"])
    provenance = json.loads((finished_run / "results/mc/features.json").read_text())
    assert provenance["selected_events"] == n > 100
    # the selection's m_llg window and the features' definitions
    assert np.all((arrays["m_llg"] >= 130.0) & (arrays["m_llg"] <= 170.0))
    assert np.all(arrays["m_ll"] > 40.0)
    assert np.all(np.abs(arrays["phi_llg"]) <= math.pi + 1e-5)
    assert np.all(arrays["n_central_jets"] <= arrays["n_jets"])
    assert np.allclose(arrays["pt_ll_over_m_llg"], arrays["pt_ll"] / arrays["m_llg"], rtol=1e-5)


def test_gan_outputs(finished_run: Path) -> None:
    gan = finished_run / "results/gan"
    assert zipfile.is_zipfile(gan / "model.pt"), "model.pt is not a torch (zip) archive"
    with (gan / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == CFG["gan"]["epochs"]
    assert [float(r["epoch"]) for r in rows] == [1.0, 2.0, 3.0]
    metrics = json.loads((gan / "validation.json").read_text())
    assert isinstance(metrics, dict)
    assert metrics
    assert len(list((gan / "plots").glob("*.png"))) >= len(FEATURES)


def test_toy_chunks(finished_run: Path) -> None:
    chunks = sorted((finished_run / "results/toys").glob("chunk_*.npz"))
    assert [p.name for p in chunks] == [f"chunk_{c}.npz" for c in range(math.ceil(N_TOYS / CHUNK))]
    sizes = []
    for p in chunks:
        with np.load(p, allow_pickle=False) as f:
            z, z_max = f["z"], f["z_max"]
            sizes.append(len(z_max))
            assert z.shape == (len(z_max), N_SELECTIONS, len(MASSES))
            # z_max is the maximum of the scan over selections and masses; Z >= 0 by definition
            assert np.allclose(z_max, np.nanmax(z.reshape(len(z), -1), axis=1), atol=1e-5)
            assert np.all(z_max >= 0)
            assert np.all(np.isfinite(z_max))
            assert np.all(np.isin(f["mass_at_max"], MASSES))
    assert sizes == [CHUNK] * (N_TOYS // CHUNK) + ([N_TOYS % CHUNK] if N_TOYS % CHUNK else [])
    toys = read_chunks(finished_run)
    assert toys["toy_index"].tolist() == list(range(N_TOYS))
    assert len(set(toys["seed"].tolist())) == N_TOYS, "two toys share a seed"


def test_lee_outputs(finished_run: Path) -> None:
    lee = finished_run / "results/lee"
    summary = json.loads((lee / "summary.json").read_text())
    assert summary["n_toys"] == N_TOYS
    toys = read_chunks(finished_run)
    with (lee / "zmax.csv").open() as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["toy_index"]))
    assert [int(r["toy_index"]) for r in rows] == list(range(N_TOYS))
    assert np.allclose([float(r["z_max"]) for r in rows], toys["z_max"], rtol=1e-6)
    # p_global(Z) is the fraction of toys with z_max >= Z (docs/design.md, "LEE")
    curve = summary["curve"]
    for z, p in zip(curve["z_local"], curve["p_global"], strict=True):
        assert p == pytest.approx(np.mean(toys["z_max"] >= z))
    assert "observed" in summary  # lee.observed.enabled in the test config
    assert (lee / "observed.npz").is_file()
    pdf = lee / "plots" / "pglobal.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_every_rule_logged(finished_run: Path) -> None:
    logs = {
        p.relative_to(finished_run / "logs").as_posix()
        for p in (finished_run / "logs").rglob("*.log")
    }
    expected = {
        "mc/convert.log",
        "gan/train.log",
        "gan/validate.log",
        "lee/observed.log",
        "lee/aggregate.log",
    }
    expected |= {f"mc/generate_{i}.log" for i in range(CFG["mc"]["generate"]["n_jobs"])}
    expected |= {f"toys/chunk_{c}.log" for c in range(math.ceil(N_TOYS / CHUNK))}
    assert expected <= logs
