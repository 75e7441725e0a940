"""A finished run meets changed input paths and a Ctrl-C: the plain command does the right thing.

* A configured input path that does not exist stops the DAG with the key and the path, even when
  every output exists already (it used to say "Nothing to be done" and keep the old numbers).
* A changed input path reruns what reads it.
* Ctrl-C in the middle of a job that writes several outputs leaves some of them; the plain
  rerun (the workflow profile profiles/default sets rerun-incomplete) finishes the run, and the
  run ends with the headline on the console.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from compare import assert_same_z
from conftest import (
    TEST_CONFIG,
    deep_update,
    dry_run_jobs,
    read_chunks,
    snakemake,
    subprocess_env,
    write_config,
)

pytestmark = pytest.mark.slow

LEE_PLOTS = ("zmax_hist", "pglobal", "trials_factor", "upcrossings", "zmax_location", "scans")


@pytest.mark.parametrize(
    ("changes", "key", "path"),
    [
        (
            {"lee": {"observed": {"features": "/nonexistent/obs.root"}}},
            "lee.observed.features",
            "/nonexistent/obs.root",
        ),
        (
            {"mc": {"input_files": ["/nonexistent/a.root"]}},
            "mc.input_files[0]",
            "/nonexistent/a.root",
        ),
    ],
)
def test_missing_input_path_stops_a_finished_run(finished_run, tmp_path, changes, key, path):
    cfg = write_config(tmp_path / "bad.yaml", **changes)
    for args in (["-n", "--cores", "1"], ["--cores", "2"]):
        proc = snakemake(finished_run, *args, "--configfile", str(cfg), check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-2000:]
        assert f"config key '{key}': input file '{path}' does not exist" in out
        assert "Nothing to be done" not in out


def test_changed_input_paths_rerun_what_reads_them(finished_run, tmp_path):
    other = tmp_path / "observed.root"
    shutil.copy2(finished_run / "results" / "mc" / "pseudo_data.root", other)
    # the toys take their size from the dataset (null sizes): a new dataset reruns every step
    # that resolves the sizes, not the MC or the GAN
    cfg = write_config(tmp_path / "obs.yaml", lee={"observed": {"features": str(other)}})
    jobs = dry_run_jobs(finished_run, "--configfile", str(cfg))
    for rule in ("lee_observed", "lee_aggregate", "fit_model", "gan_validate"):
        assert jobs[rule] == 1, jobs
    assert jobs["toys_chunk"] == 2
    for rule in ("mc_generate", "mc_convert", "gan_train", "mc_pseudo_data_generate"):
        assert jobs[rule] == 0, jobs
    # the generated MC given as user input files: the conversion and all after it rerun,
    # the generation does not
    gen = sorted(str(p) for p in (finished_run / "results" / "mc").glob("generated_*.root"))
    cfg = write_config(tmp_path / "in.yaml", mc={"input_files": gen})
    jobs = dry_run_jobs(finished_run, "--configfile", str(cfg))
    assert jobs["mc_generate"] == 0
    assert jobs["mc_convert"] == 1
    assert jobs["gan_train"] == 1
    assert jobs["lee_aggregate"] == 1


def _figures(plots: Path) -> set[str]:
    """Finished figures (a figure being written is a hidden temporary file, ganlee.io)."""
    return {p.name for p in plots.glob("*.p*") if not p.name.startswith(".")}


def _interrupt_during_lee_plots(workdir: Path) -> bool:
    """Start the plain run, press Ctrl-C (SIGINT to the process group) once lee_plots has
    written its first figure; True when the job was caught with some figures missing."""
    plots = workdir / "results" / "lee" / "plots"
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(TEST_CONFIG)]
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if plots.is_dir() and _figures(plots):
                os.killpg(proc.pid, signal.SIGINT)
                break
            time.sleep(0.02)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    written = _figures(plots) if plots.is_dir() else set()
    want = {f"{n}.{e}" for n in LEE_PLOTS for e in ("pdf", "png")}
    return bool(written) and not want <= written


def test_ctrl_c_then_the_plain_command_finishes_the_run(run_copy):
    plots = run_copy / "results" / "lee" / "plots"
    for _attempt in range(3):
        shutil.rmtree(plots, ignore_errors=True)
        if _interrupt_during_lee_plots(run_copy):
            break
    else:
        pytest.fail("could not interrupt lee_plots between its first and last figure")
    # without the workflow profile, Snakemake refuses the half-written outputs
    proc = snakemake(
        run_copy,
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(TEST_CONFIG),
        "--workflow-profile",
        "none",
        check=False,
    )
    assert "IncompleteFilesException" in proc.stdout + proc.stderr
    # the plain command recovers, and the run ends with its answer
    proc = snakemake(run_copy, "--cores", "2", "--configfile", str(TEST_CONFIG))
    out = proc.stdout + proc.stderr
    for n in LEE_PLOTS:
        assert (plots / f"{n}.pdf").is_file()
        assert (plots / f"{n}.png").is_file()
    assert "== LEE headline ==" in out
    assert "p_global(Z_local = 3) = " in out
    assert dry_run_jobs(run_copy, "--configfile", str(TEST_CONFIG)) == {}


def test_toy_by_hand_in_the_run_directory_reproduces_its_chunk(run_copy):
    # the run's config as one file where the CLI looks by default (Snakemake merged two files)
    cfg = deep_update(
        yaml.safe_load((run_copy / "config" / "config.yaml").read_text()),
        yaml.safe_load(TEST_CONFIG.read_text()),
    )
    (run_copy / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "ganlee.cli", "toy", "--index", "3"],
        cwd=run_copy,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    z = float(proc.stdout.split("z_max = ")[1].split()[0])
    ref = read_chunks(run_copy)["z_max"][3]
    assert_same_z(np.array([z]), np.array([round(float(ref), 4)]), atol_dlnl=1e-3)
