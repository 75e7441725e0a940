"""Incremental reruns of a finished run: a config change reruns exactly the rules that depend on
it (Snakemake's params trigger on the config JSON each rule passes), more toys only add chunks,
and a killed toy job leaves nothing Snakemake takes as complete.

The finished run has n_toys 5 in chunks of 3: chunk_0 = toys 0-2, chunk_1 = toys 3-4 (partial).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from compare import assert_same_z
from conftest import (
    TEST_CONFIG,
    dry_run_jobs,
    dry_run_outputs,
    read_chunks,
    snakemake,
    subprocess_env,
    summary,
    write_config,
)

pytestmark = pytest.mark.slow

AGGREGATION = {"lee_aggregate": 1, "lee_plots": 1, "report_front_page": 1}
LEE_OUTPUTS = ("summary.json", "zmax.csv", "zmax_hist.pkl")


def test_more_toys_adds_only_new_chunks(finished_run: Path, tmp_path: Path) -> None:
    # 5 -> 9 toys: chunk_1 grows from 2 to 3 toys (its range changed), chunk_2 is new, chunk_0 stays
    cfg = write_config(tmp_path / "more.yaml", toys={"n_toys": 9})
    assert dry_run_jobs(finished_run, "--configfile", str(cfg)) == Counter(
        toys_chunk=2, **AGGREGATION
    )
    assert dry_run_outputs(finished_run, "toys_chunk", "--configfile", str(cfg)) == {
        "results/toys/chunk_1.npz",
        "results/toys/chunk_2.npz",
    }
    # 5 -> 6 toys: only the partial chunk reruns
    cfg = write_config(tmp_path / "six.yaml", toys={"n_toys": 6})
    assert dry_run_outputs(finished_run, "toys_chunk", "--configfile", str(cfg)) == {
        "results/toys/chunk_1.npz"
    }
    # --summary: one row per output with its status (--list-changes params lists every output in
    # Snakemake 9.27.1, changed or not)
    status = summary(finished_run, "--configfile", str(cfg))
    assert status["results/toys/chunk_0.npz"] == ("ok", "no update")
    assert status["results/toys/chunk_1.npz"] == ("params changed", "update pending")
    assert status["results/gan/model.pt"] == ("ok", "no update")


def test_extend_finished_run(run_copy: Path, tmp_path: Path) -> None:
    """Really extend 5 -> 7 toys: chunk_0 is not touched and toys keep their seeds and results."""
    before = read_chunks(run_copy)
    chunk0 = run_copy / "results/toys/chunk_0.npz"
    stat0, bytes0 = chunk0.stat(), chunk0.read_bytes()
    cfg = write_config(tmp_path / "seven.yaml", toys={"n_toys": 7})
    snakemake(run_copy, "--cores", "2", "--configfile", str(cfg))
    assert chunk0.stat().st_mtime_ns == stat0.st_mtime_ns
    assert chunk0.read_bytes() == bytes0
    after = read_chunks(run_copy)
    assert after["toy_index"].tolist() == list(range(7))
    # toy i's seed depends on (seed, i) only, not on the chunk it lands in
    np.testing.assert_array_equal(after["seed"][:5], before["seed"])
    np.testing.assert_allclose(
        after["z_max"][:3], before["z_max"][:3], rtol=0, atol=0
    )  # chunk_0 kept
    # toys 3 and 4 were trained in a chunk of 2 models, now of 3: same toys, same results
    assert_same_z(after["z_max"][3:5], before["z_max"][3:5])
    assert json.loads((run_copy / "results/lee/summary.json").read_text())["n_toys"] == 7
    assert dry_run_jobs(run_copy, "--configfile", str(cfg)) == {}


def test_chunk_size_and_back_aggregates_only_the_current_chunks(
    run_copy: Path, tmp_path: Path
) -> None:
    """chunk_size 3 -> 2 -> 3: the size-2 run leaves chunk_2 (toy 4) beside the size-3 chunks;
    the aggregation reads only the chunks of the current config, and a deleted chunk reruns."""
    from ganlee.chunks import read_chunk

    two = write_config(tmp_path / "two.yaml", toys={"chunk_size": 2})
    snakemake(run_copy, "--cores", "2", "--configfile", str(two))
    stale = run_copy / "results/toys/chunk_2.npz"
    assert read_chunk(stale).toy_index.tolist() == [4]
    snakemake(run_copy, "--cores", "2", "--configfile", str(TEST_CONFIG))
    assert stale.exists()  # left over, and not read
    assert json.loads((run_copy / "results/lee/summary.json").read_text())["n_toys"] == 5
    assert dry_run_jobs(run_copy, "--configfile", str(TEST_CONFIG)) == {}
    (run_copy / "results/toys/chunk_1.npz").unlink()
    assert dry_run_outputs(run_copy, "toys_chunk", "--configfile", str(TEST_CONFIG)) == {
        "results/toys/chunk_1.npz"
    }


def test_fit_change_reruns_background_choice_toys_and_lee_only(
    finished_run: Path, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "fit.yaml", fit={"sigma": 3.0})
    jobs = dry_run_jobs(finished_run, "--configfile", str(cfg))
    assert jobs == Counter(fit_model=1, toys_chunk=2, lee_observed=1, **AGGREGATION)


def test_toy_size_change_reruns_the_background_choice(finished_run: Path, tmp_path: Path) -> None:
    """The spurious-signal test is made at the toy size: a new size reruns rule fit_model; the
    LEE settings and the number of toys do not."""
    cfg = write_config(tmp_path / "size.yaml", toys={"sample2_size": 400})
    jobs = dry_run_jobs(finished_run, "--configfile", str(cfg))
    assert jobs["fit_model"] == 1
    assert jobs["toys_chunk"] == 2
    cfg = write_config(tmp_path / "lee.yaml", lee={"z0": 1.5}, toys={"n_toys": 6})
    assert dry_run_jobs(finished_run, "--configfile", str(cfg))["fit_model"] == 0


def test_gan_change_reruns_gan_toys_and_lee(finished_run: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "gan.yaml", gan={"epochs": 4})
    jobs = dry_run_jobs(finished_run, "--configfile", str(cfg))
    assert jobs == Counter(
        gan_train=1, gan_validate=1, fit_model=1, toys_chunk=2, lee_observed=1, **AGGREGATION
    )


def test_selection_change_keeps_generated_mc(finished_run: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "sel.yaml", mc={"selection": {"ph_pt_min": 32.0}})
    jobs = dry_run_jobs(finished_run, "--configfile", str(cfg))
    assert jobs["mc_generate"] == 0
    assert jobs["mc_convert"] == 1
    assert jobs["gan_train"] == 1
    assert jobs["toys_chunk"] == 2


def _running_toys_job(session: int) -> tuple[int, str] | None:
    """(pid, output) of a `ganlee toys ... --out OUTPUT` process in the session `session`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            if os.getsid(int(entry.name)) != session:
                continue
        except (OSError, ProcessLookupError):
            continue
        args = [a.decode(errors="replace") for a in cmd]
        if "toys" in args and "--out" in args and any(a.endswith("ganlee") for a in args[:2]):
            return int(entry.name), args[args.index("--out") + 1]
    return None


def test_interrupted_toy_job_is_finished_by_rerun(run_copy: Path) -> None:
    """Kill a whole Snakemake run (SIGKILL, like a lost node) while a toy chunk is being computed:
    no output Snakemake takes as complete is left, and the rerun produces the same toys."""
    reference = read_chunks(run_copy)
    # as if the first run had been stopped while computing toys: no chunk and no LEE summary yet
    lee = run_copy / "results" / "lee"
    for path in [
        *(run_copy / "results" / "toys").glob("chunk_*.npz"),
        *(lee / n for n in LEE_OUTPUTS),
    ]:
        path.unlink()
    shutil.rmtree(lee / "plots")
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(TEST_CONFIG)]
    proc = subprocess.Popen(
        cmd,
        cwd=run_copy,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        job = None
        while job is None and proc.poll() is None and time.monotonic() < deadline:
            job = _running_toys_job(proc.pid)
            time.sleep(0.1)
        assert job is not None, "the toys job never started"
        target = job[1]
        time.sleep(1.0)  # mid-way: python and torch are loading or training, nothing written yet
        assert not (run_copy / target).exists(), "the toys job finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert not (run_copy / target).exists()
    # Snakemake's lock survives a SIGKILL: unlock, as a user would, then look at the plan
    snakemake(run_copy, "--unlock", "--configfile", str(TEST_CONFIG))
    assert target in dry_run_outputs(run_copy, "toys_chunk", "--configfile", str(TEST_CONFIG))
    snakemake(run_copy, "--cores", "2", "--configfile", str(TEST_CONFIG))
    after = read_chunks(run_copy)
    np.testing.assert_array_equal(after["toy_index"], reference["toy_index"])
    np.testing.assert_array_equal(after["seed"], reference["seed"])
    assert_same_z(after["z_max"], reference["z_max"])
    assert json.loads((lee / "summary.json").read_text())["n_toys"] == reference["toy_index"].size
    assert dry_run_jobs(run_copy, "--configfile", str(TEST_CONFIG)) == {}
