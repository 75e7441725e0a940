"""``ganlee lee-aggregate`` and ``ganlee lee-plots`` end to end on synthetic chunks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import norm
from test_lee import write_chunk, write_chunks

from ganlee.cli import main
from ganlee.stats import lee


def _observed(tmp_path, m=31, s=3):
    """An observed file whose spectrum holds a real bump, fitted by ganlee.stats.fit."""
    from ganlee.config import validate
    from ganlee.stats.fit import FitSpec, scan

    spec = FitSpec.from_config(validate({}))
    rng = np.random.default_rng(7)
    centres = 0.5 * (spec.edges[1:] + spec.edges[:-1])
    frac = np.array([0.05, 0.2, 1.0])[:s]
    bkg = 400 * np.exp(-0.04 * (centres - 130))
    bump = 60 * norm.pdf(centres, 150, 2.5)
    counts = np.array([rng.poisson(f * bkg + bump) for f in frac], dtype=np.float64)
    res = scan(counts, spec)
    z = np.where(res.status == 0, res.z, np.nan)[None].astype(np.float32)
    path = write_chunk(tmp_path / "observed.npz", z, 0, masses=spec.masses, selections=frac)
    with np.load(path) as f:
        d = dict(f)
    d.update(toy_index=np.array([-1]), edges=spec.edges, counts=counts)
    np.savez(path, **d)
    return path, spec


def test_cli_aggregate_then_plots(tmp_path, capsys):
    obs, spec = _observed(tmp_path)
    rng = np.random.default_rng(3)
    n = 300
    z = np.maximum(rng.standard_normal((n, 3, spec.masses.size)), 0.0)
    toys = tmp_path / "toys"
    toys.mkdir()
    write_chunks(toys, z, 100, masses=spec.masses, selections=np.array([0.05, 0.2, 1.0]))
    out = tmp_path / "lee"
    cfg = json.dumps({"toys": {"n_toys": n}, "lee": {"observed_z": 2.5, "n_scan_plots": 3}})
    rc = main(
        [
            "lee-aggregate",
            "--config",
            cfg,
            "--observed",
            str(obs),
            "--summary",
            str(out / "summary.json"),
            "--zmax",
            str(out / "zmax.csv"),
            "--hist",
            str(out / "zmax_hist.pkl"),
            "--quiet",
            str(toys),
        ]
    )
    assert rc == 0
    err = capsys.readouterr().err
    assert f"{n} toys from 3 chunk(s)" in err
    assert "observed: Z_local" in err
    s = json.loads((out / "summary.json").read_text())
    assert s["n_toys"] == n
    assert s["observed"]["source"] == str(obs)
    assert s["observed"]["mass_at_max"] == pytest.approx(150.0, abs=3.0)
    assert s["given_z"]["z_local"] == 2.5
    assert lee.load_hist(out / "zmax_hist.pkl").sum() == n
    assert (out / "zmax.csv").read_text().count("\n") == n + 1

    plots = out / "plots"
    rc = main(
        [
            "lee-plots",
            "--config",
            cfg,
            "--summary",
            str(out / "summary.json"),
            "--zmax",
            str(out / "zmax.csv"),
            "--hist",
            str(out / "zmax_hist.pkl"),
            "--observed",
            str(obs),
            "--outdir",
            str(plots),
            str(toys / "chunk_0.npz"),
        ]
    )
    assert rc == 0
    from ganlee.stats.plots import PLOT_NAMES

    for name in PLOT_NAMES:
        assert (plots / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (plots / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in plots.iterdir()) == sorted(
        f"{a}.{b}" for a in PLOT_NAMES for b in ("pdf", "png")
    )


def test_cli_refuses_inconsistent_chunks_cleanly(tmp_path, capsys):
    rng = np.random.default_rng(0)
    z = np.maximum(rng.standard_normal((20, 2, 5)), 0)
    paths = write_chunks(tmp_path, z, 10)
    listing = tmp_path / "chunks.txt"
    listing.write_text("\n".join(str(p) for p in paths) + "\n")
    args = [
        "lee-aggregate",
        "--config",
        json.dumps({"toys": {"n_toys": 30}}),
        "--summary",
        str(tmp_path / "s.json"),
        "--zmax",
        str(tmp_path / "z.csv"),
        "--hist",
        str(tmp_path / "h.pkl"),
        "--quiet",
        str(listing),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "ganlee lee-aggregate: error: 10 of 30 toys are missing" in err
    assert not (tmp_path / "s.json").exists()
    assert not (tmp_path / "z.csv").exists()
