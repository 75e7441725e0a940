"""The tiny DAG through ``--profile profiles/slurm`` on a real single-node SLURM cluster
(tests/slurm/cluster.sh), with only the test cluster's overrides (tests/slurm/profile): the results
equal the local run's, GPU rules land on the gpu partition with a GPU, and a toy job killed
mid-way is retried by Snakemake (profile retries) to the same results as a clean run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from compare import assert_same_z
from conftest import REPO, TEST_CONFIG, copy_workflow, describe_failure, read_chunks, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

PROFILE = REPO / "profiles" / "slurm"
OVERLAY = REPO / "tests" / "slurm" / "profile"
KILLED_CHUNK = "results/toys/chunk_0.npz"
TIMEOUT_S = 600


def _toys_pids(workdir: Path, out: str) -> list[int]:
    """`ganlee toys ... --out OUT` processes with cwd `workdir` (this node, under slurmstepd)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = [
                a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")
            ]
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if (
            cwd == workdir
            and "toys" in args
            and out in args
            and any(a.endswith("ganlee") for a in args[:2])
        ):
            pids.append(int(entry.name))
    return pids


class _KillOnce(threading.Thread):
    """Kill the first `ganlee toys` process writing KILLED_CHUNK, once, ~1 s after it starts."""

    def __init__(self, workdir: Path, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.workdir, self.stop, self.killed = workdir, stop, []

    def run(self) -> None:
        while not self.stop.is_set():
            pids = _toys_pids(self.workdir, KILLED_CHUNK)
            if pids:
                time.sleep(1.0)
                if not (self.workdir / KILLED_CHUNK).exists():
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                            self.killed.append(pid)
                        except ProcessLookupError:
                            pass
                    if self.killed:
                        return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def slurm_run(
    slurm_cluster: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """The tiny DAG on the cluster, one toy job killed once mid-way; timing and job table kept."""
    workdir = copy_workflow(tmp_path_factory.mktemp("slurm_run") / "wf").resolve()
    env = subprocess_env({**slurm_cluster, "GANLEE_SLURM_GPU_PARTITION": "gpu"})
    cmd = [
        "timeout", "-k", "10", str(TIMEOUT_S), sys.executable, "-m", "snakemake",
        "--profile", str(PROFILE), "--workflow-profile", str(OVERLAY),
        "--configfile", str(TEST_CONFIG),
    ]  # fmt: skip
    stop = threading.Event()
    killer = _KillOnce(workdir, stop)
    killer.start()
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    stop.set()
    killer.join(timeout=10)
    if proc.returncode != 0:
        what = f"SLURM run exited {proc.returncode} after {seconds:.0f} s"
        pytest.fail(f"{what}:\n{describe_failure(workdir, proc)}")
    jobs = subprocess.run(
        ["squeue", "-h", "-t", "all", "-O", "JobID:|,Comment:|,Partition:|,State:|,tres-per-job:|"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    print(f"SLURM run of the tiny DAG: {seconds:.0f} s, {len(jobs)} SLURM jobs")
    return {
        "workdir": workdir,
        "seconds": seconds,
        "killed": killer.killed,
        "jobs": jobs,
        "log": proc.stderr,
    }


def test_slurm_results_equal_local_run(slurm_run: dict[str, object], finished_run: Path) -> None:
    workdir = slurm_run["workdir"]
    assert isinstance(workdir, Path)
    local, remote = read_chunks(finished_run), read_chunks(workdir)
    np.testing.assert_array_equal(remote["toy_index"], local["toy_index"])
    np.testing.assert_array_equal(remote["seed"], local["seed"])
    # same toys, same numbers: only float summation order (BLAS/SIMD) may differ across processes
    assert_same_z(remote["z_max"], local["z_max"])
    s_local = json.loads((finished_run / "results/lee/summary.json").read_text())
    s_remote = json.loads((workdir / "results/lee/summary.json").read_text())
    assert s_remote["n_toys"] == s_local["n_toys"]
    assert s_remote["z_max"]["max_toy_index"] == s_local["z_max"]["max_toy_index"]
    assert s_remote["observed"]["z_local"] == pytest.approx(
        s_local["observed"]["z_local"], rel=1e-9
    )
    assert (workdir / "results/lee/plots/pglobal.pdf").is_file()


def test_gpu_rules_ran_on_gpu_partition(slurm_run: dict[str, object]) -> None:
    """squeue rows: jobid|comment (rule_<rule>[_wildcards_...])|partition|state|tres-per-job|."""
    by_rule: dict[str, set[tuple[str, str]]] = {}
    for row in slurm_run["jobs"]:  # type: ignore[union-attr]
        _, comment, partition, _, gres = row.split("|")[:5]
        rule = comment.removeprefix("rule_").split("_wildcards_")[0]
        by_rule.setdefault(rule, set()).add((partition, gres))
    expected = {
        "mc_generate",
        "mc_convert",
        "gan_train",
        "gan_validate",
        "toys_chunk",
        "lee_observed",
    }
    assert expected <= set(by_rule), by_rule
    for rule in ("gan_train", "toys_chunk"):
        assert {p for p, _ in by_rule[rule]} == {"gpu"}, by_rule[rule]
        assert all("gpu" in g for _, g in by_rule[rule]), by_rule[rule]
    for rule in expected - {"gan_train", "toys_chunk"}:
        assert {p for p, _ in by_rule[rule]} == {"cpu"}, by_rule[rule]


def test_killed_toy_job_was_retried(slurm_run: dict[str, object]) -> None:
    assert slurm_run["killed"], "no toys process was killed: the test interrupted nothing"
    rows: list[str] = slurm_run["jobs"]  # type: ignore[assignment]
    toys_jobs = [r for r in rows if r.split("|")[1] == "rule_toys_chunk_wildcards_0"]
    states = sorted(r.split("|")[3] for r in toys_jobs)
    assert states == ["COMPLETED", "FAILED"], toys_jobs
    assert "Trying to restart job" in str(slurm_run["log"])
