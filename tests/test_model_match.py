"""Toys and LEE outputs are tied to the current model and features: a GAN trained on other
features is refused by the toys, a chunk or observed file of another GAN by lee-aggregate, and
the workflow aggregates exactly the chunk files of the current config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import synthetic_events
from test_chunks import arrays, observed_arrays
from toy_helpers import train_tiny_gan

from ganlee.chunks import read_chunk, write_chunk
from ganlee.cli import main
from ganlee.features import FEATURE_NAMES
from ganlee.io import features_fingerprint, file_hash, read_features, write_features

ROOT = Path(__file__).resolve().parents[1]
TOYS = {
    "source": "gan",
    "sample1_size": 200,
    "sample2_size": 200,
    "selections": [0.5, 1.0],
    "dnn": {"layers": [8], "epochs": 1, "batch_size": 100},
}
CFG = json.dumps({"seed": 3, "device": "cpu", "toys": TOYS})


def _write(path: Path, events: np.ndarray) -> Path:
    write_features(path, {name: events[:, j] for j, name in enumerate(FEATURE_NAMES)})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Features A and B (other events), a tiny GAN trained on A's events."""
    d = tmp_path_factory.mktemp("match")
    mc = synthetic_events(500, 3)
    a = _write(d / "a.root", mc)
    b = _write(d / "b.root", synthetic_events(500, 4))
    torch.set_num_threads(1)
    model = train_tiny_gan(mc, d / "model.pt")
    return a, b, model


def test_the_fingerprint_is_that_of_the_file_written_from_an_array(files, tmp_path):
    a, b, _ = files
    mc = synthetic_events(500, 3)
    assert features_fingerprint(mc) == features_fingerprint(read_features(a))
    assert features_fingerprint(mc) != features_fingerprint(read_features(b))
    assert features_fingerprint(mc[:-1]) != features_fingerprint(mc)
    names = (*FEATURE_NAMES[1:], FEATURE_NAMES[0])
    assert features_fingerprint(mc, names) != features_fingerprint(mc)


@pytest.mark.parametrize("step", ["toys", "observe"])
def test_toys_refuse_a_model_of_other_features(files, tmp_path, capsys, step):
    a, b, model = files
    out = tmp_path / "out.npz"
    args = [step, "--config", CFG, "--model", str(model), "--out", str(out)]
    args += ["--first", "0", "--count", "1"] if step == "toys" else ["--data", str(a)]
    assert main([*args, "--features", str(b)]) == 2
    err = capsys.readouterr().err
    assert (
        f"GAN checkpoint '{model}' was trained on other events than the features file '{b}'" in err
    )
    assert not out.exists()
    assert main([*args, "--features", str(a)]) == 0  # the features it was trained on
    assert read_chunk(out, observed=step == "observe").model_hash == file_hash(model)


def test_a_checkpoint_without_the_fingerprint_is_checked_by_its_data_hash(files, tmp_path, capsys):
    a, b, _ = files
    model = train_tiny_gan(read_features(a), tmp_path / "old.pt")  # as gan-train: the file's data
    ck = torch.load(model, weights_only=True)
    del ck["split"]["features_fingerprint"]
    torch.save(ck, model)
    out = tmp_path / "chunk.npz"
    base = ["toys", "--config", CFG, "--model", str(model), "--first", "0", "--count", "1"]
    assert main([*base, "--features", str(b), "--out", str(out)]) == 2
    assert "trained on other events" in capsys.readouterr().err
    assert main([*base, "--features", str(a), "--out", str(out)]) == 0


# ------------------------------------------------------------------------------ lee-aggregate
def _aggregate(tmp_path: Path, chunks: list[Path], model: Path, observed: Path | None = None):
    out = tmp_path / "lee"
    cfg = json.dumps({"toys": {"n_toys": 8}})
    args = ["lee-aggregate", "--config", cfg, "--model", str(model), "--quiet"]
    args += ["--summary", str(out / "s.json"), "--zmax", str(out / "z.csv")]
    args += ["--hist", str(out / "h.pkl")]
    if observed is not None:
        args += ["--observed", str(observed)]
    return main([*args, *map(str, chunks)])


def _chunks(tmp_path: Path, model_hash: str, second_hash: str | None = None) -> list[Path]:
    paths = []
    for c, h in enumerate((model_hash, second_hash or model_hash)):
        a = arrays(4 * c)
        a["model_hash"] = np.array(h)
        paths.append(tmp_path / f"chunk_{c}.npz")
        write_chunk(paths[-1], a)
    return paths


def test_lee_aggregate_refuses_chunks_of_another_model(tmp_path, capsys):
    model = tmp_path / "model.pt"
    model.write_bytes(b"the current GAN")
    current = file_hash(model)
    assert _aggregate(tmp_path, _chunks(tmp_path, current), model) == 0
    chunks = _chunks(tmp_path, current, second_hash="a107be6f00000000")
    capsys.readouterr()
    assert _aggregate(tmp_path, chunks, model) == 2
    err = capsys.readouterr().err
    assert f"'{chunks[1]}' was made with the GAN model of hash 'a107be6f00000000'" in err
    assert f"model file '{model}' has hash '{current}'" in err
    # the observed file is checked too
    obs = observed_arrays()
    obs["model_hash"] = np.array("a107be6f00000000")
    path = tmp_path / "observed.npz"
    write_chunk(path, obs, observed=True)
    assert _aggregate(tmp_path, _chunks(tmp_path, current), model, observed=path) == 2
    assert f"'{path}' was made with the GAN model of hash" in capsys.readouterr().err


def test_chunks_of_the_mc_sources_carry_no_gan(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"a GAN the bootstrap toys do not use")
    assert _aggregate(tmp_path, _chunks(tmp_path, "mc_bootstrap:0123456789abcdef"), model) == 0


def test_an_explicit_chunk_list_ignores_stale_chunks(tmp_path, capsys):
    """chunk_size 4 -> 2 -> 4: chunk_2, chunk_3 of the size-2 run are left in the directory."""
    model = tmp_path / "model.pt"
    model.write_bytes(b"gan")
    current = file_hash(model)
    chunks = _chunks(tmp_path, current)  # toys 0-3, 4-7
    for c in (2, 3):  # stale: toys 4-5 and 6-7 of the chunk_size 2 run
        a = arrays(2 * c, k=2)
        a["model_hash"] = np.array(current)
        write_chunk(tmp_path / f"chunk_{c}.npz", a)
    assert _aggregate(tmp_path, chunks, model) == 0
    capsys.readouterr()
    assert _aggregate(tmp_path, [tmp_path], model) == 2  # the whole directory: duplicates
    assert "duplicated toy indices" in capsys.readouterr().err


def test_the_workflow_aggregates_exactly_the_chunks_of_the_config_with_the_model(tmp_path):
    cfg = tmp_path / "seven.yaml"
    cfg.write_text("toys:\n  n_toys: 7\n  chunk_size: 3\n")
    dry_run = ["lee_aggregate", "-n", "-p", "--forceall", "--configfile", str(cfg)]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *dry_run],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "ganlee lee-aggregate" in x)
    chunks = [w for w in line.split() if w.startswith("results/toys/")]
    assert chunks == [f"results/toys/chunk_{c}.npz" for c in range(3)]
    assert "--model results/gan/model.pt" in line
